/**
 * The usage-server HTTP application: `createServer` opens the store, builds the leases and
 * registers the plugins (errors, authentication), the route plugins of protocol v1 and the web
 * console. The CLI listens.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { V1_SCHEMAS } from '../protocol/v1.js';
import type { ServerConfig } from './config.js';
import consolePlugin from './console/index.js';
import type { ServerContext } from './context.js';
import { guardedJsonParser } from './json-body.js';
import { upsertProducts } from './leases/admin.js';
import { Leases } from './leases/index.js';
import { LazyChildLogger } from './log.js';
import { IntegrityVerifier } from './integrity-verifier.js';
import { Metrics } from './metrics.js';
import authPlugin from './plugins/auth.js';
import { answerConnect, clientErrorHandler, frameworkErrorHandler } from './plugins/client-errors.js';
import errorsPlugin from './plugins/errors.js';
import enrollRoutes from './routes/enroll.js';
import eventRoutes from './routes/events.js';
import leaseRoutes from './routes/leases.js';
import policyRoutes from './routes/policy.js';
import queueRoutes from './routes/queue.js';
import reportRoutes from './routes/reports.js';
import { startDelivery } from './reports/delivery.js';
import softwareRoutes from './routes/software.js';
import systemRoutes from './routes/system.js';
import { openStore, type Store } from './storage/store.js';
import { problem, sendProblem } from './problem.js';
import { clientCertProblem, verifiedClientCertSha256, type TlsMaterial } from './tls.js';

export interface ServerHandle {
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  store: Store;
  leases: Leases;
  metrics: Metrics;
  config: ServerConfig;
  /** The HTTP API's routes (method + fastify URL, documented in OpenAPI), in registration order; HEAD routes fastify adds for GET are left out. */
  routes: Array<{ method: string; url: string }>;
  /** The web console's routes (config.auth 'console': pages for people, not part of the API). */
  consoleRoutes: Array<{ method: string; url: string }>;
  /** Serve new TLS handshakes with this certificate and key (SIGHUP); throws for a plain-HTTP server. */
  reloadTls(material: TlsMaterial): void;
  /** Close HTTP, answer pending long-polls, stop the sweep, close the database. */
  close(): Promise<void>;
}

/** fastify's ajv options: validate, never coerce or fill in (test/server/upload-check.test.ts uses the same). */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true } as const;

export interface CreateOptions {
  /** HTTPS with this certificate and key (tls.ts loadTlsMaterial); plain HTTP without. */
  tls?: TlsMaterial;
}

export async function createServer(cfg: ServerConfig, logger: Logger, opts: CreateOptions = {}): Promise<ServerHandle> {
  const store = await openStore(cfg.db, { poolSize: cfg.postgres.poolSize, log: logger, backgroundCheckpoints: true });
  try {
    return await build(cfg, logger, store, opts);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

async function build(cfg: ServerConfig, logger: Logger, store: Store, opts: CreateOptions): Promise<ServerHandle> {
  // The config file is authoritative for the products it names.
  await upsertProducts(store, cfg.products, 'config');
  const metrics = new Metrics();
  const leases = new Leases(store, cfg, metrics, logger);
  const verifier = new IntegrityVerifier((err) => logger.error({ err }, 'the integrity worker failed; uploads are verified on the main thread'));
  const ctx: ServerContext = { cfg, store, leases, metrics, verifier };

  const hstsMaxAge = cfg.tls?.hstsMaxAgeSeconds ?? 0;
  /** Strict-Transport-Security on every HTTPS answer (errors and requests that reach no route too). */
  const hsts = opts.tls && hstsMaxAge > 0 ? `max-age=${hstsMaxAge}` : undefined;
  const app = Fastify({
    ...(opts.tls ? { https: opts.tls.options } : {}),
    loggerInstance: logger,
    childLoggerFactory: (parent, bindings, opts) => new LazyChildLogger(parent as Logger, bindings, opts) as unknown as Logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: cfg.limits.bodyLimitBytes,
    trustProxy: cfg.trustProxy as FastifyServerOptions['trustProxy'],
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: AJV_OPTIONS },
    clientErrorHandler,
    // Framework errors (a path that is not valid percent-encoding) come before any hook.
    frameworkErrors: hsts
      ? (err, req, reply) => {
          reply.header('strict-transport-security', hsts);
          frameworkErrorHandler(err, req, reply);
        }
      : frameworkErrorHandler,
  }) as unknown as ServerHandle['app'];
  app.server.on('connect', answerConnect);
  // A client that half-closes after its request still wants the answer (RFC 9112 9.6); by default
  // node's HTTP server drops the request in flight when the FIN arrives (the fuzz suite found it).
  // With this set it answers, then closes; an idle half-closed connection is still ended at once.
  (app.server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  app.removeContentTypeParser('text/plain');
  // Same protection against prototype poisoning as fastify's parser, without its regex scans of
  // bodies that cannot carry poison (json-body.ts).
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, guardedJsonParser(app.getDefaultJsonParser('error', 'error')));
  const routes: Array<{ method: string; url: string }> = [];
  const consoleRoutes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => {
    const list = r.config?.auth === 'console' ? consoleRoutes : routes;
    for (const method of [r.method].flat()) if (method !== 'HEAD') list.push({ method, url: r.url });
  });
  for (const s of V1_SCHEMAS) app.addSchema(s);
  if (hsts) {
    // First of the hooks, so answers that a later hook (auth, rate limits) or the not-found
    // handler gives carry it too. Through fastify's reply headers, not res.setHeader on the raw
    // response: a header set there sends node's writeHead down its merge path, which validated
    // and copied every header again (0.6 us a request, 6 % of what TLS costs per renewal).
    app.addHook('onRequest', (_req, reply, done) => {
      reply.header('strict-transport-security', hsts);
      done();
    });
  }
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observeRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  if (cfg.tls?.requireClientCert) {
    // Before body parsing and authentication: without a client certificate from tls.clientCaFile,
    // every request is answered 403 with the reason (the TLS layer lets the connection through so
    // that the agent learns why instead of seeing a closed connection).
    app.addHook('onRequest', (req, reply, done) => {
      if (verifiedClientCertSha256(req.raw.socket) !== null) return done();
      sendProblem(reply, problem(403, 'client-cert-required', `A client certificate is required: ${clientCertProblem(req.raw.socket)}.`));
    });
  }

  await app.register(errorsPlugin, { bodyLimitBytes: cfg.limits.bodyLimitBytes });
  await app.register(authPlugin, {
    store,
    adminTokens: cfg.reports.adminTokens,
    clientCerts: cfg.tls?.clientCaFile !== undefined,
    requireClientCert: cfg.tls?.requireClientCert,
  });
  for (const routesPlugin of [enrollRoutes, policyRoutes, leaseRoutes, queueRoutes, eventRoutes, systemRoutes, reportRoutes, softwareRoutes]) {
    await app.register(routesPlugin, { ctx });
  }
  // The web console at / (its own session auth, CSRF and security headers; see console/index.ts).
  await app.register(consolePlugin, { ctx });

  // Upkeep at start and hourly: partitions ahead, retention.
  const maintain = async () => {
    try {
      const removed = await store.maintain(Date.now(), cfg.retention);
      if (removed.length > 0) logger.info({ removed }, 'retention removed old records');
    } catch (err) {
      logger.error({ err }, 'database upkeep failed');
    }
  };
  await maintain();
  const upkeep = setInterval(() => void maintain(), 3_600_000);
  upkeep.unref();

  // Scheduled reports and alerts (nothing runs unless the config has some).
  const delivery = startDelivery(store, cfg.reports, logger);

  app.addHook('preClose', async () => {
    clearInterval(upkeep);
    await delivery.stop();
    await leases.stop();
  });
  app.addHook('onClose', async () => {
    await verifier.close();
    await store.close();
  });

  await leases.start();
  await app.ready();
  const reloadTls = (material: TlsMaterial) => {
    if (!opts.tls) throw new Error('the server was started without TLS');
    // New handshakes get the new certificate; established connections keep theirs.
    (app.server as unknown as TlsServer).setSecureContext(material.options);
  };
  return { app, store, leases, metrics, config: cfg, routes, consoleRoutes, reloadTls, close: () => app.close() };
}
