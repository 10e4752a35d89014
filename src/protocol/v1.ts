/**
 * Protocol v1 between usage-agent and usage-server: HTTP/1.1 + JSON under `/v1`.
 *
 * One source for both sides: the JSON-schema objects (in ./v1/, one file a record family) are
 * what the server validates with (fastify/ajv) and what the OpenAPI document (./openapi.ts, served at GET /v1/openapi.json) is
 * built from, and the TypeScript type next to each schema is derived from it (json-schema-to-ts's
 * FromSchema, at compile time only), narrowed with {@link Narrow} where the schema says less than
 * the code knows (a problem's `code`, the queue's two states). The records' typed fields come from
 * the field tables the server checks uploads with. Agent and server both use these types, so a
 * field renamed here fails to compile wherever it is written or read.
 * Times are ISO-8601 strings in UTC (`2024-05-01T12:00:00.000Z`).
 *
 * Errors are always `application/problem+json` (RFC 9457) bodies of type {@link Problem}.
 *
 * This file is the one entry point: it re-exports ./v1/ (api: paths, problems, health; enroll;
 * policy; leases and queue; records and upload; wire: how the types are derived) and lists the
 * named schemas.
 */
import { EnrollRequestSchema, EnrollResponseSchema } from './v1/enroll.js';
import { HealthResponseSchema, ProblemSchema } from './v1/api.js';
import {
  HeldLeasesResponseSchema,
  LeaseDeniedSchema,
  LeaseGrantedSchema,
  LeaseQueuedSchema,
  LeaseRequestSchema,
  QueueStatusSchema,
  RenewResponseSchema,
} from './v1/leases.js';
import { PolicyResponseSchema, ProductPolicySchema } from './v1/policy.js';
import { EventsAckResponseSchema, EventsUploadRequestSchema, EventsUploadResponseSchema, UploadRecordSchema } from './v1/records.js';

export * from './v1/api.js';
export * from './v1/enroll.js';
export * from './v1/leases.js';
export * from './v1/policy.js';
export * from './v1/records.js';
export type { Narrow, Present } from './v1/wire.js';

/** All named schemas, for registration with the validator and for the OpenAPI document. */
export const V1_SCHEMAS = [
  ProblemSchema,
  EnrollRequestSchema,
  EnrollResponseSchema,
  ProductPolicySchema,
  PolicyResponseSchema,
  LeaseRequestSchema,
  LeaseGrantedSchema,
  LeaseDeniedSchema,
  LeaseQueuedSchema,
  RenewResponseSchema,
  QueueStatusSchema,
  HeldLeasesResponseSchema,
  UploadRecordSchema,
  EventsUploadRequestSchema,
  EventsUploadResponseSchema,
  EventsAckResponseSchema,
  HealthResponseSchema,
] as const;
