/**
 * Keeping a lease: renewal answers (renewed, gone, unreachable with its warning), queue polls,
 * the lease running out while the server cannot be reached (4, 2 `lost`, then 10: the program runs
 * without an allocation) and the product's onDeny once expiry + grace has passed, and retries.
 */
import { EventCode } from '../protocol/event-codes.js';
import type { QueuePollOutcome, RenewOutcome } from '../protocol/v1.js';
import { grant, sendAcquire } from './acquire.js';
import { logLaunch, usage, writeLeaseEnd } from './codes.js';
import { endEntry, suspend } from './entries.js';
import { expiredNotice, renewedNotice, renewFailingNotice } from './notices.js';
import { enterPhase, requestIdFor, type HeldEntry, type LeasedEntry, type Step } from './types.js';

export function onRenewed(s: Step, now: number, key: string, leaseId: string, r: RenewOutcome): void {
  const e = s.state.entries.get(key);
  if (!e || e.phase === 'logged' || e.leaseId !== leaseId) return;
  e.inFlight = false;
  if (e.abandoned && e.procs.length === 0) {
    endEntry(s, e, now, 'quit');
    return;
  }
  if (r.kind === 'renewed') {
    s.state.online = true;
    if (e.phase !== 'held') {
      // The lease ran out locally while offline but the server still had it: back on it.
      grant(s, e, r.lease, now, false);
      return;
    }
    const warned = e.warnedDeadlineMs !== undefined;
    e.expiresAtMs = now + r.lease.ttlSeconds * 1000;
    e.renewAtMs = now + r.lease.renewAfterSeconds * 1000;
    e.graceSeconds = r.lease.graceSeconds;
    e.failingSinceMs = undefined;
    e.warnedDeadlineMs = undefined;
    e.retryAtMs = undefined;
    if (warned) renewedNotice(s, e);
    return;
  }
  if (r.kind === 'gone') {
    // The server no longer has it (expired and swept, or revoked): ask again with a new id.
    s.state.online = true;
    if (e.phase === 'held') writeLeaseEnd(s, e, now, 'lost');
    e.generation += 1;
    const first = e.procs[0]!;
    e.requestId = requestIdFor(s.settings.host, e.user, e.product.id, first.pid, first.startTime, e.generation);
    enterPhase(e, 'acquiring', {});
    e.leaseId = undefined;
    for (const proc of e.procs) proc.logged = proc.logged === 'online' ? 'none' : proc.logged;
    sendAcquire(s, e, first.pid, first.startTime);
    return;
  }
  s.state.online = false;
  e.retryAtMs = now + s.settings.retrySeconds * 1000;
  if (e.phase === 'held') {
    e.failingSinceMs ??= now;
    if (e.warnedDeadlineMs === undefined) {
      const deadline = e.expiresAtMs + e.graceSeconds * 1000;
      e.warnedDeadlineMs = deadline;
      renewFailingNotice(s, e, deadline);
    }
  }
}

export function onQueue(s: Step, now: number, key: string, ticket: string, r: QueuePollOutcome): void {
  const e = s.state.entries.get(key);
  if (e?.phase !== 'queued' || e.ticket !== ticket) {
    if (r.kind === 'status' && r.status.status === 'granted') s.fx.push({ kind: 'release', key, leaseId: r.status.lease.leaseId, reason: 'quit' });
    return;
  }
  e.inFlight = false;
  if (e.abandoned && e.procs.length === 0) {
    if (r.kind === 'status' && r.status.status === 'granted') s.fx.push({ kind: 'release', key, leaseId: r.status.lease.leaseId, reason: 'quit' });
    else s.fx.push({ kind: 'leaveQueue', key, ticket });
    s.state.entries.delete(key);
    return;
  }
  if (r.kind === 'status') {
    s.state.online = true;
    if (r.status.status === 'granted') {
      grant(s, e, r.status.lease, now, true);
      return;
    }
    e.inFlight = true;
    s.fx.push({ kind: 'pollQueue', key, ticket, waitSeconds: s.settings.queueWaitSeconds });
    return;
  }
  if (r.kind === 'gone') {
    // Lost the place (keepalive missed): ask again; the server puts us back in the queue.
    const first = e.procs[0]!;
    e.generation += 1;
    e.requestId = requestIdFor(s.settings.host, e.user, e.product.id, first.pid, first.startTime, e.generation);
    e.ticket = undefined;
    sendAcquire(s, e, first.pid, first.startTime);
    return;
  }
  s.state.online = false;
  e.retryAtMs = now + s.settings.retrySeconds * 1000;
}

/**
 * A held lease whose renewals fail: past expiry it is no longer counted by the server (the program
 * runs without an allocation); past expiry + grace the policy's enforcement applies.
 */
export function checkFailingLease(s: Step, e: HeldEntry, now: number): void {
  if (e.failingSinceMs === undefined) return;
  const deadline = e.expiresAtMs + e.graceSeconds * 1000;
  const expiredAt = e.expiresAtMs;
  let after: LeasedEntry = e;
  if (now >= expiredAt) {
    writeLeaseEnd(s, e, expiredAt, 'lost');
    const offline = enterPhase(e, 'offline', {});
    for (const proc of offline.procs) {
      proc.logged = 'none';
      logLaunch(s, offline, proc, expiredAt);
    }
    offline.retryAtMs ??= now;
    after = offline;
  }
  if (now >= deadline) enforceAfterGrace(s, after, now);
  else if (after.phase === 'offline') after.warnedDeadlineMs = deadline;
}

/** Expiry + grace has passed without a renewal: the product's onDeny (notify keeps it running offline). */
export function enforceAfterGrace(s: Step, e: LeasedEntry, now: number): void {
  const p = e.product;
  e.warnedDeadlineMs = undefined;
  if (p.onDeny === 'terminate') {
    // The warning was given with the renewal failure; stop now, kill after killAfterSeconds.
    enterPhase(e, 'denied', { deniedReason: 'lease-expired' });
    const alive = e.procs.map((x) => x.pid);
    s.fx.push(usage(e, now, EventCode.deny, { reason: 'lease-expired' }));
    if (alive.length) s.fx.push({ kind: 'signal', pids: alive, signal: 'SIGTERM', key: e.key });
    e.enforcement = { kind: 'terminate', stage: 'terminated', atMs: now + s.settings.killAfterSeconds * 1000 };
    e.retryAtMs ??= now + s.settings.retrySeconds * 1000;
    expiredNotice(s, e, 'terminate');
  } else if (p.onDeny === 'suspend') {
    enterPhase(e, 'denied', { deniedReason: 'lease-expired' });
    s.fx.push(usage(e, now, EventCode.deny, { reason: 'lease-expired' }));
    suspend(s, e, e.procs);
    e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
    e.retryAtMs ??= now + s.settings.retrySeconds * 1000;
    expiredNotice(s, e, 'suspend');
  }
  // notify: it keeps running offline (codes 10/11 already written at expiry); retries go on.
}

/** A retry is due: renew (a lease the server may still have), poll the queue, or ask again. */
export function retry(s: Step, e: LeasedEntry): void {
  if ((e.phase === 'held' || e.phase === 'offline') && e.leaseId) {
    // Offline: the lease ran out locally; the server may still have it (it was only unreachable).
    e.inFlight = true;
    s.fx.push({ kind: 'renew', key: e.key, leaseId: e.leaseId });
    return;
  }
  if (e.phase === 'queued' && e.ticket) {
    e.inFlight = true;
    s.fx.push({ kind: 'pollQueue', key: e.key, ticket: e.ticket, waitSeconds: 0 });
    return;
  }
  if (e.phase === 'offline' || e.phase === 'denied' || e.phase === 'acquiring') {
    if (e.phase === 'denied' && e.deniedReason !== 'offline' && e.deniedReason !== 'lease-expired') return;
    const first = e.procs[0];
    if (!first) return;
    sendAcquire(s, e, first.pid, first.startTime);
  }
}
