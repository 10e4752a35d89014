/**
 * The rpm source against a real rpm database (Debian's rpm: an empty database of our own, in a
 * temp dir): a package built with rpmbuild in the test and recorded in it with `rpm -i --justdb`
 * is one added delta (epoch, version-release, arch, install time, vendor) noticed through inotify
 * on the database directory, its file's owner is found with `rpm -qf`, and `rpm -e` is one removed
 * delta.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SoftwareAuditor } from '../../../src/collectors/software/auditor.js';
import { AuditScheduler } from '../../../src/collectors/software/component.js';
import { PackageOwners } from '../../../src/collectors/software/owners.js';
import { RpmSource } from '../../../src/collectors/software/rpm.js';
import { findExecutable } from '../../../src/collectors/software/sources.js';
import { Journal, type StoredRecord } from '../../../src/journal/journal.js';
import { tempDir } from '../../helpers/cli.js';
import { waitFor } from '../../helpers/wait.js';

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function buildRpm(dir: string): string {
  const top = join(dir, 'rpmbuild');
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  const spec = join(top, 'SPECS', 'ua-rpm-test.spec');
  writeFileSync(
    spec,
    [
      'Name: ua-rpm-test',
      'Version: 2.5',
      'Release: 3',
      'Epoch: 1',
      'Summary: usage-agent rpm source test',
      'License: Apache-2.0',
      'BuildArch: noarch',
      'Vendor: usage-agent tests',
      '%description',
      'test package',
      '%install',
      'mkdir -p %{buildroot}/opt/ua-rpm-test',
      'echo hello > %{buildroot}/opt/ua-rpm-test/hello',
      '%files',
      '/opt/ua-rpm-test/hello',
      '',
    ].join('\n'),
  );
  sh('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, spec]);
  return join(top, 'RPMS', 'noarch', readdirSync(join(top, 'RPMS', 'noarch'))[0]!);
}

test('rpm: a real database; install and erase are one delta each through inotify; rpm -qf names the owner', async (t) => {
  if (!findExecutable('rpm') || !findExecutable('rpmbuild')) throw new Error('rpm and rpmbuild are needed (Debian package rpm, see .ci/run)');
  const dir = tempDir(t, 'ua-rpm-');
  const db = join(dir, 'db');
  mkdirSync(db);
  sh('rpm', ['--initdb', '--dbpath', db]);
  const pkg = buildRpm(dir);

  const source = new RpmSource(db);
  assert.equal(source.available(), true);
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  // Periodic checks an hour apart: only the change notification can trigger the deltas.
  const scheduler = new AuditScheduler(new SoftwareAuditor(journal, 'rpm-host', [source]), { recheckMs: 3_600_000, auditMs: 86_400_000, settleMs: 300 });
  t.after(() => scheduler.stop());
  scheduler.start();
  await scheduler.idle();
  const software = () => journal.read().filter((r) => r.type === 'software');
  const events = () => journal.read().filter((r) => r.type === 'usage-event' && r.code === 24);
  assert.deepEqual(software(), []);
  assert.deepEqual(
    events().map((e) => [e.reason, e.packages]),
    [['inventory', 0]],
  );

  const installedAt = Date.now();
  sh('rpm', ['-i', '--dbpath', db, '--justdb', '--nodeps', '--ignoreos', pkg]);
  const added = await waitFor(() => software().find((r) => r.change === 'added'), 'the added delta');
  assert.deepEqual(
    { name: added.name, version: added.version, architecture: added.architecture, publisher: added.publisher, source: added.source },
    { name: 'ua-rpm-test', version: '1:2.5-3', architecture: 'noarch', publisher: 'usage-agent tests', source: 'rpm' },
  );
  assert.ok(Math.abs(Date.parse(added.installTime as string) - installedAt) < 60_000, `installTime ${added.installTime}`);
  await waitFor(() => events().find((e) => e.auditId === added.auditId), 'event 24 of the delta');

  const owners = new PackageOwners(null, findExecutable('rpm'), 16, db);
  assert.deepEqual(await owners.ownerAsync('/opt/ua-rpm-test/hello'), { package: 'ua-rpm-test', version: '1:2.5-3', source: 'rpm' });
  assert.equal(await owners.ownerAsync('/opt/ua-rpm-test/not-there'), null);

  sh('rpm', ['-e', '--dbpath', db, '--justdb', '--nodeps', 'ua-rpm-test']);
  const removed = await waitFor(() => software().find((r) => r.change === 'removed'), 'the removed delta');
  assert.equal(removed.version, '1:2.5-3');
  await waitFor(() => events().find((e) => e.auditId === removed.auditId), 'event 24 of the removal');
  await scheduler.idle();
  const all: StoredRecord[] = software();
  assert.deepEqual(
    all.map((r) => r.change),
    ['added', 'removed'],
  );
});
