/**
 * Pure decisions of the lease server: who gets a seat, who is next in a queue, what the sweep
 * expires, which uploaded records are stored. No I/O and no clock: callers pass `now` and the
 * current state, so every rule is tested with exact synthetic inputs (test/server/logic.test.ts).
 */
import type { LicenseType } from '../protocol/event-codes.js';

/**
 * The unit a seat is counted in. Floating, site and leased licenses count one seat per user per
 * workstation (a second window of the same program does not take a second license); node-locked
 * licenses count one seat per workstation.
 */
export function seatKey(licenseType: LicenseType, agentId: string, user: string): string {
  return licenseType === 'node-locked' ? agentId : `${agentId}\u0000${user}`;
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

export type IngestPlan = {
  /** Indices into the batch to store, in seq order (contiguous from ackedThroughSeq+1). */
  store: number[];
  duplicates: number;
  ackedThroughSeq: number;
  /** Set when the batch (after the stored prefix) continues beyond a hole. */
  gap?: { expectedSeq: number; receivedSeq: number };
};

/**
 * Ack rule: ackedThroughSeq is the highest N such that 1..N are all stored. Re-sent seqs
 * (<= acked, or repeated in the batch) are duplicates, never stored twice; the contiguous run
 * after `acked` is stored; anything beyond a hole is refused and reported.
 *
 * A record may stand for a range of seqs (`throughSeq` > seq: an agent's bounded journal
 * compacted or dropped records seq..throughSeq and says so); storing it acknowledges the whole
 * range. A covering record that arrives after part of its range was stored still advances the
 * ack over the rest (its own data is not stored again).
 */
export function planIngest(ackedThroughSeq: number, seqs: readonly number[], throughSeqs?: ReadonlyArray<number | undefined>): IngestPlan {
  const order = seqs.map((s, i) => i).sort((a, b) => seqs[a] - seqs[b] || a - b);
  const store: number[] = [];
  let acked = ackedThroughSeq;
  let duplicates = 0;
  const through = (idx: number): number => {
    const t = throughSeqs?.[idx];
    return t !== undefined && Number.isSafeInteger(t) && t > seqs[idx] ? t : seqs[idx];
  };
  for (const idx of order) {
    const s = seqs[idx];
    if (s <= acked) {
      duplicates++;
      if (through(idx) > acked) acked = through(idx);
      continue;
    }
    if (s === acked + 1) {
      store.push(idx);
      acked = through(idx);
      continue;
    }
    return { store, duplicates, ackedThroughSeq: acked, gap: { expectedSeq: acked + 1, receivedSeq: s } };
  }
  return { store, duplicates, ackedThroughSeq: acked };
}
