/** Policy: what the server tells agents about each managed product. */
import { LICENSE_TYPES } from '../event-codes.js';
import { isoTime, type Wire } from './wire.js';

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
