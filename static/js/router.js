/* router.js - the hash routes: #/ (list), #/s/NAME (detail), #/diff?from=A&to=B, #/audit. */

/* The route in location.hash: {view: 'list'|'detail'|'diff'|'audit', name, from, to}. */
export function currentRoute() {
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
