/**
 * replay: 1,000,000 journal records (process-interval records of about 330 bytes) uploaded by the
 * agent's uplink to a real usage-server on loopback. The agent side runs in its own process so
 * its peak RSS is measured alone. Targets: <= 30 s, peak RSS <= 150 MB, with what ships: the
 * default server.uploadBatchSize (2000) and the service's node flags. The alternatives measured in
 * the same run: the largest batch the server accepts (5000) on the same 1M records, batches of 500
 * on 200,000 records, and the default batch with node's default heap settings. The agent runs with AGENT_NODE_FLAGS,
 * the V8 flags the service definitions ship (src/service/node-flags.ts). CPU per record: the
 * agent's own process.cpuUsage(), the server's /proc/PID/schedstat; /proc/loadavg says how busy
 * the machine was (wall-clock figures are unreliable on a shared machine).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { Journal } from '../src/journal/journal.js';
import { AGENT_NODE_FLAGS } from '../src/service/node-flags.js';
import { startServer } from '../test/helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));

function fill(dir: string, n: number): void {
  const j = Journal.open(join(dir, 'journal.db'), { maxBuffered: 1_000_000 });
  const base = Date.UTC(2024, 4, 1);
  for (let i = 0; i < n; i++) {
    const start = new Date(base + Math.floor(i / 50) * 3600_000).toISOString();
    const end = new Date(base + (Math.floor(i / 50) + 1) * 3600_000).toISOString();
    j.append({
      type: 'process-interval',
      time: end,
      host: 'ws-0042.corp.example',
      user: 'ann',
      uid: 1000,
      pid: 10000 + (i % 50),
      ppid: 1,
      command: 'cad',
      exe: '/opt/cad/bin/cad',
      start,
      intervalStart: start,
      intervalEnd: end,
      cpuSeconds: 12.5,
      avgRssBytes: 734003200,
      maxRssBytes: 1073741824,
      readBytes: 1048576,
      writeBytes: 4096,
      source: 'procfs',
    });
    if ((i + 1) % 100_000 === 0) j.flush();
  }
  j.close();
}

interface AgentResult {
  records: number;
  seconds: number;
  peakRssBytes: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  retries: number;
  acked: number;
  batches: number;
}

/** CPU time (ns) a process has run, from /proc/PID/schedstat (Linux); NaN elsewhere. */
function cpuNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

const loadavg = () => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    return null;
  }
};

/** The agent runs with the V8 flags the service definitions ship (src/service/node-flags.ts). */
async function run(
  n: number,
  batch: number,
  nodeFlags: readonly string[] = AGENT_NODE_FLAGS,
): Promise<AgentResult & { agentCpuUsPerRecord: number; serverCpuUsPerRecord: number; loadavg: string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-replay-'));
  const srv = await startServer();
  try {
    fill(dir, n);
    const server0 = cpuNs(srv.pid());
    const child = spawn(process.execPath, [...nodeFlags, join(here, '_replay-agent.js'), dir, srv.url, String(batch)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((r) => child.once('exit', r));
    const serverNs = cpuNs(srv.pid()) - server0;
    const res = JSON.parse(out.trim().split('\n').pop()!) as AgentResult;
    const stored = srv.query<{ n: number }>('SELECT count(*) AS n FROM process_records')[0]!.n;
    if (stored !== n || res.acked !== n) throw new Error(`server stored ${stored}, agent acked ${res.acked}, expected ${n}`);
    const us = (x: number) => Math.round((x / n) * 100) / 100;
    return {
      ...res,
      agentCpuUsPerRecord: us((res.cpuUserSeconds + res.cpuSystemSeconds) * 1e6),
      serverCpuUsPerRecord: us(serverNs / 1000),
      loadavg: loadavg(),
    };
  } finally {
    await srv.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function replay(): Promise<object> {
  const batch = loadConfig(undefined).server.uploadBatchSize;
  const main = await run(1_000_000, batch);
  const max = await run(1_000_000, 5000);
  const alt = await run(200_000, 500);
  const defaults = await run(1_000_000, batch, []);
  const rps = main.records / main.seconds;
  const altRps = alt.records / alt.seconds;
  return {
    records: main.records,
    seconds: Math.round(main.seconds * 100) / 100,
    peakRssBytes: main.peakRssBytes,
    recordsPerSecond: Math.round(rps),
    batchSize: batch,
    batches: main.batches,
    retries: main.retries,
    agentCpuUsPerRecord: main.agentCpuUsPerRecord,
    serverCpuUsPerRecord: main.serverCpuUsPerRecord,
    loadavg: main.loadavg,
    batch5000: {
      seconds: Math.round(max.seconds * 100) / 100,
      peakRssBytes: max.peakRssBytes,
      agentCpuUsPerRecord: max.agentCpuUsPerRecord,
      serverCpuUsPerRecord: max.serverCpuUsPerRecord,
    },
    alternative: {
      batchSize: 500,
      records: alt.records,
      seconds: Math.round(alt.seconds * 100) / 100,
      recordsPerSecond: Math.round(altRps),
      peakRssBytes: alt.peakRssBytes,
      agentCpuUsPerRecord: alt.agentCpuUsPerRecord,
      serverCpuUsPerRecord: alt.serverCpuUsPerRecord,
    },
    nodeFlags: AGENT_NODE_FLAGS.join(' '),
    withDefaultV8Flags: {
      seconds: Math.round(defaults.seconds * 100) / 100,
      peakRssBytes: defaults.peakRssBytes,
      agentCpuUsPerRecord: defaults.agentCpuUsPerRecord,
    },
    ratioVsBatch500: Math.round((rps / altRps) * 100) / 100,
    targets: { seconds: 30, peakRssBytes: 150 * 1024 * 1024 },
    met: { seconds: main.seconds <= 30, peakRssBytes: main.peakRssBytes <= 150 * 1024 * 1024 },
  };
}
