/**
 * Renewals, the hot path: each agent renews each running licensed program every third of its TTL.
 * A renewal is answered only after the database has it (so no server ever sweeps a lease that
 * another server just renewed), but renewals in flight together go out as one batch (`Batcher`):
 * one transaction (SQLite) or one UPDATE ... FROM unnest (PostgreSQL) for all of them.
 *
 * The owner and product of a lease never change, so they are kept in memory and a renewal reads
 * nothing before its write; whether the lease is still live is decided by the write itself
 * (`... AND ended_at IS NULL`), so a lease revoked or expired through any server is refused.
 */
import type { LeaseGranted } from '../../protocol/v1.js';
import type { Metrics } from '../metrics.js';
import { Batcher } from '../storage/batch.js';
import type { Store } from '../storage/store.js';
import type { AgentRow, Renewal } from '../storage/types.js';
import { leaseTimes } from './logic.js';
import type { ProductCatalog } from './products.js';
import { grantedBody } from './seats.js';

/** Bound on the owner cache (a miss costs one indexed read). */
const MAX_OWNERS = 200_000;

export class Renewals {
  private readonly owners = new Map<string, { agentId: string; productId: string }>();
  private readonly batch: Batcher<Renewal, boolean>;

  constructor(
    private readonly store: Store,
    private readonly products: ProductCatalog,
    private readonly metrics: Metrics,
    private readonly clock: () => number,
  ) {
    this.batch = new Batcher(async (rs) => {
      const renewed = await store.renewLeases(rs);
      return rs.map((r) => renewed.has(r.leaseId));
    });
  }

  forget(leaseId: string): void {
    this.owners.delete(leaseId);
  }

  /**
   * Renew a live lease of this agent; `gone` when it is not (released, expired, revoked, not
   * theirs), `revoked` when the agent itself was revoked (its token may have been verified before).
   */
  async renew(agent: AgentRow, leaseId: string): Promise<LeaseGranted | 'gone' | { revokedAt: string }> {
    const r = await this.attempt(agent, leaseId);
    if (r !== undefined) return r;
    const fresh = await this.store.q.agentById(agent.id);
    return fresh?.revoked_at ? { revokedAt: fresh.revoked_at } : 'gone';
  }

  private async attempt(agent: AgentRow, leaseId: string): Promise<LeaseGranted | undefined> {
    let owner = this.owners.get(leaseId);
    if (!owner) {
      const row = await this.store.q.lease(leaseId);
      if (!row || row.ended_at !== null) return undefined;
      owner = { agentId: row.agent_id, productId: row.product_id };
      if (this.owners.size >= MAX_OWNERS) this.owners.delete(this.owners.keys().next().value!);
      this.owners.set(leaseId, owner);
    }
    if (owner.agentId !== agent.id) return undefined;
    const product = await this.products.get(owner.productId);
    if (!product) return undefined;
    const now = this.clock();
    const t = leaseTimes(now, product.policy.leaseTtlSeconds);
    if (!(await this.batch.call({ leaseId, agentId: agent.id, expiresAt: t.expiresAt, at: now }))) {
      this.owners.delete(leaseId);
      return undefined;
    }
    this.metrics.inc('usage_server_lease_renewals_total', { product: owner.productId });
    return grantedBody({ id: leaseId, product_id: owner.productId, expires_at: t.expiresAt }, product, now, true);
  }
}
