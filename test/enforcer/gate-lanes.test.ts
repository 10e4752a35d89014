import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { exited, procState, startRig } from './harness.js';

/** Ten gated products, each its own program: launches of all ten at once go through the gate together. */
const LANES = 10;
const exeOf = (i: number) => `lane${i}-${process.pid}`;

test('gate + a granting server, ten gated products launched at once for 20 rounds: every program is continued and does its work', async (t) => {
  const products = Array.from({ length: LANES }, (_, i) => ({
    id: `lane${i}`,
    name: `Lane ${i}`,
    match: { executables: [exeOf(i)], paths: [] },
    seats: 5,
    onDeny: 'terminate',
    queue: false,
    gate: true,
    leaseTtlSeconds: 30,
  }));
  const srv = await startServer({ products });
  t.after(() => srv.cleanup());
  const rig = await startRig(t, srv, { leases: { launchPollMs: 10 } });
  await waitFor(() => rig.uplink.client.policy()?.products.filter((p) => p.gate === true).length === LANES, 'policy with ten gated products');
  const dir = mkdtempSync(join(tmpdir(), 'gate-lanes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (let i = 0; i < LANES; i++) copyFileSync('/bin/sh', join(dir, exeOf(i)));
  const enforcer = rig.components.find((c) => c.name === 'enforcer')!;
  const status = () => enforcer.status!() as { leases: unknown[]; gate: { stopped: number } };
  for (let round = 0; round < 20; round++) {
    // One launcher process starts all ten, as a desktop would: this process (the agent's) does not
    // spend its own turn forking them. Each program's first action comes 0.2 s after its start:
    // ten at once under other load are stopped 10-30 ms after exec (before the enforcer saved
    // its bookkeeping off the event loop, fsyncs in the burst made it 40-110 ms), so every launch
    // goes through the gate; the 50 ms case of one launch at a time is the deny test's.
    const files = Array.from({ length: LANES }, (_, i) => join(dir, `ran-${round}-${i}`));
    const script = files.map((f, i) => `"${join(dir, exeOf(i))}" -c 'sleep 0.2; echo ran > "$0"' "${f}" & p${i}=$!`).join('\n');
    const waits = files.map((_, i) => `wait $p${i}; echo "${i} $?"`).join('\n');
    const launcher = spawn('sh', ['-c', `${script}\n${waits}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    launcher.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    // A program left stopped would hang the round: after 20 s it fails, naming what is stopped
    // (state T) and what the enforcer holds, and the stopped ones are continued and killed.
    let timer: NodeJS.Timeout | undefined;
    const end = await Promise.race([exited(launcher), new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 20_000)))]);
    clearTimeout(timer);
    if (end === 'hung') {
      const ours = (pid: string) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().endsWith(`-${process.pid}`);
        } catch {
          return false;
        }
      };
      const stuck = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && procState(Number(d)) === 'T' && ours(d));
      const held = JSON.stringify(status());
      for (const pid of stuck) for (const sig of ['SIGCONT', 'SIGKILL'] as const) process.kill(Number(pid), sig);
      launcher.kill('SIGKILL');
      assert.fail(`round ${round}: programs still running after 20 s; stopped: ${stuck.join(',') || 'none'}; enforcer: ${held}`);
    }
    assert.deepEqual(end, { code: 0, signal: null }, `round ${round}: launcher`);
    const statuses = out
      .trim()
      .split('\n')
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    assert.deepEqual(
      statuses,
      Array.from({ length: LANES }, (_, i) => `${i} 0`),
      `round ${round}: every program exits 0`,
    );
    files.forEach((f, i) => assert.equal(existsSync(f), true, `round ${round} lane ${i}: the program did its work`));
    await waitFor(() => status().leases.length === 0, `round ${round}: every lease released`);
  }
  assert.ok(status().gate.stopped >= LANES * 20, `stopped ${status().gate.stopped}`);
});
