/**
 * `usage-server migrate --from FILE.db --to postgres://...`: move a site from the embedded SQLite
 * store to PostgreSQL. Copies every table (products, agents with their token hashes and
 * acknowledged seqs, live and historical leases, allocations, the queue, events and records) in one
 * PostgreSQL transaction, so a failed copy leaves the target as it was, then compares the row count
 * of every table. Agents keep their tokens: they go on renewing and uploading against the
 * PostgreSQL servers without enrolling again.
 */
import type Database from 'better-sqlite3';
import type { PostgresStore } from './postgres/store.js';
import type { RecordTable } from './records.js';
import { monthOf } from './retention.js';
import type { SqliteStore } from './sqlite/store.js';

/** In dependency order; `order` keeps ids and seqs ascending, as they were written. */
const TABLES: ReadonlyArray<{ name: string; order: string; identity?: string }> = [
  { name: 'products', order: 'id' },
  { name: 'agents', order: 'id' },
  { name: 'leases', order: 'granted_at, id' },
  { name: 'allocations', order: 'id', identity: 'id' },
  { name: 'queue', order: 'qseq', identity: 'qseq' },
  { name: 'usage_events', order: 'id', identity: 'id' },
  { name: 'process_records', order: 'agent_id, seq' },
  { name: 'activity_records', order: 'agent_id, seq' },
  { name: 'other_records', order: 'agent_id, seq' },
  { name: 'software_installed', order: 'host, source, name, architecture' },
  { name: 'integrity_flags', order: 'id', identity: 'id' },
];
/** Rows per INSERT: PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMS = 60_000;

export interface CopyReport {
  tables: Array<{ table: string; source: number; target: number }>;
}

export class CopyError extends Error {}

const quote = (c: string) => `"${c.replace(/"/g, '""')}"`;

export async function copySqliteToPostgres(from: SqliteStore, to: PostgresStore, onProgress?: (table: string, rows: number) => void): Promise<CopyReport> {
  const db: Database.Database = from.db;
  const client = await to.pool.connect();
  const report: CopyReport = { tables: [] };
  try {
    // Monthly partitions for every month the records span, before the rows go in (rows of a month
    // without its partition would land in the default partition, out of retention's reach), and
    // before the copy's transaction: making a partition waits for every open use of its table.
    const needs: Array<{ table: RecordTable; type: string; month: string }> = [];
    for (const [table, name] of [
      ['process', 'process_records'],
      ['activity', 'activity_records'],
      ['other', 'other_records'],
      ['event', 'usage_events'],
    ] as const) {
      const rows = db
        .prepare(`SELECT DISTINCT ${table === 'event' ? "'usage-event'" : 'type'} AS type, substr(time, 1, 7) AS month FROM ${name}`)
        .all() as Array<{ type: string; month: string }>;
      for (const r of rows) if (monthOf(r.month) !== undefined) needs.push({ table, type: r.type, month: r.month });
    }
    await to.partitions.ensure(needs);
    await client.query('BEGIN');
    for (const t of TABLES) {
      const present = await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${t.name}`);
      if (Number(present.rows[0].n) > 0) throw new CopyError(`the target already holds ${t.name} (${present.rows[0].n} rows): migrate into an empty database`);
    }
    for (const t of TABLES) {
      const columns = (db.prepare(`PRAGMA table_info(${t.name})`).all() as Array<{ name: string }>).map((c) => c.name);
      const perInsert = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
      const insertFor = (rows: number) => {
        let n = 0;
        const tuples = Array.from({ length: rows }, () => `(${columns.map(() => `$${++n}`).join(', ')})`);
        return `INSERT INTO ${t.name} (${columns.map(quote).join(', ')}) VALUES ${tuples.join(', ')}`;
      };
      let copied = 0;
      let batch: unknown[] = [];
      let rows = 0;
      const flush = async () => {
        if (rows === 0) return;
        await client.query(insertFor(rows), batch);
        copied += rows;
        onProgress?.(t.name, copied);
        batch = [];
        rows = 0;
      };
      for (const row of db
        .prepare(`SELECT ${columns.map(quote).join(', ')} FROM ${t.name} ORDER BY ${t.order}`)
        .raw()
        .iterate() as IterableIterator<unknown[]>) {
        for (const v of row) batch.push(typeof v === 'bigint' ? Number(v) : v);
        if (++rows === perInsert) await flush();
      }
      await flush();
      if (t.identity) {
        // New rows continue after the copied ids, as they would have in SQLite.
        await client.query(
          `SELECT setval(pg_get_serial_sequence('${t.name}', '${t.identity}'), coalesce((SELECT max(${t.identity}) FROM ${t.name}), 0) + 1, false)`,
        );
      }
    }
    for (const t of TABLES) {
      const source = (db.prepare(`SELECT count(*) AS n FROM ${t.name}`).get() as { n: number }).n;
      const target = Number((await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${t.name}`)).rows[0].n);
      report.tables.push({ table: t.name, source, target });
      if (source !== target) throw new CopyError(`${t.name}: ${source} rows in the source but ${target} copied`);
    }
    await client.query('COMMIT');
    return report;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
