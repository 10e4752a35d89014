/**
 * `sampler`: CPU time per full sample with >= 400 live processes, side by side in one run:
 * (a) the agent's /proc sampler (ProcfsReader + ProcessTracker), (b) a bare loop reading
 * /proc/PID/stat of the same PIDs (readdir + open/read/close, no parsing), (c) ps-list,
 * (d) systeminformation.processes(). CPU = process.cpuUsage() of this process plus the CPU of
 * the children it waited for (/proc/self/stat cutime+cstime), so tools that spawn ps are charged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { PasswdNames } from '../src/collectors/processes/names.js';
import { ProcfsReader } from '../src/collectors/processes/procfs.js';
import { ProcessTracker } from '../src/collectors/processes/tracker.js';

const TARGET_PROCS = 400;

function childrenCpuMs(): number {
  const s = readFileSync('/proc/self/stat', 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime, cstime (fields 16, 17)
}

async function measure(n: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const c0 = process.cpuUsage();
  const k0 = childrenCpuMs();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / 1000 + (childrenCpuMs() - k0)) / n;
}

export default async function sampler(): Promise<Record<string, unknown>> {
  const sleepers: ChildProcess[] = [];
  try {
    const existing = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
    for (let i = existing; i < TARGET_PROCS; i++) sleepers.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 500));
    const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    const reader = new ProcfsReader({ names: new PasswdNames() });
    const tracker = new ProcessTracker();
    const agent = () => {
      reader.sample(tracker);
      tracker.endSample();
    };
    const buf = Buffer.allocUnsafe(4096);
    const bare = () => {
      for (const name of readdirSync('/proc')) {
        const c = name.charCodeAt(0);
        if (c < 48 || c > 57) continue;
        let fd: number;
        try {
          fd = openSync(`/proc/${name}/stat`, 'r');
        } catch {
          continue;
        }
        readSync(fd, buf, 0, 4096, 0);
        closeSync(fd);
      }
    };
    const psList = (await import('ps-list')).default;
    const si = (await import('systeminformation')).default;
    const a = await measure(50, agent);
    const b = await measure(50, bare);
    // Pauses (no CPU) between calls so neither tool can serve a cached answer.
    const pause = () => new Promise((res) => setTimeout(res, 1100));
    const c = await measure(5, async () => {
      await pause();
      await psList();
    });
    const d = await measure(5, async () => {
      await pause();
      await si.processes();
    });
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return {
      processes: pids.length,
      cpuMsPerSample: { agent: r(a), bareStatLoop: r(b), psList: r(c), systeminformation: r(d) },
      ratios: { agentOverBare: r(a / b), psListOverAgent: r(c / a), systeminformationOverAgent: r(d / a) },
      targets: { agentOverBare: '<= 1.25', psListOverAgent: '>= 5', systeminformationOverAgent: '>= 40' },
      met: { agentOverBare: a / b <= 1.25, psListOverAgent: c / a >= 5, systeminformationOverAgent: d / a >= 40 },
    };
  } finally {
    for (const s of sleepers) s.kill('SIGKILL');
  }
}
