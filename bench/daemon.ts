/**
 * `daemon`: the real `usage-agent run` at default settings (sample every 5 s, pacct auto) and with
 * the node flags the service ships (AGENT_NODE_FLAGS), for 60 s with >= 400 live processes: CPU %
 * of one core from /proc/PID/stat of the daemon (utime + stime over the window, after a 5 s settling period) and its max RSS (VmHWM) - the daemon process
 * only (not this process, not the sleepers). The >= 400 live processes are our own sleepers over the
 * machine's stable baseline, counted from /proc before and after the window.
 * BENCH_DAEMON_SECONDS overrides the 60 s window.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLiveProcesses } from './sampler.js';
import { AGENT_NODE_FLAGS } from '../src/service/node-flags.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'usage-agent.js');

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

export default async function daemon(): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.BENCH_DAEMON_SECONDS ?? 60);
  const dir = mkdtempSync(join(tmpdir(), 'usage-agent-bench-'));
  const sleepers: ChildProcess[] = [];
  let agent: ChildProcess | undefined;
  try {
    // Our own sleepers over the machine's stable baseline: >= 400 whatever other runs leave behind.
    sleepers.push(...(await ensureLiveProcesses(400, 900)));
    const liveAtStart = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
    agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, BIN, 'run', '--data-dir', dir, '--log-level', 'warn'], { stdio: 'ignore' });
    const until = Date.now() + 30_000;
    while (!existsSync(join(dir, 'status.json')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 5000));
    const t0 = cpuTicks(agent.pid!);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpuSec = (cpuTicks(agent.pid!) - t0) / 100;
    const wall = (performance.now() - w0) / 1000;
    const liveAtEnd = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
    const ownAlive = sleepers.filter((c) => c.exitCode === null && c.signalCode === null).length;
    const procStatus = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(procStatus)![1]) * 1024;
    const rssEnd = Number(/VmRSS:\s+(\d+)/.exec(procStatus)![1]) * 1024;
    const cpuPercent = Math.round((cpuSec / wall) * 100 * 1000) / 1000;
    const rssMB = Math.round((hwm / 1024 / 1024) * 10) / 10;
    return {
      seconds,
      processes: { atStart: liveAtStart, atEnd: liveAtEnd, ownSleepersAlive: ownAlive },
      settings: 'defaults (no config file): processes.sampleIntervalMs 5000, pacct auto, launch watcher idle',
      cpuPercentOfOneCore: cpuPercent,
      maxRssMB: rssMB,
      rssAtEndMB: Math.round((rssEnd / 1024 / 1024) * 10) / 10,
      targets: { cpuPercentOfOneCore: '<= 0.5', maxRssMB: '<= 80' },
      met: { cpu: cpuPercent <= 0.5, rss: rssMB <= 80, processes: Math.min(liveAtStart, liveAtEnd) >= 400 },
    };
  } finally {
    agent?.kill('SIGTERM');
    if (agent) await new Promise((r) => agent!.once('exit', r));
    spawnSync('accton', ['off'], { stdio: 'ignore' }); // in case the agent owned accounting and was killed
    for (const s of sleepers) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
