/**
 * Report pages as plain tables (a header and rows), for scheduled delivery and any download:
 * CSV through csv.ts, HTML through `tableToHtml` (escaped; no script, no external asset).
 */
import { iso } from './calendar.js';
import { SUMMARY_FIGURES } from './csv.js';
import type { ActiveReport } from './active.js';
import type { DenialsReport } from './denials.js';
import type { HarvestReport } from './harvest.js';
import type { UsagePage, UsersPage, ProcessesPage } from './loaders.js';
import type { OfflineRow } from './offline.js';
import type { UsageReport } from './usage.js';
import type { WorkPatternRow } from './work.js';

export interface Table {
  head: string[];
  rows: unknown[][];
}

const t = (ms: number | null) => (ms === null ? null : iso(ms));

export const tables = {
  usage: (p: UsagePage): Table => ({
    head: ['ProductId', 'Seats', 'PeakUsed', 'PeakUsedAt', 'PeakDesired', 'PeakDesiredAt', 'UsedHours', 'DesiredHours', 'Seats95', 'Seats99', 'Denials'],
    rows: p.series.map((s, i) => [
      s.product,
      s.seats,
      s.peakUsed.value,
      t(s.peakUsed.at),
      s.peakDesired.value,
      t(s.peakDesired.at),
      s.usedHours,
      s.desiredHours,
      p.efficiency[i].used.seats95,
      p.efficiency[i].used.seats99,
      s.denials.reduce((n, d) => n + d.count, 0),
    ]),
  }),
  summaries: (r: UsageReport): Table => ({
    head: ['Period', 'Key', 'ProductId', 'ProductName', ...SUMMARY_FIGURES.map(([n]) => n), 'WeightedAverageUsed', 'WeightedAverageDesired'],
    rows: r.summaries.map((s) => [
      s.period,
      s.key,
      s.product,
      s.productName,
      ...SUMMARY_FIGURES.map(([, f]) => s[f]),
      s.weightedAverageUsed,
      s.weightedAverageDesired,
    ]),
  }),
  log: (r: UsageReport): Table => ({
    head: ['Date', 'Kind', 'UserName', 'HostName', 'ProcessId', 'ProductId', 'StartTime', 'EndTime', 'Seconds', 'NumberGranted', 'Reason'],
    rows: r.log.map((l) => [l.date, l.kind, l.user, l.host, l.pid, l.product, l.startTime, l.endTime, l.seconds, l.granted, l.reason]),
  }),
  denials: (r: DenialsReport): Table => ({
    head: ['Kind', 'ProductId', 'UserName', 'HostName', 'Start', 'End', 'Seconds', 'Reason'],
    rows: [
      ...r.denials.map((d) => ['deny', d.product, d.user, d.host, t(d.t), t(d.t), 0, d.reason]),
      ...r.waits.map((w) => ['queue', w.product, w.user, w.host, t(w.start), t(w.end), w.seconds, w.outcome]),
    ],
  }),
  users: (r: UsersPage): Table => ({
    head: ['UserName', 'LicenseHours', 'Checkouts', 'Products'],
    rows: r.topUsers.map((u) => [u.user, u.licenseHours, u.checkouts, u.products.join(' ')]),
  }),
  active: (r: ActiveReport): Table => ({
    head: ['ProductId', 'UserName', 'HeldHours', 'ActiveHours', 'ActiveShare'],
    rows: r.byUser.map((u) => [u.product, u.user, u.heldHours, u.activeHours, u.activeShare]),
  }),
  harvest: (r: HarvestReport): Table => ({
    head: ['Time', 'ProductId', 'UserName', 'HostName', 'Action', 'GivenBackHours', 'Until'],
    rows: r.releases.map((x) => [t(x.t), x.product, x.user, x.host, x.action, x.givenBackHours, t(x.until)]),
  }),
  processes: (r: ProcessesPage): Table => {
    const dims = r.rows[0] ? Object.keys(r.rows[0].key) : ['command'];
    return {
      head: [...dims, 'Count', 'CpuSeconds', 'ElapsedHours', 'IoBytes', 'AverageMemoryBytes', 'AccumulatedMemoryByteSeconds'],
      rows: r.rows.map((x) => [
        ...dims.map((d) => x.key[d]),
        x.count,
        x.cpuSeconds,
        x.elapsedHours,
        x.ioBytes,
        x.averageMemoryBytes,
        x.accumulatedMemoryByteSeconds,
      ]),
    };
  },
  work: (rows: WorkPatternRow[]): Table => ({
    head: [
      'Name',
      'Users',
      'Microbreaks',
      'ShortBreaks',
      'ExtendedBreaks',
      'BreakHours',
      'WorkHours',
      'InputHours',
      'KeyboardPerHour',
      'MousePerHour',
      'ApplicationSwitches',
    ],
    rows: rows.map((r) => [
      r.name,
      r.users,
      r.breaks.microbreak.count,
      r.breaks.short.count,
      r.breaks.extended.count,
      Object.values(r.breaks).reduce((s, b) => s + b.totalHours, 0),
      Object.values(r.work).reduce((s, b) => s + b.totalHours, 0),
      r.inputHours,
      r.keyboardPerHour,
      r.mousePerHour,
      r.applicationSwitches,
    ]),
  }),
  offline: (rows: OfflineRow[]): Table => ({
    head: ['ProductId', 'OnlineCheckouts', 'OnlineHours', 'OfflineLaunches', 'OfflineHours', 'LoggedOfflineLaunches', 'LoggedOfflineHours', 'OfflineShare'],
    rows: rows.map((r) => [
      r.product,
      r.onlineCheckouts,
      r.onlineHours,
      r.offlineLaunches,
      r.offlineHours,
      r.loggedOfflineLaunches,
      r.loggedOfflineHours,
      r.offlineShare,
    ]),
  }),
};

export type TableReport = keyof typeof tables;
/** Periods a scheduled report covers (the last complete one): UTC day, ISO week, month. */
export const SCHEDULE_PERIODS = ['day', 'week', 'month'] as const;
export type SchedulePeriod = (typeof SCHEDULE_PERIODS)[number];
export const TABLE_REPORTS = Object.keys(tables) as TableReport[];

const esc = (v: unknown) => (v === null || v === undefined ? '' : String(v)).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A self-contained HTML page with one table. */
export function tableToHtml(title: string, table: Table): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
    '<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:left}</style></head>' +
    `<body><h1>${esc(title)}</h1><table><thead><tr>${table.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n` +
    table.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n') +
    '\n</tbody></table></body></html>\n'
  );
}
