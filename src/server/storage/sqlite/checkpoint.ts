/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses the threshold, on the committing connection: with a large database it copies pages for
 * a second or more, and every request waits (the fleet benchmark saw p99 latencies of 1.4 s at
 * 200 requests/s). The server's connection therefore runs with `wal_autocheckpoint = 0`, and a
 * worker thread with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every second:
 * PASSIVE never waits for readers or writers, it copies what it can. A checkpoint syncs the WAL
 * before copying and the database file before the WAL is reused, so an acknowledged (flushed)
 * commit stays on disk whichever connection checkpoints (wal-sync.ts).
 *
 * PASSIVE alone never lets the WAL start over while writes never pause: it copies the frames there
 * were when it began, more arrive meanwhile, and SQLite reuses the file only once every frame is
 * copied. Under the fleet benchmark's steady 330 commits/s the WAL grew by gigabytes in two
 * minutes. So once the WAL holds RESTART_FRAMES frames (128 MiB of 4 KiB pages), the worker runs
 * PASSIVE passes until at most HOLD_FRAMES are left uncopied, asks the owner of the writing
 * connection to hold its writers off (`holdWriters`: the store commits its open group and starts
 * no new one), runs a RESTART checkpoint meanwhile, which copies those few frames, and the next
 * commit writes the WAL from its start again. The RESTART used to compete for the writer lock on
 * its own, waiting in SQLite's busy handler: that polls every 25-100 ms and a writer that commits
 * every event-loop turn leaves the lock free only for microseconds, so on a slow machine it almost
 * never got it and the WAL grew to hundreds of MB.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const st = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
let stopped = false;
const tick = () => {
  if (stopped) return;
  try {
    let r = st.get();
    if (r && r.log >= workerData.restartFrames) {
      // Catch up on what arrived during the pass, so that writers are held off only while the
      // RESTART copies a few frames (each pass is shorter than the one before).
      for (let i = 0; i < 4 && r.log - r.checkpointed > workerData.holdFrames; i++) r = st.get();
      // The owner holds its writers off, then answers 'restart'; the next tick waits for that.
      return parentPort.postMessage({ restartWanted: r.log });
    }
  } catch { /* busy: next time */ }
  setTimeout(tick, workerData.everyMs);
};
const restartNow = () => {
  let restarted = false;
  // Another process may still hold the lock or read an old snapshot: wait a little for it, no more.
  db.pragma('busy_timeout = ' + workerData.restartWaitMs);
  try { const t = restart.get(); restarted = !!t && t.busy === 0; } catch { /* busy: next time */ }
  finally { db.pragma('busy_timeout = 0'); }
  parentPort.postMessage({ restartDone: restarted });
  setTimeout(tick, workerData.everyMs);
};
parentPort.on('message', (m) => {
  if (m === 'restart') return restartNow();
  if (m === 'stop') { stopped = true; try { st.get(); } catch {} db.close(); process.exit(0); }
});
setTimeout(tick, workerData.everyMs);
`;

/** WAL frames (4 KiB pages) at which the worker makes SQLite start the WAL over: 128 MiB. */
export const RESTART_FRAMES = 32_768;
/** How long the restarting checkpoint waits for another process's lock or reader before it tries again next second. */
const RESTART_WAIT_MS = 200;
/** Frames the PASSIVE passes may leave for the RESTART to copy while writers wait: 1 MiB. */
const HOLD_FRAMES = 256;
/** Writers are never held off longer than this, whatever became of the worker. */
const HOLD_LIMIT_MS = 2000;

/** Runs `during` while no transaction of the writing connection is open or can begin. */
export type HoldWriters = (during: () => Promise<void>) => Promise<void>;

export class Checkpointer {
  /** Times the worker made SQLite start the WAL over (a test reads it). */
  restarts = 0;

  private worker: Worker | undefined;
  private stopped = false;

  private readonly everyMs: number;
  private readonly restartFrames: number;
  private readonly log: { warn(o: object, msg: string): void } | undefined;

  /** `holdWriters` is the writing connection's owner's: without it the RESTART would race the writer for its lock. */
  constructor(
    private readonly file: string,
    private readonly holdWriters: HoldWriters,
    opts: { everyMs?: number; restartFrames?: number; log?: { warn(o: object, msg: string): void } } = {},
  ) {
    this.everyMs = opts.everyMs ?? 1000;
    this.restartFrames = opts.restartFrames ?? RESTART_FRAMES;
    this.log = opts.log;
  }

  start(): void {
    if (this.stopped || this.file === ':memory:') return;
    const w = new Worker(WORKER, {
      eval: true,
      workerData: {
        file: this.file,
        everyMs: this.everyMs,
        restartFrames: this.restartFrames,
        restartWaitMs: RESTART_WAIT_MS,
        holdFrames: Math.min(HOLD_FRAMES, this.restartFrames / 4),
        module: require.resolve('better-sqlite3'),
      },
    });
    w.unref();
    let restartDone: ((restarted: boolean) => void) | undefined;
    w.on('message', (m: { restartWanted?: number; restartDone?: boolean }) => {
      if (m.restartDone !== undefined) restartDone?.(m.restartDone);
      if (m.restartWanted === undefined) return;
      void this.holdWriters(
        () =>
          new Promise<void>((resolve) => {
            const limit = setTimeout(() => finish(false), HOLD_LIMIT_MS);
            const finish = (restarted: boolean) => {
              clearTimeout(limit);
              restartDone = undefined;
              w.off('exit', exited);
              if (restarted) this.restarts++;
              resolve();
            };
            const exited = () => finish(false);
            restartDone = finish;
            w.once('exit', exited);
            w.postMessage('restart');
          }),
      );
    });
    w.on('error', (err) => this.log?.warn({ err }, 'WAL checkpoint worker failed; restarting it'));
    w.on('exit', () => {
      this.worker = undefined;
      if (!this.stopped) setTimeout(() => this.start(), 1000).unref();
    });
    this.worker = w;
  }

  /** A last checkpoint, then the worker ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.worker;
    if (!w) return;
    // Referenced again while it finishes, or an otherwise idle process would not wait for it.
    w.ref();
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.postMessage('stop');
    });
  }
}

import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
