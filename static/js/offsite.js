/* offsite.js - a snapshot's offsite copy as the API reports it, read as the truth an operator
 * needs: synced (confirmed in the bucket), missing (a round found it gone), different (the
 * bucket holds another object under its name), pending, failed. */
import { el } from './dom.js';
import { fmtAbs } from './format.js';

/* {state, text, cls, title} for s (null when no offsite copy was ever tried). */
export function offsiteTruth(s) {
  var st = s.offsite_state, err = s.offsite_error || '', when = s.offsite_at ? ' (' + fmtAbs(s.offsite_at) + ')' : '';
  if (st === null || st === undefined) return null;
  if (st === 'pending' && /gone from the bucket/.test(err))
    return { state: 'missing', cls: 'failed', text: 'missing', title: 'Offsite copy missing: ' + err + when + '; sent again next round' };
  if (st === 'pending' && /another object/.test(err))
    return { state: 'different', cls: 'failed', text: 'different', title: 'Offsite copy differs: ' + err + when + '; sent again next round' };
  if (st === 'synced') return { state: st, cls: 'synced', text: 'synced', title: 'Copied offsite and confirmed (size and SHA-256)' + when };
  if (st === 'failed') return { state: st, cls: 'failed', text: 'failed', title: 'The last offsite attempt failed' + (err ? ': ' + err : '') + when };
  return { state: st, cls: st, text: st, title: 'Waiting for the next offsite round' + when };
}

/* Whether any of rows has an offsite state (the list shows the column only then). */
export function offsiteShown(rows) {
  return rows.some(function (s) { return s.offsite_state !== null && s.offsite_state !== undefined; });
}

/* The list cell's content: a badge, or '—'. */
export function offsiteBadge(s) {
  var t = offsiteTruth(s);
  if (!t) return el('span', { class: 'muted' }, '—');
  return el('span', { class: 'badge ' + t.cls, 'data-offsite': t.state, title: t.title }, t.text);
}

/* The detail's "Offsite" line. */
export function offsiteText(s) {
  var t = offsiteTruth(s);
  if (!t) return 'not configured, or not tried yet';
  return el('span', null, offsiteBadge(s), ' ' + t.title);
}
