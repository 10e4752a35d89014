/**
 * Verified agent tokens kept in memory, so the hot path (lease renewals, uploads) need not hash the
 * token and read the agents table on every request.
 *
 * Safety: an entry is only trusted while the store's `version()` is the one it was cached at. The
 * version changes whenever another connection commits (the admin CLI revoking an agent, changing a
 * product) and whenever this process invalidates it, so a revoked agent's next request misses the
 * cache, reads the agents table and gets 401. Only tokens that verified (known, not revoked) are
 * cached: unknown tokens can never fill the map. The map is bounded; at the bound the least
 * recently verified entry goes (it is verified again from the database on its next request).
 */
export class VerifiedTokens<V> {
  private readonly map = new Map<string, V>();
  private version = Number.NaN;

  constructor(readonly maxEntries = 16_384) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be >= 1');
  }

  /** The value cached for `token` at this `version`; undefined when absent or cached at another version (which empties the cache). */
  get(token: string, version: number): V | undefined {
    if (version !== this.version) {
      this.reset(version);
      return undefined;
    }
    return this.map.get(token);
  }

  /** Remember a token verified against the database at `version`. */
  set(token: string, value: V, version: number): void {
    if (version !== this.version) this.reset(version);
    this.map.delete(token);
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(token, value);
  }

  /** Forget everything (an in-process change to agents). */
  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }

  private reset(version: number): void {
    this.map.clear();
    this.version = version;
  }
}
