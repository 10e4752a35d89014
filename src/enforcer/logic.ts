/**
 * The lease enforcer's decisions. `Enforcer.step(event)` applies one event to the state the
 * enforcer holds (it changes it in place) and returns the effects to perform, in order. Every
 * decision (which event code, when to renew, what to do on deny / queue / renewal failure /
 * offline / idle, when to warn, stop or kill) is made from the state, the event and its `now`: no
 * I/O, no clock, no randomness, so the same events always give the same effects. The component
 * (./component.ts) performs the effects (HTTP, signals, notifications, journal) and feeds their
 * outcomes back as events. Tests drive it with exact synthetic timelines.
 *
 * One entry per (user, product) on this host: the first matching process of that user acquires
 * the lease, later ones share it, and the lease is released when the last one exits.
 *
 * The parts: ./types.ts (state, entries by phase, events, effects), ./acquire.ts (asking and the
 * answer), ./renewal.ts (keeping the lease, queue polls, expiry, retries), ./idle.ts (idle
 * harvesting), ./codes.ts (which event code), ./notices.ts (what the user is told),
 * ./entries.ts (pausing, continuing, giving back). This file: the events' dispatch, launches and
 * exits, the clock's tick and what status shows.
 */
import { onAcquired, sendAcquire } from './acquire.js';
import { logLaunch, logQuit } from './codes.js';
import { endEntry, gateStop, suspend } from './entries.js';
import { harvest, onIdle, returnFromIdle } from './idle.js';
import { checkFailingLease, enforceAfterGrace, onQueue, onRenewed, retry } from './renewal.js';
import {
  entryKey,
  initialState,
  requestIdFor,
  type AnyProduct,
  type Entry,
  type EnforcerEvent,
  type EnforcerSettings,
  type Effect,
  type LaunchInfo,
  type Phase,
  type Proc,
  type State,
  type Step,
} from './types.js';

export type { UsageEvent } from './codes.js';
export * from './types.js';

const iso = (ms: number) => new Date(ms).toISOString();
const isGated = (p: AnyProduct) => !p.logged && p.gate === true;

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
    const s: Step = { state: this.state, settings: this.settings, fx: [] };
    switch (ev.kind) {
      case 'launch':
        onLaunch(s, ev.now, ev.product, ev.proc);
        break;
      case 'exit':
        onExit(s, ev.now, ev.pid, ev.startTime);
        break;
      case 'acquired':
        onAcquired(s, ev.now, ev.key, ev.requestId, ev.result);
        break;
      case 'renewed':
        onRenewed(s, ev.now, ev.key, ev.leaseId, ev.result);
        break;
      case 'queue':
        onQueue(s, ev.now, ev.key, ev.ticket, ev.result);
        break;
      case 'online':
        this.state.online = true;
        for (const e of this.state.entries.values()) if (e.phase !== 'logged' && e.retryAtMs !== undefined) e.retryAtMs = ev.now;
        onTick(s, ev.now);
        break;
      case 'offline':
        this.state.online = false;
        break;
      case 'tick':
        onTick(s, ev.now);
        break;
      case 'idle':
        onIdle(s, ev.now, ev.user, ev.productId, ev.idleSeconds);
        break;
    }
    if (s.fx.some((f) => f.kind !== 'persist')) s.fx.push({ kind: 'persist' });
    return s.fx;
  }

  /** Earliest time (ms) at which a tick has something to do; undefined: nothing scheduled. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    for (const e of this.state.entries.values()) {
      if (e.phase === 'logged') continue;
      if (!e.inFlight) {
        consider(e.retryAtMs);
        if (e.phase === 'held') consider(e.renewAtMs);
      }
      if (e.phase === 'held' && e.failingSinceMs !== undefined) {
        consider(e.expiresAtMs);
        consider(e.expiresAtMs + e.graceSeconds * 1000);
      }
      if (e.enforcement && e.enforcement.stage !== 'killed' && e.enforcement.stage !== 'suspended') consider(e.enforcement.atMs);
      if (e.phase === 'held') consider(e.idleDeadlineMs);
    }
    return next;
  }

  heldLeases(): Array<{
    product: string;
    user: string;
    phase: Phase;
    reason: string | null;
    leaseId: string | null;
    expiresAt: string | null;
    pids: number[];
    offline: boolean;
  }> {
    return [...this.state.entries.values()].map((e) => ({
      product: e.product.id,
      user: e.user,
      phase: e.phase,
      reason: e.phase === 'denied' ? e.deniedReason : null,
      leaseId: (e.phase !== 'logged' && e.leaseId) || null,
      expiresAt: e.phase !== 'logged' && e.expiresAtMs !== undefined ? iso(e.expiresAtMs) : null,
      pids: e.procs.map((p) => p.pid),
      offline: e.phase === 'offline',
    }));
  }
}

// --- launch / exit -----------------------------------------------------------------------------

function onLaunch(s: Step, _now: number, product: AnyProduct, info: LaunchInfo): void {
  const key = entryKey(info.user, product.id);
  const proc: Proc = { pid: info.pid, startTime: info.startTime, logged: 'none', everLogged: false, suspended: false };
  const e = s.state.entries.get(key);
  if (e?.procs.some((p) => p.pid === info.pid && p.startTime === info.startTime)) return; // seen already
  if (!e) {
    const base = {
      key,
      user: info.user,
      uid: info.uid,
      procs: [proc],
      requestId: requestIdFor(s.settings.host, info.user, product.id, info.pid, info.startTime, 0),
      generation: 0,
      inFlight: false,
    };
    if (product.logged) {
      const logged: Entry = { ...base, phase: 'logged', product };
      s.state.entries.set(key, logged);
      logLaunch(s, logged, proc);
      return;
    }
    const leased: Entry = { ...base, phase: 'acquiring', product };
    s.state.entries.set(key, leased);
    // Gated: stopped before anything else happens, so it waits for the lease decision.
    if (isGated(product)) gateStop(s, leased, proc);
    sendAcquire(s, leased, info.pid, info.startTime);
    return;
  }
  e.procs.push(proc);
  e.abandoned = false;
  switch (e.phase) {
    case 'held':
    case 'offline':
    case 'logged':
      logLaunch(s, e, proc);
      break;
    case 'queued':
      if (e.product.onDeny === 'suspend') {
        if (isGated(e.product)) gateStop(s, e, proc);
        else suspend(s, e, [proc]);
      }
      break;
    case 'denied':
      // Started again after an idle release: the user is back; ask for the license again.
      if (e.deniedReason === 'idle') {
        returnFromIdle(s, e);
        break;
      }
      // The user started it again while refused: same enforcement for the new process.
      if (e.enforcement?.kind === 'suspend') suspend(s, e, [proc]);
      else if (e.enforcement?.kind === 'terminate' && isGated(e.product)) {
        // Gated: refused already, so it never runs: stopped and killed at once.
        gateStop(s, e, proc);
        proc.suspended = false;
        s.fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGKILL', key });
      } else if (e.enforcement?.kind === 'terminate') {
        if (e.enforcement.stage === 'terminated' || e.enforcement.stage === 'killed') {
          // Warning already given and the deadline passed: no new grace period.
          s.fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGTERM', key });
        }
      }
      break;
    case 'acquiring':
      // Logged when the answer arrives; a gated program waits for it stopped.
      if (isGated(e.product)) gateStop(s, e, proc);
      break;
  }
}

function onExit(s: Step, now: number, pid: number, startTime: string | undefined): void {
  for (const e of s.state.entries.values()) {
    const i = e.procs.findIndex((p) => p.pid === pid && (startTime === undefined || p.startTime === startTime));
    if (i < 0) continue;
    const [proc] = e.procs.splice(i, 1);
    logQuit(s, e, proc!, now);
    if (e.phase !== 'logged' && e.enforcement?.pids) {
      e.enforcement.pids = e.enforcement.pids.filter((x) => x !== pid);
      if (e.enforcement.pids.length === 0) e.enforcement = undefined; // all closed
    }
    if (e.procs.length === 0) endEntry(s, e, now, 'quit');
    return;
  }
}

// --- time --------------------------------------------------------------------------------------

function onTick(s: Step, now: number): void {
  for (const e of [...s.state.entries.values()]) {
    if (e.phase === 'logged') continue;
    // Enforcement steps.
    if (e.enforcement?.kind === 'terminate' && now >= e.enforcement.atMs) {
      const only = e.enforcement.pids;
      const alive = e.procs.map((x) => x.pid).filter((x) => !only || only.includes(x));
      const keep = only ? { pids: only } : {};
      if (e.enforcement.stage === 'warned') {
        if (alive.length) s.fx.push({ kind: 'signal', pids: alive, signal: 'SIGTERM', key: e.key });
        e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + s.settings.killAfterSeconds * 1000, ...keep };
      } else if (e.enforcement.stage === 'terminated') {
        if (alive.length) s.fx.push({ kind: 'signal', pids: alive, signal: 'SIGKILL', key: e.key });
        e.enforcement = { kind: 'terminate', stage: 'killed', atMs: now, ...keep };
      }
    }
    // Renewals failing: the lease runs out at expiry, enforcement at expiry + grace.
    if (e.phase === 'held') checkFailingLease(s, e, now);
    else if (e.phase === 'offline' && e.warnedDeadlineMs !== undefined && now >= e.warnedDeadlineMs) enforceAfterGrace(s, e, now);
    // Requests due (the phase may have changed above).
    if (!e.inFlight) {
      if (e.retryAtMs !== undefined && now >= e.retryAtMs) {
        e.retryAtMs = undefined;
        retry(s, e);
      } else if (e.phase === 'held' && now >= e.renewAtMs && e.failingSinceMs === undefined) {
        e.inFlight = true;
        s.fx.push({ kind: 'renew', key: e.key, leaseId: e.leaseId });
      }
    }
    // Idle harvesting deadline.
    if (e.phase === 'held' && e.idleDeadlineMs !== undefined && now >= e.idleDeadlineMs) {
      e.idleDeadlineMs = undefined;
      harvest(s, e, now);
    }
  }
}
