/* detail.js - one snapshot's view (#/s/NAME): its catalog row and manifest, its files, what
 * the capture recorded (consistency, chain tip, last drill, offsite copy), and the Verify,
 * Drill, Restore, Pin, Diff and Delete buttons. */
import { $, clear, dl, el, pathEl, timeEl } from './dom.js';
import { fmtAbs, fmtBytes, fmtRel } from './format.js';
import { api, errText } from './api.js';
import { findRow, state } from './store.js';
import { applyRole } from './session.js';
import { captureText, chainText, labelBadges, pinnedCell, signatureText } from './snapfields.js';
import { drillText, renderDrill } from './drills.js';
import { offsiteText } from './offsite.js';
import { renderList, togglePin } from './list.js';
import { currentRoute } from './router.js';

/* Render state.detail (nothing when it is null). */
export function renderDetail() {
  var s = state.detail, body = $('detail-body'), m, files, envKeys;
  clear(body);
  if (!s) return;
  $('detail-name').textContent = s.name;
  $('detail-pin').textContent = s.pinned ? 'Unpin' : 'Pin';
  $('detail-pin').setAttribute('data-needs', s.pinned ? 'admin' : 'write');
  applyRole($('detail-actions'));
  body.appendChild(dl([
    ['Created', el('span', null, timeEl(s.created_at), ' (' + fmtRel(s.created_at) + ')')],
    ['Size', fmtBytes(s.size) + ' (' + s.size + ' bytes)'],
    ['Files', String(s.file_count)],
    ['Version', s.version],
    ['Git commit', s.git_commit ? el('span', { class: 'sha' }, s.git_commit) : 'not a git repository'],
    ['Pinned', pinnedCell(s)],
    ['Labels', labelBadges(s.labels)],
    ['Positions', s.positions_count === null ? 'unknown' : String(s.positions_count)],
    ['Capture', captureText(s)],
    ['Chain', chainText(s)],
    ['Signature', signatureText(s)],
    ['Last drill', drillText(s)],
    ['Offsite', offsiteText(s)],
    ['Host', s.host],
    ['Created by', s.created_by],
    ['Archive SHA-256', el('span', { class: 'sha' }, s.archive_sha256)],
    ['Archive file (in the store)', el('span', { class: 'mono' }, s.location)]
  ]));

  body.appendChild(el('h3', null, 'Files'));
  files = el('table', { class: 'compact files' },
    el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Path'), el('th', { scope: 'col' }, 'Group'),
                      el('th', { scope: 'col', class: 'num' }, 'Size'), el('th', { scope: 'col' }, 'SHA-256'))));
  var tb = el('tbody');
  (s.files || []).forEach(function (f) {
    tb.appendChild(el('tr', { 'data-path': f.path },
      el('td', { class: 'mono path' }, pathEl(f.path)), el('td', null, f.group),
      el('td', { class: 'num size', title: f.size + ' bytes' }, String(f.size)),
      el('td', { class: 'sha' }, f.sha256)));
  });
  files.appendChild(tb);
  body.appendChild(el('div', { class: 'table-wrap' }, files));

  body.appendChild(el('h3', null, 'Manifest'));
  m = s.manifest;
  if (!m) {
    body.appendChild(el('p', { class: 'error' }, 'The manifest could not be read: ' + (s.manifest_error || 'unknown reason')));
    return;
  }
  envKeys = Object.keys(m.env_keys || {}).sort();
  body.appendChild(dl([
    ['Format', String(m.format)],
    ['statesnap version', m.statesnap_version],
    ['Name', m.name],
    ['Created', fmtAbs(m.created_at)],
    ['Version', m.version],
    ['Git commit', m.git_commit || '—'],
    ['Host', m.host],
    ['Created by', m.created_by],
    ['Pinned at creation', m.pinned ? 'yes' : 'no'],
    ['Labels', labelBadges(m.labels)],
    ['Positions', m.positions_count === null ? 'unknown' : String(m.positions_count)],
    ['Absent optional files', m.absent && m.absent.length ? m.absent.join(', ') : 'none'],
    ['.env keys (values never stored)', envKeys.length ? envKeys.join(', ') : 'none']
  ]));
  body.appendChild(el('details', null, el('summary', null, 'manifest.json'),
                      el('pre', { class: 'json' }, JSON.stringify(m, null, 2))));
}

/* Show the detail view of name: GET /snapshots/{name}, then render (unless the route moved on). */
export function showDetail(name) {
  state.detail = null;
  $('detail-name').textContent = name;
  $('verify-result').hidden = true;
  $('drill-result').hidden = true;
  clear($('detail-body'));
  $('detail-body').appendChild(el('p', { class: 'muted' }, 'Loading…'));
  return api('GET', '/snapshots/' + encodeURIComponent(name)).then(function (s) {
    if (currentRoute().name !== name) return;
    state.detail = s;
    renderDetail();
  }, function (e) {
    clear($('detail-body'));
    $('detail-body').appendChild(el('p', { class: 'error', role: 'alert' }, 'Loading ' + name + ' failed — ' + errText(e)));
  });
}

function renderVerify(report, problem) {
  var box = $('verify-result');
  clear(box);
  box.hidden = false;
  box.className = 'verify-result ' + (report && report.ok ? 'ok' : 'bad');
  if (report && report.ok) {
    box.appendChild(el('p', null, el('strong', null, 'Verified: OK'), ' — ' + report.checked_files +
                       ' files checked, every SHA-256 matches the manifest and the catalog.'));
    return;
  }
  box.appendChild(el('p', null, el('strong', null, 'VERIFICATION FAILED'), problem ? ' — ' + problem : ''));
  if (report) {
    box.appendChild(el('p', null, report.checked_files + ' files checked, ' + report.errors.length + ' problem(s):'));
    var ul = el('ul');
    report.errors.forEach(function (er) { ul.appendChild(el('li', null, el('span', { class: 'mono' }, er.path), ': ' + er.problem)); });
    box.appendChild(ul);
  }
}

/* Wire the detail's buttons. actions: {openRestore(name, opener), openDelete(name, pinned,
 * opener)}. */
export function initDetail(actions) {
  $('detail-drill').addEventListener('click', function () {
    var name = state.detail ? state.detail.name : currentRoute().name, b = $('detail-drill');
    b.disabled = true;
    b.textContent = 'Drilling…';
    api('POST', '/snapshots/' + encodeURIComponent(name) + '/drill', { body: {} }).then(function (r) {
      renderDrill(r, null);
    }, function (e) {
      if (e.status === 422 && e.body && e.body.report) renderDrill(e.body.report, errText(e));
      else renderDrill(null, errText(e));
    }).then(function () {
      b.disabled = false;
      b.textContent = 'Drill';
      applyRole($('detail-actions'));
      // The detail's "Last drill" and the list's badge follow the catalog.
      return api('GET', '/snapshots/' + encodeURIComponent(name)).then(function (s) {
        if (currentRoute().name !== name) return;
        state.detail = s;
        renderDetail();
        var row = findRow(name);
        if (row) { row.last_drill = s.last_drill; renderList(); }
      }, function () {});
    });
  });
  $('detail-verify').addEventListener('click', function () {
    var name = state.detail ? state.detail.name : currentRoute().name, b = $('detail-verify');
    b.disabled = true;
    b.textContent = 'Verifying…';
    api('POST', '/snapshots/' + encodeURIComponent(name) + '/verify').then(function (r) {
      renderVerify(r, null);
    }, function (e) {
      if (e.status === 422 && e.body && e.body.report) renderVerify(e.body.report, errText(e));
      else renderVerify(null, errText(e));
    }).then(function () {
      b.disabled = false;
      b.textContent = 'Verify';
    });
  });
  $('detail-restore').addEventListener('click', function (ev) {
    if (state.detail) actions.openRestore(state.detail.name, ev.currentTarget);
  });
  $('detail-pin').addEventListener('click', function (ev) {
    if (!state.detail) return;
    togglePin(state.detail.name, !state.detail.pinned, null).then(function (s) {
      if (s && state.detail && state.detail.name === s.name) {
        state.detail.pinned = s.pinned;
        state.detail.pinned_until = s.pinned_until;
        renderDetail();
      }
    });
  });
  $('detail-delete').addEventListener('click', function (ev) {
    if (state.detail) actions.openDelete(state.detail.name, state.detail.pinned, ev.currentTarget);
  });
  $('detail-diff-live').addEventListener('click', function () {
    if (state.detail) location.hash = '#/diff?from=' + encodeURIComponent(state.detail.name) + '&to=live';
  });
}
