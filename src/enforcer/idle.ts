/**
 * Idle harvesting (the policy's `idle: {afterSeconds, action}`): ask the user first, release at
 * the deadline unless they come back (4 and 2 or 30, `reason: idle`; then keep it running, pause
 * it or close it), and ask for the license again for the same (user, product) when they do.
 */
import { sendAcquire } from './acquire.js';
import { writeLeaseEnd } from './codes.js';
import { running, suspend } from './entries.js';
import { idleAskNotice, idleKeptNotice, idleReleasedNotice } from './notices.js';
import { enterPhase, entryKey, requestIdFor, type LeasedEntry, type Step } from './types.js';

/**
 * `idleSeconds`: time since the user's last input in this product's windows (or since its newest
 * process started). Input after the question was asked, or within the idle time, means the user
 * is there: it cancels a pending release, and after a release it asks for the license again.
 */
export function onIdle(s: Step, now: number, user: string, productId: string, idleSeconds: number): void {
  const e = s.state.entries.get(entryKey(user, productId));
  if (!e || e.phase === 'logged') return;
  const p = e.product;
  const lastInputMs = now - idleSeconds * 1000;
  const askedAt = e.phase === 'held' || e.phase === 'denied' ? e.idleAskedAtMs : undefined;
  const active = (p.idle.afterSeconds !== null && idleSeconds < p.idle.afterSeconds) || (askedAt !== undefined && lastInputMs > askedAt);
  if (e.phase === 'denied' && e.deniedReason === 'idle') {
    // Released for idleness (even if the policy has turned harvesting off since): back on input.
    if (active) returnFromIdle(s, e);
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
      idleKeptNotice(s, e);
    }
    e.idleAskedAtMs = undefined;
    return;
  }
  if (e.idleDeadlineMs !== undefined) return; // already asked
  // `notify` only reminds: at most once per idle time, not at every check.
  if (p.idle.action === 'notify' && e.idleAskedAtMs !== undefined && now < e.idleAskedAtMs + p.idle.afterSeconds * 1000) return;
  const warn = Math.max(s.settings.terminateWarningSeconds, 0);
  e.idleAskedAtMs = now;
  e.idleDeadlineMs = now + warn * 1000;
  idleAskNotice(s, e, idleSeconds, e.idleDeadlineMs, p.idle.action);
}

/** The question's deadline passed without input: release the lease (and pause or close the program). */
export function harvest(s: Step, e: LeasedEntry, now: number): void {
  if (e.phase !== 'held' || !e.leaseId) return;
  const action = e.product.idle.action;
  if (action === 'notify' || action === 'none' || e.product.idle.afterSeconds === null) return;
  writeLeaseEnd(s, e, now, 'idle');
  s.fx.push({ kind: 'release', key: e.key, leaseId: e.leaseId, reason: 'idle' });
  // A renewal still in flight answers for a lease we no longer hold: its answer is ignored.
  e.inFlight = false;
  // Nothing to get back after `terminate`: the program is closed; the entry goes with its last process.
  const released = enterPhase(e, 'denied', { deniedReason: 'idle', idleAskedAtMs: action === 'terminate' ? undefined : e.idleAskedAtMs });
  released.warnedDeadlineMs = undefined;
  released.retryAtMs = undefined;
  released.leaseId = undefined;
  released.expiresAtMs = undefined;
  for (const proc of e.procs) proc.logged = 'none';
  if (action === 'suspend') {
    suspend(s, e, e.procs);
    e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
  } else if (action === 'terminate') {
    const pids = e.procs.map((x) => x.pid);
    s.fx.push({ kind: 'signal', pids, signal: 'SIGTERM', key: e.key });
    e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + s.settings.killAfterSeconds * 1000, pids };
  }
  idleReleasedNotice(s, e, action);
}

/**
 * The user is back in a program released for idleness (input in it, or they started it again):
 * a new lease request for the same (user, product) entry, so no second seat. Paused processes
 * stay paused until the answer: granted -> SIGCONT, 1/29 + 3, "your license is back"; queued
 * with `suspend` -> 5 and they wait paused; refused -> the product's deny policy; server
 * unreachable -> its offline policy.
 */
export function returnFromIdle(s: Step, e: LeasedEntry): void {
  if (e.inFlight) return;
  const first = running(e)[0];
  if (!first) return; // `terminate`: the program is being closed; nothing to get back
  e.generation += 1;
  e.requestId = requestIdFor(s.settings.host, e.user, e.product.id, first.pid, first.startTime, e.generation);
  const asking = enterPhase(e, 'acquiring', {});
  asking.idleReturn = true;
  if (asking.enforcement?.kind === 'suspend') asking.enforcement = undefined; // the answer decides
  sendAcquire(s, asking, first.pid, first.startTime);
}
