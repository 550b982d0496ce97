/* create.js - the "Create snapshot" dialog: name (optional), labels, pin; POST /snapshots
 * with an Idempotency-Key. */
import { $ } from './dom.js';
import { fmtBytes } from './format.js';
import { api, errText, randomKey } from './api.js';
import { showMessage } from './messages.js';
import { NAME_RE } from './store.js';
import { openDialog } from './dialogs.js';
import { refreshAll } from './list.js';

/* {key: value} from "key=value" lines (or commas); throws an Error naming the bad line. */
export function parseLabels(text) {
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

/* Open the dialog, empty, focus on the name. */
export function openCreate(opener) {
  var d = $('dlg-create');
  $('create-form').reset();
  $('create-error').textContent = '';
  $('create-submit').disabled = false;
  openDialog(d, opener, $('create-name'));
}

/* Wire the create form. */
export function initCreate() {
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
