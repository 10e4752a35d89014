/**
 * Which usage-event code to journal (shared/reference/000), decided from the entry's phase, the
 * product's license type and whether the server answered last:
 *
 * floating/site 1 obtain / 2 return; leased/node-locked 27 license issued (first grant of an
 * allocation seen by this agent) + 29 start / 30 stop; controlled program 3 launch / 4 quit while
 * an allocation is held; 10 / 11 launch / quit offline when the program runs WITHOUT an allocation
 * (server unreachable at launch, or the lease ran out while the server could not be reached);
 * 8 / 9 logged launch / quit for programs that are only logged, 12 / 13 when that happened without
 * the server; 5 queue, 6 dequeue, 7 deny (written where those are decided, with {@link usage}).
 */
import { EventCode } from '../protocol/event-codes.js';
import type { Narrow, UsageEventFields } from '../protocol/v1.js';
import type { AnyProduct, Entry, Proc, Step } from './types.js';

/** A `usage-event` record as the enforcer journals it: the protocol's fields (protocol/v1.ts), narrowed. */
export interface UsageEvent
  extends Narrow<UsageEventFields, { user: string; pid?: number; processStart?: string; leaseId?: string; reason?: string; offline: boolean }> {
  type: 'usage-event';
  time: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
export const isAllocationType = (p: AnyProduct) => !p.logged && (p.licenseType === 'leased' || p.licenseType === 'node-locked');

/** The journal effect of one usage event of the entry. */
export function usage(
  e: Entry,
  now: number,
  code: number,
  extra: { leaseId?: string; reason?: string; pid?: number; processStart?: string } = {},
  offline = false,
): { kind: 'journal'; record: UsageEvent } {
  const record: UsageEvent = { type: 'usage-event', time: iso(now), code, product: e.product.id, user: e.user, offline };
  if (extra.pid !== undefined) record.pid = extra.pid;
  if (extra.processStart !== undefined) record.processStart = extra.processStart;
  if (extra.leaseId !== undefined) record.leaseId = extra.leaseId;
  if (extra.reason !== undefined) record.reason = extra.reason;
  return { kind: 'journal', record };
}

/** Launch code of one process; `atMs` overrides the time (segment boundaries). */
export function logLaunch(s: Step, e: Entry, proc: Proc, atMs?: number): void {
  const t = atMs ?? Date.parse(proc.startTime);
  proc.everLogged = true;
  const base = { pid: proc.pid, processStart: proc.startTime };
  if (e.phase === 'logged') {
    const online = s.state.online;
    proc.logged = online ? 'online' : 'offline';
    s.fx.push(usage(e, t, online ? EventCode.loggedLaunch : EventCode.loggedLaunchOffline, base, !online));
  } else if (e.phase === 'held') {
    proc.logged = 'online';
    s.fx.push(usage(e, t, EventCode.launch, { ...base, leaseId: e.leaseId }));
  } else if (e.phase === 'offline') {
    proc.logged = 'offline';
    s.fx.push(usage(e, t, EventCode.launchOffline, { ...base, reason: 'no-allocation' }, true));
  }
}

export function logQuit(s: Step, e: Entry, proc: Proc, now: number, reason?: string): void {
  const base = { pid: proc.pid, processStart: proc.startTime, ...(reason ? { reason } : {}) };
  if (e.phase === 'logged') {
    const offline = proc.logged === 'offline' || !s.state.online;
    s.fx.push(usage(e, now, offline ? EventCode.loggedQuitOffline : EventCode.loggedQuit, base, offline));
  } else if (proc.logged === 'online') {
    s.fx.push(usage(e, now, EventCode.quit, { ...base, leaseId: e.leaseId }));
  } else if (proc.logged === 'offline') {
    s.fx.push(usage(e, now, EventCode.quitOffline, base, true));
  }
  proc.logged = 'none';
}

/** 2 return (site/floating) or 30 license stop (leased/node-locked) when the allocation ends. */
export function writeLeaseEnd(s: Step, e: Entry, atMs: number, reason: string): void {
  if (e.phase !== 'held') return;
  // Programs still running keep running: their online segment ends here.
  if (reason !== 'quit') for (const proc of e.procs) if (proc.logged === 'online') logQuit(s, e, proc, atMs, reason);
  s.fx.push(usage(e, atMs, isAllocationType(e.product) ? EventCode.licenseStop : EventCode.return, { leaseId: e.leaseId, reason }));
}

/** A grant: 6 dequeue when it came from the queue, then 27 (first time) + 29, or 1 obtain. */
export function writeLeaseStart(s: Step, e: Entry, now: number, leaseId: string, fromQueue: boolean): void {
  if (fromQueue) s.fx.push(usage(e, now, EventCode.dequeue, { leaseId }));
  if (isAllocationType(e.product)) {
    if (!s.state.allocations.has(e.key)) {
      s.state.allocations.add(e.key);
      s.fx.push(usage(e, now, EventCode.licenseIssued, { leaseId }));
    }
    s.fx.push(usage(e, now, EventCode.licenseStart, { leaseId }));
  } else {
    s.fx.push(usage(e, now, EventCode.obtain, { leaseId }));
  }
}
