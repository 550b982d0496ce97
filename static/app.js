/* app.js - the statesnap dashboard: list, detail, diff, create/pin/delete, the restore flow and
 * the audit chain, all through the /api/v1 HTTP API. Plain browser JavaScript, no dependencies, no build step. */
(function () {
  'use strict';

  var API = '/api/v1';
  var TOKEN_KEY = 'statesnap.token';           // sessionStorage: gone when the tab closes
  var THRESHOLDS_KEY = 'statesnap.thresholds'; // localStorage: {amber, red} in hours
  var PAGE_SIZE_KEY = 'statesnap.pageSize';
  var DEFAULT_THRESHOLDS = { amber: 26, red: 50 };
  var NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
  var LATEST_REFRESH_MS = 60000;
  var TICK_MS = 15000;

  var state = {
    rows: [],               // snapshots loaded so far, in the API's order (newest first)
    nextCursor: null,
    totalCount: 0,
    totalBytes: 0,
    sort: { key: 'created_at', dir: 'desc' },
    prefix: '',
    label: '',
    pageSize: 25,
    selected: [],           // names picked for a diff, in click order
    listSeq: 0,             // newer list requests win over slower older ones
    latest: null,
    latestAt: 0,            // performance.now() when latest was fetched
    latestMissing: false,
    thresholds: loadThresholds(),
    detail: null
  };

  function $(id) { return document.getElementById(id); }

  /* el('td', {class: 'x', title: 't'}, child, 'text', ...) - DOM without innerHTML, so
   * no value from the API is ever parsed as markup. */
  function el(tag, attrs) {
    var node = document.createElement(tag), k, i, c;
    if (attrs) {
      for (k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] === null || attrs[k] === undefined ||
            attrs[k] === false)
          continue;
        if (k === 'class') node.className = attrs[k];
        else if (k === 'text') node.textContent = attrs[k];
        else node.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
      }
    }
    for (i = 2; i < arguments.length; i++) {
      c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /* ---------- formatting ---------- */

  function fmtBytes(n) {
    if (typeof n !== 'number') return '—';
    var units = ['B', 'KB', 'MB', 'GB', 'TB'], u = 0, v = n;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[u];
  }

  function fmtAbs(iso) {
    // The API speaks UTC (RFC 3339, seconds); operators compare it with server logs, so keep UTC.
    if (!iso) return '—';
    return iso.replace('T', ' ').replace('Z', ' UTC');
  }

  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec));
    if (sec < 60) return sec + ' s';
    var m = Math.floor(sec / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (h < 1) return m + ' min';
    if (d < 1) return h + ' h ' + (m % 60) + ' min';
    return d + ' d ' + (h % 24) + ' h';
  }

  function ageOf(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? null : (Date.now() - t) / 1000;
  }

  function fmtRel(iso) {
    var a = ageOf(iso);
    if (a === null) return '';
    if (a < 5) return 'just now';
    return fmtDuration(a) + ' ago';
  }

  function fmtValue(v) {
    if (v === undefined) return '—';
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
  }

  function shortCommit(c) { return c ? c.slice(0, 7) : null; }

  function timeEl(iso) {
    var t = el('time', { datetime: iso, 'data-rel': iso }, fmtAbs(iso));
    var local = new Date(iso);
    if (!isNaN(local.getTime())) t.title = 'Local time: ' + local.toLocaleString();
    return t;
  }

  /* ---------- API ---------- */

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function randomKey() {
    var b = new Uint8Array(16), s = '', i;
    crypto.getRandomValues(b);
    for (i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return 'dash-' + s;
  }

  function ApiError(status, title, detail, body) {
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.body = body;
    this.message = (status ? status + ' ' : '') + (title || 'Error') + (detail ? ': ' + detail : '');
  }

  /* api(method, path, {body, query, idempotent}) - resolves with the parsed JSON body of a 2xx
   * answer; rejects with an ApiError that always carries a readable message: the problem
   * document's title and detail, or what the network layer said. */
  function api(method, path, opts) {
    opts = opts || {};
    var url = API + path, headers = { Accept: 'application/json, application/problem+json' }, init, token, qs = [];
    if (opts.query) {
      Object.keys(opts.query).forEach(function (k) {
        var v = opts.query[k];
        if (v !== undefined && v !== null && v !== '') qs.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
      });
      if (qs.length) url += '?' + qs.join('&');
    }
    token = getToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    if (opts.idempotent) headers['Idempotency-Key'] = opts.idempotent;
    init = { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' };
    // The server refuses a POST or PATCH that does not say application/json, even one without
    // a body (verify, offsite sync): that is what keeps other sites' forms off the API.
    if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') headers['Content-Type'] = 'application/json';
    if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
    return fetch(url, init).then(function (res) {
      var ct = res.headers.get('Content-Type') || '';
      return res.text().then(function (text) {
        var body = null;
        if (text && (ct.indexOf('json') >= 0)) {
          try { body = JSON.parse(text); } catch (e) { body = null; }
        }
        if (res.ok) {
          if (body === null && text) throw new ApiError(res.status, 'Unreadable answer', 'the server did not send JSON', null);
          return body;
        }
        if (res.status === 401) markNeedsToken(true);
        if (body && typeof body === 'object' && (body.title || body.detail))
          throw new ApiError(res.status, body.title || res.statusText, body.detail || '', body);
        throw new ApiError(res.status, res.statusText || 'HTTP error',
                           text ? text.slice(0, 300) : 'the server sent no explanation', body);
      });
    }, function (err) {
      throw new ApiError(0, 'Network error', 'cannot reach the statesnap server (' + (err && err.message ? err.message : err) + ')', null);
    });
  }

  function errText(e) {
    if (e instanceof ApiError) {
      var s = e.message;
      if (e.status === 401) s += ' — enter an API token at the top of the page.';
      return s;
    }
    return String(e && e.message ? e.message : e);
  }

  /* ---------- messages ---------- */

  function showMessage(kind, text) {
    var box = $('messages');
    var p = el('p', null, text);
    var btn = el('button', { type: 'button', class: 'secondary small' }, 'Dismiss');
    var item = el('div', { class: 'msg ' + kind, role: kind === 'error' ? 'alert' : 'status' }, p, btn);
    btn.addEventListener('click', function () { item.remove(); });
    box.insertBefore(item, box.firstChild);
    // Errors stay until dismissed: an operator under pressure must not miss one.
    if (kind !== 'error') setTimeout(function () { item.remove(); }, 8000);
    while (box.children.length > 6) box.removeChild(box.lastChild);
  }

  function showError(prefix, e) { showMessage('error', prefix + ' — ' + errText(e)); }

  /* ---------- token ---------- */

  function markNeedsToken(on) {
    $('token-form').classList.toggle('needs-token', !!on);
  }

  function renderTokenStatus() {
    var t = getToken();
    $('token-status').textContent = t
      ? 'Token set for this tab (sessionStorage).'
      : 'No token: only loopback dev mode accepts that.';
    $('token-input').value = '';
    $('token-input').placeholder = t ? '•••••• (set)' : 'Bearer token';
  }

  function initToken() {
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = $('token-input').value.trim();
      if (!v) { $('token-input').focus(); return; }
      try { sessionStorage.setItem(TOKEN_KEY, v); } catch (e) { showError('Cannot keep the token', e); }
      markNeedsToken(false);
      renderTokenStatus();
      showMessage('note', 'Token set for this tab.');
      refreshAll();
    });
    $('token-forget').addEventListener('click', function () {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage disabled: nothing kept */ }
      renderTokenStatus();
      showMessage('note', 'Token forgotten.');
    });
    renderTokenStatus();
  }

  /* ---------- latest snapshot age ---------- */

  function loadThresholds() {
    var t = null;
    try { t = JSON.parse(localStorage.getItem(THRESHOLDS_KEY) || 'null'); } catch (e) { t = null; }
    if (!t || typeof t.amber !== 'number' || typeof t.red !== 'number' || t.amber < 0 || t.red < 0)
      return { amber: DEFAULT_THRESHOLDS.amber, red: DEFAULT_THRESHOLDS.red };
    return { amber: t.amber, red: t.red };
  }

  function latestAgeSeconds() {
    if (!state.latest) return null;
    return state.latest.age_seconds + (performance.now() - state.latestAt) / 1000;
  }

  function renderLatest() {
    var box = $('latest'), age = latestAgeSeconds(), th = state.thresholds, cls, label;
    box.classList.remove('age-ok', 'age-amber', 'age-red', 'age-unknown');
    if (state.latestMissing) {
      box.classList.add('age-red');
      $('latest-age').textContent = 'none';
      $('latest-state').textContent = 'NO SNAPSHOT';
      $('latest-name').textContent = 'No snapshot exists yet.';
      return;
    }
    if (age === null) {
      box.classList.add('age-unknown');
      return;
    }
    if (age > th.red * 3600) { cls = 'age-red'; label = 'TOO OLD (over ' + th.red + ' h)'; }
    else if (age > th.amber * 3600) { cls = 'age-amber'; label = 'OLD (over ' + th.amber + ' h)'; }
    else { cls = 'age-ok'; label = 'OK'; }
    box.classList.add(cls);
    $('latest-age').textContent = fmtDuration(age) + ' ago';
    $('latest-state').textContent = label;
    clear($('latest-name'));
    $('latest-name').appendChild(el('a', { href: '#/s/' + encodeURIComponent(state.latest.name), class: 'mono' }, state.latest.name));
    $('latest-name').appendChild(document.createTextNode(' · ' + fmtAbs(state.latest.created_at)));
  }

  function loadLatest() {
    return api('GET', '/snapshots/latest').then(function (s) {
      state.latest = s;
      state.latestAt = performance.now();
      state.latestMissing = false;
      renderLatest();
    }, function (e) {
      state.latest = null;
      if (e.status === 404) {
        state.latestMissing = true;
        renderLatest();
        return;
      }
      state.latestMissing = false;
      $('latest-age').textContent = 'unknown';
      $('latest-state').textContent = '';
      $('latest-name').textContent = errText(e);
      renderLatest();
    });
  }

  function fmtInterval(sec) {
    if (sec % 3600 === 0) return sec / 3600 + ' h';
    if (sec % 60 === 0) return sec / 60 + ' min';
    return sec + ' s';
  }

  /* The server's periodic auto-snapshot (GET /api/v1/schedule), one line under the latest age. */
  function renderSchedule(st, e) {
    var p = $('schedule'), parts;
    p.classList.remove('sched-failed');
    if (e) {
      p.textContent = 'Schedule status unavailable — ' + errText(e);
      return;
    }
    if (!st.enabled) {
      p.textContent = 'Scheduled snapshots: off';
      return;
    }
    parts = ['Scheduled snapshots: every ' + fmtInterval(st.interval_seconds)];
    if (st.running) parts.push('running now');
    if (st.next_run) parts.push('next ' + fmtAbs(st.next_run));
    if (st.last_result) {
      parts.push('last run ' + st.last_result + ' at ' + fmtAbs(st.last_end || st.last_start) +
                 (st.last_snapshot ? ' (' + st.last_snapshot + ')' : '') +
                 (st.last_result === 'failure' && st.last_error ? ': ' + st.last_error : ''));
      if (st.last_result === 'failure') p.classList.add('sched-failed');
    } else {
      parts.push('no run yet');
    }
    p.textContent = parts.join(' · ');
  }

  function loadSchedule() {
    return api('GET', '/schedule').then(function (st) { renderSchedule(st, null); },
                                        function (e) { renderSchedule(null, e); });
  }

  function initThresholds() {
    function fill() {
      $('th-amber').value = String(state.thresholds.amber);
      $('th-red').value = String(state.thresholds.red);
    }
    fill();
    $('thresholds-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var a = Number($('th-amber').value), r = Number($('th-red').value);
      if ($('th-amber').value.trim() === '' || $('th-red').value.trim() === '' || !isFinite(a) || !isFinite(r) ||
          a < 0 || r < 0) {
        $('th-error').textContent = 'Both thresholds must be numbers of hours, 0 or more.';
        return;
      }
      if (r < a) {
        $('th-error').textContent = 'The red threshold must not be below the amber one.';
        return;
      }
      $('th-error').textContent = '';
      state.thresholds = { amber: a, red: r };
      try { localStorage.setItem(THRESHOLDS_KEY, JSON.stringify(state.thresholds)); } catch (e) { showError('Cannot keep the thresholds', e); }
      renderLatest();
      showMessage('note', 'Thresholds saved: amber after ' + a + ' h, red after ' + r + ' h.');
    });
    $('th-reset').addEventListener('click', function () {
      state.thresholds = { amber: DEFAULT_THRESHOLDS.amber, red: DEFAULT_THRESHOLDS.red };
      try { localStorage.removeItem(THRESHOLDS_KEY); } catch (e) { /* nothing was kept */ }
      $('th-error').textContent = '';
      fill();
      renderLatest();
    });
  }

  /* ---------- snapshot list ---------- */

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

  function labelBadges(labels) {
    var frag = document.createDocumentFragment(), keys = Object.keys(labels || {});
    if (!keys.length) frag.appendChild(el('span', { class: 'muted' }, '—'));
    keys.sort().forEach(function (k) { frag.appendChild(el('span', { class: 'badge label' }, k + '=' + labels[k])); });
    return frag;
  }

  function pinnedCell(s) {
    if (!s.pinned) return el('span', { class: 'muted' }, 'no');
    return el('span', null, el('span', { class: 'badge pinned' }, 'pinned'),
              s.pinned_until ? el('span', { class: 'rel', title: 'Pinned until ' + fmtAbs(s.pinned_until) },
                                  'until ' + s.pinned_until.slice(0, 10)) : null);
  }

  /* One table cell whose content sits in a single wrapper, so the phone layout (label, value)
   * stays a two-column grid however many pieces the value has. */
  function cell(attrs) {
    var inner = el('div', { class: 'cell' }), i, c;
    for (i = 1; i < arguments.length; i++) {
      c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      inner.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el('td', attrs, inner);
  }

  /* A snapshot kept although files changed while it was captured. */
  function changedBadge(s) {
    if (!s.consistency || s.consistency.state !== 'changed') return null;
    return el('span', { class: 'badge failed', title: 'Not a consistent cut: ' +
                        (s.consistency.changed || []).join(', ') + ' changed while read' }, 'not consistent');
  }

  /* The last restore drill of a snapshot: a badge in the list, a line in the detail. */
  function drillBadge(s) {
    var d = s.last_drill;
    if (!d) return null;
    return el('span', { class: 'badge drill-' + d.result, title: 'last restore drill ' + d.result + ' at ' + fmtAbs(d.at) },
              d.result === 'ok' ? 'drill ok' : 'drill failed');
  }

  function drillText(s) {
    var d = s.last_drill;
    if (!d) return el('span', { class: 'muted' }, 'never drilled');
    return el('span', null, el('span', { class: 'badge drill-' + d.result }, d.result === 'ok' ? 'passed' : 'FAILED'),
              ' ', timeEl(d.at), ' (' + fmtRel(d.at) + ')');
  }

  function captureText(s) {
    var c = s.consistency;
    if (!c) return 'not recorded';
    if (c.state === 'consistent')
      return 'consistent cut (' + c.attempts + (c.attempts === 1 ? ' attempt' : ' attempts') +
             ', window ' + c.window_ms.toFixed(1) + ' ms)';
    return 'NOT a consistent cut: ' + (c.changed || []).join(', ') + ' changed while read';
  }

  function chainText(s) {
    var c = s.chain;
    if (!c) return 'none';
    return c.lines + ' lines, last seq ' + (c.last_seq === null ? 'unknown' : c.last_seq) +
           (c.links_ok ? ', links ok' : ', links broken at line ' + c.first_bad_line);
  }

  function renderList() {
    var body = $('snap-rows'), rows = sortedRows(), showOffsite, table = $('snap-table');
    showOffsite = state.rows.some(function (s) { return s.offsite_state !== null && s.offsite_state !== undefined; });
    table.classList.toggle('has-offsite', showOffsite);
    Array.prototype.forEach.call(table.querySelectorAll('.col-offsite'), function (th) { th.hidden = !showOffsite; });
    clear(body);
    rows.forEach(function (s) {
      var selected = state.selected.indexOf(s.name) >= 0;
      var cb = el('input', { type: 'checkbox', 'aria-label': 'Select ' + s.name + ' for diff', 'data-name': s.name, class: 'pick' });
      cb.checked = selected;
      var pinBtn = el('button', { type: 'button', class: 'secondary small', 'data-act': 'pin', 'data-name': s.name },
                      s.pinned ? 'Unpin' : 'Pin');
      var tr = el('tr', { 'data-name': s.name, class: selected ? 'is-selected' : null },
        cell({ class: 'col-select', 'data-label': 'Diff' }, cb),
        cell({ class: 'name', 'data-label': 'Name' }, el('a', { href: '#/s/' + encodeURIComponent(s.name) }, s.name),
           changedBadge(s), drillBadge(s)),
        cell({ class: 'created', 'data-label': 'Created' }, timeEl(s.created_at),
           el('span', { class: 'rel', 'data-rel-of': s.created_at }, fmtRel(s.created_at))),
        cell({ class: 'size num', 'data-label': 'Size', title: s.size + ' bytes', 'data-bytes': s.size }, fmtBytes(s.size)),
        cell({ class: 'version', 'data-label': 'Version' }, s.version),
        cell({ class: 'commit mono', 'data-label': 'Git commit', title: s.git_commit || 'not a git repository' },
           shortCommit(s.git_commit) || el('span', { class: 'muted' }, '—')),
        cell({ class: 'pinned', 'data-label': 'Pinned' }, pinnedCell(s)),
        cell({ class: 'labels', 'data-label': 'Labels' }, labelBadges(s.labels)),
        showOffsite ? cell({ class: 'offsite', 'data-label': 'Offsite' },
                         s.offsite_state ? el('span', { class: 'badge ' + s.offsite_state }, s.offsite_state) : el('span', { class: 'muted' }, '—')) : null,
        cell({ class: 'actions-cell', 'data-label': 'Actions' },
           el('span', { class: 'row-actions' },
              pinBtn,
              el('button', { type: 'button', class: 'danger small', 'data-act': 'restore', 'data-name': s.name }, 'Restore…'),
              el('button', { type: 'button', class: 'secondary danger-outline small', 'data-act': 'delete', 'data-name': s.name }, 'Delete…')))
      );
      body.appendChild(tr);
    });
    $('list-empty').hidden = rows.length > 0;
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
  function loadList(more) {
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
      var names = state.rows.map(function (s) { return s.name; });
      state.selected = state.selected.filter(function (n) { return names.indexOf(n) >= 0; });
      $('btn-more').disabled = false;
      renderList();
    }, function (e) {
      if (seq !== state.listSeq) return;
      $('btn-more').disabled = false;
      if (!more) {
        state.rows = [];
        state.nextCursor = null;
        renderList();
        $('list-summary').textContent = 'Snapshots could not be loaded.';
      }
      showError('Listing snapshots failed', e);
    });
  }

  function refreshAll() {
    loadLatest();
    loadSchedule();
    return loadList(false);
  }

  function findRow(name) {
    for (var i = 0; i < state.rows.length; i++) if (state.rows[i].name === name) return state.rows[i];
    return state.detail && state.detail.name === name ? state.detail : null;
  }

  function initList() {
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
    $('btn-create').addEventListener('click', function (ev) { openCreate(ev.currentTarget); });
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
      else if (b.getAttribute('data-act') === 'restore') openRestore(name, b);
      else if (b.getAttribute('data-act') === 'delete') openDelete(name, row ? row.pinned : false, b);
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

  /* ---------- pin ---------- */

  function togglePin(name, pin, button) {
    if (button) button.disabled = true;
    return api('PATCH', '/snapshots/' + encodeURIComponent(name), { body: { pin: pin } }).then(function (s) {
      showMessage('note', (s.pinned ? 'Pinned ' : 'Unpinned ') + s.name + '.');
      if (state.detail && state.detail.name === name) {
        state.detail.pinned = s.pinned;
        state.detail.pinned_until = s.pinned_until;
        renderDetail();
      }
      return loadList(false);
    }, function (e) {
      if (button) button.disabled = false;
      showError((pin ? 'Pinning ' : 'Unpinning ') + name + ' failed', e);
    });
  }

  /* ---------- dialogs ---------- */

  /* openDialog(d, opener, focusEl) - modal with focus moved inside; on close the focus goes
   * back to what opened it. Esc closes it (the browser's cancel), unless it is busy. */
  function openDialog(d, opener, focusEl) {
    d._opener = opener || document.activeElement;
    if (!d.open) d.showModal();
    if (focusEl) focusEl.focus();
  }

  function initDialogs() {
    Array.prototype.forEach.call(document.querySelectorAll('dialog'), function (d) {
      d.addEventListener('cancel', function (ev) {
        if (d._busy) ev.preventDefault();
      });
      d.addEventListener('close', function () {
        var o = d._opener;
        d._opener = null;
        if (o && document.contains(o) && typeof o.focus === 'function') o.focus();
        else $('main').focus();
      });
      Array.prototype.forEach.call(d.querySelectorAll('[data-close]'), function (b) {
        b.addEventListener('click', function () { if (!d._busy) d.close(); });
      });
    });
  }

  /* ---------- create ---------- */

  function parseLabels(text) {
    var out = {}, lines = text.split(/[\n,]/), i, line, eq, k, v;
    for (i = 0; i < lines.length; i++) {
      line = lines[i].trim();
      if (!line) continue;
      eq = line.indexOf('=');
      if (eq < 1) throw new Error('label "' + line + '" is not key=value');
      k = line.slice(0, eq).trim();
      v = line.slice(eq + 1).trim();
      if (!k || k.length > 64) throw new Error('label key "' + k + '" must be 1-64 characters');
      if (v.length > 256) throw new Error('label "' + k + '" has a value over 256 characters');
      out[k] = v;
    }
    if (Object.keys(out).length > 32) throw new Error('at most 32 labels');
    return out;
  }

  function openCreate(opener) {
    var d = $('dlg-create');
    $('create-form').reset();
    $('create-error').textContent = '';
    $('create-submit').disabled = false;
    openDialog(d, opener, $('create-name'));
  }

  function initCreate() {
    $('create-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var d = $('dlg-create'), name = $('create-name').value.trim(), labels, body = {};
      $('create-error').textContent = '';
      if (name && !NAME_RE.test(name)) {
        $('create-error').textContent = 'The name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit.';
        $('create-name').focus();
        return;
      }
      try { labels = parseLabels($('create-labels').value); } catch (e) {
        $('create-error').textContent = 'Labels: ' + e.message + '.';
        $('create-labels').focus();
        return;
      }
      if (name) body.name = name;
      if (Object.keys(labels).length) body.labels = labels;
      body.pin = $('create-pin').checked;
      d._busy = true;
      $('create-submit').disabled = true;
      $('create-submit').textContent = 'Creating…';
      api('POST', '/snapshots', { body: body, idempotent: randomKey() }).then(function (s) {
        d._busy = false;
        d.close();
        showMessage('note', 'Created snapshot ' + s.name + ' (' + s.file_count + ' files, ' + fmtBytes(s.size) + ').');
        refreshAll();
      }, function (e) {
        d._busy = false;
        $('create-error').textContent = 'Create failed — ' + errText(e);
      }).then(function () {
        $('create-submit').disabled = false;
        $('create-submit').textContent = 'Create';
      });
    });
  }

  /* ---------- delete ---------- */

  function openDelete(name, pinned, opener) {
    var d = $('dlg-delete');
    d._name = name;
    $('delete-name').textContent = name;
    $('delete-pinned').hidden = !pinned;
    $('delete-force').checked = false;
    $('delete-error').textContent = '';
    $('delete-confirm').disabled = false;
    // Cancel has the focus: Enter on a freshly opened dialog must not delete anything.
    openDialog(d, opener, $('delete-cancel'));
  }

  function initDelete() {
    $('delete-confirm').addEventListener('click', function () {
      var d = $('dlg-delete'), name = d._name, force = $('delete-force').checked;
      d._busy = true;
      $('delete-confirm').disabled = true;
      $('delete-error').textContent = '';
      api('DELETE', '/snapshots/' + encodeURIComponent(name), { query: force ? { force: 'true' } : null }).then(function () {
        d._busy = false;
        state.selected = state.selected.filter(function (n) { return n !== name; });
        d._opener = null;
        d.close();
        showMessage('note', 'Deleted snapshot ' + name + '.');
        if (state.detail && state.detail.name === name) location.hash = '#/';
        refreshAll();
      }, function (e) {
        d._busy = false;
        $('delete-confirm').disabled = false;
        if (e.body && e.body.type === 'urn:statesnap:problem:pinned') $('delete-pinned').hidden = false;
        $('delete-error').textContent = 'Delete failed — ' + errText(e);
      });
    });
  }

  /* ---------- detail ---------- */

  function dl(pairs) {
    var d = el('dl', { class: 'meta' });
    pairs.forEach(function (p) {
      d.appendChild(el('dt', null, p[0]));
      d.appendChild(el('dd', null, p[1]));
    });
    return d;
  }

  function renderDetail() {
    var s = state.detail, body = $('detail-body'), m, files, envKeys;
    clear(body);
    if (!s) return;
    $('detail-name').textContent = s.name;
    $('detail-pin').textContent = s.pinned ? 'Unpin' : 'Pin';
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
      ['Last drill', drillText(s)],
      ['Offsite', s.offsite_state || 'not configured'],
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
        el('td', { class: 'mono path' }, f.path), el('td', null, f.group),
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

  function showDetail(name) {
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

  function renderDrill(report, problem) {
    var box = $('drill-result'), c;
    clear(box);
    box.hidden = false;
    box.className = 'verify-result ' + (report && report.result === 'ok' ? 'ok' : 'bad');
    if (!report) {
      box.appendChild(el('p', null, el('strong', null, 'DRILL NOT RUN'), ' — ' + problem));
      return;
    }
    box.appendChild(el('p', null, el('strong', null, report.result === 'ok' ? 'Drill passed' : 'DRILL FAILED'),
                       ' — ' + report.files_checked + ' files checked, ' + fmtBytes(report.bytes) +
                       ' restored into a scratch directory and removed, ' + report.duration_ms + ' ms.'));
    c = report.check;
    box.appendChild(el('p', { class: 'drill-check' }, c
      ? 'Drill check: ' + (c.timed_out ? 'timed out' : c.signal ? 'killed by signal ' + c.signal : 'exit ' + c.exit_code) +
        ' in ' + c.duration_ms + ' ms' + (c.optional ? ' (optional)' : '')
      : 'Drill check: none (hooks.drill_check is not configured, or the copy did not check out).'));
    if (c && c.output) box.appendChild(el('pre', { class: 'json' }, c.output));
    if (report.error) box.appendChild(el('p', { class: 'drill-error' }, report.error));
  }

  function initDetail() {
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
      if (state.detail) openRestore(state.detail.name, ev.currentTarget);
    });
    $('detail-pin').addEventListener('click', function (ev) {
      if (state.detail) togglePin(state.detail.name, !state.detail.pinned, null);
    });
    $('detail-delete').addEventListener('click', function (ev) {
      if (state.detail) openDelete(state.detail.name, state.detail.pinned, ev.currentTarget);
    });
    $('detail-diff-live').addEventListener('click', function () {
      if (state.detail) location.hash = '#/diff?from=' + encodeURIComponent(state.detail.name) + '&to=live';
    });
  }

  /* ---------- diff ---------- */

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

  /* positionsTable(pos, caption, names) - one row per symbol that differs; names relabels the
   * changed/opened/closed badges (the restore dialog speaks of what the restore does). */
  function positionsTable(pos, caption, names) {
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
    return el('div', { class: 'table-wrap' }, t);
  }

  function keyList(title, keys, cls) {
    return el('div', { class: 'env-' + cls }, el('strong', null, title + ': '),
      keys.length ? el.apply(null, ['ul', { class: 'keys' }].concat(keys.map(function (k) { return el('li', null, k); })))
                  : el('span', { class: 'muted' }, 'none'));
  }

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
        tb.appendChild(el('tr', null, el('td', { class: 'mono' }, c.file), el('td', { class: 'mono' }, c.pointer),
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
      tb.appendChild(el('tr', { 'data-path': f.path }, el('td', { class: 'mono' }, f.path),
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
            t.appendChild(el('tr', null, el('td', { class: 'mono' }, c.pointer), el('td', null, c.op),
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
  function runDiff(from, to) {
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

  function initDiff() {
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

  /* ---------- restore ---------- */

  var rs = null; // the restore in progress: {name, clear, preview, seq, previewing, busy, done}

  var KS_TEXT = {
    kept: 'A KILL_SWITCH exists now and the snapshot has none: it will be KEPT (the bot stays halted).',
    cleared: 'The current KILL_SWITCH will be REMOVED by this restore (you asked to clear it).',
    restored: 'The snapshot has a KILL_SWITCH: it will be RESTORED (the bot will be halted).'
  };

  function confirmReady() {
    return !!(rs && rs.preview && !rs.previewing && !rs.busy && !rs.done &&
              $('restore-confirm-name').value === rs.name);
  }

  function updateConfirm() {
    $('restore-confirm').disabled = !confirmReady();
  }

  function renderPreview() {
    var p = rs.preview, tb = $('restore-files').querySelector('tbody'), ks = p.kill_switch, canClear;
    $('restore-created').textContent = 'Snapshot ' + p.snapshot + ', created ' + fmtAbs(p.created_at) + ' (' + fmtRel(p.created_at) + ').';
    $('restore-pos-current').textContent = p.current_positions === null ? 'unknown' : String(p.current_positions);
    $('restore-pos-snapshot').textContent = p.snapshot_positions === null ? 'unknown' : String(p.snapshot_positions);
    clear(tb);
    p.files.forEach(function (f) {
      tb.appendChild(el('tr', { 'data-path': f.path }, el('td', { class: 'mono' }, f.path),
                        el('td', null, el('span', { class: 'badge act-' + f.action }, f.action))));
    });
    $('restore-ks').className = 'ks' + (ks ? ' ks-' + ks : '');
    $('restore-ks').textContent = ks ? KS_TEXT[ks] || ('KILL_SWITCH: ' + ks) : 'No KILL_SWITCH now or in the snapshot.';
    // The choice exists only when there is a KILL_SWITCH now that the snapshot lacks.
    canClear = ks === 'kept' || ks === 'cleared';
    $('restore-ks-clear-wrap').hidden = !canClear;
    $('restore-ks-hint').hidden = !canClear;
    $('restore-ks-clear').checked = rs.clear;
    clear($('restore-warnings'));
    (p.warnings || []).forEach(function (w) { $('restore-warnings').appendChild(el('li', null, w)); });
    $('restore-expires').textContent = 'This preview is valid until ' + fmtAbs(p.expires_at) + '.';
  }

  function renderSymbols(d) {
    var box = $('restore-symbols'), view;
    clear(box);
    if (!d || !d.positions) return;
    if (d.positions.error) {
      box.appendChild(el('p', { class: 'hint' }, 'Per-symbol comparison unavailable: ' + d.positions.error));
      return;
    }
    // The diff runs snapshot → live; a restore goes the other way, so name the columns plainly.
    view = { changed: (d.positions.changed || []).map(function (c) { return { symbol: c.symbol, old: c.new, new: c.old }; }),
             opened: d.positions.closed || [], closed: d.positions.opened || [] };
    box.appendChild(el('p', { class: 'hint' }, 'Per symbol, what the restore changes (current → snapshot):'));
    box.appendChild(positionsTable(view, 'Positions per symbol, current to snapshot',
                                   { changed: 'changed', opened: 'comes back', closed: 'goes away' }));
  }

  /* The options preview and apply share (the confirm token binds them): a
   * restore elsewhere names its directory; otherwise the body is as before. */
  function restoreBody(r, extra) {
    var b = extra;
    b.clear_kill_switch = r.clear;
    if (r.target) b.target = r.target;
    return b;
  }

  function runPreview() {
    var seq = ++rs.seq, r = rs;
    r.previewing = true;
    updateConfirm();
    $('restore-status').textContent = 'Checking the archive and the live state…';
    $('restore-error').textContent = '';
    return api('POST', '/snapshots/' + encodeURIComponent(r.name) + '/restore/preview',
               { body: restoreBody(r, {}) }).then(function (p) {
      if (r !== rs || seq !== r.seq) return p;
      r.preview = p;
      r.previewing = false;
      $('restore-status').textContent = '';
      renderPreview();
      updateConfirm();
      return p;
    }, function (e) {
      if (r !== rs || seq !== r.seq) throw e;
      r.preview = null;
      r.previewing = false;
      $('restore-status').textContent = '';
      updateConfirm();
      throw e;
    });
  }

  function openRestore(name, opener) {
    var d = $('dlg-restore');
    rs = { name: name, clear: false, target: null, preview: null, seq: 0, previewing: false, busy: false, done: false };
    $('restore-target-on').checked = false;
    $('restore-target').value = '';
    $('restore-target-field').hidden = true;
    $('restore-warning').textContent = 'This will overwrite current state!';
    $('restore-name').textContent = name;
    $('restore-name-hint').textContent = name;
    $('restore-confirm-name').value = '';
    $('restore-preview').hidden = false;
    $('restore-result').hidden = true;
    clear($('restore-symbols'));
    if (opener) opener.disabled = true;
    runPreview().then(function () {
      if (opener) opener.disabled = false;
      openDialog(d, opener, $('restore-confirm-name'));
      return api('GET', '/diff', { query: { from: name, to: 'live' } }).then(function (df) {
        if (rs && rs.name === name) renderSymbols(df);
      }, function (e) {
        clear($('restore-symbols'));
        $('restore-symbols').appendChild(el('p', { class: 'hint' }, 'Per-symbol comparison unavailable — ' + errText(e)));
      });
    }, function (e) {
      if (opener) opener.disabled = false;
      rs = null;
      showError('Restore preview for ' + name + ' refused', e);
    });
  }

  function initRestore() {
    var d = $('dlg-restore');
    $('restore-confirm-name').addEventListener('input', updateConfirm);
    $('restore-ks-clear').addEventListener('change', function () {
      if (!rs) return;
      rs.clear = $('restore-ks-clear').checked;
      // The confirm token binds these options, so the preview must be taken again.
      runPreview().catch(function (e) {
        $('restore-error').textContent = 'Preview failed — ' + errText(e);
      });
    });
    function targetChanged() {
      if (!rs) return;
      var on = $('restore-target-on').checked, name = $('restore-target').value.trim();
      $('restore-target-field').hidden = !on;
      rs.target = on && name ? name : null;
      $('restore-warning').textContent = rs.target
        ? 'This writes the snapshot into ' + rs.target + ' (under restore_targets_dir); the live state is not touched.'
        : 'This will overwrite current state!';
      if (on && !name) { rs.preview = null; updateConfirm(); return; }
      runPreview().catch(function (e) {
        $('restore-error').textContent = 'Preview failed — ' + errText(e);
      });
    }
    $('restore-target-on').addEventListener('change', targetChanged);
    $('restore-target').addEventListener('change', targetChanged);
    $('restore-repreview').addEventListener('click', function () {
      if (!rs) return;
      runPreview().catch(function (e) {
        $('restore-error').textContent = 'Preview failed — ' + errText(e);
      });
    });
    $('restore-confirm').addEventListener('click', function () {
      var r = rs;
      if (!confirmReady()) return;
      r.busy = true;
      d._busy = true;
      updateConfirm();
      $('restore-error').textContent = '';
      $('restore-status').textContent = 'Restoring: taking a safety snapshot, then writing each file…';
      api('POST', '/snapshots/' + encodeURIComponent(r.name) + '/restore',
          { body: restoreBody(r, { confirm_token: r.preview.confirm_token }), idempotent: randomKey() }).then(function (rep) {
        r.busy = false;
        r.done = true;
        d._busy = false;
        $('restore-status').textContent = '';
        $('restore-preview').hidden = true;
        $('restore-result').hidden = false;
        var changed = rep.changed_during_restore || [];
        $('restore-banner').textContent = changed.length
          ? 'RESTORE APPLIED, BUT ' + changed.join(', ') + ' CHANGED RIGHT AFTER: the state root is not the snapshot now'
          : 'RESTORE COMPLETE';
        $('restore-banner').className = changed.length ? 'danger-banner' : 'ok-banner';
        $('restore-safety').textContent = rep.target
          ? 'Restored into ' + rep.target + '; the live state root was not touched (no safety snapshot).'
          : 'Safety snapshot taken first: ' + rep.safety_snapshot + ' (pinned).';
        $('restore-lines').textContent = rep.files.map(function (f) {
          return '[' + f.result + '] ' + f.path + (f.action ? '  (' + f.action + ')' : '');
        }).join('\n');
        $('restore-ks-result').textContent = 'KILL_SWITCH: ' + (rep.kill_switch || 'none on either side');
        $('restore-next').textContent = rep.next_step;
        $('restore-close').focus();
        refreshAll();
      }, function (e) {
        r.busy = false;
        d._busy = false;
        $('restore-status').textContent = '';
        if (e.status === 409) r.preview = null;
        $('restore-error').textContent = 'Restore failed — ' + errText(e) +
          (e.status === 409 ? ' Use "Preview again" to see the current state.' : '');
        updateConfirm();
      });
    });
    d.addEventListener('close', function () { rs = null; });
  }

  /* ---------- audit chain ---------- */

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

  function loadAudit() {
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

  function initAudit() {
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

  /* ---------- routing ---------- */

  function currentRoute() {
    var h = location.hash.replace(/^#/, ''), m, q = {}, qs;
    if ((m = /^\/s\/(.+)$/.exec(h))) {
      try { return { view: 'detail', name: decodeURIComponent(m[1]) }; } catch (e) { return { view: 'list' }; }
    }
    if (/^\/diff(\?|$)/.test(h)) {
      qs = h.indexOf('?') >= 0 ? h.slice(h.indexOf('?') + 1) : '';
      qs.split('&').forEach(function (kv) {
        var i = kv.indexOf('=');
        if (i > 0) {
          try { q[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* skip it */ }
        }
      });
      return { view: 'diff', from: q.from || '', to: q.to || '' };
    }
    if (/^\/audit$/.test(h)) return { view: 'audit' };
    return { view: 'list' };
  }

  function route() {
    var r = currentRoute();
    $('view-list').hidden = r.view !== 'list';
    $('view-detail').hidden = r.view !== 'detail';
    $('view-diff').hidden = r.view !== 'diff';
    $('view-audit').hidden = r.view !== 'audit';
    $('tab-list').toggleAttribute('aria-current', false);
    $('tab-diff').toggleAttribute('aria-current', false);
    $('tab-audit').toggleAttribute('aria-current', false);
    if (r.view === 'list') $('tab-list').setAttribute('aria-current', 'page');
    if (r.view === 'diff') $('tab-diff').setAttribute('aria-current', 'page');
    if (r.view === 'audit') $('tab-audit').setAttribute('aria-current', 'page');
    if (r.view === 'detail') {
      document.title = r.name + ' · statesnap';
      showDetail(r.name);
    } else if (r.view === 'diff') {
      document.title = 'Diff · statesnap';
      $('diff-from').value = r.from;
      $('diff-to').value = r.to || 'live';
      if (r.from && r.to) runDiff(r.from, r.to);
      else clear($('diff-body'));
    } else if (r.view === 'audit') {
      document.title = 'Audit · statesnap';
      state.detail = null;
      $('audit-verify-result').hidden = true;
      audit.bad = {};
      loadAudit();
    } else {
      document.title = 'statesnap';
      state.detail = null;
    }
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-rel-of]'), function (n) {
      n.textContent = fmtRel(n.getAttribute('data-rel-of'));
    });
    renderLatest();
  }

  function init() {
    initToken();
    initThresholds();
    initDialogs();
    initList();
    initCreate();
    initDelete();
    initDetail();
    initDiff();
    initRestore();
    initAudit();
    window.addEventListener('hashchange', route);
    route();
    refreshAll();
    setInterval(tick, TICK_MS);
    setInterval(function () {
      // Without a usable token this would only repeat the same 401 every minute.
      if (!$('token-form').classList.contains('needs-token')) {
        loadLatest();
        loadSchedule();
      }
    }, LATEST_REFRESH_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
