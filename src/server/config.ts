/**
 * usage-server configuration: a JSON file validated with zod (unknown keys are errors), then
 * command-line flags on top. A bad file is reported as `FILE: key.path: message` and the process
 * exits with 78 (EX_CONFIG).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { LICENSE_TYPES } from '../protocol/event-codes.js';
import { ConfigError } from '../shared/config-error.js';
import { DENY_ENFORCEMENTS, IDLE_ACTIONS, OFFLINE_BEHAVIOURS, MAX_RECORDS_PER_BATCH } from '../protocol/v1.js';
import { isTimeZone } from './reports/calendar.js';
import { SCHEDULE_PERIODS, TABLE_REPORTS, type TableReport } from './reports/tables.js';

export { ConfigError, EX_CONFIG } from '../shared/config-error.js';
/** Console roles: `viewer` reads, `admin` may also act (revoke, change seats). */
export const CONSOLE_ROLES = ['viewer', 'admin'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];
export const DEFAULT_PORT = 8470;
export const DEFAULT_LEASE_TTL_SECONDS = 900;
/** Enough for a lab re-imaged at once behind one NAT address; a secret-guessing loop gets one try a second. */
export const ENROLL_RATE_DEFAULT = { enabled: true, burst: 60, perMinute: 60 };

const productId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must start with a letter or digit and contain only letters, digits, . _ : -');

/**
 * One trusted-proxy entry as fastify's trustProxy (proxy-addr) takes it: an IP address, a CIDR
 * range (address/prefix length) or one of the names loopback, linklocal, uniquelocal.
 */
export function isProxyAddress(s: string): boolean {
  if (s === 'loopback' || s === 'linklocal' || s === 'uniquelocal') return true;
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** 127.0.0.0/8, ::1 and localhost: plain HTTP that never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./i.test(h);
}

/** Why this listen address may not serve plain HTTP (undefined: it may: TLS, loopback, or a proxy in front). */
export function plainHttpProblem(cfg: { tls?: unknown; trustProxy: unknown; listen: { host: string } }): string | undefined {
  if (cfg.tls || cfg.trustProxy !== false || isLoopbackHost(cfg.listen.host)) return undefined;
  return `plain HTTP on ${cfg.listen.host} would carry tokens in clear: set tls.certFile and tls.keyFile, or trustProxy to the TLS-terminating proxy in front, or listen on loopback`;
}

function isPostgresUrlValid(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
  } catch {
    return false;
  }
}

const proxyList = z
  .string()
  .min(1)
  .refine((s) => s.split(',').every((p) => isProxyAddress(p.trim())), 'each entry must be an IP address, a CIDR range or loopback|linklocal|uniquelocal');

export const ProductConfigSchema = z
  .strictObject({
    id: productId,
    name: z.string().min(1).max(256).optional(),
    licenseType: z.enum(LICENSE_TYPES).default('floating'),
    /** Concurrent seats. Omitted or null for a site license means unlimited. */
    seats: z.number().int().min(0).nullable().optional(),
    match: z
      .strictObject({
        executables: z.array(z.string().min(1)).default([]),
        paths: z.array(z.string().min(1)).default([]),
      })
      .default({ executables: [], paths: [] }),
    leaseTtlSeconds: z.number().positive().optional(),
    graceSeconds: z.number().min(0).optional(),
    /** Leased/node-locked only: an allocation unused this long is revoked (default: leased 7 days, node-locked never). */
    allocationHoldSeconds: z.number().positive().optional(),
    offline: z.enum(OFFLINE_BEHAVIOURS).default('allow'),
    onDeny: z.enum(DENY_ENFORCEMENTS).default('notify'),
    queue: z.boolean().default(true),
    denyMessage: z.string().max(1000).optional(),
    /** Agents stop a matching launch (SIGSTOP) until the lease decision; see ProductPolicy.gate. */
    gate: z.boolean().optional(),
    idle: z
      .strictObject({
        afterSeconds: z.number().positive().nullable().default(null),
        action: z.enum(IDLE_ACTIONS).default('none'),
      })
      .default({ afterSeconds: null, action: 'none' }),
  })
  .superRefine((p, ctx) => {
    if (p.licenseType !== 'site' && (p.seats === undefined || p.seats === null)) {
      ctx.addIssue({ code: 'custom', path: ['seats'], message: `seats is required for a ${p.licenseType} license` });
    }
  });
export type ProductConfig = z.infer<typeof ProductConfigSchema>;

export const ServerConfigSchema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
      })
      .default({ host: '127.0.0.1', port: DEFAULT_PORT }),
    /** A SQLite file (the embedded default), or a PostgreSQL URL `postgres://user@host:5432/name` for several servers on one database. */
    db: z
      .string()
      .min(1)
      .default('usage-server.db')
      .refine((s) => !/^postgres(ql)?:/i.test(s) || isPostgresUrlValid(s), 'a PostgreSQL URL must look like postgres://user@host:5432/name'),
    postgres: z
      .strictObject({
        /** Connections per server process (each HTTP request in flight needs one only while it runs a statement). */
        poolSize: z.number().int().min(2).max(1000).default(10),
      })
      .default({ poolSize: 10 }),
    /**
     * Behind a reverse proxy: whose X-Forwarded-For to believe for the client address used by the
     * enrollment rate limit (fastify's trustProxy). false (default): the socket address.
     * A list of proxy addresses/CIDR ranges (array or comma-separated), a hop count, or true
     * (trust any sender: only when clients cannot reach the server except through the proxy).
     */
    trustProxy: z.union([z.boolean(), z.number().int().min(1), proxyList, z.array(proxyList).min(1)]).default(false),
    /**
     * HTTPS: PEM certificate (chain) and key, ECDSA or RSA; TLS 1.2+. Both files are read again on
     * SIGHUP. Without it the server speaks plain HTTP, only on loopback or behind a TLS-terminating
     * proxy (trustProxy set). Relative paths are relative to the config file.
     */
    tls: z
      .strictObject({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** CA of agents' client certificates; an agent's certificate is bound to it at enrollment. */
        clientCaFile: z.string().min(1).optional(),
        /** Refuse connections without a client certificate from clientCaFile, and agents enrolled without one. */
        requireClientCert: z.boolean().default(false),
        /** Strict-Transport-Security max-age on every HTTPS answer; 0 sends none. */
        hstsMaxAgeSeconds: z.number().int().min(0).default(31_536_000),
      })
      .optional(),
    enrollment: z
      .strictObject({
        /** Shared secrets agents present to enroll; any one of them is accepted. */
        secrets: z.array(z.string().min(8, 'an enrollment secret must be at least 8 characters')).default([]),
        /** Token bucket per client IP for POST /v1/enroll: `burst` at once, refilled at `perMinute`. Over it: 429 with Retry-After. */
        rateLimit: z
          .strictObject({
            enabled: z.boolean().default(true),
            burst: z.number().int().min(1).default(ENROLL_RATE_DEFAULT.burst),
            perMinute: z.number().positive().default(ENROLL_RATE_DEFAULT.perMinute),
          })
          .default(ENROLL_RATE_DEFAULT),
      })
      .default({ secrets: [], rateLimit: ENROLL_RATE_DEFAULT }),
    leases: z
      .strictObject({
        ttlSeconds: z.number().positive().default(DEFAULT_LEASE_TTL_SECONDS),
        /** Default for products that set none; 0 disables the grace period. */
        graceSeconds: z.number().min(0).optional(),
        sweepIntervalSeconds: z.number().positive().default(5),
        /** After a restart, leases and queue places get at least this long to be renewed/polled again. */
        restartGraceSeconds: z.number().min(0).default(60),
      })
      .default({ ttlSeconds: DEFAULT_LEASE_TTL_SECONDS, sweepIntervalSeconds: 5, restartGraceSeconds: 60 }),
    queue: z
      .strictObject({
        keepaliveSeconds: z.number().positive().default(60),
        maxWaitSeconds: z.number().positive().default(30),
      })
      .default({ keepaliveSeconds: 60, maxWaitSeconds: 30 }),
    limits: z
      .strictObject({
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .default(5 * 1024 * 1024),
        maxRecordsPerBatch: z.number().int().min(1).max(MAX_RECORDS_PER_BATCH).default(MAX_RECORDS_PER_BATCH),
      })
      .default({ bodyLimitBytes: 5 * 1024 * 1024, maxRecordsPerBatch: MAX_RECORDS_PER_BATCH }),
    policy: z.strictObject({ pollIntervalSeconds: z.number().positive().default(300) }).default({ pollIntervalSeconds: 300 }),
    reports: z
      .strictObject({
        /** Bearer tokens allowed to read GET /v1/reports/*, or their `sha256:<hex>` (usage-server hash-token); empty disables the endpoint. */
        adminTokens: z
          .array(
            z
              .string()
              .min(16, 'an admin token must be at least 16 characters')
              .refine(
                (t) => !t.startsWith('sha256:') || /^sha256:[0-9a-f]{64}$/.test(t),
                'a hashed admin token is sha256: and 64 lower-case hex digits (usage-server hash-token)',
              ),
          )
          .default([]),
        /** Reports written to a directory after each UTC day, ISO week or month (reports/delivery.ts). */
        schedules: z
          .array(
            z.strictObject({
              name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (it names the files)'),
              report: z.enum(TABLE_REPORTS as [TableReport, ...TableReport[]]),
              period: z.enum(SCHEDULE_PERIODS),
              format: z.enum(['csv', 'html']).default('csv'),
              dir: z.string().min(1),
              filters: z
                .strictObject({
                  product: z.string().min(1).optional(),
                  user: z.string().min(1).optional(),
                  host: z.string().min(1).optional(),
                  group: z.string().min(1).optional(),
                  timeZone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Berlin').optional(),
                })
                .optional(),
            }),
          )
          .default([])
          .refine((l) => new Set(l.map((x) => x.name)).size === l.length, 'schedule names must be unique'),
        /** Threshold alerts, to the log and `webhookUrl`. */
        alerts: z
          .array(
            z.union([
              z.strictObject({ product: z.string().min(1).optional(), seatsAbovePercent: z.number().positive().max(1000), forMinutes: z.number().positive() }),
              z.strictObject({ product: z.string().min(1).optional(), deniesPerDay: z.number().int().min(1) }),
            ]),
          )
          .default([]),
        webhookUrl: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//i.test(u), 'an http:// or https:// URL')
          .optional(),
        /** How often schedules and alerts are checked. */
        checkIntervalSeconds: z.number().positive().default(60),
      })
      .default({ adminTokens: [], schedules: [], alerts: [], checkIntervalSeconds: 60 }),
    console: z
      .strictObject({
        /**
         * Who may sign in to the web console: each token has a role, `viewer` (reads every page and
         * download) or `admin` (may also revoke and change seats). reports.adminTokens sign in as admin too.
         */
        tokens: z
          .array(
            z.strictObject({
              token: z.string().min(16, 'a console token must be at least 16 characters'),
              role: z.enum(CONSOLE_ROLES),
              /** Shown in the console and in the log of admin actions (never the token). */
              name: z.string().min(1).max(64).optional(),
            }),
          )
          .default([]),
        /** A session unused this long ends (sign in again). */
        sessionIdleSeconds: z.number().positive().default(3600),
        /** A session ends this long after sign-in, used or not. */
        sessionMaxSeconds: z.number().positive().default(43_200),
        /** An agent seen within this long counts as online. */
        onlineSeconds: z.number().positive().default(900),
        /** An agent whose newest acknowledged record is older than its last contact by more than this is flagged as behind on uploads. */
        uploadLagSeconds: z.number().positive().default(3600),
      })
      .default({ tokens: [], sessionIdleSeconds: 3600, sessionMaxSeconds: 43_200, onlineSeconds: 900, uploadLagSeconds: 3600 }),
    metrics: z.strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
    /**
     * Days to keep uploaded records, per record type (process, process-interval, break, work,
     * input-events, usage-event, notification, ...); unset types are kept. PostgreSQL drops whole
     * monthly partitions (a month goes once all of it is past), SQLite deletes rows. usage-event
     * covers the server's own events too (the license history the reports are made from).
     */
    retention: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a record type: lower-case letters, digits and -'), z.number().positive()).default({}),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
    products: z.array(ProductConfigSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.tls?.requireClientCert && !cfg.tls.clientCaFile) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'clientCaFile'], message: 'tls.requireClientCert needs the CA of the client certificates' });
    }
    const plain = plainHttpProblem(cfg);
    if (plain) ctx.addIssue({ code: 'custom', path: ['listen', 'host'], message: plain });
    const seen = new Set<string>();
    cfg.products.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['products', i, 'id'], message: `duplicate product id "${p.id}"` });
      seen.add(p.id);
    });
    const tokens = new Set(cfg.reports.adminTokens);
    cfg.console.tokens.forEach((t, i) => {
      // One token, one role: a token listed twice would sign in with whichever came first.
      if (tokens.has(t.token))
        ctx.addIssue({ code: 'custom', path: ['console', 'tokens', i, 'token'], message: 'this token is already listed (here or in reports.adminTokens)' });
      tokens.add(t.token);
    });
  });
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/** Validate an already-parsed object; `file` names the source in error messages. */
export function parseServerConfig(raw: unknown, file: string): ServerConfig {
  const r = ServerConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ path: formatPath([...i.path, k]), message: 'unknown key' }))
      : [{ path: formatPath(i.path), message: i.message }],
  );
  throw new ConfigError(file, issues, issues.map((i) => `${file}: ${i.path}: ${i.message}`).join('\n'));
}

export function loadServerConfig(file: string | undefined): ServerConfig {
  if (!file) return parseServerConfig({}, '(defaults)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(file, [{ path: '(file)', message: e.code ?? e.message }], `${file}: cannot read: ${e.code ?? e.message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      file,
      [{ path: '(root)', message: `invalid JSON: ${(err as Error).message}` }],
      `${file}: (root): invalid JSON: ${(err as Error).message}`,
    );
  }
  return parseServerConfig(raw, file);
}

/** Secrets may also come from the environment (comma-separated), so they need not sit in the file. */
export function enrollmentSecrets(cfg: ServerConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.USAGE_SERVER_ENROLL_SECRETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return [...cfg.enrollment.secrets, ...fromEnv];
}
