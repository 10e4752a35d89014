/**
 * The web console, served by usage-server at `/` beside the /v1 API: sign-in with a console token,
 * a server-side session in an HttpOnly SameSite=Strict cookie, pages rendered on the server, CSV
 * and JSON downloads of every table, and the admin actions (revoke, seats) behind a CSRF token.
 *
 * Every console route declares `config.auth: 'console'` and `config.consoleAccess`:
 * - `public`: the sign-in page and the stylesheet;
 * - `page`: needs a session, else a redirect to the sign-in page;
 * - `download`: needs a session, else 401 problem+json;
 * - `action`: a POST that changes something: a session, the session's CSRF token in `_csrf`, a
 *   same-origin Origin header when one is sent, and (`adminOnly`) the admin role; else 401/403.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteOptions } from '../context.js';
import { CONSOLE_CSS } from './assets.js';
import { consoleError, formFields, parseCookies, securityHeaders, SESSION_COOKIE, type ConsoleDeps } from './http.js';
import pageRoutes from './routes.js';
import { ConsoleTokens, sameSecret, SessionStore, type Session } from './sessions.js';
import signInRoutes from './sign-in.js';
import { FieldError } from './filters.js';

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: Session;
    consoleSessionId?: string;
  }
  interface FastifyContextConfig {
    consoleAccess?: 'public' | 'page' | 'download' | 'action';
    /** An action only the admin role may take. */
    adminOnly?: boolean;
  }
}

/** The longest URL a sign-in redirect carries back (`next`). */
const MAX_NEXT = 1024;

export default async function consolePlugin(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const cfg = ctx.cfg.console;
  const deps: ConsoleDeps = { tokens: new ConsoleTokens(ctx.cfg), sessions: new SessionStore(cfg.sessionIdleSeconds * 1000, cfg.sessionMaxSeconds * 1000) };

  // HTML forms; a field given twice is refused (no guessing which one counts).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    const out: Record<string, string> = Object.create(null);
    for (const [k, v] of new URLSearchParams(body as string)) {
      if (Object.hasOwn(out, k)) {
        done(new FieldError(`form:${k}`, 'is given more than once'), undefined);
        return;
      }
      out[k] = v;
    }
    done(null, { ...out });
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof FieldError) return consoleError(req, reply, err.status, err.status === 403 ? 'forbidden' : 'validation-failed', err.message, err.field);
    throw err;
  });

  const sessionOf = (req: FastifyRequest): { session?: Session; id?: string; expired?: boolean } => {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id === undefined) return {};
    const r = deps.sessions.use(id);
    if ('session' in r) return { session: r.session, id };
    return { expired: 'expired' in r };
  };

  const toSignIn = (req: FastifyRequest, reply: FastifyReply, expired: boolean) => {
    securityHeaders(reply, false);
    // Back to this URL after sign-in, unless it is too long to carry in a Location header (then its path, or /).
    const path = req.url.split('?')[0];
    const next = req.method !== 'GET' ? '/' : req.url.length <= MAX_NEXT ? req.url : path.length <= MAX_NEXT ? path : '/';
    return reply.redirect(`/sign-in?next=${encodeURIComponent(next)}${expired ? '&expired=1' : ''}`, 303);
  };

  const sameOrigin = (req: FastifyRequest): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return origin === `${req.protocol}://${req.host}`;
  };

  app.addHook('onRoute', (r) => {
    if (r.config?.auth !== 'console') throw new Error(`console route ${r.method} ${r.url} must declare config.auth 'console'`);
    const access = r.config.consoleAccess;
    if (!access) throw new Error(`console route ${r.method} ${r.url} does not declare config.consoleAccess`);
    if (access === 'public') return;
    const check = async (req: FastifyRequest, reply: FastifyReply) => {
      const s = sessionOf(req);
      if (!s.session) {
        if (access === 'download')
          return consoleError(
            req,
            reply,
            401,
            s.expired ? 'token-unknown' : 'token-missing',
            s.expired ? 'The console session has expired: sign in again.' : 'Sign in to the console first.',
            `cookie:${SESSION_COOKIE}`,
          );
        return toSignIn(req, reply, s.expired === true);
      }
      req.consoleSession = s.session;
      req.consoleSessionId = s.id;
      if (access !== 'action') return;
      const fields = formFields(req);
      if (!sameOrigin(req)) return consoleError(req, reply, 403, 'forbidden', 'The form was posted from another site.', 'header:origin');
      if (typeof fields._csrf !== 'string' || !sameSecret(fields._csrf, s.session.csrf)) {
        return consoleError(req, reply, 403, 'forbidden', 'The form has no valid CSRF token: reload the page and submit again.', 'form:_csrf');
      }
      if (r.config?.adminOnly && s.session.role !== 'admin') {
        return consoleError(req, reply, 403, 'forbidden', `Signed in as ${s.session.name} with the viewer role: only the admin role may do this.`, 'role');
      }
    };
    r.preHandler = [check, ...[r.preHandler ?? []].flat()];
  });

  app.get('/assets/console.css', { config: { auth: 'console', consoleAccess: 'public' } }, async (_req, reply) => {
    securityHeaders(reply, true);
    return reply.header('Cache-Control', 'public, max-age=3600').type('text/css; charset=utf-8').send(CONSOLE_CSS);
  });

  await app.register(signInRoutes, { ctx, deps });
  await app.register(pageRoutes, { ctx, deps });
}
