// dashboard.mjs - the statesnap dashboard in a real headless chromium against the real server
// (issue 4, "Done means"; the audit page: issue 5). Started by tests/e2e/run.sh BIN, which provides the server and env.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  DESKTOP, PHONE, TOKEN_KEY, activeId, api, apiOk, corruptZipEntry, dialogOpen, env, listAll, makeState, startServer,
  noHorizontalScroll, rootFile, rowNames, runAll, screenshot, test, text, waitRows, waitText, waitUntil, withPage,
} from './lib.mjs';

const BULK = 11; // with e2e_base, more than one page of 10
const fixtures = {};

// The page's own renderings, restated: UTC timestamps and binary-prefixed sizes.
function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let u = 0, v = n;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[u];
}
function fmtAbs(iso) { return iso.replace('T', ' ').replace('Z', ' UTC'); }
function readJson(rel) { return JSON.parse(fs.readFileSync(rootFile(rel), 'utf8')); }
function writeJson(rel, v) { fs.writeFileSync(rootFile(rel), JSON.stringify(v, null, 2) + '\n'); }
function dotenvValues() {
  return fs.readFileSync(rootFile('.env'), 'utf8').split('\n')
    .filter(l => /^[A-Z_]+=/.test(l)).map(l => l.slice(l.indexOf('=') + 1));
}

async function setup() {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_base', labels: { reason: 'baseline', pipeline: '7' }, pin: true } });
  for (let i = 1; i <= BULK; i++) {
    await apiOk('POST', '/snapshots', { body: { name: `e2e_bulk_${String(i).padStart(2, '0')}`, labels: { batch: String(i % 3) } } });
  }
}

/* ---------- list ---------- */

test('the list shows what the API has: fields, order, sorting, name filter, cursor pagination', async () => {
  const all = await listAll();
  const latest = await apiOk('GET', '/snapshots/latest');
  assert.ok(all.snapshots.length >= BULK + 1);
  await withPage({}, async (page, rec) => {
    await page.goto(env.base + '/');
    const names = await waitRows(page, Math.min(25, all.snapshots.length));
    assert.deepEqual(names, all.snapshots.slice(0, 25).map(s => s.name), 'newest first, as the API lists them');

    for (const s of all.snapshots.slice(0, 25)) {
      const row = page.locator(`#snap-rows tr[data-name="${s.name}"]`);
      assert.equal(await row.locator('td.name').textContent(), s.name);
      assert.equal(await row.locator('td.created time').textContent(), fmtAbs(s.created_at));
      assert.match(await row.locator('td.created .rel').textContent(), /^(just now|\d+ s ago|\d+ min ago)$/);
      assert.equal(await row.locator('td.size').getAttribute('title'), `${s.size} bytes`);
      assert.equal(await row.locator('td.version').textContent(), s.version);
      assert.ok(s.git_commit, 'the generated root is a git repository');
      assert.equal(await row.locator('td.commit').textContent(), s.git_commit.slice(0, 7));
      assert.equal(await row.locator('td.commit').getAttribute('title'), s.git_commit);
      assert.equal((await row.locator('td.pinned').textContent()).startsWith('pinned'), s.pinned, `${s.name} pinned`);
      const labels = await row.locator('td.labels .badge').allTextContents();
      assert.deepEqual(labels, Object.keys(s.labels).sort().map(k => `${k}=${s.labels[k]}`));
    }
    assert.equal(await text(page, '#list-summary'),
                 `Showing ${Math.min(25, all.snapshots.length)} of ${all.total_count} snapshots · ${fmtBytes(all.total_bytes)} in the store`);
    // No snapshot here has an offsite state, so the column is not shown.
    assert.equal(await page.locator('#snap-table thead th.col-offsite').isHidden(), true);
    // The latest snapshot, big, from GET /snapshots/latest.
    assert.match(await text(page, '#latest-name'), new RegExp('^' + latest.name + ' · '));
    assert.match(await text(page, '#latest-age'), /ago$/);
    assert.equal(await text(page, '#latest-state'), 'OK');

    // Sorting: by size (descending first, then ascending), by name.
    await page.click('#snap-table th[data-sort="size"] button');
    assert.equal(await page.getAttribute('#snap-table th[data-sort="size"]', 'aria-sort'), 'descending');
    let sizes = await page.locator('#snap-rows td.size').evaluateAll(tds => tds.map(td => Number(td.getAttribute('data-bytes'))));
    assert.deepEqual(sizes, all.snapshots.slice(0, 25).map(s => s.size).sort((a, b) => b - a));
    await page.click('#snap-table th[data-sort="size"] button');
    assert.equal(await page.getAttribute('#snap-table th[data-sort="size"]', 'aria-sort'), 'ascending');
    sizes = await page.locator('#snap-rows td.size').evaluateAll(tds => tds.map(td => Number(td.getAttribute('data-bytes'))));
    assert.deepEqual(sizes, all.snapshots.slice(0, 25).map(s => s.size).sort((a, b) => a - b));
    await page.click('#snap-table th[data-sort="name"] button');
    assert.deepEqual(await rowNames(page), all.snapshots.slice(0, 25).map(s => s.name)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' })));
    await page.click('#snap-table th[data-sort="created_at"] button');
    assert.deepEqual(await rowNames(page), all.snapshots.slice(0, 25).map(s => s.name));

    // Name filter: the API's prefix filter.
    const filtered = await listAll({ prefix: 'e2e_bulk_0' });
    assert.equal(filtered.snapshots.length, 9);
    await page.fill('#filter-prefix', 'e2e_bulk_0');
    await waitUntil(async () => JSON.stringify(await rowNames(page)) === JSON.stringify(filtered.snapshots.map(s => s.name)),
                    'rows filtered by name prefix');
    assert.ok(rec.requests.some(r => r.url.includes('/api/v1/snapshots?') && r.url.includes('prefix=e2e_bulk_0')));
    await page.fill('#filter-prefix', '');
    await waitRows(page, Math.min(25, all.snapshots.length));
    // Label filter: the API's label=KEY=VALUE.
    const byLabel = await listAll({ label: 'batch=1' });
    assert.equal(byLabel.snapshots.length, 4);
    await page.fill('#filter-label', 'batch=1');
    await waitUntil(async () => JSON.stringify(await rowNames(page)) === JSON.stringify(byLabel.snapshots.map(s => s.name)),
                    'rows filtered by label');
    assert.equal(await text(page, '#list-summary'),
                 `Showing 4 of ${all.total_count} snapshots · ${fmtBytes(all.total_bytes)} in the store (filtered)`);
    await page.fill('#filter-label', '');
    await waitRows(page, Math.min(25, all.snapshots.length));

    // Pagination with the API's cursor: pages of 10, "Load more" until the end.
    const first = await apiOk('GET', '/snapshots', { query: { limit: '10' } });
    assert.ok(first.next_cursor, 'more than one page');
    await page.selectOption('#page-size', '10');
    assert.deepEqual(await waitRows(page, 10), first.snapshots.map(s => s.name));
    assert.equal(await page.isVisible('#btn-more'), true);
    await page.click('#btn-more');
    await waitRows(page, Math.min(20, all.snapshots.length));
    assert.ok(rec.requests.some(r => r.url.includes('cursor=' + encodeURIComponent(first.next_cursor))),
              'the second page was asked for with the first page\'s next_cursor');
    while (await page.isVisible('#btn-more')) {
      const n = (await rowNames(page)).length;
      await page.click('#btn-more');
      await waitUntil(async () => (await rowNames(page)).length > n, 'another page');
    }
    assert.deepEqual(await rowNames(page), all.snapshots.map(s => s.name), 'every page together is the whole list');
    await page.selectOption('#page-size', '25');
  });
});

test('the offsite state column appears when a snapshot has one', async () => {
  // Offsite sync needs an S3 endpoint; the catalog row is what the API reports, so set it there.
  const sql = "UPDATE snapshots SET offsite_state = CASE name WHEN 'e2e_bulk_01' THEN 'synced' ELSE 'failed' END " +
              "WHERE name IN ('e2e_bulk_01', 'e2e_bulk_02')";
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=10)\nc.execute(sys.argv[2])\nc.commit()',
                                           `${env.store}/catalog.db`, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const states = Object.fromEntries((await listAll()).snapshots.map(s => [s.name, s.offsite_state]));
  assert.equal(states.e2e_bulk_01, 'synced');
  assert.equal(states.e2e_bulk_02, 'failed');
  assert.equal(states.e2e_base, null);
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_bulk_01"]').waitFor();
    assert.equal(await page.locator('#snap-table thead th.col-offsite').isVisible(), true);
    const offsite = n => page.locator(`#snap-rows tr[data-name="${n}"] td.offsite`).textContent();
    assert.equal(await offsite('e2e_bulk_01'), 'synced');
    assert.equal(await offsite('e2e_bulk_02'), 'failed');
    assert.equal(await offsite('e2e_base'), '—');
    assert.match(await page.locator('#snap-rows tr[data-name="e2e_bulk_02"] td.offsite .badge').getAttribute('class'), /\bfailed\b/);
  });
});

test('the latest snapshot\'s age turns amber and red past thresholds set in the page (kept in localStorage)', async () => {
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#latest-state', 'OK');
    assert.match(await page.getAttribute('#latest', 'class'), /\bage-ok\b/);
    assert.equal(await page.inputValue('#th-amber'), '26');
    assert.equal(await page.inputValue('#th-red'), '50');

    await page.click('#thresholds summary');
    await page.fill('#th-amber', '0');
    await page.fill('#th-red', '1000');
    await page.click('#thresholds-form button[type="submit"]');
    await waitUntil(async () => /\bage-amber\b/.test(await page.getAttribute('#latest', 'class')), 'amber');
    assert.equal(await text(page, '#latest-state'), 'OLD (over 0 h)');
    assert.deepEqual(JSON.parse(await page.evaluate(() => localStorage.getItem('statesnap.thresholds'))), { amber: 0, red: 1000 });

    await page.reload();
    await waitUntil(async () => /\bage-amber\b/.test(await page.getAttribute('#latest', 'class')), 'amber after a reload');
    assert.equal(await page.inputValue('#th-amber'), '0');
    assert.equal(await page.inputValue('#th-red'), '1000');

    await page.click('#thresholds summary');
    await page.fill('#th-red', '0');
    await page.click('#thresholds-form button[type="submit"]');
    await waitUntil(async () => /\bage-red\b/.test(await page.getAttribute('#latest', 'class')), 'red');
    assert.equal(await text(page, '#latest-state'), 'TOO OLD (over 0 h)');
    const border = await page.$eval('#latest', e => getComputedStyle(e).borderLeftColor);
    assert.equal(border, 'rgb(207, 34, 46)', 'red means red');

    // A red threshold below the amber one is refused, readably.
    await page.fill('#th-amber', '5');
    await page.fill('#th-red', '1');
    await page.click('#thresholds-form button[type="submit"]');
    assert.equal(await text(page, '#th-error'), 'The red threshold must not be below the amber one.');

    await page.click('#th-reset');
    await waitUntil(async () => /\bage-ok\b/.test(await page.getAttribute('#latest', 'class')), 'back to OK');
    assert.equal(await page.evaluate(() => localStorage.getItem('statesnap.thresholds')), null);
  });
});

test('the schedule status: off here; on a server with schedule_interval, its last run and the next', async () => {
  const off = await apiOk('GET', '/schedule');
  assert.equal(off.enabled, false);
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#schedule', 'Scheduled snapshots: off');
  });

  // A second real server whose scheduler runs at once (no scheduled snapshot yet), then hourly.
  const srv = await startServer(`${env.tmp}/scheduled`, { schedule_interval: '1h' });
  try {
    const st = await waitUntil(async () => {
      const r = await fetch(srv.base + '/api/v1/schedule');
      const j = await r.json();
      return j.last_result === 'success' && !j.running ? j : false;
    }, 'the first scheduled run');
    assert.equal(st.interval_seconds, 3600);
    const snaps = await (await fetch(srv.base + '/api/v1/snapshots')).json();
    assert.equal(snaps.snapshots[0].name, st.last_snapshot);
    assert.deepEqual(snaps.snapshots[0].labels, { reason: 'scheduled' });
    await withPage({ token: null, origin: new URL(srv.base).origin }, async (page) => {
      await page.goto(srv.base + '/');
      const t = await waitText(page, '#schedule', 'every');
      assert.equal(t, `Scheduled snapshots: every 1 h · next ${fmtAbs(st.next_run)} · last run success at ` +
                      `${fmtAbs(st.last_end)} (${st.last_snapshot})`);
      assert.doesNotMatch(await page.getAttribute('#schedule', 'class'), /sched-failed/);
      await waitRows(page, 1);
      assert.deepEqual(await rowNames(page), [st.last_snapshot]);
    });
  } finally {
    await srv.stop();
  }
});

/* ---------- create, pin ---------- */

test('create from the page adds one (name, labels, pin); a duplicate name is refused readably', async () => {
  const before = await listAll();
  await withPage({ refusals: [{ status: 409, method: 'POST', path: /^\/api\/v1\/snapshots$/ }] }, async (page, rec) => {
    await page.goto(env.base + '/');
    await waitRows(page, Math.min(25, before.snapshots.length));
    await page.click('#btn-create');
    assert.equal(await dialogOpen(page, 'dlg-create'), true);
    assert.equal(await activeId(page), 'create-name', 'focus moves into the dialog');

    // A bad name is caught before any request.
    const posts = () => rec.requests.filter(r => r.method === 'POST' && r.url.endsWith('/api/v1/snapshots')).length;
    await page.fill('#create-name', 'bad name!');
    await page.click('#create-submit');
    assert.match(await text(page, '#create-error'), /^The name must be 1-64 letters/);
    assert.equal(posts(), 0);

    await page.fill('#create-name', 'e2e_created');
    await page.fill('#create-labels', 'reason=e2e-test\nticket=42');
    await page.check('#create-pin');
    await page.click('#create-submit');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-create')), 'the create dialog to close');
    await page.locator('#snap-rows tr[data-name="e2e_created"]').waitFor();

    const post = rec.requests.find(r => r.method === 'POST' && r.url.endsWith('/api/v1/snapshots'));
    assert.deepEqual(JSON.parse(post.body), { name: 'e2e_created', labels: { reason: 'e2e-test', ticket: '42' }, pin: true });
    assert.match(post.headers['idempotency-key'], /^dash-[0-9a-f]{32}$/);
    const s = await apiOk('GET', '/snapshots/e2e_created');
    assert.deepEqual(s.labels, { reason: 'e2e-test', ticket: '42' });
    assert.equal(s.pinned, true);
    const after = await listAll();
    assert.equal(after.total_count, before.total_count + 1);
    assert.equal(after.snapshots[0].name, 'e2e_created');
    assert.equal((await rowNames(page))[0], 'e2e_created');
    const row = page.locator('#snap-rows tr[data-name="e2e_created"]');
    assert.deepEqual(await row.locator('td.labels .badge').allTextContents(), ['reason=e2e-test', 'ticket=42']);
    assert.equal(await row.locator('td.pinned .badge').textContent(), 'pinned');
    await waitText(page, '#messages', 'Created snapshot e2e_created');
    await waitText(page, '#latest-name', 'e2e_created');

    // The same name again: the API's 409, shown in the dialog.
    await page.click('#btn-create');
    await page.fill('#create-name', 'e2e_created');
    await page.click('#create-submit');
    const err = await waitText(page, '#create-error', '409');
    const again = await api('POST', '/snapshots', { body: { name: 'e2e_created' } });
    assert.equal(again.status, 409);
    assert.equal(err, `Create failed — 409 ${again.body.title}: ${again.body.detail}`);
    assert.equal(await dialogOpen(page, 'dlg-create'), true);
    await page.keyboard.press('Escape');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-create')), 'Esc to close the dialog');
    assert.equal((await listAll()).total_count, before.total_count + 1);
  });
});

test('pin and unpin from the list (PATCH)', async () => {
  await withPage({}, async (page, rec) => {
    await page.goto(env.base + '/');
    const row = page.locator('#snap-rows tr[data-name="e2e_created"]');
    await row.waitFor();
    assert.equal(await row.locator('button[data-act="pin"]').textContent(), 'Unpin');
    await row.locator('button[data-act="pin"]').click();
    await waitUntil(async () => (await row.locator('button[data-act="pin"]').textContent()) === 'Pin', 'the Pin button');
    assert.equal(await row.locator('td.pinned').textContent(), 'no');
    assert.equal((await apiOk('GET', '/snapshots/e2e_created')).pinned, false);
    const patch = rec.requests.find(r => r.method === 'PATCH');
    assert.ok(patch.url.endsWith('/api/v1/snapshots/e2e_created'));
    assert.deepEqual(JSON.parse(patch.body), { pin: false });
    await row.locator('button[data-act="pin"]').click();
    await waitUntil(async () => (await row.locator('button[data-act="pin"]').textContent()) === 'Unpin', 'the Unpin button');
    assert.equal((await apiOk('GET', '/snapshots/e2e_created')).pinned, true);
  });
});

/* ---------- detail, verify ---------- */

test('detail view: manifest, files with sizes and SHA-256, Verify with its report (good and tampered)', async () => {
  const d = await apiOk('GET', '/snapshots/e2e_base');
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_tamper' } });
  corruptZipEntry(`${env.store}/e2e_tamper.zip`, 'state/positions.json');
  const bad = await api('POST', '/snapshots/e2e_tamper/verify');
  assert.equal(bad.status, 422);
  await withPage({ refusals: [{ status: 422, method: 'POST', path: /^\/api\/v1\/snapshots\/e2e_tamper\/verify$/ }] }, async (page) => {
    await page.goto(env.base + '/');
    await page.click('#snap-rows tr[data-name="e2e_base"] td.name a');
    await waitUntil(async () => page.url().endsWith('#/s/e2e_base'), 'the detail route');
    await page.locator('#detail-body table.files tbody tr').first().waitFor();
    const rows = await page.locator('#detail-body table.files tbody tr').evaluateAll(trs => trs.map(tr => ({
      path: tr.querySelector('.path').textContent, size: Number(tr.querySelector('.size').textContent),
      sha256: tr.querySelector('.sha').textContent })));
    assert.deepEqual(rows, d.files.map(f => ({ path: f.path, size: f.size, sha256: f.sha256 })));
    assert.ok(rows.length >= 9 && rows.some(r => r.path === 'state/positions.json'));
    const body = await text(page, '#detail-body');
    assert.ok(body.includes(d.archive_sha256));
    assert.ok(body.includes(`Format1`) && body.includes(`statesnap version${d.manifest.statesnap_version}`));
    assert.ok(body.includes(Object.keys(d.manifest.env_keys).sort().join(', ')), 'the .env key names');
    for (const v of dotenvValues()) assert.ok(!body.includes(v), 'no .env value on the page');

    await page.click('#detail-verify');
    const good = await apiOk('POST', '/snapshots/e2e_base/verify');
    assert.equal(await waitText(page, '#verify-result', 'Verified: OK'),
                 `Verified: OK — ${good.checked_files} files checked, every SHA-256 matches the manifest and the catalog.`);
    assert.match(await page.getAttribute('#verify-result', 'class'), /\bok\b/);

    await page.goto(env.base + '/#/s/e2e_tamper');
    await page.locator('#detail-body table.files').waitFor();
    await page.click('#detail-verify');
    const t = await waitText(page, '#verify-result', 'VERIFICATION FAILED');
    assert.match(await page.getAttribute('#verify-result', 'class'), /\bbad\b/);
    assert.ok(t.includes(`422 ${bad.body.title}: ${bad.body.detail}`), t);
    const e0 = bad.body.report.errors[0];
    assert.ok(t.includes(`${e0.path}: ${e0.problem}`), t);
  });
  await apiOk('DELETE', '/snapshots/e2e_tamper');
});

/* ---------- restore drill ---------- */

test('Drill in the detail view: passed, then the list badge and "Last drill"; a tampered archive and a failing drill_check fail readably', async () => {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_drill' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_drill_bad' } });
  corruptZipEntry(`${env.store}/e2e_drill_bad.zip`, 'state/positions.json');
  await withPage({ refusals: [{ status: 422, method: 'POST', path: /^\/api\/v1\/snapshots\/e2e_drill_bad\/drill$/ }] }, async (page) => {
    await page.goto(env.base + '/#/s/e2e_drill');
    await page.locator('#detail-body table.files').waitFor();
    assert.ok((await text(page, '#detail-body')).includes('Last drillnever drilled'));
    await page.click('#detail-drill');
    const t = await waitText(page, '#drill-result', 'Drill passed');
    assert.match(await page.getAttribute('#drill-result', 'class'), /\bok\b/);
    const snap = await apiOk('GET', '/snapshots/e2e_drill');
    assert.equal(snap.last_drill.result, 'ok');
    const drills = await apiOk('GET', '/drills');
    const rec = drills.recent[0];
    assert.equal(rec.snapshot, 'e2e_drill');
    assert.ok(t.includes(`${rec.files_checked} files checked, ${fmtBytes(rec.bytes)} restored into a scratch directory and removed`), t);
    assert.ok(t.includes('Drill check: none'), t);
    await waitUntil(async () => (await text(page, '#detail-body')).includes(`Last drillpassed ${fmtAbs(snap.last_drill.at)}`),
                    'the detail\'s Last drill line');
    assert.equal(await page.isEnabled('#detail-drill'), true);
    // The list shows the badge.
    await page.goto(env.base + '/');
    const badge = page.locator('#snap-rows tr[data-name="e2e_drill"] td.name .badge.drill-ok');
    await badge.waitFor();
    assert.equal(await badge.textContent(), 'drill ok');
    assert.equal(await page.locator('#snap-rows tr[data-name="e2e_drill_bad"] td.name .badge').count(), 0);

    await page.goto(env.base + '/#/s/e2e_drill_bad');
    await page.locator('#detail-body table.files').waitFor();
    await page.click('#detail-drill');
    const bad = await waitText(page, '#drill-result', 'DRILL FAILED');
    assert.match(await page.getAttribute('#drill-result', 'class'), /\bbad\b/);
    assert.ok(bad.includes('state/positions.json'), bad);
    await waitUntil(async () => (await text(page, '#detail-body')).includes('Last drillFAILED'), 'Last drill FAILED');
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_drill_bad"] td.name .badge.drill-failed').waitFor();
  });
  await apiOk('DELETE', '/snapshots/e2e_drill');
  await apiOk('DELETE', '/snapshots/e2e_drill_bad');

  // A server whose drill_check refuses the copy: the page shows the exit status and output.
  const srv = await startServer(`${env.tmp}/drillcheck`, {
    hooks: { drill_check: { argv: ['/bin/sh', '-c', 'echo preflight: positions do not match orders; exit 3'] } } });
  try {
    const made = await fetch(srv.base + '/api/v1/snapshots', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                                 body: JSON.stringify({ name: 'checked' }) });
    assert.equal(made.status, 201);
    await withPage({ token: null, origin: new URL(srv.base).origin,
                     refusals: [{ status: 422, method: 'POST', path: /^\/api\/v1\/snapshots\/checked\/drill$/ }] }, async (page) => {
      await page.goto(srv.base + '/#/s/checked');
      await page.locator('#detail-body table.files').waitFor();
      await page.click('#detail-drill');
      const t = await waitText(page, '#drill-result', 'DRILL FAILED');
      assert.ok(t.includes('Drill check: exit 3'), t);
      assert.ok(t.includes('preflight: positions do not match orders'), t);
      assert.ok(t.includes('hook drill_check failed with exit status 3'), t);
    });
  } finally {
    await srv.stop();
  }
});

/* ---------- diff ---------- */

test('diff view: a changed position, config values, .env key names, chain extends / rewritten, one vs live', async () => {
  const posA = readJson('state/positions.json');
  const riskA = readJson('config/risk_limits.json');
  const secretsA = dotenvValues();
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_diff_a' } });

  // Between A and B: the chain grows, one position's qty changes, a risk limit and a secret change.
  makeState('--advance', '3');
  const target = posA.positions[0];
  const posB = { ...posA, positions: posA.positions.map((p, i) => (i === 0 ? { ...p, qty: p.qty + 7 } : p)) };
  writeJson('state/positions.json', posB);
  writeJson('config/risk_limits.json', { ...riskA, max_daily_loss_usd: riskA.max_daily_loss_usd - 10000 });
  const envText = fs.readFileSync(rootFile('.env'), 'utf8');
  fs.writeFileSync(rootFile('.env'), envText.replace(/^BROKER_API_KEY=.*$/m, 'BROKER_API_KEY=PKROTATEDE2E0000000000000000000'));
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_diff_b' } });
  fixtures.diff = { target, qtyA: target.qty, qtyB: target.qty + 7 };

  const api = await apiOk('GET', '/diff', { query: { from: 'e2e_diff_a', to: 'e2e_diff_b' } });
  assert.equal(api.hash_chain.relation, 'extends');

  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_diff_b"]').waitFor();
    // Pick two in the list (newer first on purpose: the page puts the older one as "from").
    await page.check('#snap-rows tr[data-name="e2e_diff_b"] input.pick');
    await page.check('#snap-rows tr[data-name="e2e_diff_a"] input.pick');
    assert.equal(await text(page, '#btn-diff-selected'), 'Diff the 2 selected');
    await page.click('#btn-diff-selected');
    await waitUntil(async () => page.url().endsWith('#/diff?from=e2e_diff_a&to=e2e_diff_b'), 'the diff route');

    const row = page.locator(`#diff-body .diff-positions tr[data-symbol="${target.symbol}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-change'), 'changed');
    assert.equal(await row.locator('td').nth(2).locator('.old').textContent(), String(fixtures.diff.qtyA));
    assert.equal(await row.locator('td').nth(2).locator('.new').textContent(), String(fixtures.diff.qtyB));
    assert.equal(await page.locator('#diff-body .diff-positions tbody tr').count(), 1, 'only that symbol differs');
    assert.equal(await text(page, '#diff-body .pos-counts'), `Count: ${posA.positions.length} → ${posB.positions.length}`);

    const cfg = await page.locator('#diff-body table.config tbody tr').evaluateAll(trs => trs.map(tr =>
      Array.from(tr.children).map(td => td.textContent)));
    assert.deepEqual(cfg, [['config/risk_limits.json', '/max_daily_loss_usd', String(riskA.max_daily_loss_usd),
                            String(riskA.max_daily_loss_usd - 10000)]]);
    assert.deepEqual(await page.locator('#diff-body .env-changed li').allTextContents(), ['BROKER_API_KEY']);
    const pageText = await text(page, 'body');
    for (const v of [...secretsA, 'PKROTATEDE2E0000000000000000000']) assert.ok(!pageText.includes(v), '.env values never shown');

    const chain = page.locator('#diff-body .chain');
    assert.equal(await chain.getAttribute('data-relation'), 'extends');
    assert.equal(await chain.textContent(), `Hash chain EXTENDS: the newer chain continues the older one (${api.hash_chain.lines_added} line(s) added, ` +
                 `${api.hash_chain.old_lines} → ${api.hash_chain.new_lines}).`);
    assert.equal(await chain.getAttribute('role'), null);

    // One vs live: close a position in the live root.
    const closed = posB.positions[1];
    writeJson('state/positions.json', { ...posB, positions: posB.positions.filter((p, i) => i !== 1) });
    await page.fill('#diff-from', 'e2e_diff_b');
    await page.fill('#diff-to', 'live');
    await page.click('#diff-form button[type="submit"]');
    const liveRow = page.locator(`#diff-body .diff-positions tr[data-symbol="${closed.symbol}"]`);
    await liveRow.waitFor();
    assert.equal(await liveRow.getAttribute('data-change'), 'closed');
    assert.match(await text(page, '#diff-body .diff-sides'), /To: live/);
    assert.equal(await text(page, '#diff-body .pos-counts'), `Count: ${posB.positions.length} → ${posB.positions.length - 1}`);

    // A rewritten history is flagged in red.
    makeState('--edit-chain-line', '5');
    await apiOk('POST', '/snapshots', { body: { name: 'e2e_diff_c' } });
    const rw = await apiOk('GET', '/diff', { query: { from: 'e2e_diff_b', to: 'e2e_diff_c' } });
    assert.equal(rw.hash_chain.relation, 'rewritten');
    await page.goto(env.base + '/#/diff?from=e2e_diff_b&to=e2e_diff_c');
    const red = page.locator('#diff-body .chain.chain-rewritten');
    await red.waitFor();
    assert.equal(await red.getAttribute('role'), 'alert');
    assert.match(await red.textContent(), new RegExp(`^HASH CHAIN REWRITTEN — the history was changed, not just extended \\(first divergent line: ${rw.hash_chain.first_divergent_line}\\)`));
    const [color, bg] = await red.evaluate(e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);
    assert.equal(color, 'rgb(138, 17, 17)');
    assert.equal(bg, 'rgb(255, 224, 222)');
  });
});

/* ---------- restore ---------- */

test('restore flow: preview dialog, name to confirm, KILL_SWITCH choice re-previews, [OK] per file, state root restored on disk', async () => {
  // The state as snapshotted, byte for byte.
  const src = await apiOk('POST', '/snapshots', { body: { name: 'e2e_restore_src' } });
  const saved = new Map(src.files.filter(f => f.path !== 'env/.env.masked').map(f => [f.path, fs.readFileSync(rootFile(f.path))]));
  assert.ok(saved.has('state/positions.json') && saved.has('state/hash_chain.jsonl') && saved.has('config/config.json'));
  assert.ok(!fs.existsSync(rootFile('state/KILL_SWITCH')));

  // Then the bot runs on: positions, orders, chain change; someone halts it; a secret rotates.
  makeState('--advance', '4');
  fs.writeFileSync(rootFile('state/KILL_SWITCH'), 'halted by the e2e test\n');
  fs.appendFileSync(rootFile('.env'), 'E2E_ROTATED=1\n');
  const envNow = fs.readFileSync(rootFile('.env'));
  const changed = [...saved].filter(([p, b]) => !fs.readFileSync(rootFile(p)).equals(b)).map(([p]) => p);
  assert.ok(changed.includes('state/positions.json') && changed.includes('state/hash_chain.jsonl'), 'the root differs now');
  const currentCount = readJson('state/positions.json').positions.length;
  const before = await listAll();

  await withPage({}, async (page, rec) => {
    await page.goto(env.base + '/#/s/e2e_restore_src');
    await page.locator('#detail-body table.files').waitFor();
    await page.click('#detail-restore');
    await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
    assert.equal(await activeId(page), 'restore-confirm-name');
    assert.equal(await text(page, '#restore-warning'), 'This will overwrite current state!');
    assert.equal(await page.isVisible('#restore-warning'), true);
    assert.equal(await text(page, '#restore-pos-current'), String(currentCount));
    assert.equal(await text(page, '#restore-pos-snapshot'), String(src.positions_count));

    const preview1 = rec.responses.filter(r => r.url.endsWith('/restore/preview'));
    assert.equal(preview1.length, 1);
    const p1 = await preview1[0].json;
    const actions = () => page.locator('#restore-files tbody tr').evaluateAll(trs => trs.map(tr => [tr.getAttribute('data-path'), tr.querySelector('.badge').textContent]));
    assert.deepEqual(await actions(), p1.files.map(f => [f.path, f.action]));
    assert.deepEqual(Object.fromEntries(await actions())['state/positions.json'], 'overwrite');
    assert.deepEqual(Object.fromEntries(await actions())['config/config.json'], 'unchanged');
    assert.deepEqual(Object.fromEntries(await actions())['state/KILL_SWITCH'], 'kept');
    assert.equal(p1.kill_switch, 'kept');
    assert.match(await text(page, '#restore-ks'), /it will be KEPT/);
    // Per symbol, what the restore does: the API's diff snapshot -> live, read backwards.
    await page.locator('#restore-symbols table.positions').waitFor();
    const dl = await apiOk('GET', '/diff', { query: { from: 'e2e_restore_src', to: 'live' } });
    const want = [...dl.positions.changed.map(c => [c.symbol, 'changed']), ...dl.positions.opened.map(p => [p.symbol, 'goes away']),
                  ...dl.positions.closed.map(p => [p.symbol, 'comes back'])].sort();
    assert.ok(want.some(([, w]) => w === 'goes away'), 'make_state --advance opens a position');
    const got = await page.locator('#restore-symbols tbody tr').evaluateAll(trs => trs.map(tr =>
      [tr.getAttribute('data-symbol'), tr.querySelector('.badge').textContent]));
    assert.deepEqual(got.sort(), want);

    // The confirm button stays disabled until the exact name is typed.
    const disabled = () => page.isDisabled('#restore-confirm');
    assert.equal(await disabled(), true);
    for (const wrong of ['e2e_restore_sr', 'e2e_restore_srcx', 'E2E_RESTORE_SRC', ' e2e_restore_src']) {
      await page.fill('#restore-confirm-name', wrong);
      assert.equal(await disabled(), true, `enabled for "${wrong}"`);
    }
    await page.fill('#restore-confirm-name', '');
    await page.type('#restore-confirm-name', 'e2e_restore_src');
    assert.equal(await disabled(), false);

    // Clearing the KILL_SWITCH re-runs the preview: the token binds the options.
    await page.check('#restore-ks-clear');
    await waitUntil(async () => (await actions()).some(([p, a]) => p === 'state/KILL_SWITCH' && a === 'delete'), 'the second preview');
    const previews = rec.requests.filter(r => r.url.endsWith('/restore/preview'));
    assert.equal(previews.length, 2);
    assert.deepEqual(JSON.parse(previews[0].body), { clear_kill_switch: false });
    assert.deepEqual(JSON.parse(previews[1].body), { clear_kill_switch: true });
    const p2 = await rec.responses.filter(r => r.url.endsWith('/restore/preview'))[1].json;
    assert.equal(p2.kill_switch, 'cleared');
    assert.notEqual(p2.confirm_token, p1.confirm_token);
    assert.match(await text(page, '#restore-ks'), /REMOVED/);
    await waitUntil(async () => !(await disabled()), 'confirm enabled again');
    assert.equal(fs.readFileSync(rootFile('state/positions.json')).equals(saved.get('state/positions.json')), false, 'nothing written yet');

    await screenshot(page, 'restore-dialog-filled-desktop.png');
    await page.click('#restore-confirm');
    await page.locator('#restore-result').waitFor();
    const post = rec.requests.find(r => r.method === 'POST' && r.url.endsWith('/api/v1/snapshots/e2e_restore_src/restore'));
    assert.deepEqual(JSON.parse(post.body), { confirm_token: p2.confirm_token, clear_kill_switch: true });
    assert.match(post.headers['idempotency-key'], /^dash-[0-9a-f]{32}$/);
    const report = await rec.responses.find(r => r.method === 'POST' && r.url.endsWith('/e2e_restore_src/restore')).json;

    const lines = (await text(page, '#restore-lines')).split('\n');
    assert.deepEqual(lines, report.files.map(f => `[OK] ${f.path}  (${f.action})`));
    for (const f of p2.files) assert.ok(lines.includes(`[OK] ${f.path}  (${f.action})`), `no [OK] line for ${f.path}`);
    assert.equal(await text(page, '#restore-next'), 'Run /preflight to verify system state.');
    assert.equal(await text(page, '#restore-ks-result'), 'KILL_SWITCH: cleared');
    const safety = /Safety snapshot taken first: (pre_restore_\d{8}T\d{6}Z) \(pinned\)\./.exec(await text(page, '#restore-safety'));
    assert.ok(safety, 'the safety snapshot is named');
    assert.equal(safety[1], report.safety_snapshot);
    assert.equal(await activeId(page), 'restore-close');
    await page.click('#restore-close');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-restore')), 'the dialog to close');
    await page.goto(env.base + '/');
    await page.locator(`#snap-rows tr[data-name="${safety[1]}"]`).waitFor();
    const s = await apiOk('GET', '/snapshots/' + safety[1]);
    assert.equal(s.pinned, true);
    assert.equal((await listAll()).total_count, before.total_count + 1);
  });

  // On disk: every snapshotted file is back, byte for byte; the KILL_SWITCH is gone; .env untouched.
  for (const [p, bytes] of saved) assert.ok(fs.readFileSync(rootFile(p)).equals(bytes), `${p} restored`);
  assert.equal(fs.existsSync(rootFile('state/KILL_SWITCH')), false);
  assert.ok(fs.readFileSync(rootFile('.env')).equals(envNow), '.env is never written');
});

test('restore elsewhere from the dialog: into a named directory under restore_targets_dir, the live root untouched', async () => {
  const dir = `${env.tmp}/elsewhere`, targets = `${dir}/targets`;
  const srv = await startServer(dir, { restore_targets_dir: targets });
  try {
    const made = await fetch(srv.base + '/api/v1/snapshots', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                                 body: JSON.stringify({ name: 'src' }) });
    assert.equal(made.status, 201);
    const snap = await made.json();
    const liveRoot = `${dir}/root`;
    const live = fs.readFileSync(`${liveRoot}/state/positions.json`);
    fs.writeFileSync(`${liveRoot}/state/positions.json`, '{"positions": [], "moved": true}\n');
    const moved = fs.readFileSync(`${liveRoot}/state/positions.json`);
    await withPage({ token: null, origin: new URL(srv.base).origin }, async (page, rec) => {
      await page.goto(srv.base + '/#/s/src');
      await page.locator('#detail-body table.files').waitFor();
      await page.click('#detail-restore');
      await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
      await page.check('#restore-target-on');
      await page.fill('#restore-target', 'forensics1');
      await page.dispatchEvent('#restore-target', 'change');
      await waitUntil(() => rec.requests.filter(r => r.url.endsWith('/restore/preview')).length >= 2, 'a second preview');
      const pv = rec.requests.filter(r => r.url.endsWith('/restore/preview'));
      assert.deepEqual(JSON.parse(pv[pv.length - 1].body), { clear_kill_switch: false, target: 'forensics1' });
      assert.match(await text(page, '#restore-warning'), /forensics1.*live state is not touched/);
      await page.type('#restore-confirm-name', 'src');
      await waitUntil(async () => !(await page.isDisabled('#restore-confirm')), 'confirm enabled');
      await page.click('#restore-confirm');
      await page.locator('#restore-result').waitFor();
      const post = rec.requests.find(r => r.method === 'POST' && r.url.endsWith('/api/v1/snapshots/src/restore'));
      assert.equal(JSON.parse(post.body).target, 'forensics1');
      assert.match(await text(page, '#restore-safety'), /Restored into .*forensics1; the live state root was not touched/);
      assert.equal(await text(page, '#restore-banner'), 'RESTORE COMPLETE');
    });
    for (const f of snap.files) {
      if (f.path.startsWith('env/')) continue;
      const got = fs.readFileSync(`${targets}/forensics1/${f.path}`);
      assert.equal(crypto.createHash('sha256').update(got).digest('hex'), f.sha256, f.path);
    }
    assert.ok(fs.readFileSync(`${liveRoot}/state/positions.json`).equals(moved), 'the live root was written');
    assert.ok(!fs.readFileSync(`${liveRoot}/state/positions.json`).equals(live));
  } finally {
    await srv.stop();
  }
});

/* ---------- delete ---------- */

test('delete asks first, Cancel keeps it; a pinned one needs force (the 409 is shown)', async () => {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_delme' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_delpinned', pin: true } });
  await withPage({ refusals: [{ status: 409, method: 'DELETE', path: /^\/api\/v1\/snapshots\/e2e_delpinned$/ }] }, async (page, rec) => {
    await page.goto(env.base + '/');
    const del = name => page.locator(`#snap-rows tr[data-name="${name}"] button[data-act="delete"]`);
    await del('e2e_delme').click();
    assert.equal(await dialogOpen(page, 'dlg-delete'), true);
    assert.equal(await text(page, '#delete-name'), 'e2e_delme');
    assert.equal(await page.isHidden('#delete-pinned'), true);
    assert.equal(await activeId(page), 'delete-cancel', 'Cancel has the focus, not Delete');
    assert.equal(rec.requests.filter(r => r.method === 'DELETE').length, 0, 'nothing deleted before confirming');
    assert.equal((await api('GET', '/snapshots/e2e_delme')).status, 200);
    await page.click('#delete-cancel');
    assert.equal(await dialogOpen(page, 'dlg-delete'), false);
    assert.equal((await api('GET', '/snapshots/e2e_delme')).status, 200);

    await del('e2e_delme').click();
    await page.click('#delete-confirm');
    await waitUntil(async () => !(await rowNames(page)).includes('e2e_delme'), 'the row to go');
    assert.equal((await api('GET', '/snapshots/e2e_delme')).status, 404);
    await waitText(page, '#messages', 'Deleted snapshot e2e_delme.');

    await del('e2e_delpinned').click();
    assert.equal(await page.isVisible('#delete-pinned'), true);
    await page.click('#delete-confirm');
    const err = await waitText(page, '#delete-error', '409');
    const r = await api('DELETE', '/snapshots/e2e_delpinned');
    assert.equal(r.status, 409);
    assert.equal(err, `Delete failed — 409 ${r.body.title}: ${r.body.detail}`);
    await page.check('#delete-force');
    await page.click('#delete-confirm');
    await waitUntil(async () => !(await rowNames(page)).includes('e2e_delpinned'), 'the pinned row to go');
    assert.equal((await api('GET', '/snapshots/e2e_delpinned')).status, 404);
    const dels = rec.requests.filter(r => r.method === 'DELETE').map(r => new URL(r.url).pathname + new URL(r.url).search);
    assert.deepEqual(dels, ['/api/v1/snapshots/e2e_delme', '/api/v1/snapshots/e2e_delpinned', '/api/v1/snapshots/e2e_delpinned?force=true']);
  });
});

/* ---------- keyboard, labels ---------- */

test('dialogs work from the keyboard (focus in, Esc closes, focus returns); every control is labelled', async () => {
  const before = await listAll();
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_base"]').waitFor();
    const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea, button'))
      .filter(e => {
        if (e.tagName === 'BUTTON') return !(e.textContent.trim() || e.getAttribute('aria-label'));
        return !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby');
      }).map(e => e.id || e.outerHTML.slice(0, 80)));
    assert.deepEqual(unlabelled, []);

    await page.focus('#btn-create');
    await page.keyboard.press('Enter');
    assert.equal(await dialogOpen(page, 'dlg-create'), true);
    assert.equal(await activeId(page), 'create-name');
    await page.keyboard.press('Tab');
    assert.equal(await activeId(page), 'create-labels');
    await page.keyboard.press('Escape');
    // The dialog's close event (which puts the focus back) is queued as a task: poll for it.
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-create')) && (await activeId(page)) === 'btn-create',
                    'Esc to close the create dialog and focus its opener');

    const delBtn = page.locator('#snap-rows tr[data-name="e2e_base"] button[data-act="delete"]');
    await delBtn.focus();
    await page.keyboard.press('Enter');
    assert.equal(await dialogOpen(page, 'dlg-delete'), true);
    assert.equal(await activeId(page), 'delete-cancel');
    await page.keyboard.press('Escape');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-delete')) &&
                      JSON.stringify(await page.evaluate(() => [document.activeElement.getAttribute('data-act'),
                                                                document.activeElement.getAttribute('data-name')])) ===
                      JSON.stringify(['delete', 'e2e_base']),
                    'Esc to close the delete dialog and focus its opener');

    const resBtn = page.locator('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]');
    await resBtn.focus();
    await page.keyboard.press('Enter');
    await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
    assert.equal(await activeId(page), 'restore-confirm-name');
    await page.keyboard.type('e2e_base');
    assert.equal(await page.isDisabled('#restore-confirm'), false);
    await page.keyboard.press('Escape');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-restore')) &&
                      (await page.evaluate(() => document.activeElement.getAttribute('data-act'))) === 'restore',
                    'Esc to close the restore dialog and focus its opener');
  });
  const after = await listAll();
  assert.deepEqual(after.snapshots.map(s => s.name), before.snapshots.map(s => s.name), 'nothing created, restored or deleted');
});

/* ---------- read-only token ---------- */

test('a read-only token (entered in the page, kept in sessionStorage) sees create and restore refused readably', async () => {
  const before = await listAll();
  const positionsBefore = fs.readFileSync(rootFile('state/positions.json'));
  const refusals = [
    { status: 401, method: 'GET', path: /^\/api\/v1\/(snapshots|snapshots\/latest|schedule)$/ },
    { status: 403, method: 'POST', path: /^\/api\/v1\/snapshots$/ },
    { status: 403, method: 'POST', path: /^\/api\/v1\/snapshots\/e2e_base\/restore\/preview$/ },
  ];
  await withPage({ token: null, refusals }, async (page, rec) => {
    await page.goto(env.base + '/');
    const e401 = await api('GET', '/snapshots', { token: null });
    const msg = await waitText(page, '#messages .msg.error', '401');
    assert.equal(msg.replace(/Dismiss$/, ''), `Listing snapshots failed — 401 ${e401.body.title}: ${e401.body.detail} — enter an API token at the top of the page.`);
    assert.match(await page.getAttribute('#token-form', 'class'), /\bneeds-token\b/);

    await page.fill('#token-input', env.tokenRead);
    await page.click('#token-form button[type="submit"]');
    await waitRows(page, Math.min(25, before.snapshots.length));
    assert.equal(await page.evaluate(k => sessionStorage.getItem(k), TOKEN_KEY), env.tokenRead);
    assert.equal(await page.evaluate(() => localStorage.length === 0 || !Object.keys(localStorage).some(k => /token/i.test(k))), true,
                 'the token is not in localStorage');
    assert.equal(await page.inputValue('#token-input'), '', 'the token is not left in the field');
    assert.equal(await text(page, '#token-status'), 'Token set for this tab (sessionStorage).');

    // The page knows the role (GET /whoami) and disables what it may not do, saying why. The
    // server is what refuses: with the buttons enabled again (a page whose idea of the role is
    // stale, say after a config change), the refusals below still read well.
    await waitText(page, '#token-role', 'Role: read');
    assert.equal(await page.isDisabled('#btn-create'), true);
    assert.match(await page.getAttribute('#btn-create', 'title'), /^Needs the write role; this token \(env-read\) has the read role\.$/);
    assert.equal(await page.isDisabled('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]'), true);
    await page.evaluate(() => document.querySelectorAll('[data-needs]').forEach(b => { b.disabled = false; }));
    await page.click('#btn-create');
    await page.fill('#create-name', 'e2e_ro_refused');
    await page.click('#create-submit');
    const e403c = await api('POST', '/snapshots', { token: env.tokenRead, body: { name: 'e2e_ro_refused' } });
    assert.equal(e403c.status, 403);
    assert.equal(await waitText(page, '#create-error', '403'), `Create failed — 403 ${e403c.body.title}: ${e403c.body.detail}`);
    assert.match(e403c.body.detail, /read role; this needs write/);
    await page.keyboard.press('Escape');

    await page.click('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]');
    const e403r = await api('POST', '/snapshots/e2e_base/restore/preview', { token: env.tokenRead });
    assert.equal(e403r.status, 403);
    const rmsg = await waitText(page, '#messages .msg.error', 'Restore preview');
    assert.equal(rmsg.replace(/Dismiss$/, ''), `Restore preview for e2e_base refused — 403 ${e403r.body.title}: ${e403r.body.detail}`);
    assert.match(e403r.body.detail, /needs admin/);
    assert.equal(await dialogOpen(page, 'dlg-restore'), false);

    // The token survives a reload of the tab.
    const n401 = rec.responses.filter(r => r.status === 401).length;
    await page.reload();
    await waitRows(page, Math.min(25, before.snapshots.length));
    assert.equal(rec.responses.filter(r => r.status === 401).length, n401, 'no new 401 after a reload');
  });
  assert.equal((await api('GET', '/snapshots/e2e_ro_refused')).status, 404);
  assert.equal((await listAll()).total_count, before.total_count);
  assert.ok(fs.readFileSync(rootFile('state/positions.json')).equals(positionsBefore), 'the state root is untouched');
});

/* ---------- screenshots ---------- */

for (const [label, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`screenshots of list, diff and restore dialog at ${label} width (${vp.width}x${vp.height}), nothing wider than the screen`, async () => {
    const before = await listAll();
    await withPage({ viewport: vp }, async (page) => {
      await page.goto(env.base + '/');
      await waitRows(page, Math.min(25, before.snapshots.length));
      await noHorizontalScroll(page, vp.width);
      const [inner, outer] = await page.$eval('#view-list .table-wrap', e => [e.scrollWidth, e.clientWidth]);
      assert.ok(inner <= outer, `the snapshot table scrolls sideways (${inner} > ${outer})`);
      await screenshot(page, `list-${label}.png`, { fullPage: true });

      await page.goto(env.base + '/#/diff?from=e2e_diff_a&to=e2e_diff_b');
      await page.locator(`#diff-body .diff-positions tr[data-symbol="${fixtures.diff ? fixtures.diff.target.symbol : ''}"]`).waitFor();
      await noHorizontalScroll(page, vp.width);
      await screenshot(page, `diff-${label}.png`, { fullPage: true });

      await page.goto(env.base + '/');
      await page.click('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]');
      await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
      await page.locator('#restore-symbols table.positions, #restore-symbols p').first().waitFor();
      const box = await page.locator('#dlg-restore').boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= vp.width && box.y >= 0 && box.y + box.height <= vp.height,
                `the dialog fits the screen: ${JSON.stringify(box)}`);
      assert.equal(await page.isVisible('#restore-warning'), true);
      assert.equal(await page.isVisible('#restore-confirm'), true, 'the confirm controls are in view');
      await screenshot(page, `restore-dialog-${label}.png`);
      await page.click('#restore-cancel');
      assert.equal(await dialogOpen(page, 'dlg-restore'), false);
    });
    assert.equal((await listAll()).total_count, before.total_count, 'a preview restores nothing');
  });
}

/* ---------- audit chain ---------- */
// Last on purpose: the prune below removes most unpinned snapshots the tests above use.

async function auditAll() {
  const out = [];
  let after = 0;
  for (;;) {
    const p = await apiOk('GET', '/audit', { query: { after: String(after), limit: '1000' } });
    out.push(...p.entries);
    if (p.next_after === null || !p.entries.length) return out;
    after = p.next_after;
  }
}

async function auditRows(page) {
  return page.locator('#audit-rows tr').evaluateAll(trs => trs.map(tr => ({
    seq: Number(tr.getAttribute('data-seq')),
    time: tr.querySelector('td.time time').getAttribute('datetime'),
    actor: tr.querySelector('td.actor').textContent,
    op: tr.querySelector('td.op').textContent,
    snapshot: tr.querySelector('td.snapshot').textContent,
    result: tr.querySelector('td.result').textContent,
    details: tr.querySelector('td.details').textContent,
    error: tr.classList.contains('is-error'),
  })));
}

const audited = {};

/* ---------- cross-site requests and DNS rebinding (issue #16, item 2) ---------- */

// The attack page: everything a page on another origin can make a browser send without CORS
// (no-cors fetch, sendBeacon, an HTML form), aimed at a dev-mode server (`make run`: no token).
function attackPage(target, victim) {
  return `<!doctype html><meta charset=utf-8><title>attack</title>
<iframe name=sink></iframe>
<form id=f1 method=post action="${target}/api/v1/prune" enctype="text/plain" target=sink><input name='{"dry_run":false,"x":"' value='"}'></form>
<form id=f2 method=post action="${target}/api/v1/snapshots" enctype="application/x-www-form-urlencoded" target=sink><input name=name value=evil_form></form>
<script>
(async () => {
  const T = ${JSON.stringify(target)};
  const sent = [];
  const nc = (p, init) => fetch(T + p, Object.assign({ mode: 'no-cors', credentials: 'include' }, init))
    .then(() => sent.push(p), e => sent.push(p + ' failed: ' + e));
  await Promise.allSettled([
    nc('/api/v1/prune', { method: 'POST' }),
    nc('/api/v1/prune', { method: 'POST', body: '{}' }),
    nc('/api/v1/snapshots', { method: 'POST', body: '{"name":"evil_nocors"}', headers: { 'Content-Type': 'application/json' } }),
    nc('/api/v1/snapshots/${victim}/verify', { method: 'POST' }),
    nc('/api/v1/snapshots/${victim}/restore/preview', { method: 'POST', body: '{}' }),
    nc('/api/v1/offsite/sync', { method: 'POST' }),
    nc('/api/v1/snapshots/${victim}', { method: 'PATCH', body: '{"pin":true}' }).catch(() => {}),
    // A CORS fetch with the JSON type needs a preflight, which gets no CORS answer.
    fetch(T + '/api/v1/prune', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })
      .then(() => sent.push('cors prune answered'), () => sent.push('cors prune blocked')),
  ]);
  sent.push('beacon prune ' + navigator.sendBeacon(T + '/api/v1/prune', ''));
  sent.push('beacon create ' + navigator.sendBeacon(T + '/api/v1/snapshots', new Blob(['{"name":"evil_beacon"}'], { type: 'text/plain' })));
  document.getElementById('f1').submit();
  await new Promise(r => setTimeout(r, 300));
  document.getElementById('f2').submit();
  window.__sent = sent;
})();
</script>`;
}

test('a page on another origin cannot create, verify, prune or sync through the browser (no-cors fetch, sendBeacon, forms)', async () => {
  const dev = await startServer(path.join(env.tmp, 'cross-site'), {});
  const site = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(attackPage(dev.base, 'victim'));
  });
  await new Promise(r => site.listen(0, '127.0.0.1', r));
  const attacker = `http://127.0.0.1:${site.address().port}`;
  const devApi = async (method, p, body) => {
    const r = await fetch(dev.base + '/api/v1' + p, { method, headers: body ? { 'Content-Type': 'application/json' } : {},
                                                      body: body ? JSON.stringify(body) : undefined });
    assert.ok(r.ok, `${method} ${p}: ${r.status}`);
    return r.json();
  };
  const ctx = await (await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
                                             args: ['--headless', '--no-sandbox', '--disable-gpu'] })).newContext();
  try {
    await devApi('POST', '/snapshots', { name: 'victim' });
    for (let i = 0; i < 6; i++) await devApi('POST', '/snapshots', { name: `plain_${i}` });
    const before = (await devApi('GET', '/snapshots?limit=1000')).snapshots.map(s => `${s.name}:${s.pinned}`);
    const audit0 = (await devApi('GET', '/audit?limit=1000')).entries.length;
    const seen = [];
    ctx.on('response', r => { if (r.url().startsWith(dev.base)) seen.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status() }); });
    const page = await ctx.newPage();
    await page.goto(attacker + '/');
    await waitUntil(() => page.evaluate(() => window.__sent && window.__sent.length >= 10), 'the attack page to send everything');
    // The beacons and the second form are fire-and-forget: wait until the server answered them.
    await waitUntil(() => seen.filter(x => x.method === 'POST' && x.path === '/api/v1/snapshots').length >= 3 &&
                          seen.filter(x => x.method === 'POST' && x.path === '/api/v1/prune').length >= 4, 'the server to answer every attack request');
    const sent = await page.evaluate(() => window.__sent);
    assert.ok(sent.includes('cors prune blocked'), sent.join(', '));
    // Every attack request reached the server and was refused: 415 (not JSON) or 403 (foreign origin).
    // (The CORS fetch's preflight, OPTIONS, is 405 without CORS headers: that is what blocks it.)
    const bad = seen.filter(x => x.path.startsWith('/api/') && x.method !== 'OPTIONS' && x.status !== 403 && x.status !== 415);
    assert.deepEqual(bad, [], 'attack requests the server did not refuse');
    assert.ok(seen.filter(x => x.method === 'POST' && x.path === '/api/v1/prune').every(x => x.status === 403 || x.status === 415),
              JSON.stringify(seen));
    assert.ok(seen.some(x => x.path === '/api/v1/snapshots/victim/verify'), JSON.stringify(seen));
    // The store is as it was: no snapshot created, none pruned, nothing audited.
    const after = (await devApi('GET', '/snapshots?limit=1000')).snapshots.map(s => `${s.name}:${s.pinned}`);
    assert.deepEqual(after, before);
    assert.equal((await devApi('GET', '/audit?limit=1000')).entries.length, audit0);
  } finally {
    await ctx.browser().close().catch(() => {});
    await new Promise(r => site.close(r));
    await dev.stop();
  }
});

test('DNS rebinding: a page whose own name now resolves to the server gets nothing (Host check)', async () => {
  const dev = await startServer(path.join(env.tmp, 'rebinding'), {});
  const port = new URL(dev.base).port;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
                                          args: ['--headless', '--no-sandbox', '--disable-gpu',
                                                 '--host-resolver-rules=MAP rebind.test 127.0.0.1'] });
  try {
    const r0 = await fetch(dev.base + '/api/v1/snapshots', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"secret_one"}' });
    assert.equal(r0.status, 201);
    const page = await (await browser.newContext()).newPage();
    // The attacker's page at rebind.test:PORT, same origin as everything it asks for now.
    const nav = await page.goto(`http://rebind.test:${port}/`);
    assert.equal(nav.status(), 403);
    const got = await page.evaluate(async () => {
      const out = {};
      for (const [k, p, init] of [['list', '/api/v1/snapshots', {}], ['archive', '/api/v1/snapshots/secret_one/archive', {}],
                                  ['delete', '/api/v1/snapshots/secret_one', { method: 'DELETE' }],
                                  ['preview', '/api/v1/snapshots/secret_one/restore/preview',
                                   { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }]]) {
        const r = await fetch(p, init);
        out[k] = { status: r.status, body: await r.text() };
      }
      return out;
    });
    for (const [k, v] of Object.entries(got)) {
      assert.equal(v.status, 403, `${k}: ${v.status} ${v.body.slice(0, 200)}`);
      assert.ok(!v.body.includes('secret_one') || k !== 'list', `${k} leaked the list`);
    }
    const list = await (await fetch(dev.base + '/api/v1/snapshots')).json();
    assert.deepEqual(list.snapshots.map(s => s.name), ['secret_one']);
  } finally {
    await browser.close().catch(() => {});
    await dev.stop();
  }
});

test('audit page: after create, pin, restore, a refused restore, delete and prune, it lists the API\'s chain newest first; Verify OK', async () => {
  const startSeq = (await auditAll()).at(-1).seq;
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_audit_a', labels: { reason: 'audit' } } });
  await apiOk('PATCH', '/snapshots/e2e_audit_a', { body: { pin: true } });
  const p = await apiOk('POST', '/snapshots/e2e_audit_a/restore/preview', { body: {} });
  const rep = await apiOk('POST', '/snapshots/e2e_audit_a/restore', { body: { confirm_token: p.confirm_token } });
  // A restore refused for a stale preview: the live state moves on between preview and confirm.
  const stale = await apiOk('POST', '/snapshots/e2e_audit_a/restore/preview', { body: {} });
  makeState('--advance', '1');
  const refused = await api('POST', '/snapshots/e2e_audit_a/restore', { body: { confirm_token: stale.confirm_token } });
  assert.equal(refused.status, 409, refused.text);
  await apiOk('DELETE', '/snapshots/e2e_audit_a', { query: { force: 'true' } });
  const pruned = await apiOk('POST', '/prune', { body: {} });
  assert.ok(pruned.removed.length > 0, 'the prune removes something');

  const all = await auditAll();
  const mine = all.filter(a => a.seq > startSeq);
  const tail = mine.filter(a => a.snapshot === 'e2e_audit_a' || a.op === 'prune').map(a => [a.op, a.snapshot, a.result]);
  assert.deepEqual(tail, [['create', 'e2e_audit_a', 'ok'], ['pin', 'e2e_audit_a', 'ok'], ['restore', 'e2e_audit_a', 'ok'],
                          ['restore', 'e2e_audit_a', 'error'], ['delete', 'e2e_audit_a', 'ok'], ['prune', null, 'ok']]);
  const restoreOk = mine.find(a => a.op === 'restore' && a.result === 'ok');
  assert.equal(restoreOk.details.safety_snapshot, rep.safety_snapshot);
  const restoreErr = mine.find(a => a.op === 'restore' && a.result === 'error');
  const pruneEntry = mine.find(a => a.op === 'prune');
  assert.deepEqual(pruneEntry.details.removed, pruned.removed.map(r => r.name));
  assert.ok(all.length > 30, 'more than three pages of 10');
  audited.all = all;
  audited.pin = mine.find(a => a.op === 'pin');

  await withPage({}, async (page, rec) => {
    await page.goto(env.base + '/');
    await page.click('#tab-audit');
    await waitUntil(async () => page.url().endsWith('#/audit'), 'the audit route');
    assert.equal(await page.getAttribute('#tab-audit', 'aria-current'), 'page');
    await page.locator('#audit-rows tr').first().waitFor();
    assert.equal((await auditRows(page)).length, 25);
    await page.selectOption('#audit-page-size', '10');
    await waitUntil(async () => (await auditRows(page)).length === 10 && (await auditRows(page))[0].seq === all.at(-1).seq,
                    'the newest page of 10');
    const pages = () => rec.requests.filter(r => /\/api\/v1\/audit\?/.test(r.url) && new URL(r.url).searchParams.get('limit') === '10')
      .map(r => Number(new URL(r.url).searchParams.get('after')));
    assert.deepEqual(pages(), [all.at(-1).seq - 10], 'the newest page is asked for with after/limit');
    assert.match(await text(page, '#audit-summary'), new RegExp(`^Showing the newest 10 entries \\(seq ${all.at(-1).seq} back to ${all.at(-10).seq}\\)`));

    // "Load older" from the keyboard until the start of the chain.
    await page.focus('#audit-more');
    while (await page.isVisible('#audit-more')) {
      const n = (await auditRows(page)).length;
      assert.equal(await activeId(page), 'audit-more', 'the focus stays on Load older');
      await page.keyboard.press('Enter');
      await waitUntil(async () => (await auditRows(page)).length > n, 'an older page');
    }
    assert.equal(await activeId(page), 'audit-summary', 'the focus lands on the summary once all are shown');
    assert.ok(pages().length >= 4, `pages: ${pages()}`);
    assert.equal(await text(page, '#audit-summary'), `Showing all ${all.length} entries, newest first (seq ${all.at(-1).seq} back to ${all[0].seq}).`);

    // Exactly the API's entries, newest first.
    const rows = await auditRows(page);
    assert.deepEqual(rows.map(r => [r.seq, r.time, r.actor, r.op, r.snapshot, r.result]),
                     [...all].reverse().map(a => [a.seq, a.time, a.actor, a.op, a.snapshot === null ? '—' : a.snapshot,
                                                  a.result === 'ok' ? 'ok' : 'ERROR']));
    assert.deepEqual(rows.filter(r => r.error).map(r => r.seq), all.filter(a => a.result !== 'ok').map(a => a.seq).reverse(),
                     'error rows are highlighted, only they');
    const bySeq = Object.fromEntries(rows.map(r => [r.seq, r]));
    assert.equal(bySeq[restoreOk.seq].details,
                 `safety snapshot ${rep.safety_snapshot} · ${rep.files.length} files` + (rep.kill_switch ? ` · KILL_SWITCH ${rep.kill_switch}` : ''));
    assert.equal(bySeq[restoreErr.seq].details, restoreErr.details.error);
    assert.equal(bySeq[pruneEntry.seq].details, `removed ${pruned.removed.map(r => r.name).join(', ')} · kept ${pruned.kept.length}`);
    assert.equal(bySeq[audited.pin.seq].details, 'pinned');
    const created = mine.find(a => a.op === 'create' && a.snapshot === 'e2e_audit_a');
    assert.equal(bySeq[created.seq].details, `${created.details.files} files · ${fmtBytes(created.details.size)} · sha256 ${created.details.archive_sha256.slice(0, 12)}…`);
    assert.equal(bySeq[mine.find(a => a.op === 'delete').seq].details, 'forced');
    const plainDelete = all.find(a => a.op === 'delete' && a.details.force === false);
    assert.ok(plainDelete, 'the delete test deleted one without force');
    assert.equal(bySeq[plainDelete.seq].details, '—');
    const [color, bg] = await page.locator(`#audit-rows tr[data-seq="${restoreErr.seq}"]`).evaluate(e =>
      [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);
    assert.deepEqual([color, bg], ['rgb(138, 17, 17)', 'rgb(255, 224, 222)'], 'an error row is red');
    const body = await text(page, 'body');
    for (const v of dotenvValues()) assert.ok(!body.includes(v), 'no .env value on the page');

    // Verify, from the keyboard.
    const v = await apiOk('GET', '/audit/verify');
    assert.deepEqual(v, { ok: true, entries: all.at(-1).seq, catalog: { ok: true, first_bad: null }, file: { ok: true, first_bad: null, entries: all.at(-1).seq, behind: 0 } });
    await page.focus('#audit-verify');
    await page.keyboard.press('Enter');
    assert.equal(await waitText(page, '#audit-verify-result', 'Chain OK'),
                 `Chain OK — ${v.entries} entries: every hash recomputes and links to the one before, and audit.jsonl matches the catalog line for line.`);
    assert.match(await page.getAttribute('#audit-verify-result', 'class'), /\bok\b/);
    assert.equal(await page.locator('#audit-rows tr.is-bad').count(), 0);
  });
});

test('audit page: one edited line of STORE/audit.jsonl makes Verify fail in red, naming the line and seq the API names', async () => {
  const file = `${env.store}/audit.jsonl`;
  const original = fs.readFileSync(file, 'utf8');
  const lines = original.split('\n');
  const i = lines.findIndex(l => l.includes(`"seq":${audited.pin.seq},`));
  assert.ok(i >= 0 && lines[i].includes('"op":"pin"'), 'the pin entry\'s line');
  lines[i] = lines[i].replace('"op":"pin"', '"op":"unpin"');
  fs.writeFileSync(file, lines.join('\n'));
  try {
    const bad = await api('GET', '/audit/verify');
    assert.equal(bad.status, 422, bad.text);
    const fb = bad.body.report.file.first_bad;
    assert.deepEqual(fb, { line: i + 1, seq: audited.pin.seq, problem: 'hash does not match the entry\'s content (edited)' });
    assert.equal(bad.body.report.catalog.ok, true);
    await withPage({ refusals: [{ status: 422, method: 'GET', path: /^\/api\/v1\/audit\/verify$/ }] }, async (page) => {
      await page.goto(env.base + '/#/audit');
      await page.locator('#audit-rows tr').first().waitFor();
      await page.click('#audit-verify');
      const t = await waitText(page, '#audit-verify-result', 'AUDIT CHAIN BROKEN');
      assert.ok(t.startsWith(`AUDIT CHAIN BROKEN — ${bad.body.detail}`), t);
      assert.match(bad.body.detail, new RegExp(`audit\\.jsonl line ${i + 1} \\(seq ${fb.seq}\\)`));
      assert.equal(await text(page, '#audit-verify-result li[data-chain="file"]'),
                   `audit.jsonl: broken — first bad entry at audit.jsonl line ${fb.line} (seq ${fb.seq}): ${fb.problem}`);
      assert.equal(await text(page, '#audit-verify-result li[data-chain="catalog"]'), 'Catalog: intact.');
      assert.match(await page.getAttribute('#audit-verify-result', 'class'), /\bbad\b/);
      assert.equal(await page.getAttribute('#audit-verify-result', 'role'), 'alert');
      const [color, bg] = await page.locator('#audit-verify-result').evaluate(e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);
      assert.deepEqual([color, bg], ['rgb(138, 17, 17)', 'rgb(255, 224, 222)']);
      // The entry the API names is marked in the list when it is shown.
      await page.selectOption('#audit-page-size', '100');
      await page.locator(`#audit-rows tr[data-seq="${fb.seq}"]`).waitFor();
      await page.click('#audit-verify');
      await page.locator(`#audit-rows tr.is-bad[data-seq="${fb.seq}"]`).waitFor();
      assert.equal(await page.locator('#audit-rows tr.is-bad').count(), 1);
      // The list is the catalog's copy: the edit in the file does not show up as an unpin.
      assert.equal(await text(page, `#audit-rows tr[data-seq="${fb.seq}"] td.op`), 'pin');
      await screenshot(page, 'audit-broken-desktop.png', { fullPage: true });
    });
  } finally {
    fs.writeFileSync(file, original);
  }
  assert.equal((await apiOk('GET', '/audit/verify')).ok, true, 'the original file verifies again');
});

for (const [label, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`screenshot of the audit page at ${label} width (${vp.width}x${vp.height}), Verify OK, nothing wider than the screen`, async () => {
    const all = await auditAll();
    await withPage({ viewport: vp }, async (page) => {
      await page.goto(env.base + '/#/audit');
      await waitUntil(async () => (await auditRows(page)).length === Math.min(25, all.length), 'the newest page');
      await page.click('#audit-verify');
      await waitText(page, '#audit-verify-result', 'Chain OK');
      await noHorizontalScroll(page, vp.width);
      const [inner, outer] = await page.$eval('#view-audit .table-wrap', e => [e.scrollWidth, e.clientWidth]);
      assert.ok(inner <= outer, `the audit table scrolls sideways (${inner} > ${outer})`);
      await screenshot(page, `audit-${label}.png`, { fullPage: true });
    });
  });
}

// Issue #20's dashboard items, after the tests above (they make their own snapshots).
await import('./conventions.mjs');

const ok = await runAll(setup);
process.exitCode = ok ? 0 : 1;
