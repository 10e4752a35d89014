/**
 * HTTP details of the console: cookies, security headers, local-path checks, and error answers
 * (an HTML page for a browser, problem+json for anything else).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProblemCode } from '../../protocol/v1.js';
import { problem, sendProblem } from '../problem.js';
import { FieldError } from './filters.js';
import type { ConsoleTokens, SessionStore } from './sessions.js';
import { renderView } from './views.js';

export const SESSION_COOKIE = 'usage_console';
export const SIGN_IN_COOKIE = 'usage_console_signin';

/** Cookies of a request; a malformed pair is skipped, never an error. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      continue;
    }
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** TLS as the request arrived (X-Forwarded-Proto counts only from a trusted proxy: fastify's trustProxy). */
export const isTls = (req: FastifyRequest): boolean => req.protocol === 'https';

export function cookie(req: FastifyRequest, name: string, value: string, opts: { maxAgeSeconds: number; path?: string }): string {
  const parts = [`${name}=${value}`, `Path=${opts.path ?? '/'}`, `Max-Age=${Math.max(0, Math.floor(opts.maxAgeSeconds))}`, 'HttpOnly', 'SameSite=Strict'];
  if (isTls(req)) parts.push('Secure');
  return parts.join('; ');
}

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(reply: FastifyReply, cacheable: boolean): void {
  reply.header('Content-Security-Policy', CSP);
  reply.header('X-Frame-Options', 'DENY');
  reply.header('X-Content-Type-Options', 'nosniff');
  // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on its own form posts.
  reply.header('Referrer-Policy', 'same-origin');
  reply.header('Cross-Origin-Opener-Policy', 'same-origin');
  if (!cacheable) reply.header('Cache-Control', 'no-store');
}

/** A path on this server (`/x?y`), not a URL elsewhere: for `next` and `back` fields. */
export function localPath(v: unknown, fallback: string): string {
  if (typeof v !== 'string' || v.length > 2000 || !v.startsWith('/') || v.startsWith('//') || /[\\\s]/.test(v)) return fallback;
  return v;
}

const wantsHtml = (req: FastifyRequest) => /text\/html/.test(String(req.headers.accept ?? ''));

/** An error answer: the error page for a browser, problem+json otherwise; both name the field. */
export function consoleError(req: FastifyRequest, reply: FastifyReply, status: number, code: ProblemCode, detail: string, field?: string): FastifyReply {
  securityHeaders(reply, false);
  if (!wantsHtml(req)) return sendProblem(reply, problem(status, code, detail, field ? { field } : {}));
  const html = renderView('error', { title: `${status} ${code}`, detail, field, back: '/' });
  return reply.code(status).type('text/html; charset=utf-8').send(html);
}

export interface ConsoleDeps {
  tokens: ConsoleTokens;
  sessions: SessionStore;
}

/** Form fields of a POST: a flat object of strings (urlencoded forms; a JSON object of strings is accepted too). */
export function formFields(req: FastifyRequest): Record<string, string> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new FieldError('form', 'must be an HTML form (application/x-www-form-urlencoded)');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new FieldError(`form:${k}`, 'must be a text field');
    out[k] = v;
  }
  return out;
}
