/**
 * The session channel's live activity signal, which the enforcer uses to react at once when a user
 * comes back to a program (idle harvesting), instead of waiting for the per-minute input records:
 * a real SessionServer and a real DaemonLink over a Unix socket.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { DaemonLink } from '../../src/ipc/client.js';
import { ACTIVITY_GAP_MS, IPC_VERSION, lineReader, tokenDir, tokenPath } from '../../src/ipc/protocol.js';
import { SessionServer } from '../../src/ipc/server.js';
import { Journal } from '../../src/journal/journal.js';
import { createLogger } from '../../src/log/logger.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('silent');

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'activity-signal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function link(t: { after(fn: () => void): void }, dir: string, socketPath: string): DaemonLink {
  const queue = Journal.open(join(dir, 'queue.db'), { logger });
  const l = new DaemonLink({
    socketPath,
    queue,
    logger,
    input: () => ({ mode: 'hooks', source: 'test', focus: 'test', sessionEvents: 'none' }),
    minRetryMs: 50,
  });
  t.after(() => {
    l.stop();
    queue.close();
  });
  l.start();
  return l;
}

test("activity: the first input after a pause or in another application reaches the daemon's listeners at once, nothing in between", async (t) => {
  const dir = tempDir(t);
  const journal = Journal.open(join(dir, 'journal.db'), { flushIntervalMs: 50, logger });
  t.after(() => journal.close());
  const ctx = {
    config: configSchema.parse({}),
    dataDir: dir,
    journal,
    logger,
    host: { hostname: hostname(), os: 'linux', osRelease: '', arch: process.arch, machineId: 'test', primaryMac: null },
    components: {},
  };
  const socketPath = join(dir, 'agent.sock');
  const server = new SessionServer(ctx, { socketPath });
  await server.start();
  t.after(() => server.stop());
  const got: Array<{ uid: number; user: string; application: string; at: number }> = [];
  server.onActivity((a) => got.push(a));
  const l = link(t, dir, socketPath);
  await waitFor(() => l.connected, 'connected');

  const before = Date.now();
  const sent = [
    l.activity('/opt/cad/bin/cad', 1000, 1200), // first input: sent
    l.activity('/opt/cad/bin/cad', 1200 + ACTIVITY_GAP_MS - 1), // same application, shorter pause: not sent
    l.activity('/opt/cad/bin/cad', 1200 + 2 * ACTIVITY_GAP_MS), // a pause of more than the gap: sent
    l.activity('/usr/bin/firefox', 1200 + 2 * ACTIVITY_GAP_MS + 100), // another application: sent
    l.activity('/usr/bin/firefox', 1200 + 2 * ACTIVITY_GAP_MS + 200), // continuing there: not sent
    l.activity(null, 1200 + 2 * ACTIVITY_GAP_MS + 300), // unknown application: never sent
    l.activity('/usr/bin/firefox', 1200 + 2 * ACTIVITY_GAP_MS + 400), // back from "unknown": sent
  ];
  assert.deepEqual(sent, [true, false, true, true, false, false, true]);
  await waitFor(() => got.length === 4, 'four signals');
  const uid = process.getuid!();
  assert.deepEqual(
    got.map((a) => [a.uid, a.application]),
    [
      [uid, '/opt/cad/bin/cad'],
      [uid, '/opt/cad/bin/cad'],
      [uid, '/usr/bin/firefox'],
      [uid, '/usr/bin/firefox'],
    ],
  );
  assert.ok(
    got.every((a) => typeof a.user === 'string' && a.user.length > 0 && a.at >= before),
    'user from authentication, time from the daemon',
  );
  assert.equal(journal.read({}).length, 0, 'signals are not journaled (the input-events records are the account)');
  assert.equal(l.stats.activity, 4);
});

test('activity: never sent to a daemon that does not announce it (an older daemon would close the connection on an unknown kind)', async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'agent.sock');
  // A daemon of the previous protocol revision: hello -> challenge -> auth -> welcome without features.
  mkdirSync(tokenDir(socketPath), { recursive: true });
  const uid = process.getuid!();
  writeFileSync(tokenPath(socketPath, uid), 'secret', { mode: 0o400 });
  const kinds: string[] = [];
  const conns = new Set<import('node:net').Socket>();
  const old = createServer((s) => {
    conns.add(s);
    s.on(
      'data',
      lineReader(
        (line) => {
          const m = JSON.parse(line) as { kind: string };
          kinds.push(m.kind);
          if (m.kind === 'hello') s.write(`${JSON.stringify({ v: IPC_VERSION, kind: 'challenge', tokenPath: tokenPath(socketPath, uid) })}\n`);
          if (m.kind === 'auth') s.write(`${JSON.stringify({ v: IPC_VERSION, kind: 'welcome', uid, user: 'someone', ackedThrough: 0 })}\n`);
        },
        () => s.destroy(),
      ),
    );
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => old.listen(socketPath, r));
  t.after(() => {
    for (const s of conns) s.destroy();
    old.close();
  });
  const l = link(t, dir, socketPath);
  await waitFor(() => l.connected, 'connected');
  assert.equal(l.activity('/opt/cad/bin/cad', 1000), false);
  l.sendStatus(); // a message the old daemon knows, sent after: when it arrives, nothing came before it
  await waitFor(() => kinds.includes('status'), 'status');
  assert.deepEqual(kinds, ['hello', 'auth', 'status']);
});
