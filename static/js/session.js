/* session.js - the API token and what it may do: the token form (a token is checked with
 * GET /api/v1/whoami before it is kept, so a wrong one is reported as wrong), the banner
 * while the server wants a token, and the role, by which controls marked data-needs="write"
 * or "admin" are disabled with the reason. The server still checks every request. */
import { $ } from './dom.js';
import { api, errText, getToken, onUnauthorized, setToken } from './api.js';
import { dropMessages, showError, showMessage } from './messages.js';

var RANK = { read: 1, write: 2, admin: 3 };

/* role: 'read', 'write' or 'admin' from GET /whoami; null while unknown (nothing is disabled:
 * the server decides). token: the token's configured name. */
export var session = { role: null, token: null };

/* Whether the known role may do what needs role need ('read', 'write', 'admin'); true while the
 * role is unknown. */
export function roleAllows(need) {
  return session.role === null || (RANK[session.role] || 0) >= (RANK[need] || 0);
}

/* Why the role may not do it, for a title or hint. */
export function roleReason(need) {
  return 'Needs the ' + need + ' role; this token (' + session.token + ') has the ' + session.role + ' role.';
}

/* Disable every [data-needs] control in root (default: the document) that the role may not
 * use, with the reason as its title; enable again the ones it may. */
export function applyRole(root) {
  Array.prototype.forEach.call((root || document).querySelectorAll('[data-needs]'), function (b) {
    var need = b.getAttribute('data-needs');
    if (!roleAllows(need)) {
      if (!b.classList.contains('role-denied') && b.hasAttribute('title')) b.setAttribute('data-title', b.getAttribute('title'));
      b.classList.add('role-denied');
      b.disabled = true;
      b.title = roleReason(need);
    } else if (b.classList.contains('role-denied')) {
      b.classList.remove('role-denied');
      b.disabled = false;
      if (b.hasAttribute('data-title')) b.title = b.getAttribute('data-title');
      else b.removeAttribute('title');
    }
  });
}

/* The banner asking for a token (on after a 401, off once a token works). */
export function markNeedsToken(on) {
  $('token-form').classList.toggle('needs-token', !!on);
}

function renderRole() {
  var p = $('token-role'), denied = [];
  if (!session.role) { p.textContent = ''; p.hidden = true; return; }
  if (!roleAllows('admin')) denied.push('restore', 'delete', 'unpin');
  if (!roleAllows('write')) denied.unshift('create', 'pin', 'drill');
  p.hidden = false;
  p.textContent = 'Role: ' + session.role + ' (token ' + session.token + ')' +
    (denied.length ? ' — ' + denied.join(', ') + ' are not available to this role.' : ' — every action is available.');
}

/* Show whether a token is kept (and clear the field: the token is never left in it). */
export function renderTokenStatus() {
  var t = getToken();
  $('token-status').classList.remove('error');
  $('token-status').textContent = t
    ? 'Token set for this tab (sessionStorage).'
    : 'No token: only loopback dev mode accepts that.';
  $('token-input').value = '';
  $('token-input').placeholder = t ? '•••••• (set)' : 'Bearer token';
}

function setRole(who) {
  session.role = who ? who.role : null;
  session.token = who ? who.token : null;
  renderRole();
  applyRole();
}

/* Ask the server for the kept token's role (GET /whoami) and disable what it may not do.
 * Resolves either way; on failure the role stays unknown. */
export function loadRole() {
  return api('GET', '/whoami').then(setRole, function () { setRole(null); });
}

/* Wire the token form. refresh() reloads the page's data once a token is accepted. */
export function initToken(refresh) {
  onUnauthorized(function () {
    markNeedsToken(true);
    setRole(null);
  });
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var v = $('token-input').value.trim(), status = $('token-status');
    if (!v) { $('token-input').focus(); return; }
    status.classList.remove('error');
    status.textContent = 'Checking the token…';
    api('GET', '/whoami', { token: v }).then(function (who) {
      try { setToken(v); } catch (e) { showError('Cannot keep the token', e); return; }
      markNeedsToken(false);
      dropMessages('auth');
      renderTokenStatus();
      setRole(who);
      showMessage('note', 'Token set for this tab.');
      refresh();
    }, function (e) {
      status.classList.add('error');
      if (e.status === 401)
        status.textContent = 'Wrong token: the server does not accept it (401).' +
          (getToken() ? ' The token set before is still in use.' : '');
      else if (e.status === 0)
        status.textContent = 'The token could not be checked: the statesnap server is unreachable.';
      else
        status.textContent = 'The token could not be checked — ' + errText(e);
      $('token-input').select();
    });
  });
  $('token-forget').addEventListener('click', function () {
    try { setToken(''); } catch (e) { /* storage disabled: nothing kept */ }
    renderTokenStatus();
    setRole(null);
    showMessage('note', 'Token forgotten.');
  });
  renderTokenStatus();
}
