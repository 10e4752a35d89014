/**
 * Pure decisions of the lease server: who gets a seat, who is next in a queue, what the sweep
 * expires. No I/O and no clock: callers pass `now` and the
 * current state, so every rule is tested with exact synthetic inputs (test/server/logic.test.ts).
 */
import type { LicenseType } from '../../protocol/event-codes.js';

/** Between agent and user in a seat key: the ASCII unit separator (agent ids never contain it; PostgreSQL text cannot hold NUL). */
export const SEAT_KEY_SEPARATOR = '\u001f';

/**
 * The unit a seat is counted in. Floating, site and leased licenses count one seat per user per
 * workstation (a second window of the same program does not take a second license); node-locked
 * licenses count one seat per workstation.
 */
export function seatKey(licenseType: LicenseType, agentId: string, user: string): string {
  return licenseType === 'node-locked' ? agentId : `${agentId}${SEAT_KEY_SEPARATOR}${user}`;
}

/** Whether seats are allocations that outlive the program (KeyServer codes 27/28 + 29/30) or not (1/2). */
export function isAllocatingType(t: LicenseType): boolean {
  return t === 'leased' || t === 'node-locked';
}

export interface AcquireInput {
  seats: number | null;
  /** Distinct seat keys holding the product now (live leases, or live allocations). */
  seatsInUse: number;
  /** The requester's seat key already holds a seat (same user+host running another instance, or an allocation). */
  holdsSeat: boolean;
  /** Tickets already waiting in this product's queue. */
  waiting: number;
  queueRequested: boolean;
  queueAllowed: boolean;
}

export type AcquireDecision =
  | { kind: 'grant'; newSeat: boolean }
  | { kind: 'queue' }
  | { kind: 'deny'; reason: 'all-seats-in-use' | 'no-seats'; queueAvailable: boolean };

export function decideAcquire(i: AcquireInput): AcquireDecision {
  if (i.holdsSeat) return { kind: 'grant', newSeat: false };
  if (i.seats === null) return { kind: 'grant', newSeat: true };
  if (i.seats <= 0) return { kind: 'deny', reason: 'no-seats', queueAvailable: false };
  // Nobody jumps the queue: a free seat with people waiting belongs to the head of the queue.
  if (i.seatsInUse < i.seats && i.waiting === 0) return { kind: 'grant', newSeat: true };
  if (i.queueRequested && i.queueAllowed) return { kind: 'queue' };
  return { kind: 'deny', reason: 'all-seats-in-use', queueAvailable: i.queueAllowed };
}

export interface WaitingTicket {
  ticket: string;
  seatKey: string;
}

/**
 * Which waiting tickets (given in FIFO order) get a lease now. Strict FIFO for new seats: once the
 * head cannot be seated nobody behind it takes a new seat; tickets whose seat key already holds a
 * seat share it and are granted wherever they stand.
 */
export function planQueueGrants(seats: number | null, seatsInUse: number, heldKeys: ReadonlySet<string>, waiting: readonly WaitingTicket[]): string[] {
  const granted: string[] = [];
  const held = new Set(heldKeys);
  let inUse = seatsInUse;
  let blocked = false;
  for (const t of waiting) {
    if (held.has(t.seatKey)) {
      granted.push(t.ticket);
      continue;
    }
    if (blocked) continue;
    if (seats === null || inUse < seats) {
      granted.push(t.ticket);
      held.add(t.seatKey);
      inUse++;
    } else {
      blocked = true;
    }
  }
  return granted;
}

export interface SweepInput {
  now: number;
  leases: ReadonlyArray<{ id: string; expiresAt: number }>;
  tickets: ReadonlyArray<{ ticket: string; lastPollAt: number; polling: boolean }>;
  keepaliveMs: number;
}

/** Leases past their expiry and waiting tickets nobody has polled within the keepalive. */
export function planSweep(i: SweepInput): { expireLeases: string[]; expireTickets: string[] } {
  return {
    expireLeases: i.leases.filter((l) => l.expiresAt <= i.now).map((l) => l.id),
    expireTickets: i.tickets.filter((t) => !t.polling && t.lastPollAt + i.keepaliveMs <= i.now).map((t) => t.ticket),
  };
}

/** Lease timings from a grant or renewal at `now`: renew after a third of the TTL. */
export function leaseTimes(now: number, ttlSeconds: number): { expiresAt: number; renewAt: number } {
  const ttlMs = Math.round(ttlSeconds * 1000);
  return { expiresAt: now + ttlMs, renewAt: now + Math.round(ttlMs / 3) };
}
