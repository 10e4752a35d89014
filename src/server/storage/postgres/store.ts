/**
 * The PostgreSQL store (the `pg` client and its pool): several usage-server processes on one
 * database, none holding state of its own.
 *
 * - Seats: every decision about a product's seats or queue locks the product's row first
 *   (`Queries.lockProduct`), so servers decide one after another, on what the database holds.
 * - Signals: LISTEN/NOTIFY on one channel. A granted queue ticket wakes the long-poll holding it on
 *   whichever server that is; an admin change empties the product caches everywhere.
 * - Tokens are looked up on every request (batched: one statement for all requests in flight), so a
 *   revoke through any server or the admin CLI is refused at the very next request everywhere.
 *   Renewals alone may use a token verified before: their UPDATE renews only leases of agents
 *   that are not revoked, and a refused renewal looks the agent up again.
 * - Renewals are batched into one UPDATE ... FROM unnest(...) on a connection with
 *   synchronous_commit off (a crash can cost the last few renewals, never a seat: the lease keeps
 *   its earlier expiry and every live lease gets the restart grace). Uploads commit synchronously,
 *   so an acknowledged record is on disk.
 */
import pg from 'pg';
import { VerifiedTokens } from '../../auth.js';
import { Batcher } from '../batch.js';
import { Queries } from '../queries.js';
import { pruneSpans, spansRefresher } from '../spans.js';
import { RECORD_TABLES, type RecordTable } from '../records.js';
import type { Dialect } from '../sql.js';
import type { OpenOptions, Store, StoreSignal, TransactionOptions, Tx } from '../store.js';
import type { AgentRow, Renewal } from '../types.js';
import { copyRows, copyText, DuplicateRecords, recordCopy } from './copy-in.js';
import { IngestGroups } from './ingest-group.js';
import { CHANNEL, notifySignals, PgSql } from './pg-sql.js';
import { migratePostgres } from './schema.js';
import { Partitions, type PartitionNeed } from './partitions.js';
import { monthOf, tableOfType } from '../retention.js';
import { utc } from '../records.js';
import type { UploadRecord } from '../../../protocol/v1.js';

/** Retries of a transaction PostgreSQL aborted to break a deadlock or a serialization conflict. */
const CONFLICT_ATTEMPTS = 5;

/** bigint and numeric as JavaScript numbers: ids, counts and millisecond times all stay below 2^53. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** The URL without its password, for logs and `check-config`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

class PgTx extends Queries implements Tx {
  readonly after: Array<() => void> = [];
  readonly signals: StoreSignal[] = [];

  /** `copy`: records go in with COPY (copy-in.ts); false after a DuplicateRecords, for the retry. */
  constructor(
    private readonly client: pg.PoolClient,
    private readonly copy: boolean,
  ) {
    super(new PgSql(client));
  }

  afterCommit(fn: () => void): void {
    this.after.push(fn);
  }

  signal(s: StoreSignal): void {
    this.signals.push(s);
  }

  async insertRecords(table: RecordTable, values: unknown[], rows: number): Promise<void> {
    if (rows === 0) return;
    if (this.copy) {
      const c = recordCopy(table);
      return copyRows(this.client, c.table, c.columns, copyText(values, c.width, rows, c.lead));
    }
    const t = RECORD_TABLES[table];
    const width = t.columns.length;
    const target = recordCopy(table).columns;
    // Column arrays for UNNEST: one statement, one round trip, whatever the batch size.
    const arrays = t.columns.map(() => new Array<unknown>(rows));
    for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < width; c++) arrays[c][r] = values[o++];
    const unnest = t.columns.map((c, i) => `$${i + 1}::${c[1]}[]`).join(', ');
    const select = table === 'event' ? `SELECT 'agent', * FROM unnest(${unnest})` : `SELECT * FROM unnest(${unnest})`;
    const conflict = 'ON CONFLICT DO NOTHING';
    const text = `INSERT INTO ${t.table} (${target.join(', ')}) ${select} ${conflict}`;
    await this.client.query({ name: `rec_${table}`, text, values: arrays });
  }
}

const isConflict = (err: unknown) => {
  const code = (err as { code?: string })?.code;
  return code === '40001' || code === '40P01';
};

/** A stable 32-bit key for pg_try_advisory_xact_lock from a name. */
function lockKey(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

export class PostgresStore implements Store {
  readonly dialect: Dialect = 'postgres';
  readonly q: Queries;
  private readonly listeners: Array<(s: StoreSignal) => void> = [];
  private generation = 0;
  private listener: pg.Client | undefined;
  private renewClient: pg.PoolClient | undefined;
  private readonly tokenBatch: Batcher<string, AgentRow | undefined>;
  /** Tokens verified before, for renewals only: their UPDATE checks the agent is not revoked. */
  private readonly verified = new VerifiedTokens<AgentRow>();
  private closed = false;
  readonly partitions: Partitions;
  readonly ingestGroups: IngestGroups;

  constructor(
    readonly pool: pg.Pool,
    readonly location: string,
    private readonly url: string,
    private readonly log?: OpenOptions['log'],
  ) {
    this.q = new Queries(new PgSql(pool));
    this.q.reports.refreshSpans = spansRefresher(this);
    this.partitions = new Partitions(pool, log);
    this.ingestGroups = new IngestGroups(
      pool,
      (fn) => this.transaction(fn),
      (s) => this.deliver(s),
      log,
    );
    this.tokenBatch = new Batcher(async (hashes) => {
      const rows = await new PgSql(this.pool).all<AgentRow>('SELECT * FROM agents WHERE token_hash = ANY(?::text[])', [hashes]);
      const byHash = new Map(rows.map((r) => [r.token_hash, r]));
      return hashes.map((h) => byHash.get(h));
    });
  }

  /** LISTEN on a connection of its own (a pooled one would be handed to others). */
  async listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, types });
    c.on('error', (err) => {
      this.log?.error({ err }, 'PostgreSQL notification connection failed; reconnecting');
      this.listener = undefined;
      this.generation++;
      if (!this.closed) setTimeout(() => void this.listen().catch(() => undefined), 1000).unref();
    });
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      let s: StoreSignal;
      try {
        s = JSON.parse(n.payload) as StoreSignal;
      } catch {
        return;
      }
      this.deliver(s);
    });
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    this.listener = c;
    // Anything may have changed while no one listened.
    this.generation++;
  }

  private deliver(s: StoreSignal): void {
    if (s.kind === 'changed') this.generation++;
    for (const l of this.listeners) l(s);
  }

  changeVersion(): number {
    return this.generation;
  }

  async agentByTokenHash(hash: string, opts: { mayBeStale?: boolean } = {}): Promise<AgentRow | undefined> {
    if (opts.mayBeStale) {
      const hit = this.verified.get(hash, this.generation);
      if (hit) return hit;
    }
    const row = await this.tokenBatch.call(hash);
    if (row && !row.revoked_at) this.verified.set(hash, row, this.generation);
    return row;
  }

  async renewLeases(batch: readonly Renewal[]): Promise<Set<string>> {
    if (!this.renewClient) {
      this.renewClient = await this.pool.connect();
      await this.renewClient.query('SET synchronous_commit = off');
    }
    try {
      const r = await this.renewClient.query<{ id: string }>({
        name: 'renew_batch',
        text:
          'UPDATE leases l SET expires_at = greatest(l.expires_at, u.e), renewed_at = u.at, claimed = 1 ' +
          'FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(id, agent, e, at) JOIN agents a ON a.id = u.agent AND a.revoked_at IS NULL ' +
          'WHERE l.id = u.id AND l.agent_id = u.agent AND l.ended_at IS NULL RETURNING l.id',
        values: [batch.map((b) => b.leaseId), batch.map((b) => b.agentId), batch.map((b) => b.expiresAt), batch.map((b) => b.at)],
      });
      return new Set(r.rows.map((x) => x.id));
    } catch (err) {
      this.renewClient.release(err as Error);
      this.renewClient = undefined;
      throw err;
    }
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  async transaction<T>(fn: (tx: Tx) => Promise<T>, opts: TransactionOptions = {}): Promise<T | undefined> {
    if (opts.ingestFor !== undefined && opts.exclusive === undefined) return this.ingestGroups.run(opts.ingestFor, fn);
    let copy = true;
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        if (opts.exclusive !== undefined) {
          const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [lockKey(opts.exclusive)]);
          if (!got.rows[0].ok) {
            await client.query('ROLLBACK');
            return undefined;
          }
        }
        const tx = new PgTx(client, copy);
        let result: T;
        try {
          result = await fn(tx);
          await notifySignals(client, tx.signals);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          throw err;
        }
        // This server hears its own NOTIFY too, but later: deliver at once (receivers are idempotent).
        for (const s of tx.signals) this.deliver(s);
        for (const f of tx.after) f();
        return result;
      } catch (err) {
        if (isConflict(err) && attempt < CONFLICT_ATTEMPTS) continue;
        if (err instanceof DuplicateRecords && copy) {
          copy = false;
          this.log?.warn({ err: err.cause }, 'records copied were stored already; storing the batch again with ON CONFLICT DO NOTHING');
          continue;
        }
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  prepareRecords(records: readonly UploadRecord[]): Promise<void> {
    const needs: PartitionNeed[] = [];
    let last = '';
    for (const r of records) {
      const month = monthOf(utc(r.time));
      if (month === undefined) continue;
      const key = r.type + month;
      if (key === last) continue;
      last = key;
      needs.push({ table: tableOfType(r.type), type: r.type, month });
    }
    return this.partitions.ensure(needs);
  }

  /** Partitions ahead for the server's own events; retention drops whole monthly partitions. */
  async maintain(now: number, retentionDays: Readonly<Record<string, number>>): Promise<string[]> {
    await this.partitions.ensureServerMonths(now);
    const removed = await this.partitions.applyRetention(retentionDays, now);
    // The checkout spans made only of the events of the months that went (storage/spans.ts).
    if (removed.length > 0 && retentionDays['usage-event'] !== undefined) await this.transaction(async (tx) => pruneSpans(tx.sql));
    return removed;
  }

  async durable(): Promise<void> {
    // Uploads commit with synchronous_commit on: a commit that returned is on disk.
  }

  onSignal(fn: (s: StoreSignal) => void): void {
    this.listeners.push(fn);
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.renewClient?.release();
    this.renewClient = undefined;
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}

export async function openPostgresStore(url: string, opts: OpenOptions = {}): Promise<PostgresStore> {
  // Connections are kept while idle (idleTimeoutMillis 0): a server's load comes back, and a reconnect costs a backend start.
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, idleTimeoutMillis: 0, types, application_name: 'usage-server' });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => opts.log?.error({ err }, 'idle PostgreSQL connection failed'));
  const store = new PostgresStore(pool, redactUrl(url), url, opts.log);
  try {
    if (!opts.readonly) {
      const c = await pool.connect();
      try {
        await migratePostgres(c);
      } finally {
        c.release();
      }
    }
    await store.listen();
    await store.partitions.ensureServerMonths(Date.now());
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return store;
}
