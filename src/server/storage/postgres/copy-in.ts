/**
 * Uploaded records into PostgreSQL with COPY FROM STDIN (text format): one statement per table and
 * batch, about a third of the database's CPU per row of INSERT ... SELECT FROM unnest(arrays) ...
 * ON CONFLICT DO NOTHING, which spends most of its time parsing array literals and in speculative
 * insertion (bench/server-ingest; measured 10-13 against 25-29 µs a row, PostgreSQL 15).
 *
 * COPY has no ON CONFLICT. It needs none on the ingest path: ingest stores only seqs above the
 * agent's acknowledged seq, decided under the agent's row lock, and moves that seq in the same
 * transaction, so no row it copies can exist yet. Should one exist all the same (a record
 * written by some other way), COPY fails with a unique violation; it is raised as
 * DuplicateRecords, and the store runs the transaction again with the UNNEST ... ON CONFLICT DO
 * NOTHING insert, so a record is still stored once whatever happened before.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteColumn, RECORD_TABLES, type RecordTable } from '../records.js';

/** A record that COPY would have stored twice: run the transaction again with ON CONFLICT DO NOTHING. */
export class DuplicateRecords extends Error {
  constructor(cause: unknown) {
    super('a record copied is stored already', { cause });
  }
}

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One value in COPY's text format: \N for null, backslash escapes for the four characters that need them. */
export function copyField(x: unknown): string {
  if (x === null || x === undefined) return '\\N';
  const s = typeof x === 'string' ? x : typeof x === 'object' ? JSON.stringify(x) : String(x);
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : s;
}

/** The COPY text of `rows` rows laid out one after another in `values` (`width` values a row), each prefixed by `lead`. */
export function copyText(values: readonly unknown[], width: number, rows: number, lead: readonly string[] = []): string {
  const lines = new Array<string>(rows);
  const fields = new Array<string>(lead.length + width);
  for (let i = 0; i < lead.length; i++) fields[i] = copyField(lead[i]);
  for (let r = 0, o = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) fields[lead.length + c] = copyField(values[o++]);
    lines[r] = fields.join('\t');
  }
  return `${lines.join('\n')}\n`;
}

/** COPY `text` into `table (columns)` on `client` (inside the caller's transaction). */
export async function copyRows(client: pg.PoolClient, table: string, columns: readonly string[], text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
      stream.end(Buffer.from(text, 'utf8'));
    });
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new DuplicateRecords(err);
    throw err;
  }
}

/** Where a record table's COPY goes: its table, the columns copied (usage_events first takes its origin, 'agent'), the values a row. */
export function recordCopy(table: RecordTable): RecordCopy {
  return RECORD_COPIES[table];
}

interface RecordCopy {
  table: string;
  columns: readonly string[];
  width: number;
  lead: readonly string[];
}

/** Made once: every upload's insert asks for its tables' layouts. */
const RECORD_COPIES = Object.fromEntries(
  (Object.keys(RECORD_TABLES) as RecordTable[]).map((table): [RecordTable, RecordCopy] => {
    const t = RECORD_TABLES[table];
    const cols = t.columns.map((c) => quoteColumn(c[0]));
    return [
      table,
      table === 'event'
        ? { table: t.table, columns: ['origin', ...cols], width: cols.length, lead: ['agent'] }
        : { table: t.table, columns: cols, width: cols.length, lead: [] },
    ];
  }),
) as Record<RecordTable, RecordCopy>;
