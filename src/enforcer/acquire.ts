/**
 * Asking for a lease and deciding on the answer: granted (codes, launches, SIGCONT, "ready"),
 * queued (5, wait, paused with `suspend`), refused (7 and the product's onDeny: notify, suspend,
 * terminate after a warning, or kill a gated launch that never ran), or the server unreachable
 * (the product's `offline` policy: run and log 10/11, or deny).
 */
import { EventCode } from '../protocol/event-codes.js';
import type { AcquireOutcome, LeaseDenied, LeaseGranted } from '../protocol/v1.js';
import { logLaunch, logQuit, usage, writeLeaseStart } from './codes.js';
import { closing, resumeUnlessPaused, running, suspend } from './entries.js';
import { denyNotice, licenseBackNotice, queuedNotice, readyNotice, renewedNotice } from './notices.js';
import { enterPhase, type LeasedEntry, type Step } from './types.js';

export function sendAcquire(s: Step, e: LeasedEntry, pid: number, startTime: string): void {
  const p = e.product;
  e.inFlight = true;
  e.retryAtMs = undefined;
  s.fx.push({
    kind: 'acquire',
    key: e.key,
    request: {
      product: p.id,
      user: e.user,
      host: s.settings.host,
      pid,
      processStart: startTime,
      requestId: e.requestId,
      // Terminate means the program cannot wait; notify and suspend may wait in the queue.
      queue: p.queue && p.onDeny !== 'terminate',
    },
  });
}

export function onAcquired(s: Step, now: number, key: string, requestId: string, r: AcquireOutcome): void {
  const e = s.state.entries.get(key);
  if (!e || e.requestId !== requestId || e.phase === 'logged') {
    // Nobody wants it any more (or a stale answer): give a granted lease straight back.
    if (r.kind === 'granted') s.fx.push({ kind: 'release', key, leaseId: r.lease.leaseId, reason: 'quit' });
    if (r.kind === 'queued') s.fx.push({ kind: 'leaveQueue', key, ticket: r.queued.ticket });
    return;
  }
  e.inFlight = false;
  if (r.kind !== 'unreachable') s.state.online = true;
  if (e.abandoned && e.procs.length === 0) {
    if (r.kind === 'granted') s.fx.push({ kind: 'release', key, leaseId: r.lease.leaseId, reason: 'quit' });
    if (r.kind === 'queued') s.fx.push({ kind: 'leaveQueue', key, ticket: r.queued.ticket });
    s.state.entries.delete(key);
    return;
  }
  if (r.kind === 'granted') {
    grant(s, e, r.lease, now, false);
    return;
  }
  decideRefusal(s, e, now, r);
  // Programs paused before this answer (idle release with `suspend`, offline deny with `suspend`)
  // run again unless the answer itself means waiting paused: a `notify` policy lets them run
  // unlicensed, and a `terminate` warning must leave them able to save their work.
  resumeUnlessPaused(s, e);
}

function decideRefusal(s: Step, e: LeasedEntry, now: number, r: Exclude<AcquireOutcome, { kind: 'granted' }>): void {
  const p = e.product;
  switch (r.kind) {
    case 'queued': {
      const wasQueued = e.phase === 'queued';
      enterPhase(e, 'queued', { ticket: r.queued.ticket });
      if (!wasQueued) {
        s.fx.push(usage(e, now, EventCode.queue, { reason: 'all-seats-in-use' }));
        if (p.onDeny === 'suspend') suspend(s, e, running(e));
        queuedNotice(s, e, r.queued.position);
      }
      s.fx.push({ kind: 'pollQueue', key: e.key, ticket: r.queued.ticket, waitSeconds: s.settings.queueWaitSeconds });
      e.inFlight = true;
      return;
    }
    case 'denied':
      deny(s, e, now, r.denied.reason, r.denied);
      return;
    case 'unreachable':
      s.state.online = false;
      onUnreachableAcquire(s, e, now);
      return;
    case 'error':
      // The server refused the request itself (e.g. unknown product): treat like offline.
      onUnreachableAcquire(s, e, now);
      return;
  }
}

function onUnreachableAcquire(s: Step, e: LeasedEntry, now: number): void {
  e.retryAtMs = now + s.settings.retrySeconds * 1000;
  if (e.phase === 'offline' || e.phase === 'denied') return; // already decided; keep retrying
  if (e.product.offline === 'allow') {
    enterPhase(e, 'offline', {});
    // A process that ran before (re-acquire after an idle release or a lost lease) starts its
    // offline segment now, not at its process start.
    const c = closing(e);
    for (const proc of e.procs) if (!c.has(proc.pid)) logLaunch(s, e, proc, proc.everLogged ? now : undefined);
    return;
  }
  deny(s, e, now, 'offline');
}

/** The lease is granted (first answer, from the queue, or a renewal of a lease that had run out locally). */
export function grant(s: Step, e: LeasedEntry, lease: LeaseGranted, now: number, fromQueue: boolean): void {
  const wasOffline = e.phase === 'offline';
  const wasRestricted = e.phase === 'denied' || e.phase === 'queued';
  const wasWarned = e.warnedDeadlineMs !== undefined;
  const idleReturn = e.idleReturn === true;
  const c = closing(e);
  if (wasOffline) {
    // The offline segment ends here; the rest of the run is counted against the allocation.
    for (const proc of e.procs) if (proc.logged === 'offline') logQuit(s, e, proc, now, 'reconnected');
  }
  enterPhase(e, 'held', {
    leaseId: lease.leaseId,
    expiresAtMs: now + lease.ttlSeconds * 1000,
    renewAtMs: now + lease.renewAfterSeconds * 1000,
    graceSeconds: lease.graceSeconds,
  });
  // A grant ends the warning, the retries and the return from idle.
  e.warnedDeadlineMs = undefined;
  e.retryAtMs = undefined;
  e.idleReturn = undefined;
  writeLeaseStart(s, e, now, lease.leaseId, fromQueue);
  for (const proc of e.procs) {
    if (c.has(proc.pid)) continue; // being closed after an idle release: not in this use
    logLaunch(s, e, proc, wasOffline || wasRestricted || fromQueue || proc.everLogged ? now : undefined);
  }
  const suspended = e.procs.filter((x) => x.suspended);
  if (suspended.length > 0) {
    s.fx.push({ kind: 'signal', pids: suspended.map((x) => x.pid), signal: 'SIGCONT', key: e.key });
    for (const x of suspended) {
      x.suspended = false;
      x.gated = false;
    }
  }
  // Enforcement ends with the grant, except the closing of programs released for idleness.
  if (e.enforcement && !e.enforcement.pids) e.enforcement = undefined;
  if (idleReturn) licenseBackNotice(s, e, suspended.length > 0);
  else if (wasWarned && !wasRestricted) renewedNotice(s, e);
  else if (wasRestricted || fromQueue) readyNotice(s, e, suspended.length > 0);
}

/** Refused by the server (`denied`), or offline with `offline: deny`: 7, and the product's onDeny. */
export function deny(s: Step, e: LeasedEntry, now: number, reason: string, denied?: LeaseDenied): void {
  const p = e.product;
  enterPhase(e, 'denied', { deniedReason: reason });
  s.fx.push(usage(e, now, EventCode.deny, { reason }));
  // Suspend without a queue to wait in would freeze the program forever: close it instead.
  const enforcement = p.onDeny === 'suspend' && reason !== 'offline' ? 'terminate' : p.onDeny;
  if (reason === 'offline') e.retryAtMs = now + s.settings.retrySeconds * 1000;
  if (enforcement === 'notify') {
    denyNotice(s, e, reason, denied, { how: 'notify' });
    return;
  }
  if (enforcement === 'suspend') {
    // Offline with suspend: pause and keep trying; it continues the moment a license is granted.
    suspend(s, e, e.procs);
    e.enforcement = { kind: 'suspend', stage: 'suspended', atMs: now };
    denyNotice(s, e, reason, denied, { how: 'suspend' });
    return;
  }
  // Gated launches that never ran are killed at once: there is no work in them to save.
  const neverRan = running(e).filter((x) => x.gated && x.suspended);
  if (neverRan.length > 0) {
    for (const x of neverRan) x.suspended = false;
    s.fx.push({ kind: 'signal', pids: neverRan.map((x) => x.pid), signal: 'SIGKILL', key: e.key });
    if (neverRan.length === running(e).length) {
      e.enforcement = { kind: 'terminate', stage: 'killed', atMs: now };
      denyNotice(s, e, reason, denied, { how: 'gate' });
      return;
    }
  }
  const atMs = now + s.settings.terminateWarningSeconds * 1000;
  e.enforcement = { kind: 'terminate', stage: 'warned', atMs };
  const relevantUntilMs = atMs + s.settings.killAfterSeconds * 1000;
  denyNotice(s, e, reason, denied, { how: 'terminate', closeAt: atMs, inSeconds: s.settings.terminateWarningSeconds, relevantUntilMs });
}
