/**
 * Test helper: a REAL `usage-agent run` child (the built CLI of whichever dist the suite runs
 * from) on a temp data dir and config file.
 *
 *   const agent = await startAgent(t, { processes: { sampleIntervalMs: 200 } });
 *   await agent.waitFor((records) => records.some(...));
 *   await agent.stop();            // SIGTERM, waits for exit (code returned)
 *   agent.kill9();                 // crash
 *   await agent.restart();         // start again on the same data dir
 *   agent.records({ type: 'process' })   // via `usage-agent records --format jsonl`
 *
 * t.after() stops the agent (SIGKILL if needed), switches kernel accounting off if the agent's
 * data dir was the accounting file, and removes the temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BIN, runAgentCli } from './cli.js';
import { DaemonLink } from '../../src/ipc/client.js';
import { Journal, type NewRecord, type StoredRecord } from '../../src/journal/journal.js';
import { createLogger } from '../../src/log/logger.js';
import { waitFor } from './wait.js';

export interface TestAgent {
  dataDir: string;
  configPath: string;
  child: ChildProcess;
  stderr: () => string;
  /** The daemon's log (JSON lines on stdout), all runs; empty unless started with `{ captureLog: true }`. */
  stdout: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  records(opts?: { type?: string }): StoredRecord[];
  /** Reads the journal directly (readonly), including records the CLI would page. */
  journalRecords(): StoredRecord[];
  waitFor(pred: (records: StoredRecord[]) => boolean, timeoutMs?: number, what?: string): Promise<StoredRecord[]>;
  status(): Record<string, any>;
}

export async function startAgent(
  t: { after(fn: () => void | Promise<void>): void },
  config: Record<string, unknown> = {},
  opts: { captureLog?: boolean } = {},
): Promise<TestAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), 'usage-agent-e2e-'));
  const configPath = join(dataDir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ journal: { flushIntervalMs: 100 }, log: { level: 'warn' }, ...config }));
  let err = '';
  let out = '';
  const launch = () => {
    const child = spawn(process.execPath, [AGENT_BIN, 'run', '--config', configPath, '--data-dir', dataDir], {
      stdio: ['ignore', opts.captureLog ? 'pipe' : 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d) => (err += String(d)));
    child.stdout?.on('data', (d) => (out += String(d)));
    return child;
  };
  const agent: TestAgent = {
    dataDir,
    configPath,
    child: launch(),
    stderr: () => err,
    stdout: () => out,
    async stop(signal = 'SIGTERM') {
      const c = agent.child;
      if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
      const done = new Promise<number | null>((res) => c.once('exit', (code) => res(code)));
      c.kill(signal);
      return done;
    },
    async kill9() {
      await agent.stop('SIGKILL');
    },
    async restart() {
      await agent.stop();
      rmSync(join(dataDir, 'status.json'), { force: true }); // stale after a kill -9
      agent.child = launch();
      await waitForStatus(dataDir, agent);
    },
    records(opts = {}) {
      const r = runAgentCli(['records', '--data-dir', dataDir, '--format', 'jsonl', ...(opts.type ? ['--type', opts.type] : [])]);
      if (r.code !== 0) throw new Error(`records failed: ${r.stderr}`);
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as StoredRecord);
    },
    journalRecords() {
      const path = join(dataDir, 'journal.db');
      if (!existsSync(path)) return [];
      const j = Journal.open(path, { readonly: true });
      try {
        return j.read();
      } finally {
        j.close();
      }
    },
    waitFor(pred, timeoutMs = 30_000, what = 'records') {
      let recs: StoredRecord[] = [];
      return waitFor(() => ((recs = agent.journalRecords()), pred(recs) && recs), what, timeoutMs, {
        stepMs: 100,
        detail: () => {
          const counts = new Map<string, number>();
          for (const r of recs) counts.set(String(r.command ?? r.type), (counts.get(String(r.command ?? r.type)) ?? 0) + 1);
          const top = [...counts]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 8)
            .map(([k, n]) => `${k}=${n}`)
            .join(' ');
          return `journal has ${recs.length} records (${top}); agent stderr:\n${err}`;
        },
      });
    },
    status() {
      const r = runAgentCli(['status', '--json', '--data-dir', dataDir]);
      return JSON.parse(r.stdout) as Record<string, any>;
    },
  };
  t.after(async () => {
    await agent.stop('SIGKILL');
    // A killed agent leaves accounting on into its data dir: never leave global state behind.
    spawnSync('accton', ['off'], { stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  });
  await waitForStatus(dataDir, agent);
  return agent;
}

async function waitForStatus(dataDir: string, agent: TestAgent): Promise<void> {
  await waitFor(
    () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited (${agent.child.exitCode}): ${agent.stderr()}`);
      return existsSync(join(dataDir, 'status.json'));
    },
    'the agent to start',
    30_000,
    { detail: () => agent.stderr() },
  );
}

/** The daemon journal's committed lastSeq and acknowledged seq, read beside the running daemon. */
export function journalState(dataDir: string): { lastSeq: number; acked: number } {
  const j = Journal.open(join(dataDir, 'journal.db'), { readonly: true });
  try {
    return { lastSeq: j.lastSeq(), acked: j.ackedThroughSeq() };
  } finally {
    j.close();
  }
}

/**
 * A session agent's link to a running daemon (the real DaemonLink with a queue of its own), for
 * tests that hand the daemon records as a session agent does; stopped when the test ends.
 */
export function sessionLink(t: { after(fn: () => void): void }, agent: { dataDir: string }): DaemonLink {
  const queueDir = mkdtempSync(join(tmpdir(), 'session-queue-'));
  const queue = Journal.open(join(queueDir, 'queue.db'));
  const link = new DaemonLink({
    socketPath: join(agent.dataDir, 'agent.sock'),
    queue,
    logger: createLogger('silent'),
    input: () => ({ mode: 'none', source: 'test', focus: 'none', sessionEvents: 'none' }),
    minRetryMs: 20,
    maxRetryMs: 200,
  });
  link.start();
  t.after(() => {
    link.stop();
    queue.close();
    rmSync(queueDir, { recursive: true, force: true });
  });
  return link;
}

/** The n-th of a stream of per-minute input-events records (minute n after 2024-05-01, keyboard = n). */
export function inputEvents(n: number, o: { application?: string; mouse?: number } = {}): NewRecord {
  const end = new Date(Date.UTC(2024, 4, 1) + n * 60_000);
  const start = new Date(end.getTime() - 60_000);
  return {
    type: 'input-events',
    time: end.toISOString(),
    start: start.toISOString(),
    end: end.toISOString(),
    durationSeconds: 60,
    application: o.application ?? '/usr/bin/test-app',
    keyboard: n,
    mouse: o.mouse ?? 0,
  };
}
