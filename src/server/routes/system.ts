/** Unauthenticated: health (with the database's), the OpenAPI document, Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import { buildOpenApi } from '../../protocol/openapi.js';
import { PROTOCOL_VERSION, type HealthResponse } from '../../protocol/v1.js';
import type { RouteOptions } from '../context.js';
import { SERVER_VERSION } from '../version.js';

export default async function systemRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, store, leases, metrics } = ctx;
  const startedAt = Date.now();
  const openapiJson = JSON.stringify(buildOpenApi(SERVER_VERSION));

  // The database is asked at most once a second, so a load balancer's probes cost it nothing.
  let ping: { at: number; ok: Promise<boolean> } | undefined;
  const dbHealthy = () => {
    const now = Date.now();
    if (!ping || now - ping.at >= 1000) ping = { at: now, ok: store.ping() };
    return ping.ok;
  };

  app.get('/v1/health', { config: { auth: 'none' } }, async (_req, reply) => {
    const dbOk = await dbHealthy();
    const body = {
      status: dbOk ? 'ok' : 'degraded',
      version: SERVER_VERSION,
      protocol: PROTOCOL_VERSION,
      time: new Date().toISOString(),
      uptimeSeconds: (Date.now() - startedAt) / 1000,
    } satisfies HealthResponse;
    return reply.code(dbOk ? 200 : 503).send(body);
  });

  app.get('/v1/openapi.json', { config: { auth: 'none' } }, async (_req, reply) => reply.type('application/json').send(openapiJson));

  if (!cfg.metrics.enabled) return;
  app.get('/metrics', { config: { auth: 'none' } }, async (_req, reply) => {
    const q = store.q;
    const [held, waiting, allocations, products, agents] = [
      await q.liveLeaseCounts(),
      await q.waitingCounts(),
      await q.liveAllocationCounts(),
      await leases.allProducts(),
      await q.agentCounts(),
    ];
    const byProduct = <T extends { product_id: string }>(rows: T[], f: (r: T) => number) =>
      products.map((p) => {
        const r = rows.find((x) => x.product_id === p.row.id);
        return { labels: { product: p.row.id }, value: r ? f(r) : 0 };
      });
    const text = metrics.render([
      { name: 'usage_server_leases_held', help: 'Live leases, by product.', values: byProduct(held, (r) => r.leases) },
      {
        name: 'usage_server_seats_in_use',
        help: 'Seats in use (distinct user+host holders, or live allocations), by product.',
        values: products.map((p) => ({
          labels: { product: p.row.id },
          value:
            (p.spec.licenseType === 'leased' || p.spec.licenseType === 'node-locked'
              ? allocations.find((a) => a.product_id === p.row.id)?.n
              : held.find((h) => h.product_id === p.row.id)?.seats) ?? 0,
        })),
      },
      {
        name: 'usage_server_seats',
        help: 'Configured seats, by product (-1 = unlimited).',
        values: products.map((p) => ({ labels: { product: p.row.id }, value: p.policy.seats ?? -1 })),
      },
      { name: 'usage_server_queue_length', help: 'Tickets waiting, by product.', values: byProduct(waiting, (r) => r.n) },
      {
        name: 'usage_server_agents',
        help: 'Enrolled agents, by state.',
        values: [
          { labels: { state: 'active' }, value: agents.find((a) => a.active === 1)?.n ?? 0 },
          { labels: { state: 'revoked' }, value: agents.find((a) => a.active === 0)?.n ?? 0 },
        ],
      },
    ]);
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
}
