/**
 * `usage-agent service` end to end: dry-run output for each OS against the shipped templates, a
 * real install/uninstall into a --root directory (with the real systemctl --root), the refusal
 * without root, systemd-analyze on the rendered units, and the daemon unit's capability set
 * checked against the kernel operations it is meant to allow.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_BIN, runAgentCli, tempDir } from '../helpers/cli.js';
import { readTemplate } from '../../src/service/layout.js';
import { AGENT_NODE_FLAGS } from '../../src/service/node-flags.js';
import type { TemplateFormat } from '../../src/service/render.js';
import type { Plan, Step } from '../../src/service/plan.js';

type WriteStep = Extract<Step, { kind: 'write' }>;

function dryRun(args: string[]): Plan {
  const r = runAgentCli(['service', 'install', '--dry-run', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Plan;
}

/** The template as a regex: literal text must match exactly, each placeholder any escaped value. */
function matchesTemplate(rendered: string, template: string): boolean {
  // A whole-line list element (launchd ProgramArguments) is rendered once per flag.
  template = template.replace(/^([ \t]*<string>@AGENT_NODE_FLAGS@<\/string>\n)/m, (line) => line.repeat(AGENT_NODE_FLAGS.length));
  const parts = template.split(/@[A-Z][A-Z0-9_]*@/);
  const re = new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^\\n]*?')}$`);
  return re.test(rendered);
}

const TEMPLATES: Record<string, [string, TemplateFormat]> = {
  'usage-agent.service': ['systemd/usage-agent.service', 'systemd'],
  'usage-agent-session.service': ['systemd/usage-agent-session.service', 'systemd'],
  'usage-agent-session.desktop': ['xdg/usage-agent-session.desktop', 'desktop'],
  'org.usage-agent.agent.plist': ['launchd/org.usage-agent.agent.plist', 'xml'],
  'org.usage-agent.session.plist': ['launchd/org.usage-agent.session.plist', 'xml'],
  'usage-agent.xml': ['windows/usage-agent.xml', 'xml'],
  'usage-agent-session.task.xml': ['windows/usage-agent-session.task.xml', 'xml'],
};

function writes(plan: Plan): Map<string, WriteStep> {
  return new Map(plan.steps.filter((s): s is WriteStep => s.kind === 'write').map((s) => [s.path.split(/[\\/]/).pop()!, s]));
}

describe('service install --dry-run', () => {
  it('linux: the daemon unit, the user unit and the autostart entry, rendered from the shipped templates', () => {
    const plan = dryRun(['--os', 'linux', '--node', '/opt/my node/bin/node', '--prefix', '/opt/usage-agent']);
    const files = writes(plan);
    for (const name of ['usage-agent.service', 'usage-agent-session.service', 'usage-agent-session.desktop']) {
      const [template] = TEMPLATES[name]!;
      assert.ok(matchesTemplate(files.get(name)!.contents, readTemplate(template)), `${name} matches service/${template}`);
    }
    const unit = files.get('usage-agent.service')!.contents;
    assert.match(
      unit,
      new RegExp(
        `^ExecStart="/opt/my node/bin/node" ${AGENT_NODE_FLAGS.join(' ')} /opt/usage-agent/dist/src/cli/usage-agent\\.js run --config /etc/usage-agent/agent\\.json --data-dir /var/lib/usage-agent$`,
        'm',
      ),
    );
    assert.match(unit, /^ReadWritePaths=\/var\/lib\/usage-agent$/m);
    assert.match(unit, /^CapabilityBoundingSet=CAP_SYS_PACCT CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL CAP_CHOWN$/m);
    const desktop = files.get('usage-agent-session.desktop')!.contents;
    assert.match(
      desktop,
      /^Exec="\/opt\/my node\/bin\/node" \/opt\/usage-agent\/dist\/src\/cli\/usage-agent\.js session --config \/etc\/usage-agent\/session\.json$/m,
    );
    assert.equal(JSON.parse(files.get('agent.json')!.contents).session.socketPath, '/run/usage-agent/agent.sock');
    assert.equal(files.get('agent.json')!.mode, 0o600);
    // The human-readable form shows the same contents.
    const text = runAgentCli(['service', 'install', '--dry-run', '--os', 'linux', '--node', '/opt/my node/bin/node', '--prefix', '/opt/usage-agent']);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(unit.trimEnd()), 'text dry run prints the unit');
    assert.match(text.stdout, /^run: systemctl enable usage-agent\.service/m);
  });

  it('darwin: LaunchDaemon and LaunchAgent plists with each argument XML-escaped', () => {
    const plan = dryRun(['--os', 'darwin', '--prefix', '/Applications/R&D Tools/usage-agent', '--node', '/usr/local/bin/node']);
    const files = writes(plan);
    for (const name of ['org.usage-agent.agent.plist', 'org.usage-agent.session.plist']) {
      assert.ok(matchesTemplate(files.get(name)!.contents, readTemplate(TEMPLATES[name]![0])), name);
    }
    const daemon = files.get('org.usage-agent.agent.plist')!;
    assert.equal(daemon.path, '/Library/LaunchDaemons/org.usage-agent.agent.plist');
    const args = [...daemon.contents.matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]);
    assert.deepEqual(args.slice(1, 8 + AGENT_NODE_FLAGS.length), [
      '/usr/local/bin/node',
      ...AGENT_NODE_FLAGS,
      '/Applications/R&amp;D Tools/usage-agent/dist/src/cli/usage-agent.js',
      'run',
      '--config',
      '/Library/Application Support/usage-agent/agent.json',
      '--data-dir',
      '/Library/Application Support/usage-agent/data',
    ]);
    assert.equal(files.get('org.usage-agent.session.plist')!.path, '/Library/LaunchAgents/org.usage-agent.session.plist');
    assert.match(files.get('org.usage-agent.session.plist')!.contents, /<string>Aqua<\/string>/);
  });

  it('win32: WinSW service XML and the logon task, Windows paths quoted', () => {
    const plan = dryRun(['--os', 'win32']);
    const files = writes(plan);
    for (const name of ['usage-agent.xml', 'usage-agent-session.task.xml']) {
      assert.ok(matchesTemplate(files.get(name)!.contents, readTemplate(TEMPLATES[name]![0])), name);
    }
    const svc = files.get('usage-agent.xml')!.contents;
    assert.match(svc, /<executable>C:\\Program Files\\usage-agent\\node\\node\.exe<\/executable>/);
    assert.ok(
      svc.includes(
        `<arguments>${AGENT_NODE_FLAGS.join(' ')} "C:\\Program Files\\usage-agent\\dist\\src\\cli\\usage-agent.js" run --config "C:\\ProgramData\\usage-agent\\agent.json" --data-dir "C:\\ProgramData\\usage-agent\\data"</arguments>`,
      ),
      svc,
    );
    assert.equal(files.get('usage-agent-session.task.xml')!.encoding, 'utf16le');
    assert.equal(JSON.parse(files.get('session.json')!.contents).session.socketPath, '\\\\.\\pipe\\usage-agent');
  });

  it('a foreign --os without --dry-run is a usage error (64), not an install', () => {
    const r = runAgentCli(['service', 'install', '--os', process.platform === 'darwin' ? 'linux' : 'darwin']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /use it with --dry-run/);
  });

  it('refuses without root: exit 77 and a message that says why and how', (t) => {
    assert.equal(process.getuid?.(), 0, 'the suite runs as root (CI does)');
    const r = runAgentCliAsNobody(t, ['service', 'install']);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /needs root/);
    assert.match(r.stderr, /--dry-run/);
    const dry = runAgentCliAsNobody(t, ['service', 'install', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
  });
});

/**
 * Runs the CLI as `nobody`. The checkout may sit below a directory only root can enter (a mktemp
 * dir), so the project is bind-mounted at a world-traversable path in a private mount namespace.
 */
function runAgentCliAsNobody(t: { after(fn: () => void): void }, args: string[]) {
  const projectRoot = resolve(AGENT_BIN, '..', '..', '..', '..');
  const binInProject = relative(projectRoot, AGENT_BIN);
  const mountPoint = tempDir(t, 'usage-agent-nobody-');
  chmodSync(mountPoint, 0o755);
  const script =
    'mount --bind "$1" "$2" && cd / && mp="$2" node="$3" bin="$4" && shift 4 && ' +
    'exec setpriv --reuid=65534 --regid=65534 --clear-groups "$node" "$mp/$bin" "$@"';
  return spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', projectRoot, mountPoint, process.execPath, binInProject, ...args],
    {
      encoding: 'utf8',
    },
  );
}

describe('service install --root (real files, real systemctl --root)', () => {
  it('installs, is idempotent, reports status, and uninstall --purge removes all it created', (t) => {
    const root = tempDir(t, 'usage-agent-root-');
    const before = listTree(root);
    const first = runAgentCli(['service', 'install', '--root', root, '--server']);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const unit = join(root, 'etc/systemd/system/usage-agent.service');
    assert.ok(existsSync(unit));
    assert.equal(statSync(join(root, 'etc/usage-agent/agent.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'var/lib/usage-agent')).mode & 0o777, 0o750);
    // The daemon's system user, made in the image by the real systemd-sysusers --root.
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^usage-agent:x:\d+:\d+:usage-agent daemon:\/var\/lib\/usage-agent:/m);
    assert.ok(isLink(join(root, 'etc/systemd/system/multi-user.target.wants/usage-agent.service')), 'enabled for boot');
    assert.ok(isLink(join(root, 'etc/systemd/user/graphical-session.target.wants/usage-agent-session.service')), 'enabled for sessions');

    // An admin's config edit survives a re-install; the unit is rewritten only if it differs.
    writeFileSync(join(root, 'etc/usage-agent/agent.json'), '{"server":{"url":"https://usage.example.com"}}\n');
    const again = runAgentCli(['service', 'install', '--root', root, '--server']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /unchanged .*usage-agent\.service/);
    assert.match(again.stdout, /kept existing .*agent\.json/);
    assert.match(readFileSync(join(root, 'etc/usage-agent/agent.json'), 'utf8'), /usage\.example\.com/);

    const status = runAgentCli(['service', 'status', '--root', root, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { installed: boolean; definitions: Array<{ role: string; state: string }> };
    assert.equal(s.installed, true);
    assert.equal(s.definitions.find((d) => d.role === 'daemon')?.state, 'current');
    writeFileSync(unit, `${readFileSync(unit, 'utf8')}# local edit\n`);
    const edited = JSON.parse(runAgentCli(['service', 'status', '--root', root, '--json']).stdout) as typeof s;
    assert.equal(edited.definitions.find((d) => d.role === 'daemon')?.state, 'differs');

    const keep = runAgentCli(['service', 'uninstall', '--root', root]);
    assert.equal(keep.code, 0, keep.stderr);
    assert.ok(!existsSync(unit));
    assert.ok(!isLink(join(root, 'etc/systemd/system/multi-user.target.wants/usage-agent.service')), 'disabled');
    assert.ok(existsSync(join(root, 'etc/usage-agent/agent.json')), 'config kept without --purge');
    assert.ok(existsSync(join(root, 'var/lib/usage-agent')), 'data kept without --purge');
    assert.equal(runAgentCli(['service', 'status', '--root', root]).code, 3);

    const purge = runAgentCli(['service', 'uninstall', '--root', root, '--purge']);
    assert.equal(purge.code, 0, purge.stderr);
    // Only empty directories systemctl or we created as parents may remain, and the user database
    // with the system user (kept on purge: files may still be owned by it); no other file at all.
    const userDb = ['etc/.pwd.lock', 'etc/group', 'etc/gshadow', 'etc/passwd', 'etc/shadow'];
    const files = listTree(root).filter((p) => !before.includes(p) && !lstatSync(join(root, p)).isDirectory() && !userDb.includes(p));
    assert.deepEqual(files, []);
    assert.ok(purge.stdout.includes('usage-agent is kept') || purge.stderr.includes('usage-agent is kept'), purge.stdout);
    assert.ok(!existsSync(join(root, 'var/lib/usage-agent')));
    assert.ok(!existsSync(join(root, 'etc/usage-agent')));
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, entry.name);
    out.push(rel);
    if (entry.isDirectory()) out.push(...listTree(dir, rel));
  }
  return out;
}

describe('the rendered units pass systemd-analyze', () => {
  function renderUnits(t: { after(fn: () => void): void }): string {
    const dir = tempDir(t, 'usage-agent-units-');
    // Render with this machine's real node and checkout so every ExecStart binary exists.
    const plan = dryRun(['--os', 'linux', '--server']);
    for (const [name, step] of writes(plan)) if (/\.(service|desktop)$/.test(name)) writeFileSync(join(dir, name), step.contents);
    return dir;
  }

  it('verify: system units and the user unit', (t) => {
    const dir = renderUnits(t);
    const sys = spawnSync('systemd-analyze', ['verify', '--man=no', 'usage-agent.service', 'usage-server.service'], { cwd: dir, encoding: 'utf8' });
    assert.equal(sys.status, 0, sys.stderr);
    assert.equal(sys.stderr.trim(), '', 'no warnings');
    const runtime = join(dir, 'xdg-runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const user = spawnSync('systemd-analyze', ['--user', 'verify', '--man=no', 'usage-agent-session.service'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: runtime },
    });
    assert.equal(user.status, 0, user.stderr);
    assert.equal(user.stderr.trim(), '', 'no warnings');
  });

  it('security: the daemon and the server are rated OK or better (figures printed for the README)', (t) => {
    const dir = renderUnits(t);
    for (const unit of ['usage-agent.service', 'usage-server.service']) {
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { cwd: dir, encoding: 'utf8' });
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      t.diagnostic(`${unit}: exposure ${m[1]} ${m[2]}`);
      // systemd's scale: <2 OK... up to 10 UNSAFE; "OK" covers < 4.0 (SAFE is below 2).
      assert.ok(['SAFE', 'OK'].includes(m[2]!), `${unit} rated ${m[2]}`);
      // The daemon's target (a system user with five ambient capabilities): 2.5 or less.
      if (unit === 'usage-agent.service') assert.ok(Number(m[1]) <= 2.5, `${unit} exposure ${m[1]} > 2.5:\n${r.stdout}`);
    }
  });
});

describe("the daemon unit's capability set is what the daemon's kernel operations need", () => {
  /** Runs a shell snippet as root with exactly this bounding set (what systemd gives the unit). */
  function withCaps(caps: string[], script: string) {
    const set = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
    return spawnSync('setpriv', ['--bounding-set', set, '--inh-caps=-all', 'sh', '-c', script], { encoding: 'utf8' });
  }

  it('reads /proc/PID/io and exe of another user, signals it, chowns a token file; nothing more', async (t) => {
    assert.equal(process.getuid?.(), 0, 'the suite runs as root (CI does)');
    const unit = readFileSync(dryRunUnitPath(t), 'utf8');
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1]!.split(/\s+/);
    const victim = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '300'], { stdio: 'ignore' });
    t.after(() => victim.kill('SIGKILL'));
    // setpriv execs sleep in place: the pid is the sleeping process once it has switched uid.
    let uid = -1;
    for (let i = 0; i < 200 && uid !== 65534; i++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        uid = statSync(`/proc/${victim.pid}`).uid;
      } catch {
        /* not yet */
      }
    }
    assert.equal(uid, 65534);
    const dir = tempDir(t, 'usage-agent-caps-');
    const pid = victim.pid!;
    const ops = `cat /proc/${pid}/io >/dev/null && readlink /proc/${pid}/exe >/dev/null && kill -0 ${pid} && : > ${dir}/tok && chown 65534 ${dir}/tok && echo ALLOWED`;
    const granted = withCaps(caps, ops);
    assert.equal(granted.stdout.trim(), 'ALLOWED', granted.stderr);
    // Each capability is needed: without it, its operation fails.
    for (const [cap, op] of [
      ['CAP_SYS_PTRACE', `readlink /proc/${pid}/exe`],
      ['CAP_DAC_READ_SEARCH', `cat /proc/${pid}/io`],
      ['CAP_KILL', `kill -0 ${pid}`],
      ['CAP_CHOWN', `: > ${dir}/tok2 && chown 65534 ${dir}/tok2`],
    ] as const) {
      const r = withCaps(
        caps.filter((c) => c !== cap),
        `${op} >/dev/null 2>&1 && echo ALLOWED || echo DENIED`,
      );
      assert.equal(r.stdout.trim(), 'DENIED', `${cap} is what allows: ${op}`);
    }
    // And what the set excludes stays excluded: writing a file root does not own.
    writeFileSync(join(dir, 'theirs'), 'x', { mode: 0o644 });
    spawnSync('chown', ['65534', join(dir, 'theirs')]);
    const write = withCaps(caps, `echo y >> ${dir}/theirs 2>/dev/null && echo ALLOWED || echo DENIED`);
    assert.equal(write.stdout.trim(), 'DENIED');
  });

  function dryRunUnitPath(t: { after(fn: () => void): void }): string {
    const dir = tempDir(t, 'usage-agent-unit-');
    const step = writes(dryRun(['--os', 'linux'])).get('usage-agent.service')!;
    writeFileSync(join(dir, 'usage-agent.service'), step.contents);
    return join(dir, 'usage-agent.service');
  }
});
