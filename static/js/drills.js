/* drills.js - restore drills: the list's badge, the detail's "Last drill" line, the report of
 * a drill run from the detail view (POST /snapshots/{name}/drill). */
import { $, clear, el, timeEl } from './dom.js';
import { fmtAbs, fmtBytes, fmtRel } from './format.js';

/* The last restore drill of a snapshot as the list's badge (null when never drilled). */
export function drillBadge(s) {
  var d = s.last_drill;
  if (!d) return null;
  return el('span', { class: 'badge drill-' + d.result, title: 'last restore drill ' + d.result + ' at ' + fmtAbs(d.at) },
            d.result === 'ok' ? 'drill ok' : 'drill failed');
}

/* The last restore drill as the detail's line. */
export function drillText(s) {
  var d = s.last_drill;
  if (!d) return el('span', { class: 'muted' }, 'never drilled');
  return el('span', null, el('span', { class: 'badge drill-' + d.result }, d.result === 'ok' ? 'passed' : 'FAILED'),
            ' ', timeEl(d.at), ' (' + fmtRel(d.at) + ')');
}

/* Show a drill's report (or, with report null, why it did not run) under the detail's buttons. */
export function renderDrill(report, problem) {
  var box = $('drill-result'), c;
  clear(box);
  box.hidden = false;
  box.className = 'verify-result ' + (report && report.result === 'ok' ? 'ok' : 'bad');
  if (!report) {
    box.appendChild(el('p', null, el('strong', null, 'DRILL NOT RUN'), ' — ' + problem));
    return;
  }
  box.appendChild(el('p', null, el('strong', null, report.result === 'ok' ? 'Drill passed' : 'DRILL FAILED'),
                     ' — ' + report.files_checked + ' files checked, ' + fmtBytes(report.bytes) +
                     ' restored into a scratch directory and removed, ' + report.duration_ms + ' ms.'));
  c = report.check;
  box.appendChild(el('p', { class: 'drill-check' }, c
    ? 'Drill check: ' + (c.timed_out ? 'timed out' : c.signal ? 'killed by signal ' + c.signal : 'exit ' + c.exit_code) +
      ' in ' + c.duration_ms + ' ms' + (c.optional ? ' (optional)' : '')
    : 'Drill check: none (hooks.drill_check is not configured, or the copy did not check out).'));
  if (c && c.output) box.appendChild(el('pre', { class: 'json' }, c.output));
  if (report.error) box.appendChild(el('p', { class: 'drill-error' }, report.error));
}
