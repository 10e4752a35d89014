import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ServerClock,
  rawEventCategory,
  rawEventTime,
  x11SocketAddress,
  XI_RAW_BUTTON_PRESS,
  XI_RAW_KEY_PRESS,
  XI_RAW_MOTION,
  XPacketSplitter,
} from '../../src/session/xinput2.js';
import { runAgentCli, tempDataDir } from '../helpers/cli.js';
import { countsSettle, inputCounter, type Counts } from '../helpers/input.js';
import { allFiles, readRecords, startAgentProcess, writeConfig } from '../helpers/session.js';
import { activate, killChild, startXClient, startXvfb, xdotool } from '../helpers/x11.js';
import { waitFor } from '../helpers/wait.js';

/**
 * An XI2 raw event as the server sends it, without the 8-byte GenericEvent header (XI2proto.h
 * xXIRawEvent): evtype, deviceid, time, detail, sourceid, valuators_len, flags, pad, mask, values.
 */
function rawEvent(evtype: number, o: { time?: number; detail?: number; axes?: number[] } = {}): Buffer {
  const axes = o.axes ?? [];
  const maskWords = axes.length > 0 ? Math.floor(Math.max(...axes) / 32) + 1 : 0;
  const b = Buffer.alloc(24 + maskWords * 4 + axes.length * 16);
  b.writeUInt16LE(evtype, 0);
  b.writeUInt16LE(2, 2);
  b.writeUInt32LE(o.time ?? 0, 4);
  b.writeUInt32LE(o.detail ?? 0, 8);
  b.writeUInt16LE(11, 12);
  b.writeUInt16LE(maskWords, 14);
  for (const a of axes) b.writeUInt32LE(b.readUInt32LE(24 + (a >> 5) * 4) | (1 << (a & 31)), 24 + (a >> 5) * 4);
  return b;
}

test('raw events map to categories: keys, buttons, wheel buttons 4-7, X/Y motion only', () => {
  assert.equal(rawEventCategory(rawEvent(XI_RAW_KEY_PRESS, { detail: 38 })), 'keyboard');
  for (const button of [1, 2, 3, 8, 9]) assert.equal(rawEventCategory(rawEvent(XI_RAW_BUTTON_PRESS, { detail: button })), 'button', `button ${button}`);
  for (const button of [4, 5, 6, 7]) assert.equal(rawEventCategory(rawEvent(XI_RAW_BUTTON_PRESS, { detail: button })), 'wheel', `button ${button}`);
  assert.equal(rawEventCategory(rawEvent(XI_RAW_MOTION, { axes: [0, 1] })), 'move');
  assert.equal(rawEventCategory(rawEvent(XI_RAW_MOTION, { axes: [1] })), 'move');
  // A smooth-scroll valuator alone (axis 3) is not a move: its emulated wheel button counts it.
  assert.equal(rawEventCategory(rawEvent(XI_RAW_MOTION, { axes: [3] })), undefined);
  assert.equal(rawEventCategory(rawEvent(XI_RAW_MOTION, {})), undefined);
  assert.equal(rawEventCategory(rawEvent(14 /* RawKeyRelease */, { detail: 38 })), undefined);
  assert.equal(rawEventCategory(rawEvent(16 /* RawButtonRelease */, { detail: 1 })), undefined);
  assert.equal(rawEventCategory(Buffer.alloc(10)), undefined);
  assert.equal(rawEventTime(rawEvent(XI_RAW_MOTION, { time: 0xfffffff0, axes: [0] })), 0xfffffff0);
});

test('server times map onto the monotonic clock: bounded by the read, re-anchored by fresh reads, across the 32-bit wrap', () => {
  const c = new ServerClock();
  // A fresh read at t=1000 of an event stamped 500: the offset is 500.
  assert.equal(c.toMono(500, 1000, true), 1000);
  // A backlog read 100 ms after its events: each keeps its own spacing.
  assert.equal(c.toMono(520, 1120, false), 1020);
  assert.equal(c.toMono(590, 1120, false), 1090);
  // An event that would be later than its read: the bound wins and the anchor moves.
  assert.equal(c.toMono(700, 1150, false), 1150);
  assert.equal(c.toMono(710, 1300, false), 1160);
  // A fresh read re-anchors (a remote server's clock running slower than ours).
  assert.equal(c.toMono(900, 2000, true), 2000);
  assert.equal(c.toMono(950, 2100, false), 2050);
  // Never backwards, even for a server time stamp out of order.
  assert.equal(c.toMono(940, 2100, false), 2050);
  // The server's 32-bit millisecond clock wraps: differences are modulo 2^32.
  const w = new ServerClock();
  assert.equal(w.toMono(0xffffff00, 10_000, true), 10_000);
  assert.equal(w.toMono(0x00000010, 10_500, false), 10_000 + 0x110);
});

test('the X byte stream is split into packets at any read boundary: XInput events counted in place, the rest handed on in order', () => {
  const XI = 131;
  const setup = Buffer.alloc(8 + 4 * 3, 0xaa);
  setup[0] = 1;
  setup.writeUInt16LE(3, 6);
  const packet = (type: number, extra: number, fill: number, ext = 0) => {
    const b = Buffer.alloc(32 + 4 * extra, fill);
    b[0] = type;
    b[1] = ext;
    if (type === 1 || type === 35) b.writeUInt32LE(extra, 4);
    return b;
  };
  const xiEvent = (evtype: number, time: number) => {
    const body = rawEvent(evtype, { time, detail: 1, axes: evtype === XI_RAW_MOTION ? [0, 1] : [] });
    const extra = Math.ceil((body.length - 24) / 4);
    const b = Buffer.alloc(32 + 4 * extra);
    b[0] = 35;
    b[1] = XI;
    b.writeUInt32LE(extra, 4);
    body.copy(b, 8);
    return b;
  };
  const reply = packet(1, 2, 0x11);
  const error = packet(0, 0, 0x22);
  const otherGeneric = packet(35, 1, 0x33, 77); // another extension's GenericEvent: handed on
  const coreEvent = packet(28, 0, 0x44); // PropertyNotify
  const stream = Buffer.concat([
    setup,
    reply,
    xiEvent(XI_RAW_MOTION, 10),
    error,
    xiEvent(XI_RAW_KEY_PRESS, 11),
    xiEvent(XI_RAW_BUTTON_PRESS, 12),
    otherGeneric,
    coreEvent,
    xiEvent(XI_RAW_MOTION, 13),
  ]);
  const passedExpected = Buffer.concat([setup, reply, error, otherGeneric, coreEvent]);
  for (const step of [1, 3, 7, 32, 33, 64, stream.length]) {
    const seen: string[] = [];
    const passed: Buffer[] = [];
    const splitter = new XPacketSplitter(
      (buf, off) => seen.push(`${rawEventCategory(buf, off)}@${rawEventTime(buf, off)}`),
      (bytes) => passed.push(bytes),
    );
    splitter.opcode = XI;
    for (let i = 0; i < stream.length; i += step) splitter.write(stream.subarray(i, i + step));
    assert.deepEqual(seen, ['move@10', 'keyboard@11', 'button@12', 'move@13'], `reads of ${step} bytes`);
    assert.deepEqual(Buffer.concat(passed), passedExpected, `reads of ${step} bytes`);
  }
  // Before the opcode is known (connection setup), everything is handed on.
  const passed: Buffer[] = [];
  const early = new XPacketSplitter(
    () => assert.fail('no event before the opcode is set'),
    (b) => passed.push(b),
  );
  early.write(stream);
  assert.deepEqual(Buffer.concat(passed), stream);
});

test('DISPLAY names give the socket to connect to', () => {
  assert.deepEqual(x11SocketAddress(':0'), { path: '/tmp/.X11-unix/X0' });
  assert.deepEqual(x11SocketAddress(':12.1'), { path: '/tmp/.X11-unix/X12' });
  assert.deepEqual(x11SocketAddress('unix:3'), { path: '/tmp/.X11-unix/X3' });
  assert.deepEqual(x11SocketAddress('localhost:10.0'), { host: 'localhost', port: 6010 });
  assert.throws(() => x11SocketAddress('nonsense'), /cannot parse DISPLAY/);
});

const STORM = new URL('../../bench/_storm.js', import.meta.url).pathname;

/** Runs the repository's paced XTEST storm generator; resolves with the number of moves it sent. */
async function storm(env: NodeJS.ProcessEnv, rate: number, seconds: number): Promise<number> {
  const gen = spawn(process.execPath, [STORM, String(rate), String(seconds)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  gen.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve) => gen.once('exit', () => resolve()));
  return (JSON.parse(out.trim().split('\n').pop()!) as { sent: number }).sent;
}

/** Xvfb with the XInput2 source and uiohook counting in children, ready; stopped after the test. */
async function bothSources(t: { after(fn: () => Promise<void>): void }) {
  const x = await startXvfb();
  const counters = [
    { name: 'xinput2', ...inputCounter(x.env, 'xinput2') },
    { name: 'uiohook', ...inputCounter(x.env, 'uiohook-binding') },
  ];
  t.after(async () => {
    for (const c of counters) await killChild(c.child);
    await x.stop();
  });
  for (const c of counters) await c.ready;
  return { x, counters };
}

test('XInput2 counts exactly what uiohook counts over the same real input (xdotool and the XTEST storm), in a few reads', async (t) => {
  const { x, counters } = await bothSources(t);
  const expected: Counts = { keyboard: 0, button: 0, wheel: 0, move: 0 };
  const check = async (what: string) => {
    const last = await countsSettle(counters, expected);
    for (const [name, c] of last) {
      const { reads: _reads, ...counts } = c;
      assert.deepEqual(counts, expected, `${what}: ${name} counted ${JSON.stringify(counts)}; all: ${JSON.stringify([...last])}`);
    }
    return last;
  };

  xdotool(x, 'key', 'a', 'b', 'c', 'shift+x', 'Return');
  expected.keyboard += 6; // shift+x presses two keys
  xdotool(x, 'click', '1');
  xdotool(x, 'click', '3');
  expected.button += 2;
  for (const b of ['4', '5', '6', '7']) xdotool(x, 'click', b);
  expected.wheel += 4;
  for (let i = 0; i < 10; i++) xdotool(x, 'mousemove_relative', '--', String(3 + i), String(-2));
  expected.move += 10;
  // A drag: button held while moving.
  xdotool(x, 'mousedown', '1', 'mousemove_relative', '5', '5', 'mousemove_relative', '5', '5', 'mouseup', '1');
  expected.button += 1;
  expected.move += 2;
  await check('xdotool');

  const before = (await counters[0]!.counts()).reads!;
  expected.move += await storm(x.env, 1000, 2);
  const last = await check('XTEST storm at 1000/s');
  // The batched source read its socket a few times a second, not once per event: 2,000 moves in
  // far fewer than 2,000 / 5 reads (a count, not a timing: a loaded machine reads even less often).
  const reads = last.get('xinput2')!.reads! - before;
  assert.ok(reads > 0 && reads < 2000 / 5, `xinput2 read its socket ${reads} times for 2000 moves`);
});

test('xdotool mousemove (a pointer warp, not input) gives uiohook a move and XInput2 none', async (t) => {
  // Documented difference (README): a program warping the pointer is not the user's input.
  const { x, counters } = await bothSources(t);
  xdotool(x, 'mousemove', '300', '200');
  xdotool(x, 'mousemove_relative', '1', '1'); // a real (XTEST) move: both see it, and it marks the end
  const last = await countsSettle(counters, { keyboard: 0, button: 0, wheel: 0, move: 1 }, 3000);
  assert.equal(last.get('xinput2')!.move, 1);
  assert.equal(last.get('uiohook')!.move, 2);
});

test('agent with XInput2: status names the source; no key code, button number or pointer coordinate reaches a record, log or queue', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-xi2-');
  const x = await startXvfb({ wm: true });
  t.after(() => x.stop());
  const logo = await startXClient(x, 'xlogo', ['-geometry', '800x600+0+0'], 'xlogo');
  t.after(() => void logo.child.kill());
  await activate(x, logo.window);
  const activity = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 };
  const config = writeConfig(dir, { processes: { enabled: false }, activity, journal: { flushIntervalMs: 100 }, log: { level: 'trace' } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data, '--log-level', 'trace'], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(
    ['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db'), '--log-level', 'trace'],
    join(dir, 'session.log'),
    {
      env: x.env,
    },
  );
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  assert.match(session.output(), /"mode":"hooks","source":"xinput2"/);
  await waitFor(
    () => {
      const s = runAgentCli(['status', '--json', '--data-dir', data]);
      return s.stdout.includes('"inputSource": "xinput2"');
    },
    'status to name the xinput2 source',
    10_000,
    { stepMs: 200 },
  );

  // Distinctive input: a typed secret (its key codes), buttons 2 and 9, and pointer positions
  // (613, 457) ... (641, 485) reached by relative moves (the coordinates are in every RawMotion).
  const secret = 'Qv8%Lmp';
  xdotool(x, 'type', '--delay', '40', secret);
  xdotool(x, 'mousemove', '608', '452');
  for (let i = 1; i <= 8; i++) xdotool(x, 'mousemove_relative', '--', String(i === 1 ? 5 : 4), String(i === 1 ? 5 : 4));
  xdotool(x, 'click', '2');
  xdotool(x, 'click', '9');
  await sleep(300);
  await session.stop('SIGTERM');
  await sleep(300);
  const ie = readRecords(data, 'input-events');
  const sum = (k: string) => ie.reduce((s, r) => s + (r[k] as number), 0);
  assert.equal(sum('mouseMoves'), 8, JSON.stringify(ie));
  assert.equal(sum('mouseButtons'), 2, JSON.stringify(ie));
  assert.ok(sum('keyboard') >= secret.length, JSON.stringify(ie));
  await daemon.stop('SIGTERM');

  const keycodes = [...secret].map((c) => {
    const name = c === '%' ? 'percent' : c;
    const r = spawnSync('sh', ['-c', `xmodmap -pke | grep -w "${name}" | head -1`], { env: x.env, encoding: 'utf8' });
    return /keycode\s+(\d+)/.exec(r.stdout)?.[1];
  });
  assert.ok(keycodes.every(Boolean), `key codes of the secret: ${keycodes.join(',')}`);
  const keycodeSeq = new RegExp(keycodes.join('\\D{1,8}'));
  const coordinates = [
    [613, 457],
    [625, 469],
    [641, 485],
  ].map(([px, py]) => new RegExp(`(?<!\\d)${px}\\D{1,12}${py}(?!\\d)`));
  const files = allFiles(dir).filter((f) => !f.endsWith('config.json'));
  assert.ok(
    files.some((f) => f.includes('journal.db')) && files.some((f) => f.includes('queue.db')) && files.some((f) => f.endsWith('session.log')),
    files.join(','),
  );
  for (const f of files) {
    const text = readFileSync(f).toString('latin1');
    assert.ok(!text.includes(secret), `${f} holds the secret`);
    assert.ok(!keycodeSeq.test(text), `${f} holds the secret's key codes`);
    for (const re of coordinates) assert.ok(!re.test(text), `${f} holds a pointer position (${re})`);
    assert.ok(!/keycode|rawcode|keychar|rootx|rooty|valuator|deviceid|sourceid/i.test(text), `${f} mentions key codes, axes or devices`);
  }
});
