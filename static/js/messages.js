/* messages.js - the message area under the tabs: notes that fade and errors that stay until
 * dismissed (or until what caused them is fixed: dropMessages). */
import { $, el } from './dom.js';
import { errText } from './api.js';

/* Show text as kind 'note' or 'error'; tag (optional) marks it for dropMessages. */
export function showMessage(kind, text, tag) {
  var box = $('messages');
  var p = el('p', null, text);
  var btn = el('button', { type: 'button', class: 'secondary small' }, 'Dismiss');
  var item = el('div', { class: 'msg ' + kind, role: kind === 'error' ? 'alert' : 'status', 'data-tag': tag || null }, p, btn);
  btn.addEventListener('click', function () { item.remove(); });
  box.insertBefore(item, box.firstChild);
  // Errors stay until dismissed: an operator under pressure must not miss one.
  if (kind !== 'error') setTimeout(function () { item.remove(); }, 8000);
  while (box.children.length > 6) box.removeChild(box.lastChild);
}

/* An error message "prefix — what went wrong"; a 401 is tagged 'auth' and an unreachable
 * server 'network', so they go once a valid token is entered or the server answers again. */
export function showError(prefix, e) {
  var tag = e && e.status === 401 ? 'auth' : e && e.status === 0 && e.title === 'Network error' ? 'network' : null;
  showMessage('error', prefix + ' — ' + errText(e), tag);
}

/* Remove every message tagged tag. */
export function dropMessages(tag) {
  Array.prototype.forEach.call(document.querySelectorAll('#messages .msg[data-tag="' + tag + '"]'),
                               function (m) { m.remove(); });
}
