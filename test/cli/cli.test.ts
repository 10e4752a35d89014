import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { journalPath } from '../../src/config/paths.js';
import { Journal } from '../../src/journal/journal.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { spawnSync } from 'node:child_process';
import { renderText } from '../../src/cli/commands/status.js';
import { AGENT_BIN, runAgentCli, tempDir } from '../helpers/cli.js';

test('--version prints the package version; --help lists the subcommands', () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const v = runAgentCli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), version);
  const h = runAgentCli(['--help']);
  for (const cmd of ['run', 'records', 'status']) assert.match(h.stdout, new RegExp(`\\b${cmd}\\b`));
});

function seedJournal(dataDir: string): void {
  const journal = Journal.open(journalPath(dataDir));
  journal.append({
    type: 'process',
    time: '2026-03-01T10:00:05.000Z',
    host: 'h',
    user: 'alice',
    pid: 10,
    command: 'make',
    start: '2026-03-01T10:00:00.000Z',
    end: '2026-03-01T10:00:05.000Z',
    elapsedSeconds: 5,
    exitCode: 0,
    source: 'both',
  });
  journal.append({
    type: 'break',
    time: '2026-03-02T09:00:07.000Z',
    host: 'h',
    user: 'alice',
    start: '2026-03-02T09:00:00.000Z',
    end: '2026-03-02T09:00:07.000Z',
    durationSeconds: 7,
    breakType: 'microbreak',
  });
  journal.append({ type: 'process', time: '2026-03-03T10:00:00.000Z', host: 'h', user: 'bob', pid: 11, command: 'cc', exitCode: 3, source: 'pacct' });
  journal.close();
}

test('records: jsonl with type and seq first, filtered by type and since', (t) => {
  const dataDir = tempDir(t);
  seedJournal(dataDir);
  const all = runAgentCli(['records', '--data-dir', dataDir]);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l.seq),
    [1, 2, 3],
  );
  assert.deepEqual(Object.keys(lines[0]!).slice(0, 4), ['type', 'seq', 'host', 'user']);
  assert.equal(Object.keys(lines[0]!).at(-1), 'time');
  const processes = runAgentCli(['records', '--data-dir', dataDir, '--type', 'process', '--since', '2026-03-02T00:00:00Z']);
  assert.deepEqual(
    processes.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number }).seq),
    [3],
  );
  const table = runAgentCli(['records', '--data-dir', dataDir, '--format', 'table']);
  assert.match(table.stdout.split('\n')[0]!, /^SEQ\s+TYPE\s+START/);
  assert.match(table.stdout, /make.*both/);
  assert.match(table.stdout, /microbreak/);
  assert.match(table.stdout, /exit 3/);
});

test('records: a reader that closes the pipe early (records | head) is not an error', (t) => {
  const dataDir = tempDir(t);
  const journal = Journal.open(journalPath(dataDir));
  for (let i = 0; i < 20_000; i++) journal.append({ type: 'process', time: new Date().toISOString(), host: 'h', pid: i });
  journal.close();
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${AGENT_BIN}" records --data-dir "${dataDir}" | head -1`], { encoding: 'utf8' });
  assert.match(r.stdout, /^\{"type":"process","seq":1,/);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
});

test('records: bad arguments are refused with a reason', (t) => {
  const dataDir = tempDir(t);
  seedJournal(dataDir);
  const badType = runAgentCli(['records', '--data-dir', dataDir, '--type', 'proc']);
  assert.notEqual(badType.code, 0);
  assert.match(badType.stderr, /unknown record type "proc"/);
  const badSince = runAgentCli(['records', '--data-dir', dataDir, '--since', 'yesterday']);
  assert.notEqual(badSince.code, 0);
  assert.match(badSince.stderr, /not an ISO 8601 time/);
  const noJournal = runAgentCli(['records', '--data-dir', join(dataDir, 'nothing-here')]);
  assert.equal(noJournal.code, 1);
  assert.match(noJournal.stderr, /no journal at/);
});

test('status --json reports the journal and whether the daemon runs', (t) => {
  const dataDir = tempDir(t);
  seedJournal(dataDir);
  const r = runAgentCli(['status', '--json', '--data-dir', dataDir]);
  assert.equal(r.code, 3, `no daemon: exit 3\n${r.stderr}`);
  const status = JSON.parse(r.stdout) as { running: boolean; journal: { records: number; byType: Record<string, number>; lastSeq: number } };
  assert.equal(status.running, false);
  assert.equal(status.journal.records, 3);
  assert.deepEqual(status.journal.byType, { process: 2, break: 1 });
  assert.equal(status.journal.lastSeq, 3);
});

test('status text renders nested objects and arrays of objects readably', () => {
  const text = renderText({ running: true, uplink: { state: 'online', leasesHeld: [{ product: 'cad', user: 'alice' }], tags: ['a', 'b'] } });
  assert.equal(
    text,
    ['running: true', 'uplink:', '  state: online', '  leasesHeld:', '    [1]', '      product: cad', '      user: alice', '  tags: a, b', ''].join('\n'),
  );
  assert.doesNotMatch(text, /object Object/);
});

test('stopping the daemon flushes records still buffered, and a second daemon on the same data dir is refused', async (t) => {
  const dataDir = join(tempDir(t), 'not-yet-created');
  const config = { ...loadConfig(undefined, { journal: { flushIntervalMs: 1000 } }), dataDir };
  const logger = createLogger('silent');
  const daemon = await startDaemon(config, dataDir, logger, [
    (ctx) => ({
      name: 'burst',
      start: () => {
        for (let i = 0; i < 250; i++) ctx.journal.append({ type: 'test', time: new Date().toISOString(), i });
      },
      stop: () => undefined,
      status: () => ({ appended: 250 }),
    }),
  ]);
  const status = runAgentCli(['status', '--json', '--data-dir', dataDir]);
  const parsed = JSON.parse(status.stdout) as { running: boolean; daemon: { components: Record<string, unknown> } };
  assert.equal(parsed.running, true);
  assert.deepEqual(parsed.daemon.components.burst, { appended: 250 });
  const second = runAgentCli(['run', '--data-dir', dataDir], { timeoutMs: 20_000 });
  assert.equal(second.code, 1);
  assert.match(second.stdout, /another usage-agent \(pid \d+\) is already running/);
  await daemon.stop('test');
  const reader = Journal.open(journalPath(dataDir), { readonly: true });
  t.after(() => reader.close());
  assert.equal(reader.read({ types: ['test'] }).length, 250);
});
