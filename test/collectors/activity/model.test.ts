import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActivityModel, runStream, type ActivityRecord, type InputCategory, type StreamEvent } from '../../../src/collectors/activity/model.js';

const ORIGIN = Date.UTC(2026, 0, 5, 9, 0, 0); // 09:00:00.000Z, a whole minute
const iso = (t: number, origin = ORIGIN) => new Date(origin + t).toISOString();

/** Events every `step` ms from `from` to `to` inclusive. */
function burst(category: InputCategory, from: number, to: number, step = 100): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (let t = from; t <= to; t += step) out.push({ kind: 'input', t, category });
  return out;
}
const at = (t: number, category: InputCategory = 'keyboard'): StreamEvent => ({ kind: 'input', t, category });
const only = (records: ActivityRecord[], type: ActivityRecord['type']) => records.filter((r) => r.type === type);
const brief = (records: ActivityRecord[]) =>
  records.map((r) =>
    r.type === 'break'
      ? `break ${r.start.slice(11, 23)}-${r.end.slice(11, 23)} ${r.durationSeconds} ${r.breakType} ${r.endReason}`
      : r.type === 'work'
        ? `work ${r.periodType} ${r.start.slice(11, 23)}-${r.end.slice(11, 23)} ${r.durationSeconds} k${r.keyboard} m${r.mouse} s${r.switch} ${r.endReason}`
        : `input-events ${r.application} ${r.start.slice(11, 23)}-${r.end.slice(11, 23)} k${r.keyboard} m${r.mouse} s${r.switch}`,
  );

test('the issue timeline with default thresholds: exact records in order', () => {
  // 3 s typing, 7 s pause, 2 s mouse, 65 s pause, 4 s typing, then 9 s until the agent stops.
  // Keyboard -> mouse happens across the 7 s break, so it is not a switch.
  const events: StreamEvent[] = [
    { kind: 'focus', t: 0, application: '/usr/bin/editor' },
    ...burst('keyboard', 0, 3000), // 31 keys
    ...burst('move', 10_000, 12_000), // 21 moves
    ...burst('keyboard', 77_000, 81_000), // 41 keys
  ];
  const records = runStream({}, events, { endAt: 90_000 });
  const breaks = only(records, 'break');
  assert.equal(breaks.length, 3);
  assert.deepEqual(breaks[0], {
    type: 'break',
    time: iso(3000),
    start: iso(3000),
    end: iso(10_000),
    durationSeconds: 7,
    breakType: 'microbreak',
    application: '/usr/bin/editor',
    endReason: 'input',
  });
  assert.deepEqual(
    breaks.map((b) => [b.start, b.end, b.durationSeconds, b.type === 'break' && b.breakType]),
    [
      [iso(3000), iso(10_000), 7, 'microbreak'],
      [iso(12_000), iso(77_000), 65, 'short'],
      [iso(81_000), iso(90_000), 9, 'microbreak'],
    ],
  );
  const work = only(records, 'work');
  assert.deepEqual(
    work.map((w) => w.type === 'work' && [w.periodType, w.start, w.end, w.durationSeconds, w.keyboard, w.mouse, w.switch]),
    [
      ['uninterrupted', iso(0), iso(12_000), 12, 31, 21, 0],
      ['uninterrupted', iso(77_000), iso(81_000), 4, 41, 0, 0],
      ['extended', iso(0), iso(81_000), 81, 72, 21, 0],
    ],
  );
  const first = work[0]!;
  assert.equal(first.type === 'work' && first.application, '/usr/bin/editor');
  assert.deepEqual(first.type === 'work' && first.applications, [{ application: '/usr/bin/editor', keyboard: 31, mouse: 21, switch: 0 }]);
});

test('the exact record sequence of the issue timeline', () => {
  const events: StreamEvent[] = [...burst('keyboard', 0, 3000), ...burst('move', 10_000, 12_000), ...burst('keyboard', 77_000, 81_000)];
  assert.deepEqual(brief(runStream({}, events, { endAt: 90_000 })), [
    'break 09:00:03.000-09:00:10.000 7 microbreak input',
    'input-events null 09:00:00.000-09:01:00.000 k31 m21 s0',
    'work uninterrupted 09:00:00.000-09:00:12.000 12 k31 m21 s0 break',
    'break 09:00:12.000-09:01:17.000 65 short input',
    'break 09:01:21.000-09:01:30.000 9 microbreak session-end',
    'work uninterrupted 09:01:17.000-09:01:21.000 4 k41 m0 s0 session-end',
    'work extended 09:00:00.000-09:01:21.000 81 k72 m21 s0 session-end',
    'input-events null 09:01:00.000-09:01:30.000 k41 m0 s0',
  ]);
});

test('break threshold edge: a gap of exactly breakSeconds is a break, 1 ms less is not', () => {
  const exact = runStream({}, [at(0), at(5000)], { endAt: 5000 });
  assert.deepEqual(brief(only(exact, 'break')), ['break 09:00:00.000-09:00:05.000 5 microbreak input']);
  const under = runStream({}, [at(0), at(4999)], { endAt: 4999 });
  assert.deepEqual(only(under, 'break'), []);
  // A short gap does not split the uninterrupted period either.
  assert.deepEqual(brief(only(under, 'work')), [
    'work uninterrupted 09:00:00.000-09:00:04.999 4.999 k2 m0 s0 session-end',
    'work extended 09:00:00.000-09:00:04.999 4.999 k2 m0 s0 session-end',
  ]);
});

test('microbreak/short edge: exactly 60 s is a short break and ends the uninterrupted period', () => {
  const exact = runStream({}, [at(0), at(60_000)], { endAt: 60_000 });
  assert.deepEqual(brief(exact.filter((r) => r.type !== 'input-events')), [
    'work uninterrupted 09:00:00.000-09:00:00.000 0 k1 m0 s0 break',
    'break 09:00:00.000-09:01:00.000 60 short input',
    'work uninterrupted 09:01:00.000-09:01:00.000 0 k1 m0 s0 session-end',
    'work extended 09:00:00.000-09:01:00.000 60 k2 m0 s0 session-end',
  ]);
  const under = runStream({}, [at(0), at(59_999)], { endAt: 59_999 });
  assert.deepEqual(brief(under.filter((r) => r.type !== 'input-events')), [
    'break 09:00:00.000-09:00:59.999 59.999 microbreak input',
    'work uninterrupted 09:00:00.000-09:00:59.999 59.999 k2 m0 s0 session-end',
    'work extended 09:00:00.000-09:00:59.999 59.999 k2 m0 s0 session-end',
  ]);
});

test('short/extended edge: exactly 600 s is an extended break and ends the extended period', () => {
  const exact = runStream({}, [at(0), at(600_000)], { endAt: 600_000 });
  assert.deepEqual(brief(exact.filter((r) => r.type !== 'input-events')), [
    'work uninterrupted 09:00:00.000-09:00:00.000 0 k1 m0 s0 break',
    'work extended 09:00:00.000-09:00:00.000 0 k1 m0 s0 break',
    'break 09:00:00.000-09:10:00.000 600 extended input',
    'work uninterrupted 09:10:00.000-09:10:00.000 0 k1 m0 s0 session-end',
    'work extended 09:10:00.000-09:10:00.000 0 k1 m0 s0 session-end',
  ]);
  const under = runStream({}, [at(0), at(599_999)], { endAt: 599_999 });
  assert.deepEqual(brief(under.filter((r) => r.type !== 'input-events')), [
    'work uninterrupted 09:00:00.000-09:00:00.000 0 k1 m0 s0 break',
    'break 09:00:00.000-09:09:59.999 599.999 short input',
    'work uninterrupted 09:09:59.999-09:09:59.999 0 k1 m0 s0 session-end',
    'work extended 09:00:00.000-09:09:59.999 599.999 k2 m0 s0 session-end',
  ]);
});

test('configured thresholds replace the defaults', () => {
  const th = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 10, inputEventIntervalSeconds: 5 };
  const records = runStream(th, [at(0), at(1500), at(4500), at(15_000)], { endAt: 15_000 });
  assert.deepEqual(brief(records), [
    'break 09:00:00.000-09:00:01.500 1.5 microbreak input',
    'work uninterrupted 09:00:00.000-09:00:01.500 1.5 k2 m0 s0 break',
    'break 09:00:01.500-09:00:04.500 3 short input',
    'input-events null 09:00:00.000-09:00:05.000 k3 m0 s0',
    'work uninterrupted 09:00:04.500-09:00:04.500 0 k1 m0 s0 break',
    'work extended 09:00:00.000-09:00:04.500 4.5 k3 m0 s0 break',
    'break 09:00:04.500-09:00:15.000 10.5 extended input',
    'work uninterrupted 09:00:15.000-09:00:15.000 0 k1 m0 s0 session-end',
    'work extended 09:00:15.000-09:00:15.000 0 k1 m0 s0 session-end',
    'input-events null 09:00:15.000-09:00:15.000 k1 m0 s0',
  ]);
});

test('switches: keyboard<->mouse changes without a break count; across a break or with unknown input they do not', () => {
  const records = runStream(
    {},
    [at(0, 'keyboard'), at(100, 'move'), at(200, 'button'), at(300, 'wheel'), at(400, 'keyboard'), at(6000, 'move'), at(6100, 'unknown'), at(6200, 'keyboard')],
    { endAt: 7000 },
  );
  const ie = only(records, 'input-events');
  assert.equal(ie.length, 1);
  assert.deepEqual(ie[0], {
    type: 'input-events',
    time: iso(0),
    start: iso(0),
    end: iso(7000),
    durationSeconds: 7,
    application: null,
    keyboard: 3,
    mouse: 4,
    switch: 2,
    mouseButtons: 1,
    mouseWheel: 1,
    mouseMoves: 2,
  });
});

test('per-application attribution: interval records per application, work lists applications most used first', () => {
  const records = runStream(
    {},
    [
      { kind: 'focus', t: 0, application: '/usr/bin/a' },
      at(1000),
      at(1100, 'button'),
      { kind: 'focus', t: 1200, application: '/usr/bin/b' },
      at(1300),
      at(1400),
      at(1500, 'move'),
      at(61_000),
    ],
    { endAt: 62_000 },
  );
  assert.deepEqual(brief(only(records, 'input-events')), [
    'input-events /usr/bin/a 09:00:00.000-09:01:00.000 k1 m1 s1',
    'input-events /usr/bin/b 09:00:00.000-09:01:00.000 k2 m1 s2',
    'input-events /usr/bin/b 09:01:00.000-09:01:02.000 k1 m0 s0',
  ]);
  const work = only(records, 'work');
  // The 59.5 s gap is a microbreak: one uninterrupted period, inside one extended one.
  const both = [
    { application: '/usr/bin/b', keyboard: 3, mouse: 1, switch: 2 },
    { application: '/usr/bin/a', keyboard: 1, mouse: 1, switch: 1 },
  ];
  assert.deepEqual(
    work.map((w) => w.type === 'work' && [w.periodType, w.application, w.applications]),
    [
      ['uninterrupted', '/usr/bin/b', both],
      ['extended', '/usr/bin/b', both],
    ],
  );
  // The break carries the application the user paused in.
  const breaks = only(records, 'break');
  assert.deepEqual(
    breaks.map((b) => [b.application, b.durationSeconds]),
    [['/usr/bin/b', 59.5]],
  );
});

test('lock ends the current periods and the break at the lock; locked time is neither break nor work; input while locked is ignored', () => {
  const records = runStream(
    {},
    [
      at(0),
      at(1000),
      { kind: 'session', t: 9000, event: 'lock' }, // 8 s without input before the lock: a microbreak ending at the lock
      at(30_000), // typed at the lock screen: ignored
      { kind: 'session', t: 1_800_000, event: 'unlock' }, // 30 min later
      at(1_802_000),
      at(1_803_000),
    ],
    { endAt: 1_803_000 },
  );
  assert.deepEqual(brief(records.filter((r) => r.type !== 'input-events')), [
    'break 09:00:01.000-09:00:09.000 8 microbreak lock',
    'work uninterrupted 09:00:00.000-09:00:01.000 1 k2 m0 s0 lock',
    'work extended 09:00:00.000-09:00:01.000 1 k2 m0 s0 lock',
    // No break for the locked half hour nor for unlock -> first input.
    'work uninterrupted 09:30:02.000-09:30:03.000 1 k2 m0 s0 session-end',
    'work extended 09:30:02.000-09:30:03.000 1 k2 m0 s0 session-end',
  ]);
  const m = new ActivityModel({}, { t: 0, wall: ORIGIN });
  m.session({ t: 10, wall: ORIGIN + 10 }, 'lock');
  m.input({ t: 20, wall: ORIGIN + 20 }, 'keyboard');
  assert.equal(m.stats.ignoredWhileInactive, 1);
  assert.equal(m.stats.inputs, 0);
});

test('lock shortly after input (under breakSeconds) ends the periods without a break', () => {
  const records = runStream({}, [at(0), at(2000), { kind: 'session', t: 4000, event: 'lock' }], { endAt: 100_000 });
  assert.deepEqual(only(records, 'break'), []);
  assert.deepEqual(brief(only(records, 'work')), [
    'work uninterrupted 09:00:00.000-09:00:02.000 2 k2 m0 s0 lock',
    'work extended 09:00:00.000-09:00:02.000 2 k2 m0 s0 lock',
  ]);
});

test('suspend: the sleep is not a break, periods end at suspend, wall times after resume follow the new clock', () => {
  // Monotonic time stops during suspend; the wall clock moves on by 2 hours.
  const sleep = 2 * 3600_000;
  const records = runStream(
    {},
    [
      at(0),
      at(1000, 'move'),
      { kind: 'session', t: 7000, event: 'suspend' },
      { kind: 'session', t: 7001, wall: ORIGIN + 7001 + sleep, event: 'resume' },
      { kind: 'input', t: 10_000, wall: ORIGIN + 10_000 + sleep, category: 'keyboard' },
      { kind: 'input', t: 11_000, wall: ORIGIN + 11_000 + sleep, category: 'keyboard' },
    ],
    { endAt: { t: 20_000, wall: ORIGIN + 20_000 + sleep } },
  );
  assert.deepEqual(brief(records.filter((r) => r.type !== 'input-events')), [
    'break 09:00:01.000-09:00:07.000 6 microbreak suspend',
    'work uninterrupted 09:00:00.000-09:00:01.000 1 k1 m1 s1 suspend',
    'work extended 09:00:00.000-09:00:01.000 1 k1 m1 s1 suspend',
    'break 11:00:11.000-11:00:20.000 9 microbreak session-end',
    'work uninterrupted 11:00:10.000-11:00:11.000 1 k2 m0 s0 session-end',
    'work extended 11:00:10.000-11:00:11.000 1 k2 m0 s0 session-end',
  ]);
});

test('undetected suspend: monotonic time excludes the sleep, so no phantom break; times follow the jumped clock', () => {
  const sleep = 3600_000;
  const records = runStream({}, [at(0), at(2000), { kind: 'input', t: 3000, wall: ORIGIN + 3000 + sleep, category: 'keyboard' }], {
    endAt: { t: 3000, wall: ORIGIN + 3000 + sleep },
  });
  assert.deepEqual(only(records, 'break'), []);
  // Re-anchored at the jump: the whole period is printed in the new clock, duration from monotonic.
  assert.deepEqual(brief(only(records, 'work')), [
    'work uninterrupted 10:00:00.000-10:00:03.000 3 k3 m0 s0 session-end',
    'work extended 10:00:00.000-10:00:03.000 3 k3 m0 s0 session-end',
  ]);
});

test('wall clock stepped back mid-period: durations stay monotonic and start/end stay consistent', () => {
  const back = -30 * 60_000;
  const records = runStream({}, [at(0), at(1000), { kind: 'input', t: 8000, wall: ORIGIN + 8000 + back, category: 'keyboard' }], {
    endAt: { t: 8000, wall: ORIGIN + 8000 + back },
  });
  const b = only(records, 'break');
  assert.deepEqual(brief(b), ['break 08:30:01.000-08:30:08.000 7 microbreak input']);
  for (const r of records) {
    assert.equal((Date.parse(r.end) - Date.parse(r.start)) / 1000, r.durationSeconds, JSON.stringify(r));
  }
  const m = new ActivityModel({}, { t: 0, wall: ORIGIN });
  m.input({ t: 100, wall: ORIGIN + 100 }, 'keyboard');
  m.input({ t: 200, wall: ORIGIN + 200 + 500 }, 'keyboard'); // 0.5 s of drift: not a jump
  assert.equal(m.stats.clockJumps, 0);
  m.input({ t: 300, wall: ORIGIN - 60_000 }, 'keyboard');
  assert.equal(m.stats.clockJumps, 1);
});

test('a monotonic time that goes backwards is clamped, never producing negative durations', () => {
  const records = runStream({}, [at(10_000), at(9000), at(20_000)], { endAt: 20_000 });
  for (const r of records) assert.ok(r.durationSeconds >= 0, JSON.stringify(r));
  assert.deepEqual(brief(only(records, 'break')), ['break 09:00:10.000-09:00:20.000 10 microbreak input']);
});

test('nextDeadline and advance close periods and intervals as soon as their end is known', () => {
  const m = new ActivityModel({}, { t: 0, wall: ORIGIN + 30_000 }); // 30 s into a minute
  assert.equal(m.nextDeadline(), undefined);
  m.input({ t: 1000, wall: ORIGIN + 31_000 }, 'keyboard');
  assert.equal(m.nextDeadline(), 30_000); // interval ends at the whole minute
  const atMinute = m.advance({ t: 30_000, wall: ORIGIN + 60_000 });
  assert.deepEqual(brief(atMinute), ['input-events null 09:00:30.000-09:01:00.000 k1 m0 s0']);
  assert.equal(m.nextDeadline(), 61_000); // uninterrupted closes 60 s after the last input
  assert.deepEqual(m.advance({ t: 60_999, wall: ORIGIN + 90_999 }), []);
  assert.deepEqual(brief(m.advance({ t: 61_000, wall: ORIGIN + 91_000 })), ['work uninterrupted 09:00:31.000-09:00:31.000 0 k1 m0 s0 break']);
  assert.equal(m.nextDeadline(), 601_000);
  assert.deepEqual(brief(m.advance({ t: 700_000, wall: ORIGIN + 730_000 })), ['work extended 09:00:31.000-09:00:31.000 0 k1 m0 s0 break']);
  assert.equal(m.nextDeadline(), undefined);
  // The break is only known when it ends.
  assert.deepEqual(brief(m.input({ t: 800_000, wall: ORIGIN + 830_000 }, 'keyboard')), ['break 09:00:31.000-09:13:50.000 799 extended input']);
});

test('the same stream always yields the same records, and thresholds must be ordered', () => {
  const events = [...burst('keyboard', 0, 2000, 7), ...burst('move', 9000, 9500, 3), at(200_000, 'wheel')];
  assert.deepEqual(runStream({}, events, { endAt: 300_000 }), runStream({}, events, { endAt: 300_000 }));
  assert.throws(() => new ActivityModel({ breakSeconds: 120 }, { t: 0, wall: ORIGIN }), /thresholds/);
});
