/**
 * Leases as the routes use them: seats (acquire, release), renewals, queue long-polls and the
 * sweep, over one store. It holds no state that another server would need: seats, queue and
 * leases live in the database; what is kept here is a cache or a long-poll held on this server.
 */
import { EventCode } from '../../protocol/event-codes.js';
import type { HeldLeasesResponse, LeaseGranted, LeaseRequest, ReleaseReason } from '../../protocol/v1.js';
import type { ServerConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../storage/store.js';
import type { AgentRow } from '../storage/types.js';
import { ProductCatalog, type Product } from './products.js';
import { QueuePolls, type PollResult } from './queue.js';
import { Renewals } from './renewals.js';
import { Seats, type AcquireResult } from './seats.js';
import { sweep, type SweepResult } from './sweep.js';

export type { AcquireResult, PollResult, Product };

export class Leases {
  readonly products: ProductCatalog;
  readonly seats: Seats;
  readonly renewals: Renewals;
  readonly queue: QueuePolls;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store,
    private readonly cfg: ServerConfig,
    private readonly metrics: Metrics,
    private readonly log: { error: (o: object, msg: string) => void; warn: (o: object, msg: string) => void },
    private readonly clock: () => number = Date.now,
  ) {
    this.products = new ProductCatalog(store, cfg);
    this.seats = new Seats(store, this.products, cfg, metrics, (id) => this.renewals.forget(id));
    this.renewals = new Renewals(store, this.products, metrics, clock);
    this.queue = new QueuePolls(store, this.products, this.seats, cfg, clock, log);
  }

  allProducts(): Promise<Product[]> {
    return this.products.all();
  }

  /** Startup: give live leases and queue places time to be renewed/polled again, log "server up", start the sweep. */
  async start(): Promise<void> {
    const now = this.clock();
    await this.store.transaction(async (tx) => {
      await tx.extendLiveLeases(now + Math.round(this.cfg.leases.restartGraceSeconds * 1000));
      await tx.extendWaiting(now);
      await tx.writeServerEvent({ time: now, code: EventCode.up });
    });
    const every = Math.max(10, Math.round(this.cfg.leases.sweepIntervalSeconds * 1000));
    this.sweepTimer = setInterval(() => {
      if (this.sweeping) return; // a slow sweep is never run twice at once
      this.sweeping = this.tick()
        .catch((err) => this.log.error({ err }, 'lease sweep failed'))
        .finally(() => (this.sweeping = undefined));
    }, every);
    this.sweepTimer.unref();
  }

  private async tick(): Promise<void> {
    await this.sweep();
    await this.queue.tick(this.clock());
  }

  /** Shutdown: stop the sweep, answer pending long-polls with the current position, log "server down". */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping;
    await this.queue.close();
    await this.store.transaction(async (tx) => {
      await tx.writeServerEvent({ time: this.clock(), code: EventCode.down });
    });
  }

  acquire(agent: AgentRow, req: LeaseRequest): Promise<AcquireResult> {
    return this.seats.acquire(agent, req, this.clock());
  }

  renew(agent: AgentRow, leaseId: string): Promise<LeaseGranted | 'gone' | { revokedAt: string }> {
    return this.renewals.renew(agent, leaseId);
  }

  release(agent: AgentRow, leaseId: string, reason: ReleaseReason | undefined): Promise<'released' | 'already' | 'not-found'> {
    return this.seats.release(agent, leaseId, reason, this.clock());
  }

  async held(agent: AgentRow): Promise<HeldLeasesResponse> {
    const q = this.store.q;
    const leases = await q.liveLeasesOfAgent(agent.id);
    const tickets = await q.waitingOfAgent(agent.id);
    return {
      leases: leases.map((l) => ({
        leaseId: l.id,
        product: l.product_id,
        user: l.user,
        host: l.host,
        pid: l.pid,
        processStart: l.process_start,
        requestId: l.request_id,
        grantedAt: new Date(l.granted_at).toISOString(),
        expiresAt: new Date(l.expires_at).toISOString(),
      })),
      tickets: await Promise.all(
        tickets.map(async (t) => ({ ticket: t.ticket, product: t.product_id, position: await q.position(t.product_id, t.qseq), requestId: t.request_id })),
      ),
    };
  }

  poll(agent: AgentRow, ticket: string, waitMs: number, onAbort: (cb: () => void) => void): Promise<PollResult> {
    return this.queue.poll(agent, ticket, waitMs, onAbort);
  }

  cancel(agent: AgentRow, ticket: string): Promise<'cancelled' | 'already' | 'not-found'> {
    return this.queue.cancel(agent, ticket, (leaseId) => this.release(agent, leaseId, 'user'));
  }

  /** One sweep now (undefined when another server is sweeping). */
  sweep(now = this.clock()): Promise<SweepResult | undefined> {
    return sweep(this.store, this.products, this.seats, this.metrics, (t) => this.queue.isPolled(t), now);
  }
}
