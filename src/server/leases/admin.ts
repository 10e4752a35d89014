/**
 * Admin operations (the admin CLI; later the console): revoke an agent, a lease or an allocation,
 * change products. Each is one transaction with its events, and signals the change, so every
 * server on the database refuses a revoked token or lease at its very next request (SQLite:
 * `PRAGMA data_version` changes for the other connections; PostgreSQL: checked per request).
 */
import { EventCode } from '../../protocol/event-codes.js';
import type { ProductConfig } from '../config.js';
import type { Store } from '../storage/store.js';
import { allocationEventFields, claimEventFields, leaseEventFields } from './events.js';
import { isAllocatingType } from './logic.js';

export type AdminRevokeResult = 'revoked' | 'already' | 'not-found';

/** Revoke an agent: its token stops working, its leases end and its queue places go. */
export async function revokeAgent(store: Store, agentId: string, now = Date.now()): Promise<AdminRevokeResult> {
  return store.transaction(async (tx) => {
    await tx.lockAllProducts();
    const agent = await tx.agentById(agentId);
    if (!agent) return 'not-found';
    if ((await tx.revokeAgentRow(agentId, new Date(now).toISOString())) === 0) return 'already';
    const types = new Map((await tx.products()).map((p) => [p.id, p.license_type]));
    for (const l of await tx.liveLeasesOfAgent(agentId)) {
      const t = types.get(l.product_id);
      const allocating = t !== undefined && isAllocatingType(t);
      if ((await tx.endLease(l.id, now, 'revoked')) === 0) continue;
      await tx.writeServerEvent({
        time: now,
        code: allocating ? EventCode.licenseStop : EventCode.return,
        ...leaseEventFields(l),
        reason: 'revoked',
      });
    }
    for (const a of await tx.liveAllocationsOfAgent(agentId)) {
      if ((await tx.revokeAllocation(a.id, now, 'agent-revoked')) === 0) continue;
      await tx.writeServerEvent({
        time: now,
        code: EventCode.licenseRevoked,
        ...allocationEventFields(a),
        reason: 'agent-revoked',
      });
    }
    for (const t of await tx.waitingOfAgent(agentId)) {
      if ((await tx.endTicket(t.ticket, 'cancelled', now, null)) === 0) continue;
      await tx.writeServerEvent({
        time: now,
        code: EventCode.dequeue,
        ...claimEventFields(t),
        reason: 'revoked',
      });
      tx.signal({ kind: 'ticket', ticket: t.ticket });
    }
    await tx.writeServerEvent({ time: now, code: EventCode.revoked, agentId, host: agent.host, reason: 'admin' });
    tx.signal({ kind: 'changed' });
    return 'revoked';
  });
}

/**
 * End one live lease (reason "revoked"; event 2, or 30 for leased/node-locked products, whose
 * allocation stays). The agent's next renewal gets 404 lease-gone; the seat goes to the queue head
 * at the next sweep.
 */
export async function revokeLease(store: Store, leaseId: string, now = Date.now()): Promise<AdminRevokeResult> {
  const l = await store.q.lease(leaseId);
  if (!l) return 'not-found';
  if (l.ended_at !== null) return 'already';
  return store.transaction(async (tx) => {
    const row = await tx.lockProduct(l.product_id);
    const allocating = row ? isAllocatingType(row.license_type) : false;
    if ((await tx.endLease(l.id, now, 'revoked')) === 0) return 'already';
    if (allocating) await tx.useAllocation(l.product_id, l.seat_key, now);
    await tx.writeServerEvent({
      time: now,
      code: allocating ? EventCode.licenseStop : EventCode.return,
      ...leaseEventFields(l),
      reason: 'revoked',
    });
    tx.signal({ kind: 'changed' });
    return 'revoked';
  });
}

/**
 * Take back one allocation of a leased or node-locked product: its live leases end (event 30,
 * reason "revoked") and the allocation is revoked (event 28, reason "admin"), which frees the seat
 * for the queue head at the next sweep.
 */
export async function revokeAllocation(store: Store, allocationId: number, now = Date.now()): Promise<AdminRevokeResult> {
  const a = await store.q.allocationById(allocationId);
  if (!a) return 'not-found';
  if (a.revoked_at !== null) return 'already';
  return store.transaction(async (tx) => {
    await tx.lockProduct(a.product_id);
    if ((await tx.revokeAllocation(a.id, now, 'admin')) === 0) return 'already';
    for (const l of await tx.liveLeasesOfSeat(a.product_id, a.seat_key)) {
      if ((await tx.endLease(l.id, now, 'revoked')) === 0) continue;
      await tx.writeServerEvent({
        time: now,
        code: EventCode.licenseStop,
        ...leaseEventFields(l),
        reason: 'revoked',
      });
    }
    await tx.writeServerEvent({
      time: now,
      code: EventCode.licenseRevoked,
      ...allocationEventFields(a),
      reason: 'admin',
    });
    tx.signal({ kind: 'changed' });
    return 'revoked';
  });
}

/** Add or replace products (the config file's at start: source "config"; the admin CLI's: "admin"). */
export async function upsertProducts(store: Store, products: readonly ProductConfig[], source: 'config' | 'admin', now = new Date()): Promise<void> {
  if (products.length === 0) return;
  await store.transaction(async (tx) => {
    for (const p of products) await tx.upsertProduct(p, source, now);
    tx.signal({ kind: 'changed' });
  });
}

/** Change a product's seats; false when there is no such product. Queued users get freed seats within one sweep. */
export async function setSeats(store: Store, productId: string, seats: number, now = new Date()): Promise<boolean> {
  return store.transaction(async (tx) => {
    if ((await tx.setSeats(productId, seats, now)) === 0) return false;
    tx.signal({ kind: 'changed' });
    return true;
  });
}
