/**
 * Ingest with tamper evidence beside ingest without, in one run (target: >= 90 % of the rate
 * without). The same 500-record batches of process records, once from agents enrolled without a
 * chain head (the server stores them unverified) and once chained and MACed by agents enrolled
 * with one (the server checks every record's MAC and chain, as server/ingest.ts does).
 *
 * - endToEnd: a real usage-server child on loopback (SQLite), AGENTS agents uploading one batch at
 *   a time, the two kinds in alternating legs of equal work (ABBA rounds) so a busy machine slows
 *   both alike; the ratio is the median of the rounds'; bodies are made before the clock starts
 *   (the agent's cost is not the server's).
 *   INTEGRITY_AGENTS (default 4) and INTEGRITY_BATCHES (batches an agent uploads a leg, default 48)
 *   change the load.
 * - inProcess: CPU microseconds per record of ingest() on the same store, verified in line (from
 *   the bytes as sent, and from the parsed records) and not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { canonical, encode, GENESIS_CHAIN, nextChain, recordMac } from '../src/protocol/integrity.js';
import { checkUpload, ingest } from '../src/server/ingest.js';
import { Metrics } from '../src/server/metrics.js';
import { openSqliteStore } from '../src/server/storage/sqlite/store.js';
import { startServer } from '../test/helpers/server.js';
import { call, percentile, round } from './_server.js';

const BATCH = 500;
const AGENTS = Number(process.env.INTEGRITY_AGENTS ?? 4);
// 48 batches an agent: a leg of ~1 s (96,000 records). Legs of 12 (0.27 s at 90,000 records/s)
// weighed each leg's ramp and tail (its last batches, fewer agents still uploading) as much as its
// steady rate: their medians ran 0.84-0.91 where 1-s legs of the same code ran 0.90-0.96.
const BATCHES_PER_AGENT = Number(process.env.INTEGRITY_BATCHES ?? 48);
const ROUNDS = 9;

function record(seq: number): Record<string, unknown> {
  return {
    seq,
    type: 'process',
    time: '2024-05-01T08:00:00.000Z',
    host: 'ws-0042.corp.example',
    user: 'ann',
    uid: 1000,
    group: 'staff',
    gid: 20,
    pid: 10000 + (seq % 50000),
    ppid: 1,
    command: '/opt/cad/bin/cad --project big',
    exe: '/opt/cad/bin/cad',
    start: '2024-05-01T07:00:00.000Z',
    end: '2024-05-01T08:00:00.000Z',
    elapsedSeconds: 3600,
    cpuUserSeconds: 812.5,
    cpuSystemSeconds: 40.25,
    avgRssBytes: 734003200,
    maxRssBytes: 1073741824,
    avgVirtualBytes: 4294967296,
    readBytes: 104857600,
    writeBytes: 5242880,
    exitCode: 0,
    source: 'pacct',
  };
}

/** `batches` upload bodies of seqs 1.., chained and MACed with `key` when given. */
function bodies(batches: number, key: Buffer | undefined): string[] {
  let head = GENESIS_CHAIN;
  const out: string[] = [];
  let seq = 1;
  for (let b = 0; b < batches; b++) {
    const recs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < BATCH; i++, seq++) {
      const r = record(seq);
      if (key) {
        head = nextChain(head, canonical(r));
        r.chain = encode(head);
        r.mac = encode(recordMac(key, head));
      }
      recs.push(r);
    }
    out.push(JSON.stringify({ records: recs }));
  }
  return out;
}

async function endToEnd() {
  const srv = await startServer({ config: { log: { level: 'warn' } } });
  const pool = new Pool(srv.url, { connections: AGENTS, pipelining: 1 });
  try {
    const leg = async (verified: boolean) => {
      const agents = await Promise.all(
        Array.from({ length: AGENTS }, async (_, i) => {
          const r = await srv.request<{ agentToken: string; recordKey: string }>('POST', '/v1/enroll', {
            body: {
              enrollSecret: srv.enrollSecret,
              host: `bench-${verified ? 'v' : 'p'}-${i}-${Math.random().toString(36).slice(2, 6)}`,
              ...(verified ? { chainHead: encode(GENESIS_CHAIN) } : {}),
            },
          });
          if (r.status !== 201) throw new Error(`enroll: ${r.status} ${r.text}`);
          return { token: r.body.agentToken, bodies: bodies(BATCHES_PER_AGENT, verified ? Buffer.from(r.body.recordKey, 'base64url') : undefined) };
        }),
      );
      let bad = 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(
        agents.map(async (a) => {
          for (const b of a.bodies) {
            const r = await call(pool, 'POST', '/v1/events', a.token, b);
            if (r.status !== 200 || r.json.stored !== BATCH) bad++;
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return { records: AGENTS * BATCHES_PER_AGENT * BATCH, seconds, bad };
    };
    const totals = { plain: { records: 0, seconds: 0, bad: 0 }, verified: { records: 0, seconds: 0, bad: 0 } };
    const ratios: number[] = [];
    await leg(false); // warm-up, both paths
    await leg(true);
    for (let r = 0; r < ROUNDS; r++) {
      const order: Array<'plain' | 'verified'> = r % 2 === 0 ? ['plain', 'verified'] : ['verified', 'plain'];
      const rate = { plain: 0, verified: 0 };
      for (const kind of order) {
        const m = await leg(kind === 'verified');
        totals[kind].records += m.records;
        totals[kind].seconds += m.seconds;
        totals[kind].bad += m.bad;
        rate[kind] = m.records / m.seconds;
      }
      ratios.push(rate.verified / rate.plain);
    }
    ratios.sort((a, b) => a - b);
    const [{ n }] = await srv.sql<{ n: number }>('SELECT count(*) AS n FROM integrity_flags');
    const metrics = (await srv.request('GET', '/metrics')).text;
    const checked = (where: string) => Number(new RegExp(`^usage_server_integrity_batches_total\\{checked="${where}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    const plain = round(totals.plain.records / totals.plain.seconds, 0);
    const verified = round(totals.verified.records / totals.verified.seconds, 0);
    return {
      plainRecordsPerSecond: plain,
      verifiedRecordsPerSecond: verified,
      // The median of the rounds' ratios (two neighbouring legs each): this shared machine's speed
      // changes within seconds, so the ratio of the totals moves with whichever leg a slow spell hit.
      verifiedVsPlain: round(percentile(ratios, 50), 3),
      verifiedVsPlainTotals: round(verified / plain, 3),
      roundRatios: ratios.map((x) => round(x, 3)),
      failedBatches: totals.plain.bad + totals.verified.bad,
      integrityFlags: Number(n),
      batchesCheckedBy: { worker: checked('worker'), inline: checked('inline') },
    };
  } finally {
    await pool.close();
    await srv.cleanup();
  }
}

async function inProcess() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-integrity-'));
  const store = await openSqliteStore(join(dir, 'usage.db'));
  try {
    const metrics = new Metrics();
    const N = 60;
    const key = Buffer.alloc(32, 3);
    const upload = (text: string) => {
      const c = checkUpload(JSON.parse(text));
      if (!c.ok) throw new Error(JSON.stringify(c.errors[0]));
      return c.upload;
    };
    const plain = bodies(N, undefined).map(upload);
    const chainedTexts = bodies(N, key);
    const chained = chainedTexts.map(upload);
    const sent = chainedTexts.map((t) => Buffer.from(t));
    await store.q.insertAgent({ id: 'ag_plain', host: 'b', token_hash: 'p', agent_version: null, os: null, enrolled_at: '', last_seen_at: '', acked_seq: 0 });
    for (const id of ['ag_parsed', 'ag_as_sent'])
      await store.q.insertAgent({
        id,
        host: 'b',
        token_hash: id,
        agent_version: null,
        os: null,
        enrolled_at: '',
        last_seen_at: '',
        acked_seq: 0,
        record_key: key.toString('base64url'),
        chain_head: encode(GENESIS_CHAIN),
      });
    // Checked in line (as ingest does for batches the worker does not take): from the parsed
    // records, and from the bytes as sent (what the route hands over).
    const total = [0, 0, 0];
    for (let b = 0; b < N; b++) {
      // In turns, batch by batch.
      for (const [k, agent, batches, opts] of [
        [0, 'ag_plain', plain, {}],
        [1, 'ag_parsed', chained, {}],
        [2, 'ag_as_sent', chained, { sent: sent[b] }],
      ] as const) {
        const c0 = process.cpuUsage();
        await ingest(store, metrics, agent, batches[b]!, opts);
        const c = process.cpuUsage(c0);
        if (b >= 5) total[k] += c.user + c.system;
      }
    }
    const per = total.map((us) => round(us / (N - 5) / BATCH, 2));
    const flags = [...(await store.q.integrityFlags('ag_parsed')), ...(await store.q.integrityFlags('ag_as_sent'))];
    return {
      plainIngestUsPerRecord: per[0],
      verifiedIngestUsPerRecord: per[2],
      verificationUsPerRecord: round(per[2]! - per[0]!, 2),
      verificationFromParsedRecordsUsPerRecord: round(per[1]! - per[0]!, 2),
      flags: flags.length,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function integrity(): Promise<object> {
  const stages = await inProcess();
  const e2e = await endToEnd();
  return {
    endToEnd: e2e,
    inProcess: stages,
    target: { verifiedVsPlain: 0.9 },
    meetsTarget: e2e.verifiedVsPlain >= 0.9 && e2e.failedBatches === 0 && e2e.integrityFlags === 0 && stages.flags === 0,
  };
}
