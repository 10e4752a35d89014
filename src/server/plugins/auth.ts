/**
 * Authentication, declared by every route in `config.auth`: `agent` (the bearer token from
 * enrollment; the server keeps only its SHA-256 and compares in constant time), `admin` (a token
 * from reports.adminTokens), `console` (the web console's session, checked by the console plugin) or `none`. A route that declares nothing fails at start, so no route is
 * ever open by accident. The check runs first among the route's onRequest hooks, before the body is
 * read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { problem, sendProblem } from '../problem.js';
import type { Store } from '../storage/store.js';
import type { AgentRow } from '../storage/types.js';
import { verifiedClientCertSha256 } from '../tls.js';

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentRow;
  }
  interface FastifyContextConfig {
    /**
     * `agent-renewal`: as `agent`, but a token verified before may come from memory; only for a
     * handler whose own statement refuses a revoked agent (lease renewals). `console`: a web console
     * page, checked by the console's own session hook (src/server/console/session-hook.ts).
     */
    auth?: 'agent' | 'agent-renewal' | 'admin' | 'console' | 'none';
  }
}

export function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** `sha256:<hex>` from the config as it is (usage-server hash-token), a plain token hashed. */
export function adminTokenHash(configured: string): Buffer {
  return configured.startsWith('sha256:') ? Buffer.from(configured.slice('sha256:'.length), 'hex') : sha256(configured);
}

/** How often an agent's last_seen_at is written (per server), and how often the pending ones go out in one batch. */
const TOUCH_EVERY_MS = 60_000;
const TOUCH_FLUSH_MS = 5_000;

type Hook = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;

export interface AuthOptions {
  store: Store;
  adminTokens: readonly string[];
  /** tls.clientCaFile set: an agent enrolled with a client certificate must present that certificate. */
  clientCerts?: boolean;
  /** tls.requireClientCert: an agent enrolled without a client certificate is refused too. */
  requireClientCert?: boolean;
}

async function auth(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const { store } = opts;
  const adminTokens = opts.adminTokens.map(adminTokenHash);
  const wwwAuth = { 'WWW-Authenticate': 'Bearer realm="usage-server"' };
  const bearer = /^Bearer[ ]+([A-Za-z0-9._~+/=-]{1,512})$/i;
  const lastTouch = new Map<string, number>();
  // last_seen_at is written in batches: one statement per 100 agents every few seconds, not a commit per request.
  let pendingTouches = new Set<string>();
  const flushTouches = async () => {
    if (pendingTouches.size === 0) return;
    const ids = [...pendingTouches];
    pendingTouches = new Set();
    try {
      await store.transaction((tx) => tx.touchAgents(ids, new Date().toISOString()));
    } catch (err) {
      app.log.warn({ err }, 'could not record when agents were last seen');
    }
  };
  const touchTimer = setInterval(() => void flushTouches(), TOUCH_FLUSH_MS);
  touchTimer.unref();
  app.addHook('onClose', async () => {
    clearInterval(touchTimer);
    await flushTouches();
  });

  const refuse = (reply: FastifyReply, code: 'token-missing' | 'token-unknown' | 'token-revoked' | 'client-cert-mismatch', detail: string) =>
    sendProblem(reply, problem(401, code, detail, { field: 'header:authorization', action: 'enroll' }), wwwAuth);

  // Callback style: no promise for fastify to settle per request on the hot path.
  const agentHook =
    (mayBeStale: boolean): Hook =>
    (req, reply, done) => {
      const h = req.headers.authorization;
      const m = typeof h === 'string' ? bearer.exec(h) : null;
      if (!m) {
        refuse(reply, 'token-missing', h ? 'Authorization must be "Bearer <agentToken>".' : 'Send Authorization: Bearer <agentToken> (from POST /v1/enroll).');
        return;
      }
      const hash = sha256(m[1]);
      store.agentByTokenHash(hash.toString('hex'), { mayBeStale }).then(
        (row) => {
          if (!row || !timingSafeEqual(Buffer.from(row.token_hash, 'hex'), hash)) {
            refuse(reply, 'token-unknown', 'This agent token is not known to the server; enroll again.');
            return;
          }
          if (row.revoked_at) {
            refuse(reply, 'token-revoked', `This agent was revoked at ${row.revoked_at}; enroll again if it should report.`);
            return;
          }
          if (opts.clientCerts) {
            const presented = verifiedClientCertSha256(req.raw.socket);
            if (row.client_cert_sha256 ? row.client_cert_sha256 !== presented : opts.requireClientCert === true) {
              refuse(
                reply,
                'client-cert-mismatch',
                row.client_cert_sha256
                  ? 'This agent token is bound to the client certificate it enrolled with; present that certificate, or enroll again with the new one.'
                  : 'This agent enrolled without a client certificate, and the server requires one now; enroll again with it.',
              );
              return;
            }
          }
          const now = Date.now();
          if ((lastTouch.get(row.id) ?? 0) + TOUCH_EVERY_MS < now) {
            lastTouch.set(row.id, now);
            pendingTouches.add(row.id);
          }
          req.agent = row;
          done();
        },
        (err: Error) => done(err),
      );
    };

  const authAgent = agentHook(false);
  const authRenewal = agentHook(true);

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
      sendProblem(
        reply,
        problem(401, m ? 'token-unknown' : 'token-missing', 'An admin token from reports.adminTokens is required.', { field: 'header:authorization' }),
      );
      return;
    }
    done();
  };

  app.addHook('onRoute', (r) => {
    const kind = r.config?.auth;
    if (kind === undefined) throw new Error(`route ${r.method} ${r.url} does not declare config.auth`);
    const hook = kind === 'agent' ? authAgent : kind === 'agent-renewal' ? authRenewal : kind === 'admin' ? authAdmin : undefined;
    // onRequest, before the body is read: nothing of an unauthenticated request is parsed, and a
    // route's preParsing hook knows its agent (the upload route starts the integrity check then).
    if (hook) r.onRequest = [hook, ...[r.onRequest ?? []].flat()];
  });
}

/** The 401 for a token found revoked after all (a renewal refused because its agent was revoked). */
export function refuseRevoked(reply: FastifyReply, revokedAt: string): FastifyReply {
  return sendProblem(
    reply,
    problem(401, 'token-revoked', `This agent was revoked at ${revokedAt}; enroll again if it should report.`, {
      field: 'header:authorization',
      action: 'enroll',
    }),
    { 'WWW-Authenticate': 'Bearer realm="usage-server"' },
  );
}

export default fp(auth, { name: 'usage-server-auth' });
