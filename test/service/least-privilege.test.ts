/**
 * The daemon as the installed unit runs it: not root, but the unit's User= (made by systemd-sysusers
 * from the shipped sysusers.d file) holding only the unit's ambient capabilities (setpriv, as
 * systemd's User= + AmbientCapabilities= do), with /home out of reach (ProtectHome=yes). It takes
 * over a data dir and journal root made, switches kernel accounting on, records other users'
 * processes with their executables, hands a session token to another user, and terminates another
 * user's denied program that runs from /home. The project is bind-mounted at a world-traversable
 * path first: a fresh clone may sit below a directory only root can enter.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { Journal } from '../../src/journal/journal.js';
import { renderTemplate } from '../../src/service/render.js';
import { AGENT_BIN, runAgentCli } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { session } from '../helpers/session-peer.js';
import { waitFor } from '../helpers/wait.js';

const TEMPLATES = resolve(AGENT_BIN, '..', '..', '..', '..', 'service', 'systemd');
const UNIT = join(TEMPLATES, 'usage-agent.service');
const OTHER_UID = 60_071;
const EXE = `lpcad-${process.pid}`;

/** waitFor with this file's patience (the daemon runs as another user, checked every 100 ms). */
const until = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 30_000): Promise<T> => waitFor(fn, what, timeoutMs, { stepMs: 100 });

test("as a system user with only the unit's ambient capabilities: pacct on, every user's processes, session tokens, enforcement", async (t) => {
  const caps = /^AmbientCapabilities=(.*)$/m.exec(readFileSync(UNIT, 'utf8'))![1]!.trim().split(/\s+/);
  assert.deepEqual(caps.slice().sort(), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH', 'CAP_KILL', 'CAP_SYS_PACCT', 'CAP_SYS_PTRACE']);
  const setprivCaps = caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  const unitText = readFileSync(UNIT, 'utf8');
  assert.match(unitText, /^ProtectHome=yes$/m);
  const user = /^User=(.*)$/m.exec(unitText)![1]!;
  assert.equal(user, 'usage-agent');

  const srv = await startServer({ products: [{ id: 'cad', seats: 0, onDeny: 'terminate', queue: false, match: { executables: [EXE], paths: [] } }] });
  t.after(() => srv.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'usage-agent-lp-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  // The user, as the package makes it: systemd-sysusers with the shipped file (kept if it exists).
  const sysusers = join(dir, 'usage-agent.conf');
  writeFileSync(sysusers, renderTemplate(readFileSync(join(TEMPLATES, 'usage-agent.sysusers'), 'utf8'), { DATA_DIR: data }, 'text'));
  const existed = spawnSync('getent', ['passwd', user]).status === 0;
  const made = spawnSync('systemd-sysusers', [sysusers], { encoding: 'utf8' });
  // A user this test made goes again (its home names this test's temp dir): after the daemon stops.
  assert.equal(made.status, 0, made.stderr);
  const DAEMON_UID = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const DAEMON_GID = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  assert.ok(DAEMON_UID > 0 && DAEMON_UID < 1000, `a system uid: ${DAEMON_UID}`);
  // A data dir and journal root made (`service install`'s mkdir; a version whose daemon ran as root).
  spawnSync('install', ['-d', '-m', '0750', '-o', 'root', data]);
  const old = Journal.open(join(data, 'journal.db'), { flushIntervalMs: 10 });
  old.append({ type: 'usage-event', time: new Date().toISOString(), host: 'lp', marker: EXE });
  old.flush();
  const canarySeq = old.lastSeq();
  old.close();
  assert.equal(statSync(join(data, 'journal.db')).uid, 0);
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      journal: { flushIntervalMs: 100 },
      processes: { sampleIntervalMs: 200, pacct: 'auto' },
      server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET },
      leases: { launchPollMs: 50, terminateWarningSeconds: 0, killAfterSeconds: 1 },
    }),
  );
  chmodSync(config, 0o644);
  // The controlled program: a copy of sleep under the product's executable name, world-runnable,
  // in a home directory the daemon cannot see (ProtectHome=yes hides /home in its mount namespace).
  const home = mkdtempSync('/home/usage-agent-lp-');
  chmodSync(home, 0o755);
  const prog = join(home, EXE);
  copyFileSync('/bin/sleep', prog);
  chmodSync(prog, 0o755);

  const projectRoot = resolve(AGENT_BIN, '..', '..', '..', '..');
  const mount = join(dir, 'project');
  spawnSync('mkdir', ['-m', '0755', mount]);
  const script = `mount --bind "$1" "$2" && mount -t tmpfs -o mode=000,size=4k tmpfs /home && cd / && exec setpriv --reuid=${DAEMON_UID} --regid=${DAEMON_GID} --clear-groups --inh-caps=${setprivCaps} --ambient-caps=${setprivCaps} "$3" "$2/$4" run --config "$5" --data-dir "$6"`;
  let stderr = '';
  const daemon: ChildProcess = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', projectRoot, mount, process.execPath, relative(projectRoot, AGENT_BIN), config, data],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  daemon.stderr!.on('data', (d) => (stderr += String(d)));
  t.after(async () => {
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once('exit', r)));
    spawnSync('accton', ['off'], { stdio: 'ignore' });
    // Only once the daemon is gone: it writes leases.json on its way out (and would make the
    // directories again), and userdel refuses a user that still runs a process.
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    if (!existed) spawnSync('userdel', [user]);
  });
  const status = () => {
    const r = runAgentCli(['status', '--json', '--data-dir', data]);
    try {
      return JSON.parse(r.stdout) as Record<string, any>;
    } catch {
      return undefined;
    }
  };
  await until(`the daemon's status (stderr: ${stderr})`, () => existsSync(join(data, 'status.json')) && status()?.daemon?.components);
  assert.equal(readFileSync(`/proc/${(status()!.daemon as { pid: number }).pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1], String(DAEMON_UID), 'not root');
  // 0. The data dir and the journal root made are the daemon's now, and the journal goes on.
  assert.deepEqual([statSync(data).uid, statSync(data).gid], [DAEMON_UID, DAEMON_GID]);
  assert.equal(statSync(join(data, 'journal.db')).uid, DAEMON_UID);
  assert.ok((status()!.journal as { lastSeq: number }).lastSeq >= canarySeq);

  // 1. Kernel accounting switched on by the daemon itself (CAP_SYS_PACCT, accton inherits it).
  const pacct = await until('pacct on', () => {
    const p = status()?.daemon?.components?.processes?.pacct;
    return p?.mode === 'auto' && p.ownedByAgent === true ? p : undefined;
  });
  assert.equal(pacct.file, join(data, 'pacct'));

  // 2. Another user's (root's) short process: recorded, with its executable (CAP_SYS_PTRACE) and
  //    its exit code from pacct.
  spawnSync('sh', ['-c', 'exec sleep 0.7']);
  const journal = () => {
    const j = Journal.open(join(data, 'journal.db'), { readonly: true });
    try {
      return j.read({ types: ['process'] });
    } finally {
      j.close();
    }
  };
  const rec = await until('the root process record', () =>
    journal().find((r) => r.command === 'sleep' && r.uid === 0 && r.exitCode === 0 && r.exe === '/usr/bin/sleep'),
  );
  assert.equal(rec.user, 'root');

  // 3. A session agent of another user authenticates: the daemon gave that user its token file.
  const peer = await session(join(data, 'agent.sock'), OTHER_UID, 'lp');
  assert.equal(peer.welcome.kind, 'welcome', JSON.stringify(peer.welcome));
  const tokenPath = join(data, 'tokens', String(OTHER_UID));
  assert.equal(readFileSync(tokenPath).length > 0, true);
  peer.socket.destroy();
  assert.equal(statSync(tokenPath).uid, OTHER_UID);

  // 4. Another user's denied program is terminated (CAP_KILL).
  const victim = spawn('setpriv', [`--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups', prog, '300'], { stdio: 'ignore' });
  // Our own kill after a minute, so a daemon that cannot signal fails the test instead of hanging it.
  const guard = setTimeout(() => victim.kill('SIGUSR1'), 60_000);
  t.after(() => clearTimeout(guard));
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => victim.once('exit', (code, signal) => r({ code, signal })));
  assert.ok(
    ended.signal === 'SIGTERM' || ended.signal === 'SIGKILL',
    `the denied program was ended by the daemon: ${JSON.stringify(ended)}; daemon stderr: ${stderr}`,
  );
});
