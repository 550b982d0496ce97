/* restore.js - the restore dialog: preview (POST .../restore/preview: per file what happens,
 * positions now and in the snapshot, per symbol, the KILL_SWITCH, a separate target directory),
 * the snapshot's name typed to confirm (Enter submits), then apply (POST .../restore with the
 * preview's confirm token) and its per-file report. */
import { $, clear, el, pathEl } from './dom.js';
import { fmtAbs, fmtRel } from './format.js';
import { api, errText, randomKey } from './api.js';
import { showError } from './messages.js';
import { openDialog } from './dialogs.js';
import { positionsTable } from './diff.js';
import { refreshAll } from './list.js';

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
    tb.appendChild(el('tr', { 'data-path': f.path }, el('td', { class: 'mono path' }, pathEl(f.path)),
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

/* Preview a restore of name and, once the server accepts it, open the dialog (a refused
 * preview is shown as a message, the dialog stays closed). */
export function openRestore(name, opener) {
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

/* Wire the dialog's controls. */
export function initRestore() {
  var d = $('dlg-restore');
  $('restore-confirm-name').addEventListener('input', updateConfirm);
  // Enter in the name field is the same as "Restore now" (once the name matches).
  $('restore-confirm-name').addEventListener('keydown', function (ev) {
    if (ev.key !== 'Enter' || ev.isComposing) return;
    ev.preventDefault();
    if (confirmReady()) $('restore-confirm').click();
    else if (rs && rs.preview && $('restore-confirm-name').value !== rs.name)
      $('restore-error').textContent = 'Type the snapshot name exactly (' + rs.name + ') to confirm.';
  });
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
