/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses the threshold, on the committing connection: with a large database it copies pages for
 * a second or more, and every request waits (the fleet benchmark saw p99 latencies of 1.4 s at
 * 200 requests/s). The server's connection therefore runs with `wal_autocheckpoint = 0`, and a
 * worker thread with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every second:
 * PASSIVE never waits for readers or writers, it copies what it can. A checkpoint syncs the WAL
 * before copying and the database file before the WAL is reused, so an acknowledged (flushed)
 * commit stays on disk whichever connection checkpoints (wal-sync.ts).
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const st = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let stopped = false;
parentPort.on('message', (m) => { if (m === 'stop') { stopped = true; try { st.get(); } catch {} db.close(); process.exit(0); } });
const tick = () => {
  if (stopped) return;
  try { st.get(); } catch { /* busy: next time */ }
  setTimeout(tick, workerData.everyMs);
};
setTimeout(tick, workerData.everyMs);
`;

export class Checkpointer {
  private worker: Worker | undefined;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly everyMs = 1000,
    private readonly log?: { warn(o: object, msg: string): void },
  ) {}

  start(): void {
    if (this.stopped || this.file === ':memory:') return;
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.file, everyMs: this.everyMs, module: require.resolve('better-sqlite3') } });
    w.unref();
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
