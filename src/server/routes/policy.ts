/** GET /v1/policy: the products and timings agents enforce, with an ETag so an unchanged policy costs a 304. */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PolicyResponse } from '../../protocol/v1.js';
import type { RouteOptions } from '../context.js';

export default async function policyRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, leases } = ctx;
  // Built once per products list (the catalog hands out the same list until products change).
  const built = new WeakMap<object, { body: PolicyResponse; json: string; etag: string }>();
  const policyFor = async (): Promise<{ body: PolicyResponse; json: string; etag: string }> => {
    const list = await leases.allProducts();
    const hit = built.get(list);
    if (hit) return hit;
    const products = list.map((p) => p.policy);
    const core = {
      pollIntervalSeconds: cfg.policy.pollIntervalSeconds,
      products,
      queue: { keepaliveSeconds: cfg.queue.keepaliveSeconds, maxWaitSeconds: cfg.queue.maxWaitSeconds },
      upload: { maxRecordsPerBatch: cfg.limits.maxRecordsPerBatch, maxBodyBytes: cfg.limits.bodyLimitBytes },
    };
    const version = createHash('sha256').update(JSON.stringify(core)).digest('base64url').slice(0, 22);
    const body = { version, generatedAt: new Date().toISOString(), ...core } satisfies PolicyResponse;
    // Serialized once too: with 200 products the body is ~60 KB, too much to stringify per poll.
    const r = { body, json: JSON.stringify(body), etag: `"${version}"` };
    built.set(list, r);
    return r;
  };
  app.get('/v1/policy', { config: { auth: 'agent' } }, async (req, reply) => {
    const { json, etag } = await policyFor();
    reply.header('ETag', etag).header('Cache-Control', 'no-cache');
    const inm = req.headers['if-none-match'];
    if (inm?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(json);
  });
}
