/**
 * Seeded fuzzer for both config loaders: the shipped agent example and a full server config,
 * mutated (keys dropped, retyped, hostile values, unknown keys), random JSON, and bytes that are not
 * JSON. A file either loads or fails with the loader's ConfigError naming the file (and, for the
 * agent, a key path); never another exception. A sample goes through `usage-server check-config`
 * too: exit 0 or 78, and the error names the file. FUZZ_SEED / FUZZ_CASES replay or lengthen it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { ConfigError as ServerConfigError, loadServerConfig } from '../../src/server/config.js';
import { tempDir } from '../helpers/cli.js';
import { fuzzCases, fuzzSeed, mutate, randomJson, Rng } from '../helpers/fuzz.js';
import { SERVER_CLI } from '../helpers/server.js';

const AGENT_EXAMPLE = JSON.parse(readFileSync(join(process.cwd(), 'config', 'agent.example.json'), 'utf8')) as unknown;
const SERVER_EXAMPLE = {
  listen: { host: '127.0.0.1', port: 8470 },
  db: '/var/lib/usage-server/usage.db',
  postgres: { poolSize: 10 },
  trustProxy: false,
  enrollment: { secrets: ['a-long-random-enrollment-secret'], rateLimit: { enabled: true, burst: 60, perMinute: 60 } },
  leases: { ttlSeconds: 900, sweepIntervalSeconds: 5, restartGraceSeconds: 60 },
  queue: { keepaliveSeconds: 60, maxWaitSeconds: 30 },
  limits: { bodyLimitBytes: 5242880, maxRecordsPerBatch: 5000 },
  reports: { adminTokens: ['a-long-random-admin-token'] },
  metrics: { enabled: true },
  log: { level: 'info' },
  products: [
    {
      id: 'autocad',
      name: 'AutoCAD',
      licenseType: 'floating',
      seats: 10,
      match: { executables: ['acad.exe'], paths: ['C:/Program Files/Autodesk/**'] },
      leaseTtlSeconds: 900,
      graceSeconds: 900,
      offline: 'allow',
      onDeny: 'notify',
      queue: true,
      idle: { afterSeconds: 1800, action: 'release' },
    },
    { id: 'site', licenseType: 'site' },
  ],
};

function content(rng: Rng, example: unknown): string | Buffer {
  const k = rng.int(10);
  if (k < 7) return JSON.stringify(mutate(rng, example), null, rng.chance(0.5) ? 2 : undefined);
  if (k === 7) return JSON.stringify(randomJson(rng, 4));
  if (k === 8) return JSON.stringify(example).slice(0, rng.int(200));
  return rng.bytes(rng.int(300));
}

test('agent config fuzz: loads, or a ConfigError naming the file and key', (t) => {
  const seed = fuzzSeed('agent-config');
  const rng = new Rng(seed);
  const file = join(tempDir(t), 'agent.json');
  let ok = 0;
  let refused = 0;
  for (let i = 0, n = fuzzCases(3000); i < n; i++) {
    const text = content(rng, AGENT_EXAMPLE);
    writeFileSync(file, text);
    try {
      loadConfig(file);
      ok++;
    } catch (err) {
      assert.ok(err instanceof ConfigError, `case ${i} (seed ${seed}): ${String(err)} for ${String(text).slice(0, 300)}`);
      assert.equal(err.file, file);
      assert.equal(err.exitCode, 78);
      assert.ok(err.message.includes(file));
      assert.equal(typeof err.keyPath, 'string');
      refused++;
    }
  }
  t.diagnostic(`agent config fuzz seed ${seed}: ${ok} loaded, ${refused} refused`);
  assert.ok(ok > 0 && refused > 0, 'both outcomes reached');
});

test('server config fuzz: loads, or a ConfigError naming the file; check-config exits 0 or 78', (t) => {
  const seed = fuzzSeed('server-config');
  const rng = new Rng(seed);
  const dir = tempDir(t);
  let ok = 0;
  let refused = 0;
  const n = fuzzCases(3000);
  const viaCli = Math.min(n, 25);
  for (let i = 0; i < n; i++) {
    const file = join(dir, `server-${i % 2}.json`);
    const text = content(rng, SERVER_EXAMPLE);
    writeFileSync(file, text);
    let loaded = true;
    try {
      loadServerConfig(file);
      ok++;
    } catch (err) {
      assert.ok(err instanceof ServerConfigError, `case ${i} (seed ${seed}): ${String(err)} for ${String(text).slice(0, 300)}`);
      assert.equal(err.file, file);
      assert.ok(err.message.startsWith(`${file}: `), err.message);
      assert.ok(err.issues.length > 0);
      loaded = false;
      refused++;
    }
    if (i < viaCli) {
      const r = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', file], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, loaded ? 0 : 78, `case ${i}: check-config exit ${r.status}: ${r.stderr}`);
      if (!loaded) assert.ok(r.stderr.includes(file), r.stderr);
    }
  }
  t.diagnostic(`server config fuzz seed ${seed}: ${ok} loaded, ${refused} refused`);
  assert.ok(ok > 0 && refused > 0, 'both outcomes reached');
});
