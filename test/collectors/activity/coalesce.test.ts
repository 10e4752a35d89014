import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputCoalescer } from '../../../src/collectors/activity/coalesce.js';
import {
  ActivityModel,
  runStream,
  type ActivityRecord,
  type ActivityThresholds,
  type InputCategory,
  type StreamEvent,
} from '../../../src/collectors/activity/model.js';

const ORIGIN = Date.UTC(2026, 0, 5, 9, 0, 0);

/** Deterministic pseudo-random stream: bursts of mixed input with gaps around the thresholds. */
function stream(seed: number, n: number, th: ActivityThresholds): StreamEvent[] {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const cats: InputCategory[] = ['keyboard', 'move', 'move', 'move', 'button', 'wheel'];
  const gaps = [
    1,
    3,
    7,
    20,
    49,
    50,
    51,
    99,
    100,
    101,
    400,
    th.breakSeconds * 1000 - 1,
    th.breakSeconds * 1000,
    th.breakSeconds * 1000 + 1,
    th.microBreakMaxSeconds * 1000,
    th.microBreakMaxSeconds * 1000 + 37,
    th.shortBreakMaxSeconds * 1000 + 5,
  ];
  const out: StreamEvent[] = [];
  let t = 0;
  let focusN = 0;
  for (let i = 0; i < n; i++) {
    const r = rnd();
    t += r < 0.85 ? gaps[Math.floor(rnd() * 11)]! : gaps[11 + Math.floor(rnd() * (gaps.length - 11))]!;
    if (rnd() < 0.01) out.push({ kind: 'focus', t, application: `/usr/bin/app${focusN++ % 3}` });
    if (rnd() < 0.003) out.push({ kind: 'session', t, event: rnd() < 0.5 ? 'lock' : 'unlock' });
    out.push({ kind: 'input', t, category: cats[Math.floor(rnd() * cats.length)]! });
  }
  return out;
}

/** The same stream as the session agent feeds it: hook events through the coalescer, flushed before other calls. */
function runCoalesced(th: ActivityThresholds, events: StreamEvent[], endAt: number, trailingFlushMs?: number): ActivityRecord[] {
  const model = new ActivityModel(th, { t: 0, wall: ORIGIN });
  const out: ActivityRecord[] = [];
  const c = new InputCoalescer(InputCoalescer.windowFor(th.breakSeconds), (first, last, b) =>
    out.push(...model.inputBatch({ t: first, wall: ORIGIN + first }, last, b)),
  );
  let flushAt = Infinity;
  for (const e of events) {
    if (e.t >= flushAt) {
      c.flush();
      flushAt = Infinity;
    }
    if (e.kind === 'input') {
      if (c.add(e.category, e.t) && trailingFlushMs !== undefined && flushAt === Infinity) flushAt = e.t + trailingFlushMs;
      continue;
    }
    c.flush();
    if (e.kind === 'focus') out.push(...model.focus({ t: e.t, wall: ORIGIN + e.t }, e.application));
    else if (e.kind === 'session') out.push(...model.session({ t: e.t, wall: ORIGIN + e.t }, e.event));
  }
  c.flush();
  out.push(...model.finish({ t: endAt, wall: ORIGIN + endAt }));
  return out;
}

const sum = (rs: ActivityRecord[], f: 'keyboard' | 'mouse' | 'switch' | 'mouseMoves' | 'mouseButtons' | 'mouseWheel') =>
  rs.reduce((a, r) => a + (r.type === 'input-events' ? r[f] : 0), 0);

for (const [name, th] of [
  ['default thresholds', { breakSeconds: 5, microBreakMaxSeconds: 60, shortBreakMaxSeconds: 600, inputEventIntervalSeconds: 60 }],
  ['short thresholds (tests)', { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 }],
  ['breakSeconds below the 100 ms window', { breakSeconds: 0.05, microBreakMaxSeconds: 0.5, shortBreakMaxSeconds: 2, inputEventIntervalSeconds: 1 }],
] as Array<[string, ActivityThresholds]>) {
  test(`coalesced input gives exactly the per-event breaks and work periods (${name})`, () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      for (const trailing of [undefined, 1000]) {
        const events = stream(seed, 3000, th);
        const endAt = events[events.length - 1]!.t + 1234;
        const exact = runStream(th, events, { wallOrigin: ORIGIN, endAt });
        const coalesced = runCoalesced(th, events, endAt, trailing);
        const periods = (rs: ActivityRecord[]) => rs.filter((r) => r.type !== 'input-events');
        assert.ok(periods(exact).length > 10, 'the stream has breaks and periods');
        assert.deepEqual(periods(coalesced), periods(exact), `seed ${seed}`);
        // input-events: the same totals; only a batch straddling an interval end may move counts
        // (at most one batch, i.e. < 100 ms of input) into the earlier interval.
        for (const f of ['keyboard', 'mouse', 'switch', 'mouseMoves', 'mouseButtons', 'mouseWheel'] as const) {
          assert.equal(sum(coalesced, f), sum(exact, f), `seed ${seed} ${f}`);
        }
      }
    }
  });
}

test('coalescer: counts, switches and window bound; one batch per window, none when idle', () => {
  const batches: Array<{ first: number; last: number; events: number; keyboard: number; moves: number; buttons: number; wheel: number; switches: number }> = [];
  const c = new InputCoalescer(100, (first, last, b) =>
    batches.push({ first, last, events: b.events, keyboard: b.keyboard, moves: b.moves, buttons: b.buttons, wheel: b.wheel, switches: b.switches }),
  );
  assert.equal(c.add('move', 1000), true);
  assert.equal(c.add('move', 1010), false);
  c.add('keyboard', 1020); // switch
  c.add('keyboard', 1030);
  c.add('button', 1099.9); // switch, still inside [1000, 1100)
  assert.equal(batches.length, 0);
  assert.equal(c.add('wheel', 1100), true); // window closed: the first batch goes out
  c.flush();
  c.flush(); // nothing pending: no empty batch
  assert.deepEqual(batches, [
    { first: 1000, last: 1099.9, events: 5, keyboard: 2, moves: 2, buttons: 1, wheel: 0, switches: 2 },
    { first: 1100, last: 1100, events: 1, keyboard: 0, moves: 0, buttons: 0, wheel: 1, switches: 0 },
  ]);
  assert.equal(InputCoalescer.windowFor(5), 100);
  assert.equal(InputCoalescer.windowFor(0.1), 50);
});
