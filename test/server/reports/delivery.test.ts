/**
 * Scheduled delivery and alerts: the pure parts by hand, then a real usage-server with schedules
 * and alert rules in its config, real lease calls, and a real HTTP receiver for the webhook.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { evaluateAlerts, lastCompletePeriod, newFindings, tableToHtml, type ConcurrencySeries } from '../../../src/server/reports/index.js';
import { tempDir } from '../../helpers/cli.js';
import { leaseRequest, startServer } from '../../helpers/server.js';

const t = (s: string) => Date.parse(s);

test('the last complete day, ISO week and month before now', () => {
  const now = t('2024-05-08T10:00:00Z'); // a Wednesday
  assert.deepEqual(lastCompletePeriod('day', now), { key: '2024-05-07', from: t('2024-05-07T00:00:00Z'), to: t('2024-05-08T00:00:00Z') });
  assert.deepEqual(lastCompletePeriod('week', now), { key: '2024-W18', from: t('2024-04-29T00:00:00Z'), to: t('2024-05-06T00:00:00Z') });
  assert.deepEqual(lastCompletePeriod('month', now), { key: '2024-04', from: t('2024-04-01T00:00:00Z'), to: t('2024-05-01T00:00:00Z') });
  assert.equal(lastCompletePeriod('day', t('2024-05-08T00:00:00Z')).key, '2024-05-07');
});

test('alert conditions: at or above a share of the seats for the whole window; denials a day; each fires once', () => {
  const from = t('2024-05-08T09:00:00Z');
  const end = t('2024-05-08T10:00:00Z');
  const series = (product: string, seats: number | null, steps: Array<[string, number]>): ConcurrencySeries => ({
    product,
    seats,
    from,
    end,
    steps: steps.map(([hm, used]) => ({ t: t(`2024-05-08T${hm}:00Z`), used, queued: 0 })),
    denials: [],
    peakUsed: { value: 0, at: null },
    peakDesired: { value: 0, at: null },
    usedHours: 0,
    desiredHours: 0,
  });
  const window = [
    series('cad', 10, [
      ['09:00', 9],
      ['09:30', 10],
    ]), // lowest 9 = 90 %
    series('cam', 10, [
      ['09:00', 10],
      ['09:59', 8],
    ]), // dipped to 80 %
    series('gis', null, [['09:00', 50]]), // no seat count
  ];
  const rules = [
    { seatsAbovePercent: 90, forMinutes: 60 },
    { product: 'cam', deniesPerDay: 3 },
  ];
  const f = evaluateAlerts(
    rules,
    () => window,
    new Map([
      ['cam', 3],
      ['cad', 5],
    ]),
    '2024-05-08',
  );
  assert.deepEqual(
    f.map((x) => [x.kind, x.product, x.value, x.limit]),
    [
      ['seats', 'cad', 9, 10],
      ['denials', 'cam', 3, 3],
    ],
  );
  assert.match(f[0].message, /cad: 9 of 10 seats in use \(at least 90 %\) for 60 minutes/);
  const first = newFindings(f, new Set());
  assert.equal(first.fire.length, 2);
  const again = newFindings(f, first.holding);
  assert.equal(again.fire.length, 0); // still holding: not again
  const later = newFindings(f.slice(1), again.holding); // cad fell below, then ...
  assert.equal(
    newFindings(f, later.holding)
      .fire.map((x) => x.product)
      .join(),
    'cad',
  ); // ... above again: fires again
});

test('HTML tables escape what they show', () => {
  const html = tableToHtml('a <b>', { head: ['x"y'], rows: [['<script>alert(1)</script>', null, 3]] });
  assert.match(html, /<title>a &#60;b&#62;<\/title>/);
  assert.match(html, /<td>&#60;script&#62;alert\(1\)&#60;\/script&#62;<\/td><td><\/td><td>3<\/td>/);
  assert.doesNotMatch(html, /<script>/);
});

test('a real server writes the scheduled reports and posts alerts to a real webhook', async (t) => {
  const received: Array<Record<string, unknown>> = [];
  const hook = createServer((req: IncomingMessage, res) => {
    let body = '';
    req
      .setEncoding('utf8')
      .on('data', (d: string) => (body += d))
      .on('end', () => {
        received.push({ ...JSON.parse(body), path: req.url, type: req.headers['content-type'] });
        res.writeHead(204).end();
      });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => hook.close());
  const port = (hook.address() as AddressInfo).port;

  const dir = join(tempDir(t, 'usage-schedules-'), 'out'); // made by the server
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 1 }],
    config: {
      reports: {
        schedules: [
          { name: 'daily-summaries', report: 'summaries', period: 'day', format: 'csv', dir },
          { name: 'monthly-users', report: 'users', period: 'month', format: 'html', dir, filters: { product: 'cad', timeZone: 'Europe/Berlin' } },
        ],
        alerts: [{ product: 'cad', seatsAbovePercent: 100, forMinutes: 0.02 }, { deniesPerDay: 1 }],
        webhookUrl: `http://127.0.0.1:${port}/alerts`,
        checkIntervalSeconds: 0.3,
      },
    },
  });
  t.after(() => srv.cleanup());
  const a = await srv.enroll('ws-a');
  const b = await srv.enroll('ws-b');
  assert.equal((await a.post('/v1/leases', leaseRequest({ user: 'ann', host: 'ws-a' }))).status, 201);
  assert.equal((await b.post('/v1/leases', leaseRequest({ user: 'bob', host: 'ws-b' }))).status, 409); // denied: 1 seat

  const deadline = Date.now() + 20_000;
  while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const kinds = received.map((r) => `${r.kind}:${r.product}`).sort();
  assert.deepEqual(kinds, ['denials:cad', 'seats:cad'], srv.output());
  for (const r of received) assert.deepEqual([r.path, r.type, r.source], ['/alerts', 'application/json', 'usage-server']);
  // Each fires once while it holds.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(received.length, 2);
  assert.match(srv.output(), /"msg":"cad: 1 of 1 seats in use \(at least 100 %\) for 0.02 minutes"/);

  const now = new Date();
  const yesterday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 1)).toISOString().slice(0, 10);
  const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
  assert.deepEqual(readdirSync(dir).sort(), [`daily-summaries-${yesterday}.csv`, `monthly-users-${lastMonth}.html`]);
  assert.equal(
    readFileSync(join(dir, `daily-summaries-${yesterday}.csv`), 'utf8'),
    'Period,Key,ProductId,ProductName,NrHours,Checkouts,Users,Denials,Queued,MaxUsed,MaxDesired,TotalUsed,TotalDesired,AverageUsed,AverageDesired,WeightedAverageUsed,WeightedAverageDesired\n',
  );
  assert.match(readFileSync(join(dir, `monthly-users-${lastMonth}.html`), 'utf8'), new RegExp(`<h1>monthly-users: users, ${lastMonth} \\(UTC\\)</h1>`));
});

test('schedule and alert config errors name the key', async () => {
  const { parseServerConfig } = await import('../../../src/server/config.js');
  assert.throws(
    () => parseServerConfig({ reports: { schedules: [{ name: 'x', report: 'nope', period: 'day', dir: '/tmp' }] } }, 'server.json'),
    /server\.json.*reports\.schedules\[0\]\.report/s,
  );
  assert.throws(
    () =>
      parseServerConfig(
        { reports: { schedules: [{ name: 'x', report: 'users', period: 'day', dir: '/tmp', filters: { timeZone: 'Mars/Base' } }] } },
        'server.json',
      ),
    /reports\.schedules\[0\]\.filters\.timeZone/,
  );
  assert.throws(() => parseServerConfig({ reports: { webhookUrl: 'ftp://example.com/' } }, 'server.json'), /reports\.webhookUrl/);
});
