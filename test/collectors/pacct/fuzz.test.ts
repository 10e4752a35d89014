/**
 * Seeded fuzzer for the pacct decoder and reader: files of valid records mixed with byte-flipped
 * ones, random 64-byte blocks and torn tails, read in random chunk sizes. The reader must never
 * throw, account for every whole 64-byte block (decoded or unreadable), leave a torn tail for
 * later, and decode only sane values. FUZZ_SEED / FUZZ_CASES replay or lengthen the run.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ACCT_V3_SIZE, decodeAcctV3, encodeAcctV3, type PacctRecord } from '../../../src/collectors/pacct/decode.js';
import { PacctReader } from '../../../src/collectors/pacct/reader.js';
import { tempDir } from '../../helpers/cli.js';
import { fuzzCases, fuzzSeed, Rng } from '../../helpers/fuzz.js';

function sane(r: PacctRecord, what: string): void {
  for (const k of ['uid', 'gid', 'pid', 'ppid', 'btime', 'tty', 'rawExitCode'] as const)
    assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `${what}: ${k} ${r[k]}`);
  for (const k of ['elapsedSeconds', 'cpuUserSeconds', 'cpuSystemSeconds', 'memBytes', 'io', 'rw', 'minorFaults', 'majorFaults', 'swaps'] as const) {
    assert.ok(Number.isFinite(r[k]) && r[k] >= 0, `${what}: ${k} ${r[k]}`);
  }
  assert.ok(r.command.length <= 16 && !r.command.includes('\0'), `${what}: command ${JSON.stringify(r.command)}`);
  assert.ok((r.exitCode === null) !== (r.signal === null), `${what}: exactly one of exit code and signal`);
}

test('pacct decoder fuzz: any 64 bytes decode to sane values or to "unreadable", never an exception', () => {
  const seed = fuzzSeed('pacct-decode');
  const rng = new Rng(seed);
  for (let i = 0, n = fuzzCases(20_000); i < n; i++) {
    const buf = rng.chance(0.5)
      ? rng.bytes(ACCT_V3_SIZE)
      : Buffer.from(encodeAcctV3({ pid: rng.int(1 << 22), btime: rng.int(2 ** 32), comm: rng.string(20).slice(0, 16) }));
    if (rng.chance(0.5)) buf[1] = rng.pick([3, 0x83, buf[1]!]); // aim at the v3 paths, both byte orders
    for (let f = rng.int(6); f > 0; f--) buf[rng.int(ACCT_V3_SIZE)] = rng.int(256);
    const r = decodeAcctV3(buf);
    if (r) sane(r, `case ${i} (seed ${seed}) ${buf.toString('hex')}`);
    else assert.notEqual(buf[1]! & 0x7f, 3);
  }
});

test('pacct reader fuzz: every whole block is a record or unreadable, torn tails wait, nothing throws', (t) => {
  const seed = fuzzSeed('pacct-reader');
  const rng = new Rng(seed);
  const dir = tempDir(t);
  for (let c = 0, n = fuzzCases(200); c < n; c++) {
    const file = join(dir, `pacct-${c}`);
    writeFileSync(file, '');
    const reader = new PacctReader(file);
    let written = 0;
    let valid = 0;
    let torn = false;
    const seen: PacctRecord[] = [];
    try {
      for (let step = 1 + rng.int(8); step > 0; step--) {
        const blocks: Buffer[] = [];
        for (let k = rng.int(40); k > 0; k--) {
          const kind = rng.int(4);
          if (kind < 2) {
            blocks.push(Buffer.from(encodeAcctV3({ pid: 1 + rng.int(1 << 20), btime: 1_700_000_000, comm: 'ok' })));
            valid++;
          } else if (kind === 2) {
            const b = rng.bytes(ACCT_V3_SIZE);
            b[1] = rng.pick([0, 1, 2, 0x7f]); // never v3: must count as unreadable
            blocks.push(b);
          } else {
            const b = Buffer.from(encodeAcctV3({ pid: 1, btime: 1, comm: 'flip' }));
            for (let f = 1 + rng.int(5); f > 0; f--) {
              const at = rng.int(ACCT_V3_SIZE);
              if (at !== 1) b[at] = rng.int(256); // fields flipped, version kept
            }
            blocks.push(b);
            valid++;
          }
        }
        let data = Buffer.concat(blocks);
        // The previous step may have left a torn record; this one may leave another.
        if (rng.chance(0.3) && data.length > 0) {
          data = data.subarray(0, Math.max(0, data.length - 1 - rng.int(63)));
          torn = true;
        }
        appendFileSync(file, data);
        written += data.length;
        reader.poll(
          (r) => {
            sane(r, `case ${c} (seed ${seed})`);
            seen.push(r);
          },
          rng.chance(0.3) ? 1 + rng.int(10) : Infinity,
        );
      }
      while (reader.poll((r) => seen.push(r)) > 0);
      const s = reader.stats();
      const whole = Math.floor(written / ACCT_V3_SIZE);
      assert.equal(s.offset, whole * ACCT_V3_SIZE, `case ${c} (seed ${seed}): a torn tail is left for later`);
      assert.equal(seen.length + s.unreadable, whole, `case ${c} (seed ${seed}): every whole block accounted for`);
      if (!torn) assert.equal(seen.length, valid, `case ${c} (seed ${seed}): with no torn write, every v3 block decodes`);
    } finally {
      reader.close();
    }
  }
});
