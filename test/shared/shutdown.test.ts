/** exitOnSignals in real processes: signals, a second signal while stopping, a failing stop, a crash. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';

const SHUTDOWN = new URL('../../src/shared/shutdown.js', import.meta.url).href;

/** A process that stops in `stopMs` (failing if `fail`) and reports each step on stdout. */
function child(o: { stopMs?: number; fail?: boolean; crash?: boolean; forceExitAfterMs?: number; signals?: string[] }) {
  const code = `
    const { exitOnSignals } = await import(${JSON.stringify(SHUTDOWN)});
    const say = (m) => process.stdout.write(m + '\\n');
    const logger = { fatal: (f, m) => say('fatal ' + m + ' ' + (f.err?.message ?? f.err)), error: (m) => say('error ' + m) };
    exitOnSignals(async (reason) => {
      say('stop ' + reason);
      await new Promise((r) => setTimeout(r, ${o.stopMs ?? 0}));
      if (${Boolean(o.fail)}) throw new Error('flush failed');
    }, { logger, failed: 'shutdown failed', ${o.crash ? "crash: { then: '; stopping' }," : ''} ${o.forceExitAfterMs ? `forceExitAfterMs: ${o.forceExitAfterMs},` : ''} ${o.signals ? `signals: ${JSON.stringify(o.signals)},` : ''} onStopped: () => say('stopped') });
    ${o.crash ? "setTimeout(() => { throw new Error('a bug'); }, 100);" : ''}
    setInterval(() => undefined, 1000);
    say('ready');`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const ready = new Promise<void>((resolve) => p.stdout.on('data', () => out.includes('ready\n') && resolve()));
  const exit = once(p, 'exit').then(([code]) => code as number | null);
  return { p, ready, exit, out: () => out };
}

test('shutdown: the first signal stops once and exits 0; a second one while stopping changes nothing', async () => {
  const c = child({ stopMs: 300 });
  await c.ready;
  c.p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  c.p.kill('SIGINT');
  assert.equal(await c.exit, 0, c.out());
  assert.deepEqual(c.out().trim().split('\n'), ['ready', 'stop SIGTERM', 'stopped']);
});

test('shutdown: a failing stop is logged and exits 1; signals can be chosen', async () => {
  const c = child({ fail: true, signals: ['SIGHUP'] });
  await c.ready;
  c.p.kill('SIGHUP');
  assert.equal(await c.exit, 1, c.out());
  assert.deepEqual(c.out().trim().split('\n'), ['ready', 'stop SIGHUP', 'fatal shutdown failed flush failed']);
});

test('shutdown: a crash is logged, stops the process and exits 1; a stop that hangs is cut short', async () => {
  const c = child({ crash: true });
  assert.equal(await c.exit, 1, c.out());
  assert.deepEqual(c.out().trim().split('\n'), ['ready', 'fatal uncaught exception; stopping a bug', 'stop uncaughtException', 'stopped']);
  const slow = child({ stopMs: 60_000, forceExitAfterMs: 200 });
  await slow.ready;
  slow.p.kill('SIGTERM');
  assert.equal(await slow.exit, 1, slow.out());
  assert.deepEqual(slow.out().trim().split('\n'), ['ready', 'stop SIGTERM', 'error shutdown took longer than 0.2 s; exiting']);
});
