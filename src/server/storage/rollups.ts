/**
 * Daily roll-ups of the completed-process records (type `process`), so a 90-day process page sums
 * thousands of day rows instead of a million records:
 *
 * - `process_daily`: per UTC day (of the record time) x user x host x command x exe x exit code;
 * - `process_daily_command`: per day x command x exe x exit code (pages without a user or host filter);
 * - `process_daily_user`: per day x user x host (pages by user or host without a command or product),
 *   and `process_monthly_user` the same per UTC month (`YYYY-MM`) for the whole months of a range;
 * - `process_user_groups`: per user x Unix group, the process count (the group filter, work per group);
 * - `process_hourly`: process-interval records per day x hour of the interval x command.
 *
 * They are filled in the transaction that inserts the records, once per batch: on PostgreSQL by a
 * statement trigger over the inserted rows (rollupTriggerFunction); on SQLite, which has no
 * statement triggers, by the store running the same statements over the batch's seq range after
 * its insert (BATCH_ROLLUPS; a row trigger cost three times the insert). A record skipped as a duplicate
 * (same agent and seq) is not counted, and several servers inserting at once add exactly
 * (`ON CONFLICT DO UPDATE SET n = n + excluded.n`, row-locked by PostgreSQL). The raw records stay
 * for drill-down and downloads; readers take the roll-ups for whole days and the records for the
 * partial days at the edges of a range (report-queries.ts), which gives the same sums.
 *
 * Keys are NOT NULL (unique indexes treat NULLs as distinct): a missing text is '' and a missing exit
 * code (ended by a signal) is NO_EXIT, which no exit status can be. Sums keep a count of the values
 * present where a page shows "none" apart from 0 (memory, read and written bytes).
 *
 * Shards (PostgreSQL): the roll-ups without a user or host (process_daily_command, process_hourly)
 * have the same few rows for every agent ("bash" today), and an upsert holds its rows locked until
 * its commit, so concurrent uploads waited for each other on them (pg_stat_activity, 30,000 simulated
 * agents: 692 of ~880 active samples in Lock:transactionid inside the records' COPY). There those two tables have one more key, `shard`, the
 * inserting connection's backend pid modulo ROLLUP_SHARDS: the concurrent uploads of a pool (pids
 * mostly consecutive) upsert different rows. Readers sum over the keys they show, so a key's rows
 * in several shards add up as one. SQLite (one writer at a time) has no shard column.
 */
import type { Dialect } from './sql.js';

/** The exit_code key of a process without an exit status (a signal ended it). */
export const NO_EXIT = -2147483648;

const KEYS = {
  process_daily: ['day', '"user"', 'host', 'command', 'exe', 'exit_code'],
  process_daily_command: ['day', 'command', 'exe', 'exit_code'],
  process_daily_user: ['day', '"user"', 'host'],
  process_monthly_user: ['month', '"user"', 'host'],
} as const;
export type ProcessRollup = keyof typeof KEYS;

/** The roll-ups every agent's uploads would upsert the same rows of, given a shard key on PostgreSQL. */
const SHARDED: ReadonlySet<string> = new Set(['process_daily_command', 'process_hourly']);
export const ROLLUP_SHARDS = 16;
/** The shard of the rows an upsert adds to: one per connection, constant through a statement. */
const PG_SHARD_EXPR = `(pg_backend_pid() % ${ROLLUP_SHARDS})`;
/** The shard column and its value for an upsert, or nothing where the table has no shard key. */
const shardParts = (shard: string | undefined): [string[], string[]] => (shard ? [['shard'], [shard]] : [[], []]);

/** Key expressions over a process_records row. */
const KEY_EXPR: Record<string, string> = {
  day: 'substr(r.time, 1, 10)',
  month: 'substr(r.time, 1, 7)',
  '"user"': `coalesce(r."user", '')`,
  host: `coalesce(r.host, '')`,
  command: `coalesce(r.command, '')`,
  exe: `coalesce(r.exe, '')`,
  exit_code: `coalesce(r.exit_code, ${NO_EXIT})`,
};

/** Metric columns and their aggregate over process_records rows `r`. */
const METRICS: ReadonlyArray<[string, string]> = [
  ['n', 'count(*)'],
  ['cpu', 'sum(coalesce(r.cpu_user_seconds, 0) + coalesce(r.cpu_system_seconds, 0))'],
  ['elapsed', 'sum(coalesce(r.elapsed_seconds, 0))'],
  ['mem', 'sum(coalesce(r.avg_rss_bytes, 0) * coalesce(r.elapsed_seconds, 0))'],
  ['rss_sum', 'sum(coalesce(r.avg_rss_bytes, 0))'],
  ['rss_n', 'count(r.avg_rss_bytes)'],
  ['max_rss', 'max(r.max_rss_bytes)'],
  ['read_sum', 'sum(coalesce(r.read_bytes, 0))'],
  ['read_n', 'count(r.read_bytes)'],
  ['write_sum', 'sum(coalesce(r.write_bytes, 0))'],
  ['write_n', 'count(r.write_bytes)'],
];

function tableDdl(d: Dialect, table: ProcessRollup): string {
  const text = d === 'postgres' ? 'text COLLATE "C"' : 'TEXT';
  const int = d === 'postgres' ? 'bigint' : 'INTEGER';
  const real = d === 'postgres' ? 'double precision' : 'REAL';
  const keyType = (k: string) => (k === 'exit_code' ? int : text);
  const cols = [
    ...KEYS[table].map((k) => `${k} ${keyType(k)} NOT NULL`),
    ...METRICS.map(([m]) => `${m} ${m.endsWith('_n') || m === 'n' ? int : real}${m === 'max_rss' ? '' : ' NOT NULL'}`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${table} (${cols.join(', ')}, PRIMARY KEY (${KEYS[table].join(', ')}))${d === 'sqlite' ? ' WITHOUT ROWID' : ''};`;
}

/** SELECT of `exprs` (aggregates over rows `r`) from `from` where `cond`, grouped by `keys` (sorted: concurrent PostgreSQL transactions lock the roll-up rows in one order). */
function selectSums(exprs: readonly string[], keys: readonly string[], from: string, cond: string): string {
  return `SELECT ${exprs.join(', ')} FROM ${from} AND ${cond} GROUP BY ${keys.join(', ')} ORDER BY ${keys.join(', ')}`;
}

/** INSERT ... SELECT of the sums of the process rows `r` of `from` (a FROM and WHERE), added to what the roll-up has. */
export function rollupInsert(table: ProcessRollup, from: string): string {
  const keys = KEYS[table];
  const keyExprs = keys.map((k) => KEY_EXPR[k]);
  return (
    `INSERT INTO ${table} (${[...keys, ...METRICS.map(([m]) => m)].join(', ')}) ` +
    `${selectSums([...keyExprs, ...METRICS.map(([, e]) => e)], keyExprs, from, "r.type = 'process'")} ` +
    `ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${mergeClause(table)};`
  );
}

/** The upsert's SET: sums and counts added, the peak kept. */
function mergeClause(table: ProcessRollup): string {
  return METRICS.map(([m]) =>
    m === 'max_rss'
      ? `max_rss = CASE WHEN excluded.max_rss IS NULL THEN ${table}.max_rss WHEN ${table}.max_rss IS NULL OR excluded.max_rss > ${table}.max_rss THEN excluded.max_rss ELSE ${table}.max_rss END`
      : `${m} = ${table}.${m} + excluded.${m}`,
  ).join(', ');
}

export function userGroupsInsert(from: string): string {
  return (
    `INSERT INTO process_user_groups ("user", grp, n) ${selectSums(['r."user"', 'r.grp', 'count(*)'], ['r."user"', 'r.grp'], from, `r.type = 'process' AND r."user" IS NOT NULL AND r.grp IS NOT NULL`)} ` +
    `ON CONFLICT ("user", grp) DO UPDATE SET n = process_user_groups.n + excluded.n;`
  );
}

/**
 * `process_hourly`: process-interval records per UTC day of their record time x UTC hour of their
 * interval start x command (the hourly Process Accounting without a user or host filter).
 */
const INTERVAL_KEYS: ReadonlyArray<[string, string]> = [
  ['day', 'substr(r.time, 1, 10)'],
  ['hour', 'substr(r.interval_start, 1, 13)'],
  ['command', `coalesce(r.command, '')`],
];
const INTERVAL_METRICS: ReadonlyArray<[string, string]> = [
  ['n', 'count(*)'],
  ['cpu', 'sum(coalesce(r.cpu_seconds, 0))'],
  ['elapsed', 'sum(coalesce(r.elapsed_seconds, 0))'],
  ['io', 'sum(coalesce(r.read_bytes, 0) + coalesce(r.write_bytes, 0))'],
  ['rss', 'sum(coalesce(r.avg_rss_bytes, 0) * coalesce(r.elapsed_seconds, 0))'],
];

function intervalDdl(d: Dialect): string {
  const text = d === 'postgres' ? 'text COLLATE "C"' : 'TEXT';
  const int = d === 'postgres' ? 'bigint' : 'INTEGER';
  const real = d === 'postgres' ? 'double precision' : 'REAL';
  return (
    `CREATE TABLE IF NOT EXISTS process_hourly (day ${text} NOT NULL, hour ${text} NOT NULL, command ${text} NOT NULL, n ${int} NOT NULL, cpu ${real} NOT NULL, ` +
    `elapsed ${real} NOT NULL, io ${real} NOT NULL, rss ${real} NOT NULL, PRIMARY KEY (day, hour, command))${d === 'sqlite' ? ' WITHOUT ROWID' : ''};`
  );
}

/** `shard`: the shard expression where the table has that key (PostgreSQL since V_ROLLUP_SHARDS). */
export function intervalInsert(from: string, shard?: string): string {
  const keys = INTERVAL_KEYS.map(([, e]) => e);
  const [shardCol, shardExpr] = shardParts(shard);
  return (
    `INSERT INTO process_hourly (${[...INTERVAL_KEYS.map(([c]) => c), ...shardCol, ...INTERVAL_METRICS.map(([c]) => c)].join(', ')}) ` +
    `${selectSums([...keys, ...shardExpr, ...INTERVAL_METRICS.map(([, e]) => e)], keys, from, "r.type = 'process-interval' AND r.interval_start IS NOT NULL")} ` +
    `ON CONFLICT (${[...INTERVAL_KEYS.map(([c]) => c), ...shardCol].join(', ')}) DO UPDATE SET ${INTERVAL_METRICS.map(([m]) => `${m} = process_hourly.${m} + excluded.${m}`).join(', ')};`
  );
}

/** The day roll-ups of process records (the month one is kept beside them). */
const ROLLUPS: readonly ProcessRollup[] = ['process_daily', 'process_daily_command', 'process_daily_user'];

/** process_monthly_user of the months [fromMonth, toMonth) summed again from the day rows (after those were made right). */
function monthlyFromDaily(): string {
  const sums = METRICS.map(([m]) => (m === 'max_rss' ? 'max(max_rss)' : `sum(${m})`)).join(', ');
  return (
    `INSERT INTO process_monthly_user (month, "user", host, ${METRICS.map(([m]) => m).join(', ')}) SELECT substr(day, 1, 7), "user", host, ${sums} ` +
    `FROM process_daily_user WHERE day >= ? AND day < ? GROUP BY substr(day, 1, 7), "user", host`
  );
}

/** The migration: tables, their fill from the records already stored (the backfill), and the triggers. */
export function rollupMigration(d: Dialect): string {
  const text = d === 'postgres' ? 'text' : 'TEXT';
  const int = d === 'postgres' ? 'bigint' : 'INTEGER';
  const tables = [
    ...[...ROLLUPS, 'process_monthly_user' as const].map((t) => tableDdl(d, t)),
    `CREATE INDEX IF NOT EXISTS process_daily_by_user ON process_daily ("user", day);`,
    `CREATE INDEX IF NOT EXISTS process_daily_by_host ON process_daily (host, day);`,
    intervalDdl(d),
    `CREATE TABLE IF NOT EXISTS process_user_groups ("user" ${text} NOT NULL, grp ${text} NOT NULL, n ${int} NOT NULL, PRIMARY KEY ("user", grp));`,
  ];
  const all = 'process_records r WHERE true';
  const withMonth = [...ROLLUPS, 'process_monthly_user' as const];
  const backfill = [...withMonth.map((t) => rollupInsert(t, all)), userGroupsInsert(all), intervalInsert(all)];
  if (d === 'sqlite') return [...tables, ...backfill].join('\n');
  const ins = 'inserted r WHERE true';
  const fn =
    `CREATE OR REPLACE FUNCTION process_rollups_insert() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n` +
    `${[...withMonth.map((t) => rollupInsert(t, ins)), userGroupsInsert(ins), intervalInsert(ins)].join('\n')}\nRETURN NULL;\nEND\n$body$;`;
  const trigger =
    `DROP TRIGGER IF EXISTS process_rollups_insert ON process_records;\n` +
    `CREATE TRIGGER process_rollups_insert AFTER INSERT ON process_records REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION process_rollups_insert();`;
  return [...tables, ...backfill, fn, trigger].join('\n');
}

/**
 * The roll-ups of one batch in two steps: its process rows summed once at the finest grain (`fill`,
 * a SELECT over `from`), then each roll-up adding up those few rows (`rollups`, reading `batch`).
 * Sorted by key where several PostgreSQL transactions may upsert the same roll-up rows at once:
 * they then lock them in one order.
 */
function batchRollups(from: string, batch: string, sorted: boolean, shard?: string) {
  const keyCols = ['day', 'month', '"user"', 'host', 'command', 'exe', 'exit_code'] as const;
  const grain = [...keyCols.map((k) => KEY_EXPR[k]!), '(r."user" IS NOT NULL)', 'r.grp'];
  const metricType = (m: string) => (m === 'n' || m.endsWith('_n') ? 'INTEGER' : 'REAL');
  const columns = [
    ...keyCols.map((k) => `${k} ${k === 'exit_code' ? 'INTEGER' : 'TEXT'}`),
    'has_user INTEGER',
    'grp TEXT',
    ...METRICS.map(([m]) => `${m} ${metricType(m)}`),
  ];
  const fill = `SELECT ${[...grain, ...METRICS.map(([, e]) => e)].join(', ')} FROM ${from} AND r.type = 'process' GROUP BY ${grain.join(', ')}`;
  const order = (keys: readonly string[]) => (sorted ? ` ORDER BY ${keys.join(', ')}` : '');
  const resum = METRICS.map(([m]) => (m === 'max_rss' ? 'max(r.max_rss)' : `sum(r.${m})`));
  const rollups = [...ROLLUPS, 'process_monthly_user' as const].map((t) => {
    const keys = KEYS[t].map((k) => `r.${k}`);
    const [shardCol, shardExpr] = shardParts(SHARDED.has(t) ? shard : undefined);
    return (
      `INSERT INTO ${t} (${[...KEYS[t], ...shardCol, ...METRICS.map(([m]) => m)].join(', ')}) SELECT ${[...keys, ...shardExpr, ...resum].join(', ')} FROM ${batch} r GROUP BY ${keys.join(', ')}${order(keys)} ` +
      `ON CONFLICT (${[...KEYS[t], ...shardCol].join(', ')}) DO UPDATE SET ${mergeClause(t)}`
    );
  });
  const groupKeys = ['r."user"', 'r.grp'];
  const groups =
    `INSERT INTO process_user_groups ("user", grp, n) SELECT r."user", r.grp, sum(r.n) FROM ${batch} r WHERE r.has_user AND r.grp IS NOT NULL GROUP BY r."user", r.grp${order(groupKeys)} ` +
    `ON CONFLICT ("user", grp) DO UPDATE SET n = process_user_groups.n + excluded.n`;
  return { columns, fill, rollups: [...rollups, groups] };
}

/**
 * SQLite's roll-ups of one insert batch, run by the store after the batch's rows went in. The
 * batch's process rows (agent ?, seq between ? and ?) are summed once, at the finest grain, into
 * the connection's temporary table rollup_batch; each roll-up then adds up those few rows. Exact
 * because every seq ingest stores is above the agent's acknowledged seq, and no row above it exists
 * before (ingest.ts planIngest): the range holds the batch's rows and no others. Params: agent
 * id, lowest seq, highest seq, for BATCH_ROLLUPS.fill and BATCH_ROLLUPS.intervals.
 */
export const BATCH_ROLLUPS = (() => {
  const b = batchRollups('process_records r WHERE r.agent_id = ? AND r.seq BETWEEN ? AND ?', 'temp.rollup_batch', false);
  return {
    create: `CREATE TEMP TABLE IF NOT EXISTS rollup_batch (${b.columns.join(', ')})`,
    clear: 'DELETE FROM temp.rollup_batch',
    fill: `INSERT INTO temp.rollup_batch ${b.fill}`,
    rollups: b.rollups,
    intervals: intervalInsert('process_records r WHERE r.agent_id = ? AND r.seq BETWEEN ? AND ?'),
  };
})();

/**
 * PostgreSQL's statement trigger over the inserted rows, as SQLite's BATCH_ROLLUPS: the rows summed
 * once (a materialized CTE) and every roll-up filled from that in the same statement. Migration 6
 * scanned the transition table once per roll-up; this costs a fifth of that (bench/server-ingest).
 * `sharded`: the tables have their shard key (V_ROLLUP_SHARDS and after).
 */
export function rollupTriggerFunction(sharded: boolean): string {
  const shard = sharded ? PG_SHARD_EXPR : undefined;
  const b = batchRollups('inserted r WHERE true', 'batch', true, shard);
  const names = b.columns.map((c) => c.split(' ')[0]);
  const last = b.rollups[b.rollups.length - 1]!;
  const ctes = [`batch (${names.join(', ')}) AS MATERIALIZED (${b.fill})`, ...b.rollups.slice(0, -1).map((u, i) => `u${i} AS (${u})`)];
  return (
    `CREATE OR REPLACE FUNCTION process_rollups_insert() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n` +
    `WITH ${ctes.join(',\n')}\n${last};\n${intervalInsert('inserted r WHERE true', shard)}\nRETURN NULL;\nEND\n$body$;`
  );
}

/** PostgreSQL: the shard key on the roll-ups every agent shares (see Shards above); the rows there stay in shard 0. */
export function rollupShardMigration(): string {
  const pk = (t: string, keys: readonly string[]) =>
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS shard integer NOT NULL DEFAULT 0;\n` +
    `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${t}_pkey;\n` +
    `ALTER TABLE ${t} ADD PRIMARY KEY (${[...keys, 'shard'].join(', ')});`;
  return [
    pk('process_daily_command', KEYS.process_daily_command),
    pk(
      'process_hourly',
      INTERVAL_KEYS.map(([c]) => c),
    ),
    rollupTriggerFunction(true),
  ].join('\n');
}

/**
 * Retention of process records removes rows before `cutoffIso`: the days wholly before it leave the
 * roll-ups, and the day it cuts through is summed again from the rows that stay. Run in one
 * transaction (before the rows go: readers then see the roll-ups as they will be).
 */
export function rollupRetention(type: string, cutoffIso: string): Array<{ sql: string; params: unknown[] }> {
  const day = cutoffIso.slice(0, 10);
  const out: Array<{ sql: string; params: unknown[] }> = [];
  const from = 'process_records r WHERE r.time >= ? AND r.time < ?';
  for (const [t, insert] of rollupsOf(type)) {
    out.push({ sql: `DELETE FROM ${t} WHERE day <= ?`, params: [day] });
    out.push({ sql: insert(from), params: [cutoffIso, `${day}T99`] });
  }
  if (type === 'process') {
    // The month the cutoff is in, from its day rows (just made right), the months before it gone.
    const month = day.slice(0, 7);
    out.push({ sql: 'DELETE FROM process_monthly_user WHERE month <= ?', params: [month] });
    out.push({ sql: monthlyFromDaily(), params: [`${month}-01`, `${month}-99`] });
  }
  return out;
}

/** The day roll-ups of a record type, with their INSERT ... SELECT. */
function rollupsOf(type: string): Array<[string, (from: string) => string]> {
  if (type === 'process') return ROLLUPS.map((t) => [t, (from: string) => rollupInsert(t, from)]);
  if (type === 'process-interval') return [['process_hourly', intervalInsert]];
  return [];
}

/** After process records went (retention): the group counts summed again from the rows left. */
export const USER_GROUPS_REBUILD = ['DELETE FROM process_user_groups', userGroupsInsert('process_records r WHERE true')];

/** A PostgreSQL monthly partition of process records dropped: its days leave the roll-ups (same transaction). */
export function rollupPartitionDrop(type: string, starts: string, ends: string): Array<{ sql: string; params: unknown[] }> {
  const out = rollupsOf(type).map(([t]) => ({ sql: `DELETE FROM ${t} WHERE day >= ? AND day < ?`, params: [starts, ends] }));
  if (type === 'process') out.push({ sql: 'DELETE FROM process_monthly_user WHERE month >= ? AND month < ?', params: [starts.slice(0, 7), ends.slice(0, 7)] });
  return out;
}
