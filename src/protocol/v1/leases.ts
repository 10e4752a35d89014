/** Leases and the queue: acquiring, renewing and releasing a seat, and waiting for one. */
import type { FromSchema } from 'json-schema-to-ts';
import { isoTime, type Narrow, type References, shortText, type Wire, type Without } from './wire.js';

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
