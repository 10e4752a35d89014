/**
 * End to end through the real CLI (`usage-agent run`, `records`, `status`) with real processes and
 * real kernel accounting (root; `accton` from the acct package). Each test switches accounting off
 * in cleanup. Tolerances are stated next to each assertion.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../helpers/agent.js';
import { runAgentCli, tempDir } from '../../helpers/cli.js';
import { writeFileSync } from 'node:fs';

const MB = 1024 * 1024;

function run(cmd: string, args: string[]): Promise<{ pid: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => resolve({ pid: c.pid!, code }));
  });
}

/** A copy of /bin/sh with a unique name, so its records are recognisable by command. */
function markerShell(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ua-marker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  copyFileSync('/bin/sh', path);
  spawnSync('chmod', ['755', path]);
  return path;
}

async function burst(shell: string, n: number, parallel = 20): Promise<Map<number, number>> {
  const codes = new Map<number, number>(); // pid -> expected exit code
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await run(shell, ['-c', `exit ${i % 4}`]);
      codes.set(r.pid, i % 4);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return codes;
}

const isRoot = process.getuid?.() === 0;

test('real processes through `usage-agent run` with pacct auto: CPU, wall time, RSS, exit code, 200-process burst', { timeout: 120_000 }, async (t) => {
  assert.ok(isRoot, 'this test runs as root (kernel accounting); CI runs the suite as root');
  const agent = await startAgent(t, { processes: { sampleIntervalMs: 250, pacct: 'auto' } });
  const marker = `uaBurst${process.pid % 10000}`;
  const shell = markerShell(t, marker);
  const [burner, sleeper, holder, three, codes] = await Promise.all([
    run(process.execPath, ['-e', 'const s=process.cpuUsage();for(;;){const u=process.cpuUsage(s);if(u.user+u.system>=1e6)break}']),
    run('sleep', ['1.5']),
    run(process.execPath, ['-e', `const b=Buffer.alloc(${200 * MB},1);setTimeout(()=>b[0],2500)`]),
    run('sh', ['-c', 'sleep 0.7; exit 3']),
    burst(shell, 200),
  ]);
  assert.equal(three.code, 3);
  const pids = [burner.pid, sleeper.pid, holder.pid, three.pid];
  const recs = await agent.waitFor(
    (rs) => pids.every((pid) => rs.some((r) => r.type === 'process' && r.pid === pid)) && rs.filter((r) => r.command === marker).length >= 200,
    30_000,
    'the test processes',
  );
  const byPid = (pid: number) =>
    recs.filter((r) => r.type === 'process' && r.pid === pid && (r.start as string) >= new Date(Date.now() - 120_000).toISOString());
  const one = (pid: number) => {
    const found = byPid(pid);
    assert.equal(found.length, 1, `exactly one record for pid ${pid}`);
    return found[0]! as Record<string, any>;
  };
  const b = one(burner.pid);
  // 1.0 s of CPU measured by the burner itself, plus Node start-up: accept 0.95 .. 1.6 s
  const cpu = b.cpuUserSeconds + b.cpuSystemSeconds;
  assert.ok(cpu >= 0.95 && cpu <= 1.6, `burner cpu ${cpu}`);
  assert.equal(b.exitCode, 0, `burner record ${JSON.stringify(b)}`);
  const s = one(sleeper.pid);
  // sleep 1.5: elapsed within 1.45 .. 1.8 s; CPU under 0.1 s
  assert.ok(s.elapsedSeconds >= 1.45 && s.elapsedSeconds <= 1.8, `sleeper elapsed ${s.elapsedSeconds}`);
  assert.ok(s.cpuUserSeconds + s.cpuSystemSeconds < 0.1);
  assert.equal(s.source, 'both'); // sampled (1.5 s > 250 ms) and in pacct
  assert.equal(s.command, 'sleep');
  assert.equal(s.exe, '/usr/bin/sleep');
  assert.equal(s.user, 'root');
  assert.equal(s.uid, 0);
  const h = one(holder.pid);
  // 200 MiB touched + Node's own ~40-80 MiB: max RSS in 200 .. 330 MiB; the average over the
  // sampled life at least 150 MiB (it holds the buffer for 2.5 s of its ~2.7 s)
  assert.ok(h.maxRssBytes >= 200 * MB && h.maxRssBytes <= 330 * MB, `max rss ${h.maxRssBytes / MB} MiB`);
  assert.ok(h.avgRssBytes >= 150 * MB && h.avgRssBytes <= h.maxRssBytes, `avg rss ${h.avgRssBytes / MB} MiB`);
  assert.ok(h.avgVirtualBytes >= h.avgRssBytes);
  const e3 = one(three.pid);
  assert.equal(e3.exitCode, 3);
  assert.equal(e3.source, 'both');
  // The burst: every one of the 200 appears exactly once, with its exit code.
  const burstRecs = recs.filter((r) => r.command === marker) as Array<Record<string, any>>;
  const perPid = new Map<number, Array<Record<string, any>>>();
  for (const r of burstRecs) perPid.set(r.pid, [...(perPid.get(r.pid) ?? []), r]);
  const dups = [...perPid.values()].filter((v) => v.length > 1);
  assert.deepEqual(dups, [], 'no burst process twice');
  assert.equal(burstRecs.length, 200);
  for (const r of burstRecs) {
    assert.equal(codes.get(r.pid), r.exitCode, `exit code of pid ${r.pid}`);
    assert.ok(['pacct', 'both', 'ps'].includes(r.source));
    assert.ok(r.source !== 'ps', 'pacct is on: every burst process has its exit code from pacct');
  }
  assert.equal(new Set(burstRecs.map((r) => r.pid)).size, 200);
  // Field order is the documented one.
  const keys = Object.keys(agent.records({ type: 'process' }).find((r) => r.pid === sleeper.pid)!);
  assert.deepEqual(keys, [
    'type',
    'seq',
    'host',
    'user',
    'uid',
    'group',
    'gid',
    'pid',
    'ppid',
    'command',
    'exe',
    'start',
    'end',
    'elapsedSeconds',
    'cpuUserSeconds',
    'cpuSystemSeconds',
    'avgRssBytes',
    'maxRssBytes',
    'avgVirtualBytes',
    'readBytes',
    'writeBytes',
    'exitCode',
    'source',
    'time',
  ]);
  // status shows the sampler and pacct state
  // status.json is rewritten every 5 s: wait for one written after the burst was read
  let ps: Record<string, any> = {};
  for (let i = 0; i < 80; i++) {
    ps = agent.status().daemon?.components?.processes ?? {};
    if (ps.pacct?.recordsRead >= 200) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(ps.sampler, 'procfs');
  assert.equal(ps.pacct.mode, 'auto');
  assert.equal(ps.pacct.file, join(agent.dataDir, 'pacct'));
  assert.equal(ps.pacct.ownedByAgent, true);
  assert.ok(ps.pacct.recordsRead >= 200);
  // A clean stop switches accounting off again: the file stops growing.
  assert.equal(await agent.stop(), 0, `agent exit; stderr: ${agent.stderr()}`);
  const size = () => Number(spawnSync('stat', ['-c', '%s', join(agent.dataDir, 'pacct')], { encoding: 'utf8' }).stdout);
  const before = size();
  await run('true', []);
  assert.equal(size(), before, 'accounting switched off on clean stop');
});

test('kill -9 during a 200-process burst, repeated: seq contiguous, no duplicates, every process once', { timeout: 180_000 }, async (t) => {
  assert.ok(isRoot, 'runs as root (kernel accounting)');
  const agent = await startAgent(t, { processes: { sampleIntervalMs: 100, pacct: 'auto' }, journal: { flushIntervalMs: 20 } });
  const marker = `uaKill${process.pid % 10000}`;
  const shell = markerShell(t, marker);
  let total = 0;
  for (let round = 0; round < 4; round++) {
    const b = burst(shell, 200, 10);
    await new Promise((r) => setTimeout(r, 150 + round * 100));
    await agent.kill9(); // mid-burst, mid-flush
    await b;
    total += 200;
    await agent.restart(); // adopts the accounting file left on, resumes from its cursor
  }
  const recs = await agent.waitFor((rs) => rs.filter((r) => r.command === marker).length >= total, 30_000, 'all burst records');
  await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up by now
  assert.equal(await agent.stop(), 0);
  const all = agent.journalRecords();
  assert.ok(all.length >= recs.length);
  all.forEach((r, i) => assert.equal(r.seq, i + 1, 'seq contiguous from 1'));
  const burstRecs = all.filter((r) => r.command === marker);
  const keys = burstRecs.map((r) => `${r.pid}/${r.start}`);
  assert.equal(new Set(keys).size, keys.length, 'no process counted twice');
  assert.equal(burstRecs.length, total, 'no process lost');
  const ids = all.filter((r) => r.type === 'process').map((r) => `${r.pid}/${r.start}/${r.command}`);
  assert.equal(new Set(ids).size, ids.length, 'no process record duplicated at all');
});

test('bad processes.* configuration exits 78 naming the key', (t) => {
  const dir = tempDir(t);
  const cases: Array<[unknown, string]> = [
    [{ processes: { pacct: 'var/pacct' } }, 'processes.pacct'],
    [{ processes: { sampler: 'ps' } }, 'processes.sampler'],
    [{ processes: { sampleIntervalMs: 'fast' } }, 'processes.sampleIntervalMs'],
    [{ processes: { sampleIntervalMs: 10 } }, 'processes.sampleIntervalMs'],
    [{ processes: { pacctRotateBytes: 100 } }, 'processes.pacctRotateBytes'],
    [{ processes: { recordCommandLine: 'yes' } }, 'processes.recordCommandLine'],
    [{ processes: { enabled: 1 } }, 'processes.enabled'],
    [{ processes: { pacctFile: '/x' } }, 'processes.pacctFile'],
    [{ leases: { launchPollMs: 0 } }, 'leases.launchPollMs'],
  ];
  for (const [cfg, key] of cases) {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify(cfg));
    const r = runAgentCli(['run', '--config', file, '--data-dir', join(dir, 'data')]);
    assert.equal(r.code, 78, `${JSON.stringify(cfg)}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`"${key}"`), `names ${key}: ${r.stderr}`);
  }
});
