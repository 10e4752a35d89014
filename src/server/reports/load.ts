/** Reading the usage report's events from the store (either store, through Queries). */
import type { Queries } from '../storage/queries.js';
import { DAY_MS, iso, type SummaryPeriod } from './calendar.js';
import { pairEvents, seatKeyOf, toEvent, type Paired, type ReportEvent, type Span } from './pairing.js';
import { buildLogFiles, type LogFile, type LogMode } from './logfiles.js';
import { buildUsageReport, type UsageReport } from './usage.js';

/** A usage event row (storage/report-queries.ts) as the report functions take it. */

/**
 * The server's usage events in [from, to), plus the opening events of leases, allocations and
 * queue tickets that were already open at `from` (read from the lease, allocation and queue
 * tables, which keep their full history).
 */
export async function loadReportEvents(q: Queries, r: { from: number; to: number; product?: string; queueAndDenialsOnly?: boolean }): Promise<ReportEvent[]> {
  const inRange = await q.reportEventsInRange(iso(r.from), iso(r.to), r.product, r.queueAndDenialsOnly ? [5, 6, 7] : undefined);
  const openLeases = r.queueAndDenialsOnly ? [] : await q.reportOpenLeaseEvents(r.from, r.product);
  const openAllocations = r.queueAndDenialsOnly ? [] : await q.reportOpenAllocations(r.from, r.product);
  const openTickets = await q.reportOpenTickets(r.from, r.product);
  return [
    ...openAllocations.map((a): ReportEvent => ({ time: a.issued_at, code: 27, product: a.product_id, agentId: a.agent_id, user: a.user, host: a.host })),
    ...openTickets.map(
      (t): ReportEvent => ({
        time: t.enqueued_at,
        code: 5,
        product: t.product_id,
        agentId: t.agent_id,
        user: t.user,
        host: t.host,
        pid: t.pid,
        processStart: t.process_start,
      }),
    ),
    ...openLeases.map(toEvent),
    ...inRange.map(toEvent),
  ];
}

/**
 * The license spans of [from, to) read from usage_spans (storage/spans.ts), exactly as pairEvents
 * makes them from loadReportEvents' events: an end after the range is not seen (open), and what
 * was open at `from` is known as the allocation and queue tables tell it (no pid or lease id of an
 * allocation, no lease id of a ticket). Undefined where the store keeps no spans.
 */
export async function loadReportSpans(
  q: Queries,
  r: { from: number; to: number; product?: string; users?: readonly string[]; host?: string },
): Promise<Paired | undefined> {
  const rows = await q.reports.spans(r);
  if (!rows) return undefined;
  const users = r.users ? new Set(r.users) : undefined;
  const spans: Span[] = [];
  const denials: Span[] = [];
  for (const [kind, product, agentId, user, host, pid, leaseId, , startMs, , endMs, reason] of rows) {
    if (users && !users.has(user ?? '')) continue;
    if (r.host !== undefined && host !== r.host) continue;
    const agent = agentId ?? host ?? '';
    if (kind === 'deny') {
      denials.push({ kind, product, agentId: agent, user: user ?? '', host: host ?? '', pid, leaseId, start: startMs, end: startMs, reason, seatKey: null });
      continue;
    }
    const before = startMs !== null && startMs < r.from;
    const ended = endMs !== null && endMs < r.to;
    spans.push({
      kind: kind === 'leaseInAllocation' ? 'lease' : kind,
      product,
      agentId: agent,
      user: user ?? '',
      host: host ?? '',
      pid: before && kind === 'allocation' ? null : pid,
      leaseId: before && (kind === 'allocation' || kind === 'queue') ? null : leaseId,
      start: startMs,
      end: ended ? endMs : null,
      reason: ended ? reason : null,
      seatKey: seatKeyOf(kind, { product, agentId, host, user }),
    });
  }
  return { spans, denials };
}

/** The spans of a range: from usage_spans, or the events paired. */
export async function loadReportPaired(q: Queries, r: { from: number; to: number; product?: string }): Promise<Paired> {
  return (await loadReportSpans(q, r)) ?? pairEvents(await loadReportEvents(q, r));
}

export interface UsageReportQuery {
  /** First and last UTC day, inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
  product?: string;
  periods?: readonly SummaryPeriod[];
  now: number;
  /** Only the queue and deny events (5, 6, 7): a report of waits and denials, without reading the leases. */
  queueAndDenialsOnly?: boolean;
  /** false: summaries without hour-of-day and weekday figures (buildUsageReport's `hourly`). */
  hourly?: boolean;
  /** The first rows of the log only (buildUsageReport's `logLimit`). */
  logLimit?: number;
}

export async function usageReport(db: Queries, q: UsageReportQuery): Promise<UsageReport> {
  const from = Date.parse(q.from + 'T00:00:00Z');
  const to = Date.parse(q.to + 'T00:00:00Z') + DAY_MS;
  const names = Object.fromEntries((await db.products()).map((r) => [r.id, r.name]));
  const paired = q.queueAndDenialsOnly
    ? pairEvents(await loadReportEvents(db, { from, to, product: q.product, queueAndDenialsOnly: true }))
    : await loadReportPaired(db, { from, to, product: q.product });
  return buildUsageReport({ paired, from, to, end: Math.min(to, q.now), periods: q.periods, productNames: names, hourly: q.hourly, logLimit: q.logLimit });
}

export interface LogFilesQuery {
  /** First and last UTC day, inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
  mode?: LogMode;
  product?: string;
  now: number;
}

/** The reference-004 file tree of [from, to] (logfiles.ts), read from the store. */
export async function logFiles(db: Queries, q: LogFilesQuery): Promise<LogFile[]> {
  const from = Date.parse(q.from + 'T00:00:00Z');
  const to = Date.parse(q.to + 'T00:00:00Z') + DAY_MS;
  const names = Object.fromEntries((await db.products()).map((r) => [r.id, r.name]));
  const events = await loadReportEvents(db, { from, to, product: q.product });
  return buildLogFiles({ events, from, to, end: Math.min(to, q.now), mode: q.mode, productNames: names });
}
