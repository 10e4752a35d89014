/**
 * The software audit of the real daemon on this Debian machine: the first inventory is exactly
 * what dpkg-query lists; installing and removing a real (locally built) package gives one added
 * and one removed delta, each announced by event 24, through inotify on dpkg's database; a process
 * of a logged product names the package that installed its executable; a restart sends nothing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { SoftwareAuditor } from '../../../src/collectors/software/auditor.js';
import { AuditScheduler } from '../../../src/collectors/software/component.js';
import { DpkgSource } from '../../../src/collectors/software/dpkg.js';
import { Journal } from '../../../src/journal/journal.js';
import { startAgent } from '../../helpers/agent.js';
import { tempDir } from '../../helpers/cli.js';
import type { StoredRecord } from '../../../src/journal/journal.js';
import { waitFor } from '../../helpers/wait.js';

const PKG = 'ua-audit-test';
const PROBE = `/usr/lib/${PKG}/ua-probe`;

/** dpkg, retried while another dpkg/apt holds the lock (the machine is shared). */
function dpkg(args: string[]): void {
  const until = Date.now() + 120_000;
  for (;;) {
    const r = spawnSync('dpkg', args, { encoding: 'utf8' });
    if (r.status === 0) return;
    if (!/lock/i.test(r.stderr) || Date.now() > until) throw new Error(`dpkg ${args.join(' ')} failed: ${r.stderr}`);
    spawnSync('sleep', ['1']);
  }
}

const isInstalled = () => spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status}', PKG], { encoding: 'utf8' }).stdout.trim();

function buildDeb(dir: string, version: string): string {
  const root = join(dir, 'pkgroot');
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr', 'lib', PKG), { recursive: true });
  const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(
    join(root, 'DEBIAN', 'control'),
    `Package: ${PKG}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: usage-agent tests <tests@example.invalid>\nDescription: usage-agent software audit test package\n`,
  );
  copyFileSync('/usr/bin/sleep', join(root, 'usr', 'lib', PKG, 'ua-probe')); // a real ELF executable
  chmodSync(join(root, 'usr', 'lib', PKG, 'ua-probe'), 0o755);
  const deb = join(dir, `${PKG}.deb`);
  const r = spawnSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return deb;
}

/** dpkg-query -W's packages (name, architecture, version) whose files are on disk. */
function dpkgQuery(): { present: string[]; all: number; configFilesOnly: number } {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Status}\\n'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  const present = lines
    .map((l) => l.split('\t'))
    .filter(([, , , s]) => s !== 'not-installed' && s !== 'config-files')
    .map(([p, a, v]) => `${p}\t${a}\t${v}`)
    .sort();
  const configFilesOnly = lines.filter((l) => l.endsWith('\tconfig-files')).length;
  // Plain `dpkg-query -W` (every package it lists, one a line).
  const plain = spawnSync('dpkg-query', ['-W'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
  return { present, all: plain, configFilesOnly };
}

const software = (recs: StoredRecord[]) => recs.filter((r) => r.type === 'software');
const audited = (recs: StoredRecord[]) => recs.filter((r) => r.type === 'usage-event' && r.code === 24);

test('software audit: inventory = dpkg-query -W; install and removal are one delta each with event 24; product processes name their package; a restart sends nothing', async (t) => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (it installs a Debian package)');
  if (isInstalled()) dpkg(['--purge', PKG]); // left by a killed earlier run
  t.after(() => {
    if (isInstalled()) dpkg(['--purge', PKG]);
  });
  const dir = tempDir(t, 'ua-audit-');
  const deb = buildDeb(dir, '1.0-1');

  const agent = await startAgent(t, {
    processes: { sampleIntervalMs: 200, pacct: 'off' },
    activity: { enabled: false },
    leases: { launchPollMs: 100, loggedPrograms: [{ id: 'probe', executables: ['ua-probe'] }] },
    // No periodic recheck during the test: deltas must come from the change notification.
    software: { recheckSeconds: 3600, settleMs: 1000 },
  });

  // 1. The first inventory, then event 24 for it.
  let recs = await agent.waitFor((r) => audited(r).length >= 1, 60_000, 'event 24 of the first inventory');
  const inventoryEvent = audited(recs)[0]!;
  assert.equal(inventoryEvent.reason, 'inventory');
  const inventory = software(recs).filter((r) => r.auditId === inventoryEvent.auditId);
  assert.ok(inventory.every((r) => r.change === 'inventory' && r.source === 'dpkg' && r.seq < inventoryEvent.seq));
  const expected = dpkgQuery();
  const statusChanged = statSync('/var/lib/dpkg/status').mtimeMs > Date.parse(inventoryEvent.time);
  const actual = inventory.map((r) => `${r.name}\t${r.architecture}\t${r.version}`).sort();
  assert.deepEqual(
    actual,
    expected.present,
    statusChanged ? 'dpkg status changed since the audit (another dpkg run on this shared machine?)' : 'inventory differs from dpkg-query -W',
  );
  // Removed packages whose configuration files remain (dpkg "rc") are listed by dpkg-query but are not installed.
  assert.equal(inventory.length, expected.all - expected.configFilesOnly);
  assert.equal(inventoryEvent.packages, expected.present.length);
  assert.ok(
    inventory.every((r) => typeof r.installTime === 'string' && !Number.isNaN(Date.parse(r.installTime as string))),
    'dpkg file lists give install times',
  );

  // 2. Install: one `added` for the package (from inotify on /var/lib/dpkg), and its event 24.
  dpkg(['-i', deb]);
  recs = await agent.waitFor((r) => software(r).some((s) => s.name === PKG && s.change === 'added'), 30_000, 'the added delta');
  const added = software(recs).filter((s) => s.name === PKG);
  assert.equal(added.length, 1);
  assert.equal(added[0]!.version, '1.0-1');
  recs = await agent.waitFor((r) => audited(r).some((e) => e.auditId === added[0]!.auditId), 10_000, 'event 24 of the added delta');
  const addEvent = audited(recs).find((e) => e.auditId === added[0]!.auditId)!;
  assert.equal(addEvent.reason, 'delta');
  assert.ok((addEvent.added as number) >= 1 && addEvent.seq > added[0]!.seq);

  // 3. A logged product's process names the package that installed its executable.
  const probe = spawnSync(PROBE, ['2']);
  assert.equal(probe.status, 0);
  recs = await agent.waitFor((r) => r.some((p) => p.type === 'process' && p.exe === PROBE), 20_000, 'the probe process record');
  const proc = recs.find((p) => p.type === 'process' && p.exe === PROBE)!;
  assert.equal(proc.package, PKG);
  assert.equal(proc.packageVersion, '1.0-1');
  assert.equal(proc.packageSource, 'dpkg');
  assert.ok(!recs.some((p) => p.type === 'process' && p.exe !== PROBE && p.package !== undefined), 'only product processes are linked');

  // 4. Removal: one `removed`, and its event 24.
  dpkg(['-r', PKG]);
  recs = await agent.waitFor((r) => software(r).some((s) => s.name === PKG && s.change === 'removed'), 30_000, 'the removed delta');
  const removed = software(recs).filter((s) => s.name === PKG && s.change === 'removed');
  assert.equal(removed.length, 1);
  assert.equal(removed[0]!.version, '1.0-1');
  recs = await agent.waitFor((r) => audited(r).some((e) => e.auditId === removed[0]!.auditId), 10_000, 'event 24 of the removed delta');
  assert.deepEqual(
    software(recs)
      .filter((s) => s.name === PKG)
      .map((s) => s.change),
    ['added', 'removed'],
  );

  // 5. A restart checks (cheaply) and sends nothing: no inventory again, no event.
  const before = { software: software(recs).length, events: audited(recs).length };
  await agent.restart();
  const started = Date.now();
  let st: Record<string, any> = {};
  while (Date.now() - started < 30_000) {
    st = agent.status().daemon?.components?.software ?? {};
    if (st.checks >= 1) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(st.checks, 1, `the restarted agent's first check: ${JSON.stringify(st)}`);
  assert.equal(st.lastCheck.mode, 'cheap');
  assert.equal(st.lastCheck.result, 'unchanged');
  assert.deepEqual(st.lastCheck.listed, [], 'nothing was read: the database fingerprint was unchanged');
  await agent.stop();
  recs = agent.journalRecords();
  assert.deepEqual({ software: software(recs).length, events: audited(recs).length }, before);
});

test('dpkg mid-run (journal entries in updates/) is busy: nothing is sent until it settles, then the merged state', async (t) => {
  const admin = tempDir(t, 'ua-dpkg-admin-');
  mkdirSync(join(admin, 'updates'));
  mkdirSync(join(admin, 'info'));
  const stanza = (p: string, v: string, state = 'installed') => `Package: ${p}\nStatus: install ok ${state}\nArchitecture: amd64\nVersion: ${v}\n`;
  // dpkg writes status-new and renames it over status, as the watch expects.
  const writeStatus = (text: string) => {
    writeFileSync(join(admin, 'status-new'), text);
    renameSync(join(admin, 'status-new'), join(admin, 'status'));
  };
  writeStatus(stanza('a', '1') + '\n' + stanza('b', '1'));
  writeFileSync(join(admin, 'info', 'a.list'), '/usr/bin/a\n');
  utimesSync(join(admin, 'info', 'a.list'), new Date('2024-02-03T04:05:06Z'), new Date('2024-02-03T04:05:06Z'));
  const journal = Journal.open(join(admin, 'journal.db'));
  t.after(() => journal.close());
  const source = new DpkgSource(admin);
  const scheduler = new AuditScheduler(new SoftwareAuditor(journal, 'h', [source]), { recheckMs: 3_600_000, auditMs: 86_400_000, settleMs: 200 });
  t.after(() => scheduler.stop());
  scheduler.start();
  await scheduler.idle();
  const sw = () => journal.read().filter((r) => r.type === 'software');
  assert.deepEqual(
    sw().map((r) => [r.name, r.version, r.installTime]),
    [
      ['a', '1', '2024-02-03T04:05:06.000Z'],
      ['b', '1', null],
    ],
  );

  // dpkg starts: a checkpoint of status plus a journal entry not merged yet.
  writeFileSync(join(admin, 'updates', '0000'), stanza('c', '7', 'unpacked'));
  writeStatus(stanza('a', '2') + '\n' + stanza('b', '1'));
  assert.equal(source.busy(), true);
  await waitFor(() => scheduler.stats.checks >= 2, 'a second check', 3000, { stepMs: 20 }).catch(() => undefined); // asserted below
  await scheduler.idle();
  assert.ok(scheduler.stats.checks >= 2); // and it keeps looking every settleMs while busy
  assert.equal((scheduler.stats.lastCheck as { result: string }).result, 'busy');
  assert.equal(sw().length, 2, 'nothing sent while dpkg is mid-run');

  // dpkg finishes: the entry merged into status, updates/ emptied; the busy retry picks it up.
  writeStatus(stanza('a', '2') + '\n' + stanza('b', '1') + '\n' + stanza('c', '7'));
  rmSync(join(admin, 'updates', '0000'));
  const end = Date.now() + 10_000;
  while (sw().length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    sw()
      .slice(2)
      .map((r) => [r.change, r.name, r.version, r.previousVersion]),
    [
      ['added', 'c', '7', null],
      ['changed', 'a', '2', '1'],
    ],
  );
});
