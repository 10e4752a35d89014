/**
 * Software audit reports (admin token), JSON or CSV: installed vs used per package and per
 * product over the last `days` (default 90), reclaim candidates, the current inventory of a host
 * and the history of software records.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { V1_PATHS } from '../../protocol/v1.js';
import type { RouteOptions } from '../context.js';
import { toCsv } from '../csv.js';
import { loadInventoryReport } from '../inventory/index.js';
import { problem, sendProblem } from '../problem.js';
import { installed, softwareHistory } from '../storage/software.js';

type Qs = { days?: string; format?: 'json' | 'csv'; host?: string; product?: string; from?: string; to?: string };
const format = { type: 'string', enum: ['json', 'csv'] };
/** Query strings are not coerced (AJV_OPTIONS): a number of days as digits, 1..3650 checked below. */
const days = { type: 'string', pattern: '^[0-9]{1,4}$' };
const host = { type: 'string', minLength: 1, maxLength: 256 };
const query = (props: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties: { format, ...props },
});
const csv = (reply: FastifyReply, text: string) => reply.type('text/csv; charset=utf-8').send(text);

export default async function softwareRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store, leases } = ctx;
  const report = async (q: Qs) => loadInventoryReport(store, await leases.allProducts(), q.days === undefined ? 90 : Number(q.days), Date.now());
  const badDays = (reply: FastifyReply, q: Qs) => {
    const n = q.days === undefined ? 90 : Number(q.days);
    return n >= 1 && n <= 3650 ? null : sendProblem(reply, problem(400, 'validation-failed', 'query:days must be 1 to 3650.', { field: 'query:days' }));
  };
  const opts = (props: Record<string, unknown>, required: string[] = []) => ({
    schema: { querystring: query(props, required) },
    config: { auth: 'admin' as const },
  });

  app.get<{ Querystring: Qs }>(V1_PATHS.reportSoftware, opts({ days }), async (req, reply) => {
    if (badDays(reply, req.query)) return reply;
    const r = await report(req.query);
    if (req.query.format !== 'csv') return { since: r.since, rows: r.packages };
    return csv(
      reply,
      toCsv(
        ['Source', 'Package', 'InstalledHosts', 'UsedHosts', 'UnusedHosts', 'Versions'],
        r.packages.map((p) => [p.source, p.package, p.installedHosts, p.usedHosts, p.unusedHosts, p.versions.map((v) => `${v.version}:${v.hosts}`).join(' ')]),
      ),
    );
  });

  app.get<{ Querystring: Qs }>(V1_PATHS.reportSoftwareProducts, opts({ days }), async (req, reply) => {
    if (badDays(reply, req.query)) return reply;
    const r = await report(req.query);
    if (req.query.format !== 'csv') return { since: r.since, rows: r.products };
    return csv(
      reply,
      toCsv(
        ['ProductId', 'ProductName', 'Packages', 'InstalledHosts', 'UsedHosts', 'ReclaimCandidates'],
        r.products.map((p) => [p.product, p.name, p.packages.join(' '), p.installedHosts, p.usedHosts, p.reclaimCandidates]),
      ),
    );
  });

  app.get<{ Querystring: Qs }>(
    V1_PATHS.reportSoftwareReclaim,
    opts({ days, product: { type: 'string', minLength: 1, maxLength: 128 } }),
    async (req, reply) => {
      if (badDays(reply, req.query)) return reply;
      const r = await report(req.query);
      const rows = req.query.product ? r.reclaim.filter((x) => x.product === req.query.product) : r.reclaim;
      if (req.query.format !== 'csv') return { since: r.since, rows };
      return csv(
        reply,
        toCsv(
          ['ProductId', 'HostName', 'Package', 'Version', 'LastUsed'],
          rows.map((x) => [x.product, x.host, x.package, x.version, x.lastUsed]),
        ),
      );
    },
  );

  app.get<{ Querystring: Qs }>(V1_PATHS.reportSoftwareInventory, opts({ host }), async (req, reply) => {
    const rows = (await installed(store.q.sql, req.query.host)).map((r) => ({
      host: r.host,
      source: r.source,
      name: r.name,
      architecture: r.architecture || null,
      version: r.version,
      publisher: r.publisher,
      installTime: r.install_time,
      firstSeen: r.first_seen,
      updatedAt: r.updated_at,
    }));
    if (req.query.format !== 'csv') return { rows };
    return csv(
      reply,
      toCsv(
        ['HostName', 'Source', 'Package', 'Architecture', 'Version', 'Publisher', 'InstallTime', 'FirstSeen', 'UpdatedAt'],
        rows.map((r) => [r.host, r.source, r.name, r.architecture, r.version, r.publisher, r.installTime, r.firstSeen, r.updatedAt]),
      ),
    );
  });

  app.get<{ Querystring: Qs }>(
    V1_PATHS.reportSoftwareHistory,
    opts({ host, from: { type: 'string', format: 'date' }, to: { type: 'string', format: 'date' } }, ['from', 'to']),
    async (req, reply) => {
      const q = req.query as Required<Pick<Qs, 'from' | 'to'>> & Qs;
      if (q.from > q.to) return sendProblem(reply, problem(400, 'validation-failed', 'from is after to.', { field: 'query:from' }));
      const to = new Date(Date.parse(`${q.to}T00:00:00Z`) + 86_400_000).toISOString();
      const rows = await softwareHistory(store.q.sql, { host: q.host, from: `${q.from}T00:00:00.000Z`, to });
      if (q.format !== 'csv') return { rows };
      const s = (v: unknown) => (v === undefined ? null : v);
      return csv(
        reply,
        toCsv(
          ['Time', 'HostName', 'Change', 'Source', 'Package', 'Version', 'PreviousVersion', 'Architecture', 'AuditId'],
          rows.map((r) => [r.time, r.host, r.change, r.source, r.name, r.version, s(r.previousVersion), s(r.architecture), r.auditId]),
        ),
      );
    },
  );
}
