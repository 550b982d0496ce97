/* audit.js - the audit view (#/audit): the hash-linked chain of every mutating operation,
 * newest first (GET /audit pages forward only, so the page finds the chain's end first), older
 * pages on demand, and Verify (GET /audit/verify) marking the first bad entry. */
import { $, cell, clear, el, timeEl } from './dom.js';
import { fmtBytes } from './format.js';
import { api, errText } from './api.js';
import { showError } from './messages.js';

/* GET /api/v1/audit pages forward only (oldest first, `after` = a seq), and says nothing of
 * the chain's length. The page shows it newest first: it finds the last seq with one-entry
 * probes (doubling steps, then halving: about 2·log2(N) tiny requests), then asks for the page
 * that ends there, and each "Load older" asks for the page before the oldest one shown. Gaps
 * in seq (a tampered catalog) only make a page shorter. */
var AUDIT_PAGE_SIZE_KEY = 'statesnap.auditPageSize';
var SECRET_KEY_RE = /secret|token|passw|api[_-]?key|private|credential|bearer/i;

var audit = {
  rows: [],        // entries shown, newest first
  first: null,     // the chain's first and last seq (null: empty chain)
  last: null,
  pageSize: 25,
  seq: 0,          // a newer load wins over a slower older one
  bad: {},         // seq -> what verify said is wrong there
  loading: false
};

function auditProbe(after) {
  return api('GET', '/audit', { query: { after: after, limit: 1 } }).then(function (p) {
    return p.entries.length ? p.entries[0].seq : null;
  });
}

function auditFindEnds() {
  return auditProbe(0).then(function (first) {
    var lo = first, hi = null, step = 64;
    if (first === null) return { first: null, last: null };
    // lo: a seq that exists; hi: no seq is above it.
    function gallop() {
      return auditProbe(lo + step).then(function (s) {
        if (s === null) { hi = lo + step; return narrow(); }
        lo = s;
        step *= 2;
        return gallop();
      });
    }
    function narrow() {
      if (lo >= hi) return { first: first, last: lo };
      var mid = Math.floor((lo + hi) / 2);
      return auditProbe(mid).then(function (s) {
        if (s === null) hi = mid;
        else lo = s;
        return narrow();
      });
    }
    return gallop();
  });
}

/* The newest `want` entries with seq below `before`, newest first. */
function auditFetchBefore(before, want) {
  var after = Math.max(0, before - 1 - want);
  return api('GET', '/audit', { query: { after: after, limit: want } }).then(function (p) {
    var got = p.entries.filter(function (a) { return a.seq < before; });
    if (!got.length && after > 0) return auditFetchBefore(after + 1, want);
    return got.reverse();
  });
}

function shown(key, v) {
  var s = typeof v === 'string' ? v : JSON.stringify(v);
  if (SECRET_KEY_RE.test(key)) return '(hidden)';
  if (s === undefined) return '';
  return s.length > 160 ? s.slice(0, 157) + '…' : s;
}

/* A one-line summary of an entry's details, as text and links: never markup from the API. */
function auditDetails(a) {
  var d = a.details, frag = document.createDocumentFragment(), parts = [], names, n;
  function add(node) { parts.push(node); }
  if (d === null || d === undefined || typeof d !== 'object' || Array.isArray(d)) {
    if (d !== null && d !== undefined && d !== '') add(shown('', d));
  } else if (typeof d.error === 'string') {
    add(el('span', { class: 'audit-error' }, shown('error', d.error)));
  } else if (a.op === 'create') {
    if (typeof d.files === 'number') add(d.files + ' file' + (d.files === 1 ? '' : 's'));
    if (typeof d.size === 'number') add(fmtBytes(d.size));
    if (typeof d.archive_sha256 === 'string')
      add(el('span', { class: 'mono', title: 'archive SHA-256 ' + d.archive_sha256 }, 'sha256 ' + d.archive_sha256.slice(0, 12) + '…'));
  } else if (a.op === 'restore') {
    if (typeof d.safety_snapshot === 'string')
      add(el('span', null, 'safety snapshot ', el('a', { class: 'mono', href: '#/s/' + encodeURIComponent(d.safety_snapshot) }, d.safety_snapshot)));
    n = Array.isArray(d.files) ? d.files.length : typeof d.files === 'number' ? d.files : null;
    if (n !== null) add(n + ' file' + (n === 1 ? '' : 's'));
    if (typeof d.kill_switch === 'string') add('KILL_SWITCH ' + d.kill_switch);
  } else if (a.op === 'prune') {
    names = Array.isArray(d.removed) ? d.removed.map(String) : [];
    add(el('span', { class: 'audit-removed' }, names.length ? 'removed ' : 'removed nothing',
           names.length ? el('span', { class: 'mono' }, names.join(', ')) : null));
    if (typeof d.kept === 'number') add('kept ' + d.kept);
  } else if (a.op === 'delete') {
    if (d.force) add('forced');
  } else if (a.op === 'pin' || a.op === 'unpin') {
    if (typeof d.pinned === 'boolean') add(d.pinned ? 'pinned' : 'unpinned');
  } else if (a.op === 'labels' && d.labels && typeof d.labels === 'object') {
    names = Object.keys(d.labels).sort();
    add(names.length ? el('span', { class: 'mono' }, names.map(function (k) { return k + '=' + shown(k, d.labels[k]); }).join(', '))
                     : 'labels cleared');
  } else if (a.op === 'import' && typeof d.source === 'string') {
    add('from ' + shown('source', d.source));
  } else {
    Object.keys(d).sort().forEach(function (k) { add(k + ': ' + shown(k, d[k])); });
  }
  if (!parts.length) return el('span', { class: 'muted' }, '—');
  parts.forEach(function (p, i) {
    if (i) frag.appendChild(document.createTextNode(' · '));
    frag.appendChild(typeof p === 'string' ? document.createTextNode(p) : p);
  });
  return frag;
}

function renderAudit() {
  var body = $('audit-rows'), rows = audit.rows, oldest, summary;
  clear(body);
  rows.forEach(function (a) {
    var isErr = a.result !== 'ok', bad = audit.bad[a.seq];
    var tr = el('tr', { 'data-seq': a.seq, class: (isErr ? 'is-error' : '') + (bad ? ' is-bad' : '') || null },
      cell({ class: 'seq num', 'data-label': 'Seq' }, String(a.seq),
           bad ? el('span', { class: 'badge failed bad-mark', title: bad }, 'chain breaks here') : null),
      cell({ class: 'time', 'data-label': 'Time' }, timeEl(a.time)),
      cell({ class: 'actor', 'data-label': 'Actor' }, a.actor),
      cell({ class: 'op', 'data-label': 'Operation' }, el('span', { class: 'badge op-' + a.op }, a.op)),
      cell({ class: 'snapshot', 'data-label': 'Snapshot' },
           a.snapshot ? el('a', { class: 'mono', href: '#/s/' + encodeURIComponent(a.snapshot) }, a.snapshot)
                      : el('span', { class: 'muted' }, '—')),
      cell({ class: 'result', 'data-label': 'Result' },
           el('span', { class: 'badge ' + (isErr ? 'failed' : 'synced') }, isErr ? 'ERROR' : a.result)),
      cell({ class: 'details', 'data-label': 'Details' }, auditDetails(a)));
    body.appendChild(tr);
  });
  oldest = rows.length ? rows[rows.length - 1].seq : null;
  $('audit-empty').hidden = !(audit.last === null && !audit.loading);
  $('audit-more').hidden = !(oldest !== null && audit.first !== null && oldest > audit.first);
  if (audit.last === null) summary = audit.loading ? 'Loading…' : '';
  else if (oldest !== null && oldest <= audit.first)
    summary = 'Showing all ' + rows.length + ' entr' + (rows.length === 1 ? 'y' : 'ies') + ', newest first (seq ' +
              rows[0].seq + ' back to ' + oldest + ').';
  else
    summary = 'Showing the newest ' + rows.length + ' entr' + (rows.length === 1 ? 'y' : 'ies') + ' (seq ' +
              (rows.length ? rows[0].seq + ' back to ' + oldest : '—') + '); the chain starts at seq ' + audit.first + '.';
  $('audit-summary').textContent = summary;
}

/* Load the newest page of the chain and render it. */
export function loadAudit() {
  var gen = ++audit.seq;
  audit.rows = [];
  audit.first = audit.last = null;
  audit.loading = true;
  renderAudit();
  return auditFindEnds().then(function (ends) {
    if (gen !== audit.seq) return;
    audit.first = ends.first;
    audit.last = ends.last;
    if (ends.last === null) return [];
    return auditFetchBefore(ends.last + 1, audit.pageSize);
  }).then(function (rows) {
    if (gen !== audit.seq) return;
    audit.rows = rows;
    audit.loading = false;
    renderAudit();
  }, function (e) {
    if (gen !== audit.seq) return;
    audit.loading = false;
    renderAudit();
    $('audit-summary').textContent = 'The audit chain could not be loaded.';
    showError('Loading the audit chain failed', e);
  });
}

function loadOlderAudit() {
  var gen = audit.seq, oldest = audit.rows.length ? audit.rows[audit.rows.length - 1].seq : null, b = $('audit-more');
  if (oldest === null) return null;
  b.disabled = true;
  return auditFetchBefore(oldest, audit.pageSize).then(function (rows) {
    b.disabled = false;
    if (gen !== audit.seq) return;
    audit.rows = audit.rows.concat(rows);
    // Nothing below the oldest any more (entries gone from the catalog): no further page.
    if (!rows.length) audit.first = oldest;
    renderAudit();
    // Keyboard users keep their place: on the button, or on the summary once all are shown.
    if (!b.hidden) b.focus();
    else $('audit-summary').focus();
  }, function (e) {
    b.disabled = false;
    showError('Loading older audit entries failed', e);
  });
}

function badText(where, fb) {
  return where + (fb.line !== undefined ? ' line ' + fb.line : ' row ' + fb.row) +
         (fb.seq ? ' (seq ' + fb.seq + ')' : '') + ': ' + fb.problem;
}

function renderAuditVerify(report, e) {
  var box = $('audit-verify-result'), ul;
  clear(box);
  box.hidden = false;
  audit.bad = {};
  box.removeAttribute('role');
  if (report && report.ok) {
    box.className = 'verify-result ok';
    box.appendChild(el('p', null, el('strong', null, 'Chain OK'), ' — ' + report.entries + ' entr' +
                       (report.entries === 1 ? 'y' : 'ies') + ': every hash recomputes and links to the one before, ' +
                       'and audit.jsonl matches the catalog line for line.'));
    renderAudit();
    return;
  }
  box.className = 'verify-result bad';
  box.setAttribute('role', 'alert');
  if (!report) {
    box.appendChild(el('p', null, el('strong', null, 'Verification could not run'), ' — ' + errText(e)));
    renderAudit();
    return;
  }
  box.appendChild(el('p', null, el('strong', null, 'AUDIT CHAIN BROKEN'), e && e.detail ? ' — ' + e.detail : ''));
  ul = el('ul', { class: 'chains' });
  [['catalog', 'Catalog', 'catalog'], ['file', 'audit.jsonl', 'audit.jsonl']].forEach(function (c) {
    var part = report[c[0]], fb = part && part.first_bad;
    if (part && part.ok) ul.appendChild(el('li', { 'data-chain': c[0] }, c[1] + ': intact.'));
    else if (fb) {
      ul.appendChild(el('li', { 'data-chain': c[0] }, el('strong', null, c[1] + ': broken'), ' — first bad entry at ' + badText(c[2], fb)));
      if (fb.seq && !audit.bad[fb.seq]) audit.bad[fb.seq] = badText(c[2], fb);
    } else ul.appendChild(el('li', { 'data-chain': c[0] }, c[1] + ': broken.'));
  });
  box.appendChild(ul);
  box.appendChild(el('p', null, report.entries + ' entr' + (report.entries === 1 ? 'y' : 'ies') + ' in the catalog. ' +
                     'Entries from the bad one on cannot be trusted; the list below shows the catalog\'s copy.'));
  renderAudit();
}

/* Open the audit view: forget the last Verify result, load the newest page. */
export function showAudit() {
  $('audit-verify-result').hidden = true;
  audit.bad = {};
  return loadAudit();
}

/* Wire the audit view's controls. */
export function initAudit() {
  try {
    var ps = Number(localStorage.getItem(AUDIT_PAGE_SIZE_KEY));
    if ([10, 25, 50, 100].indexOf(ps) >= 0) audit.pageSize = ps;
  } catch (e) { /* default page size */ }
  $('audit-page-size').value = String(audit.pageSize);
  $('audit-page-size').addEventListener('change', function () {
    audit.pageSize = Number($('audit-page-size').value);
    try { localStorage.setItem(AUDIT_PAGE_SIZE_KEY, String(audit.pageSize)); } catch (e) { /* not kept */ }
    loadAudit();
  });
  $('audit-refresh').addEventListener('click', function () { loadAudit(); });
  $('audit-more').addEventListener('click', loadOlderAudit);
  $('audit-verify').addEventListener('click', function () {
    var b = $('audit-verify');
    b.disabled = true;
    b.textContent = 'Verifying…';
    api('GET', '/audit/verify').then(function (r) {
      renderAuditVerify(r, null);
    }, function (e) {
      renderAuditVerify(e.status === 422 && e.body && e.body.report ? e.body.report : null, e);
    }).then(function () {
      b.disabled = false;
      b.textContent = 'Verify chain';
    });
  });
}
