/* health.js - the header's health: the latest snapshot's age against the amber/red
 * thresholds (kept in localStorage), the scheduled-snapshot status line, the last restore
 * drill (GET /drills) and, when configured, the offsite copies (GET /offsite). */
import { $, clear, el } from './dom.js';
import { fmtAbs, fmtDuration, fmtInterval, fmtRel } from './format.js';
import { api, errText } from './api.js';
import { showError, showMessage } from './messages.js';
import { DEFAULT_THRESHOLDS, THRESHOLDS_KEY, state } from './store.js';

function latestAgeSeconds() {
  if (!state.latest) return null;
  return state.latest.age_seconds + (performance.now() - state.latestAt) / 1000;
}

/* Show the latest snapshot's age, coloured by the thresholds (also on every tick). */
export function renderLatest() {
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

/* GET /snapshots/latest into the header; a 404 means no snapshot yet. Resolves either way. */
export function loadLatest() {
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

/* The server's periodic auto-snapshot (GET /api/v1/schedule), one line under the latest age;
 * e (an ApiError) instead of st says why it is unknown. */
export function renderSchedule(st, e) {
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

/* GET /schedule into the header. Resolves either way. */
export function loadSchedule() {
  return api('GET', '/schedule').then(function (st) { renderSchedule(st, null); },
                                      function (e) { renderSchedule(null, e); });
}

/* The newest restore drill (any snapshot, CLI, API or the drill schedule), one line. */
function renderDrills(st, e) {
  var p = $('drills-status'), d = st && st.recent && st.recent[0];
  p.classList.remove('sched-failed');
  if (e) { p.textContent = 'Restore drills unavailable — ' + errText(e); return; }
  if (!d) { p.textContent = 'Restore drills: none yet' + (st.schedule && st.schedule.enabled ? ' (scheduled)' : ''); return; }
  p.textContent = 'Last restore drill: ' + (d.result === 'ok' ? 'passed' : 'FAILED') + ' ' + fmtRel(d.at) + ' (' + d.snapshot + ')' +
    (d.result !== 'ok' && d.error ? ': ' + d.error : '') + ' · ' + st.counts.ok + ' passed, ' + st.counts.failed + ' failed in all';
  if (d.result !== 'ok') p.classList.add('sched-failed');
}

/* " · N locked ..." for the copies still under S3 Object Lock (GET /offsite locked_copies), with
 * those whose snapshot was pruned here (their copy stays in the bucket); "" when none. */
function lockedText(st) {
  var l = st.locked_copies || [], kept = l.filter(function (x) { return !x.local; }).length;
  if (!l.length) return st.object_lock ? ' · object lock ' + st.object_lock.mode + ' ' + st.object_lock.days + 'd' : '';
  return ' · ' + l.length + ' locked offsite' + (kept ? ' (' + kept + ' pruned here, kept offsite)' : '') +
    ', soonest until ' + fmtAbs(l[0].retain_until);
}

/* One line per locked copy: its retain-until date, for the status line's tooltip. */
function lockedTitle(st) {
  return (st.locked_copies || []).map(function (x) {
    return x.name + ': locked (' + x.mode + ') until ' + fmtAbs(x.retain_until) + (x.local ? '' : ' — pruned here, kept offsite');
  }).join('\n');
}

/* The offsite copies by state, and the last sync round; hidden when offsite is not configured. */
function renderOffsite(st, e) {
  var p = $('offsite-status'), c;
  p.classList.remove('sched-failed');
  if (e || !st.enabled) { p.hidden = true; return; }
  c = st.counts;
  p.hidden = false;
  p.textContent = 'Offsite: ' + c.synced + ' synced, ' + c.pending + ' pending, ' + c.failed + ' failed' +
    (c.none ? ', ' + c.none + ' not tried' : '') +
    (st.last_result ? ' · last round ' + st.last_result + ' at ' + fmtAbs(st.last_end || st.last_start) +
                      (st.last_error ? ': ' + st.last_error : '') : ' · no round yet') + lockedText(st);
  p.title = lockedTitle(st);
  if (st.last_result === 'failure' || c.failed) p.classList.add('sched-failed');
}

/* GET /drills (the newest one) and GET /offsite into the header. Resolves either way. */
export function loadDrillsAndOffsite() {
  return Promise.all([
    api('GET', '/drills', { query: { limit: 1 } }).then(function (st) { renderDrills(st, null); },
                                                      function (e) { renderDrills(null, e); }),
    api('GET', '/offsite').then(function (st) { renderOffsite(st, null); }, function (e) { renderOffsite(null, e); }),
  ]);
}

/* Wire the thresholds form (validation, save, reset to the defaults). */
export function initThresholds() {
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
