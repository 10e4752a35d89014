/**
 * The one way files are replaced in this project: a temp file in the same directory, created with
 * its final mode (never readable by others, not even for a moment), written, fsynced, then renamed
 * over the target. A reader sees the old file or the new one, never half of one; after a crash or
 * power loss the file is one or the other.
 */
import { closeSync, fchownSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** The file's mode (filtered by the umask, as with any new file). Default 0600. */
  mode?: number;
  /** Give the file to this uid before it appears (the group stays). */
  uid?: number;
  /** Create the directory (0750) when it is missing. */
  mkdir?: boolean;
  /**
   * false: no fsync, for advisory files rewritten every few seconds (status, metrics), which
   * must not cost a disk flush each time; a crash can leave them empty, never half-written.
   */
  durable?: boolean;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): void {
  if (o.mkdir) mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', o.mode ?? 0o600);
    try {
      writeFileSync(fd, data);
      if (o.uid !== undefined) fchownSync(fd, o.uid, -1);
      if (o.durable !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
