/**
 * The one way files are replaced in this project: a temp file in the same directory, created with
 * its final mode (never readable by others, not even for a moment), written, fsynced, then renamed
 * over the target. A reader sees the old file or the new one, never half of one; after a crash or
 * power loss the file is one or the other.
 */
import { closeSync, fchownSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
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

/** writeFileAtomic on libuv's thread pool: the event loop does not wait for the disk's flush. */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): Promise<void> {
  if (o.mkdir) await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  const tmp = `${path}.${process.pid}.async.tmp`;
  try {
    const fh = await open(tmp, 'w', o.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      if (o.uid !== undefined) await fh.chown(o.uid, -1);
      if (o.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * A file rewritten whenever its contents change, possibly many times a turn (the enforcer's lease
 * bookkeeping, at every launch): `changed()` asks for a write of `render()`'s text at the end of the
 * turn, on the thread pool, one at a time, the latest contents winning. A burst of changes costs one
 * write, and no change waits for an fsync on the event loop, so a launch burst's stops go out at
 * once. `close()` waits for the write under way and writes the last contents synchronously.
 */
export class CoalescedFileWriter {
  private dirty = false;
  private writing: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  /** Writes done (each may stand for many changes). */
  writes = 0;

  constructor(
    private readonly path: string,
    private readonly render: () => string,
    private readonly options: AtomicWriteOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  changed(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.scheduled || this.writing) return; // the write under way is followed by another
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.writeLoop();
    });
  }

  private writeLoop(): void {
    if (!this.dirty || this.writing || this.closed) return;
    this.dirty = false;
    this.writing = writeFileAtomicAsync(this.path, this.render(), this.options)
      .then(() => {
        this.writes++;
      })
      .catch(this.onError)
      .finally(() => {
        this.writing = undefined;
        this.writeLoop();
      });
  }

  /** Waits for the write under way, then writes the latest contents in line if they changed since. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    try {
      writeFileAtomic(this.path, this.render(), this.options);
      this.writes++;
    } catch (err) {
      this.onError(err);
    }
  }
}
