/**
 * Uploads the journal to the usage-server in seq order, in batches, and deletes only what the
 * server acknowledged (its `ackedThroughSeq`: every seq up to it is stored there). A crash between
 * the server storing a batch and markAcked() only means the batch is sent again; the server counts
 * the re-sent seqs as duplicates and stores nothing twice.
 */
import type { Journal, UploadBatch } from '../journal/journal.js';
import type { Logger } from '../log/logger.js';
import { parseRetryAfter, retryDelay } from './backoff.js';
import type { UplinkClient } from './client.js';

export interface UploaderOptions {
  batchSize: number;
  intervalMs: number;
  maxBackoffMs: number;
  /** First retry's backoff window (ms). */
  baseBackoffMs?: number;
  /** Largest request body; records are added to a batch while it fits. */
  maxBodyBytes?: number;
  hostname: string;
  logger?: Logger;
  random?: () => number;
}

export interface UploaderStatus {
  uploadedRecords: number;
  batches: number;
  duplicates: number;
  retries: number;
  lastUploadAt: string | null;
  serverAckedThroughSeq: number | null;
  nextRetryAt: string | null;
}

export class Uploader {
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private attempt = 0;
  private unsubscribe: (() => void) | undefined;
  private committedSinceUpload = 0;
  readonly stats: UploaderStatus = {
    uploadedRecords: 0,
    batches: 0,
    duplicates: 0,
    retries: 0,
    lastUploadAt: null,
    serverAckedThroughSeq: null,
    nextRetryAt: null,
  };

  constructor(
    private readonly journal: Journal,
    private readonly client: UplinkClient,
    private readonly o: UploaderOptions,
  ) {
    // The journal writes the host into new records so their chain covers it (see Journal.recordHost).
    journal.recordHost ??= o.hostname;
  }

  start(): void {
    let lastSeen = this.journal.lastSeq();
    this.unsubscribe = this.journal.onCommit((lastSeq) => {
      this.committedSinceUpload += Math.max(0, lastSeq - lastSeen);
      lastSeen = lastSeq;
      // A full batch is worth sending now; smaller ones wait for the interval.
      if (this.committedSinceUpload >= this.o.batchSize && this.attempt === 0) this.kick();
    });
    this.loop = this.run();
  }

  /** Upload now (e.g. the server just came back). */
  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.kick();
    await this.loop;
    this.applyPendingAck();
  }

  /** Resolves when everything committed up to now is acknowledged (tests, `flush` on shutdown). */
  async drained(timeoutMs = 30_000): Promise<boolean> {
    const target = this.journal.lastSeq();
    const deadline = Date.now() + timeoutMs;
    while (this.journal.ackedThroughSeq() < target && Date.now() < deadline) {
      this.kick();
      await sleep(50);
    }
    return this.journal.ackedThroughSeq() >= target;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let wait = this.o.intervalMs;
      try {
        const r = await this.uploadOnce();
        if (r === 'more') wait = 0;
        else if (r === 'retry') {
          this.attempt += 1;
          this.stats.retries += 1;
          wait = this.retryWait;
          this.stats.nextRetryAt = new Date(Date.now() + wait).toISOString();
        }
      } catch (err) {
        this.o.logger?.error({ err }, 'upload failed unexpectedly');
        this.attempt += 1;
        wait = retryDelay(this.attempt, this.backoff(), undefined, this.o.random);
      }
      if (this.stopped) break;
      if (wait > 0) await this.sleep(wait);
    }
  }

  private retryWait = 0;

  private backoff() {
    return { baseMs: this.o.baseBackoffMs ?? 1000, capMs: this.o.maxBackoffMs };
  }

  /**
   * The server's acknowledgement of the batch before the one in flight, not yet written to the
   * journal: markAcked() (a DELETE of the acknowledged rows) runs while the next batch is on the
   * wire instead of between two batches. Always applied before uploadOnce() returns anything but
   * 'more', and by stop(); a crash before it only means that batch is sent again (the server
   * counts it as duplicates).
   */
  private pendingAck: number | undefined;

  private applyPendingAck(): void {
    if (this.pendingAck === undefined) return;
    const through = this.pendingAck;
    this.pendingAck = undefined;
    this.journal.markAcked(through);
  }

  /** One batch. 'idle': nothing to send; 'more': sent, more waiting; 'retry': failed. */
  async uploadOnce(): Promise<'idle' | 'more' | 'retry'> {
    try {
      const r = await this.uploadBatch();
      if (r !== 'more') this.applyPendingAck();
      return r;
    } catch (err) {
      this.applyPendingAck();
      throw err;
    }
  }

  private async uploadBatch(): Promise<'idle' | 'more' | 'retry'> {
    const acked = Math.max(this.journal.ackedThroughSeq(), this.pendingAck ?? 0);
    const fresh = this.prebuilt?.afterSeq === acked && this.prebuilt.epoch === this.journal.integrityEpoch;
    const batch = fresh ? this.prebuilt!.batch : this.buildBatch(acked);
    this.prebuilt = undefined;
    if (!batch) {
      this.committedSinceUpload = 0;
      return 'idle';
    }
    // Built again if the journal re-MACs its records meanwhile (the client enrolls again on a 401).
    const epoch = this.journal.integrityEpoch;
    const pending = this.client.upload(() => (this.journal.integrityEpoch === epoch ? batch.body : (this.buildBatch(acked, batch.count) ?? batch).body));
    // While the server stores this batch: write the previous acknowledgement, then build the next
    // batch (used only if this one is fully acknowledged). The agent's work overlaps the server's
    // instead of adding to it; the journal's cursor still only moves in order.
    await new Promise((resolve) => setImmediate(resolve));
    this.applyPendingAck();
    if (batch.count === this.o.batchSize) {
      const next = this.buildBatch(batch.lastSeq);
      if (next) this.prebuilt = { afterSeq: batch.lastSeq, batch: next, epoch: this.journal.integrityEpoch };
    }
    const r = await pending;
    if (r.kind === 'acked') {
      this.attempt = 0;
      this.stats.nextRetryAt = null;
      this.stats.batches += 1;
      this.stats.duplicates += r.response.duplicates;
      this.stats.uploadedRecords += r.response.stored;
      this.stats.lastUploadAt = new Date().toISOString();
      this.stats.serverAckedThroughSeq = r.response.ackedThroughSeq;
      this.committedSinceUpload = 0;
      const through = Math.min(r.response.ackedThroughSeq, this.journal.lastSeq());
      if (through > acked) this.pendingAck = through;
      if (r.response.ackedThroughSeq < batch.lastSeq) {
        // The server stored less than the whole batch without saying why: try again later.
        this.retryWait = retryDelay(this.attempt + 1, this.backoff(), undefined, this.o.random);
        return 'retry';
      }
      return this.journal.lastSeq() > through ? 'more' : 'idle';
    }
    if (r.kind === 'gap') {
      const p = r.problem;
      this.stats.serverAckedThroughSeq = p.ackedThroughSeq;
      if (p.ackedThroughSeq > acked) {
        // The server holds more than we knew (our ack was lost in a crash): skip ahead.
        this.journal.markAcked(p.ackedThroughSeq);
        return 'more';
      }
      // The server expects a seq we no longer have (its database was restored from an older
      // backup). Enrolling again with nextSeq starts a fresh, gap-free identity at our first seq.
      this.o.logger?.error({ expectedSeq: p.expectedSeq, ourFirstUnacked: acked + 1 }, 'server expects records this journal no longer holds; enrolling again');
      await this.client.ensureEnrolled(true);
      this.retryWait = 0;
      return 'retry';
    }
    this.retryWait = retryDelay(this.attempt + 1, this.backoff(), r.kind === 'retry' ? parseRetryAfter(r.retryAfter, Date.now()) : undefined, this.o.random);
    if (r.kind === 'fail') this.o.logger?.error({ error: r.error }, 'server refused an upload batch');
    return 'retry';
  }

  /**
   * The request body, assembled by the journal in one statement (Journal.uploadBatch: no row
   * objects, no per-record strings, no parse and re-serialize). A body over maxBodyBytes is built
   * again with proportionally fewer records (at least one).
   */
  private buildBatch(acked: number, maxRecords = this.o.batchSize): UploadBatch | undefined {
    const max = this.o.maxBodyBytes ?? 4 * 1024 * 1024;
    let limit = maxRecords;
    for (;;) {
      const batch = this.journal.uploadBatch(acked, limit, this.o.hostname);
      if (!batch) return undefined;
      if (batch.body.length > max && batch.count > 1) {
        limit = Math.max(1, Math.min(batch.count - 1, Math.floor(((batch.count * max) / batch.body.length) * 0.95)));
        continue;
      }
      this.journal.uploadReservedThroughSeq = Math.max(this.journal.uploadReservedThroughSeq, batch.lastSeq);
      return batch;
    }
  }

  private prebuilt: { afterSeq: number; batch: UploadBatch; epoch: number } | undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
