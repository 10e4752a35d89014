/**
 * The agent's decoding of a real kernel accounting file agrees with GNU acct's `dump-acct` and
 * `lastcomm` field by field. Accounting is switched on into a temp file for a few commands
 * (exit codes 0-3, a killed one, a CPU burner) and off again in cleanup.
 * Tolerances: times agree to the printed precision (0.01 tick / 0.01 s), everything else exactly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ACCT_V3_SIZE, AHZ, decodeAcctV3, type PacctRecord } from '../../../src/collectors/pacct/decode.js';
import { PasswdNames } from '../../../src/identity/files.js';
import { tempDir } from '../../helpers/cli.js';

test('decoder agrees with dump-acct and lastcomm on a real pacct file', (t) => {
  assert.equal(process.getuid?.(), 0, 'runs as root (accton)');
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, '');
  t.after(() => void spawnSync('accton', ['off'], { stdio: 'ignore' }));
  execFileSync('accton', [file], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 20; i++) spawnSync('sh', ['-c', `exit ${i % 4}`]);
    spawnSync('sh', ['-c', 'kill -TERM $$']);
    spawnSync(process.execPath, ['-e', 'const s=Date.now();while(Date.now()-s<300);']);
    spawnSync('sleep', ['0.2']);
  } finally {
    execFileSync('accton', ['off'], { stdio: 'ignore' });
  }
  const buf = readFileSync(file);
  const ours: PacctRecord[] = [];
  for (let off = 0; off + ACCT_V3_SIZE <= buf.length; off += ACCT_V3_SIZE) ours.push(decodeAcctV3(buf, off)!);
  assert.ok(ours.length >= 23, `records: ${ours.length}`);

  // dump-acct: comm|version|utime|stime|etime|uid|gid|mem|io|pid|ppid|flags|exitcode|tty|btime
  const dump = execFileSync('dump-acct', [file], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(dump.length, ours.length);
  const flagStr = (r: PacctRecord) => `${r.forked ? 'F' : ''}${r.superuser ? 'S' : ''}${r.coreDumped ? 'C' : ''}${r.killed ? 'X' : ''}`;
  dump.forEach((line, i) => {
    const f = line.split('|').map((x) => x.trim());
    const r = ours[i]!;
    assert.equal(f[0], r.command, `comm #${i}`);
    assert.equal(f[1], 'v3');
    assert.equal(Number(f[2]), Math.round(r.cpuUserSeconds * AHZ * 100) / 100, `utime #${i}`);
    assert.equal(Number(f[3]), Math.round(r.cpuSystemSeconds * AHZ * 100) / 100, `stime #${i}`);
    assert.ok(Math.abs(Number(f[4]) - r.elapsedSeconds * AHZ) <= 0.01, `etime #${i}: ${f[4]} vs ${r.elapsedSeconds * AHZ}`);
    assert.equal(Number(f[5]), r.uid);
    assert.equal(Number(f[6]), r.gid);
    assert.equal(Number(f[7]), r.memBytes / 1024, `mem #${i}`);
    assert.equal(Number(f[9]), r.pid);
    assert.equal(Number(f[10]), r.ppid);
    assert.equal(f[11]!.split('').sort().join(''), flagStr(r).split('').sort().join(''), `flags #${i}`);
    // dump-acct prints the wait status >> 8: the exit code, or 0 for a signal death
    assert.equal(Number(f[12]), r.exitCode ?? r.rawExitCode >> 8, `exit #${i}`);
    assert.equal(new Date(f[14]!).getTime() / 1000, r.btime, `btime #${i}`);
  });
  const exits = ours.filter((r) => r.command === 'sh').map((r) => r.exitCode);
  assert.deepEqual(
    exits.slice(0, 20),
    Array.from({ length: 20 }, (_, i) => i % 4),
  );
  const killed = ours.filter((r) => r.command === 'sh')[20]!;
  assert.equal(killed.signal, 15);
  assert.equal(killed.exitCode, null);
  const burner = ours.find((r) => r.command === 'node')!;
  assert.ok(burner.cpuUserSeconds + burner.cpuSystemSeconds >= 0.25, 'the burner used >= 0.25 s CPU');

  // lastcomm (newest first): command, flags, user, tty, cpu secs, date, pid, ppid
  const names = new PasswdNames();
  const lc = execFileSync('lastcomm', ['--pid', '-f', file], { encoding: 'utf8' }).trim().split('\n').reverse();
  assert.equal(lc.length, ours.length);
  lc.forEach((line, i) => {
    const r = ours[i]!;
    assert.equal(line.slice(0, 16).trim(), r.command, `lastcomm command #${i}`);
    assert.equal(line.slice(16, 23).replace(/\s/g, '').split('').sort().join(''), flagStr(r).split('').sort().join(''), `lastcomm flags #${i}`);
    const rest = line.slice(23).trim().split(/\s+/);
    assert.equal(rest[0], names.user(r.uid) ?? String(r.uid));
    const secs = Number(rest[2]);
    assert.ok(Math.abs(secs - (r.cpuUserSeconds + r.cpuSystemSeconds)) <= 0.01, `lastcomm cpu #${i}: ${secs}`);
    assert.equal(Number(rest[rest.length - 2]), r.pid);
    assert.equal(Number(rest[rest.length - 1]), r.ppid);
  });
});
