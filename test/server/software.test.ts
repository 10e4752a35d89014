/**
 * The software audit on a real usage-server (both stores): two agents upload their inventories and
 * one of them runs a product; the reports say installed on 2, used on 1, with the other host as a
 * reclaim candidate. Deltas move the current inventory (removed, changed), the history keeps every
 * record, and every table comes as CSV too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type TestAgent, type TestServer } from '../helpers/server.js';

const ADMIN = 'software-admin-token-0123456789';
let srv: TestServer;
let ws1: TestAgent;
let ws2: TestAgent;
const seqs = new Map<TestAgent, number>();
const now = Date.now();
const iso = (msAgo: number) => new Date(now - msAgo).toISOString();
const DAY = 86_400_000;

async function upload(a: TestAgent, records: Array<Record<string, unknown>>) {
  let seq = seqs.get(a) ?? 0;
  const r = await a.post('/v1/events', { records: records.map((x) => ({ seq: ++seq, host: a.host, ...x })) });
  seqs.set(a, seq);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.ackedThroughSeq, seq);
}
const sw = (change: string, name: string, version: string, extra: Record<string, unknown> = {}) => ({
  type: 'software',
  time: iso(3 * DAY),
  change,
  source: 'dpkg',
  name,
  version,
  previousVersion: null,
  architecture: 'amd64',
  installTime: null,
  publisher: null,
  auditId: 'a1',
  ...extra,
});
const admin = (path: string) => srv.request('GET', path, { token: ADMIN });

before(async () => {
  srv = await startServer({
    products: [
      { id: 'cad', name: 'CAD Pro', seats: 5, match: { executables: ['cad'], paths: [] } },
      { id: 'gis', name: 'GIS', seats: 5, match: { executables: [], paths: ['/opt/gis/**'] } },
    ],
    config: { reports: { adminTokens: [ADMIN] } },
  });
  ws1 = await srv.enroll('ws-1');
  ws2 = await srv.enroll('ws-2');
  await upload(ws1, [sw('inventory', 'cadsuite', '2.0'), sw('inventory', 'editor', '1.0'), sw('inventory', 'gis-desktop', '5.1')]);
  await upload(ws2, [sw('inventory', 'cadsuite', '2.0'), sw('inventory', 'gis-desktop', '5.0')]);
  // ws-1 ran CAD yesterday (its process record names the owning package) and GIS 200 days ago.
  await upload(ws1, [
    {
      type: 'process',
      time: iso(DAY),
      user: 'ann',
      pid: 10,
      command: 'cad',
      exe: '/opt/cad/bin/cad',
      start: iso(DAY + 60_000),
      end: iso(DAY),
      elapsedSeconds: 60,
      exitCode: 0,
      source: 'pacct',
      package: 'cadsuite',
      packageVersion: '2.0',
      packageSource: 'dpkg',
    },
    {
      type: 'process',
      time: iso(200 * DAY),
      user: 'ann',
      pid: 11,
      command: 'gis',
      exe: '/opt/gis/bin/gis',
      start: iso(200 * DAY + 60_000),
      end: iso(200 * DAY),
      elapsedSeconds: 60,
      exitCode: 0,
      source: 'pacct',
      package: 'gis-desktop',
      packageVersion: '5.1',
      packageSource: 'dpkg',
    },
  ]);
});
after(async () => srv?.cleanup());

test('installed vs used per package and per product, from real uploads', async () => {
  const pk = await admin('/v1/reports/software?days=30');
  assert.equal(pk.status, 200, pk.text);
  const byName = new Map(pk.body.rows.map((r: { package: string }) => [r.package, r]));
  assert.deepEqual(byName.get('cadsuite'), {
    source: 'dpkg',
    package: 'cadsuite',
    installedHosts: 2,
    usedHosts: 1,
    unusedHosts: 1,
    versions: [{ version: '2.0', hosts: 2 }],
  });
  assert.deepEqual(byName.get('gis-desktop'), {
    source: 'dpkg',
    package: 'gis-desktop',
    installedHosts: 2,
    usedHosts: 0,
    unusedHosts: 2,
    versions: [
      { version: '5.0', hosts: 1 },
      { version: '5.1', hosts: 1 },
    ],
  });
  assert.deepEqual(byName.get('editor'), {
    source: 'dpkg',
    package: 'editor',
    installedHosts: 1,
    usedHosts: 0,
    unusedHosts: 1,
    versions: [{ version: '1.0', hosts: 1 }],
  });
  // 365 days: the GIS run 200 days ago counts.
  const year = await admin('/v1/reports/software?days=365');
  assert.equal(year.body.rows.find((r: { package: string }) => r.package === 'gis-desktop').usedHosts, 1);

  const pr = await admin('/v1/reports/software/products?days=30');
  assert.deepEqual(pr.body.rows, [
    { product: 'cad', name: 'CAD Pro', packages: ['cadsuite'], installedHosts: 2, usedHosts: 1, reclaimCandidates: 1 },
    { product: 'gis', name: 'GIS', packages: ['gis-desktop'], installedHosts: 2, usedHosts: 0, reclaimCandidates: 2 },
  ]);
  const rc = await admin('/v1/reports/software/reclaim?days=30');
  assert.deepEqual(rc.body.rows, [
    { product: 'cad', host: 'ws-2', package: 'cadsuite', version: '2.0', lastUsed: null },
    { product: 'gis', host: 'ws-1', package: 'gis-desktop', version: '5.1', lastUsed: iso(200 * DAY) },
    { product: 'gis', host: 'ws-2', package: 'gis-desktop', version: '5.0', lastUsed: null },
  ]);
  const csv = await admin('/v1/reports/software/reclaim?days=30&product=cad&format=csv');
  assert.match(String(csv.headers['content-type']), /^text\/csv/);
  assert.equal(csv.text, 'ProductId,HostName,Package,Version,LastUsed\ncad,ws-2,cadsuite,2.0,\n');
});

test('deltas move the current inventory; the history keeps every record', async () => {
  await upload(ws2, [
    sw('removed', 'cadsuite', '2.0', { time: iso(DAY / 2), auditId: 'a2' }),
    sw('changed', 'gis-desktop', '5.1', { time: iso(DAY / 2), previousVersion: '5.0', auditId: 'a2' }),
  ]);
  const pk = await admin('/v1/reports/software?days=30');
  const cad = pk.body.rows.find((r: { package: string }) => r.package === 'cadsuite');
  assert.deepEqual([cad.installedHosts, cad.usedHosts], [1, 1]);
  assert.deepEqual(pk.body.rows.find((r: { package: string }) => r.package === 'gis-desktop').versions, [{ version: '5.1', hosts: 2 }]);
  const rc = await admin('/v1/reports/software/reclaim?days=30&product=cad');
  assert.deepEqual(rc.body.rows, []);

  const inv = await admin('/v1/reports/software/inventory?host=ws-2');
  assert.deepEqual(
    inv.body.rows.map((r: { name: string; version: string; firstSeen: string; updatedAt: string }) => [r.name, r.version, r.firstSeen, r.updatedAt]),
    [['gis-desktop', '5.1', iso(3 * DAY), iso(DAY / 2)]],
  );
  const invCsv = await admin('/v1/reports/software/inventory?host=ws-2&format=csv');
  assert.equal(invCsv.text.split('\n')[1], `ws-2,dpkg,gis-desktop,amd64,5.1,,,${iso(3 * DAY)},${iso(DAY / 2)}`);

  const day = (ms: number) => new Date(now - ms).toISOString().slice(0, 10);
  const hist = await admin(`/v1/reports/software/history?host=ws-2&from=${day(10 * DAY)}&to=${day(0)}`);
  assert.deepEqual(
    hist.body.rows.map((r: { change: string; name: string }) => `${r.change} ${r.name}`),
    ['inventory cadsuite', 'inventory gis-desktop', 'removed cadsuite', 'changed gis-desktop'],
  );
});

test('software reports: admin token only, bad parameters named', async () => {
  assert.equal((await srv.request('GET', '/v1/reports/software')).status, 401);
  assert.equal((await srv.request('GET', '/v1/reports/software', { token: ws1.agentToken })).status, 401);
  const bad = await admin('/v1/reports/software?days=0');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.field, 'query:days');
  const range = await admin('/v1/reports/software/history?from=2026-02-01&to=2026-01-01');
  assert.equal(range.status, 400);
  assert.equal(range.body.field, 'query:from');
});
