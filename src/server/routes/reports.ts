/** Usage reports over HTTP (admin token): summaries per period and the usage log, as JSON or CSV. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RouteOptions } from '../context.js';
import { problem, sendProblem } from '../problem.js';
import { logToCsv, REPORT_PERIODS, summariesToCsv, usageReport, type ReportPeriod } from '../reports/index.js';

type ReportQs = { from: string; to: string; format?: 'json' | 'csv'; product?: string; period?: ReportPeriod };

const reportQuery = (extra: Record<string, unknown>) => ({
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date' },
    to: { type: 'string', format: 'date' },
    format: { type: 'string', enum: ['json', 'csv'] },
    product: { type: 'string', minLength: 1, maxLength: 128 },
    ...extra,
  },
});

export default async function reportRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store } = ctx;
  const badRange = (reply: FastifyReply, q: ReportQs) =>
    q.from > q.to ? sendProblem(reply, problem(400, 'validation-failed', 'from is after to.', { field: 'query:from' })) : null;

  app.get<{ Querystring: ReportQs }>(
    '/v1/reports/usage',
    { schema: { querystring: reportQuery({ period: { type: 'string', enum: [...REPORT_PERIODS] } }) }, config: { auth: 'admin' } },
    async (req, reply) => {
      const q = req.query;
      const bad = badRange(reply, q);
      if (bad) return bad;
      const period = q.period ?? 'day';
      const r = await usageReport(store.q, { from: q.from, to: q.to, product: q.product, periods: [period], now: Date.now() });
      if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(summariesToCsv(r.summaries));
      return { from: q.from, to: q.to, period, end: r.end, rows: r.summaries };
    },
  );

  app.get<{ Querystring: ReportQs }>('/v1/reports/usage/log', { schema: { querystring: reportQuery({}) }, config: { auth: 'admin' } }, async (req, reply) => {
    const q = req.query;
    const bad = badRange(reply, q);
    if (bad) return bad;
    const r = await usageReport(store.q, { from: q.from, to: q.to, product: q.product, periods: [], now: Date.now() });
    if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(logToCsv(r.log));
    return { from: q.from, to: q.to, end: r.end, rows: r.log };
  });
}
