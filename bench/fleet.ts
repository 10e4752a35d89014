/**
 * Fleet load test (like Fleet's osquery-perf): simulated agents speaking the real protocol
 * (bench/fleet/agents.ts, in FLEET_WORKERS processes) against (a) one usage-server on SQLite and
 * (b) two usage-servers on one PostgreSQL database, all on this machine. Steady load per agent,
 * each with its own phase and ±5 % jitter: renew its lease every 300 s (TTL 900 s / 3), upload a
 * journal batch of ~50 realistic records every 300 s, poll the policy (ETag) every 300 s; 2 % of
 * renewals are program restarts (release + acquire; 1 agent in 50 uses a scarce product: queueing
 * and denials). 100,000 agents make ~1,000 requests/s and ~16,700 records/s.
 *
 * Reported per setup and agent count: offered and achieved requests/s by kind, p50/p99/max
 * latency, errors, server CPU per request and in cores, server RSS, database CPU (PostgreSQL),
 * database growth per agent-day; and the largest agent count held within the targets: 0 errors,
 * achieved = offered, p99 <= 200 ms, and (a) server CPU <= 1 core.
 *
 * FLEET_AGENTS (default 100000) or FLEET_LEVELS=50000,100000,200000; FLEET_SECONDS (default 180);
 * FLEET_WORKERS (default 2); FLEET_SETUPS=sqlite,postgres; FLEET_CPU_PROF=DIR writes the servers' V8 CPU profiles.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ensurePostgres } from '../test/helpers/postgres.js';
import { queryStore, startServer, TEST_ENROLL_SECRET, type TestServer } from '../test/helpers/server.js';
import { percentile, processCpuNs, round, loadAverage1m } from './_server.js';
import { KINDS, type Kind, type RunMessage, type SetupMessage, type Stats } from './fleet/agents.js';

const here = dirname(fileURLToPath(import.meta.url));
const PERIOD_SECONDS = 300;
const RECORDS_PER_UPLOAD = 50;
const P99_TARGET_MS = 200;

const PRODUCTS = [
  ...Array.from({ length: 195 }, (_, i) => ({ id: `app${String(i).padStart(3, '0')}`, seats: 100_000, scarce: false })),
  ...Array.from({ length: 5 }, (_, i) => ({ id: `scarce${i}`, seats: 20, scarce: true })),
];

function ask<T>(w: ChildProcess, m: SetupMessage | RunMessage): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', (r: T & { error?: string }) => (r.error ? reject(new Error(r.error)) : resolve(r)));
    w.send(m);
  });
}

/** CPU so far of every postgres process on this machine, by pid (the benchmark's cluster is the only busy one). */
function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') out.set(Number(pid), processCpuNs(Number(pid)));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU spent between two readings: per pid, so a backend that ended in between does not count negative. */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ns = 0;
  for (const [pid, cpu] of after) ns += cpu - (before.get(pid) ?? 0);
  return ns;
}

/** [second, slowest ms] for each second of the run in which some answer took longer than the p99 target. */
function slowSeconds(perWorker: number[][]): Array<[number, number]> {
  const n = Math.max(0, ...perWorker.map((w) => w.length));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const ms = Math.max(0, ...perWorker.map((w) => w[i] ?? 0));
    if (ms > P99_TARGET_MS) out.push([i, ms]);
  }
  return out;
}

function rssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : NaN;
  } catch {
    return NaN;
  }
}

async function dbBytes(srv: TestServer): Promise<number> {
  if (srv.store === 'postgres') return (await queryStore<{ n: number }>(srv.db, 'SELECT pg_database_size(current_database()) AS n'))[0].n;
  let n = 0;
  for (const f of [srv.dbPath, `${srv.dbPath}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {
      /* no WAL */
    }
  }
  return n;
}

/** The servers' own request-duration histogram (all routes), bucket upper bound (s) -> cumulative count. */
async function serverHistogram(servers: TestServer[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const srv of servers) {
    const r = await srv.request<string>('GET', '/metrics');
    for (const m of r.text.matchAll(/^usage_server_http_request_duration_seconds_bucket\{([^}]*)\} (\d+)$/gm)) {
      if (/route="\/metrics"/.test(m[1])) continue;
      const le = /le="([^"]+)"/.exec(m[1])![1];
      const k = le === '+Inf' ? Infinity : Number(le);
      out.set(k, (out.get(k) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

/** A counter of the servers' /metrics, summed over its label sets and the servers. */
async function serverCounter(servers: TestServer[], name: string): Promise<number> {
  let n = 0;
  for (const srv of servers) {
    const r = await srv.request<string>('GET', '/metrics');
    for (const m of r.text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))) n += Number(m[1]);
  }
  return n;
}

/** The p-th percentile from two histogram readings, as the upper bound of the bucket it falls in (ms). */
function histogramPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const b of bounds) if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= (p / 100) * total) return b * 1000;
  return Infinity;
}

function merge(parts: Stats[]): Stats {
  const out = {} as Stats;
  for (const k of KINDS) {
    out[k] = { offered: 0, achieved: 0, errors: 0, latMs: [], maxMs: 0 };
    for (const p of parts) {
      out[k].offered += p[k].offered;
      out[k].achieved += p[k].achieved;
      out[k].errors += p[k].errors;
      out[k].maxMs = Math.max(out[k].maxMs, p[k].maxMs);
      for (const x of p[k].latMs) out[k].latMs.push(x);
    }
    out[k].latMs.sort((a, b) => a - b);
  }
  return out;
}

function byKind(s: Stats, seconds: number, kinds: readonly Kind[]) {
  return Object.fromEntries(
    kinds
      .filter((k) => s[k].offered > 0)
      .map((k) => [
        k,
        {
          offeredPerSecond: round(s[k].offered / seconds, 1),
          achievedPerSecond: round(s[k].achieved / seconds, 1),
          errors: s[k].errors,
          p50Ms: round(percentile(s[k].latMs, 50), 1),
          p99Ms: round(percentile(s[k].latMs, 99), 1),
          maxMs: round(s[k].maxMs, 1),
        },
      ]),
  );
}

async function level(store: 'sqlite' | 'postgres', agents: number, seconds: number, workersN: number) {
  const config = {
    leases: { ttlSeconds: 900, sweepIntervalSeconds: 5 },
    queue: { keepaliveSeconds: 60, maxWaitSeconds: 30 },
    enrollment: { rateLimit: { enabled: false } },
    postgres: { poolSize: 20 },
    log: { level: 'warn' },
  };
  const products = PRODUCTS.map(({ id, seats }) => ({ id, seats, match: { executables: [`${id}.exe`], paths: [] } }));
  const prof = process.env.FLEET_CPU_PROF;
  const nodeArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const first = await startServer({ store, products, config, nodeArgs });
  const servers = [first];
  if (store === 'postgres') servers.push(await startServer({ products, config, db: first.db, nodeArgs }));
  const workers = Array.from({ length: workersN }, () => fork(join(here, 'fleet', 'agents.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const per = Math.ceil(agents / workersN);
    const setups = await Promise.all(
      workers.map((w, i) =>
        ask<{ stats: Stats; seconds: number; agents: number; errorSamples: string[] }>(w, {
          cmd: 'setup',
          urls: servers.map((s) => s.url),
          first: i * per,
          count: Math.min(per, agents - i * per),
          enrollSecret: TEST_ENROLL_SECRET,
          products: PRODUCTS.map((p) => ({ id: p.id, scarce: p.scarce })),
        }),
      ),
    );
    const setupStats = merge(setups.map((s) => s.stats));
    const setupSeconds = Math.max(...setups.map((s) => s.seconds));

    const hist0 = await serverHistogram(servers);
    const batches0 = await serverCounter(servers, 'usage_server_ingest_batches_total');
    const grouped0 = await serverCounter(servers, 'usage_server_ingest_grouped_batches_total');
    const bytes0 = await dbBytes(first);
    const cpu0 = servers.map((s) => processCpuNs(s.pid()));
    const pg0 = store === 'postgres' ? postgresCpu() : new Map<number, number>();
    const load0 = loadAverage1m();
    const t0 = performance.now();
    const runs = await Promise.all(
      workers.map((w) =>
        ask<{ stats: Stats; seconds: number; maxInflight: number; errorSamples: string[]; slowestMs: number[] }>(w, {
          cmd: 'run',
          seconds,
          periodSeconds: PERIOD_SECONDS,
          recordsPerUpload: RECORDS_PER_UPLOAD,
          restartShare: 0.02,
        }),
      ),
    );
    const wallNs = (performance.now() - t0) * 1e6;
    const serverCpuNs = servers.reduce((sum, s, i) => sum + processCpuNs(s.pid()) - cpu0[i], 0);
    const pgCpuNs = store === 'postgres' ? cpuBetween(pg0, postgresCpu()) : 0;
    const bytes1 = await dbBytes(first);
    const hist1 = await serverHistogram(servers);
    const batches1 = await serverCounter(servers, 'usage_server_ingest_batches_total');
    const grouped1 = await serverCounter(servers, 'usage_server_ingest_grouped_batches_total');
    const s = merge(runs.map((r) => r.stats));
    const requests = KINDS.reduce((n, k) => n + s[k].achieved, 0);
    const offered = KINDS.reduce((n, k) => n + s[k].offered, 0);
    const errors = KINDS.reduce((n, k) => n + s[k].errors, 0);
    const steadyKinds: Kind[] = ['renew', 'upload', 'policy', 'acquire', 'release'];
    const p99 = Math.max(...steadyKinds.filter((k) => s[k].latMs.length > 0).map((k) => percentile(s[k].latMs, 99)));
    const serverCores = serverCpuNs / wallNs;
    const meets = errors === 0 && requests === offered && p99 <= P99_TARGET_MS && (store === 'postgres' || serverCores <= 1);
    return {
      agents,
      servers: servers.length,
      setup: {
        seconds: round(setupSeconds, 1),
        enrollPerSecond: round(setupStats.enroll.achieved / setupSeconds, 0),
        ...byKind(setupStats, setupSeconds, ['enroll', 'acquire']),
      },
      seconds,
      offeredPerSecond: round(offered / seconds, 1),
      achievedPerSecond: round(requests / seconds, 1),
      errors,
      errorSamples: runs.flatMap((r) => r.errorSamples).slice(0, 5),
      byKind: byKind(s, seconds, steadyKinds),
      p99Ms: round(p99, 1),
      /** Time inside the servers (their own histogram, bucket upper bounds): apart from the client's queueing and the network. */
      serverSideMs: { p50: histogramPercentile(hist0, hist1, 50), p99: histogramPercentile(hist0, hist1, 99), p999: histogramPercentile(hist0, hist1, 99.9) },
      recordsPerSecond: round((s.upload.achieved * RECORDS_PER_UPLOAD) / seconds, 0),
      /** PostgreSQL: the share of uploads stored in a transaction with other agents' uploads (group ingest). */
      groupedUploadShare: store === 'postgres' ? round((grouped1 - grouped0) / Math.max(1, batches1 - batches0), 3) : undefined,
      serverCpuUsPerRequest: round(serverCpuNs / 1000 / requests, 1),
      serverCpuCores: round(serverCores, 3),
      databaseCpuUsPerRequest: store === 'postgres' ? round(pgCpuNs / 1000 / requests, 1) : undefined,
      databaseCpuCores: store === 'postgres' ? round(pgCpuNs / wallNs, 3) : undefined,
      serverRssMb: servers.map((x) => rssMb(x.pid())),
      databaseGrowthBytesPerAgentDay: round((bytes1 - bytes0) / (agents * (seconds / 86_400)), 0),
      maxInflight: Math.max(...runs.map((r) => r.maxInflight)),
      /** The seconds of the run whose slowest answer missed the p99 target, as [second, ms]: when the tail happened. */
      slowSeconds: slowSeconds(runs.map((r) => r.slowestMs)),
      loadavg1m: { before: load0, after: loadAverage1m() },
      meetsTargets: meets,
    };
  } finally {
    for (const w of workers) w.send({ cmd: 'exit' });
    for (const s of servers.slice(1)) await s.cleanup();
    await first.cleanup();
  }
}

export default async function fleet(): Promise<object> {
  const levels = (process.env.FLEET_LEVELS ?? process.env.FLEET_AGENTS ?? '100000').split(',').map(Number);
  const seconds = Number(process.env.FLEET_SECONDS ?? 180);
  const workers = Number(process.env.FLEET_WORKERS ?? 2);
  const setups = (process.env.FLEET_SETUPS ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>;
  const out: Record<string, unknown> = {
    periodSeconds: PERIOD_SECONDS,
    recordsPerUpload: RECORDS_PER_UPLOAD,
    targets: { errors: 0, achievedEqualsOffered: true, p99Ms: P99_TARGET_MS, sqliteServerCores: 1 },
  };
  for (const store of setups) {
    const pg = store === 'postgres' ? await ensurePostgres() : undefined;
    try {
      const runs = [];
      for (const n of levels) runs.push(await level(store, n, seconds, workers));
      out[store] = { runs, largestHeldWithinTargets: Math.max(0, ...runs.filter((r) => r.meetsTargets).map((r) => r.agents)) };
    } finally {
      pg?.stop();
    }
  }
  return out;
}
