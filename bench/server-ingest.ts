/**
 * Upload ingest of a real usage-server child process on loopback: records per second stored with
 * 500-record batches of process records (target >= 50,000/s). Several agents upload in parallel,
 * each one batch at a time (as the agent's uplink does: the next batch follows the ack, which the
 * server sends once the commit is flushed to disk).
 *
 * `inProcess` splits the server's work per record into its stages, measured in this process with
 * process.cpuUsage() on the same batches, next to the alternatives: fastify's own JSON parser (two
 * regular-expression scans after JSON.parse) against the guarded one, and row-at-a-time INSERTs
 * against RECORD_INSERT_ROWS rows per statement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { checkUpload, ingest } from '../src/server/ingest.js';
import { guardedJsonParser } from '../src/server/json-body.js';
import { Metrics } from '../src/server/metrics.js';
import { openSqliteStore, RECORD_INSERT_ROWS, recordInsertSql } from '../src/server/storage/sqlite/store.js';
import { batchRows, RECORD_TABLES } from '../src/server/storage/records.js';
import { ensurePostgres } from '../test/helpers/postgres.js';
import { startServer } from '../test/helpers/server.js';
import { call, loadAverage1m, loop, round, withServerCpu } from './_server.js';

const BATCH = 500;
const AGENTS = 6;
const SECONDS = 5;

function record(seq: number): string {
  // A realistic process record (about 450 bytes of JSON).
  return `{"seq":${seq},"type":"process","time":"2024-05-01T08:00:00.000Z","host":"ws-0042.corp.example","user":"ann","uid":1000,"group":"staff","gid":20,"pid":${10000 + (seq % 50000)},"ppid":1,"command":"/opt/cad/bin/cad --project big","exe":"/opt/cad/bin/cad","start":"2024-05-01T07:00:00.000Z","end":"2024-05-01T08:00:00.000Z","elapsedSeconds":3600,"cpuUserSeconds":812.5,"cpuSystemSeconds":40.25,"avgRssBytes":734003200,"maxRssBytes":1073741824,"avgVirtualBytes":4294967296,"readBytes":104857600,"writeBytes":5242880,"exitCode":0,"source":"pacct"}`;
}

function body(from: number): string {
  const parts = new Array<string>(BATCH);
  for (let i = 0; i < BATCH; i++) parts[i] = record(from + i);
  return `{"records":[${parts.join(',')}]}`;
}

/**
 * CPU microseconds per record of each `fns[k](batch)` over `batches` batches (after a warm-up),
 * taken in turns batch by batch so that a busy machine slows every alternative alike.
 */
async function cpuPerRecord(batches: number, ...fns: Array<(b: number) => unknown>): Promise<number[]> {
  for (let b = 0; b < 10; b++) for (const fn of fns) await fn(b);
  const total = fns.map(() => 0);
  for (let b = 10; b < 10 + batches; b++) {
    for (let k = 0; k < fns.length; k++) {
      const c0 = process.cpuUsage();
      await fns[k](b);
      const c = process.cpuUsage(c0);
      total[k] += c.user + c.system;
    }
  }
  return total.map((us) => round(us / batches / BATCH, 2));
}

async function inProcess() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  const store = await openSqliteStore(join(dir, 'usage.db'));
  const db = store.db;
  try {
    const metrics = new Metrics();
    const N = 100;
    const texts = Array.from({ length: N + 10 }, (_, b) => body(1 + b * BATCH));
    type Done = (err: Error | null, value?: unknown) => void;
    const secure = Fastify().getDefaultJsonParser('error', 'error') as unknown as (req: unknown, body: string, done: Done) => void;
    const guarded = guardedJsonParser(secure as never) as unknown as (req: unknown, body: Buffer, done: Done) => void;
    // Both from the bytes received: the guarded parser decodes them itself (parseAs 'buffer'), fastify's
    // is given the text its 'string' mode would decode.
    const bytes = texts.map((t) => Buffer.from(t));
    const parse = <B>(p: (req: unknown, body: B, done: Done) => void, body: B): unknown => {
      let out: unknown;
      p(null, body, (err, v) => {
        if (err) throw err;
        out = v;
      });
      return out;
    };
    const bodies = bytes.map((b) => parse(guarded, b));
    const checked = bodies.map((b) => {
      const c = checkUpload(b);
      if (!c.ok) throw new Error(JSON.stringify(c.errors[0]));
      return c.upload;
    });
    const agent = async (name: string) => {
      await store.q.insertAgent({ id: name, host: 'bench', token_hash: name, agent_version: null, os: null, enrolled_at: '', last_seen_at: '', acked_seq: 0 });
      return name;
    };
    const a1 = await agent('ag_bench_ingest');
    // Row-at-a-time against multi-row statements: the same rows (as ingest lays them out), the bare
    // INSERTs in one transaction each.
    const width = RECORD_TABLES.process.columns.length;
    const insertWith = (perStatement: number, agentId: string) => {
      // Parameters prepared outside the measurement: only the statements' runs are timed.
      const chunks = checked.map((u) => {
        const values = batchRows(
          agentId,
          u.records,
          u.records.map((_, i) => i),
          u.hasExtra,
        ).tables.process.values;
        const out: unknown[][] = [];
        for (let i = 0; i < values.length; i += perStatement * width) out.push(values.slice(i, i + perStatement * width));
        return out;
      });
      const st = db.prepare(recordInsertSql('process', perStatement));
      return (b: number) =>
        db.transaction(() => {
          for (const params of chunks[b]) st.run(...params);
        })();
    };
    const [single, multi] = await cpuPerRecord(N, insertWith(1, await agent('ag_bench_single')), insertWith(RECORD_INSERT_ROWS, await agent('ag_bench_multi')));
    const [parseUs, fastifyParseUs] = await cpuPerRecord(
      N,
      (b) => parse(guarded, bytes[b]!),
      (b) => parse(secure, bytes[b]!.toString('utf8')),
    );
    const [checkUs] = await cpuPerRecord(N, (b) => checkUpload(bodies[b]));
    const [ingestUs] = await cpuPerRecord(N, (b) => ingest(store, metrics, a1, checked[b]));
    return {
      parseUsPerRecord: parseUs,
      fastifyDefaultParseUsPerRecord: fastifyParseUs,
      checkUsPerRecord: checkUs,
      ingestUsPerRecord: ingestUs,
      insertRowAtATimeUsPerRecord: single,
      [`insert${RECORD_INSERT_ROWS}RowsPerStatementUsPerRecord`]: multi,
      multiRowVsRowAtATime: round(multi / single, 2),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stage breakdown in this process (SQLite), then the end-to-end rate on SQLite and on PostgreSQL in the same run. */
export default async function serverIngest(): Promise<object> {
  const stages = await inProcess();
  const sqlite = await endToEnd('sqlite');
  const pg = await ensurePostgres();
  let postgres: Awaited<ReturnType<typeof endToEnd>>;
  try {
    postgres = await endToEnd('postgres');
  } finally {
    pg.stop();
  }
  return {
    sqlite,
    postgres,
    postgresVsSqlite: round(postgres.recordsPerSecond / sqlite.recordsPerSecond, 3),
    inProcess: stages,
    meetsTarget: sqlite.meetsTarget && postgres.meetsTarget,
  };
}

async function endToEnd(store: 'sqlite' | 'postgres') {
  const srv = await startServer({ store, config: { log: { level: 'info' } } });
  const loadBefore = loadAverage1m();
  const pool = new Pool(srv.url, { connections: AGENTS, pipelining: 1 });
  try {
    const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => srv.enroll(`ingest-${i}`)));
    const next = agents.map(() => 1);
    let bad = 0;
    const run = (seconds: number) =>
      loop(AGENTS, seconds, async (w) => {
        const r = await call(pool, 'POST', '/v1/events', agents[w].agentToken, body(next[w]));
        if (r.status !== 200) {
          bad++;
          return;
        }
        next[w] = r.json.ackedThroughSeq + 1;
      });
    const baseline = await loop(AGENTS, 2, async () => {
      const r = await pool.request({ method: 'GET', path: '/v1/health' });
      await r.body.text();
    });
    await run(1);
    const before = next.reduce((s, n) => s + n - 1, 0);
    const m = await withServerCpu(srv.pid(), () => run(SECONDS));
    const stored = next.reduce((s, n) => s + n - 1, 0) - before;
    const recordsPerSecond = round((m.ops * BATCH) / SECONDS, 0);
    const [{ n }] = await srv.sql<{ n: number }>('SELECT count(*) AS n FROM process_records');
    return {
      recordsPerSecond,
      batchesPerSecond: m.perSecond,
      batchSize: BATCH,
      batchP50Ms: m.p50Ms,
      batchP99Ms: m.p99Ms,
      serverCpuUsPerRecord: round(m.serverCpuUsPerOp / BATCH, 2),
      serverCpuShare: m.serverCpuShare,
      recordsStoredInRun: stored,
      recordsInDatabase: n,
      failedBatches: bad,
      httpBaselinePerSecond: baseline.perSecond,
      agents: AGENTS,
      loadavg1m: { before: loadBefore, after: loadAverage1m() },
      target: { recordsPerSecond: 50_000 },
      meetsTarget: recordsPerSecond >= 50_000 && bad === 0,
    };
  } finally {
    await pool.close();
    await srv.cleanup();
  }
}
