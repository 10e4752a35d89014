/** The bundled runtime's source: a node-linux-* package, refused clearly when it is something else. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUNDLED_NODE_MAJOR, fetchNodeRuntime, SUPPORTED_NODE_MAJORS } from '../../src/service/package/runtime.js';
import { tempDir } from '../helpers/cli.js';
import { PACKAGE_ROOT } from '../../src/config/paths.js';

test('the bundled major is a supported one, and package.json engines admits every supported major', () => {
  assert.ok((SUPPORTED_NODE_MAJORS as readonly number[]).includes(BUNDLED_NODE_MAJOR));
  const { engines } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const min = Number(/^>=(\d+)$/.exec(engines.node)?.[1]);
  assert.equal(min, Math.min(...SUPPORTED_NODE_MAJORS), `engines.node ${engines.node}`);
});

test('USAGE_AGENT_NODE_PACKAGE that is not a node-linux-* package: refused, naming it', (t) => {
  const dir = tempDir(t, 'ua-runtime-');
  mkdirSync(join(dir, 'package'));
  writeFileSync(join(dir, 'package', 'package.json'), '{"name":"not-node"}');
  const tgz = join(dir, 'not-node.tgz');
  assert.equal(spawnSync('tar', ['-czf', tgz, '-C', dir, 'package']).status, 0);
  const before = process.env.USAGE_AGENT_NODE_PACKAGE;
  process.env.USAGE_AGENT_NODE_PACKAGE = tgz;
  t.after(() => (before === undefined ? delete process.env.USAGE_AGENT_NODE_PACKAGE : (process.env.USAGE_AGENT_NODE_PACKAGE = before)));
  assert.throws(
    () => fetchNodeRuntime(join(dir, 'work'), () => {}),
    new RegExp(`${tgz.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a node-linux-\\* package`),
  );
});
