// client.ts - a small statesnap client in TypeScript on a client generated from openapi.yaml by
// openapi-typescript with its default options (gen/schema.d.ts) and openapi-fetch: create (no
// pin given: an optional field with a default), list, latest, restore preview (no options)
// and apply. Type-checked with tsc --noEmit; run against STATESNAP_URL with STATESNAP_TOKEN,
// it prints one JSON line of what it saw (tests/api/test_tsclient.py).
import createClient from 'openapi-fetch';
import type { paths } from './gen/schema.js';

// The little of Node this needs (no @types/node: the generated client is what is checked).
declare const process: { env: Record<string, string | undefined>; argv: string[]; exit(code: number): never };

const baseUrl = process.env.STATESNAP_URL ?? 'http://127.0.0.1:8080';
const token = process.env.STATESNAP_TOKEN;
const client = createClient<paths>({
  baseUrl,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});

function must<T>(what: string, r: { data?: T; error?: unknown; response: Response }): T {
  if (r.data === undefined) throw new Error(`${what}: HTTP ${r.response.status} ${JSON.stringify(r.error)}`);
  return r.data;
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'ts_client_1';
  const created = must('create', await client.POST('/api/v1/snapshots', {
    body: { name, labels: { reason: 'tsc' } },
  }));
  const page = must('list', await client.GET('/api/v1/snapshots', { params: { query: { limit: 10 } } }));
  const latest = must('latest', await client.GET('/api/v1/snapshots/latest'));
  const preview = must('preview', await client.POST('/api/v1/snapshots/{name}/restore/preview', {
    params: { path: { name } },
    body: {},
  }));
  const applied = must('restore', await client.POST('/api/v1/snapshots/{name}/restore', {
    params: { path: { name }, header: { 'Idempotency-Key': `ts-${name}` } },
    body: { confirm_token: preview.confirm_token },
  }));
  const results: string[] = applied.files.map(f => f.result);
  console.log(JSON.stringify({
    created: created.name,
    pinned: created.pinned,
    listed: page.snapshots.map(s => s.name),
    total: page.total_count,
    latest: latest.name,
    preview_files: preview.files.length,
    safety: applied.safety_snapshot,
    results,
  }));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
