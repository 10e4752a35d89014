/** The installed-vs-used report and the inventory's change rule, on exact synthetic inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inventoryReport } from '../../src/server/inventory/report.js';
import { softwareChanges } from '../../src/server/storage/software.js';

const T = (d: number) => `2026-11-${String(d).padStart(2, '0')}T12:00:00.000Z`;

test('softwareChanges: the last change of a batch wins per (host, source, name, architecture)', () => {
  const rec = (seq: number, change: string, name: string, extra: Record<string, unknown> = {}) => ({
    seq,
    type: 'software',
    time: T(seq),
    change,
    source: 'dpkg',
    name,
    version: `v${seq}`,
    ...extra,
  });
  const changes = softwareChanges('ag1', 'agent-host', [
    rec(1, 'inventory', 'a'),
    rec(2, 'changed', 'a'),
    rec(3, 'inventory', 'b', { architecture: 'i386' }),
    rec(4, 'removed', 'b', { architecture: 'i386' }),
    rec(5, 'inventory', 'b', { architecture: 'amd64', host: 'other-host' }),
    { seq: 6, type: 'process', time: T(6) },
    rec(7, 'added', 'c', { name: 42 }),
  ]);
  assert.deepEqual(changes, [
    {
      op: 'put',
      row: {
        host: 'agent-host',
        source: 'dpkg',
        name: 'a',
        architecture: '',
        version: 'v2',
        publisher: null,
        install_time: null,
        agent_id: 'ag1',
        first_seen: T(2),
        updated_at: T(2),
      },
    },
    { op: 'delete', key: ['agent-host', 'dpkg', 'b', 'i386'] },
    {
      op: 'put',
      row: {
        host: 'other-host',
        source: 'dpkg',
        name: 'b',
        architecture: 'amd64',
        version: 'v5',
        publisher: null,
        install_time: null,
        agent_id: 'ag1',
        first_seen: T(5),
        updated_at: T(5),
      },
    },
  ]);
});

test('inventoryReport: hosts, versions, product use by lease or by process, reclaim with last use', () => {
  const r = inventoryReport({
    since: T(10),
    installed: [
      { host: 'h1', source: 'dpkg', name: 'cadsuite', version: '2' },
      { host: 'h1', source: 'dpkg', name: 'cadsuite', version: '2' }, // a second architecture: one host
      { host: 'h2', source: 'dpkg', name: 'cadsuite', version: '1' },
      { host: 'h3', source: 'dpkg', name: 'cadsuite', version: '2' },
      { host: 'h3', source: 'rpm', name: 'cadsuite', version: '2' }, // another package system: another package
    ],
    packageUse: [
      { host: 'h1', package: 'cadsuite', package_source: 'dpkg', last_used: T(12) },
      { host: 'h2', package: 'cadsuite', package_source: 'dpkg', last_used: T(3) },
    ],
    packageExecutables: [
      { package: 'cadsuite', exe: '/opt/cad/bin/cad' },
      { package: 'viewer', exe: '/usr/bin/viewer' },
    ],
    // h3 holds a lease on CAD inside the window although no process record names the package.
    productUse: [{ product: 'cad', host: 'h3', last_used: T(11) }],
    products: [
      { id: 'cad', name: 'CAD', match: { executables: ['cad'], paths: [] } },
      { id: 'none', name: 'Unused', match: { executables: ['nothing'], paths: [] } },
    ],
  });
  assert.deepEqual(r.packages, [
    {
      source: 'dpkg',
      package: 'cadsuite',
      installedHosts: 3,
      usedHosts: 1,
      unusedHosts: 2,
      versions: [
        { version: '2', hosts: 2 },
        { version: '1', hosts: 1 },
      ],
    },
    { source: 'rpm', package: 'cadsuite', installedHosts: 1, usedHosts: 0, unusedHosts: 1, versions: [{ version: '2', hosts: 1 }] },
  ]);
  assert.deepEqual(r.products, [
    { product: 'cad', name: 'CAD', packages: ['cadsuite'], installedHosts: 3, usedHosts: 2, reclaimCandidates: 1 },
    { product: 'none', name: 'Unused', packages: [], installedHosts: 0, usedHosts: 0, reclaimCandidates: 0 },
  ]);
  assert.deepEqual(r.reclaim, [{ product: 'cad', host: 'h2', package: 'cadsuite', version: '1', lastUsed: T(3) }]);
});
