/**
 * A bounded map whose entries hold only while a version stays the same (a store's change
 * version, a generation bumped on invalidation). Asked at a newer version it empties and takes
 * that version; a value read at an older version than the one it holds is not kept (it may
 * predate the change). Versions only grow. At the bound the least recently set entry goes.
 */
export class VersionedCache<K, V> {
  private readonly map = new Map<K, V>();
  private version = Number.NaN;

  constructor(readonly maxEntries = 16_384) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be >= 1');
  }

  /** The value cached for `key` at this `version`; undefined when absent or cached at another version (which empties the cache). */
  get(key: K, version: number): V | undefined {
    this.at(version);
    return this.map.get(key);
  }

  has(key: K, version: number): boolean {
    this.at(version);
    return this.map.has(key);
  }

  /** Remember a value read at `version`. */
  set(key: K, value: V, version: number): void {
    if (version < this.version) return;
    this.at(version);
    this.map.delete(key);
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }

  /** Forget everything (an in-process change). */
  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }

  private at(version: number): void {
    if (version === this.version) return;
    this.map.clear();
    this.version = version;
  }
}
