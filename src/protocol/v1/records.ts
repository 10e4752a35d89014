/**
 * Records uploaded by agents: the typed fields of each known record type (the tables the server
 * checks uploads with, and the record types derive from), the upload and acknowledgement bodies.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { BASE64URL_32_PATTERN } from '../integrity.js';
import type { Problem } from './api.js';
import { isoTime, type Narrow, type Present, type References, type Wire } from './wire.js';

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
