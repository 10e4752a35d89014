import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListSessions, parseLogindSignal, parseSessionProperties } from '../../../src/collectors/sessions/component.js';
import { LogonLedger, summarizeSessions, type LogonEvent } from '../../../src/collectors/sessions/ledger.js';

const T0 = Date.parse('2026-12-01T08:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const brief = (evs: LogonEvent[]) => evs.map((e) => `${e.code}@${(Date.parse(e.time) - T0) / 1000}${e.reason ? `:${e.reason}` : ''}`);

test('session agent connections: logon at the first, logoff at the last of a session; agents without a session id are sessions of their own', () => {
  const l = new LogonLedger();
  const on = l.agentUp(at(1), { conn: 'c1', uid: 1000, user: 'alice', display: ':0', session: '2' });
  assert.deepEqual(on, [
    {
      type: 'usage-event',
      time: new Date(at(1)).toISOString(),
      code: 15,
      product: 'session',
      user: 'alice',
      uid: 1000,
      display: ':0',
      session: '2',
      source: 'session-agent',
    },
  ]);
  // The agent restarts within the session: no second logon, no logoff in between.
  assert.deepEqual(l.agentUp(at(5), { conn: 'c2', uid: 1000, user: 'alice', display: ':0', session: '2' }), []);
  assert.deepEqual(l.agentDown(at(6), 'c1'), []);
  assert.deepEqual(brief(l.agentDown(at(60), 'c2')), ['16@60']);
  // No logind session id: the connection is the session.
  assert.deepEqual(brief(l.agentUp(at(70), { conn: 'c3', uid: 1001, user: 'bob', display: ':1' })), ['15@70']);
  assert.deepEqual(brief(l.agentDown(at(80), 'c3')), ['16@80']);
  assert.deepEqual(l.agentDown(at(81), 'c3'), [], 'once');
  assert.deepEqual(l.sessions(), []);
});

test('logind: its sessions log on at their own start, only its removal logs off (an agent leaving is not a logoff)', () => {
  const l = new LogonLedger();
  assert.deepEqual(brief(l.logindUp(at(10), { session: '3', uid: 1000, user: 'alice', display: ':0', since: at(2) })), ['15@2']);
  assert.deepEqual(l.agentUp(at(12), { conn: 'c1', uid: 1000, user: 'alice', session: '3' }), [], 'same session');
  assert.deepEqual(l.agentDown(at(20), 'c1'), [], 'logind still has it');
  assert.deepEqual(brief(l.logindDown(at(30), '3')), ['16@30']);
  assert.deepEqual(l.logindDown(at(31), '3'), []);
  // A session the agent reported first, then logind: logind's removal ends it.
  l.agentUp(at(40), { conn: 'c2', uid: 1000, user: 'alice', session: '4' });
  assert.deepEqual(l.logindUp(at(41), { session: '4', uid: 1000, user: 'alice' }), []);
  assert.deepEqual(l.agentDown(at(42), 'c2'), []);
  assert.deepEqual(brief(l.logindDown(at(50), '4')), ['16@50']);
});

test('daemon stop and restart: agent-only sessions log off at the stop; logind sessions carry over without a second logon; gone ones log off at the restart', () => {
  const l = new LogonLedger();
  l.agentUp(at(1), { conn: 'c1', uid: 1000, user: 'alice', display: ':0' });
  l.logindUp(at(2), { session: '7', uid: 1001, user: 'bob', display: ':1' });
  l.logindUp(at(3), { session: '8', uid: 1002, user: 'carol', display: ':2' });
  assert.deepEqual(brief(l.shutdown(at(100))), ['16@100:agent-stopped']);
  const saved = l.sessions();
  assert.deepEqual(
    saved.map((s) => s.session),
    ['7', '8'],
  );
  const again = new LogonLedger(JSON.parse(JSON.stringify(saved)));
  // logind still has 7; 8 ended while the daemon was down.
  assert.deepEqual(brief(again.reconcile(at(200), new Set(['7']))), ['16@200:gone-while-stopped']);
  assert.deepEqual(again.logindUp(at(201), { session: '7', uid: 1001, user: 'bob' }), [], 'no second logon');
  assert.deepEqual(brief(again.logindDown(at(300), '7')), ['16@300']);
  // Without logind after a crash, everything saved is closed at the restart.
  const crashed = new LogonLedger(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(brief(crashed.reconcile(at(400), undefined)), ['16@400:gone-while-stopped', '16@400:gone-while-stopped']);
});

test('sessions summary: pairs per user and session, open sessions counted up to now, lone logoffs ignored', () => {
  const ev = (code: number, s: number, user: string, session: string | null, display = ':0') => ({
    code,
    time: new Date(at(s)).toISOString(),
    user,
    session,
    display,
  });
  const summary = summarizeSessions(
    [
      ev(15, 0, 'alice', '2'),
      ev(16, 600, 'alice', '2'),
      ev(15, 1000, 'alice', '5', ':1'),
      ev(16, 1300, 'alice', '5', ':1'),
      ev(16, 50, 'bob', null),
      ev(15, 2000, 'bob', null),
      { code: 3, time: new Date(at(1)).toISOString(), user: 'alice' },
    ],
    at(2100),
  );
  assert.deepEqual(summary, [
    {
      user: 'alice',
      sessions: 2,
      open: 0,
      totalSeconds: 900,
      firstLogon: new Date(at(0)).toISOString(),
      lastLogoff: new Date(at(1300)).toISOString(),
      displays: [':0', ':1'],
    },
    { user: 'bob', sessions: 1, open: 1, totalSeconds: 100, firstLogon: new Date(at(2000)).toISOString(), lastLogoff: null, displays: [':0'] },
  ]);
});

test('logind output: SessionNew/SessionRemoved lines, ListSessions and session properties', () => {
  assert.deepEqual(
    parseLogindSignal("/org/freedesktop/login1: org.freedesktop.login1.Manager.SessionNew ('3', objectpath '/org/freedesktop/login1/session/_33')"),
    {
      kind: 'new',
      session: '3',
      path: '/org/freedesktop/login1/session/_33',
    },
  );
  assert.deepEqual(
    parseLogindSignal("/org/freedesktop/login1: org.freedesktop.login1.Manager.SessionRemoved ('c2', objectpath '/org/freedesktop/login1/session/c2')"),
    {
      kind: 'removed',
      session: 'c2',
      path: '/org/freedesktop/login1/session/c2',
    },
  );
  assert.equal(parseLogindSignal('/org/freedesktop/login1/session/_33: org.freedesktop.login1.Session.Lock ()'), undefined, 'a lock is not a logon or logoff');
  // As gdbus prints it: the types on the first element only.
  assert.deepEqual(
    parseListSessions(
      "([('2', uint32 1000, 'alice', 'seat0', objectpath '/org/freedesktop/login1/session/_32'), ('c1', 0, 'root', '', '/org/freedesktop/login1/session/c1')],)",
    ),
    [
      { session: '2', uid: 1000, user: 'alice', path: '/org/freedesktop/login1/session/_32' },
      { session: 'c1', uid: 0, user: 'root', path: '/org/freedesktop/login1/session/c1' },
    ],
  );
  assert.deepEqual(
    parseSessionProperties(
      "({'Id': <'2'>, 'User': <(uint32 1000, objectpath '/org/freedesktop/login1/user/_1000')>, 'Name': <'alice'>, 'Timestamp': <uint64 1796112000123456>, 'Display': <':0'>, 'Type': <'x11'>, 'Class': <'user'>, 'LockedHint': <false>},)",
    ),
    { type: 'x11', class: 'user', display: ':0', name: 'alice', uid: 1000, sinceMs: 1796112000123 },
  );
  assert.deepEqual(parseSessionProperties("({'Display': <''>, 'Type': <'tty'>, 'Class': <'user'>},)"), {
    type: 'tty',
    class: 'user',
    display: undefined,
    name: undefined,
    uid: undefined,
    sinceMs: undefined,
  });
});
