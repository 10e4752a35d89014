/** application/problem+json bodies (RFC 9457) and the mapping of fastify/ajv errors onto them. */
import type { FastifyReply } from 'fastify';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, type Problem, type ProblemCode } from '../protocol/v1.js';

const TITLES: Record<ProblemCode, string> = {
  'validation-failed': 'Invalid request',
  'invalid-json': 'Malformed JSON body',
  'body-too-large': 'Request body too large',
  'unsupported-media-type': 'Unsupported content type',
  'not-found': 'Not found',
  'method-not-allowed': 'Method not allowed',
  'malformed-request': 'Malformed HTTP request',
  'headers-too-large': 'Request headers too large',
  'request-timeout': 'Request timeout',
  'token-missing': 'Agent token missing',
  'token-unknown': 'Agent token not recognised',
  'token-revoked': 'Agent token revoked',
  'client-cert-mismatch': 'Client certificate not the one this agent enrolled with',
  'client-cert-required': 'Client certificate required',
  'enroll-secret-invalid': 'Enrollment secret not accepted',
  'unknown-product': 'Unknown product',
  'lease-denied': 'Lease denied',
  'lease-gone': 'Lease gone',
  'ticket-gone': 'Queue ticket gone',
  'seq-gap': 'Sequence gap in upload',
  forbidden: 'Forbidden',
  'rate-limited': 'Too many requests',
  'internal-error': 'Internal server error',
  unavailable: 'Service unavailable',
};

export function problem(status: number, code: ProblemCode, detail?: string, extra: Record<string, unknown> = {}): Problem {
  const p: Problem = { type: PROBLEM_TYPE_BASE + code, title: TITLES[code], status, code };
  if (detail !== undefined) p.detail = detail;
  return Object.assign(p, extra);
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** JSON pointer of the offending field, naming missing and unknown properties themselves. */
export function ajvField(e: AjvError, context: string | undefined): { field: string; message: string } {
  let path = e.instancePath ?? '';
  let message = e.message ?? 'is invalid';
  const p = e.params ?? {};
  if (typeof p.missingProperty === 'string') {
    path += '/' + p.missingProperty;
    message = 'is required';
  } else if (typeof p.additionalProperty === 'string') {
    path += '/' + p.additionalProperty;
    message = 'is not a known field';
  } else if (e.keyword === 'enum' && Array.isArray(p.allowedValues)) {
    message = `must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (context && context !== 'body') {
    const prefix = context === 'querystring' ? 'query' : context === 'params' ? 'path' : context;
    return { field: `${prefix}:${path.replace(/^\//, '') || '(all)'}`, message };
  }
  return { field: path || '/', message };
}

/** Send a problem+json answer (with extra headers such as Retry-After or WWW-Authenticate). */
export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}
