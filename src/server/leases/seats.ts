/**
 * Seats: acquire, release, the queue's grants and expiry. Every state change runs in one store
 * transaction that first locks the product's row, and writes its KeyServer usage event in the same
 * transaction, so the events table replays exactly the seat history. Every transition is
 * conditional (`... WHERE ended_at IS NULL`, `... AND state = 'waiting'`): when two servers race
 * for the same change, one makes it and writes the event, the other sees 0 rows and writes nothing.
 */
import { randomBytes } from 'node:crypto';
import { EventCode, type LicenseType } from '../../protocol/event-codes.js';
import type { LeaseDenied, LeaseGranted, LeaseQueued, LeaseRequest, ReleaseReason } from '../../protocol/v1.js';
import { PROBLEM_TYPE_BASE } from '../../protocol/v1.js';
import type { ServerConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Store, Tx } from '../storage/store.js';
import type { AgentRow, LeaseRow, TicketRow } from '../storage/types.js';
import { claimEventFields, leaseEventFields } from './events.js';
import { decideAcquire, isAllocatingType, leaseTimes, planQueueGrants, seatKey } from './logic.js';
import { seatsOf, type Product, type ProductCatalog } from './products.js';

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export type AcquireResult =
  | { status: 201; body: LeaseGranted }
  | { status: 202; body: LeaseQueued }
  | { status: 409; body: LeaseDenied }
  | { status: 404; code: 'unknown-product' }
  | { status: 422; code: 'request-id-reused' };

/** The answer to a grant or renewal. */
export function grantedBody(lease: Pick<LeaseRow, 'id' | 'product_id' | 'expires_at'>, product: Product, now: number, existing: boolean): LeaseGranted {
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

export class Seats {
  constructor(
    private readonly store: Store,
    private readonly products: ProductCatalog,
    private readonly cfg: ServerConfig,
    private readonly metrics: Metrics,
    /** Told when this server ends a lease (the renewal path forgets its owner). */
    private readonly onLeaseEnded: (leaseId: string) => void,
  ) {}

  get keepaliveMs(): number {
    return Math.round(this.cfg.queue.keepaliveSeconds * 1000);
  }

  async queuedBody(tx: Pick<Tx, 'position'>, t: TicketRow, existing: boolean): Promise<LeaseQueued> {
    return {
      ticket: t.ticket,
      product: t.product_id,
      position: await tx.position(t.product_id, t.qseq),
      keepaliveSeconds: this.cfg.queue.keepaliveSeconds,
      maxWaitSeconds: this.cfg.queue.maxWaitSeconds,
      existing,
    };
  }

  /** Lock the product's row; its seat count as the database has it now (the cache may be older). */
  private async lockedSeats(tx: Tx, product: Product): Promise<number | null> {
    const row = await tx.lockProduct(product.row.id);
    return row ? seatsOf(row.license_type, row.seats) : product.policy.seats;
  }

  /** Start-of-use events for a lease; allocating types also issue the allocation when new. */
  private async grantEvents(tx: Tx, lease: LeaseRow, type: LicenseType, newSeat: boolean, now: number): Promise<void> {
    const base = {
      time: now,
      ...leaseEventFields(lease),
    };
    if (isAllocatingType(type)) {
      if (newSeat) {
        await tx.insertAllocation({
          product_id: lease.product_id,
          seat_key: lease.seat_key,
          agent_id: lease.agent_id,
          user: lease.user,
          host: lease.host,
          now,
        });
        await tx.writeServerEvent({ ...base, code: EventCode.licenseIssued });
      } else {
        await tx.useAllocation(lease.product_id, lease.seat_key, now);
      }
      await tx.writeServerEvent({ ...base, code: EventCode.licenseStart });
    } else {
      await tx.writeServerEvent({ ...base, code: EventCode.obtain });
    }
    tx.afterCommit(() => this.metrics.inc('usage_server_lease_grants_total', { product: lease.product_id }));
  }

  /** End a live lease with its event; false when someone else ended it first. */
  async endLease(tx: Tx, lease: LeaseRow, type: LicenseType, reason: string, now: number): Promise<boolean> {
    const ended = reason === 'lost' ? await tx.expireLease(lease.id, now) : await tx.endLease(lease.id, now, reason);
    if (ended === 0) return false;
    if (isAllocatingType(type)) await tx.useAllocation(lease.product_id, lease.seat_key, now);
    await tx.writeServerEvent({
      time: now,
      code: isAllocatingType(type) ? EventCode.licenseStop : EventCode.return,
      ...leaseEventFields(lease),
      reason: reason === 'released' ? null : reason,
    });
    tx.afterCommit(() => {
      this.onLeaseEnded(lease.id);
      this.metrics.inc('usage_server_lease_releases_total', { product: lease.product_id, reason });
    });
    return true;
  }

  async acquire(agent: AgentRow, req: LeaseRequest, now: number): Promise<AcquireResult> {
    const product = await this.products.get(req.product);
    if (!product) return { status: 404, code: 'unknown-product' };
    return this.store.transaction(async (tx): Promise<AcquireResult> => {
      const seats = await this.lockedSeats(tx, product);
      // Idempotency: the same request, or the same process reconnecting, gets what it already has.
      const byReq = await tx.liveLeaseByRequest(agent.id, req.requestId);
      const same = (l: { product_id: string; user: string; pid: number; process_start: string }) =>
        l.product_id === req.product && l.user === req.user && l.pid === req.pid && l.process_start === req.processStart;
      if (byReq && !same(byReq)) return { status: 422, code: 'request-id-reused' };
      const existing = byReq ?? (await tx.liveLeaseByProcess(agent.id, req.product, req.user, req.pid, req.processStart));
      if (existing) {
        const t = leaseTimes(now, product.policy.leaseTtlSeconds);
        await tx.claimLease(existing.id, agent.id, t.expiresAt, now);
        return { status: 201, body: grantedBody({ ...existing, expires_at: t.expiresAt }, product, now, true) };
      }
      const ticketByReq = await tx.waitingByRequest(agent.id, req.requestId);
      if (ticketByReq && !same(ticketByReq)) return { status: 422, code: 'request-id-reused' };
      const ticket = ticketByReq ?? (await tx.waitingByProcess(agent.id, req.product, req.user, req.pid, req.processStart));
      if (ticket) {
        await tx.pollTicket(ticket.ticket, now);
        return { status: 202, body: await this.queuedBody(tx, ticket, true) };
      }

      // Free what has expired before deciding, so a dead holder never blocks a live request.
      await this.expireProduct(tx, product, seats, now);
      const key = seatKey(product.spec.licenseType, agent.id, req.user);
      const use = await tx.seatUse(product.row.id, isAllocatingType(product.spec.licenseType), key);
      const waiting = await tx.waitingCount(product.row.id);
      const d = decideAcquire({
        seats,
        seatsInUse: use.inUse,
        holdsSeat: use.holds,
        waiting,
        queueRequested: req.queue === true,
        queueAllowed: product.policy.queue,
      });
      const rowBase = {
        agent_id: agent.id,
        product_id: product.row.id,
        seat_key: key,
        user: req.user,
        host: req.host,
        pid: req.pid,
        process_start: req.processStart,
        request_id: req.requestId,
      };
      const evBase = { time: now, agentId: agent.id, product: product.row.id, user: req.user, host: req.host, pid: req.pid, processStart: req.processStart };
      if (d.kind === 'grant') {
        const t = leaseTimes(now, product.policy.leaseTtlSeconds);
        const lease: LeaseRow = {
          ...rowBase,
          id: newId('ls'),
          ticket: null,
          granted_at: now,
          expires_at: t.expiresAt,
          renewed_at: null,
          claimed: 1,
          ended_at: null,
          end_reason: null,
        };
        await tx.insertLease(lease);
        await this.grantEvents(tx, lease, product.spec.licenseType, d.newSeat, now);
        return { status: 201, body: grantedBody(lease, product, now, false) };
      }
      if (d.kind === 'queue') {
        const row = { ...rowBase, ticket: newId('qt'), enqueued_at: now, last_poll_at: now };
        await tx.insertTicket(row);
        await tx.writeServerEvent({ ...evBase, code: EventCode.queue });
        tx.afterCommit(() => this.metrics.inc('usage_server_lease_queued_total', { product: product.row.id }));
        return { status: 202, body: await this.queuedBody(tx, (await tx.ticket(row.ticket))!, false) };
      }
      await tx.writeServerEvent({ ...evBase, code: EventCode.deny, reason: d.reason });
      tx.afterCommit(() => this.metrics.inc('usage_server_lease_denials_total', { product: product.row.id }));
      const message =
        product.spec.denyMessage ??
        (d.reason === 'no-seats'
          ? `${product.policy.name}: no licenses are available to this site.`
          : `${product.policy.name}: all ${seats} concurrent licenses are in use.${d.queueAvailable ? ' You can wait in the queue to be told when one frees up.' : ''}`);
      return {
        status: 409,
        body: {
          type: PROBLEM_TYPE_BASE + 'lease-denied',
          title: 'Lease denied',
          status: 409,
          code: 'lease-denied',
          detail: message,
          reason: d.reason,
          product: product.row.id,
          inUse: use.inUse,
          seats,
          message,
          queueAvailable: d.queueAvailable,
        },
      };
    });
  }

  /** Release (idempotent). 'not-found' when the id never was this agent's lease. */
  async release(agent: AgentRow, leaseId: string, reason: ReleaseReason | undefined, now: number): Promise<'released' | 'already' | 'not-found'> {
    const lease = await this.store.q.lease(leaseId);
    if (!lease || lease.agent_id !== agent.id) return 'not-found';
    if (lease.ended_at !== null) return 'already';
    const product = await this.products.get(lease.product_id);
    return this.store.transaction(async (tx) => {
      const seats = product ? await this.lockedSeats(tx, product) : null;
      const ended = await this.endLease(tx, lease, product?.spec.licenseType ?? 'floating', reason && reason !== 'quit' ? reason : 'released', now);
      if (!ended) return 'already';
      if (product) await this.grantQueue(tx, product, seats, now);
      return 'released';
    });
  }

  /** Take a waiting ticket out of the queue (the holder cancelled it); its seat goes to the next. */
  async cancelTicket(row: TicketRow, now: number): Promise<boolean> {
    const product = await this.products.get(row.product_id);
    return this.store.transaction(async (tx) => {
      const seats = product ? await this.lockedSeats(tx, product) : null;
      if ((await tx.endTicket(row.ticket, 'cancelled', now, null)) === 0) return false;
      await tx.writeServerEvent({
        time: now,
        code: EventCode.dequeue,
        ...claimEventFields(row),
        reason: 'cancelled',
      });
      tx.afterCommit(() => this.metrics.inc('usage_server_queue_dequeues_total', { product: row.product_id, outcome: 'cancelled' }));
      tx.signal({ kind: 'ticket', ticket: row.ticket });
      if (product) await this.grantQueue(tx, product, seats, now);
      return true;
    });
  }

  /**
   * Grant free seats to the head of the product's queue (inside a transaction holding the
   * product's lock). Each granted ticket is signalled, so the long-poll holding it answers on
   * whichever server it waits.
   */
  async grantQueue(tx: Tx, product: Product, seats: number | null, now: number): Promise<number> {
    const waiting = await tx.waitingOfProduct(product.row.id);
    if (waiting.length === 0) return 0;
    const held = await tx.seatKeysInUse(product.row.id, isAllocatingType(product.spec.licenseType));
    const grants = planQueueGrants(
      seats,
      held.size,
      held,
      waiting.map((t) => ({ ticket: t.ticket, seatKey: t.seat_key })),
    );
    const byTicket = new Map(waiting.map((t) => [t.ticket, t]));
    // Until collected by a poll, a granted lease only lives as long as a queue keepalive.
    const uncollectedMs = Math.min(Math.round(product.policy.leaseTtlSeconds * 1000), this.keepaliveMs);
    let granted = 0;
    for (const ticket of grants) {
      const t = byTicket.get(ticket)!;
      const newSeat = !held.has(t.seat_key);
      const lease: LeaseRow = {
        id: newId('ls'),
        agent_id: t.agent_id,
        product_id: t.product_id,
        seat_key: t.seat_key,
        user: t.user,
        host: t.host,
        pid: t.pid,
        process_start: t.process_start,
        request_id: t.request_id,
        ticket: t.ticket,
        granted_at: now,
        expires_at: now + uncollectedMs,
        renewed_at: null,
        claimed: 0,
        ended_at: null,
        end_reason: null,
      };
      if ((await tx.endTicket(ticket, 'granted', now, lease.id)) === 0) continue;
      held.add(t.seat_key);
      await tx.writeServerEvent({
        time: now,
        code: EventCode.dequeue,
        ...claimEventFields(t),
        leaseId: lease.id,
        reason: 'granted',
      });
      tx.afterCommit(() => this.metrics.inc('usage_server_queue_dequeues_total', { product: t.product_id, outcome: 'granted' }));
      await tx.insertLease(lease);
      await this.grantEvents(tx, lease, product.spec.licenseType, newSeat, now);
      tx.signal({ kind: 'ticket', ticket });
      granted++;
    }
    return granted;
  }

  /** End this product's expired leases and grant the freed seats (inside a transaction holding the product's lock). */
  async expireProduct(tx: Tx, product: Product, seats: number | null, now: number): Promise<void> {
    let any = false;
    for (const l of await tx.expiredLeases(now, product.row.id)) {
      if (await this.endLease(tx, l, product.spec.licenseType, 'lost', now)) any = true;
    }
    if (any) await this.grantQueue(tx, product, seats, now);
  }

  /** Lock, then grant the queue of one product (the sweep; seats freed elsewhere). */
  async grantQueueLocked(tx: Tx, product: Product, now: number): Promise<number> {
    const seats = await this.lockedSeats(tx, product);
    return this.grantQueue(tx, product, seats, now);
  }
}
