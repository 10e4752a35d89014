/** Leases: acquire, list, renew (the hot path), release. */
import type { FastifyInstance } from 'fastify';
import { RELEASE_REASONS, type LeaseRequest, type ReleaseReason } from '../../protocol/v1.js';
import { idParams, type RouteOptions } from '../context.js';
import { refuseRevoked } from '../plugins/auth.js';
import { problem, sendProblem } from '../problem.js';

export default async function leaseRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { leases } = ctx;

  app.post<{ Body: LeaseRequest }>('/v1/leases', { schema: { body: { $ref: 'LeaseRequest#' } }, config: { auth: 'agent' } }, async (req, reply) => {
    const r = await leases.acquire(req.agent!, req.body);
    switch (r.status) {
      case 404:
        return sendProblem(
          reply,
          problem(404, 'unknown-product', `No product "${req.body.product}" is configured on this server; refresh the policy.`, { field: '/product' }),
        );
      case 422:
        return sendProblem(
          reply,
          problem(422, 'validation-failed', 'This requestId was already used for a different product or process; use a new requestId per acquire.', {
            field: '/requestId',
          }),
        );
      case 409:
        return sendProblem(reply, r.body);
      default:
        return reply.code(r.status).send(r.body);
    }
  });

  app.get('/v1/leases', { config: { auth: 'agent' } }, async (req) => leases.held(req.agent!));

  // The hot path. Its token may have been verified before: the renewal's own UPDATE refuses a revoked agent.
  app.post<{ Params: { id: string } }>(
    '/v1/leases/:id/renew',
    { schema: { params: idParams('id') }, config: { auth: 'agent-renewal' } },
    async (req, reply) => {
      const b = req.body as unknown;
      if (b !== undefined && b !== null) {
        if (typeof b !== 'object' || Array.isArray(b))
          return sendProblem(reply, problem(400, 'validation-failed', 'The body must be empty or {}.', { field: '/' }));
        const k = Object.keys(b)[0];
        if (k !== undefined) {
          return sendProblem(
            reply,
            problem(400, 'validation-failed', `/${k} is not a known field`, { field: `/${k}`, errors: [{ field: `/${k}`, message: 'is not a known field' }] }),
          );
        }
      }
      const r = await leases.renew(req.agent!, req.params.id);
      if (typeof r === 'object' && 'revokedAt' in r) return refuseRevoked(reply, r.revokedAt);
      if (r === 'gone') {
        return sendProblem(
          reply,
          problem(404, 'lease-gone', 'This lease is no longer held (released, expired or revoked); acquire again or stop the program.', {
            field: 'path:id',
            action: 'acquire',
            leaseId: req.params.id,
          }),
        );
      }
      return r;
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { reason?: ReleaseReason } }>(
    '/v1/leases/:id',
    {
      schema: {
        params: idParams('id'),
        querystring: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', enum: [...RELEASE_REASONS] } } },
      },
      config: { auth: 'agent' },
    },
    async (req, reply) => {
      const r = await leases.release(req.agent!, req.params.id, req.query.reason);
      if (r === 'not-found') return sendProblem(reply, problem(404, 'not-found', 'No such lease for this agent.', { field: 'path:id' }));
      return reply.code(204).send();
    },
  );
}
