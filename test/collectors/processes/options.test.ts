/**
 * Real processes through `usage-agent run` for two options: `recordCommandLine` (arguments appear
 * only when it is on: a privacy test that also scans the journal files' bytes) and the rotation of
 * the agent's own pacct file at `pacctRotateBytes` (no record lost or counted twice across
 * rotations, including the accton process whose record the kernel writes into both files).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../helpers/agent.js';

function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => resolve(code));
  });
}

function markerShell(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ua-marker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  copyFileSync('/bin/sh', path);
  chmodSync(path, 0o755);
  return path;
}

for (const on of [false, true]) {
  test(`recordCommandLine ${on}: arguments ${on ? 'recorded' : 'never stored anywhere'}`, { timeout: 60_000 }, async (t) => {
    const agent = await startAgent(t, { processes: { sampleIntervalMs: 100, pacct: 'off', recordCommandLine: on } });
    const marker = `uaArgs${on ? 'On' : 'Off'}${process.pid % 10000}`;
    const shell = markerShell(t, marker);
    const secret = `s3cret-${process.pid}-${Date.now()}`;
    assert.equal(await run(shell, ['-c', `sleep 0.6; : ${secret}`]), 0);
    const recs = await agent.waitFor((rs) => rs.some((r) => r.type === 'process' && r.command === marker), 20_000, 'the marker record');
    const rec = recs.find((r) => r.type === 'process' && r.command === marker)!;
    assert.equal(await agent.stop(), 0);
    if (on) {
      assert.equal(rec.commandLine, `${shell} -c sleep 0.6; : ${secret}`);
      const cli = agent.records({ type: 'process' }).find((r) => r.command === marker)!;
      assert.deepEqual(Object.keys(cli).slice(-3), ['source', 'commandLine', 'time'], 'documented order: commandLine after source, time last');
    } else {
      assert.equal('commandLine' in rec, false, 'no commandLine field at all');
      // nothing the agent wrote holds the argument: journal, WAL, status file
      for (const f of readdirSync(agent.dataDir, { withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => e.name)) {
        const bytes = readFileSync(join(agent.dataDir, f));
        assert.equal(bytes.includes(secret), false, `${f} does not contain the argument`);
      }
      const cli = agent.records({ type: 'process' });
      assert.ok(cli.some((r) => r.command === marker));
      assert.equal(JSON.stringify(cli).includes(secret), false);
    }
  });
}

test('own pacct file rotated at pacctRotateBytes (64 KiB) under a 2,400-process burst: none lost, none twice', { timeout: 180_000 }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'runs as root (kernel accounting)');
  const agent = await startAgent(t, { processes: { sampleIntervalMs: 200, pacct: 'auto', pacctRotateBytes: 64 * 1024 } });
  const marker = `uaRot${process.pid % 10000}`;
  const shell = markerShell(t, marker);
  const N = 2400; // 2,400 x 64-byte records: at least two rotations of a 64 KiB file
  // one parent shell runs them back to back (fast); exit codes 0..3 in equal numbers
  const loop = `i=0; while [ $i -lt ${N} ]; do ${shell} -c "exit $((i % 4))"; i=$((i + 1)); done`;
  assert.equal(await run('/bin/sh', ['-c', loop]), 0);
  const recs = await agent.waitFor((rs) => rs.filter((r) => r.command === marker).length >= N, 60_000, `${N} marker records`);
  let st: Record<string, any> = {};
  for (let i = 0; i < 60; i++) {
    st = agent.status().daemon?.components?.processes ?? {};
    if (st.pacct?.rotations >= 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show up by now
  assert.equal(await agent.stop(), 0, agent.stderr());
  const all = agent.journalRecords();
  const mine = all.filter((r) => r.type === 'process' && r.command === marker);
  assert.equal(mine.length, N, `exactly ${N} marker records (journal had ${recs.length} at the wait)`);
  const ids = mine.map((r) => `${r.pid}/${r.start}`);
  assert.equal(new Set(ids).size, N, 'no process twice');
  assert.equal(new Set(mine.map((r) => r.pid)).size, N, 'no pid twice');
  const byCode = [0, 1, 2, 3].map((c) => mine.filter((r) => r.exitCode === c).length);
  assert.deepEqual(byCode, [N / 4, N / 4, N / 4, N / 4], 'exit codes from pacct for every one');
  assert.ok(st.pacct.rotations >= 2, `rotations: ${st.pacct.rotations}`);
  assert.equal(st.pacct.ownedByAgent, true);
  // accton (run by each rotation) gets a record in the old file at the switch and one at its exit
  const accton = all.filter((r) => r.type === 'process' && r.command === 'accton').map((r) => r.pid);
  assert.ok(accton.length >= 2, 'the rotations ran accton');
  assert.equal(new Set(accton).size, accton.length, 'each accton process once');
  assert.ok(st.recordsEmitted.duplicatesSuppressed >= 2, `accton's second records suppressed: ${JSON.stringify(st.recordsEmitted)}`);
  all.forEach((r, i) => assert.equal(r.seq, i + 1, 'seq contiguous'));
  spawnSync('true');
});
