/**
 * The SQLite schema and its versioned migrations (`meta.schema_version`). A migration runs once,
 * in a transaction, in order; a database newer than this server is refused.
 */
import type Database from 'better-sqlite3';
import { EVENT_CODE_TABLE } from '../../../protocol/event-codes.js';
import { spansMigration } from '../spans.js';
import { rollupMigration } from '../rollups.js';
import { seatTablesDdl } from '../seat-ddl.js';
import { SOFTWARE_INSTALLED } from '../software-ddl.js';

const V1 = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
${seatTablesDdl('sqlite')}
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

/** Seat keys separate agent and user with U+001F instead of NUL (PostgreSQL text cannot hold NUL; `usage-server migrate` copies keys as they are). */
const V2 = `
UPDATE leases SET seat_key = replace(seat_key, char(0), char(31)) WHERE instr(seat_key, char(0)) > 0;
UPDATE allocations SET seat_key = replace(seat_key, char(0), char(31)) WHERE instr(seat_key, char(0)) > 0;
UPDATE queue SET seat_key = replace(seat_key, char(0), char(31)) WHERE instr(seat_key, char(0)) > 0;
`;

/** The reports read records by type and time (reports/, storage/report-queries.ts). */
const V3 = `
CREATE INDEX IF NOT EXISTS process_records_type_time ON process_records (type, time);
CREATE INDEX IF NOT EXISTS activity_records_type_time ON activity_records (type, time);
CREATE INDEX IF NOT EXISTS other_records_type_time ON other_records (type, time);
`;

/**
 * The software audit on the server: the package owning a process's executable gets columns (it was
 * in \`extra\`), and what is installed on each host now, kept from the agents' software records.
 */
const V4 = `
ALTER TABLE process_records ADD COLUMN package TEXT;
ALTER TABLE process_records ADD COLUMN package_version TEXT;
ALTER TABLE process_records ADD COLUMN package_source TEXT;
UPDATE process_records SET package = json_extract(extra, '$.package'), package_version = json_extract(extra, '$.packageVersion'),
  package_source = json_extract(extra, '$.packageSource') WHERE extra LIKE '%"package"%';
CREATE INDEX IF NOT EXISTS process_records_package ON process_records (package, host) WHERE package IS NOT NULL;
${SOFTWARE_INSTALLED}
`;

/**
 * Tamper evidence (server/integrity.ts): each agent's record key and verified chain head, and the
 * integrity flags of its records (seq ranges; the records themselves are stored as usual).
 */
const V_INTEGRITY = `
ALTER TABLE agents ADD COLUMN record_key TEXT;
ALTER TABLE agents ADD COLUMN chain_head TEXT;
CREATE TABLE IF NOT EXISTS integrity_flags (
  id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, kind TEXT NOT NULL,
  from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, records INTEGER NOT NULL,
  first_time TEXT, last_time TEXT, detected_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS integrity_flags_agent ON integrity_flags (agent_id, from_seq);
`;

/** The client certificate an agent enrolled with (tls.clientCaFile): its token is good only with that certificate. */
const V_CLIENT_CERT = `ALTER TABLE agents ADD COLUMN client_cert_sha256 TEXT;`;

/** Daily roll-ups of process records (storage/rollups.ts): tables, the backfill of the records already stored, the insert trigger. */
const V_ROLLUPS = rollupMigration('sqlite');

/**
 * A product's expired live leases, freed before each acquire, found by a seek instead of a walk
 * over all its live leases (leases_live has no expiry; 100,000 agents on 200 products: ~500 each).
 */
const V_LEASE_EXPIRY = `CREATE INDEX IF NOT EXISTS leases_live_product_expiry ON leases (product_id, expires_at) WHERE ended_at IS NULL;`;

/** Checkout spans (storage/spans.ts): the table, the watermark at 0 (the first fold is the backfill of the events stored). */
const V_SPANS = spansMigration('sqlite');

/**
 * The work pages' activity sums read from the index alone (report-queries.ts activitySums): with
 * the (type, time) index each record matched was then looked up in the table by its key, 100,000
 * records over 90 days took 330-450 ms, covered 190-300. It replaces that index (its prefix).
 */
const V_ACTIVITY_SUMS = `
CREATE INDEX IF NOT EXISTS activity_records_sums ON activity_records (type, time, user, host, break_type, period_type, duration_seconds, keyboard, mouse, switch_count);
DROP INDEX IF EXISTS activity_records_type_time;
`;

/** Migration N brings the schema from version N-1 to N. */
const MIGRATIONS: readonly string[] = [V1, V2, V3, V4, V_INTEGRITY, V_CLIENT_CERT, V_ROLLUPS, V_LEASE_EXPIRY, V_SPANS, V_ACTIVITY_SUMS];
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;
/** The version the checkout spans came in with. */
export const SQLITE_SPANS_VERSION = MIGRATIONS.indexOf(V_SPANS) + 1;
/** The version the process roll-ups came in with (a test takes a database back to just before them). */
export const SQLITE_ROLLUPS_VERSION = MIGRATIONS.indexOf(V_ROLLUPS) + 1;

export function migrateSqlite(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  db.transaction(() => {
    const cur = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    const from = cur ? Number(cur.value) : 0;
    if (from > SQLITE_SCHEMA_VERSION) {
      throw new Error(`database schema version ${from} is newer than this server understands (${SQLITE_SCHEMA_VERSION})`);
    }
    for (let v = from; v < SQLITE_SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    const ins = db.prepare(
      'INSERT INTO event_names (code, name, description) VALUES (?, ?, ?) ON CONFLICT (code) DO UPDATE SET name = excluded.name, description = excluded.description',
    );
    for (const e of EVENT_CODE_TABLE) ins.run(e.code, e.name, e.description);
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
      String(SQLITE_SCHEMA_VERSION),
    );
  }).immediate();
}
