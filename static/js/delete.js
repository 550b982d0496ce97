/* delete.js - the "Delete snapshot?" dialog: Cancel has the focus, a pinned snapshot needs
 * force; DELETE /snapshots/{name}. */
import { $ } from './dom.js';
import { api, errText } from './api.js';
import { showMessage } from './messages.js';
import { state } from './store.js';
import { openDialog } from './dialogs.js';
import { refreshAll } from './list.js';

/* Open the dialog for name (pinned: show the force choice at once). */
export function openDelete(name, pinned, opener) {
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

/* Wire the confirm button. */
export function initDelete() {
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
