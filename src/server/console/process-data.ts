/**
 * Loader of the process accounting page: completed processes by command, user, host and exit
 * status. Portable SQL through the store's `Queries` (`q.sql`), whole days from the daily
 * roll-ups (storage/rollups.ts).
 */
import { iso } from '../reports/calendar.js';
import type { Queries } from '../storage/queries.js';
import { rollupFor, rollupRanges, splitDays } from '../storage/report-queries.js';
import { NO_EXIT } from '../storage/rollups.js';
import { barChart, type Chart } from './charts.js';
import { num } from './fleet-data.js';
import { equalityConditions, rangeEnd, rangeStart, type Filters } from './filters.js';
import type { LoadContext, PageData } from './model.js';
import { col, type Table } from './table.js';

/** WHERE clause of process records for the filters (time range on the record time; group is the Unix group). */
async function processWhere(q: Queries, f: Filters): Promise<{ where: string; params: unknown[]; note?: string }> {
  const { conds, params } = equalityConditions(f, [
    ['user', '"user"'],
    ['host', 'host'],
    ['group', 'grp'],
  ]);
  let note: string | undefined;
  if (f.product) {
    const p = await q.product(f.product);
    const exes: string[] = p ? ((JSON.parse(p.spec) as { match?: { executables?: string[] } }).match?.executables ?? []) : [];
    note = `Product ${f.product}: processes whose command or executable file name is one of its match.executables (${exes.join(', ') || 'none'}).`;
    if (exes.length === 0) conds.push('1 = 0');
    else {
      conds.push(`(command IN (${exes.map(() => '?').join(', ')}) OR ${exes.map(() => 'exe LIKE ?').join(' OR ')})`);
      params.push(...exes, ...exes.map((e) => `%/${e.replace(/[%_]/g, '')}`));
    }
  }
  return { where: conds.join(' AND '), params, note };
}

type Group = Record<string, number | string | null>;
const RECORD_SUMS =
  'count(*) AS n, sum(coalesce(cpu_user_seconds, 0) + coalesce(cpu_system_seconds, 0)) AS cpu, sum(elapsed_seconds) AS elapsed, ' +
  'sum(avg_rss_bytes) AS rss_sum, count(avg_rss_bytes) AS rss_count, max(max_rss_bytes) AS max_rss, sum(read_bytes) AS read_bytes, sum(write_bytes) AS write_bytes';
const ROLLUP_SUMS =
  'sum(n) AS n, sum(cpu) AS cpu, sum(elapsed) AS elapsed, sum(rss_sum) AS rss_sum, sum(rss_n) AS rss_count, max(max_rss) AS max_rss, ' +
  'CASE WHEN sum(read_n) > 0 THEN sum(read_sum) END AS read_bytes, CASE WHEN sum(write_n) > 0 THEN sum(write_sum) END AS write_bytes';

/**
 * The sums the process tables fold: groups with command and exit code (by command, by exit
 * status) and groups with user and host (by user, by host). Whole days come from the daily
 * roll-ups (storage/rollups.ts), the partial days at the edges and every group filter (the
 * roll-ups have no Unix group) from the records.
 */
async function processGroups(q: Queries, f: Filters): Promise<{ groupsByCommand: Group[]; groupsByUser: Group[]; note?: string }> {
  const { where, params, note } = await processWhere(q, f);
  const and = where ? ` AND ${where}` : '';
  const split =
    q.reports.useRollups && !f.group
      ? splitDays(iso(rangeStart(f)), iso(rangeEnd(f)))
      : { days: undefined, edges: [{ fromIso: iso(rangeStart(f)), toIso: iso(rangeEnd(f)) }] };
  let edges: Group[] = [];
  for (const e of split.edges) {
    edges = edges.concat(
      await q.sql.all<Group>(
        `SELECT command, "user", host, exit_code, ${RECORD_SUMS} FROM process_records WHERE type = 'process' AND time >= ? AND time < ?${and} GROUP BY command, "user", host, exit_code`,
        [e.fromIso, e.toIso, ...params],
      ),
    );
  }
  if (!split.days) return { groupsByCommand: edges, groupsByUser: edges, note };
  const days = [split.days.from, split.days.to];
  const commandTable = rollupFor(['command', 'exe', 'exit_code', ...(f.user ? ['user'] : []), ...(f.host ? ['host'] : [])]);
  const userTable = rollupFor(['user', 'host', ...(f.product ? ['command', 'exe'] : [])]);
  const byCommand = await q.sql.all<Group>(
    `SELECT nullif(command, '') AS command, CASE WHEN exit_code = ${NO_EXIT} THEN NULL ELSE exit_code END AS exit_code, ${ROLLUP_SUMS} ` +
      `FROM ${commandTable} WHERE day >= ? AND day < ?${and} GROUP BY command, exit_code`,
    [...days, ...params],
  );
  let byUser: Group[] = [];
  for (const r of rollupRanges(userTable, split.days)) {
    byUser = byUser.concat(
      await q.sql.all<Group>(
        `SELECT nullif("user", '') AS "user", nullif(host, '') AS host, ${ROLLUP_SUMS} FROM ${r.table} WHERE ${r.column} >= ? AND ${r.column} < ?${and} GROUP BY "user", host`,
        [r.from, r.to, ...params],
      ),
    );
  }
  return { groupsByCommand: [...edges, ...byCommand], groupsByUser: [...edges, ...byUser], note };
}

const PROCESS_DIMENSIONS = [
  ['command', 'command'],
  ['user', 'user'],
  ['host', 'host'],
  ['exit', 'exit status'],
] as const;

interface ProcessTotals {
  n: number;
  cpu: number;
  elapsed: number;
  rssSum: number;
  rssCount: number;
  maxRss: number | null;
  read: number | null;
  write: number | null;
}

const addNullable = (a: number | null, b: unknown) => (b === null || b === undefined ? a : (a ?? 0) + Number(b));

export async function loadProcesses(ctx: LoadContext): Promise<PageData> {
  const { groupsByCommand, groupsByUser, note } = await processGroups(ctx.q, ctx.filters);
  const tables: Table[] = [];
  for (const [id, label] of PROCESS_DIMENSIONS) {
    const by = new Map<string, { key: string | number | null } & ProcessTotals>();
    for (const g of id === 'command' || id === 'exit' ? groupsByCommand : groupsByUser) {
      const key = id === 'exit' ? (g.exit_code === null ? null : num(g.exit_code)) : (g[id] as string | null);
      const k = String(key);
      const e = by.get(k) ?? by.set(k, { key, n: 0, cpu: 0, elapsed: 0, rssSum: 0, rssCount: 0, maxRss: null, read: null, write: null }).get(k)!;
      e.n += num(g.n);
      e.cpu += num(g.cpu);
      e.elapsed += num(g.elapsed);
      e.rssSum += num(g.rss_sum);
      e.rssCount += num(g.rss_count);
      if (g.max_rss !== null) e.maxRss = Math.max(e.maxRss ?? 0, num(g.max_rss));
      e.read = addNullable(e.read, g.read_bytes);
      e.write = addNullable(e.write, g.write_bytes);
    }
    const rows = [...by.values()].sort((a, b) => b.cpu - a.cpu || b.n - a.n || String(a.key).localeCompare(String(b.key), 'en', { numeric: true }));
    tables.push({
      id: `by-${id}`,
      title: `By ${label}`,
      columns: [
        col('key', label, id === 'exit' ? 'int' : 'text'),
        col('count', 'processes', 'int'),
        col('cpuSeconds', 'CPU', 'seconds'),
        col('elapsedSeconds', 'elapsed', 'seconds'),
        col('avgRss', 'average memory (RSS)', 'bytes'),
        col('maxRss', 'peak memory (RSS)', 'bytes'),
        col('readBytes', 'read', 'bytes'),
        col('writeBytes', 'written', 'bytes'),
      ],
      rows: rows.slice(0, 200).map((e) => ({
        key: e.key,
        count: e.n,
        cpuSeconds: e.cpu,
        elapsedSeconds: e.elapsed,
        avgRss: e.rssCount ? e.rssSum / e.rssCount : null,
        maxRss: e.maxRss,
        readBytes: e.read,
        writeBytes: e.write,
      })),
      note: id === 'command' ? 'Completed processes (record type "process") ending in the range; the 200 largest by CPU per table.' : undefined,
    });
  }
  const charts: Chart[] = [];
  const top = tables[0].rows.slice(0, 15);
  if (ctx.charts && top.length > 0) {
    charts.push(
      await barChart(
        'CPU time by command (top 15)',
        top.map((r) => String(r.key)),
        [{ name: 'CPU seconds', values: top.map((r) => Math.round(Number(r.cpuSeconds) * 100) / 100) }],
        { unit: 'seconds' },
      ),
    );
  }
  return { charts, tables, notes: note ? [note] : [] };
}
