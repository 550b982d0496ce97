/* diff.js - the diff view (#/diff?from=A&to=B, B a snapshot or "live"): both sides, the hash
 * chain's relation, positions per symbol, config and risk-limit values, .env key names (never
 * values), files and JSON changes, as GET /diff returns them. positionsTable is shared with the
 * restore dialog. */
import { $, clear, el, pathEl } from './dom.js';
import { fmtAbs, fmtValue, shortCommit } from './format.js';
import { api, errText } from './api.js';

function changeCell(oldV, newV) {
  if (fmtValue(oldV) === fmtValue(newV)) return el('td', { class: 'val' }, fmtValue(newV));
  return el('td', { class: 'val changed-cell' }, el('span', { class: 'old' }, fmtValue(oldV)),
            el('span', { class: 'arrow', 'aria-label': 'changed to' }, '→'), el('span', { class: 'new' }, fmtValue(newV)));
}

function sideBlock(title, side) {
  return el('div', { class: 'diff-side' },
    el('strong', null, title + ': '), el('span', { class: 'mono' }, side.name),
    side.created_at ? el('span', { class: 'muted' }, ' · ' + fmtAbs(side.created_at)) : null,
    side.version ? el('span', { class: 'muted' }, ' · v' + side.version) : null,
    side.git_commit ? el('span', { class: 'muted mono' }, ' · ' + shortCommit(side.git_commit)) : null);
}

function chainBlock(hc) {
  var p;
  if (!hc) return el('p', { class: 'chain chain-none' }, 'Hash chain: no state/hash_chain.jsonl on either side.');
  switch (hc.relation) {
  case 'extends':
    p = 'Hash chain EXTENDS: the newer chain continues the older one (' + hc.lines_added + ' line(s) added, ' +
        hc.old_lines + ' → ' + hc.new_lines + ').';
    break;
  case 'rewritten':
    p = 'HASH CHAIN REWRITTEN — the history was changed, not just extended' +
        (hc.first_divergent_line !== null ? ' (first divergent line: ' + hc.first_divergent_line + ')' : '') +
        '. Lines: ' + hc.old_lines + ' → ' + hc.new_lines + '. Investigate before trusting or restoring this state.';
    break;
  case 'identical':
    p = 'Hash chain identical (' + hc.new_lines + ' lines).';
    break;
  case 'added':
    p = 'Hash chain added: only the newer side has one (' + hc.new_lines + ' lines).';
    break;
  case 'removed':
    p = 'Hash chain removed: only the older side has one (' + hc.old_lines + ' lines).';
    break;
  default:
    p = 'Hash chain: ' + hc.relation;
  }
  return el('p', { class: 'chain chain-' + hc.relation, role: hc.relation === 'rewritten' ? 'alert' : null, 'data-relation': hc.relation }, p);
}

/* positionsTable(pos, caption, names) - a table (or a 'no position differs' line) with one row per symbol that differs; names relabels the
 * changed/opened/closed badges (the restore dialog speaks of what the restore does). */
export function positionsTable(pos, caption, names) {
  var tb = el('tbody'), t;
  names = names || { changed: 'changed', opened: 'opened', closed: 'closed' };
  (pos.changed || []).forEach(function (c) {
    tb.appendChild(el('tr', { 'data-symbol': c.symbol, 'data-change': 'changed' },
      el('th', { scope: 'row', class: 'mono' }, c.symbol), el('td', null, el('span', { class: 'badge pos-changed' }, names.changed)),
      changeCell(c.old.side, c.new.side), changeCell(c.old.qty, c.new.qty), changeCell(c.old.avg_price, c.new.avg_price)));
  });
  (pos.opened || []).forEach(function (p) {
    tb.appendChild(el('tr', { 'data-symbol': p.symbol, 'data-change': 'opened' },
      el('th', { scope: 'row', class: 'mono' }, p.symbol), el('td', null, el('span', { class: 'badge pos-opened' }, names.opened)),
      el('td', { class: 'val' }, fmtValue(p.side)), changeCell(undefined, p.qty), changeCell(undefined, p.avg_price)));
  });
  (pos.closed || []).forEach(function (p) {
    tb.appendChild(el('tr', { 'data-symbol': p.symbol, 'data-change': 'closed' },
      el('th', { scope: 'row', class: 'mono' }, p.symbol), el('td', null, el('span', { class: 'badge pos-closed' }, names.closed)),
      el('td', { class: 'val' }, fmtValue(p.side)), changeCell(p.qty, undefined), changeCell(p.avg_price, undefined)));
  });
  if (!tb.children.length) return el('p', { class: 'muted' }, 'No position differs per symbol.');
  t = el('table', { class: 'compact positions' },
    caption ? el('caption', { class: 'visually-hidden' }, caption) : null,
    el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Symbol'), el('th', { scope: 'col' }, 'Change'),
                      el('th', { scope: 'col' }, 'Side'), el('th', { scope: 'col' }, 'Qty'), el('th', { scope: 'col' }, 'Avg price'))),
    tb);
  // It may scroll sideways on a phone: then it must be reachable by keyboard (and named).
  return el('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption || 'Positions per symbol' }, t);
}

function keyList(title, keys, cls) {
  return el('div', { class: 'env-' + cls }, el('strong', null, title + ': '),
    keys.length ? el.apply(null, ['ul', { class: 'keys' }].concat(keys.map(function (k) { return el('li', null, k); })))
                : el('span', { class: 'muted' }, 'none'));
}

/* Render one GET /diff answer into #diff-body. */
function renderDiff(d) {
  var body = $('diff-body'), s = d.summary, tb, section;
  clear(body);
  body.appendChild(el('div', { class: 'diff-sides' }, sideBlock('From', d.from), sideBlock('To', d.to)));
  body.appendChild(chainBlock(d.hash_chain));
  body.appendChild(el('p', { class: 'diff-summary' }, 'Files: ' + s.modified + ' modified, ' + s.added + ' added, ' +
                      s.removed + ' removed, ' + s.unchanged + ' unchanged.'));

  section = el('section', { class: 'diff-positions', 'aria-labelledby': 'dh-pos' }, el('h3', { id: 'dh-pos' }, 'Positions'));
  if (!d.positions) section.appendChild(el('p', { class: 'muted' }, 'No state/positions.json on either side.'));
  else {
    section.appendChild(el('p', { class: 'pos-counts' }, 'Count: ' + fmtValue(d.positions.old_count) + ' → ' + fmtValue(d.positions.new_count)));
    if (d.positions.error) section.appendChild(el('p', { class: 'error' }, 'Positions could not be compared: ' + d.positions.error));
    else section.appendChild(positionsTable(d.positions, 'Positions per symbol'));
  }
  body.appendChild(section);

  section = el('section', { class: 'diff-config', 'aria-labelledby': 'dh-cfg' }, el('h3', { id: 'dh-cfg' }, 'Config and risk-limit changes'));
  if (!d.config_changes.length) section.appendChild(el('p', { class: 'muted' }, 'No config value changed.'));
  else {
    tb = el('tbody');
    d.config_changes.forEach(function (c) {
      tb.appendChild(el('tr', null, el('td', { class: 'mono path' }, pathEl(c.file)), el('td', { class: 'mono path' }, pathEl(c.pointer)),
                        el('td', { class: 'val old-val' }, c.old === null ? '(added)' : fmtValue(c.old)),
                        el('td', { class: 'val new-val' }, c.new === null ? '(removed)' : fmtValue(c.new))));
    });
    section.appendChild(el('div', { class: 'table-wrap' }, el('table', { class: 'compact config' },
      el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'File'), el('th', { scope: 'col' }, 'Key'),
                        el('th', { scope: 'col' }, 'Old'), el('th', { scope: 'col' }, 'New'))), tb)));
  }
  body.appendChild(section);

  section = el('section', { class: 'diff-env', 'aria-labelledby': 'dh-env' }, el('h3', { id: 'dh-env' }, '.env keys'),
               el('p', { class: 'hint' }, 'Compared by fingerprint; values are never shown or stored.'));
  section.appendChild(keyList('Changed', d.env.changed, 'changed'));
  section.appendChild(keyList('Added', d.env.added, 'added'));
  section.appendChild(keyList('Removed', d.env.removed, 'removed'));
  body.appendChild(section);

  section = el('section', { class: 'diff-files', 'aria-labelledby': 'dh-files' }, el('h3', { id: 'dh-files' }, 'Files'));
  tb = el('tbody');
  d.files.forEach(function (f) {
    tb.appendChild(el('tr', { 'data-path': f.path }, el('td', { class: 'mono path' }, pathEl(f.path)),
      el('td', null, el('span', { class: 'badge st-' + f.status }, f.status)),
      el('td', { class: 'num' }, f.old_size === null ? '—' : String(f.old_size)),
      el('td', { class: 'num' }, f.new_size === null ? '—' : String(f.new_size))));
  });
  section.appendChild(el('div', { class: 'table-wrap' }, el('table', { class: 'compact' },
    el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Path'), el('th', { scope: 'col' }, 'Status'),
                      el('th', { scope: 'col', class: 'num' }, 'Old size'), el('th', { scope: 'col', class: 'num' }, 'New size'))), tb)));
  body.appendChild(section);

  if (d.json_changes.length) {
    section = el('section', { class: 'diff-json', 'aria-labelledby': 'dh-json' }, el('h3', { id: 'dh-json' }, 'JSON changes'));
    d.json_changes.forEach(function (j) {
      var det = el('details', { class: 'json-file' }, el('summary', null, j.path + (j.error ? ' (not compared)' :
                   ' (' + j.changes.length + (j.truncated ? '+, truncated' : '') + ' change' + (j.changes.length === 1 ? '' : 's') + ')')));
      if (j.error) det.appendChild(el('p', { class: 'error' }, j.error));
      else {
        var t = el('tbody');
        j.changes.forEach(function (c) {
          t.appendChild(el('tr', null, el('td', { class: 'mono path' }, pathEl(c.pointer)), el('td', null, c.op),
                           el('td', { class: 'val' }, c.op === 'added' ? '—' : fmtValue(c.old)),
                           el('td', { class: 'val' }, c.op === 'removed' ? '—' : fmtValue(c.new))));
        });
        det.appendChild(el('div', { class: 'table-wrap' }, el('table', { class: 'compact' },
          el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Pointer'), el('th', { scope: 'col' }, 'Op'),
                            el('th', { scope: 'col' }, 'Old'), el('th', { scope: 'col' }, 'New'))), t)));
        if (j.truncated) det.appendChild(el('p', { class: 'hint' }, 'Only the first changes are listed.'));
      }
      section.appendChild(det);
    });
    body.appendChild(section);
  }
}

var diffSeq = 0;
/* Compare from with to (GET /diff) and render it; a newer call wins over a slower older one. */
export function runDiff(from, to) {
  var seq = ++diffSeq;
  $('diff-error').textContent = '';
  clear($('diff-body'));
  $('diff-body').appendChild(el('p', { class: 'muted' }, 'Comparing ' + from + ' with ' + to + '…'));
  return api('GET', '/diff', { query: { from: from, to: to } }).then(function (d) {
    if (seq === diffSeq) renderDiff(d);
  }, function (e) {
    if (seq !== diffSeq) return;
    clear($('diff-body'));
    $('diff-error').textContent = 'Diff failed — ' + errText(e);
  });
}

/* Wire the from/to form (it sets the hash, which runs the diff). */
export function initDiff() {
  $('diff-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var from = $('diff-from').value.trim(), to = $('diff-to').value.trim() || 'live';
    if (!from) {
      $('diff-error').textContent = 'Pick the snapshot to compare from.';
      $('diff-from').focus();
      return;
    }
    var h = '#/diff?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to);
    if (location.hash === h) runDiff(from, to);
    else location.hash = h;
  });
}
