/** GET /v1/policy: the products and timings agents enforce, with an ETag so an unchanged policy costs a 304. */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PolicyResponse } from '../../protocol/v1.js';
import type { RouteOptions } from '../context.js';

export default async function policyRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, leases } = ctx;
  const policyFor = async (): Promise<{ body: PolicyResponse; etag: string }> => {
    const products = (await leases.allProducts()).map((p) => p.policy);
    const core = {
      pollIntervalSeconds: cfg.policy.pollIntervalSeconds,
      products,
      queue: { keepaliveSeconds: cfg.queue.keepaliveSeconds, maxWaitSeconds: cfg.queue.maxWaitSeconds },
      upload: { maxRecordsPerBatch: cfg.limits.maxRecordsPerBatch, maxBodyBytes: cfg.limits.bodyLimitBytes },
    };
    const version = createHash('sha256').update(JSON.stringify(core)).digest('base64url').slice(0, 22);
    return { body: { version, generatedAt: new Date().toISOString(), ...core }, etag: `"${version}"` };
  };
  app.get('/v1/policy', { config: { auth: 'agent' } }, async (req, reply) => {
    const { body, etag } = await policyFor();
    reply.header('ETag', etag).header('Cache-Control', 'no-cache');
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) return reply.code(304).send();
    return body;
  });
}
