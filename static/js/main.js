/* main.js - the statesnap dashboard's entry point (loaded as <script type="module">): wires
 * every view and dialog, routes on the hash, refreshes the header every minute. Plain browser
 * JavaScript modules, no dependencies, no build step; everything goes through /api/v1.
 * Modules share state only through their imports (store.js holds the shared state). */
import { $, clear } from './dom.js';
import { fmtRel } from './format.js';
import { state } from './store.js';
import { initToken } from './session.js';
import { initThresholds, loadDrillsAndOffsite, loadLatest, loadSchedule, renderLatest } from './health.js';
import { initDialogs } from './dialogs.js';
import { initList, refreshAll } from './list.js';
import { initCreate, openCreate } from './create.js';
import { initDelete, openDelete } from './delete.js';
import { initDetail, showDetail } from './detail.js';
import { initDiff, runDiff } from './diff.js';
import { initRestore, openRestore } from './restore.js';
import { initAudit, showAudit } from './audit.js';
import { currentRoute } from './router.js';

var LATEST_REFRESH_MS = 60000;
var TICK_MS = 15000;

/* Show the view the hash names. */
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
    showAudit();
  } else {
    document.title = 'statesnap';
    state.detail = null;
  }
}

/* Every TICK_MS: relative times and the latest snapshot's age move on. */
function tick() {
  Array.prototype.forEach.call(document.querySelectorAll('[data-rel-of]'), function (n) {
    n.textContent = fmtRel(n.getAttribute('data-rel-of'));
  });
  renderLatest();
}

function init() {
  var actions = { openCreate: openCreate, openRestore: openRestore, openDelete: openDelete };
  initToken(refreshAll);
  initThresholds();
  initDialogs();
  initList(actions);
  initCreate();
  initDelete();
  initDetail(actions);
  initDiff();
  initRestore();
  initAudit();
  // The tab shows as current at once; the view follows on hashchange (a task later).
  document.querySelector('nav.tabs').addEventListener('click', function (ev) {
    var a = ev.target.closest ? ev.target.closest('a.tab') : null;
    if (!a) return;
    Array.prototype.forEach.call(document.querySelectorAll('nav.tabs a.tab'), function (t) {
      if (t === a) t.setAttribute('aria-current', 'page');
      else t.removeAttribute('aria-current');
    });
  });
  window.addEventListener('hashchange', route);
  route();
  refreshAll();
  setInterval(tick, TICK_MS);
  setInterval(function () {
    // Without a usable token this would only repeat the same 401 every minute.
    if (!$('token-form').classList.contains('needs-token')) {
      loadLatest();
      loadSchedule();
      loadDrillsAndOffsite();
    }
  }, LATEST_REFRESH_MS);
}

// Module scripts run after the document is parsed.
init();
