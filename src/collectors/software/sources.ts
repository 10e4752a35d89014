/**
 * The one small interface every package system is read through, and the choice of sources for
 * this OS. Each source answers two questions: a cheap fingerprint (a few stats: has anything
 * possibly changed since the last look?) and the full list.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { SoftwareItem, SourceName } from './model.js';

export interface SoftwareSource {
  readonly name: SourceName;
  /** Whether this package system is present here. */
  available(): boolean;
  /**
   * Changes whenever the inventory may have changed (stat of the package database); null when the
   * source cannot tell cheaply, in which case it is listed at start and at each daily audit only.
   */
  fingerprint(): string | null;
  /** True while the package manager is in the middle of a change (check again after it settles). */
  busy?(): boolean;
  /** Every installed item. */
  list(): Promise<SoftwareItem[]>;
  /** Directories whose change notifications (fs.watch) mean "check me", with the file names that matter. */
  readonly watch: ReadonlyArray<{ dir: string; files: ReadonlyArray<string> | 'any' }>;
}

/** dev:ino:size:mtime of each path ("-" for a missing one): the cheap "has it changed" token. */
export function statFingerprint(paths: ReadonlyArray<string>): string {
  return paths
    .map((p) => {
      try {
        const s = statSync(p, { bigint: true });
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}

/** The executable's path on PATH, or null. */
export function findExecutable(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Runs a program, resolving its stdout; a non-zero exit is an error carrying stderr. */
export function run(file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export const isoOrNull = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0 ? null : new Date(ms).toISOString();
