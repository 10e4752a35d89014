/** `usage-server export log-files`: a real CLI run on a real database (either store), a checkout crossing midnight. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/server/storage/store.js';
import { leaseRequest, startServer } from '../helpers/server.js';

test('export log-files writes the reference tree from the database; a checkout open at midnight is split at the day boundary', async (t) => {
  const srv = await startServer({ products: [{ id: 'cad', name: 'CAD Pro', seats: 2 }] });
  t.after(() => srv.cleanup());
  // Today's usage through real lease calls (outside the exported days: it must not appear).
  const a = await srv.enroll('ws-a');
  assert.equal((await a.post('/v1/leases', leaseRequest({ user: 'zed', host: 'ws-a' }))).status, 201);
  // History in the server's event table: ann from Saturday 2007-06-30 22:00 to Sunday 01:30 UTC, bob denied on Sunday.
  // (Written through the store's own query, as the lease service writes them.)
  const store = await openStore(srv.db, { poolSize: 1 });
  try {
    const ann = { product: 'cad', user: 'ann', host: 'ws-a', pid: 4242, processStart: '2007-06-30T21:59:00.000Z', leaseId: 'H1' };
    await store.q.writeServerEvent({ ...ann, time: Date.parse('2007-06-30T22:00:00Z'), code: 1 });
    await store.q.writeServerEvent({ ...ann, time: Date.parse('2007-07-01T01:30:00Z'), code: 2, reason: 'quit' });
    await store.q.writeServerEvent({
      product: 'cad',
      user: 'bob',
      host: 'ws-b',
      pid: 77,
      time: Date.parse('2007-07-01T09:15:00Z'),
      code: 7,
      reason: 'all-seats-in-use',
    });
  } finally {
    await store.close();
  }

  const dir = join(srv.dir, 'logs');
  const r = await srv.cli('export', 'log-files', '--dir', dir, '--from', '2007-06-30', '--to', '2007-07-01', '--mode', 'UserSummary');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote 9 files under/);
  for (const p of [
    '2007/06/30/Log.txt',
    '2007/06/30/Summary.txt',
    '2007/07/01/Log.txt',
    '2007/07/01/Summary.txt',
    '2007/06/Summary.txt',
    '2007/07/Summary.txt',
    '2007/Summary.txt',
  ]) {
    assert.ok(existsSync(join(dir, p)), p);
  }
  assert.deepEqual(readdirSync(join(dir, 'WeeklySummaries')).sort(), ['SummaryW104694.txt', 'SummaryW104695.txt']);

  const lines = (p: string) =>
    readFileSync(join(dir, p), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t'));
  const midnight = 63318844800; // 2007-07-01T00:00:00Z in seconds from 0001-01-01
  assert.deepEqual(lines('2007/06/30/Log.txt'), [
    [
      'UserName',
      'HostName',
      'ProcessId',
      'ProductId',
      'ProductName',
      'StartTime(InSeconds)',
      'EndTime(inSeconds)',
      'NumberDesired',
      'NumberGranted',
      'Date',
      'StartTime',
      'EndTime',
    ],
    ['ann', 'ws-a', '4242', 'cad', 'CAD Pro', String(midnight - 7200), String(midnight), '1', '1', '2007/06/30', '22:00:00', '24:00:00'],
  ]);
  assert.deepEqual(lines('2007/07/01/Log.txt').slice(1), [
    ['ann', 'ws-a', '4242', 'cad', 'CAD Pro', String(midnight), String(midnight + 5400), '1', '1', '2007/07/01', '00:00:00', '01:30:00'],
    ['bob', 'ws-b', '77', 'cad', 'CAD Pro', String(midnight + 33300), String(midnight + 33300), '1', '0', '2007/07/01', '09:15:00', '09:15:00'],
  ]);
  // Sunday's summary: the product row, then ann and bob; no weekday columns for a day.
  const [head, ...rows] = lines('2007/07/01/Summary.txt');
  const col = (row: string[], c: string) => row[head.indexOf(c)];
  assert.equal(head.length, 10 + 7 * 24);
  assert.deepEqual(
    rows.map((row) => [
      row[0],
      row[1],
      col(row, 'TotalUsed'),
      col(row, 'MaxDesired'),
      col(row, 'TotalUsed00'),
      col(row, 'TotalUsed01'),
      col(row, 'AverageUsed'),
    ]),
    [
      ['', 'cad', '1.5', '1', '1', '0.5', '0.188'], // busiest 8 hours: 1 + 0.5 -> 1.5 / 8
      ['ann', 'cad', '1.5', '1', '1', '0.5', '0.188'],
      ['bob', 'cad', '0', '1', '0', '0', '0'],
    ],
  );
  // The month of June has only Saturday's part; the year has both days; the week of 07-01 is W104695.
  assert.equal(col(lines('2007/06/Summary.txt')[1], 'TotalUsed'), '2');
  assert.deepEqual(
    lines('2007/Summary.txt')
      .slice(1)
      .map((row) => [row[0], col(row, 'NrHours'), col(row, 'TotalUsed')]),
    [
      ['', '48', '3.5'],
      ['ann', '48', '3.5'],
      ['bob', '48', '0'],
    ],
  );
  const [weekHead, weekRow] = lines('WeeklySummaries/SummaryW104695.txt/Summary.txt');
  assert.deepEqual([weekRow[weekHead.indexOf('TotalUsedSunday')], weekRow[weekHead.indexOf('TotalUsedMonday')]], ['1.5', '0']);

  const bad = await srv.cli('export', 'log-files', '--dir', dir, '--from', '2007-06-30', '--to', '2007-07-01', '--mode', 'Everything');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--mode must be AllLogging or UserSummary/);
});
