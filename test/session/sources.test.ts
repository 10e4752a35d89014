import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdlePollInputSource, NativeIdleProvider, busLabelEscape, parseMonitorLine } from '../../src/session/sources.js';

test('gdbus monitor lines map to session events; other sessions\' locks are ignored', () => {
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
