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
 * a RESTART checkpoint right after its PASSIVE pass: it waits up to RESTART_WAIT_MS for the writer
 * lock, holds writers off while it copies the little the PASSIVE pass left, and the next commit
 * writes the WAL from its start again (the server's BEGIN IMMEDIATE waits and retries meanwhile).
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
parentPort.on('message', (m) => { if (m === 'stop') { stopped = true; try { st.get(); } catch {} db.close(); process.exit(0); } });
const tick = () => {
  if (stopped) return;
  try {
    const r = st.get();
    if (r && r.log >= workerData.restartFrames) {
      db.pragma('busy_timeout = ' + workerData.restartWaitMs);
      try { const t = restart.get(); if (t && t.busy === 0) parentPort.postMessage({ restarted: r.log }); } finally { db.pragma('busy_timeout = 0'); }
    }
  } catch { /* busy: next time */ }
  setTimeout(tick, workerData.everyMs);
};
setTimeout(tick, workerData.everyMs);
`;

/** WAL frames (4 KiB pages) at which the worker makes SQLite start the WAL over: 128 MiB. */
export const RESTART_FRAMES = 32_768;
/** How long the restarting checkpoint waits for the writer lock before it tries again next second. */
const RESTART_WAIT_MS = 200;

export class Checkpointer {
  /** Times the worker made SQLite start the WAL over (a test reads it). */
  restarts = 0;

  private worker: Worker | undefined;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly everyMs = 1000,
    private readonly log?: { warn(o: object, msg: string): void },
    private readonly restartFrames = RESTART_FRAMES,
  ) {}

  start(): void {
    if (this.stopped || this.file === ':memory:') return;
    const w = new Worker(WORKER, {
      eval: true,
      workerData: {
        file: this.file,
        everyMs: this.everyMs,
        restartFrames: this.restartFrames,
        restartWaitMs: RESTART_WAIT_MS,
        module: require.resolve('better-sqlite3'),
      },
    });
    w.unref();
    w.on('message', (m: { restarted?: number }) => {
      if (m.restarted !== undefined) this.restarts++;
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
