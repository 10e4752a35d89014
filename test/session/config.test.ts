import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveSessionConfig } from '../../src/session/config.js';
import { runAgentCli, tempDir } from '../helpers/cli.js';

// The session command resolves its configuration in a short-lived child process (to keep zod out of the
// resident process); it must behave exactly like every other command.
test('usage-agent session: a bad config file exits 78 with the key path, like every command', (t) => {
  const dir = tempDir(t, 'ua-session-config-');
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ activity: { breakSeconds: -1 } }));
  const r = runAgentCli(['session', '--config', file, '--data-dir', dir]);
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /config error in .*config\.json at "activity\.breakSeconds"/);
  writeFileSync(file, JSON.stringify({ activity: { breakSecs: 5 } }));
  const u = runAgentCli(['session', '--config', file, '--data-dir', dir]);
  assert.equal(u.code, 78, u.stderr);
  assert.match(u.stderr, /at "activity\.breakSecs": unknown key/);
});

test('resolveSessionConfig (child process) returns the validated config with defaults and flag overrides', async (t) => {
  const dir = tempDir(t, 'ua-session-config-');
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ activity: { breakSeconds: 2 }, session: { socketPath: '/run/x/agent.sock' } }));
  const { config, dataDir } = await resolveSessionConfig({ config: file, dataDir: join(dir, 'd'), logLevel: 'debug' });
  assert.equal(dataDir, join(dir, 'd'));
  assert.equal(config.activity.breakSeconds, 2);
  assert.equal(config.activity.microBreakMaxSeconds, 60);
  assert.equal(config.session.socketPath, '/run/x/agent.sock');
  assert.equal(config.log.level, 'debug');
});
