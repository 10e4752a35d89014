/**
 * The checkout spans (storage/spans.ts) on a real store (SQLite, and PostgreSQL in the second
 * pass): the license pages read from usage_spans give exactly the figures of the events paired at
 * read time (`useSpans = false`, the reference path), for ranges that cut checkouts at both ends,
 * with events written out of order, late events folded after a first read, spans still open, a
 * restart in between, and a database from before the spans (the migration's backfill).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { offlinePage, summariesPage, usagePage, usersPage, usageReport, type ReportFilters } from '../../../src/server/reports/index.js';
import { POSTGRES_SPANS_VERSION } from '../../../src/server/storage/postgres/schema.js';
import { SQLITE_SPANS_VERSION } from '../../../src/server/storage/sqlite/schema.js';
import { openStore, type Store } from '../../../src/server/storage/store.js';
import type { ServerEvent } from '../../../src/server/storage/types.js';
import { createTestDatabase, TEST_STORE } from '../../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'spans-'));
const drops: Array<() => Promise<void>> = [];
after(async () => {
  for (const d of drops) await d();
  rmSync(dir, { recursive: true, force: true });
});

async function newDatabase(name: string): Promise<string> {
  if (TEST_STORE === 'sqlite') return join(dir, `${name}.db`);
  const t = await createTestDatabase();
  drops.push(t.drop);
  return t.url;
}

const T = (d: number, hm: string) => Date.parse(`2024-05-0${d}T${hm}:00Z`);
const DAY5: ReportFilters = { from: T(5, '00:00'), to: T(6, '00:00'), now: T(9, '00:00') };
const DAY6: ReportFilters = { from: T(6, '00:00'), to: T(7, '00:00'), now: T(9, '00:00') };
const DAYS: ReportFilters = { from: T(4, '00:00'), to: T(8, '00:00'), now: T(9, '00:00') };
/** Now inside day 6: what is open counts until now. */
const DAY6_NOW: ReportFilters = { ...DAY6, now: T(6, '15:00') };

interface Lease {
  id: string;
  product: string;
  user: string;
  host: string;
  pid: number;
  start: number;
  end?: number;
}

/** A lease's events and its row in the leases table (the event path reads what was open at `from` there). */
async function writeLease(s: Store, l: Lease, opts: { endFirst?: boolean; onlyEnd?: boolean } = {}): Promise<void> {
  const base = {
    product: l.product,
    user: l.user,
    host: l.host,
    agentId: `a-${l.host}`,
    pid: l.pid,
    processStart: new Date(l.start).toISOString(),
    leaseId: l.id,
  };
  const start: ServerEvent = { ...base, time: l.start, code: 1 };
  const end: ServerEvent | undefined = l.end === undefined ? undefined : { ...base, time: l.end, code: 2, reason: 'quit' };
  await s.transaction(async (tx) => {
    const events = opts.onlyEnd && end ? [end] : end && opts.endFirst ? [end, start] : end ? [start, end] : [start];
    for (const e of events) await tx.writeServerEvent(e);
    await tx.sql.run(
      'INSERT INTO leases (id, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, granted_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at',
      [
        l.id,
        base.agentId,
        l.product,
        `${l.host}|${l.user}`,
        l.user,
        l.host,
        l.pid,
        base.processStart,
        `r-${l.id}`,
        l.start,
        l.start + 3_600_000,
        end ? l.end : null,
      ],
    );
  });
}

async function writeEvents(s: Store, events: ServerEvent[]): Promise<void> {
  await s.transaction(async (tx) => {
    for (const e of events) await tx.writeServerEvent(e);
  });
}

/** A ticket queued before day 5 and granted inside it, with its queue row. */
async function writeTicket(s: Store, start: number, end: number): Promise<void> {
  const base = { product: 'cad', user: 'bob', host: 'h2', agentId: 'a-h2', pid: 77, processStart: new Date(start).toISOString() };
  await writeEvents(s, [
    { ...base, time: start, code: 5 },
    { ...base, time: end, code: 6, reason: 'granted' },
  ]);
  await s.q.sql.run(
    'INSERT INTO queue (ticket, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, enqueued_at, last_poll_at, state, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ['t1', 'a-h2', 'cad', 'h2|bob', 'bob', 'h2', 77, base.processStart, 'rq1', start, end, 'granted', end],
  );
}

/** A leased product's allocation from day 4 to day 6 (27/28) with runs inside it (29/30), and its allocations row. */
async function writeAllocation(s: Store): Promise<void> {
  const base = { product: 'sim', user: 'cy', host: 'h3', agentId: 'a-h3', pid: 5, processStart: '2024-05-04T09:00:00.000Z' };
  await writeEvents(s, [
    { ...base, time: T(4, '09:00'), code: 27, leaseId: 'S1' },
    { ...base, time: T(4, '09:00'), code: 29, leaseId: 'S1' },
    { ...base, time: T(5, '03:00'), code: 30, leaseId: 'S1', reason: 'quit' },
    { ...base, time: T(5, '10:00'), code: 29, leaseId: 'S2', pid: 6 },
    { ...base, time: T(5, '11:30'), code: 30, leaseId: 'S2', pid: 6, reason: 'quit' },
    { ...base, time: T(6, '12:00'), code: 28, reason: 'expired' },
  ]);
  await s.q.sql.run(
    'INSERT INTO allocations (product_id, seat_key, agent_id, "user", host, issued_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ['sim', 'h3|cy', 'a-h3', 'cy', 'h3', T(4, '09:00'), T(5, '11:30'), T(6, '12:00')],
  );
  // The runs are leases too.
  for (const [id, pid, start, end] of [
    ['S1', 5, T(4, '09:00'), T(5, '03:00')],
    ['S2', 6, T(5, '10:00'), T(5, '11:30')],
  ] as const)
    await s.q.sql.run(
      'INSERT INTO leases (id, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, granted_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [id, 'a-h3', 'sim', 'h3|cy', 'cy', 'h3', pid, base.processStart, `r-${id}`, start, start + 3_600_000, end],
    );
}

async function products(s: Store): Promise<void> {
  for (const [id, seats, type] of [
    ['cad', 2, 'floating'],
    ['sim', 1, 'leased'],
  ] as const)
    await s.q.upsertProduct(
      {
        id,
        name: id.toUpperCase(),
        licenseType: type,
        seats,
        match: { executables: [`/opt/${id}`], paths: [] },
        offline: 'allow',
        onDeny: 'notify',
        queue: true,
      } as never,
      'config',
      new Date(),
    );
}

/** Every page read from the spans and from the events paired now: they must be equal. */
async function pages(s: Store, f: ReportFilters) {
  const read = () =>
    Promise.all([
      usagePage(s.q, f),
      summariesPage(s.q, f, ['day', 'week']),
      usersPage(s.q, f),
      offlinePage(s.q, f),
      usageReport(s.q, { from: new Date(f.from).toISOString().slice(0, 10), to: new Date(f.to - 1).toISOString().slice(0, 10), periods: ['day'], now: f.now! }),
    ]);
  const fromSpans = await read();
  s.q.reports.useSpans = false;
  try {
    return { fromSpans, fromEvents: await read() };
  } finally {
    s.q.reports.useSpans = true;
  }
}

async function assertSame(s: Store, label: string) {
  for (const [name, f] of Object.entries({
    DAY5,
    DAY6,
    DAYS,
    DAY6_NOW,
    cad: { ...DAYS, product: 'cad' },
    ann: { ...DAY5, user: 'ann' },
    h2: { ...DAYS, host: 'h2' },
  })) {
    const { fromSpans, fromEvents } = await pages(s, f);
    assert.deepStrictEqual(fromSpans, fromEvents, `${label}: ${name}`);
  }
}

const spanCount = async (s: Store) => Number((await s.q.sql.get<{ n: number }>('SELECT count(*) AS n FROM usage_spans'))!.n);

test('the pages from usage_spans equal the pages from the events, as events arrive late and out of order', async () => {
  const db = await newDatabase('late');
  let s = await openStore(db, { poolSize: 2 });
  try {
    await products(s);
    // Day 4 22:00 to day 5 02:00: open at day 5's start.
    await writeLease(s, { id: 'L1', product: 'cad', user: 'ann', host: 'h1', pid: 1, start: T(4, '22:00'), end: T(5, '02:00') });
    await writeLease(s, { id: 'L2', product: 'cad', user: 'ann', host: 'h1', pid: 2, start: T(5, '08:00'), end: T(5, '10:00') });
    // A second window on the same seat: no second seat.
    await writeLease(s, { id: 'L3', product: 'cad', user: 'ann', host: 'h1', pid: 3, start: T(5, '09:00'), end: T(5, '09:30') });
    // Past day 5's end.
    await writeLease(s, { id: 'L4', product: 'cad', user: 'bob', host: 'h2', pid: 4, start: T(5, '20:00'), end: T(6, '03:00') });
    // The end written before the start (an upload replayed out of order).
    await writeLease(s, { id: 'L5', product: 'cad', user: 'dee', host: 'h4', pid: 5, start: T(5, '12:00'), end: T(5, '13:15') }, { endFirst: true });
    // Still open.
    await writeLease(s, { id: 'L6', product: 'cad', user: 'eve', host: 'h5', pid: 6, start: T(6, '09:00') });
    await writeTicket(s, T(4, '23:50'), T(5, '00:20'));
    await writeAllocation(s);
    await writeEvents(s, [
      { product: 'cad', user: 'fay', host: 'h6', agentId: 'a-h6', pid: 9, time: T(5, '09:10'), code: 7, reason: 'all-seats-in-use' },
      { product: 'cad', user: 'fay', host: 'h6', agentId: 'a-h6', pid: 9, time: T(6, '09:10'), code: 7, reason: 'all-seats-in-use' },
    ]);
    await assertSame(s, 'first fold');
    // 6 leases, 1 ticket, 1 allocation with 2 runs, 2 denials.
    assert.equal(await spanCount(s), 12);

    // By hand, from the spans: ann held one seat 00:00-02:00 and 08:00-10:00 on day 5 (the
    // second window adds none), 4 license-hours; bob 20:00-24:00.
    const day5 = await usersPage(s.q, DAY5);
    assert.deepStrictEqual(
      day5.topUsers.map((u) => [u.user, u.licenseHours, u.checkouts]),
      [
        ['ann', 4, 2],
        ['bob', 4, 1],
        ['cy', 24, 1],
        ['dee', 1.25, 1],
      ].sort((a, b) => (b[1] as number) - (a[1] as number) || String(a[0]).localeCompare(String(b[0]))),
    );
    const peak = (await usagePage(s.q, DAY5)).series.find((x) => x.product === 'cad')!;
    // No two seats at once on day 5; desired 2 while bob waited (00:00-00:20) beside ann, and at the denial of 09:10.
    assert.equal(peak.peakUsed.value, 1);
    assert.equal(peak.peakDesired.value, 2);
    assert.deepStrictEqual(peak.denials, [{ t: T(5, '09:10'), count: 1, desired: 2 }]);

    // Late events after the first fold: L6's end, a lease whose start is earlier than events
    // folded before, an end for a start never written.
    await writeLease(s, { id: 'L6', product: 'cad', user: 'eve', host: 'h5', pid: 6, start: T(6, '09:00'), end: T(6, '11:00') }, { onlyEnd: true });
    await writeLease(s, { id: 'L7', product: 'cad', user: 'gus', host: 'h7', pid: 7, start: T(5, '07:00'), end: T(5, '09:05') });
    await writeEvents(s, [
      { product: 'cad', user: 'hal', host: 'h8', agentId: 'a-h8', pid: 8, processStart: 'x', leaseId: 'L8', time: T(6, '05:00'), code: 2, reason: 'lost' },
    ]);
    await assertSame(s, 'late events');
    // gus (07:00-09:05) beside ann (08:00-10:00): two seats.
    assert.equal((await usagePage(s.q, DAY5)).series.find((x) => x.product === 'cad')!.peakUsed.value, 2);
    assert.equal(await spanCount(s), 14);

    // A restart: another store on the same database folds what was written meanwhile.
    await s.close();
    s = await openStore(db, { poolSize: 2 });
    await writeLease(s, { id: 'L9', product: 'cad', user: 'ann', host: 'h1', pid: 10, start: T(6, '13:00'), end: T(6, '14:00') });
    await assertSame(s, 'after a restart');
    assert.equal(await spanCount(s), 15);
  } finally {
    await s.close();
  }
});

test('opening a database from before the spans folds the events already stored (the backfill)', async () => {
  const db = await newDatabase('backfill');
  let s = await openStore(db, { poolSize: 2 });
  try {
    const [{ value }] = await s.q.sql.all<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'");
    const spansVersion = s.dialect === 'postgres' ? POSTGRES_SPANS_VERSION : SQLITE_SPANS_VERSION;
    assert.ok(Number(value) >= spansVersion);
    await s.q.sql.run('DROP TABLE usage_spans');
    await s.q.sql.run('DROP TABLE usage_span_names');
    await s.q.sql.run("DELETE FROM meta WHERE key = 'usage_spans_folded'");
    await s.q.sql.run("UPDATE meta SET value = ? WHERE key = 'schema_version'", [String(spansVersion - 1)]);
    // Events of a server from before the spans (it reads no spans: nothing folds them yet).
    s.q.reports.refreshSpans = undefined;
    await products(s);
    await writeLease(s, { id: 'L1', product: 'cad', user: 'ann', host: 'h1', pid: 1, start: T(4, '22:00'), end: T(5, '02:00') });
    await writeLease(s, { id: 'L2', product: 'cad', user: 'bob', host: 'h2', pid: 2, start: T(5, '08:00'), end: T(6, '10:00') });
    await writeTicket(s, T(4, '23:50'), T(5, '00:20'));
    await writeAllocation(s);
    const before = await pages(s, DAY5);
    assert.deepStrictEqual(before.fromSpans, before.fromEvents);
    await s.close();
    s = await openStore(db, { poolSize: 2 });
    assert.equal(await spanCount(s), 0, 'the migration makes the table; the first read folds');
    const { fromSpans } = await pages(s, DAY5);
    assert.equal(await spanCount(s), 6);
    assert.deepStrictEqual(fromSpans, before.fromEvents);
    await assertSame(s, 'backfilled');
  } finally {
    await s.close();
  }
});

test('retention takes the spans whose events all went, and the pages still agree', async () => {
  const db = await newDatabase('retention');
  const s = await openStore(db, { poolSize: 2 });
  try {
    await products(s);
    await writeLease(s, {
      id: 'OLD',
      product: 'cad',
      user: 'ann',
      host: 'h1',
      pid: 1,
      start: Date.parse('2024-03-10T08:00:00Z'),
      end: Date.parse('2024-03-10T09:00:00Z'),
    });
    await writeLease(s, { id: 'L1', product: 'cad', user: 'ann', host: 'h1', pid: 2, start: T(5, '08:00'), end: T(5, '10:00') });
    await writeLease(s, { id: 'L2', product: 'cad', user: 'bob', host: 'h2', pid: 3, start: T(5, '09:00') });
    await pages(s, DAYS);
    assert.equal(await spanCount(s), 3);
    // 40 days: March goes (PostgreSQL drops the months entirely older than that, SQLite the rows).
    await s.maintain(T(9, '00:00'), { 'usage-event': 40 });
    const oldEvents = Number((await s.q.sql.get<{ n: number }>("SELECT count(*) AS n FROM usage_events WHERE lease_id = 'OLD'"))!.n);
    if (s.dialect === 'sqlite') assert.equal(oldEvents, 0);
    assert.equal(await spanCount(s), oldEvents === 0 ? 2 : 3);
    await assertSame(s, 'after retention');
  } finally {
    await s.close();
  }
});

test('two servers on one database writing and folding at once fold every event once', async () => {
  const db = await newDatabase('two');
  const a = await openStore(db, { poolSize: 3 });
  const b = await openStore(db, { poolSize: 3 });
  try {
    await products(a);
    const leases = Array.from({ length: 40 }, (_, i) => ({
      id: `C${i}`,
      product: 'cad',
      user: `u${i % 7}`,
      host: `h${i % 7}`,
      pid: 100 + i,
      start: T(5, '08:00') + i * 600_000,
      end: T(5, '08:00') + i * 600_000 + ((i % 5) + 1) * 1_800_000,
    }));
    // Each server writes half the leases (every fifth end before its start) while both fold.
    await Promise.all(
      [a, b].map(async (s, k) => {
        for (const [i, l] of leases.entries()) {
          if (i % 2 !== k) continue;
          await writeLease(s, l, { endFirst: i % 5 === 0 });
          await s.q.reports.refreshSpans?.();
        }
      }),
    );
    for (const s of [a, b]) await assertSame(s, s === a ? 'server a' : 'server b');
    assert.equal(await spanCount(a), 40);
    assert.deepStrictEqual(await usersPage(a.q, DAY5), await usersPage(b.q, DAY5));
  } finally {
    await a.close();
    await b.close();
  }
});
