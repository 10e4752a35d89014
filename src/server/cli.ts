#!/usr/bin/env node
/**
 * usage-server: the reference lease and collection server, and its admin commands.
 *
 *   usage-server [serve] [--config FILE] [--listen HOST] [--port N] [--db FILE]
 *   usage-server products list|add|set-seats ...
 *   usage-server agents list|revoke ...
 *   usage-server leases list|revoke ...
 *   usage-server allocations list|revoke ...
 *   usage-server report usage --from YYYY-MM-DD --to YYYY-MM-DD [--period day|week|month|year]... [--format csv|json]
 *   usage-server report log --from YYYY-MM-DD --to YYYY-MM-DD [--format csv|json]
 *   usage-server export log-files --dir DIR --from YYYY-MM-DD --to YYYY-MM-DD [--mode AllLogging|UserSummary]
 *   usage-server migrate --from FILE.db --to postgres://user@host:5432/name
 *   usage-server check-config --config FILE
 *   usage-server hash-token [TOKEN]     (sha256:<hex> for reports.adminTokens; the token from stdin if not given)
 *   usage-server openapi [--out FILE]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error, 78 configuration error (EX_CONFIG).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { LICENSE_TYPES, type LicenseType } from '../protocol/event-codes.js';
import { openApiText } from '../protocol/openapi.js';
import { createServer } from './app.js';
import { ConfigError, EX_CONFIG, ProductConfigSchema, loadServerConfig, plainHttpProblem, type ServerConfig } from './config.js';
import { revokeAgent, revokeAllocation, revokeLease, setSeats, upsertProducts } from './leases/admin.js';
import { adminTokenHash } from './plugins/auth.js';
import { LOG_MODES, logFiles, logToCsv, REPORT_PERIODS, summariesToCsv, usageReport, type LogMode, type ReportPeriod } from './reports/index.js';
import { isPostgresUrl, openStore as openStoreAt, type Store } from './storage/store.js';
import { copySqliteToPostgres } from './storage/copy.js';
import { openPostgresStore, redactUrl, type PostgresStore } from './storage/postgres/store.js';
import { openSqliteStore, type SqliteStore } from './storage/sqlite/store.js';
import type { ProductRow } from './storage/types.js';
import { loadTlsMaterial, type TlsMaterial } from './tls.js';
import { SERVER_VERSION } from './version.js';
import { exitOnSignals } from '../shared/shutdown.js';

interface CommonOpts {
  config?: string;
  db?: string;
}

function fail(message: string, code: number): never {
  process.stderr.write(`usage-server: ${message}\n`);
  process.exit(code);
}

function loadConfig(opts: CommonOpts): ServerConfig {
  try {
    const cfg = loadServerConfig(opts.config);
    if (opts.db) cfg.db = opts.db;
    return cfg;
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error\n${err.message}`, EX_CONFIG);
    throw err;
  }
}

/** The certificate and key of `tls`, checked (exit 78 naming the key when a file is unreadable or they do not match). */
function loadTls(cfg: ServerConfig, opts: CommonOpts): TlsMaterial | undefined {
  if (!cfg.tls) return undefined;
  try {
    return loadTlsMaterial(cfg.tls, opts.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error\n${err.message}`, EX_CONFIG);
    throw err;
  }
}

/** Where the database is, for messages (a PostgreSQL URL without its password). */
const dbName = (db: string) => (isPostgresUrl(db) ? redactUrl(db) : db);

/** Run an admin command against the configured store and close it after. */
async function withStore<T>(opts: CommonOpts, fn: (store: Store, cfg: ServerConfig) => Promise<T>): Promise<T> {
  const cfg = loadConfig(opts);
  let store: Store;
  try {
    // Products from the config file are seeded by `serve`; admin commands never overwrite admin changes.
    store = await openStoreAt(cfg.db, { poolSize: 2 });
  } catch (err) {
    fail(`cannot open database ${dbName(cfg.db)}: ${(err as Error).message}`, 1);
  }
  try {
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

const int = (name: string, min: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return Number(v);
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const day = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v + 'T00:00:00Z'))) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return v;
};

function common(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'server config file (JSON)').option('--db <file>', 'SQLite database file or postgres:// URL (overrides the config)');
}

function table(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)\n';
  const cols = Object.keys(rows[0]);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(w[i]))
      .join('  ')
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => String(r[c] ?? ''))))].join('\n') + '\n';
}

const program = new Command()
  .name('usage-server')
  .description('Reference lease and collection server for usage-agent')
  .version(SERVER_VERSION)
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

common(program.command('serve', { isDefault: true }).description('run the server (default command)'))
  .option('--listen <host>', 'address to listen on (default 127.0.0.1)')
  .option('-p, --port <n>', 'TCP port (0 = any free port)', int('port', 0))
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
  .action(async (opts: CommonOpts & { listen?: string; port?: number; logLevel?: string }) => {
    const cfg = loadConfig(opts);
    if (opts.listen) cfg.listen.host = opts.listen;
    if (opts.port !== undefined) cfg.listen.port = opts.port;
    if (opts.logLevel) cfg.log.level = opts.logLevel as ServerConfig['log']['level'];
    const plain = plainHttpProblem(cfg);
    if (plain) fail(`configuration error\n${opts.config ?? '(defaults)'}: listen.host (--listen): ${plain}`, EX_CONFIG);
    const tls = loadTls(cfg, opts);
    const logger = pino({ level: cfg.log.level, base: { name: 'usage-server' }, timestamp: pino.stdTimeFunctions.isoTime });
    let handle: Awaited<ReturnType<typeof createServer>>;
    try {
      handle = await createServer(cfg, logger, { tls });
    } catch (err) {
      fail(`cannot start: ${(err as Error).message}`, 1);
    }
    try {
      await handle.app.listen({ host: cfg.listen.host, port: cfg.listen.port });
    } catch (err) {
      await handle.close().catch(() => undefined);
      fail(`cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
    }
    const addr = handle.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : cfg.listen.port;
    const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
    const listening = { url: `${tls ? 'https' : 'http'}://${host}:${port}`, port, db: dbName(cfg.db), products: cfg.products.length, version: SERVER_VERSION };
    // Always said, whatever the log level: with --port 0 it is the only way to learn the port.
    if (logger.isLevelEnabled('info')) logger.info(listening, 'listening');
    else process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'usage-server', msg: 'listening', ...listening })}\n`);
    if (cfg.enrollment.secrets.length === 0 && !process.env.USAGE_SERVER_ENROLL_SECRETS) logger.warn('no enrollment secrets configured: agents cannot enroll');
    if (tls)
      logger.info(
        {
          certificate: tls.fingerprint256,
          key: tls.keyType,
          validTo: tls.validTo,
          clientCerts: cfg.tls?.clientCaFile ? (cfg.tls.requireClientCert ? 'required' : 'optional') : 'off',
        },
        'serving TLS',
      );

    // SIGHUP: read the certificate and key again (renewed by certbot, the PKI, ...). A bad file
    // keeps the certificate in use: the server never stops serving over a failed renewal.
    process.on('SIGHUP', () => {
      if (!tls || !cfg.tls) {
        logger.info('SIGHUP: no TLS configured, nothing to reload');
        return;
      }
      try {
        const next = loadTlsMaterial(cfg.tls, opts.config);
        handle.reloadTls(next);
        logger.info({ certificate: next.fingerprint256, key: next.keyType, validTo: next.validTo }, 'SIGHUP: TLS certificate and key reloaded');
      } catch (err) {
        logger.error({ error: (err as Error).message }, 'SIGHUP: TLS certificate or key not reloaded; the one in use stays');
      }
    });

    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      return handle.close();
    };
    exitOnSignals(stop, {
      logger,
      failed: 'error while shutting down',
      crash: { then: '' },
      forceExitAfterMs: 10_000,
      onStopped: () => {
        logger.info('stopped');
        logger.flush();
      },
    });
  });

common(program.command('check-config').description('validate the config file and exit (78 on error)')).action((opts: CommonOpts) => {
  const cfg = loadConfig(opts);
  loadTls(cfg, opts);
  process.stdout.write(`ok: ${cfg.products.length} product(s), db ${dbName(cfg.db)}, listen ${cfg.listen.host}:${cfg.listen.port}\n`);
});

program
  .command('migrate')
  .description('copy a SQLite database into an empty PostgreSQL database (stop the servers using the file first); agents keep their tokens')
  .requiredOption('--from <file>', 'the SQLite database file')
  .requiredOption('--to <url>', 'the PostgreSQL database, postgres://user@host:5432/name')
  .action(async (opts: { from: string; to: string }) => {
    if (isPostgresUrl(opts.from) || !existsSync(opts.from)) fail(`--from must be an existing SQLite database file (got ${opts.from})`, 2);
    if (!isPostgresUrl(opts.to)) fail(`--to must be a postgres:// URL (got ${opts.to})`, 2);
    let from: SqliteStore | undefined;
    let to: PostgresStore | undefined;
    try {
      from = await openSqliteStore(opts.from);
      to = await openPostgresStore(opts.to, { poolSize: 2 });
      const r = await copySqliteToPostgres(from, to);
      process.stdout.write(table(r.tables.map((t) => ({ table: t.table, sqlite: t.source, postgres: t.target, ok: t.source === t.target ? 'yes' : 'NO' }))));
      process.stdout.write(`migrated ${opts.from} to ${redactUrl(opts.to)}: every table has the same number of rows\n`);
    } catch (err) {
      fail(`migrate failed, nothing was written to the target: ${(err as Error).message}`, 1);
    } finally {
      await from?.close();
      await to?.close();
    }
  });

program
  .command('hash-token')
  .description('print sha256:<hex> of an admin token, to put in reports.adminTokens instead of the token (reads it from stdin when not given)')
  .argument('[token]', 'the token (prefer stdin: an argument stays in the shell history)')
  .action(async (given: string | undefined) => {
    let token = given;
    if (token === undefined) {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      token = Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0]!;
    }
    if (token.length < 16) fail('an admin token must be at least 16 characters', 2);
    process.stdout.write(`sha256:${adminTokenHash(token).toString('hex')}\n`);
  });

program
  .command('openapi')
  .description('print the OpenAPI 3.1 document of the protocol (or write it to a file)')
  .option('-o, --out <file>', 'write to this file instead of stdout')
  .action((opts: { out?: string }) => {
    if (opts.out) writeFileSync(opts.out, openApiText(SERVER_VERSION));
    else process.stdout.write(openApiText(SERVER_VERSION));
  });

// ---- products ------------------------------------------------------------------------------
const products = program.command('products').description('list and manage licensed products');

const productView = (r: ProductRow) => {
  const spec = JSON.parse(r.spec) as { match?: { executables?: string[] } };
  return {
    id: r.id,
    name: r.name,
    type: r.license_type,
    seats: r.seats ?? 'unlimited',
    executables: (spec.match?.executables ?? []).join(','),
    source: r.source,
  };
};

common(products.command('list').description('list products'))
  .option('--json', 'JSON output')
  .action((opts: CommonOpts & { json?: boolean }) =>
    withStore(opts, async (store) => {
      const rows = await store.q.products();
      process.stdout.write(
        opts.json
          ? JSON.stringify(
              rows.map((r) => ({ ...JSON.parse(r.spec), seats: r.seats, source: r.source })),
              null,
              2,
            ) + '\n'
          : table(rows.map(productView)),
      );
    }),
  );

common(products.command('add').description('add or replace a product').argument('<id>', 'product id'))
  .option('--name <name>', 'display name')
  .option('--type <type>', `license type: ${LICENSE_TYPES.join('|')}`, 'floating')
  .option('--seats <n>', 'concurrent seats (omit for an unlimited site license)', int('seats', 0))
  .option('--exe <names...>', 'executable names that identify the product')
  .option('--path <globs...>', 'executable path globs that identify the product')
  .option('--ttl <seconds>', 'lease TTL (default from the server config)', positive('ttl'))
  .option('--no-queue', 'deny instead of offering the waiting queue')
  .option('--gate', 'agents hold a launch stopped until the lease decision')
  .action(
    (
      id: string,
      opts: CommonOpts & { name?: string; type: string; seats?: number; exe?: string[]; path?: string[]; ttl?: number; queue: boolean; gate?: boolean },
    ) =>
      withStore(opts, async (store, cfg) => {
        const parsed = ProductConfigSchema.safeParse({
          id,
          name: opts.name,
          licenseType: opts.type as LicenseType,
          seats: opts.seats,
          leaseTtlSeconds: opts.ttl,
          queue: opts.queue,
          ...(opts.gate ? { gate: true } : {}),
          match: { executables: opts.exe ?? [], paths: opts.path ?? [] },
        });
        if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'product'}: ${i.message}`).join('\n'), 2);
        if (parsed.data.licenseType !== 'site' && parsed.data.seats === undefined) fail(`--seats is required for a ${parsed.data.licenseType} license`, 2);
        if (cfg.products.some((p) => p.id === id))
          process.stderr.write(`warning: product ${id} is declared in ${opts.config}; the config file replaces this change at the next start\n`);
        await upsertProducts(store, [parsed.data], 'admin');
        process.stdout.write(`product ${id} saved\n`);
      }),
  );

common(
  products
    .command('set-seats')
    .description('change the seat count of a product')
    .argument('<id>', 'product id')
    .argument('<seats>', 'seat count', int('seats', 0)),
).action((id: string, seats: number, opts: CommonOpts) =>
  withStore(opts, async (store, cfg) => {
    if (!(await setSeats(store, id, seats))) fail(`no product ${id}`, 1);
    if (cfg.products.some((p) => p.id === id))
      process.stderr.write(`warning: product ${id} is declared in ${opts.config}; edit the file to keep ${seats} seats after the next start\n`);
    process.stdout.write(`product ${id}: ${seats} seats (queued users are granted freed seats within one sweep interval)\n`);
  }),
);

// ---- agents --------------------------------------------------------------------------------
const agents = program.command('agents').description('list and revoke enrolled agents');

common(agents.command('list').description('list enrolled agents'))
  .option('--json', 'JSON output')
  .action((opts: CommonOpts & { json?: boolean }) =>
    withStore(opts, async (store) => {
      const rows = (await store.q.agents()).map(({ token_hash: _secret, record_key: _key, ...r }) => r);
      const live = await store.q.liveLeaseCountsByAgent();
      const view = rows.map((r) => ({ ...r, leases: live.find((l) => l.agent_id === r.id)?.n ?? 0 }));
      process.stdout.write(
        opts.json
          ? JSON.stringify(view, null, 2) + '\n'
          : table(
              view.map((r) => ({
                id: r.id,
                host: r.host,
                version: r.agent_version ?? '',
                enrolled: r.enrolled_at,
                lastSeen: r.last_seen_at ?? '',
                revoked: r.revoked_at ?? '',
                ackedSeq: r.acked_seq,
                leases: r.leases,
              })),
            ),
      );
    }),
  );

common(agents.command('revoke').description("revoke an agent's token, ending its leases and queue places").argument('<agentId>', 'agent id')).action(
  (agentId: string, opts: CommonOpts) =>
    withStore(opts, async (store) => {
      const a = await store.q.agentById(agentId);
      if (!a) fail(`no agent ${agentId}`, 1);
      const r = await revokeAgent(store, agentId);
      process.stdout.write(r === 'already' ? `agent ${agentId} was already revoked\n` : `agent ${agentId} (${a.host}) revoked\n`);
    }),
);

// ---- integrity -----------------------------------------------------------------------------
common(program.command('integrity').description('integrity flags of uploaded records, per agent and kind (edited, forged, unauthenticated, gap)'))
  .option('--json', 'JSON output')
  .action((opts: CommonOpts & { json?: boolean }) =>
    withStore(opts, async (store) => {
      const rows = await store.q.integritySummary();
      process.stdout.write(
        opts.json
          ? JSON.stringify(rows, null, 2) + '\n'
          : table(
              rows.map((r) => ({
                agent: r.agent_id,
                host: r.host ?? '',
                kind: r.kind,
                records: r.records,
                seqs: `${r.from_seq}-${r.to_seq}`,
                flags: r.flags,
                firstTime: r.first_time ?? '',
                lastTime: r.last_time ?? '',
                lastDetected: r.last_detected_at,
              })),
            ),
      );
    }),
  );

// ---- leases and allocations ----------------------------------------------------------------
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const leasesCmd = program.command('leases').description('list and revoke live leases');

common(leasesCmd.command('list').description('list live leases'))
  .option('--product <id>', 'only this product')
  .option('--agent <agentId>', 'only this agent')
  .option('--json', 'JSON output')
  .action((opts: CommonOpts & { product?: string; agent?: string; json?: boolean }) =>
    withStore(opts, async (store) => {
      const rows = (await store.q.liveLeases()).filter((l) => (!opts.product || l.product_id === opts.product) && (!opts.agent || l.agent_id === opts.agent));
      const view = rows.map((l) => ({
        id: l.id,
        product: l.product_id,
        agentId: l.agent_id,
        host: l.host,
        user: l.user,
        pid: l.pid,
        processStart: l.process_start,
        grantedAt: iso(l.granted_at),
        expiresAt: iso(l.expires_at),
        renewedAt: iso(l.renewed_at),
      }));
      process.stdout.write(
        opts.json
          ? JSON.stringify(view, null, 2) + '\n'
          : table(view.map((v) => ({ id: v.id, product: v.product, host: v.host, user: v.user, pid: v.pid, granted: v.grantedAt, expires: v.expiresAt }))),
      );
    }),
  );

common(
  leasesCmd.command('revoke').description('end one live lease now (reason "revoked"); the agent is told at its next renewal').argument('<leaseId>', 'lease id'),
).action((leaseId: string, opts: CommonOpts) =>
  withStore(opts, async (store) => {
    const r = await revokeLease(store, leaseId);
    if (r === 'not-found') fail(`no lease ${leaseId}`, 1);
    process.stdout.write(
      r === 'already' ? `lease ${leaseId} had already ended\n` : `lease ${leaseId} revoked (its seat goes to the queue within one sweep interval)\n`,
    );
  }),
);

const allocationsCmd = program.command('allocations').description('list and revoke the allocations of leased and node-locked products');

common(allocationsCmd.command('list').description('list live allocations (a node-locked license per workstation, a leased license per user and workstation)'))
  .option('--product <id>', 'only this product')
  .option('--json', 'JSON output')
  .action((opts: CommonOpts & { product?: string; json?: boolean }) =>
    withStore(opts, async (store) => {
      const rows = (await store.q.liveAllocations()).filter((a) => !opts.product || a.product_id === opts.product);
      const view = rows.map((a) => ({
        id: a.id,
        product: a.product_id,
        agentId: a.agent_id,
        host: a.host,
        user: a.user,
        issuedAt: iso(a.issued_at),
        lastUsedAt: iso(a.last_used_at),
      }));
      process.stdout.write(
        opts.json
          ? JSON.stringify(view, null, 2) + '\n'
          : table(view.map((v) => ({ id: v.id, product: v.product, host: v.host, user: v.user, issued: v.issuedAt, lastUsed: v.lastUsedAt }))),
      );
    }),
  );

common(
  allocationsCmd
    .command('revoke')
    .description('take back one allocation: its live leases end and its seat is freed')
    .argument('<id>', 'allocation id (from allocations list)', int('id', 1)),
).action((id: number, opts: CommonOpts) =>
  withStore(opts, async (store) => {
    const r = await revokeAllocation(store, id);
    if (r === 'not-found') fail(`no allocation ${id}`, 1);
    process.stdout.write(
      r === 'already' ? `allocation ${id} was already revoked\n` : `allocation ${id} revoked (its seat goes to the queue within one sweep interval)\n`,
    );
  }),
);

// ---- reports -------------------------------------------------------------------------------
const report = program.command('report').description('usage reports');
const reportArgs = (cmd: Command) =>
  common(cmd)
    .requiredOption('--from <date>', 'first day (YYYY-MM-DD, UTC)', day)
    .requiredOption('--to <date>', 'last day, inclusive (YYYY-MM-DD, UTC)', day)
    .option('--format <format>', 'csv|json', 'csv')
    .option('--product <id>', 'only this product');
type ReportOpts = CommonOpts & { from: string; to: string; format: string; product?: string };
const checkReportOpts = (opts: ReportOpts) => {
  if (opts.format !== 'csv' && opts.format !== 'json') fail('--format must be csv or json', 2);
  if (opts.from > opts.to) fail('--from is after --to', 2);
};

reportArgs(
  report
    .command('usage')
    .description(
      'summary per product per UTC day, ISO week, month or year: checkouts, users, denials, queued, max/total used and desired, by hour of day and day of week',
    ),
)
  .option('--period <period...>', `${REPORT_PERIODS.join('|')} (repeatable)`, ['day'])
  .action((opts: ReportOpts & { period: string[] }) => {
    checkReportOpts(opts);
    const bad = opts.period.find((p) => !(REPORT_PERIODS as readonly string[]).includes(p));
    if (bad !== undefined) fail(`--period must be one of ${REPORT_PERIODS.join(', ')} (got ${bad})`, 2);
    const periods = [...new Set(opts.period)] as ReportPeriod[];
    return withStore(opts, async (store) => {
      const r = await usageReport(store.q, { from: opts.from, to: opts.to, product: opts.product, periods, now: Date.now() });
      process.stdout.write(
        opts.format === 'csv'
          ? summariesToCsv(r.summaries)
          : JSON.stringify({ from: opts.from, to: opts.to, periods, end: r.end, rows: r.summaries }, null, 2) + '\n',
      );
    });
  });

reportArgs(report.command('log').description('every checkout, queue wait and denial with user, host, pid and times; split at 00:00 UTC')).action(
  (opts: ReportOpts) => {
    checkReportOpts(opts);
    return withStore(opts, async (store) => {
      const r = await usageReport(store.q, { from: opts.from, to: opts.to, product: opts.product, periods: [], now: Date.now() });
      process.stdout.write(opts.format === 'csv' ? logToCsv(r.log) : JSON.stringify({ from: opts.from, to: opts.to, end: r.end, rows: r.log }, null, 2) + '\n');
    });
  },
);

// ---- exports -------------------------------------------------------------------------------
const exportCmd = program.command('export').description('write reports to files');
common(
  exportCmd
    .command('log-files')
    .description(
      'the license-usage log files of shared/reference/004: YYYY/MM/DD/Log.txt and Summary.txt, YYYY/MM/Summary.txt, YYYY/Summary.txt, WeeklySummaries/SummaryW<week>.txt/Summary.txt (UTC)',
    ),
)
  .requiredOption('--dir <dir>', 'directory to write the tree into (created if missing; files of the same days are replaced)')
  .requiredOption('--from <date>', 'first day (YYYY-MM-DD, UTC)', day)
  .requiredOption('--to <date>', 'last day, inclusive (YYYY-MM-DD, UTC)', day)
  .option('--mode <mode>', LOG_MODES.join('|'), 'AllLogging')
  .option('--product <id>', 'only this product')
  .action((opts: CommonOpts & { dir: string; from: string; to: string; mode: string; product?: string }) => {
    if (!(LOG_MODES as readonly string[]).includes(opts.mode)) fail(`--mode must be ${LOG_MODES.join(' or ')} (got ${opts.mode})`, 2);
    if (opts.from > opts.to) fail('--from is after --to', 2);
    return withStore(opts, async (store) => {
      const files = await logFiles(store.q, { from: opts.from, to: opts.to, mode: opts.mode as LogMode, product: opts.product, now: Date.now() });
      try {
        for (const f of files) {
          const path = join(opts.dir, ...f.path.split('/'));
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, f.text);
        }
      } catch (err) {
        fail(`cannot write the log files under ${opts.dir}: ${(err as Error).message}`, 1);
      }
      process.stdout.write(`wrote ${files.length} files under ${opts.dir} (${opts.from} to ${opts.to}, ${opts.mode})\n`);
    });
  });

await program.parseAsync(process.argv);
