/**
 * server.enrollSecretFile: the enrollment secret read from a file (systemd LoadCredential's
 * $CREDENTIALS_DIRECTORY), found afterwards in no log line, no file of the data directory and no
 * upload; a missing or empty file, or both keys at once, is a config error naming the key.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, EX_CONFIG, enrollSecretOf, expandCredentialsPath, loadConfig } from '../../src/config/load.js';
import { startAgent } from '../helpers/agent.js';
import { runAgentCli } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'enroll-secret-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('$CREDENTIALS_DIRECTORY in server.enrollSecretFile comes from the environment; missing, empty, unset directory and both keys are config errors naming the key', (t) => {
  const dir = tmp(t);
  assert.equal(
    expandCredentialsPath('${CREDENTIALS_DIRECTORY}/enroll-secret', { CREDENTIALS_DIRECTORY: '/run/credentials/usage-agent.service' }),
    '/run/credentials/usage-agent.service/enroll-secret',
  );
  assert.equal(expandCredentialsPath('$CREDENTIALS_DIRECTORY/enroll-secret', { CREDENTIALS_DIRECTORY: '/c' }), '/c/enroll-secret');
  assert.equal(expandCredentialsPath('/etc/usage-agent/enroll-secret', {}), '/etc/usage-agent/enroll-secret');
  assert.equal(expandCredentialsPath('$CREDENTIALS_DIRECTORYX/a', {}), '$CREDENTIALS_DIRECTORYX/a');
  writeFileSync(join(dir, 'enroll-secret'), 'the-secret-from-a-file\nsecond line ignored\n');
  writeFileSync(join(dir, 'empty'), '\n');
  const file = join(dir, 'agent.json');
  const cfg = (server: Record<string, unknown>) => {
    writeFileSync(file, JSON.stringify({ server: { url: 'http://127.0.0.1:1', ...server } }));
    return loadConfig(file);
  };
  assert.equal(
    enrollSecretOf(cfg({ enrollSecretFile: '${CREDENTIALS_DIRECTORY}/enroll-secret' }), file, { CREDENTIALS_DIRECTORY: dir }),
    'the-secret-from-a-file',
  );
  assert.equal(enrollSecretOf(cfg({ enrollSecret: 'inline-secret' }), file, {}), 'inline-secret');
  const refused = (server: Record<string, unknown>, env: NodeJS.ProcessEnv, message: RegExp) =>
    assert.throws(
      () => enrollSecretOf(cfg(server), file, env),
      (e: unknown) =>
        e instanceof ConfigError && e.keyPath === 'server.enrollSecretFile' && message.test(e.message) && !e.message.includes('the-secret-from-a-file'),
    );
  refused({ enrollSecretFile: join(dir, 'nope') }, {}, /cannot read .*nope: ENOENT/);
  refused({ enrollSecretFile: join(dir, 'empty') }, {}, /is empty/);
  refused({ enrollSecretFile: '${CREDENTIALS_DIRECTORY}/enroll-secret' }, {}, /CREDENTIALS_DIRECTORY is not set/);
  assert.throws(
    () => cfg({ enrollSecret: 'x', enrollSecretFile: '/etc/x' }),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'server.enrollSecretFile',
  );
  // usage-agent run: exit 78.
  writeFileSync(file, JSON.stringify({ server: { url: 'http://127.0.0.1:1', enrollSecretFile: join(dir, 'nope') } }));
  const r = runAgentCli(['run', '--config', file, '--data-dir', join(dir, 'data')]);
  assert.equal(r.code, EX_CONFIG);
  assert.ok(r.stderr.includes(`at "server.enrollSecretFile"`), r.stderr);
});

test('an agent enrolls with the secret from server.enrollSecretFile; the secret is in no log, no data-dir file and no upload', async (t) => {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const dir = tmp(t);
  const secretFile = join(dir, 'enroll-secret');
  writeFileSync(secretFile, `${TEST_ENROLL_SECRET}\n`, { mode: 0o600 });
  const agent = await startAgent(
    t,
    {
      processes: { sampler: 'procfs', pacct: 'off', sampleIntervalMs: 500 },
      activity: { enabled: false },
      software: { enabled: false },
      log: { level: 'debug' },
      server: { url: srv.url, enrollSecretFile: secretFile, uploadIntervalMs: 200, requestTimeoutMs: 3000 },
    },
    { captureLog: true },
  );
  const until = Date.now() + 30_000;
  // Process records come from processes that end: run one that outlives a sample (pacct is off),
  // so the test does not depend on what else happens to run on the machine.
  while (srv.query<{ n: number }>('SELECT count(*) AS n FROM process_records')[0]!.n === 0 && Date.now() < until) {
    await new Promise((r) => spawn('sleep', ['0.8'], { stdio: 'ignore' }).once('exit', r));
  }
  const agents = srv.query<{ id: string }>('SELECT id FROM agents');
  assert.equal(agents.length, 1, 'enrolled with the secret from the file');
  assert.ok(srv.query<{ n: number }>('SELECT count(*) AS n FROM process_records')[0]!.n > 0, 'and uploads');
  assert.equal(await agent.stop(), 0);
  const secret = TEST_ENROLL_SECRET;
  assert.ok(!agent.stdout().includes(secret) && !agent.stderr().includes(secret), 'not in the agent log (debug level)');
  assert.ok(agent.stdout().length > 0, 'the agent did log');
  for (const f of readdirSync(agent.dataDir)) {
    const bytes = readFileSync(join(agent.dataDir, f));
    assert.equal(bytes.includes(Buffer.from(secret)), false, `not in ${f}`);
  }
  for (const table of ['process_records', 'other_records', 'usage_events']) {
    const rows = srv.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
    assert.equal(JSON.stringify(rows).includes(secret), false, `not uploaded (${table})`);
  }
  assert.equal(srv.output().includes(secret), false, 'not in the server log');
});
