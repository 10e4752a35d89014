/**
 * The console's loaders on a real usage-server database (SQLite, and PostgreSQL in the second
 * pass): records uploaded over HTTP by an enrolled agent and license events in the server's own
 * table are read back through Queries and give the figures of the pure functions, computed here
 * from the same input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activePage,
  activeReport,
  denialsPage,
  harvestPage,
  loadLicenseEvents,
  loadSelectedEvents,
  offlinePage,
  parseSelection,
  processAccounting,
  processesPage,
  sumProcesses,
  summariesPage,
  usagePage,
  usersPage,
  workPage,
  type ReportFilters,
} from '../../../src/server/reports/index.js';
import { activitySumQueries } from '../../../src/server/storage/report-queries.js';
import { openStore, type Store } from '../../../src/server/storage/store.js';
import { startServer, type TestServer } from '../../helpers/server.js';

const t = (hm: string) => Date.parse(`2024-05-06T${hm}:00Z`);
const at = (hm: string) => new Date(t(hm)).toISOString();
const F: ReportFilters = { from: Date.parse('2024-05-06T00:00:00Z'), to: Date.parse('2024-05-07T00:00:00Z'), now: Date.parse('2024-06-01T00:00:00Z') };

const PROCESSES = [
  {
    user: 'ann',
    group: 'eng',
    host: 'h1',
    command: 'cadpro',
    exe: '/opt/cad/bin/cadpro',
    exitCode: 0,
    elapsedSeconds: 100,
    cpuUserSeconds: 10,
    cpuSystemSeconds: 5,
    avgRssBytes: 1000,
    readBytes: 50,
    writeBytes: 25,
  },
  {
    user: 'ann',
    group: 'eng',
    host: 'h1',
    command: 'cadpro',
    exe: '/opt/cad/bin/cadpro',
    exitCode: 0,
    elapsedSeconds: 300,
    cpuUserSeconds: 20,
    cpuSystemSeconds: 5,
    avgRssBytes: 2000,
    readBytes: 100,
    writeBytes: 0,
  },
  {
    user: 'bob',
    group: 'ops',
    host: 'h2',
    command: 'cadpro',
    exe: '/opt/cad/bin/cadpro',
    exitCode: null,
    signal: 9,
    elapsedSeconds: 50,
    cpuUserSeconds: 1,
    cpuSystemSeconds: 1,
    avgRssBytes: 4000,
    readBytes: 0,
    writeBytes: 0,
  },
  {
    user: 'ann',
    group: 'eng',
    host: 'h1',
    command: 'bash',
    exe: '/usr/bin/bash',
    exitCode: 1,
    elapsedSeconds: 10,
    cpuUserSeconds: 0.5,
    cpuSystemSeconds: 0.5,
    avgRssBytes: 500,
    readBytes: 10,
    writeBytes: 10,
  },
];

let srv: TestServer;
let store: Store;
before(async () => {
  srv = await startServer({ products: [{ id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: ['/opt/cad/bin/cadpro'] } }] });
  const a = await srv.enroll('h1');
  let seq = 0;
  const rec = (type: string, time: string, o: Record<string, unknown>) => ({ seq: ++seq, type, time, host: 'h1', ...o });
  const records = [
    ...PROCESSES.map((p, i) => rec('process', at(`08:1${i}`), { ...p, start: at('08:00'), end: at(`08:1${i}`), pid: 100 + i, source: 'pacct' })),
    // Outside the day: not in the report.
    rec('process', '2024-05-08T08:00:00.000Z', { ...PROCESSES[0], pid: 999 }),
    rec('process-interval', at('10:00'), {
      user: 'ann',
      command: 'cadpro',
      intervalStart: at('09:00'),
      intervalEnd: at('10:00'),
      elapsedSeconds: 3600,
      cpuSeconds: 30,
      avgRssBytes: 2e6,
      readBytes: 600,
      writeBytes: 400,
    }),
    rec('input-events', at('09:00'), {
      user: 'ann',
      application: 'cadpro',
      start: at('08:00'),
      end: at('08:30'),
      durationSeconds: 1800,
      keyboard: 900,
      mouse: 100,
      switch: 20,
    }),
    rec('input-events', at('09:00'), {
      user: 'ann',
      application: 'firefox',
      start: at('08:30'),
      end: at('09:00'),
      durationSeconds: 1800,
      keyboard: 300,
      mouse: 300,
      switch: 10,
    }),
    rec('break', at('09:10'), { user: 'ann', application: 'cadpro', start: at('09:00'), end: at('09:10'), durationSeconds: 600, breakType: 'extended' }),
    rec('work', at('09:00'), { user: 'ann', application: null, start: at('08:00'), end: at('09:00'), durationSeconds: 3600, periodType: 'extended' }),
    rec('usage-event', at('09:00'), { code: 10, product: 'cad', user: 'bob', pid: 7, processStart: at('09:00'), offline: true, reason: 'no-allocation' }),
    rec('usage-event', at('10:30'), { code: 11, product: 'cad', user: 'bob', pid: 7, processStart: at('09:00'), offline: true }),
    rec('notification', at('09:00').replace('00.000Z', '05.000Z'), {
      user: 'ann',
      id: 'n1',
      product: 'cad',
      title: 'paused',
      body: '',
      messageKey: 'idle.paused',
      params: {},
      urgency: 'normal',
      delivered: true,
    }),
  ];
  const up = await a.post('/v1/events', { records });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.stored, records.length);
  store = await openStore(srv.db, { poolSize: 2 });
  // The server's own license history of that day (as the lease service writes it).
  const ev = (hm: string, code: number, user: string, o: Record<string, unknown> = {}) =>
    store.q.writeServerEvent({
      time: t(hm),
      code,
      product: 'cad',
      agentId: a.agentId,
      user,
      host: user === 'ann' ? 'h1' : `h-${user}`,
      pid: 1,
      processStart: at('07:00'),
      ...o,
    });
  await ev('08:00', 1, 'ann', { leaseId: 'L1' });
  await ev('09:00', 2, 'ann', { leaseId: 'L1', reason: 'idle' });
  await ev('09:30', 1, 'bob', { leaseId: 'L2' });
  await ev('09:45', 7, 'cy', { reason: 'all-seats-in-use' });
  await ev('10:30', 2, 'bob', { leaseId: 'L2', reason: 'quit' });
});
after(async () => {
  await store?.close();
  await srv?.cleanup();
});

test('usage page: steps, peaks, efficiency and heatmap from the server events', async () => {
  const r = await usagePage(store.q, { ...F, timeZone: 'Europe/Berlin' });
  const [s] = r.series;
  assert.deepEqual([s.product, s.seats], ['cad', 1]);
  assert.deepEqual(
    s.steps.map((x) => [new Date(x.t).toISOString().slice(11, 16), x.used, x.queued]),
    [
      ['00:00', 0, 0],
      ['08:00', 1, 0],
      ['09:00', 0, 0],
      ['09:30', 1, 0],
      ['10:30', 0, 0],
    ],
  );
  assert.deepEqual(s.denials, [{ t: t('09:45'), count: 1, desired: 2 }]);
  assert.equal(s.usedHours, 2);
  // 2 of 24 hours at one seat: one seat covers everything, none covers 91.7 %.
  assert.deepEqual([r.efficiency[0].used.seats95, r.efficiency[0].used.curve[0].share], [1, 22 / 24]);
  // Berlin is UTC+2 in May: 08:00 UTC is 10:00 on Monday.
  assert.deepEqual([r.heatmaps[0].cells[0][10].averageUsed, r.heatmaps[0].cells[0][11].averageUsed, r.heatmaps[0].cells[0][8].averageUsed], [1, 0.5, 0]);
});

test('summaries, denials, users and harvesting from the store', async () => {
  const sum = await summariesPage(store.q, F, ['day']);
  assert.deepEqual(
    sum.summaries.map((x) => [x.key, x.totalUsed, x.denials, x.productName]),
    [['2024-05-06', 2, 1, 'CAD Pro']],
  );
  const d = await denialsPage(store.q, F);
  assert.deepEqual(
    d.denials.map((x) => [x.user, x.reason]),
    [['cy', 'all-seats-in-use']],
  );
  const u = await usersPage(store.q, F, { inactiveDays: 30 });
  assert.deepEqual(
    u.topUsers.map((x) => [x.user, x.licenseHours]),
    [
      ['ann', 1],
      ['bob', 1],
    ],
  );
  // Leases in the leases table: none were granted through the API here, so nobody has a last use there.
  assert.deepEqual(u.inactive, []);
  const h = await harvestPage(store.q, F);
  // ann's idle release at 09:00, paused by the agent; given back until the end of the day; bob's 09:30 checkout avoided a denial.
  assert.deepEqual(h.byProduct, [{ product: 'cad', idleReleases: 1, suspends: 1, terminations: 0, givenBackHours: 15, denialsAvoided: 1 }]);
  const onlyBob = await usagePage(store.q, { ...F, user: 'bob' });
  assert.equal(onlyBob.series[0].usedHours, 1);
  const alloc = await loadSelectedEvents(store.q, { ...F, selection: parseSelection('license-allocation:end') });
  assert.deepEqual(
    alloc.map((e) => [e.code, e.user]),
    [
      [2, 'ann'],
      [2, 'bob'],
    ],
  );
});

test("process accounting: the database's sums equal the sums of the records; group and host filters", async () => {
  const p = await processesPage(store.q, F, { by: ['command', 'exit'] });
  const expected = processAccounting(sumProcesses(PROCESSES), ['command', 'exit']);
  assert.deepEqual(p.rows, expected);
  assert.deepEqual(
    p.rows.map((r) => [r.key.command, r.key.exit, r.count]),
    [
      ['cadpro', '0', 2],
      ['cadpro', 'signal', 1],
      ['bash', '1', 1],
    ],
  );
  assert.deepEqual(
    p.products.map((c) => [c.product, c.processes, c.cpuSeconds, c.crashes]),
    [['cad', 3, 42, 1]],
  );
  assert.deepEqual(
    p.hourly.map((h) => [h.hour, h.command, h.averageProcesses, h.ioBytes, h.accumulatedRssByteHours]),
    [['2024-05-06T09', 'cadpro', 1, 1000, 2e6]],
  );
  const eng = await processesPage(store.q, { ...F, group: 'eng' }, { by: ['user'] });
  assert.deepEqual(
    eng.rows.map((r) => [r.key.user, r.count]),
    [['ann', 3]],
  );
  const none = await processesPage(store.q, { ...F, host: 'nowhere' });
  assert.deepEqual(none.rows, []);
});

test('active vs checked out, work patterns and offline use from uploaded records', async () => {
  const a = await activePage(store.q, F);
  // ann held cad 08:00-09:00 on h1 and typed in cadpro 08:00-08:30 there (firefox after); bob left no input records.
  assert.deepEqual(
    a.byUser.map((r) => [r.user, r.heldHours, r.activeHours]),
    [
      ['ann', 1, 0.5],
      ['bob', 1, 0],
    ],
  );
  assert.deepEqual([a.byProduct[0].heldSeats95, a.byProduct[0].activeMax], [1, 1]);
  const w = await workPage(store.q, F);
  assert.deepEqual(
    w.map((r) => [r.name, r.breaks.extended.count, r.work.extended.totalHours, r.inputHours, r.keyboard, r.keyboardPerHour, r.applicationSwitches]),
    [['ann', 1, 1, 1, 1200, 1200, 1]],
  );
  const g = await workPage(store.q, F, { by: 'group' });
  assert.deepEqual(
    g.map((r) => [r.name, r.users]),
    [['eng', 1]],
  );
  const o = await offlinePage(store.q, F);
  assert.deepEqual(o, [
    {
      product: 'cad',
      onlineCheckouts: 2,
      onlineHours: 2,
      offlineLaunches: 1,
      offlineHours: 1.5,
      loggedOfflineLaunches: 0,
      loggedOfflineHours: 0,
      offlineShare: 1.5 / 3.5,
    },
  ]);
});

test("the work pages' activity sums are answered from an index alone (no record read), with and without user and host filters", async () => {
  const range = { fromIso: new Date(F.from).toISOString(), toIso: new Date(F.to).toISOString() };
  for (const f of [range, { ...range, users: ['ann', 'bob'], host: 'h1' }]) {
    for (const q of activitySumQueries(f)) {
      if (store.q.sql.dialect === 'sqlite') {
        const plan = (await store.q.sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${q.sql}`, q.params)).map((r) => r.detail).join(' | ');
        assert.match(plan, /USING COVERING INDEX activity_records_sums/, `${q.sql}\n${plan}`);
      } else {
        // With the few rows here the planner would rather read the table: it is told not to, so the
        // plan shows whether the index can answer alone.
        const plan = await store.transaction(async (tx) => {
          await tx.sql.all('SET LOCAL enable_seqscan = off');
          await tx.sql.all('SET LOCAL enable_bitmapscan = off');
          return (await tx.sql.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${q.sql}`, q.params)).map((r) => r['QUERY PLAN']).join('\n');
        });
        // (The partitions' indexes are named by PostgreSQL after their columns.)
        assert.match(plan, /Index Only Scan using activity_records_\w+ on /, `${q.sql}\n${plan}`);
        assert.doesNotMatch(plan, /(Seq Scan|Index Scan|Bitmap Heap Scan) (using|on) /, plan);
      }
    }
  }
});

test("one product's active page reads only its programs' intervals (any case, any path) and gives the figures of all intervals", async () => {
  const b = await srv.enroll('h9');
  const apps: Array<[string, string, string]> = [
    ['CADPRO', '08:30', '08:45'],
    ['/opt/cad/bin/CadPro', '08:40', '08:50'],
    ['cad', '08:50', '08:55'],
    ['xcadpro', '08:00', '09:00'], // ends in the name, another program
    ['ÇADPRO', '08:00', '09:00'], // not ASCII: read, and not the program
    ['firefox', '08:00', '09:00'],
  ];
  const records = apps.map(([application, from, to], i) => ({
    seq: i + 1,
    type: 'input-events',
    time: at(to),
    host: 'h1',
    user: 'ann',
    application,
    start: at(from),
    end: at(to),
    durationSeconds: (t(to) - t(from)) / 1000,
    keyboard: 5,
    mouse: 0,
    switch: 0,
  }));
  const up = await b.post('/v1/events', { records });
  assert.equal(up.status, 200, up.text);
  const one = await activePage(store.q, { ...F, product: 'cad' });
  const day = { fromIso: at('00:00'), toIso: '2024-05-07T00:00:00.000Z' };
  const every = await store.q.reports.activityIntervals(day);
  const read = await store.q.reports.activityIntervals(day, ['cad', 'cadpro']);
  assert.deepEqual(read.map((r) => r.application).sort(), ['/opt/cad/bin/CadPro', 'CADPRO', 'cad', 'cadpro', 'xcadpro', 'ÇADPRO']);
  assert.ok(every.length > read.length);
  const reference = activeReport({
    events: await loadLicenseEvents(store.q, { ...F, product: 'cad' }),
    activity: every.map((r) => ({ ...r, user: r.user ?? '', host: r.host ?? '', start: Date.parse(r.start!), end: Date.parse(r.end!) })),
    programs: { cad: ['/opt/cad/bin/cadpro'] },
    from: F.from,
    end: F.to,
  });
  assert.deepEqual(one, reference);
  // ann on h1: cadpro 08:00-08:30, CADPRO to 08:45, CadPro to 08:50, cad to 08:55, inside her lease 08:00-09:00.
  assert.deepEqual(
    one.byUser.map((r) => [r.user, r.heldHours, r.activeHours]),
    [
      ['ann', 1, 55 / 60],
      ['bob', 1, 0],
    ],
  );
});
