/**
 * The web console in a real headless Chromium (Debian's, driven by playwright-core) against a real
 * server whose data comes from real lease calls and real uploaded records: sign in through the
 * form, every page with its charts and no console error, every table's CSV and JSON equal to the
 * table on the page (times shown in Asia/Tokyo, exported in UTC), an admin revoking and changing
 * seats through the forms, a form without its CSRF token refused, a viewer who cannot revoke, and
 * a screenshot of each page under test-artifacts/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PAGES } from '../../src/server/console/pages.js';
import { ADMIN_TOKEN, consoleConfig, VIEWER_TOKEN } from '../helpers/console.js';
import { leaseRequest, startServer, TEST_STORE, type TestAgent, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
/** This file runs from dist/test/server; artefacts go to the checkout's test-artifacts/ (git-ignored). */
const ARTIFACTS = join(here, '..', '..', '..', 'test-artifacts', `console-${TEST_STORE}`);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TZ = 'Asia/Tokyo';
const HOUR = 3_600_000;

let srv: TestServer;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const errors: string[] = [];
let a: TestAgent, b: TestAgent, c: TestAgent;
let bobLease: string;

/** Charts each page draws with the data below. */
const CHARTS: Record<string, number> = {
  overview: 1,
  usage: 2,
  denials: 1,
  users: 1,
  processes: 1,
  offline: 1,
  active: 0,
  harvest: 0,
  work: 0,
  agents: 0,
  leases: 0,
};

before(async () => {
  srv = await startServer({
    products: [
      { id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: ['cad'] } },
      { id: 'gis', name: 'GIS Desktop', licenseType: 'leased', seats: 2 },
    ],
    config: { ...consoleConfig(), leases: { ttlSeconds: 120 } },
  });
  a = await srv.enroll('ws-a', { agentVersion: '1.2.3', os: 'Debian 12' });
  b = await srv.enroll('ws-b');
  c = await srv.enroll('ws-c');
  // Licence events through the lease API: ann holds cad, bob queues, cy is denied, ann quits, bob gets the seat; dan holds gis.
  const ga = await a.post('/v1/leases', leaseRequest({ user: 'ann', host: 'ws-a' }));
  assert.equal(ga.status, 201, ga.text);
  const qb = await b.post('/v1/leases', leaseRequest({ user: 'bob', host: 'ws-b', queue: true }));
  assert.equal(qb.status, 202, qb.text);
  assert.equal((await c.post('/v1/leases', leaseRequest({ user: 'cy', host: 'ws-c' }))).status, 409);
  assert.equal((await a.del(`/v1/leases/${ga.body.leaseId}?reason=quit`)).status, 204);
  const pb = await b.get(`/v1/queue/${qb.body.ticket}?wait=5`);
  assert.equal(pb.body.status, 'granted', pb.text);
  bobLease = pb.body.lease.leaseId;
  assert.equal((await a.post('/v1/leases', leaseRequest({ product: 'gis', user: 'dan', host: 'ws-a' }))).status, 201);
  // Uploaded records: processes (pacct) and offline use.
  const now = Date.now();
  const t = (h: number) => new Date(now - h * HOUR).toISOString();
  const proc = (seq: number, o: Record<string, unknown>) => ({
    seq,
    type: 'process',
    time: t(1),
    host: 'ws-a',
    user: 'ann',
    uid: 1000,
    group: 'staff',
    gid: 50,
    pid: 500 + seq,
    ppid: 1,
    command: 'cad',
    exe: '/opt/cad/bin/cad',
    start: t(2),
    end: t(1),
    elapsedSeconds: 3600,
    cpuUserSeconds: 100,
    cpuSystemSeconds: 20,
    avgRssBytes: 50e6,
    maxRssBytes: 80e6,
    avgVirtualBytes: 1e9,
    readBytes: 1e6,
    writeBytes: 2e6,
    exitCode: 0,
    source: 'pacct',
    ...o,
  });
  const records = [
    proc(1, {}),
    proc(2, {
      user: 'dan',
      group: 'gis-users',
      command: 'gis',
      exe: '/opt/gis/gis',
      cpuUserSeconds: 10,
      cpuSystemSeconds: 5,
      exitCode: 139,
      elapsedSeconds: 600,
    }),
    proc(3, { cpuUserSeconds: 30, cpuSystemSeconds: 0, exitCode: 1 }),
    { seq: 4, type: 'usage-event', time: t(3), code: 10, product: 'cad', user: 'eve', host: 'ws-a', pid: 77, processStart: t(3), offline: true },
    { seq: 5, type: 'usage-event', time: t(2.5), code: 11, product: 'cad', user: 'eve', host: 'ws-a', pid: 77, processStart: t(3), offline: true },
    { seq: 6, type: 'usage-event', time: t(2), code: 12, product: 'gis', user: 'eve', host: 'ws-a', pid: 78, processStart: t(2), offline: true },
    {
      seq: 7,
      type: 'work',
      time: t(1),
      host: 'ws-a',
      user: 'ann',
      application: 'cad',
      start: t(2),
      end: t(1),
      durationSeconds: 3600,
      periodType: 'uninterrupted',
    },
    { seq: 8, type: 'break', time: t(0.9), host: 'ws-a', user: 'ann', start: t(1), end: t(0.9), durationSeconds: 360, breakType: 'short' },
  ];
  const up = await a.post('/v1/events', { records });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.ackedThroughSeq, 8);
  // The server writes when agents were last seen in batches every 5 s: wait for the batch of these
  // requests, so that no page and its download straddle it (the agents table's "last seen" differed).
  await waitFor(
    async () => (await srv.sql('SELECT count(*) AS n FROM agents WHERE last_seen_at > enrolled_at'))[0].n === 3,
    'the last-seen times of the three agents written',
    15_000,
  );

  mkdirSync(ARTIFACTS, { recursive: true });
  userDataDir = mkdtempSync(join(tmpdir(), 'usage-console-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()} (${page.url()})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await srv?.cleanup();
});

const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
const QUERY = () => `?from=${day(-1)}&to=${day(1)}&tz=${encodeURIComponent(TZ)}`;

async function signInWith(token: string, path: string): Promise<void> {
  await page.goto(srv.url + path);
  assert.match(new URL(page.url()).pathname, /^\/sign-in$/, 'sent to the sign-in page');
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/sign-in'), page.click('form.signin button[type=submit]')]);
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, path, 'back where the sign-in began');
}

/** A CSV text as rows of cells (RFC 4180 quoting). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(cell), (cell = '');
    else if (ch === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else cell += ch;
  }
  return rows;
}

/** What the page shows for an exported value, worked out here independently: Tokyo is UTC+9 all year. */
function shown(v: unknown, kind: string): string {
  if (v === null || v === undefined || v === '') return '';
  switch (kind) {
    case 'time':
      return new Date(Date.parse(String(v)) + 9 * HOUR).toISOString().slice(0, 19).replace('T', ' ');
    case 'seconds': {
      const s = Math.round(Number(v));
      return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    }
    case 'hours':
    case 'number':
      return String(Math.round(Number(v) * 100) / 100);
    default:
      return String(v);
  }
}

const BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

test('signing in through the form, every page renders with its charts, no console error, a screenshot each', async (t) => {
  await signInWith(ADMIN_TOKEN, `/usage${QUERY()}`);
  for (const p of PAGES) {
    const r = await page.goto(srv.url + p.path + QUERY());
    assert.equal(r?.status(), 200, p.path);
    assert.equal(r?.headers()['cache-control'], 'no-store');
    assert.equal(await page.textContent('h1'), p.title);
    const charts = await page.$$eval('figure.chart svg', (svgs) => svgs.map((s) => s.querySelectorAll('path, rect').length));
    assert.equal(charts.length, CHARTS[p.slug], `${p.slug}: charts`);
    for (const n of charts) assert.ok(n > 5, `${p.slug}: a chart with shapes`);
    assert.equal(await page.$$eval('script', (s) => s.length), 0, 'no script on the page');
    const shot = join(ARTIFACTS, `${p.slug}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
  }
  assert.deepEqual(errors, []);
  // The figures themselves, on the pages: cad's one seat in use, the queue wait, the denial, the crash of gis.
  await page.goto(srv.url + '/' + QUERY());
  const overview = await page.$$eval('section#products tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(overview, [
    ['cad', 'CAD Pro', 'floating', '1', '1', '0', '1'],
    ['gis', 'GIS Desktop', 'leased', '1', '2', '0', '0'],
  ]);
  await page.goto(srv.url + '/processes' + QUERY());
  const byExit = await page.$$eval('section#by-exit tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(byExit, ['0', '1', '139']);
  // Work patterns from the report engine: ann's hour of work and one short break.
  await page.goto(srv.url + '/work' + QUERY());
  const work = await page.$$eval('section#patterns tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(
    work.map((r) => [r[0], r[3], r[6]]),
    [['ann', '1', '1']],
  );
  // Printed, the page keeps its charts and tables and drops navigation, forms' buttons and download links.
  await page.goto(srv.url + '/usage' + QUERY());
  await page.emulateMedia({ media: 'print' });
  const hidden = await page.$$eval('header.top nav, form.signout, .downloads', (els) => els.map((e) => getComputedStyle(e).display));
  assert.ok(hidden.length > 2 && hidden.every((d) => d === 'none'), hidden.join());
  assert.equal(await page.$eval('figure.chart', (e) => getComputedStyle(e).display), 'block');
  const pdf = join(ARTIFACTS, 'usage-print.pdf');
  await page.pdf({ path: pdf, format: 'A4' });
  t.diagnostic(`printed: ${pdf}`);
  await page.emulateMedia({ media: 'screen' });
  assert.deepEqual(errors, []);
});

test('every table downloads as CSV and JSON with the rows and columns the page shows', async () => {
  let tables = 0;
  for (const p of PAGES) {
    await page.goto(srv.url + p.path + QUERY());
    const onPage = await page.$$eval('section.table', (secs) =>
      secs.map((s) => ({
        id: s.id,
        csv: s.querySelector('a[download]')!.getAttribute('href')!,
        json: s.querySelector('.downloads a:not([download])')!.getAttribute('href')!,
        head: [...s.querySelectorAll('thead th:not(.actions)')].map((th) => th.textContent),
        rows: [...s.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td:not(.actions)')].map((td) => td.textContent ?? '')),
      })),
    );
    for (const tb of onPage) {
      tables++;
      assert.match(tb.csv, new RegExp(`^/download/${p.slug}/${tb.id}\\.csv\\?from=`));
      const csv = await page.request.get(srv.url + tb.csv);
      assert.equal(csv.status(), 200);
      assert.match(csv.headers()['content-type'], /^text\/csv/);
      assert.match(csv.headers()['content-disposition'], /^attachment; filename="/);
      const json = await (await page.request.get(srv.url + tb.json)).json();
      const [head, ...rows] = parseCsv(await csv.text());
      const columns = json.columns as Array<{ key: string; label: string; kind: string }>;
      assert.deepEqual(
        head,
        columns.map((c) => c.key),
        `${p.slug}/${tb.id}: CSV header`,
      );
      assert.deepEqual(
        columns.map((c) => c.label),
        tb.head,
        `${p.slug}/${tb.id}: the page's columns`,
      );
      assert.equal(rows.length, tb.rows.length, `${p.slug}/${tb.id}: rows`);
      assert.equal(json.rows.length, tb.rows.length);
      json.rows.forEach((jr: Record<string, unknown>, i: number) => {
        columns.forEach((c, j) => {
          const v = jr[c.key];
          assert.equal(rows[i][j], v === null ? '' : String(v), `${p.slug}/${tb.id} CSV = JSON at ${i},${c.key}`);
          const cell = tb.rows[i][j];
          if (c.kind === 'bytes') {
            if (v === null) return assert.equal(cell, '');
            const [n, unit] = cell.split(' ');
            const back = Number(n) * BYTES[unit];
            assert.ok(Math.abs(back - Number(v)) <= Math.max(1, Number(v) * 0.05), `${p.slug}/${tb.id} ${c.key}: ${cell} vs ${v}`);
          } else assert.equal(cell, shown(v, c.kind), `${p.slug}/${tb.id} row ${i} ${c.key} (${c.kind})`);
        });
      });
      if (columns.some((c) => c.kind === 'time') && json.rows.length > 0) {
        const tk = columns.find((c) => c.kind === 'time')!.key;
        const first = json.rows.find((r: Record<string, unknown>) => r[tk] !== null)?.[tk];
        if (first !== undefined) assert.match(String(first), /Z$/, 'exported times are UTC');
      }
    }
  }
  assert.ok(tables >= 18, `${tables} tables`);
  assert.deepEqual(errors, []);
});

test('admin forms: without the CSRF token refused, with it the lease is revoked, seats set, an agent revoked', async () => {
  await page.goto(srv.url + '/leases' + QUERY());
  // Take the CSRF field out of bob's revoke form and submit it as the browser would.
  const sel = `form[action="/leases/${bobLease}/revoke"]`;
  await page.$eval(`${sel} input[name=_csrf]`, (i) => i.remove());
  const refused = await Promise.all([page.waitForNavigation(), page.click(`${sel} button`)]).then(([r]) => r);
  assert.equal(refused?.status(), 403);
  assert.match((await page.textContent('main')) ?? '', /no valid CSRF token/);
  assert.equal((await srv.sql('SELECT ended_at FROM leases WHERE id = ?', bobLease))[0].ended_at, null, 'still live');
  assert.ok(errors.length > 0 && errors.every((e) => /status of 403/.test(e)), errors.join('\n'));
  errors.length = 0;

  await page.goto(srv.url + '/leases' + QUERY());
  await Promise.all([page.waitForNavigation(), page.click(`${sel} button`)]);
  assert.match((await page.textContent('p.notice')) ?? '', /The lease was revoked/);
  assert.equal(new URL(page.url()).searchParams.get('tz'), TZ, 'back on the page with its filters');
  assert.equal((await srv.sql('SELECT end_reason FROM leases WHERE id = ?', bobLease))[0].end_reason, 'revoked');
  assert.equal(await page.$(sel), null, 'the lease is gone from the page');

  await page.fill('form[action="/products/cad/seats"] input[name=seats]', '4');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/products/cad/seats"] button')]);
  assert.match((await page.textContent('p.notice')) ?? '', /seats were changed/);
  assert.equal((await srv.sql("SELECT seats FROM products WHERE id = 'cad'"))[0].seats, 4);

  await page.goto(srv.url + '/agents' + QUERY());
  await Promise.all([page.waitForNavigation(), page.click(`form[action="/agents/${c.agentId}/revoke"] button`)]);
  assert.match((await page.textContent('p.notice')) ?? '', /agent was revoked/);
  assert.ok((await srv.sql('SELECT revoked_at FROM agents WHERE id = ?', c.agentId))[0].revoked_at);
  assert.equal((await c.get('/v1/policy')).status, 401);
  assert.deepEqual(errors, []);
});

test('a viewer sees every page but no action, and a revoke posted with its own CSRF token is refused', async () => {
  await Promise.all([page.waitForURL((u) => u.pathname === '/sign-in'), page.click('form.signout button')]);
  await signInWith(VIEWER_TOKEN, `/leases${QUERY()}`);
  assert.match((await page.textContent('.who')) ?? '', /vera \(viewer\)/);
  const dan = (await srv.sql("SELECT id FROM leases WHERE product_id = 'gis' AND ended_at IS NULL"))[0].id as string;
  assert.equal(await page.$$eval('td.actions form, th.actions', (f) => f.length), 0, 'no action forms for a viewer');
  const csrf = await page.$eval('form.signout input[name=_csrf]', (i) => (i as HTMLInputElement).value);
  const r = await page.request.post(`${srv.url}/leases/${dan}/revoke`, { form: { _csrf: csrf }, headers: { origin: srv.url } });
  assert.equal(r.status(), 403);
  assert.equal((await r.json()).field, 'role');
  assert.equal((await srv.sql('SELECT ended_at FROM leases WHERE id = ?', dan))[0].ended_at, null);
  assert.deepEqual(errors, []);
});

test('signed out, the pages lead to the sign-in page and the downloads answer 401', async () => {
  await Promise.all([page.waitForURL((u) => u.pathname === '/sign-in'), page.click('form.signout button')]);
  for (const p of PAGES) {
    await page.goto(srv.url + p.path + QUERY());
    assert.equal(new URL(page.url()).pathname, '/sign-in', p.path);
    assert.equal(await page.$$eval('table', (x) => x.length), 0);
  }
  const d = await page.request.get(`${srv.url}/download/leases/leases.json${QUERY()}`);
  assert.equal(d.status(), 401);
  assert.doesNotMatch(await d.text(), /ws-a|dan|ann/);
  assert.deepEqual(errors, []);
});
