/**
 * Loaders of the pages about now and about uploaded records: overview, agents, leases and
 * allocations now, offline use (process accounting: process-data.ts). Their statements are portable SQL run
 * through the store's `Queries` (`q.sql`, `?` placeholders), so SQLite and PostgreSQL serve them.
 */
import { isAllocatingType } from '../leases/logic.js';
import { loadReportPaired } from '../reports/load.js';
import { logBounds } from '../reports/usage.js';
import type { Queries } from '../storage/queries.js';
import type { AgentRow } from '../storage/types.js';
import { barChart, type Chart } from './charts.js';
import { equalityConditions, rangeEnd, rangeStart, startOfDayInZone } from './filters.js';
import type { LoadContext, PageData } from './model.js';
import { col, named, type RowAction, type Table } from './table.js';
import { checkoutKey, personal } from './usage-data.js';

import { iso } from '../reports/calendar.js';

export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** Per agent: the time of its newest acknowledged record (the record at acked_seq, whichever table holds it). */
async function ackedRecordTimes(q: Queries): Promise<Map<string, string>> {
  const tables = ['process_records', 'activity_records', 'other_records', 'usage_events'];
  const rows = await q.sql.all<{ id: string; time: string }>(
    tables.map((t) => `SELECT a.id, r.time FROM agents a JOIN ${t} r ON r.agent_id = a.id AND r.seq = a.acked_seq`).join(' UNION ALL '),
  );
  return new Map(rows.map((r) => [r.id, r.time]));
}

interface AgentState {
  row: AgentRow;
  online: boolean;
  newestAcked: string | null;
  /** last contact minus the newest acknowledged record's time, in seconds. */
  lagSeconds: number | null;
  behind: boolean;
}

async function agentStates(ctx: LoadContext): Promise<AgentState[]> {
  const times = await ackedRecordTimes(ctx.q);
  return (await ctx.q.agents()).map((row) => {
    const seen = row.last_seen_at ? Date.parse(row.last_seen_at) : null;
    const online = !row.revoked_at && seen !== null && ctx.now - seen <= ctx.cfg.console.onlineSeconds * 1000;
    const newestAcked = times.get(row.id) ?? null;
    const lagSeconds = seen !== null && newestAcked ? Math.max(0, (seen - Date.parse(newestAcked)) / 1000) : null;
    return { row, online, newestAcked, lagSeconds, behind: !row.revoked_at && lagSeconds !== null && lagSeconds > ctx.cfg.console.uploadLagSeconds };
  });
}

const LAG_NOTE = (s: number) =>
  `Upload lag: the agent's last contact minus the time of its newest acknowledged record. Agents do not report their journal backlog to the server, ` +
  `so an agent counts as behind when the lag exceeds ${s} s; an agent that recorded nothing for that long counts too.`;

export async function loadOverview(ctx: LoadContext): Promise<PageData> {
  const { q, filters: f } = ctx;
  const products = (await q.products()).filter((p) => !f.product || p.id === f.product);
  const leases = new Map((await q.liveLeaseCounts()).map((r) => [r.product_id, num(r.seats)]));
  const allocations = new Map((await q.liveAllocationCounts()).map((r) => [r.product_id, num(r.n)]));
  const waiting = new Map((await q.waitingCounts()).map((r) => [r.product_id, num(r.n)]));
  const today = startOfDayInZone(ctx.now, f.tz);
  const denials = new Map(
    (
      await q.sql.all<{ product: string; n: number }>(
        "SELECT product, count(*) AS n FROM usage_events WHERE origin = 'server' AND code = 7 AND time >= ? AND product IS NOT NULL GROUP BY product",
        [iso(today)],
      )
    ).map((r) => [r.product, num(r.n)]),
  );
  const agents = await agentStates(ctx);
  const live = agents.filter((a) => !a.row.revoked_at);
  const table: Table = {
    id: 'products',
    title: 'Products now',
    note: `Denials today: since midnight in ${f.tz}.`,
    columns: [
      ...named('product', 'name'),
      col('type', 'license type'),
      col('inUse', 'seats in use', 'int'),
      col('seats', 'seats', 'int'),
      col('queue', 'queue length', 'int'),
      col('denialsToday', 'denials today', 'int'),
    ],
    rows: products.map((p) => ({
      product: p.id,
      name: p.name,
      type: p.license_type,
      inUse: (isAllocatingType(p.license_type) ? allocations.get(p.id) : leases.get(p.id)) ?? 0,
      seats: p.seats,
      queue: waiting.get(p.id) ?? 0,
      denialsToday: denials.get(p.id) ?? 0,
    })),
  };
  const fleet: Table = {
    id: 'agents',
    title: 'Agents',
    note: `Online: seen within ${ctx.cfg.console.onlineSeconds} s.`,
    columns: [col('enrolled', 'enrolled', 'int'), col('online', 'online', 'int'), col('behind', 'behind on uploads', 'int'), col('revoked', 'revoked', 'int')],
    rows: [
      { enrolled: live.length, online: live.filter((a) => a.online).length, behind: live.filter((a) => a.behind).length, revoked: agents.length - live.length },
    ],
  };
  const charts: Chart[] = [];
  if (ctx.charts && table.rows.length > 0) {
    charts.push(
      await barChart(
        'Seats in use now',
        table.rows.map((r) => String(r.product)),
        [
          { name: 'in use', values: table.rows.map((r) => Number(r.inUse)) },
          { name: 'free', values: table.rows.map((r) => (r.seats === null ? 0 : Math.max(0, Number(r.seats) - Number(r.inUse)))) },
        ],
        { stack: true, unit: 'seats', counts: true },
      ),
    );
  }
  return { charts, tables: [table, fleet], notes: [LAG_NOTE(ctx.cfg.console.uploadLagSeconds)] };
}

export async function loadAgents(ctx: LoadContext): Promise<PageData> {
  const f = ctx.filters;
  const leases = new Map((await ctx.q.liveLeaseCountsByAgent()).map((r) => [r.agent_id, num(r.n)]));
  const states = (await agentStates(ctx)).filter((a) => !f.host || a.row.host === f.host);
  const table: Table = {
    id: 'agents',
    title: 'Enrolled agents',
    columns: [
      col('id', 'agent'),
      ...named('host', 'version'),
      col('os', 'OS'),
      col('enrolled', 'enrolled', 'time'),
      col('lastSeen', 'last seen', 'time'),
      col('state', 'state'),
      col('ackedSeq', 'records acknowledged', 'int'),
      col('newestAcked', 'newest acknowledged record', 'time'),
      col('lagSeconds', 'upload lag', 'seconds'),
      col('leases', 'live leases', 'int'),
    ],
    rows: states.map((a) => ({
      id: a.row.id,
      host: a.row.host,
      version: a.row.agent_version,
      os: a.row.os,
      enrolled: a.row.enrolled_at,
      lastSeen: a.row.last_seen_at,
      state: a.row.revoked_at ? `revoked` : a.behind ? 'behind on uploads' : a.online ? 'online' : 'offline',
      ackedSeq: num(a.row.acked_seq),
      newestAcked: a.newestAcked,
      lagSeconds: a.lagSeconds,
      leases: leases.get(a.row.id) ?? 0,
    })),
    actions: states.map((a): RowAction[] => (a.row.revoked_at ? [] : [{ url: `/agents/${encodeURIComponent(a.row.id)}/revoke`, label: 'Revoke' }])),
  };
  return { charts: [], tables: [table], notes: [LAG_NOTE(ctx.cfg.console.uploadLagSeconds), 'Integrity state: not reported by agents yet.'] };
}

export async function loadLeasesNow(ctx: LoadContext): Promise<PageData> {
  const { q, filters: f, now } = ctx;
  const match = (r: { product_id: string; user: string; host: string }) =>
    (!f.product || r.product_id === f.product) && (!f.user || r.user === f.user) && (!f.host || r.host === f.host);
  const products = (await q.products()).filter((p) => !f.product || p.id === f.product);
  const live = (await q.liveLeases()).filter(match);
  const allocs = (await q.liveAllocations()).filter(match);
  const waiting = (await q.waitingAll()).filter(match);
  const leases = new Map((await q.liveLeaseCounts()).map((r) => [r.product_id, num(r.seats)]));
  const allocCounts = new Map((await q.liveAllocationCounts()).map((r) => [r.product_id, num(r.n)]));
  const productTable: Table = {
    id: 'products',
    title: 'Products',
    columns: [
      ...named('product', 'name'),
      col('type', 'license type'),
      col('inUse', 'seats in use', 'int'),
      col('seats', 'seats', 'int'),
      col('source', 'defined by'),
      col('updated', 'changed', 'time'),
    ],
    rows: products.map((p) => ({
      product: p.id,
      name: p.name,
      type: p.license_type,
      inUse: (isAllocatingType(p.license_type) ? allocCounts.get(p.id) : leases.get(p.id)) ?? 0,
      seats: p.seats,
      source: p.source,
      updated: p.updated_at,
    })),
    actions: products.map((p): RowAction[] =>
      p.seats === null ? [] : [{ url: `/products/${encodeURIComponent(p.id)}/seats`, label: 'Set seats', input: { name: 'seats', value: p.seats, min: 0 } }],
    ),
    note: 'Seats set here last until the server restarts with a config file that names the product (the file wins for its products).',
  };
  const leaseTable: Table = {
    id: 'leases',
    title: 'Live leases',
    columns: [
      col('id', 'lease'),
      ...named('product', 'user', 'host'),
      col('pid', 'pid', 'int'),
      col('granted', 'granted', 'time'),
      col('held', 'held', 'seconds'),
      col('expires', 'expires', 'time'),
    ],
    rows: live.map((l) => ({
      id: l.id,
      product: l.product_id,
      user: l.user,
      host: l.host,
      pid: l.pid,
      granted: l.granted_at,
      held: (now - l.granted_at) / 1000,
      expires: l.expires_at,
    })),
    actions: live.map((l): RowAction[] => [{ url: `/leases/${encodeURIComponent(l.id)}/revoke`, label: 'Revoke' }]),
  };
  const allocTable: Table = {
    id: 'allocations',
    title: 'Live allocations (leased and node-locked products)',
    columns: [col('id', 'allocation', 'int'), ...named('product', 'user', 'host'), col('issued', 'issued', 'time'), col('lastUsed', 'last used', 'time')],
    rows: allocs.map((a) => ({ id: a.id, product: a.product_id, user: a.user, host: a.host, issued: a.issued_at, lastUsed: a.last_used_at })),
    actions: allocs.map((a): RowAction[] => [{ url: `/allocations/${a.id}/revoke`, label: 'Revoke' }]),
  };
  const position = new Map<string, number>();
  const queueTable: Table = {
    id: 'queue',
    title: 'Waiting in queues',
    columns: [
      col('product', 'product'),
      col('position', 'position', 'int'),
      ...named('user', 'host'),
      col('pid', 'pid', 'int'),
      col('enqueued', 'queued at', 'time'),
      col('waited', 'waiting for', 'seconds'),
    ],
    rows: waiting.map((t) => {
      const n = (position.get(t.product_id) ?? 0) + 1;
      position.set(t.product_id, n);
      return { product: t.product_id, position: n, user: t.user, host: t.host, pid: t.pid, enqueued: t.enqueued_at, waited: (now - t.enqueued_at) / 1000 };
    }),
    note: f.user || f.host ? 'Positions count only the rows shown (filtered by user or host).' : undefined,
  };
  return { charts: [], tables: [productTable, leaseTable, allocTable, queueTable] };
}

export async function loadOffline(ctx: LoadContext): Promise<PageData> {
  const f = ctx.filters;
  const eq = equalityConditions(f, [
    ['product', 'product'],
    ['user', '"user"'],
    ['host', 'host'],
  ]);
  const conds = ["origin = 'agent'", 'code IN (10, 11, 12, 13)', 'product IS NOT NULL', 'time >= ?', 'time < ?', ...eq.conds];
  const params: unknown[] = [iso(rangeStart(f)), iso(rangeEnd(f)), ...eq.params];
  const events = await ctx.q.sql.all<{
    agent_id: string;
    time: string;
    code: number;
    product: string;
    user: string | null;
    host: string | null;
    pid: number | null;
    process_start: string | null;
  }>(`SELECT agent_id, time, code, product, "user", host, pid, process_start FROM usage_events WHERE ${conds.join(' AND ')} ORDER BY time, id`, params);
  // Pair launches (10, 12) with their quits (11, 13) by agent, product, pid and process start.
  const open = new Map<string, number>();
  const per = new Map<string, { onlineCheckouts: number; onlineHours: number; offline: number; offlineHours: number; logged: number; loggedHours: number }>();
  const entry = (p: string) => per.get(p) ?? per.set(p, { onlineCheckouts: 0, onlineHours: 0, offline: 0, offlineHours: 0, logged: 0, loggedHours: 0 }).get(p)!;
  const end = Math.min(rangeEnd(f), ctx.now);
  for (const e of events) {
    const k = [e.agent_id, e.product, e.pid, e.process_start, e.code <= 11 ? 'o' : 'l'].join('\u0000');
    const t = Date.parse(e.time);
    if (e.code === 10 || e.code === 12) {
      entry(e.product)[e.code === 10 ? 'offline' : 'logged']++;
      open.set(k, t);
    } else {
      const s = open.get(k);
      if (s === undefined) continue;
      open.delete(k);
      entry(e.product)[e.code === 11 ? 'offlineHours' : 'loggedHours'] += (t - s) / 3_600_000;
    }
  }
  for (const [k, s] of open) entry(k.split('\u0000')[1])[k.endsWith('o') ? 'offlineHours' : 'loggedHours'] += Math.max(0, end - s) / 3_600_000;
  // Online: the leases and allocations as the usage log shows them (logBounds), per product.
  const from = rangeStart(f);
  const { spans } = personal(await loadReportPaired(ctx.q, { from, to: rangeEnd(f), product: f.product }), f);
  const seen = new Set<string>();
  const onlineMs = new Map<string, number>();
  for (const s of spans) {
    if (s.kind !== 'lease' && s.kind !== 'allocation') continue;
    const b = logBounds(s, from, Math.max(from, end));
    if (!b) continue;
    onlineMs.set(s.product, (onlineMs.get(s.product) ?? 0) + b[1] - b[0]);
    const ck = checkoutKey(s);
    if (!seen.has(ck)) {
      seen.add(ck);
      entry(s.product).onlineCheckouts++;
    }
  }
  for (const [p, ms] of onlineMs) entry(p).onlineHours = ms / 3_600_000;
  const table: Table = {
    id: 'by-product',
    title: 'Offline and online use per product',
    note: 'Offline: launches the agents recorded without a lease (10 launch offline / 11 quit offline; 12/13 logged, no license control); online: leases and allocations the server granted.',
    columns: [
      col('product', 'product'),
      col('onlineCheckouts', 'online checkouts', 'int'),
      col('onlineHours', 'online hours', 'hours'),
      col('offline', 'offline launches (10)', 'int'),
      col('offlineHours', 'offline hours (10-11)', 'hours'),
      col('logged', 'logged offline launches (12)', 'int'),
      col('loggedHours', 'logged offline hours (12-13)', 'hours'),
    ],
    rows: [...per.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([product, e]) => ({ product, ...e })),
  };
  const charts: Chart[] = [];
  if (ctx.charts && table.rows.length > 0) {
    charts.push(
      await barChart(
        'Hours online and offline per product',
        table.rows.map((x) => String(x.product)),
        [
          { name: 'online', values: table.rows.map((x) => Math.round(Number(x.onlineHours) * 100) / 100) },
          { name: 'offline', values: table.rows.map((x) => Math.round(Number(x.offlineHours) * 100) / 100) },
          { name: 'logged offline', values: table.rows.map((x) => Math.round(Number(x.loggedHours) * 100) / 100) },
        ],
        { stack: true, unit: 'hours' },
      ),
    );
  }
  return { charts, tables: [table] };
}
