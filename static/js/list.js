/* list.js - the snapshot list view: rows as the API lists them (newest first) with client-side
 * sorting, the name and label filters, cursor pages, the diff selection, pin/unpin, and the
 * row buttons (restore and delete open their dialogs through the actions given to initList).
 * refreshAll() reloads the list and the header. */
import { $, cell, clear, el, timeEl } from './dom.js';
import { fmtBytes, fmtRel, shortCommit } from './format.js';
import { api, errText } from './api.js';
import { dropMessages, showError, showMessage } from './messages.js';
import { PAGE_SIZE_KEY, findRow, state } from './store.js';
import { applyRole, loadRole } from './session.js';
import { loadDrillsAndOffsite, loadLatest, loadSchedule } from './health.js';
import { chainBadge, changedBadge, labelBadges, pinnedCell, signatureBadge } from './snapfields.js';
import { drillBadge } from './drills.js';
import { offsiteBadge, offsiteShown } from './offsite.js';

function sortedRows() {
  var key = state.sort.key, dir = state.sort.dir === 'asc' ? 1 : -1;
  // Array.prototype.sort is stable, so equal keys keep the API's newest-first order.
  return state.rows.slice().sort(function (a, b) {
    var x = a[key], y = b[key];
    if (key === 'size') return (x - y) * dir;
    x = String(x === null || x === undefined ? '' : x);
    y = String(y === null || y === undefined ? '' : y);
    if (key === 'version' || key === 'name')
      return x.localeCompare(y, undefined, { numeric: true, sensitivity: 'base' }) * dir;
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
}

/* Render the loaded rows (sorted as chosen), the summary, the empty or error line. */
export function renderList() {
  var body = $('snap-rows'), rows = sortedRows(), showOffsite, table = $('snap-table');
  showOffsite = offsiteShown(state.rows);
  table.classList.toggle('has-offsite', showOffsite);
  Array.prototype.forEach.call(table.querySelectorAll('.col-offsite'), function (th) { th.hidden = !showOffsite; });
  clear(body);
  rows.forEach(function (s) {
    var selected = state.selected.indexOf(s.name) >= 0;
    var cb = el('input', { type: 'checkbox', 'aria-label': 'Select ' + s.name + ' for diff', 'data-name': s.name, class: 'pick' });
    cb.checked = selected;
    // Pinning needs write; unpinning (which lets prune delete it) needs admin.
    var pinBtn = el('button', { type: 'button', class: 'secondary small', 'data-act': 'pin', 'data-name': s.name,
                                'data-needs': s.pinned ? 'admin' : 'write' }, s.pinned ? 'Unpin' : 'Pin');
    var tr = el('tr', { 'data-name': s.name, class: selected ? 'is-selected' : null },
      cell({ class: 'col-select', 'data-label': 'Diff' }, cb),
      cell({ class: 'name', 'data-label': 'Name' }, el('a', { href: '#/s/' + encodeURIComponent(s.name) }, s.name),
         changedBadge(s), chainBadge(s), signatureBadge(s), drillBadge(s)),
      cell({ class: 'created', 'data-label': 'Created' }, timeEl(s.created_at),
         el('span', { class: 'rel', 'data-rel-of': s.created_at }, fmtRel(s.created_at))),
      cell({ class: 'size num', 'data-label': 'Size', title: s.size + ' bytes', 'data-bytes': s.size }, fmtBytes(s.size)),
      cell({ class: 'version', 'data-label': 'Version' }, s.version),
      cell({ class: 'commit mono', 'data-label': 'Git commit', title: s.git_commit || 'not a git repository' },
         shortCommit(s.git_commit) || el('span', { class: 'muted' }, '—')),
      cell({ class: 'pinned', 'data-label': 'Pinned' }, pinnedCell(s)),
      cell({ class: 'labels', 'data-label': 'Labels' }, labelBadges(s.labels)),
      showOffsite ? cell({ class: 'offsite', 'data-label': 'Offsite' }, offsiteBadge(s)) : null,
      cell({ class: 'actions-cell', 'data-label': 'Actions' },
         el('span', { class: 'row-actions' },
            pinBtn,
            el('button', { type: 'button', class: 'danger small', 'data-act': 'restore', 'data-name': s.name, 'data-needs': 'admin' }, 'Restore…'),
            el('button', { type: 'button', class: 'secondary danger-outline small', 'data-act': 'delete', 'data-name': s.name,
                              'data-needs': 'admin' }, 'Delete…')))
    );
    body.appendChild(tr);
  });
  applyRole(body);
  $('list-empty').hidden = rows.length > 0 || !!state.listError;
  $('list-error').hidden = !state.listError;
  $('list-error').textContent = state.listError ? listErrorText(state.listError) : '';
  $('btn-more').hidden = !state.nextCursor;
  $('list-summary').textContent = 'Showing ' + state.rows.length + ' of ' + state.totalCount + ' snapshot' +
    (state.totalCount === 1 ? '' : 's') + ' · ' + fmtBytes(state.totalBytes) + ' in the store' +
    (state.prefix || state.label ? ' (filtered)' : '');
  Array.prototype.forEach.call(document.querySelectorAll('#snap-table th[data-sort]'), function (th) {
    if (th.getAttribute('data-sort') === state.sort.key)
      th.setAttribute('aria-sort', state.sort.dir === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  });
  renderSelection();
  renderNameLists();
}

/* Why no snapshot is listed, instead of "No snapshots match." when the list did not load. */
function listErrorText(e) {
  if (e.status === 0) return 'The statesnap server is unreachable: the snapshots cannot be listed. Refresh once it is back.';
  if (e.status === 401) return 'The server wants an API token to list snapshots: enter one at the top of the page.';
  return 'The snapshots could not be loaded — ' + errText(e);
}

function renderNameLists() {
  var a = $('snap-names'), b = $('snap-names-live');
  clear(a);
  clear(b);
  b.appendChild(el('option', { value: 'live' }, 'the current state root'));
  state.rows.forEach(function (s) {
    a.appendChild(el('option', { value: s.name }));
    b.appendChild(el('option', { value: s.name }));
  });
}

function renderSelection() {
  var n = state.selected.length, btn = $('btn-diff-selected');
  btn.disabled = n < 1 || n > 2;
  btn.textContent = n === 1 ? 'Diff selected vs live' : n === 2 ? 'Diff the 2 selected' : 'Diff selected';
}

/* loadList(more) - first page (or, after a change, as many rows as were loaded), or the next
 * page with the API's cursor when more is true. */
export function loadList(more) {
  var seq = ++state.listSeq;
  var limit = more ? state.pageSize : Math.min(1000, Math.max(state.pageSize, state.rows.length));
  var query = { limit: limit, prefix: state.prefix, label: state.label };
  if (more) query.cursor = state.nextCursor;
  $('btn-more').disabled = true;
  return api('GET', '/snapshots', { query: query }).then(function (page) {
    if (seq !== state.listSeq) return;
    state.rows = more ? state.rows.concat(page.snapshots) : page.snapshots;
    state.nextCursor = page.next_cursor;
    state.totalCount = page.total_count;
    state.totalBytes = page.total_bytes;
    state.listError = null;
    var names = state.rows.map(function (s) { return s.name; });
    state.selected = state.selected.filter(function (n) { return names.indexOf(n) >= 0; });
    $('btn-more').disabled = false;
    dropMessages('network');
    renderList();
  }, function (e) {
    if (seq !== state.listSeq) return;
    $('btn-more').disabled = false;
    if (!more) {
      state.rows = [];
      state.nextCursor = null;
      state.listError = e;
      renderList();
      $('list-summary').textContent = 'Snapshots could not be loaded.';
    }
    showError('Listing snapshots failed', e);
  });
}

/* Reload the header (latest, schedule), the list, and then the token's role, the last drill
 * and the offsite status (asked only once the list loaded: without a usable token they would
 * only repeat the list's 401). */
export function refreshAll() {
  loadLatest();
  loadSchedule();
  return loadList(false).then(function () {
    if (!state.listError) return Promise.all([loadRole(), loadDrillsAndOffsite()]);
  });
}

/* Wire the list's controls. actions: {openCreate(opener), openRestore(name, opener),
 * openDelete(name, pinned, opener)} - the dialogs the buttons open. */
export function initList(actions) {
  var timer = null;
  try {
    var ps = Number(localStorage.getItem(PAGE_SIZE_KEY));
    if ([10, 25, 50, 100].indexOf(ps) >= 0) state.pageSize = ps;
  } catch (e) { /* default page size */ }
  $('page-size').value = String(state.pageSize);
  $('page-size').addEventListener('change', function () {
    state.pageSize = Number($('page-size').value);
    try { localStorage.setItem(PAGE_SIZE_KEY, String(state.pageSize)); } catch (e) { /* not kept */ }
    state.rows = [];
    loadList(false);
  });
  function onFilter() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var p = $('filter-prefix').value.trim(), l = $('filter-label').value.trim();
      if (l && l.indexOf('=') < 1) {
        showMessage('error', 'The label filter must look like key=value.');
        return;
      }
      if (p === state.prefix && l === state.label) return;
      state.prefix = p;
      state.label = l;
      state.rows = [];
      loadList(false);
    }, 250);
  }
  $('filter-prefix').addEventListener('input', onFilter);
  $('filter-label').addEventListener('input', onFilter);
  $('btn-refresh').addEventListener('click', function () { refreshAll(); });
  $('btn-more').addEventListener('click', function () { loadList(true); });
  $('btn-create').addEventListener('click', function (ev) { actions.openCreate(ev.currentTarget); });
  Array.prototype.forEach.call(document.querySelectorAll('#snap-table th[data-sort] button'), function (b) {
    b.addEventListener('click', function () {
      var key = b.parentNode.getAttribute('data-sort');
      if (state.sort.key === key) state.sort.dir = state.sort.dir === 'asc' ? 'desc' : 'asc';
      else state.sort = { key: key, dir: key === 'created_at' || key === 'size' ? 'desc' : 'asc' };
      renderList();
    });
  });
  $('snap-rows').addEventListener('change', function (ev) {
    var t = ev.target, name;
    if (!t.classList || !t.classList.contains('pick')) return;
    name = t.getAttribute('data-name');
    state.selected = state.selected.filter(function (n) { return n !== name; });
    if (t.checked) {
      state.selected.push(name);
      // At most two: picking a third drops the oldest pick.
      if (state.selected.length > 2) state.selected.shift();
    }
    renderList();
  });
  $('snap-rows').addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('button[data-act]') : null, name, row;
    if (!b) return;
    name = b.getAttribute('data-name');
    row = findRow(name);
    if (b.getAttribute('data-act') === 'pin') togglePin(name, row ? !row.pinned : true, b);
    else if (b.getAttribute('data-act') === 'restore') actions.openRestore(name, b);
    else if (b.getAttribute('data-act') === 'delete') actions.openDelete(name, row ? row.pinned : false, b);
  });
  $('btn-diff-selected').addEventListener('click', function () {
    var picks = state.selected.map(findRow).filter(Boolean), from, to;
    if (picks.length === 1) { from = picks[0].name; to = 'live'; }
    else if (picks.length === 2) {
      // Older first, so "extends" reads forward in time. The API's order (newest first) also
      // settles snapshots taken within the same second.
      picks.sort(function (a, b) { return state.rows.indexOf(b) - state.rows.indexOf(a); });
      from = picks[0].name;
      to = picks[1].name;
    } else return;
    location.hash = '#/diff?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to);
  });
}

/* Pin or unpin name (PATCH), then reload the list. Resolves with the updated snapshot, or
 * undefined when refused (the reason is shown). */
export function togglePin(name, pin, button) {
  if (button) button.disabled = true;
  return api('PATCH', '/snapshots/' + encodeURIComponent(name), { body: { pin: pin } }).then(function (s) {
    showMessage('note', (s.pinned ? 'Pinned ' : 'Unpinned ') + s.name + '.');
    loadList(false);
    return s;
  }, function (e) {
    if (button) button.disabled = false;
    showError((pin ? 'Pinning ' : 'Unpinning ') + name + ' failed', e);
  });
}
