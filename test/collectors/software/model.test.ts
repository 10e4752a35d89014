/** Inventory diffs and the package-system parsers, with exact synthetic inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dpkgInstalled, parseDpkgStatus } from '../../../src/collectors/software/dpkg.js';
import { parseFlatpakList } from '../../../src/collectors/software/flatpak.js';
import { auditRecords, diffInventory, indexItems, itemKey, persistItems, restoreItems, type SoftwareItem } from '../../../src/collectors/software/model.js';
import { parseDpkgSearch, usrMergeAliases } from '../../../src/collectors/software/owners.js';
import { parseRpmQuery } from '../../../src/collectors/software/rpm.js';
import { parseSnapList } from '../../../src/collectors/software/snap.js';

const item = (name: string, version: string, architecture: string | null = 'amd64'): SoftwareItem => ({
  source: 'dpkg',
  name,
  version,
  architecture,
  installTime: null,
});

test('diffInventory: added, removed, changed (a version change of the same name and architecture)', () => {
  const before = indexItems([item('a', '1'), item('b', '1'), item('c', '1'), item('libx', '1', 'i386')]);
  const after = indexItems([item('a', '1'), item('b', '2'), item('d', '1'), item('libx', '1', 'amd64')]);
  const d = diffInventory(before, after);
  assert.deepEqual(
    d.added.map((i) => `${i.name}:${i.architecture}`),
    ['d:amd64', 'libx:amd64'],
  );
  assert.deepEqual(
    d.removed.map((i) => `${i.name}:${i.architecture}`),
    ['c:amd64', 'libx:i386'],
  );
  assert.deepEqual(
    d.changed.map((c) => [c.item.name, c.previous.version, c.item.version]),
    [['b', '1', '2']],
  );
  assert.deepEqual(diffInventory(after, after), { added: [], removed: [], changed: [] });
});

test('auditRecords: a full inventory lists every item; a delta only what changed, previousVersion on changes', () => {
  const items = indexItems([item('b', '2'), item('a', '1')]);
  const full = auditRecords('ws-1', 'T', 'A1', true, items, { added: [], removed: [], changed: [] });
  assert.deepEqual(
    full.map((r) => [r.change, r.name, r.version]),
    [
      ['inventory', 'a', '1'],
      ['inventory', 'b', '2'],
    ],
  );
  assert.deepEqual(Object.keys(full[0]!), [
    'type',
    'time',
    'host',
    'change',
    'source',
    'name',
    'version',
    'previousVersion',
    'architecture',
    'installTime',
    'publisher',
    'auditId',
  ]);
  const delta = auditRecords('ws-1', 'T', 'A2', false, items, diffInventory(indexItems([item('a', '1'), item('b', '1'), item('z', '9')]), items));
  assert.deepEqual(
    delta.map((r) => [r.change, r.name, r.version, r.previousVersion]),
    [
      ['removed', 'z', '9', null],
      ['changed', 'b', '2', '1'],
    ],
  );
});

test('persisted items restore to the same inventory', () => {
  const items = indexItems([
    item('a', '1'),
    { source: 'snap', name: 'code', version: '1.9', architecture: null, installTime: '2024-01-01T00:00:00.000Z', publisher: 'vscode' },
  ]);
  const back = restoreItems(JSON.parse(JSON.stringify(persistItems(items))));
  assert.deepEqual([...back.keys()], [...items.keys()]);
  assert.deepEqual(diffInventory(items, back), { added: [], removed: [], changed: [] });
  assert.equal(back.get(itemKey({ source: 'snap', name: 'code', architecture: null }))!.publisher, 'vscode');
});

test('dpkg status: installed-like states count, config-files and not-installed do not; updates override status', () => {
  const status =
    [
      'Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: x\n more text: with a colon',
      'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2.0',
      'Package: purged\nStatus: purge ok not-installed\nArchitecture: amd64',
      'Package: lib\nStatus: install ok installed\nMulti-Arch: same\nArchitecture: i386\nVersion: 3',
      'Package: half\nStatus: install reinstreq half-installed\nArchitecture: all\nVersion: 4',
      'Package: b\nStatus: install ok installed\nArchitecture: all\nVersion: 5',
    ].join('\n\n') + '\n';
  const parsed = parseDpkgStatus(status);
  assert.equal(parsed.length, 6);
  assert.equal(parsed[3]!.multiArch, 'same');
  const updates = [
    parseDpkgStatus('Package: b\nStatus: deinstall ok not-installed\nArchitecture: all\n'),
    parseDpkgStatus('Package: c\nStatus: install ok unpacked\nArchitecture: amd64\nVersion: 6\n'),
  ];
  assert.deepEqual(
    dpkgInstalled(parsed, updates).map((s) => `${s.package}:${s.architecture}=${s.version}/${s.state}`),
    ['a:amd64=1.0/installed', 'lib:i386=3/installed', 'half:all=4/half-installed', 'c:amd64=6/unpacked'],
  );
});

test('rpm -qa output: epochs kept, gpg-pubkey skipped, install time from seconds', () => {
  const text =
    'bash\t5.2.15-3.fc38\tx86_64\t1700000000\tFedora Project\ngpg-pubkey\teb10b464-6202d9c6\t(none)\t1690000000\t(none)\nperl-Errno\t0:1.36-498.fc38\tx86_64\t1700000001\t(none)\n';
  assert.deepEqual(parseRpmQuery(text), [
    { source: 'rpm', name: 'bash', version: '5.2.15-3.fc38', architecture: 'x86_64', installTime: '2023-11-14T22:13:20.000Z', publisher: 'Fedora Project' },
    { source: 'rpm', name: 'perl-Errno', version: '0:1.36-498.fc38', architecture: 'x86_64', installTime: '2023-11-14T22:13:21.000Z', publisher: null },
  ]);
});

test('flatpak list and snap list output', () => {
  assert.deepEqual(parseFlatpakList('org.gimp.GIMP\t2.10.36\tx86_64\tstable\tflathub\norg.mozilla.firefox\t\tx86_64\tbeta\tflathub-beta\n'), [
    { source: 'flatpak', name: 'org.gimp.GIMP', version: '2.10.36', architecture: 'x86_64', installTime: null, publisher: 'flathub' },
    { source: 'flatpak', name: 'org.mozilla.firefox//beta', version: 'beta', architecture: 'x86_64', installTime: null, publisher: 'flathub-beta' },
  ]);
  const snap = [
    'Name    Version   Rev    Tracking       Publisher   Notes',
    'core22  20240111  1122   latest/stable  canonical*  base',
    'code    1.85.1    150    latest/stable  vscode*     classic',
    'hello   2.10      42     latest/edge    -           -',
    '',
  ].join('\n');
  assert.deepEqual(
    parseSnapList(snap).map((i) => [i.name, i.version, i.publisher]),
    [
      ['core22', '20240111', 'canonical'],
      ['code', '1.85.1', 'vscode'],
      ['hello', '2.10', null],
    ],
  );
});

test('dpkg-query -S output and merged-/usr aliases', () => {
  assert.equal(parseDpkgSearch('coreutils: /bin/ls\n', '/bin/ls'), 'coreutils');
  assert.equal(parseDpkgSearch('diversion by dash from: /bin/sh\ndiversion by dash to: /bin/sh.distrib\ndash: /bin/sh\n', '/bin/sh'), 'dash');
  assert.equal(parseDpkgSearch('libc6:amd64, libc6:i386: /usr/share/doc/libc6\n', '/usr/share/doc/libc6'), 'libc6:amd64');
  assert.equal(parseDpkgSearch('coreutils: /bin/lsblk-other\n', '/bin/ls'), null);
  assert.deepEqual(usrMergeAliases('/usr/bin/ls'), ['/usr/bin/ls', '/bin/ls']);
  assert.deepEqual(usrMergeAliases('/bin/ls'), ['/bin/ls', '/usr/bin/ls']);
  assert.deepEqual(usrMergeAliases('/opt/cad/bin/cad'), ['/opt/cad/bin/cad']);
});
