import { z } from 'zod';
import { USER_FORMATS } from '../identity/resolver.js';
import { SOFTWARE_SOURCES } from '../protocol/v1.js';

/**
 * The agent's configuration file, one JSON document. Every section is optional and every key has
 * a default, so the agent runs with no file at all. Objects are strict: an unknown key is an
 * error (a misspelt key silently ignored is a policy silently not applied).
 */

const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .prefault({});

const journalSchema = z
  .strictObject({
    /** Group commit: buffered records are written in one transaction at least this often. */
    flushIntervalMs: z.number().int().min(10).max(1000).default(1000),
    /** Upper bound of the journal file; see README "Bounded journal" for what gives way first. */
    maxBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(1024 * 1024 * 1024),
  })
  .prefault({});

const processesSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** `auto` picks /proc on Linux and the portable ps-list/pidusage sampler elsewhere. */
    sampler: z.enum(['auto', 'procfs', 'portable']).default('auto'),
    sampleIntervalMs: z.number().int().min(100).max(3_600_000).default(5000),
    /** Kernel process accounting: `auto` (use or switch on), `off`, or a pacct file path to read. */
    pacct: z.union([z.literal('auto'), z.literal('off'), z.string().startsWith('/')]).default('auto'),
    /** Largest pacct file the agent lets grow before rotating the file it owns. */
    pacctRotateBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .default(64 * 1024 * 1024),
    /** Command-line arguments can hold secrets; they are recorded only when switched on. */
    recordCommandLine: z.boolean().default(false),
  })
  .prefault({});

const activitySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    breakSeconds: z.number().positive().default(5),
    microBreakMaxSeconds: z.number().positive().default(60),
    shortBreakMaxSeconds: z.number().positive().default(600),
    inputEventIntervalSeconds: z.number().positive().default(60),
  })
  .prefault({});

const sessionSchema = z
  .strictObject({
    /** Unix socket the daemon listens on for session agents; default: <dataDir>/agent.sock. */
    socketPath: z.string().min(1).optional(),
    /**
     * Per-user budgets (all of one user's session agents together): a user over them is made to
     * wait, never refused, so one user can neither fill the journal nor slow another's session.
     * Activity is well under one record a second; the burst lets a week's queue drain at once.
     */
    limits: z
      .strictObject({
        recordsPerSecond: z.number().positive().max(100_000).default(5),
        recordsBurst: z.number().int().min(1).max(10_000_000).default(20_000),
        bytesPerSecond: z
          .number()
          .int()
          .min(1024)
          .max(1 << 30)
          .default(64 * 1024),
        bytesBurst: z
          .number()
          .int()
          .min(1024)
          .max(1 << 30)
          .default(16 * 1024 * 1024),
        /** Connected session agents per user; one more is told so and closed. */
        maxAgentsPerUser: z.number().int().min(1).max(1024).default(8),
      })
      .prefault({}),
  })
  .prefault({});

const serverSchema = z
  .strictObject({
    /** Base URL of the usage-server, e.g. https://usage.example.com. Unset: collect locally only. */
    url: z.url().optional(),
    /** Several usage-servers on one database: tried in order, sticking to the one that answers; with `url`, `url` comes first. */
    urls: z.array(z.url()).min(1).optional(),
    enrollSecret: z.string().min(1).optional(),
    /**
     * The enrollment secret read from this file instead (first line), so it need not sit in the
     * config: e.g. `${CREDENTIALS_DIRECTORY}/enroll-secret` with systemd's LoadCredential.
     */
    enrollSecretFile: z.string().min(1).optional(),
    /** PEM CA certificate(s) trusted besides the system's (a private PKI). */
    caFile: z.string().min(1).optional(),
    /**
     * SPKI pins: base64 SHA-256 of a public key (SubjectPublicKeyInfo); a certificate chain is
     * accepted only when one of its certificates has one of these keys. Several allowed, for rotation.
     */
    pinSha256: z
      .array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be the base64 SHA-256 of a public key (44 characters ending in =)'))
      .min(1)
      .optional(),
    /** PEM client certificate and key for servers that ask for one (tls.clientCaFile on usage-server). */
    clientCertFile: z.string().min(1).optional(),
    clientKeyFile: z.string().min(1).optional(),
    /** Allow http:// to a host that is not loopback (tokens and usage in clear): only for a trusted network. */
    allowInsecureHttp: z.boolean().default(false),
    proxy: z.url().optional(),
    // 2000 x ~330 B = ~0.7 MB bodies: per-request costs amortised (bench replay), RSS kept low.
    uploadBatchSize: z.number().int().min(1).max(5000).default(2000),
    uploadIntervalMs: z.number().int().min(100).default(5000),
    requestTimeoutMs: z.number().int().min(100).default(10_000),
    maxBackoffMs: z.number().int().min(100).default(300_000),
  })
  .superRefine((s, ctx) => {
    const check = (url: string | undefined, path: Array<string | number>) => {
      if (url === undefined || !URL.canParse(url)) return; // a malformed URL is reported by z.url()
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', path, message: 'must be an https:// (or loopback http://) URL' });
      else if (u.protocol === 'http:' && !s.allowInsecureHttp && !isLoopbackHostname(u.hostname)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `plain http:// to ${u.hostname} sends the agent token and usage in clear: use https://, or set server.allowInsecureHttp: true`,
        });
      }
    };
    check(s.url, ['url']);
    s.urls?.forEach((u, i) => check(u, ['urls', i]));
    if (s.enrollSecret !== undefined && s.enrollSecretFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['enrollSecretFile'],
        message: 'give the enrollment secret either in server.enrollSecret or in server.enrollSecretFile, not both',
      });
    }
    if ((s.clientCertFile === undefined) !== (s.clientKeyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [s.clientCertFile === undefined ? 'clientCertFile' : 'clientKeyFile'],
        message: 'server.clientCertFile and server.clientKeyFile go together',
      });
    }
  })
  .prefault({});

/** localhost, 127.0.0.0/8 and ::1 (URL hostnames keep IPv6 brackets). */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const leasesSchema = z
  .strictObject({
    /**
     * How often the launch watcher checks for new processes: one read of /proc/loadavg, and a
     * listing of /proc only when a task was created or reaped.
     */
    launchPollMs: z.number().int().min(10).default(100),
    /**
     * Product ids to gate on this agent as if their policy said `gate: true` (stopped at launch
     * until the lease decision): for servers that do not send the field yet.
     */
    gateProducts: z.array(z.string().min(1).max(128)).default([]),
    /** Delay between the terminate warning and SIGTERM, then SIGTERM and SIGKILL. */
    terminateWarningSeconds: z.number().min(0).default(60),
    killAfterSeconds: z.number().min(0).default(10),
    /** Retry interval of lease requests, renewals and queue polls while the server is unreachable. */
    retrySeconds: z.number().positive().default(15),
    /** Queue long-poll length (the server caps it at its queue.maxWaitSeconds). */
    queueWaitSeconds: z.number().min(0).default(25),
    /** Programs that are only logged (events 8/9, 12/13 offline): no lease, no enforcement. */
    loggedPrograms: z
      .array(
        z.strictObject({
          id: z.string().min(1).max(128),
          name: z.string().min(1).optional(),
          executables: z.array(z.string().min(1)).default([]),
          paths: z.array(z.string().min(1)).default([]),
        }),
      )
      .default([]),
  })
  .prefault({});

const identitySchema = z
  .strictObject({
    /** How user names are written in every record and lease: `name`, `DOMAIN\\name` or `name@realm`. */
    userFormat: z.enum(USER_FORMATS).default('name'),
    /** The domain or realm of those forms, e.g. `CORP` or `CORP.EXAMPLE.COM`. */
    domain: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\\@\s]+$/, 'must not contain "\\", "@" or white space')
      .optional(),
    /** A cached name is looked up again (in the background) after this long. */
    refreshSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(3600),
    /** Bound of the uid/gid name cache. */
    maxEntries: z.number().int().min(16).max(1_000_000).default(4096),
  })
  .superRefine((v, ctx) => {
    if (v.userFormat !== 'name' && v.domain === undefined) {
      ctx.addIssue({ code: 'custom', path: ['domain'], message: `required when identity.userFormat is "${v.userFormat}"` });
    }
  })
  .prefault({});

const softwareSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Package sources to audit; `auto` = every one present on this system. */
    sources: z.union([z.literal('auto'), z.array(z.enum(SOFTWARE_SOURCES)).min(1)]).default('auto'),
    /** Cheap check (a stat of each package database) this often, besides the change notifications. */
    recheckSeconds: z.number().int().min(1).max(86_400).default(600),
    /** A full re-read of every source, diffed against the last inventory, this often. */
    auditHours: z
      .number()
      .min(0.01)
      .max(24 * 24)
      .default(24), // a timer can wait at most 24.8 days
    /** After a package-database change notification, wait this long for quiet before checking. */
    settleMs: z.number().int().min(0).max(600_000).default(2000),
  })
  .prefault({});

const metricsSchema = z
  .strictObject({
    /**
     * node_exporter's textfile collector directory (its --collector.textfile.directory, e.g.
     * /var/lib/prometheus/node-exporter): the daemon writes usage_agent.prom there. Unset: off.
     */
    textfileDir: z.string().startsWith('/', { message: 'must be an absolute path (starting with /)' }).optional(),
  })
  .prefault({});

export const configSchema = z.strictObject({
  /** Where the journal and state live; see README for the default. */
  dataDir: z.string().min(1).optional(),
  log: logSchema,
  journal: journalSchema,
  processes: processesSchema,
  activity: activitySchema,
  session: sessionSchema,
  server: serverSchema,
  leases: leasesSchema,
  identity: identitySchema,
  software: softwareSchema,
  metrics: metricsSchema,
});

export type AgentConfig = z.infer<typeof configSchema>;
export type AgentConfigInput = z.input<typeof configSchema>;
