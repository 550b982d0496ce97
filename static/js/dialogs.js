/* dialogs.js - the modal <dialog>s' shared behaviour: focus moves in on open and back to the
 * opener on close; Esc and [data-close] buttons close one unless it is busy (d._busy). */
import { $ } from './dom.js';

/* openDialog(d, opener, focusEl) - modal with focus moved inside; on close the focus goes
 * back to what opened it. Esc closes it (the browser's cancel), unless it is busy. */
export function openDialog(d, opener, focusEl) {
  d._opener = opener || document.activeElement;
  if (!d.open) d.showModal();
  if (focusEl) focusEl.focus();
}

/* Wire every <dialog> in the page (cancel, close, [data-close]). */
export function initDialogs() {
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
