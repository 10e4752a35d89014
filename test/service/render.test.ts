import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultLayout, definitionsFor, encodeContents, readTemplate, renderDefinition, templateVars, SERVICE_OSES } from '../../src/service/layout.js';
import { AGENT_NODE_FLAGS } from '../../src/service/node-flags.js';
import { installPlan, uninstallPlan, type MachineState } from '../../src/service/plan.js';
import { escapeDesktopArg, escapeJsonString, escapeSystemd, escapeXml, placeholdersOf, renderTemplate, TemplateError } from '../../src/service/render.js';

describe('template renderer', () => {
  it('replaces every placeholder and escapes for the target syntax', () => {
    assert.equal(renderTemplate('ExecStart=@A@ run', { A: '/opt/x y/node' }, 'systemd'), 'ExecStart="/opt/x y/node" run');
    assert.equal(renderTemplate('<s>@A@</s>', { A: 'a<b>&"c\'' }, 'xml'), '<s>a&lt;b&gt;&amp;&quot;c&apos;</s>');
    assert.equal(renderTemplate('{"p": "@A@"}', { A: 'C:\\Program Data\\"x"' }, 'json'), '{"p": "C:\\\\Program Data\\\\\\"x\\""}');
    assert.equal(renderTemplate('@A@-@A@', { A: 'v' }, 'text'), 'v-v');
  });

  it('refuses an undefined placeholder instead of rendering an empty word', () => {
    assert.throws(
      () => renderTemplate('ExecStart=@NODE@ @MISSING@', { NODE: '/n' }, 'systemd'),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError);
        assert.match(err.message, /@MISSING@/);
        return true;
      },
    );
    assert.throws(() => renderTemplate('@A@', { A: 'x\ny' }, 'systemd'), TemplateError);
  });

  it('systemd words: % doubled, spaces and quotes quoted', () => {
    assert.equal(escapeSystemd('/var/lib/usage-agent'), '/var/lib/usage-agent');
    assert.equal(escapeSystemd('/data/50%'), '/data/50%%');
    assert.equal(escapeSystemd('/a b/"q"\\'), '"/a b/\\"q\\"\\\\"');
  });

  it('desktop Exec arguments follow the Desktop Entry quoting and string escaping', () => {
    assert.equal(escapeDesktopArg('/usr/bin/node'), '/usr/bin/node');
    assert.equal(escapeDesktopArg('/opt/my app/node'), '"/opt/my app/node"');
    // $ is reserved inside quotes: backslash-escaped, and that backslash doubled by the string rules.
    assert.equal(escapeDesktopArg('/opt/a $b'), '"/opt/a \\\\$b"');
    assert.equal(escapeDesktopArg('/x/100%'), '/x/100%%');
    assert.equal(escapeXml('a&b'), 'a&amp;b');
    assert.equal(escapeJsonString('a"b'), 'a\\"b');
  });

  it('every shipped template uses only placeholders a layout defines, for every OS', () => {
    for (const os of SERVICE_OSES) {
      const layout = defaultLayout(os, { version: '9.9.9' });
      const vars = templateVars(layout);
      for (const d of definitionsFor(layout)) {
        const used = placeholdersOf(readTemplate(d.template));
        if (d.role !== 'server-config') assert.ok(used.length > 0, `${d.template} has placeholders`);
        for (const name of used) assert.ok(name in vars, `${d.template}: @${name}@ defined for ${os}`);
        const rendered = renderDefinition(d, layout);
        assert.doesNotMatch(rendered.contents, /@[A-Z_]+@/, `${d.template} fully rendered`);
        if (d.format === 'json') assert.doesNotThrow(() => JSON.parse(rendered.contents), `${d.template} is JSON`);
      }
    }
  });

  it('Task Scheduler XML is written as UTF-16 LE with a BOM and CRLF line ends', () => {
    const bytes = encodeContents({ encoding: 'utf16le' }, 'a\nb');
    assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xfe]);
    assert.equal(bytes.subarray(2).toString('utf16le'), 'a\r\nb');
  });
});

/** A machine with these files; everything else is absent. */
function machine(files: Record<string, string>, systemdRunning: boolean, hasSystemctl = true, hasSysusers = true): MachineState {
  return {
    systemdRunning,
    hasSystemctl,
    hasSysusers,
    read: (p) => (p in files ? Buffer.from(files[p]!) : undefined),
    exists: (p) => p in files || Object.keys(files).some((f) => f.startsWith(`${p}/`)),
  };
}

const runs = (plan: ReturnType<typeof installPlan>) => plan.steps.flatMap((s) => (s.kind === 'run' ? [s.argv.join(' ')] : []));

describe('install and uninstall plans', () => {
  const layout = defaultLayout('linux', { node: '/opt/usage-agent/node/bin/node', prefix: '/opt/usage-agent', version: '1.0.0' });

  it('fresh Linux install with systemd running: writes, reloads, enables, starts', () => {
    const plan = installPlan(layout, machine({}, true));
    const writes = plan.steps.filter((s) => s.kind === 'write');
    assert.deepEqual(
      writes.map((w) => [w.path, w.state, w.mode.toString(8)]),
      [
        ['/etc/systemd/system/usage-agent.service', 'create', '644'],
        ['/etc/sysusers.d/usage-agent.conf', 'create', '644'],
        ['/etc/systemd/user/usage-agent-session.service', 'create', '644'],
        ['/etc/xdg/autostart/usage-agent-session.desktop', 'create', '644'],
        ['/etc/usage-agent/agent.json', 'create', '600'],
        ['/etc/usage-agent/session.json', 'create', '644'],
      ],
    );
    const sysusers = writes.find((w) => w.role === 'daemon-user')!;
    assert.equal(
      sysusers.contents
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .join('\n'),
      'u usage-agent - "usage-agent daemon" /var/lib/usage-agent -',
    );
    assert.match(writes.find((w) => w.role === 'daemon')!.contents, /^User=usage-agent\nGroup=usage-agent$/m);
    assert.deepEqual(runs(plan), [
      'systemd-sysusers /etc/sysusers.d/usage-agent.conf',
      'systemctl daemon-reload',
      'systemctl enable usage-agent.service',
      'systemctl --global enable usage-agent-session.service',
      'systemctl restart usage-agent.service',
    ]);
    const mkdirs = plan.steps.filter((s) => s.kind === 'mkdir');
    assert.deepEqual(mkdirs.find((d) => d.path === '/var/lib/usage-agent')?.mode, 0o750);
  });

  it('re-running an identical install changes nothing and only makes sure the daemon runs', () => {
    const first = installPlan(layout, machine({}, true));
    const files: Record<string, string> = {};
    for (const s of first.steps) if (s.kind === 'write') files[s.path] = s.contents;
    files['/etc/usage-agent/agent.json'] = '{"server":{"url":"https://usage.example.com"}}';
    const again = installPlan(layout, machine(files, true));
    assert.deepEqual(
      again.steps.flatMap((s) => (s.kind === 'write' ? [s.state] : [])),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'keep', 'keep'],
    );
    // The user made by the first run is not made again.
    assert.ok(
      runs(again).some((r) => r.startsWith('systemd-sysusers')),
      'no passwd entry yet',
    );
    files['/etc/passwd'] = 'root:x:0:0:root:/root:/bin/sh\nusage-agent:x:998:998:usage-agent daemon:/var/lib/usage-agent:/usr/sbin/nologin\n';
    assert.ok(!runs(installPlan(layout, machine(files, true))).some((r) => r.startsWith('systemd-sysusers')), 'user exists');
    assert.ok(runs(again).includes('systemctl start usage-agent.service'));
    assert.ok(!runs(again).some((r) => r.includes('restart')));
  });

  it('a changed unit is updated and the daemon restarted; an edited config is kept', () => {
    const files = { '/etc/systemd/system/usage-agent.service': '[Service]\nExecStart=/old\n', '/etc/usage-agent/agent.json': '{}' };
    const plan = installPlan(layout, machine(files, true));
    const states = Object.fromEntries(plan.steps.flatMap((s) => (s.kind === 'write' ? [[s.path, s.state]] : [])));
    assert.equal(states['/etc/systemd/system/usage-agent.service'], 'update');
    assert.equal(states['/etc/usage-agent/agent.json'], 'keep');
    assert.ok(runs(plan).includes('systemctl restart usage-agent.service'));
  });

  it('without a running systemd: enables for the next boot, starts nothing, and says so', () => {
    const plan = installPlan(layout, machine({}, false));
    assert.deepEqual(runs(plan), [
      'systemd-sysusers /etc/sysusers.d/usage-agent.conf',
      'systemctl enable usage-agent.service',
      'systemctl --global enable usage-agent-session.service',
    ]);
    assert.ok(
      plan.notes.some(
        (n) =>
          n.includes('systemd is not running') &&
          n.includes(
            `/opt/usage-agent/node/bin/node ${AGENT_NODE_FLAGS.join(' ')} /opt/usage-agent/dist/src/cli/usage-agent.js run --config /etc/usage-agent/agent.json`,
          ),
      ),
    );
    const noSystemctl = installPlan(layout, machine({}, false, false, false));
    assert.deepEqual(runs(noSystemctl), [
      'useradd --system --user-group --home-dir /var/lib/usage-agent --no-create-home --shell /usr/sbin/nologin --comment usage-agent daemon usage-agent',
    ]);
    assert.ok(noSystemctl.notes.some((n) => n.includes('systemctl was not found')));
  });

  it('--server adds the usage-server unit and its config', () => {
    const plan = installPlan(layout, machine({}, true), { server: true });
    const paths = plan.steps.flatMap((s) => (s.kind === 'write' ? [s.path] : []));
    assert.ok(paths.includes('/etc/systemd/system/usage-server.service'));
    assert.ok(paths.includes('/etc/usage-agent/server.json'));
    assert.ok(runs(plan).includes('systemctl enable usage-server.service'));
  });

  it('--root puts files under the root and uses systemctl --root, starting nothing', () => {
    const plan = installPlan(layout, machine({}, true), { root: '/img' });
    assert.ok(plan.steps.every((s) => s.kind === 'run' || s.path.startsWith('/img/')));
    assert.deepEqual(runs(plan), [
      'systemd-sysusers --root=/img',
      'systemctl --root=/img enable usage-agent.service',
      'systemctl --root=/img --global enable usage-agent-session.service',
    ]);
    const noSysusers = installPlan(layout, machine({}, true, true, false), { root: '/img' });
    assert.ok(runs(noSysusers)[0]!.startsWith('useradd --root /img --system'));
    const unit = plan.steps.find((s) => s.kind === 'write' && s.role === 'daemon');
    assert.ok(unit && unit.kind === 'write' && unit.contents.includes('ReadWritePaths=/var/lib/usage-agent'));
    assert.throws(() => installPlan(defaultLayout('darwin'), machine({}, false), { root: '/img' }), /Linux only/);
  });

  it('uninstall stops and removes definitions, keeps config and data unless purged', () => {
    const installed = { '/etc/systemd/system/usage-agent.service': 'x', '/etc/usage-agent/agent.json': '{}', '/var/lib/usage-agent/journal.db': 'x' };
    const plan = uninstallPlan(layout, machine(installed, true));
    assert.deepEqual(runs(plan), [
      'systemctl disable --now usage-agent.service',
      'systemctl --global disable usage-agent-session.service',
      'systemctl daemon-reload',
    ]);
    const removed = plan.steps.flatMap((s) => (s.kind === 'remove' ? [s.path] : []));
    assert.deepEqual(removed, [
      '/etc/systemd/system/usage-agent.service',
      '/etc/sysusers.d/usage-agent.conf',
      '/etc/systemd/user/usage-agent-session.service',
      '/etc/xdg/autostart/usage-agent-session.desktop',
      '/etc/systemd/system/usage-server.service',
    ]);
    assert.ok(plan.notes.some((n) => n.includes('usage-agent is kept')));
    const purge = uninstallPlan(layout, machine(installed, true), { purge: true });
    const purged = purge.steps.flatMap((s) => (s.kind === 'remove' ? [s.path] : []));
    for (const p of ['/etc/usage-agent/agent.json', '/var/lib/usage-agent', '/etc/usage-agent']) assert.ok(purged.includes(p), p);
  });

  it('purge never removes a directory that is not clearly its own', () => {
    const odd = defaultLayout('linux', { config: '/etc/agent.json', dataDir: '/srv', version: '1' });
    const purge = uninstallPlan(odd, machine({}, false), { purge: true });
    const purged = purge.steps.flatMap((s) => (s.kind === 'remove' ? [s.path] : []));
    assert.ok(!purged.includes('/etc'));
    assert.ok(!purged.includes('/srv'));
    assert.ok(purged.includes('/etc/agent.json'));
    assert.ok(purge.notes.some((n) => n.includes('/srv')));
  });

  it('macOS: LaunchDaemon bootstrapped, enabled and kickstarted; plist paths', () => {
    const mac = defaultLayout('darwin', { version: '1' });
    const plan = installPlan(mac, machine({}, false));
    assert.deepEqual(runs(plan), [
      'launchctl bootout system/org.usage-agent.agent',
      'launchctl bootstrap system /Library/LaunchDaemons/org.usage-agent.agent.plist',
      'launchctl enable system/org.usage-agent.agent',
      'launchctl kickstart system/org.usage-agent.agent',
    ]);
  });

  it('Windows: WinSW service registered and started, logon task created from UTF-16 XML', () => {
    const win = defaultLayout('win32', { version: '1' });
    const plan = installPlan(win, machine({}, false));
    assert.deepEqual(runs(plan), [
      'C:\\Program Files\\usage-agent\\winsw\\usage-agent.exe stop',
      'C:\\Program Files\\usage-agent\\winsw\\usage-agent.exe uninstall',
      'C:\\Program Files\\usage-agent\\winsw\\usage-agent.exe install',
      'C:\\Program Files\\usage-agent\\winsw\\usage-agent.exe start',
      'schtasks /Create /TN usage-agent\\session /XML C:\\ProgramData\\usage-agent\\usage-agent-session.task.xml /F',
    ]);
    const task = plan.steps.find((s) => s.kind === 'write' && s.role === 'session');
    assert.ok(task && task.kind === 'write' && task.encoding === 'utf16le');
  });
});
