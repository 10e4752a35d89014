/**
 * The usage-server HTTP application: fastify routes for protocol v1, agent authentication,
 * problem+json errors, metrics. `createServer` wires config, store and services; the CLI listens.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { buildOpenApi } from '../protocol/openapi.js';
import {
  PROBLEM_CONTENT_TYPE, PROTOCOL_VERSION, RELEASE_REASONS, V1_SCHEMAS,
  type EnrollRequest, type EnrollResponse, type LeaseRequest, type PolicyResponse, type Problem, type ReleaseReason,
} from '../protocol/v1.js';
import { EventCode } from '../protocol/event-codes.js';
import { enrollmentSecrets, type ServerConfig } from './config.js';
import { VerifiedTokens } from './auth.js';
import { walSync } from './wal-sync.js';
import { checkUpload, ingest } from './ingest.js';
import { guardedJsonParser } from './json-body.js';
import { LeaseService, newId } from './leases.js';
import { LazyChildLogger } from './log.js';
import { Metrics } from './metrics.js';
import { ajvField, problem } from './problem.js';
import { TokenBuckets } from './ratelimit.js';
import { logToCsv, REPORT_PERIODS, summariesToCsv, usageReport, type ReportPeriod } from './reports.js';
import { openDatabase, Store, type AgentRow } from './store.js';
import { SERVER_VERSION } from './version.js';

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentRow;
  }
  interface FastifyContextConfig {
    auth?: 'agent' | 'admin' | 'none';
  }
}

export interface ServerHandle {
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  store: Store;
  leases: LeaseService;
  metrics: Metrics;
  config: ServerConfig;
  /** Every route registered (method + fastify URL), in registration order; HEAD routes fastify adds for GET are left out. */
  routes: Array<{ method: string; url: string }>;
  /** Close HTTP, answer pending long-polls, stop the sweep, close the database. */
  close(): Promise<void>;
}

export function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Seed products declared in the config file (the file is authoritative for the products it names). */
export function seedProducts(store: Store, cfg: ServerConfig): void {
  store.db.transaction(() => {
    for (const p of cfg.products) store.upsertProduct(p, 'config');
  })();
}

function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}

/** fastify's ajv options: validate, never coerce or fill in (test/server/upload-check.test.ts uses the same). */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true } as const;

export async function createServer(cfg: ServerConfig, logger: Logger): Promise<ServerHandle> {
  const db = openDatabase(cfg.db);
  const store = new Store(db);
  const durable = walSync(cfg.db);
  seedProducts(store, cfg);
  const metrics = new Metrics();
  const leases = new LeaseService(store, cfg, metrics, logger);
  const secrets = enrollmentSecrets(cfg).map(sha256);
  const adminTokens = cfg.reports.adminTokens.map(sha256);
  const openapi = buildOpenApi(SERVER_VERSION);
  const openapiJson = JSON.stringify(openapi);

  const app = Fastify({
    loggerInstance: logger,
    childLoggerFactory: (parent, bindings, opts) => new LazyChildLogger(parent as Logger, bindings, opts) as unknown as Logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: cfg.limits.bodyLimitBytes,
    trustProxy: cfg.trustProxy as FastifyServerOptions['trustProxy'],
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: AJV_OPTIONS },
  });
  app.removeContentTypeParser('text/plain');
  // Same protection against prototype poisoning as fastify's parser, without its regex scans of
  // bodies that cannot carry poison (json-body.ts).
  app.addContentTypeParser('application/json', { parseAs: 'string' }, guardedJsonParser(app.getDefaultJsonParser('error', 'error')));
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
    // Authentication runs first among the route's preHandlers; every route says which it needs.
    const auth = r.config?.auth;
    if (auth === undefined) throw new Error(`route ${r.method} ${r.url} does not declare config.auth`);
    const hook = auth === 'agent' ? authAgent : auth === 'admin' ? authAdmin : undefined;
    if (hook) r.preHandler = [hook, ...[r.preHandler ?? []].flat()];
  });
  for (const s of V1_SCHEMAS) app.addSchema(s);

  // ---- errors ------------------------------------------------------------------------------
  app.setErrorHandler((err: Error & { validation?: unknown[]; validationContext?: string; code?: string; statusCode?: number }, req, reply) => {
    if (err.validation) {
      const errors = (err.validation as Parameters<typeof ajvField>[0][]).map((e) => ajvField(e, err.validationContext));
      return sendProblem(reply, problem(400, 'validation-failed', `${errors[0]?.field ?? '/'} ${errors[0]?.message ?? 'is invalid'}`, { field: errors[0]?.field, errors }));
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(reply, problem(413, 'body-too-large', `The body exceeds the ${cfg.limits.bodyLimitBytes}-byte limit; send smaller batches.`, { field: '/', limitBytes: cfg.limits.bodyLimitBytes }));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(reply, problem(415, 'unsupported-media-type', 'Send the body as application/json.', { field: 'header:content-type' }));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, problem(400, 'invalid-json', 'The body is empty but Content-Type is application/json.', { field: '/' }));
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendProblem(reply, problem(400, 'invalid-json', 'Content-Length does not match the body.', { field: 'header:content-length' }));
    }
    const status = err.statusCode ?? 500;
    if (status === 400 && (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON|Unexpected|prototype/i.test(err.message))) {
      return sendProblem(reply, problem(400, 'invalid-json', 'The body is not valid JSON.', { field: '/' }));
    }
    if (status >= 400 && status < 500) {
      return sendProblem(reply, problem(status, status === 404 ? 'not-found' : status === 405 ? 'method-not-allowed' : 'validation-failed', err.message));
    }
    req.log.error({ err, url: req.url, method: req.method }, 'request failed');
    return sendProblem(reply, problem(500, 'internal-error', 'The server could not complete the request; it has been logged.'));
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem(404, 'not-found', `No route ${req.method} ${req.url.split('?')[0]}.`)));

  app.addHook('onResponse', (req, reply, done) => {
    metrics.observeRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  // ---- authentication ----------------------------------------------------------------------
  // Route-level hooks in callback style (added by the onRoute hook above): no promise per request.
  type Hook = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;
  const wwwAuth = { 'WWW-Authenticate': 'Bearer realm="usage-server"' };
  const bearer = /^Bearer[ ]+([A-Za-z0-9._~+/=-]{1,512})$/i;
  // Tokens that verified, valid while the database is unchanged by anyone else (see auth.ts).
  const verified = new VerifiedTokens<AgentRow>();
  const lastTouch = new Map<string, number>();
  const authAgent: Hook = (req, reply, done) => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? bearer.exec(h) : null;
    if (!m) {
      sendProblem(reply, problem(401, 'token-missing', h ? 'Authorization must be "Bearer <agentToken>".' : 'Send Authorization: Bearer <agentToken> (from POST /v1/enroll).', { field: 'header:authorization', action: 'enroll' }), wwwAuth);
      return;
    }
    const token = m[1];
    const version = store.version();
    let agent = verified.get(token, version);
    if (!agent) {
      const hash = sha256(token);
      const row = store.s.agentByHash.get(hash.toString('hex'));
      if (!row || !timingSafeEqual(Buffer.from(row.token_hash, 'hex'), hash)) {
        sendProblem(reply, problem(401, 'token-unknown', 'This agent token is not known to the server; enroll again.', { field: 'header:authorization', action: 'enroll' }), wwwAuth);
        return;
      }
      if (row.revoked_at) {
        sendProblem(reply, problem(401, 'token-revoked', `This agent was revoked at ${row.revoked_at}; enroll again if it should report.`, { field: 'header:authorization', action: 'enroll' }), wwwAuth);
        return;
      }
      verified.set(token, row, version);
      agent = row;
    }
    const now = Date.now();
    if ((lastTouch.get(agent.id) ?? 0) + 60_000 < now) {
      lastTouch.set(agent.id, now);
      store.s.touchAgent.run(new Date(now).toISOString(), agent.id);
    }
    req.agent = agent;
    done();
  };
  const authAdmin: Hook = (req, reply, done) => {
    if (adminTokens.length === 0) {
      sendProblem(reply, problem(404, 'not-found', 'Reports over HTTP are disabled: set reports.adminTokens in the server config.'));
      return;
    }
    const m = /^Bearer[ ]+(\S{1,512})$/i.exec(req.headers.authorization ?? '');
    const given = sha256(m?.[1] ?? '');
    let ok = false;
    for (const t of adminTokens) ok = timingSafeEqual(t, given) || ok;
    if (!m || !ok) {
      sendProblem(reply, problem(401, m ? 'token-unknown' : 'token-missing', 'An admin token from reports.adminTokens is required.', { field: 'header:authorization' }));
      return;
    }
    done();
  };

  const idParams = (name: string) => ({
    type: 'object',
    required: [name],
    properties: { [name]: { type: 'string', minLength: 1, maxLength: 128 } },
  });

  // ---- routes ------------------------------------------------------------------------------
  // Per client address, before the body is read: a secret-guessing loop or a runaway re-enroll loop gets 429.
  const rl = cfg.enrollment.rateLimit;
  const enrollBuckets = rl.enabled ? new TokenBuckets({ burst: rl.burst, perMinute: rl.perMinute }) : null;
  const enrollRateLimit = async (req: FastifyRequest, reply: FastifyReply) => {
    const r = enrollBuckets?.take(req.ip, Date.now());
    if (!r || r.ok) return;
    metrics.inc('usage_server_enrollments_total', { outcome: 'rate-limited' });
    return sendProblem(
      reply,
      problem(429, 'rate-limited', `Too many enrollments from ${req.ip}; retry in ${r.retryAfterSeconds} s.`, { retryAfterSeconds: r.retryAfterSeconds }),
      { 'Retry-After': String(r.retryAfterSeconds) },
    );
  };

  app.post<{ Body: EnrollRequest }>('/v1/enroll', { schema: { body: { $ref: 'EnrollRequest#' } }, config: { auth: 'none' }, onRequest: enrollRateLimit }, async (req, reply) => {
    const given = sha256(req.body.enrollSecret);
    let ok = false;
    for (const s of secrets) ok = timingSafeEqual(s, given) || ok;
    if (!ok) {
      metrics.inc('usage_server_enrollments_total', { outcome: 'refused' });
      store.writeServerEvent({ time: Date.now(), code: EventCode.block, host: req.body.host, reason: 'enroll-secret' });
      return sendProblem(reply, problem(403, 'enroll-secret-invalid', secrets.length === 0 ? 'Enrollment is disabled: no enrollment secrets are configured.' : 'The enrollment secret was not accepted.', { field: '/enrollSecret' }));
    }
    const agentId = newId('ag').slice(0, 25);
    const agentToken = 'uat_' + randomBytes(32).toString('base64url');
    const now = new Date();
    const acked = (req.body.nextSeq ?? 1) - 1;
    store.db.transaction(() => {
      store.s.insertAgent.run(agentId, req.body.host, sha256(agentToken).toString('hex'), req.body.agentVersion ?? null, req.body.os ?? null, now.toISOString(), now.toISOString(), acked);
      store.writeServerEvent({ time: now.getTime(), code: EventCode.issued, agentId, host: req.body.host, reason: 'enrolled' });
    })();
    metrics.inc('usage_server_enrollments_total', { outcome: 'enrolled' });
    req.log.info({ agentId, host: req.body.host }, 'agent enrolled');
    const body: EnrollResponse = { agentId, agentToken, ackedThroughSeq: acked };
    return reply.code(201).send(body);
  });

  const policyFor = (): { body: PolicyResponse; etag: string } => {
    const products = leases.allProducts().map((p) => p.policy);
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
    const { body, etag } = policyFor();
    reply.header('ETag', etag).header('Cache-Control', 'no-cache');
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) return reply.code(304).send();
    return body;
  });

  app.post<{ Body: LeaseRequest }>('/v1/leases', { schema: { body: { $ref: 'LeaseRequest#' } }, config: { auth: 'agent' } }, async (req, reply) => {
    const r = leases.acquire(req.agent!, req.body);
    switch (r.status) {
      case 404:
        return sendProblem(reply, problem(404, 'unknown-product', `No product "${req.body.product}" is configured on this server; refresh the policy.`, { field: '/product' }));
      case 422:
        return sendProblem(reply, problem(422, 'validation-failed', 'This requestId was already used for a different product or process; use a new requestId per acquire.', { field: '/requestId' }));
      case 409:
        return sendProblem(reply, r.body);
      default:
        return reply.code(r.status).send(r.body);
    }
  });

  app.get('/v1/leases', { config: { auth: 'agent' } }, async (req) => leases.held(req.agent!));

  // The hot path: a synchronous handler (no promise to settle before the reply is written).
  app.post<{ Params: { id: string } }>('/v1/leases/:id/renew', { schema: { params: idParams('id') }, config: { auth: 'agent' } }, (req, reply) => {
    const b = req.body as unknown;
    if (b !== undefined && b !== null) {
      if (typeof b !== 'object' || Array.isArray(b)) {
        sendProblem(reply, problem(400, 'validation-failed', 'The body must be empty or {}.', { field: '/' }));
        return;
      }
      const k = Object.keys(b)[0];
      if (k !== undefined) {
        sendProblem(reply, problem(400, 'validation-failed', `/${k} is not a known field`, { field: `/${k}`, errors: [{ field: `/${k}`, message: 'is not a known field' }] }));
        return;
      }
    }
    const r = leases.renew(req.agent!, req.params.id);
    if (!r) sendProblem(reply, problem(404, 'lease-gone', 'This lease is no longer held (released, expired or revoked); acquire again or stop the program.', { field: 'path:id', action: 'acquire', leaseId: req.params.id }));
    else reply.send(r);
  });

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
      const r = leases.release(req.agent!, req.params.id, req.query.reason);
      if (r === 'not-found') return sendProblem(reply, problem(404, 'not-found', 'No such lease for this agent.', { field: 'path:id' }));
      return reply.code(204).send();
    },
  );

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
    const r = leases.cancel(req.agent!, req.params.ticket);
    if (r === 'not-found') return sendProblem(reply, problem(404, 'not-found', 'No such queue ticket for this agent.', { field: 'path:ticket' }));
    return reply.code(204).send();
  });

  // The body is checked by checkUpload (upload-check.ts), not by fastify's ajv: the same schema
  // (EventsUploadRequest), tested against ajv, in one pass with the typed fields and cheaper dates.
  app.post('/v1/events', { config: { auth: 'agent' } }, async (req, reply) => {
    const checked = checkUpload(req.body, cfg.limits.maxRecordsPerBatch);
    if (!checked.ok) {
      const errors = checked.errors;
      return sendProblem(reply, problem(400, 'validation-failed', `${errors[0].field} ${errors[0].message}`, { field: errors[0].field, errors }));
    }
    const r = ingest(store, metrics, req.agent!.id, checked.upload);
    // Answer only once the commit is on disk (wal-sync.ts): the agent forgets what is acknowledged.
    try {
      await durable.sync();
    } catch (err) {
      req.log.error({ err }, 'could not flush the database to disk');
      return sendProblem(reply, problem(503, 'unavailable', 'The records could not be confirmed on disk; send the batch again.'), { 'Retry-After': '5' });
    }
    if (!r.ok) {
      return sendProblem(
        reply,
        problem(409, 'seq-gap', `Expected seq ${r.expectedSeq} but the batch continues with ${r.receivedSeq}; records through ${r.ackedThroughSeq} are stored. Resend from ${r.expectedSeq}.`, {
          field: '/records', action: 'resend-from', expectedSeq: r.expectedSeq, receivedSeq: r.receivedSeq, ackedThroughSeq: r.ackedThroughSeq, stored: r.stored, duplicates: r.duplicates,
        }),
      );
    }
    return { ackedThroughSeq: r.ackedThroughSeq, stored: r.stored, duplicates: r.duplicates };
  });

  app.get('/v1/events/ack', { config: { auth: 'agent' } }, async (req) => {
    const ackedThroughSeq = store.s.agentById.get(req.agent!.id)!.acked_seq;
    await durable.sync();
    return { ackedThroughSeq };
  });

  const startedAt = Date.now();
  const ping = store.db.prepare('SELECT 1');
  app.get('/v1/health', { config: { auth: 'none' } }, async (_req, reply) => {
    let dbOk = true;
    try {
      ping.get();
    } catch {
      dbOk = false;
    }
    const body = { status: dbOk ? 'ok' : 'degraded', version: SERVER_VERSION, protocol: PROTOCOL_VERSION, time: new Date().toISOString(), uptimeSeconds: (Date.now() - startedAt) / 1000 };
    return reply.code(dbOk ? 200 : 503).send(body);
  });

  app.get('/v1/openapi.json', { config: { auth: 'none' } }, async (_req, reply) => reply.type('application/json').send(openapiJson));

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
  type ReportQs = { from: string; to: string; format?: 'json' | 'csv'; product?: string; period?: ReportPeriod };
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
      const r = usageReport(store.db, { from: q.from, to: q.to, product: q.product, periods: [period], now: Date.now() });
      if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(summariesToCsv(r.summaries));
      return { from: q.from, to: q.to, period, end: r.end, rows: r.summaries };
    },
  );

  app.get<{ Querystring: ReportQs }>(
    '/v1/reports/usage/log',
    { schema: { querystring: reportQuery({}) }, config: { auth: 'admin' } },
    async (req, reply) => {
      const q = req.query;
      const bad = badRange(reply, q);
      if (bad) return bad;
      const r = usageReport(store.db, { from: q.from, to: q.to, product: q.product, periods: [], now: Date.now() });
      if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(logToCsv(r.log));
      return { from: q.from, to: q.to, end: r.end, rows: r.log };
    },
  );

  if (cfg.metrics.enabled) {
    app.get('/metrics', { config: { auth: 'none' } }, async (_req, reply) => {
      const held = store.s.liveLeaseCounts.all();
      const waiting = store.s.waitingCounts.all();
      const allocations = store.s.liveAllocationCounts.all();
      const products = leases.allProducts();
      const agents = store.db.prepare('SELECT (revoked_at IS NULL) AS active, count(*) AS n FROM agents GROUP BY 1').all() as Array<{ active: number; n: number }>;
      const byProduct = <T extends { product_id: string }>(rows: T[], f: (r: T) => number) =>
        products.map((p) => ({ labels: { product: p.row.id }, value: (() => { const r = rows.find((x) => x.product_id === p.row.id); return r ? f(r) : 0; })() }));
      const text = metrics.render([
        { name: 'usage_server_leases_held', help: 'Live leases, by product.', values: byProduct(held, (r) => r.leases) },
        { name: 'usage_server_seats_in_use', help: 'Seats in use (distinct user+host holders, or live allocations), by product.', values: products.map((p) => ({ labels: { product: p.row.id }, value: (p.spec.licenseType === 'leased' || p.spec.licenseType === 'node-locked' ? allocations.find((a) => a.product_id === p.row.id)?.n : held.find((h) => h.product_id === p.row.id)?.seats) ?? 0 })) },
        { name: 'usage_server_seats', help: 'Configured seats, by product (-1 = unlimited).', values: products.map((p) => ({ labels: { product: p.row.id }, value: p.policy.seats ?? -1 })) },
        { name: 'usage_server_queue_length', help: 'Tickets waiting, by product.', values: byProduct(waiting, (r) => r.n) },
        { name: 'usage_server_agents', help: 'Enrolled agents, by state.', values: [{ labels: { state: 'active' }, value: agents.find((a) => a.active === 1)?.n ?? 0 }, { labels: { state: 'revoked' }, value: agents.find((a) => a.active === 0)?.n ?? 0 }] },
      ]);
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
    });
  }

  app.addHook('preClose', async () => {
    leases.stop();
  });
  app.addHook('onClose', async () => {
    db.close();
  });

  leases.start();
  await app.ready();
  return { app, store, leases, metrics, config: cfg, routes, close: () => app.close() };
}
