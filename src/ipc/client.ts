import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { isMessage } from '../i18n/messages.js';
import type { Journal, NewRecord } from '../journal/journal.js';
import type { Logger } from '../log/logger.js';
import {
  ACTIVITY_GAP_MS,
  FEATURE_ACTIVITY,
  IPC_VERSION,
  MAX_BATCH,
  lineReader,
  tokenPath,
  type DaemonMessage,
  type InputInfo,
  type Notification,
} from './protocol.js';

/** Shows a notification to the user; pluggable (notify-send, a test recorder, ...). */
export interface Notifier {
  readonly name: string;
  show(n: Notification): Promise<void>;
}

export interface DaemonLinkOptions {
  socketPath: string;
  /** The session agent's own durable queue (a Journal on its own file). */
  queue: Journal;
  logger: Logger;
  input: () => InputInfo;
  display?: string;
  /** The logind session id (XDG_SESSION_ID), for the daemon's logon/logoff events. */
  session?: string;
  notifier?: Notifier;
  /** Reconnect backoff bounds. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

type LinkState = 'disconnected' | 'connecting' | 'authenticating' | 'ready';

/**
 * The session agent's side of the channel. Every record goes into the local SQLite queue first
 * (durable), then to the daemon in queue order; the daemon acknowledges what it has committed and
 * only then is it deleted here. Resends after a lost ack are dropped by the daemon (it keeps the
 * highest queue seq per (uid, queue) in its journal), so nothing is lost and nothing counted twice.
 */
export class DaemonLink {
  private socket: Socket | undefined;
  private state: LinkState = 'disconnected';
  private inFlightThrough = 0;
  private ackedThrough = 0;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly queueId: string;
  private readonly waiters = new Set<() => void>();
  /** What the connected daemon accepts beyond v1's base messages (welcome.features). */
  private features = new Set<string>();
  private lastInput: { application: string | null; t: number } | undefined;
  readonly stats = { connects: 0, sent: 0, acked: 0, notifications: 0, activity: 0, lastError: undefined as string | undefined };

  constructor(private readonly o: DaemonLinkOptions) {
    this.retryMs = o.minRetryMs ?? 500;
    let id = o.queue.getCursor<string>('queue-id');
    if (!id) {
      id = randomUUID();
      o.queue.setCursor('queue-id', id);
      o.queue.flush();
    }
    this.queueId = id;
  }

  get connected(): boolean {
    return this.state === 'ready';
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Queues records durably, then sends them if connected. */
  enqueue(records: NewRecord[]): void {
    if (records.length === 0) return;
    for (const r of records) this.o.queue.append(r);
    this.o.queue.flush();
    this.pump();
  }

  /** Records still waiting for the daemon's acknowledgement. */
  pending(): number {
    return this.o.queue.stats().records;
  }

  /** Resolves when the queue is empty (all acknowledged) or after timeoutMs; true if empty. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending() > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())));
        this.waiters.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.pending() === 0;
  }

  /**
   * Input in `application` between monotonic times `first` and `last` (ms). Tells the daemon at
   * once when it is the first input after a pause of ACTIVITY_GAP_MS or in another application
   * (the lease enforcer gives a license back, or keeps it, without waiting for the per-minute
   * records); otherwise nothing is sent. Returns whether a message was sent.
   */
  activity(application: string | null, first: number, last = first): boolean {
    const prev = this.lastInput;
    this.lastInput = { application, t: last };
    if (prev && prev.application === application && first - prev.t < ACTIVITY_GAP_MS) return false;
    if (application === null || this.state !== 'ready' || !this.features.has(FEATURE_ACTIVITY)) return false;
    this.stats.activity += 1;
    this.write({ v: IPC_VERSION, kind: 'activity', application });
    return true;
  }

  sendStatus(): void {
    if (this.state === 'ready') this.write({ v: IPC_VERSION, kind: 'status', input: this.o.input() });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.state = 'disconnected';
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'connecting';
    const socket = createConnection(this.o.socketPath);
    this.socket = socket;
    socket.on('connect', () => {
      this.state = 'authenticating';
      this.write({
        v: IPC_VERSION,
        kind: 'hello',
        uid: process.getuid?.() ?? 0,
        pid: process.pid,
        queueId: this.queueId,
        input: this.o.input(),
        display: this.o.display,
        ...(this.o.session ? { session: this.o.session } : {}),
      });
    });
    socket.on(
      'data',
      lineReader(
        (line) => this.onLine(line),
        () => socket.destroy(new Error('daemon sent an overlong line')),
      ),
    );
    socket.on('error', (err) => {
      this.stats.lastError = err.message;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      const was = this.state;
      this.state = 'disconnected';
      this.socket = undefined;
      this.inFlightThrough = 0;
      if (was === 'ready') this.o.logger.warn({ socket: this.o.socketPath }, 'daemon connection lost; queueing locally');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs ?? 30_000);
  }

  private onLine(line: string): void {
    let msg: DaemonMessage;
    try {
      msg = JSON.parse(line) as DaemonMessage;
    } catch {
      this.socket?.destroy();
      return;
    }
    switch (msg.kind) {
      case 'challenge': {
        // The token path is computed here, not taken from the message.
        const path = tokenPath(this.o.socketPath, process.getuid?.() ?? 0);
        let token: string;
        try {
          token = readFileSync(path, 'utf8');
        } catch (err) {
          this.stats.lastError = `cannot read ${path}: ${(err as Error).message}`;
          this.o.logger.error({ path, err }, 'cannot read the session token; is the daemon running as root?');
          this.socket?.destroy();
          return;
        }
        this.write({ v: IPC_VERSION, kind: 'auth', token });
        return;
      }
      case 'welcome':
        this.state = 'ready';
        this.features = new Set(Array.isArray(msg.features) ? msg.features.map(String) : []);
        this.stats.connects += 1;
        this.retryMs = this.o.minRetryMs ?? 500;
        this.o.logger.info({ user: msg.user, ackedThrough: msg.ackedThrough }, 'connected to the daemon');
        this.onAck(msg.ackedThrough);
        return;
      case 'ack':
        this.onAck(msg.through);
        return;
      case 'notification':
        void this.onNotification(msg);
        return;
      case 'error':
        this.stats.lastError = msg.message;
        this.o.logger.error({ message: msg.message }, 'daemon refused the session agent');
        return;
    }
  }

  private onAck(through: number): void {
    if (through > this.ackedThrough) this.ackedThrough = through;
    if (through > 0) this.o.queue.markAcked(through);
    this.stats.acked = this.ackedThrough;
    if (this.inFlightThrough <= through) this.inFlightThrough = 0;
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
    this.pump();
  }

  private pump(): void {
    if (this.state !== 'ready' || this.inFlightThrough > 0) return;
    const batch = this.o.queue.read({ afterSeq: this.ackedThrough, limit: MAX_BATCH });
    if (batch.length === 0) return;
    const items = batch.map(({ seq, ...record }) => ({ id: seq, record }));
    this.inFlightThrough = batch[batch.length - 1]!.seq;
    this.stats.sent += items.length;
    this.write({ v: IPC_VERSION, kind: 'records', items });
  }

  private async onNotification(n: Notification): Promise<void> {
    this.stats.notifications += 1;
    let shown = false;
    let error: string | undefined;
    if (this.o.notifier) {
      try {
        await this.o.notifier.show({
          id: String(n.id),
          title: String(n.title),
          body: String(n.body),
          urgency: n.urgency,
          ...(isMessage(n.message) ? { message: n.message } : {}),
        });
        shown = true;
      } catch (err) {
        error = (err as Error).message;
      }
    } else {
      error = 'no notifier available in this session';
    }
    this.write({ v: IPC_VERSION, kind: 'notified', id: String(n.id), shown, error });
  }

  private write(msg: unknown): void {
    if (!this.socket || this.socket.destroyed) return;
    this.socket.write(`${JSON.stringify(msg)}\n`);
  }
}
