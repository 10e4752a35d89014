/** The waiting queue: long-poll a ticket until it is granted, or leave the queue. */
import type { FastifyInstance } from 'fastify';
import { idParams, type RouteOptions } from '../context.js';
import { problem, sendProblem } from '../problem.js';

export default async function queueRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, leases } = ctx;

  app.get<{ Params: { ticket: string }; Querystring: { wait?: string } }>(
    '/v1/queue/:ticket',
    {
      schema: {
        params: idParams('ticket'),
        querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'string', pattern: '^[0-9]{1,7}$' } } },
      },
      config: { auth: 'agent' },
    },
    async (req, reply) => {
      const maxWait = cfg.queue.maxWaitSeconds;
      const waitS = req.query.wait === undefined ? maxWait : Math.min(Number(req.query.wait), maxWait);
      let aborted: (() => void) | undefined;
      reply.raw.on('close', () => aborted?.());
      const r = await leases.poll(req.agent!, req.params.ticket, Math.round(waitS * 1000), (cb) => {
        aborted = cb;
      });
      if (r.kind === 'not-found') return sendProblem(reply, problem(404, 'not-found', 'No such queue ticket for this agent.', { field: 'path:ticket' }));
      if (r.kind === 'gone') return sendProblem(reply, problem(410, 'ticket-gone', r.detail, { field: 'path:ticket', action: 'acquire' }));
      return r.body;
    },
  );

  app.delete<{ Params: { ticket: string } }>('/v1/queue/:ticket', { schema: { params: idParams('ticket') }, config: { auth: 'agent' } }, async (req, reply) => {
    const r = await leases.cancel(req.agent!, req.params.ticket);
    if (r === 'not-found') return sendProblem(reply, problem(404, 'not-found', 'No such queue ticket for this agent.', { field: 'path:ticket' }));
    return reply.code(204).send();
  });
}
