/**
 * The console's API: one loader per page, each `(q: Queries, filters: ReportFilters) => Promise<...>`,
 * reading through the storage interface (both stores) and handing the rows to the pure report
 * functions of this folder. README.md lists them.
 */
import type { Queries } from '../storage/queries.js';
import type { ProcessSumRow, RecordFilter } from '../storage/report-queries.js';
import { activeReport, baseName, type ActiveReport, type ActivityInterval } from './active.js';
import { checkTimeZone, iso } from './calendar.js';
import { concurrency, efficiencyCurve, type ConcurrencySeries, type EfficiencyCurve } from './concurrency.js';
import { denialsReport, type DenialsReport } from './denials.js';
import { harvestReport, type HarvestReport, type IdleNotification } from './harvest.js';
import { heatmaps, type Heatmap } from './heatmap.js';
import { loadReportEvents, loadReportSpans } from './load.js';
import { offlineReport, type OfflineRow } from './offline.js';
import { pairEvents, toEvent, type Paired, type ReportEvent } from './pairing.js';
import {
  hourlyProcessAccounting,
  processAccounting,
  productCosts,
  type HourlyRow,
  type ProcessAccountingRow,
  type ProcessDimension,
  type ProcessSums,
  type ProductCost,
} from './processes.js';
import { selectionCodes, type EventSelection } from './selections.js';
import { buildUsageReport, type UsageReport } from './usage.js';
import type { SummaryPeriod } from './calendar.js';
import { inactiveUsers, usersReport, type InactiveUser, type UsersReport } from './users.js';
import { workPatterns, type WorkPatternRow } from './work.js';

export interface ReportFilters {
  /** [from, to) in ms since the epoch (UTC). */
  from: number;
  to: number;
  product?: string;
  user?: string;
  host?: string;
  /** Users who ran processes as this (Unix) group. */
  group?: string;
  /** IANA zone for hour-of-day and weekday figures (default UTC); stored and exported times stay UTC. */
  timeZone?: string;
  /** Reference-000 event selection applied to the usage events (default: every license code). */
  selection?: EventSelection;
  /** Now (default Date.now()): open checkouts count until min(to, now). */
  now?: number;
}

/** Bad filters: a message naming the field, for a 400 answer. */
export class FilterError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function checkFilters(f: ReportFilters): void {
  if (!Number.isFinite(f.from)) throw new FilterError('from', 'from must be a time');
  if (!Number.isFinite(f.to)) throw new FilterError('to', 'to must be a time');
  if (f.from >= f.to) throw new FilterError('from', 'from must be before to');
  if (f.timeZone) {
    try {
      checkTimeZone(f.timeZone);
    } catch (err) {
      throw new FilterError('timeZone', (err as Error).message);
    }
  }
}

const endOf = (f: ReportFilters) => Math.max(f.from, Math.min(f.to, f.now ?? Date.now()));

/** The users the user and group filters allow (undefined: all). */
async function allowedUsers(q: Queries, f: ReportFilters): Promise<string[] | undefined> {
  let users: string[] | undefined = f.user !== undefined ? [f.user] : undefined;
  if (f.group !== undefined) {
    const members = (await q.reports.userGroups(f.group)).map((g) => g.user);
    users = users ? users.filter((u) => members.includes(u)) : [...new Set(members)];
  }
  return users;
}

async function recordFilter(q: Queries, f: ReportFilters): Promise<RecordFilter> {
  return { fromIso: iso(f.from), toIso: iso(f.to), users: await allowedUsers(q, f), host: f.host };
}

const LICENSE_CODES = [1, 2, 5, 6, 7, 27, 28, 29, 30];

/**
 * The server's license events for the filters, with what was already open at `from`. A selection
 * keeps its codes (and always the queue and deny codes, the demand); "usage within allocation"
 * without 27/28 makes the 29/30 runs the checkouts.
 */
export async function loadLicenseEvents(q: Queries, f: ReportFilters, opts: { queueAndDenialsOnly?: boolean } = {}): Promise<ReportEvent[]> {
  checkFilters(f);
  const users = await allowedUsers(q, f);
  let events = await loadReportEvents(q, { from: f.from, to: f.to, product: f.product, queueAndDenialsOnly: opts.queueAndDenialsOnly });
  if (users) {
    const set = new Set(users);
    events = events.filter((e) => set.has(e.user ?? ''));
  }
  if (f.host !== undefined) events = events.filter((e) => e.host === f.host);
  if (f.selection) {
    const codes = new Set([...selectionCodes(f.selection), 5, 6, 7]);
    const runsAreCheckouts = (codes.has(29) || codes.has(30)) && !codes.has(27) && !codes.has(28);
    events = events.filter((e) => codes.has(e.code)).map((e) => (runsAreCheckouts && (e.code === 29 || e.code === 30) ? { ...e, code: e.code - 28 } : e));
  }
  return events;
}

/** loadLicenseEvents paired: from the checkout spans (storage/spans.ts) where the store keeps them and no selection picks codes. */
export async function loadLicensePaired(q: Queries, f: ReportFilters): Promise<Paired> {
  checkFilters(f);
  if (!f.selection) {
    const paired = await loadReportSpans(q, { from: f.from, to: f.to, product: f.product, users: await allowedUsers(q, f), host: f.host });
    if (paired) return paired;
  }
  return pairEvents(await loadLicenseEvents(q, f));
}

/** Usage events of a selection (default: all license and program codes) for an event table or download; license codes as the server wrote them. */
export async function loadSelectedEvents(q: Queries, f: ReportFilters): Promise<ReportEvent[]> {
  checkFilters(f);
  const codes = f.selection ? selectionCodes(f.selection) : [...LICENSE_CODES, 3, 4, 8, 9, 10, 11, 12, 13];
  const rows = await q.reports.eventsByCode({
    ...(await recordFilter(q, f)),
    product: f.product,
    serverCodes: codes.filter((c) => LICENSE_CODES.includes(c)),
    agentCodes: codes.filter((c) => !LICENSE_CODES.includes(c)),
  });
  return rows.map(toEvent);
}

async function productInfo(q: Queries): Promise<{ seats: Record<string, number | null>; programs: Record<string, string[]>; names: Record<string, string> }> {
  const rows = await q.products();
  const seats: Record<string, number | null> = {};
  const programs: Record<string, string[]> = {};
  const names: Record<string, string> = {};
  for (const r of rows) {
    seats[r.id] = r.seats;
    names[r.id] = r.name;
    try {
      const spec = JSON.parse(r.spec) as { match?: { executables?: string[] } };
      programs[r.id] = spec.match?.executables ?? [];
    } catch {
      programs[r.id] = [];
    }
  }
  return { seats, programs, names };
}

export interface UsagePage {
  series: ConcurrencySeries[];
  efficiency: Array<{ product: string; used: EfficiencyCurve; desired: EfficiencyCurve }>;
  heatmaps: Array<{ product: string } & Heatmap>;
}

/** Product usage over time: step series with peaks against the seats, the efficiency curves, and the heatmap in the filters' zone. */
export async function usagePage(q: Queries, f: ReportFilters): Promise<UsagePage> {
  const paired = await loadLicensePaired(q, f);
  const { seats } = await productInfo(q);
  const end = endOf(f);
  const series = concurrency({ paired, from: f.from, end, seats });
  const maps = heatmaps(series, f.from, end, f.timeZone ?? 'UTC');
  return {
    series,
    efficiency: series.map((s) => ({
      product: s.product,
      used: efficiencyCurve(s.steps, end),
      desired: efficiencyCurve(s.steps, end, (x) => x.used + x.queued),
    })),
    heatmaps: series.map((s, i) => ({ product: s.product, ...maps[i] })),
  };
}

/** The summaries and log (reference 004) for the filters. */
export async function summariesPage(q: Queries, f: ReportFilters, periods: readonly SummaryPeriod[] = ['day']): Promise<UsageReport> {
  const paired = await loadLicensePaired(q, f);
  const { names } = await productInfo(q);
  return buildUsageReport({ paired, from: f.from, to: f.to, end: endOf(f), periods, productNames: names });
}

export async function denialsPage(q: Queries, f: ReportFilters): Promise<DenialsReport> {
  // Waits and denials only: the leases (most of the events) are not read.
  return denialsReport({ events: await loadLicenseEvents(q, f, { queueAndDenialsOnly: true }), from: f.from, end: endOf(f), timeZone: f.timeZone });
}

export interface UsersPage extends UsersReport {
  inactive: InactiveUser[];
  inactiveDays: number;
}

/** Top users and longest checkouts in the range; users whose last checkout of a product is older than `inactiveDays` (default 30) before now. */
export async function usersPage(q: Queries, f: ReportFilters, opts: { limit?: number; inactiveDays?: number } = {}): Promise<UsersPage> {
  const { spans } = await loadLicensePaired(q, f);
  const r = usersReport({ spans, from: f.from, end: endOf(f), limit: opts.limit });
  const users = await allowedUsers(q, f);
  const last = (await q.reports.lastUse(f.product)).filter((x) => !users || users.includes(x.user));
  const inactiveDays = opts.inactiveDays ?? 30;
  return {
    ...r,
    inactiveDays,
    inactive: inactiveUsers(
      last.map((x) => ({ user: x.user, product: x.product, lastUsed: x.last })),
      f.now ?? Date.now(),
      inactiveDays,
    ),
  };
}

export async function activePage(q: Queries, f: ReportFilters): Promise<ActiveReport> {
  const events = await loadLicenseEvents(q, f);
  const { programs } = await productInfo(q);
  // One product's page: only the intervals of its programs (activeReport matches their base names, and the product id).
  const apps = f.product === undefined ? undefined : [f.product, ...(programs[f.product] ?? []).map(baseName)];
  const rows = await q.reports.activityIntervals(await recordFilter(q, f), apps);
  const activity: ActivityInterval[] = [];
  for (const r of rows) {
    if (!r.start || !r.end) continue;
    activity.push({
      type: r.type,
      user: r.user ?? '',
      host: r.host ?? '',
      application: r.application,
      start: Date.parse(r.start),
      end: Date.parse(r.end),
      keyboard: r.keyboard,
      mouse: r.mouse,
    });
  }
  return activeReport({ events, activity, programs, from: f.from, end: endOf(f) });
}

export async function harvestPage(q: Queries, f: ReportFilters): Promise<HarvestReport> {
  const events = await loadLicenseEvents(q, f);
  const { seats } = await productInfo(q);
  const notifications: IdleNotification[] = [];
  for (const n of await q.reports.notifications(await recordFilter(q, f))) {
    try {
      const d = JSON.parse(n.data) as { user?: string; product?: string; messageKey?: string };
      if (typeof d.messageKey === 'string' && d.messageKey.startsWith('idle.')) {
        notifications.push({ time: Date.parse(n.time), user: d.user ?? '', host: n.host ?? '', product: d.product ?? '', messageKey: d.messageKey });
      }
    } catch {
      // A notification that is not JSON cannot be about idle harvesting.
    }
  }
  return harvestReport({ events, notifications, seats, from: f.from, end: endOf(f) });
}

export interface ProcessesPage {
  rows: ProcessAccountingRow[];
  hourly: HourlyRow[];
  products: ProductCost[];
}

/** Process accounting grouped `by` (default command), the hourly Process Accounting, and cost and crash rate per licensed product. */
export async function processesPage(q: Queries, f: ReportFilters, opts: { by?: readonly ProcessDimension[]; limit?: number } = {}): Promise<ProcessesPage> {
  checkFilters(f);
  const rf = await recordFilter(q, f);
  const by = opts.by ?? ['command'];
  const toSums = (rows: ProcessSumRow[]): ProcessSums[] =>
    rows.map((r) => ({
      command: r.command ?? '',
      exe: r.exe ?? '',
      user: r.user ?? '',
      host: r.host ?? '',
      exitCode: r.exit_code,
      count: r.n,
      cpuSeconds: r.cpu,
      elapsedSeconds: r.elapsed,
      ioBytes: r.io,
      memoryByteSeconds: r.mem,
    }));
  // Two sums: by the page's dimensions (the table), by program and exit status (the cost per
  // product); each from the smallest roll-up that has its columns.
  const sums = toSums(
    await q.reports.processSums(
      rf,
      by.map((d) => (d === 'exit' ? 'exit_code' : d)),
    ),
  );
  const programSums = toSums(await q.reports.processSums(rf, ['command', 'exe', 'exit_code']));
  const hourly = hourlyProcessAccounting(
    (await q.reports.intervalSums(rf)).map((r) => ({
      hour: r.hour,
      command: r.command ?? '',
      count: r.n,
      cpuSeconds: r.cpu,
      elapsedSeconds: r.elapsed,
      ioBytes: r.io,
      rssByteSeconds: r.rss,
    })),
  );
  const { programs } = await productInfo(q);
  const wanted = f.product ? { [f.product]: programs[f.product] ?? [] } : programs;
  return { rows: processAccounting(sums, by, opts.limit ?? 200), hourly, products: productCosts(programSums, wanted) };
}

/** Work patterns per user, or per group (`by: 'group'`: each user's most frequent process group). */
export async function workPage(q: Queries, f: ReportFilters, opts: { by?: 'user' | 'group' } = {}): Promise<WorkPatternRow[]> {
  checkFilters(f);
  const rf = await recordFilter(q, f);
  // Independent reads: PostgreSQL runs them on several connections at once.
  const [activity, applicationSwitches, mainGroups] = await Promise.all([
    q.reports.activitySums(rf),
    q.reports.applicationSwitches(rf),
    opts.by === 'group' ? q.reports.mainGroups() : undefined,
  ]);
  const sums = activity.map((r) => ({
    user: r.user ?? '',
    type: r.type,
    breakType: r.break_type,
    periodType: r.period_type,
    count: r.n,
    totalSeconds: r.total,
    maxSeconds: r.longest,
    keyboard: r.keyboard,
    mouse: r.mouse,
    switches: r.switches,
  }));
  const groups = mainGroups && Object.fromEntries(mainGroups.map((g) => [g.user, g.grp]));
  return workPatterns({ sums, applicationSwitches, groups, by: opts.by });
}

/** Offline use (10-13, uploaded by the agents) beside the online checkouts, per product. */
export async function offlinePage(q: Queries, f: ReportFilters): Promise<OfflineRow[]> {
  // The leases of codes 1/2 (those inside an allocation, 29/30, hold no seat key).
  const online = (await loadLicensePaired(q, { ...f, selection: undefined })).spans.filter((s) => s.kind === 'lease' && s.seatKey !== null);
  const offline = await q.reports.eventsByCode({ ...(await recordFilter(q, f)), product: f.product, serverCodes: [], agentCodes: [10, 11, 12, 13] });
  return offlineReport({ events: offline.map(toEvent), online, from: f.from, end: endOf(f) });
}
