/**
 * The `enforcer` daemon component: the I/O shell around the decisions in ./logic.ts (Enforcer.step).
 *
 * - launches and exits come from `ctx.components.processes` (a LaunchSource: fast new-PID poll);
 * - lease requests, renewals, queue long-polls and releases go through `ctx.components.uplink`;
 * - notifications go to the user's session agent through `ctx.components.sessions` (a Notifier);
 *   every one is also journaled as a `notification` record, and one that finds no session agent
 *   is kept and shown when that user's session agent connects, as long as it still matters;
 * - signals (SIGSTOP/SIGCONT/SIGTERM/SIGKILL) go only to processes the watcher still sees with
 *   the same start time, so a recycled PID is never hit;
 * - the bookkeeping is saved to <dataDir>/leases.json after every change, so an agent restart
 *   neither forgets an offline launch nor takes a second seat.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Component, DaemonContext } from '../component/index.js';
import { identityOf } from '../identity/resolver.js';
import type { Message } from '../i18n/messages.js';
import type { PolicyResponse } from '../protocol/v1.js';
import { CoalescedFileWriter } from '../shared/atomic-file.js';
import {
  Enforcer,
  initialState,
  type AnyProduct,
  type Effect,
  type EnforcerEvent,
  type Entry,
  type LoggedProduct,
  type NotificationEffect,
  type State,
} from './logic.js';
import { Matcher } from '../protocol/match.js';
import { notificationRecord } from './notices.js';

/** What the enforcer needs from process collection (`ctx.components.processes` satisfies it). */
export interface LaunchSource {
  onStart(listener: (p: LaunchProcess) => void): () => void;
  onExit(listener: (p: LaunchProcess) => void): () => void;
  running(): LaunchProcess[];
  /** Milliseconds since the process started, on the kernel's own clock (for exec-to-stop times). */
  ageMs?(pid: number): number | undefined;
}
export interface LaunchProcess {
  pid: number;
  uid: number | null;
  user: string | null;
  command: string;
  exe: string | null;
  startTime: string;
}

/** What the enforcer needs from the session channel (`ctx.components.sessions` satisfies it). */
export interface Notifier {
  notifyUser(user: number | string, n: { title: string; body: string; urgency?: 'low' | 'normal' | 'critical'; id?: string; message?: Message }): boolean;
  connectedUsers(): Array<{ uid: number; user: string; sessions: number }>;
  /**
   * Live "input in this application now" from session agents (first input after a pause or in a
   * newly focused application), ahead of the per-minute `input-events` records.
   */
  onActivity?(listener: (a: ActivitySignal) => void): () => void;
}
export interface ActivitySignal {
  uid: number;
  user: string;
  application: string;
  /** Epoch ms (daemon clock, when it arrived). */
  at: number;
}

/** How long after a launch's lease request its package owner is looked up. */
const PREFETCH_DELAY_MS = 250;
export const leasesStatePath = (dataDir: string) => join(dataDir, 'leases.json');
const PENDING_POLL_MS = 2000;
const MAX_TIMER_MS = 60_000;

interface SavedState {
  version: 1;
  allocations: string[];
  entries: Entry[];
}

function loadState(path: string): State {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as SavedState;
    if (s.version !== 1) return initialState();
    const st = initialState();
    for (const a of s.allocations) st.allocations.add(a);
    for (const e of s.entries) st.entries.set(e.key, { ...e, inFlight: false });
    return st;
  } catch {
    return initialState();
  }
}

export function createEnforcerComponent(ctx: DaemonContext): Component | undefined {
  const cfg = ctx.config.leases;
  const log = ctx.logger.child({ component: 'enforcer' });
  const statePath = leasesStatePath(ctx.dataDir);
  const client = ctx.components.uplink?.client;
  const host = ctx.host.hostname;
  const identity = identityOf(ctx);
  const logged: LoggedProduct[] = cfg.loggedPrograms.map((p) => ({
    id: p.id,
    name: p.name ?? p.id,
    logged: true,
    match: { executables: p.executables, paths: p.paths },
  }));
  const policyQueueCap = () => client?.policy()?.queue.maxWaitSeconds ?? cfg.queueWaitSeconds;
  const en = new Enforcer(
    {
      host,
      terminateWarningSeconds: cfg.terminateWarningSeconds,
      killAfterSeconds: cfg.killAfterSeconds,
      retrySeconds: cfg.retrySeconds,
      queueWaitSeconds: Math.min(cfg.queueWaitSeconds, policyQueueCap()),
    },
    loadState(statePath),
  );
  let matcher = new Matcher<AnyProduct>([]);
  // `gate: true` from the policy, or set for a product on this agent (leases.gateProducts).
  const gateHere = new Set(cfg.gateProducts);
  const setPolicy = (policy: PolicyResponse | undefined) => {
    const p = policy && { ...policy, products: policy.products.map((x) => (gateHere.has(x.id) ? { ...x, gate: true } : x)) };
    matcher = new Matcher<AnyProduct>([...(p?.products ?? []), ...logged]);
    // Entries keep running under the rules they started with, except for the timings they read.
    if (p)
      for (const e of en.state.entries.values()) {
        const np = p.products.find((x) => x.id === e.product.id);
        if (np && !e.product.logged) e.product = np;
      }
  };
  setPolicy(client?.policy());

  const counters = { launches: 0, notifications: 0, notificationsDelivered: 0, notificationsPending: 0, signals: 0, requests: 0 };
  /** Gated launches stopped, and from process start to SIGSTOP (the last 1,000), for status. */
  const gate = { stopped: 0, execToStopMs: [] as number[] };
  const pending = new Map<string, NotificationEffect>(); // by notification id
  const unsubs: Array<() => void> = [];
  const aborter = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let pendingTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let source: LaunchSource | undefined;
  let notifier: Notifier | undefined;

  const alive = (pid: number): boolean => {
    if (!source) return true;
    return source.running().some((p) => p.pid === pid);
  };

  const deliver = (n: NotificationEffect): boolean => {
    if (!notifier) return false;
    try {
      return notifier.notifyUser(n.uid ?? n.user, { id: n.id, title: n.title, body: n.body, urgency: n.urgency, message: n.message });
    } catch (err) {
      log.warn({ err }, 'notification could not be sent');
      return false;
    }
  };

  const perform = (f: Effect): void => {
    switch (f.kind) {
      case 'journal':
        ctx.journal.append({ ...f.record, host });
        return;
      case 'notify': {
        counters.notifications += 1;
        const shown = deliver(f);
        if (shown) counters.notificationsDelivered += 1;
        else {
          pending.set(f.id, f);
          armPending();
        }
        ctx.journal.append(notificationRecord(f, host, new Date().toISOString(), { delivered: shown }));
        if (!shown) log.info({ user: f.user, title: f.title }, 'user has no session agent; notification kept until they connect');
        return;
      }
      case 'acquire':
        counters.requests += 1;
        if (!client)
          return void queueMicrotask(() =>
            feed({
              kind: 'acquired',
              now: Date.now(),
              key: f.key,
              requestId: f.request.requestId,
              result: { kind: 'unreachable', error: 'no server configured' },
            }),
          );
        // Started in a promise chain: a throw is an answer too (unreachable), never an entry waiting
        // for good, its gated program stopped with it.
        void Promise.resolve(f.request)
          .then((req) => client.acquire(req))
          .catch((err: unknown) => ({ kind: 'unreachable' as const, error: String(err) }))
          .then((result) => feed({ kind: 'acquired', now: Date.now(), key: f.key, requestId: f.request.requestId, result }));
        return;
      case 'renew':
        counters.requests += 1;
        if (!client) return;
        void Promise.resolve(f.leaseId)
          .then((id) => client.renew(id))
          .catch((err: unknown) => ({ kind: 'unreachable' as const, error: String(err) }))
          .then((result) => feed({ kind: 'renewed', now: Date.now(), key: f.key, leaseId: f.leaseId, result }));
        return;
      case 'release':
        counters.requests += 1;
        void client
          ?.release(f.leaseId, f.reason)
          .catch(() => false)
          .then((ok) => {
            if (!ok) log.warn({ leaseId: f.leaseId }, 'lease release not confirmed; the server expires it after its TTL');
          });
        return;
      case 'pollQueue':
        counters.requests += 1;
        if (!client) return;
        void Promise.resolve(f.ticket)
          .then((ticket) => client.pollQueue(ticket, f.waitSeconds, aborter.signal))
          .catch((err: unknown) => ({ kind: 'unreachable' as const, error: String(err) }))
          .then((result) => {
            if (!stopped) feed({ kind: 'queue', now: Date.now(), key: f.key, ticket: f.ticket, result });
          });
        return;
      case 'leaveQueue':
        void client?.leaveQueue(f.ticket).catch(() => undefined);
        return;
      case 'signal':
        for (const pid of f.pids) {
          if (!alive(pid)) continue;
          try {
            process.kill(pid, f.signal);
            counters.signals += 1;
            if (f.gate) {
              gate.stopped += 1;
              const age = source?.ageMs?.(pid);
              if (age !== undefined) {
                gate.execToStopMs.push(age);
                if (gate.execToStopMs.length > 1000) gate.execToStopMs.shift();
              }
            }
            log.info({ pid, signal: f.signal, entry: f.key.replace('\u0000', '/') }, 'signal sent');
          } catch (err) {
            log.warn({ err, pid, signal: f.signal }, 'signal failed');
          }
        }
        return;
      case 'persist':
        bookkeeping.changed();
        return;
    }
  };

  // Every step that changes something asks for a save; a burst of launches is one write, made
  // off the event loop (an fsync there held up the stops of the burst's later launches).
  const bookkeeping = new CoalescedFileWriter(
    statePath,
    () => JSON.stringify({ version: 1, allocations: [...en.state.allocations], entries: [...en.state.entries.values()] } satisfies SavedState),
    { mode: 0o600, mkdir: true },
    (err) => log.warn({ err }, 'could not save lease bookkeeping'),
  );

  const feed = (ev: EnforcerEvent): void => {
    if (stopped) return;
    let fx: Effect[];
    if (ev.kind !== 'tick' && ev.kind !== 'exit')
      log.debug(
        { event: ev.kind, ...('result' in ev ? { result: ev.result.kind } : {}), ...('key' in ev ? { entry: ev.key.replace('\u0000', '/') } : {}) },
        'enforcer event',
      );
    try {
      fx = en.step(ev);
    } catch (err) {
      log.error({ err, event: ev.kind }, 'enforcer step failed');
      return;
    }
    if (fx.length > 0)
      log.debug(
        { effects: fx.map((f) => (f.kind === 'journal' ? `journal:${f.record.code}` : f.kind === 'notify' ? `notify:${f.title}` : f.kind)) },
        'enforcer effects',
      );
    for (const f of fx) {
      // One effect failing (the journal on a full disk, say) must not drop the ones after it.
      try {
        perform(f);
      } catch (err) {
        log.error({ err, effect: f.kind }, 'enforcer effect failed');
      }
    }
    for (const [id, n] of pending) if (!en.state.entries.has(n.key)) pending.delete(id);
    schedule();
  };

  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const next = en.nextDeadline();
    if (next === undefined || stopped) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()));
    timer = setTimeout(() => feed({ kind: 'tick', now: Date.now() }), ms);
  };

  const flushPending = (): void => {
    const now = Date.now();
    for (const [id, n] of pending) {
      if ((n.relevantUntilMs !== undefined && now > n.relevantUntilMs) || !en.state.entries.has(n.key)) {
        pending.delete(id);
        continue;
      }
      if (deliver(n)) {
        pending.delete(id);
        counters.notificationsDelivered += 1;
        ctx.journal.append(notificationRecord(n, host, new Date().toISOString(), { delivered: true, late: true }));
      }
    }
    counters.notificationsPending = pending.size;
    if (pending.size === 0 && pendingTimer) {
      clearInterval(pendingTimer);
      pendingTimer = undefined;
    }
  };
  /** Undelivered notifications are retried every PENDING_POLL_MS, and only while there are any. */
  const armPending = (): void => {
    if (pendingTimer || stopped) return;
    pendingTimer = setInterval(flushPending, PENDING_POLL_MS);
    pendingTimer.unref();
  };

  const onStart = (p: LaunchProcess): void => {
    const product = matcher.match(p);
    if (!product) return;
    counters.launches += 1;
    const launch = (user: string) => {
      if (client) en.state.online = client.online;
      feed({ kind: 'launch', now: Date.now(), product, proc: { pid: p.pid, user, uid: p.uid, startTime: p.startTime } });
      // Its process records will name the package that installed it (looked up once per
      // executable), a moment after the lease request and the gate's stop: the lookup forks
      // dpkg-query, whose fork and CPU must not delay either.
      const exe = p.exe;
      if (exe) setTimeout(() => ctx.components.packages?.prefetch(exe), PREFETCH_DELAY_MS).unref();
    };
    if (p.user !== null || p.uid === null) return launch(p.user ?? 'unknown');
    // A user the files do not know (a directory user): the lease is taken under the name NSS gives,
    // which costs one lookup the first time this uid launches anything.
    const uid = p.uid;
    void identity
      .userAsync(uid)
      .catch(() => null)
      .then((name) => {
        if (!stopped && alive(p.pid)) launch(name ?? String(uid)); // it may have quit meanwhile
      });
  };
  const onExit = (p: LaunchProcess): void => feed({ kind: 'exit', now: Date.now(), pid: p.pid, startTime: p.startTime });

  // Idle harvesting input: the session agents' `input-events` records (user stamped by the
  // daemon, application = executable path) give the last input time per (user, product), and
  // their live activity signals (sessions.onActivity) tell at once when a user is back in a
  // program. A product whose user has no input data at all is never considered idle: unknown is
  // not idle.
  const lastInput = new Map<string, number>();
  let idleSeq = ctx.journal.lastSeq();
  let idleTimer: NodeJS.Timeout | undefined;
  const harvesting = (e: Entry) => !e.product.logged && e.product.idle.afterSeconds !== null && e.product.idle.action !== 'none';
  const releasedIdle = (e: Entry) => e.phase === 'denied' && e.deniedReason === 'idle';
  const idleEnabled = () =>
    (client?.policy()?.products ?? []).some((p) => p.idle.afterSeconds !== null && p.idle.action !== 'none') ||
    [...en.state.entries.values()].some(releasedIdle);
  const noteInput = (user: string, app: string, at: number): string | undefined => {
    const product = matcher.match({ exe: app, command: app.slice(app.lastIndexOf('/') + 1) });
    if (!product || product.logged) return undefined;
    const key = `${user}\u0000${product.id}`;
    if (!(lastInput.get(key)! >= at)) lastInput.set(key, at);
    return key;
  };
  /** New input-events records since the last look; returns the (user, product) keys with input. */
  const readInput = (): Set<string> => {
    const touched = new Set<string>();
    if (!idleEnabled()) {
      idleSeq = ctx.journal.lastSeq();
      return touched;
    }
    for (const r of ctx.journal.read({ types: ['input-events'], afterSeq: idleSeq })) {
      idleSeq = Math.max(idleSeq, r.seq);
      const app = typeof r.application === 'string' ? r.application : null;
      // Idle polling cannot count (null counts): a record at all means there was input.
      const counted = r.keyboard === null && r.mouse === null ? 1 : (Number(r.keyboard) || 0) + (Number(r.mouse) || 0);
      if (!app || counted === 0 || typeof r.user !== 'string') continue;
      const key = noteInput(r.user, app, Date.parse(String(r.end ?? r.time)));
      if (key) touched.add(key);
    }
    idleSeq = Math.max(idleSeq, ctx.journal.lastSeq());
    return touched;
  };
  const checkEntry = (e: Entry, now: number): void => {
    if (e.product.logged || (!harvesting(e) && !releasedIdle(e))) return;
    const last = lastInput.get(e.key);
    if (last === undefined) return;
    const since = Math.max(last, ...e.procs.map((p) => Date.parse(p.startTime)));
    feed({ kind: 'idle', now, user: e.user, productId: e.product.id, idleSeconds: Math.max(0, (now - since) / 1000) });
  };
  const checkKeys = (keys: Iterable<string>): void => {
    const now = Date.now();
    for (const k of keys) {
      const e = en.state.entries.get(k);
      if (e) checkEntry(e, now);
    }
  };
  const checkIdle = (): void => {
    if (!idleEnabled()) return;
    readInput();
    const now = Date.now();
    for (const e of [...en.state.entries.values()]) checkEntry(e, now);
  };
  const onActivity = (a: ActivitySignal): void => {
    if (!idleEnabled()) return;
    const key = noteInput(a.user, a.application, a.at);
    if (key) checkKeys([key]);
  };

  ctx.components.enforcer = { heldLeases: () => en.heldLeases() };

  return {
    name: 'enforcer',
    start() {
      source = ctx.components.processes;
      notifier = ctx.components.sessions;
      if (!source) log.warn('no process watcher on this platform: launches are not detected');
      if (client) {
        unsubs.push(client.onPolicy((p) => setPolicy(p)));
        unsubs.push(client.onOnline(() => feed({ kind: 'online', now: Date.now() })));
      }
      if (source && (client || logged.length > 0)) {
        // Bookkeeping from before a restart: processes that ended meanwhile are quit now; the rest
        // carry on (their leases are renewed; a request in flight is sent again with the same id).
        const running = new Map(source.running().map((p) => [p.pid, p] as const));
        for (const e of [...en.state.entries.values()]) {
          for (const pr of [...e.procs]) {
            const r = running.get(pr.pid);
            if (!r || r.startTime !== pr.startTime) feed({ kind: 'exit', now: Date.now(), pid: pr.pid, startTime: pr.startTime });
          }
          const still = en.state.entries.get(e.key);
          if (still && still.phase !== 'logged' && still.phase !== 'denied') still.retryAtMs = Date.now();
        }
        // Controlled programs already running when the agent starts are adopted like launches.
        const known = new Set([...en.state.entries.values()].flatMap((e) => e.procs.map((p) => `${p.pid}@${p.startTime}`)));
        for (const p of running.values()) if (!known.has(`${p.pid}@${p.startTime}`)) onStart(p);
        unsubs.push(source.onStart(onStart));
        unsubs.push(source.onExit(onExit));
      }
      unsubs.push(
        ctx.journal.onCommit(() => {
          const touched = readInput();
          // Input in a program asked about or released for idleness is acted on at once.
          if (touched.size > 0) queueMicrotask(() => checkKeys(touched));
        }),
      );
      if (notifier?.onActivity) unsubs.push(notifier.onActivity(onActivity));
      // Held leases are checked for idleness at a quarter of the shortest idle time (at most 5 s).
      const idleTimes = (client?.policy()?.products ?? []).flatMap((p) =>
        p.idle.afterSeconds !== null && p.idle.action !== 'none' ? [p.idle.afterSeconds] : [],
      );
      idleTimer = setInterval(checkIdle, Math.max(100, Math.min(5000, ...idleTimes.map((x) => (x * 1000) / 4))));
      idleTimer.unref();
      schedule();
    },
    async stop() {
      stopped = true;
      for (const u of unsubs) u();
      if (timer) clearTimeout(timer);
      if (pendingTimer) clearInterval(pendingTimer);
      if (idleTimer) clearInterval(idleTimer);
      aborter.abort();
      // Leases are NOT released on an agent stop: the programs keep running, and the agent that
      // starts next renews them (the server keeps them for their TTL, after a restart grace).
      bookkeeping.changed();
      await bookkeeping.close();
    },
    status() {
      const sorted = [...gate.execToStopMs].sort((a, b) => a - b);
      const q = (f: number) => (sorted.length > 0 ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(f * sorted.length) - 1)]!) : null);
      return {
        leases: en.heldLeases(),
        ...counters,
        pendingNotifications: pending.size,
        products: client?.policy()?.products.length ?? 0,
        loggedPrograms: logged.length,
        launchDetection: source !== undefined,
        gate: {
          stopped: gate.stopped,
          execToStopMs: {
            last: sorted.length > 0 ? Math.round(gate.execToStopMs[gate.execToStopMs.length - 1]!) : null,
            p50: q(0.5),
            p95: q(0.95),
            max: q(1),
            of: sorted.length,
          },
        },
      };
    },
  };
}
