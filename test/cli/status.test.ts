/**
 * `usage-agent status` answers "is it working?" in its first lines, with the exit status monitoring
 * reads (0 healthy, 1 a problem, 3 not running): a real daemon (`usage-agent run`), a real
 * usage-server, real kernel accounting (as root, with `accton` from the acct package, like the
 * processes e2e tests).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, type TestAgent } from '../helpers/agent.js';
import { runAgentCli, tempDir, type CliResult } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

const PRODUCTS = [{ id: 'cad', seats: 2, match: { executables: ['ua-status-cad'], paths: [] } }];

function status(agent: TestAgent, ...extra: string[]): CliResult {
  return runAgentCli(['status', '--config', agent.configPath, '--data-dir', agent.dataDir, ...extra]);
}

/** The capability line of a status summary: `  name  state  summary`. */
function line(text: string, capability: string): string {
  const l = text.split('\n').find((x) => x.trimStart().startsWith(`${capability} `));
  assert.ok(l, `no ${capability} line in:\n${text}`);
  return l;
}

async function until(what: string, fn: () => CliResult, pred: (r: CliResult) => boolean, timeoutMs = 30_000): Promise<CliResult> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = fn();
    if (pred(r)) return r;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last status (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

test('healthy daemon: exit 0 and OK first; server gone: exit 1 and the server line says why and what to do; stopped: exit 3', {
  timeout: 120_000,
}, async (t) => {
  const srv = await startServer({ products: PRODUCTS });
  t.after(() => srv.cleanup());
  const agent = await startAgent(t, {
    processes: { sampleIntervalMs: 200, pacct: 'auto' },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 200 },
  });

  const ok = await until(
    'a healthy status after an upload',
    () => status(agent),
    (r) => r.code === 0 && /last upload \d/.test(r.stdout),
  );
  const lines = ok.stdout.split('\n');
  assert.match(lines[0]!, /^usage-agent: OK; backlog \d+ records, last upload \d{4}-\d\d-\d\dT/);
  for (const cap of ['daemon', 'processes', 'pacct', 'sessions', 'server', 'enforcement']) assert.match(line(ok.stdout, cap), /\s ok\s/, cap);
  assert.match(line(ok.stdout, 'daemon'), new RegExp(`running \\(pid ${agent.child.pid}`));
  assert.match(line(ok.stdout, 'server'), new RegExp(`${srv.url.replace(/[.:/]/g, '\\$&')}: connected`));
  assert.match(line(ok.stdout, 'enforcement'), /1 products in policy/);
  assert.ok(lines.length <= 10, `a few lines at a glance, not ${lines.length}`);
  assert.doesNotMatch(ok.stdout, /samplesTaken|components:/, 'the counters are behind --verbose');

  const verbose = status(agent, '--verbose');
  assert.equal(verbose.code, 0);
  assert.ok(verbose.stdout.startsWith(ok.stdout.split('\n')[0]!), 'verbose starts with the same verdict');
  assert.match(verbose.stdout, /samplesTaken: \d+/);

  const json = status(agent, '--json');
  assert.equal(json.code, 0);
  const s = JSON.parse(json.stdout);
  assert.equal(s.healthy, true);
  assert.equal(s.health.exitCode, 0);
  assert.deepEqual(
    s.health.checks.map((c: { capability: string; state: string }) => [c.capability, c.state]),
    [
      ['daemon', 'ok'],
      ['processes', 'ok'],
      ['pacct', 'ok'],
      ['sessions', 'ok'],
      ['server', 'ok'],
      ['enforcement', 'ok'],
    ],
  );
  assert.equal(typeof s.daemon.components.uplink.backlogRecords, 'number', 'the full detail stays in --json');

  await srv.stop();
  const down = await until(
    'the server problem',
    () => status(agent),
    (r) => r.code === 1,
  );
  assert.match(down.stdout.split('\n')[0]!, /^usage-agent: PROBLEM \(1\)/);
  const serverLine = line(down.stdout, 'server');
  assert.match(serverLine, /PROBLEM .*offline: .*ECONNREFUSED/);
  const after = down.stdout.split('\n')[down.stdout.split('\n').indexOf(serverLine) + 1]!;
  assert.match(after, /-> check that http:\/\/127\.0\.0\.1:\d+ answers from this machine/);
  assert.match(line(down.stdout, 'pacct'), /\s ok\s/, 'only the server is wrong');
  const downJson = JSON.parse(status(agent, '--json').stdout);
  assert.equal(downJson.health.checks.find((c: { capability: string }) => c.capability === 'server').state, 'problem');

  assert.equal(await agent.stop(), 0);
  const gone = status(agent);
  assert.equal(gone.code, 3, gone.stdout + gone.stderr);
  assert.match(gone.stdout.split('\n')[0]!, /^usage-agent: NOT RUNNING/);
  assert.match(line(gone.stdout, 'daemon'), new RegExp(`PROBLEM +not running \\(no daemon on data dir ${agent.dataDir}\\); \\d+ records wait in the journal`));
  assert.match(gone.stdout.split('\n')[2]!, /-> start it: systemctl start usage-agent/);
  assert.equal(JSON.parse(status(agent, '--json').stdout).health.exitCode, 3);
});

test('pacct taken over by another tool (accton OTHER): exit 1, the pacct line says so and what to do; accounting is left to that tool', {
  timeout: 120_000,
}, async (t) => {
  const agent = await startAgent(t, { processes: { sampleIntervalMs: 200, pacct: 'auto' } });
  const ok = await until(
    'pacct working',
    () => status(agent),
    (r) => r.code === 0 && /pacct +ok +reading .* [1-9]\d* records read/.test(r.stdout),
  );
  assert.match(ok.stdout.split('\n')[0]!, /^usage-agent: OK/);

  const other = join(tempDir(t, 'ua-other-acct-'), 'pacct');
  writeFileSync(other, '');
  t.after(() => void spawnSync('accton', ['off'], { stdio: 'ignore' }));
  assert.equal(spawnSync('accton', [other]).status, 0);
  // Processes the sampler sees exit (they outlive a 200 ms sample) but whose pacct record never comes.
  for (let i = 0; i < 3; i++) spawnSync('sleep', ['0.5']);
  const taken = await until(
    'the pacct problem',
    () => {
      spawnSync('sleep', ['0.5']);
      return status(agent);
    },
    (r) => r.code === 1,
  );
  assert.match(taken.stdout.split('\n')[0]!, /^usage-agent: PROBLEM \(1\)/);
  const pacctLine = line(taken.stdout, 'pacct');
  assert.match(
    pacctLine,
    new RegExp(
      `PROBLEM +kernel accounting no longer writes to ${join(agent.dataDir, 'pacct')} .*another program switched it to a file the agent does not know`,
    ),
  );
  assert.match(taken.stdout, /-> find the program that ran accton .* set processes\.pacct to the file it writes/);
  const s = JSON.parse(status(agent, '--json').stdout);
  assert.equal(s.daemon.components.processes.pacct.accounting.state, 'lost');

  // A clean stop does not switch off accounting it no longer owns.
  assert.equal(await agent.stop(), 0);
  const before = Number(spawnSync('stat', ['-c', '%s', other], { encoding: 'utf8' }).stdout);
  spawnSync('/bin/true');
  const after = Number(spawnSync('stat', ['-c', '%s', other], { encoding: 'utf8' }).stdout);
  assert.ok(after > before, "the other tool's accounting still writes to its file");
  rmSync(other, { force: true });
});
