/**
 * Uploads the journal to the usage-server in seq order, in batches, and deletes only what the
 * server acknowledged (its `ackedThroughSeq`: every seq up to it is stored there). A crash between
 * the server storing a batch and markAcked() only means the batch is sent again; the server counts
 * the re-sent seqs as duplicates and stores nothing twice.
 */
import type { Journal } from '../journal/journal.js';
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
  ) {}

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

  /** One batch. 'idle': nothing to send; 'more': sent, more waiting; 'retry': failed. */
  async uploadOnce(): Promise<'idle' | 'more' | 'retry'> {
    const acked = this.journal.ackedThroughSeq();
    const batch = this.prebuilt?.afterSeq === acked ? this.prebuilt.batch : this.buildBatch(acked);
    this.prebuilt = undefined;
    if (!batch) {
      this.committedSinceUpload = 0;
      return 'idle';
    }
    const pending = this.client.upload(batch.json);
    if (batch.count === this.o.batchSize) {
      // While the server stores this batch, build the next one (used only if this one is fully
      // acknowledged): the agent's work overlaps the server's instead of adding to it.
      await new Promise((resolve) => setImmediate(resolve));
      const next = this.buildBatch(batch.lastSeq);
      if (next) this.prebuilt = { afterSeq: batch.lastSeq, batch: next };
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
      this.journal.markAcked(r.response.ackedThroughSeq);
      this.committedSinceUpload = 0;
      if (r.response.ackedThroughSeq < batch.lastSeq) {
        // The server stored less than the whole batch without saying why: try again later.
        this.retryWait = retryDelay(this.attempt + 1, this.backoff(), undefined, this.o.random);
        return 'retry';
      }
      return this.journal.lastSeq() > this.journal.ackedThroughSeq() ? 'more' : 'idle';
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
   * The request body, built as one string straight from the stored JSON (no parse and
   * re-serialize per record: that is what keeps 1M-record replays fast and small). Records are
   * added while the body stays under maxBodyBytes.
   */
  private buildBatch(acked: number): { json: string; lastSeq: number; count: number } | undefined {
    const max = this.o.maxBodyBytes ?? 4 * 1024 * 1024;
    const rows = this.stmtBatch().all(acked, this.o.batchSize) as Array<{ seq: number; type: string; time: string; body: string }>;
    if (rows.length === 0) return undefined;
    const parts: string[] = [];
    let bytes = 16;
    let lastSeq = acked;
    const hostField = `"host":${JSON.stringify(this.o.hostname)}`;
    for (const row of rows) {
      const hasHost = row.body.includes('"host":');
      const rest = row.body.length > 2 ? `,${row.body.slice(1)}` : '}';
      const rec = `{"seq":${row.seq},"type":${JSON.stringify(row.type)},"time":${JSON.stringify(row.time)}${hasHost ? '' : `,${hostField}`}${rest}`;
      if (parts.length > 0 && bytes + rec.length + 1 > max) break;
      parts.push(rec);
      bytes += rec.length + 1;
      lastSeq = row.seq;
    }
    this.journal.uploadReservedThroughSeq = Math.max(this.journal.uploadReservedThroughSeq, lastSeq);
    return { json: `{"records":[${parts.join(',')}]}`, lastSeq, count: parts.length };
  }

  private prebuilt: { afterSeq: number; batch: { json: string; lastSeq: number; count: number } } | undefined;
  private batchStmt: { all(...params: unknown[]): unknown[] } | undefined;
  private stmtBatch() {
    this.batchStmt ??= this.journal.database.prepare('SELECT seq, type, time, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?');
    return this.batchStmt;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
