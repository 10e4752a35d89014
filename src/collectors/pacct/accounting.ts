/**
 * Which pacct file to read, and switching kernel accounting on/off when the agent owns it.
 *
 * Kernel accounting is system-wide: one file at a time. The acct(2) syscall is not reachable from
 * Node, so the agent uses `accton` from GNU acct (Debian/Ubuntu package `acct`, RHEL `psacct`).
 *
 * `auto`: if accounting already writes to a well-known file (the acct service's
 * /var/log/account/pacct, /var/account/pacct, /var/log/pacct, or the agent's own <dataDir>/pacct
 * left on by a previous run), read that file and leave accounting alone. Otherwise, when root,
 * switch accounting on into <dataDir>/pacct, rotate it at processes.pacctRotateBytes, and switch it
 * off on a clean stop. Not root and nothing active: pacct is unavailable (sampling only).
 * Detection: note the candidates' sizes, run /bin/true once, and see which file grew by a record.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SYSTEM_PACCT_FILES = ['/var/log/account/pacct', '/var/account/pacct', '/var/log/pacct'];

export function agentPacctPath(dataDir: string): string {
  return join(dataDir, 'pacct');
}

export function findAccton(): string | null {
  for (const p of ['/usr/sbin/accton', '/sbin/accton', '/usr/bin/accton', '/bin/accton']) if (existsSync(p)) return p;
  return null;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** The file kernel accounting currently writes to among `candidates`, or null. */
export function detectActiveAccounting(candidates: string[]): string | null {
  const before = candidates.map(sizeOf);
  for (let attempt = 0; attempt < 3; attempt++) {
    const probe = existsSync('/bin/true') ? '/bin/true' : process.execPath;
    spawnSync(probe, probe === process.execPath ? ['-e', ''] : [], { stdio: 'ignore', timeout: 5000 });
    // The record is written at exit, before the parent's wait returns.
    for (let i = 0; i < candidates.length; i++) {
      const now = sizeOf(candidates[i]!);
      if (before[i]! >= 0 && now > before[i]!) return candidates[i]!;
    }
  }
  return null;
}

export function accton(acctonPath: string, file: string | 'off'): void {
  execFileSync(acctonPath, [file], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/** Creates the file if missing (accton requires it), mode 0600: it names every command run. */
export function ensureFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
}

/**
 * Rotates the agent-owned file: accounting is switched to a fresh file which then takes the
 * path's name; the reader finishes the old inode through its open descriptor.
 */
export function rotateOwned(acctonPath: string, path: string): void {
  const next = `${path}.next`;
  ensureFile(next);
  accton(acctonPath, next);
  renameSync(next, path);
}
