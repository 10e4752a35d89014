/**
 * Lease throughput of a real usage-server child process on loopback: renewals per second with
 * p50/p99 latency (target >= 5,000/s, p99 <= 25 ms), and acquire+release pairs per second, on the
 * SQLite store and on PostgreSQL in the same run (with the ratio).
 *
 * Client and server share this machine's cores, so wall-clock rates move with the load; the same
 * client loop therefore also measures GET /v1/health (the cheapest route) and the figures include
 * the ratio renewals/health and the server's own CPU time per request (all its threads, from
 * /proc/PID/task/TID/schedstat), which do not depend on how busy the machine is.
 *
 * USAGE_SERVER_BENCH_CPU_PROF=DIR writes a V8 CPU profile of the server process into DIR.
 */
import { Pool } from 'undici';
import { ensurePostgres } from '../test/helpers/postgres.js';
import { startServer } from '../test/helpers/server.js';
import { call, loadAverage1m, loop, round, withServerCpu } from './_server.js';

const AGENTS = 50;
const CONCURRENCY = 32;
const SECONDS = 5;

/** Both stores in one run, SQLite first, then PostgreSQL (a throwaway cluster unless PG* name one). */
export default async function serverLeases(): Promise<object> {
  const sqlite = await measure('sqlite');
  const pg = await ensurePostgres();
  let postgres: Awaited<ReturnType<typeof measure>>;
  try {
    postgres = await measure('postgres');
  } finally {
    pg.stop();
  }
  return {
    sqlite,
    postgres,
    postgresVsSqlite: {
      renewals: round(postgres.renewalsPerSecond / sqlite.renewalsPerSecond, 3),
      pairs: round(postgres.acquireReleasePairsPerSecond / sqlite.acquireReleasePairsPerSecond, 3),
    },
    meetsTarget: sqlite.meetsTarget && postgres.meetsTarget,
  };
}

async function measure(store: 'sqlite' | 'postgres') {
  const prof = process.env.USAGE_SERVER_BENCH_CPU_PROF;
  const srv = await startServer({
    store,
    products: [{ id: 'bench', seats: 100_000 }],
    config: { leases: { ttlSeconds: 900, sweepIntervalSeconds: 5 }, log: { level: 'info' } },
    nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
  });
  const loadBefore = loadAverage1m();
  const pool = new Pool(srv.url, { connections: 32, pipelining: 1 });
  try {
    const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => srv.enroll(`bench-${i}`)));
    const leases = await Promise.all(
      agents.map(async (a, i) => {
        const r = await call(
          pool,
          'POST',
          '/v1/leases',
          a.agentToken,
          JSON.stringify({ product: 'bench', user: `u${i}`, host: a.host, pid: i, processStart: '2024-05-01T00:00:00Z', requestId: `r${i}` }),
        );
        if (r.status !== 201) throw new Error(`acquire failed ${r.status}`);
        return { token: a.agentToken, id: r.json.leaseId as string };
      }),
    );
    // Baseline: the cheapest request (GET /v1/health) under the same client loop shows what this
    // machine's HTTP stack and the client itself allow, to compare the lease figures against.
    const health = () =>
      loop(CONCURRENCY, 2, async () => {
        const r = await pool.request({ method: 'GET', path: '/v1/health' });
        await r.body.text();
      });
    await health(); // warm-up
    const baseline = await withServerCpu(srv.pid(), health);
    // Warm up, then measure renewals.
    await loop(CONCURRENCY, 1, async (w) => void (await call(pool, 'POST', `/v1/leases/${leases[w % AGENTS].id}/renew`, leases[w % AGENTS].token)));
    let bad = 0;
    const renew = await withServerCpu(srv.pid(), () =>
      loop(CONCURRENCY, SECONDS, async (w) => {
        const l = leases[w % AGENTS];
        const r = await call(pool, 'POST', `/v1/leases/${l.id}/renew`, l.token);
        if (r.status !== 200) bad++;
      }),
    );
    const pairs = await withServerCpu(srv.pid(), () =>
      loop(CONCURRENCY, SECONDS, async (w, i) => {
        const a = agents[w % AGENTS];
        const r = await call(
          pool,
          'POST',
          '/v1/leases',
          a.agentToken,
          JSON.stringify({
            product: 'bench',
            user: `pair-${w}`,
            host: a.host,
            pid: 100_000 + w,
            processStart: '2024-05-01T00:00:00Z',
            requestId: `p-${w}-${i}`,
          }),
        );
        if (r.status !== 201) {
          bad++;
          return;
        }
        const d = await call(pool, 'DELETE', `/v1/leases/${r.json.leaseId}`, a.agentToken);
        if (d.status !== 204) bad++;
      }),
    );
    return {
      renewalsPerSecond: renew.perSecond,
      renewP50Ms: renew.p50Ms,
      renewP99Ms: renew.p99Ms,
      renewVsHealthBaseline: round(renew.perSecond / baseline.perSecond, 3),
      serverCpuUsPerRenewal: renew.serverCpuUsPerOp,
      serverCpuShareDuringRenewals: renew.serverCpuShare,
      acquireReleasePairsPerSecond: pairs.perSecond,
      pairP50Ms: pairs.p50Ms,
      pairP99Ms: pairs.p99Ms,
      serverCpuUsPerPair: pairs.serverCpuUsPerOp,
      failedRequests: bad,
      httpBaselinePerSecond: baseline.perSecond,
      serverCpuUsPerHealth: baseline.serverCpuUsPerOp,
      loadavg1m: { before: loadBefore, after: loadAverage1m() },
      concurrency: CONCURRENCY,
      seconds: SECONDS,
      target: { renewalsPerSecond: 5000, renewP99Ms: 25 },
      meetsTarget: renew.perSecond >= 5000 && renew.p99Ms <= 25 && bad === 0,
    };
  } finally {
    await pool.close();
    await srv.cleanup();
  }
}
