/**
 * launch: from exec of a controlled program to its lease request reaching the usage-server,
 * p50/p95 over 200 launches, with the real daemon (`usage-agent run`: /proc launch watcher at
 * leases.launchPollMs = 500 ms, uplink, enforcer) and a real server on loopback. Then the daemon's
 * CPU while polling with 400 other processes running (process sampler set to 1 h so only the
 * launch poll is measured), at 500 ms and, for comparison, at 100 ms.
 * Targets: p95 <= 500 ms; CPU <= 0.5 % of a core at 400 processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../src/service/node-flags.js';
import { AGENT_BIN } from '../test/helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET, type TestServer } from '../test/helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HZ = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function startDaemon(dir: string, srv: TestServer, pollMs: number): Promise<ChildProcess> {
  const data = join(dir, `data-${pollMs}`);
  mkdirSync(data, { recursive: true });
  const cfg = join(dir, `config-${pollMs}.json`);
  writeFileSync(cfg, JSON.stringify({
    processes: { pacct: 'off', sampleIntervalMs: 3_600_000 },
    activity: { enabled: false },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET },
    leases: { launchPollMs: pollMs },
    log: { level: 'warn' },
  }));
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_BIN, 'run', '--config', cfg, '--data-dir', data], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Ready once the uplink enrolled (the agent row appears on the server).
  for (let i = 0; i < 400 && srv.query('SELECT 1 FROM agents').length < (pollMs === 500 ? 1 : 2); i++) await sleep(25);
  await sleep(1500);
  return child;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await done;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function cpuPercent(pid: number, seconds: number): Promise<number> {
  const a = cpuTicks(pid);
  await sleep(seconds * 1000);
  return Math.round((((cpuTicks(pid) - a) / HZ / seconds) * 100) * 1000) / 1000;
}

export default async function launch(): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-launch-'));
  const srv = await startServer({ products: [{ id: 'cad', seats: 10_000, match: { executables: [`cadbench-${process.pid}`], paths: [] }, leaseTtlSeconds: 900 }] });
  const others: ChildProcess[] = [];
  const daemons: ChildProcess[] = [];
  try {
    const d500 = await startDaemon(dir, srv, 500);
    daemons.push(d500);
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const bin = join(dir, `b${i}`);
      mkdirSync(bin);
      copyFileSync('/bin/sleep', join(bin, `cadbench-${process.pid}`));
      const t0 = Date.now();
      const prog = spawn(join(bin, `cadbench-${process.pid}`), ['60'], { stdio: 'ignore' });
      let row: { granted_at: number } | undefined;
      for (let k = 0; k < 1000 && !row; k++) {
        row = srv.query<{ granted_at: number }>('SELECT granted_at FROM leases WHERE pid = ?', prog.pid)[0];
        if (!row) await sleep(5);
      }
      prog.kill('SIGKILL');
      if (!row) throw new Error(`no lease request for launch ${i}`);
      latencies.push(row.granted_at - t0);
      // One lease per (user, product): wait for the quit to release it so the next launch asks anew.
      for (let k = 0; k < 1000 && srv.query('SELECT 1 FROM leases WHERE pid = ? AND ended_at IS NULL', prog.pid).length > 0; k++) await sleep(10);
      await sleep(20 + (i % 7) * 37); // launches at varying phases of the poll
    }
    // CPU while polling, 400 processes running.
    for (let i = 0; i < 400; i++) others.push(spawn('/bin/sleep', ['600'], { stdio: 'ignore' }));
    await sleep(2000);
    const cpu500 = await cpuPercent(d500.pid!, 20);
    await stopChild(d500);
    const d100 = await startDaemon(dir, srv, 100);
    daemons.push(d100);
    await sleep(1000);
    const cpu100 = await cpuPercent(d100.pid!, 10);
    const p50 = pct(latencies, 50);
    const p95 = pct(latencies, 95);
    return {
      launches: latencies.length,
      launchPollMs: 500,
      p50Ms: p50,
      p95Ms: p95,
      maxMs: Math.max(...latencies),
      processesRunning: Number(execFileSync('sh', ['-c', 'ls -d /proc/[0-9]* | wc -l'], { encoding: 'utf8' }).trim()),
      daemonCpuPercentAt500ms: cpu500,
      daemonCpuPercentAt100ms: cpu100,
      cpuRatio100vs500: cpu500 > 0 ? Math.round((cpu100 / cpu500) * 100) / 100 : null,
      targets: { p95Ms: 500, cpuPercent: 0.5 },
      met: { p95Ms: p95 <= 500, cpuPercent: cpu500 <= 0.5 },
    };
  } finally {
    for (const o of others) o.kill('SIGKILL');
    for (const d of daemons) await stopChild(d);
    await srv.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
