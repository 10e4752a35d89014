/**
 * The sweep, every `leases.sweepIntervalSeconds`: expire leases whose holder stopped renewing and
 * tickets nobody polls, revoke idle allocations, and seat queue heads wherever seats are free
 * (seats may have been freed by the admin CLI or another server). Several servers may each run
 * it: the transaction is exclusive (PostgreSQL advisory lock), so one sweeps and the others skip
 * that tick, and every change in it is conditional, so nothing is ever done twice. It locks only
 * the products it has something to do for.
 */
import { EventCode } from '../../protocol/event-codes.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../storage/store.js';
import { allocationEventFields, claimEventFields } from './events.js';
import { isAllocatingType, planSweep } from './logic.js';
import type { Product, ProductCatalog } from './products.js';
import type { Seats } from './seats.js';

const LEASED_DEFAULT_HOLD_SECONDS = 7 * 24 * 3600;

export interface SweepResult {
  expiredLeases: number;
  expiredTickets: number;
  granted: number;
}

export async function sweep(
  store: Store,
  products: ProductCatalog,
  seats: Seats,
  metrics: Metrics,
  isPolledHere: (ticket: string) => boolean,
  now: number,
): Promise<SweepResult | undefined> {
  const all = await products.all();
  return store.transaction(
    async (tx) => {
      // Which products have anything to sweep, read without locks; then only those are locked (in
      // id order, as every holder of several takes them) and decided on again under the lock.
      // Locking every product for the whole sweep stalled every acquire and release of the fleet
      // every few seconds, though most sweeps touch the few products with a queue.
      const due = new Set<string>();
      for (const l of await tx.expiredLeases(now)) due.add(l.product_id);
      for (const id of await tx.productsWithWaiting()) due.add(id);
      const holds = new Map<string, number>();
      for (const p of all) {
        const hold = allocationHold(p);
        if (hold === undefined) continue;
        holds.set(p.row.id, hold);
        if ((await tx.idleAllocations(p.row.id, now - hold * 1000)).length > 0) due.add(p.row.id);
      }
      const ids = [...due].sort();
      for (const id of ids) await tx.lockProduct(id);

      const result: SweepResult = { expiredLeases: 0, expiredTickets: 0, granted: 0 };
      for (const id of ids) {
        const product = await products.get(id);
        const expired = await tx.expiredLeases(now, id);
        const waiting = await tx.waitingOfProduct(id);
        const plan = planSweep({
          now,
          leases: expired.map((l) => ({ id: l.id, expiresAt: l.expires_at })),
          tickets: waiting.map((t) => ({ ticket: t.ticket, lastPollAt: t.last_poll_at, polling: isPolledHere(t.ticket) })),
          keepaliveMs: seats.keepaliveMs,
        });
        const expireLeases = new Set(plan.expireLeases);
        const expireTickets = new Set(plan.expireTickets);
        for (const l of expired) {
          if (!expireLeases.has(l.id)) continue;
          if (await seats.endLease(tx, l, product?.spec.licenseType ?? 'floating', 'lost', now)) result.expiredLeases++;
        }
        for (const t of waiting) {
          if (!expireTickets.has(t.ticket)) continue;
          if ((await tx.endTicket(t.ticket, 'expired', now, null)) === 0) continue;
          result.expiredTickets++;
          await tx.writeServerEvent({
            time: now,
            code: EventCode.dequeue,
            ...claimEventFields(t),
            reason: 'expired',
          });
          tx.afterCommit(() => metrics.inc('usage_server_queue_dequeues_total', { product: t.product_id, outcome: 'expired' }));
          tx.signal({ kind: 'ticket', ticket: t.ticket });
        }
        const hold = holds.get(id);
        if (hold !== undefined)
          for (const a of await tx.idleAllocations(id, now - hold * 1000)) {
            if ((await tx.revokeAllocation(a.id, now, 'idle')) === 0) continue;
            await tx.writeServerEvent({
              time: now,
              code: EventCode.licenseRevoked,
              ...allocationEventFields(a),
              reason: 'idle',
            });
          }
        if (product) result.granted += await seats.grantQueueLocked(tx, product, now);
      }
      return result;
    },
    { exclusive: 'sweep' },
  );
}

/** How long an allocation of `p` may go unused before the sweep revokes it; undefined: kept. */
function allocationHold(p: Product): number | undefined {
  if (!isAllocatingType(p.spec.licenseType)) return undefined;
  return p.spec.allocationHoldSeconds ?? (p.spec.licenseType === 'leased' ? LEASED_DEFAULT_HOLD_SECONDS : undefined);
}
