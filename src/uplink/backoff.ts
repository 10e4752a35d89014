/**
 * Retry policy of the uplink, as pure functions (tested exactly with a fixed random source).
 *
 * Exponential backoff with "full jitter" (AWS architecture blog, 2015): the n-th consecutive
 * failure waits a uniformly random time in [0, min(cap, base * 2^n)). Full jitter spreads 5,000
 * agents that lost the server at the same moment over the whole window instead of making them
 * return in synchronized waves. A server's Retry-After (seconds or an HTTP date) is a floor: the
 * agent never comes back earlier than asked, but still no later than the cap allows plus the
 * server's own figure.
 */

export interface BackoffOptions {
  /** Delay scale of the first retry (ms). */
  baseMs: number;
  /** Largest delay (ms): server.maxBackoffMs. */
  capMs: number;
}

/** Upper bound of the jitter window for the attempt-th consecutive failure (attempt >= 1). */
export function backoffCeiling(attempt: number, o: BackoffOptions): number {
  if (attempt <= 0) return 0;
  // 2^(attempt-1) overflows to Infinity for large attempts; min() keeps it at the cap.
  return Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt - 1, 60));
}

/** Full jitter: uniform in [0, ceiling). `random` returns [0, 1) like Math.random. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, o));
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP-date. Returns milliseconds from `nowMs`
 * (never negative), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (s === '') return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - nowMs);
}

/**
 * The wait before the next try after the attempt-th consecutive failure: the jittered backoff,
 * but at least what the server asked for with Retry-After (a server asking for more than the cap
 * is obeyed up to 24 h: it knows its own overload better than the client).
 */
export function retryDelay(attempt: number, o: BackoffOptions, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const jittered = backoffDelay(attempt, o, random);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, 24 * 3600 * 1000));
}

/** What to do with the outcome of one HTTP exchange. */
export type Disposition =
  | 'ok'
  /** Network failure, timeout, 5xx, 429, 408, malformed body: same request again after a backoff. */
  | 'retry'
  /** 401 with action "enroll": the token is no longer valid; enroll again, then retry. */
  | 'reenroll'
  /** Any other 4xx: the request itself is wrong; retrying it unchanged cannot help. */
  | 'fail';

export function classifyStatus(status: number, action?: string): Disposition {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 304) return 'ok';
  if (status === 401) return action === 'enroll' || action === undefined ? 'reenroll' : 'fail';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'fail';
}
