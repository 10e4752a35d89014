/**
 * Group ingest on PostgreSQL: the uploads that queue while a server's ingest transactions are busy
 * are stored together, in one transaction, as SQLite's group commit does on its one writer.
 *
 * Small uploads pay for statements more than for rows: the fleet simulator's 50-record uploads
 * took ~2 ms of database time in their COPYs alone (pg_stat_statements), against ~0.5 ms for their
 * rows at the per-row cost of a 500-record COPY. The roll-up trigger's statements (storage/rollups.ts)
 * run once per COPY whatever its size, and the roll-up rows that every agent adds to (commands seen
 * everywhere) were upserted once per upload. At 100,000 agents, grouping took the database from
 * 959 to 851-873 us per request, and p99 from 674 to 141-157 ms (bench/fleet, README).
 *
 * A group runs:
 * 1. BEGIN;
 * 2. the members' agent rows locked in one SELECT, in byte order of their ids (two servers' groups
 *    and the last-seen updates lock the agents they share in one order);
 * 3. the members' own statements;
 * 4. one COPY per record table for all of them (the trigger sums the group's rows once);
 * 5. one UPDATE of the acknowledged seqs and chain heads;
 * 6. COMMIT, synchronous, before any member's promise settles.
 *
 * Members must be re-runnable (store.ts's retries need that already): if anything in a group
 * fails (a deadlock, a record stored already, a member's own error), the group is rolled back and
 * every member runs again alone in its own transaction, where each gets its own answer. An upload
 * that finds nothing queued runs alone at once, as before. A group holds at most one upload per
 * agent: a second one (an agent retrying while its first upload is still stored) waits for the next.
 */
import type pg from 'pg';
import { AGENT_LOCK_ORDER, Queries } from '../queries.js';
import { INGEST_ORDER, type RecordTable } from '../records.js';
import type { StoreSignal, Tx } from '../store.js';
import type { AgentRow } from '../types.js';
import { copyRows, copyText, recordCopy } from './copy-in.js';
import { notifySignals, PgSql } from './pg-sql.js';

/** Uploads in one transaction at most: each member's rows stay locked until the group commits. */
export const GROUP_MAX_MEMBERS = 32;
/** Ingest transactions a server runs at once; uploads beyond them queue and go in the next group. */
export const INGEST_LANES = 2;

interface Member {
  agentId: string;
  fn: (tx: Tx) => Promise<unknown>;
  resolve(v: unknown): void;
  reject(err: unknown): void;
}

/** What the members of a running group share: the connection, their agent rows, what is deferred to the end. */
interface Group {
  client: pg.PoolClient;
  agents: Map<string, AgentRow>;
  copies: Map<RecordTable, string[]>;
  acked: Map<string, number>;
  heads: Map<string, string>;
}

class MemberTx extends Queries implements Tx {
  readonly after: Array<() => void> = [];
  readonly signals: StoreSignal[] = [];
  readonly grouped = true;

  constructor(
    private readonly group: Group,
    private readonly agentId: string,
  ) {
    super(new PgSql(group.client));
  }

  afterCommit(fn: () => void): void {
    this.after.push(fn);
  }

  signal(s: StoreSignal): void {
    this.signals.push(s);
  }

  /** The row the group locked at its start (nothing in the group changes it before the end). */
  override async agentForUpdate(id: string): Promise<AgentRow | undefined> {
    if (id !== this.agentId) throw new Error(`an ingest for agent ${this.agentId} asked for agent ${id}`);
    return this.group.agents.get(id);
  }

  override async setAcked(id: string, seq: number): Promise<number> {
    if (!this.group.agents.has(id)) return 0;
    this.group.acked.set(id, seq);
    return 1;
  }

  override async setChainHead(id: string, head: string): Promise<number> {
    if (!this.group.agents.has(id)) return 0;
    this.group.heads.set(id, head);
    return 1;
  }

  async insertRecords(table: RecordTable, values: unknown[], rows: number): Promise<void> {
    if (rows === 0) return;
    const c = recordCopy(table);
    let texts = this.group.copies.get(table);
    if (texts === undefined) this.group.copies.set(table, (texts = []));
    texts.push(copyText(values, c.width, rows, c.lead));
  }
}

export class IngestGroups {
  private readonly queue: Member[] = [];
  private running = 0;

  constructor(
    private readonly pool: pg.Pool,
    /** One upload in its own transaction (the store's ordinary path, with its retries). */
    private readonly alone: (fn: (tx: Tx) => Promise<unknown>) => Promise<unknown>,
    /** A committed transaction's signals to this server's listeners. */
    private readonly deliver: (s: StoreSignal) => void,
    private readonly log?: { warn(obj: object, msg: string): void },
  ) {}

  /** Uploads waiting for a lane. */
  get queued(): number {
    return this.queue.length;
  }

  run<T>(agentId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ agentId, fn, resolve: resolve as (v: unknown) => void, reject });
      this.start();
    });
  }

  private start(): void {
    while (this.running < INGEST_LANES && this.queue.length > 0) {
      const members = this.take();
      this.running++;
      void this.runGroup(members).finally(() => {
        this.running--;
        this.start();
      });
    }
  }

  /** The queued uploads in order, one per agent, up to GROUP_MAX_MEMBERS; the rest stay queued. */
  private take(): Member[] {
    const members: Member[] = [];
    const agents = new Set<string>();
    for (let i = 0; i < this.queue.length && members.length < GROUP_MAX_MEMBERS; ) {
      const m = this.queue[i]!;
      if (agents.has(m.agentId)) {
        i++;
        continue;
      }
      agents.add(m.agentId);
      members.push(m);
      this.queue.splice(i, 1);
    }
    return members;
  }

  private async runGroup(members: Member[]): Promise<void> {
    if (members.length > 1) {
      let committed: MemberTx[] | undefined;
      let results: unknown[] = [];
      try {
        [committed, results] = await this.commit(members);
      } catch (err) {
        this.log?.warn({ err, uploads: members.length }, 'a group of uploads could not be stored together; storing each in its own transaction');
      }
      if (committed) {
        // As after a transaction of its own: a member whose after-commit work throws gets that error.
        committed.forEach((tx, i) => {
          try {
            for (const s of tx.signals) this.deliver(s);
            for (const f of tx.after) f();
            members[i]!.resolve(results[i]);
          } catch (err) {
            members[i]!.reject(err);
          }
        });
        return;
      }
    }
    await Promise.all(members.map((m) => this.alone(m.fn).then(m.resolve, m.reject)));
  }

  private async commit(members: Member[]): Promise<[MemberTx[], unknown[]]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const ids = members.map((m) => m.agentId);
        const locked = await client.query<AgentRow>({
          name: 'group_lock_agents',
          text: `SELECT * FROM agents WHERE id = ANY($1::text[]) ORDER BY id ${AGENT_LOCK_ORDER} FOR UPDATE`,
          values: [ids],
        });
        const group: Group = { client, agents: new Map(locked.rows.map((r) => [r.id, r])), copies: new Map(), acked: new Map(), heads: new Map() };
        const txs = members.map((m) => new MemberTx(group, m.agentId));
        // The members' own statements queue on the one connection; a failed one fails the group.
        const settled = await Promise.allSettled(members.map((m, i) => m.fn(txs[i]!)));
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
        if (failed) throw failed.reason;
        for (const table of INGEST_ORDER) {
          const texts = group.copies.get(table);
          if (texts) {
            const c = recordCopy(table);
            await copyRows(client, c.table, c.columns, texts.join(''));
          }
        }
        const moved = [...new Set([...group.acked.keys(), ...group.heads.keys()])];
        if (moved.length > 0)
          await client.query({
            name: 'group_set_acked',
            text:
              'UPDATE agents a SET acked_seq = coalesce(u.acked, a.acked_seq), chain_head = coalesce(u.head, a.chain_head) ' +
              'FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, acked, head) WHERE a.id = u.id',
            values: [moved, moved.map((id) => group.acked.get(id) ?? null), moved.map((id) => group.heads.get(id) ?? null)],
          });
        await notifySignals(
          client,
          txs.flatMap((tx) => tx.signals),
        );
        await client.query('COMMIT');
        return [txs, settled.map((s) => (s as PromiseFulfilledResult<unknown>).value)];
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      }
    } finally {
      client.release(broken);
    }
  }
}
