/**
 * Test helper: a REAL usage-server child process (dist/src/server/cli.js) on 127.0.0.1 with a free
 * port, a temp directory holding its config and SQLite database, and small HTTP helpers.
 *
 *   const srv = await startServer({ products: [{ id: 'cad', seats: 2 }], config: { leases: { ttlSeconds: 2 } } });
 *   const a = await srv.enroll('host-1');
 *   const r = await a.post('/v1/leases', { product: 'cad', ... });
 *   await srv.restart();            // SIGTERM + start again on the same port and database
 *   await srv.restart({ signal: 'SIGKILL' });   // crash + start again
 *   await srv.cleanup();            // stop and remove the temp directory
 *
 * Defaults are short timings so tests are fast: lease TTL 2 s, sweep 0.1 s, queue keepalive 2 s,
 * long-poll cap 5 s, restart grace 2 s. Pass `config` to override any key (deep-merged).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Agent, request as undiciRequest } from 'undici';
import { numberPlaceholders } from '../../src/server/storage/sql.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built server CLI (this file runs from dist/test/helpers). */
export const SERVER_CLI = join(here, '..', '..', 'src', 'server', 'cli.js');
export const TEST_ENROLL_SECRET = 'test-enroll-secret-0123456789';

/**
 * The store the server tests run against: `sqlite` (default) or `postgres`, from
 * USAGE_SERVER_TEST_STORE. With `postgres`, each test server gets a database of its own in the
 * PostgreSQL cluster the PG* variables name (`npm test` starts one with pg_virtualenv).
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.USAGE_SERVER_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** bigint and numeric columns as numbers, as the server reads them. */
const pgTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** The URL of a PostgreSQL database in the test cluster (the password, if any, stays in PGPASSWORD). */
export function postgresUrl(database: string): string {
  const host = process.env.PGHOST ?? 'localhost';
  const port = process.env.PGPORT ?? '5432';
  const user = encodeURIComponent(process.env.PGUSER ?? 'postgres');
  return host.startsWith('/')
    ? `postgres://${user}@/${database}?host=${encodeURIComponent(host)}&port=${port}`
    : `postgres://${user}@${host}:${port}/${database}`;
}

/** Create an empty database in the test cluster; resolves with its URL. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ust_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: postgresUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: postgresUrl(name),
    async drop() {
      const c = new pg.Client({ connectionString: postgresUrl('postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Run one query on a store's database (SQLite file or PostgreSQL URL): `?` placeholders, quoted "user"/"end". */
export async function queryStore<T = any>(db: string, sql: string, params: unknown[] = []): Promise<T[]> {
  if (/^postgres(ql)?:/.test(db)) {
    const c = new pg.Client({ connectionString: db, types: pgTypes });
    await c.connect();
    try {
      return (await c.query(numberPlaceholders(sql), params)).rows as T[];
    } finally {
      await c.end();
    }
  }
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

export interface HttpResult<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  /** JSON-encoded unless a string/Buffer is given in `raw`. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface TestAgent {
  agentId: string;
  agentToken: string;
  host: string;
  get<T = any>(path: string, opts?: Omit<RequestOptions, 'token'>): Promise<HttpResult<T>>;
  post<T = any>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'token' | 'body'>): Promise<HttpResult<T>>;
  del<T = any>(path: string, opts?: Omit<RequestOptions, 'token'>): Promise<HttpResult<T>>;
}

export interface StartOptions {
  products?: Array<Record<string, unknown> & { id: string }>;
  /** Deep-merged over the test defaults. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Extra node flags for the server process (e.g. ['--cpu-prof']). */
  nodeArgs?: string[];
  /** Run the server with this Node and CLI (e.g. an installed package's bundled runtime) instead of this checkout's. */
  node?: string;
  cli?: string;
  /** Share this database (another test server's `db`) instead of making a new one: several servers, one database. */
  db?: string;
  /** The store to use (default TEST_STORE). */
  store?: 'sqlite' | 'postgres';
  /**
   * The server serves HTTPS (config.tls set): the helper's own requests trust `ca` (PEM text) and
   * present `cert`/`key` (PEM text) when given.
   */
  https?: { ca: string; cert?: string; key?: string };
}

export interface TestServer {
  url: string;
  port: number;
  dir: string;
  /** The database: a SQLite file path, or a PostgreSQL URL. */
  db: string;
  store: 'sqlite' | 'postgres';
  /** The SQLite file (only with the SQLite store). */
  dbPath: string;
  configPath: string;
  enrollSecret: string;
  /** The process id of the current server child. */
  pid(): number;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResult<T>>;
  enroll(host?: string, extra?: Record<string, unknown>): Promise<TestAgent>;
  /** Agent handle for an existing token (e.g. after a restart). */
  agent(agentId: string, agentToken: string, host?: string): TestAgent;
  /** Run one query read-only and close: synchronous, SQLite store only (the agent-side tests). */
  query<T = any>(sql: string, ...params: unknown[]): T[];
  /** Run one query on the server's database, whichever store (portable SQL: `?`, quoted "user"/"end"). */
  sql<T = any>(sql: string, ...params: unknown[]): Promise<T[]>;
  /** Run the usage-server admin CLI against the same config and database. */
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Stop with SIGTERM (default) or SIGKILL; resolves with the exit code (null when killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stop, then start again on the same port and database. */
  restart(opts?: { signal?: NodeJS.Signals }): Promise<void>;
  /** Everything the server printed (all runs). */
  output(): string;
  /** Stop if running and remove the temp directory. */
  cleanup(): Promise<void>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'usage-server-test-'));
  const store = opts.store ?? (opts.db ? (/^postgres(ql)?:/.test(opts.db) ? 'postgres' : 'sqlite') : TEST_STORE);
  const dbPath = store === 'sqlite' ? (opts.db ?? join(dir, 'usage.db')) : '';
  const pgDb = store === 'postgres' && !opts.db ? await createTestDatabase() : undefined;
  const db = store === 'sqlite' ? dbPath : (opts.db ?? pgDb!.url);
  const configPath = join(dir, 'server.json');
  const config = deepMerge(
    {
      listen: { host: '127.0.0.1', port: 0 },
      db,
      // Tests enroll hundreds of agents from 127.0.0.1; the rate-limit test turns the limit back on.
      enrollment: { secrets: [TEST_ENROLL_SECRET], rateLimit: { enabled: false } },
      leases: { ttlSeconds: 2, sweepIntervalSeconds: 0.1, restartGraceSeconds: 2 },
      queue: { keepaliveSeconds: 2, maxWaitSeconds: 5 },
      log: { level: 'info' },
      products: opts.products ?? [],
    },
    opts.config ?? {},
  );
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let out = '';
  let port = 0;
  const scheme = opts.https ? 'https' : 'http';
  const newDispatcher = () => new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 10_000, ...(opts.https ? { connect: { ...opts.https } } : {}) });
  let dispatcher = newDispatcher();

  const launch = async (): Promise<void> => {
    const args = [...(opts.nodeArgs ?? []), opts.cli ?? SERVER_CLI, 'serve', '--config', configPath, '--port', String(port)];
    const c = spawn(opts.node ?? process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    exited = new Promise((resolve) => c.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`usage-server did not start within 20 s:\n${out}`)), 20_000);
      c.stdout!.setEncoding('utf8');
      c.stderr!.setEncoding('utf8');
      c.stderr!.on('data', (d: string) => (out += d));
      c.stdout!.on('data', (d: string) => {
        out += d;
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('"listening"')) continue;
          try {
            const j = JSON.parse(line) as { msg?: string; port?: number };
            if (j.msg === 'listening' && typeof j.port === 'number') {
              port = j.port;
              clearTimeout(timer);
              resolve();
            }
          } catch {
            /* not a JSON log line */
          }
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`usage-server exited with ${code} while starting:\n${out}`));
      });
    });
  };

  await launch();

  const request = async <T>(method: string, path: string, o: RequestOptions = {}): Promise<HttpResult<T>> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body: string | Buffer | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const r = await undiciRequest(`${scheme}://127.0.0.1:${port}${path}`, { method: method as 'GET', headers, body, dispatcher, signal: o.signal });
    const text = await r.body.text();
    let parsed: unknown = text;
    const ct = String(r.headers['content-type'] ?? '');
    if (ct.includes('json') && text.length > 0) parsed = JSON.parse(text);
    return { status: r.statusCode, headers: r.headers, body: parsed as T, text };
  };

  const makeAgent = (agentId: string, agentToken: string, host: string): TestAgent => ({
    agentId,
    agentToken,
    host,
    get: (path, o = {}) => request('GET', path, { ...o, token: agentToken }),
    post: (path, body, o = {}) => request('POST', path, { ...o, token: agentToken, body }),
    del: (path, o = {}) => request('DELETE', path, { ...o, token: agentToken }),
  });

  const srv: TestServer = {
    get url() {
      return `${scheme}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    db,
    store,
    dbPath,
    configPath,
    enrollSecret: TEST_ENROLL_SECRET,
    pid: () => child?.pid ?? -1,
    request,
    async enroll(host = `host-${Math.random().toString(36).slice(2, 8)}`, extra = {}) {
      const r = await request<{ agentId: string; agentToken: string }>('POST', '/v1/enroll', { body: { enrollSecret: TEST_ENROLL_SECRET, host, ...extra } });
      if (r.status !== 201) throw new Error(`enroll failed: ${r.status} ${r.text}`);
      return makeAgent(r.body.agentId, r.body.agentToken, host);
    },
    agent: (agentId, agentToken, host = 'host') => makeAgent(agentId, agentToken, host),
    query(sql, ...params) {
      if (store !== 'sqlite') throw new Error('srv.query is for the SQLite store; use srv.sql');
      const d = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        return d.prepare(sql).all(...params) as any[];
      } finally {
        d.close();
      }
    },
    sql: (sql, ...params) => queryStore(db, sql, params),
    cli(...args) {
      return new Promise((resolve) => {
        const c = spawn(process.execPath, [SERVER_CLI, ...args, '--config', configPath], {
          env: { ...process.env, ...opts.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
    },
    async stop(signal = 'SIGTERM') {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
      c.kill(signal);
      const code = await exited;
      await dispatcher.destroy().catch(() => undefined);
      dispatcher = newDispatcher();
      return code;
    },
    async restart(o = {}) {
      await srv.stop(o.signal ?? 'SIGTERM');
      await launch();
    },
    output: () => out,
    async cleanup() {
      await srv.stop('SIGTERM');
      await dispatcher.close().catch(() => undefined);
      await pgDb?.drop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return srv;
}

/**
 * Replay a product's obtain (+1) and return (-1) events in commit order: the most leases ever held
 * at once and how many are held at the end, as the server's own event log tells it.
 */
export async function replayLeaseEvents(srv: Pick<TestServer, 'sql'>, product: string): Promise<{ max: number; final: number }> {
  const rows = await srv.sql<{ code: number }>("SELECT code FROM usage_events WHERE origin = 'server' AND product = ? AND code IN (1, 2) ORDER BY id", product);
  let cur = 0;
  let max = 0;
  for (const r of rows) {
    cur += r.code === 1 ? 1 : -1;
    max = Math.max(max, cur);
  }
  return { max, final: cur };
}

/** A lease request body with unique defaults; override any field. */
let reqCounter = 0;
export function leaseRequest(
  o: Partial<{ product: string; user: string; host: string; pid: number; processStart: string; requestId: string; queue: boolean }> = {},
) {
  reqCounter++;
  return {
    product: 'cad',
    user: `user${reqCounter}`,
    host: 'host',
    pid: 1000 + reqCounter,
    processStart: '2024-05-01T08:00:00.000Z',
    requestId: `req-${process.pid}-${reqCounter}-${Math.random().toString(36).slice(2)}`,
    ...o,
  };
}
