/**
 * The portable tarball: built from the same compile and templates, with the install guides, and
 * usable: unpacked, given production modules, its CLI renders the macOS and Windows definitions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config/paths.js';
import { buildTarball } from '../../src/service/package/tarball.js';
import { tempDir } from '../helpers/cli.js';

it('contains the app, templates and install guides, and its CLI renders the launchd and WinSW definitions', (t) => {
  const work = tempDir(t, 'usage-agent-tgz-test-');
  const r = buildTarball({ version: '9.8.7', outDir: join(work, 'out'), log: () => {} });
  assert.equal(r.path, join(work, 'out', 'usage-agent-9.8.7.tar.gz'));
  const list = spawnSync('tar', ['-tvzf', r.path], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const names = list.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/).slice(5).join(' '));
  for (const line of list.stdout.trim().split('\n')) assert.match(line, /^\S+ 0\/0 /, `root-owned: ${line}`);
  for (const f of [
    'INSTALL-macos.md',
    'INSTALL-windows.md',
    'README-packaging.md',
    'package.json',
    'package-lock.json',
    'dist/src/cli/usage-agent.js',
    'service/launchd/org.usage-agent.agent.plist',
    'service/windows/usage-agent.xml',
    'config/agent.example.json',
  ]) {
    assert.ok(names.includes(`${r.top}/${f}`), `${f} in the tarball`);
  }
  assert.ok(!names.some((n) => n.includes('node_modules') || n.includes('/test/') || n.endsWith('.ts')), 'no modules, tests or sources');

  const x = spawnSync('tar', ['-xzf', r.path, '-C', work]);
  assert.equal(x.status, 0);
  const app = join(work, r.top);
  assert.equal(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).version, '9.8.7');
  // On a Mac this is `npm ci --omit=dev`; here the checkout's modules stand in (no network).
  cpSync(join(PACKAGE_ROOT, 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  const cli = join(app, 'dist', 'src', 'cli', 'usage-agent.js');
  assert.ok(existsSync(cli));
  assert.equal(spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).stdout.trim(), '9.8.7');
  const mac = spawnSync(process.execPath, [cli, 'service', 'install', '--dry-run', '--os', 'darwin', '--prefix', '/usr/local/usage-agent'], {
    encoding: 'utf8',
  });
  assert.equal(mac.status, 0, mac.stderr);
  assert.match(mac.stdout, /create \/Library\/LaunchDaemons\/org\.usage-agent\.agent\.plist/);
  assert.match(mac.stdout, /<string>\/usr\/local\/usage-agent\/dist\/src\/cli\/usage-agent\.js<\/string>/);
  const win = spawnSync(process.execPath, [cli, 'service', 'install', '--dry-run', '--os', 'win32'], { encoding: 'utf8' });
  assert.equal(win.status, 0, win.stderr);
  assert.match(win.stdout, /<id>usage-agent<\/id>/);
  assert.match(win.stdout, /run: schtasks \/Create \/TN usage-agent\\session/);
});
