/**
 * Report functions over uploaded records, by hand: active vs checked out, the harvesting ledger,
 * process accounting (Open iT measurements), work patterns and offline use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeReport,
  countApplicationSwitches,
  harvestReport,
  hourlyProcessAccounting,
  offlineReport,
  processAccounting,
  productCosts,
  sumActivity,
  sumProcesses,
  workPatterns,
  type ActivityInterval,
  type ReportEvent,
} from '../../../src/server/reports/index.js';

const t = (hm: string) => Date.parse(`2024-05-06T${hm}:00Z`);
const who = (agentId: string, user: string, pid = 1) => ({ agentId, user, host: `h-${agentId}`, pid, processStart: '2024-05-06T00:00:00.000Z' });
const ev = (hm: string, code: number, w: ReturnType<typeof who>, o: Partial<ReportEvent> = {}): ReportEvent => ({
  time: t(hm),
  code,
  product: 'cad',
  ...w,
  ...o,
});
const ann = who('a1', 'ann');
const bob = who('a2', 'bob');
const cy = who('a3', 'cy');
const dan = who('a4', 'dan');
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("active vs checked out: working time in the product's program inside its leases, and the seats active use alone needed", () => {
  const events = [
    ev('08:00', 1, ann, { leaseId: 'A' }),
    ev('12:00', 2, ann, { leaseId: 'A' }),
    ev('08:00', 1, bob, { leaseId: 'B' }),
    ev('10:00', 2, bob, { leaseId: 'B' }),
  ];
  const act = (
    type: ActivityInterval['type'],
    user: string,
    host: string,
    application: string | null,
    a: string,
    b: string,
    keyboard = 1,
    mouse = 0,
  ): ActivityInterval => ({ type, user, host, application, start: t(a), end: t(b), keyboard, mouse });
  const activity = [
    act('input-events', 'ann', 'h-a1', 'cadpro', '08:00', '09:00'),
    act('input-events', 'ann', 'h-a1', 'CadPro', '08:30', '09:30'), // overlaps: the union counts
    act('input-events', 'ann', 'h-a1', 'cadpro', '10:00', '10:30', 0, 0), // no input: not work
    act('input-events', 'ann', 'h-a1', 'firefox', '11:00', '11:30'), // another program
    act('work', 'ann', 'h-a1', 'cadpro', '11:30', '12:30'), // clipped at the lease end
    act('input-events', 'ann', 'h-other', 'cadpro', '10:00', '11:00'), // another host
    act('break', 'ann', 'h-a1', 'cadpro', '09:30', '10:00'),
    act('input-events', 'bob', 'h-a2', 'cad', '09:00', '09:10'), // the product id matches too
  ];
  const r = activeReport({ events, activity, programs: { cad: ['/opt/cad/bin/cadpro'] }, from: t('08:00'), end: t('12:00') });
  assert.deepEqual(
    r.byUser.map((u) => [u.user, u.heldHours, u.activeHours]),
    [
      ['ann', 4, 2],
      ['bob', 2, 600_000 / 3_600_000],
    ],
  );
  assert.equal(r.byUser[0].activeShare, 0.5);
  const [p] = r.byProduct;
  assert.deepEqual([p.product, p.users, p.heldHours], ['cad', 2, 6]);
  close(p.activeHours, 2 + 1 / 6);
  close(p.activeShare, (2 + 1 / 6) / 6);
  // Held: 2 seats 08-10, 1 seat 10-12. Active: 1 seat 08-09, 2 seats 09:00-09:10, 1 seat to 09:30, none to 11:30, 1 to 12:00:
  // one seat covers 230 of 240 minutes (95.8 %).
  assert.deepEqual([p.heldSeats95, p.heldSeats99, p.heldMax, p.activeSeats95, p.activeSeats99, p.activeMax], [2, 2, 2, 1, 2, 2]);
});

test('harvesting ledger: idle releases, suspends and terminations, license-hours given back, denials avoided', () => {
  const events = [
    ev('07:00', 1, cy, { leaseId: 'C' }),
    ev('08:00', 1, ann, { leaseId: 'A1' }),
    ev('09:00', 2, ann, { leaseId: 'A1', reason: 'idle' }),
    ev('09:30', 1, bob, { leaseId: 'B' }), // ann's seat was given back: avoided a denial (1 seat)
    ev('10:00', 2, cy, { leaseId: 'C', reason: 'idle' }),
    ev('10:30', 2, bob, { leaseId: 'B', reason: 'quit' }),
    ev('11:00', 1, ann, { leaseId: 'A2' }), // ann back: cy's seat is still given back, so this too
    ev('12:00', 2, ann, { leaseId: 'A2', reason: 'quit' }),
    ev('07:00', 1, dan, { leaseId: 'D', product: 'cam' }),
    ev('07:30', 2, dan, { leaseId: 'D', product: 'cam', reason: 'idle' }),
  ];
  const notifications = [
    { time: t('09:00') + 5000, user: 'ann', host: 'h-a1', product: 'cad', messageKey: 'idle.paused' },
    { time: t('10:00') + 30_000, user: 'cy', host: 'h-a3', product: 'cad', messageKey: 'idle.closed' },
    { time: t('10:00'), user: 'cy', host: 'h-a3', product: 'cad', messageKey: 'idle.ask' },
  ];
  const r = harvestReport({ events, notifications, seats: { cad: 1, cam: null }, from: t('07:00'), end: t('12:00') });
  assert.deepEqual(
    r.releases.map((x) => [x.product, x.user, x.action, x.givenBackHours, x.until]),
    [
      ['cam', 'dan', 'release', 4.5, null], // never taken again: until the report end
      ['cad', 'ann', 'suspend', 2, t('11:00')],
      ['cad', 'cy', 'terminate', 2, null],
    ],
  );
  assert.deepEqual(r.byProduct, [
    { product: 'cad', idleReleases: 2, suspends: 1, terminations: 1, givenBackHours: 4, denialsAvoided: 2 },
    { product: 'cam', idleReleases: 1, suspends: 0, terminations: 0, givenBackHours: 4.5, denialsAvoided: 0 }, // seats unknown
  ]);
});

const proc = (
  command: string,
  exe: string,
  user: string,
  host: string,
  exitCode: number | null,
  elapsedSeconds: number,
  cpuUser: number,
  cpuSystem: number,
  avgRss: number,
  read: number,
  write: number,
) => ({
  command,
  exe,
  user,
  host,
  exitCode,
  elapsedSeconds,
  cpuUserSeconds: cpuUser,
  cpuSystemSeconds: cpuSystem,
  avgRssBytes: avgRss,
  readBytes: read,
  writeBytes: write,
});

test('process accounting: count, CPU, elapsed, I/O, average and accumulated memory by command and exit status; cost and crash rate per product', () => {
  const sums = sumProcesses([
    proc('cadpro', '/opt/cad/bin/cadpro', 'ann', 'h1', 0, 100, 10, 5, 1000, 50, 25),
    proc('cadpro', '/opt/cad/bin/cadpro', 'ann', 'h1', 0, 300, 20, 5, 2000, 100, 0),
    proc('cadpro', '/opt/cad/bin/cadpro', 'bob', 'h2', null, 50, 1, 1, 4000, 0, 0), // ended by a signal
    proc('bash', '/usr/bin/bash', 'ann', 'h1', 1, 10, 0.5, 0.5, 500, 10, 10),
  ]);
  assert.equal(sums.length, 3);
  assert.deepEqual(processAccounting(sums, ['command']), [
    // 1000 B x 100 s + 2000 x 300 + 4000 x 50 = 900000 B s over 450 s: 2000 B on average.
    {
      key: { command: 'cadpro' },
      count: 3,
      cpuSeconds: 42,
      elapsedHours: 0.125,
      ioBytes: 175,
      averageMemoryBytes: 2000,
      accumulatedMemoryByteSeconds: 900_000,
    },
    { key: { command: 'bash' }, count: 1, cpuSeconds: 1, elapsedHours: 10 / 3600, ioBytes: 20, averageMemoryBytes: 500, accumulatedMemoryByteSeconds: 5000 },
  ]);
  assert.deepEqual(
    processAccounting(sums, ['exit']).map((r) => [r.key.exit, r.count, r.cpuSeconds]),
    [
      ['0', 2, 40],
      ['signal', 1, 2],
      ['1', 1, 1],
    ],
  );
  assert.deepEqual(
    processAccounting(sums, ['user', 'host'], 1).map((r) => r.key),
    [{ user: 'ann', host: 'h1' }],
  );
  assert.deepEqual(productCosts(sums, { cad: ['/opt/cad/bin/cadpro'], sh: ['bash'] }), [
    { product: 'cad', processes: 3, cpuSeconds: 42, elapsedHours: 0.125, ioBytes: 175, accumulatedMemoryByteSeconds: 900_000, crashes: 1, crashRate: 1 / 3 },
    { product: 'sh', processes: 1, cpuSeconds: 1, elapsedHours: 10 / 3600, ioBytes: 20, accumulatedMemoryByteSeconds: 5000, crashes: 1, crashRate: 1 },
  ]);
  // Hourly: 5400 process-seconds in one hour = 1.5 processes on average; 2 MB average RSS = 3e6 byte-hours accumulated.
  assert.deepEqual(
    hourlyProcessAccounting([
      { hour: '2024-05-06T09', command: 'cadpro', count: 2, cpuSeconds: 30, elapsedSeconds: 5400, ioBytes: 1000, rssByteSeconds: 5400 * 2e6 },
    ]),
    [
      {
        hour: '2024-05-06T09',
        command: 'cadpro',
        count: 2,
        cpuSeconds: 30,
        elapsedHours: 1.5,
        ioBytes: 1000,
        averageProcesses: 1.5,
        averageRssBytes: 2e6,
        accumulatedRssByteHours: 3e6,
      },
    ],
  );
});

test('work patterns: breaks by type, work periods, input intensity and application switches, per user and per group', () => {
  const a = (
    user: string,
    type: 'break' | 'work' | 'input-events',
    durationSeconds: number,
    o: { breakType?: string; periodType?: string; keyboard?: number; mouse?: number; switch?: number } = {},
  ) => ({
    user,
    type,
    breakType: o.breakType ?? null,
    periodType: o.periodType ?? null,
    durationSeconds,
    keyboard: o.keyboard ?? null,
    mouse: o.mouse ?? null,
    switch: o.switch ?? null,
  });
  const sums = sumActivity([
    a('ann', 'break', 30, { breakType: 'microbreak' }),
    a('ann', 'break', 20, { breakType: 'microbreak' }),
    a('ann', 'break', 120, { breakType: 'short' }),
    a('ann', 'break', 900, { breakType: 'extended' }),
    a('ann', 'work', 1800, { periodType: 'uninterrupted' }),
    a('ann', 'work', 3600, { periodType: 'extended' }),
    a('ann', 'input-events', 3600, { keyboard: 1200, mouse: 600, switch: 40 }),
    a('ann', 'input-events', 1800, { keyboard: 300, mouse: 300, switch: 10 }),
    a('bob', 'break', 300, { breakType: 'short' }),
    a('bob', 'input-events', 1800, { keyboard: 100, mouse: 50, switch: 5 }),
  ]);
  const rows = [
    { user: 'ann', host: 'h1', application: 'cadpro', start: t('08:00') },
    { user: 'ann', host: 'h1', application: 'firefox', start: t('08:20') },
    { user: 'ann', host: 'h1', application: 'cadpro', start: t('08:10') },
    { user: 'ann', host: 'h1', application: 'cadpro', start: t('08:30') },
    { user: 'ann', host: 'h2', application: 'term', start: t('08:05') },
    { user: 'bob', host: 'h3', application: 'cadpro', start: t('08:00') },
  ];
  const switches = countApplicationSwitches(rows);
  assert.deepEqual(switches, [
    { user: 'ann', switches: 2 },
    { user: 'bob', switches: 0 },
  ]); // cadpro cadpro firefox cadpro; h2 apart
  const [annRow, bobRow] = workPatterns({ sums, applicationSwitches: switches });
  assert.deepEqual(annRow.breaks, {
    microbreak: { count: 2, totalHours: 50 / 3600, averageHours: 25 / 3600, maxHours: 30 / 3600 },
    short: { count: 1, totalHours: 120 / 3600, averageHours: 120 / 3600, maxHours: 120 / 3600 },
    extended: { count: 1, totalHours: 0.25, averageHours: 0.25, maxHours: 0.25 },
  });
  assert.deepEqual(annRow.work, {
    uninterrupted: { count: 1, totalHours: 0.5, averageHours: 0.5, maxHours: 0.5 },
    extended: { count: 1, totalHours: 1, averageHours: 1, maxHours: 1 },
  });
  assert.deepEqual(
    [annRow.inputHours, annRow.keyboard, annRow.mouse, annRow.keyboardMouseSwitches, annRow.keyboardPerHour, annRow.mousePerHour, annRow.applicationSwitches],
    [1.5, 1500, 900, 50, 1000, 600, 2],
  );
  assert.deepEqual([bobRow.name, bobRow.breaks.short.count, bobRow.breaks.microbreak.count, bobRow.keyboardPerHour], ['bob', 1, 0, 200]);
  const [eng] = workPatterns({ sums, applicationSwitches: switches, groups: { ann: 'eng', bob: 'eng' }, by: 'group' });
  assert.deepEqual(
    [eng.name, eng.users, eng.keyboard, eng.inputHours, eng.keyboardPerHour, eng.breaks.short.count, eng.applicationSwitches],
    ['eng', 2, 1600, 2, 800, 2, 2],
  );
});

test('offline use (10-13) beside online checkouts, per product', () => {
  const bobOff = { ...bob, pid: 5 };
  const events = [
    ev('08:00', 1, ann, { leaseId: 'L1' }),
    ev('10:00', 2, ann, { leaseId: 'L1' }),
    ev('09:00', 10, bobOff),
    ev('10:30', 11, bobOff),
    ev('11:00', 10, cy), // still running offline at the end
    ev('08:00', 12, dan, { product: 'cam' }),
    ev('08:45', 13, dan, { product: 'cam' }),
  ];
  const r = offlineReport({ events, from: t('08:00'), end: t('12:00') });
  assert.deepEqual(r, [
    {
      product: 'cad',
      onlineCheckouts: 1,
      onlineHours: 2,
      offlineLaunches: 2,
      offlineHours: 2.5,
      loggedOfflineLaunches: 0,
      loggedOfflineHours: 0,
      offlineShare: 2.5 / 4.5,
    },
    {
      product: 'cam',
      onlineCheckouts: 0,
      onlineHours: 0,
      offlineLaunches: 0,
      offlineHours: 0,
      loggedOfflineLaunches: 1,
      loggedOfflineHours: 0.75,
      offlineShare: 0,
    },
  ]);
});
