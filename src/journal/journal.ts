import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import { decode32, encode, GENESIS_CHAIN, recordMac } from '../protocol/integrity.js';
import { linkAfter, sealRecord, verifyRows, type ChainedRow } from './integrity.js';
import { migrate } from './migrations.js';
import { BACKLOG_SQL, UPLOAD_BATCH_SQL, type UploadBatch } from './upload.js';

export type { UploadBatch };

/** What a collector hands to the journal: a type, when it happened, and its own fields. */
export interface NewRecord {
  type: string;
  /** When the thing happened (ISO 8601 UTC); not when it was written or uploaded. */
  time: string;
  [field: string]: unknown;
}

export interface StoredRecord extends NewRecord {
  seq: number;
}

export interface ReadOptions {
  types?: readonly string[];
  /** Only records whose `time` is at or after this ISO time. */
  since?: string;
  afterSeq?: number;
  limit?: number;
}

export interface JournalStats {
  path: string;
  fileBytes: number;
  records: number;
  byType: Record<string, number>;
  lastSeq: number;
  ackedThroughSeq: number;
  pendingInMemory: number;
}

export interface JournalOptions {
  flushIntervalMs?: number;
  /** Flush early when this many records are buffered, to bound memory. */
  maxBuffered?: number;
  logger?: Logger;
  readonly?: boolean;
}

/**
 * The durable, ordered outbox. Records get a gap-free increasing `seq` when they are committed.
 * Appends are buffered and committed together (group commit) at most flushIntervalMs after the
 * first of them (the flush timer runs only while something is buffered: an idle daemon is not
 * woken each second for nothing);
 * cursor updates (e.g. how far a pacct file was read) ride in the same transaction as the records
 * they produced, so a crash can never commit one without the other: no loss, no double count.
 */
export class Journal {
  readonly path: string;
  private readonly db: Database.Database;
  private buffer: NewRecord[] = [];
  private cursorBuffer = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly flushIntervalMs: number | undefined;
  private readonly maxBuffered: number;
  private readonly logger: Logger | undefined;
  private readonly listeners = new Set<(lastSeq: number) => void>();
  private closed = false;
  private flushFailing = false;
  private lastSeqAtClose = 0;
  private earlyFlushScheduled = false;

  /**
   * Records up to this seq may be in flight to the server (read into an upload batch). The bounded
   * journal's compaction leaves them alone: rewriting a range the server is acknowledging from the
   * original records would delete the summary that covers the rest of the range. In memory only:
   * after a restart nothing is in flight.
   */
  uploadReservedThroughSeq = 0;

  /**
   * Host name written into each new record that has no `host` of its own, so the record's chain
   * covers the host the uploader sends (it adds one only to records without).
   */
  recordHost: string | undefined;
  private recordKey: Buffer | undefined;
  /** Changes whenever stored MACs are rewritten (enrollment): batches built before are stale. */
  integrityEpoch = 0;

  private readonly stmtInsert: Database.Statement;
  private readonly stmtGetMeta: Database.Statement;
  private readonly stmtSetMeta: Database.Statement;
  private readonly stmtSetCursor: Database.Statement;
  private readonly stmtGetCursor: Database.Statement;
  private stmtDeleteAcked: Database.Statement | undefined;
  private stmtUploadBatch: Database.Statement | undefined;
  private stmtBacklog: Database.Statement | undefined;

  static open(path: string, options: JournalOptions = {}): Journal {
    return new Journal(path, options);
  }

  private constructor(path: string, options: JournalOptions) {
    this.path = path;
    this.logger = options.logger;
    this.maxBuffered = options.maxBuffered ?? 5000;
    if (!options.readonly) mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      // FULL: a committed flush survives power loss too, not only a process crash.
      this.db.pragma('synchronous = FULL');
      migrate(this.db);
    }
    this.db.pragma('busy_timeout = 5000');
    this.stmtInsert = this.db.prepare('INSERT INTO records (seq, type, time, body, chain, mac) VALUES (?, ?, ?, ?, ?, ?)');
    this.stmtGetMeta = this.db.prepare('SELECT value FROM meta WHERE key = ?');
    this.stmtSetMeta = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.stmtSetCursor = this.db.prepare('INSERT INTO cursors (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.stmtGetCursor = this.db.prepare('SELECT value FROM cursors WHERE key = ?');
    this.flushIntervalMs = options.readonly ? undefined : options.flushIntervalMs;
  }

  /** Whether the flush timer is armed: only while something waits in the buffer. */
  get flushScheduled(): boolean {
    return this.timer !== undefined;
  }

  /** Arms the flush timer if it is not armed (records or cursors wait in the buffer). */
  private armFlush(): void {
    if (this.timer || !this.flushIntervalMs || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushQuietly();
      // A failed flush kept its buffer: try again one interval later.
      if (this.buffer.length > 0 || this.cursorBuffer.size > 0) this.armFlush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Buffers a record; it is committed (and gets its seq) at the next flush. */
  append(record: NewRecord): void {
    if (this.closed) throw new Error('journal is closed');
    this.buffer.push(record);
    this.armFlush();
    // The early flush is deferred, never done inside append(): a caller's append-then-setCursor in
    // one synchronous block must land in the same transaction, or a crash between two commits
    // would leave the record stored with its cursor behind it (and it would be read twice).
    if (this.buffer.length >= this.maxBuffered && !this.flushFailing && !this.earlyFlushScheduled) {
      this.earlyFlushScheduled = true;
      setImmediate(() => {
        this.earlyFlushScheduled = false;
        if (!this.closed) this.flushQuietly();
      });
    }
  }

  /**
   * Buffers a cursor update that commits atomically with the records appended before it in the
   * same synchronous block (flushes only happen from timers, never inside append or setCursor).
   */
  setCursor(key: string, value: unknown): void {
    this.cursorBuffer.set(key, JSON.stringify(value));
    this.armFlush();
  }

  /** The committed cursor value (buffered updates are not visible until flushed). */
  getCursor<T>(key: string): T | undefined {
    const row = this.stmtGetCursor.get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  /**
   * Commits everything buffered in one transaction. Returns the number of records written.
   * On failure (disk full, I/O error) the buffer is kept intact for the next attempt.
   */
  flush(): number {
    if (this.buffer.length === 0 && this.cursorBuffer.size === 0) return 0;
    const records = this.buffer;
    const cursors = this.cursorBuffer;
    let lastSeq = 0;
    this.db.transaction(() => {
      let seq = this.metaNumber('last_seq');
      let head = this.metaChain('chain_head');
      const host = this.recordHost;
      for (const record of records) {
        seq += 1;
        const { type, time, ...rest } = record;
        const fields = host !== undefined && rest.host === undefined ? { host, ...rest } : rest;
        const body = JSON.stringify(fields);
        const sealed = sealRecord(head, this.recordKey, seq, type, time, fields, undefined, body);
        this.stmtInsert.run(seq, type, time, body, sealed.chain, sealed.mac);
        head = sealed.head;
      }
      this.stmtSetMeta.run('last_seq', seq);
      if (records.length > 0) this.stmtSetMeta.run('chain_head', encode(head));
      for (const [key, value] of cursors) this.stmtSetCursor.run(key, value);
      lastSeq = seq;
    })();
    this.buffer = [];
    this.cursorBuffer = new Map();
    for (const listener of this.listeners) listener(lastSeq);
    return records.length;
  }

  private flushQuietly(): void {
    try {
      this.flush();
      if (this.flushFailing) this.logger?.info({ journal: this.path }, 'journal writes succeed again');
      this.flushFailing = false;
    } catch (err) {
      // Keep the records in memory and retry next interval; say so once, not every second.
      if (!this.flushFailing) {
        this.logger?.error({ err, journal: this.path, buffered: this.buffer.length }, 'journal flush failed; keeping records in memory and retrying');
      }
      this.flushFailing = true;
    }
  }

  /** Called after each commit with the highest committed seq (the uplink wakes on it). */
  onCommit(listener: (lastSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  read(options: ReadOptions = {}): StoredRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.types && options.types.length > 0) {
      where.push(`type IN (${options.types.map(() => '?').join(',')})`);
      params.push(...options.types);
    }
    if (options.since) {
      where.push('time >= ?');
      params.push(options.since);
    }
    if (options.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(options.afterSeq);
    }
    const sql = `SELECT seq, type, time, body FROM records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${
      options.limit ? ` LIMIT ${Math.floor(options.limit)}` : ''
    }`;
    const rows = this.db.prepare(sql).all(...params) as Array<{ seq: number; type: string; time: string; body: string }>;
    return rows.map(rowToRecord);
  }

  /** Iterates without loading everything (for `records` on a large journal). */
  *iterate(options: ReadOptions = {}, pageSize = 1000): Generator<StoredRecord> {
    let afterSeq = options.afterSeq ?? 0;
    for (;;) {
      const page = this.read({ ...options, afterSeq, limit: pageSize });
      for (const record of page) yield record;
      if (page.length < pageSize) return;
      afterSeq = page[page.length - 1]!.seq;
    }
  }

  lastSeq(): number {
    if (this.closed) return this.lastSeqAtClose;
    return this.metaNumber('last_seq');
  }

  ackedThroughSeq(): number {
    return this.metaNumber('acked_through_seq');
  }

  /** Records the server's acknowledgement and deletes what it now holds. */
  markAcked(throughSeq: number): void {
    this.db.transaction(() => {
      const current = this.metaNumber('acked_through_seq');
      if (throughSeq <= current) return;
      const bounded = Math.min(throughSeq, this.metaNumber('last_seq'));
      this.stmtSetMeta.run('acked_through_seq', bounded);
      // The chain value the server now holds, for the next enrollment's chainHead.
      const last = this.db.prepare('SELECT chain, chain_through FROM records WHERE seq <= ? ORDER BY seq DESC LIMIT 1').get(bounded) as
        | Pick<ChainedRow, 'chain' | 'chain_through'>
        | undefined;
      const link = last ? linkAfter(last) : undefined;
      if (link) this.stmtSetMeta.run('acked_chain', encode(link));
      this.stmtDeleteAcked ??= this.db.prepare('DELETE FROM records WHERE seq <= ?');
      this.stmtDeleteAcked.run(bounded);
    })();
  }

  stats(): JournalStats {
    const byType: Record<string, number> = {};
    let records = 0;
    for (const row of this.db.prepare('SELECT type, count(*) AS n FROM records GROUP BY type').all() as Array<{ type: string; n: number }>) {
      byType[row.type] = row.n;
      records += row.n;
    }
    let fileBytes = 0;
    for (const suffix of ['', '-wal']) {
      try {
        fileBytes += statSync(this.path + suffix).size;
      } catch {
        /* no WAL file yet */
      }
    }
    return {
      path: this.path,
      fileBytes,
      records,
      byType,
      lastSeq: this.lastSeq(),
      ackedThroughSeq: this.ackedThroughSeq(),
      pendingInMemory: this.buffer.length,
    };
  }

  /**
   * The upload body for the records after `afterSeq` (at most `limit`), assembled by SQLite from
   * the stored JSON text in one statement and returned as a Buffer: no row objects, no per-record
   * strings, no parse and re-serialize, and no string-to-UTF-8 copy in the HTTP client. That is
   * what keeps a 1M-record replay fast and its heap small. A record's body is its fields as JSON
   * (`{...}`); seq, type and time are spliced in front, and `host` when the record has no
   * top-level host of its own. Undefined when there is nothing after `afterSeq`.
   */
  uploadBatch(afterSeq: number, limit: number, host: string): UploadBatch | undefined {
    this.stmtUploadBatch ??= this.db.prepare(UPLOAD_BATCH_SQL);
    const row = this.stmtUploadBatch.get({ after: afterSeq, limit, host }) as { body: Buffer | null; n: number; lastSeq: number | null };
    if (row.n === 0 || row.body === null || row.lastSeq === null) return undefined;
    return { body: row.body, lastSeq: row.lastSeq, count: row.n };
  }

  /** Committed records the server has not acknowledged, and about how many bytes they take to send. */
  backlog(): { records: number; bytes: number } {
    this.stmtBacklog ??= this.db.prepare(BACKLOG_SQL);
    return this.stmtBacklog.get(this.ackedThroughSeq()) as { records: number; bytes: number };
  }

  /** The underlying handle, for the journal's own modules (bound.ts) and tests. */
  get database(): Database.Database {
    return this.db;
  }

  /** Flushes what is buffered and closes. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      if (!this.db.readonly) this.flush();
      this.lastSeqAtClose = this.metaNumber('last_seq');
    } finally {
      this.closed = true;
      this.db.close();
    }
  }

  /** The record key MACs are made with from now on (credentials loaded or a new enrollment). */
  setRecordKey(key: Buffer | undefined): void {
    this.recordKey = key;
  }

  /** The key new MACs are made with (compaction seals its summaries with it). */
  get sealingKey(): Buffer | undefined {
    return this.recordKey;
  }

  /** The chain value of the last acknowledged record (genesis before any). */
  ackedChain(): Buffer {
    return this.metaChain('acked_chain');
  }

  /**
   * A new record key (enrollment): the records waiting for upload are checked, from the
   * acknowledged chain value on, with the key they were MACed with (the key in use; none before the
   * first enrollment: the chain only), and MACed again with `key`, in one transaction. An edited
   * record keeps its chain value and gets the new MAC (the server sees it as edited); a record
   * whose MAC was not the agent's, or that had none although the agent had a key, keeps what it
   * has (the server flags it). Returns how many records were MACed and how many left as they were.
   */
  rekey(key: Buffer): { sealed: number; left: number } {
    this.flush();
    const previousKey = this.recordKey;
    let sealed = 0;
    let left = 0;
    this.db.transaction(() => {
      const rows = this.db
        .prepare('SELECT seq, type, time, body, chain, mac, chain_through FROM records WHERE seq > ? ORDER BY seq')
        .all(this.ackedThroughSeq()) as ChainedRow[];
      const { verdicts } = verifyRows(previousKey, this.ackedChain(), rows);
      const update = this.db.prepare('UPDATE records SET mac = ? WHERE seq = ?');
      rows.forEach((r, i) => {
        const chain = decode32(r.chain);
        if (chain && (verdicts[i] === 'ok' || verdicts[i] === 'edited')) {
          update.run(encode(recordMac(key, chain, decode32(r.chain_through))), r.seq);
          sealed++;
        } else left++;
      });
      this.recordKey = key;
      this.integrityEpoch++;
    })();
    return { sealed, left };
  }

  private metaChain(key: string): Buffer {
    const row = this.stmtGetMeta.get(key) as { value: string } | undefined;
    return (row && decode32(row.value)) || GENESIS_CHAIN;
  }

  private metaNumber(key: string): number {
    const row = this.stmtGetMeta.get(key) as { value: number } | undefined;
    return row ? Number(row.value) : 0;
  }
}

function rowToRecord(row: { seq: number; type: string; time: string; body: string }): StoredRecord {
  return { type: row.type, seq: row.seq, time: row.time, ...(JSON.parse(row.body) as Record<string, unknown>) };
}
