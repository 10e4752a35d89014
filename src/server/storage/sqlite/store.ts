/**
 * The SQLite store (better-sqlite3, WAL): the embedded default, one file, no database server.
 *
 * Transactions are BEGIN IMMEDIATE: the write lock is taken before the first read, so a decision
 * (a seat count, a queue head) and its write can never interleave with another writer's, whether
 * that writer is this process (transactions queue on a mutex) or another process on the same file
 * (it waits for the lock; a busy lock is retried, never answered with a 500).
 *
 * Group commit: transactions that queue behind a running one join its BEGIN, each in a SAVEPOINT
 * of its own (one that fails is rolled back alone), and the group commits once, at the end of the
 * event-loop turn (setImmediate) in which nobody waits any more, or at GROUP_MAX_MEMBERS /
 * GROUP_MAX_MS. No member's promise settles before the COMMIT: a caller never answers for data
 * that is not committed, and a failed COMMIT (a full disk) fails every member, none of which has
 * answered yet. Reads outside a transaction in that turn see the group's writes before its COMMIT;
 * only a failed COMMIT can take them back. An idle server commits each transaction at the end of
 * its turn; a busy one writes the WAL pages that many small commits share (index and roll-up
 * pages) once per group instead of once per request.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VerifiedTokens } from '../../auth.js';
import { walSync, type GroupSync } from '../../wal-sync.js';
import { Queries } from '../queries.js';
import { pruneSpans, spansRefresher } from '../spans.js';
import { RECORD_TABLES, quoteColumn, type RecordTable } from '../records.js';
import { cutoff, tableName, tableOfType } from '../retention.js';
import { BATCH_ROLLUPS, rollupRetention, USER_GROUPS_REBUILD } from '../rollups.js';
import type { Dialect, Sql } from '../sql.js';
import type { OpenOptions, Store, StoreSignal, TransactionOptions, Tx } from '../store.js';
import type { AgentRow, Renewal } from '../types.js';
import { Checkpointer } from './checkpoint.js';
import { migrateSqlite } from './schema.js';

/**
 * Rows per multi-row INSERT of uploaded records: fewer statement executions per batch than
 * row-at-a-time inserts (bench/server-ingest.ts measures 1 against this). 29 columns x 10 rows
 * stays far below SQLite's limit of 32,766 parameters.
 */
export const RECORD_INSERT_ROWS = 10;

/** A group commits after this many members or this long after its BEGIN (the write lock is held meanwhile). */
export const GROUP_MAX_MEMBERS = 64;
const GROUP_MAX_MS = 20;

/**
 * How long one attempt waits for the write lock inside SQLite, which blocks the event loop, and how
 * long all attempts may take together (yielding between them). Another process, or the checkpoint
 * worker's RESTART (which holds new writers off while it copies), may hold the lock: a 250 ms
 * blocking wait made every request of that moment wait as long (the fleet benchmark's server-side
 * p99 was exactly 250 ms); a short one lets the event loop serve reads and answers meanwhile.
 */
const BUSY_TIMEOUT_MS = 5;
const BUSY_PATIENCE_MS = 10_000;
const MIGRATION_PATIENCE_MS = 60_000;

/** The lock stayed busy through every attempt: answered as 503 with Retry-After, never 500. */
export class StoreBusyError extends Error {
  readonly code = 'STORE_BUSY';
  constructor(what: string) {
    super(`the database is busy (${what}); try again`);
    this.name = 'StoreBusyError';
  }
}

const isBusy = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function openSqliteDatabase(file: string, opts: { readonly?: boolean } = {}): Database.Database {
  if (file !== ':memory:' && !opts.readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (opts.readonly) return db;
  // 4 KiB pages (only takes effect when the file is created): a lease commit rewrites a few pages of
  // several indexes, and 16 KiB pages made every one of them write four times as much WAL.
  db.pragma('page_size = 4096');
  db.pragma('journal_mode = WAL');
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}

/** Statements prepared once per SQL text. */
class SqliteSql implements Sql {
  readonly dialect: Dialect = 'sqlite';
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();
  private readonly rawStatements = new Map<string, Database.Statement<unknown[]>>();

  constructor(readonly db: Database.Database) {}

  statement(sql: string): Database.Statement<unknown[]> {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare<unknown[]>(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.statement(sql).all(...params) as T[];
  }

  async rows<T extends unknown[]>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    let st = this.rawStatements.get(sql);
    if (st === undefined) {
      st = this.db.prepare<unknown[]>(sql).raw(true);
      this.rawStatements.set(sql, st);
    }
    return st.all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return this.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.statement(sql).run(...params).changes;
  }
}

/** One transaction at a time per connection: the next waits for the previous to settle. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Callers of lock() not yet holding it. */
  waiting = 0;

  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    this.waiting++;
    return prev.then(() => {
      this.waiting--;
      return release;
    });
  }
}

/** A transaction of a commit group whose function has returned: settled at the group's COMMIT. */
interface GroupMember {
  tx: SqliteTx;
  value: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

class SqliteTx extends Queries implements Tx {
  readonly after: Array<() => void> = [];
  readonly signals: StoreSignal[] = [];

  constructor(private readonly s: SqliteSql) {
    super(s);
  }

  afterCommit(fn: () => void): void {
    this.after.push(fn);
  }

  signal(sig: StoreSignal): void {
    this.signals.push(sig);
  }

  async insertRecords(table: RecordTable, values: unknown[], rows: number): Promise<void> {
    const width = RECORD_TABLES[table].columns.length;
    let o = 0;
    for (let left = rows; left > 0; ) {
      const n = Math.min(left, RECORD_INSERT_ROWS);
      // Spread, not the array itself: better-sqlite3 reads call arguments directly but an array's
      // elements one V8 API call each (a fifth of the insert's cost at 29 columns).
      this.s.statement(recordInsertSql(table, n)).run(...values.slice(o, o + n * width));
      o += n * width;
      left -= n;
    }
    if (table === 'process' && rows > 0) this.rollUp(values, rows, width);
  }

  /** The batch's roll-ups (storage/rollups.ts BATCH_ROLLUPS): one agent, its seqs in one range. */
  private rollUp(values: unknown[], rows: number, width: number): void {
    const columns = RECORD_TABLES.process.columns;
    const agentAt = columns.findIndex((c) => c[0] === 'agent_id');
    const seqAt = columns.findIndex((c) => c[0] === 'seq');
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let r = 0; r < rows; r++) {
      const seq = values[r * width + seqAt] as number;
      if (seq < low) low = seq;
      if (seq > high) high = seq;
    }
    const params = [values[agentAt], low, high];
    this.s.statement(BATCH_ROLLUPS.create).run();
    this.s.statement(BATCH_ROLLUPS.fill).run(...params);
    for (const sql of BATCH_ROLLUPS.rollups) this.s.statement(sql).run();
    this.s.statement(BATCH_ROLLUPS.clear).run();
    this.s.statement(BATCH_ROLLUPS.intervals).run(...params);
  }
}

/** `INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING` of `rows` records of one table. */
export function recordInsertSql(table: RecordTable, rows: number): string {
  const t = RECORD_TABLES[table];
  const marks = t.columns.map(() => '?').join(', ');
  const tuple = table === 'event' ? `('agent', ${marks})` : `(${marks})`;
  const columns = (table === 'event' ? ['origin', ...t.columns.map((c) => c[0])] : t.columns.map((c) => c[0])).map(quoteColumn);
  return `INSERT INTO ${t.table} (${columns.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')} ON CONFLICT DO NOTHING`;
}

export class SqliteStore implements Store {
  readonly dialect: Dialect = 'sqlite';
  readonly q: Queries;
  private readonly sql: SqliteSql;
  private readonly mutex = new Mutex();
  private readonly wal: GroupSync;
  private readonly listeners: Array<(s: StoreSignal) => void> = [];
  private readonly tokens = new VerifiedTokens<AgentRow>();
  private readonly dataVersion: Database.Statement<[], number>;
  private lastDataVersion = -1;
  private generation = 0;
  private versionChecked = false;
  private readonly versionCheckExpires = () => {
    this.versionChecked = false;
  };
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;
  private readonly savepoint: Database.Statement;
  private readonly releaseSavepoint: Database.Statement;
  private readonly rollbackToSavepoint: Database.Statement;
  /** The open commit group: BEGIN done, members' functions returned, COMMIT pending. */
  private group: { members: GroupMember[]; began: number; commitScheduled: boolean } | undefined;
  /** Commit groups so far and the transactions they held (for the benchmark and tests). */
  readonly groups = { commits: 0, members: 0 };
  private checkpointer: Checkpointer | undefined;

  constructor(
    readonly db: Database.Database,
    readonly location: string,
  ) {
    this.sql = new SqliteSql(db);
    this.q = new Queries(this.sql);
    this.q.reports.refreshSpans = spansRefresher(this);
    this.wal = walSync(location);
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT member');
    this.releaseSavepoint = db.prepare('RELEASE member');
    this.rollbackToSavepoint = db.prepare('ROLLBACK TO member');
  }

  /**
   * Changes whenever another connection (another server process, the admin CLI) has committed
   * since the last call (`PRAGMA data_version`, about a microsecond), or this process signalled a
   * change. Checked once per event-loop callback: whatever a callback handles arrived before it
   * began, so a request sent after an admin command returned is checked after that commit.
   */
  changeVersion(): number {
    if (!this.versionChecked) {
      this.versionChecked = true;
      queueMicrotask(this.versionCheckExpires);
      const dv = this.dataVersion.get()!;
      if (dv !== this.lastDataVersion) {
        this.lastDataVersion = dv;
        this.generation++;
      }
    }
    return this.generation;
  }

  async agentByTokenHash(hash: string, _opts?: { mayBeStale?: boolean }): Promise<AgentRow | undefined> {
    const version = this.changeVersion();
    const hit = this.tokens.get(hash, version);
    if (hit) return hit;
    const row = await this.q.agentByHash(hash);
    if (row && !row.revoked_at) this.tokens.set(hash, row, version);
    return row;
  }

  async renewLeases(batch: readonly Renewal[]): Promise<Set<string>> {
    return this.transaction(async (tx) => {
      const done = new Set<string>();
      for (const r of batch) if ((await tx.renewLease(r.leaseId, r.agentId, r.expiresAt, r.at)) > 0) done.add(r.leaseId);
      return done;
    });
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  async transaction<T>(fn: (tx: Tx) => Promise<T>, _opts?: TransactionOptions): Promise<T> {
    const release = await this.mutex.lock();
    let outcome: Promise<T>;
    try {
      if (!this.group) {
        await this.beginImmediate();
        this.group = { members: [], began: performance.now(), commitScheduled: false };
      }
      const group = this.group;
      this.savepoint.run();
      const tx = new SqliteTx(this.sql);
      try {
        const value = await fn(tx);
        this.releaseSavepoint.run();
        outcome = new Promise<T>((resolve, reject) => group.members.push({ tx, value, resolve: resolve as (v: unknown) => void, reject }));
      } catch (err) {
        this.undoMember();
        outcome = Promise.reject(err);
      }
      if (group.members.length >= GROUP_MAX_MEMBERS || performance.now() - group.began >= GROUP_MAX_MS) this.endGroup();
      else if (this.mutex.waiting === 0 && !group.commitScheduled) {
        // better-sqlite3 is synchronous: the requests read in this event-loop turn run one after
        // another, never waiting on each other, so they can only share a COMMIT made after them.
        group.commitScheduled = true;
        setImmediate(() => void this.commitScheduled(group));
      }
    } catch (err) {
      // BEGIN failed (busy), or the group had to be given up: nothing of this one is stored.
      this.abortGroup(err);
      throw err;
    } finally {
      release();
    }
    return outcome;
  }

  /** The end of the turn in which `group` was last joined: COMMIT it unless that happened already. */
  private async commitScheduled(group: NonNullable<SqliteStore['group']>): Promise<void> {
    const release = await this.mutex.lock();
    try {
      if (this.group === group && this.db.open) this.endGroup();
    } finally {
      release();
    }
  }

  /** A member's function failed: undo its writes only, the group goes on. */
  private undoMember(): void {
    try {
      this.rollbackToSavepoint.run();
      this.releaseSavepoint.run();
    } catch (err) {
      // The savepoint is gone (SQLite rolled the whole transaction back, e.g. on SQLITE_FULL).
      this.abortGroup(err);
    }
  }

  /** COMMIT the group, then settle its members in order (their after-commit hooks, then their promises). */
  private endGroup(): void {
    const group = this.group;
    if (!group) return;
    if (group.members.length === 0) {
      this.group = undefined;
      if (this.db.inTransaction) this.rollback.run();
      return;
    }
    try {
      this.commit.run();
    } catch (err) {
      this.abortGroup(err);
      return;
    }
    this.group = undefined;
    this.groups.commits++;
    this.groups.members += group.members.length;
    for (const m of group.members) {
      try {
        this.settled(m.tx);
        m.resolve(m.value);
      } catch (err) {
        m.reject(err);
      }
    }
  }

  /** Roll the open group back and fail every member that was waiting for its COMMIT. */
  private abortGroup(err: unknown): void {
    const group = this.group;
    this.group = undefined;
    if (this.db.open && this.db.inTransaction) this.rollback.run();
    for (const m of group?.members ?? []) m.reject(err);
  }

  private settled(tx: SqliteTx): void {
    for (const s of tx.signals) {
      if (s.kind === 'changed') this.generation++;
      for (const l of this.listeners) l(s);
    }
    for (const fn of tx.after) fn();
  }

  /** Another process (or a RESTART checkpoint) may hold the write lock: wait for it in short blocking steps, yielding between them. */
  private async beginImmediate(): Promise<void> {
    const since = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        this.begin.run();
        return;
      } catch (err) {
        if (!isBusy(err)) throw err;
        if (performance.now() - since >= BUSY_PATIENCE_MS) throw new StoreBusyError('another process holds the write lock');
        await sleep(Math.min(50, 2 * attempt) * Math.random());
      }
    }
  }

  durable(): Promise<void> {
    return this.wal.sync();
  }

  async prepareRecords(): Promise<void> {
    // One file, no partitions: nothing to prepare.
  }

  /** Retention deletes rows (in runs of 5,000, each its own transaction, so writers are never held up long). */
  async maintain(now: number, retentionDays: Readonly<Record<string, number>>): Promise<string[]> {
    const removed: string[] = [];
    for (const [type, days] of Object.entries(retentionDays)) {
      const table = tableOfType(type);
      const name = tableName(table);
      const before = cutoff(now, days);
      const where = table === 'event' ? 'time < ?' : 'type = ? AND time < ?';
      const params = table === 'event' ? [before] : [type, before];
      const key = table === 'event' ? 'id' : '(agent_id, seq)';
      const sql = `DELETE FROM ${name} WHERE ${key} IN (SELECT ${table === 'event' ? 'id' : 'agent_id, seq'} FROM ${name} WHERE ${where} LIMIT 5000)`;
      let total = 0;
      // The roll-ups first, in one transaction: as they will be once the rows below are gone.
      if (type === 'process' || type === 'process-interval')
        await this.transaction(async (tx) => {
          // Only when rows will go (the hourly run usually finds none).
          if (!(await tx.sql.get(`SELECT 1 AS x FROM ${name} WHERE ${where} LIMIT 1`, params))) return;
          for (const st of rollupRetention(type, before)) await tx.sql.run(st.sql, st.params);
        });
      for (;;) {
        const n = await this.transaction(async (tx) => tx.sql.run(sql, params));
        total += n;
        if (n < 5000) break;
      }
      if (total > 0 && type === 'process')
        await this.transaction(async (tx) => {
          for (const st of USER_GROUPS_REBUILD) await tx.sql.run(st);
        });
      // The checkout spans made only of the events that went (storage/spans.ts).
      if (total > 0 && table === 'event') await this.transaction(async (tx) => pruneSpans(tx.sql));
      if (total > 0) removed.push(`${type}: ${total} rows before ${before}`);
    }
    return removed;
  }

  onSignal(fn: (s: StoreSignal) => void): void {
    this.listeners.push(fn);
  }

  async ping(): Promise<boolean> {
    try {
      this.sql.statement('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  /** Checkpoint the WAL in a worker thread instead of inside commits (see checkpoint.ts); a test sets the tuning. */
  checkpointInBackground(log?: OpenOptions['log'], tuning: { everyMs?: number; restartFrames?: number } = {}): Checkpointer | undefined {
    if (this.checkpointer || this.location === ':memory:') return this.checkpointer;
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpointer = new Checkpointer(this.location, (during) => this.holdingWriters(during), { ...tuning, log });
    this.checkpointer.start();
    return this.checkpointer;
  }

  /** Commits the open group and begins no transaction until `during` has run (the WAL's RESTART checkpoint). */
  private async holdingWriters(during: () => Promise<void>): Promise<void> {
    const release = await this.mutex.lock();
    try {
      if (this.db.open) {
        this.endGroup();
        await during();
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    const release = await this.mutex.lock();
    try {
      this.endGroup(); // close() may have been the waiter a group stayed open for
      this.db.close();
    } finally {
      release();
    }
  }
}

export async function openSqliteStore(file: string, opts: OpenOptions = {}): Promise<SqliteStore> {
  const db = openSqliteDatabase(file, { readonly: opts.readonly });
  if (!opts.readonly) {
    // Another server starting on the same file may be migrating it: wait for it.
    const since = performance.now();
    for (;;) {
      try {
        migrateSqlite(db);
        break;
      } catch (err) {
        if (!isBusy(err) || performance.now() - since >= MIGRATION_PATIENCE_MS) throw err;
        await sleep(20);
      }
    }
  }
  const store = new SqliteStore(db, file);
  if (opts.backgroundCheckpoints) store.checkpointInBackground(opts.log);
  return store;
}
