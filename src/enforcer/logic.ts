/**
 * The lease enforcer's decisions as a pure reducer: `step(state, event) -> effects`. Every
 * decision (which event code, when to renew, what to do on deny / queue / renewal failure /
 * offline / idle, when to warn, stop or kill) is made here from the event and `now`; the
 * component (./component.ts) only performs the effects (HTTP, signals, notifications, journal)
 * and feeds their outcomes back as events. Tests drive it with exact synthetic timelines.
 *
 * One entry per (user, product) on this host: the first matching process of that user acquires
 * the lease, later ones share it, and the lease is released when the last one exits.
 *
 * Event codes (shared/reference/000): floating/site 1 obtain / 2 return; leased/node-locked
 * 27 license issued (first grant of an allocation seen by this agent) + 29 start / 30 stop;
 * controlled program 3 launch / 4 quit while an allocation is held; 10 / 11 launch / quit
 * offline when the program runs WITHOUT an allocation (server unreachable at launch, or the lease
 * ran out while the server could not be reached); 8 / 9 logged launch / quit for programs that are
 * only logged, 12 / 13 when that happened without the server; 5 queue, 6 dequeue, 7 deny.
 */
import { render, type DenyWhat, type Message } from '../i18n/messages.js';
import { EventCode } from '../protocol/event-codes.js';
import type {
  AcquireOutcome,
  LeaseDenied,
  LeaseGranted,
  LeaseRequest,
  Narrow,
  ProductPolicy,
  QueuePollOutcome,
  ReleaseReason,
  RenewOutcome,
  UsageEventFields,
} from '../protocol/v1.js';

export interface EnforcerSettings {
  host: string;
  /** Warning before SIGTERM (leases.terminateWarningSeconds). */
  terminateWarningSeconds: number;
  /** SIGTERM to SIGKILL (leases.killAfterSeconds). */
  killAfterSeconds: number;
  /** Retry interval for acquire/renew/queue polls while the server cannot be reached. */
  retrySeconds: number;
  /** Long-poll length for queue tickets. */
  queueWaitSeconds: number;
}

/** A product that is only logged (8/9, 12/13): no lease, no enforcement. */
export interface LoggedProduct {
  id: string;
  name: string;
  logged: true;
  match: { executables: string[]; paths: string[] };
}

export type AnyProduct = (ProductPolicy & { logged?: false }) | LoggedProduct;

export interface Proc {
  pid: number;
  /** ISO start time of the process (its identity together with the pid). */
  startTime: string;
  /** Whether this process's launch event was written, and with which family of codes. */
  logged: 'none' | 'online' | 'offline';
  /** A launch event was written for it before (a later segment starts at its own time). */
  everLogged: boolean;
  suspended: boolean;
  /**
   * Stopped by the gate the moment it was seen (`gate: true`) and not continued since: it has not
   * run beyond its first instants, so a refusal with `terminate` kills it without a warning.
   */
  gated?: boolean;
}

export type Phase =
  /** Request in flight (first acquire, or re-acquire after the server came back). */
  | 'acquiring'
  /** Allocation held. */
  | 'held'
  /** Waiting in the server's queue. */
  | 'queued'
  /** Refused (or offline with `offline: deny`); enforcement runs. */
  | 'denied'
  /** Running without an allocation (offline launch, or the lease ran out while offline). */
  | 'offline'
  /** Only logged, never leased. */
  | 'logged';

export interface Enforcement {
  kind: 'terminate' | 'suspend';
  /** Next step time (ms): SIGTERM after the warning, then SIGKILL. */
  stage: 'warned' | 'terminated' | 'killed' | 'suspended';
  atMs: number;
  /**
   * Only these processes (idle harvesting with `terminate`: the programs being closed). A program
   * the user starts again meanwhile is a new use: it gets its own lease and is not signalled.
   */
  pids?: number[];
}

export interface Entry {
  key: string;
  product: AnyProduct;
  user: string;
  uid: number | null;
  procs: Proc[];
  phase: Phase;
  /** Stable request id of this entry's current lease attempt (idempotent retries). */
  requestId: string;
  generation: number;
  leaseId?: string;
  expiresAtMs?: number;
  renewAtMs?: number;
  graceSeconds?: number;
  /** A request (acquire/renew/poll) is in flight; no second one is sent. */
  inFlight: boolean;
  /** Next retry of a failed request while the server is unreachable. */
  retryAtMs?: number;
  /** When renewals started failing. */
  failingSinceMs?: number;
  /** The deadline announced to the user (expiry + grace) after renewal failures. */
  warnedDeadlineMs?: number;
  ticket?: string;
  enforcement?: Enforcement;
  /** Phase 'denied': why (shown in notifications and event reasons). */
  deniedReason?: string;
  /** The user was asked about idle release; when it happens unless they come back. */
  idleDeadlineMs?: number;
  /** When the user was asked (input after it means they are back); kept through the release. */
  idleAskedAtMs?: number;
  /** Re-acquiring after an idle release because the user came back ("your license is back"). */
  idleReturn?: boolean;
  /** All processes gone while a request was in flight: release whatever it returns. */
  abandoned?: boolean;
}

export interface State {
  entries: Map<string, Entry>;
  /** (user, product) pairs that hold a leased/node-locked allocation (for 27 license issued). */
  allocations: Set<string>;
  /** Whether the last exchange with the server succeeded (logged programs use it for 8/9 vs 12/13). */
  online: boolean;
}

export function initialState(): State {
  return { entries: new Map(), allocations: new Set(), online: false };
}

export interface LaunchInfo {
  pid: number;
  user: string;
  uid: number | null;
  startTime: string;
}

export type EnforcerEvent =
  | { kind: 'launch'; now: number; product: AnyProduct; proc: LaunchInfo }
  | { kind: 'exit'; now: number; pid: number; startTime?: string }
  | { kind: 'acquired'; now: number; key: string; requestId: string; result: AcquireOutcome }
  | { kind: 'renewed'; now: number; key: string; leaseId: string; result: RenewOutcome }
  | { kind: 'queue'; now: number; key: string; ticket: string; result: QueuePollOutcome }
  /** The server answered something (uplink came back): retry what waits at once. */
  | { kind: 'online'; now: number }
  | { kind: 'offline'; now: number }
  | { kind: 'tick'; now: number }
  /** Idle detection from activity data: seconds since the user's last input in this product. */
  | { kind: 'idle'; now: number; user: string; productId: string; idleSeconds: number };

/** A `usage-event` record as the enforcer journals it: the protocol's fields (protocol/v1.ts), narrowed. */
export interface UsageEvent
  extends Narrow<UsageEventFields, { user: string; pid?: number; processStart?: string; leaseId?: string; reason?: string; offline: boolean }> {
  type: 'usage-event';
  time: string;
}

export interface NotificationEffect {
  kind: 'notify';
  user: string;
  uid: number | null;
  id: string;
  title: string;
  body: string;
  /** The same as a message key + parameters (rendered in the user's language by the session agent). */
  message: Message;
  urgency: 'low' | 'normal' | 'critical';
  /** After this time (ms) it no longer matters; undefined: until the entry is gone. */
  relevantUntilMs?: number;
  /** Entry it concerns (dropped from the pending list when the entry goes). */
  key: string;
}

export type Effect =
  | { kind: 'journal'; record: UsageEvent }
  | NotificationEffect
  | { kind: 'acquire'; key: string; request: LeaseRequest }
  | { kind: 'renew'; key: string; leaseId: string }
  | { kind: 'release'; key: string; leaseId: string; reason: ReleaseReason }
  | { kind: 'pollQueue'; key: string; ticket: string; waitSeconds: number }
  | { kind: 'leaveQueue'; key: string; ticket: string }
  | { kind: 'signal'; pids: number[]; signal: 'SIGTERM' | 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'; key: string; gate?: true }
  /** Persist the bookkeeping (leases.json) after this step. */
  | { kind: 'persist' };

export const entryKey = (user: string, productId: string) => `${user}\u0000${productId}`;
const iso = (ms: number) => new Date(ms).toISOString();
/** The administrator's deny message, when set (shown as written in every language). */
const dm = (p: ProductPolicy) => (p.denyMessage ? { denyMessage: p.denyMessage } : {});
const isAllocationType = (p: AnyProduct) => !p.logged && (p.licenseType === 'leased' || p.licenseType === 'node-locked');
const isGated = (p: AnyProduct) => !p.logged && p.gate === true;

/** Deterministic request id for an entry's lease attempt (≤ 128 chars). */
export function requestIdFor(host: string, user: string, productId: string, pid: number, startTime: string, generation: number): string {
  return `${host}|${user}|${productId}|${pid}|${startTime}|${generation}`.slice(0, 128);
}

export class Enforcer {
  readonly state: State;
  constructor(
    readonly settings: EnforcerSettings,
    state?: State,
  ) {
    this.state = state ?? initialState();
  }

  /** Applies one event; returns the effects to perform, in order. */
  step(ev: EnforcerEvent): Effect[] {
    const fx: Effect[] = [];
    switch (ev.kind) {
      case 'launch':
        this.onLaunch(ev.now, ev.product, ev.proc, fx);
        break;
      case 'exit':
        this.onExit(ev.now, ev.pid, ev.startTime, fx);
        break;
      case 'acquired':
        this.onAcquired(ev.now, ev.key, ev.requestId, ev.result, fx);
        break;
      case 'renewed':
        this.onRenewed(ev.now, ev.key, ev.leaseId, ev.result, fx);
        break;
      case 'queue':
        this.onQueue(ev.now, ev.key, ev.ticket, ev.result, fx);
        break;
      case 'online':
        this.state.online = true;
        for (const e of this.state.entries.values()) if (e.retryAtMs !== undefined) e.retryAtMs = ev.now;
        this.onTick(ev.now, fx);
        break;
      case 'offline':
        this.state.online = false;
        break;
      case 'tick':
        this.onTick(ev.now, fx);
        break;
      case 'idle':
        this.onIdle(ev.now, ev.user, ev.productId, ev.idleSeconds, fx);
        break;
    }
    if (fx.some((f) => f.kind !== 'persist')) fx.push({ kind: 'persist' });
    return fx;
  }

  /** Earliest time (ms) at which a tick has something to do; undefined: nothing scheduled. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    for (const e of this.state.entries.values()) {
      if (!e.inFlight) {
        consider(e.retryAtMs);
        if (e.phase === 'held') consider(e.renewAtMs);
      }
      if (e.phase === 'held' && e.failingSinceMs !== undefined && e.expiresAtMs !== undefined) {
        consider(e.expiresAtMs);
        consider(e.expiresAtMs + (e.graceSeconds ?? 0) * 1000);
      }
      if (e.enforcement && e.enforcement.stage !== 'killed' && e.enforcement.stage !== 'suspended') consider(e.enforcement.atMs);
      consider(e.idleDeadlineMs);
    }
    return next;
  }

  heldLeases(): Array<{ product: string; user: string; phase: Phase; reason: string | null; leaseId: string | null; expiresAt: string | null; pids: number[]; offline: boolean }> {
    return [...this.state.entries.values()].map((e) => ({
      product: e.product.id,
      user: e.user,
      phase: e.phase,
      reason: e.deniedReason ?? null,
      leaseId: e.leaseId ?? null,
      expiresAt: e.expiresAtMs !== undefined ? iso(e.expiresAtMs) : null,
      pids: e.procs.map((p) => p.pid),
      offline: e.phase === 'offline',
    }));
  }

  // --- launch / exit ---------------------------------------------------------------------------

  private onLaunch(now: number, product: AnyProduct, info: LaunchInfo, fx: Effect[]): void {
    const key = entryKey(info.user, product.id);
    const proc: Proc = { pid: info.pid, startTime: info.startTime, logged: 'none', everLogged: false, suspended: false };
    let e = this.state.entries.get(key);
    if (e && e.procs.some((p) => p.pid === info.pid && p.startTime === info.startTime)) return; // seen already
    if (!e) {
      e = {
        key,
        product,
        user: info.user,
        uid: info.uid,
        procs: [],
        phase: product.logged ? 'logged' : 'acquiring',
        requestId: requestIdFor(this.settings.host, info.user, product.id, info.pid, info.startTime, 0),
        generation: 0,
        inFlight: false,
      };
      this.state.entries.set(key, e);
      e.procs.push(proc);
      if (product.logged) {
        this.logLaunch(e, proc, fx);
        return;
      }
      // Gated: stopped before anything else happens, so it waits for the lease decision.
      if (isGated(product)) this.gateStop(e, proc, fx);
      this.sendAcquire(e, info.pid, info.startTime, now, fx);
      return;
    }
    e.procs.push(proc);
    e.abandoned = false;
    switch (e.phase) {
      case 'held':
      case 'offline':
      case 'logged':
        this.logLaunch(e, proc, fx);
        break;
      case 'queued':
        if (e.product.logged !== true && e.product.onDeny === 'suspend') {
          if (isGated(e.product)) this.gateStop(e, proc, fx);
          else this.suspend(e, [proc], fx);
        }
        break;
      case 'denied':
        // Started again after an idle release: the user is back; ask for the license again.
        if (e.deniedReason === 'idle') {
          this.returnFromIdle(e, now, fx);
          break;
        }
        // The user started it again while refused: same enforcement for the new process.
        if (e.enforcement?.kind === 'suspend') this.suspend(e, [proc], fx);
        else if (e.enforcement?.kind === 'terminate' && isGated(e.product)) {
          // Gated: refused already, so it never runs: stopped and killed at once.
          this.gateStop(e, proc, fx);
          proc.suspended = false;
          fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGKILL', key });
        } else if (e.enforcement?.kind === 'terminate') {
          if (e.enforcement.stage === 'terminated' || e.enforcement.stage === 'killed') {
            // Warning already given and the deadline passed: no new grace period.
            fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGTERM', key });
          }
        }
        break;
      case 'acquiring':
        // Logged when the answer arrives; a gated program waits for it stopped.
        if (isGated(e.product)) this.gateStop(e, proc, fx);
        break;
    }
  }

  /** The gate: SIGSTOP at sight (the effect says so, so the component can time exec to stop). */
  private gateStop(e: Entry, proc: Proc, fx: Effect[]): void {
    if (proc.suspended) return;
    proc.suspended = true;
    proc.gated = true;
    fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGSTOP', key: e.key, gate: true });
  }

  private onExit(now: number, pid: number, startTime: string | undefined, fx: Effect[]): void {
    for (const e of this.state.entries.values()) {
      const i = e.procs.findIndex((p) => p.pid === pid && (startTime === undefined || p.startTime === startTime));
      if (i < 0) continue;
      const [proc] = e.procs.splice(i, 1);
      this.logQuit(e, proc!, now, fx);
      if (e.enforcement?.pids) {
        e.enforcement.pids = e.enforcement.pids.filter((x) => x !== pid);
        if (e.enforcement.pids.length === 0) e.enforcement = undefined; // all closed
      }
      if (e.procs.length === 0) this.endEntry(e, now, 'quit', fx);
      return;
    }
  }

  /** The last process of the entry is gone (or it is being released): give everything back. */
  private endEntry(e: Entry, now: number, reason: ReleaseReason, fx: Effect[]): void {
    if (e.inFlight) {
      // The answer to an acquire/renew is still coming: release what it brings, then forget.
      e.abandoned = true;
      return;
    }
    if (e.phase === 'held' && e.leaseId) {
      this.writeLeaseEnd(e, now, reason, fx);
      fx.push({ kind: 'release', key: e.key, leaseId: e.leaseId, reason });
    }
    if (e.phase === 'queued' && e.ticket) fx.push({ kind: 'leaveQueue', key: e.key, ticket: e.ticket });
    this.state.entries.delete(e.key);
  }

  // --- lease requests --------------------------------------------------------------------------

  private sendAcquire(e: Entry, pid: number, startTime: string, now: number, fx: Effect[]): void {
    const p = e.product as ProductPolicy;
    e.inFlight = true;
    e.retryAtMs = undefined;
    fx.push({
      kind: 'acquire',
      key: e.key,
      request: {
        product: p.id,
        user: e.user,
        host: this.settings.host,
        pid,
        processStart: startTime,
        requestId: e.requestId,
        // Terminate means the program cannot wait; notify and suspend may wait in the queue.
        queue: p.queue && p.onDeny !== 'terminate',
      },
    });
    void now;
  }

  private onAcquired(now: number, key: string, requestId: string, r: AcquireOutcome, fx: Effect[]): void {
    const e = this.state.entries.get(key);
    if (!e || e.requestId !== requestId) {
      // Nobody wants it any more (or a stale answer): give a granted lease straight back.
      if (r.kind === 'granted') fx.push({ kind: 'release', key, leaseId: r.lease.leaseId, reason: 'quit' });
      if (r.kind === 'queued') fx.push({ kind: 'leaveQueue', key, ticket: r.queued.ticket });
      return;
    }
    e.inFlight = false;
    if (r.kind !== 'unreachable') this.state.online = true;
    if (e.abandoned && e.procs.length === 0) {
      if (r.kind === 'granted') fx.push({ kind: 'release', key, leaseId: r.lease.leaseId, reason: 'quit' });
      if (r.kind === 'queued') fx.push({ kind: 'leaveQueue', key, ticket: r.queued.ticket });
      this.state.entries.delete(key);
      return;
    }
    if (r.kind === 'granted') {
      this.grant(e, r.lease, now, fx, false);
      return;
    }
    this.decideRefusal(e, now, r, fx);
    // Programs paused before this answer (idle release with `suspend`, offline deny with `suspend`)
    // run again unless the answer itself means waiting paused: a `notify` policy lets them run
    // unlicensed, and a `terminate` warning must leave them able to save their work.
    this.resumeUnlessPaused(e, fx);
  }

  private decideRefusal(e: Entry, now: number, r: Exclude<AcquireOutcome, { kind: 'granted' }>, fx: Effect[]): void {
    const p = e.product as ProductPolicy;
    const key = e.key;
    switch (r.kind) {
      case 'queued': {
        const wasQueued = e.phase === 'queued';
        e.phase = 'queued';
        e.ticket = r.queued.ticket;
        if (!wasQueued) {
          fx.push(this.usage(e, now, EventCode.queue, { reason: 'all-seats-in-use' }));
          if (p.onDeny === 'suspend') {
            this.suspend(e, this.running(e), fx);
            this.notify(e, fx, 'queued', { key: 'queued.suspend', params: { product: p.name, seats: p.seats, position: r.queued.position } }, 'normal');
          } else {
            this.notify(e, fx, 'queued', { key: 'queued.notify', params: { product: p.name, seats: p.seats, position: r.queued.position, ...dm(p) } }, 'normal');
          }
        }
        fx.push({ kind: 'pollQueue', key, ticket: r.queued.ticket, waitSeconds: this.settings.queueWaitSeconds });
        e.inFlight = true;
        return;
      }
      case 'denied':
        this.deny(e, now, r.denied.reason, fx, r.denied);
        return;
      case 'unreachable':
        this.state.online = false;
        this.onUnreachableAcquire(e, now, fx);
        return;
      case 'error':
        // The server refused the request itself (e.g. unknown product): treat like offline.
        this.onUnreachableAcquire(e, now, fx);
        return;
    }
  }

  private onUnreachableAcquire(e: Entry, now: number, fx: Effect[]): void {
    const p = e.product as ProductPolicy;
    e.retryAtMs = now + this.settings.retrySeconds * 1000;
    if (e.phase === 'offline' || e.phase === 'denied') return; // already decided; keep retrying
    if (p.offline === 'allow') {
      e.phase = 'offline';
      // A process that ran before (re-acquire after an idle release or a lost lease) starts its
      // offline segment now, not at its process start.
      const closing = this.closing(e);
      for (const proc of e.procs) if (!closing.has(proc.pid)) this.logLaunch(e, proc, fx, proc.everLogged ? now : undefined);
      return;
    }
    this.deny(e, now, 'offline', fx);
  }

  private grant(e: Entry, lease: LeaseGranted, now: number, fx: Effect[], fromQueue: boolean): void {
    const p = e.product as ProductPolicy;
    const wasOffline = e.phase === 'offline';
    const wasRestricted = e.phase === 'denied' || e.phase === 'queued';
    const wasWarned = e.warnedDeadlineMs !== undefined;
    const idleReturn = e.idleReturn === true;
    const closing = this.closing(e);
    if (wasOffline) {
      // The offline segment ends here; the rest of the run is counted against the allocation.
      for (const proc of e.procs) if (proc.logged === 'offline') this.logQuit(e, proc, now, fx, 'reconnected');
    }
    e.phase = 'held';
    e.leaseId = lease.leaseId;
    e.ticket = undefined;
    e.expiresAtMs = now + lease.ttlSeconds * 1000;
    e.renewAtMs = now + lease.renewAfterSeconds * 1000;
    e.graceSeconds = lease.graceSeconds;
    e.failingSinceMs = undefined;
    e.warnedDeadlineMs = undefined;
    e.retryAtMs = undefined;
    e.deniedReason = undefined;
    e.idleReturn = undefined;
    e.idleAskedAtMs = undefined;
    e.idleDeadlineMs = undefined;
    if (fromQueue) fx.push(this.usage(e, now, EventCode.dequeue, { leaseId: lease.leaseId }));
    if (isAllocationType(p)) {
      if (!this.state.allocations.has(e.key)) {
        this.state.allocations.add(e.key);
        fx.push(this.usage(e, now, EventCode.licenseIssued, { leaseId: lease.leaseId }));
      }
      fx.push(this.usage(e, now, EventCode.licenseStart, { leaseId: lease.leaseId }));
    } else {
      fx.push(this.usage(e, now, EventCode.obtain, { leaseId: lease.leaseId }));
    }
    for (const proc of e.procs) {
      if (closing.has(proc.pid)) continue; // being closed after an idle release: not in this use
      this.logLaunch(e, proc, fx, wasOffline || wasRestricted || fromQueue || proc.everLogged ? now : undefined);
    }
    const suspended = e.procs.filter((x) => x.suspended);
    if (suspended.length > 0) {
      fx.push({ kind: 'signal', pids: suspended.map((x) => x.pid), signal: 'SIGCONT', key: e.key });
      for (const x of suspended) {
        x.suspended = false;
        x.gated = false;
      }
    }
    // Enforcement ends with the grant, except the closing of programs released for idleness.
    if (e.enforcement && !e.enforcement.pids) e.enforcement = undefined;
    if (idleReturn) {
      this.notify(e, fx, 'idle', { key: 'idle.back', params: { product: p.name, continues: suspended.length > 0 } }, 'normal');
    } else if (wasWarned && !wasRestricted) {
      this.notify(e, fx, 'renew-failing', { key: 'renew.ok', params: { product: p.name } }, 'low');
    } else if (wasRestricted || fromQueue) {
      this.notify(e, fx, 'ready', { key: 'ready', params: { product: p.name, continues: suspended.length > 0 } }, 'normal');
    }
  }

  private deny(e: Entry, now: number, reason: string, fx: Effect[], denied?: LeaseDenied): void {
    const p = e.product as ProductPolicy;
    e.phase = 'denied';
    e.deniedReason = reason;
    e.ticket = undefined;
    fx.push(this.usage(e, now, EventCode.deny, { reason }));
    const what: DenyWhat =
      reason === 'offline'
        ? 'offline'
        : denied?.reason === 'no-seats' || denied?.seats === 0
          ? 'none'
          : denied && denied.seats !== null
            ? denied.seats === 1 ? 'one' : 'all'
            : 'unknown';
    const why = { product: p.name, what, seats: denied?.seats ?? null, ...dm(p) };
    // Suspend without a queue to wait in would freeze the program forever: close it instead.
    const enforcement = p.onDeny === 'suspend' && reason !== 'offline' ? 'terminate' : p.onDeny;
    if (reason === 'offline') e.retryAtMs = now + this.settings.retrySeconds * 1000;
    if (enforcement === 'notify') {
      this.notify(e, fx, 'denied', { key: 'deny.notify', params: why }, 'normal');
      return;
    }
    if (enforcement === 'suspend') {
      // Offline with suspend: pause and keep trying; it continues the moment a license is granted.
      this.suspend(e, e.procs, fx);
      e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
      this.notify(e, fx, 'denied', { key: 'deny.suspend', params: why }, 'critical');
      return;
    }
    // Gated launches that never ran are killed at once: there is no work in them to save.
    const neverRan = this.running(e).filter((x) => x.gated && x.suspended);
    if (neverRan.length > 0) {
      for (const x of neverRan) x.suspended = false;
      fx.push({ kind: 'signal', pids: neverRan.map((x) => x.pid), signal: 'SIGKILL', key: e.key });
      if (neverRan.length === this.running(e).length) {
        e.enforcement = { kind: 'terminate', stage: 'killed', atMs: now };
        this.notify(e, fx, 'denied', { key: 'deny.gate', params: why }, 'critical');
        return;
      }
    }
    const atMs = now + this.settings.terminateWarningSeconds * 1000;
    e.enforcement = { kind: 'terminate', stage: 'warned', atMs };
    this.notify(e, fx, 'denied', { key: 'deny.terminate', params: { ...why, closeAt: atMs, inSeconds: this.settings.terminateWarningSeconds } }, 'critical', atMs + this.settings.killAfterSeconds * 1000);
  }

  /** Processes being closed after an idle release with `terminate` (not part of a new use). */
  private closing(e: Entry): Set<number> {
    return new Set(e.enforcement?.pids ?? []);
  }

  /** The entry's processes that are not being closed. */
  private running(e: Entry): Proc[] {
    const closing = this.closing(e);
    return e.procs.filter((x) => !closing.has(x.pid));
  }

  /** SIGCONT for paused processes unless the entry's state is to wait paused. */
  private resumeUnlessPaused(e: Entry, fx: Effect[]): void {
    if (!this.state.entries.has(e.key) || e.product.logged) return;
    const waitsPaused = e.enforcement?.kind === 'suspend' || (e.phase === 'queued' && e.product.onDeny === 'suspend');
    if (waitsPaused) return;
    const paused = e.procs.filter((x) => x.suspended);
    if (paused.length === 0) return;
    for (const x of paused) {
      x.suspended = false;
      x.gated = false;
    }
    fx.push({ kind: 'signal', pids: paused.map((x) => x.pid), signal: 'SIGCONT', key: e.key });
  }

  private suspend(e: Entry, procs: Proc[], fx: Effect[]): void {
    const toStop = procs.filter((x) => !x.suspended);
    if (toStop.length === 0) return;
    for (const x of toStop) x.suspended = true;
    fx.push({ kind: 'signal', pids: toStop.map((x) => x.pid), signal: 'SIGSTOP', key: e.key });
  }

  // --- renewals --------------------------------------------------------------------------------

  private onRenewed(now: number, key: string, leaseId: string, r: RenewOutcome, fx: Effect[]): void {
    const e = this.state.entries.get(key);
    if (!e || e.leaseId !== leaseId) return;
    e.inFlight = false;
    if (e.abandoned && e.procs.length === 0) {
      this.endEntry(e, now, 'quit', fx);
      return;
    }
    const p = e.product as ProductPolicy;
    if (r.kind === 'renewed') {
      this.state.online = true;
      if (e.phase !== 'held') {
        // The lease ran out locally while offline but the server still had it: back on it.
        this.grant(e, r.lease, now, fx, false);
        return;
      }
      const warned = e.warnedDeadlineMs !== undefined;
      e.expiresAtMs = now + r.lease.ttlSeconds * 1000;
      e.renewAtMs = now + r.lease.renewAfterSeconds * 1000;
      e.graceSeconds = r.lease.graceSeconds;
      e.failingSinceMs = undefined;
      e.warnedDeadlineMs = undefined;
      e.retryAtMs = undefined;
      if (warned) this.notify(e, fx, 'renew-failing', { key: 'renew.ok', params: { product: p.name } }, 'low');
      return;
    }
    if (r.kind === 'gone') {
      // The server no longer has it (expired and swept, or revoked): ask again with a new id.
      this.state.online = true;
      if (e.phase === 'held') this.writeLeaseEnd(e, now, 'lost', fx);
      e.generation += 1;
      const first = e.procs[0]!;
      e.requestId = requestIdFor(this.settings.host, e.user, p.id, first.pid, first.startTime, e.generation);
      e.leaseId = undefined;
      e.phase = 'acquiring';
      for (const proc of e.procs) proc.logged = proc.logged === 'online' ? 'none' : proc.logged;
      this.sendAcquire(e, first.pid, first.startTime, now, fx);
      return;
    }
    this.state.online = false;
    e.failingSinceMs ??= now;
    e.retryAtMs = now + this.settings.retrySeconds * 1000;
    if (e.phase === 'held' && e.expiresAtMs !== undefined && e.warnedDeadlineMs === undefined) {
      const deadline = e.expiresAtMs + (e.graceSeconds ?? 0) * 1000;
      e.warnedDeadlineMs = deadline;
      this.notify(e, fx, 'renew-failing', { key: 'renew.failing', params: { product: p.name, deadlineAt: deadline, onDeny: p.onDeny } }, p.onDeny === 'notify' ? 'normal' : 'critical', deadline);
    }
  }

  // --- queue -----------------------------------------------------------------------------------

  private onQueue(now: number, key: string, ticket: string, r: QueuePollOutcome, fx: Effect[]): void {
    const e = this.state.entries.get(key);
    if (!e || e.ticket !== ticket) {
      if (r.kind === 'status' && r.status.status === 'granted') fx.push({ kind: 'release', key, leaseId: r.status.lease.leaseId, reason: 'quit' });
      return;
    }
    e.inFlight = false;
    if (e.abandoned && e.procs.length === 0) {
      if (r.kind === 'status' && r.status.status === 'granted') fx.push({ kind: 'release', key, leaseId: r.status.lease.leaseId, reason: 'quit' });
      else fx.push({ kind: 'leaveQueue', key, ticket });
      this.state.entries.delete(key);
      return;
    }
    if (r.kind === 'status') {
      this.state.online = true;
      if (r.status.status === 'granted') {
        this.grant(e, r.status.lease, now, fx, true);
        return;
      }
      e.inFlight = true;
      fx.push({ kind: 'pollQueue', key, ticket, waitSeconds: this.settings.queueWaitSeconds });
      return;
    }
    if (r.kind === 'gone') {
      // Lost the place (keepalive missed): ask again; the server puts us back in the queue.
      const first = e.procs[0]!;
      e.generation += 1;
      e.requestId = requestIdFor(this.settings.host, e.user, e.product.id, first.pid, first.startTime, e.generation);
      e.ticket = undefined;
      this.sendAcquire(e, first.pid, first.startTime, now, fx);
      e.phase = 'queued';
      return;
    }
    this.state.online = false;
    e.retryAtMs = now + this.settings.retrySeconds * 1000;
  }

  // --- time ------------------------------------------------------------------------------------

  private onTick(now: number, fx: Effect[]): void {
    for (const e of [...this.state.entries.values()]) {
      if (e.phase === 'logged') continue;
      const p = e.product as ProductPolicy;
      // Enforcement steps.
      if (e.enforcement?.kind === 'terminate' && now >= e.enforcement.atMs) {
        const only = e.enforcement.pids;
        const alive = e.procs.map((x) => x.pid).filter((x) => !only || only.includes(x));
        const keep = only ? { pids: only } : {};
        if (e.enforcement.stage === 'warned') {
          if (alive.length) fx.push({ kind: 'signal', pids: alive, signal: 'SIGTERM', key: e.key });
          e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + this.settings.killAfterSeconds * 1000, ...keep };
        } else if (e.enforcement.stage === 'terminated') {
          if (alive.length) fx.push({ kind: 'signal', pids: alive, signal: 'SIGKILL', key: e.key });
          e.enforcement = { kind: 'terminate', stage: 'killed', atMs: now, ...keep };
        }
      }
      // A held lease whose renewals fail: past expiry it is no longer counted by the server (the
      // program runs without an allocation); past expiry + grace the policy's enforcement applies.
      if (e.phase === 'held' && e.failingSinceMs !== undefined && e.expiresAtMs !== undefined) {
        const deadline = e.expiresAtMs + (e.graceSeconds ?? 0) * 1000;
        if (now >= e.expiresAtMs) {
          this.writeLeaseEnd(e, e.expiresAtMs, 'lost', fx);
          e.phase = 'offline';
          for (const proc of e.procs) {
            proc.logged = 'none';
            this.logLaunch(e, proc, fx, e.expiresAtMs);
          }
          e.retryAtMs ??= now;
        }
        if (now >= deadline) this.enforceAfterGrace(e, now, fx);
        else if (e.phase === 'offline') e.warnedDeadlineMs = deadline;
      } else if (e.phase === 'offline' && e.warnedDeadlineMs !== undefined && now >= e.warnedDeadlineMs) {
        this.enforceAfterGrace(e, now, fx);
      }
      // Requests due.
      if (!e.inFlight) {
        if (e.retryAtMs !== undefined && now >= e.retryAtMs) {
          e.retryAtMs = undefined;
          this.retry(e, now, fx);
        } else if (e.phase === 'held' && e.renewAtMs !== undefined && now >= e.renewAtMs && e.leaseId && e.failingSinceMs === undefined) {
          e.inFlight = true;
          fx.push({ kind: 'renew', key: e.key, leaseId: e.leaseId });
        }
      }
      // Idle harvesting deadline.
      if (e.idleDeadlineMs !== undefined && now >= e.idleDeadlineMs) {
        e.idleDeadlineMs = undefined;
        this.harvest(e, now, fx);
      }
      void p;
    }
  }

  private enforceAfterGrace(e: Entry, now: number, fx: Effect[]): void {
    const p = e.product as ProductPolicy;
    e.warnedDeadlineMs = undefined;
    e.failingSinceMs = undefined;
    if (p.onDeny === 'terminate') {
      // The warning was given with the renewal failure; stop now, kill after killAfterSeconds.
      e.phase = 'denied';
      e.deniedReason = 'lease-expired';
      const alive = e.procs.map((x) => x.pid);
      fx.push(this.usage(e, now, EventCode.deny, { reason: 'lease-expired' }));
      if (alive.length) fx.push({ kind: 'signal', pids: alive, signal: 'SIGTERM', key: e.key });
      e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + this.settings.killAfterSeconds * 1000 };
      e.retryAtMs ??= now + this.settings.retrySeconds * 1000;
      this.notify(e, fx, 'denied', { key: 'expired.terminate', params: { product: p.name } }, 'critical');
    } else if (p.onDeny === 'suspend') {
      e.phase = 'denied';
      e.deniedReason = 'lease-expired';
      fx.push(this.usage(e, now, EventCode.deny, { reason: 'lease-expired' }));
      this.suspend(e, e.procs, fx);
      e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
      e.retryAtMs ??= now + this.settings.retrySeconds * 1000;
      this.notify(e, fx, 'denied', { key: 'expired.suspend', params: { product: p.name } }, 'critical');
    }
    // notify: it keeps running offline (codes 10/11 already written at expiry); retries go on.
  }

  private retry(e: Entry, now: number, fx: Effect[]): void {
    if (e.phase === 'held' && e.leaseId) {
      e.inFlight = true;
      fx.push({ kind: 'renew', key: e.key, leaseId: e.leaseId });
      return;
    }
    if (e.phase === 'queued' && e.ticket) {
      e.inFlight = true;
      fx.push({ kind: 'pollQueue', key: e.key, ticket: e.ticket, waitSeconds: 0 });
      return;
    }
    if (e.phase === 'offline' && e.leaseId) {
      // The lease ran out locally; the server may still have it (it was only unreachable).
      e.inFlight = true;
      fx.push({ kind: 'renew', key: e.key, leaseId: e.leaseId });
      return;
    }
    if (e.phase === 'offline' || e.phase === 'denied' || e.phase === 'acquiring') {
      if (e.phase === 'denied' && e.deniedReason !== 'offline' && e.deniedReason !== 'lease-expired') return;
      const first = e.procs[0];
      if (!first) return;
      this.sendAcquire(e, first.pid, first.startTime, now, fx);
    }
  }

  // --- idle harvesting -------------------------------------------------------------------------

  /**
   * `idleSeconds`: time since the user's last input in this product's windows (or since its newest
   * process started). Input after the question was asked, or within the idle time, means the user
   * is there: it cancels a pending release, and after a release it asks for the license again.
   */
  private onIdle(now: number, user: string, productId: string, idleSeconds: number, fx: Effect[]): void {
    const e = this.state.entries.get(entryKey(user, productId));
    if (!e || e.product.logged) return;
    const p = e.product;
    const lastInputMs = now - idleSeconds * 1000;
    const active = (p.idle.afterSeconds !== null && idleSeconds < p.idle.afterSeconds) || (e.idleAskedAtMs !== undefined && lastInputMs > e.idleAskedAtMs);
    if (e.phase === 'denied' && e.deniedReason === 'idle') {
      // Released for idleness (even if the policy has turned harvesting off since): back on input.
      if (active) this.returnFromIdle(e, now, fx);
      return;
    }
    if (e.phase !== 'held') return;
    if (p.idle.afterSeconds === null || p.idle.action === 'none') {
      e.idleDeadlineMs = undefined;
      e.idleAskedAtMs = undefined;
      return;
    }
    if (active) {
      if (e.idleDeadlineMs !== undefined) {
        e.idleDeadlineMs = undefined; // the user came back before the deadline
        this.notify(e, fx, 'idle', { key: 'idle.kept', params: { product: p.name } }, 'low');
      }
      e.idleAskedAtMs = undefined;
      return;
    }
    if (e.idleDeadlineMs !== undefined) return; // already asked
    // `notify` only reminds: at most once per idle time, not at every check.
    if (p.idle.action === 'notify' && e.idleAskedAtMs !== undefined && now < e.idleAskedAtMs + p.idle.afterSeconds * 1000) return;
    const warn = Math.max(this.settings.terminateWarningSeconds, 0);
    e.idleAskedAtMs = now;
    e.idleDeadlineMs = now + warn * 1000;
    const then = p.idle.action;
    this.notify(e, fx, 'idle', { key: 'idle.ask', params: { product: p.name, idleSeconds, deadlineAt: e.idleDeadlineMs, then } }, 'critical', e.idleDeadlineMs);
  }

  private harvest(e: Entry, now: number, fx: Effect[]): void {
    if (e.product.logged || e.phase !== 'held' || !e.leaseId) return;
    const p = e.product;
    if (p.idle.action === 'notify' || p.idle.action === 'none' || p.idle.afterSeconds === null) return;
    this.writeLeaseEnd(e, now, 'idle', fx);
    fx.push({ kind: 'release', key: e.key, leaseId: e.leaseId, reason: 'idle' });
    // A renewal still in flight answers for a lease we no longer hold: its answer is ignored.
    e.inFlight = false;
    e.failingSinceMs = undefined;
    e.warnedDeadlineMs = undefined;
    e.retryAtMs = undefined;
    e.leaseId = undefined;
    e.expiresAtMs = undefined;
    e.renewAtMs = undefined;
    e.phase = 'denied';
    e.deniedReason = 'idle';
    for (const proc of e.procs) proc.logged = 'none';
    if (p.idle.action === 'suspend') {
      this.suspend(e, e.procs, fx);
      e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
      this.notify(e, fx, 'idle', { key: 'idle.paused', params: { product: p.name } }, 'normal');
    } else if (p.idle.action === 'terminate') {
      const pids = e.procs.map((x) => x.pid);
      fx.push({ kind: 'signal', pids, signal: 'SIGTERM', key: e.key });
      e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + this.settings.killAfterSeconds * 1000, pids };
      // Nothing to get back: the program is closed; the entry goes with its last process.
      e.idleAskedAtMs = undefined;
      this.notify(e, fx, 'idle', { key: 'idle.closed', params: { product: p.name } }, 'normal');
    } else {
      this.notify(e, fx, 'idle', { key: 'idle.released', params: { product: p.name } }, 'normal');
    }
  }

  /**
   * The user is back in a program released for idleness (input in it, or they started it again):
   * a new lease request for the same (user, product) entry, so no second seat. Paused processes
   * stay paused until the answer: granted -> SIGCONT, 1/29 + 3, "your license is back"; queued
   * with `suspend` -> 5 and they wait paused; refused -> the product's deny policy; server
   * unreachable -> its offline policy.
   */
  private returnFromIdle(e: Entry, now: number, fx: Effect[]): void {
    if (e.inFlight) return;
    const first = this.running(e)[0];
    if (!first) return; // `terminate`: the program is being closed; nothing to get back
    e.generation += 1;
    e.requestId = requestIdFor(this.settings.host, e.user, e.product.id, first.pid, first.startTime, e.generation);
    e.phase = 'acquiring';
    e.deniedReason = undefined;
    e.idleReturn = true;
    e.idleAskedAtMs = undefined;
    if (e.enforcement?.kind === 'suspend') e.enforcement = undefined; // the answer decides
    this.sendAcquire(e, first.pid, first.startTime, now, fx);
  }

  // --- records ---------------------------------------------------------------------------------

  private usage(e: Entry, now: number, code: number, extra: { leaseId?: string; reason?: string; pid?: number; processStart?: string } = {}, offline = false): { kind: 'journal'; record: UsageEvent } {
    const record: UsageEvent = { type: 'usage-event', time: iso(now), code, product: e.product.id, user: e.user, offline };
    if (extra.pid !== undefined) record.pid = extra.pid;
    if (extra.processStart !== undefined) record.processStart = extra.processStart;
    if (extra.leaseId !== undefined) record.leaseId = extra.leaseId;
    if (extra.reason !== undefined) record.reason = extra.reason;
    return { kind: 'journal', record };
  }

  /** Launch code of one process; `atMs` overrides the time (segment boundaries). */
  private logLaunch(e: Entry, proc: Proc, fx: Effect[], atMs?: number): void {
    const t = atMs ?? Date.parse(proc.startTime);
    proc.everLogged = true;
    const base = { pid: proc.pid, processStart: proc.startTime };
    if (e.phase === 'logged') {
      const online = this.state.online;
      proc.logged = online ? 'online' : 'offline';
      fx.push(this.usage(e, t, online ? EventCode.loggedLaunch : EventCode.loggedLaunchOffline, base, !online));
    } else if (e.phase === 'held') {
      proc.logged = 'online';
      fx.push(this.usage(e, t, EventCode.launch, { ...base, leaseId: e.leaseId }));
    } else if (e.phase === 'offline') {
      proc.logged = 'offline';
      fx.push(this.usage(e, t, EventCode.launchOffline, { ...base, reason: 'no-allocation' }, true));
    }
  }

  private logQuit(e: Entry, proc: Proc, now: number, fx: Effect[], reason?: string): void {
    const base = { pid: proc.pid, processStart: proc.startTime, ...(reason ? { reason } : {}) };
    if (e.phase === 'logged') {
      const offline = proc.logged === 'offline' || !this.state.online;
      fx.push(this.usage(e, now, offline ? EventCode.loggedQuitOffline : EventCode.loggedQuit, base, offline));
    } else if (proc.logged === 'online') {
      fx.push(this.usage(e, now, EventCode.quit, { ...base, leaseId: e.leaseId }));
    } else if (proc.logged === 'offline') {
      fx.push(this.usage(e, now, EventCode.quitOffline, base, true));
    }
    proc.logged = 'none';
  }

  /** 2 return (site/floating) or 30 license stop (leased/node-locked) when the allocation ends. */
  private writeLeaseEnd(e: Entry, atMs: number, reason: string, fx: Effect[]): void {
    if (e.phase !== 'held') return;
    // Programs still running keep running: their online segment ends here.
    if (reason !== 'quit') for (const proc of e.procs) if (proc.logged === 'online') this.logQuit(e, proc, atMs, fx, reason);
    fx.push(this.usage(e, atMs, isAllocationType(e.product) ? EventCode.licenseStop : EventCode.return, { leaseId: e.leaseId, reason }));
  }

  /** A notification: the message (key + parameters) and its English texts (journal, older session agents). */
  private notify(e: Entry, fx: Effect[], topic: string, message: Message, urgency: NotificationEffect['urgency'], relevantUntilMs?: number): void {
    const { title, body } = render(message);
    fx.push({
      kind: 'notify',
      user: e.user,
      uid: e.uid,
      id: `usage-agent:${e.product.id}:${e.user}:${topic}`,
      title,
      body,
      message,
      urgency,
      key: e.key,
      ...(relevantUntilMs !== undefined ? { relevantUntilMs } : {}),
    });
  }
}
