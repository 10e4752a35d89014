/**
 * What every usage-server command shares: loading the config (exit 78 on an error), opening the
 * store for an admin command, the argument parsers, and printing a list as a table or JSON.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError, EX_CONFIG, loadServerConfig, type ServerConfig } from '../config.js';
import { isPostgresUrl, openStore as openStoreAt, type Store } from '../storage/store.js';
import { redactUrl } from '../storage/postgres/store.js';
import { loadTlsMaterial, type TlsMaterial } from '../tls.js';

export interface CommonOpts {
  config?: string;
  db?: string;
}

export function fail(message: string, code: number): never {
  process.stderr.write(`usage-server: ${message}\n`);
  process.exit(code);
}

export function loadConfig(opts: CommonOpts): ServerConfig {
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
export function loadTls(cfg: ServerConfig, opts: CommonOpts): TlsMaterial | undefined {
  if (!cfg.tls) return undefined;
  try {
    return loadTlsMaterial(cfg.tls, opts.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error\n${err.message}`, EX_CONFIG);
    throw err;
  }
}

/** Where the database is, for messages (a PostgreSQL URL without its password). */
export const dbName = (db: string) => (isPostgresUrl(db) ? redactUrl(db) : db);

/** Run an admin command against the configured store and close it after. */
export async function withStore<T>(opts: CommonOpts, fn: (store: Store, cfg: ServerConfig) => Promise<T>): Promise<T> {
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

export const int = (name: string, min: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return Number(v);
};
export const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
export const day = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v + 'T00:00:00Z'))) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return v;
};

export function common(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'server config file (JSON)').option('--db <file>', 'SQLite database file or postgres:// URL (overrides the config)');
}

export function table(rows: Array<Record<string, unknown>>): string {
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

/** Milliseconds since the epoch as an ISO time (null stays null). */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A list as JSON (`--json`) or as a table of the columns `row` picks. */
export function printList<T>(json: boolean | undefined, view: readonly T[], row: (v: T) => Record<string, unknown>): void {
  process.stdout.write(json ? JSON.stringify(view, null, 2) + '\n' : table(view.map(row)));
}
