/**
 * Queue long-polls: a `GET /v1/queue/{ticket}?wait=S` held open until the ticket is granted (or
 * gone) or S seconds pass. A grant made by any server reaches the poll through the store's
 * signal (PostgreSQL NOTIFY; in process for SQLite); as a safety net every sweep tick also looks
 * at the tickets polled here and keeps them alive, so a ticket waiting on this server is never
 * expired by another server's sweep and a missed signal costs at most one sweep interval.
 */
import type { QueueStatus } from '../../protocol/v1.js';
import type { ServerConfig } from '../config.js';
import type { Store } from '../storage/store.js';
import type { AgentRow, TicketRow } from '../storage/types.js';
import { leaseTimes } from './logic.js';
import type { ProductCatalog } from './products.js';
import { grantedBody, type Seats } from './seats.js';

export type PollResult = { kind: 'status'; body: QueueStatus } | { kind: 'gone'; detail: string } | { kind: 'not-found' };

export class QueuePolls {
  private readonly waiters = new Map<string, Set<(r: PollResult) => void>>();
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly products: ProductCatalog,
    private readonly seats: Seats,
    private readonly cfg: ServerConfig,
    private readonly clock: () => number,
    private readonly log: { error(o: object, msg: string): void },
  ) {
    store.onSignal((s) => {
      if (s.kind === 'ticket' && this.waiters.has(s.ticket)) void this.wake(s.ticket);
    });
  }

  /** Tickets with a long-poll open on this server. */
  polled(): string[] {
    return [...this.waiters.keys()];
  }

  isPolled(ticket: string): boolean {
    return this.waiters.has(ticket);
  }

  async statusOf(t: TicketRow): Promise<PollResult> {
    if (t.state === 'waiting') {
      return {
        kind: 'status',
        body: {
          status: 'waiting',
          ticket: t.ticket,
          product: t.product_id,
          position: await this.store.q.position(t.product_id, t.qseq),
          keepaliveSeconds: this.cfg.queue.keepaliveSeconds,
        },
      };
    }
    if (t.state === 'granted' && t.lease_id) {
      const lease = await this.store.q.lease(t.lease_id);
      const product = await this.products.get(t.product_id);
      if (lease && lease.ended_at === null && product) {
        // Collecting the grant claims the lease: it now runs for the full TTL.
        const now = this.clock();
        const times = leaseTimes(now, product.policy.leaseTtlSeconds);
        if (!this.closing) await this.store.q.claimLease(lease.id, lease.agent_id, times.expiresAt, now);
        return {
          kind: 'status',
          body: {
            status: 'granted',
            ticket: t.ticket,
            product: t.product_id,
            lease: grantedBody({ ...lease, expires_at: times.expiresAt }, product, now, false),
          },
        };
      }
      return { kind: 'gone', detail: 'The lease granted to this ticket was not collected in time and has ended; acquire again.' };
    }
    return {
      kind: 'gone',
      detail:
        t.state === 'expired' ? 'The ticket stopped polling for longer than its keepalive and lost its place; acquire again.' : 'The ticket was cancelled.',
    };
  }

  /** Answer this ticket's open polls if it is no longer waiting. */
  async wake(ticket: string): Promise<void> {
    try {
      const row = await this.store.q.ticket(ticket);
      if (row && row.state === 'waiting') return;
      const r: PollResult = row ? await this.statusOf(row) : { kind: 'not-found' };
      for (const w of [...(this.waiters.get(ticket) ?? [])]) w(r);
    } catch (err) {
      this.log.error({ err, ticket }, 'answering a queue poll failed');
    }
  }

  /** Long-poll: answers at once if granted or gone, otherwise when granted or after `waitMs`. */
  async poll(agent: AgentRow, ticket: string, waitMs: number, onAbort: (cb: () => void) => void): Promise<PollResult> {
    const row = await this.store.q.ticket(ticket);
    if (!row || row.agent_id !== agent.id) return { kind: 'not-found' };
    if (row.state !== 'waiting') return this.statusOf(row);
    await this.store.q.pollTicket(ticket, this.clock());
    if (waitMs <= 0 || this.closing) return this.statusOf(row);
    return new Promise<PollResult>((resolve, reject) => {
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
        (async () => {
          await this.store.q.pollTicket(ticket, this.clock());
          const cur = await this.store.q.ticket(ticket);
          return cur ? this.statusOf(cur) : ({ kind: 'not-found' } as const);
        })().then(resolve, reject);
      };
      const waiter = (r: PollResult) => finish(r);
      const timer = setTimeout(() => finish(undefined), waitMs);
      let set = this.waiters.get(ticket);
      if (!set) this.waiters.set(ticket, (set = new Set()));
      set.add(waiter);
      onAbort(() => finish(undefined));
      // A grant committed between the read above and now would have found no waiter: look once more.
      void this.wake(ticket);
    });
  }

  async cancel(agent: AgentRow, ticket: string, release: (leaseId: string) => Promise<unknown>): Promise<'cancelled' | 'already' | 'not-found'> {
    const row = await this.store.q.ticket(ticket);
    if (!row || row.agent_id !== agent.id) return 'not-found';
    if (row.state === 'granted' && row.lease_id) {
      await release(row.lease_id);
      return 'cancelled';
    }
    if (row.state !== 'waiting') return 'already';
    return (await this.seats.cancelTicket(row, this.clock())) ? 'cancelled' : 'already';
  }

  /** Sweep tick: keep the tickets polled here alive and answer those granted or gone meanwhile. */
  async tick(now: number): Promise<void> {
    for (const ticket of this.polled()) {
      await this.store.q.pollTicket(ticket, now);
      await this.wake(ticket);
    }
  }

  /** Shutdown: answer every open poll with the ticket's current state. */
  async close(): Promise<void> {
    this.closing = true;
    for (const [ticket, set] of [...this.waiters]) {
      const row = await this.store.q.ticket(ticket).catch(() => undefined);
      const r: PollResult = row ? await this.statusOf(row) : { kind: 'not-found' };
      for (const w of [...set]) w(r);
    }
    this.waiters.clear();
  }
}
