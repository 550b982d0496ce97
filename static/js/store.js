/* store.js - the page's shared state: the snapshot list as loaded, its sort, filters and
 * selection, the latest snapshot, the age thresholds, the snapshot in the detail view. The
 * one object modules share; each view reads it and renders, the loaders write it. */

export var THRESHOLDS_KEY = 'statesnap.thresholds'; // localStorage: {amber, red} in hours
export var PAGE_SIZE_KEY = 'statesnap.pageSize';
export var DEFAULT_THRESHOLDS = { amber: 26, red: 50 };
export var NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export var state = {
  rows: [],               // snapshots loaded so far, in the API's order (newest first)
  nextCursor: null,
  totalCount: 0,
  totalBytes: 0,
  sort: { key: 'created_at', dir: 'desc' },
  prefix: '',
  label: '',
  pageSize: 25,
  selected: [],           // names picked for a diff, in click order
  listSeq: 0,             // newer list requests win over slower older ones
  latest: null,
  latestAt: 0,            // performance.now() when latest was fetched
  latestMissing: false,
  thresholds: loadThresholds(),
  listError: null,        // why the last list load failed (an ApiError), or null
  detail: null            // the snapshot the detail view shows (GET /snapshots/{name})
};

/* The age thresholds kept in localStorage, or the defaults. Cannot throw. */
export function loadThresholds() {
  var t = null;
  try { t = JSON.parse(localStorage.getItem(THRESHOLDS_KEY) || 'null'); } catch (e) { t = null; }
  if (!t || typeof t.amber !== 'number' || typeof t.red !== 'number' || t.amber < 0 || t.red < 0)
    return { amber: DEFAULT_THRESHOLDS.amber, red: DEFAULT_THRESHOLDS.red };
  return { amber: t.amber, red: t.red };
}

/* The loaded snapshot (a list row, or the detail one) named name, or null. */
export function findRow(name) {
  for (var i = 0; i < state.rows.length; i++) if (state.rows[i].name === name) return state.rows[i];
  return state.detail && state.detail.name === name ? state.detail : null;
}
