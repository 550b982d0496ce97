/* api.js - the /api/v1 client: fetch with the tab's bearer token, JSON in and out, and one
 * error type (ApiError) whose message is always readable. Also the token's storage. */

export var API = '/api/v1';
export var TOKEN_KEY = 'statesnap.token';           // sessionStorage: gone when the tab closes

/* The token kept for this tab, or '' when there is none. Cannot throw. */
export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
}

/* Keep t as this tab's token (sessionStorage: gone when the tab closes); '' forgets it.
 * Throws when the browser refuses storage. */
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

var unauthorized = null;

/* fn(apiError) runs on every 401 answer (the session module shows the token banner). */
export function onUnauthorized(fn) { unauthorized = fn; }

/* A fresh Idempotency-Key ("dash-" and 32 hex digits). */
export function randomKey() {
  var b = new Uint8Array(16), s = '', i;
  crypto.getRandomValues(b);
  for (i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return 'dash-' + s;
}

/* What every api() failure rejects with: status (0 when the server could not be reached),
 * the problem document's title and detail, the parsed body, and a readable message. */
export function ApiError(status, title, detail, body) {
  this.status = status;
  this.title = title;
  this.detail = detail;
  this.body = body;
  this.message = (status ? status + ' ' : '') + (title || 'Error') + (detail ? ': ' + detail : '');
}

/* api(method, path, {body, query, idempotent, token}) - resolves with the parsed JSON body of a 2xx
 * answer; rejects with an ApiError that always carries a readable message: the problem
 * document's title and detail, or what the network layer said. token (optional) is sent
 * instead of the kept one (the token form checks a token before keeping it). */
export function api(method, path, opts) {
  opts = opts || {};
  var url = API + path, headers = { Accept: 'application/json, application/problem+json' }, init, token, qs = [];
  if (opts.query) {
    Object.keys(opts.query).forEach(function (k) {
      var v = opts.query[k];
      if (v !== undefined && v !== null && v !== '') qs.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    });
    if (qs.length) url += '?' + qs.join('&');
  }
  token = opts.token !== undefined ? opts.token : getToken();
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
      var err;
      if (body && typeof body === 'object' && (body.title || body.detail))
        err = new ApiError(res.status, body.title || res.statusText, body.detail || '', body);
      else
        err = new ApiError(res.status, res.statusText || 'HTTP error',
                           text ? text.slice(0, 300) : 'the server sent no explanation', body);
      if (res.status === 401 && unauthorized && opts.token === undefined) unauthorized(err);
      throw err;
    });
  }, function (err) {
    throw new ApiError(0, 'Network error', 'cannot reach the statesnap server (' + (err && err.message ? err.message : err) + ')', null);
  });
}

/* The readable text of a failure (an ApiError or anything thrown); a 401 says where the token goes. */
export function errText(e) {
  if (e instanceof ApiError) {
    var s = e.message;
    if (e.status === 401) s += ' — enter an API token at the top of the page.';
    return s;
  }
  return String(e && e.message ? e.message : e);
}
