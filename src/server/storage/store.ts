/**
 * The storage interface of usage-server. Two implementations: SQLite (one file, the embedded
 * default) and PostgreSQL (several servers on one database). Services and routes reach the
 * database only through this interface and the portable queries of `Queries`.
 */
import type { UploadRecord } from '../../protocol/v1.js';
import type { Queries } from './queries.js';
import type { RecordTable } from './records.js';
import type { Dialect } from './sql.js';
import type { AgentRow, Renewal } from './types.js';

/** What the other servers (and the admin CLI) on one database are told about. */
export type StoreSignal =
  /** A queue ticket changed (granted, cancelled, expired): long-polls holding it look again. */
  | { kind: 'ticket'; ticket: string }
  /** Products, agents, leases or allocations changed by an admin: caches start over. */
  | { kind: 'changed' };

export interface Tx extends Queries {
  /** Run after a successful commit (metrics, waking long-polls); dropped on rollback. */
  afterCommit(fn: () => void): void;
  /** Tell every server on this database (this one included) after the commit. */
  signal(s: StoreSignal): void;
  /** Insert `rows` uploaded records of one table (values row after row, columns as RECORD_TABLES), skipping (agent, seq) already stored. */
  insertRecords(table: RecordTable, values: unknown[], rows: number): Promise<void>;
  /** Set when this upload is stored in one transaction with other agents' uploads (PostgreSQL group ingest). */
  readonly grouped?: boolean;
}

export interface TransactionOptions {
  /**
   * Run only if no other server runs a transaction with this name now (PostgreSQL advisory lock);
   * otherwise resolve with undefined at once. The sweep uses it so several servers never do it twice.
   */
  exclusive?: string;
  /**
   * The agent whose upload this transaction stores. PostgreSQL may then run it in one transaction
   * with other agents' uploads (group ingest: their rows locked together in one order, their records
   * copied in one COPY per table, their acknowledgements in one UPDATE); in such a transaction
   * `agentForUpdate` is called for this agent only. SQLite groups every transaction already.
   */
  ingestFor?: string;
}

export interface Store {
  readonly dialect: Dialect;
  /** The database file, or the PostgreSQL URL without its password. */
  readonly location: string;
  /** Single statements outside a transaction. */
  readonly q: Queries;
  transaction<T>(fn: (tx: Tx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  transaction<T>(fn: (tx: Tx) => Promise<T>, opts: TransactionOptions & { exclusive: string }): Promise<T | undefined>;
  /**
   * The agent a token hash belongs to, read fresh or from a cache that is exact for this store.
   * `mayBeStale`: the caller confirms the agent is not revoked in its own statement (renewals do,
   * in their UPDATE), so a token verified before may be taken from memory.
   */
  agentByTokenHash(hash: string, opts?: { mayBeStale?: boolean }): Promise<AgentRow | undefined>;
  /** Write renewals; resolves with the ids of the leases that were live and renewed. */
  renewLeases(batch: readonly Renewal[]): Promise<Set<string>>;
  /** Resolves once every commit made before the call is on disk (upload acknowledgements wait for it). */
  durable(): Promise<void>;
  /** A number that changes whenever products may have changed in another process; product caches compare it. */
  changeVersion(): number;
  /** Get ready to store these records, before the transaction that stores them (PostgreSQL: make the monthly partitions they need). */
  prepareRecords(records: readonly UploadRecord[]): Promise<void>;
  /**
   * Upkeep, at start and hourly: partitions ahead for the server's own events (PostgreSQL), and
   * retention (days per record type). Resolves with what retention removed.
   */
  maintain(now: number, retentionDays: Readonly<Record<string, number>>): Promise<string[]>;
  /** Listen to signals from any server on this database. */
  onSignal(fn: (s: StoreSignal) => void): void;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** A database given as a URL `postgres://` or `postgresql://` is PostgreSQL; anything else is a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export interface OpenOptions {
  /** PostgreSQL connection pool size (per server process). */
  poolSize?: number;
  /** Read-only (SQLite: reports and the test helper); no migrations. */
  readonly?: boolean;
  log?: { warn(o: object, msg: string): void; error(o: object, msg: string): void };
  /** SQLite: checkpoint the WAL in a worker thread, not inside commits (the server; short-lived admin commands need not). */
  backgroundCheckpoints?: boolean;
}

/** Open (and migrate) the store a `db` setting names. */
export async function openStore(db: string, opts: OpenOptions = {}): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(db, opts);
  }
  const { openSqliteStore } = await import('./sqlite/store.js');
  return openSqliteStore(db, opts);
}
