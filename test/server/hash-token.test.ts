/**
 * Admin tokens given in the config as their SHA-256 (`usage-server hash-token`): the token works,
 * its hash does not, a malformed hash is a config error naming the key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SERVER_CLI, startServer } from '../helpers/server.js';

const hashToken = (args: string[], input?: string) => spawnSync(process.execPath, [SERVER_CLI, 'hash-token', ...args], { input, encoding: 'utf8' });

test('usage-server hash-token: sha256:<hex> of the token from stdin or the argument; the server accepts the token for a hashed entry, not the hash', async (t) => {
  const hashed = 'hashed-admin-token-0123456789';
  const plain = 'plain-admin-token-0123456789';
  const fromStdin = hashToken([], `${hashed}\n`);
  assert.equal(fromStdin.status, 0, fromStdin.stderr);
  const expected = `sha256:${createHash('sha256').update(hashed).digest('hex')}`;
  assert.equal(fromStdin.stdout, `${expected}\n`);
  assert.equal(hashToken([hashed]).stdout, `${expected}\n`, 'the argument gives the same');
  assert.equal(hashToken(['short']).status, 2, 'a token under 16 characters is refused');

  const srv = await startServer({ config: { reports: { adminTokens: [expected, plain] } } });
  t.after(() => srv.cleanup());
  const path = '/v1/reports/usage/log?from=2024-05-01&to=2024-05-02';
  assert.equal((await srv.request('GET', path, { token: hashed })).status, 200, 'the token of a hashed entry');
  assert.equal((await srv.request('GET', path, { token: plain })).status, 200, 'a plain entry still works');
  assert.equal((await srv.request('GET', path, { token: expected })).status, 401, 'the hash itself is no token');
  assert.equal((await srv.request('GET', path, { token: 'wrong-admin-token-0123456789' })).status, 401);
  assert.doesNotMatch(srv.output(), new RegExp(hashed), 'the token is in no log line');

  const dir = mkdtempSync(join(tmpdir(), 'hash-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'server.json');
  writeFileSync(bad, JSON.stringify({ db: join(dir, 'u.db'), reports: { adminTokens: ['sha256:ABCDEF0123456789'] } }));
  const r = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', bad], { encoding: 'utf8' });
  assert.equal(r.status, 78);
  assert.ok(r.stderr.includes(`${bad}: reports.adminTokens[0]: a hashed admin token is sha256: and 64 lower-case hex digits`), r.stderr);
});
