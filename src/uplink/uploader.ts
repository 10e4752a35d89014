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
   * The request body, assembled by SQLite from the stored JSON text in one statement and returned
   * as a Buffer: no row objects, no per-record strings, no parse and re-serialize, and no
   * string-to-UTF-8 copy in the HTTP client. That is what keeps a 1M-record replay fast and its
   * heap small. A record's body is its fields as JSON (`{...}`); seq, type and time are spliced in
   * front, and `host` when the record has no top-level host of its own. A body over maxBodyBytes
   * is built again with proportionally fewer records (at least one).
   */
  private buildBatch(acked: number, maxRecords = this.o.batchSize): UploadBatch | undefined {
    const max = this.o.maxBodyBytes ?? 4 * 1024 * 1024;
    let limit = maxRecords;
    for (;;) {
      const row = this.stmtBatch().get({ after: acked, limit, host: this.o.hostname }) as { body: Buffer | null; n: number; lastSeq: number | null };
      if (row.n === 0 || row.body === null || row.lastSeq === null) return undefined;
      if (row.body.length > max && row.n > 1) {
        limit = Math.max(1, Math.min(row.n - 1, Math.floor((row.n * max) / row.body.length * 0.95)));
        continue;
      }
      this.journal.uploadReservedThroughSeq = Math.max(this.journal.uploadReservedThroughSeq, row.lastSeq);
      return { body: row.body, lastSeq: row.lastSeq, count: row.n };
    }
  }

  private prebuilt: { afterSeq: number; batch: UploadBatch; epoch: number } | undefined;
  private batchStmt: { get(...params: unknown[]): unknown } | undefined;
  private stmtBatch() {
    this.batchStmt ??= this.journal.database.prepare(BATCH_SQL);
    return this.batchStmt;
  }
}

interface UploadBatch {
  body: Buffer;
  lastSeq: number;
  count: number;
}

/**
 * One upload body `{"records":[...]}` for the records after @after (at most @limit), in seq order.
 * Each record is `{"seq":N,"type":...,"time":...` + (`"host":@host` if the stored fields have no
 * top-level host) + the stored fields without their opening brace. A body starting `{"host":`
 * has one (the common case, no JSON parsing); otherwise json_type() looks at the top level only,
 * so a nested "host" key or one inside a string value is not mistaken for it. The integrity
 * columns (base64url, nothing to escape) follow as `chain`, `mac`, `chainThrough`.
 */
export const BATCH_SQL = `
SELECT CAST('{"records":[' || group_concat(
         '{"seq":' || seq || ',"type":' || json_quote(type) || ',"time":' || json_quote(time)
         || CASE WHEN substr(body, 1, 8) = '{"host":' THEN ''
                 WHEN json_type(body, '$.host') IS NOT NULL THEN ''
                 ELSE ',"host":' || json_quote(@host) END
         || CASE WHEN chain IS NULL THEN '' ELSE ',"chain":"' || chain || '"' END
         || CASE WHEN mac IS NULL THEN '' ELSE ',"mac":"' || mac || '"' END
         || CASE WHEN chain_through IS NULL THEN '' ELSE ',"chainThrough":"' || chain_through || '"' END
         || CASE WHEN length(body) > 2 THEN ',' || substr(body, 2) ELSE '}' END,
         ',' ORDER BY seq) || ']}' AS BLOB) AS body,
       count(*) AS n, max(seq) AS lastSeq
  FROM (SELECT seq, type, time, body, chain, mac, chain_through FROM records WHERE seq > @after ORDER BY seq LIMIT @limit)`;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
