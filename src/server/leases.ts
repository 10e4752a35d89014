/**
 * Lease, queue and sweep service. Every state change runs in one SQLite transaction and writes its
 * KeyServer usage event in the same transaction, so the events table replays exactly the seat
 * history. Node runs handlers one at a time and better-sqlite3 is synchronous, so a decision and
 * its write can never interleave with another request's.
 */
import { randomBytes } from 'node:crypto';
import { EventCode, type LicenseType } from '../protocol/event-codes.js';
import type {
  HeldLeasesResponse, LeaseDenied, LeaseGranted, LeaseQueued, LeaseRequest, ProductPolicy, QueueStatus, ReleaseReason,
} from '../protocol/v1.js';
import { PROBLEM_TYPE_BASE } from '../protocol/v1.js';
import type { ProductConfig, ServerConfig } from './config.js';
import { decideAcquire, isAllocatingType, leaseTimes, planQueueGrants, planSweep, seatKey } from './logic.js';
import type { Metrics } from './metrics.js';
import type { AgentRow, LeaseRow, ProductRow, Store, TicketRow } from './store.js';

const LEASED_DEFAULT_HOLD_SECONDS = 7 * 24 * 3600;
const RENEW_FLUSH_MS = 100;
/** Bound on the live-lease cache (a miss only costs one indexed read). */
const MAX_CACHED_LEASES = 200_000;

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export interface Product {
  row: ProductRow;
  spec: ProductConfig;
  policy: ProductPolicy;
}

export type AcquireResult =
  | { status: 201; body: LeaseGranted }
  | { status: 202; body: LeaseQueued }
  | { status: 409; body: LeaseDenied }
  | { status: 404; code: 'unknown-product' }
  | { status: 422; code: 'request-id-reused' };

export type PollResult = { kind: 'status'; body: QueueStatus } | { kind: 'gone'; detail: string } | { kind: 'not-found' };

interface Waiter {
  resolve: (r: PollResult) => void;
  agentId: string;
}

/** Policy of one product, filling defaults from the server config. */
export function productPolicy(spec: ProductConfig, cfg: ServerConfig): ProductPolicy {
  const ttl = spec.leaseTtlSeconds ?? cfg.leases.ttlSeconds;
  const p: ProductPolicy = {
    id: spec.id,
    name: spec.name ?? spec.id,
    match: { executables: spec.match.executables, paths: spec.match.paths },
    licenseType: spec.licenseType,
    seats: spec.licenseType === 'site' ? (spec.seats ?? null) : (spec.seats ?? 0),
    leaseTtlSeconds: ttl,
    renewAfterSeconds: ttl / 3,
    graceSeconds: spec.graceSeconds ?? cfg.leases.graceSeconds ?? ttl,
    offline: spec.offline,
    onDeny: spec.onDeny,
    queue: spec.queue,
    idle: { afterSeconds: spec.idle.afterSeconds, action: spec.idle.action },
  };
  if (spec.denyMessage !== undefined) p.denyMessage = spec.denyMessage;
  return p;
}

export class LeaseService {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly productCache = new Map<string, Product>();
  private productsVersion = Number.NaN;
  /**
   * Owner and product of live leases renewed or looked up here, so a renewal need not read the
   * leases table. An entry goes when this process ends the lease (endLease), and all go when the
   * store's version changes (the admin CLI revoked an agent or a lease from another connection).
   */
  private readonly liveLeases = new Map<string, { agentId: string; productId: string }>();
  private liveLeasesVersion = Number.NaN;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Renewals not yet written: group-committed every RENEW_FLUSH_MS (see renew()). */
  private readonly pendingRenewals = new Map<string, { expiresAt: number; at: number }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly cfg: ServerConfig,
    private readonly metrics: Metrics,
    private readonly log: { error: (o: object, msg: string) => void; warn: (o: object, msg: string) => void },
    private readonly clock: () => number = Date.now,
  ) {}

  private get s() {
    return this.store.s;
  }

  get keepaliveMs(): number {
    return Math.round(this.cfg.queue.keepaliveSeconds * 1000);
  }

  /**
   * A product with its policy. Cached while `store.version()` is unchanged, so an admin change
   * (set-seats, products add: another connection) is seen by the next request without reading
   * the products table on every renewal.
   */
  product(id: string): Product | undefined {
    const version = this.store.version();
    if (version !== this.productsVersion) {
      this.productCache.clear();
      this.productsVersion = version;
    }
    const hit = this.productCache.get(id);
    if (hit) return hit;
    const row = this.s.product.get(id);
    if (!row) return undefined;
    const spec = { ...(JSON.parse(row.spec) as ProductConfig), seats: row.seats, name: row.name };
    const product: Product = { row, spec, policy: productPolicy(spec, this.cfg) };
    this.productCache.set(id, product);
    return product;
  }

  allProducts(): Product[] {
    return this.s.products.all().map((r) => this.product(r.id)!);
  }

  /** Startup: give live leases and queue places time to be renewed/polled again, log "server up". */
  start(): void {
    const now = this.clock();
    const tx = this.store.db.transaction(() => {
      this.s.extendLiveLeases.run(now + Math.round(this.cfg.leases.restartGraceSeconds * 1000));
      this.s.extendWaiting.run(now);
      this.store.writeServerEvent({ time: now, code: EventCode.up });
    });
    tx();
    const every = Math.max(10, Math.round(this.cfg.leases.sweepIntervalSeconds * 1000));
    this.sweepTimer = setInterval(() => {
      try {
        this.sweep();
      } catch (err) {
        this.log.error({ err }, 'lease sweep failed');
      }
    }, every);
    this.sweepTimer.unref();
  }

  /** Shutdown: answer pending long-polls with the current position, log "server down". */
  stop(): void {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.flushRenewals();
    for (const [ticket, set] of this.waiters) {
      const row = this.s.ticket.get(ticket);
      for (const w of set) w.resolve(row ? this.statusOf(row) : { kind: 'not-found' });
    }
    this.waiters.clear();
    this.store.writeServerEvent({ time: this.clock(), code: EventCode.down });
  }

  // -------------------------------------------------------------------------------------------

  private grantedBody(lease: Pick<LeaseRow, 'id' | 'product_id' | 'expires_at'>, product: Product, now: number, existing: boolean): LeaseGranted {
    const ttl = product.policy.leaseTtlSeconds;
    const renewAt = lease.expires_at - Math.round((ttl * 1000 * 2) / 3);
    return {
      leaseId: lease.id,
      product: lease.product_id,
      expiresAt: new Date(lease.expires_at).toISOString(),
      renewAfter: new Date(renewAt).toISOString(),
      ttlSeconds: ttl,
      renewAfterSeconds: Math.max(0, (renewAt - now) / 1000),
      graceSeconds: product.policy.graceSeconds,
      serverTime: new Date(now).toISOString(),
      existing,
    };
  }

  private seatsInUse(product: Product): Set<string> {
    const keys = isAllocatingType(product.spec.licenseType)
      ? this.s.liveAllocationKeys.all(product.row.id)
      : this.s.liveSeatsOfProduct.all(product.row.id);
    return new Set(keys.map((k) => k.seat_key));
  }

  private position(t: TicketRow): number {
    return this.s.waitingPosition.get(t.product_id, t.qseq)!.n;
  }

  private queuedBody(t: TicketRow, existing: boolean): LeaseQueued {
    return {
      ticket: t.ticket,
      product: t.product_id,
      position: this.position(t),
      keepaliveSeconds: this.cfg.queue.keepaliveSeconds,
      maxWaitSeconds: this.cfg.queue.maxWaitSeconds,
      existing,
    };
  }

  /** Start-of-use events for a lease; allocating types also issue the allocation when new. */
  private grantEvents(lease: { id: string; agent_id: string; product_id: string; seat_key: string; user: string; host: string; pid: number; process_start: string }, type: LicenseType, newSeat: boolean, now: number): void {
    const base = { time: now, agentId: lease.agent_id, product: lease.product_id, user: lease.user, host: lease.host, pid: lease.pid, processStart: lease.process_start, leaseId: lease.id };
    if (isAllocatingType(type)) {
      if (newSeat) {
        this.s.insertAllocation.run(lease.product_id, lease.seat_key, lease.agent_id, lease.user, lease.host, now, now);
        this.store.writeServerEvent({ ...base, code: EventCode.licenseIssued });
      } else {
        this.s.useAllocation.run(now, lease.product_id, lease.seat_key);
      }
      this.store.writeServerEvent({ ...base, code: EventCode.licenseStart });
    } else {
      this.store.writeServerEvent({ ...base, code: EventCode.obtain });
    }
    this.metrics.inc('usage_server_lease_grants_total', { product: lease.product_id });
  }

  private endLease(lease: LeaseRow, type: LicenseType, reason: string, now: number): void {
    this.liveLeases.delete(lease.id);
    this.s.endLease.run(now, reason, lease.id);
    if (isAllocatingType(type)) this.s.useAllocation.run(now, lease.product_id, lease.seat_key);
    this.store.writeServerEvent({
      time: now, code: isAllocatingType(type) ? EventCode.licenseStop : EventCode.return, agentId: lease.agent_id,
      product: lease.product_id, user: lease.user, host: lease.host, pid: lease.pid, processStart: lease.process_start,
      leaseId: lease.id, reason: reason === 'released' ? null : reason,
    });
    this.metrics.inc('usage_server_lease_releases_total', { product: lease.product_id, reason });
  }

  acquire(agent: AgentRow, req: LeaseRequest): AcquireResult {
    const product = this.product(req.product);
    if (!product) return { status: 404, code: 'unknown-product' };
    const now = this.clock();
    let notify: string[] = [];
    const result = this.store.db.transaction((): AcquireResult => {
      // Idempotency: the same request, or the same process reconnecting, gets what it already has.
      const byReq = this.s.liveLeaseByRequest.get(agent.id, req.requestId);
      const same = (l: { product_id: string; user: string; pid: number; process_start: string }) =>
        l.product_id === req.product && l.user === req.user && l.pid === req.pid && l.process_start === req.processStart;
      if (byReq && !same(byReq)) return { status: 422, code: 'request-id-reused' };
      const existing = byReq ?? this.s.liveLeaseByProcess.get(agent.id, req.product, req.user, req.pid, req.processStart);
      if (existing) {
        const t = leaseTimes(now, product.policy.leaseTtlSeconds);
        this.s.renewLease.run(t.expiresAt, now, existing.id, agent.id);
        return { status: 201, body: this.grantedBody({ ...existing, expires_at: t.expiresAt }, product, now, true) };
      }
      const ticketByReq = this.s.waitingByRequest.get(agent.id, req.requestId);
      if (ticketByReq && !same(ticketByReq)) return { status: 422, code: 'request-id-reused' };
      const ticket = ticketByReq ?? this.s.waitingByProcess.get(agent.id, req.product, req.user, req.pid, req.processStart);
      if (ticket) {
        this.s.pollTicket.run(now, ticket.ticket);
        return { status: 202, body: this.queuedBody(ticket, true) };
      }

      // Free what has expired before deciding, so a dead holder never blocks a live request.
      this.flushRenewals();
      notify = this.expireProduct(product, now);
      const held = this.seatsInUse(product);
      const key = seatKey(product.spec.licenseType, agent.id, req.user);
      const waiting = this.s.waitingCount.get(product.row.id)!.n;
      const d = decideAcquire({
        seats: product.policy.seats,
        seatsInUse: held.size,
        holdsSeat: held.has(key),
        waiting,
        queueRequested: req.queue === true,
        queueAllowed: product.policy.queue,
      });
      const rowBase = {
        agent_id: agent.id, product_id: product.row.id, seat_key: key, user: req.user, host: req.host, pid: req.pid,
        process_start: req.processStart, request_id: req.requestId,
      };
      const evBase = { time: now, agentId: agent.id, product: product.row.id, user: req.user, host: req.host, pid: req.pid, processStart: req.processStart };
      if (d.kind === 'grant') {
        const t = leaseTimes(now, product.policy.leaseTtlSeconds);
        const lease: LeaseRow = {
          ...rowBase, id: newId('ls'), ticket: null, granted_at: now, expires_at: t.expiresAt, renewed_at: null, claimed: 1, ended_at: null, end_reason: null,
        };
        this.s.insertLease.run(lease);
        this.grantEvents(lease, product.spec.licenseType, d.newSeat, now);
        return { status: 201, body: this.grantedBody(lease, product, now, false) };
      }
      if (d.kind === 'queue') {
        const row = { ...rowBase, ticket: newId('qt'), enqueued_at: now, last_poll_at: now };
        this.s.insertTicket.run(row);
        this.store.writeServerEvent({ ...evBase, code: EventCode.queue });
        this.metrics.inc('usage_server_lease_queued_total', { product: product.row.id });
        return { status: 202, body: this.queuedBody(this.s.ticket.get(row.ticket)!, false) };
      }
      this.store.writeServerEvent({ ...evBase, code: EventCode.deny, reason: d.reason });
      this.metrics.inc('usage_server_lease_denials_total', { product: product.row.id });
      const seats = product.policy.seats;
      const message =
        product.spec.denyMessage ??
        (d.reason === 'no-seats'
          ? `${product.policy.name}: no licenses are available to this site.`
          : `${product.policy.name}: all ${seats} concurrent licenses are in use.${d.queueAvailable ? ' You can wait in the queue to be told when one frees up.' : ''}`);
      return {
        status: 409,
        body: {
          type: PROBLEM_TYPE_BASE + 'lease-denied', title: 'Lease denied', status: 409, code: 'lease-denied',
          detail: message, reason: d.reason, product: product.row.id, inUse: held.size, seats, message, queueAvailable: d.queueAvailable,
        },
      };
    })();
    this.notifyGranted(notify);
    return result;
  }

  /** Renew a live lease of this agent; undefined when it is gone (released, expired, revoked, not theirs). */
  renew(agent: AgentRow, leaseId: string): LeaseGranted | undefined {
    const lease = this.liveLease(leaseId);
    if (!lease || lease.agentId !== agent.id) return undefined;
    const product = this.product(lease.productId);
    if (!product) return undefined;
    const now = this.clock();
    const t = leaseTimes(now, product.policy.leaseTtlSeconds);
    // Group commit: renewals are the hot path, so they are written in one transaction every
    // RENEW_FLUSH_MS, and always before anything decides on expiry (sweep, acquire, shutdown).
    // A crash can lose at most that window of renewals; the restart grace covers it.
    this.pendingRenewals.set(leaseId, { expiresAt: t.expiresAt, at: now });
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        try {
          this.flushRenewals();
        } catch (err) {
          this.log.error({ err }, 'writing lease renewals failed');
        }
      }, RENEW_FLUSH_MS);
      this.flushTimer.unref();
    }
    this.metrics.inc('usage_server_lease_renewals_total', { product: lease.productId });
    return this.grantedBody({ id: leaseId, product_id: lease.productId, expires_at: t.expiresAt }, product, now, true);
  }

  /** Owner and product of a live (not ended) lease, from the cache or the database. */
  private liveLease(leaseId: string): { agentId: string; productId: string } | undefined {
    const version = this.store.version();
    if (version !== this.liveLeasesVersion) {
      this.liveLeases.clear();
      this.liveLeasesVersion = version;
    }
    let lease = this.liveLeases.get(leaseId);
    if (lease) return lease;
    const row = this.s.leaseOwner.get(leaseId);
    if (!row || row.ended_at !== null) return undefined;
    lease = { agentId: row.agent_id, productId: row.product_id };
    if (this.liveLeases.size >= MAX_CACHED_LEASES) this.liveLeases.delete(this.liveLeases.keys().next().value!);
    this.liveLeases.set(leaseId, lease);
    return lease;
  }

  /** Write pending renewals (one transaction; never shortens an expiry). */
  flushRenewals(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingRenewals.size === 0) return;
    const batch = [...this.pendingRenewals];
    this.pendingRenewals.clear();
    this.store.db.transaction(() => {
      for (const [id, r] of batch) this.s.renewLeaseMax.run(r.expiresAt, r.at, id);
    })();
  }

  /** Release (idempotent). 'not-found' when the id never was this agent's lease. */
  release(agent: AgentRow, leaseId: string, reason: ReleaseReason | undefined): 'released' | 'already' | 'not-found' {
    const lease = this.s.lease.get(leaseId);
    if (!lease || lease.agent_id !== agent.id) return 'not-found';
    if (lease.ended_at !== null) return 'already';
    const now = this.clock();
    let notify: string[] = [];
    this.store.db.transaction(() => {
      const product = this.product(lease.product_id);
      this.endLease(lease, product?.spec.licenseType ?? 'floating', reason && reason !== 'quit' ? reason : 'released', now);
      if (product) notify = this.grantQueue(product, now);
    })();
    this.notifyGranted(notify);
    return 'released';
  }

  held(agent: AgentRow): HeldLeasesResponse {
    this.flushRenewals();
    return {
      leases: this.s.liveLeasesOfAgent.all(agent.id).map((l) => ({
        leaseId: l.id, product: l.product_id, user: l.user, host: l.host, pid: l.pid, processStart: l.process_start,
        requestId: l.request_id, grantedAt: new Date(l.granted_at).toISOString(), expiresAt: new Date(l.expires_at).toISOString(),
      })),
      tickets: this.s.waitingOfAgent.all(agent.id).map((t) => ({ ticket: t.ticket, product: t.product_id, position: this.position(t), requestId: t.request_id })),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Queue

  private statusOf(t: TicketRow): PollResult {
    if (t.state === 'waiting') {
      return { kind: 'status', body: { status: 'waiting', ticket: t.ticket, product: t.product_id, position: this.position(t), keepaliveSeconds: this.cfg.queue.keepaliveSeconds } };
    }
    if (t.state === 'granted' && t.lease_id) {
      const lease = this.s.lease.get(t.lease_id);
      const product = this.product(t.product_id);
      if (lease && lease.ended_at === null && product) {
        // Collecting the grant claims the lease: it now runs for the full TTL.
        const now = this.clock();
        const times = leaseTimes(now, product.policy.leaseTtlSeconds);
        if (!this.closing) this.s.renewLease.run(times.expiresAt, now, lease.id, lease.agent_id);
        return { kind: 'status', body: { status: 'granted', ticket: t.ticket, product: t.product_id, lease: this.grantedBody({ ...lease, expires_at: times.expiresAt }, product, now, false) } };
      }
      return { kind: 'gone', detail: 'The lease granted to this ticket was not collected in time and has ended; acquire again.' };
    }
    return { kind: 'gone', detail: t.state === 'expired' ? 'The ticket stopped polling for longer than its keepalive and lost its place; acquire again.' : 'The ticket was cancelled.' };
  }

  /** Long-poll: answers at once if granted or gone, otherwise when granted or after `waitMs`. */
  poll(agent: AgentRow, ticket: string, waitMs: number, onAbort: (cb: () => void) => void): Promise<PollResult> | PollResult {
    const row = this.s.ticket.get(ticket);
    if (!row || row.agent_id !== agent.id) return { kind: 'not-found' };
    if (row.state !== 'waiting') return this.statusOf(row);
    const now = this.clock();
    this.s.pollTicket.run(now, ticket);
    if (waitMs <= 0 || this.closing) return this.statusOf(row);
    return new Promise<PollResult>((resolve) => {
      let done = false;
      const finish = (r: PollResult | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const set = this.waiters.get(ticket);
        set?.delete(waiter);
        if (set && set.size === 0) this.waiters.delete(ticket);
        if (r) {
          resolve(r);
          return;
        }
        // Timeout or client gone: the poll counts as keepalive until now.
        this.s.pollTicket.run(this.clock(), ticket);
        const cur = this.s.ticket.get(ticket);
        resolve(cur ? this.statusOf(cur) : { kind: 'not-found' });
      };
      const waiter: Waiter = { agentId: agent.id, resolve: (r) => finish(r) };
      const timer = setTimeout(() => finish(undefined), waitMs);
      let set = this.waiters.get(ticket);
      if (!set) this.waiters.set(ticket, (set = new Set()));
      set.add(waiter);
      onAbort(() => finish(undefined));
    });
  }

  cancel(agent: AgentRow, ticket: string): 'cancelled' | 'already' | 'not-found' {
    const row = this.s.ticket.get(ticket);
    if (!row || row.agent_id !== agent.id) return 'not-found';
    const now = this.clock();
    if (row.state === 'granted' && row.lease_id) {
      this.release(agent, row.lease_id, 'user');
      return 'cancelled';
    }
    if (row.state !== 'waiting') return 'already';
    let notify: string[] = [];
    this.store.db.transaction(() => {
      this.s.endTicket.run('cancelled', now, null, ticket);
      this.store.writeServerEvent({ time: now, code: EventCode.dequeue, agentId: row.agent_id, product: row.product_id, user: row.user, host: row.host, pid: row.pid, processStart: row.process_start, reason: 'cancelled' });
      this.metrics.inc('usage_server_queue_dequeues_total', { product: row.product_id, outcome: 'cancelled' });
      const product = this.product(row.product_id);
      if (product) notify = this.grantQueue(product, now);
    })();
    this.notifyGranted(notify);
    // Wake its own pending polls so they learn it is cancelled.
    for (const w of this.waiters.get(ticket) ?? []) w.resolve({ kind: 'gone', detail: 'The ticket was cancelled.' });
    return 'cancelled';
  }

  /** Grant free seats to the head of the product's queue (inside a transaction). Returns granted tickets. */
  private grantQueue(product: Product, now: number): string[] {
    const waiting = this.s.waitingOfProduct.all(product.row.id);
    if (waiting.length === 0) return [];
    const held = this.seatsInUse(product);
    const grants = planQueueGrants(product.policy.seats, held.size, held, waiting.map((t) => ({ ticket: t.ticket, seatKey: t.seat_key })));
    const byTicket = new Map(waiting.map((t) => [t.ticket, t]));
    // Until collected by a poll, a granted lease only lives as long as a queue keepalive.
    const uncollectedMs = Math.min(Math.round(product.policy.leaseTtlSeconds * 1000), this.keepaliveMs);
    for (const ticket of grants) {
      const t = byTicket.get(ticket)!;
      const newSeat = !held.has(t.seat_key);
      held.add(t.seat_key);
      const lease: LeaseRow = {
        id: newId('ls'), agent_id: t.agent_id, product_id: t.product_id, seat_key: t.seat_key, user: t.user, host: t.host, pid: t.pid,
        process_start: t.process_start, request_id: t.request_id, ticket: t.ticket, granted_at: now, expires_at: now + uncollectedMs,
        renewed_at: null, claimed: 0, ended_at: null, end_reason: null,
      };
      this.s.endTicket.run('granted', now, lease.id, ticket);
      this.store.writeServerEvent({ time: now, code: EventCode.dequeue, agentId: t.agent_id, product: t.product_id, user: t.user, host: t.host, pid: t.pid, processStart: t.process_start, leaseId: lease.id, reason: 'granted' });
      this.metrics.inc('usage_server_queue_dequeues_total', { product: t.product_id, outcome: 'granted' });
      this.s.insertLease.run(lease);
      this.grantEvents(lease, product.spec.licenseType, newSeat, now);
    }
    return grants;
  }

  /** End this product's expired leases and grant the freed seats (inside a transaction). */
  private expireProduct(product: Product, now: number): string[] {
    let any = false;
    for (const l of this.s.expiredLeases.all(now)) {
      if (l.product_id !== product.row.id) continue;
      this.endLease(l, product.spec.licenseType, 'lost', now);
      any = true;
    }
    return any ? this.grantQueue(product, now) : [];
  }

  private notifyGranted(tickets: string[]): void {
    for (const ticket of tickets) {
      const set = this.waiters.get(ticket);
      if (!set) continue;
      const row = this.s.ticket.get(ticket);
      if (!row) continue;
      for (const w of [...set]) w.resolve(this.statusOf(row));
    }
  }

  /** Expire dead leases and silent tickets, revoke idle allocations, seat queue heads. */
  sweep(now = this.clock()): { expiredLeases: number; expiredTickets: number; granted: number } {
    this.flushRenewals();
    const expired = this.s.expiredLeases.all(now);
    const waiting = this.s.waitingAll.all();
    const plan = planSweep({
      now,
      leases: expired.map((l) => ({ id: l.id, expiresAt: l.expires_at })),
      tickets: waiting.map((t) => ({ ticket: t.ticket, lastPollAt: t.last_poll_at, polling: this.waiters.has(t.ticket) })),
      keepaliveMs: this.keepaliveMs,
    });
    const expireLeases = new Set(plan.expireLeases);
    const expireTickets = new Set(plan.expireTickets);
    let notify: string[] = [];
    this.store.db.transaction(() => {
      const touched = new Set<string>();
      for (const l of expired) {
        if (!expireLeases.has(l.id)) continue;
        const product = this.product(l.product_id);
        this.endLease(l, product?.spec.licenseType ?? 'floating', 'lost', now);
        touched.add(l.product_id);
      }
      for (const t of waiting) {
        if (!expireTickets.has(t.ticket)) continue;
        this.s.endTicket.run('expired', now, null, t.ticket);
        this.store.writeServerEvent({ time: now, code: EventCode.dequeue, agentId: t.agent_id, product: t.product_id, user: t.user, host: t.host, pid: t.pid, processStart: t.process_start, reason: 'expired' });
        this.metrics.inc('usage_server_queue_dequeues_total', { product: t.product_id, outcome: 'expired' });
      }
      for (const p of this.allProducts()) {
        if (!isAllocatingType(p.spec.licenseType)) continue;
        const hold = p.spec.allocationHoldSeconds ?? (p.spec.licenseType === 'leased' ? LEASED_DEFAULT_HOLD_SECONDS : undefined);
        if (hold === undefined) continue;
        for (const a of this.s.idleAllocations.all(p.row.id, now - hold * 1000)) {
          this.s.revokeAllocation.run(now, 'idle', a.id);
          this.store.writeServerEvent({ time: now, code: EventCode.licenseRevoked, agentId: a.agent_id, product: a.product_id, user: a.user, host: a.host, reason: 'idle' });
          touched.add(p.row.id);
        }
      }
      // Seats may also have been freed by the admin CLI (more seats, revoked agents): check all queues.
      for (const r of this.s.productsWithWaiting.all()) touched.add(r.product_id);
      for (const id of touched) {
        const product = this.product(id);
        if (product) notify.push(...this.grantQueue(product, now));
      }
    })();
    this.notifyGranted(notify);
    return { expiredLeases: expireLeases.size, expiredTickets: expireTickets.size, granted: notify.length };
  }
}

/** Revoke an agent: its token stops working, its leases end and its queue places go (used by the admin CLI). */
export function revokeAgent(store: Store, agentId: string, now = Date.now()): boolean {
  const s = store.s;
  const agent = s.agentById.get(agentId);
  if (!agent || agent.revoked_at) return false;
  store.db.transaction(() => {
    store.db.prepare('UPDATE agents SET revoked_at = ? WHERE id = ?').run(new Date(now).toISOString(), agentId);
    for (const l of s.liveLeasesOfAgent.all(agentId)) {
      const row = s.product.get(l.product_id);
      const allocating = row ? isAllocatingType(row.license_type) : false;
      s.endLease.run(now, 'revoked', l.id);
      store.writeServerEvent({ time: now, code: allocating ? EventCode.licenseStop : EventCode.return, agentId, product: l.product_id, user: l.user, host: l.host, pid: l.pid, processStart: l.process_start, leaseId: l.id, reason: 'revoked' });
    }
    for (const a of store.db.prepare('SELECT id, product_id, user, host FROM allocations WHERE agent_id = ? AND revoked_at IS NULL').all(agentId) as Array<{ id: number; product_id: string; user: string; host: string }>) {
      s.revokeAllocation.run(now, 'agent-revoked', a.id);
      store.writeServerEvent({ time: now, code: EventCode.licenseRevoked, agentId, product: a.product_id, user: a.user, host: a.host, reason: 'agent-revoked' });
    }
    for (const t of s.waitingOfAgent.all(agentId)) {
      s.endTicket.run('cancelled', now, null, t.ticket);
      store.writeServerEvent({ time: now, code: EventCode.dequeue, agentId, product: t.product_id, user: t.user, host: t.host, pid: t.pid, processStart: t.process_start, reason: 'revoked' });
    }
    store.writeServerEvent({ time: now, code: EventCode.revoked, agentId, host: agent.host, reason: 'admin' });
  })();
  store.invalidate(); // this process's caches of tokens and leases (other processes see data_version change)
  return true;
}

export type AdminRevokeResult = 'revoked' | 'already' | 'not-found';

/**
 * Admin: end one live lease (reason "revoked"; event 2, or 30 for leased/node-locked products,
 * whose allocation stays). The agent's next renewal gets 404 lease-gone; the seat goes to the
 * queue head at the server's next sweep.
 */
export function revokeLease(store: Store, leaseId: string, now = Date.now()): AdminRevokeResult {
  const s = store.s;
  const l = s.lease.get(leaseId);
  if (!l) return 'not-found';
  if (l.ended_at !== null) return 'already';
  store.db.transaction(() => {
    const row = s.product.get(l.product_id);
    const allocating = row ? isAllocatingType(row.license_type) : false;
    s.endLease.run(now, 'revoked', l.id);
    if (allocating) s.useAllocation.run(now, l.product_id, l.seat_key);
    store.writeServerEvent({ time: now, code: allocating ? EventCode.licenseStop : EventCode.return, agentId: l.agent_id, product: l.product_id, user: l.user, host: l.host, pid: l.pid, processStart: l.process_start, leaseId: l.id, reason: 'revoked' });
  })();
  store.invalidate();
  return 'revoked';
}

/**
 * Admin: take back one allocation of a leased or node-locked product (a workstation's license):
 * the live leases on it end (event 30, reason "revoked") and the allocation is revoked (event 28,
 * reason "admin"), which frees the seat for the queue head at the server's next sweep. The agent
 * may acquire again later, and gets a new allocation only if a seat is free then.
 */
export function revokeAllocation(store: Store, allocationId: number, now = Date.now()): AdminRevokeResult {
  const s = store.s;
  const a = s.allocationById.get(allocationId);
  if (!a) return 'not-found';
  if (a.revoked_at !== null) return 'already';
  store.db.transaction(() => {
    for (const l of s.liveLeasesOfSeat.all(a.product_id, a.seat_key)) {
      s.endLease.run(now, 'revoked', l.id);
      store.writeServerEvent({ time: now, code: EventCode.licenseStop, agentId: l.agent_id, product: l.product_id, user: l.user, host: l.host, pid: l.pid, processStart: l.process_start, leaseId: l.id, reason: 'revoked' });
    }
    s.revokeAllocation.run(now, 'admin', a.id);
    store.writeServerEvent({ time: now, code: EventCode.licenseRevoked, agentId: a.agent_id, product: a.product_id, user: a.user, host: a.host, reason: 'admin' });
  })();
  store.invalidate();
  return 'revoked';
}
