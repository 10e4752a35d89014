import type Database from 'better-sqlite3';

/**
 * Schema migrations keyed by SQLite's user_version: migration i brings the schema from version i
 * to i+1. Append new steps; never edit a released one.
 */
const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE records (
     seq  INTEGER PRIMARY KEY,
     type TEXT NOT NULL,
     time TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX records_type_seq ON records (type, seq);
   CREATE INDEX records_time ON records (time);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
   CREATE TABLE cursors (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // Tamper evidence (protocol/integrity.ts): the chain value and MAC of each record, base64url, in
  // columns of their own so the record's fields (and `records` output) stay as they were.
  `ALTER TABLE records ADD COLUMN chain TEXT;
   ALTER TABLE records ADD COLUMN mac TEXT;
   ALTER TABLE records ADD COLUMN chain_through TEXT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`journal schema version ${current} is newer than this agent understands (${SCHEMA_VERSION}); refusing to touch it`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
