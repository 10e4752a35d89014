/**
 * The sweep, every `leases.sweepIntervalSeconds`: expire leases whose holder stopped renewing and
 * tickets nobody polls, revoke idle allocations, and seat queue heads wherever seats are free
 * (seats may have been freed by the admin CLI or another server). Several servers may each run
 * it: the transaction is exclusive (PostgreSQL advisory lock), so one sweeps and the others skip
 * that tick, and every change in it is conditional, so nothing is ever done twice.
 */
import { EventCode } from '../../protocol/event-codes.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../storage/store.js';
import { allocationEventFields, claimEventFields } from './events.js';
import { isAllocatingType, planSweep } from './logic.js';
import type { ProductCatalog } from './products.js';
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
      await tx.lockAllProducts();
      const expired = await tx.expiredLeases(now);
      const waiting = await tx.waitingAll();
      const plan = planSweep({
        now,
        leases: expired.map((l) => ({ id: l.id, expiresAt: l.expires_at })),
        tickets: waiting.map((t) => ({ ticket: t.ticket, lastPollAt: t.last_poll_at, polling: isPolledHere(t.ticket) })),
        keepaliveMs: seats.keepaliveMs,
      });
      const expireLeases = new Set(plan.expireLeases);
      const expireTickets = new Set(plan.expireTickets);
      const touched = new Set<string>();
      let expiredLeases = 0;
      let expiredTickets = 0;
      for (const l of expired) {
        if (!expireLeases.has(l.id)) continue;
        const product = await products.get(l.product_id);
        if (await seats.endLease(tx, l, product?.spec.licenseType ?? 'floating', 'lost', now)) expiredLeases++;
        touched.add(l.product_id);
      }
      for (const t of waiting) {
        if (!expireTickets.has(t.ticket)) continue;
        if ((await tx.endTicket(t.ticket, 'expired', now, null)) === 0) continue;
        expiredTickets++;
        await tx.writeServerEvent({
          time: now,
          code: EventCode.dequeue,
          ...claimEventFields(t),
          reason: 'expired',
        });
        tx.afterCommit(() => metrics.inc('usage_server_queue_dequeues_total', { product: t.product_id, outcome: 'expired' }));
        tx.signal({ kind: 'ticket', ticket: t.ticket });
      }
      for (const p of all) {
        if (!isAllocatingType(p.spec.licenseType)) continue;
        const hold = p.spec.allocationHoldSeconds ?? (p.spec.licenseType === 'leased' ? LEASED_DEFAULT_HOLD_SECONDS : undefined);
        if (hold === undefined) continue;
        for (const a of await tx.idleAllocations(p.row.id, now - hold * 1000)) {
          if ((await tx.revokeAllocation(a.id, now, 'idle')) === 0) continue;
          await tx.writeServerEvent({
            time: now,
            code: EventCode.licenseRevoked,
            ...allocationEventFields(a),
            reason: 'idle',
          });
          touched.add(p.row.id);
        }
      }
      for (const id of await tx.productsWithWaiting()) touched.add(id);
      let granted = 0;
      for (const id of [...touched].sort()) {
        const product = await products.get(id);
        if (product) granted += await seats.grantQueueLocked(tx, product, now);
      }
      return { expiredLeases, expiredTickets, granted };
    },
    { exclusive: 'sweep' },
  );
}
