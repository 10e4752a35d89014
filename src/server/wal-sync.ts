/**
 * Acknowledge only what is on disk.
 *
 * The store runs SQLite in WAL mode with `synchronous = NORMAL`: a commit is written to the WAL
 * file but not flushed, so it survives the server process dying (kill -9, a crash) but not the
 * machine losing power or the kernel crashing. An agent forgets records once they are acknowledged,
 * so before the server answers an upload it waits for an fsync of the WAL that began after the
 * upload's commit. A checkpoint moves WAL frames into the database file only after flushing the WAL
 * and flushes the database file before the WAL is reused, so a flushed commit stays durable.
 *
 * Group commit: one fsync covers every commit made before it began; calls made while an fsync is
 * running share the next one. The fsync runs on libuv's thread pool, so the event loop keeps taking
 * requests (and committing them) while the disk flushes. `synchronous = FULL` would give the same
 * guarantee by flushing inside every commit, blocking the event loop for each one.
 */
import { open } from 'node:fs/promises';

/** Flush a file to disk; a file that does not exist has nothing to flush. */
export async function fsyncFile(path: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class GroupSync {
  private running = false;
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  /** fsyncs started so far. */
  syncs = 0;

  constructor(private readonly flush: () => Promise<void>) {}

  /** Resolves once a flush that began after this call has completed; rejects if that flush failed. */
  sync(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) this.start();
    });
  }

  private start(): void {
    const group = this.waiters;
    this.waiters = [];
    this.running = true;
    this.syncs++;
    const settle = (err?: unknown) => {
      this.running = false;
      for (const w of group) {
        if (err === undefined) w.resolve();
        else w.reject(err);
      }
      if (this.waiters.length > 0) this.start();
    };
    this.flush().then(
      () => settle(),
      (err: unknown) => settle(err ?? new Error('flush failed')),
    );
  }
}

/** The group sync of a store's WAL file (`DB-wal`); a no-op for an in-memory database. */
export function walSync(dbPath: string): GroupSync {
  if (dbPath === ':memory:' || dbPath === '') return new GroupSync(async () => undefined);
  const wal = `${dbPath}-wal`;
  return new GroupSync(() => fsyncFile(wal));
}
