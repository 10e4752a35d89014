import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ACCT_V3_SIZE,
  AFORK,
  ASU,
  AXSIG,
  decodeAcctV3,
  decodeCompT,
  decodeExitStatus,
  encodeAcctV3,
  encodeCompT,
} from '../../../src/collectors/pacct/decode.js';

test('comp_t: mantissa and base-8 exponent, edge values', () => {
  assert.equal(decodeCompT(0), 0);
  assert.equal(decodeCompT(1), 1);
  assert.equal(decodeCompT(0x1fff), 8191); // largest exact value
  assert.equal(decodeCompT((1 << 13) | 0x400), 1024 * 8); // exponent 1
  assert.equal(decodeCompT((2 << 13) | 1), 64);
  assert.equal(decodeCompT(0xffff), 8191 * 8 ** 7); // largest value
  assert.equal(decodeCompT(0xffff), 17_177_772_032);
});

test('comp_t: encode rounds like the kernel and round-trips small values exactly', () => {
  for (const v of [0, 1, 99, 8191]) assert.equal(decodeCompT(encodeCompT(v)), v);
  // 8192 needs exponent 1: 1024 * 8
  assert.equal(encodeCompT(8192), (1 << 13) | 1024);
  // 8199 = 1024*8 + 7: the highest dropped bit (4) rounds up to 1025*8
  assert.equal(decodeCompT(encodeCompT(8199)), 8200);
  assert.equal(decodeCompT(encodeCompT(8195)), 8192);
  // rounding carry into the next exponent: 65535 -> 8192*8 -> 1024*64
  assert.equal(decodeCompT(encodeCompT(65535)), 65536);
  assert.equal(encodeCompT(1e12), 0xffff); // saturates
});

test('exit status is a wait(2) status: exit code or signal', () => {
  assert.deepEqual(decodeExitStatus(0), { exitCode: 0, signal: null });
  assert.deepEqual(decodeExitStatus(0x0300), { exitCode: 3, signal: null });
  assert.deepEqual(decodeExitStatus(0xff00), { exitCode: 255, signal: null });
  assert.deepEqual(decodeExitStatus(9, AXSIG), { exitCode: null, signal: 9 });
  assert.deepEqual(decodeExitStatus(0x8b, AXSIG), { exitCode: null, signal: 11 }); // SIGSEGV + core
  // multithreaded exit(3): AXSIG is set by the group exit, the status says exit 3
  assert.deepEqual(decodeExitStatus(0x0300, AXSIG), { exitCode: 3, signal: null });
});

test('decodes every field of a crafted little-endian v3 record', () => {
  const buf = encodeAcctV3({
    flags: AFORK | ASU,
    tty: 0x8801,
    exitcode: 0x0200,
    uid: 1000,
    gid: 100,
    pid: 4242,
    ppid: 1,
    btime: 1_700_000_000,
    etimeTicks: 1234.5,
    utimeTicks: 150,
    stimeTicks: 20000, // comp_t exponent 1: 2500*8
    memKiB: 10240,
    comm: 'burner-cpu',
  });
  assert.equal(buf.length, ACCT_V3_SIZE);
  const r = decodeAcctV3(buf)!;
  assert.equal(r.forked, true);
  assert.equal(r.superuser, true);
  assert.equal(r.killed, false);
  assert.equal(r.tty, 0x8801);
  assert.equal(r.exitCode, 2);
  assert.equal(r.signal, null);
  assert.equal(r.uid, 1000);
  assert.equal(r.gid, 100);
  assert.equal(r.pid, 4242);
  assert.equal(r.ppid, 1);
  assert.equal(r.btime, 1_700_000_000);
  assert.equal(r.elapsedSeconds, 12.345);
  assert.equal(r.cpuUserSeconds, 1.5);
  assert.equal(r.cpuSystemSeconds, 200);
  assert.equal(r.memBytes, 10240 * 1024);
  assert.equal(r.command, 'burner-cpu');
});

test('a 15-character command fills ac_comm; a killed process has signal and no exit code', () => {
  const r = decodeAcctV3(encodeAcctV3({ pid: 7, btime: 1, comm: 'abcdefghijklmnopq', flags: AXSIG, exitcode: 15 }))!;
  assert.equal(r.command, 'abcdefghijklmno');
  assert.equal(r.killed, true);
  assert.equal(r.exitCode, null);
  assert.equal(r.signal, 15);
});

test('big-endian records (version 0x83) decode too; other versions are rejected', () => {
  const le = encodeAcctV3({ pid: 0x01020304, btime: 1_700_000_000, utimeTicks: 300, etimeTicks: 50, comm: 'x' });
  const be = Buffer.alloc(64);
  be[0] = le[0]!;
  be[1] = 0x83;
  for (const [off, size] of [
    [2, 2],
    [4, 4],
    [8, 4],
    [12, 4],
    [16, 4],
    [20, 4],
    [24, 4],
    [28, 4],
    [32, 2],
    [34, 2],
    [36, 2],
    [38, 2],
    [40, 2],
    [42, 2],
    [44, 2],
    [46, 2],
  ] as const) {
    for (let i = 0; i < size; i++) be[off + i] = le[off + size - 1 - i]!;
  }
  le.copy(be, 48, 48, 64);
  const r = decodeAcctV3(be)!;
  assert.equal(r.pid, 0x01020304);
  assert.equal(r.cpuUserSeconds, 3);
  assert.equal(r.elapsedSeconds, 0.5);
  const v2 = Buffer.from(le);
  v2[1] = 2;
  assert.equal(decodeAcctV3(v2), null);
  assert.equal(decodeAcctV3(Buffer.alloc(10)), null);
});

test('decodes at an offset inside a larger buffer', () => {
  const a = encodeAcctV3({ pid: 1, btime: 10, comm: 'first' });
  const b = encodeAcctV3({ pid: 2, btime: 20, comm: 'second', exitcode: 0x100 });
  const both = Buffer.concat([a, b]);
  assert.equal(decodeAcctV3(both, 64)!.command, 'second');
  assert.equal(decodeAcctV3(both, 64)!.exitCode, 1);
});
