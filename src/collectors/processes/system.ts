/**
 * What the kernel says about itself, read once when the sampler starts: clock ticks per second and
 * the page size (from `getconf`, with Linux's usual values when it is missing) and this process's
 * soft limit of open files.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Soft RLIMIT_NOFILE of this process from /proc/self/limits, or null. */
export function softNoFileLimit(procRoot = '/proc'): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`${procRoot}/self/limits`, 'latin1'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return null;
  }
}

/** A positive integer `getconf` prints for `name`, or `fallback`. */
function getconf(name: string, fallback: number): number {
  try {
    const n = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    /* not available: use the fallback */
  }
  return fallback;
}

/** Clock ticks per second (USER_HZ; 100 on Linux x86 and arm when getconf is missing). */
export const readClockTicks = (): number => getconf('CLK_TCK', 100);

/** Bytes per memory page (4096 when getconf is missing). */
export const readPageSize = (): number => getconf('PAGESIZE', 4096);
