/**
 * Errors as application/problem+json, for every route: validation failures naming the field,
 * body and media-type errors, unknown routes, a busy database (503 with Retry-After, never a 500),
 * and anything unexpected (500, logged, with no stack trace in the answer).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ajvField, problem, sendProblem } from '../problem.js';

type ErrorLike = Error & { validation?: unknown[]; validationContext?: string; code?: string; statusCode?: number };

async function errors(app: FastifyInstance, opts: { bodyLimitBytes: number }): Promise<void> {
  app.setErrorHandler((err: ErrorLike, req, reply) => {
    if (err.validation) {
      const errors = (err.validation as Parameters<typeof ajvField>[0][]).map((e) => ajvField(e, err.validationContext));
      return sendProblem(
        reply,
        problem(400, 'validation-failed', `${errors[0]?.field ?? '/'} ${errors[0]?.message ?? 'is invalid'}`, { field: errors[0]?.field, errors }),
      );
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(
          reply,
          problem(413, 'body-too-large', `The body exceeds the ${opts.bodyLimitBytes}-byte limit; send smaller batches.`, {
            field: '/',
            limitBytes: opts.bodyLimitBytes,
          }),
        );
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(reply, problem(415, 'unsupported-media-type', 'Send the body as application/json.', { field: 'header:content-type' }));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, problem(400, 'invalid-json', 'The body is empty but Content-Type is application/json.', { field: '/' }));
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendProblem(reply, problem(400, 'invalid-json', 'Content-Length does not match the body.', { field: 'header:content-length' }));
      // SQLite shared by several processes: a statement outside a transaction found the write lock
      // held too long (transactions retry themselves and end in STORE_BUSY).
      case 'SQLITE_BUSY':
      case 'SQLITE_BUSY_SNAPSHOT':
      case 'SQLITE_LOCKED':
      case 'STORE_BUSY':
        req.log.warn({ url: req.url, method: req.method }, 'database busy');
        return sendProblem(reply, problem(503, 'unavailable', 'The database is busy; try again.'), { 'Retry-After': '1' });
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
}

export default fp(errors, { name: 'usage-server-errors' });
