/**
 * Windows registry and macOS bundle sources through the same SoftwareSource interface as dpkg,
 * with fake readers (those OS APIs cannot exist here), audited by the real SoftwareAuditor into a
 * real journal: inventory, restart, deltas, event 24.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SoftwareAuditor, SOFTWARE_CURSOR } from '../../../src/collectors/software/auditor.js';
import { AuditScheduler, selectSources } from '../../../src/collectors/software/component.js';
import { MacBundlesSource, parsePlistStrings, type Bundle, type BundleReader } from '../../../src/collectors/software/macos.js';
import {
  itemsFromUninstall,
  parseRegQuery,
  WindowsRegistrySource,
  type RegistryReader,
  type UninstallEntry,
} from '../../../src/collectors/software/windows.js';
import { Journal } from '../../../src/journal/journal.js';

function tempJournal(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'ua-sw-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, path: join(dir, 'journal.db') };
}

const REG_OUTPUT = [
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{90160000-008C-0000-1000-0000000FF1CE}',
  '    DisplayName    REG_SZ    Microsoft Office Professional Plus 2016',
  '    DisplayVersion    REG_SZ    16.0.4266.1001',
  '    Publisher    REG_SZ    Microsoft Corporation',
  '    InstallDate    REG_SZ    20240315',
  '    EstimatedSize    REG_DWORD    0x3e8',
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Connection Manager',
  '    SystemComponent    REG_DWORD    0x1',
  '    DisplayName    REG_SZ    Connection Manager',
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\KB5005565',
  '    DisplayName    REG_SZ    Security Update for Office',
  '    ParentKeyName    REG_SZ    OfficeProPlus',
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\AutoCAD 2024',
  '    DisplayName    REG_SZ    AutoCAD 2024 - English',
  '    DisplayVersion    REG_SZ    24.3.61.0',
  '    Publisher    REG_SZ    Autodesk, Inc.',
  '    NoModify    REG_DWORD    0x1',
  '',
].join('\r\n');

test('reg query output -> entries -> what "Apps & features" lists (no system components, no updates)', () => {
  const entries = parseRegQuery(REG_OUTPUT, 'x64');
  assert.equal(entries.length, 4);
  assert.equal(entries[0]!.values.EstimatedSize, '1000');
  assert.deepEqual(itemsFromUninstall(entries), [
    {
      source: 'windows-registry',
      name: 'Microsoft Office Professional Plus 2016',
      version: '16.0.4266.1001',
      architecture: 'x64',
      installTime: '2024-03-15T00:00:00.000Z',
      publisher: 'Microsoft Corporation',
    },
    { source: 'windows-registry', name: 'AutoCAD 2024 - English', version: '24.3.61.0', architecture: 'x64', installTime: null, publisher: 'Autodesk, Inc.' },
  ]);
});

class FakeRegistry implements RegistryReader {
  reads = 0;
  entries: UninstallEntry[] = parseRegQuery(REG_OUTPUT, 'x64');
  async uninstallEntries(): Promise<UninstallEntry[]> {
    this.reads++;
    return this.entries.map((e) => ({ ...e, values: { ...e.values } }));
  }
}

test('Windows: full inventory, nothing again after a restart, then a delta with event 24 at the next audit', async (t) => {
  const { path } = tempJournal(t);
  const reg = new FakeRegistry();
  const source = new WindowsRegistrySource(reg, 'win32');
  assert.equal(source.available(), true);
  assert.equal(new WindowsRegistrySource(reg, 'linux').available(), false);

  let journal = Journal.open(path);
  let auditor = new SoftwareAuditor(journal, 'ws-7', [source]);
  const first = await auditor.check('full');
  assert.equal(first.result, 'inventory');
  journal.close();

  journal = Journal.open(path); // the agent restarts
  auditor = new SoftwareAuditor(journal, 'ws-7', [source]);
  const cheap = await auditor.check('cheap');
  assert.equal(cheap.result, 'unchanged');
  assert.equal(reg.reads, 1, 'the registry has no cheap fingerprint: a cheap check does not read it');

  reg.entries[3]!.values.DisplayVersion = '24.3.62.0';
  reg.entries.push({
    key: 'HKLM\\...\\Uninstall\\Revit',
    architecture: 'x86',
    values: { DisplayName: 'Revit 2024', DisplayVersion: '24.1', Publisher: 'Autodesk, Inc.' },
  });
  const delta = await auditor.check('full');
  assert.equal(delta.result, 'delta');
  assert.equal(reg.reads, 2);
  const records = journal.read();
  journal.close();
  const sw = records.filter((r) => r.type === 'software');
  assert.deepEqual(
    sw.map((r) => [r.change, r.name, r.version, r.previousVersion ?? null]),
    [
      ['inventory', 'AutoCAD 2024 - English', '24.3.61.0', null],
      ['inventory', 'Microsoft Office Professional Plus 2016', '16.0.4266.1001', null],
      ['added', 'Revit 2024', '24.1', null],
      ['changed', 'AutoCAD 2024 - English', '24.3.62.0', '24.3.61.0'],
    ],
  );
  const events = records.filter((r) => r.type === 'usage-event');
  assert.deepEqual(
    events.map((e) => [e.code, e.product, e.reason, e.packages, e.added, e.changed]),
    [
      [24, 'software-audit', 'inventory', 2, 0, 0],
      [24, 'software-audit', 'delta', 3, 1, 1],
    ],
  );
  // Each event follows the records of its own audit.
  assert.equal(events[0]!.auditId, sw[0]!.auditId);
  assert.equal(events[1]!.auditId, sw[3]!.auditId);
  assert.ok(events[0]!.seq > sw[1]!.seq && events[0]!.seq < sw[2]!.seq);
});

class FakeBundles implements BundleReader {
  reads = 0;
  bundles_: Bundle[] = [
    {
      path: '/Applications/Xcode.app',
      info: { CFBundleName: 'Xcode', CFBundleIdentifier: 'com.apple.dt.Xcode', CFBundleShortVersionString: '15.2' },
      mtimeMs: Date.UTC(2024, 0, 2),
    },
    { path: '/Applications/Utilities/Tool.app', info: {}, mtimeMs: null },
  ];
  constructor(readonly roots: string[]) {}
  async bundles(): Promise<Bundle[]> {
    this.reads++;
    return this.bundles_;
  }
}

test('macOS: bundles by identifier; a cheap check reads no bundle until the Applications folder changes', async (t) => {
  const { dir, path } = tempJournal(t);
  const apps = join(dir, 'Applications');
  mkdirSync(apps);
  const reader = new FakeBundles([apps]);
  const source = new MacBundlesSource(reader, 'darwin');
  const journal = Journal.open(path);
  t.after(() => journal.close());
  const auditor = new SoftwareAuditor(journal, 'mac-1', [source]);
  assert.equal((await auditor.check('cheap')).result, 'inventory'); // never audited: listed even on a cheap check
  assert.equal((await auditor.check('cheap')).result, 'unchanged');
  assert.equal(reader.reads, 1);
  mkdirSync(join(apps, 'Figma.app'));
  reader.bundles_ = [
    ...reader.bundles_,
    { path: join(apps, 'Figma.app'), info: { CFBundleIdentifier: 'com.figma.Desktop', CFBundleShortVersionString: '116.15.4' }, mtimeMs: Date.UTC(2024, 1, 1) },
  ];
  const delta = await auditor.check('cheap');
  assert.equal(delta.result, 'delta');
  assert.equal(delta.added, 1);
  assert.equal(reader.reads, 2);
  const sw = journal.read().filter((r) => r.type === 'software');
  assert.deepEqual(
    sw.map((r) => [r.change, r.name, r.version, r.installTime]),
    [
      ['inventory', 'Tool', '', null],
      ['inventory', 'com.apple.dt.Xcode', '15.2', '2024-01-02T00:00:00.000Z'],
      ['added', 'com.figma.Desktop', '116.15.4', '2024-02-01T00:00:00.000Z'],
    ],
  );
  assert.equal(journal.getCursor<{ sources: Record<string, unknown> }>(SOFTWARE_CURSOR)!.sources['macos-bundles'] !== undefined, true);
});

test('plist strings and source selection on this OS', () => {
  assert.deepEqual(
    parsePlistStrings(
      '<dict><key>CFBundleName</key><string>A &amp; B</string><key>LSRequiresNativeExecution</key><true/><key>CFBundleShortVersionString</key>\n\t<string>1.2</string></dict>',
    ),
    {
      CFBundleName: 'A & B',
      CFBundleShortVersionString: '1.2',
    },
  );
  const { sources, absent } = selectSources(['dpkg', 'windows-registry', 'macos-bundles']);
  assert.deepEqual(
    sources.map((s) => s.name),
    ['dpkg'],
  );
  assert.deepEqual(absent, ['windows-registry', 'macos-bundles']);
});

test('scheduled audits: a full audit every auditMs (event 24 "unchanged" when nothing changed); a restart within auditMs reads nothing', async (t) => {
  const { path } = tempJournal(t);
  const reg = new FakeRegistry();
  const journal = Journal.open(path);
  t.after(() => journal.close());
  const events = () => journal.read().filter((r) => r.type === 'usage-event' && r.code === 24);
  const s1 = new AuditScheduler(new SoftwareAuditor(journal, 'ws-8', [new WindowsRegistrySource(reg, 'win32')]), { recheckMs: 50, auditMs: 300, settleMs: 10 });
  s1.start();
  const until = Date.now() + 20_000;
  while (events().length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  await s1.stop();
  const ev = events();
  assert.ok(ev.length >= 3, `full audits ran every auditMs (${ev.length} events)`);
  assert.deepEqual(
    ev.map((e) => e.reason),
    ['inventory', ...ev.slice(1).map(() => 'unchanged')],
  );
  assert.equal(journal.read().filter((r) => r.type === 'software').length, 2, 'unchanged audits send no software records');
  assert.equal(reg.reads, ev.length, 'the registry is read by full audits only (the 50 ms cheap checks cannot fingerprint it)');
  assert.ok(s1.stats.cheapChecks > 0);

  // The agent restarts within auditMs of the last full audit: a cheap check, nothing read or sent.
  const s2 = new AuditScheduler(new SoftwareAuditor(journal, 'ws-8', [new WindowsRegistrySource(reg, 'win32')]), {
    recheckMs: 60_000,
    auditMs: 60_000,
    settleMs: 10,
  });
  s2.start();
  await s2.idle();
  await s2.stop();
  assert.deepEqual(s2.stats.lastCheck && [s2.stats.lastCheck.mode, s2.stats.lastCheck.result], ['cheap', 'unchanged']);
  assert.equal(reg.reads, ev.length);
  assert.equal(events().length, ev.length);
});
