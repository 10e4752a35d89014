/**
 * The daily roll-ups of process records (storage/rollups.ts) on a real usage-server database
 * (SQLite, and PostgreSQL in the second pass): two servers on one database, two agents uploading
 * over HTTP at the same time into the same roll-up rows, a batch uploaded twice; the process pages
 * read from the roll-ups (whole days) and the records (edge days) then equal the pages read from the
 * records alone, and both equal the sums made here from the uploaded list. Again after retention.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProcesses } from '../../../src/server/console/process-data.js';
import type { LoadContext } from '../../../src/server/console/model.js';
import type { ServerConfig } from '../../../src/server/config.js';
import { processAccounting, processesPage, productCosts, sumProcesses, workPage, type ReportFilters } from '../../../src/server/reports/index.js';
import { openStore, type Store } from '../../../src/server/storage/store.js';
import { startServer, type TestAgent, type TestServer } from '../../helpers/server.js';

const DAY = 86_400_000;
const D0 = Date.parse('2024-05-05T00:00:00Z');
const NOW = Date.parse('2024-06-01T00:00:00Z');
const COMMANDS = [
  ['cadpro', '/opt/cad/bin/cadpro'],
  ['bash', '/usr/bin/bash'],
  ['make', '/usr/bin/make'],
] as const;

interface Proc {
  time: number;
  user: string;
  host: string;
  group: string;
  command: string;
  exe: string;
  exitCode: number | null;
  elapsedSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  avgRssBytes: number | null;
  maxRssBytes: number | null;
  readBytes: number | null;
  writeBytes: number | null;
}

/** Whole numbers and halves only: every sum is exact in any order, so the paths must agree to the bit. */
function processes(agent: number): Proc[] {
  const out: Proc[] = [];
  for (let i = 0; i < 400; i++) {
    const [command, exe] = COMMANDS[i % 3];
    out.push({
      // Four days and a few hours of April (a month PostgreSQL's retention can drop whole).
      time: i % 40 === 0 ? Date.parse('2024-04-20T10:00:00Z') + i * 60_000 : D0 + ((i * 7 + agent * 3) % 96) * 3_600_000 + i * 1000,
      user: `u${i % 4}`,
      host: `h${i % 2}`,
      group: i % 5 === 0 ? 'ops' : 'eng',
      command,
      exe,
      exitCode: i % 11 === 0 ? null : i % 7 === 0 ? 1 : 0,
      elapsedSeconds: 10 + (i % 13),
      cpuUserSeconds: (i % 5) / 2,
      cpuSystemSeconds: 1,
      avgRssBytes: i % 9 === 0 ? null : 1000 * (i % 6),
      maxRssBytes: i % 9 === 0 ? null : 2000 + i,
      readBytes: i % 4 === 0 ? null : 100 * (i % 3),
      writeBytes: 10 * (i % 8),
    });
  }
  return out;
}

const iso = (t: number) => new Date(t).toISOString();
const upload = (a: TestAgent, list: Proc[], seq0: number) =>
  a.post('/v1/events', {
    records: list.map((p, k) => ({
      seq: seq0 + k,
      type: 'process',
      time: iso(p.time),
      host: p.host,
      user: p.user,
      group: p.group,
      pid: 100 + k,
      ppid: 1,
      command: p.command,
      exe: p.exe,
      start: iso(p.time - p.elapsedSeconds * 1000),
      end: iso(p.time),
      elapsedSeconds: p.elapsedSeconds,
      cpuUserSeconds: p.cpuUserSeconds,
      cpuSystemSeconds: p.cpuSystemSeconds,
      ...(p.avgRssBytes === null ? {} : { avgRssBytes: p.avgRssBytes }),
      ...(p.maxRssBytes === null ? {} : { maxRssBytes: p.maxRssBytes }),
      ...(p.readBytes === null ? {} : { readBytes: p.readBytes }),
      ...(p.writeBytes === null ? {} : { writeBytes: p.writeBytes }),
      ...(p.exitCode === null ? { signal: 9 } : { exitCode: p.exitCode }),
      source: 'pacct',
    })),
  });

interface Interval {
  time: number;
  command: string;
  intervalStart: number;
  elapsedSeconds: number;
  cpuSeconds: number;
  avgRssBytes: number;
  readBytes: number;
}
const INTERVALS: Interval[] = Array.from({ length: 90 }, (_, i) => {
  const time = i % 30 === 0 ? Date.parse('2024-04-21T10:30:00Z') : D0 + ((i * 5) % 96) * 3_600_000 + 1_800_000;
  return {
    time,
    command: COMMANDS[i % 3][0],
    intervalStart: time - 1_800_000 - (i % 2) * 3_600_000,
    elapsedSeconds: 60 * (i % 7),
    cpuSeconds: i % 4,
    avgRssBytes: 1024 * (i % 5),
    readBytes: 7 * i,
  };
});
const uploadIntervals = (a: TestAgent, list: Interval[], seq0: number) =>
  a.post('/v1/events', {
    records: list.map((x, k) => ({
      seq: seq0 + k,
      type: 'process-interval',
      time: iso(x.time),
      host: 'h0',
      user: 'u0',
      command: x.command,
      exe: `/usr/bin/${x.command}`,
      pid: 500 + k,
      intervalStart: iso(x.intervalStart),
      intervalEnd: iso(x.time),
      elapsedSeconds: x.elapsedSeconds,
      cpuSeconds: x.cpuSeconds,
      avgRssBytes: x.avgRssBytes,
      readBytes: x.readBytes,
      writeBytes: 0,
    })),
  });

let servers: TestServer[];
let store: Store;
let uploaded: Proc[];
before(async () => {
  const products = [{ id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: ['/opt/cad/bin/cadpro'] } }];
  const first = await startServer({ products });
  servers = [first, await startServer({ products, db: first.db })];
  const agents = [await servers[0].enroll('h0'), await servers[1].enroll('h1')];
  const lists = [processes(0), processes(1)];
  // Both agents at once, each in batches of 40, through both servers: concurrent upserts of the same roll-up rows.
  await Promise.all(
    agents.map(async (a, n) => {
      for (let b = 0; b < lists[n].length; b += 40) {
        const r = await upload(a, lists[n].slice(b, b + 40), b + 1);
        assert.equal(r.status, 200, r.text);
      }
    }),
  );
  const iv = await uploadIntervals(agents[1], INTERVALS, lists[1].length + 1);
  assert.equal(iv.status, 200, iv.text);
  // A batch sent again (the agent did not see the acknowledgement): stored once, counted once.
  const again = await upload(agents[0], lists[0].slice(0, 40), 1);
  assert.equal(again.status, 200, again.text);
  uploaded = [...lists[0], ...lists[1]];
  store = await openStore(first.db, { poolSize: 2 });
});
after(async () => {
  await store?.close();
  for (const s of servers ?? []) await s.cleanup();
});

/** The page from the records alone, and from roll-ups and edge records. */
async function bothPaths<T>(fn: () => Promise<T>): Promise<{ raw: T; rolled: T }> {
  store.q.reports.useRollups = false;
  try {
    const raw = await fn();
    store.q.reports.useRollups = true;
    return { raw, rolled: await fn() };
  } finally {
    store.q.reports.useRollups = true;
  }
}

const inRange = (list: Proc[], from: number, to: number) => list.filter((p) => p.time >= from && p.time < to);
const reference = (list: Proc[]) => sumProcesses(list.map((p) => ({ ...p })));

const RANGES: Array<[string, ReportFilters]> = [
  ['edges inside days 1 and 4', { from: D0 + 5 * 3_600_000, to: D0 + 3 * DAY + 7 * 3_600_000, now: NOW }],
  ['whole days', { from: D0, to: D0 + 4 * DAY, now: NOW }],
  ['inside one day', { from: D0 + DAY + 3_600_000, to: D0 + DAY + 20 * 3_600_000, now: NOW }],
  ['from April, one user, one host', { from: Date.parse('2024-04-01T00:00:00Z'), to: D0 + 2 * DAY + 1000, now: NOW, user: 'u1', host: 'h1' }],
];

async function checkPages(list: Proc[], intervals: Interval[]) {
  for (const [name, f] of RANGES) {
    for (const by of [['command'], ['user', 'host'], ['command', 'exit']] as const) {
      const { raw, rolled } = await bothPaths(() => processesPage(store.q, f, { by }));
      assert.deepEqual(rolled.rows, raw.rows, `${name}, by ${by.join('+')}`);
      assert.deepEqual(rolled.products, raw.products, name);
      assert.deepEqual(rolled.hourly, raw.hourly, name);
      if (!f.user) {
        const hourly = intervals.filter((x) => x.time >= f.from && x.time < f.to);
        assert.ok(hourly.length > 0, name);
        assert.equal(
          rolled.hourly.reduce((n, h) => n + h.count, 0),
          hourly.length,
          name,
        );
        assert.equal(
          rolled.hourly.reduce((n, h) => n + h.cpuSeconds, 0),
          hourly.reduce((n, x) => n + x.cpuSeconds, 0),
          name,
        );
      }
      const want = inRange(list, f.from, f.to).filter((p) => (!f.user || p.user === f.user) && (!f.host || p.host === f.host));
      assert.ok(want.length > 0, name);
      assert.deepEqual(rolled.rows, processAccounting(reference(want), by, 200), `${name}: the sums of the uploaded list`);
      assert.deepEqual(rolled.products, productCosts(reference(want), { cad: ['/opt/cad/bin/cadpro'] }), name);
    }
  }
  const f = { from: D0, to: D0 + 4 * DAY, now: NOW };
  const groups = await bothPaths(() => workPage(store.q, { ...f, group: 'ops' }, { by: 'group' }));
  assert.deepEqual(groups.rolled, groups.raw);
  const ug = await bothPaths(async () => (await store.q.reports.userGroups()).sort((a, b) => a.user.localeCompare(b.user) || a.grp.localeCompare(b.grp)));
  assert.deepEqual(ug.rolled, ug.raw);
  const main = await bothPaths(() => store.q.reports.mainGroups());
  assert.deepEqual(main.rolled, main.raw);
  assert.equal(main.rolled.length, new Set(list.map((p) => p.user)).size);
  const counts = new Map<string, number>();
  for (const p of list) counts.set(`${p.user} ${p.group}`, (counts.get(`${p.user} ${p.group}`) ?? 0) + 1);
  assert.deepEqual(
    ug.rolled.map((g) => [`${g.user} ${g.grp}`, g.n]),
    [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)),
  );
  // The console's process page (whole UTC days), with and without filters.
  for (const filters of [
    { from: '2024-05-05', to: '2024-05-08', tz: 'UTC' },
    { from: '2024-04-01', to: '2024-05-06', tz: 'UTC', user: 'u2', host: 'h0' },
  ]) {
    const ctx: LoadContext = { q: store.q, cfg: {} as ServerConfig, filters, now: NOW, charts: false };
    const page = await bothPaths(() => loadProcesses(ctx));
    assert.deepEqual(page.rolled, page.raw, JSON.stringify(filters));
    assert.ok(page.rolled.tables[0].rows.length > 0);
  }
}

test('process pages from the roll-ups equal the pages from the records, and the sums of what was uploaded (concurrent uploads, a duplicate batch)', async () => {
  for (const table of ['process_daily', 'process_daily_command', 'process_daily_user', 'process_monthly_user']) {
    const [{ n }] = await store.q.sql.all<{ n: number }>(`SELECT sum(n) AS n FROM ${table}`);
    assert.equal(Number(n), uploaded.length, table);
  }
  await checkPages(uploaded, INTERVALS);
});

test('after retention the roll-ups still equal the records (SQLite: rows before the cutoff, mid-day; PostgreSQL: whole past months)', async () => {
  const cutoff = D0 + DAY + 12 * 3_600_000;
  const removed = await store.maintain(cutoff + 10 * DAY, { process: 10, 'process-interval': 10 });
  assert.equal(removed.length, 2, String(removed));
  const left = store.dialect === 'sqlite' ? uploaded.filter((p) => p.time >= cutoff) : uploaded.filter((p) => p.time >= D0);
  const [{ n }] = await store.q.sql.all<{ n: number }>("SELECT count(*) AS n FROM process_records WHERE type = 'process'");
  assert.equal(Number(n), left.length);
  for (const table of ['process_daily', 'process_daily_command', 'process_daily_user', 'process_monthly_user']) {
    const [{ r }] = await store.q.sql.all<{ r: number }>(`SELECT sum(n) AS r FROM ${table}`);
    assert.equal(Number(r), left.length, table);
  }
  await checkPages(left, store.dialect === 'sqlite' ? INTERVALS.filter((x) => x.time >= cutoff) : INTERVALS.filter((x) => x.time >= D0));
});
