/**
 * Report engine on a full-size history, both stores in one run: 100,000 usage events (leases,
 * queue waits, denials, offline runs) and 1,000,000 process records (plus activity records) over
 * 90 days, 200 products, 5,000 users. Times every page loader (all products, and one product as a
 * page usually shows; the console's pages with their charts and the first PAGE_ROWS rows of each table
 * they show; the usage log's download with every row, downloadMs) and the 90-day reference-004 file export (written
 * to disk). The pages that read the daily roll-ups (storage/rollups.ts) are timed again from the
 * records alone (rawPagesMs, rollupVsRaw); the pages that read the checkout spans (storage/spans.ts)
 * from the events paired at read time (eventPagesMs, spansVsEvents), after timing the fold of all
 * the events loaded (spansFoldSeconds, the backfill of an upgrade). Targets: every page <= 500 ms, the export <= 10 s.
 *
 * USAGE_SERVER_BENCH_REPORTS_STORES (default sqlite,postgres) chooses the stores (one alone: run them apart on a busy machine).
 *
 * USAGE_SERVER_BENCH_REPORTS_SCALE (default 1) scales every count, for a busy machine.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { UploadRecord } from '../src/protocol/v1.js';
import {
  activePage,
  denialsPage,
  harvestPage,
  logFiles,
  offlinePage,
  processesPage,
  summariesPage,
  usagePage,
  usersPage,
  workPage,
  type ReportFilters,
} from '../src/server/reports/index.js';
import type { ServerConfig } from '../src/server/config.js';
import { loadActive, loadWork } from '../src/server/console/engine-data.js';
import { loadOffline } from '../src/server/console/fleet-data.js';
import { PAGE_ROWS, type LoadContext } from '../src/server/console/model.js';
import { loadProcesses } from '../src/server/console/process-data.js';
import { tableCsv } from '../src/server/console/table.js';
import { loadDenials, loadUsage, loadUsers } from '../src/server/console/usage-data.js';
import { batchRows } from '../src/server/storage/records.js';
import { openStore, type Store } from '../src/server/storage/store.js';
import type { ServerEvent } from '../src/server/storage/types.js';
import { ensurePostgres } from '../test/helpers/postgres.js';
import { createTestDatabase } from '../test/helpers/server.js';
import { loadAverage1m, round } from './_server.js';

const SCALE = Number(process.env.USAGE_SERVER_BENCH_REPORTS_SCALE ?? 1);
const EVENTS = Math.round(100_000 * SCALE);
const PROCESSES = Math.round(1_000_000 * SCALE);
const ACTIVITY = Math.round(100_000 * SCALE);
const PRODUCTS = 200;
const USERS = Math.max(10, Math.round(5_000 * SCALE));
const DAYS = 90;
const FROM = Date.parse('2024-03-01T00:00:00Z');
const TO = FROM + DAYS * 86_400_000;
const PAGE_TARGET_MS = 500;
const EXPORT_TARGET_MS = 10_000;

/** A small deterministic PRNG (mulberry32): the same history in both stores. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (t: number) => new Date(t).toISOString();

interface History {
  server: ServerEvent[];
  agent: UploadRecord[];
  records: UploadRecord[];
}

export function history(): History {
  const r = rng(11);
  const pick = (n: number) => Math.floor(r() * n);
  const workTime = () => {
    const day = pick(DAYS);
    return FROM + day * 86_400_000 + (7 + r() * 11) * 3_600_000;
  };
  const server: ServerEvent[] = [];
  // 80 % of the events are lease pairs, 10 % queue pairs, 8 % denials, 2 % offline runs (agent-sent).
  const pairs = Math.floor((EVENTS * 0.8) / 2);
  for (let i = 0; i < pairs; i++) {
    const user = `u${pick(USERS)}`;
    const product = `p${Math.floor(r() ** 2 * PRODUCTS)}`; // a few busy products, a long tail
    const start = workTime();
    const host = `ws-${user}`;
    const base = { product, user, host, agentId: `a-${user}`, pid: 1000 + i, processStart: iso(start), leaseId: `L${i}` };
    server.push({ ...base, time: start, code: 1 }, { ...base, time: start + (10 + r() * 230) * 60_000, code: 2, reason: r() < 0.1 ? 'idle' : 'quit' });
  }
  for (let i = 0; i < Math.floor((EVENTS * 0.1) / 2); i++) {
    const user = `u${pick(USERS)}`;
    const start = workTime();
    const base = { product: `p${pick(20)}`, user, host: `ws-${user}`, agentId: `a-${user}`, pid: 50_000 + i, processStart: iso(start) };
    server.push({ ...base, time: start, code: 5 }, { ...base, time: start + r() * 1_800_000, code: 6, reason: 'granted' });
  }
  for (let i = 0; i < Math.floor(EVENTS * 0.08); i++) {
    const user = `u${pick(USERS)}`;
    server.push({
      product: `p${pick(20)}`,
      user,
      host: `ws-${user}`,
      agentId: `a-${user}`,
      pid: 90_000 + i,
      time: workTime(),
      code: 7,
      reason: 'all-seats-in-use',
    });
  }
  let seq = 0;
  const agent: UploadRecord[] = [];
  for (let i = 0; i < Math.floor((EVENTS * 0.02) / 2); i++) {
    const start = workTime();
    const base = {
      type: 'usage-event',
      host: 'ws-off',
      product: `p${pick(PRODUCTS)}`,
      user: `u${pick(USERS)}`,
      pid: 7000 + i,
      processStart: iso(start),
      offline: true,
    };
    agent.push({ ...base, seq: ++seq, time: iso(start), code: 10 }, { ...base, seq: ++seq, time: iso(start + 3_600_000), code: 11 });
  }
  const records: UploadRecord[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    const user = `u${pick(USERS)}`;
    const end = FROM + r() * (TO - FROM);
    const elapsed = 1 + r() * 600;
    const cmd = r() < 0.3 ? `prog${pick(PRODUCTS)}` : ['bash', 'grep', 'make', 'cc1', 'python3', 'git'][pick(6)];
    if (i % 10 === 9) {
      records.push({
        seq: ++seq,
        type: 'process-interval',
        time: iso(end),
        host: `ws-${user}`,
        user,
        command: cmd,
        exe: `/usr/bin/${cmd}`,
        pid: i,
        intervalStart: iso(Math.floor(end / 3_600_000) * 3_600_000),
        intervalEnd: iso(end),
        elapsedSeconds: elapsed,
        cpuSeconds: elapsed * r(),
        avgRssBytes: 1e6 * r(),
      });
    } else {
      records.push({
        seq: ++seq,
        type: 'process',
        time: iso(end),
        host: `ws-${user}`,
        user,
        group: `g${pick(40)}`,
        pid: i,
        ppid: 1,
        command: cmd,
        exe: `/usr/bin/${cmd}`,
        start: iso(end - elapsed * 1000),
        end: iso(end),
        elapsedSeconds: elapsed,
        cpuUserSeconds: elapsed * r() * 0.5,
        cpuSystemSeconds: elapsed * r() * 0.1,
        avgRssBytes: 1e7 * r(),
        readBytes: 1e5 * r(),
        writeBytes: 1e4 * r(),
        exitCode: r() < 0.03 ? 1 : 0,
        source: 'pacct',
      });
    }
  }
  for (let i = 0; i < ACTIVITY; i++) {
    const user = `u${pick(USERS)}`;
    const start = workTime();
    const kind = i % 3;
    const app = `prog${Math.floor(r() ** 2 * PRODUCTS)}`;
    const dur = kind === 0 ? 60 + r() * 600 : 5 + r() * 900;
    // The fields every activity record has, then each kind's own (the PRNG is drawn in the same order as before).
    const common = {
      time: iso(start + dur * 1000),
      host: `ws-${user}`,
      user,
      application: app,
      start: iso(start),
      end: iso(start + dur * 1000),
      durationSeconds: dur,
    };
    records.push(
      kind === 0
        ? { seq: ++seq, type: 'input-events', ...common, keyboard: pick(500), mouse: pick(500), switch: pick(40) }
        : kind === 1
          ? { seq: ++seq, type: 'break', ...common, breakType: dur < 60 ? 'microbreak' : dur < 600 ? 'short' : 'extended' }
          : { seq: ++seq, type: 'work', ...common, periodType: r() < 0.5 ? 'uninterrupted' : 'extended' },
    );
  }
  return { server, agent, records };
}

export async function load(store: Store, h: History): Promise<number> {
  const t0 = performance.now();
  const products = Array.from({ length: PRODUCTS }, (_, i) => ({
    id: `p${i}`,
    name: `Product ${i}`,
    licenseType: 'floating' as const,
    seats: 5 + (i % 20),
    match: { executables: [`/usr/bin/prog${i}`], paths: [] },
    offline: 'allow' as const,
    onDeny: 'notify' as const,
    queue: true,
  }));
  for (const p of products) await store.q.upsertProduct(p as never, 'config', new Date());
  // Written in time order, as a server writes its events and agents upload their journals (the
  // history is generated product by product; stored that way every day's rows would be scattered).
  const server = [...h.server].sort((a, b) => a.time - b.time);
  for (let i = 0; i < server.length; i += 5000) {
    const chunk = server.slice(i, i + 5000);
    await store.transaction(async (tx) => {
      for (const e of chunk) await tx.writeServerEvent(e);
    });
  }
  const all = [...h.agent, ...h.records].sort((a, b) => String(a.time).localeCompare(String(b.time))).map((r, i) => ({ ...r, seq: i + 1 }));
  for (let i = 0; i < all.length; i += 5000) {
    const chunk = all.slice(i, i + 5000);
    const rows = batchRows(
      'bench-agent',
      chunk,
      chunk.map((_, k) => k),
      new Uint8Array(chunk.length),
    );
    await store.prepareRecords(chunk);
    await store.transaction(async (tx) => {
      for (const [table, t] of Object.entries(rows.tables)) if (t.rows > 0) await tx.insertRecords(table as never, t.values, t.rows);
    });
  }
  return round((performance.now() - t0) / 1000, 1);
}

/** A console page over the bench's 90 days (UTC), with its charts and the rows it shows (a download has them all). */
const consoleCtx = (q: Store['q'], product?: string): LoadContext => ({
  q,
  cfg: {} as ServerConfig,
  filters: { from: iso(FROM).slice(0, 10), to: iso(TO - 86_400_000).slice(0, 10), tz: 'UTC', product },
  now: TO,
  charts: true,
  pageRows: PAGE_ROWS,
});

function rollupPages(q: Store['q'], f: ReportFilters): Record<string, () => Promise<unknown>> {
  return {
    processes: () => processesPage(q, f),
    processesByUserHost: () => processesPage(q, f, { by: ['user', 'host'] }),
    processesOneUser: () => processesPage(q, { ...f, user: 'u7' }),
    workByGroup: () => workPage(q, f, { by: 'group' }),
    consoleProcesses: () => loadProcesses(consoleCtx(q)),
  };
}

async function time<T>(fn: () => Promise<T>, runs = 2): Promise<number> {
  // Best of two: the first run also warms the statement caches and the database pages.
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return round(best, 1);
}

/** The pages that read the checkout spans (storage/spans.ts), to time again from the events paired at read time. */
function spanPages(q: Store['q'], f: ReportFilters): Record<string, () => Promise<unknown>> {
  return {
    usageAllProducts: () => usagePage(q, f),
    users: () => usersPage(q, f),
    offline: () => offlinePage(q, f),
    consoleUsage: () => loadUsage(consoleCtx(q)),
    consoleUsers: () => loadUsers(consoleCtx(q)),
    consoleOffline: () => loadOffline(consoleCtx(q)),
  };
}

/**
 * The history is made for each store (the same: a seeded PRNG) and unreachable once loaded, so the
 * pages are timed in a heap without a million generated records, as a server's is.
 */
async function loadHistory(store: Store): Promise<{ loadSeconds: number; usageEvents: number }> {
  const h = history();
  return { loadSeconds: await load(store, h), usageEvents: h.server.length + h.agent.length };
}

async function measure(store: Store) {
  const { loadSeconds, usageEvents } = await loadHistory(store);
  // The fold of every event loaded into usage_spans, as the first report after an upgrade (the backfill) does it.
  const f0 = performance.now();
  await store.q.reports.refreshSpans?.();
  const spansFoldSeconds = round((performance.now() - f0) / 1000, 2);
  const f: ReportFilters = { from: FROM, to: TO, now: TO };
  const one: ReportFilters = { ...f, product: 'p3' };
  const q = store.q;
  const pagesMs: Record<string, number> = {
    usageAllProducts: await time(() => usagePage(q, f)),
    usageOneProduct: await time(() => usagePage(q, one)),
    summariesWeek: await time(() => summariesPage(q, one, ['week'])),
    denials: await time(() => denialsPage(q, f)),
    users: await time(() => usersPage(q, f)),
    active: await time(() => activePage(q, one)),
    harvest: await time(() => harvestPage(q, one)),
    processes: await time(() => processesPage(q, f)),
    processesByUserHost: await time(() => processesPage(q, f, { by: ['user', 'host'] })),
    processesOneUser: await time(() => processesPage(q, { ...f, user: 'u7' })),
    work: await time(() => workPage(q, f)),
    workByGroup: await time(() => workPage(q, f, { by: 'group' })),
    offline: await time(() => offlinePage(q, f)),
    consoleProcesses: await time(() => loadProcesses(consoleCtx(q))),
    consoleUsage: await time(() => loadUsage(consoleCtx(q))),
    consoleUsers: await time(() => loadUsers(consoleCtx(q))),
    consoleDenials: await time(() => loadDenials(consoleCtx(q))),
    consoleOffline: await time(() => loadOffline(consoleCtx(q))),
    consoleActive: await time(() => loadActive(consoleCtx(q, 'p3'))),
    consoleWork: await time(() => loadWork(consoleCtx(q))),
  };
  // A download of the usage page's log: every row (the page shows the first PAGE_ROWS), as CSV.
  const downloadMs = {
    consoleUsageLogCsv: await time(async () => {
      const data = await loadUsage({ ...consoleCtx(q), charts: false, pageRows: undefined });
      return tableCsv(data.tables.find((t) => t.id === 'log')!);
    }),
  };
  // The pages that read the daily roll-ups, again from the records alone (one run each: minutes at full size).
  q.reports.useRollups = false;
  const rawPagesMs: Record<string, number> = {};
  try {
    for (const [name, fn] of Object.entries(rollupPages(q, f))) rawPagesMs[name] = await time(fn, 1);
  } finally {
    q.reports.useRollups = true;
  }
  const rollupVsRaw = Object.fromEntries(Object.keys(rawPagesMs).map((k) => [k, round(pagesMs[k] / rawPagesMs[k], 3)]));
  // The pages that read the checkout spans, again from the events paired at read time.
  q.reports.useSpans = false;
  const eventPagesMs: Record<string, number> = {};
  try {
    for (const [name, fn] of Object.entries(spanPages(q, f))) eventPagesMs[name] = await time(fn, 1);
  } finally {
    q.reports.useSpans = true;
  }
  const spansVsEvents = Object.fromEntries(Object.keys(eventPagesMs).map((k) => [k, round(pagesMs[k] / eventPagesMs[k], 3)]));
  const dir = mkdtempSync(join(tmpdir(), 'usage-bench-logs-'));
  let exportMs: number;
  let files = 0;
  try {
    const t0 = performance.now();
    const out = await logFiles(q, { from: iso(FROM).slice(0, 10), to: iso(TO - 86_400_000).slice(0, 10), now: TO });
    for (const x of out) {
      const p = join(dir, x.path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, x.text);
    }
    exportMs = round(performance.now() - t0, 0);
    files = out.length;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`${store.dialect}: ${JSON.stringify({ loadSeconds, spansFoldSeconds, pagesMs, downloadMs, rawPagesMs, eventPagesMs, exportMs })}\n`);
  const slowestPageMs = Math.max(...Object.values(pagesMs));
  return {
    usageEvents,
    loadSeconds,
    spansFoldSeconds,
    pagesMs,
    downloadMs,
    rawPagesMs,
    rollupVsRaw,
    eventPagesMs,
    spansVsEvents,
    slowestPageMs,
    exportMs,
    exportFiles: files,
    meetsTarget: slowestPageMs <= PAGE_TARGET_MS && exportMs <= EXPORT_TARGET_MS,
  };
}

export default async function reports(): Promise<object> {
  const loadBefore = loadAverage1m();
  const stores = (process.env.USAGE_SERVER_BENCH_REPORTS_STORES ?? 'sqlite,postgres').split(',');
  let sqlite: Awaited<ReturnType<typeof measure>> | undefined;
  if (stores.includes('sqlite')) {
    const dir = mkdtempSync(join(tmpdir(), 'usage-bench-reports-'));
    try {
      const s = await openStore(join(dir, 'server.db'));
      try {
        sqlite = await measure(s);
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const figures = {
    scale: SCALE,
    usageEvents: sqlite?.usageEvents,
    processRecords: PROCESSES,
    activityRecords: ACTIVITY,
    products: PRODUCTS,
    users: USERS,
    days: DAYS,
  };
  const targets = { pageMs: PAGE_TARGET_MS, exportMs: EXPORT_TARGET_MS };
  if (!stores.includes('postgres')) {
    if (!sqlite) throw new Error('USAGE_SERVER_BENCH_REPORTS_STORES names neither sqlite nor postgres');
    return { ...figures, sqlite, targets, meetsTarget: sqlite.meetsTarget, loadAverage1m: { before: loadBefore, after: loadAverage1m() } };
  }
  const pg = await ensurePostgres();
  let postgres: Awaited<ReturnType<typeof measure>>;
  try {
    const db = await createTestDatabase();
    try {
      const s = await openStore(db.url, { poolSize: 4 });
      try {
        postgres = await measure(s);
      } finally {
        await s.close();
      }
    } finally {
      await db.drop();
    }
  } finally {
    pg.stop();
  }
  return {
    ...figures,
    usageEvents: postgres.usageEvents,
    sqlite,
    postgres,
    postgresVsSqlite: sqlite
      ? { slowestPage: round(postgres.slowestPageMs / sqlite.slowestPageMs, 2), export: round(postgres.exportMs / sqlite.exportMs, 2) }
      : undefined,
    targets,
    meetsTarget: (sqlite?.meetsTarget ?? true) && postgres.meetsTarget,
    loadAverage1m: { before: loadBefore, after: loadAverage1m() },
  };
}
