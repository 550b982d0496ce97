// lib.mjs - the e2e suite's harness: a tiny sequential test runner, the real server's API from
// Node, a headless Debian chromium with every request and console message recorded, and polls.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/e2e/run.sh BIN`);
  return v;
}

export const env = {
  base: need('E2E_BASE'),
  root: need('E2E_ROOT'),
  store: need('E2E_STORE'),
  tokenRead: need('E2E_TOKEN_READ'),
  tokenWrite: need('E2E_TOKEN_WRITE'),
  tokenAdmin: need('E2E_TOKEN_ADMIN'),
  makeState: need('E2E_MAKE_STATE'),
  shots: need('E2E_SHOTS'),
  result: need('E2E_RESULT'),
  tmp: need('E2E_TMP'),
  bin: need('E2E_BIN'),
};
export const ORIGIN = new URL(env.base).origin;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const TOKEN_KEY = 'statesnap.token';

/* ---------- runner ---------- */

const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }

export async function runAll(setup) {
  let passed = 0, failed = 0;
  try {
    await launch();
    await setup();
    for (const t of tests) {
      const t0 = Date.now();
      try {
        await t.fn();
        passed++;
        console.log(`ok ${passed + failed} - ${t.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        console.log(`not ok ${passed + failed} - ${t.name}`);
        console.log(String(e && e.stack ? e.stack : e).split('\n').map(l => '    ' + l).join('\n'));
      }
    }
  } catch (e) {
    failed++;
    console.log('not ok - suite setup');
    console.log(String(e && e.stack ? e.stack : e).split('\n').map(l => '    ' + l).join('\n'));
  } finally {
    if (browser) await browser.close().catch(() => {});
    fs.writeFileSync(env.result, `${passed} ${failed}\n`);
  }
  return failed === 0;
}

/* ---------- the API from Node (setup and cross-checks) ---------- */

export async function api(method, p, { token = env.tokenAdmin, body, query } = {}) {
  let url = env.base + '/api/v1' + p;
  if (query) url += '?' + new URLSearchParams(query).toString();
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  // Every POST and PATCH route needs the JSON type, also without a body (as the dashboard sends it).
  if (body !== undefined || method === 'POST' || method === 'PATCH') headers['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: r.status, body: json, text };
}

export async function apiOk(method, p, opts) {
  const r = await api(method, p, opts);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: HTTP ${r.status} ${r.text}`);
  return r.body;
}

export async function listAll(query = {}) {
  return apiOk('GET', '/snapshots', { query: { limit: '1000', ...query } });
}

export function makeState(...args) {
  const r = spawnSync('/usr/bin/python3', [env.makeState, '--out', env.root, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `make_state.py ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export function rootFile(rel) { return path.join(env.root, rel); }

/* startServer(dir, config) - another real `BIN serve` (loopback dev mode, no tokens) on a fresh
 * state root and store under dir, with config written to dir/config.json. Resolves with
 * {base, stop()}; stop() sends SIGTERM and waits for the exit. */
export async function startServer(dir, config) {
  fs.mkdirSync(dir, { recursive: true });
  const root = path.join(dir, 'root'), portFile = path.join(dir, 'port');
  const r = spawnSync('/usr/bin/python3', [env.makeState, '--out', root, '--chain-lines', '50', '--idem-keys', '10',
                                           '--pnl-days', '5'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const child = spawn(env.bin, ['--config', path.join(dir, 'config.json'), '--root', root, '--store', path.join(dir, 'store'),
                                'serve', '--listen', '127.0.0.1:0', '--port-file', portFile,
                                '--static-dir', path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../static')],
                      { stdio: ['ignore', log, log] });
  const exited = new Promise(res => child.on('exit', res));
  const stop = async () => { child.kill('SIGTERM'); await exited; fs.closeSync(log); };
  try {
    await waitUntil(() => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim(), 'the second server to listen', 10000);
  } catch (e) {
    await stop();
    throw new Error(`${e.message}: ${fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-500)}`);
  }
  return { base: `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`, stop };
}

/* ---------- browser ---------- */

let browser = null;

// chromium.launch() starts the browser on a fresh temporary profile (user-data-dir) of its own
// and removes it on close; each test then gets a fresh context inside it.
async function launch() {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/* withPage(opts, body) - a fresh browser context (own sessionStorage and localStorage) with one
 * page; every request, response and console message recorded. After body succeeds, asserts the
 * page stayed on the server's origin and logged no console error other than the refusals the
 * test declared in `refusals` ([{status, method, path: RegExp}]), each of which must have
 * happened. `token` preloads sessionStorage as the token form would. `serverDown` (a test that
 * stops the server) also lets the browser log that it could not connect. */
export async function withPage({ token = env.tokenAdmin, viewport = DESKTOP, refusals = [], origin = ORIGIN,
                                 serverDown = false } = {}, body) {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1, serviceWorkers: 'block' });
  const rec = { requests: [], responses: [], consoleErrors: [], pageErrors: [], nativeDialogs: [], json: [] };
  ctx.on('request', r => rec.requests.push({ url: r.url(), method: r.method(), headers: r.headers(), body: r.postData() }));
  ctx.on('response', r => {
    const entry = { url: r.url(), method: r.request().method(), status: r.status() };
    rec.responses.push(entry);
    if (/\/api\/v1\//.test(entry.url)) entry.json = r.json().catch(() => null);
  });
  if (token) {
    await ctx.addInitScript(([k, t]) => { if (!sessionStorage.getItem(k)) sessionStorage.setItem(k, t); }, [TOKEN_KEY, token]);
  }
  const page = await ctx.newPage();
  page.on('console', m => {
    if (m.type() === 'error') rec.consoleErrors.push({ text: m.text(), url: m.location().url || '' });
  });
  page.on('pageerror', e => rec.pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on('dialog', d => { rec.nativeDialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.setDefaultTimeout(15000);
  try {
    await body(page, rec);
    if (serverDown) rec.consoleErrors = rec.consoleErrors.filter(c => !/net::ERR_CONNECTION_REFUSED/.test(c.text));
    assertClean(rec, refusals, origin);
  } finally {
    await ctx.close().catch(() => {});
  }
}

export function assertClean(rec, refusals, origin = ORIGIN) {
  assert.ok(rec.requests.length > 0, 'the page made no request at all');
  const foreign = rec.requests.filter(r => new URL(r.url).origin !== origin).map(r => r.url);
  assert.deepEqual(foreign, [], 'requests outside the server origin');
  assert.deepEqual(rec.pageErrors, [], 'uncaught page errors');
  assert.deepEqual(rec.nativeDialogs, [], 'window.alert/confirm/prompt used');
  const seen = refusals.map(() => 0);
  const unexpected = [];
  for (const c of rec.consoleErrors) {
    const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(c.text);
    const i = m ? refusals.findIndex(f => String(f.status) === m[1] && f.path.test(new URL(c.url, origin).pathname)) : -1;
    if (i < 0) unexpected.push(c);
    else seen[i]++;
  }
  assert.deepEqual(unexpected, [], 'console errors');
  refusals.forEach((f, i) => assert.ok(seen[i] > 0, `expected refusal ${f.status} ${f.path} did not happen`));
  for (const f of refusals) {
    assert.ok(rec.responses.some(r => r.status === f.status && f.path.test(new URL(r.url).pathname) &&
                                      (!f.method || f.method === r.method)),
              `no ${f.method || ''} response ${f.status} for ${f.path}`);
  }
}

/* ---------- polls and page helpers ---------- */

export async function waitUntil(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
    await new Promise(r => setTimeout(r, 100));
  }
}

export async function text(page, selector) {
  return (await page.locator(selector).first().textContent()) ?? '';
}

export async function waitText(page, selector, expected, timeout) {
  return waitUntil(async () => {
    const t = await page.locator(selector).first().textContent({ timeout: 1000 });
    return (expected instanceof RegExp ? expected.test(t) : t.includes(expected)) ? t : false;
  }, `${selector} to contain ${expected}`, timeout);
}

export async function rowNames(page) {
  return page.locator('#snap-rows tr').evaluateAll(trs => trs.map(tr => tr.getAttribute('data-name')));
}

export async function waitRows(page, n) {
  return waitUntil(async () => {
    const names = await rowNames(page);
    return names.length === n ? names : false;
  }, `${n} snapshot rows`);
}

export async function activeId(page) {
  return page.evaluate(() => document.activeElement ? document.activeElement.id : null);
}

export async function dialogOpen(page, id) {
  return page.evaluate(i => document.getElementById(i).open, id);
}

export async function noHorizontalScroll(page, width) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= width, `page is ${w}px wide at a ${width}px viewport`);
}

export async function screenshot(page, name, { fullPage = false } = {}) {
  const file = path.join(env.shots, name);
  await page.screenshot({ path: file, fullPage });
  const buf = fs.readFileSync(file);
  assert.ok(buf.length > 5000 && buf.subarray(1, 4).toString() === 'PNG', `${name} is not a real screenshot`);
  return file;
}

/* Flip one byte in the middle of ENTRY's compressed data inside the zip at FILE (found through
 * the central directory), so the archive still opens but the entry no longer matches. */
export function corruptZipEntry(file, entry) {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  assert.ok(eocd >= 0, 'no end of central directory');
  let p = buf.readUInt32LE(eocd + 16);
  const count = buf.readUInt16LE(eocd + 10);
  for (let n = 0; n < count; n++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, 'bad central directory entry');
    const csize = buf.readUInt32LE(p + 20), nlen = buf.readUInt16LE(p + 28), xlen = buf.readUInt16LE(p + 30),
      clen = buf.readUInt16LE(p + 32), local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString();
    if (name === entry) {
      const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      buf[data + Math.floor(csize / 2)] ^= 0x55;
      fs.writeFileSync(file, buf);
      return;
    }
    p += 46 + nlen + xlen + clen;
  }
  throw new Error(`${entry} is not in ${file}`);
}

/* ---------- accessibility ---------- */

const AXE_SRC = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname),
                                          'node_modules/axe-core/axe.min.js'), 'utf8');

/* axe(page, what) - run axe-core (WCAG 2.x A/AA and best-practice rules) on the page as it is
 * now (an open dialog included) and assert no serious or critical violation. Injected through
 * the DevTools protocol, so the page's CSP (script-src 'self') stays as it is. */
export async function axe(page, what) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SRC);
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(bad, [], `axe-core on ${what}`);
}
