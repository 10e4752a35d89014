/**
 * The session server (daemon side of the session channel, README here). Left at about 500 lines on
 * purpose: it is one state machine per connection (hello -> challenge -> auth -> ready -> closed)
 * over shared state (the connection map, per-uid tokens, budgets and journal cursors), and its
 * pieces only make sense together; what can be checked apart from a connection is apart
 * (intake.ts: messages and records as trusted input; socket-file.ts; budget.ts: the per-user budget).
 */
import { randomBytes, timingSafeEqual, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Message } from '../i18n/messages.js';
import type { Component, ComponentFactory, DaemonContext } from '../component/index.js';
import { hasCapability } from '../host/capabilities.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { identityOf, type IdentityResolver } from '../identity/resolver.js';
import { parseMessage, sanitizeInput, stampRecord } from './intake.js';
import { canOthersTraverse, removeStaleSocket, resolveSocketPath } from './socket-file.js';
import type { SessionAgentEvent, SessionAgentInfo, SessionHub } from './hub.js';
import { newBudget, spend, waitMs, type SessionLimits, type UserBudget } from './budget.js';
import {
  IPC_VERSION,
  MAX_BATCH,
  lineReader,
  tokenDir,
  tokenPath,
  FEATURE_ACTIVITY,
  type ClientMessage,
  type DaemonMessage,
  type InputInfo,
  type Notification,
  type Urgency,
} from './protocol.js';

const AUTH_TIMEOUT_MS = 10_000;
/** Authenticated connections, all users together. */
const MAX_READY = 512;
/**
 * Connections not yet authenticated. Node cannot ask the kernel who a peer is (no SO_PEERCRED),
 * so these cannot be charged to a user: when there are this many, the oldest is closed. A flood
 * of idle connections then pushes out other idle ones, not the sessions already authenticated.
 */
const MAX_PENDING = 64;

interface Connection {
  id: string;
  socket: Socket;
  state: 'hello' | 'auth' | 'naming' | 'ready' | 'closed';
  uid?: number;
  user?: string;
  pid?: number;
  queueId?: string;
  input?: InputInfo;
  display?: string;
  session?: string;
  connectedAt: string;
  readyAt?: number;
  received: number;
  /** Lines read from an authenticated peer and not handled yet (a few while its user waits for budget). */
  lines: string[];
  /** Set while reading is paused for the user's budget. */
  budgetTimer?: NodeJS.Timeout;
}

export interface SessionServerOptions {
  socketPath: string;
  /** Default: the config's `session.limits`. */
  limits?: SessionLimits & { maxAgentsPerUser: number };
}

/**
 * The daemon side of the session channel: owns the socket, authenticates peers by per-uid token
 * files (see README "Threat model"), writes their records to the journal exactly once and carries
 * notifications back.
 */
export class SessionServer implements Component, SessionHub {
  readonly name = 'sessions';
  private server: Server | undefined;
  private readonly connections = new Map<string, Connection>();
  private readonly tokens = new Map<number, Buffer>();
  private readonly acked = new Map<string, number>();
  private readonly resultListeners = new Set<(r: { uid: number; user: string; id: string; shown: boolean; error?: string }) => void>();
  private readonly activityListeners = new Set<(a: { uid: number; user: string; application: string; at: number }) => void>();
  private readonly agentListeners = new Set<(e: SessionAgentEvent) => void>();
  private readonly budgets = new Map<number, UserBudget>();
  /** Users waiting for budget now (logged once when they start to). */
  private readonly overBudget = new Set<number>();
  private readonly counters = {
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    authFailures: 0,
    notificationsSent: 0,
    budgetWaits: 0,
    refusedAgents: 0,
    droppedPending: 0,
  };
  /** Token files can be given to their users (root, or the unit's CAP_CHOWN): any uid may authenticate. */
  private readonly perUserTokens = hasCapability('CAP_CHOWN');
  private readonly identity: IdentityResolver;
  private readonly limits: SessionLimits & { maxAgentsPerUser: number };

  constructor(
    private readonly ctx: DaemonContext,
    private readonly options: SessionServerOptions,
  ) {
    this.identity = identityOf(ctx);
    this.limits = options.limits ?? ctx.config.session.limits;
  }

  async start(): Promise<void> {
    const { socketPath } = this.options;
    const dir = dirname(socketPath);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
    await removeStaleSocket(socketPath);
    // Tokens: a directory only the daemon can write, that others can traverse but not list.
    const tdir = tokenDir(socketPath);
    mkdirSync(tdir, { recursive: true, mode: 0o711 });
    chmodSync(tdir, 0o711);
    // New tokens every start: a token copied earlier stops working when the daemon restarts.
    for (const f of readdirSync(tdir)) rmSync(join(tdir, f), { force: true });

    this.server = createServer((socket) => this.accept(socket));
    this.server.maxConnections = MAX_READY + MAX_PENDING + 1;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(socketPath, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    // Any local user may connect; what they may do is decided by authentication.
    chmodSync(socketPath, 0o666);
    this.server.on('error', (err) => this.ctx.logger.error({ err }, 'session socket error'));
    this.ctx.logger.info({ socket: socketPath, tokens: tdir, perUserTokens: this.perUserTokens }, 'listening for session agents');
    if (!canOthersTraverse(dir)) {
      this.ctx.logger.info(
        { dir },
        "socket directory is not traversable by other users: only this user's session agents can connect (use session.socketPath, e.g. /run/usage-agent/agent.sock)",
      );
    }
  }

  async stop(): Promise<void> {
    for (const c of this.connections.values()) c.socket.destroy();
    this.connections.clear();
    if (this.server) {
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
      this.server = undefined;
    }
    rmSync(this.options.socketPath, { force: true });
    try {
      this.ctx.journal.flush();
    } catch (err) {
      this.ctx.logger.error({ err }, 'journal flush failed while stopping sessions');
    }
  }

  status(): Record<string, unknown> {
    return {
      socket: this.options.socketPath,
      sessions: [...this.connections.values()]
        .filter((c) => c.state === 'ready')
        .map((c) => ({
          user: c.user,
          uid: c.uid,
          pid: c.pid,
          display: c.display,
          input: c.input?.mode,
          inputSource: c.input?.source,
          focus: c.input?.focus,
          sessionEvents: c.input?.sessionEvents,
          connectedAt: c.connectedAt,
          recordsReceived: c.received,
          waitingForBudget: c.budgetTimer !== undefined,
        })),
      limits: this.limits,
      ...this.counters,
    };
  }

  // --- SessionHub ------------------------------------------------------------------------------

  notifyUser(user: number | string, n: { title: string; body: string; urgency?: Urgency; id?: string; message?: Message }): boolean {
    const notification: Notification = {
      id: n.id ?? randomUUID(),
      title: n.title,
      body: n.body,
      urgency: n.urgency ?? 'normal',
      ...(n.message ? { message: n.message } : {}),
    };
    let sent = false;
    for (const c of this.connections.values()) {
      if (c.state !== 'ready') continue;
      if (typeof user === 'number' ? c.uid !== user : c.user !== user) continue;
      this.send(c, { v: IPC_VERSION, kind: 'notification', ...notification });
      sent = true;
    }
    if (sent) this.counters.notificationsSent += 1;
    return sent;
  }

  connectedUsers(): Array<{ uid: number; user: string; sessions: number }> {
    const by = new Map<number, { uid: number; user: string; sessions: number }>();
    for (const c of this.connections.values()) {
      if (c.state !== 'ready') continue;
      const e = by.get(c.uid!) ?? { uid: c.uid!, user: c.user!, sessions: 0 };
      e.sessions += 1;
      by.set(c.uid!, e);
    }
    return [...by.values()];
  }

  onNotificationResult(listener: (r: { uid: number; user: string; id: string; shown: boolean; error?: string }) => void): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  onActivity(listener: (a: { uid: number; user: string; application: string; at: number }) => void): () => void {
    this.activityListeners.add(listener);
    return () => this.activityListeners.delete(listener);
  }

  onAgent(listener: (e: SessionAgentEvent) => void): () => void {
    this.agentListeners.add(listener);
    return () => this.agentListeners.delete(listener);
  }

  agents(): SessionAgentInfo[] {
    return [...this.connections.values()].filter((c) => c.state === 'ready').map((c) => this.agentInfo(c));
  }

  private agentInfo(c: Connection): SessionAgentInfo {
    return { conn: c.id, uid: c.uid!, user: c.user!, pid: c.pid, display: c.display, session: c.session, at: c.readyAt ?? Date.now() };
  }

  private tellAgent(kind: 'up' | 'down', c: Connection, at: number): void {
    const e: SessionAgentEvent = { kind, ...this.agentInfo(c), at };
    for (const l of this.agentListeners) {
      try {
        l(e);
      } catch (err) {
        this.ctx.logger.error({ err }, 'session agent listener failed');
      }
    }
  }

  // --- connections -----------------------------------------------------------------------------

  private accept(socket: Socket): void {
    const pending = [...this.connections.values()].filter((p) => p.readyAt === undefined && p.state !== 'closed');
    if (pending.length >= MAX_PENDING) {
      this.counters.droppedPending += 1;
      this.fail(pending[0]!, 'too many connections waiting to authenticate');
    }
    const c: Connection = { id: randomUUID(), socket, state: 'hello', connectedAt: new Date().toISOString(), received: 0, lines: [] };
    this.connections.set(c.id, c);
    const timer = setTimeout(() => {
      if (c.state !== 'ready') this.fail(c, 'authentication timed out');
    }, AUTH_TIMEOUT_MS);
    timer.unref();
    socket.on(
      'data',
      lineReader(
        (line) => this.onLine(c, line),
        () => this.fail(c, 'line too long'),
      ),
    );
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(c.budgetTimer);
      const wasReady = c.readyAt !== undefined;
      c.state = 'closed';
      if (wasReady) this.tellAgent('down', c, Date.now());
      this.connections.delete(c.id);
      if (c.uid !== undefined) this.ctx.logger.info({ user: c.user, uid: c.uid, pid: c.pid }, 'session agent disconnected');
    });
  }

  private onLine(c: Connection, line: string): void {
    if (c.state === 'closed') return;
    if (c.state === 'ready') {
      c.lines.push(line);
      if (c.budgetTimer === undefined) this.drain(c);
      return;
    }
    const msg = parseMessage(line);
    if (typeof msg === 'string') return this.fail(c, msg);
    try {
      if (c.state === 'hello') return this.onHello(c, msg);
      if (c.state === 'auth') return this.onAuth(c, msg);
      // Clients send nothing between their auth and our welcome (the user name being looked up).
    } catch (err) {
      this.ctx.logger.error({ err, user: c.user }, 'session message failed');
      this.fail(c, 'internal error');
    }
  }

  /**
   * Handles an authenticated peer's lines in order while its user has budget; otherwise stops
   * reading from it until the budget allows (see budget.ts). Nothing is refused for being fast.
   */
  private drain(c: Connection): void {
    const limits = this.limits;
    while (c.lines.length > 0 && c.state === 'ready') {
      let budget = this.budgets.get(c.uid!);
      if (!budget) this.budgets.set(c.uid!, (budget = newBudget(limits, Date.now())));
      const now = Date.now();
      const wait = waitMs(budget, limits, now);
      if (wait > 0) {
        c.socket.pause();
        this.counters.budgetWaits += 1;
        if (!this.overBudget.has(c.uid!)) {
          this.overBudget.add(c.uid!);
          this.ctx.logger.warn(
            { user: c.user, uid: c.uid, waitMs: wait, limits },
            "a user's session agents send faster than session.limits allow: reading from them is paused",
          );
        }
        c.budgetTimer = setTimeout(() => {
          c.budgetTimer = undefined;
          this.drain(c);
        }, wait);
        return;
      }
      const line = c.lines.shift()!;
      const msg = parseMessage(line);
      if (typeof msg === 'string') return this.fail(c, msg);
      spend(budget, { records: msg.kind === 'records' && Array.isArray(msg.items) ? msg.items.length : 0, bytes: Buffer.byteLength(line) + 1 });
      this.handle(c, msg);
    }
    this.overBudget.delete(c.uid!);
    if (c.state === 'ready') c.socket.resume();
  }

  private handle(c: Connection, msg: ClientMessage): void {
    try {
      switch (msg.kind) {
        case 'records':
          return this.onRecords(c, msg);
        case 'status':
          c.input = sanitizeInput(msg.input);
          return;
        case 'activity': {
          // Not journaled (the input-events records are the account); user from authentication.
          if (typeof msg.application !== 'string' || msg.application.length === 0 || msg.application.length > 4096) return;
          const a = { uid: c.uid!, user: c.user!, application: msg.application, at: Date.now() };
          for (const l of this.activityListeners) l(a);
          return;
        }
        case 'notified': {
          const r = { uid: c.uid!, user: c.user!, id: String(msg.id), shown: msg.shown === true, error: msg.error ? String(msg.error) : undefined };
          for (const l of this.resultListeners) l(r);
          return;
        }
        default:
          return this.fail(c, `unexpected message kind ${(msg as { kind?: unknown }).kind}`);
      }
    } catch (err) {
      this.ctx.logger.error({ err, user: c.user }, 'session message failed');
      this.fail(c, 'internal error');
    }
  }

  private onHello(c: Connection, msg: ClientMessage): void {
    if (msg.kind !== 'hello' || !Number.isInteger(msg.uid) || msg.uid < 0 || typeof msg.queueId !== 'string' || !/^[\w-]{1,64}$/.test(msg.queueId)) {
      return this.fail(c, 'expected hello {uid, pid, queueId}');
    }
    const ownUid = process.getuid?.() ?? 0;
    if (!this.perUserTokens && msg.uid !== ownUid) {
      return this.fail(c, `this daemon (uid ${ownUid}) lacks CAP_CHOWN to hand out token files, so it can only authenticate its own user`);
    }
    c.uid = msg.uid;
    c.pid = Number(msg.pid) || undefined;
    c.queueId = msg.queueId;
    c.input = sanitizeInput(msg.input);
    c.display = typeof msg.display === 'string' ? msg.display.slice(0, 64) : undefined;
    c.session = typeof msg.session === 'string' && /^[\w.-]{1,64}$/.test(msg.session) ? msg.session : undefined;
    this.ensureToken(msg.uid);
    c.state = 'auth';
    this.send(c, { v: IPC_VERSION, kind: 'challenge', tokenPath: tokenPath(this.options.socketPath, msg.uid) });
  }

  private onAuth(c: Connection, msg: ClientMessage): void {
    if (msg.kind !== 'auth' || typeof msg.token !== 'string') return this.fail(c, 'expected auth {token}');
    const expected = this.tokens.get(c.uid!);
    const given = Buffer.from(msg.token, 'utf8');
    if (!expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      this.counters.authFailures += 1;
      this.ctx.logger.warn({ claimedUid: c.uid, pid: c.pid }, 'session agent failed authentication');
      return this.fail(c, 'authentication failed');
    }
    // The name as NSS gives it (a directory user too), in the site's format; the number only if
    // nobody knows the uid. Records and notifications are keyed by it, so it is settled first.
    c.state = 'naming';
    void this.identity
      .userAsync(c.uid!)
      .then(
        (name) => name ?? String(c.uid),
        (err) => {
          this.ctx.logger.error({ err, uid: c.uid }, 'user name lookup failed');
          return String(c.uid);
        },
      )
      .then((user) => {
        try {
          this.welcome(c, user);
        } catch (err) {
          this.ctx.logger.error({ err, user }, 'session welcome failed');
          this.fail(c, 'internal error');
        }
      });
  }

  private welcome(c: Connection, user: string): void {
    if (c.state !== 'naming') return; // closed meanwhile
    const same = [...this.connections.values()].filter((o) => o.state === 'ready' && o.uid === c.uid).length;
    if (same >= this.limits.maxAgentsPerUser) {
      this.counters.refusedAgents += 1;
      this.ctx.logger.warn(
        { user, uid: c.uid, pid: c.pid, connected: same },
        'refused a session agent: its user has session.limits.maxAgentsPerUser connected',
      );
      return this.fail(c, `too many session agents for this user (${same} connected; session.limits.maxAgentsPerUser)`);
    }
    c.user = user;
    c.state = 'ready';
    this.ackedThrough(c);
    // The committed value: what the client may delete from its queue.
    const ackedThrough = this.ctx.journal.getCursor<number>(this.cursorKey(c)) ?? 0;
    this.ctx.logger.info({ user: c.user, uid: c.uid, pid: c.pid, input: c.input?.mode, ackedThrough }, 'session agent connected');
    // Stamped before the welcome goes out: the agent cannot be connected before its logon time.
    c.readyAt = Date.now();
    this.send(c, { v: IPC_VERSION, kind: 'welcome', uid: c.uid!, user: c.user, ackedThrough, features: [FEATURE_ACTIVITY] });
    this.tellAgent('up', c, c.readyAt);
  }

  /**
   * Exactly-once hand-over: items carry the client queue's gap-free seq; the highest one stored
   * per (uid, queue) is a journal cursor committed in the same transaction as the records.
   */
  private onRecords(c: Connection, msg: ClientMessage): void {
    if (msg.kind !== 'records' || !Array.isArray(msg.items) || msg.items.length > MAX_BATCH) return this.fail(c, 'bad records batch');
    const key = this.cursorKey(c);
    let through = this.ackedThrough(c);
    let accepted = 0;
    let duplicates = 0;
    let rejected = 0;
    for (const item of msg.items) {
      const id = Number(item?.id);
      if (!Number.isSafeInteger(id) || id <= through) {
        duplicates += 1;
        continue;
      }
      const record = stampRecord(item.record, { host: this.ctx.host.hostname, user: c.user, uid: c.uid });
      if (record) {
        this.ctx.journal.append(record);
        accepted += 1;
      } else {
        // Acknowledged anyway: a record we will never accept must not block the user's queue.
        rejected += 1;
      }
      through = id;
    }
    if (accepted > 0 || rejected > 0) {
      this.ctx.journal.setCursor(key, through);
      // Remembered before the flush: if it fails the records stay buffered in the journal (and
      // commit later with this cursor), so a resend must not append them a second time.
      this.acked.set(key, through);
      // Acknowledged only once committed: the client deletes nothing the journal might still lose.
      this.ctx.journal.flush();
    }
    c.received += accepted;
    this.counters.accepted += accepted;
    this.counters.duplicates += duplicates;
    this.counters.rejected += rejected;
    if (rejected > 0) this.ctx.logger.warn({ user: c.user, rejected }, 'rejected malformed activity records from a session agent');
    this.send(c, { v: IPC_VERSION, kind: 'ack', through, accepted, duplicates, rejected });
  }

  private cursorKey(c: Connection): string {
    return `session:${c.uid}:${c.queueId}`;
  }

  private ackedThrough(c: Connection): number {
    const key = this.cursorKey(c);
    let v = this.acked.get(key);
    if (v === undefined) {
      v = this.ctx.journal.getCursor<number>(key) ?? 0;
      this.acked.set(key, v);
    }
    return v;
  }

  private ensureToken(uid: number): void {
    if (this.tokens.has(uid)) return;
    const token = Buffer.from(randomBytes(32).toString('hex'), 'utf8');
    const path = tokenPath(this.options.socketPath, uid);
    writeFileAtomic(path, token, { mode: 0o400, uid: this.perUserTokens ? uid : undefined });
    this.tokens.set(uid, token);
  }

  private send(c: Connection, msg: DaemonMessage): void {
    if (c.state === 'closed' || c.socket.destroyed) return;
    c.socket.write(`${JSON.stringify(msg)}\n`);
  }

  private fail(c: Connection, message: string): void {
    if (c.state === 'closed') return;
    this.send(c, { v: IPC_VERSION, kind: 'error', message });
    c.state = 'closed';
    c.socket.end();
    setTimeout(() => c.socket.destroy(), 1000).unref();
  }
}

export const createSessionServer: ComponentFactory = (ctx) => {
  if (!ctx.config.activity.enabled) return undefined;
  const server = new SessionServer(ctx, { socketPath: resolveSocketPath(ctx.config, ctx.dataDir) });
  ctx.components.sessions = server satisfies SessionHub;
  return server;
};
