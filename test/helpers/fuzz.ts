/**
 * Seeded, bounded fuzzing for the test suite: a small PRNG and JSON mutators. Every fuzzer prints
 * its seed; `FUZZ_SEED=n` replays a run, `FUZZ_CASES=n` scales every fuzzer (the suite's default is
 * a few thousand cases each; `FUZZ_CASES=100000` is the long run).
 */
import { readFileSync } from 'node:fs';

/** A process's resident memory (KiB), for the fuzzers' bounded-memory checks. */
export const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** mulberry32: tiny, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** Strings that break parsers: empty, long, control characters, NUL, lone surrogates, RTL, emoji. */
  string(max = 64): string {
    const kinds = [
      () => '',
      () => 'a'.repeat(1 + this.int(max)),
      () =>
        this.pick(['\u0000', '\u001f', '\ud800', '\udfff', '\u202e', '\ufeff', '😀', '%00', '../', '\\', '"', "'", '\n', '\r\n', ' ']).repeat(1 + this.int(4)),
      () => String.fromCharCode(...Array.from({ length: 1 + this.int(max) }, () => this.int(0x10000))),
      () => this.pick(['null', 'true', '0', '-1', '1e999', 'NaN', '{}', '[]', 'DROP TABLE agents', '${jndi:ldap://x}', '<script>', '2026-13-45T25:61:61Z']),
      () => 'x'.repeat(this.pick([255, 256, 1024, 65_536])),
    ];
    return this.pick(kinds)();
  }
  number(): number {
    return this.pick([0, -0, 1, -1, 0.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53 + 1, -(2 ** 53), 1e308, -1e308, 5e-324, this.int(1000), this.next() * 1e6]);
  }
}

/** The seed of one fuzzer: FUZZ_SEED if set, else a fixed seed from its name (the suite replays the same cases). */
export function fuzzSeed(name: string): number {
  if (process.env.FUZZ_SEED) return Number(process.env.FUZZ_SEED) >>> 0;
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** Cases for one fuzzer: its default, or FUZZ_CASES. */
export function fuzzCases(defaultCases: number): number {
  return process.env.FUZZ_CASES ? Math.max(1, Number(process.env.FUZZ_CASES)) : defaultCases;
}

/** Any JSON value, nested up to `depth`. */
export function randomJson(rng: Rng, depth = 3): unknown {
  const k = rng.int(depth > 0 ? 7 : 5);
  if (k === 0) return null;
  if (k === 1) return rng.chance(0.5);
  if (k === 2) return rng.number();
  if (k === 3 || k === 4) return rng.string();
  if (k === 5) return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
  return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.string(12), randomJson(rng, depth - 1)]));
}

/**
 * A copy of `value` with one to three changes somewhere inside: a field dropped, retyped, set to a
 * hostile value or added; an array emptied, grown or nested. Mostly-valid inputs reach deeper code
 * than random ones.
 */
export function mutate(rng: Rng, value: unknown): unknown {
  let out = structuredClone(value);
  for (let n = 1 + rng.int(3); n > 0; n--) out = mutateOnce(rng, out, 0);
  return out;
}

function mutateOnce(rng: Rng, v: unknown, depth: number): unknown {
  if (Array.isArray(v)) {
    if (v.length > 0 && rng.chance(0.6)) {
      const i = rng.int(v.length);
      v[i] = mutateOnce(rng, v[i], depth + 1);
      return v;
    }
    return rng.pick([() => [], () => [...v, ...v], () => [v], () => randomJson(rng), () => Array.from({ length: 10_000 }, () => rng.int(10))])();
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > 0 && rng.chance(0.7)) {
      const key = rng.pick(keys);
      const op = rng.int(4);
      if (op === 0) delete o[key];
      else if (op === 1) o[key] = randomJson(rng, 2);
      else o[key] = mutateOnce(rng, o[key], depth + 1);
      return o;
    }
    if (rng.chance(0.5)) o[rng.pick(['__proto__', 'constructor', rng.string(16)])] = randomJson(rng, 1);
    else return randomJson(rng);
    return o;
  }
  if (typeof v === 'string' && rng.chance(0.5)) return rng.chance(0.5) ? v + rng.string(8) : v.slice(0, rng.int(v.length + 1));
  if (typeof v === 'number' && rng.chance(0.5)) return rng.number();
  return randomJson(rng, 2);
}
