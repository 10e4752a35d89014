/**
 * One process of simulated agents for the fleet benchmark (bench/fleet.ts), speaking the real
 * protocol to real usage-servers: enroll once, take a lease, then on a schedule with jitter renew
 * it every TTL/3, upload a journal batch of realistic records every upload interval, and poll the
 * policy with ETag; some program restarts (release + acquire) with queueing and denials on scarce
 * products. Open loop: requests go out when they are due whether or not earlier ones have been
 * answered, so "achieved" can fall behind "offered". Driven by the parent over IPC.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export type Kind = 'enroll' | 'acquire' | 'renew' | 'upload' | 'policy' | 'release';
export const KINDS: readonly Kind[] = ['enroll', 'acquire', 'renew', 'upload', 'policy', 'release'];

export interface SetupMessage {
  cmd: 'setup';
  urls: string[];
  first: number;
  count: number;
  enrollSecret: string;
  /** Products: most with plenty of seats, a few scarce ones (queueing and denials). */
  products: Array<{ id: string; scarce: boolean }>;
}
export interface RunMessage {
  cmd: 'run';
  seconds: number;
  periodSeconds: number;
  recordsPerUpload: number;
  /** Share of renewals that are a program restart instead (release, then acquire again). */
  restartShare: number;
}
export interface KindStats {
  offered: number;
  achieved: number;
  errors: number;
  latMs: number[];
  maxMs: number;
}
export type Stats = Record<Kind, KindStats>;

interface SimAgent {
  token: string;
  host: string;
  user: string;
  server: number;
  product: string;
  leaseId: string | undefined;
  pid: number;
  seq: number;
  etag: string | undefined;
}

const emptyStats = (): Stats => Object.fromEntries(KINDS.map((k) => [k, { offered: 0, achieved: 0, errors: 0, latMs: [], maxMs: 0 }])) as unknown as Stats;

let pools: Pool[] = [];
let agents: SimAgent[] = [];
let products: SetupMessage['products'] = [];
let errorSamples: string[] = [];

async function request(
  server: number,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  token: string | undefined,
  body?: string,
  headers: Record<string, string> = {},
) {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await pools[server].request({ method, path, headers: h, body });
  const text = await r.body.text();
  return { status: r.statusCode, text, etag: r.headers.etag as string | undefined };
}

/** While a run goes: per second since its start, the slowest answer that came in that second (ms). */
let slowest: number[] | undefined;
let runStart = 0;

async function timed(stats: Stats, kind: Kind, fn: () => Promise<boolean>): Promise<void> {
  const s = stats[kind];
  s.offered++;
  const t0 = performance.now();
  try {
    if (await fn()) {
      s.achieved++;
      const t1 = performance.now();
      s.latMs.push(t1 - t0);
      if (slowest) {
        const sec = Math.floor((t1 - runStart) / 1000);
        slowest[sec] = Math.max(slowest[sec] ?? 0, t1 - t0);
      }
    } else s.errors++;
  } catch (err) {
    s.errors++;
    if (errorSamples.length < 5) errorSamples.push(`${kind}: ${(err as Error).message}`);
  }
}

const note = (kind: Kind, status: number, text: string) => {
  if (errorSamples.length < 5) errorSamples.push(`${kind}: ${status} ${text.slice(0, 200)}`);
  return false;
};

async function acquire(stats: Stats, a: SimAgent, now: number): Promise<void> {
  a.pid++;
  await timed(stats, 'acquire', async () => {
    const body = JSON.stringify({
      product: a.product,
      user: a.user,
      host: a.host,
      pid: a.pid,
      processStart: new Date(now).toISOString(),
      requestId: `${a.host}-${a.pid}`,
      queue: true,
    });
    const r = await request(a.server, 'POST', '/v1/leases', a.token, body);
    if (r.status === 201) {
      a.leaseId = (JSON.parse(r.text) as { leaseId: string }).leaseId;
      return true;
    }
    if (r.status === 202) {
      // Queued for a scarce product: this simulated user does not wait.
      const t = (JSON.parse(r.text) as { ticket: string }).ticket;
      const d = await request(a.server, 'DELETE', `/v1/queue/${t}`, a.token);
      a.leaseId = undefined;
      return d.status === 204 || note('acquire', d.status, d.text);
    }
    if (r.status === 409) {
      a.leaseId = undefined;
      return true; // a denial is an answer
    }
    return note('acquire', r.status, r.text);
  });
}

/** ~50 records of an agent's 5 minutes: process intervals, processes, input counts, a work and a break period. */
function batch(a: SimAgent, n: number, now: number): string {
  const parts: string[] = [];
  const t = new Date(now).toISOString();
  const start = new Date(now - 300_000).toISOString();
  for (let i = 0; i < n; i++) {
    const seq = ++a.seq;
    const k = i % 10;
    if (k < 6) {
      parts.push(
        `{"seq":${seq},"type":"process-interval","time":"${t}","host":"${a.host}","user":"${a.user}","uid":1000,"group":"staff","gid":20,"pid":${2000 + i},"ppid":1,"command":"proc${i}","exe":"/usr/bin/proc${i}","start":"${start}","end":"${t}","elapsedSeconds":300,"cpuUserSeconds":1.25,"cpuSystemSeconds":0.5,"avgRssBytes":73400320,"maxRssBytes":104857600,"avgVirtualBytes":429496729,"readBytes":1048576,"writeBytes":52428,"exitCode":null,"source":"ps","intervalStart":"${start}","intervalEnd":"${t}","cpuSeconds":1.75}`,
      );
    } else if (k < 8) {
      parts.push(
        `{"seq":${seq},"type":"process","time":"${t}","host":"${a.host}","user":"${a.user}","uid":1000,"group":"staff","gid":20,"pid":${3000 + i},"ppid":1,"command":"tool${i}","exe":"/usr/bin/tool${i}","start":"${start}","end":"${t}","elapsedSeconds":42.5,"cpuUserSeconds":0.25,"cpuSystemSeconds":0.125,"avgRssBytes":20971520,"maxRssBytes":31457280,"avgVirtualBytes":209715200,"readBytes":65536,"writeBytes":4096,"exitCode":0,"source":"both"}`,
      );
    } else if (k === 8) {
      parts.push(
        `{"seq":${seq},"type":"input-events","time":"${t}","host":"${a.host}","user":"${a.user}","application":"/opt/cad/bin/cad","start":"${start}","end":"${t}","keyboard":312,"mouse":877,"switch":4}`,
      );
    } else {
      parts.push(
        `{"seq":${seq},"type":"work","time":"${t}","host":"${a.host}","user":"${a.user}","start":"${start}","end":"${t}","durationSeconds":300,"periodType":"uninterrupted","keyboard":312,"mouse":877}`,
      );
    }
  }
  return `{"records":[${parts.join(',')}]}`;
}

async function setup(m: SetupMessage): Promise<object> {
  pools = m.urls.map((u) => new Pool(u, { connections: 48, pipelining: 1, keepAliveTimeout: 60_000 }));
  products = m.products;
  const stats = emptyStats();
  agents = [];
  const t0 = performance.now();
  let next = 0;
  const plenty = products.filter((p) => !p.scarce);
  const scarce = products.filter((p) => p.scarce);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = next++; i < m.count; i = next++) {
        const id = m.first + i;
        const host = `ws-${id}`;
        // One in 50 agents runs a scarce product: the queue and denials.
        const product = id % 50 === 0 ? scarce[id % scarce.length].id : plenty[id % plenty.length].id;
        const a: SimAgent = {
          token: '',
          host,
          user: `user${id}`,
          server: id % m.urls.length,
          product,
          leaseId: undefined,
          pid: 10_000,
          seq: 0,
          etag: undefined,
        };
        await timed(stats, 'enroll', async () => {
          const r = await request(
            a.server,
            'POST',
            '/v1/enroll',
            undefined,
            JSON.stringify({ enrollSecret: m.enrollSecret, host, agentVersion: 'fleet-sim', os: 'Linux 6.1' }),
          );
          if (r.status !== 201) return note('enroll', r.status, r.text);
          a.token = (JSON.parse(r.text) as { agentToken: string }).agentToken;
          return true;
        });
        if (!a.token) continue;
        // As a real agent does at start: fetch the policy (later polls send its ETag), take the lease.
        const p = await request(a.server, 'GET', '/v1/policy', a.token);
        if (p.status === 200) a.etag = p.etag;
        await acquire(stats, a, Date.now());
        agents[i] = a;
      }
    }),
  );
  return { stats: summarize(stats), seconds: (performance.now() - t0) / 1000, agents: agents.filter(Boolean).length, errorSamples };
}

/** Every agent's three periodic requests at its own phase in the period, each with ±5 % jitter. */
async function run(m: RunMessage): Promise<object> {
  errorSamples = [];
  const stats = emptyStats();
  const events: Array<{ at: number; agent: number; kind: 'renew' | 'upload' | 'policy' }> = [];
  const periodMs = m.periodSeconds * 1000;
  const endMs = m.seconds * 1000;
  agents.forEach((a, i) => {
    if (!a) return;
    for (const kind of ['renew', 'upload', 'policy'] as const) {
      // Jitter moves each occurrence by up to ±5 % of the period, so the periods before and after
      // the run reach into it too, and each instant gets the same load. (Clamping the early ones to
      // the start instead fired ~2.5 % of all of them at once, 7,500 requests at 100,000 agents.)
      const phase = Math.random() * periodMs;
      for (let at = phase - periodMs; at < endMs + periodMs; at += periodMs) {
        const t = at + (Math.random() - 0.5) * 0.1 * periodMs;
        if (t >= 0 && t < endMs) events.push({ at: t, agent: i, kind });
      }
    }
  });
  events.sort((x, y) => x.at - y.at);
  const t0 = performance.now();
  slowest = [];
  runStart = t0;
  const inflight = new Set<Promise<void>>();
  const fire = (e: (typeof events)[number]) => {
    const a = agents[e.agent];
    const now = Date.now();
    let p: Promise<void>;
    if (e.kind === 'renew') {
      if (!a.leaseId || Math.random() < m.restartShare) {
        // A program restart (or a user without a lease trying again): release, then acquire.
        const old = a.leaseId;
        p = (async () => {
          if (old) {
            await timed(stats, 'release', async () => {
              const r = await request(a.server, 'DELETE', `/v1/leases/${old}?reason=quit`, a.token);
              return r.status === 204 || note('release', r.status, r.text);
            });
          }
          await acquire(stats, a, now);
        })();
      } else {
        p = timed(stats, 'renew', async () => {
          const r = await request(a.server, 'POST', `/v1/leases/${a.leaseId}/renew`, a.token);
          return r.status === 200 || note('renew', r.status, r.text);
        });
      }
    } else if (e.kind === 'upload') {
      const body = batch(a, m.recordsPerUpload, now);
      p = timed(stats, 'upload', async () => {
        const r = await request(a.server, 'POST', '/v1/events', a.token, body);
        return r.status === 200 || note('upload', r.status, r.text);
      });
    } else {
      p = timed(stats, 'policy', async () => {
        const r = await request(a.server, 'GET', '/v1/policy', a.token, undefined, a.etag ? { 'if-none-match': a.etag } : {});
        if (r.status === 200) a.etag = r.etag;
        return r.status === 200 || r.status === 304 || note('policy', r.status, r.text);
      });
    }
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  let i = 0;
  let maxInflight = 0;
  while (i < events.length) {
    const elapsed = performance.now() - t0;
    while (i < events.length && events[i].at <= elapsed) fire(events[i++]);
    maxInflight = Math.max(maxInflight, inflight.size);
    const wait = i < events.length ? Math.min(50, Math.max(1, events[i].at - (performance.now() - t0))) : 0;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  const slowestMs = Array.from(slowest, (x) => Math.round(x ?? 0));
  slowest = undefined;
  return { stats: summarize(stats), seconds: (performance.now() - t0) / 1000, maxInflight, errorSamples, slowestMs };
}

/** Counts and latencies, latencies thinned to at most 20,000 samples per kind for the parent. */
function summarize(stats: Stats): Stats {
  for (const k of KINDS) {
    const l = stats[k].latMs;
    stats[k].maxMs = l.reduce((m, x) => Math.max(m, x), 0);
    if (l.length > 20_000) {
      const step = l.length / 20_000;
      stats[k].latMs = Array.from({ length: 20_000 }, (_, j) => l[Math.floor(j * step)]);
    }
  }
  return stats;
}

process.on('message', (m: SetupMessage | RunMessage | { cmd: 'exit' }) => {
  const done = (r: object) => process.send!(r);
  if (m.cmd === 'setup') void setup(m).then(done, (err: Error) => done({ error: err.stack }));
  else if (m.cmd === 'run') void run(m).then(done, (err: Error) => done({ error: err.stack }));
  else void Promise.all(pools.map((p) => p.close())).finally(() => process.exit(0));
});
