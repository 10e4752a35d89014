/**
 * Token buckets keyed by client address (enrollment rate limiting). Each key holds up to `burst`
 * tokens and regains `perMinute` tokens a minute; a request takes one token or is refused with
 * the seconds until one is back. Pure apart from the injected clock; memory is bounded because a
 * bucket that has refilled completely is the same as no bucket and is dropped.
 */
export interface RateLimitOptions {
  burst: number;
  perMinute: number;
  /** Upper bound on tracked keys; when reached, full buckets are dropped, then the oldest. */
  maxKeys?: number;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterSeconds: number };

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly ratePerMs: number;
  private readonly maxKeys: number;

  constructor(private readonly opts: RateLimitOptions) {
    this.ratePerMs = opts.perMinute / 60_000;
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  private level(b: { tokens: number; at: number }, now: number): number {
    return Math.min(this.opts.burst, b.tokens + Math.max(0, now - b.at) * this.ratePerMs);
  }

  take(key: string, now: number): TakeResult {
    const b = this.buckets.get(key);
    const tokens = b ? this.level(b, now) : this.opts.burst;
    if (tokens >= 1) {
      if (!b && this.buckets.size >= this.maxKeys) this.prune(now);
      this.buckets.delete(key); // re-insert: Map order = least recently used first
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return { ok: true, remaining: Math.floor(tokens - 1) };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.ratePerMs / 1000)) };
  }

  /** Drop buckets that are full again; if still too many, drop the least recently used. */
  prune(now: number): void {
    for (const [k, b] of this.buckets) if (this.level(b, now) >= this.opts.burst) this.buckets.delete(k);
    while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }

  get size(): number {
    return this.buckets.size;
  }
}
