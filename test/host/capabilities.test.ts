/** Capabilities from CapEff masks (exact), and from real processes with a reduced set (setpriv). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseCapEff } from '../../src/host/capabilities.js';
import { runnableByAnyUser } from '../helpers/cli.js';

test("CapEff masks: root, none, and the unit's five", () => {
  assert.deepEqual([...parseCapEff('Name:\tnode\nCapEff:\t000001ffffffffff\n')].sort(), [
    'CAP_CHOWN',
    'CAP_DAC_READ_SEARCH',
    'CAP_KILL',
    'CAP_SYS_PACCT',
    'CAP_SYS_PTRACE',
  ]);
  assert.deepEqual([...parseCapEff('CapEff:\t0000000000000000\n')], []);
  // bits 0, 2, 5, 19, 20 = 0x180025
  assert.deepEqual([...parseCapEff('CapInh:\t0000000000000000\nCapEff:\t0000000000180025\n')].sort(), [
    'CAP_CHOWN',
    'CAP_DAC_READ_SEARCH',
    'CAP_KILL',
    'CAP_SYS_PACCT',
    'CAP_SYS_PTRACE',
  ]);
  assert.deepEqual([...parseCapEff('CapEff:\t0000000000000020\n')], ['CAP_KILL']);
  assert.deepEqual([...parseCapEff('no such line')], []);
});

test('a process given only some capabilities (as a non-root user, ambient) sees exactly those', (t) => {
  // The module imports node's own modules only: a copy runs as any user.
  const module = runnableByAnyUser(fileURLToPath(new URL('../../src/host/capabilities.js', import.meta.url)), t);
  const code =
    "import('" +
    module +
    "').then((m) => console.log(['CAP_CHOWN','CAP_KILL','CAP_SYS_PACCT','CAP_SYS_PTRACE','CAP_DAC_READ_SEARCH'].filter((c) => m.hasCapability(c)).join(',')))";
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=+kill,+sys_pacct',
      '--ambient-caps=+kill,+sys_pacct',
      process.execPath,
      '--input-type=module',
      '-e',
      code,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'CAP_KILL,CAP_SYS_PACCT');
  const root = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(root.stdout.trim(), 'CAP_CHOWN,CAP_KILL,CAP_SYS_PACCT,CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH');
});
