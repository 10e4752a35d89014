import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdlePollInputSource, NativeIdleProvider, busLabelEscape, parseIdleHint, parseMonitorLine } from '../../src/session/sources.js';
import { inputCounter } from '../helpers/input.js';
import { killChild, startXvfb, xdotool } from '../helpers/x11.js';
import { setTimeout as sleep } from 'node:timers/promises';

test("gdbus monitor lines map to session events; other sessions' locks are ignored", () => {
  const me = `/org/freedesktop/login1/session/${busLabelEscape('2')}`;
  assert.equal(me, '/org/freedesktop/login1/session/_32');
  assert.equal(busLabelEscape('c1'), 'c1');
  assert.equal(parseMonitorLine('/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (true,)', me), 'suspend');
  assert.equal(parseMonitorLine('/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (false,)', me), 'resume');
  assert.equal(parseMonitorLine('/org/freedesktop/login1/session/_32: org.freedesktop.login1.Session.Lock ()', me), 'lock');
  assert.equal(parseMonitorLine('/org/freedesktop/login1/session/_32: org.freedesktop.login1.Session.Unlock ()', me), 'unlock');
  assert.equal(parseMonitorLine('/org/freedesktop/login1/session/_37: org.freedesktop.login1.Session.Lock ()', me), undefined);
  assert.equal(parseMonitorLine('/org/freedesktop/ScreenSaver: org.freedesktop.ScreenSaver.ActiveChanged (true,)', me), 'lock');
  assert.equal(parseMonitorLine('/org/freedesktop/ScreenSaver: org.freedesktop.ScreenSaver.ActiveChanged (false,)', me), 'unlock');
  assert.equal(parseMonitorLine('/org/freedesktop/login1: org.freedesktop.DBus.Properties.PropertiesChanged (...)', me), undefined);
});

test("logind's IdleHint is read from gdbus call and gdbus monitor output", () => {
  const changed =
    "/org/freedesktop/login1/session/c7: org.freedesktop.DBus.Properties.PropertiesChanged ('org.freedesktop.login1.Session', {'IdleHint': <true>, 'IdleSinceHint': <uint64 1795386985729415>, 'IdleSinceHintMonotonic': <uint64 9528112803>}, @as [])";
  assert.deepEqual(parseIdleHint(changed), { idle: true, sinceMonotonicUs: 9528112803 });
  const all = "({'Id': <'c7'>, 'IdleHint': <false>, 'IdleSinceHint': <uint64 0>, 'IdleSinceHintMonotonic': <uint64 0>, 'Active': <true>},)";
  assert.deepEqual(parseIdleHint(all), { idle: false, sinceMonotonicUs: 0 });
  // Other property changes (e.g. Active, LockedHint) carry no idle state.
  assert.equal(
    parseIdleHint(
      "/org/freedesktop/login1/session/c7: org.freedesktop.DBus.Properties.PropertiesChanged ('org.freedesktop.login1.Session', {'LockedHint': <true>}, @as [])",
    ),
    undefined,
  );
});

test('idle polling (stand-in for GetLastInputInfo/HIDIdleTime) reports input at now - idle, only when it moved', async () => {
  let now = 10_000;
  let idle = 50;
  const provider = new NativeIdleProvider('windows-getlastinputinfo', () => idle);
  const source = new IdlePollInputSource(provider, 250, () => now);
  const seen: Array<[string, number | undefined]> = [];
  const sink = (c: string, t?: number) => void seen.push([c, t]);
  await source.poll(sink, true); // active at start: last input 9950
  now = 10_250;
  idle = 300; // nothing new
  await source.poll(sink, false);
  now = 10_500;
  idle = 100; // new input at 10400
  await source.poll(sink, false);
  now = 13_000;
  idle = 2600; // idle since 10400: still nothing new
  await source.poll(sink, false);
  assert.deepEqual(seen, [
    ['unknown', 9950],
    ['unknown', 10_400],
  ]);
  assert.equal(source.name, 'windows-getlastinputinfo');
  assert.equal(source.mode, 'idle-poll');
});

test('uiohook hooks: the direct addon path and the public EventEmitter path count the same real input', async (t) => {
  const x = await startXvfb();
  const counters = (['binding', 'emitter'] as const).map((via) => ({ via, ...inputCounter(x.env, `uiohook-${via}`) }));
  t.after(async () => {
    for (const c of counters) await killChild(c.child);
    await x.stop();
  });
  for (const c of counters) await c.ready;
  xdotool(x, 'key', 'a', 'b', 'c');
  xdotool(x, 'click', '1');
  xdotool(x, 'click', '4');
  for (let i = 0; i < 10; i++) xdotool(x, 'mousemove', String(50 + i * 13), String(60 + i * 7));
  await sleep(1000); // delivery is asynchronous (RECORD -> hook thread -> main thread)
  const expected = { keyboard: 3, button: 1, wheel: 1, move: 10 };
  for (const c of counters) {
    const { reads: _reads, ...counts } = await c.counts();
    assert.deepEqual(counts, expected, `via ${c.via}`);
  }
});
