/**
 * The test set-up step against the real dpkg and apt-get: a missing package is found and
 * installed; without root, or with --check, it is named with the command to run and nothing is
 * installed. GNU `hello` stands in for a missing package (small, no dependencies, not on the
 * machine otherwise); the test removes it before and after.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runnableByAnyUser } from '../helpers/cli.js';
import { missingPackages, TEST_PACKAGES } from './packages.js';

const SETUP = join(dirname(fileURLToPath(import.meta.url)), 'packages.js');
const PROBE = 'hello';
const removeProbe = () => spawnSync('dpkg', ['--purge', PROBE], { stdio: 'ignore' });
/** The step imports node's modules only: a copy runs as any user. */
const shared = runnableByAnyUser(SETUP);
const setup = (args: string[], asUser?: string) =>
  spawnSync(
    asUser ? 'setpriv' : process.execPath,
    asUser ? ['--reuid', asUser, '--regid', 'nogroup', '--clear-groups', process.execPath, shared, ...args] : [SETUP, ...args],
    {
      encoding: 'utf8',
      timeout: 300_000,
    },
  );

test('missingPackages tells an installed package from a missing one', () => {
  assert.deepEqual(missingPackages(['dpkg', 'usage-agent-no-such-package']), ['usage-agent-no-such-package']);
  assert.ok(Object.keys(TEST_PACKAGES).includes('postgresql'));
});

test('a missing package is named and not installed without root, or with --check', () => {
  removeProbe();
  const check = setup(['--check', '--packages', `dpkg,${PROBE}`]);
  assert.equal(check.status, 1, check.stderr);
  assert.match(check.stderr, new RegExp(`missing: ${PROBE}; install them with: apt-get update && apt-get install -y --no-install-recommends ${PROBE}`));
  const nobody = setup(['--packages', PROBE], 'nobody');
  assert.equal(nobody.status, 1, nobody.stderr);
  assert.match(nobody.stderr, new RegExp(`missing: ${PROBE}; as root, run: apt-get update`));
  assert.deepEqual(missingPackages([PROBE]), [PROBE]);
});

test('as root, a missing package is installed, and a present one left alone', (t) => {
  removeProbe();
  t.after(removeProbe);
  const r = setup(['--packages', `dpkg,${PROBE}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`test setup: installing ${PROBE}\\n`));
  assert.match(r.stdout, new RegExp(`test setup: installed ${PROBE}\\n`));
  assert.deepEqual(missingPackages([PROBE]), []);
  const again = setup(['--packages', `dpkg,${PROBE}`]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, 'test setup: all 2 packages present\n');
});
