/**
 * The console's pages, downloads and admin actions. A page and its downloads parse the same
 * filters and call the same loader, so a download has exactly the rows of the table on the page.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteOptions } from '../context.js';
import { revokeAgent, revokeAllocation, revokeLease, setSeats } from '../leases/admin.js';
import { FieldError, FILTER_KEYS, filterQuery, parseFilters, type Filters } from './filters.js';
import { consoleError, localPath, formFields, securityHeaders, type ConsoleDeps } from './http.js';
import { PAGE_ROWS, type PageDef } from './model.js';
import { pageBySlug, PAGES } from './pages.js';
import { displayCell, tableCsv, tableJson } from './table.js';
import { renderView } from './views.js';

const NOTICES: Record<string, string> = {
  'agent-revoked': 'The agent was revoked: its token no longer works, its leases ended.',
  'lease-revoked': 'The lease was revoked.',
  'allocation-revoked': 'The allocation was revoked.',
  'seats-set': 'The seats were changed.',
  already: 'Nothing to do: it had already ended.',
};

/**
 * The instant a page or download is computed at: now, or `at` (ISO UTC, not in the future), which
 * a page puts in its download links so a download has exactly the page's figures.
 */
function instant(at: unknown): number {
  const now = Date.now();
  if (at === undefined) return now;
  const t = typeof at === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(at) ? Date.parse(at) : Number.NaN;
  if (!Number.isFinite(t)) throw new FieldError('query:at', 'must be an ISO UTC time such as 2024-05-01T08:00:00.000Z');
  if (t > now + 60_000) throw new FieldError('query:at', 'is in the future');
  return t;
}

export default async function pageRoutes(app: FastifyInstance, { ctx }: RouteOptions & { deps: ConsoleDeps }): Promise<void> {
  const { store } = ctx;

  const render = async (page: PageDef, req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply: FastifyReply) => {
    const now = instant(req.query.at);
    const filters = parseFilters(req.query, now, ['notice', 'at']);
    const notice = typeof req.query.notice === 'string' ? NOTICES[req.query.notice] : undefined;
    const data = await page.load({ q: store.q, cfg: ctx.cfg, filters, now, charts: true, pageRows: PAGE_ROWS });
    const session = req.consoleSession!;
    const isAdmin = session.role === 'admin';
    const query = filterQuery(filters);
    // Downloads count what is still open up to the page's instant, so they hold the page's rows exactly.
    const atQuery = filterQuery(filters, { at: new Date(now).toISOString() });
    const html = renderView('page', {
      title: page.title,
      path: page.path,
      nav: PAGES.map((p) => ({ href: p.path + query, title: p.title, current: p === page })),
      who: { name: session.name, role: session.role },
      csrf: session.csrf,
      back: page.path + query,
      filters,
      products: await store.q.products(),
      // Filters the URL sets that this page's figures do not use (the defaults of from and to are not named).
      unapplied: FILTER_KEYS.filter((k) => !page.filters.includes(k) && typeof req.query[k] === 'string' && (req.query[k] as string).trim() !== ''),
      notice,
      notes: data.notes ?? [],
      charts: data.charts,
      tables: data.tables.map((t) => ({
        id: t.id,
        title: t.title,
        note: t.note,
        columns: t.columns,
        total: t.total ?? t.rows.length,
        rows: t.rows.slice(0, PAGE_ROWS).map((r) => t.columns.map((c) => displayCell(r[c.key], c.kind, filters.tz))),
        actions: isAdmin && t.actions ? t.actions.slice(0, PAGE_ROWS) : undefined,
        csv: `/download/${page.slug}/${t.id}.csv${atQuery}`,
        json: `/download/${page.slug}/${t.id}.json${atQuery}`,
      })),
    });
    securityHeaders(reply, false);
    return reply.type('text/html; charset=utf-8').send(html);
  };

  for (const page of PAGES) {
    app.get<{ Querystring: Record<string, unknown> }>(page.path, { config: { auth: 'console', consoleAccess: 'page' } }, (req, reply) =>
      render(page, req, reply),
    );
  }

  app.get<{ Params: { page: string; file: string }; Querystring: Record<string, unknown> }>(
    '/download/:page/:file',
    { config: { auth: 'console', consoleAccess: 'download' } },
    async (req, reply) => {
      const page = pageBySlug(req.params.page);
      if (!page) return consoleError(req, reply, 404, 'not-found', `No console page "${req.params.page}".`, 'path:page');
      const m = /^([a-z0-9-]{1,64})\.(csv|json)$/.exec(req.params.file);
      if (!m) return consoleError(req, reply, 404, 'not-found', 'Download names look like TABLE.csv or TABLE.json.', 'path:file');
      const now = instant(req.query.at);
      const filters: Filters = parseFilters(req.query, now, ['at']);
      const data = await page.load({ q: store.q, cfg: ctx.cfg, filters, now, charts: false });
      const table = data.tables.find((t) => t.id === m[1]);
      if (!table)
        return consoleError(
          req,
          reply,
          404,
          'not-found',
          `Page ${page.slug} has no table "${m[1]}" (tables: ${data.tables.map((t) => t.id).join(', ')}).`,
          'path:file',
        );
      securityHeaders(reply, false);
      const name = `${page.slug}-${table.id}-${filters.from}-${filters.to}.${m[2]}`;
      reply.header('Content-Disposition', `attachment; filename="${name}"`);
      if (m[2] === 'csv') return reply.type('text/csv; charset=utf-8').send(tableCsv(table));
      return reply.type('application/json; charset=utf-8').send(tableJson(table, { page: page.slug, filters, generatedAt: new Date(now).toISOString() }));
    },
  );

  // ---- admin actions -----------------------------------------------------------------------

  const done = (req: FastifyRequest, reply: FastifyReply, fallback: string, notice: string) => {
    const back = localPath(formFields(req).back, fallback);
    const u = new URL(back, 'http://console');
    u.searchParams.set('notice', notice);
    securityHeaders(reply, false);
    return reply.redirect(u.pathname + u.search, 303);
  };
  const checkFields = (req: FastifyRequest, allowed: string[]) => {
    for (const k of Object.keys(formFields(req)))
      if (!['_csrf', 'back', ...allowed].includes(k)) throw new FieldError(`form:${k}`, 'is not a field of this form');
  };
  const action = { config: { auth: 'console' as const, consoleAccess: 'action' as const, adminOnly: true } };
  const outcome = (req: FastifyRequest, reply: FastifyReply, r: 'revoked' | 'already' | 'not-found', what: string, fallback: string, notice: string) => {
    if (r === 'not-found') return consoleError(req, reply, 404, 'not-found', `No ${what} with this id.`, 'path:id');
    req.log.info({ action: notice, by: req.consoleSession!.name, outcome: r }, 'console admin action');
    return done(req, reply, fallback, r === 'already' ? 'already' : notice);
  };

  app.post<{ Params: { id: string } }>('/agents/:id/revoke', action, async (req, reply) => {
    checkFields(req, []);
    return outcome(req, reply, await revokeAgent(store, req.params.id), 'agent', '/agents', 'agent-revoked');
  });

  app.post<{ Params: { id: string } }>('/leases/:id/revoke', action, async (req, reply) => {
    checkFields(req, []);
    return outcome(req, reply, await revokeLease(store, req.params.id), 'lease', '/leases', 'lease-revoked');
  });

  app.post<{ Params: { id: string } }>('/allocations/:id/revoke', action, async (req, reply) => {
    checkFields(req, []);
    if (!/^\d{1,15}$/.test(req.params.id)) throw new FieldError('path:id', 'must be an allocation number');
    return outcome(req, reply, await revokeAllocation(store, Number(req.params.id)), 'allocation', '/leases', 'allocation-revoked');
  });

  app.post<{ Params: { id: string } }>('/products/:id/seats', action, async (req, reply) => {
    checkFields(req, ['seats']);
    const raw = formFields(req).seats;
    if (raw === undefined || raw.trim() === '') throw new FieldError('form:seats', 'is required');
    if (!/^\d{1,9}$/.test(raw.trim())) throw new FieldError('form:seats', 'must be a whole number of seats, 0 or more');
    const p = await store.q.product(req.params.id);
    if (!p) return consoleError(req, reply, 404, 'not-found', 'No product with this id.', 'path:id');
    if (p.seats === null) throw new FieldError('form:seats', `${p.id} is a site license without a seat count`);
    const seats = Number(raw.trim());
    await setSeats(store, p.id, seats);
    req.log.info({ action: 'seats-set', product: p.id, seats, by: req.consoleSession!.name }, 'console admin action');
    return done(req, reply, '/leases', 'seats-set');
  });
}
