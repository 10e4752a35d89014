/**
 * The RPM, for real: built with rpmbuild, inspected with `rpm -qp` (files, owners, modes, config
 * flags, scriptlets), installed into a scratch root (`rpm --root`) whose scriptlets really run in
 * a chroot (a /bin/sh, the few tools they use, and a `systemctl` that records what it is asked),
 * the previous release's package (the build machine's Node) installed and its agent run on that
 * root's data dir, upgraded to this build (the bundled Node LTS) keeping the unsent journal records
 * and the edited configuration, the upgraded agent run, then erased keeping the data.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { Journal } from '../../src/journal/journal.js';
import { buildRpm } from '../../src/service/package/rpm.js';
import { tempDir } from '../helpers/cli.js';
import { BUNDLED_NODE_MAJOR } from '../../src/service/package/runtime.js';

function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (!opts.allowFail) assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A chroot in which the scriptlets can run: /bin/sh, the tools they call, a recording systemctl. */
function scratchRoot(root: string): string {
  for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'var/lib/rpm', 'tmp', 'etc', 'dev']) mkdirSync(join(root, d), { recursive: true });
  for (const [link, to] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/bin'],
  ])
    symlinkSync(to!, join(root, link!));
  const copy = (path: string) => {
    const real = realpathSync(path);
    const dest = join(root, path);
    if (existsSync(dest)) return;
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(real, dest);
    chmodSync(dest, statSync(real).mode & 0o777);
  };
  for (const tool of [
    '/usr/bin/sh',
    '/usr/bin/mkdir',
    '/usr/bin/chown',
    '/usr/bin/chmod',
    '/usr/bin/cat',
    '/usr/bin/sleep',
    '/usr/bin/rm',
    '/usr/bin/getent',
    '/usr/bin/systemd-sysusers',
  ]) {
    copy(tool);
    for (const m of sh('ldd', [tool]).stdout.matchAll(/(\/\S+) \(0x/g)) copy(m[1]!);
  }
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  const log = join(root, 'systemctl.log');
  writeFileSync(join(root, 'usr/bin/systemctl'), '#!/bin/sh\necho "$*" >> /systemctl.log\n');
  chmodSync(join(root, 'usr/bin/systemctl'), 0o755);
  writeFileSync(log, '');
  return log;
}

/** rpm on the scratch root; Debian's rpm installs and erases only with --force-debian. */
const rpmIn = (root: string, args: string[], opts: { allowFail?: boolean } = {}) =>
  sh('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...(args.some((a) => ['-i', '-U', '-e'].includes(a)) ? ['--force-debian'] : []), ...args], opts);

it('rpm: files, modes, config and scriptlets; installs into a scratch root with its scripts, runs, upgrades keeping unsent records and the edited config, erases keeping data', {
  timeout: 1_800_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'rpm --root with scriptlets chroots: root (CI runs as root)');
  const work = tempDir(t, 'usage-agent-rpm-test-');
  // ---- build -------------------------------------------------------------------------------
  const built = buildRpm({ outDir: join(work, 'out'), compression: 'none', log: () => {} });
  // The previous release, as packages were built before: the build machine's Node bundled as it is.
  const prev = buildRpm({ outDir: join(work, 'prev'), version: `${built.version}~prev`, node: process.execPath, compression: 'none', log: () => {} });
  assert.equal(built.path, join(work, 'out', `usage-agent-${built.version}.${built.arch}.rpm`));
  assert.equal(built.arch, process.arch === 'x64' ? 'x86_64' : built.arch);
  const q = (fmt: string) => sh('rpm', ['-qp', '--qf', fmt, built.path]).stdout;
  assert.equal(q('%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}'), `usage-agent ${built.version} 1 ${built.arch} Apache-2.0 and MIT`);
  const requires = sh('rpm', ['-qpR', built.path]).stdout;
  for (const r of ['glibc >= 2.28', 'libstdc++', 'libgcc']) assert.match(requires, new RegExp(`^${r.replace(/[+.]/g, '\\$&')}$`, 'm'));
  assert.doesNotMatch(requires, /node|\.so/, 'no dependencies generated from the bundled tree');
  assert.equal(sh('rpm', ['-qp', '--recommends', built.path]).stdout.trim(), '(psacct or acct)');

  // Files: mode, owner, config flags.
  const files = new Map<string, { mode: string; owner: string; flags: string }>();
  for (const line of q('[%{FILEMODES:perms}\\t%{FILEUSERNAME}:%{FILEGROUPNAME}\\t%{FILEFLAGS:fflags}\\t%{FILENAMES}\\n]').trim().split('\n')) {
    const [mode, owner, flags, path, ...rest] = line.split('\t');
    assert.ok(path?.startsWith('/') && rest.length === 0, line);
    files.set(path, { mode: mode!, owner: owner!, flags: flags! });
  }
  for (const [path, f] of files) {
    // The configuration may hold the enrollment secret: root's, readable by the daemon's group.
    assert.equal(f.owner, path === '/etc/usage-agent/agent.json' ? 'root:usage-agent' : 'root:root', `${path} owned by root`);
    assert.doesNotMatch(f.mode, /^.{8}w|[sS]/, `${path} not world-writable, not setuid`);
  }
  const expect: Record<string, [string, string]> = {
    '/etc/usage-agent': ['drwxr-xr-x', ''],
    '/etc/usage-agent/agent.json': ['-rw-r-----', 'cn'],
    '/usr/lib/sysusers.d/usage-agent.conf': ['-rw-r--r--', ''],
    '/etc/usage-agent/session.json': ['-rw-r--r--', 'cn'],
    '/etc/xdg/autostart/usage-agent-session.desktop': ['-rw-r--r--', 'cn'],
    '/usr/bin/usage-agent': ['-rwxr-xr-x', ''],
    '/usr/bin/usage-server': ['-rwxr-xr-x', ''],
    '/usr/lib/systemd/system/usage-agent.service': ['-rw-r--r--', ''],
    '/usr/lib/systemd/system/usage-server.service': ['-rw-r--r--', ''],
    '/usr/lib/systemd/user/usage-agent-session.service': ['-rw-r--r--', ''],
    '/opt/usage-agent': ['drwxr-xr-x', ''],
    '/opt/usage-agent/node/bin/node': ['-rwxr-xr-x', ''],
    '/opt/usage-agent/dist/src/cli/usage-agent.js': ['-rw-r--r--', ''],
    '/opt/usage-agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node': ['-rwxr-xr-x', ''],
  };
  for (const [path, [mode, flags]] of Object.entries(expect)) assert.deepEqual([files.get(path)?.mode, files.get(path)?.flags], [mode, flags], path);
  assert.deepEqual(sh('rpm', ['-qcp', built.path]).stdout.trim().split('\n').sort(), [
    '/etc/usage-agent/agent.json',
    '/etc/usage-agent/session.json',
    '/etc/xdg/autostart/usage-agent-session.desktop',
  ]);
  // Shared directories and the data dir are not the package's: an erase cannot take the journal.
  for (const notOurs of [
    '/usr/bin',
    '/usr/lib/systemd/system',
    '/etc/xdg/autostart',
    '/etc',
    '/opt',
    '/var/lib/usage-agent',
    '/lib/systemd/system/usage-agent.service',
  ])
    assert.ok(!files.has(notOurs), `${notOurs} not owned`);
  for (const absent of ['/opt/usage-agent/node_modules/typescript', '/opt/usage-agent/dist/test', '/opt/usage-agent/node_modules/better-sqlite3/deps'])
    assert.ok(![...files.keys()].some((p) => p === absent || p.startsWith(`${absent}/`)), `${absent} not shipped`);

  // Scriptlets, as rpm reads them.
  const scripts = sh('rpm', ['-qp', '--scripts', built.path]).stdout;
  const section = (name: string) => {
    const m = new RegExp(`^${name} scriptlet \\(using /bin/sh\\):\\n([\\s\\S]*?)(?=^\\w+ scriptlet|$(?![\\s\\S]))`, 'm').exec(scripts);
    assert.ok(m, `${name} scriptlet in:\n${scripts}`);
    return m[1]!;
  };
  assert.match(
    section('preinstall'),
    /systemd-sysusers --replace=\/usr\/lib\/sysusers\.d\/usage-agent\.conf -[\s\S]*useradd --system --user-group --home-dir \/var\/lib\/usage-agent/,
  );
  assert.match(
    section('postinstall'),
    /mkdir -p \/var\/lib\/usage-agent\nchown -R usage-agent:usage-agent \/var\/lib\/usage-agent\nchmod 0750 \/var\/lib\/usage-agent/,
  );
  assert.match(
    section('postinstall'),
    /if \[ "\$1" -eq 1 \]; then[\s\S]*systemctl --no-reload enable usage-agent\.service[\s\S]*--global enable usage-agent-session\.service/,
  );
  assert.match(section('preuninstall'), /if \[ "\$1" -eq 0 \]; then[\s\S]*systemctl --no-reload disable usage-agent\.service usage-server\.service/);
  assert.match(section('postuninstall'), /if \[ "\$1" -ge 1 \]; then\n\s*systemctl try-restart usage-agent\.service/);
  assert.doesNotMatch(scripts, /rm -rf|rm -r /, 'no scriptlet removes data');

  // ---- install into a scratch root, scriptlets running in its chroot ----------------------
  const root = join(work, 'root');
  const systemctlLog = scratchRoot(root);
  rpmIn(root, ['--initdb']);
  const install = rpmIn(root, ['--nodeps', '-i', prev.path]);
  // Quiet but for systemd-sysusers saying it made the daemon's user and group.
  assert.match(install.stderr, /^Creating user 'usage-agent' \(usage-agent daemon\) with UID \d+/m);
  assert.doesNotMatch(
    install.stderr.replace(/^rpm: (RPM should not be used directly|However assuming).*\n/gm, '').replace(/^Creating (group|user) 'usage-agent' .*\n/gm, ''),
    /\S/,
    'a quiet install',
  );
  assert.equal(rpmIn(root, ['-q', 'usage-agent']).stdout.trim(), `usage-agent-${prev.version}-1.${built.arch}`);
  assert.deepEqual(readFileSync(systemctlLog, 'utf8').trim().split('\n'), [
    '--no-reload enable usage-agent.service',
    '--no-reload --global enable usage-agent-session.service',
  ]);
  // %pre made the daemon's user in the scratch root's own passwd (systemd-sysusers in its chroot).
  const passwd = /^usage-agent:x:(\d+):(\d+):usage-agent daemon:\/var\/lib\/usage-agent:(\S+)$/m.exec(readFileSync(join(root, 'etc/passwd'), 'utf8'));
  assert.ok(passwd, readFileSync(join(root, 'etc/passwd'), 'utf8'));
  const [daemonUid, daemonGid] = [Number(passwd[1]), Number(passwd[2])];
  assert.ok(daemonUid > 0 && daemonUid < 1000, 'a system user');
  assert.match(passwd[3]!, /nologin$/);
  for (const [path, [mode]] of Object.entries(expect)) {
    const st = lstatSync(join(root, path));
    assert.equal(`${st.uid}:${st.gid}`, path === '/etc/usage-agent/agent.json' ? `0:${daemonGid}` : '0:0', path);
    assert.equal(modeString(st), mode, `${path} installed with the package's mode`);
  }
  const dataDir = join(root, 'var/lib/usage-agent');
  assert.equal(statSync(dataDir).mode & 0o7777, 0o750, '%post made the data dir 0750');
  assert.deepEqual([statSync(dataDir).uid, statSync(dataDir).gid], [daemonUid, daemonGid], "%post gave the data dir to the daemon's user");
  assert.equal(rpmIn(root, ['-V', '--nodeps', 'usage-agent'], { allowFail: true }).stdout.trim(), '', 'rpm -V: the installed files are as packaged');

  // The installed runtime runs the installed agent.
  const node = join(root, 'opt/usage-agent/node/bin/node');
  const cli = join(root, 'opt/usage-agent/dist/src/cli/usage-agent.js');
  assert.equal(sh(node, [cli, '--version']).stdout.trim(), prev.version);
  assert.equal(sh(node, ['--version']).stdout.trim(), process.version, "the previous package bundled the build machine's Node");
  const config = join(root, 'etc/usage-agent/agent.json');
  // The admin's edit (kept through the upgrade): no pacct here, fast flushes.
  const edited = `${JSON.stringify({ processes: { pacct: 'off', sampleIntervalMs: 200 }, journal: { flushIntervalMs: 100 }, log: { level: 'warn' } }, null, 2)}\n`;
  writeFileSync(config, edited);
  const runOnce = async (afterSeq: number) => {
    const child = spawn(node, [cli, 'run', '--config', config, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const until = Date.now() + 60_000;
    try {
      // status.json: started, with the stop handlers in place. A process that outlives a sample
      // ends meanwhile, so there is a record to journal even on a quiet machine (an upgraded agent
      // sends no software inventory again).
      while (!existsSync(join(dataDir, 'status.json')) || !existsSync(join(dataDir, 'journal.db')) || journalOf(dataDir).lastSeq <= afterSeq) {
        assert.ok(Date.now() < until && child.exitCode === null, `no records from the installed agent:\n${out}`);
        await new Promise((r) => spawn('sleep', ['0.5'], { stdio: 'ignore' }).once('exit', r));
      }
    } catch (err) {
      child.kill('SIGKILL'); // never left running: it would keep the test process alive
      throw err;
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  };
  await runOnce(0);
  const before = journalOf(dataDir);
  assert.ok(before.records.length > 0 && before.ackedThroughSeq === 0, 'unsent records (no server configured)');

  // ---- upgrade to this build: the current LTS runtime -----------------------------------------
  writeFileSync(systemctlLog, '');
  rpmIn(root, ['--nodeps', '-U', built.path]);
  assert.equal(rpmIn(root, ['-q', 'usage-agent']).stdout.trim(), `usage-agent-${built.version}-1.${built.arch}`);
  assert.equal(sh(node, [cli, '--version']).stdout.trim(), built.version);
  assert.match(
    sh(node, ['--version']).stdout.trim(),
    new RegExp(`^v${BUNDLED_NODE_MAJOR}\\.\\d+\\.\\d+$`),
    "the bundled runtime is now the registry's current LTS",
  );
  assert.equal(
    readFileSync(systemctlLog, 'utf8'),
    '',
    'an upgrade enables nothing again (the admin may have disabled it) and, without systemd running, restarts nothing',
  );
  assert.equal(readFileSync(config, 'utf8'), edited, 'the edited configuration is kept (%config(noreplace))');
  assert.ok(!existsSync(`${config}.rpmnew`), 'the packaged config did not change: no .rpmnew');
  const after = journalOf(dataDir);
  assert.deepEqual(
    after.records.map((r) => r.seq),
    before.records.map((r) => r.seq),
    'every unsent record is still there',
  );
  await runOnce(before.lastSeq);
  assert.ok(journalOf(dataDir).lastSeq > before.lastSeq, 'the upgraded agent appends to the same journal');

  // ---- erase -------------------------------------------------------------------------------
  writeFileSync(systemctlLog, '');
  const erase = rpmIn(root, ['--nodeps', '-e', 'usage-agent']);
  assert.deepEqual(readFileSync(systemctlLog, 'utf8').trim().split('\n'), [
    '--no-reload disable usage-agent.service usage-server.service',
    '--no-reload --global disable usage-agent-session.service',
  ]);
  assert.match(erase.stderr, /\/var\/lib\/usage-agent is kept \(its journal may hold records not yet uploaded\)/);
  assert.ok(
    !existsSync(join(root, 'opt/usage-agent')) &&
      !existsSync(join(root, 'usr/bin/usage-agent')) &&
      !existsSync(join(root, 'usr/lib/systemd/system/usage-agent.service')),
    'the program is gone',
  );
  assert.ok(existsSync(join(dataDir, 'journal.db')), 'the journal stays');
  assert.ok(journalOf(dataDir).records.length >= before.records.length, 'with its unsent records');
  assert.equal(readFileSync(`${config}.rpmsave`, 'utf8'), edited, 'the edited configuration is saved as .rpmsave');
});

function journalOf(dataDir: string) {
  const j = Journal.open(join(dataDir, 'journal.db'), { readonly: true });
  try {
    return { records: j.read(), lastSeq: j.lastSeq(), ackedThroughSeq: j.ackedThroughSeq() };
  } finally {
    j.close();
  }
}

function modeString(st: import('node:fs').Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
  const bits = 'rwxrwxrwx';
  let out = type;
  for (let i = 0; i < 9; i++) out += st.mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}
