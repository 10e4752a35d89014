/**
 * Requests that never reach a route still get an answer, as problem+json: a request line or
 * headers node's parser refuses (400), headers over the limit (431), a client too slow to send its
 * request (408), and CONNECT, which node hands to a 'connect' listener instead of the router and
 * would otherwise close with no response (405); a path fastify's router cannot decode (400).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE } from '../../protocol/v1.js';
import { problem, sendProblem } from '../problem.js';

function raw(socket: Duplex, status: number, reason: string, body: object, extra: Record<string, string> = {}): void {
  if (socket.destroyed || !socket.writable) return;
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  socket.end(`${head}\r\n\r\n${text}`);
}

/** fastify's `clientErrorHandler`: the request could not be parsed. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return raw(socket, 408, 'Request Timeout', problem(408, 'request-timeout', 'The request was not received in time.'));
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return raw(socket, 431, 'Request Header Fields Too Large', problem(431, 'headers-too-large', 'The request headers are too large.', { field: 'headers' }));
  return raw(
    socket,
    400,
    'Bad Request',
    problem(400, 'malformed-request', 'The request line or headers could not be parsed as HTTP/1.1.', { field: 'request-line' }),
  );
}

/** node's 'connect' event (a CONNECT request): this is not a proxy. */
export function answerConnect(_req: IncomingMessage, socket: Duplex): void {
  raw(socket, 405, 'Method Not Allowed', problem(405, 'method-not-allowed', 'CONNECT is not supported: usage-server is not a proxy.', { field: 'method' }), {
    Allow: 'GET, POST, DELETE',
  });
}

/**
 * fastify's `frameworkErrors`: errors of its router before any route or hook runs (a malformed
 * percent-encoding in the path, `FST_ERR_BAD_URL`), which it would otherwise answer as plain JSON.
 */
export function frameworkErrorHandler(err: Error & { code?: string }, _req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_BAD_URL') {
    void sendProblem(reply, problem(400, 'validation-failed', 'The request path is not valid percent-encoding.', { field: 'path' }));
    return;
  }
  void sendProblem(reply, problem(400, 'validation-failed', err.message, { field: 'path' }));
}
