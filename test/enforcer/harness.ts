/**
 * In-process agent for enforcer tests: the REAL processes watcher (/proc), uplink (undici to a real
 * usage-server child), enforcer and journal, wired exactly as the daemon wires them. Notifications
 * go to a recording Notifier (the real desktop path has its own test, notify-desktop.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswdNames } from '../../src/identity/files.js';
import { ProcfsReader } from '../../src/collectors/processes/procfs.js';
import { ProcessWatcher } from '../../src/collectors/processes/watcher.js';
import { configSchema, type AgentConfigInput } from '../../src/config/schema.js';
import type { Component, DaemonContext, Uplink } from '../../src/component/index.js';
import { createEnforcerComponent } from '../../src/enforcer/component.js';
import { detectHostIdentity } from '../../src/host/identity.js';
import { Journal } from '../../src/journal/journal.js';
import type { SessionHub } from '../../src/ipc/hub.js';
import { SessionServer } from '../../src/ipc/server.js';
import { createLogger } from '../../src/log/logger.js';
import { createUplinkComponent } from '../../src/uplink/component.js';
import { TEST_ENROLL_SECRET, type TestServer } from '../helpers/server.js';

export interface Shown {
  user: number | string;
  id?: string;
  title: string;
  body: string;
  urgency?: string;
}

/** Records what it would show; it has no session agents, so nothing logs on or sends activity. */
export class RecordingNotifier implements SessionHub {
  shown: Shown[] = [];
  users: Array<{ uid: number; user: string; sessions: number }> = [{ uid: 0, user: 'root', sessions: 1 }];
  notifyUser(user: number | string, n: { title: string; body: string; urgency?: 'low' | 'normal' | 'critical'; id?: string }): boolean {
    if (!this.users.some((u) => u.uid === user || u.user === user)) return false;
    this.shown.push({ user, ...n });
    return true;
  }
  connectedUsers() {
    return this.users;
  }
  onNotificationResult() {
    return () => undefined;
  }
  onActivity() {
    return () => undefined;
  }
  onAgent() {
    return () => undefined;
  }
  agents() {
    return [];
  }
}

export interface TestAgentRig {
  dataDir: string;
  ctx: DaemonContext;
  notifier: RecordingNotifier;
  uplink: Uplink;
  components: Component[];
  /** With `sessions: 'socket'`: the real session channel (session agents connect here). */
  socketPath?: string;
  sessionServer?: SessionServer;

  /** Starts a copy of /bin/sleep named `name` (the controlled program). */
  launch(name: string, seconds?: number): ChildProcess;
  /** Usage events the server stored for this agent, in seq order. */
  serverEvents(): Array<{
    seq: number;
    code: number;
    time: string;
    product: string;
    user: string;
    pid: number | null;
    reason: string | null;
    offline: number | null;
  }>;
  stop(): Promise<void>;
}

export async function startRig(
  t: { after(fn: () => void | Promise<void>): void },
  srv: TestServer,
  config: AgentConfigInput = {},
  options: { sessions?: 'recording' | 'socket' } = {},
): Promise<TestAgentRig> {
  const dataDir = mkdtempSync(join(tmpdir(), 'enforcer-test-'));
  const children: ChildProcess[] = [];
  const cfg = configSchema.parse({
    ...config,
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 100, requestTimeoutMs: 2000, maxBackoffMs: 500, ...config.server },
    leases: { launchPollMs: 50, retrySeconds: 0.5, queueWaitSeconds: 2, terminateWarningSeconds: 1, killAfterSeconds: 1, ...config.leases },
  });
  const journal = Journal.open(join(dataDir, 'journal.db'), { flushIntervalMs: 50 });
  const logger = createLogger(process.env.TEST_LOG ?? 'silent');
  const host = await detectHostIdentity();
  const ctx: DaemonContext = { config: cfg, dataDir, journal, logger, host, components: {} };
  const watcher = new ProcessWatcher(new ProcfsReader({ names: new PasswdNames() }), cfg.leases.launchPollMs);
  ctx.components.processes = watcher;
  const notifier = new RecordingNotifier();
  const components: Component[] = [];
  let sessionServer: SessionServer | undefined;
  const socketPath = join(dataDir, 'agent.sock');
  if (options.sessions === 'socket') {
    // The daemon's real session channel: notifications go to connected session agents.
    sessionServer = new SessionServer(ctx, { socketPath });
    await sessionServer.start();
    // `notifier.shown` then lists what the real channel delivered to a connected session agent.
    const send = sessionServer.notifyUser.bind(sessionServer);
    sessionServer.notifyUser = (user, n) => {
      const sent = send(user, n);
      if (sent) notifier.shown.push({ user, ...n });
      return sent;
    };
    components.push(sessionServer);
    ctx.components.sessions = sessionServer;
  } else {
    ctx.components.sessions = notifier;
  }
  for (const f of [createUplinkComponent, createEnforcerComponent]) {
    const c = await f(ctx);
    if (c) {
      await c.start();
      components.push(c);
    }
  }
  let stopped = false;
  const rig: TestAgentRig = {
    dataDir,
    ctx,
    notifier,
    uplink: ctx.components.uplink!,
    components,
    ...(sessionServer ? { socketPath, sessionServer } : {}),

    launch(name, seconds = 300) {
      const dir = join(dataDir, `bin-${children.length}`);
      mkdirSync(dir);
      const exe = join(dir, name);
      copyFileSync('/bin/sleep', exe);
      const c = spawn(exe, [String(seconds)], { stdio: 'ignore' });
      children.push(c);
      return c;
    },
    serverEvents() {
      const id = rig.uplink.client.agentId;
      return srv.query(
        "SELECT seq, code, time, product, user, pid, reason, offline FROM usage_events WHERE origin = 'agent' AND agent_id = ? ORDER BY seq",
        id,
      );
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of [...components].reverse()) await c.stop();
      watcher.stop();
      journal.close();
    },
  };
  t.after(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid!, 'SIGCONT');
        } catch {
          /* gone */
        }
        c.kill('SIGKILL');
      }
    }
    await rig.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return rig;
}

/** Kernel process state letter from /proc/PID/stat ('T' = stopped). */
export function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
}
