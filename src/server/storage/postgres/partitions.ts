/**
 * Monthly partitions of the record tables, made before the rows that need them (so the DEFAULT
 * partition stays empty), registered in `record_partitions`, and dropped whole by retention.
 * Creation runs under an advisory lock, so servers making the same partition at once make it once.
 */
import type pg from 'pg';
import { RECORD_TABLES, type RecordTable } from '../records.js';
import { rollupPartitionDrop, USER_GROUPS_REBUILD } from '../rollups.js';
import { numberPlaceholders } from '../sql.js';
import { monthOf, monthRange, partitionsToDrop, tableOfType, type MonthlyPartition } from '../retention.js';

/** The advisory lock partitions are made and dropped under (one server at a time). */
export const CREATE_LOCK = 7_463_221_002;
/** What a need handled before waits for: nothing. */
const DONE: Promise<void> = Promise.resolve();
/** Types of other_records that get partitions of their own; anything else stays in the default partition. */
const TYPE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Bound on other_records types with partitions of their own (agents choose those types). */
const MAX_OTHER_TYPES = 64;

export interface PartitionNeed {
  table: RecordTable;
  type: string;
  month: string;
}

const slug = (type: string) => type.replace(/-/g, '_');

export class Partitions {
  /**
   * Needs handled or being handled in this process: the creation each waits for. A row that needs a
   * partition being made waits for it, lest it go into the default partition meanwhile (whose rows
   * of that month would then make the partition fail, and stay where retention cannot drop them).
   */
  private readonly known = new Map<string, Promise<void>>();
  private readonly keyOfPartition = new Map<string, string>();
  private readonly otherTypes = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly log?: { warn(o: object, msg: string): void },
  ) {}

  private spec(n: PartitionNeed): MonthlyPartition | undefined {
    const parent = RECORD_TABLES[n.table].table;
    const { starts, ends } = monthRange(n.month);
    const ym = n.month.replace('-', '');
    if (n.table === 'event') return { name: `${parent}_${ym}`, parent, type: null, starts, ends };
    if (!TYPE_NAME.test(n.type) || tableOfType(n.type) !== n.table) return undefined;
    if (n.table === 'other' && !this.otherTypes.has(n.type)) {
      if (this.otherTypes.size >= MAX_OTHER_TYPES) return undefined;
      this.otherTypes.add(n.type);
    }
    return { name: `${parent}_${slug(n.type)}_${ym}`, parent, type: n.type, starts, ends };
  }

  /** Make the partitions these rows need (each at most once per process; a no-op when all exist). */
  ensure(needs: Iterable<PartitionNeed>): Promise<void> {
    const missing = new Map<string, MonthlyPartition>();
    const keys: string[] = [];
    let pending: Array<Promise<void>> | undefined;
    for (const n of needs) {
      const key = `${n.table}\u001f${n.type}\u001f${n.month}`;
      const known = this.known.get(key);
      if (known !== undefined) {
        if (known !== DONE) (pending ??= []).push(known);
        continue;
      }
      keys.push(key);
      const p = this.spec(n);
      if (p) {
        missing.set(p.name, p);
        this.keyOfPartition.set(p.name, key);
      }
    }
    if (missing.size === 0) {
      for (const k of keys) this.known.set(k, DONE);
      return pending ? Promise.all(pending).then(() => undefined) : DONE;
    }
    const made = this.create(missing);
    for (const k of keys) this.known.set(k, made);
    void made.then(
      () => {
        for (const k of keys) if (this.known.get(k) === made) this.known.set(k, DONE);
      },
      // Not made: the next row that needs them tries again.
      () => {
        for (const k of keys) if (this.known.get(k) === made) this.known.delete(k);
      },
    );
    return pending ? Promise.all([made, ...pending]).then(() => undefined) : made;
  }

  private async create(missing: Map<string, MonthlyPartition>): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK]);
      for (const p of missing.values()) {
        const bound = p.type === null ? `FROM ('${p.starts}') TO ('${p.ends}')` : `FROM ('${p.type}', '${p.starts}') TO ('${p.type}', '${p.ends}')`;
        await c.query('SAVEPOINT p');
        try {
          await c.query(`CREATE TABLE IF NOT EXISTS ${p.name} PARTITION OF ${p.parent} FOR VALUES ${bound}`);
          await c.query(
            'INSERT INTO record_partitions (name, parent, type, month, starts, ends) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING',
            [p.name, p.parent, p.type, p.starts.slice(0, 7), p.starts, p.ends],
          );
          await c.query('RELEASE SAVEPOINT p');
        } catch (err) {
          // Rows of that month already sit in the default partition (written before it existed):
          // they stay there, where retention cannot drop them; everything else goes on.
          await c.query('ROLLBACK TO SAVEPOINT p');
          this.log?.warn({ err, partition: p.name }, 'could not create a record partition; its rows stay in the default partition');
        }
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** Partitions for the server's own events of this month and the next (run at start and hourly). */
  ensureServerMonths(now: number): Promise<void> {
    const m = monthOf(new Date(now).toISOString())!;
    const next = monthRange(m).ends.slice(0, 7);
    return this.ensure([
      { table: 'event', type: 'usage-event', month: m },
      { table: 'event', type: 'usage-event', month: next },
    ]);
  }

  /** Drop the partitions entirely older than their type's retention; resolves with their names. */
  async applyRetention(retentionDays: Readonly<Record<string, number>>, now: number): Promise<string[]> {
    if (Object.keys(retentionDays).length === 0) return [];
    const all = (await this.pool.query<MonthlyPartition>('SELECT name, parent, type, starts, ends FROM record_partitions ORDER BY name')).rows;
    const drop = partitionsToDrop(all, retentionDays, now);
    if (drop.length === 0) return [];
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK]);
      for (const p of drop) {
        await c.query(`DROP TABLE IF EXISTS ${p.name}`);
        await c.query('DELETE FROM record_partitions WHERE name = $1', [p.name]);
        // A month of process or process-interval records goes whole: so do its days' roll-ups.
        if (p.type) for (const st of rollupPartitionDrop(p.type, p.starts, p.ends)) await c.query(numberPlaceholders(st.sql), st.params);
      }
      if (drop.some((p) => p.type === 'process')) for (const st of USER_GROUPS_REBUILD) await c.query(st);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    for (const p of drop) this.forget(p.name);
    return drop.map((p) => p.name);
  }

  /** A partition that is gone (dropped, or never made): the next row that needs it makes it again. */
  private forget(name: string): void {
    const key = this.keyOfPartition.get(name);
    if (key !== undefined) this.known.delete(key);
    this.keyOfPartition.delete(name);
  }
}
