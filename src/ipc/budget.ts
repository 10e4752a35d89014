/**
 * Per-user budgets on the session channel: a token bucket per uid for records and one for bytes,
 * shared by all of that user's connections. A message is admitted while both buckets are not in
 * debt and then paid in full (a bucket may go into debt by at most one message), so a message is
 * never split or refused: an over-budget user is only made to wait. The daemon stops reading that
 * user's sockets meanwhile, so the data waits in the kernel and in the user's own queue, and other
 * users' messages are read as before. Pure: time is a parameter.
 */

export interface SessionLimits {
  /** Sustained records per second per user (all of that user's session agents together). */
  recordsPerSecond: number;
  /** Records a user may send at once (a backlog after the daemon was down drains at this size). */
  recordsBurst: number;
  bytesPerSecond: number;
  bytesBurst: number;
}

interface Bucket {
  /** Tokens at `at`; below zero while in debt. */
  tokens: number;
  at: number;
}

export interface UserBudget {
  records: Bucket;
  bytes: Bucket;
}

export function newBudget(limits: SessionLimits, now: number): UserBudget {
  return { records: { tokens: limits.recordsBurst, at: now }, bytes: { tokens: limits.bytesBurst, at: now } };
}

function refill(b: Bucket, rate: number, burst: number, now: number): void {
  if (now > b.at) b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
  b.at = Math.max(b.at, now);
}

/** Milliseconds until a message may be admitted: 0 when both buckets are out of debt now. */
export function waitMs(budget: UserBudget, limits: SessionLimits, now: number): number {
  refill(budget.records, limits.recordsPerSecond, limits.recordsBurst, now);
  refill(budget.bytes, limits.bytesPerSecond, limits.bytesBurst, now);
  const r = budget.records.tokens < 0 ? (-budget.records.tokens / limits.recordsPerSecond) * 1000 : 0;
  const b = budget.bytes.tokens < 0 ? (-budget.bytes.tokens / limits.bytesPerSecond) * 1000 : 0;
  return Math.ceil(Math.max(r, b));
}

/** Pays for an admitted message (call right after `waitMs` returned 0, with the same `now`). */
export function spend(budget: UserBudget, cost: { records: number; bytes: number }): void {
  budget.records.tokens -= cost.records;
  budget.bytes.tokens -= cost.bytes;
}
