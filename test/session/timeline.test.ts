import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { readRecords, sleep, startAgentProcess, writeConfig } from '../helpers/session.js';
import { activate, startXClient, startXvfb } from '../helpers/x11.js';

/** Types `n` keys, one every `delayMs`; returns the wall times of the first and last key. */
function typeKeys(env: NodeJS.ProcessEnv, n: number, delayMs: number): { first: number; last: number } {
  const first = Date.now();
  const r = spawnSync('xdotool', ['type', '--delay', String(delayMs), 'x'.repeat(n)], { env });
  assert.equal(r.status, 0, String(r.stderr));
  return { first, last: Date.now() };
}

/**
 * Moves the mouse `n` times, one every `delayMs`. For XInput2: relative XTEST moves (an absolute
 * `mousemove` is a pointer warp, which raw events do not report). For uiohook: warps, because
 * Xvfb hands RECORD clients XTEST motion only at its next output flush (here: when xdotool exits,
 * up to the whole phase late), while a warp is a request and is flushed at once.
 */
function moveMouse(env: NodeJS.ProcessEnv, n: number, delayMs: number, how: 'relative' | 'warp' = 'relative'): { first: number; last: number } {
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    if (how === 'relative') args.push('mousemove_relative', '--', String(i % 2 ? 5 : -5), String(i % 3 ? 2 : -2), 'sleep', String(delayMs / 1000));
    else args.push('mousemove', String(100 + (i % 50) * 5), String(200 + (i % 7)), 'sleep', String(delayMs / 1000));
  }
  args.pop();
  args.pop();
  const first = Date.now();
  const r = spawnSync('xdotool', args, { env });
  assert.equal(r.status, 0, String(r.stderr));
  return { first, last: Date.now() };
}

const near = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 500, `${what}: ${actual} ms vs expected ${expected} ms (tolerance 500 ms)`);

/**
 * A real daemon (`usage-agent run`) and a real session agent on Xvfb; xdotool drives a scripted
 * timeline. Returns the journal's activity records and the measured phase times.
 */
async function runTimeline(
  t: { after(fn: () => void | Promise<void>): void },
  activity: Record<string, number>,
  script: (env: NodeJS.ProcessEnv) => Promise<Record<string, { first: number; last: number }>>,
  input: 'auto' | 'xinput2' | 'hooks' | 'idle-poll' = 'auto',
) {
  const dir = tempDir(t, 'ua-session-');
  const x = await startXvfb({ wm: true });
  t.after(() => x.stop());
  const app = await startXClient(x, 'xlogo', [], 'xlogo');
  t.after(() => void app.child.kill());
  await activate(x, app.window);
  const config = writeConfig(dir, { processes: { enabled: false }, activity, journal: { flushIntervalMs: 100 } });
  mkdirSync(join(dir, 'data'), { recursive: true });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', join(dir, 'data')], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(
    ['session', '--config', config, '--data-dir', join(dir, 'data'), '--queue', join(dir, 'queue.db'), '--input', input],
    join(dir, 'session.log'),
    { env: x.env },
  );
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  const expectSource = {
    auto: /"mode":"hooks","source":"xinput2"/,
    xinput2: /"mode":"hooks","source":"xinput2"/,
    hooks: /"mode":"hooks","source":"uiohook"/,
    'idle-poll': /"mode":"idle-poll","source":"x11-screensaver"/,
  };
  assert.match(session.output(), expectSource[input]);
  await sleep(300);
  const phases = await script(x.env);
  const stopAt = Date.now();
  await session.stop('SIGTERM');
  const records = readRecords(join(dir, 'data'), 'break,work,input-events');
  return { records, phases, stopAt, appExe: '/usr/bin/xlogo', dir };
}

/** What the scripted timeline yields, without the times: the same for either input source. */
const shapeOf = (records: Array<Record<string, any>>) =>
  records
    .filter((r) => r.type !== 'input-events')
    .map((r) =>
      r.type === 'break' ? ['break', r.breakType, r.endReason] : ['work', r.periodType, r.keyboard, r.mouse, r.mouseMoves, r.application, r.endReason],
    );
const shapes = new Map<string, unknown>();

for (const input of ['xinput2', 'hooks'] as const) {
  test(`scripted timeline with shortened thresholds (${input}): exact breaks and work periods within 0.5 s`, async (t) => {
    // break >= 1 s; microbreak < 3 s; short < 8 s; extended >= 8 s.
    const activity = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 };
    const { records, phases, stopAt } = await runTimeline(
      t,
      activity,
      async (env) => {
        const typing1 = typeKeys(env, 15, 100); // ~1.5 s typing
        await sleep(2000); // microbreak
        const mouse = moveMouse(env, 10, 100, input === 'hooks' ? 'warp' : 'relative'); // ~1 s mouse
        await sleep(4500); // short break
        const typing2 = typeKeys(env, 10, 100); // ~1 s typing
        await sleep(300); // under breakSeconds: no break before the stop
        return { typing1, mouse, typing2 };
      },
      input,
    );
    const { typing1, mouse, typing2 } = phases as Record<string, { first: number; last: number }>;
    const breaks = records.filter((r) => r.type === 'break');
    const work = records.filter((r) => r.type === 'work');
    shapes.set(input, shapeOf(records));
    // Both sources ran the same script (xinput2 first): the same breaks, periods and counts.
    if (input === 'hooks') assert.deepEqual(shapes.get('hooks'), shapes.get('xinput2'));
    assert.deepEqual(
      breaks.map((b) => [b.breakType, b.endReason]),
      [
        ['microbreak', 'input'],
        ['short', 'input'],
      ],
      JSON.stringify(breaks),
    );
    near(Date.parse(breaks[0]!.start), typing1.last, 'microbreak start');
    near(Date.parse(breaks[0]!.end), mouse.first, 'microbreak end');
    near(Date.parse(breaks[1]!.start), mouse.last, 'short break start');
    near(Date.parse(breaks[1]!.end), typing2.first, 'short break end');
    assert.deepEqual(
      work.map((w) => w.periodType),
      ['uninterrupted', 'uninterrupted', 'extended'],
      JSON.stringify(work),
    );
    const [u1, u2, ext] = work;
    near(Date.parse(u1!.start), typing1.first, 'first uninterrupted start');
    near(Date.parse(u1!.end), mouse.last, 'first uninterrupted end');
    near(Date.parse(u2!.start), typing2.first, 'second uninterrupted start');
    near(Date.parse(u2!.end), typing2.last, 'second uninterrupted end');
    near(Date.parse(ext!.start), typing1.first, 'extended start');
    near(Date.parse(ext!.end), typing2.last, 'extended end');
    assert.equal(u2!.endReason, 'session-end');
    // Counts: 25 keys typed (xdotool type sends press+release; only presses count), 10 moves.
    assert.equal(ext!.keyboard, 25);
    assert.equal(u1!.keyboard, 15);
    assert.equal(u1!.mouse, 10);
    assert.equal(u1!.application, '/usr/bin/xlogo');
    for (const r of records) {
      assert.equal(typeof r.seq, 'number');
      assert.equal(r.user, 'root');
      assert.equal(r.uid, 0);
      assert.equal(typeof r.host, 'string');
      assert.equal(r.inputSource, 'hooks');
      assert.ok(Date.parse(r.end) <= stopAt + 500);
    }
    const ie = records.filter((r) => r.type === 'input-events');
    assert.equal(
      ie.reduce((s, r) => s + r.keyboard, 0),
      25,
    );
    assert.equal(
      ie.reduce((s, r) => s + r.mouse, 0),
      10,
    );
    assert.ok(ie.every((r) => r.application === '/usr/bin/xlogo'));
  });
}

test('the issue timeline with default thresholds (5 s / 60 s / 600 s): 3 s typing, 7 s pause, 2 s mouse, 65 s pause, 4 s typing', async (t) => {
  const { records, phases } = await runTimeline(t, {}, async (env) => {
    const typing1 = typeKeys(env, 30, 100);
    await sleep(7000);
    const mouse = moveMouse(env, 20, 100);
    await sleep(65_000);
    const typing2 = typeKeys(env, 40, 100);
    return { typing1, mouse, typing2 };
  });
  const { typing1, mouse, typing2 } = phases as Record<string, { first: number; last: number }>;
  const breaks = records.filter((r) => r.type === 'break');
  assert.deepEqual(
    breaks.map((b) => b.breakType),
    ['microbreak', 'short'],
    JSON.stringify(breaks),
  );
  near(Date.parse(breaks[0]!.start), typing1.last, 'microbreak start');
  near(Date.parse(breaks[0]!.end), mouse.first, 'microbreak end');
  near(Date.parse(breaks[1]!.start), mouse.last, 'short break start');
  near(Date.parse(breaks[1]!.end), typing2.first, 'short break end');
  const work = records.filter((r) => r.type === 'work');
  assert.deepEqual(
    work.map((w) => w.periodType),
    ['uninterrupted', 'uninterrupted', 'extended'],
    JSON.stringify(work),
  );
  near(Date.parse(work[0]!.start), typing1.first, 'uninterrupted 1 start');
  near(Date.parse(work[0]!.end), mouse.last, 'uninterrupted 1 end');
  near(Date.parse(work[1]!.start), typing2.first, 'uninterrupted 2 start');
  near(Date.parse(work[2]!.start), typing1.first, 'extended start');
  near(Date.parse(work[2]!.end), typing2.last, 'extended end');
  assert.equal(work[2]!.keyboard, 70);
  assert.equal(work[2]!.mouse, 20);
});

test('idle-time fallback (--input idle-poll): breaks and periods without a keyboard/mouse split', async (t) => {
  const activity = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 };
  const { records, phases } = await runTimeline(
    t,
    activity,
    async (env) => {
      const typing1 = typeKeys(env, 10, 100);
      await sleep(2000);
      const typing2 = typeKeys(env, 10, 100);
      return { typing1, typing2 };
    },
    'idle-poll',
  );
  const { typing1, typing2 } = phases as Record<string, { first: number; last: number }>;
  const breaks = records.filter((r) => r.type === 'break');
  assert.deepEqual(
    breaks.map((b) => b.breakType),
    ['microbreak'],
    JSON.stringify(breaks),
  );
  // Polling every 250 ms: the break's end is seen up to one poll late, its start exactly.
  near(Date.parse(breaks[0]!.start), typing1.last, 'break start');
  near(Date.parse(breaks[0]!.end), typing2.first, 'break end');
  const work = records.filter((r) => r.type === 'work');
  assert.ok(work.length >= 1);
  for (const r of records) {
    assert.equal(r.inputSource, 'idle-poll');
    if (r.type !== 'break') assert.equal(r.keyboard, null);
  }
});
