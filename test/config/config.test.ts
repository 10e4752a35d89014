import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, EX_CONFIG, loadConfig } from '../../src/config/load.js';
import { runAgentCli, tempDir } from '../helpers/cli.js';
import { makePki } from '../helpers/tls.js';

test('defaults work with no file at all', () => {
  const config = loadConfig(undefined);
  assert.equal(config.journal.flushIntervalMs, 1000);
  assert.equal(config.processes.pacct, 'auto');
  assert.equal(config.processes.recordCommandLine, false);
  assert.equal(config.activity.breakSeconds, 5);
  assert.equal(config.server.url, undefined);
  assert.equal(config.identity.userFormat, 'name');
  assert.equal(config.software.sources, 'auto');
});

test('the shipped example config is valid and every value in it is the default', () => {
  const file = join(process.cwd(), 'config', 'agent.example.json');
  loadConfig(file);
  const defaults = loadConfig(undefined) as unknown as Record<string, unknown>;
  const leaves = (o: Record<string, unknown>, prefix: string[] = []): Array<[string[], unknown]> =>
    Object.entries(o).flatMap(([k, v]) =>
      v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v as Record<string, unknown>, [...prefix, k]) : [[[...prefix, k], v]],
    );
  const example = leaves(JSON.parse(readFileSync(file, 'utf8')));
  assert.ok(example.length >= 10, 'the example lists the common keys');
  for (const [path, value] of example) {
    const def = path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], defaults);
    assert.deepEqual(value, def, `agent.example.json: ${path.join('.')} is ${JSON.stringify(value)}, the default is ${JSON.stringify(def)}`);
  }
});

test("the software collector's sample config is valid and is the defaults", () => {
  const config = loadConfig(join(process.cwd(), 'src', 'collectors', 'software', 'sample.json'));
  assert.deepEqual(config.software, loadConfig(undefined).software);
});

test('overrides win over the file and are validated like it', (t) => {
  const file = join(tempDir(t), 'agent.json');
  writeFileSync(file, JSON.stringify({ dataDir: '/from/file', log: { level: 'warn' } }));
  const config = loadConfig(file, { dataDir: '/from/flag' });
  assert.equal(config.dataDir, '/from/flag');
  assert.equal(config.log.level, 'warn');
  assert.throws(
    () => loadConfig(file, { log: { level: 'loud' } }),
    (err: unknown) => err instanceof ConfigError && err.keyPath === 'log.level',
  );
});

// Each bad file: what it contains, and the key path the error must name ('' = the file itself).
const BAD_CONFIGS: Array<[string, string, string, RegExp]> = [
  ['unknown top-level key', '{"sever": {}}', 'sever', /unknown key/],
  ['unknown nested key', '{"journal": {"flushInterval": 5}}', 'journal.flushInterval', /unknown key/],
  ['wrong type', '{"journal": {"flushIntervalMs": "fast"}}', 'journal.flushIntervalMs', /expected number/],
  ['out of range', '{"journal": {"flushIntervalMs": 5000}}', 'journal.flushIntervalMs', /1000/],
  ['bad enum', '{"log": {"level": "loud"}}', 'log.level', /info/],
  ['relative pacct path', '{"processes": {"pacct": "pacct.log"}}', 'processes.pacct', /\//],
  ['bad url', '{"server": {"url": "not a url"}}', 'server.url', /URL/i],
  ['section of wrong type', '{"processes": []}', 'processes', /object/],
  ['malformed JSON', '{"journal": {', '', /malformed JSON.*line 1/],
  ['not an object', '[1, 2]', '', /JSON object/],
  ['userFormat without a domain', '{"identity": {"userFormat": "DOMAIN\\\\name"}}', 'identity.domain', /required when identity\.userFormat is "DOMAIN\\name"/],
  ['unknown userFormat', '{"identity": {"userFormat": "upn"}}', 'identity.userFormat', /name@realm/],
  ['domain with a backslash', '{"identity": {"userFormat": "DOMAIN\\\\name", "domain": "CORP\\\\X"}}', 'identity.domain', /must not contain/],
  ['software re-check of 0 s', '{"software": {"recheckSeconds": 0}}', 'software.recheckSeconds', />=1/],
  ['relative metrics dir', '{"metrics": {"textfileDir": "prom"}}', 'metrics.textfileDir', /absolute path/],
  ['unknown metrics key', '{"metrics": {"textfile": "/x"}}', 'metrics.textfile', /unknown key/],
];

for (const [name, content, keyPath, message] of BAD_CONFIGS) {
  test(`bad config (${name}): exit 78, names the file and "${keyPath || 'the file'}"`, (t) => {
    const file = join(tempDir(t), 'agent.json');
    writeFileSync(file, content);
    assert.throws(
      () => loadConfig(file),
      (err: unknown) => err instanceof ConfigError && err.keyPath === keyPath && message.test(err.message),
    );
    const r = runAgentCli(['status', '--config', file]);
    assert.equal(r.code, EX_CONFIG, r.stderr);
    assert.match(r.stderr, new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    if (keyPath) assert.match(r.stderr, new RegExp(`"${keyPath.replace('.', '\\.')}"`));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one clear line, no stack trace');
  });
}

test('unreadable and missing files: exit 78 naming the file', (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'missing.json');
  let r = runAgentCli(['run', '--config', missing, '--data-dir', dir]);
  assert.equal(r.code, EX_CONFIG);
  assert.match(r.stderr, /missing\.json.*cannot read file: ENOENT/);
  // Root can read any file whatever its mode, so "unreadable" is shown with a directory.
  r = runAgentCli(['records', '--config', dir]);
  assert.equal(r.code, EX_CONFIG);
  assert.match(r.stderr, /cannot read file: EISDIR/);
});

test('server TLS keys: http:// off loopback is refused (key named) unless allowInsecureHttp; pins and the client cert/key pair are checked', (t) => {
  const file = join(tempDir(t), 'agent.json');
  const load = (server: Record<string, unknown>) => {
    writeFileSync(file, JSON.stringify({ server }));
    return loadConfig(file);
  };
  const refused = (server: Record<string, unknown>, keyPath: string, message: RegExp) =>
    assert.throws(
      () => load(server),
      (err: unknown) => err instanceof ConfigError && err.keyPath === keyPath && message.test(err.message) && err.message.includes(file),
      `${JSON.stringify(server)} is refused at ${keyPath}`,
    );
  refused({ url: 'http://usage.example.com' }, 'server.url', /plain http:\/\/ to usage\.example\.com .*server\.allowInsecureHttp/);
  refused({ urls: ['https://a.example.com', 'http://10.0.0.5:8470'] }, 'server.urls[1]', /plain http:\/\/ to 10\.0\.0\.5/);
  refused({ url: 'ftp://usage.example.com' }, 'server.url', /https:\/\//);
  refused({ url: 'https://a.example.com', pinSha256: ['abc'] }, 'server.pinSha256[0]', /base64 SHA-256/);
  refused({ url: 'https://a.example.com', clientCertFile: '/etc/ssl/agent.pem' }, 'server.clientKeyFile', /go together/);
  for (const ok of ['http://127.0.0.1:8470', 'http://localhost:8470', 'http://[::1]:8470', 'https://usage.example.com'])
    assert.equal(load({ url: ok }).server.url, ok);
  assert.equal(load({ url: 'http://usage.example.com', allowInsecureHttp: true }).server.allowInsecureHttp, true);
  const pins = ['YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg=', 'sRHdihwgkaib1P1gxX8HFszlD+7/gTfNvuAybgLPNis='];
  assert.deepEqual(load({ url: 'https://a.example.com', pinSha256: pins }).server.pinSha256, pins);
});

test('usage-agent run: unreadable TLS files and a client key of another certificate exit 78 naming the key', (t) => {
  const dir = tempDir(t);
  const pki = makePki(t);
  const ca = pki.ca('ca');
  const a = pki.issue(ca, 'a', { client: true });
  const b = pki.issue(ca, 'b', { client: true });
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ caFile: join(dir, 'nope.pem') }, 'server.caFile', /cannot read .*nope\.pem: ENOENT/],
    [{ caFile: a.key }, 'server.caFile', /holds no PEM certificate/],
    [{ clientCertFile: a.cert, clientKeyFile: join(dir, 'nokey.pem') }, 'server.clientKeyFile', /cannot read/],
    [{ clientCertFile: a.cert, clientKeyFile: b.key }, 'server.clientKeyFile', /does not belong to the certificate/],
  ];
  for (const [i, [server, key, message]] of cases.entries()) {
    const file = join(dir, `agent-${i}.json`);
    writeFileSync(file, JSON.stringify({ server: { url: 'https://127.0.0.1:1', ...server } }));
    const r = runAgentCli(['run', '--config', file, '--data-dir', join(dir, `data-${i}`)]);
    assert.equal(r.code, EX_CONFIG, r.stderr);
    assert.ok(r.stderr.includes(`config error in ${file} at "${key}"`), r.stderr);
    assert.match(r.stderr, message);
  }
});
