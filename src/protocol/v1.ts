/**
 * Protocol v1 between usage-agent and usage-server: HTTP/1.1 + JSON under `/v1`.
 *
 * One source for both sides: the JSON-schema objects below are what the server validates with
 * (fastify/ajv) and what the OpenAPI document (./openapi.ts, served at GET /v1/openapi.json) is
 * built from; the TypeScript types next to each schema are aligned with it by hand and are what the
 * agent's uplink imports. Times are ISO-8601 strings in UTC (`2024-05-01T12:00:00.000Z`).
 *
 * Errors are always `application/problem+json` (RFC 9457) bodies of type {@link Problem}.
 */
import { LICENSE_TYPES, type LicenseType } from './event-codes.js';
import { BASE64URL_32_PATTERN } from './integrity.js';

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

// ---------------------------------------------------------------------------------------------
// Shared schema fragments

const isoTime = { type: 'string', format: 'date-time', maxLength: 64 } as const;
const shortText = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

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

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  field?: string;
  errors?: Array<{ field: string; message: string }>;
  /** What the client should do next: `enroll` again (401), `acquire` again (lease gone), `resend-from` expectedSeq. */
  action?: 'enroll' | 'acquire' | 'resend-from';
  [extra: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Enrollment

export const EnrollRequestSchema = {
  $id: 'EnrollRequest',
  type: 'object',
  required: ['enrollSecret', 'host'],
  additionalProperties: false,
  properties: {
    enrollSecret: shortText(512),
    host: { ...shortText(256), description: 'Workstation identity (computer name; may include hardware ids).' },
    agentVersion: shortText(64),
    os: shortText(128),
    nextSeq: {
      type: 'integer',
      minimum: 1,
      description:
        'Seq of the first record this agent identity will upload (default 1). An agent that re-enrolls with a journal already in progress passes its next unsent seq.',
    },
    chainHead: {
      type: 'string',
      pattern: BASE64URL_32_PATTERN,
      description:
        'Integrity chain value of the record at nextSeq-1 (base64url of 32 bytes; 32 zero bytes when nextSeq is 1), so the server verifies the chain of this identity from there. Sent by agents that chain their records.',
    },
  },
} as const;

export interface EnrollRequest {
  enrollSecret: string;
  host: string;
  agentVersion?: string;
  os?: string;
  nextSeq?: number;
  chainHead?: string;
}

export const EnrollResponseSchema = {
  $id: 'EnrollResponse',
  type: 'object',
  required: ['agentId', 'agentToken', 'ackedThroughSeq'],
  properties: {
    agentId: { type: 'string' },
    agentToken: { type: 'string', description: 'Send as `Authorization: Bearer <agentToken>`. Shown once; stored hashed.' },
    ackedThroughSeq: { type: 'integer', minimum: 0 },
    recordKey: {
      type: 'string',
      description: 'Key (base64url of 32 random bytes) for the MAC of every record this agent identity uploads (protocol/integrity.ts). Shown once; keep it with the token.',
    },
  },
} as const;

export interface EnrollResponse {
  agentId: string;
  agentToken: string;
  ackedThroughSeq: number;
  recordKey?: string;
}

// ---------------------------------------------------------------------------------------------
// Policy

export const OFFLINE_BEHAVIOURS = ['allow', 'deny'] as const;
export type OfflineBehaviour = (typeof OFFLINE_BEHAVIOURS)[number];
export const DENY_ENFORCEMENTS = ['notify', 'terminate', 'suspend'] as const;
export type DenyEnforcement = (typeof DENY_ENFORCEMENTS)[number];
export const IDLE_ACTIONS = ['none', 'notify', 'release', 'suspend', 'terminate'] as const;
export type IdleAction = (typeof IDLE_ACTIONS)[number];

export const ProductPolicySchema = {
  $id: 'ProductPolicy',
  type: 'object',
  required: [
    'id', 'name', 'match', 'licenseType', 'seats', 'leaseTtlSeconds', 'renewAfterSeconds', 'graceSeconds',
    'offline', 'onDeny', 'queue', 'idle',
  ],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    match: {
      type: 'object',
      required: ['executables', 'paths'],
      properties: {
        executables: { type: 'array', items: { type: 'string' }, description: 'Executable base names, matched case-insensitively.' },
        paths: { type: 'array', items: { type: 'string' }, description: 'Glob patterns on the full executable path (`*` within a segment, `**` across).' },
      },
    },
    licenseType: { type: 'string', enum: [...LICENSE_TYPES] },
    seats: { type: ['integer', 'null'], minimum: 0, description: 'Concurrent seats; null means unlimited (site licenses).' },
    leaseTtlSeconds: { type: 'number' },
    renewAfterSeconds: { type: 'number' },
    graceSeconds: { type: 'number', description: 'How long the program may keep running after renewals start failing (server unreachable).' },
    offline: { type: 'string', enum: [...OFFLINE_BEHAVIOURS], description: 'When the server cannot be reached at launch: allow and log (codes 10/11), or deny.' },
    onDeny: { type: 'string', enum: [...DENY_ENFORCEMENTS] },
    queue: { type: 'boolean', description: 'Whether a denied launch may wait in the queue.' },
    denyMessage: { type: 'string' },
    gate: {
      type: 'boolean',
      description:
        'Stop (SIGSTOP) a launch the moment the agent sees it and let it continue only once the lease is granted (or onDeny is notify); a refused launch with onDeny terminate is killed without running further. Optional; absent means false (agents before this field ignore it).',
    },
    idle: {
      type: 'object',
      required: ['afterSeconds', 'action'],
      properties: {
        afterSeconds: { type: ['number', 'null'] },
        action: { type: 'string', enum: [...IDLE_ACTIONS] },
      },
    },
  },
} as const;

export interface ProductPolicy {
  id: string;
  name: string;
  match: { executables: string[]; paths: string[] };
  licenseType: LicenseType;
  seats: number | null;
  leaseTtlSeconds: number;
  renewAfterSeconds: number;
  graceSeconds: number;
  offline: OfflineBehaviour;
  onDeny: DenyEnforcement;
  queue: boolean;
  denyMessage?: string;
  /** Hold a launch stopped until the lease decision (optional, default false; see the schema). */
  gate?: boolean;
  idle: { afterSeconds: number | null; action: IdleAction };
}

export const PolicyResponseSchema = {
  $id: 'PolicyResponse',
  type: 'object',
  required: ['version', 'generatedAt', 'products', 'queue', 'upload'],
  properties: {
    version: { type: 'string', description: 'Same value as the ETag header (without quotes).' },
    generatedAt: isoTime,
    pollIntervalSeconds: { type: 'number' },
    products: { type: 'array', items: { $ref: 'ProductPolicy#' } },
    queue: {
      type: 'object',
      required: ['keepaliveSeconds', 'maxWaitSeconds'],
      properties: { keepaliveSeconds: { type: 'number' }, maxWaitSeconds: { type: 'number' } },
    },
    upload: {
      type: 'object',
      required: ['maxRecordsPerBatch', 'maxBodyBytes'],
      properties: { maxRecordsPerBatch: { type: 'integer' }, maxBodyBytes: { type: 'integer' } },
    },
  },
} as const;

export interface PolicyResponse {
  version: string;
  generatedAt: string;
  pollIntervalSeconds: number;
  products: ProductPolicy[];
  queue: { keepaliveSeconds: number; maxWaitSeconds: number };
  upload: { maxRecordsPerBatch: number; maxBodyBytes: number };
}

// ---------------------------------------------------------------------------------------------
// Leases and queue

export const LeaseRequestSchema = {
  $id: 'LeaseRequest',
  type: 'object',
  required: ['product', 'user', 'host', 'pid', 'processStart', 'requestId'],
  additionalProperties: false,
  properties: {
    product: shortText(128),
    user: shortText(256),
    host: shortText(256),
    pid: { type: 'integer', minimum: 0, maximum: 4294967295 },
    processStart: isoTime,
    requestId: { ...shortText(128), description: 'Client-chosen id; retrying with the same id never takes a second seat.' },
    queue: { type: 'boolean', description: 'Wait in the product queue instead of being denied (202).' },
  },
} as const;

export interface LeaseRequest {
  product: string;
  user: string;
  host: string;
  pid: number;
  processStart: string;
  requestId: string;
  queue?: boolean;
}

export const LeaseGrantedSchema = {
  $id: 'LeaseGranted',
  type: 'object',
  required: ['leaseId', 'product', 'expiresAt', 'renewAfter', 'ttlSeconds', 'renewAfterSeconds', 'graceSeconds', 'serverTime', 'existing'],
  properties: {
    leaseId: { type: 'string' },
    product: { type: 'string' },
    expiresAt: isoTime,
    renewAfter: { ...isoTime, description: 'Renew at or after this time (TTL/3 after the last grant or renewal).' },
    ttlSeconds: { type: 'number' },
    renewAfterSeconds: { type: 'number', description: 'Same as renewAfter, relative to now; immune to client clock skew.' },
    graceSeconds: { type: 'number' },
    serverTime: isoTime,
    existing: { type: 'boolean', description: 'True when a retry or reconnect was matched to a lease already held (no second seat taken).' },
  },
} as const;

export interface LeaseGranted {
  leaseId: string;
  product: string;
  expiresAt: string;
  renewAfter: string;
  ttlSeconds: number;
  renewAfterSeconds: number;
  graceSeconds: number;
  serverTime: string;
  existing: boolean;
}

/** 409 body (a Problem with code `lease-denied`). */
export const LeaseDeniedSchema = {
  $id: 'LeaseDenied',
  allOf: [
    { $ref: 'Problem#' },
    {
      type: 'object',
      required: ['reason', 'product', 'inUse', 'seats', 'message', 'queueAvailable'],
      properties: {
        reason: { type: 'string', enum: ['all-seats-in-use', 'no-seats'] },
        product: { type: 'string' },
        inUse: { type: 'integer' },
        seats: { type: ['integer', 'null'] },
        message: { type: 'string', description: 'Text to show the user.' },
        queueAvailable: { type: 'boolean' },
      },
    },
  ],
} as const;

export interface LeaseDenied extends Problem {
  code: 'lease-denied';
  reason: 'all-seats-in-use' | 'no-seats';
  product: string;
  inUse: number;
  seats: number | null;
  message: string;
  queueAvailable: boolean;
}

export const LeaseQueuedSchema = {
  $id: 'LeaseQueued',
  type: 'object',
  required: ['ticket', 'product', 'position', 'keepaliveSeconds', 'maxWaitSeconds', 'existing'],
  properties: {
    ticket: { type: 'string' },
    product: { type: 'string' },
    position: { type: 'integer', minimum: 1, description: '1 = next to be granted.' },
    keepaliveSeconds: { type: 'number', description: 'Poll GET /v1/queue/{ticket} at least this often or lose the place.' },
    maxWaitSeconds: { type: 'number' },
    existing: { type: 'boolean' },
  },
} as const;

export interface LeaseQueued {
  ticket: string;
  product: string;
  position: number;
  keepaliveSeconds: number;
  maxWaitSeconds: number;
  existing: boolean;
}

export const RenewResponseSchema = { ...LeaseGrantedSchema, $id: 'RenewResponse' } as const;
export type RenewResponse = LeaseGranted;

export const RELEASE_REASONS = ['quit', 'shutdown', 'crashed', 'idle', 'user'] as const;
export type ReleaseReason = (typeof RELEASE_REASONS)[number];

export const QueueStatusSchema = {
  $id: 'QueueStatus',
  type: 'object',
  required: ['status', 'ticket', 'product'],
  properties: {
    status: { type: 'string', enum: ['waiting', 'granted'] },
    ticket: { type: 'string' },
    product: { type: 'string' },
    position: { type: 'integer', description: 'Present while waiting.' },
    keepaliveSeconds: { type: 'number' },
    lease: { $ref: 'LeaseGranted#', description: 'Present once granted (the dequeue).' },
  },
} as const;

export type QueueStatus =
  | { status: 'waiting'; ticket: string; product: string; position: number; keepaliveSeconds: number }
  | { status: 'granted'; ticket: string; product: string; lease: LeaseGranted };

export const HeldLeasesResponseSchema = {
  $id: 'HeldLeases',
  type: 'object',
  required: ['leases', 'tickets'],
  properties: {
    leases: {
      type: 'array',
      items: {
        type: 'object',
        required: ['leaseId', 'product', 'user', 'host', 'pid', 'processStart', 'requestId', 'grantedAt', 'expiresAt'],
        properties: {
          leaseId: { type: 'string' }, product: { type: 'string' }, user: { type: 'string' }, host: { type: 'string' },
          pid: { type: 'integer' }, processStart: isoTime, requestId: { type: 'string' }, grantedAt: isoTime, expiresAt: isoTime,
        },
      },
    },
    tickets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['ticket', 'product', 'position', 'requestId'],
        properties: { ticket: { type: 'string' }, product: { type: 'string' }, position: { type: 'integer' }, requestId: { type: 'string' } },
      },
    },
  },
} as const;

export interface HeldLease {
  leaseId: string;
  product: string;
  user: string;
  host: string;
  pid: number;
  processStart: string;
  requestId: string;
  grantedAt: string;
  expiresAt: string;
}
export interface HeldLeasesResponse {
  leases: HeldLease[];
  tickets: Array<{ ticket: string; product: string; position: number; requestId: string }>;
}

// ---------------------------------------------------------------------------------------------
// Records uploaded by agents

/** Kinds used by the typed-field tables below; `null` is always accepted for a typed field. */
export type FieldKind = 'string' | 'time' | 'integer' | 'number' | 'boolean';

export const PROCESS_FIELDS = {
  user: 'string', uid: 'integer', group: 'string', gid: 'integer', pid: 'integer', ppid: 'integer',
  command: 'string', exe: 'string', start: 'time', end: 'time', elapsedSeconds: 'number',
  cpuUserSeconds: 'number', cpuSystemSeconds: 'number', avgRssBytes: 'number', maxRssBytes: 'number',
  avgVirtualBytes: 'number', readBytes: 'number', writeBytes: 'number', exitCode: 'integer', source: 'string',
  package: 'string', packageVersion: 'string', packageSource: 'string',
} as const satisfies Record<string, FieldKind>;

export const PROCESS_INTERVAL_FIELDS = {
  ...PROCESS_FIELDS,
  intervalStart: 'time', intervalEnd: 'time', cpuSeconds: 'number',
} as const satisfies Record<string, FieldKind>;

export const ACTIVITY_FIELDS = {
  user: 'string', application: 'string', start: 'time', end: 'time', durationSeconds: 'number',
  breakType: 'string', periodType: 'string', keyboard: 'integer', mouse: 'integer', switch: 'integer',
} as const satisfies Record<string, FieldKind>;

export const USAGE_EVENT_FIELDS = {
  code: 'integer', product: 'string', user: 'string', pid: 'integer', processStart: 'time',
  leaseId: 'string', reason: 'string', offline: 'boolean',
} as const satisfies Record<string, FieldKind>;
export const USAGE_EVENT_REQUIRED = ['code', 'product'] as const;

/** Package systems the software audit reads (`software` records' `source`). */
export const SOFTWARE_SOURCES = ['dpkg', 'rpm', 'flatpak', 'snap', 'windows-registry', 'macos-bundles'] as const;
export type SoftwareSourceName = (typeof SOFTWARE_SOURCES)[number];
/** `inventory`: part of a full inventory (first audit of a source); then deltas. */
export const SOFTWARE_CHANGES = ['inventory', 'added', 'removed', 'changed'] as const;

export const SOFTWARE_FIELDS = {
  change: 'string', source: 'string', name: 'string', version: 'string', previousVersion: 'string',
  architecture: 'string', installTime: 'time', publisher: 'string', auditId: 'string',
} as const satisfies Record<string, FieldKind>;

/** Typed fields per known record type. Unknown types are accepted and stored generically. */
export const RECORD_TYPE_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldKind>>>> = {
  process: PROCESS_FIELDS,
  'process-interval': PROCESS_INTERVAL_FIELDS,
  break: ACTIVITY_FIELDS,
  work: ACTIVITY_FIELDS,
  'input-events': ACTIVITY_FIELDS,
  'usage-event': USAGE_EVENT_FIELDS,
  software: SOFTWARE_FIELDS,
};
export const PROCESS_RECORD_TYPES = ['process', 'process-interval'] as const;
export const ACTIVITY_RECORD_TYPES = ['break', 'work', 'input-events'] as const;

/** Envelope common to every record (the agent journal's output). */
export interface RecordBase {
  /** Gap-free per agent, starting at 1. */
  seq: number;
  type: string;
  /** When it happened (ISO-8601, UTC). */
  time: string;
  host?: string;
  /** Integrity fields (protocol/integrity.ts), base64url of 32 bytes each. */
  chain?: string;
  mac?: string;
  chainThrough?: string;
  [field: string]: unknown;
}
type Nullable<T> = { [K in keyof T]?: T[K] | null };
export interface ProcessFields {
  user: string; uid: number; group: string; gid: number; pid: number; ppid: number; command: string; exe: string;
  start: string; end: string; elapsedSeconds: number; cpuUserSeconds: number; cpuSystemSeconds: number;
  avgRssBytes: number; maxRssBytes: number; avgVirtualBytes: number; readBytes: number; writeBytes: number;
  exitCode: number; source: string;
}
/**
 * Process records of licensed and logged products also carry the installed package that owns the
 * executable (the software audit's installed-vs-used reports join on it).
 */
export interface ProcessPackageFields {
  package: string;
  packageVersion: string;
  packageSource: 'dpkg' | 'rpm';
}
export interface ProcessRecord extends RecordBase, Nullable<ProcessFields & ProcessPackageFields> { type: 'process' }
export interface ProcessIntervalRecord extends RecordBase, Nullable<ProcessFields & ProcessPackageFields & { intervalStart: string; intervalEnd: string; cpuSeconds: number }> {
  type: 'process-interval';
}
export interface ActivityFields {
  user: string; application: string; start: string; end: string; durationSeconds: number;
  breakType: string; periodType: string; keyboard: number; mouse: number; switch: number;
}
export interface ActivityRecord extends RecordBase, Nullable<ActivityFields> { type: 'break' | 'work' | 'input-events' }
export interface UsageEventRecord extends RecordBase {
  type: 'usage-event';
  /** KeyServer usage-event code 1-30 (see event-codes.ts). */
  code: number;
  product: string;
  user?: string | null;
  pid?: number | null;
  processStart?: string | null;
  leaseId?: string | null;
  reason?: string | null;
  offline?: boolean | null;
}
export interface SoftwareFields {
  change: (typeof SOFTWARE_CHANGES)[number];
  source: SoftwareSourceName;
  name: string;
  version: string;
  previousVersion: string | null;
  architecture: string | null;
  installTime: string | null;
  publisher: string | null;
  auditId: string;
}
export interface SoftwareRecord extends RecordBase, SoftwareFields {
  type: 'software';
}
/** Any record; unknown types (`notification`, `journal-drop`, ...) are stored generically. */
export type UploadRecord = ProcessRecord | ProcessIntervalRecord | ActivityRecord | UsageEventRecord | SoftwareRecord | RecordBase;

export const MAX_RECORDS_PER_BATCH = 5000;

export const UploadRecordSchema = {
  $id: 'UploadRecord',
  type: 'object',
  required: ['seq', 'type', 'time'],
  additionalProperties: true,
  description:
    'Envelope of a journal record; type-specific fields are additional properties. Known types (process, process-interval, break, work, input-events, usage-event, software) have typed fields checked by the server; others are stored as they are.',
  properties: {
    seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    type: { type: 'string', minLength: 1, maxLength: 64 },
    time: isoTime,
    host: { type: ['string', 'null'], maxLength: 256 },
    chain: { type: 'string', pattern: BASE64URL_32_PATTERN, description: 'SHA-256 chain value over the previous one and this record (protocol/integrity.ts).' },
    mac: { type: 'string', pattern: BASE64URL_32_PATTERN, description: 'HMAC-SHA256 of `chain` (and `chainThrough`) with the agent\'s record key.' },
    chainThrough: { type: 'string', pattern: BASE64URL_32_PATTERN, description: 'For a record standing for seq..throughSeq: the chain value the original records reached.' },
  },
} as const;

export const EventsUploadRequestSchema = {
  $id: 'EventsUploadRequest',
  type: 'object',
  required: ['records'],
  additionalProperties: false,
  properties: {
    records: { type: 'array', maxItems: MAX_RECORDS_PER_BATCH, items: { $ref: 'UploadRecord#' } },
  },
} as const;

export interface EventsUploadRequest {
  records: UploadRecord[];
}

export const EventsUploadResponseSchema = {
  $id: 'EventsUploadResponse',
  type: 'object',
  required: ['ackedThroughSeq', 'stored', 'duplicates'],
  properties: {
    ackedThroughSeq: { type: 'integer', minimum: 0, description: 'Every seq 1..ackedThroughSeq of this agent is stored.' },
    stored: { type: 'integer' },
    duplicates: { type: 'integer' },
  },
} as const;

export interface EventsUploadResponse {
  ackedThroughSeq: number;
  stored: number;
  duplicates: number;
}

/** 409 body for a batch that leaves a hole; the contiguous prefix (if any) was stored. */
export interface SeqGapProblem extends Problem {
  code: 'seq-gap';
  action: 'resend-from';
  expectedSeq: number;
  receivedSeq: number;
  ackedThroughSeq: number;
}

export const EventsAckResponseSchema = {
  $id: 'EventsAck',
  type: 'object',
  required: ['ackedThroughSeq'],
  properties: { ackedThroughSeq: { type: 'integer', minimum: 0 } },
} as const;
export interface EventsAckResponse {
  ackedThroughSeq: number;
}

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
export interface HealthResponse {
  status: 'ok' | 'degraded';
  version: string;
  protocol: string;
  time: string;
  uptimeSeconds: number;
}

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

/** JSON schema of the typed fields of one record type (for documentation). */
export function recordTypeSchema(type: string): Record<string, unknown> {
  const fields = RECORD_TYPE_FIELDS[type] ?? {};
  const props: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(fields)) {
    const t = kind === 'time' ? 'string' : kind;
    props[name] = kind === 'time' ? { type: [t, 'null'], format: 'date-time' } : { type: [t, 'null'] };
  }
  if (type === 'usage-event') {
    props.code = { type: 'integer', minimum: 1, maximum: 30 };
    props.product = { type: 'string', minLength: 1 };
  }
  return {
    allOf: [{ $ref: '#/components/schemas/UploadRecord' }],
    type: 'object',
    properties: { type: { const: type }, ...props },
    ...(type === 'usage-event' ? { required: [...USAGE_EVENT_REQUIRED] } : {}),
  };
}
