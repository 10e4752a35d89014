/**
 * Incremental reader of a pacct file. Tracks the file's identity (dev, inode) and the offset of
 * the next whole record; a partial trailing record (a write in progress) is left for next time.
 *
 * - Rotation (the path now names another inode): the old file is finished through the descriptor
 *   still open on it (or, after a restart, through `<path>.0`/`<path>.1` if one of them is the old
 *   inode, as logrotate and the acct package's cron job name them), then the new one is read from 0.
 * - Truncation (size < offset): reading restarts at 0.
 * - Every record is handed out with the cursor *after* it; the caller stores that cursor in the same
 *   journal transaction as the record (Journal.setCursor), so a crash never double-counts or loses.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { ACCT_V3_SIZE, decodeAcctV3, type PacctRecord } from './decode.js';

export interface PacctCursor {
  dev: number;
  ino: number;
  offset: number;
}

export interface PacctReaderStats {
  path: string;
  dev: number | null;
  ino: number | null;
  offset: number;
  recordsRead: number;
  unreadable: number;
  rotations: number;
  truncations: number;
}

const CHUNK_RECORDS = 1024;

export class PacctReader {
  private fd: number | undefined;
  private dev = -1;
  private ino = -1;
  private offset = 0;
  private readonly buf = Buffer.allocUnsafe(CHUNK_RECORDS * ACCT_V3_SIZE);
  recordsRead = 0;
  unreadable = 0;
  rotations = 0;
  truncations = 0;
  private pending: PacctCursor | undefined;

  constructor(
    readonly path: string,
    cursor?: PacctCursor,
  ) {
    this.pending = cursor;
  }

  get cursor(): PacctCursor {
    return { dev: this.dev, ino: this.ino, offset: this.offset };
  }

  stats(): PacctReaderStats {
    return {
      path: this.path,
      dev: this.dev < 0 ? null : this.dev,
      ino: this.ino < 0 ? null : this.ino,
      offset: this.offset,
      recordsRead: this.recordsRead,
      unreadable: this.unreadable,
      rotations: this.rotations,
      truncations: this.truncations,
    };
  }

  /**
   * Reads every complete record added since the last call. `onRecord` gets each record with the
   * cursor just after it; returns the number of records delivered.
   */
  poll(onRecord: (record: PacctRecord, cursorAfter: PacctCursor) => void, maxRecords = Infinity): number {
    let delivered = 0;
    if (this.fd === undefined) {
      if (!this.openCurrent(onRecord)) return 0;
    } else {
      let st: { dev: number; ino: number } | undefined;
      try {
        st = statSync(this.path);
      } catch {
        st = undefined; // removed, maybe about to be recreated: finish what we have
      }
      if (st && (st.ino !== this.ino || st.dev !== this.dev)) {
        delivered += this.drain(onRecord, Infinity);
        this.close();
        this.rotations++;
        if (!this.openCurrent(onRecord, true)) return delivered;
      }
    }
    delivered += this.drain(onRecord, maxRecords);
    return delivered;
  }

  private openCurrent(onRecord: (record: PacctRecord, cursorAfter: PacctCursor) => void, fresh = false): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    const st = fstatSync(fd);
    const saved = this.pending;
    this.pending = undefined;
    if (!fresh && saved && saved.dev === st.dev && saved.ino === st.ino) {
      this.adopt(fd, st.dev, st.ino, saved.offset);
      return true;
    }
    if (!fresh && saved && saved.ino >= 0) {
      // Rotated while we were not running: finish the old file if it is still beside it.
      for (const suffix of ['.0', '.1', '.old']) {
        let ofd: number | undefined;
        try {
          ofd = openSync(this.path + suffix, 'r');
          const ost = fstatSync(ofd);
          if (ost.dev === saved.dev && ost.ino === saved.ino) {
            this.adopt(ofd, ost.dev, ost.ino, saved.offset);
            ofd = undefined;
            this.drain(onRecord, Infinity);
            this.close();
            break;
          }
        } catch {
          /* no such sibling */
        } finally {
          if (ofd !== undefined) closeSync(ofd);
        }
      }
      this.rotations++;
    }
    this.adopt(fd, st.dev, st.ino, 0);
    return true;
  }

  private adopt(fd: number, dev: number, ino: number, offset: number): void {
    this.fd = fd;
    this.dev = dev;
    this.ino = ino;
    this.offset = offset - (offset % ACCT_V3_SIZE);
  }

  private drain(onRecord: (record: PacctRecord, cursorAfter: PacctCursor) => void, maxRecords: number): number {
    if (this.fd === undefined) return 0;
    const size = fstatSync(this.fd).size;
    if (size < this.offset) {
      this.truncations++;
      this.offset = 0;
    }
    let delivered = 0;
    while (delivered < maxRecords) {
      const want = Math.min(this.buf.length, Math.floor((size - this.offset) / ACCT_V3_SIZE) * ACCT_V3_SIZE);
      if (want <= 0) break;
      const n = readSync(this.fd, this.buf, 0, want, this.offset);
      const whole = n - (n % ACCT_V3_SIZE);
      if (whole <= 0) break;
      for (let off = 0; off < whole && delivered < maxRecords; off += ACCT_V3_SIZE) {
        this.offset += ACCT_V3_SIZE;
        const rec = decodeAcctV3(this.buf, off);
        if (rec === null) {
          this.unreadable++;
          continue;
        }
        this.recordsRead++;
        delivered++;
        onRecord(rec, { dev: this.dev, ino: this.ino, offset: this.offset });
      }
    }
    return delivered;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
