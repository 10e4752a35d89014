/**
 * Scheduled delivery and alerts inside usage-server (config `reports.schedules`,
 * `reports.alerts`, `reports.webhookUrl`; src/server/README.md). Every check interval:
 *
 * - each schedule whose last complete period (UTC day, ISO week, month) has no file yet gets one:
 *   `<dir>/<name>-<period key>.<csv|html>`, written to a temporary name and renamed, so a reader
 *   never sees half a file and a restart never writes it twice;
 * - the alert rules are evaluated (alerts.ts); a condition that starts to hold is logged (warn)
 *   and POSTed as JSON to the webhook. A failed POST is logged and not retried: the log has it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { join } from 'node:path';
import type { Store } from '../storage/store.js';
import { evaluateAlerts, newFindings, type AlertFinding, type AlertRule } from './alerts.js';
import { dayKey, dayStart, periodOf } from './calendar.js';
import { concurrency } from './concurrency.js';
import { csv } from './csv.js';
import {
  activePage,
  denialsPage,
  harvestPage,
  loadLicenseEvents,
  offlinePage,
  processesPage,
  summariesPage,
  usagePage,
  usersPage,
  workPage,
  type ReportFilters,
} from './loaders.js';
import { tableToHtml, tables, type SchedulePeriod, type Table, type TableReport } from './tables.js';

export interface Schedule {
  name: string;
  report: TableReport;
  period: SchedulePeriod;
  format: 'csv' | 'html';
  dir: string;
  filters?: Omit<ReportFilters, 'from' | 'to' | 'now'>;
}

export interface DeliveryConfig {
  schedules: readonly Schedule[];
  alerts: readonly AlertRule[];
  webhookUrl?: string;
  checkIntervalSeconds: number;
}

interface Log {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

/** The last complete period before `now`: its key and [from, to). */
export function lastCompletePeriod(period: SchedulePeriod, now: number): { key: string; from: number; to: number } {
  const current = periodOf(period, now);
  const p = periodOf(period, current.start - 1);
  return { key: p.key, from: p.start, to: p.end };
}

/** The table of a report over [from, to). */
export async function reportTable(store: Store, report: TableReport, f: ReportFilters): Promise<Table> {
  const q = store.q;
  switch (report) {
    case 'usage':
      return tables.usage(await usagePage(q, f));
    case 'summaries':
      return tables.summaries(await summariesPage(q, f, ['day']));
    case 'log':
      return tables.log(await summariesPage(q, f, []));
    case 'denials':
      return tables.denials(await denialsPage(q, f));
    case 'users':
      return tables.users(await usersPage(q, f));
    case 'active':
      return tables.active(await activePage(q, f));
    case 'harvest':
      return tables.harvest(await harvestPage(q, f));
    case 'processes':
      return tables.processes(await processesPage(q, f));
    case 'work':
      return tables.work(await workPage(q, f));
    case 'offline':
      return tables.offline(await offlinePage(q, f));
  }
}

/** Write the files of schedules whose last complete period has none yet; resolves with the paths written. */
export async function runSchedules(store: Store, schedules: readonly Schedule[], now: number): Promise<string[]> {
  const written: string[] = [];
  for (const s of schedules) {
    const p = lastCompletePeriod(s.period, now);
    const path = join(s.dir, `${s.name}-${p.key}.${s.format}`);
    if (existsSync(path)) continue;
    const table = await reportTable(store, s.report, { ...s.filters, from: p.from, to: p.to, now });
    const text = s.format === 'csv' ? csv(table.head, table.rows) : tableToHtml(`${s.name}: ${s.report}, ${p.key} (UTC)`, table);
    mkdirSync(s.dir, { recursive: true });
    // Readable as before by the group the server's umask leaves it (0640 under the unit's UMask=0027).
    writeFileAtomic(path, text, { mode: 0o644 });
    written.push(path);
  }
  return written;
}

/** The alert conditions holding at `now`. */
export async function checkAlerts(store: Store, rules: readonly AlertRule[], now: number): Promise<AlertFinding[]> {
  if (rules.length === 0) return [];
  const seats = Object.fromEntries((await store.q.products()).map((p) => [p.id, p.seats]));
  const windows = new Map<number, ReturnType<typeof concurrency>>();
  for (const r of rules) {
    if (!('forMinutes' in r) || windows.has(r.forMinutes)) continue;
    const from = now - r.forMinutes * 60_000;
    windows.set(r.forMinutes, concurrency({ events: await loadLicenseEvents(store.q, { from, to: now, now }), from, end: now, seats }));
  }
  const denials = new Map<string, number>();
  if (rules.some((r) => 'deniesPerDay' in r)) {
    const from = dayStart(now);
    if (now > from)
      for (const e of await loadLicenseEvents(store.q, { from, to: now, now }))
        if (e.code === 7 && e.time >= from) denials.set(e.product, (denials.get(e.product) ?? 0) + 1);
  }
  return evaluateAlerts(rules, (r) => windows.get(r.forMinutes) ?? [], denials, dayKey(now));
}

/** Start the loop; `stop()` ends it (and waits for a check in progress). */
export function startDelivery(store: Store, cfg: DeliveryConfig, log: Log): { stop(): Promise<void> } {
  if (cfg.schedules.length === 0 && cfg.alerts.length === 0) return { stop: async () => undefined };
  let holding = new Set<string>();
  let running: Promise<void> | null = null;
  let stopped = false;
  const post = async (f: AlertFinding) => {
    if (!cfg.webhookUrl) return;
    try {
      const r = await fetch(cfg.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(10_000),
        body: JSON.stringify({
          source: 'usage-server',
          kind: f.kind,
          product: f.product,
          value: f.value,
          limit: f.limit,
          message: f.message,
          at: new Date().toISOString(),
        }),
      });
      await r.body?.cancel();
      if (!r.ok) log.warn({ status: r.status, alert: f.kind, product: f.product }, 'alert webhook answered with an error');
    } catch (err) {
      log.warn({ err: (err as Error).message, alert: f.kind, product: f.product }, 'alert webhook failed');
    }
  };
  const check = async () => {
    const now = Date.now();
    try {
      for (const path of await runSchedules(store, cfg.schedules, now)) log.info({ path }, 'scheduled report written');
    } catch (err) {
      log.error({ err }, 'scheduled report failed');
    }
    try {
      const r = newFindings(await checkAlerts(store, cfg.alerts, now), holding);
      holding = r.holding;
      for (const f of r.fire) {
        log.warn({ alert: f.kind, product: f.product, value: f.value, limit: f.limit }, f.message);
        await post(f);
      }
    } catch (err) {
      log.error({ err }, 'alert check failed');
    }
  };
  const tick = () => {
    if (stopped || running) return;
    running = check().finally(() => (running = null));
  };
  const timer = setInterval(tick, cfg.checkIntervalSeconds * 1000);
  timer.unref();
  tick();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
