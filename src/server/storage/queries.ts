/**
 * Every read and write of leases, allocations, queue tickets, agents, products and server events,
 * written once over `Sql` (either store). The lease, queue and admin services use only these
 * methods; no service or route sees a statement.
 */
import type { ProductConfig } from '../config.js';
import { REPORT_EVENT_COLS, type ReportEventRow } from './report-event-row.js';
import { ReportQueries } from './report-queries.js';
import { greatest, type Sql } from './sql.js';
import type { AgentRow, AllocationRow, IntegritySummaryRow, LeaseRow, ProductRow, ServerEvent, TicketRow, TicketState } from './types.js';

export class Queries {
  private readonly max: string;
  private readonly forUpdate: string;
  private readonly liveSeatsIndex: string;
  /** The reads behind the reports (report-queries.ts). */
  readonly reports: ReportQueries;

  constructor(readonly sql: Sql) {
    this.reports = new ReportQueries(sql);
    this.max = greatest(sql.dialect);
    this.forUpdate = sql.dialect === 'postgres' ? ' FOR UPDATE' : '';
    // SQLite's planner takes the (product_id, expires_at) index for the live-lease counts and looks
    // up every row; the (product_id, seat_key) one covers them (3x faster, and /metrics holds the
    // event loop while it counts 100,000 leases).
    this.liveSeatsIndex = sql.dialect === 'sqlite' ? ' INDEXED BY leases_live' : '';
  }

  // ---- agents ------------------------------------------------------------------------------

  agentByHash(hash: string): Promise<AgentRow | undefined> {
    return this.sql.get<AgentRow>('SELECT * FROM agents WHERE token_hash = ?', [hash]);
  }

  agentById(id: string): Promise<AgentRow | undefined> {
    return this.sql.get<AgentRow>('SELECT * FROM agents WHERE id = ?', [id]);
  }

  /** The agent row locked for this transaction (PostgreSQL: uploads of one agent through two servers serialize here). */
  agentForUpdate(id: string): Promise<AgentRow | undefined> {
    return this.sql.get<AgentRow>(`SELECT * FROM agents WHERE id = ?${this.forUpdate}`, [id]);
  }

  insertAgent(a: Omit<AgentRow, 'revoked_at' | 'client_cert_sha256'> & { client_cert_sha256?: string | null }): Promise<number> {
    return this.sql.run(
      'INSERT INTO agents (id, host, token_hash, agent_version, os, enrolled_at, last_seen_at, acked_seq, record_key, chain_head, client_cert_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        a.id,
        a.host,
        a.token_hash,
        a.agent_version,
        a.os,
        a.enrolled_at,
        a.last_seen_at,
        a.acked_seq,
        a.record_key ?? null,
        a.chain_head ?? null,
        a.client_cert_sha256 ?? null,
      ],
    );
  }

  setChainHead(id: string, head: string): Promise<number> {
    return this.sql.run('UPDATE agents SET chain_head = ? WHERE id = ?', [head, id]);
  }

  insertIntegrityFlag(f: {
    agentId: string;
    kind: string;
    fromSeq: number;
    toSeq: number;
    records: number;
    firstTime: string | null;
    lastTime: string | null;
    detectedAt: string;
  }): Promise<number> {
    return this.sql.run(
      'INSERT INTO integrity_flags (agent_id, kind, from_seq, to_seq, records, first_time, last_time, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [f.agentId, f.kind, f.fromSeq, f.toSeq, f.records, f.firstTime, f.lastTime, f.detectedAt],
    );
  }

  /** The integrity flags of one agent, in seq order. */
  integrityFlags(
    agentId: string,
  ): Promise<
    Array<{ kind: string; from_seq: number; to_seq: number; records: number; first_time: string | null; last_time: string | null; detected_at: string }>
  > {
    return this.sql.all(
      'SELECT kind, from_seq, to_seq, records, first_time, last_time, detected_at FROM integrity_flags WHERE agent_id = ? ORDER BY from_seq, id',
      [agentId],
    );
  }

  /** Integrity flags per agent and kind (agents with none are left out). */
  integritySummary(): Promise<IntegritySummaryRow[]> {
    return this.sql.all<IntegritySummaryRow>(
      'SELECT f.agent_id, a.host, f.kind, count(*) AS flags, sum(f.records) AS records, min(f.from_seq) AS from_seq, max(f.to_seq) AS to_seq, ' +
        'min(f.first_time) AS first_time, max(f.last_time) AS last_time, min(f.detected_at) AS first_detected_at, max(f.detected_at) AS last_detected_at ' +
        'FROM integrity_flags f LEFT JOIN agents a ON a.id = f.agent_id GROUP BY f.agent_id, a.host, f.kind ORDER BY f.agent_id, f.kind',
    );
  }

  touchAgent(id: string, at: string): Promise<number> {
    return this.sql.run('UPDATE agents SET last_seen_at = ? WHERE id = ?', [at, id]);
  }

  /**
   * last_seen_at of many agents. PostgreSQL: one statement that locks the rows in byte order of
   * their ids first, the order PostgreSQL's group ingest locks agent rows in, so neither can hold a
   * row the other waits for while it waits itself (seen: a deadlock between the two at 100,000
   * agents). SQLite (one writer): one statement per 100 (one SQL text: a short tail repeats its last id).
   */
  async touchAgents(ids: readonly string[], at: string): Promise<void> {
    if (this.sql.dialect === 'postgres') {
      await this.sql.run(
        `UPDATE agents a SET last_seen_at = ? FROM (SELECT id FROM agents WHERE id = ANY(?::text[]) ORDER BY id ${AGENT_LOCK_ORDER} FOR UPDATE) l WHERE a.id = l.id`,
        [at, ids],
      );
      return;
    }
    for (let i = 0; i < ids.length; i += TOUCH_CHUNK) {
      const chunk = ids.slice(i, i + TOUCH_CHUNK);
      while (chunk.length < TOUCH_CHUNK) chunk.push(chunk[chunk.length - 1]);
      await this.sql.run(TOUCH_SQL, [at, ...chunk]);
    }
  }

  setAcked(id: string, seq: number): Promise<number> {
    return this.sql.run('UPDATE agents SET acked_seq = ? WHERE id = ?', [seq, id]);
  }

  revokeAgentRow(id: string, at: string): Promise<number> {
    return this.sql.run('UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id]);
  }

  agents(): Promise<AgentRow[]> {
    return this.sql.all<AgentRow>('SELECT * FROM agents ORDER BY enrolled_at, id');
  }

  agentCounts(): Promise<Array<{ active: number; n: number }>> {
    return this.sql.all('SELECT CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END AS active, count(*) AS n FROM agents GROUP BY 1');
  }

  // ---- products ----------------------------------------------------------------------------

  product(id: string): Promise<ProductRow | undefined> {
    return this.sql.get<ProductRow>('SELECT * FROM products WHERE id = ?', [id]);
  }

  products(): Promise<ProductRow[]> {
    return this.sql.all<ProductRow>('SELECT * FROM products ORDER BY id');
  }

  /**
   * Lock a product's row for the rest of the transaction. Every decision about the product's seats
   * and queue takes this lock first, so servers sharing one PostgreSQL database decide one after
   * another (SQLite: BEGIN IMMEDIATE already serializes every writer).
   */
  lockProduct(id: string): Promise<Pick<ProductRow, 'license_type' | 'seats'> | undefined> {
    return this.sql.get(`SELECT license_type, seats FROM products WHERE id = ?${this.forUpdate}`, [id]);
  }

  /** Lock every product row, in id order (the sweep and agent revokes touch many products; one order means no deadlock). */
  async lockAllProducts(): Promise<void> {
    if (this.sql.dialect === 'postgres') await this.sql.all('SELECT id FROM products ORDER BY id FOR UPDATE');
  }

  upsertProduct(p: ProductConfig, source: 'config' | 'admin', now: Date): Promise<number> {
    return this.sql.run(
      'INSERT INTO products (id, name, license_type, seats, spec, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET name = excluded.name, license_type = excluded.license_type, seats = excluded.seats, spec = excluded.spec, source = excluded.source, updated_at = excluded.updated_at',
      [p.id, p.name ?? p.id, p.licenseType, p.seats ?? null, JSON.stringify(p), source, now.toISOString()],
    );
  }

  setSeats(id: string, seats: number, now: Date): Promise<number> {
    return this.sql.run('UPDATE products SET seats = ?, updated_at = ? WHERE id = ?', [seats, now.toISOString(), id]);
  }

  // ---- leases ------------------------------------------------------------------------------

  lease(id: string): Promise<LeaseRow | undefined> {
    return this.sql.get<LeaseRow>('SELECT * FROM leases WHERE id = ?', [id]);
  }

  liveLeaseByRequest(agentId: string, requestId: string): Promise<LeaseRow | undefined> {
    return this.sql.get<LeaseRow>('SELECT * FROM leases WHERE agent_id = ? AND request_id = ? AND ended_at IS NULL', [agentId, requestId]);
  }

  liveLeaseByProcess(agentId: string, product: string, user: string, pid: number, processStart: string): Promise<LeaseRow | undefined> {
    return this.sql.get<LeaseRow>(
      'SELECT * FROM leases WHERE agent_id = ? AND product_id = ? AND "user" = ? AND pid = ? AND process_start = ? AND ended_at IS NULL',
      [agentId, product, user, pid, processStart],
    );
  }

  liveLeasesOfAgent(agentId: string): Promise<LeaseRow[]> {
    return this.sql.all<LeaseRow>('SELECT * FROM leases WHERE agent_id = ? AND ended_at IS NULL ORDER BY granted_at, id', [agentId]);
  }

  liveLeasesOfSeat(productId: string, seatKey: string): Promise<LeaseRow[]> {
    return this.sql.all<LeaseRow>('SELECT * FROM leases WHERE product_id = ? AND seat_key = ? AND ended_at IS NULL ORDER BY granted_at, id', [
      productId,
      seatKey,
    ]);
  }

  liveLeases(): Promise<LeaseRow[]> {
    return this.sql.all<LeaseRow>('SELECT * FROM leases WHERE ended_at IS NULL ORDER BY product_id, granted_at, id');
  }

  /** Seat keys holding a product now: live leases (floating, site) or live allocations (leased, node-locked). */
  async seatKeysInUse(productId: string, allocating: boolean): Promise<Set<string>> {
    const rows = allocating
      ? await this.sql.all<{ seat_key: string }>('SELECT seat_key FROM allocations WHERE product_id = ? AND revoked_at IS NULL', [productId])
      : await this.sql.all<{ seat_key: string }>('SELECT DISTINCT seat_key FROM leases WHERE product_id = ? AND ended_at IS NULL', [productId]);
    return new Set(rows.map((r) => r.seat_key));
  }

  /**
   * Seats in use of a product and whether `seatKey` holds one, counted in the database: no rows move
   * to JavaScript (100,000 agents on 200 products: ~500 holders each). GROUP BY in a subquery, not
   * count(DISTINCT): SQLite then walks leases_live in seat-key order (~90 against ~750 µs at 500).
   */
  async seatUse(productId: string, allocating: boolean, seatKey: string): Promise<{ inUse: number; holds: boolean }> {
    const live = allocating ? 'allocations WHERE product_id = ? AND revoked_at IS NULL' : 'leases WHERE product_id = ? AND ended_at IS NULL';
    const n = await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM (SELECT seat_key FROM ${live} GROUP BY seat_key) k`, [productId]);
    const holds = await this.sql.get<{ x: number }>(`SELECT 1 AS x FROM ${live} AND seat_key = ? LIMIT 1`, [productId, seatKey]);
    return { inUse: Number(n?.n ?? 0), holds: holds !== undefined };
  }

  liveLeaseCounts(): Promise<Array<{ product_id: string; leases: number; seats: number }>> {
    return this.sql.all(
      `SELECT product_id, count(*) AS leases, count(DISTINCT seat_key) AS seats FROM leases${this.liveSeatsIndex} WHERE ended_at IS NULL GROUP BY product_id`,
    );
  }

  liveLeaseCountsByAgent(): Promise<Array<{ agent_id: string; n: number }>> {
    return this.sql.all('SELECT agent_id, count(*) AS n FROM leases WHERE ended_at IS NULL GROUP BY agent_id');
  }

  insertLease(l: LeaseRow): Promise<number> {
    return this.sql.run(
      'INSERT INTO leases (id, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, ticket, granted_at, expires_at, claimed) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [l.id, l.agent_id, l.product_id, l.seat_key, l.user, l.host, l.pid, l.process_start, l.request_id, l.ticket, l.granted_at, l.expires_at, l.claimed],
    );
  }

  /** Set a live lease's expiry (a re-acquire or a collected queue grant claims it for a full TTL). */
  claimLease(id: string, agentId: string, expiresAt: number, now: number): Promise<number> {
    return this.sql.run('UPDATE leases SET expires_at = ?, renewed_at = ?, claimed = 1 WHERE id = ? AND agent_id = ? AND ended_at IS NULL', [
      expiresAt,
      now,
      id,
      agentId,
    ]);
  }

  /** A renewal: never shortens an expiry, never brings back an ended lease. Resolves with 1 when the lease is live and this agent's. */
  renewLease(id: string, agentId: string, expiresAt: number, now: number): Promise<number> {
    return this.sql.run(
      `UPDATE leases SET expires_at = ${this.max}(expires_at, ?), renewed_at = ?, claimed = 1 WHERE id = ? AND agent_id = ? AND ended_at IS NULL`,
      [expiresAt, now, id, agentId],
    );
  }

  /** End a live lease; resolves with 0 when it had already ended (another server, the admin CLI), so its event is written once. */
  endLease(id: string, now: number, reason: string): Promise<number> {
    return this.sql.run('UPDATE leases SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL', [now, reason, id]);
  }

  /** End a lease as lost only while it is still past its expiry: a renewal committed since it was read keeps it. */
  expireLease(id: string, now: number): Promise<number> {
    return this.sql.run("UPDATE leases SET ended_at = ?, end_reason = 'lost' WHERE id = ? AND ended_at IS NULL AND expires_at <= ?", [now, id, now]);
  }

  /**
   * Live leases past their expiry, in id order (every server handles them in one order). Sorted
   * here, not by ORDER BY id: SQLite would then walk the whole table, every lease ever granted, in
   * key order instead of seeking the expiry index (16 ms at 100,000 rows, each sweep).
   */
  async expiredLeases(now: number, productId?: string): Promise<LeaseRow[]> {
    const rows =
      productId === undefined
        ? await this.sql.all<LeaseRow>('SELECT * FROM leases WHERE ended_at IS NULL AND expires_at <= ?', [now])
        : await this.sql.all<LeaseRow>('SELECT * FROM leases WHERE ended_at IS NULL AND expires_at <= ? AND product_id = ?', [now, productId]);
    return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** After a start: every live lease gets at least until `until` to be renewed again. */
  extendLiveLeases(until: number): Promise<number> {
    return this.sql.run(`UPDATE leases SET expires_at = ${this.max}(expires_at, ?) WHERE ended_at IS NULL`, [until]);
  }

  // ---- allocations -------------------------------------------------------------------------

  allocationById(id: number): Promise<AllocationRow | undefined> {
    return this.sql.get<AllocationRow>('SELECT * FROM allocations WHERE id = ?', [id]);
  }

  liveAllocations(): Promise<AllocationRow[]> {
    return this.sql.all<AllocationRow>('SELECT * FROM allocations WHERE revoked_at IS NULL ORDER BY product_id, issued_at, id');
  }

  liveAllocationsOfAgent(agentId: string): Promise<AllocationRow[]> {
    return this.sql.all<AllocationRow>('SELECT * FROM allocations WHERE agent_id = ? AND revoked_at IS NULL ORDER BY id', [agentId]);
  }

  liveAllocationCounts(): Promise<Array<{ product_id: string; n: number }>> {
    return this.sql.all('SELECT product_id, count(*) AS n FROM allocations WHERE revoked_at IS NULL GROUP BY product_id');
  }

  insertAllocation(a: { product_id: string; seat_key: string; agent_id: string; user: string; host: string; now: number }): Promise<number> {
    return this.sql.run('INSERT INTO allocations (product_id, seat_key, agent_id, "user", host, issued_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      a.product_id,
      a.seat_key,
      a.agent_id,
      a.user,
      a.host,
      a.now,
      a.now,
    ]);
  }

  useAllocation(productId: string, seatKey: string, now: number): Promise<number> {
    return this.sql.run('UPDATE allocations SET last_used_at = ? WHERE product_id = ? AND seat_key = ? AND revoked_at IS NULL', [now, productId, seatKey]);
  }

  /** Live allocations of a product unused since `before` and with no live lease on them. */
  idleAllocations(productId: string, before: number): Promise<AllocationRow[]> {
    return this.sql.all<AllocationRow>(
      'SELECT a.* FROM allocations a WHERE a.revoked_at IS NULL AND a.product_id = ? AND a.last_used_at <= ? ' +
        'AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.product_id = a.product_id AND l.seat_key = a.seat_key AND l.ended_at IS NULL) ORDER BY a.id',
      [productId, before],
    );
  }

  revokeAllocation(id: number, now: number, reason: string): Promise<number> {
    return this.sql.run('UPDATE allocations SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL', [now, reason, id]);
  }

  // ---- queue -------------------------------------------------------------------------------

  ticket(ticket: string): Promise<TicketRow | undefined> {
    return this.sql.get<TicketRow>('SELECT * FROM queue WHERE ticket = ?', [ticket]);
  }

  waitingByRequest(agentId: string, requestId: string): Promise<TicketRow | undefined> {
    return this.sql.get<TicketRow>("SELECT * FROM queue WHERE agent_id = ? AND request_id = ? AND state = 'waiting'", [agentId, requestId]);
  }

  waitingByProcess(agentId: string, product: string, user: string, pid: number, processStart: string): Promise<TicketRow | undefined> {
    return this.sql.get<TicketRow>(
      'SELECT * FROM queue WHERE agent_id = ? AND product_id = ? AND "user" = ? AND pid = ? AND process_start = ? AND state = \'waiting\'',
      [agentId, product, user, pid, processStart],
    );
  }

  waitingOfProduct(productId: string): Promise<TicketRow[]> {
    return this.sql.all<TicketRow>("SELECT * FROM queue WHERE product_id = ? AND state = 'waiting' ORDER BY qseq", [productId]);
  }

  async waitingCount(productId: string): Promise<number> {
    return (await this.sql.get<{ n: number }>("SELECT count(*) AS n FROM queue WHERE product_id = ? AND state = 'waiting'", [productId]))!.n;
  }

  /** Place in the product's queue (1 = next). */
  async position(productId: string, qseq: number): Promise<number> {
    return (await this.sql.get<{ n: number }>("SELECT count(*) AS n FROM queue WHERE product_id = ? AND state = 'waiting' AND qseq <= ?", [productId, qseq]))!
      .n;
  }

  /**
   * Every waiting ticket in queue order. Read in queue_waiting's own order and sorted here: with
   * ORDER BY qseq SQLite scans the whole queue table, every ticket ever, at each sweep.
   */
  async waitingAll(): Promise<TicketRow[]> {
    const rows = await this.sql.all<TicketRow>("SELECT * FROM queue WHERE state = 'waiting' ORDER BY product_id, qseq");
    return rows.sort((a, b) => a.qseq - b.qseq);
  }

  waitingOfAgent(agentId: string): Promise<TicketRow[]> {
    return this.sql.all<TicketRow>("SELECT * FROM queue WHERE agent_id = ? AND state = 'waiting' ORDER BY qseq", [agentId]);
  }

  waitingCounts(): Promise<Array<{ product_id: string; n: number }>> {
    return this.sql.all("SELECT product_id, count(*) AS n FROM queue WHERE state = 'waiting' GROUP BY product_id");
  }

  async productsWithWaiting(): Promise<string[]> {
    return (await this.sql.all<{ product_id: string }>("SELECT DISTINCT product_id FROM queue WHERE state = 'waiting' ORDER BY product_id")).map(
      (r) => r.product_id,
    );
  }

  insertTicket(t: Omit<TicketRow, 'qseq' | 'state' | 'lease_id' | 'ended_at'>): Promise<number> {
    return this.sql.run(
      'INSERT INTO queue (ticket, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, enqueued_at, last_poll_at, state) ' +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting')",
      [t.ticket, t.agent_id, t.product_id, t.seat_key, t.user, t.host, t.pid, t.process_start, t.request_id, t.enqueued_at, t.last_poll_at],
    );
  }

  pollTicket(ticket: string, now: number): Promise<number> {
    return this.sql.run(`UPDATE queue SET last_poll_at = ${this.max}(last_poll_at, ?) WHERE ticket = ? AND state = 'waiting'`, [now, ticket]);
  }

  extendWaiting(now: number): Promise<number> {
    return this.sql.run(`UPDATE queue SET last_poll_at = ${this.max}(last_poll_at, ?) WHERE state = 'waiting'`, [now]);
  }

  /** Move a waiting ticket to `state`; resolves with 0 when it was no longer waiting (so its event is written once). */
  endTicket(ticket: string, state: Exclude<TicketState, 'waiting'>, now: number, leaseId: string | null): Promise<number> {
    return this.sql.run("UPDATE queue SET state = ?, ended_at = ?, lease_id = ? WHERE ticket = ? AND state = 'waiting'", [state, now, leaseId, ticket]);
  }

  // ---- events ------------------------------------------------------------------------------

  writeServerEvent(e: ServerEvent): Promise<number> {
    return this.sql.run(
      'INSERT INTO usage_events (origin, agent_id, seq, time, code, product, "user", host, pid, process_start, lease_id, reason, offline, extra) ' +
        "VALUES ('server', ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
      [
        e.agentId ?? null,
        new Date(e.time).toISOString(),
        e.code,
        e.product ?? null,
        e.user ?? null,
        e.host ?? null,
        e.pid ?? null,
        e.processStart ?? null,
        e.leaseId ?? null,
        e.reason ?? null,
        e.extra ?? null,
      ],
    );
  }

  // ---- reports -----------------------------------------------------------------------------

  /** Server usage events of the report codes in [from, to) (ISO strings), in the order written. */
  reportEventsInRange(fromIso: string, toIso: string, product?: string, codes: readonly number[] = [1, 2, 5, 6, 7, 27, 28, 29, 30]): Promise<ReportEventRow[]> {
    return this.sql.rows<ReportEventRow>(
      `SELECT ${REPORT_EVENT_COLS} FROM usage_events WHERE origin = 'server' AND code IN (${codes.map(Number).join(', ')}) AND product IS NOT NULL AND time >= ? AND time < ?` +
        `${product ? ' AND product = ?' : ''} ORDER BY id`,
      product ? [fromIso, toIso, product] : [fromIso, toIso],
    );
  }

  /** Opening events (1, 29) of leases granted before `from` and still live at it. */
  reportOpenLeaseEvents(from: number, product?: string): Promise<ReportEventRow[]> {
    const fromIso = new Date(from).toISOString();
    return this.sql.rows<ReportEventRow>(
      `SELECT ${REPORT_EVENT_COLS} FROM usage_events WHERE origin = 'server' AND code IN (1, 29) AND time < ? AND lease_id IN ` +
        `(SELECT id FROM leases WHERE granted_at < ? AND (ended_at IS NULL OR ended_at >= ?)${product ? ' AND product_id = ?' : ''}) ORDER BY id`,
      product ? [fromIso, from, from, product] : [fromIso, from, from],
    );
  }

  reportOpenAllocations(from: number, product?: string): Promise<Array<Pick<AllocationRow, 'product_id' | 'agent_id' | 'user' | 'host' | 'issued_at'>>> {
    return this.sql.all(
      `SELECT product_id, agent_id, "user", host, issued_at FROM allocations WHERE issued_at < ? AND (revoked_at IS NULL OR revoked_at >= ?)${product ? ' AND product_id = ?' : ''} ORDER BY id`,
      product ? [from, from, product] : [from, from],
    );
  }

  reportOpenTickets(
    from: number,
    product?: string,
  ): Promise<Array<Pick<TicketRow, 'product_id' | 'agent_id' | 'user' | 'host' | 'pid' | 'process_start' | 'enqueued_at'>>> {
    return this.sql.all(
      `SELECT product_id, agent_id, "user", host, pid, process_start, enqueued_at FROM queue WHERE enqueued_at < ? AND (ended_at IS NULL OR ended_at >= ?)${product ? ' AND product_id = ?' : ''} ORDER BY qseq`,
      product ? [from, from, product] : [from, from],
    );
  }
}

const TOUCH_CHUNK = 100;
/** PostgreSQL: the order every statement that locks several agent rows locks them in (byte order, whatever the database's collation). */
export const AGENT_LOCK_ORDER = 'COLLATE "C"';
const TOUCH_SQL = `UPDATE agents SET last_seen_at = ? WHERE id IN (${Array(TOUCH_CHUNK).fill('?').join(', ')})`;
