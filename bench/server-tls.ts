/**
 * usage-server over TLS: lease renewals over HTTPS with keep-alive beside the same loop over plain
 * HTTP, in one run (target: TLS >= 80 % of the plain rate), and full TLS handshakes per second
 * (no session resumption: the reconnect storm of every agent after a server restart) with an
 * ECDSA P-256 and an RSA 2048 certificate. Certificates are made by openssl.
 *
 * Client and server share this machine's cores, so the plain and TLS loops run in ABBA rounds of
 * 1-s slices (plain, TLS; TLS, plain; ...) after a warm-up of both; the ratio is the median of the
 * rounds' ratios, the other figures are summed over each side's slices; the server's own CPU time
 * per operation is given too.
 *
 * USAGE_SERVER_BENCH_TLS_ROUNDS: rounds (default 9; keep it odd).
 * USAGE_SERVER_BENCH_NODE / USAGE_SERVER_BENCH_CLI: run the servers on another Node (e.g. the
 * runtime the packages bundle, with its OpenSSL) from another tree; both sides of a comparison run
 * on it. The figures name the servers' Node and OpenSSL.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { connect } from 'node:tls';
import { Pool } from 'undici';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { makePki, type Pki } from '../test/helpers/tls.js';
import { call, loadAverage1m, loop, percentile, processCpuNs, round, withServerCpu } from './_server.js';

const AGENTS = 50;
const CONCURRENCY = 32;
/** ABBA rounds of one slice a side; the ratio is the median of the rounds' (odd, so one round's). */
const ROUNDS = Number(process.env.USAGE_SERVER_BENCH_TLS_ROUNDS ?? 9);
const SLICE = 1;
const WARMUP_ROUNDS = 3;
const HANDSHAKE_SECONDS = 3;
const HANDSHAKE_CONCURRENCY = 8;
const SERVER_NODE = process.env.USAGE_SERVER_BENCH_NODE;
/** How the servers are started: this Node and tree, or the ones named in the environment. */
const RUNTIME = SERVER_NODE
  ? {
      node: SERVER_NODE,
      nodeArgs: ['--preserve-symlinks', '--preserve-symlinks-main'],
      ...(process.env.USAGE_SERVER_BENCH_CLI ? { cli: process.env.USAGE_SERVER_BENCH_CLI } : {}),
    }
  : {};
const serverRuntime = () => {
  const [node, openssl] = execFileSync(SERVER_NODE ?? process.execPath, ['-p', "process.version + ' ' + process.versions.openssl"], { encoding: 'utf8' })
    .trim()
    .split(' ');
  return { node, openssl };
};

export default async function serverTls(): Promise<object> {
  const cleanups: Array<() => void> = [];
  const pki = makePki({ after: (fn) => cleanups.push(fn) });
  try {
    const renewals = await renewalsTlsVsPlain(pki);
    const handshakes = {
      ecdsaP256: await handshakesPerSecond(pki, 'ec'),
      rsa2048: await handshakesPerSecond(pki, 'rsa'),
    };
    return {
      serverRuntime: serverRuntime(),
      renewals,
      handshakes,
      rsaVsEcdsaHandshakes: round(handshakes.rsa2048.perSecond / handshakes.ecdsaP256.perSecond, 3),
      target: { tlsVsPlainRenewals: 0.8 },
      meetsTarget: renewals.tlsVsPlain >= 0.8 && renewals.failedRequests === 0,
    };
  } finally {
    for (const fn of cleanups) fn();
  }
}

async function leaseServer(pki: Pki, tls: boolean): Promise<{ srv: TestServer; pool: Pool; leases: Array<{ token: string; id: string }> }> {
  const ca = pki.ca(`ca-${tls ? 'tls' : 'plain'}`);
  const cert = pki.issue(ca, `server-${tls ? 'tls' : 'plain'}`, { ips: ['127.0.0.1'] });
  const srv = await startServer({
    products: [{ id: 'bench', seats: 100_000 }],
    config: {
      leases: { ttlSeconds: 900, sweepIntervalSeconds: 5 },
      log: { level: 'warn' },
      ...(tls ? { tls: { certFile: cert.cert, keyFile: cert.key } } : {}),
    },
    ...(tls ? { https: { ca: ca.pem } } : {}),
    ...RUNTIME,
  });
  const pool = new Pool(srv.url, { connections: CONCURRENCY, pipelining: 1, ...(tls ? { connect: { ca: ca.pem } } : {}) });
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
  return { srv, pool, leases };
}

async function renewalsTlsVsPlain(pki: Pki) {
  const plain = await leaseServer(pki, false);
  const tls = await leaseServer(pki, true);
  const loadBefore = loadAverage1m();
  let bad = 0;
  const renewLoop = (s: typeof plain, seconds: number) =>
    withServerCpu(s.srv.pid(), () =>
      loop(CONCURRENCY, seconds, async (w) => {
        const l = s.leases[w % AGENTS];
        const r = await call(s.pool, 'POST', `/v1/leases/${l.id}/renew`, l.token);
        if (r.status !== 200) bad++;
      }),
    );
  try {
    // Warm-up in alternating slices: connections open (handshakes done), JIT and heaps settled on
    // both. One second each was not enough: the first two measured pairs of slices of two nearly
    // identical TLS servers then ran 0.82x and 0.76x, the six after them 0.87-1.03x.
    for (let w = 0; w < WARMUP_ROUNDS; w++) {
      await renewLoop(plain, SLICE);
      await renewLoop(tls, SLICE);
    }
    bad = 0;
    const sides = { plain: { ops: 0, seconds: 0, cpuUs: 0, p99: [] as number[] }, tls: { ops: 0, seconds: 0, cpuUs: 0, p99: [] as number[] } };
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['plain', 'tls'] as const) : (['tls', 'plain'] as const);
      const rate = { plain: 0, tls: 0 };
      for (const name of order) {
        const t0 = performance.now();
        const m = await renewLoop(name === 'tls' ? tls : plain, SLICE);
        const seconds = (performance.now() - t0) / 1000;
        const side = sides[name];
        side.ops += m.ops;
        side.seconds += seconds;
        side.cpuUs += m.serverCpuUsPerOp * m.ops;
        side.p99.push(m.p99Ms);
        rate[name] = m.ops / seconds;
      }
      ratios.push(rate.tls / rate.plain);
    }
    ratios.sort((a, b) => a - b);
    const fig = (s: typeof sides.plain) => ({
      renewalsPerSecond: round(s.ops / s.seconds, 0),
      serverCpuUsPerRenewal: round(s.cpuUs / s.ops, 1),
      worstSliceP99Ms: Math.max(...s.p99),
    });
    const p = fig(sides.plain);
    const t = fig(sides.tls);
    return {
      plain: p,
      tls: t,
      // The median of the rounds' ratios (two neighbouring slices each, ABBA): this shared
      // machine's speed changes within seconds, so the ratio of the totals moves with whichever
      // side a slow spell hit (two identical servers' totals ran 0.87-1.14x apart).
      tlsVsPlain: round(percentile(ratios, 50), 3),
      tlsVsPlainTotals: round(t.renewalsPerSecond / p.renewalsPerSecond, 3),
      roundRatios: ratios.map((x) => round(x, 3)),
      serverCpuTlsVsPlain: round(t.serverCpuUsPerRenewal / p.serverCpuUsPerRenewal, 3),
      failedRequests: bad,
      concurrency: CONCURRENCY,
      keepAliveConnections: CONCURRENCY,
      secondsPerSide: round(ROUNDS * SLICE, 1),
      loadavg1m: { before: loadBefore, after: loadAverage1m() },
    };
  } finally {
    for (const s of [plain, tls]) {
      await s.pool.close();
      await s.srv.cleanup();
    }
  }
}

/** New TCP connection + full handshake (TLS 1.3, no resumption) + close, on HANDSHAKE_CONCURRENCY loops. */
async function handshakesPerSecond(pki: Pki, keyType: 'ec' | 'rsa') {
  const ca = pki.ca(`hs-ca-${keyType}`, keyType);
  const cert = pki.issue(ca, `hs-${keyType}`, { ips: ['127.0.0.1'], keyType });
  const srv = await startServer({ config: { log: { level: 'warn' }, tls: { certFile: cert.cert, keyFile: cert.key } }, https: { ca: ca.pem }, ...RUNTIME });
  let failed = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: srv.port, ca: ca.pem }, () => {
        s.destroy();
        resolve();
      });
      s.on('error', () => {
        failed++;
        resolve();
      });
    });
  try {
    await loop(HANDSHAKE_CONCURRENCY, 0.5, once); // warm-up
    const c0 = processCpuNs(srv.pid());
    const r = await loop(HANDSHAKE_CONCURRENCY, HANDSHAKE_SECONDS, once);
    const cpuUs = (processCpuNs(srv.pid()) - c0) / 1000;
    return {
      perSecond: r.perSecond,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      serverCpuUsPerHandshake: round(cpuUs / r.ops, 1),
      failed,
      protocol: 'TLSv1.3',
      seconds: HANDSHAKE_SECONDS,
      concurrency: HANDSHAKE_CONCURRENCY,
    };
  } finally {
    await srv.cleanup();
  }
}
