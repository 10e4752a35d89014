import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Enforcer, entryKey, type Effect, type LoggedProduct, type NotificationEffect } from '../../src/enforcer/logic.js';
import { globToRegExp, Matcher } from '../../src/protocol/match.js';
import type { LeaseGranted, ProductPolicy } from '../../src/protocol/v1.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const settings = { host: 'ws1', terminateWarningSeconds: 60, killAfterSeconds: 10, retrySeconds: 5, queueWaitSeconds: 30 };

function product(o: Partial<ProductPolicy> = {}): ProductPolicy {
  return {
    id: 'cad',
    name: 'CAD Pro',
    match: { executables: ['cad'], paths: [] },
    licenseType: 'floating',
    seats: 2,
    leaseTtlSeconds: 900,
    renewAfterSeconds: 300,
    graceSeconds: 600,
    offline: 'allow',
    onDeny: 'notify',
    queue: false,
    idle: { afterSeconds: null, action: 'none' },
    ...o,
  };
}
const lease = (id = 'L1', o: Partial<LeaseGranted> = {}): LeaseGranted => ({
  leaseId: id,
  product: 'cad',
  expiresAt: '',
  renewAfter: '',
  ttlSeconds: 900,
  renewAfterSeconds: 300,
  graceSeconds: 600,
  serverTime: '',
  existing: false,
  ...o,
});
const proc = (pid: number, startS = 0, user = 'alice') => ({ pid, user, uid: 1000, startTime: new Date(at(startS)).toISOString() });
const codes = (fx: Effect[]) => fx.flatMap((f) => (f.kind === 'journal' ? [f.record.code] : []));
const kinds = (fx: Effect[]) => fx.map((f) => f.kind).filter((k) => k !== 'persist');
const notes = (fx: Effect[]) => fx.filter((f): f is NotificationEffect => f.kind === 'notify');
const signals = (fx: Effect[]) => fx.flatMap((f) => (f.kind === 'signal' ? [`${f.signal}:${f.pids.join(',')}`] : []));
/** The server's answer when every seat is in use. */
const deniedAnswer = (seats = 2) => ({
  kind: 'denied' as const,
  denied: {
    type: '',
    title: '',
    status: 409,
    code: 'lease-denied' as const,
    reason: 'all-seats-in-use' as const,
    product: 'cad',
    inUse: seats,
    seats,
    message: 'x',
    queueAvailable: false,
  },
});
const K = entryKey('alice', 'cad');
/** The entry of K, a leased one (its phase-specific fields are read below). */
function leasedEntry(en: Enforcer) {
  const e = en.state.entries.get(K);
  assert.ok(e && e.phase !== 'logged');
  return e;
}

function launchAndGrant(en: Enforcer, p: ProductPolicy, pid = 100): Effect[] {
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(pid) });
  const acq = fx.find((f) => f.kind === 'acquire');
  assert.ok(acq && acq.kind === 'acquire');
  return en.step({ kind: 'acquired', now: at(0.4), key: K, requestId: acq.request.requestId, result: { kind: 'granted', lease: lease() } });
}

test('grant: obtain + launch, renew at the server-given third of the TTL, two instances share one lease, return on the last quit', () => {
  const en = new Enforcer(settings);
  const p = product();
  const fx1 = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  assert.deepEqual(kinds(fx1), ['acquire']);
  const req = (fx1[0] as Extract<Effect, { kind: 'acquire' }>).request;
  assert.deepEqual(req, {
    product: 'cad',
    user: 'alice',
    host: 'ws1',
    pid: 100,
    processStart: '2024-05-01T08:00:00.000Z',
    requestId: req.requestId,
    queue: false,
  });
  const fx2 = en.step({ kind: 'acquired', now: at(0.4), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease() } });
  assert.deepEqual(codes(fx2), [1, 3]);
  const launch = fx2.find((f) => f.kind === 'journal' && f.record.code === 3) as Extract<Effect, { kind: 'journal' }>;
  assert.deepEqual(launch.record, {
    type: 'usage-event',
    time: '2024-05-01T08:00:00.000Z',
    code: 3,
    product: 'cad',
    user: 'alice',
    offline: false,
    pid: 100,
    processStart: '2024-05-01T08:00:00.000Z',
    leaseId: 'L1',
  });
  assert.equal(en.nextDeadline(), at(300.4));
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(300) })), []);
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(300.4) })), ['renew']);
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(301) })), [], 'one renewal in flight at a time');
  assert.deepEqual(kinds(en.step({ kind: 'renewed', now: at(301), key: K, leaseId: 'L1', result: { kind: 'renewed', lease: lease() } })), []);
  assert.equal(en.nextDeadline(), at(601));
  // Second instance: no second request, a launch event under the same lease.
  const fx3 = en.step({ kind: 'launch', now: at(400), product: p, proc: proc(101, 399.8) });
  assert.deepEqual(kinds(fx3), ['journal']);
  assert.deepEqual(codes(fx3), [3]);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(500), pid: 100 })), [4]);
  const last = en.step({ kind: 'exit', now: at(600), pid: 101 });
  assert.deepEqual(codes(last), [4, 2]);
  assert.deepEqual(
    last.find((f) => f.kind === 'release'),
    { kind: 'release', key: K, leaseId: 'L1', reason: 'quit' },
  );
  assert.equal(en.state.entries.size, 0);
  assert.equal(en.nextDeadline(), undefined);
});

test('leased license: 27 license issued once per allocation, 29/30 around each use', () => {
  const en = new Enforcer(settings);
  const p = product({ licenseType: 'leased' });
  assert.deepEqual(codes(launchAndGrant(en, p)), [27, 29, 3]);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(10), pid: 100 })), [4, 30]);
  assert.deepEqual(codes(launchAndGrant(en, p, 200)), [29, 3]);
});

test('deny + notify: code 7 and a notification naming the product, the seats and what happens next', () => {
  const en = new Enforcer(settings);
  const p = product();
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  const out = en.step({
    kind: 'acquired',
    now: at(0.4),
    key: K,
    requestId: req.requestId,
    result: deniedAnswer(),
  });
  assert.deepEqual(codes(out), [7]);
  assert.deepEqual(signals(out), []);
  const [n] = notes(out);
  assert.equal(n!.user, 'alice');
  assert.equal(n!.body, 'All 2 seats of CAD Pro are in use. You may keep working; this use is recorded as unlicensed.');
  assert.equal(en.nextDeadline(), undefined, 'notify only: nothing scheduled');
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(50), pid: 100 })), []);
});

test('deny + terminate: warning with the time, SIGTERM at the deadline, SIGKILL killAfterSeconds later', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'terminate', queue: true });
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  assert.equal(req.queue, false, 'terminate never waits in the queue');
  const out = en.step({
    kind: 'acquired',
    now: at(1),
    key: K,
    requestId: req.requestId,
    result: deniedAnswer(),
  });
  assert.deepEqual(codes(out), [7]);
  assert.equal(notes(out)[0]!.body, 'All 2 seats of CAD Pro are in use. CAD Pro will be closed at 08:01:01 UTC (in 60 s). Save your work now.');
  assert.equal(notes(out)[0]!.urgency, 'critical');
  assert.equal(en.nextDeadline(), at(61));
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(60.9) })), []);
  // A second window opened during the warning gets the same deadline.
  en.step({ kind: 'launch', now: at(30), product: p, proc: proc(101, 30) });
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(61) })), ['SIGTERM:100,101']);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(62), pid: 101 })), []);
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(70.9) })), []);
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(71) })), ['SIGKILL:100']);
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(200) })), []);
  en.step({ kind: 'exit', now: at(71.1), pid: 100 });
  assert.equal(en.state.entries.size, 0);
});

test('queue + suspend: 5 queue and SIGSTOP, then 6 dequeue, obtain, launch, SIGCONT and "ready" when granted', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'suspend', queue: true });
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  assert.equal(req.queue, true);
  const q = en.step({
    kind: 'acquired',
    now: at(0.5),
    key: K,
    requestId: req.requestId,
    result: { kind: 'queued', queued: { ticket: 'T1', product: 'cad', position: 1, keepaliveSeconds: 60, maxWaitSeconds: 30, existing: false } },
  });
  assert.deepEqual(codes(q), [5]);
  assert.deepEqual(signals(q), ['SIGSTOP:100']);
  assert.equal(
    notes(q)[0]!.body,
    'All 2 seats are in use. CAD Pro is paused and you are number 1 in the queue. It continues by itself as soon as a license is free.',
  );
  assert.deepEqual(
    q.find((f) => f.kind === 'pollQueue'),
    { kind: 'pollQueue', key: K, ticket: 'T1', waitSeconds: 30 },
  );
  const w = en.step({
    kind: 'queue',
    now: at(30.5),
    key: K,
    ticket: 'T1',
    result: { kind: 'status', status: { status: 'waiting', ticket: 'T1', product: 'cad', position: 1, keepaliveSeconds: 60 } },
  });
  assert.deepEqual(kinds(w), ['pollQueue']);
  const g = en.step({
    kind: 'queue',
    now: at(42),
    key: K,
    ticket: 'T1',
    result: { kind: 'status', status: { status: 'granted', ticket: 'T1', product: 'cad', lease: lease('L9') } },
  });
  assert.deepEqual(codes(g), [6, 1, 3]);
  assert.deepEqual(signals(g), ['SIGCONT:100']);
  assert.equal(notes(g)[0]!.title, 'CAD Pro: your license is ready');
  const launch = g.find((f) => f.kind === 'journal' && f.record.code === 3) as Extract<Effect, { kind: 'journal' }>;
  assert.equal(launch.record.time, new Date(at(42)).toISOString(), 'the licensed run starts when the seat was granted');
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(100), pid: 100 })), [4, 2]);
});

test('server unreachable at launch, offline allow: 10/11; after reconnection the same request id, 11 reconnected + 1 + 3', () => {
  const en = new Enforcer(settings);
  const p = product();
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  const off = en.step({ kind: 'acquired', now: at(2), key: K, requestId: req.requestId, result: { kind: 'unreachable', error: 'ECONNREFUSED' } });
  assert.deepEqual(codes(off), [10]);
  assert.equal((off[0] as Extract<Effect, { kind: 'journal' }>).record.time, '2024-05-01T08:00:00.000Z');
  assert.equal((off[0] as Extract<Effect, { kind: 'journal' }>).record.offline, true);
  assert.deepEqual(notes(off), []);
  assert.equal(en.nextDeadline(), at(7));
  const r1 = en.step({ kind: 'tick', now: at(7) });
  assert.deepEqual(kinds(r1), ['acquire']);
  assert.equal((r1[0] as Extract<Effect, { kind: 'acquire' }>).request.requestId, req.requestId, 'retries never take a second seat');
  assert.deepEqual(codes(en.step({ kind: 'acquired', now: at(9), key: K, requestId: req.requestId, result: { kind: 'unreachable', error: 'x' } })), []);
  const r2 = en.step({ kind: 'online', now: at(10) });
  assert.deepEqual(kinds(r2), ['acquire']);
  const g = en.step({ kind: 'acquired', now: at(11), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease() } });
  assert.deepEqual(codes(g), [11, 1, 3]);
  const recs = g.flatMap((f) => (f.kind === 'journal' ? [f.record] : []));
  assert.deepEqual(
    recs.map((r) => [r.code, r.time, r.offline, r.reason ?? null]),
    [
      [11, '2024-05-01T08:00:11.000Z', true, 'reconnected'],
      [1, '2024-05-01T08:00:11.000Z', false, null],
      [3, '2024-05-01T08:00:11.000Z', false, null],
    ],
  );
});

test('server unreachable at launch, offline deny + terminate: 7 reason offline, warning, SIGTERM, unless the server answers first', () => {
  const en = new Enforcer(settings);
  const p = product({ offline: 'deny', onDeny: 'terminate' });
  const fx = en.step({ kind: 'launch', now: at(0.3), product: p, proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  const d = en.step({ kind: 'acquired', now: at(1), key: K, requestId: req.requestId, result: { kind: 'unreachable', error: 'x' } });
  assert.deepEqual(codes(d), [7]);
  assert.equal((d[0] as Extract<Effect, { kind: 'journal' }>).record.reason, 'offline');
  assert.match(notes(d)[0]!.body, /^The license server cannot be reached and CAD Pro may not run without a license\. CAD Pro will be closed at 08:01:01 UTC/);
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(6) })), ['acquire']);
  const g = en.step({ kind: 'acquired', now: at(7), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease() } });
  assert.deepEqual(codes(g), [1, 3]);
  assert.equal(notes(g)[0]!.title, 'CAD Pro: your license is ready');
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(61) })), [], 'granted before the deadline: nothing enforced');
});

test('renewal fails: warning naming expiry + grace; renewed in time -> nothing enforced', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'terminate' });
  launchAndGrant(en, p);
  en.step({ kind: 'tick', now: at(300.4) });
  const f1 = en.step({ kind: 'renewed', now: at(301), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } });
  // expiry 900.4 + grace 600 = 1500.4 -> 08:25:00 UTC
  assert.equal(
    notes(f1)[0]!.body,
    'The license of CAD Pro could not be renewed. If it cannot be renewed by 08:25:00 UTC, CAD Pro will be closed at 08:25:00 UTC. Save your work.',
  );
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(306) })), ['renew']);
  const f2 = en.step({ kind: 'renewed', now: at(307), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } });
  assert.deepEqual(notes(f2), [], 'warned once');
  en.step({ kind: 'tick', now: at(312) });
  const ok = en.step({ kind: 'renewed', now: at(313), key: K, leaseId: 'L1', result: { kind: 'renewed', lease: lease() } });
  assert.deepEqual(codes(ok), []);
  assert.equal(notes(ok)[0]!.title, 'CAD Pro: license renewed');
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(1600) })), []);
});

test('renewal fails until expiry + grace: return at expiry, offline launch from expiry, then the policy enforcement', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'terminate' });
  launchAndGrant(en, p);
  en.step({ kind: 'tick', now: at(300.4) });
  en.step({ kind: 'renewed', now: at(301), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } });
  let all: Effect[] = [];
  for (let s = 306; s <= 1520; s += 5) {
    const fx = en.step({ kind: 'tick', now: at(s) });
    all = all.concat(fx);
    const r = fx.find((f) => f.kind === 'renew' || f.kind === 'acquire');
    if (r?.kind === 'renew') all = all.concat(en.step({ kind: 'renewed', now: at(s), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } }));
  }
  const recs = all.flatMap((f) => (f.kind === 'journal' ? [f.record] : []));
  assert.deepEqual(
    recs.map((r) => [r.code, r.time, r.reason ?? null]),
    [
      [4, '2024-05-01T08:15:00.400Z', 'lost'],
      [2, '2024-05-01T08:15:00.400Z', 'lost'],
      [10, '2024-05-01T08:15:00.400Z', 'no-allocation'],
      [7, '2024-05-01T08:25:01.000Z', 'lease-expired'],
    ],
  );
  assert.deepEqual(signals(all), ['SIGTERM:100', 'SIGKILL:100']);
});

test('lease ran out locally while the server was away, but the server kept it: offline segment closed, same lease, "renewed"', () => {
  const en = new Enforcer(settings);
  launchAndGrant(en, product({ onDeny: 'terminate' }));
  en.step({ kind: 'tick', now: at(300.4) });
  en.step({ kind: 'renewed', now: at(301), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } });
  en.step({ kind: 'tick', now: at(306) });
  en.step({ kind: 'renewed', now: at(306), key: K, leaseId: 'L1', result: { kind: 'unreachable', error: 'x' } });
  const exp = en.step({ kind: 'tick', now: at(901) });
  assert.deepEqual(codes(exp), [4, 2, 10]);
  assert.deepEqual(
    kinds(exp).filter((k) => k === 'renew'),
    ['renew'],
    'the lease id is tried again',
  );
  const back = en.step({ kind: 'renewed', now: at(902), key: K, leaseId: 'L1', result: { kind: 'renewed', lease: lease() } });
  assert.deepEqual(codes(back), [11, 1, 3]);
  assert.equal(notes(back)[0]!.title, 'CAD Pro: license renewed');
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(1600) })), []);
  assert.equal(leasedEntry(en).leaseId, 'L1');
});

test('renewal answered "gone" (server swept it): 2 lost, re-acquire with a new request id', () => {
  const en = new Enforcer(settings);
  launchAndGrant(en, product());
  en.step({ kind: 'tick', now: at(300.4) });
  const g = en.step({ kind: 'renewed', now: at(301), key: K, leaseId: 'L1', result: { kind: 'gone' } });
  assert.deepEqual(codes(g), [4, 2]);
  const acq = g.find((f) => f.kind === 'acquire') as Extract<Effect, { kind: 'acquire' }>;
  assert.match(acq.request.requestId, /\|1$/);
  const again = en.step({ kind: 'acquired', now: at(302), key: K, requestId: acq.request.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(codes(again), [1, 3]);
  assert.equal((again[1] as Extract<Effect, { kind: 'journal' }>).record.time, '2024-05-01T08:05:02.000Z');
});

test('exit while the acquire is in flight: the lease it brings back is released at once', () => {
  const en = new Enforcer(settings);
  const fx = en.step({ kind: 'launch', now: at(0.3), product: product(), proc: proc(100) });
  const req = (fx[0] as Extract<Effect, { kind: 'acquire' }>).request;
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(0.35), pid: 100 })), []);
  const g = en.step({ kind: 'acquired', now: at(0.4), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease() } });
  assert.deepEqual(kinds(g), ['release']);
  assert.equal(en.state.entries.size, 0);
});

test('logged programs: 8/9 online, 12/13 offline, never a lease', () => {
  const en = new Enforcer(settings);
  const logged: LoggedProduct = { id: 'editor', name: 'Editor', logged: true, match: { executables: ['ed'], paths: [] } };
  en.step({ kind: 'online', now: at(0) });
  const l1 = en.step({ kind: 'launch', now: at(1), product: logged, proc: proc(5, 1) });
  assert.deepEqual(kinds(l1), ['journal']);
  assert.deepEqual(codes(l1), [8]);
  en.step({ kind: 'offline', now: at(2) });
  assert.deepEqual(codes(en.step({ kind: 'launch', now: at(3), product: logged, proc: proc(6, 3) })), [12]);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(4), pid: 5 })), [13], 'quit offline');
  en.step({ kind: 'online', now: at(5) });
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(6), pid: 6 })), [13], 'launched offline');
});

test('idle harvesting: asks first with a deadline, coming back cancels, staying idle releases the lease', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'release' } });
  launchAndGrant(en, p);
  assert.deepEqual(kinds(en.step({ kind: 'idle', now: at(1000), user: 'alice', productId: 'cad', idleSeconds: 900 })), []);
  const ask = en.step({ kind: 'idle', now: at(2000), user: 'alice', productId: 'cad', idleSeconds: 1800 });
  assert.equal(notes(ask)[0]!.body, 'CAD Pro has had no input for 30 min. Unless you use it before 08:34:20 UTC, its license will be released for others.');
  const back = en.step({ kind: 'idle', now: at(2030), user: 'alice', productId: 'cad', idleSeconds: 2 });
  assert.equal(notes(back)[0]!.title, 'CAD Pro: license kept');
  assert.deepEqual(
    codes(en.step({ kind: 'tick', now: at(2060) })).filter((c) => c === 2),
    [],
  );
  en.step({ kind: 'idle', now: at(4000), user: 'alice', productId: 'cad', idleSeconds: 1900 });
  const rel = en.step({ kind: 'tick', now: at(4060) });
  assert.deepEqual(codes(rel), [4, 2]);
  assert.deepEqual(
    rel.find((f) => f.kind === 'release'),
    { kind: 'release', key: K, leaseId: 'L1', reason: 'idle' },
  );
});

test('idle harvesting is off by default', () => {
  const en = new Enforcer(settings);
  launchAndGrant(en, product());
  assert.deepEqual(kinds(en.step({ kind: 'idle', now: at(99999), user: 'alice', productId: 'cad', idleSeconds: 99999 })), []);
});

test('matching: executable names (case, .exe), path globs, truncated comm', () => {
  const m = new Matcher([
    { id: 'cad', match: { executables: ['Acad.exe', 'cadpro'], paths: [] } },
    { id: 'gis', match: { executables: [], paths: ['/opt/gis/**/bin/*', 'C:/Program Files/GIS/*.exe'] } },
    { id: 'long', match: { executables: ['averyveryverylongname'], paths: [] } },
  ]);
  assert.equal(m.match({ exe: '/usr/bin/acad', command: 'acad' })?.id, 'cad');
  assert.equal(m.match({ exe: 'C:\\Tools\\ACAD.EXE', command: 'ACAD.EXE' })?.id, 'cad');
  assert.equal(m.match({ exe: '/opt/gis/2024/x/bin/gis-desktop', command: 'gis-desktop' })?.id, 'gis');
  assert.equal(m.match({ exe: '/opt/gis/bin/gis', command: 'gis' })?.id, 'gis');
  assert.equal(m.match({ exe: '/opt/gis/lib/gis.so', command: 'x' }), undefined);
  assert.equal(m.match({ exe: 'C:\\Program Files\\GIS\\gis.exe', command: 'gis.exe' })?.id, 'gis');
  assert.equal(m.match({ exe: null, command: 'averyveryverylo' })?.id, 'long');
  assert.equal(m.match({ exe: null, command: 'cadpro' })?.id, 'cad');
  assert.equal(m.match({ exe: '/usr/bin/cadprox', command: 'cadprox' }), undefined);
  assert.equal(globToRegExp('/a/*/c').test('/a/b/d/c'), false);
});

// --- idle harvesting: the user comes back ------------------------------------------------------

const records = (fx: Effect[]) =>
  fx.flatMap((f) => (f.kind === 'journal' ? [[f.record.code, f.record.time, f.record.pid ?? null, f.record.reason ?? null, f.record.offline]] : []));
const acquireOf = (fx: Effect[]) => fx.find((f): f is Extract<Effect, { kind: 'acquire' }> => f.kind === 'acquire');
const idleEv = (s: number, idleSeconds: number) => ({ kind: 'idle' as const, now: at(s), user: 'alice', productId: 'cad', idleSeconds });

/**
 * Granted at 0.4 s, idle for 30 min: asked at 2000 s (deadline 2060 s: 08:34:20 UTC), released
 * at 2060 s. Returns the effects of the release.
 */
function harvestAt2060(en: Enforcer, p: ProductPolicy): Effect[] {
  launchAndGrant(en, p);
  assert.equal(notes(en.step(idleEv(2000, 1800)))[0]!.title, 'CAD Pro: are you still using it?');
  return en.step({ kind: 'tick', now: at(2060) });
}

test('idle suspend, then the user is back: same entry asks again, SIGCONT on the grant, 1 + 3 at the grant, "your license is back"', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'suspend' } });
  const rel = harvestAt2060(en, p);
  assert.deepEqual(records(rel), [
    [4, '2024-05-01T08:34:20.000Z', 100, 'idle', false],
    [2, '2024-05-01T08:34:20.000Z', null, 'idle', false],
  ]);
  assert.deepEqual(
    rel.find((f) => f.kind === 'release'),
    { kind: 'release', key: K, leaseId: 'L1', reason: 'idle' },
  );
  assert.deepEqual(signals(rel), ['SIGSTOP:100']);
  assert.equal(notes(rel)[0]!.body, 'Its license was released because it was idle. Use CAD Pro again to continue: its license is requested again.');
  assert.deepEqual(
    en.heldLeases().map((l) => [l.phase, l.reason, l.leaseId]),
    [['denied', 'idle', null]],
  );
  assert.equal(en.nextDeadline(), undefined, 'nothing scheduled while released: no renewals, no retries');
  // Still idle: nothing happens.
  assert.deepEqual(kinds(en.step(idleEv(2100, 1900))), []);
  // Input in the program (idle 1 s): a new request for the same (user, product), same process.
  const back = en.step(idleEv(3000, 1));
  assert.deepEqual(kinds(back), ['acquire']);
  const req = acquireOf(back)!.request;
  assert.deepEqual([req.pid, req.product, req.user, req.queue], [100, 'cad', 'alice', false]);
  assert.equal(req.requestId, 'ws1|alice|cad|100|2024-05-01T08:00:00.000Z|1', 'a new request id (the old lease was released), one entry');
  assert.equal(en.state.entries.size, 1);
  assert.deepEqual(kinds(en.step(idleEv(3000.5, 0))), [], 'one request in flight at a time');
  assert.deepEqual(signals(back), [], 'still paused until the answer');
  const g = en.step({ kind: 'acquired', now: at(3001), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(records(g), [
    [1, '2024-05-01T08:50:01.000Z', null, null, false],
    [3, '2024-05-01T08:50:01.000Z', 100, null, false],
  ]);
  assert.deepEqual(signals(g), ['SIGCONT:100']);
  assert.deepEqual(
    notes(g).map((n) => [n.id, n.title, n.body]),
    [['usage-agent:cad:alice:idle', 'CAD Pro: your license is back', 'Welcome back. A license was granted again and CAD Pro continues.']],
  );
  assert.deepEqual(
    en.heldLeases().map((l) => [l.phase, l.reason, l.leaseId]),
    [['held', null, 'L2']],
  );
  assert.equal(en.nextDeadline(), at(3301), 'renewals of the new lease');
  // The idle cycle starts over: no question while in use; quit returns the new lease.
  assert.deepEqual(kinds(en.step(idleEv(3100, 99))), []);
  const quit = en.step({ kind: 'exit', now: at(4000), pid: 100 });
  assert.deepEqual(codes(quit), [4, 2]);
  assert.deepEqual(
    quit.find((f) => f.kind === 'release'),
    { kind: 'release', key: K, leaseId: 'L2', reason: 'quit' },
  );
  assert.equal(en.state.entries.size, 0);
});

test('idle suspend, back, leased license: 30 license stop at the release, 29 license start (no second 27) on the way back', () => {
  const en = new Enforcer(settings);
  const p = product({ licenseType: 'leased', idle: { afterSeconds: 1800, action: 'suspend' } });
  assert.deepEqual(codes(harvestAt2060(en, p)), [4, 30]);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  const g = en.step({ kind: 'acquired', now: at(3001), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(codes(g), [29, 3]);
});

test('idle suspend, back, all seats taken, queue + suspend: 5 queue and it stays paused; dequeue 6, 1, 3 and SIGCONT when granted', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'suspend', queue: true, idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  assert.equal(req.queue, true);
  const q = en.step({
    kind: 'acquired',
    now: at(3001),
    key: K,
    requestId: req.requestId,
    result: { kind: 'queued', queued: { ticket: 'T1', product: 'cad', position: 2, keepaliveSeconds: 60, maxWaitSeconds: 30, existing: false } },
  });
  assert.deepEqual(records(q), [[5, '2024-05-01T08:50:01.000Z', null, 'all-seats-in-use', false]]);
  assert.deepEqual(signals(q), [], 'already paused: no second SIGSTOP, no SIGCONT');
  assert.equal(
    notes(q)[0]!.body,
    'All 2 seats are in use. CAD Pro is paused and you are number 2 in the queue. It continues by itself as soon as a license is free.',
  );
  assert.deepEqual(
    q.find((f) => f.kind === 'pollQueue'),
    { kind: 'pollQueue', key: K, ticket: 'T1', waitSeconds: 30 },
  );
  assert.deepEqual(kinds(en.step(idleEv(3010, 0))), [], 'more input while queued: nothing new');
  const g = en.step({
    kind: 'queue',
    now: at(3500),
    key: K,
    ticket: 'T1',
    result: { kind: 'status', status: { status: 'granted', ticket: 'T1', product: 'cad', lease: lease('L3') } },
  });
  assert.deepEqual(records(g), [
    [6, '2024-05-01T08:58:20.000Z', null, null, false],
    [1, '2024-05-01T08:58:20.000Z', null, null, false],
    [3, '2024-05-01T08:58:20.000Z', 100, null, false],
  ]);
  assert.deepEqual(signals(g), ['SIGCONT:100']);
  assert.equal(notes(g)[0]!.title, 'CAD Pro: your license is back');
});

test('idle suspend, back, refused with onDeny notify: 7 and it runs again unlicensed (SIGCONT), never asked again on more input', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'notify', idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  const d = en.step({ kind: 'acquired', now: at(3001), key: K, requestId: req.requestId, result: deniedAnswer() });
  assert.deepEqual(records(d), [[7, '2024-05-01T08:50:01.000Z', null, 'all-seats-in-use', false]]);
  assert.deepEqual(signals(d), ['SIGCONT:100']);
  assert.equal(notes(d)[0]!.body, 'All 2 seats of CAD Pro are in use. You may keep working; this use is recorded as unlicensed.');
  assert.deepEqual(kinds(en.step(idleEv(3100, 0))), [], 'a refusal is not retried on input (as at launch)');
  assert.equal(en.nextDeadline(), undefined);
});

test('idle suspend, back, refused with onDeny terminate: 7, SIGCONT at once so work can be saved, warning, SIGTERM then SIGKILL', () => {
  const en = new Enforcer(settings);
  const p = product({ onDeny: 'terminate', idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  const d = en.step({ kind: 'acquired', now: at(3001), key: K, requestId: req.requestId, result: deniedAnswer() });
  assert.deepEqual(codes(d), [7]);
  assert.deepEqual(signals(d), ['SIGCONT:100']);
  assert.equal(notes(d)[0]!.body, 'All 2 seats of CAD Pro are in use. CAD Pro will be closed at 08:51:01 UTC (in 60 s). Save your work now.');
  assert.equal(en.nextDeadline(), at(3061));
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(3061) })), ['SIGTERM:100']);
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(3071) })), ['SIGKILL:100']);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(3071.1), pid: 100 })), []);
  assert.equal(en.state.entries.size, 0);
});

test('idle suspend, back, server unreachable: offline allow runs it again (10 from now, not from its start); later 11, 1, 3 with the same request', () => {
  const en = new Enforcer(settings);
  const p = product({ offline: 'allow', idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  const off = en.step({ kind: 'acquired', now: at(3002), key: K, requestId: req.requestId, result: { kind: 'unreachable', error: 'ECONNREFUSED' } });
  assert.deepEqual(records(off), [[10, '2024-05-01T08:50:02.000Z', 100, 'no-allocation', true]]);
  assert.deepEqual(signals(off), ['SIGCONT:100']);
  const retry = en.step({ kind: 'tick', now: at(3007) });
  assert.equal(acquireOf(retry)!.request.requestId, req.requestId);
  const g = en.step({ kind: 'acquired', now: at(3008), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(records(g), [
    [11, '2024-05-01T08:50:08.000Z', 100, 'reconnected', true],
    [1, '2024-05-01T08:50:08.000Z', null, null, false],
    [3, '2024-05-01T08:50:08.000Z', 100, null, false],
  ]);
  assert.deepEqual(signals(g), []);
});

test('idle suspend, back, server unreachable with offline deny + suspend: 7 offline, stays paused, SIGCONT when a retry is granted', () => {
  const en = new Enforcer(settings);
  const p = product({ offline: 'deny', onDeny: 'suspend', queue: true, idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const req = acquireOf(en.step(idleEv(3000, 0)))!.request;
  const off = en.step({ kind: 'acquired', now: at(3002), key: K, requestId: req.requestId, result: { kind: 'unreachable', error: 'x' } });
  assert.deepEqual(records(off), [[7, '2024-05-01T08:50:02.000Z', null, 'offline', false]]);
  assert.deepEqual(signals(off), []);
  assert.equal(notes(off)[0]!.title, 'CAD Pro: paused, no license');
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(3006.9) })), []);
  const retry = en.step({ kind: 'tick', now: at(3007) });
  assert.equal(acquireOf(retry)!.request.requestId, req.requestId);
  const g = en.step({ kind: 'acquired', now: at(3008), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(codes(g), [1, 3]);
  assert.deepEqual(signals(g), ['SIGCONT:100']);
  assert.equal(notes(g)[0]!.title, 'CAD Pro: your license is back');
});

test('idle release (program kept running): input gets a license again, no signals', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'release' } });
  const rel = harvestAt2060(en, p);
  assert.deepEqual(signals(rel), []);
  const req = acquireOf(en.step(idleEv(2500, 3)))!.request;
  const g = en.step({ kind: 'acquired', now: at(2501), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(records(g), [
    [1, '2024-05-01T08:41:41.000Z', null, null, false],
    [3, '2024-05-01T08:41:41.000Z', 100, null, false],
  ]);
  assert.deepEqual(signals(g), []);
  assert.equal(notes(g)[0]!.body, 'Welcome back. CAD Pro is licensed again.');
});

test('input made during the warning but reported after the release (late record): the license is asked for again at once', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  // At 2070 s the per-minute record arrives: last input at 2050 s (after the question at 2000 s),
  // i.e. idle 20 s, which is also < afterSeconds.
  assert.deepEqual(kinds(en.step(idleEv(2070, 20))), ['acquire']);
});

test('input after the question counts even when the warning is longer than the idle time', () => {
  const en = new Enforcer({ ...settings, terminateWarningSeconds: 600 });
  const p = product({ idle: { afterSeconds: 120, action: 'suspend' } });
  launchAndGrant(en, p);
  en.step(idleEv(200, 130)); // asked at 200 s, last input at 70 s
  // At 500 s the last input was at 260 s: 240 s ago (more than the idle time) but after the question.
  const kept = en.step(idleEv(500, 240));
  assert.equal(notes(kept)[0]!.title, 'CAD Pro: license kept');
  assert.deepEqual(codes(en.step({ kind: 'tick', now: at(800) })), []);
});

test('the policy turns harvesting off while a program is released for idleness: input still brings its license back', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  en.state.entries.get(K)!.product = product({ idle: { afterSeconds: null, action: 'none' } });
  assert.deepEqual(kinds(en.step(idleEv(3000, 0))), ['acquire']);
});

test('started again while released for idleness: that is the user coming back; the new process is not paused, one request for the entry', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'suspend' } });
  harvestAt2060(en, p);
  const l = en.step({ kind: 'launch', now: at(3000), product: p, proc: proc(101, 2999.9) });
  assert.deepEqual(kinds(l), ['acquire']);
  assert.deepEqual(signals(l), []);
  const req = acquireOf(l)!.request;
  assert.equal(req.pid, 100, "the entry's first process names the request");
  const g = en.step({ kind: 'acquired', now: at(3001), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(
    records(g).map((r) => [r[0], r[2]]),
    [
      [1, null],
      [3, 100],
      [3, 101],
    ],
  );
  assert.deepEqual(signals(g), ['SIGCONT:100']);
});

test('idle terminate: SIGTERM, SIGKILL only to the closed program; input in it gets nothing back; state is gone when it exits', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'terminate' } });
  const rel = harvestAt2060(en, p);
  assert.deepEqual(codes(rel), [4, 2]);
  assert.deepEqual(signals(rel), ['SIGTERM:100']);
  assert.equal(notes(rel)[0]!.title, 'CAD Pro closed');
  assert.deepEqual(kinds(en.step(idleEv(2062, 0))), [], 'input in the closing program (a save dialog): no new lease');
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(2070) })), ['SIGKILL:100']);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(2070.1), pid: 100 })), []);
  assert.equal(en.state.entries.size, 0);
  assert.equal(en.nextDeadline(), undefined);
  // A later start is a fresh launch: obtain + launch at its own start time.
  assert.deepEqual(codes(launchAndGrant(en, p, 300)), [1, 3]);
});

test('idle terminate, started again before the old one is gone: a lease for the new process, the kill still only for the old one', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'terminate' } });
  harvestAt2060(en, p);
  const l = en.step({ kind: 'launch', now: at(2065), product: p, proc: proc(101, 2064.9) });
  assert.deepEqual(signals(l), [], 'the new process is not terminated');
  const req = acquireOf(l)!.request;
  assert.equal(req.pid, 101);
  const g = en.step({ kind: 'acquired', now: at(2065.5), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease('L2') } });
  assert.deepEqual(
    records(g).map((r) => [r[0], r[2]]),
    [
      [1, null],
      [3, 101],
    ],
  );
  assert.deepEqual(signals(en.step({ kind: 'tick', now: at(2070) })), ['SIGKILL:100']);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(2070.1), pid: 100 })), [], 'the closed one had no launch under the new lease');
  assert.equal(leasedEntry(en).enforcement, undefined);
  assert.deepEqual(codes(en.step({ kind: 'exit', now: at(2100), pid: 101 })), [4, 2]);
  assert.equal(en.state.entries.size, 0);
});

test('a renewal in flight when the idle release happens: its late answer is ignored and the way back still works', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'suspend' } });
  launchAndGrant(en, p);
  // Renewals answered every 300 s up to 1500.4 s; the one due at 1800.4 s is still in flight.
  for (let due = en.nextDeadline()!; due < at(1800); due = en.nextDeadline()!) {
    assert.deepEqual(kinds(en.step({ kind: 'tick', now: due })), ['renew']);
    en.step({ kind: 'renewed', now: due, key: K, leaseId: 'L1', result: { kind: 'renewed', lease: lease() } });
  }
  assert.deepEqual(kinds(en.step({ kind: 'tick', now: at(1800.4) })), ['renew']);
  en.step(idleEv(1950, 1800));
  const rel = en.step({ kind: 'tick', now: at(2010) });
  assert.deepEqual(codes(rel), [4, 2]);
  assert.deepEqual(kinds(en.step({ kind: 'renewed', now: at(2010.2), key: K, leaseId: 'L1', result: { kind: 'renewed', lease: lease() } })), []);
  assert.equal(leasedEntry(en).leaseId, undefined, 'the released lease is not taken back by the late answer');
  assert.deepEqual(kinds(en.step(idleEv(3000, 0))), ['acquire']);
});

test('idle notify only reminds, at most once per idle time', () => {
  const en = new Enforcer(settings);
  const p = product({ idle: { afterSeconds: 1800, action: 'notify' } });
  launchAndGrant(en, p);
  assert.equal(notes(en.step(idleEv(2000, 1800))).length, 1);
  const t = en.step({ kind: 'tick', now: at(2060) });
  assert.deepEqual([codes(t), notes(t), t.filter((f) => f.kind === 'release' || f.kind === 'signal')], [[], [], []], 'nothing released');
  assert.deepEqual(notes(en.step(idleEv(2065, 1865))), []);
  assert.deepEqual(notes(en.step(idleEv(3799, 3599))), []);
  assert.equal(notes(en.step(idleEv(3800, 3600)))[0]!.title, 'CAD Pro: are you still using it?');
  assert.equal(en.state.entries.get(K)!.phase, 'held');
});

const denied = {
  type: '',
  title: '',
  status: 409,
  code: 'lease-denied',
  reason: 'all-seats-in-use',
  product: 'cad',
  inUse: 2,
  seats: 2,
  message: 'x',
  queueAvailable: false,
} as const;

test('gate: SIGSTOP before the lease request; grant -> SIGCONT with 1 + 3; a second instance while asking waits stopped too', () => {
  const en = new Enforcer(settings);
  const p = product({ gate: true });
  const fx = en.step({ kind: 'launch', now: at(0.05), product: p, proc: proc(100) });
  assert.deepEqual(kinds(fx), ['signal', 'acquire'], 'stopped first, then asked');
  assert.deepEqual(fx[0], { kind: 'signal', pids: [100], signal: 'SIGSTOP', key: K, gate: true });
  const req = (fx[1] as Extract<Effect, { kind: 'acquire' }>).request;
  assert.deepEqual(signals(en.step({ kind: 'launch', now: at(0.08), product: p, proc: proc(101, 0.07) })), ['SIGSTOP:101']);
  const g = en.step({ kind: 'acquired', now: at(0.1), key: K, requestId: req.requestId, result: { kind: 'granted', lease: lease() } });
  assert.deepEqual(codes(g), [1, 3, 3]);
  assert.deepEqual(signals(g), ['SIGCONT:100,101']);
  // Once held, further instances are neither stopped nor asked about.
  assert.deepEqual(kinds(en.step({ kind: 'launch', now: at(5), product: p, proc: proc(102, 5) })), ['journal']);
  // Without gate nothing is stopped at launch.
  const en2 = new Enforcer(settings);
  assert.deepEqual(kinds(en2.step({ kind: 'launch', now: at(0.05), product: product(), proc: proc(100) })), ['acquire']);
});

test('gate + deny + terminate: killed at once without a warning, never continued; started again: asked again, killed again', () => {
  const en = new Enforcer(settings);
  const p = product({ gate: true, onDeny: 'terminate' });
  const fx = en.step({ kind: 'launch', now: at(0.05), product: p, proc: proc(100) });
  const req = (fx[1] as Extract<Effect, { kind: 'acquire' }>).request;
  const out = en.step({ kind: 'acquired', now: at(0.1), key: K, requestId: req.requestId, result: { kind: 'denied', denied } });
  assert.deepEqual(codes(out), [7]);
  assert.deepEqual(signals(out), ['SIGKILL:100'], 'no SIGCONT: it never runs further');
  assert.equal(notes(out)[0]!.title, 'CAD Pro was not started');
  assert.equal(notes(out)[0]!.body, 'All 2 seats of CAD Pro are in use. CAD Pro was stopped before it opened.');
  assert.equal(en.nextDeadline(), undefined, 'no warning deadline');
  // Launched again before the kill's exit was seen: stopped and killed at once.
  assert.deepEqual(signals(en.step({ kind: 'launch', now: at(0.2), product: p, proc: proc(101, 0.15) })), ['SIGSTOP:101', 'SIGKILL:101']);
  en.step({ kind: 'exit', now: at(0.3), pid: 100 });
  en.step({ kind: 'exit', now: at(0.3), pid: 101 });
  assert.equal(en.state.entries.size, 0);
  // A later launch is a new attempt: stopped and asked again (a seat may be free now).
  assert.deepEqual(kinds(en.step({ kind: 'launch', now: at(10), product: p, proc: proc(102, 10) })), ['signal', 'acquire']);
});

test('gate + queue + suspend: waits stopped in the queue (no SIGSTOP twice), SIGCONT when granted; queue + notify: runs while waiting', () => {
  const en = new Enforcer(settings);
  const p = product({ gate: true, onDeny: 'suspend', queue: true });
  const fx = en.step({ kind: 'launch', now: at(0.05), product: p, proc: proc(100) });
  const req = (fx[1] as Extract<Effect, { kind: 'acquire' }>).request;
  const q = en.step({
    kind: 'acquired',
    now: at(0.1),
    key: K,
    requestId: req.requestId,
    result: { kind: 'queued', queued: { ticket: 'T1', product: 'cad', position: 1, keepaliveSeconds: 60, maxWaitSeconds: 30, existing: false } },
  });
  assert.deepEqual(codes(q), [5]);
  assert.deepEqual(signals(q), [], 'already stopped by the gate');
  assert.deepEqual(signals(en.step({ kind: 'launch', now: at(1), product: p, proc: proc(101, 1) })), ['SIGSTOP:101']);
  const g = en.step({
    kind: 'queue',
    now: at(42),
    key: K,
    ticket: 'T1',
    result: { kind: 'status', status: { status: 'granted', ticket: 'T1', product: 'cad', lease: lease('L9') } },
  });
  assert.deepEqual(codes(g), [6, 1, 3, 3]);
  assert.deepEqual(signals(g), ['SIGCONT:100,101']);

  const en2 = new Enforcer(settings);
  const pn = product({ gate: true, onDeny: 'notify', queue: true });
  const fx2 = en2.step({ kind: 'launch', now: at(0.05), product: pn, proc: proc(100) });
  const req2 = (fx2[1] as Extract<Effect, { kind: 'acquire' }>).request;
  const q2 = en2.step({
    kind: 'acquired',
    now: at(0.1),
    key: K,
    requestId: req2.requestId,
    result: { kind: 'queued', queued: { ticket: 'T2', product: 'cad', position: 3, keepaliveSeconds: 60, maxWaitSeconds: 30, existing: false } },
  });
  assert.deepEqual(signals(q2), ['SIGCONT:100']);
});

test('gate + deny + notify, and gate offline allow: continued (runs unlicensed / offline); offline deny + suspend: stays stopped', () => {
  const en = new Enforcer(settings);
  const p = product({ gate: true, onDeny: 'notify' });
  const fx = en.step({ kind: 'launch', now: at(0.05), product: p, proc: proc(100) });
  const req = (fx[1] as Extract<Effect, { kind: 'acquire' }>).request;
  const out = en.step({ kind: 'acquired', now: at(0.1), key: K, requestId: req.requestId, result: { kind: 'denied', denied } });
  assert.deepEqual(codes(out), [7]);
  assert.deepEqual(signals(out), ['SIGCONT:100']);

  const en2 = new Enforcer(settings);
  const fx2 = en2.step({ kind: 'launch', now: at(0.05), product: product({ gate: true, offline: 'allow' }), proc: proc(100) });
  const o2 = en2.step({
    kind: 'acquired',
    now: at(0.1),
    key: K,
    requestId: (fx2[1] as Extract<Effect, { kind: 'acquire' }>).request.requestId,
    result: { kind: 'unreachable', error: 'ECONNREFUSED' },
  });
  assert.deepEqual(codes(o2), [10]);
  assert.deepEqual(signals(o2), ['SIGCONT:100']);

  const en3 = new Enforcer(settings);
  const fx3 = en3.step({ kind: 'launch', now: at(0.05), product: product({ gate: true, offline: 'deny', onDeny: 'suspend', queue: true }), proc: proc(100) });
  const o3 = en3.step({
    kind: 'acquired',
    now: at(0.1),
    key: K,
    requestId: (fx3[1] as Extract<Effect, { kind: 'acquire' }>).request.requestId,
    result: { kind: 'unreachable', error: 'ECONNREFUSED' },
  });
  assert.deepEqual(codes(o3), [7]);
  assert.deepEqual(signals(o3), [], 'stays stopped until a retry is granted');
});
