/** Enrollment: an agent trades the enrollment secret for its own token (and record key). */
import { BASE64URL_32_PATTERN } from '../integrity.js';
import { shortText, type Wire } from './wire.js';

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
