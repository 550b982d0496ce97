// conventions.mjs - the dashboard items of issue #20, in real chromium: the token banner and a
// wrong token, an unreachable server, Enter to confirm a restore, what a read token may do,
// the diff's paths at 375 px, what the newer work records (consistency, chain, drill,
// offsite), and axe-core with no serious or critical violation on every view and dialog.
// Imported by dashboard.mjs after its own tests (it runs them all with one server).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  DESKTOP, TOKEN_KEY, activeId, api, apiOk, axe, dialogOpen, env, listAll, startServer, noHorizontalScroll,
  screenshot, test, text, waitRows, waitText, waitUntil, withPage,
} from './lib.mjs';

const NARROW = { width: 375, height: 812 };

function sql(statement) {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=10)\nc.execute(sys.argv[2])\nc.commit()',
                                           `${env.store}/catalog.db`, statement], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('a wrong token is reported as wrong and not kept; the 401 banner goes once a valid token is entered', async () => {
  const refusals = [
    { status: 401, method: 'GET', path: /^\/api\/v1\/(snapshots|snapshots\/latest|schedule)$/ },
    { status: 401, method: 'GET', path: /^\/api\/v1\/whoami$/ },
  ];
  await withPage({ token: null, refusals }, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#messages .msg.error', '401');
    assert.match(await page.getAttribute('#token-form', 'class'), /\bneeds-token\b/);
    assert.match(await text(page, '#list-error'), /wants an API token/);
    assert.equal(await page.isHidden('#list-empty'), true, 'not "No snapshots match." when the list did not load');

    await page.fill('#token-input', 'not-a-token-the-server-knows');
    await page.press('#token-input', 'Enter');
    const st = await waitText(page, '#token-status', 'Wrong token');
    assert.equal(st, 'Wrong token: the server does not accept it (401).');
    assert.doesNotMatch(st, /Token set/);
    assert.match(await page.getAttribute('#token-status', 'class'), /\berror\b/);
    assert.equal(await page.evaluate(k => sessionStorage.getItem(k), TOKEN_KEY), null, 'a wrong token is not kept');
    assert.match(await page.getAttribute('#token-form', 'class'), /\bneeds-token\b/);

    await page.fill('#token-input', env.tokenRead);
    await page.click('#token-form button[type="submit"]');
    await waitText(page, '#token-status', 'Token set for this tab (sessionStorage).');
    await waitUntil(async () => (await page.locator('#messages .msg.error').count()) === 0, 'the 401 banner to go');
    assert.doesNotMatch(await page.getAttribute('#token-form', 'class'), /\bneeds-token\b/);
    await page.locator('#snap-rows tr').first().waitFor();
    assert.equal(await page.isHidden('#list-error'), true);

    // A wrong token entered over a good one says so, and the good one stays in use.
    await page.fill('#token-input', 'still-not-a-token');
    await page.click('#token-form button[type="submit"]');
    assert.equal(await waitText(page, '#token-status', 'Wrong token'),
                 'Wrong token: the server does not accept it (401). The token set before is still in use.');
    assert.equal(await page.evaluate(k => sessionStorage.getItem(k), TOKEN_KEY), env.tokenRead);
  });
});

test('with the server down the list says it is unreachable, not "No snapshots match."', async () => {
  const dev = await startServer(path.join(env.tmp, 'down'), {});
  let stopped = false;
  try {
    const refusals = [{ status: 404, method: 'GET', path: /^\/api\/v1\/snapshots\/latest$/ }]; // an empty store
    await withPage({ token: null, origin: new URL(dev.base).origin, serverDown: true, refusals }, async (page) => {
      await page.goto(dev.base + '/');
      await waitText(page, '#list-summary', 'Showing 0 of 0');
      assert.equal(await page.isVisible('#list-empty'), true, 'an empty store: nothing matches');
      await dev.stop();
      stopped = true;
      await page.click('#btn-refresh');
      const t = await waitText(page, '#list-error', 'unreachable');
      assert.equal(t, 'The statesnap server is unreachable: the snapshots cannot be listed. Refresh once it is back.');
      assert.equal(await page.isHidden('#list-empty'), true);
      assert.match(await text(page, '#messages .msg.error'), /^Listing snapshots failed — Network error: cannot reach the statesnap server/);
    });
  } finally {
    if (!stopped) await dev.stop();
  }
});

test('Enter in the confirm-name field runs the restore (only once the name matches)', async () => {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_enter' } });
  const before = await listAll();
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_enter"]').waitFor();
    await page.click('#snap-rows tr[data-name="e2e_enter"] button[data-act="restore"]');
    await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
    assert.equal(await activeId(page), 'restore-confirm-name');
    await page.keyboard.type('e2e_ente');
    await page.keyboard.press('Enter');
    assert.equal(await text(page, '#restore-error'), 'Type the snapshot name exactly (e2e_enter) to confirm.');
    assert.equal(await page.isHidden('#restore-result'), true, 'a wrong name restores nothing');
    await page.keyboard.type('r');
    await page.keyboard.press('Enter');
    await page.locator('#restore-result').waitFor();
    assert.equal(await text(page, '#restore-banner'), 'RESTORE COMPLETE');
    assert.equal(await activeId(page), 'restore-close');
    await page.keyboard.press('Enter');
    await waitUntil(async () => !(await dialogOpen(page, 'dlg-restore')), 'the dialog to close');
  });
  const after = await listAll();
  assert.equal(after.total_count, before.total_count + 1, 'one restore: one safety snapshot');
});

test('a read token sees restore, delete, unpin, create and drill disabled with the reason, a write token restore, delete and unpin (GET /whoami)', async () => {
  const who = await apiOk('GET', '/whoami', { token: env.tokenRead });
  assert.deepEqual(who, { token: 'env-read', role: 'read' });
  await withPage({ token: env.tokenRead }, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#token-role', 'Role: read');
    assert.equal(await text(page, '#token-role'),
                 'Role: read (token env-read) — create, pin, drill, restore, delete, unpin are not available to this role.');
    const rows = page.locator('#snap-rows tr');
    await rows.first().waitFor();
    const states = await page.locator('#snap-rows button[data-act]').evaluateAll(bs => bs.map(b => [b.getAttribute('data-act'), b.disabled, b.title]));
    assert.ok(states.length > 0);
    for (const [act, disabled, title] of states) {
      assert.equal(disabled, true, `${act} is disabled for read`);
      assert.match(title, /^Needs the (write|admin) role; this token \(env-read\) has the read role\.$/);
    }
    assert.equal(await page.isDisabled('#btn-create'), true);
    assert.equal(await page.isEnabled('#btn-refresh'), true, 'reading stays possible');

    await page.goto(env.base + '/#/s/e2e_base');
    await page.locator('#detail-body dl').first().waitFor();
    for (const id of ['detail-restore', 'detail-delete', 'detail-drill', 'detail-pin'])
      assert.equal(await page.isDisabled('#' + id), true, `${id} is disabled for read`);
    assert.match(await page.getAttribute('#detail-restore', 'title'), /^Needs the admin role;/);
    assert.equal(await page.isEnabled('#detail-verify'), true, 'verify needs only read');
    assert.equal(await page.isEnabled('#detail-diff-live'), true);
  });
  // write: create, pin and drill, but not unpin (it lets prune delete), restore or delete.
  const writer = await apiOk('GET', '/whoami', { token: env.tokenWrite });
  assert.equal(writer.role, 'write');
  await withPage({ token: env.tokenWrite }, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#token-role', 'Role: write');
    assert.equal(await text(page, '#token-role'),
                 `Role: write (token ${writer.token}) — restore, delete, unpin are not available to this role.`);
    await page.locator('#snap-rows tr[data-name="e2e_base"]').waitFor();
    assert.equal(await page.isEnabled('#btn-create'), true);
    const row = n => page.locator(`#snap-rows tr[data-name="${n}"]`);
    const unpinned = (await listAll()).snapshots.find(s => !s.pinned);
    assert.ok(unpinned, 'an unpinned snapshot');
    await row(unpinned.name).waitFor();
    assert.equal(await row(unpinned.name).locator('button[data-act="pin"]').isEnabled(), true, 'pin needs write');
    assert.equal(await row('e2e_base').locator('button[data-act="pin"]').isDisabled(), true, 'unpin needs admin');
    assert.equal(await row('e2e_base').locator('button[data-act="restore"]').isDisabled(), true);
    assert.equal(await row('e2e_base').locator('button[data-act="delete"]').isDisabled(), true);
    assert.equal(await row('e2e_base').locator('button[data-act="delete"]').getAttribute('title'),
                 `Needs the admin role; this token (${writer.token}) has the write role.`);
    await page.goto(env.base + '/#/s/' + unpinned.name);
    await page.locator('#detail-body dl').first().waitFor();
    assert.equal(await page.isEnabled('#detail-drill'), true);
    assert.equal(await page.isEnabled('#detail-pin'), true);
    assert.equal(await page.isDisabled('#detail-restore'), true);
  });
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#token-role', 'Role: admin');
    assert.equal(await text(page, '#token-role'), 'Role: admin (token env-admin) — every action is available.');
    await page.locator('#snap-rows tr').first().waitFor();
    assert.equal(await page.locator('#snap-rows button[data-act]:disabled').count(), 0, 'admin: nothing disabled');
  });
});

test('at 375 px the diff\'s paths wrap only between their pieces (bounding boxes) and nothing is wider than the screen', async () => {
  await withPage({ viewport: NARROW }, async (page) => {
    await page.goto(env.base + '/#/diff?from=e2e_base&to=live');
    await page.locator('#diff-body .diff-files tr[data-path]').first().waitFor();
    await noHorizontalScroll(page, NARROW.width);
    const cells = await page.locator('#diff-body .diff-files tr[data-path] td.path').evaluateAll(tds => tds.map(td => {
      const line = parseFloat(getComputedStyle(td).lineHeight) || 20;
      const segs = Array.from(td.querySelectorAll('.seg'));
      return {
        path: td.textContent,
        rowPath: td.parentNode.getAttribute('data-path'),
        lines: Math.round(td.querySelector('.path-text').getBoundingClientRect().height / line),
        broken: segs.filter(s => s.getClientRects().length > 1).map(s => s.textContent),
        width: td.getBoundingClientRect().width,
        right: td.getBoundingClientRect().right,
      };
    }));
    assert.ok(cells.length >= 5, 'the files table lists the files');
    for (const c of cells) {
      assert.equal(c.path, c.rowPath, 'the cell reads as the path');
      assert.deepEqual(c.broken, [], `${c.path}: no piece split across lines`);
      assert.ok(c.lines <= 3, `${c.path} takes ${c.lines} lines`);
      assert.ok(c.width >= 90, `${c.path}: the path column is ${c.width}px wide`);
      assert.ok(c.right <= NARROW.width, `${c.path} ends at ${c.right}px`);
    }
    const [inner, outer] = await page.$eval('#diff-body .diff-files .table-wrap', e => [e.scrollWidth, e.clientWidth]);
    assert.ok(inner <= outer, `the files table scrolls sideways (${inner} > ${outer})`);
    await page.locator('#diff-body .diff-files').scrollIntoViewIfNeeded();
    await screenshot(page, 'diff-files-375.png', { fullPage: true });
  });
});

test('the list and detail show what the capture recorded: consistency, chain tip and links, last drill, offsite truth', async () => {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_rec_ok' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_rec_missing' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_rec_diff' } });
  await apiOk('POST', '/snapshots/e2e_rec_ok/drill', { body: {} });
  // The sync thread needs an S3 endpoint; what a round records is catalog state, so set it there.
  sql("UPDATE snapshots SET offsite_state = 'synced', offsite_error = NULL, offsite_at = 1767323045 WHERE name = 'e2e_rec_ok'");
  sql("UPDATE snapshots SET offsite_state = 'pending', offsite_error = 'gone from the bucket: e2e/e2e_rec_missing.zip is missing', " +
      "offsite_at = 1767323045 WHERE name = 'e2e_rec_missing'");
  sql("UPDATE snapshots SET offsite_state = 'pending', offsite_error = 'the bucket holds another object as e2e/e2e_rec_diff.zip (1 bytes, the snapshot has 2)', " +
      "offsite_at = 1767323045 WHERE name = 'e2e_rec_diff'");
  const ok = await apiOk('GET', '/snapshots/e2e_rec_ok');
  assert.equal(ok.consistency.state, 'consistent');
  assert.ok(ok.chain && ok.chain.links_ok, 'the fixture has a good hash chain');
  assert.equal(ok.last_drill.result, 'ok');
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_rec_diff"]').waitFor();
    const badge = n => page.locator(`#snap-rows tr[data-name="${n}"] td.offsite .badge`);
    assert.equal(await badge('e2e_rec_ok').textContent(), 'synced');
    assert.equal(await badge('e2e_rec_missing').textContent(), 'missing');
    assert.equal(await badge('e2e_rec_diff').textContent(), 'different');
    assert.match(await badge('e2e_rec_missing').getAttribute('title'), /gone from the bucket/);
    assert.match(await badge('e2e_rec_diff').getAttribute('class'), /\bfailed\b/);
    assert.equal(await page.locator('#snap-rows tr[data-name="e2e_rec_ok"] td.name .badge').textContent(), 'drill ok');
    // The header: the newest drill of the store (GET /drills); offsite is not configured here.
    const drills = await apiOk('GET', '/drills', { query: { limit: '1' } });
    assert.equal(drills.recent[0].snapshot, 'e2e_rec_ok');
    assert.match(await waitText(page, '#drills-status', 'Last restore drill'),
                 new RegExp(`^Last restore drill: passed (just now|\\d+ s ago|\\d+ min ago) \\(e2e_rec_ok\\) · ${drills.counts.ok} passed, ${drills.counts.failed} failed in all$`));
    assert.equal((await apiOk('GET', '/offsite')).enabled, false);
    assert.equal(await page.isHidden('#offsite-status'), true);

    await page.goto(env.base + '/#/s/e2e_rec_ok');
    await page.locator('#detail-body dl').first().waitFor();
    const dd = async term => page.locator('#detail-body dl.meta').first().locator(`dt:text-is("${term}") + dd`).textContent();
    assert.match(await dd('Capture'), /^consistent cut \(\d+ attempts?, window [\d.]+ ms\)$/);
    assert.equal(await dd('Chain'), `${ok.chain.lines} lines, last seq ${ok.chain.last_seq}, links ok`);
    assert.match(await dd('Last drill'), /^passed /);
    assert.match(await dd('Offsite'), /^synced Copied offsite and confirmed \(size and SHA-256\) \(2026-01-02 03:04:05 UTC\)$/);
  });
  // A snapshot kept although a file changed while it was read, and one whose chain links break
  // (as the catalog records them: what the API returns is what the page shows).
  const c = { state: 'changed', attempts: 3, window_ms: 1.5, changed: ['state/orders.json'] };
  sql(`UPDATE snapshots SET consistency = '${JSON.stringify(c)}' WHERE name = 'e2e_rec_missing'`);
  const chain = { ...ok.chain, links_ok: false, first_bad_line: 7 };
  sql(`UPDATE snapshots SET chain = '${JSON.stringify(chain)}' WHERE name = 'e2e_rec_diff'`);
  assert.deepEqual((await apiOk('GET', '/snapshots/e2e_rec_missing')).consistency, c);
  assert.deepEqual((await apiOk('GET', '/snapshots/e2e_rec_diff')).chain, chain);
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    const b = page.locator('#snap-rows tr[data-name="e2e_rec_missing"] td.name .badge.failed');
    await b.first().waitFor();
    assert.equal(await b.textContent(), 'not consistent');
    assert.match(await b.getAttribute('title'), /state\/orders\.json changed while read/);
    const k = page.locator('#snap-rows tr[data-name="e2e_rec_diff"] td.name .badge.failed');
    assert.equal(await k.textContent(), 'chain broken');
    assert.equal(await k.getAttribute('title'), 'Hash chain links broken at line 7');
    assert.equal(await page.locator('#snap-rows tr[data-name="e2e_rec_ok"] td.name .badge.failed').count(), 0);
    await page.goto(env.base + '/#/s/e2e_rec_missing');
    await page.locator('#detail-body dl').first().waitFor();
    const dd = async term => page.locator('#detail-body dl.meta').first().locator(`dt:text-is("${term}") + dd`).textContent();
    assert.equal(await dd('Capture'), 'NOT a consistent cut: state/orders.json changed while read');
    assert.match(await dd('Offsite'), /^missing Offsite copy missing: gone from the bucket: e2e\/e2e_rec_missing\.zip is missing/);
  });
});

test('the list and detail show what each archive signature is worth', async () => {
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_sig_ok' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_sig_untrusted' } });
  await apiOk('POST', '/snapshots', { body: { name: 'e2e_sig_unsigned' } });
  const ok = await apiOk('GET', '/snapshots/e2e_sig_ok');
  assert.equal(ok.signature.state, 'signed');
  assert.match(ok.signature.key_id, /^[0-9a-f]{64}$/);
  // What import --allow-unsigned records (as the catalog holds it: what the API returns is what the page shows).
  sql("UPDATE snapshots SET signature = 'untrusted', signer = '' WHERE name = 'e2e_sig_untrusted'");
  sql("UPDATE snapshots SET signature = 'unsigned', signer = '' WHERE name = 'e2e_sig_unsigned'");
  assert.deepEqual((await apiOk('GET', '/snapshots/e2e_sig_untrusted')).signature, { state: 'untrusted', key_id: null });
  await withPage({}, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr[data-name="e2e_sig_unsigned"]').waitFor();
    const badge = n => page.locator(`#snap-rows tr[data-name="${n}"] td.name .badge[data-signature]`);
    assert.equal(await badge('e2e_sig_ok').count(), 0);
    assert.equal(await badge('e2e_sig_untrusted').textContent(), 'untrusted');
    assert.match(await badge('e2e_sig_untrusted').getAttribute('title'), /no trusted key/);
    assert.equal(await badge('e2e_sig_unsigned').textContent(), 'unsigned');
    const dd = async term => page.locator('#detail-body dl.meta').first().locator(`dt:text-is("${term}") + dd`).textContent();
    await page.goto(env.base + '/#/s/e2e_sig_ok');
    await page.locator('#detail-body dl').first().waitFor();
    assert.equal(await dd('Signature'), 'signed by key ' + ok.signature.key_id);
    await page.goto(env.base + '/#/s/e2e_sig_untrusted');
    await page.locator('#detail-body dl').first().waitFor();
    assert.match(await dd('Signature'), /^UNTRUSTED: signed by no trusted key/);
  });
});

test('axe-core: no serious or critical violation on the list, detail, diff and audit views and every dialog', async () => {
  await withPage({ viewport: DESKTOP }, async (page) => {
    await page.goto(env.base + '/');
    await page.locator('#snap-rows tr').first().waitFor();
    await axe(page, 'the list');

    await page.click('#btn-create');
    await axe(page, 'the create dialog');
    await page.keyboard.press('Escape');

    await page.click('#snap-rows tr[data-name="e2e_base"] button[data-act="delete"]');
    await axe(page, 'the delete dialog');
    await page.keyboard.press('Escape');

    await page.click('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]');
    await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
    await page.locator('#restore-symbols table.positions, #restore-symbols p').first().waitFor();
    await axe(page, 'the restore dialog');
    await page.keyboard.press('Escape');

    await page.goto(env.base + '/#/s/e2e_base');
    await page.locator('#detail-body dl').first().waitFor();
    await axe(page, 'the detail view');

    await page.goto(env.base + '/#/diff?from=e2e_base&to=live');
    await page.locator('#diff-body .diff-files tr[data-path]').first().waitFor();
    await axe(page, 'the diff view');

    await page.goto(env.base + '/#/audit');
    await page.locator('#audit-rows tr').first().waitFor();
    await axe(page, 'the audit view');
  });
  await withPage({ token: env.tokenRead }, async (page) => {
    await page.goto(env.base + '/');
    await waitText(page, '#token-role', 'Role: read');
    await axe(page, 'the list with a read token (disabled controls)');
  });
});

test('the restore dialog\'s scrolling part is reachable and scrollable by keyboard at phone size', async () => {
  await withPage({ viewport: { width: 390, height: 640 } }, async (page) => {
    await page.goto(env.base + '/');
    await page.click('#snap-rows tr[data-name="e2e_base"] button[data-act="restore"]');
    await waitUntil(() => dialogOpen(page, 'dlg-restore'), 'the restore dialog');
    await page.locator('#restore-symbols table.positions, #restore-symbols p').first().waitFor();
    assert.equal(await page.getAttribute('#restore-scroll', 'tabindex'), '0');
    assert.equal(await page.getAttribute('#restore-scroll', 'role'), 'region');
    assert.ok(await page.getAttribute('#restore-scroll', 'aria-label'));
    const [sh, ch] = await page.$eval('#restore-scroll', e => [e.scrollHeight, e.clientHeight]);
    assert.ok(sh > ch, `the list scrolls at this size (${sh} > ${ch})`);
    // From the name field, Shift+Tab goes back through the dialog until the scrolling region.
    for (let i = 0; i < 12 && (await activeId(page)) !== 'restore-scroll'; i++) await page.keyboard.press('Shift+Tab');
    assert.equal(await activeId(page), 'restore-scroll');
    await page.keyboard.press('PageDown');
    await waitUntil(async () => (await page.$eval('#restore-scroll', e => e.scrollTop)) > 0, 'PageDown to scroll it');
    await axe(page, 'the restore dialog at phone size');
    await page.keyboard.press('Escape');
  });
});
