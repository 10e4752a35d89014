/**
 * Protocol v1 between usage-agent and usage-server: HTTP/1.1 + JSON under `/v1`.
 *
 * One source for both sides: the JSON-schema objects below are what the server validates with
 * (fastify/ajv) and what the OpenAPI document (./openapi.ts, served at GET /v1/openapi.json) is
 * built from, and the TypeScript type next to each schema is derived from it (json-schema-to-ts's
 * FromSchema, at compile time only), narrowed with {@link Narrow} where the schema says less than
 * the code knows (a problem's `code`, the queue's two states). The records' typed fields come from
 * the field tables the server checks uploads with. Agent and server both use these types, so a
 * field renamed here fails to compile wherever it is written or read.
 * Times are ISO-8601 strings in UTC (`2024-05-01T12:00:00.000Z`).
 *
 * Errors are always `application/problem+json` (RFC 9457) bodies of type {@link Problem}.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { LICENSE_TYPES } from './event-codes.js';
import { BASE64URL_32_PATTERN } from './integrity.js';

// ---------------------------------------------------------------------------------------------
// Deriving types from the schemas

/**
 * FromSchema gives objects without `additionalProperties: false` an index signature
 * (`[x: string]: unknown`); dropping it (deeply) keeps the compiler's check of unknown fields in
 * object literals. Schemas that allow more (Problem, UploadRecord) are taken as they are.
 */
type Closed<T> = T extends readonly (infer U)[]
  ? Closed<U>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : number extends K ? never : K]: Closed<T[K]> }
    : T;
/** The TypeScript type of a named schema (references resolve to the named schemas below). */
type Wire<S extends JSONSchema> = Closed<FromSchema<S, { references: References }>>;
/** `Omit` that keeps an index signature's neighbours (Omit over `[x: string]` keeps only the index). */
type Without<T, K extends PropertyKey> = { [P in keyof T as P extends K ? never : P]: T[P] };
/**
 * T with some of its fields narrowed (or made present) by N. Each key of N must be a field of T
 * and its type one T's field accepts, so a field renamed in the schema fails here too.
 */
export type Narrow<T, N extends { [K in keyof N]: K extends keyof T ? T[K] : never }> = Without<T, keyof N> & N;
/** Every field present (null where the table allows it, which is every typed field). */
export type Present<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

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
/** A short text; no U+0000 (PostgreSQL text cannot hold it: a 400 naming the field, not a failed insert). */
const shortText = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[^\\u0000]*$' }) as const;

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

export type EnrollRequest = Wire<typeof EnrollRequestSchema>;

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
      description:
        'Key (base64url of 32 random bytes) for the MAC of every record this agent identity uploads (protocol/integrity.ts). Shown once; keep it with the token.',
    },
  },
} as const;

export type EnrollResponse = Wire<typeof EnrollResponseSchema>;

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
  required: ['id', 'name', 'match', 'licenseType', 'seats', 'leaseTtlSeconds', 'renewAfterSeconds', 'graceSeconds', 'offline', 'onDeny', 'queue', 'idle'],
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
    offline: {
      type: 'string',
      enum: [...OFFLINE_BEHAVIOURS],
      description: 'When the server cannot be reached at launch: allow and log (codes 10/11), or deny.',
    },
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

/** `gate`: hold a launch stopped until the lease decision (optional, default false; see the schema). */
export type ProductPolicy = Wire<typeof ProductPolicySchema>;

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

export type PolicyResponse = Wire<typeof PolicyResponseSchema>;

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

export type LeaseRequest = Wire<typeof LeaseRequestSchema>;

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

export type LeaseGranted = Wire<typeof LeaseGrantedSchema>;

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

export type LeaseDenied = Narrow<FromSchema<typeof LeaseDeniedSchema, { references: References }>, { code: 'lease-denied' }>;

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

export type LeaseQueued = Wire<typeof LeaseQueuedSchema>;

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

type QueueStatusFields = Wire<typeof QueueStatusSchema>;
/** The schema's two states: `position` (and `keepaliveSeconds`) while waiting, `lease` once granted. */
export type QueueStatus =
  | Narrow<Without<QueueStatusFields, 'lease'>, { status: 'waiting'; position: number; keepaliveSeconds: number }>
  | Narrow<Without<QueueStatusFields, 'position' | 'keepaliveSeconds'>, { status: 'granted'; lease: LeaseGranted }>;

/**
 * What one lease call comes to on the agent's side: the server's answer, or that it could not be
 * reached (network, 5xx, not enrolled) or refused the request itself (`error`). The uplink client
 * returns these and the enforcer decides on them.
 */
export type AcquireOutcome =
  | { kind: 'granted'; lease: LeaseGranted }
  | { kind: 'queued'; queued: LeaseQueued }
  | { kind: 'denied'; denied: LeaseDenied }
  | { kind: 'unreachable'; error: string }
  | { kind: 'error'; error: string };
/** `gone`: the server no longer has the lease (expired and swept, revoked). */
export type RenewOutcome = { kind: 'renewed'; lease: LeaseGranted } | { kind: 'gone' } | { kind: 'unreachable'; error: string };
/** `gone`: the ticket lost its place (keepalive missed) or is unknown. */
export type QueuePollOutcome = { kind: 'status'; status: QueueStatus } | { kind: 'gone' } | { kind: 'unreachable'; error: string };

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
          leaseId: { type: 'string' },
          product: { type: 'string' },
          user: { type: 'string' },
          host: { type: 'string' },
          pid: { type: 'integer' },
          processStart: isoTime,
          requestId: { type: 'string' },
          grantedAt: isoTime,
          expiresAt: isoTime,
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

export type HeldLeasesResponse = Wire<typeof HeldLeasesResponseSchema>;
export type HeldLease = HeldLeasesResponse['leases'][number];

// ---------------------------------------------------------------------------------------------
// Records uploaded by agents

/** Kinds used by the typed-field tables below; `null` is always accepted for a typed field. */
export type FieldKind = 'string' | 'time' | 'integer' | 'number' | 'boolean';

export const PROCESS_FIELDS = {
  user: 'string',
  uid: 'integer',
  group: 'string',
  gid: 'integer',
  pid: 'integer',
  ppid: 'integer',
  command: 'string',
  exe: 'string',
  start: 'time',
  end: 'time',
  elapsedSeconds: 'number',
  cpuUserSeconds: 'number',
  cpuSystemSeconds: 'number',
  avgRssBytes: 'number',
  maxRssBytes: 'number',
  avgVirtualBytes: 'number',
  readBytes: 'number',
  writeBytes: 'number',
  exitCode: 'integer',
  source: 'string',
  package: 'string',
  packageVersion: 'string',
  packageSource: 'string',
} as const satisfies Record<string, FieldKind>;

export const PROCESS_INTERVAL_FIELDS = {
  ...PROCESS_FIELDS,
  intervalStart: 'time',
  intervalEnd: 'time',
  cpuSeconds: 'number',
} as const satisfies Record<string, FieldKind>;

export const ACTIVITY_FIELDS = {
  user: 'string',
  application: 'string',
  start: 'time',
  end: 'time',
  durationSeconds: 'number',
  breakType: 'string',
  periodType: 'string',
  keyboard: 'integer',
  mouse: 'integer',
  switch: 'integer',
} as const satisfies Record<string, FieldKind>;

export const USAGE_EVENT_FIELDS = {
  code: 'integer',
  product: 'string',
  user: 'string',
  pid: 'integer',
  processStart: 'time',
  leaseId: 'string',
  reason: 'string',
  offline: 'boolean',
} as const satisfies Record<string, FieldKind>;
export const USAGE_EVENT_REQUIRED = ['code', 'product'] as const;

/** Package systems the software audit reads (`software` records' `source`). */
export const SOFTWARE_SOURCES = ['dpkg', 'rpm', 'flatpak', 'snap', 'windows-registry', 'macos-bundles'] as const;
export type SoftwareSourceName = (typeof SOFTWARE_SOURCES)[number];
/** `inventory`: part of a full inventory (first audit of a source); then deltas. */
export const SOFTWARE_CHANGES = ['inventory', 'added', 'removed', 'changed'] as const;

export const SOFTWARE_FIELDS = {
  change: 'string',
  source: 'string',
  name: 'string',
  version: 'string',
  previousVersion: 'string',
  architecture: 'string',
  installTime: 'time',
  publisher: 'string',
  auditId: 'string',
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

/** The TypeScript type of each field kind (what `null`-able typed fields hold when present). */
interface FieldKindType {
  string: string;
  time: string;
  integer: number;
  number: number;
  boolean: boolean;
}
/** The typed fields of a table above: each optional, and null when unknown (as the server accepts them). */
export type FieldsOf<T extends Readonly<Record<string, FieldKind>>> = { -readonly [K in keyof T]?: FieldKindType[T[K]] | null };

/**
 * Envelope common to every record (the agent journal's output): `seq` gap-free per agent from 1,
 * `time` when it happened (ISO-8601, UTC), the integrity fields (protocol/integrity.ts). Any other
 * field may follow.
 */
export type RecordBase = FromSchema<typeof UploadRecordSchema>;
export type ProcessFields = FieldsOf<typeof PROCESS_FIELDS>;
export type ProcessIntervalFields = FieldsOf<typeof PROCESS_INTERVAL_FIELDS>;
/**
 * Process records of licensed and logged products also carry the installed package that owns the
 * executable (the software audit's installed-vs-used reports join on it).
 */
export type ProcessPackageFields = Narrow<
  Present<Pick<ProcessFields, 'package' | 'packageVersion' | 'packageSource'>>,
  { package: string; packageVersion: string; packageSource: 'dpkg' | 'rpm' }
>;
export type ProcessRecord = RecordBase & ProcessFields & { type: 'process' };
export type ProcessIntervalRecord = RecordBase & ProcessIntervalFields & { type: 'process-interval' };
export type ActivityFields = FieldsOf<typeof ACTIVITY_FIELDS>;
export type ActivityRecord = RecordBase & ActivityFields & { type: (typeof ACTIVITY_RECORD_TYPES)[number] };
/** `code`: KeyServer usage-event code 1-30 (see event-codes.ts); `code` and `product` are required. */
export type UsageEventFields = Narrow<FieldsOf<typeof USAGE_EVENT_FIELDS>, { code: number; product: string }>;
export type UsageEventRecord = RecordBase & UsageEventFields & { type: 'usage-event' };
export type SoftwareFields = Narrow<
  Present<FieldsOf<typeof SOFTWARE_FIELDS>>,
  { change: (typeof SOFTWARE_CHANGES)[number]; source: SoftwareSourceName; name: string; version: string; auditId: string }
>;
export type SoftwareRecord = RecordBase & SoftwareFields & { type: 'software' };
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
    mac: { type: 'string', pattern: BASE64URL_32_PATTERN, description: "HMAC-SHA256 of `chain` (and `chainThrough`) with the agent's record key." },
    chainThrough: {
      type: 'string',
      pattern: BASE64URL_32_PATTERN,
      description: 'For a record standing for seq..throughSeq: the chain value the original records reached.',
    },
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

export type EventsUploadRequest = FromSchema<typeof EventsUploadRequestSchema, { references: References }>;

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

export type EventsUploadResponse = Wire<typeof EventsUploadResponseSchema>;

/**
 * 409 body for a batch that leaves a hole; the contiguous prefix (if any) was stored. It has no
 * schema of its own (a Problem with these fields).
 */
export type SeqGapProblem = Narrow<Problem, { code: 'seq-gap'; action: 'resend-from'; expectedSeq: number; receivedSeq: number; ackedThroughSeq: number }>;

export const EventsAckResponseSchema = {
  $id: 'EventsAck',
  type: 'object',
  required: ['ackedThroughSeq'],
  properties: { ackedThroughSeq: { type: 'integer', minimum: 0 } },
} as const;
export type EventsAckResponse = Wire<typeof EventsAckResponseSchema>;

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

/** The schemas others refer to by `$ref: 'Name#'`. */
type References = [typeof ProblemSchema, typeof ProductPolicySchema, typeof LeaseGrantedSchema, typeof UploadRecordSchema];

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
