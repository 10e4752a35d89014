/**
 * Chain and MAC checks of upload batches on a worker thread. Checking is pure CPU (a JSON text
 * and a SHA-256 per record, about as much again as storing the record), and it needs nothing from
 * the database but the agent's key and chain head, known when the request is authenticated. So
 * the route hands the raw body to the worker as soon as it arrives; the main thread meanwhile
 * checks and stores other batches, and ingest takes the worker's verdicts when the head it
 * started from is still the agent's under the row lock (else, or if the worker fails, ingest
 * verifies in line: the answer is the same either way, only where the CPU time is spent differs).
 */
import { Worker } from 'node:worker_threads';
import type { Verdict } from '../protocol/integrity.js';
import type { VerifyReply, VerifyRequest } from './integrity-as-sent.js';

/** The worker's verdicts over a whole batch, from the chain head `fromHead`. */
export interface PreVerified {
  fromHead: string;
  seqs: number[];
  /** Absent: every record ok. */
  verdicts?: Verdict[];
  head: string;
  linked: boolean;
}

/** Bodies smaller than this are checked in line: a message round trip costs more than they do. */
export const WORKER_MIN_BODY_BYTES = 16 * 1024;

export class IntegrityVerifier {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { head: string; resolve: (r: PreVerified | undefined) => void }>();
  private broken = false;

  constructor(private readonly onError: (err: Error) => void) {}

  /** The worker failed: everything is checked in line from now on. */
  get failed(): boolean {
    return this.broken;
  }

  /** Whether `body` goes to the worker (large enough, worker alive): the caller may skip preparing it otherwise. */
  takes(body: Uint8Array): boolean {
    return !this.broken && body.length >= WORKER_MIN_BODY_BYTES;
  }

  /**
   * The worker's verdicts for the body's bytes, or undefined (small body, worker gone): ingest then
   * checks in line. A body that owns its whole memory is moved to the worker, not copied: the
   * caller must not use it afterwards.
   */
  verify(key: string, head: string, body: Uint8Array): Promise<PreVerified | undefined> {
    if (!this.takes(body)) return Promise.resolve(undefined);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, { head, resolve });
      const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
      worker.postMessage({ id, key, head, body } satisfies VerifyRequest, owned ? [body.buffer as ArrayBuffer] : []);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./integrity-worker.js', import.meta.url));
    // Never what keeps the process alive: close() ends it, and so does the process's exit.
    w.unref();
    w.on('message', (m: VerifyReply) => {
      const entry = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      entry?.resolve(m.result ? { ...m.result, fromHead: entry.head } : undefined);
    });
    w.on('error', (err) => this.fail(err));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(new Error(`integrity worker exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }

  private fail(err: Error): void {
    // In line from now on: a failing worker must not cost an upload.
    this.broken = true;
    this.worker = undefined;
    this.release();
    this.onError(err);
  }

  private release(): void {
    for (const { resolve } of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.release();
    if (w) await w.terminate();
  }
}
