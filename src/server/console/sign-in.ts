/**
 * Sign-in and sign-out. The sign-in form carries its own CSRF token (double submit: the same
 * random value in a cookie scoped to /sign-in and in the form), so a page elsewhere cannot sign a
 * browser in with a token of its choosing. A new session is made at every sign-in; the token
 * itself is never stored, logged or sent back.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { consoleError, cookie, localPath, parseCookies, securityHeaders, SESSION_COOKIE, SIGN_IN_COOKIE, formFields, type ConsoleDeps } from './http.js';
import { TokenBuckets } from '../ratelimit.js';
import { newSecret, sameSecret } from './sessions.js';
import { renderView } from './views.js';

const SIGN_IN_FORM_SECONDS = 3600;
/** Sign-in attempts per client address: 30 at once, then 10 a minute (a guessing loop gets nowhere; a typo costs nothing). */
export const SIGN_IN_RATE = { burst: 30, perMinute: 10 };

export default async function signInRoutes(app: FastifyInstance, { ctx, deps }: RouteOptions & { deps: ConsoleDeps }): Promise<void> {
  const cfg = ctx.cfg.console;
  const attempts = new TokenBuckets({ ...SIGN_IN_RATE, maxKeys: 10_000 });

  const form = (
    req: Parameters<typeof consoleError>[0],
    reply: Parameters<typeof consoleError>[1],
    status: number,
    o: { next: string; message?: string; notice?: string },
  ) => {
    const csrf = newSecret();
    securityHeaders(reply, false);
    reply.header('Set-Cookie', cookie(req, SIGN_IN_COOKIE, csrf, { maxAgeSeconds: SIGN_IN_FORM_SECONDS, path: '/sign-in' }));
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(renderView('sign-in', { title: 'Sign in', csrf, enabled: deps.tokens.count > 0, ...o }));
  };

  app.get<{ Querystring: Record<string, string> }>('/sign-in', { config: { auth: 'console', consoleAccess: 'public' } }, async (req, reply) => {
    const q = req.query;
    for (const k of Object.keys(q)) {
      if (k !== 'next' && k !== 'expired')
        return consoleError(req, reply, 400, 'validation-failed', `query:${k} is not a known parameter (next, expired)`, `query:${k}`);
    }
    return form(req, reply, 200, { next: localPath(q.next, '/'), notice: q.expired ? 'Your session has expired: sign in again.' : undefined });
  });

  app.post('/sign-in', { config: { auth: 'console', consoleAccess: 'public' } }, async (req, reply) => {
    const allowed = attempts.take(req.ip, Date.now());
    if (!allowed.ok) {
      reply.header('Retry-After', String(allowed.retryAfterSeconds));
      return consoleError(
        req,
        reply,
        429,
        'rate-limited',
        `Too many sign-in attempts from this address: try again in ${allowed.retryAfterSeconds} s.`,
        'form:token',
      );
    }
    const f = formFields(req);
    for (const k of Object.keys(f)) {
      if (!['_csrf', 'token', 'next'].includes(k))
        return consoleError(req, reply, 400, 'validation-failed', `form:${k} is not a field of the sign-in form`, `form:${k}`);
    }
    const expected = parseCookies(req.headers.cookie).get(SIGN_IN_COOKIE);
    if (!expected || typeof f._csrf !== 'string' || !sameSecret(f._csrf, expected)) {
      return consoleError(req, reply, 403, 'forbidden', 'The sign-in form has no valid CSRF token: load the sign-in page again.', 'form:_csrf');
    }
    const next = localPath(f.next, '/');
    const token = f.token ?? '';
    const who = token.length >= 16 && token.length <= 512 ? deps.tokens.identify(token) : undefined;
    if (!who) {
      req.log.warn({ client: req.ip }, 'console sign-in refused');
      return form(req, reply, 401, { next, message: token ? 'This token is not accepted.' : 'Enter a console token.' });
    }
    // A sign-in replaces the session this browser had.
    const previous = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (previous !== undefined) deps.sessions.end(previous);
    const { id } = deps.sessions.create(who);
    req.log.info({ client: req.ip, consoleUser: who.name, role: who.role }, 'console sign-in');
    securityHeaders(reply, false);
    reply.header('Set-Cookie', [
      cookie(req, SESSION_COOKIE, id, { maxAgeSeconds: cfg.sessionMaxSeconds }),
      cookie(req, SIGN_IN_COOKIE, '', { maxAgeSeconds: 0, path: '/sign-in' }),
    ]);
    return reply.redirect(next, 303);
  });

  app.post('/sign-out', { config: { auth: 'console', consoleAccess: 'action' } }, async (req, reply) => {
    if (req.consoleSessionId) deps.sessions.end(req.consoleSessionId);
    req.log.info({ consoleUser: req.consoleSession?.name }, 'console sign-out');
    securityHeaders(reply, false);
    reply.header('Set-Cookie', cookie(req, SESSION_COOKIE, '', { maxAgeSeconds: 0 }));
    return reply.redirect('/sign-in', 303);
  });
}
