/**
 * SQLite store (better-sqlite3, WAL). Schema, migrations and prepared statements; no policy here.
 * Lease times are integer milliseconds since the epoch (cheap comparisons in the sweep); record
 * times are the ISO strings the agent sent, normalised to UTC.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EVENT_CODE_TABLE, type LicenseType } from '../protocol/event-codes.js';
import type { ProductConfig } from './config.js';

export type DB = Database.Database;

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS event_names (code INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, license_type TEXT NOT NULL, seats INTEGER,
  spec TEXT NOT NULL, source TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, host TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
  agent_version TEXT, os TEXT, enrolled_at TEXT NOT NULL, last_seen_at TEXT, revoked_at TEXT,
  acked_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, product_id TEXT NOT NULL, seat_key TEXT NOT NULL,
  user TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, process_start TEXT NOT NULL,
  request_id TEXT NOT NULL, ticket TEXT, granted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  renewed_at INTEGER, claimed INTEGER NOT NULL DEFAULT 1, ended_at INTEGER, end_reason TEXT
);
CREATE INDEX IF NOT EXISTS leases_live ON leases (product_id, seat_key) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS leases_live_request ON leases (agent_id, request_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS leases_live_process ON leases (agent_id, product_id, user, pid, process_start) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS leases_live_expiry ON leases (expires_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS leases_history ON leases (granted_at);
CREATE TABLE IF NOT EXISTS allocations (
  id INTEGER PRIMARY KEY AUTOINCREMENT, product_id TEXT NOT NULL, seat_key TEXT NOT NULL,
  agent_id TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
  issued_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS allocations_live ON allocations (product_id, seat_key) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS queue (
  qseq INTEGER PRIMARY KEY AUTOINCREMENT, ticket TEXT NOT NULL UNIQUE, agent_id TEXT NOT NULL,
  product_id TEXT NOT NULL, seat_key TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
  pid INTEGER NOT NULL, process_start TEXT NOT NULL, request_id TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL, last_poll_at INTEGER NOT NULL, state TEXT NOT NULL,
  lease_id TEXT, ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue (product_id, qseq) WHERE state = 'waiting';
CREATE UNIQUE INDEX IF NOT EXISTS queue_waiting_request ON queue (agent_id, request_id) WHERE state = 'waiting';
CREATE UNIQUE INDEX IF NOT EXISTS queue_waiting_process ON queue (agent_id, product_id, user, pid, process_start) WHERE state = 'waiting';
CREATE TABLE IF NOT EXISTS usage_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, agent_id TEXT, seq INTEGER,
  time TEXT NOT NULL, code INTEGER NOT NULL REFERENCES event_names (code), product TEXT, user TEXT,
  host TEXT, pid INTEGER, process_start TEXT, lease_id TEXT, reason TEXT, offline INTEGER, extra TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS usage_events_agent_seq ON usage_events (agent_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_events_time ON usage_events (time);
CREATE VIEW IF NOT EXISTS usage_events_named AS
  SELECT e.*, n.name AS event_name FROM usage_events e JOIN event_names n ON n.code = e.code;
CREATE TABLE IF NOT EXISTS process_records (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL, host TEXT,
  user TEXT, uid INTEGER, grp TEXT, gid INTEGER, pid INTEGER, ppid INTEGER, command TEXT, exe TEXT,
  start TEXT, end TEXT, elapsed_seconds REAL, cpu_user_seconds REAL, cpu_system_seconds REAL,
  avg_rss_bytes REAL, max_rss_bytes REAL, avg_virtual_bytes REAL, read_bytes REAL, write_bytes REAL,
  exit_code INTEGER, source TEXT, interval_start TEXT, interval_end TEXT, cpu_seconds REAL, extra TEXT,
  PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity_records (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL, host TEXT,
  user TEXT, application TEXT, start TEXT, end TEXT, duration_seconds REAL, break_type TEXT,
  period_type TEXT, keyboard INTEGER, mouse INTEGER, switch_count INTEGER, extra TEXT,
  PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS other_records (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL, host TEXT,
  data TEXT NOT NULL, PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
`;

export interface ProductRow {
  id: string;
  name: string;
  license_type: LicenseType;
  seats: number | null;
  spec: string;
  source: string;
  updated_at: string;
}

export interface AgentRow {
  id: string;
  host: string;
  token_hash: string;
  agent_version: string | null;
  os: string | null;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
  acked_seq: number;
}

export interface LeaseRow {
  id: string;
  agent_id: string;
  product_id: string;
  seat_key: string;
  user: string;
  host: string;
  pid: number;
  process_start: string;
  request_id: string;
  ticket: string | null;
  granted_at: number;
  expires_at: number;
  renewed_at: number | null;
  claimed: number;
  ended_at: number | null;
  end_reason: string | null;
}

export interface AllocationRow {
  id: number;
  product_id: string;
  seat_key: string;
  agent_id: string;
  user: string;
  host: string;
  issued_at: number;
  last_used_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export interface TicketRow {
  qseq: number;
  ticket: string;
  agent_id: string;
  product_id: string;
  seat_key: string;
  user: string;
  host: string;
  pid: number;
  process_start: string;
  request_id: string;
  enqueued_at: number;
  last_poll_at: number;
  state: 'waiting' | 'granted' | 'cancelled' | 'expired';
  lease_id: string | null;
  ended_at: number | null;
}

export interface ServerEvent {
  time: number;
  code: number;
  agentId?: string | null;
  product?: string | null;
  user?: string | null;
  host?: string | null;
  pid?: number | null;
  processStart?: string | null;
  leaseId?: string | null;
  reason?: string | null;
}

export function openDatabase(file: string, opts: { readonly?: boolean } = {}): DB {
  if (file !== ':memory:' && !opts.readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (opts.readonly) return db;
  // Larger pages suit the wide record rows (only takes effect when the file is created).
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: DB): void {
  db.exec(SCHEMA);
  const tx = db.transaction(() => {
    const ins = db.prepare('INSERT INTO event_names (code, name, description) VALUES (?, ?, ?) ON CONFLICT (code) DO UPDATE SET name = excluded.name, description = excluded.description');
    for (const e of EVENT_CODE_TABLE) ins.run(e.code, e.name, e.description);
    const cur = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    if (cur && Number(cur.value) > SCHEMA_VERSION) {
      throw new Error(`database schema version ${cur.value} is newer than this server understands (${SCHEMA_VERSION})`);
    }
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(SCHEMA_VERSION));
  });
  tx();
}

/** The tables uploaded records go into: columns in the order ingest binds them. */
export const RECORD_TABLES = {
  process: {
    table: 'process_records',
    columns: [
      'agent_id', 'seq', 'type', 'time', 'host', 'user', 'uid', 'grp', 'gid', 'pid', 'ppid', 'command', 'exe', 'start', 'end', 'elapsed_seconds',
      'cpu_user_seconds', 'cpu_system_seconds', 'avg_rss_bytes', 'max_rss_bytes', 'avg_virtual_bytes', 'read_bytes', 'write_bytes', 'exit_code',
      'source', 'interval_start', 'interval_end', 'cpu_seconds', 'extra',
    ],
  },
  activity: {
    table: 'activity_records',
    columns: [
      'agent_id', 'seq', 'type', 'time', 'host', 'user', 'application', 'start', 'end', 'duration_seconds', 'break_type', 'period_type',
      'keyboard', 'mouse', 'switch_count', 'extra',
    ],
  },
  /** Agent-sent usage events; `origin` is the constant 'agent'. */
  event: {
    table: 'usage_events',
    columns: ['agent_id', 'seq', 'time', 'code', 'product', 'user', 'host', 'pid', 'process_start', 'lease_id', 'reason', 'offline', 'extra'],
  },
  other: { table: 'other_records', columns: ['agent_id', 'seq', 'type', 'time', 'host', 'data'] },
} as const;
export type RecordTable = keyof typeof RECORD_TABLES;

/**
 * Rows per multi-row INSERT of uploaded records. One statement with this many VALUES tuples binds
 * the rows of one step; fewer statement executions per batch than row-at-a-time inserts (see
 * bench/server-ingest.ts, which measures 1 against this). 29 columns x 10 rows stays far below
 * SQLite's limit of 32,766 parameters.
 */
export const RECORD_INSERT_ROWS = 10;

/** Prepared statements used on hot paths, created once per connection. */
export class Store {
  readonly db: DB;
  readonly s;
  private readonly dataVersion: Database.Statement<[], number>;
  private lastDataVersion = -1;
  private generation = 0;
  private versionChecked = false;
  private readonly recordInserts = new Map<string, Database.Statement<unknown[]>>();
  private readonly versionCheckExpires = () => {
    this.versionChecked = false;
  };

  constructor(db: DB) {
    this.db = db;
    const p = <T = unknown>(sql: string) => db.prepare<unknown[], T>(sql);
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.s = {
      agentByHash: p<AgentRow>('SELECT * FROM agents WHERE token_hash = ?'),
      agentById: p<AgentRow>('SELECT * FROM agents WHERE id = ?'),
      insertAgent: p('INSERT INTO agents (id, host, token_hash, agent_version, os, enrolled_at, last_seen_at, acked_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      touchAgent: p('UPDATE agents SET last_seen_at = ? WHERE id = ?'),
      setAcked: p('UPDATE agents SET acked_seq = ? WHERE id = ?'),

      product: p<ProductRow>('SELECT * FROM products WHERE id = ?'),
      products: p<ProductRow>('SELECT * FROM products ORDER BY id'),
      upsertProduct: p(
        'INSERT INTO products (id, name, license_type, seats, spec, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET name = excluded.name, license_type = excluded.license_type, seats = excluded.seats, spec = excluded.spec, source = excluded.source, updated_at = excluded.updated_at',
      ),

      lease: p<LeaseRow>('SELECT * FROM leases WHERE id = ?'),
      leaseOwner: p<Pick<LeaseRow, 'agent_id' | 'product_id' | 'ended_at'>>('SELECT agent_id, product_id, ended_at FROM leases WHERE id = ?'),
      liveLeaseByRequest: p<LeaseRow>('SELECT * FROM leases WHERE agent_id = ? AND request_id = ? AND ended_at IS NULL'),
      liveLeaseByProcess: p<LeaseRow>('SELECT * FROM leases WHERE agent_id = ? AND product_id = ? AND user = ? AND pid = ? AND process_start = ? AND ended_at IS NULL'),
      liveLeasesOfAgent: p<LeaseRow>('SELECT * FROM leases WHERE agent_id = ? AND ended_at IS NULL ORDER BY granted_at'),
      seatKeyHeld: p<{ n: number }>('SELECT count(*) AS n FROM leases WHERE product_id = ? AND seat_key = ? AND ended_at IS NULL'),
      liveSeatsOfProduct: p<{ seat_key: string }>('SELECT DISTINCT seat_key FROM leases WHERE product_id = ? AND ended_at IS NULL'),
      liveLeaseCounts: p<{ product_id: string; leases: number; seats: number }>(
        'SELECT product_id, count(*) AS leases, count(DISTINCT seat_key) AS seats FROM leases WHERE ended_at IS NULL GROUP BY product_id',
      ),
      insertLease: p(
        'INSERT INTO leases (id, agent_id, product_id, seat_key, user, host, pid, process_start, request_id, ticket, granted_at, expires_at, claimed) ' +
          'VALUES (@id, @agent_id, @product_id, @seat_key, @user, @host, @pid, @process_start, @request_id, @ticket, @granted_at, @expires_at, @claimed)',
      ),
      renewLease: p('UPDATE leases SET expires_at = ?, renewed_at = ?, claimed = 1 WHERE id = ? AND agent_id = ? AND ended_at IS NULL'),
      renewLeaseMax: p('UPDATE leases SET expires_at = max(expires_at, ?), renewed_at = ?, claimed = 1 WHERE id = ? AND ended_at IS NULL'),
      endLease: p('UPDATE leases SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL'),
      expiredLeases: p<LeaseRow>('SELECT * FROM leases WHERE ended_at IS NULL AND expires_at <= ?'),
      extendLiveLeases: p('UPDATE leases SET expires_at = max(expires_at, ?) WHERE ended_at IS NULL'),
      liveProductsWithExpired: p<{ product_id: string }>('SELECT DISTINCT product_id FROM leases WHERE ended_at IS NULL AND expires_at <= ?'),

      allocationById: p<AllocationRow>('SELECT * FROM allocations WHERE id = ?'),
      liveAllocations: p<AllocationRow>('SELECT * FROM allocations WHERE revoked_at IS NULL ORDER BY product_id, issued_at'),
      liveLeasesOfSeat: p<LeaseRow>('SELECT * FROM leases WHERE product_id = ? AND seat_key = ? AND ended_at IS NULL ORDER BY granted_at'),
      liveLeases: p<LeaseRow>('SELECT * FROM leases WHERE ended_at IS NULL ORDER BY product_id, granted_at'),
      liveAllocation: p<{ id: number }>('SELECT id FROM allocations WHERE product_id = ? AND seat_key = ? AND revoked_at IS NULL'),
      liveAllocationKeys: p<{ seat_key: string }>('SELECT seat_key FROM allocations WHERE product_id = ? AND revoked_at IS NULL'),
      insertAllocation: p('INSERT INTO allocations (product_id, seat_key, agent_id, user, host, issued_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      useAllocation: p('UPDATE allocations SET last_used_at = ? WHERE product_id = ? AND seat_key = ? AND revoked_at IS NULL'),
      idleAllocations: p<{ id: number; product_id: string; seat_key: string; agent_id: string; user: string; host: string }>(
        'SELECT a.id, a.product_id, a.seat_key, a.agent_id, a.user, a.host FROM allocations a WHERE a.revoked_at IS NULL AND a.product_id = ? AND a.last_used_at <= ? ' +
          'AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.product_id = a.product_id AND l.seat_key = a.seat_key AND l.ended_at IS NULL)',
      ),
      revokeAllocation: p('UPDATE allocations SET revoked_at = ?, revoke_reason = ? WHERE id = ?'),
      liveAllocationCounts: p<{ product_id: string; n: number }>('SELECT product_id, count(*) AS n FROM allocations WHERE revoked_at IS NULL GROUP BY product_id'),

      ticket: p<TicketRow>('SELECT * FROM queue WHERE ticket = ?'),
      waitingByRequest: p<TicketRow>("SELECT * FROM queue WHERE agent_id = ? AND request_id = ? AND state = 'waiting'"),
      waitingByProcess: p<TicketRow>("SELECT * FROM queue WHERE agent_id = ? AND product_id = ? AND user = ? AND pid = ? AND process_start = ? AND state = 'waiting'"),
      waitingOfProduct: p<TicketRow>("SELECT * FROM queue WHERE product_id = ? AND state = 'waiting' ORDER BY qseq"),
      waitingCount: p<{ n: number }>("SELECT count(*) AS n FROM queue WHERE product_id = ? AND state = 'waiting'"),
      waitingPosition: p<{ n: number }>("SELECT count(*) AS n FROM queue WHERE product_id = ? AND state = 'waiting' AND qseq <= ?"),
      waitingAll: p<TicketRow>("SELECT * FROM queue WHERE state = 'waiting' ORDER BY qseq"),
      waitingOfAgent: p<TicketRow>("SELECT * FROM queue WHERE agent_id = ? AND state = 'waiting' ORDER BY qseq"),
      waitingCounts: p<{ product_id: string; n: number }>("SELECT product_id, count(*) AS n FROM queue WHERE state = 'waiting' GROUP BY product_id"),
      productsWithWaiting: p<{ product_id: string }>("SELECT DISTINCT product_id FROM queue WHERE state = 'waiting'"),
      insertTicket: p(
        'INSERT INTO queue (ticket, agent_id, product_id, seat_key, user, host, pid, process_start, request_id, enqueued_at, last_poll_at, state) ' +
          "VALUES (@ticket, @agent_id, @product_id, @seat_key, @user, @host, @pid, @process_start, @request_id, @enqueued_at, @last_poll_at, 'waiting')",
      ),
      pollTicket: p("UPDATE queue SET last_poll_at = ? WHERE ticket = ? AND state = 'waiting'"),
      extendWaiting: p("UPDATE queue SET last_poll_at = max(last_poll_at, ?) WHERE state = 'waiting'"),
      endTicket: p("UPDATE queue SET state = ?, ended_at = ?, lease_id = ? WHERE ticket = ? AND state = 'waiting'"),

      insertEvent: p(
        'INSERT INTO usage_events (origin, agent_id, seq, time, code, product, user, host, pid, process_start, lease_id, reason, offline, extra) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
    };
  }

  /**
   * A number that changes whenever the database may have changed under an in-memory cache: when
   * another connection (the admin CLI: revoke, set-seats, products add) has committed since the
   * last call (SQLite's `PRAGMA data_version`, about a microsecond), or when this process called
   * `invalidate()` after changing something cached itself. Caches of agents and products compare it
   * on every use, so an admin change is seen by the very next request.
   *
   * The check is made once per event-loop callback (it is reset at the next microtask checkpoint):
   * whatever a callback handles arrived before the callback began, so a request sent after an
   * admin command returned is always checked after that command's commit.
   */
  version(): number {
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

  /** Tell caches validated by `version()` that this process changed what they hold. */
  invalidate(): void {
    this.generation++;
  }

  /**
   * `INSERT OR IGNORE` of `rows` uploaded records into `table` (columns as in RECORD_TABLES, row
   * after row), prepared on first use and kept. OR IGNORE: a (agent, seq) already stored is never
   * stored twice (the ack plan already leaves such records out).
   */
  recordInsert(table: RecordTable, rows: number): Database.Statement<unknown[]> {
    const key = `${table}:${rows}`;
    let st = this.recordInserts.get(key);
    if (st === undefined) {
      const t = RECORD_TABLES[table];
      const marks = t.columns.map(() => '?').join(', ');
      const tuple = table === 'event' ? `('agent', ${marks})` : `(${marks})`;
      const columns = table === 'event' ? ['origin', ...t.columns] : t.columns;
      st = this.db.prepare<unknown[]>(`INSERT OR IGNORE INTO ${t.table} (${columns.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`);
      this.recordInserts.set(key, st);
    }
    return st;
  }

  writeServerEvent(e: ServerEvent): void {
    this.s.insertEvent.run(
      'server', e.agentId ?? null, null, new Date(e.time).toISOString(), e.code, e.product ?? null, e.user ?? null,
      e.host ?? null, e.pid ?? null, e.processStart ?? null, e.leaseId ?? null, e.reason ?? null, null, null,
    );
  }

  upsertProduct(p: ProductConfig, source: 'config' | 'admin', now = new Date()): void {
    this.s.upsertProduct.run(p.id, p.name ?? p.id, p.licenseType, p.seats ?? null, JSON.stringify(p), source, now.toISOString());
    this.invalidate();
  }
}
