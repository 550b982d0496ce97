/* snapfields.js - how a snapshot's recorded facts read in the list and the detail: labels,
 * pin, the capture's consistency (a consistent cut, or which files changed while read), the
 * hash chain's tip and links, and the archive's signature. */
import { el } from './dom.js';
import { fmtAbs } from './format.js';

/* key=value badges, sorted by key; '—' when there are none. */
export function labelBadges(labels) {
  var frag = document.createDocumentFragment(), keys = Object.keys(labels || {});
  if (!keys.length) frag.appendChild(el('span', { class: 'muted' }, '—'));
  keys.sort().forEach(function (k) { frag.appendChild(el('span', { class: 'badge label' }, k + '=' + labels[k])); });
  return frag;
}

/* 'no', or a pinned badge with the pin's end date. */
export function pinnedCell(s) {
  if (!s.pinned) return el('span', { class: 'muted' }, 'no');
  return el('span', null, el('span', { class: 'badge pinned' }, 'pinned'),
            s.pinned_until ? el('span', { class: 'rel', title: 'Pinned until ' + fmtAbs(s.pinned_until) },
                                'until ' + s.pinned_until.slice(0, 10)) : null);
}


/* The list's flag for a snapshot kept although files changed while it was captured (null
 * for a consistent one or one made before this was recorded). */
export function changedBadge(s) {
  if (!s.consistency || s.consistency.state !== 'changed') return null;
  return el('span', { class: 'badge failed', title: 'Not a consistent cut: ' +
                      (s.consistency.changed || []).join(', ') + ' changed while read' }, 'not consistent');
}

/* The detail's "Capture" line: consistent cut (attempts, window) or what changed. */
export function captureText(s) {
  var c = s.consistency;
  if (!c) return 'not recorded';
  if (c.state === 'consistent')
    return 'consistent cut (' + c.attempts + (c.attempts === 1 ? ' attempt' : ' attempts') +
           ', window ' + c.window_ms.toFixed(1) + ' ms)';
  return 'NOT a consistent cut: ' + (c.changed || []).join(', ') + ' changed while read';
}

/* The detail's "Chain" line: the hash chain's tip (lines, last seq) and whether its links hold. */
export function chainText(s) {
  var c = s.chain;
  if (!c) return 'none';
  return c.lines + ' lines, last seq ' + (c.last_seq === null ? 'unknown' : c.last_seq) +
         (c.links_ok ? ', links ok' : ', links broken at line ' + c.first_bad_line);
}

/* The list's flag for a snapshot whose hash chain's links are broken (null otherwise). */
export function chainBadge(s) {
  var c = s.chain;
  if (!c || c.links_ok) return null;
  return el('span', { class: 'badge failed', title: 'Hash chain links broken at line ' + c.first_bad_line }, 'chain broken');
}

/* The list's flag for a snapshot no trusted key signed (null for a signed one). */
export function signatureBadge(s) {
  var g = s.signature;
  if (!g || g.state === 'signed') return null;
  return el('span', { class: 'badge failed', 'data-signature': g.state,
                      title: g.state === 'untrusted'
                        ? 'Signed by no trusted key: admitted with --allow-unsigned'
                        : 'Not signed: made before signing, or admitted with --allow-unsigned' },
            g.state);
}

/* The detail's "Signature" line: who signed the manifest, or that nobody trusted did. */
export function signatureText(s) {
  var g = s.signature;
  if (!g) return 'not recorded';
  if (g.state === 'signed') return el('span', null, 'signed by key ', el('span', { class: 'sha' }, g.key_id));
  if (g.state === 'untrusted') return 'UNTRUSTED: signed by no trusted key (admitted with --allow-unsigned)';
  return 'UNSIGNED (made before signing, or admitted with --allow-unsigned)';
}
