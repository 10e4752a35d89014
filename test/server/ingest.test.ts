/**
 * Ingest on a real server: multi-row inserts at and around their chunk size keep every column,
 * overlaps across chunk boundaries are never stored twice, extra fields survive whatever their
 * names, the JSON parser keeps fastify's prototype-poisoning protection, the batch limit and the
 * error list, and the per-type counters.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startServer, type TestAgent, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startServer({ config: { limits: { maxRecordsPerBatch: 40 } } });
});
after(async () => {
  await srv.cleanup();
});

const T = '2024-05-01T08:00:00.000Z';
const TYPES = ['process', 'process-interval', 'break', 'work', 'input-events', 'usage-event', 'notification'] as const;

/** Record `seq` of a fixed cycle of types, with values derived from seq so every row is distinct. */
function rec(seq: number): Record<string, unknown> {
  const type = TYPES[seq % TYPES.length];
  const base = { seq, type, time: T, host: `ws-${seq}` };
  switch (type) {
    case 'process':
      return {
        ...base,
        user: 'ann',
        uid: seq,
        group: 'staff',
        gid: 20,
        pid: 1000 + seq,
        ppid: 1,
        command: `cad --n ${seq}`,
        exe: '/opt/cad',
        start: '2024-05-01T10:00:00+02:00',
        end: T,
        elapsedSeconds: seq / 4,
        cpuUserSeconds: 1.5,
        cpuSystemSeconds: 0.5,
        avgRssBytes: 100,
        maxRssBytes: 200,
        avgVirtualBytes: 300,
        readBytes: 1,
        writeBytes: 2,
        exitCode: seq % 3,
        source: 'pacct',
        package: 'cadsuite',
        packageVersion: `2.${seq}`,
        packageSource: 'dpkg',
      };
    case 'process-interval':
      return {
        ...base,
        user: 'bob',
        pid: 2000 + seq,
        command: 'gis',
        intervalStart: '2024-05-01T07:59:00Z',
        intervalEnd: T,
        cpuSeconds: seq / 8,
        avgRssBytes: null,
      };
    case 'usage-event':
      return {
        ...base,
        code: (seq % 30) + 1,
        product: 'cad',
        user: 'ann',
        pid: seq,
        processStart: T,
        leaseId: `ls_${seq}`,
        reason: null,
        offline: seq % 2 === 0,
      };
    case 'notification':
      return { ...base, message: `note ${seq}` };
    default:
      return {
        ...base,
        user: 'ann',
        application: 'cad',
        start: T,
        end: T,
        durationSeconds: seq,
        breakType: type === 'break' ? 'short' : null,
        keyboard: seq,
        mouse: 2,
        switch: 3,
      };
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
const seqsIn = async (table: string, agentId: string) =>
  (await srv.sql<{ seq: number }>(`SELECT seq FROM ${table} WHERE agent_id = ? AND seq IS NOT NULL ORDER BY seq`, agentId)).map((r) => r.seq);

test('batches of 1, 9, 10, 11 and 40 mixed records: every record once, in its table, every column', async () => {
  const a = await srv.enroll('ingest-chunks');
  let next = 1;
  for (const size of [1, 9, 10, 11, 40, 3]) {
    const r = await a.post('/v1/events', { records: range(next, next + size - 1) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ackedThroughSeq: next + size - 1, stored: size, duplicates: 0 });
    next += size;
  }
  const last = next - 1;
  const expectSeqs = (types: readonly string[]) =>
    range(1, last)
      .filter((x) => types.includes(x.type as string))
      .map((x) => x.seq);
  assert.deepEqual(await seqsIn('process_records', a.agentId), expectSeqs(['process', 'process-interval']));
  assert.deepEqual(await seqsIn('activity_records', a.agentId), expectSeqs(['break', 'work', 'input-events']));
  assert.deepEqual(await seqsIn('usage_events', a.agentId), expectSeqs(['usage-event']));
  assert.deepEqual(await seqsIn('other_records', a.agentId), expectSeqs(['notification']));

  // Column by column for one record of each table, taken from the middle of a 40-record batch.
  const [p] = await srv.sql('SELECT * FROM process_records WHERE agent_id = ? AND seq = 42', a.agentId);
  assert.deepEqual(
    { ...p },
    {
      agent_id: a.agentId,
      seq: 42,
      type: 'process',
      time: T,
      host: 'ws-42',
      user: 'ann',
      uid: 42,
      grp: 'staff',
      gid: 20,
      pid: 1042,
      ppid: 1,
      command: 'cad --n 42',
      exe: '/opt/cad',
      start: '2024-05-01T08:00:00.000Z',
      end: T,
      elapsed_seconds: 10.5,
      cpu_user_seconds: 1.5,
      cpu_system_seconds: 0.5,
      avg_rss_bytes: 100,
      max_rss_bytes: 200,
      avg_virtual_bytes: 300,
      read_bytes: 1,
      write_bytes: 2,
      exit_code: 0,
      source: 'pacct',
      interval_start: null,
      interval_end: null,
      cpu_seconds: null,
      package: 'cadsuite',
      package_version: '2.42',
      package_source: 'dpkg',
      extra: null,
    },
  );
  const [pi] = await srv.sql('SELECT * FROM process_records WHERE agent_id = ? AND seq = 43', a.agentId);
  assert.deepEqual(
    [pi.type, pi.user, pi.pid, pi.interval_start, pi.interval_end, pi.cpu_seconds, pi.avg_rss_bytes, pi.extra],
    ['process-interval', 'bob', 2043, '2024-05-01T07:59:00Z', T, 43 / 8, null, null],
  );
  const [act] = await srv.sql('SELECT * FROM activity_records WHERE agent_id = ? AND seq = 44', a.agentId);
  assert.deepEqual(
    { ...act },
    {
      agent_id: a.agentId,
      seq: 44,
      type: 'break',
      time: T,
      host: 'ws-44',
      user: 'ann',
      application: 'cad',
      start: T,
      end: T,
      duration_seconds: 44,
      break_type: 'short',
      period_type: null,
      keyboard: 44,
      mouse: 2,
      switch_count: 3,
      extra: null,
    },
  );
  const [ev] = await srv.sql("SELECT * FROM usage_events_named WHERE agent_id = ? AND seq = 47 AND origin = 'agent'", a.agentId);
  assert.deepEqual(
    [ev.time, ev.code, ev.event_name, ev.product, ev.user, ev.host, ev.pid, ev.process_start, ev.lease_id, ev.reason, ev.offline, ev.extra],
    [T, 18, 'info', 'cad', 'ann', 'ws-47', 47, T, 'ls_47', null, 0, null],
  );
  const [other] = await srv.sql('SELECT * FROM other_records WHERE agent_id = ? AND seq = 48', a.agentId);
  assert.deepEqual([other.type, other.time, other.host, JSON.parse(other.data)], ['notification', T, 'ws-48', rec(48)]);
});

test('an overlap across chunk boundaries is counted as duplicates and stored once', async () => {
  const a = await srv.enroll('ingest-overlap');
  assert.equal((await a.post('/v1/events', { records: range(1, 25) })).body.ackedThroughSeq, 25);
  const r = await a.post('/v1/events', { records: [...range(18, 40), rec(21), rec(39)] });
  assert.deepEqual(r.body, { ackedThroughSeq: 40, stored: 15, duplicates: 10 });
  const all = (await Promise.all(['process_records', 'activity_records', 'usage_events', 'other_records'].map((t) => seqsIn(t, a.agentId))))
    .flat()
    .sort((x, y) => x - y);
  assert.deepEqual(
    all,
    range(1, 40).map((x) => x.seq),
  );
});

test('fields without a column are kept in extra whatever their names; times are converted to UTC', async () => {
  const a = await srv.enroll('ingest-extra');
  const r = await a.post('/v1/events', {
    records: [
      { seq: 1, type: 'process', time: '2024-05-01T10:00:00+02:00', pid: 1, constructor: 'x', toString: 2, hasOwnProperty: { a: [1] } },
      { seq: 2, type: 'usage-event', time: T, code: 3, product: 'cad', throughSeq: 2, valueOf: null },
      { seq: 3, type: 'work', time: T, user: 'ann', futureField: { nested: true } },
    ],
  });
  assert.equal(r.status, 200, r.text);
  const [p] = await srv.sql('SELECT time, extra FROM process_records WHERE agent_id = ?', a.agentId);
  assert.equal(p.time, T);
  assert.deepEqual(JSON.parse(p.extra), { constructor: 'x', toString: 2, hasOwnProperty: { a: [1] } });
  const [ev] = await srv.sql("SELECT extra FROM usage_events WHERE agent_id = ? AND origin = 'agent'", a.agentId);
  assert.deepEqual(JSON.parse(ev.extra), { throughSeq: 2, valueOf: null });
  const [w] = await srv.sql('SELECT extra FROM activity_records WHERE agent_id = ?', a.agentId);
  assert.deepEqual(JSON.parse(w.extra), { futureField: { nested: true } });
});

test("JSON bodies: fastify's poisoning protection holds on both paths; BOM and \\u escapes parse", async () => {
  const a = await srv.enroll('ingest-json');
  const post = (raw: string) => srv.request('POST', '/v1/events', { token: a.agentToken, raw, headers: { 'content-type': 'application/json' } });
  for (const raw of [
    '{"records":[{"seq":1,"type":"x","time":"' + T + '","__proto__":{"polluted":1}}]}',
    '{"records":[{"seq":1,"type":"x","time":"' + T + '","\\u005f_proto__":{"polluted":1}}]}',
    '{"records":[{"seq":1,"type":"x","time":"' + T + '","constructor":{"prototype":{"polluted":1}}}]}',
    '{"records":[{"seq":1,"type":"x","time":"' + T + '","constructor":{"\\u0070rototype":{"polluted":1}}}]}',
    '{"records":[{"seq":1,"type":"x"',
  ]) {
    const r = await post(raw);
    assert.equal(r.status, 400, raw);
    assert.equal(r.body.code, 'invalid-json', raw);
  }
  assert.equal((await a.get('/v1/events/ack')).body.ackedThroughSeq, 0);
  // A byte-order mark (fastify's parser drops it), then \u escapes and a "prototype" value (the careful path).
  const bom = await post('\uFEFF{"records":[{"seq":1,"type":"process","time":"' + T + '","command":"plain"}]}');
  assert.equal(bom.status, 200, bom.text);
  const ok = await post('{"records":[{"seq":2,"type":"process","time":"' + T + '","command":"caf\\u00e9 \\"quoted\\"","user":"prototype-user"}]}');
  assert.equal(ok.status, 200, ok.text);
  const rows = await srv.sql('SELECT command, "user" FROM process_records WHERE agent_id = ? ORDER BY seq', a.agentId);
  assert.deepEqual(
    rows.map((p) => [p.command, p.user]),
    [
      ['plain', null],
      ['café "quoted"', 'prototype-user'],
    ],
  );
});

test('the batch limit and the error list; nothing of a refused batch is stored', async () => {
  const a: TestAgent = await srv.enroll('ingest-limits');
  const big = await a.post('/v1/events', { records: range(1, 41) });
  assert.equal(big.status, 400);
  assert.equal(big.body.field, '/records');
  const bad = range(1, 30).map((r) => ({ ...r, type: 'process', pid: 'x' }));
  const r = await a.post('/v1/events', { records: bad });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'validation-failed');
  assert.equal(r.body.errors.length, 20);
  assert.deepEqual(
    r.body.errors.slice(0, 2).map((e: { field: string }) => e.field),
    ['/records/0/pid', '/records/1/pid'],
  );
  const mixed = await a.post('/v1/events', { records: [rec(1), rec(2), { ...rec(3), time: 'noon' }] });
  assert.equal(mixed.status, 400);
  assert.equal(mixed.body.field, '/records/2/time');
  assert.equal((await a.get('/v1/events/ack')).body.ackedThroughSeq, 0);
  assert.equal((await seqsIn('process_records', a.agentId)).length, 0);
});

test('per-type counters count what was stored; accepted batches and gaps are counted apart', async () => {
  const metric = async (type: string) => {
    const text = (await srv.request('GET', '/metrics')).text;
    const m = new RegExp(`^usage_server_ingest_records_total\\{type="${type}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const counter = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await srv.request('GET', '/metrics')).text)?.[1] ?? 0);
  const batches = () => Promise.all(['usage_server_ingest_batches_total', 'usage_server_ingest_gaps_total'].map(counter));
  const before = await Promise.all(['process', 'notification', 'other'].map(metric));
  const batchesBefore = await batches();
  const a = await srv.enroll('ingest-metrics');
  const records = [rec(1), rec(7), rec(8), rec(13), rec(14), { seq: 6, type: 'x-custom', time: T }].map((r, i) => ({ ...r, seq: i + 1 }));
  assert.equal((await a.post('/v1/events', { records })).body.stored, 6);
  const afterCounts = await Promise.all(['process', 'notification', 'other'].map(metric));
  // rec(7), rec(14): process; rec(13): notification; x-custom: other.
  assert.deepEqual(
    afterCounts.map((n, i) => n - before[i]),
    [2, 1, 1],
  );
  // A batch beyond a hole (seq 9 after 6): refused as a gap, counted as one, not as an accepted batch.
  const gap = await a.post('/v1/events', { records: [{ ...rec(1), seq: 9 }] });
  assert.equal(gap.status, 409, gap.text);
  const batchesAfter = await batches();
  assert.deepEqual(
    batchesAfter.map((n, i) => n - batchesBefore[i]),
    [1, 1],
  );
});

test('text with tabs, newlines, backslashes and \\N is stored exactly; a row already stored above the acknowledged seq is kept and stored once', async () => {
  const a = await srv.enroll('ingest-awkward');
  const awkward = ['tab\there', 'line\nbreak\r\nend', 'back\\slash \\N \\t', '\\', 'naïve 日本 😀', ''];
  // Seq 3 is in the table already, written some other way than ingest (the agent has acknowledged nothing).
  const preset = [a.agentId, 3, 'process', T, 4242];
  const insert = 'INSERT INTO process_records (agent_id, seq, type, time, pid) VALUES (?, ?, ?, ?, ?)';
  if (srv.store === 'postgres') await srv.sql(insert, ...preset);
  else {
    const d = new Database(srv.dbPath);
    try {
      d.prepare(insert).run(...preset);
    } finally {
      d.close();
    }
  }
  const records = awkward.map((command, i) => ({ seq: i + 1, type: 'process', time: T, pid: i + 1, command, exe: command, user: command }));
  const r = await a.post('/v1/events', { records });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.ackedThroughSeq, awkward.length);
  const rows = await srv.sql<{ seq: number; pid: number; command: string | null; exe: string | null; user: string | null }>(
    'SELECT seq, pid, command, exe, "user" FROM process_records WHERE agent_id = ? ORDER BY seq',
    a.agentId,
  );
  assert.deepEqual(
    rows.map((x) => [x.seq, x.pid, x.command, x.exe, x.user]),
    awkward.map((s, i) => (i === 2 ? [3, 4242, null, null, null] : [i + 1, i + 1, s, s, s])),
  );
});

test('U+0000 in uploaded text is stored as U+FFFD in both stores (PostgreSQL text cannot hold it), and stays \\u0000 in extra', async () => {
  const a = await srv.enroll('ingest-nul');
  const r = await a.post('/v1/events', {
    records: [
      { seq: 1, type: 'process', time: T, host: 'h\u0000', pid: 1, command: 'a\u0000b', odd: 'x\u0000' },
      { seq: 2, type: 'fut\u0000ure', time: T },
    ],
  });
  assert.equal(r.status, 200, r.text);
  const [p] = await srv.sql('SELECT host, command, extra FROM process_records WHERE agent_id = ?', a.agentId);
  assert.deepEqual([p.host, p.command, JSON.parse(p.extra)], ['h\uFFFD', 'a\uFFFDb', { odd: 'x\u0000' }]);
  const [o] = await srv.sql('SELECT type FROM other_records WHERE agent_id = ?', a.agentId);
  assert.equal(o.type, 'fut\uFFFDure');
  // Enrollment refuses it with a 400 naming the field (a host name is never meant to hold it).
  const e = await srv.request('POST', '/v1/enroll', { body: { enrollSecret: srv.enrollSecret, host: 'ws\u0000' } });
  assert.equal(e.status, 400, e.text);
  assert.equal(e.body.field, '/host');
});
