/* dom.js - DOM helpers: element by id, building elements without innerHTML (no value from
 * the API is ever parsed as markup), table cells, definition lists, <time> elements. */
import { fmtAbs } from './format.js';

/* The element with that id (or null). */
export function $(id) { return document.getElementById(id); }

/* el('td', {class: 'x', title: 't'}, child, 'text', ...) - DOM without innerHTML, so
 * no value from the API is ever parsed as markup. */
export function el(tag, attrs) {
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

/* Remove every child of node. */
export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

/* One table cell whose content sits in a single wrapper, so the phone layout (label, value)
 * stays a two-column grid however many pieces the value has. */
export function cell(attrs) {
  var inner = el('div', { class: 'cell' }), i, c;
  for (i = 1; i < arguments.length; i++) {
    c = arguments[i];
    if (c === null || c === undefined || c === false) continue;
    inner.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el('td', attrs, inner);
}

/* A <dl class=meta> from [[term, value-or-node], ...]. */
export function dl(pairs) {
  var d = el('dl', { class: 'meta' });
  pairs.forEach(function (p) {
    d.appendChild(el('dt', null, p[0]));
    d.appendChild(el('dd', null, p[1]));
  });
  return d;
}

/* A <time> showing iso in UTC, with the local time as its title. */
export function timeEl(iso) {
  var t = el('time', { datetime: iso, 'data-rel': iso }, fmtAbs(iso));
  var local = new Date(iso);
  if (!isNaN(local.getTime())) t.title = 'Local time: ' + local.toLocaleString();
  return t;
}

/* A file path or JSON pointer that wraps only at its separators: after '/', '_' or '-' and
 * before '.', each piece unbroken (a narrow column never splits "risk_limits" as "risk_l" /
 * "imits"). The text content is p itself. */
export function pathEl(p) {
  var span = el('span', { class: 'path-text' });
  String(p).split(/(?<=[\/_-])|(?=\.)/).forEach(function (piece, i) {
    if (i) span.appendChild(document.createElement('wbr'));
    span.appendChild(el('span', { class: 'seg' }, piece));
  });
  return span;
}
