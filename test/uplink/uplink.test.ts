import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal } from '../../src/journal/journal.js';
import { UplinkClient } from '../../src/uplink/client.js';
import { credentialsPath } from '../../src/uplink/credentials.js';
import { Uploader } from '../../src/uplink/uploader.js';
import { startServer, TEST_ENROLL_SECRET, type TestServer } from '../helpers/server.js';
import { startFaultProxy } from './fault-proxy.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'uplink-test-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function server(t: { after(fn: () => Promise<void>): void }, products: Array<Record<string, unknown> & { id: string }> = []): Promise<TestServer> {
  const srv = await startServer({ products });
  t.after(() => srv.cleanup());
  return srv;
}

function client(url: string, dataDir: string, journal?: Journal, timeoutMs = 2000): UplinkClient {
  return new UplinkClient({
    url,
    enrollSecret: TEST_ENROLL_SECRET,
    requestTimeoutMs: timeoutMs,
    dataDir,
    hostname: 'ws-test',
    nextSeq: () => (journal ? journal.ackedThroughSeq() + 1 : 1),
  });
}

/** What the server stored for one agent: seq -> the record's `n` field (records of type test-rec). */
function serverRecords(srv: TestServer, agentId: string): Array<{ seq: number; n: number }> {
  return srv
    .query<{ seq: number; data: string }>("SELECT seq, data FROM other_records WHERE agent_id = ? AND type = 'test-rec' ORDER BY seq", agentId)
    .map((r) => ({ seq: r.seq, n: (JSON.parse(r.data) as { n: number }).n }));
}

test('enrolls once, keeps credentials 0600, fetches policy with ETag and caches it on disk', async (t) => {
  const srv = await server(t, [{ id: 'cad', seats: 2, match: { executables: ['cad'], paths: [] } }]);
  const dir = tmp(t);
  const proxy = await startFaultProxy(
    () => srv.url,
    () => true,
  );
  t.after(() => proxy.close());
  const c = client(proxy.url, dir);
  t.after(() => c.close());
  const p1 = await c.fetchPolicy();
  assert.equal(p1?.products[0]?.id, 'cad');
  assert.equal(statSync(credentialsPath(dir)).mode & 0o777, 0o600);
  const creds = JSON.parse(readFileSync(credentialsPath(dir), 'utf8')) as { agentId: string };
  assert.equal(creds.agentId, c.agentId);
  const p2 = await c.fetchPolicy();
  assert.equal(p2?.version, p1?.version);
  const policyCalls = proxy.log.filter((l) => l.path === '/v1/policy');
  assert.deepEqual(
    policyCalls.map((l) => l.status),
    [200, 304],
  );
  assert.equal(policyCalls[1]!.headers['if-none-match'], `"${p1!.version}"`.replace(/^""/, '"'));
  assert.equal(proxy.log.filter((l) => l.path === '/v1/enroll').length, 1);

  // A new client on the same data dir: same identity, and it knows the policy before any request.
  const c2 = client(proxy.url, dir);
  t.after(() => c2.close());
  assert.equal(c2.agentId, c.agentId);
  assert.equal(c2.policy()?.version, p1?.version);
  assert.equal(proxy.log.filter((l) => l.path === '/v1/enroll').length, 1);
});

test('a revoked token makes the agent enroll again and carry on from its next seq', async (t) => {
  const srv = await server(t);
  const dir = tmp(t);
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const c = client(srv.url, dir, journal);
  t.after(() => c.close());
  const up = new Uploader(journal, c, { batchSize: 10, intervalMs: 50, maxBackoffMs: 100, hostname: 'ws-test' });
  for (let n = 1; n <= 15; n++) journal.append({ type: 'test-rec', time: new Date().toISOString(), n });
  journal.flush();
  while ((await up.uploadOnce()) === 'more');
  const first = c.agentId!;
  assert.equal(journal.ackedThroughSeq(), 15);
  const r = await srv.cli('agents', 'revoke', first);
  assert.equal(r.code, 0, r.stderr);
  for (let n = 16; n <= 20; n++) journal.append({ type: 'test-rec', time: new Date().toISOString(), n });
  journal.flush();
  while ((await up.uploadOnce()) === 'more');
  assert.notEqual(c.agentId, first);
  assert.equal(journal.ackedThroughSeq(), 20);
  assert.deepEqual(
    serverRecords(srv, first).map((x) => x.n),
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
  assert.deepEqual(
    serverRecords(srv, c.agentId!),
    Array.from({ length: 5 }, (_, i) => ({ seq: 16 + i, n: 16 + i })),
  );
});

test('500, 503 Retry-After, timeouts, connection closed mid-body, malformed JSON: retried, nothing lost or duplicated', async (t) => {
  const srv = await server(t);
  const dir = tmp(t);
  const proxy = await startFaultProxy(
    () => srv.url,
    (p) => p === '/v1/events',
  );
  t.after(() => proxy.close());
  proxy.plan = ['500', 'hang', 'pass', 'close-mid-body', 'malformed', '503-retry-after', 'down', 'pass', 'hang', 'malformed', 'close-mid-body'];
  const planned = [...proxy.plan];
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const c = client(proxy.url, dir, journal, 400);
  t.after(() => c.close());
  const up = new Uploader(journal, c, { batchSize: 100, intervalMs: 20, maxBackoffMs: 50, baseBackoffMs: 10, hostname: 'ws-test' });
  const total = 1500;
  for (let n = 1; n <= total; n++) journal.append({ type: 'test-rec', time: new Date(Date.UTC(2024, 4, 1, 0, 0, n)).toISOString(), n });
  journal.flush();
  up.start();
  t.after(() => up.stop());
  assert.equal(await up.drained(60_000), true, 'upload drained');
  await up.stop();
  assert.deepEqual(proxy.applied.slice(0, planned.length), planned, 'every fault was injected');
  assert.ok(up.stats.retries >= planned.filter((f) => f !== 'pass').length);
  assert.ok(up.stats.duplicates > 0, 'batches whose answer was lost were sent again and counted as duplicates');
  const stored = serverRecords(srv, c.agentId!);
  assert.equal(stored.length, total);
  assert.deepEqual(
    stored,
    Array.from({ length: total }, (_, i) => ({ seq: i + 1, n: i + 1 })),
  );
  assert.equal(journal.stats().records, 0, 'acknowledged records are deleted from the journal');
});
