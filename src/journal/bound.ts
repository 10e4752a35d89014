/**
 * Bounded journal (journal.maxBytes). When the records in the file take more than maxBytes, the
 * oldest unacknowledged `process-interval` and `input-events` records are first compacted into
 * coarser summaries, then (if that is not enough) the oldest of them are dropped, and each drop
 * is itself journaled as a `journal-drop` record. License events (`usage-event`), completed
 * `process` records, `notification`s and everything else are never touched.
 *
 * Gap-free uploads: only runs of CONSECUTIVE seqs that are all compactable are rewritten. A run
 * a..b becomes k summary records at seqs a..a+k-1, the last of which carries `throughSeq: b`; a
 * dropped run becomes one `journal-drop` record at seq a with `throughSeq: b`. The usage-server
 * acknowledges a record's whole range when it stores it, so its view stays 1..N without holes.
 */
import type Database from 'better-sqlite3';
import type { Component, DaemonContext } from '../component/index.js';
import { encode } from '../protocol/integrity.js';
import { linkAfter, sealRecord, verifyRows, type ChainedRow } from './integrity.js';
import type { Journal } from './journal.js';

export const COMPACTABLE_TYPES = ['process-interval', 'input-events'] as const;
const COMPACTABLE = new Set<string>(COMPACTABLE_TYPES);

export interface BoundResult {
  usedBytesBefore: number;
  usedBytesAfter: number;
  compactedRecords: number;
  summaries: number;
  droppedRecords: number;
  dropRecords: number;
  /** Runs left as they were because a record in them failed its integrity check (the evidence stays). */
  skippedBroken: number;
}

/** Bytes the records occupy (allocated pages, not the file size: freed pages are reused). */
export function usedBytes(db: Database.Database): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * pageSize;
}

type Row = ChainedRow;

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const minStr = (a: unknown, b: unknown) => (typeof a !== 'string' ? b : typeof b !== 'string' ? a : a < b ? a : b);
const maxStr = (a: unknown, b: unknown) => (typeof a !== 'string' ? b : typeof b !== 'string' ? a : a > b ? a : b);

/**
 * Merges a run of compactable records into one summary per (type, user, program). Pure; exported
 * for tests. Sums are summed, maxima kept, time ranges widened; `compacted` says how many records
 * it stands for.
 */
export function summarize(
  rows: ReadonlyArray<{ type: string; time: string; fields: Record<string, unknown> }>,
): Array<{ type: string; time: string; fields: Record<string, unknown> }> {
  const groups = new Map<string, { type: string; time: string; fields: Record<string, unknown> }>();
  for (const r of rows) {
    const f = r.fields;
    const key = r.type === 'process-interval' ? `${r.type}\0${f.user}\0${f.exe ?? f.command}` : `${r.type}\0${f.user}\0${f.application}`;
    const g = groups.get(key);
    const n = num(f.compacted) || 1;
    if (!g) {
      groups.set(key, { type: r.type, time: r.time, fields: { ...f, compacted: n } });
      continue;
    }
    const a = g.fields;
    a.compacted = num(a.compacted) + n;
    if (r.time < g.time) g.time = r.time;
    if (r.type === 'process-interval') {
      for (const k of ['cpuSeconds', 'cpuUserSeconds', 'cpuSystemSeconds', 'readBytes', 'writeBytes', 'elapsedSeconds']) a[k] = num(a[k]) + num(f[k]);
      a.maxRssBytes = Math.max(num(a.maxRssBytes), num(f.maxRssBytes));
      a.intervalStart = minStr(a.intervalStart, f.intervalStart);
      a.intervalEnd = maxStr(a.intervalEnd, f.intervalEnd);
      if (a.pid !== f.pid) a.pid = null; // several processes of the same program
    } else {
      for (const k of ['keyboard', 'mouse', 'switch', 'durationSeconds', 'mouseButtons', 'mouseWheel', 'mouseMoves'])
        if (k in a || k in f) a[k] = num(a[k]) + num(f[k]);
      a.start = minStr(a.start, f.start);
      a.end = maxStr(a.end, f.end);
    }
  }
  return [...groups.values()];
}

/**
 * Longest run compacted or dropped in one transaction. A run is read whole into memory (rows and
 * parsed fields, ~1-2 KB per record): without a cap, weeks of nothing but process-interval
 * records would be one run and could exceed the daemon's old-space limit (src/service/node-flags.ts).
 * A longer stretch becomes several runs, each with its own summaries.
 */
export const MAX_RUN_RECORDS = 5000;

/** Finds runs of consecutive compactable seqs (oldest first) among unacknowledged records. */
function findRuns(db: Database.Database, afterSeq: number): Array<{ from: number; to: number; count: number }> {
  const runs: Array<{ from: number; to: number; count: number }> = [];
  let cur: { from: number; to: number; count: number } | undefined;
  let prevSeq = -1;
  for (const r of db.prepare('SELECT seq, type, body FROM records WHERE seq > ? ORDER BY seq').iterate(afterSeq) as Iterable<{
    seq: number;
    type: string;
    body: string;
  }>) {
    // A covering record (throughSeq) ends where its range ends: the next seq follows it directly.
    const through = r.body.includes('"throughSeq"') ? ((JSON.parse(r.body) as { throughSeq?: number }).throughSeq ?? r.seq) : r.seq;
    const consecutive = prevSeq >= 0 && r.seq === prevSeq + 1;
    if (COMPACTABLE.has(r.type) && cur && consecutive && cur.count < MAX_RUN_RECORDS) {
      cur.to = through;
      cur.count++;
    } else {
      if (cur && cur.count > 0) runs.push(cur);
      cur = COMPACTABLE.has(r.type) ? { from: r.seq, to: through, count: 1 } : undefined;
    }
    prevSeq = through;
  }
  if (cur) runs.push(cur);
  return runs;
}

/**
 * Brings the journal under `maxBytes` (to `targetRatio` of it, so it does not run at every
 * commit). Returns what it did. Synchronous; each run is one transaction.
 */
export function enforceBound(journal: Journal, maxBytes: number, o: { targetRatio?: number; now?: () => string } = {}): BoundResult {
  const db = journal.database;
  const before = usedBytes(db);
  const result: BoundResult = {
    usedBytesBefore: before,
    usedBytesAfter: before,
    compactedRecords: 0,
    summaries: 0,
    droppedRecords: 0,
    dropRecords: 0,
    skippedBroken: 0,
  };
  if (before <= maxBytes) return result;
  const target = Math.floor(maxBytes * (o.targetRatio ?? 0.85));
  const now = o.now ?? (() => new Date().toISOString());
  // Neither what the server holds nor what is in flight to it is rewritten.
  const acked = Math.max(journal.ackedThroughSeq(), journal.uploadReservedThroughSeq);
  const select = db.prepare('SELECT seq, type, time, body, chain, mac, chain_through FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq');
  const del = db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ?');
  const ins = db.prepare('INSERT INTO records (seq, type, time, body, chain, mac, chain_through) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const stmtBefore = db.prepare('SELECT chain, chain_through FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1');
  const key = journal.sealingKey;
  /**
   * Tamper evidence: the chain value before a run, when every record of the run verifies from it
   * (chain, and MAC once the agent has a key); undefined otherwise, and the run is left as it is.
   */
  const verifiedStart = (rows: readonly Row[]): Buffer | undefined => {
    const prev = stmtBefore.get(rows[0].seq) as Pick<Row, 'chain' | 'chain_through'> | undefined;
    const start = prev ? linkAfter(prev) : rows[0].seq === journal.ackedThroughSeq() + 1 ? journal.ackedChain() : undefined;
    if (!start) return undefined;
    return verifyRows(key, start, rows).verdicts.every((v) => v === 'ok') ? start : undefined;
  };
  /** Rows replacing a run: chained from the run's start; the last carries the chain value the run reached. */
  const sealed = (start: Buffer, end: Buffer, out: ReadonlyArray<{ seq: number; type: string; time: string; body: Record<string, unknown> }>) => {
    let head = start;
    return out.map((o, i) => {
      const last = i === out.length - 1;
      const body = JSON.stringify(o.body);
      const s = sealRecord(head, key, o.seq, o.type, o.time, o.body, last ? end : undefined, body);
      head = s.head;
      return [o.seq, o.type, o.time, body, s.chain, s.mac, last ? encode(end) : null] as const;
    });
  };

  // Phase 1: compact (several records of one program -> one summary), oldest runs first.
  for (const run of findRuns(db, acked)) {
    if (usedBytes(db) <= target) break;
    if (run.count < 2) continue;
    db.transaction(() => {
      const rows = select.all(run.from, run.to) as Row[];
      const parsed = rows.map((r) => {
        const { throughSeq: _t, ...fields } = JSON.parse(r.body) as Record<string, unknown>;
        return { type: r.type, time: r.time, fields };
      });
      const sums = summarize(parsed);
      if (sums.length >= rows.length) return;
      const start = verifiedStart(rows);
      const end = linkAfter(rows[rows.length - 1]);
      if (!start || !end) {
        result.skippedBroken++;
        return;
      }
      del.run(run.from, run.to);
      const out = sums.map((s, i) => {
        const last = i === sums.length - 1;
        const body = last && run.from + i < run.to ? { ...s.fields, throughSeq: run.to } : s.fields;
        return { seq: run.from + i, type: s.type, time: s.time, body };
      });
      for (const row of sealed(start, end, out)) ins.run(...row);
      result.compactedRecords += rows.length;
      result.summaries += sums.length;
    })();
  }
  // Phase 2: drop the oldest compactable runs, each replaced by one journal-drop record.
  if (usedBytes(db) > target) {
    for (const run of findRuns(db, acked)) {
      if (usedBytes(db) <= target) break;
      db.transaction(() => {
        const rows = select.all(run.from, run.to) as Row[];
        const start = verifiedStart(rows);
        const end = linkAfter(rows[rows.length - 1]);
        if (!start || !end) {
          result.skippedBroken++;
          return;
        }
        let dropped = 0;
        const byType: Record<string, number> = {};
        let first: string | undefined;
        let last: string | undefined;
        for (const r of rows) {
          const n = num((JSON.parse(r.body) as { compacted?: number }).compacted) || 1;
          dropped += n;
          byType[r.type] = (byType[r.type] ?? 0) + n;
          first = minStr(first, r.time) as string;
          last = maxStr(last, r.time) as string;
        }
        del.run(run.from, run.to);
        const body: Record<string, unknown> = {
          ...(journal.recordHost !== undefined ? { host: journal.recordHost } : {}),
          reason: 'journal.maxBytes',
          droppedRecords: dropped,
          byType,
          firstTime: first,
          lastTime: last,
          maxBytes,
        };
        if (run.to > run.from) body.throughSeq = run.to;
        for (const row of sealed(start, end, [{ seq: run.from, type: 'journal-drop', time: now(), body }])) ins.run(...row);
        result.droppedRecords += dropped;
        result.dropRecords += 1;
      })();
    }
  }
  result.usedBytesAfter = usedBytes(db);
  return result;
}

/** Daemon component: checks the bound every 30 s and after every 2,000 new records. */
export function createJournalBoundComponent(ctx: DaemonContext): Component {
  const maxBytes = ctx.config.journal.maxBytes;
  const log = ctx.logger.child({ component: 'journal-bound' });
  const totals = { checks: 0, compactedRecords: 0, summaries: 0, droppedRecords: 0, dropRecords: 0, lastRunAt: null as string | null, usedBytes: 0 };
  let timer: NodeJS.Timeout | undefined;
  let unsub: (() => void) | undefined;
  let lastCheckSeq = 0;
  const check = () => {
    try {
      totals.checks++;
      const r = enforceBound(ctx.journal, maxBytes);
      totals.usedBytes = r.usedBytesAfter;
      lastCheckSeq = ctx.journal.lastSeq();
      if (r.compactedRecords || r.droppedRecords) {
        totals.lastRunAt = new Date().toISOString();
        totals.compactedRecords += r.compactedRecords;
        totals.summaries += r.summaries;
        totals.droppedRecords += r.droppedRecords;
        totals.dropRecords += r.dropRecords;
        const level = r.droppedRecords > 0 ? 'warn' : 'info';
        log[level](
          { ...r, maxBytes },
          r.droppedRecords > 0
            ? 'journal full: dropped the oldest process-interval/input-events records (journal-drop recorded)'
            : 'journal full: compacted old records into summaries',
        );
      }
    } catch (err) {
      log.error({ err }, 'journal bound check failed');
    }
  };
  return {
    name: 'journal-bound',
    start() {
      check();
      timer = setInterval(check, 30_000);
      timer.unref();
      unsub = ctx.journal.onCommit((seq) => {
        if (seq - lastCheckSeq >= 2000) check();
      });
    },
    stop() {
      if (timer) clearInterval(timer);
      unsub?.();
    },
    status: () => ({ maxBytes, ...totals }),
  };
}
