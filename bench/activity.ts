/**
 * Session agent CPU, wake-ups and RSS on Xvfb, idle and under paced mouse storms, against
 * alternatives measured in the same run on the same X server:
 *   - sessionAgent: `usage-agent session` as shipped (auto: XInput2 raw events, socket read in batches);
 *   - sessionAgentUiohook: the same agent forced to `--input hooks` (uiohook-napi over RECORD);
 *   - bareAddon: uiohook-napi's native addon only counting events (the floor for any uiohook-based agent);
 *   - pynput: a python3-pynput mouse + keyboard listener only counting events (ActivityWatch's
 *     aw-watcher-afk method on Linux: Xlib RECORD, one Python callback per event);
 *   - bareNode: an empty node process (the runtime's own RSS).
 * Phases per round: idle IDLE s; xdotool `mousemove_relative` at ~200/s; the repository's paced XTEST
 * storm (bench/_storm.ts) at 200/s; the same at 1000/s (STORM s each, 5 s pauses between). The
 * generators' moves are XTEST input, which XInput2 raw events and RECORD both see (an absolute
 * `xdotool mousemove` is a pointer warp, which raw events do not report).
 * CPU = utime+stime from /proc/PID/stat of the process, its reaped children and its live
 * descendants, per phase; medians over the rounds (the machine is shared and noisy). Wake-ups =
 * voluntary context switches of the main thread (/proc/PID/task/PID/status) per second.
 * Events counted: the agents' mouse moves (their input-events records, through `usage-agent records`),
 * bareAddon's and pynput's counts (printed on SIGUSR2), against the moves the generators sent.
 * Targets (issue 13): <= 0.3 % of a core at 200/s, <= 1 % at 1000/s, idle 0 %, RSS <= 60 MB.
 * Env: ACTIVITY_BENCH_ROUNDS (3), ACTIVITY_BENCH_SETTLE (20), ACTIVITY_BENCH_IDLE (20), ACTIVITY_BENCH_STORM (20).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_GI } from '../test/helpers/dbus.js';
import { killChild, startXvfb } from '../test/helpers/x11.js';

const here = dirname(fileURLToPath(import.meta.url));
const AGENT = resolve(here, '..', 'src', 'cli', 'usage-agent.js');
const STORM = join(here, '_storm.js');
const TICKS = 100; // USER_HZ on Linux
/** xdotool's sleep between moves; its own per-move work brings the rate to about 200/s on an idle machine. */
const XDOTOOL_SLEEP = process.env.ACTIVITY_BENCH_XDOTOOL_SLEEP ?? '0.004';
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU ticks of a process tree: own utime+stime, reaped children's cutime+cstime, live descendants. */
function treeTicks(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  const parents = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const g = statFields(Number(e));
    if (g) parents.set(Number(e), Number(g[1]));
  }
  const inTree = (p: number): boolean => {
    for (let q = parents.get(p), depth = 0; q !== undefined && depth < 32; q = parents.get(q), depth++) if (q === pid) return true;
    return false;
  };
  for (const p of parents.keys()) {
    if (p !== pid && inTree(p)) {
      const g = statFields(p);
      if (g) ticks += Number(g[11]) + Number(g[12]);
    }
  }
  return ticks;
}

/** Voluntary context switches of the main thread: how often it went to sleep and was woken. */
function mainThreadWakeups(pid: number): number {
  try {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/** Proportional set size: file pages (the node binary, libraries) shared with other processes count pro rata. */
function pssMB(pid: number): number {
  const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const r1 = (n: number) => Math.round(n * 10) / 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Sample {
  cpuPercent: number;
  wakeupsPerSecond: number;
  rssMB: number;
  pssMB: number;
}

async function measure(pids: Record<string, number>, ms: number): Promise<Record<string, Sample>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, { ticks: treeTicks(p), wake: mainThreadWakeups(p) }]));
  const t0 = performance.now();
  await sleep(ms);
  const secs = (performance.now() - t0) / 1000;
  return Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [
      k,
      {
        cpuPercent: r3(((treeTicks(p) - before[k]!.ticks) / TICKS / secs) * 100),
        wakeupsPerSecond: r1((mainThreadWakeups(p) - before[k]!.wake) / secs),
        rssMB: r1(rssMB(p)),
        pssMB: r1(pssMB(p)),
      },
    ]),
  );
}

/** A counting child that prints its count on SIGUSR2. */
function counter(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; count(): Promise<number> } {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'], cwd: resolve(here, '..', '..') });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  return {
    child,
    count() {
      const had = text.length;
      child.kill('SIGUSR2');
      return new Promise((resolveCount, reject) => {
        const t0 = Date.now();
        const check = () => {
          const lines = text.slice(had).split('\n').filter(Boolean);
          if (lines.length > 0) return resolveCount(Number(lines[0]));
          if (Date.now() - t0 > 5000) return reject(new Error(`${cmd} did not report its count`));
          setTimeout(check, 20);
        };
        check();
      });
    },
  };
}

/** ActivityWatch's way on Linux: pynput listeners (Xlib RECORD), a callback per event. */
const PYNPUT = `
import signal, sys
from pynput import mouse, keyboard
n = 0
def on_move(x, y):
    global n
    n += 1
def on_press(key):
    global n
    n += 1
m = mouse.Listener(on_move=on_move); m.start()
k = keyboard.Listener(on_press=on_press); k.start()
def report(*_):
    sys.stdout.write(f"{n}\\n"); sys.stdout.flush()
signal.signal(signal.SIGUSR2, report)
m.wait(); k.wait()
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:
    signal.pause()
`;

interface Agent {
  name: string;
  data: string;
  daemon: ChildProcess;
  session: ChildProcess;
}

/** The agent's own count of mouse moves: the sum over its input-events records. */
function agentMoves(a: Agent): number {
  const rec = spawnSync(process.execPath, [AGENT, 'records', '--data-dir', a.data, '--type', 'input-events'], { encoding: 'utf8' });
  let moves = 0;
  for (const line of rec.stdout.split('\n').filter(Boolean)) moves += (JSON.parse(line) as { mouseMoves?: number }).mouseMoves ?? 0;
  return moves;
}

export default async function bench(): Promise<Record<string, unknown>> {
  const rounds = num('ACTIVITY_BENCH_ROUNDS', 3);
  const settleS = num('ACTIVITY_BENCH_SETTLE', 20);
  const idleS = num('ACTIVITY_BENCH_IDLE', 20);
  const stormS = num('ACTIVITY_BENCH_STORM', 20);
  const dir = mkdtempSync(join(tmpdir(), 'ua-bench-activity-'));
  const x = await startXvfb({ wm: true });
  const children: ChildProcess[] = [];
  try {
    const env = { ...x.env };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    // One daemon and data dir per agent, so each agent's records can be counted on their own.
    const agents: Agent[] = [];
    for (const [name, input] of [
      ['sessionAgent', 'auto'],
      ['sessionAgentUiohook', 'hooks'],
    ] as const) {
      const data = join(dir, name);
      mkdirSync(data);
      const config = join(dir, `${name}.json`);
      writeFileSync(config, JSON.stringify({ processes: { enabled: false }, log: { level: 'warn' } }));
      const daemon = spawn(process.execPath, [AGENT, 'run', '--config', config, '--data-dir', data], { stdio: 'ignore' });
      children.push(daemon);
      await sleep(1500);
      const session = spawn(
        process.execPath,
        [AGENT, 'session', '--config', config, '--data-dir', data, '--queue', join(dir, `${name}-q.db`), '--input', input],
        {
          env,
          stdio: 'ignore',
        },
      );
      children.push(session);
      agents.push({ name, data, daemon, session });
    }
    // The addon without uiohook-napi's EventEmitter wrapper, the way the agent calls it: the floor.
    const bareAddon = counter(
      process.execPath,
      [
        '-e',
        "const p = require('path').dirname(require.resolve('uiohook-napi/package.json')); const lib = require(require.resolve('node-gyp-build', { paths: [p] }))(p);" +
          " let n = 0; lib.start((e) => { if (e.type === 9 || e.type === 4) n++; }); process.on('SIGUSR2', () => process.stdout.write(n + '\\n'));",
      ],
      env,
    );
    children.push(bareAddon.child);
    // Debian's python3 (python3-pynput), not whichever python3 comes first on PATH.
    const pynput = counter(PYTHON_GI, ['-c', PYNPUT], env);
    children.push(pynput.child);
    const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    children.push(node);
    const pids: Record<string, number> = {
      sessionAgent: agents[0]!.session.pid!,
      sessionAgentUiohook: agents[1]!.session.pid!,
      bareAddon: bareAddon.child.pid!,
      pynput: pynput.child.pid!,
      bareNode: node.pid!,
    };

    await sleep(settleS * 1000);
    const phases = ['idle', 'xdotool200', 'xtest200', 'xtest1000'] as const;
    const samples: Record<(typeof phases)[number], Array<Record<string, Sample>>> = { idle: [], xdotool200: [], xtest200: [], xtest1000: [] };
    const achieved: Record<string, number[]> = { xdotool200: [], xtest200: [], xtest1000: [] };
    let sent = 0;
    const addon0 = await bareAddon.count();
    const pynput0 = await pynput.count();
    for (let r = 0; r < rounds; r++) {
      samples.idle.push(await measure(pids, idleS * 1000));
      // (a) xdotool: one process chaining relative moves and sleeps (its rate is what the addon saw).
      {
        const before = await bareAddon.count();
        const args: string[] = [];
        for (let i = 0; i < 200 * (stormS + 2); i++) args.push('mousemove_relative', '--', i % 2 ? '3' : '-3', i % 4 < 2 ? '2' : '-2', 'sleep', XDOTOOL_SLEEP);
        const gen = spawn('xdotool', args, { env, stdio: 'ignore' });
        children.push(gen);
        await sleep(1000);
        samples.xdotool200.push(await measure(pids, stormS * 1000));
        await killChild(gen);
        await sleep(500);
        const moved = (await bareAddon.count()) - before;
        sent += moved;
        achieved.xdotool200!.push(Math.round(moved / (stormS + 1)));
      }
      await sleep(5000);
      // (b), (c) the paced XTEST generator (bench/_storm.ts): exactly RATE/s even on a loaded machine.
      for (const [phase, rate] of [
        ['xtest200', 200],
        ['xtest1000', 1000],
      ] as const) {
        const gen = spawn(process.execPath, [STORM, String(rate), String(stormS + 2)], { env, stdio: ['ignore', 'pipe', 'inherit'], cwd: here });
        let out = '';
        gen.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<void>((r2) => gen.once('exit', () => r2()));
        children.push(gen);
        await sleep(1000);
        samples[phase].push(await measure(pids, stormS * 1000));
        await exited;
        const s = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; seconds: number };
        sent += s.sent;
        achieved[phase]!.push(Math.round(s.sent / s.seconds));
        await sleep(5000);
      }
    }
    const addonSeen = (await bareAddon.count()) - addon0;
    const pynputSeen = (await pynput.count()) - pynput0;
    // Stop the agents: they close their intervals and hand them to their daemons.
    for (const a of agents) await killChild(a.session, 'SIGTERM', 10_000);
    await sleep(1000);
    const moves = Object.fromEntries(agents.map((a) => [a.name, agentMoves(a)]));

    const who = Object.keys(pids);
    const med = (phase: Array<Record<string, Sample>>, w: string) => ({
      cpuPercent: r3(median(phase.map((p) => p[w]!.cpuPercent))),
      wakeupsPerSecond: r1(median(phase.map((p) => p[w]!.wakeupsPerSecond))),
      rssMB: Math.max(...phase.map((p) => p[w]!.rssMB)),
      pssMB: Math.max(...phase.map((p) => p[w]!.pssMB)),
      cpuPercentRounds: phase.map((p) => p[w]!.cpuPercent),
    });
    const figures = Object.fromEntries(phases.map((ph) => [ph, Object.fromEntries(who.map((w) => [w, med(samples[ph], w)]))])) as Record<
      (typeof phases)[number],
      Record<string, ReturnType<typeof med>>
    >;
    const cpu = (ph: (typeof phases)[number], w: string) => figures[ph][w]!.cpuPercent;
    const ratio = (a: number, z: number) => (z > 0 ? Math.round((a / z) * 1000) / 1000 : null);
    const maxRss = (w: string) => Math.max(...phases.map((ph) => figures[ph][w]!.rssMB));
    const ratios: Record<string, number | null> = {};
    for (const ph of ['xdotool200', 'xtest200', 'xtest1000'] as const) {
      for (const alt of ['sessionAgentUiohook', 'bareAddon', 'pynput'])
        ratios[`${ph}CpuVs${alt[0]!.toUpperCase()}${alt.slice(1)}`] = ratio(cpu(ph, 'sessionAgent'), cpu(ph, alt));
    }
    ratios.rssVsBareAddon = ratio(maxRss('sessionAgent'), maxRss('bareAddon'));
    ratios.rssVsPynput = ratio(maxRss('sessionAgent'), maxRss('pynput'));
    return {
      rounds,
      settleSeconds: settleS,
      idleSeconds: idleS,
      stormSeconds: stormS,
      achievedMovesPerSecond: achieved,
      ...figures,
      ratios,
      eventsCounted: {
        movesSent: sent,
        sessionAgentMoves: moves.sessionAgent,
        sessionAgentUiohookMoves: moves.sessionAgentUiohook,
        bareAddonMovesAndKeys: addonSeen,
        pynputMovesAndKeys: pynputSeen,
        sessionAgentCountsEveryMove: moves.sessionAgent === sent,
      },
      targets: { cpuPercentAt200: 0.3, cpuPercentAt1000: 1, idleCpuPercent: 0, rssMB: 60 },
      met: {
        cpuAt200Xdotool: cpu('xdotool200', 'sessionAgent') <= 0.3,
        cpuAt200Xtest: cpu('xtest200', 'sessionAgent') <= 0.3,
        cpuAt1000: cpu('xtest1000', 'sessionAgent') <= 1,
        idleCpu: cpu('idle', 'sessionAgent') === 0,
        rss: maxRss('sessionAgent') <= 60,
        everyEventCounted: moves.sessionAgent === sent,
      },
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
    };
  } finally {
    for (const c of children.reverse()) await killChild(c, 'SIGTERM', 5000);
    await x.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
