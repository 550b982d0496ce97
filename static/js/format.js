/* format.js - how values read on the page: sizes, UTC timestamps, durations and ages,
 * JSON values, short commits. Pure functions, no DOM. */

/* n bytes with a binary prefix ("1.5 KB"); '—' for a non-number. */
export function fmtBytes(n) {
  if (typeof n !== 'number') return '—';
  var units = ['B', 'KB', 'MB', 'GB', 'TB'], u = 0, v = n;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[u];
}

/* An RFC 3339 UTC time as "YYYY-MM-DD HH:MM:SS UTC"; '—' when missing. */
export function fmtAbs(iso) {
  // The API speaks UTC (RFC 3339, seconds); operators compare it with server logs, so keep UTC.
  if (!iso) return '—';
  return iso.replace('T', ' ').replace('Z', ' UTC');
}

/* sec seconds as "12 s", "5 min", "3 h 2 min" or "2 d 4 h". */
export function fmtDuration(sec) {
  sec = Math.max(0, Math.floor(sec));
  if (sec < 60) return sec + ' s';
  var m = Math.floor(sec / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (h < 1) return m + ' min';
  if (d < 1) return h + ' h ' + (m % 60) + ' min';
  return d + ' d ' + (h % 24) + ' h';
}

/* Seconds since iso, or null when it does not parse. */
export function ageOf(iso) {
  var t = Date.parse(iso);
  return isNaN(t) ? null : (Date.now() - t) / 1000;
}

/* "just now" or "<duration> ago"; '' when iso does not parse. */
export function fmtRel(iso) {
  var a = ageOf(iso);
  if (a === null) return '';
  if (a < 5) return 'just now';
  return fmtDuration(a) + ' ago';
}

/* A JSON value as text: strings as they are, the rest as JSON; '—' for undefined. */
export function fmtValue(v) {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/* The first 7 hex digits of a git commit, or null. */
export function shortCommit(c) { return c ? c.slice(0, 7) : null; }

/* An interval in whole hours, minutes or seconds ("24 h"). */
export function fmtInterval(sec) {
  if (sec % 3600 === 0) return sec / 3600 + ' h';
  if (sec % 60 === 0) return sec / 60 + ' min';
  return sec + ' s';
}
