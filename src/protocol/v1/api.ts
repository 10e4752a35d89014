/**
 * The HTTP surface of protocol v1: its version, the paths of every endpoint, the problem body every
 * error is (RFC 9457, `application/problem+json`), and the health answer.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { isoTime, type Narrow, type Wire } from './wire.js';

export const PROTOCOL_VERSION = 'v1';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Base of the `type` URI of every problem body; the suffix is {@link ProblemCode}. */
export const PROBLEM_TYPE_BASE = 'https://usage-agent.dev/problems/';

/** Paths of every endpoint, so clients never hand-build them. */
export const V1_PATHS = {
  enroll: '/v1/enroll',
  policy: '/v1/policy',
  leases: '/v1/leases',
  lease: (id: string) => `/v1/leases/${encodeURIComponent(id)}`,
  renew: (id: string) => `/v1/leases/${encodeURIComponent(id)}/renew`,
  queueTicket: (ticket: string) => `/v1/queue/${encodeURIComponent(ticket)}`,
  events: '/v1/events',
  eventsAck: '/v1/events/ack',
  health: '/v1/health',
  openapi: '/v1/openapi.json',
  reportUsage: '/v1/reports/usage',
  reportUsageLog: '/v1/reports/usage/log',
  reportSoftware: '/v1/reports/software',
  reportSoftwareProducts: '/v1/reports/software/products',
  reportSoftwareReclaim: '/v1/reports/software/reclaim',
  reportSoftwareInventory: '/v1/reports/software/inventory',
  reportSoftwareHistory: '/v1/reports/software/history',
  metrics: '/metrics',
} as const;

export const ProblemSchema = {
  $id: 'Problem',
  type: 'object',
  description:
    'RFC 9457 problem details. `code` is the stable machine-readable reason; `field` names the offending request field as a JSON pointer into the body (or `header:authorization`, `query:wait`, `path:id`).',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    field: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
    action: { type: 'string', enum: ['enroll', 'acquire', 'resend-from'] },
  },
  additionalProperties: true,
} as const;

/** Stable problem codes. */
export type ProblemCode =
  | 'validation-failed'
  | 'invalid-json'
  | 'body-too-large'
  | 'unsupported-media-type'
  | 'not-found'
  | 'method-not-allowed'
  | 'malformed-request'
  | 'headers-too-large'
  | 'request-timeout'
  | 'token-missing'
  | 'token-unknown'
  | 'token-revoked'
  | 'client-cert-mismatch'
  | 'client-cert-required'
  | 'enroll-secret-invalid'
  | 'unknown-product'
  | 'lease-denied'
  | 'lease-gone'
  | 'ticket-gone'
  | 'seq-gap'
  | 'forbidden'
  | 'rate-limited'
  | 'internal-error'
  | 'unavailable';

/**
 * A problem body; more fields may follow (`additionalProperties`). `action`: what the client should
 * do next: `enroll` again (401), `acquire` again (lease gone), `resend-from` expectedSeq.
 */
export type Problem = Narrow<FromSchema<typeof ProblemSchema>, { code: ProblemCode }>;

export const HealthResponseSchema = {
  $id: 'Health',
  type: 'object',
  required: ['status', 'version', 'time', 'uptimeSeconds'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    version: { type: 'string' },
    protocol: { type: 'string' },
    time: isoTime,
    uptimeSeconds: { type: 'number' },
  },
} as const;
export type HealthResponse = Wire<typeof HealthResponseSchema>;
