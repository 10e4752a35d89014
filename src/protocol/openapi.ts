/**
 * OpenAPI 3.1 description of protocol v1, built from the same JSON-schema objects the server
 * validates with (./v1.ts). Served by usage-server at GET /v1/openapi.json, and committed as
 * ./openapi.json (`npm run openapi` regenerates it; test/server/openapi.test.ts fails on drift).
 */
import { EVENT_CODE_TABLE, LICENSE_TYPES } from './event-codes.js';
import { ACTIVITY_RECORD_TYPES, PROCESS_RECORD_TYPES, RELEASE_REASONS, V1_SCHEMAS, recordTypeSchema } from './v1.js';

/** Rewrite fastify-style `$ref: 'Name#'` to OpenAPI component refs and drop `$id`. */
function toComponent(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toComponent);
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(node)) {
      if (k === '$id') continue;
      if (k === '$ref' && typeof val === 'string' && val.endsWith('#')) out[k] = `#/components/schemas/${val.slice(0, -1)}`;
      else out[k] = toComponent(val);
    }
    return out;
  }
  return node;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const common = {
  '400': problem('Invalid request: malformed JSON, a field of the wrong type, an unknown field. `field` names it.'),
  '401': problem('Missing, unknown or revoked agent token. `action: "enroll"` tells the agent to enroll again.'),
  '413': problem('Body larger than the configured limit (default 5 MB).'),
  '415': problem('Content-Type is not application/json.'),
};
const bearer = [{ agentToken: [] as string[] }];
const idParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string', maxLength: 128 }, description });

const num = { type: 'number' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const str = { type: 'string' } as const;
const nullable = (t: string) => ({ type: [t, 'null'] });
const HourBucket = {
  type: 'object',
  required: ['hours', 'totalUsed', 'totalDesired', 'maxUsed', 'maxDesired'],
  properties: {
    hours: { ...num, description: 'Hours of this bucket inside the reported span' },
    totalUsed: { ...num, description: 'License-hours used' },
    totalDesired: { ...num, description: 'License-hours desired (used + waiting in the queue)' },
    maxUsed: int,
    maxDesired: int,
  },
};
const UsageSummaryRow = {
  type: 'object',
  description: 'One product in one period (UTC day, ISO week, month or year), clipped to the report span.',
  required: [
    'period',
    'key',
    'start',
    'end',
    'product',
    'productName',
    'hours',
    'checkouts',
    'users',
    'denials',
    'queued',
    'maxUsed',
    'maxDesired',
    'totalUsed',
    'totalDesired',
    'averageUsed',
    'averageDesired',
    'hourOfDay',
    'dayOfWeek',
  ],
  properties: {
    period: { type: 'string', enum: ['day', 'week', 'month', 'year'] },
    key: { ...str, description: '2024-05-01 | 2024-W18 | 2024-05 | 2024' },
    start: { ...str, format: 'date-time' },
    end: { ...str, format: 'date-time' },
    product: str,
    productName: str,
    hours: num,
    checkouts: int,
    users: int,
    denials: int,
    queued: int,
    maxUsed: { ...int, description: 'Peak concurrent seats in use' },
    maxDesired: { ...int, description: 'Peak of seats in use + tickets waiting (+1 per denial at its instant)' },
    totalUsed: num,
    totalDesired: num,
    averageUsed: num,
    averageDesired: num,
    hourOfDay: { type: 'array', items: ref('HourBucket'), minItems: 24, maxItems: 24, description: 'Index = UTC hour 0-23' },
    dayOfWeek: { type: 'array', items: ref('HourBucket'), minItems: 7, maxItems: 7, description: 'Index 0 = Monday ... 6 = Sunday (UTC)' },
  },
};
const UsageLogRow = {
  type: 'object',
  description: 'One checkout (lease or allocation), queue wait or denial on one UTC day; what spans midnight is split.',
  required: [
    'date',
    'kind',
    'product',
    'productName',
    'user',
    'host',
    'pid',
    'leaseId',
    'start',
    'end',
    'startTime',
    'endTime',
    'seconds',
    'checkout',
    'checkin',
    'desired',
    'granted',
    'reason',
    'continuedFromPreviousDay',
    'continuesNextDay',
    'open',
  ],
  properties: {
    date: { ...str, format: 'date' },
    kind: { type: 'string', enum: ['lease', 'allocation', 'queue', 'deny'] },
    product: str,
    productName: str,
    user: str,
    host: str,
    pid: nullable('integer'),
    leaseId: nullable('string'),
    start: { ...str, format: 'date-time' },
    end: { ...str, format: 'date-time' },
    startTime: { ...str, description: 'HH:MM:SS UTC' },
    endTime: { ...str, description: 'HH:MM:SS UTC; 24:00:00 when the part runs to midnight' },
    seconds: num,
    checkout: { ...nullable('string'), description: 'When the whole checkout began (null: before the report saw it)' },
    checkin: { ...nullable('string'), description: 'When it ended (null: still open)' },
    desired: int,
    granted: int,
    reason: nullable('string'),
    continuedFromPreviousDay: { type: 'boolean' },
    continuesNextDay: { type: 'boolean' },
    open: { type: 'boolean' },
  },
};
const reportParams = [
  { name: 'from', in: 'query', required: true, schema: { type: 'string', format: 'date' }, description: 'First UTC day' },
  { name: 'to', in: 'query', required: true, schema: { type: 'string', format: 'date' }, description: 'Last UTC day, inclusive' },
  { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'] } },
  { name: 'product', in: 'query', schema: { type: 'string' } },
];

/** The committed src/protocol/openapi.json is exactly this text. */
export function openApiText(version: string): string {
  return JSON.stringify(buildOpenApi(version), null, 2) + '\n';
}

export function buildOpenApi(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  for (const s of V1_SCHEMAS) schemas[s.$id] = toComponent(s);
  for (const t of [...PROCESS_RECORD_TYPES, ...ACTIVITY_RECORD_TYPES, 'usage-event', 'software']) {
    const name = t.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase()) + 'Record';
    schemas[name] = recordTypeSchema(t);
  }
  schemas.EventCode = {
    type: 'integer',
    minimum: 1,
    maximum: 30,
    description: 'KeyServer usage-event codes:\n' + EVENT_CODE_TABLE.map((e) => `- ${e.code} ${e.name}: ${e.description}`).join('\n'),
  };
  schemas.LicenseType = { type: 'string', enum: [...LICENSE_TYPES] };
  schemas.HourBucket = HourBucket;
  schemas.UsageSummaryRow = UsageSummaryRow;
  schemas.UsageLogRow = UsageLogRow;
  schemas.UsageSummaryReport = {
    type: 'object',
    required: ['from', 'to', 'period', 'end', 'rows'],
    properties: {
      from: str,
      to: str,
      period: { type: 'string', enum: ['day', 'week', 'month', 'year'] },
      end: { ...str, format: 'date-time', description: 'Open leases count until here' },
      rows: { type: 'array', items: ref('UsageSummaryRow') },
    },
  };
  schemas.UsageLogReport = {
    type: 'object',
    required: ['from', 'to', 'end', 'rows'],
    properties: { from: str, to: str, end: { ...str, format: 'date-time' }, rows: { type: 'array', items: ref('UsageLogRow') } },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'usage-server protocol',
      version,
      description:
        'Lease and collection protocol between usage-agent and usage-server. HTTP/1.1 + JSON, times in UTC ISO-8601. ' +
        'Every error is application/problem+json with a stable `code` and the offending `field`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    components: {
      schemas,
      securitySchemes: {
        agentToken: { type: 'http', scheme: 'bearer', description: 'agentToken from POST /v1/enroll' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'reports.adminTokens from the server config' },
      },
    },
    paths: {
      '/v1/enroll': {
        post: {
          operationId: 'enroll',
          summary: 'Enroll an agent with a shared enrollment secret',
          requestBody: { required: true, content: json('EnrollRequest') },
          responses: {
            '201': { description: 'Enrolled', content: json('EnrollResponse') },
            '403': problem('Enrollment secret not accepted.'),
            '429': {
              description: 'Too many enrollments from this client address (code rate-limited); retry after Retry-After seconds.',
              headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } },
              content: { 'application/problem+json': { schema: ref('Problem') } },
            },
            ...common,
          },
        },
      },
      '/v1/policy': {
        get: {
          operationId: 'getPolicy',
          summary: 'Products, license types, seats, lease timings and enforcement settings',
          security: bearer,
          parameters: [{ name: 'If-None-Match', in: 'header', schema: { type: 'string' } }],
          responses: {
            '200': { description: 'Policy; the ETag header carries its version', content: json('PolicyResponse') },
            '304': { description: 'Unchanged since the ETag given in If-None-Match' },
            '401': common['401'],
          },
        },
      },
      '/v1/leases': {
        post: {
          operationId: 'acquireLease',
          summary: 'Acquire a lease (idempotent on requestId and on the process identity)',
          security: bearer,
          requestBody: { required: true, content: json('LeaseRequest') },
          responses: {
            '201': { description: 'Granted (or the lease this request/process already holds: existing=true)', content: json('LeaseGranted') },
            '202': { description: 'Queued; poll GET /v1/queue/{ticket}', content: json('LeaseQueued') },
            '404': problem('Unknown product (code unknown-product): the agent policy is out of date.'),
            '409': { description: 'Denied: all seats in use', content: { 'application/problem+json': { schema: ref('LeaseDenied') } } },
            '422': problem('requestId already used for a different lease (code validation-failed, field /requestId).'),
            ...common,
          },
        },
        get: {
          operationId: 'listHeld',
          summary: "This agent's live leases and waiting tickets (for resynchronising after a restart)",
          security: bearer,
          responses: { '200': { description: 'Held leases and tickets', content: json('HeldLeases') }, '401': common['401'] },
        },
      },
      '/v1/leases/{id}/renew': {
        post: {
          operationId: 'renewLease',
          summary: 'Renew a lease; the body may be empty or {}',
          security: bearer,
          parameters: [idParam('id', 'leaseId')],
          responses: {
            '200': { description: 'Renewed', content: json('RenewResponse') },
            '404': problem(
              "Lease gone (code lease-gone, action acquire): released, expired or revoked, or not this agent's. Acquire again or stop the program.",
            ),
            '401': common['401'],
          },
        },
      },
      '/v1/leases/{id}': {
        delete: {
          operationId: 'releaseLease',
          summary: 'Release a lease (idempotent)',
          security: bearer,
          parameters: [idParam('id', 'leaseId'), { name: 'reason', in: 'query', schema: { type: 'string', enum: [...RELEASE_REASONS] } }],
          responses: { '204': { description: 'Released (or already released)' }, '404': problem('No such lease for this agent.'), '401': common['401'] },
        },
      },
      '/v1/queue/{ticket}': {
        get: {
          operationId: 'pollQueue',
          summary: 'Long-poll a queue ticket: answers as soon as it is granted, or with its position after `wait` seconds',
          security: bearer,
          parameters: [
            idParam('ticket', 'ticket from a 202'),
            {
              name: 'wait',
              in: 'query',
              schema: { type: 'integer', minimum: 0 },
              description: 'Seconds to wait (capped at queue.maxWaitSeconds; default that cap). 0 answers at once.',
            },
          ],
          responses: {
            '200': { description: 'Waiting (position) or granted (lease; the dequeue)', content: json('QueueStatus') },
            '404': problem('No such ticket for this agent.'),
            '410': problem(
              'Ticket gone (code ticket-gone): it stopped polling for longer than its keepalive, was cancelled, or its grant was not collected. Acquire again.',
            ),
            '401': common['401'],
          },
        },
        delete: {
          operationId: 'cancelQueue',
          summary: 'Leave the queue (releases the lease if it was already granted)',
          security: bearer,
          parameters: [idParam('ticket', 'ticket')],
          responses: { '204': { description: 'Cancelled' }, '404': problem('No such ticket for this agent.'), '401': common['401'] },
        },
      },
      '/v1/events': {
        post: {
          operationId: 'uploadRecords',
          summary: 'Upload journal records; idempotent by (agent, seq)',
          description:
            'Records with seq <= ackedThroughSeq are duplicates and ignored. The contiguous run from ackedThroughSeq+1 is stored. ' +
            'A batch that continues past a hole gets 409 seq-gap with expectedSeq (the prefix before the hole is stored).',
          security: bearer,
          requestBody: { required: true, content: json('EventsUploadRequest') },
          responses: {
            '200': { description: 'Stored', content: json('EventsUploadResponse') },
            '409': problem('Sequence gap (code seq-gap, action resend-from): expectedSeq, receivedSeq, ackedThroughSeq.'),
            ...common,
          },
        },
      },
      '/v1/events/ack': {
        get: {
          operationId: 'getAck',
          summary: 'Highest seq stored contiguously for this agent (where to resume uploading)',
          security: bearer,
          responses: { '200': { description: 'Ack', content: json('EventsAck') }, '401': common['401'] },
        },
      },
      '/v1/reports/usage': {
        get: {
          operationId: 'usageReport',
          summary:
            'Usage summary per product per UTC day, ISO week, month or year: checkouts, users, denials, queued, max/total used and desired seats, by hour of day and day of week',
          security: [{ adminToken: [] as string[] }],
          parameters: [...reportParams, { name: 'period', in: 'query', schema: { type: 'string', enum: ['day', 'week', 'month', 'year'], default: 'day' } }],
          responses: {
            '200': {
              description: 'Summary rows (JSON, or CSV with the columns of the reference Summary.txt)',
              content: { ...json('UsageSummaryReport'), 'text/csv': { schema: { type: 'string' } } },
            },
            '400': common['400'],
            '401': common['401'],
            '404': problem('Reports are disabled (no admin tokens configured).'),
          },
        },
      },
      '/v1/reports/usage/log': {
        get: {
          operationId: 'usageLog',
          summary: 'Usage log: every checkout, queue wait and denial with user, host, pid, product and times, split at 00:00 UTC',
          security: [{ adminToken: [] as string[] }],
          parameters: reportParams,
          responses: {
            '200': { description: 'Log rows (JSON or CSV)', content: { ...json('UsageLogReport'), 'text/csv': { schema: { type: 'string' } } } },
            '400': common['400'],
            '401': common['401'],
            '404': problem('Reports are disabled (no admin tokens configured).'),
          },
        },
      },
      ...softwareReports(),
      '/v1/health': {
        get: {
          operationId: 'health',
          summary: 'Liveness and database check',
          responses: { '200': { description: 'OK', content: json('Health') }, '503': problem('Database unavailable.') },
        },
      },
      '/v1/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/metrics': {
        get: { operationId: 'metrics', summary: 'Prometheus text exposition', responses: { '200': { description: 'text/plain; version=0.0.4' } } },
      },
    },
  };
}

/** The software audit reports: installed vs used, reclaim candidates, inventory, history. */
function softwareReports() {
  const admin = [{ adminToken: [] as string[] }];
  const fmt = { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'], default: 'json' } };
  const days = {
    name: 'days',
    in: 'query',
    description: 'The window: used = ran in the last `days` days.',
    schema: { type: 'string', pattern: '^[0-9]{1,4}$', default: '90' },
  };
  const host = { name: 'host', in: 'query', schema: { type: 'string' } };
  const rows = (description: string) => ({
    '200': {
      description,
      content: {
        'application/json': { schema: { type: 'object', properties: { rows: { type: 'array', items: { type: 'object' } } } } },
        'text/csv': { schema: { type: 'string' } },
      },
    },
    '400': { description: 'Bad query parameter (problem+json naming it)' },
    '401': { description: 'No or wrong admin token' },
  });
  const get = (operationId: string, summary: string, parameters: unknown[], description: string) => ({
    get: { operationId, summary, security: admin, parameters, responses: rows(description) },
  });
  return {
    '/v1/reports/software': get(
      'softwareReport',
      'Installed vs used per package: hosts with it installed, hosts that ran it in the window, versions installed',
      [days, fmt],
      'Rows per package',
    ),
    '/v1/reports/software/products': get(
      'softwareProducts',
      'Installed vs used per product (its packages are those whose executables match the product)',
      [days, fmt],
      'Rows per product',
    ),
    '/v1/reports/software/reclaim': get(
      'softwareReclaim',
      'Reclaim candidates: a licensed product installed on a host that did not use it in the window, with its last use',
      [days, { name: 'product', in: 'query', schema: { type: 'string' } }, fmt],
      'Rows per product and host',
    ),
    '/v1/reports/software/inventory': get(
      'softwareInventory',
      "What is installed now, per host (from the agents' software audit)",
      [host, fmt],
      'Rows per installed package',
    ),
    '/v1/reports/software/history': get(
      'softwareHistory',
      'The software records as uploaded: inventories and added/removed/changed deltas',
      [
        host,
        { name: 'from', in: 'query', required: true, schema: { type: 'string', format: 'date' } },
        { name: 'to', in: 'query', required: true, schema: { type: 'string', format: 'date' } },
        fmt,
      ],
      'Software records, oldest first',
    ),
  };
}
