/**
 * The daemon's V8 heap flags (src/service/node-flags.ts) reach node in every shipped definition:
 * rendered units and launchers are checked word by word, and the shell launcher is executed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultLayout, definitionsFor, readTemplate, renderDefinition, templateVars } from '../../src/service/layout.js';
import { AGENT_NODE_FLAGS } from '../../src/service/node-flags.js';
import { renderTemplate, TemplateError } from '../../src/service/render.js';
import { tempDir } from '../helpers/cli.js';

describe('word lists in templates', () => {
  const flags = ['--a=1', '--b c'];
  it('become several escaped words in command lines', () => {
    assert.equal(renderTemplate('ExecStart=@N@ @F@ x.js', { N: '/n', F: flags }, 'systemd'), 'ExecStart=/n --a=1 "--b c" x.js');
    assert.equal(renderTemplate('exec @N@ @F@ x.js', { N: '/n', F: flags }, 'sh'), "exec /n --a=1 '--b c' x.js");
    assert.equal(renderTemplate('<arguments>@F@ "x"</arguments>', { F: ['--a=1', '<&>'] }, 'xml'), '<arguments>--a=1 &lt;&amp;&gt; "x"</arguments>');
    assert.equal(renderTemplate('ExecStart=@N@ @F@ x.js', { N: '/n', F: [] }, 'systemd'), 'ExecStart=/n  x.js');
  });
  it('repeat a whole-line XML element once per word (launchd ProgramArguments), none for an empty list', () => {
    const t = '<array>\n    <string>@N@</string>\n    <string>@F@</string>\n    <string>x.js</string>\n</array>\n';
    assert.equal(
      renderTemplate(t, { N: '/n', F: ['--a=1', 'a&b'] }, 'xml'),
      '<array>\n    <string>/n</string>\n    <string>--a=1</string>\n    <string>a&amp;b</string>\n    <string>x.js</string>\n</array>\n',
    );
    assert.equal(renderTemplate(t, { N: '/n', F: [] }, 'xml'), '<array>\n    <string>/n</string>\n    <string>x.js</string>\n</array>\n');
    assert.equal(renderTemplate('<a>\r\n  <s>@F@</s>\r\n</a>', { F: ['1', '2'] }, 'xml'), '<a>\r\n  <s>1</s>\r\n  <s>2</s>\r\n</a>');
  });
  it('are refused in JSON and checked for line breaks like strings', () => {
    assert.throws(() => renderTemplate('{"a": "@F@"}', { F: flags }, 'json'), TemplateError);
    assert.throws(() => renderTemplate('@F@', { F: ['ok', 'x\ny'] }, 'sh'), TemplateError);
  });
});

describe('the daemon gets AGENT_NODE_FLAGS in every shipped definition', () => {
  it('is a non-empty list of V8 heap flags', () => {
    assert.ok(AGENT_NODE_FLAGS.length > 0);
    for (const f of AGENT_NODE_FLAGS) assert.match(f, /^--max-(old|semi)-space-size=\d+$/);
  });

  it('systemd: ExecStart runs node with the flags before the agent script', () => {
    const layout = defaultLayout('linux', { node: '/opt/usage-agent/node/bin/node', prefix: '/opt/usage-agent', version: '1.0.0' });
    const unit = renderDefinition(definitionsFor(layout).find((d) => d.role === 'daemon')!, layout).contents;
    const exec = unit.split('\n').filter((l) => l.startsWith('ExecStart='));
    assert.deepEqual(exec, [
      `ExecStart=/opt/usage-agent/node/bin/node ${AGENT_NODE_FLAGS.join(' ')} /opt/usage-agent/dist/src/cli/usage-agent.js run --config /etc/usage-agent/agent.json --data-dir /var/lib/usage-agent`,
    ]);
  });

  it('launchd: one ProgramArguments string per flag, between node and the agent script', () => {
    const layout = defaultLayout('darwin', { version: '1.0.0' });
    const plist = renderDefinition(definitionsFor(layout).find((d) => d.role === 'daemon')!, layout).contents;
    const args = [...plist.slice(plist.indexOf('<key>ProgramArguments</key>'), plist.indexOf('</array>')).matchAll(/<string>([^<]*)<\/string>/g)].map(
      (m) => m[1],
    );
    const v = templateVars(layout);
    assert.deepEqual(args.slice(0, AGENT_NODE_FLAGS.length + 3), [v.NODE, ...AGENT_NODE_FLAGS, v.AGENT_JS, 'run']);
  });

  it('Windows (WinSW): the arguments start with the flags', () => {
    const layout = defaultLayout('win32', { version: '1.0.0' });
    const xml = renderDefinition(definitionsFor(layout).find((d) => d.role === 'daemon')!, layout).contents;
    const args = /<arguments>([^<]*)<\/arguments>/.exec(xml)![1]!;
    assert.ok(args.startsWith(`${AGENT_NODE_FLAGS.join(' ')} "${templateVars(layout).AGENT_JS as string}" run `), args);
  });

  it('shell launcher (/usr/bin/usage-agent): `run` gets the flags, other commands do not', (t) => {
    const dir = tempDir(t, 'node-flags-');
    // A stand-in "node" that prints the arguments it was given, one per line.
    const fakeNode = join(dir, 'node');
    writeFileSync(fakeNode, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    chmodSync(fakeNode, 0o755);
    const layout = defaultLayout('linux', { node: fakeNode, prefix: '/opt/usage-agent', version: '1.0.0' });
    const launcher = join(dir, 'usage-agent');
    writeFileSync(launcher, renderTemplate(readTemplate('bin/usage-agent.sh'), templateVars(layout), 'sh'));
    chmodSync(launcher, 0o755);
    const argv = (...args: string[]) => {
      const r = spawnSync(launcher, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    const js = templateVars(layout).AGENT_JS as string;
    assert.deepEqual(argv('run', '--data-dir', '/var/lib/usage-agent'), [...AGENT_NODE_FLAGS, js, 'run', '--data-dir', '/var/lib/usage-agent']);
    assert.deepEqual(argv('records', '--type', 'process'), [js, 'records', '--type', 'process']);
    assert.deepEqual(argv(), [js]);
  });
});
