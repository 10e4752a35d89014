/**
 * Small decisions on an entry's processes, shared by the reducer's parts: which ones are being
 * closed, pausing and continuing them, the gate's stop, and giving everything back when the last
 * one is gone.
 */
import type { ReleaseReason } from '../protocol/v1.js';
import { writeLeaseEnd } from './codes.js';
import type { Entry, LeasedEntry, Proc, Step } from './types.js';

/** Processes being closed after an idle release with `terminate` (not part of a new use). */
export function closing(e: Entry): Set<number> {
  return new Set((e.phase !== 'logged' && e.enforcement?.pids) || []);
}

/** The entry's processes that are not being closed. */
export function running(e: Entry): Proc[] {
  const c = closing(e);
  return e.procs.filter((x) => !c.has(x.pid));
}

/** SIGSTOP for those not paused yet. */
export function suspend(s: Step, e: Entry, procs: Proc[]): void {
  const toStop = procs.filter((x) => !x.suspended);
  if (toStop.length === 0) return;
  for (const x of toStop) x.suspended = true;
  s.fx.push({ kind: 'signal', pids: toStop.map((x) => x.pid), signal: 'SIGSTOP', key: e.key });
}

/** The gate: SIGSTOP at sight (the effect says so, so the component can time exec to stop). */
export function gateStop(s: Step, e: Entry, proc: Proc): void {
  if (proc.suspended) return;
  proc.suspended = true;
  proc.gated = true;
  s.fx.push({ kind: 'signal', pids: [proc.pid], signal: 'SIGSTOP', key: e.key, gate: true });
}

/** SIGCONT for paused processes unless the entry's state is to wait paused. */
export function resumeUnlessPaused(s: Step, e: LeasedEntry): void {
  if (!s.state.entries.has(e.key)) return;
  const waitsPaused = e.enforcement?.kind === 'suspend' || (e.phase === 'queued' && e.product.onDeny === 'suspend');
  if (waitsPaused) return;
  const paused = e.procs.filter((x) => x.suspended);
  if (paused.length === 0) return;
  for (const x of paused) {
    x.suspended = false;
    x.gated = false;
  }
  s.fx.push({ kind: 'signal', pids: paused.map((x) => x.pid), signal: 'SIGCONT', key: e.key });
}

/** The last process of the entry is gone (or it is being released): give everything back. */
export function endEntry(s: Step, e: Entry, now: number, reason: ReleaseReason): void {
  if (e.inFlight) {
    // The answer to an acquire/renew is still coming: release what it brings, then forget.
    e.abandoned = true;
    return;
  }
  if (e.phase === 'held' && e.leaseId) {
    writeLeaseEnd(s, e, now, reason);
    s.fx.push({ kind: 'release', key: e.key, leaseId: e.leaseId, reason });
  }
  if (e.phase === 'queued' && e.ticket) s.fx.push({ kind: 'leaveQueue', key: e.key, ticket: e.ticket });
  s.state.entries.delete(e.key);
}
