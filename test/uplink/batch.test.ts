/**
 * Upload bodies are assembled by SQLite from the stored JSON text (UPLOAD_BATCH_SQL, src/journal/upload.ts): what the real
 * usage-server stores must be exactly the journal's records, with the uploader's host added only
 * where a record has no top-level host of its own, and bodies must respect maxBodyBytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal, type NewRecord } from '../../src/journal/journal.js';
import { UplinkClient } from '../../src/uplink/client.js';
import { Uploader } from '../../src/uplink/uploader.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { startFaultProxy } from './fault-proxy.js';

async function setup(t: { after(fn: () => unknown): void }, records: NewRecord[], maxBodyBytes?: number) {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'uplink-batch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proxy = await startFaultProxy(
    () => srv.url,
    () => true,
  );
  t.after(() => proxy.close());
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const client = new UplinkClient({
    url: proxy.url,
    enrollSecret: TEST_ENROLL_SECRET,
    requestTimeoutMs: 5000,
    dataDir: dir,
    hostname: 'ws-test',
    nextSeq: () => journal.ackedThroughSeq() + 1,
  });
  t.after(() => client.close());
  const up = new Uploader(journal, client, {
    batchSize: 1000,
    intervalMs: 50,
    maxBackoffMs: 100,
    hostname: 'ws-test',
    ...(maxBodyBytes ? { maxBodyBytes } : {}),
  });
  for (const r of records) journal.append(r);
  journal.flush();
  let rounds = 0;
  for (let r = await up.uploadOnce(); r !== 'idle'; r = await up.uploadOnce()) {
    assert.notEqual(r, 'retry', 'no upload fails');
    assert.ok(++rounds < 1000);
  }
  const stored = srv
    .query<{ seq: number; type: string; time: string; host: string; data: string }>(
      'SELECT seq, type, time, host, data FROM other_records WHERE agent_id = ? ORDER BY seq',
      client.agentId,
    )
    .map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  const uploads = proxy.log.filter((l) => l.path === '/v1/events');
  return { journal, stored, uploads };
}

const T = '2024-05-01T10:00:00.000Z';

test('upload bodies: stored fields sent verbatim; host added only when the record has no top-level host', async (t) => {
  const records: NewRecord[] = [
    { type: 'test-rec', time: T, host: 'own-host', n: 1 },
    { type: 'test-rec', time: T, n: 2, meta: { host: 'nested' } },
    { type: 'test-rec', time: T, n: 3, note: 'looks like {"host":"fake"} but is a string' },
    { type: 'test-rec', time: T, n: 4, host: 'late-host' },
    { type: 'test-rec', time: T },
    { type: 'test-rec', time: T, n: 6, 'a"host': 'key ending in host', text: 'ünïcödé \u2028 "quoted" \\ back' },
    { type: 'test-rec', time: T, n: 7, host: '' },
  ];
  const { journal, stored } = await setup(t, records);
  assert.equal(journal.ackedThroughSeq(), records.length);
  assert.deepEqual(
    stored.map((r) => r.host),
    ['own-host', 'ws-test', 'ws-test', 'late-host', 'ws-test', 'ws-test', ''],
  );
  for (let i = 0; i < records.length; i++) {
    const { type, time, ...fields } = records[i]!;
    const r = stored[i]!;
    assert.equal(r.seq, i + 1);
    assert.equal(r.type, type);
    assert.equal(r.time, time);
    // What the server received is the journal record plus seq (and host where it had none).
    assert.deepEqual(r.data, { seq: i + 1, type, time, ...('host' in fields ? {} : { host: 'ws-test' }), ...fields });
  }
});

test('upload bodies stay under maxBodyBytes (a record larger than that goes alone), in order, each record once', async (t) => {
  const records: NewRecord[] = [];
  for (let n = 1; n <= 60; n++) records.push({ type: 'test-rec', time: T, host: 'h', n, pad: 'x'.repeat(n === 30 ? 5000 : 150) });
  const max = 2000;
  const { journal, stored, uploads } = await setup(t, records, max);
  assert.equal(journal.ackedThroughSeq(), 60);
  assert.deepEqual(
    stored.map((r) => r.data.n),
    records.map((r) => r.n),
  );
  assert.deepEqual(
    stored.map((r) => r.seq),
    records.map((_, i) => i + 1),
  );
  const sizes = uploads.map((u) => Number(u.headers['content-length']));
  assert.ok(
    sizes.every((s) => s > 0),
    'every body has a length',
  );
  assert.ok(uploads.length >= 7, `bodies were split (${uploads.length} uploads)`);
  assert.equal(sizes.filter((s) => s > max).length, 1, `only the one oversized record exceeds the cap: ${sizes.join(',')}`);
  assert.ok(
    sizes.some((s) => s > 5000),
    'the oversized record was sent',
  );
});
