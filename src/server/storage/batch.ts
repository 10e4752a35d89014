/**
 * Coalesce concurrent calls into one round trip: calls made while a flush is running (or in the
 * same event-loop turn) go out together in the next one. Renewals and token lookups use it, so a
 * thousand agents renewing at once cost a few statements, not a thousand.
 */
export class Batcher<K, V> {
  private pending: Array<{ key: K; resolve: (v: V) => void; reject: (err: unknown) => void }> = [];
  private running = false;
  private scheduled = false;
  /** Flushes made so far (for tests and benchmarks). */
  flushes = 0;

  constructor(
    /** One round trip for many keys; returns one value per key, in order. */
    private readonly flush: (keys: K[]) => Promise<V[]>,
    private readonly maxBatch = 1000,
  ) {}

  call(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // The rest of this turn's requests join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const group = this.pending.splice(0, this.maxBatch);
    this.flushes++;
    try {
      const values = await this.flush(group.map((g) => g.key));
      for (let i = 0; i < group.length; i++) group[i].resolve(values[i]);
    } catch (err) {
      for (const g of group) g.reject(err);
    } finally {
      this.running = false;
      if (this.pending.length > 0) this.schedule();
    }
  }
}
