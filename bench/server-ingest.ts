/**
 * Upload ingest of a real usage-server child process on loopback: records per second stored with
 * 500-record batches of process records (target >= 50,000/s). Several agents upload in parallel,
 * each one batch at a time (as the agent's uplink does: the next batch follows the ack).
 */
import { Pool } from 'undici';
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

export default async function serverIngest(): Promise<object> {
  const srv = await startServer({ config: { log: { level: 'info' } } });
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
    const [{ n }] = srv.query<{ n: number }>('SELECT count(*) AS n FROM process_records');
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
