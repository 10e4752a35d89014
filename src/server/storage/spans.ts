/**
 * Checkout spans: the server's license events (1/2, 29/30, 27/28, 5/6, 7) paired once into one row
 * per lease, allocation, queue wait or denial (`usage_spans`), so an all-products page reads one
 * row per checkout instead of two events and pairs nothing.
 *
 * The table is folded from usage_events past a watermark (meta `usage_spans_folded`, the last event
 * id folded), before a report reads it (refreshSpans): ingest and the lease calls write nothing more.
 * A span keeps the events it was made of, so when a new event arrives for a key (a lease id, an
 * allocation's product, agent and user, a ticket's process) the key's events are paired again
 * with it (pairSourced, the reports' own pairing): the rows are always pairEvents over every event
 * of the key, whatever order the events arrived in (an end before its start, a late event),
 * and a start without an end stays open until its end is folded. The migration creates the table
 * with the watermark at 0: the first refresh is the backfill of the events already stored.
 *
 * Ids are folded only below a horizon every writer is past: SQLite has one writer (ids commit in
 * order); on PostgreSQL a transaction may commit a lower id after a higher one, so the horizon is
 * read under a SHARE lock of usage_events, which waits for every inserting transaction to end.
 */
import { pairKindOf, pairKey, pairSourced, type PairKind, type ReportEvent } from '../reports/pairing.js';
import type { Dialect, Sql } from './sql.js';

/** pg_advisory_xact_lock key of the fold (several servers on one database fold one at a time). */
const FOLD_LOCK = 7_463_221_011;
const WATERMARK = 'usage_spans_folded';
const LICENSE_CODES = [1, 2, 5, 6, 7, 27, 28, 29, 30];
/** Events folded per transaction (a backfill of millions is many short transactions). */
const FOLD_CHUNK = 20_000;

export function spansMigration(d: Dialect): string {
  const int = d === 'postgres' ? 'bigint' : 'INTEGER';
  const text = d === 'postgres' ? 'text' : 'TEXT';
  return `
CREATE TABLE IF NOT EXISTS usage_spans (
  pair_key ${text} NOT NULL, pair_kind ${text} NOT NULL, product ${text} NOT NULL,
  agent_id ${text}, "user" ${text}, host ${text}, pid ${int}, process_start ${text}, lease_id ${text},
  open_code ${int}, start_ms ${int}, start_event ${int}, end_code ${int}, end_ms ${int}, end_event ${int}, reason ${text},
  pos_ms ${int} NOT NULL, seq ${int} NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_spans_key ON usage_spans (pair_key);
CREATE INDEX IF NOT EXISTS usage_spans_pos ON usage_spans (pos_ms);
CREATE INDEX IF NOT EXISTS usage_spans_product ON usage_spans (product, pos_ms);
INSERT INTO meta (key, value) VALUES ('${WATERMARK}', '0') ON CONFLICT (key) DO NOTHING;
`;
}

/** An event as folded: its id orders events of one instant as the store wrote them. */
type FoldEvent = ReportEvent & { id: number };

type EventRow = [
  id: number,
  time: string,
  code: number,
  product: string,
  agentId: string | null,
  user: string | null,
  host: string | null,
  pid: number | null,
  processStart: string | null,
  leaseId: string | null,
  reason: string | null,
];

type StoredSpan = [
  pairKind: string,
  product: string,
  agentId: string | null,
  user: string | null,
  host: string | null,
  pid: number | null,
  processStart: string | null,
  leaseId: string | null,
  openCode: number | null,
  startMs: number | null,
  startEvent: number | null,
  endCode: number | null,
  endMs: number | null,
  endEvent: number | null,
  reason: string | null,
];
const STORED_COLS =
  'pair_kind, product, agent_id, "user", host, pid, process_start, lease_id, open_code, start_ms, start_event, end_code, end_ms, end_event, reason';
const INSERT_COLS = `pair_key, ${STORED_COLS}, pos_ms, seq`;
const INSERT_ROWS = 200;
const KEY_CHUNK = 500;

/** A pairing key as stored: PostgreSQL's text has no NUL, the keys' separator (escaped, so distinct keys stay distinct). */
const storedKey = (k: string) => k.replaceAll('\\', '\\\\').replaceAll('\u0000', '\\0');

/** The events a stored span was made of (the fields the pairing reads, from the event that made the row). */
function eventsOf(s: StoredSpan): FoldEvent[] {
  const [, product, agentId, user, host, pid, processStart, leaseId, openCode, startMs, startEvent, endCode, endMs, endEvent, reason] = s;
  const base = { product, agentId, user, host, pid, processStart, leaseId };
  const out: FoldEvent[] = [];
  if (openCode !== null && startMs !== null && startEvent !== null) out.push({ ...base, id: startEvent, time: startMs, code: openCode });
  if (endCode !== null && endMs !== null && endEvent !== null) out.push({ ...base, id: endEvent, time: endMs, code: endCode, reason });
  return out;
}

/** Fold the events past the watermark into usage_spans; `horizon`: fold no id above it. Resolves with the events folded. */
export async function foldSpans(sql: Sql, horizon?: number): Promise<number> {
  if (sql.dialect === 'postgres') await sql.get('SELECT pg_advisory_xact_lock(?)', [FOLD_LOCK]);
  const w = await sql.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [WATERMARK]);
  const from = Number(w?.value ?? 0);
  const rows = await sql.rows<EventRow>(
    `SELECT id, time, code, product, agent_id, "user", host, pid, process_start, lease_id, reason FROM usage_events WHERE id > ?${horizon === undefined ? '' : ' AND id <= ?'} ` +
      `AND origin = 'server' AND code IN (${LICENSE_CODES.join(', ')}) AND product IS NOT NULL ORDER BY id LIMIT ${FOLD_CHUNK}`,
    horizon === undefined ? [from] : [from, horizon],
  );
  if (rows.length === 0) {
    if (horizon !== undefined && horizon > from) await sql.run('UPDATE meta SET value = ? WHERE key = ?', [String(horizon), WATERMARK]);
    return 0;
  }
  const byKey = new Map<string, FoldEvent[]>();
  const denials: FoldEvent[] = [];
  for (const r of rows) {
    const e: FoldEvent = {
      id: r[0],
      time: Date.parse(r[1]),
      code: r[2],
      product: r[3],
      agentId: r[4],
      user: r[5],
      host: r[6],
      pid: r[7],
      processStart: r[8],
      leaseId: r[9],
      reason: r[10],
    };
    const p = pairKindOf(e.code);
    if (!p) {
      denials.push(e);
      continue;
    }
    const k = storedKey(pairKey(p.kind, e));
    const list = byKey.get(k);
    if (list) list.push(e);
    else byKey.set(k, [e]);
  }
  const keys = [...byKey.keys()];
  for (let i = 0; i < keys.length; i += KEY_CHUNK) {
    const chunk = keys.slice(i, i + KEY_CHUNK);
    const marks = chunk.map(() => '?').join(', ');
    const stored = await sql.rows<[string, ...StoredSpan]>(`SELECT pair_key, ${STORED_COLS} FROM usage_spans WHERE pair_key IN (${marks})`, chunk);
    if (stored.length === 0) continue;
    for (const [k, ...s] of stored) byKey.get(k)!.unshift(...eventsOf(s));
    await sql.run(`DELETE FROM usage_spans WHERE pair_key IN (${marks})`, chunk);
  }
  const out: unknown[][] = [];
  for (const events of byKey.values()) {
    // Time order, one instant's events as written (the order the reports' reads give them in).
    events.sort((a, b) => a.time - b.time || a.id - b.id);
    for (const s of pairSourced(events).spans) out.push(spanRow(storedKey(s.key), s.pairKind, s.opening, s.closing));
  }
  for (const d of denials) out.push(spanRow('', 'deny', d, null));
  for (let i = 0; i < out.length; i += INSERT_ROWS) {
    const part = out.slice(i, i + INSERT_ROWS);
    const one = `(${Array(18).fill('?').join(', ')})`;
    await sql.run(`INSERT INTO usage_spans (${INSERT_COLS}) VALUES ${part.map(() => one).join(', ')}`, part.flat());
  }
  await sql.run('UPDATE meta SET value = ? WHERE key = ?', [String(rows[rows.length - 1][0]), WATERMARK]);
  return rows.length;
}

function spanRow(key: string, kind: PairKind | 'deny', opening: FoldEvent | null, closing: FoldEvent | null): unknown[] {
  // The fields of the event that made the row: the opening, or a closing without one.
  const e = (opening ?? closing)!;
  const startMs = opening?.time ?? null;
  const endMs = kind === 'deny' ? e.time : (closing?.time ?? null);
  return [
    key,
    kind,
    e.product,
    e.agentId ?? null,
    e.user ?? null,
    e.host ?? null,
    e.pid ?? null,
    e.processStart ?? null,
    e.leaseId ?? null,
    opening?.code ?? null,
    startMs,
    opening?.id ?? null,
    closing?.code ?? null,
    endMs,
    closing?.id ?? null,
    (kind === 'deny' ? e.reason : closing?.reason) ?? null,
    startMs ?? endMs,
    e.id,
  ];
}

/** The rows the reports read: one a span, in pairEvents' order (by when they begin, then as written). */
export type SpanRow = [
  pairKind: PairKind | 'deny',
  product: string,
  agentId: string | null,
  user: string | null,
  host: string | null,
  pid: number | null,
  leaseId: string | null,
  openCode: number | null,
  startMs: number | null,
  endCode: number | null,
  endMs: number | null,
  reason: string | null,
];

/**
 * The spans a report of [from, to) pairs from its events: begun before `to` and not ended before
 * `from`, or ended in the range without a known start; denials in the range.
 */
export function spansInRange(sql: Sql, r: { from: number; to: number; product?: string }): Promise<SpanRow[]> {
  return sql.rows<SpanRow>(
    'SELECT pair_kind, product, agent_id, "user", host, pid, lease_id, open_code, start_ms, end_code, end_ms, reason FROM usage_spans ' +
      'WHERE pos_ms < ? AND (end_ms >= ? OR end_ms IS NULL) AND (start_ms IS NOT NULL OR end_ms < ?)' +
      `${r.product === undefined ? '' : ' AND product = ?'} ORDER BY pos_ms, seq`,
    r.product === undefined ? [r.to, r.from, r.to] : [r.to, r.from, r.to, r.product],
  );
}

/** What refreshSpans needs of a store. */
export interface SpanStore {
  readonly dialect: Dialect;
  transaction<T>(fn: (tx: { sql: Sql }) => Promise<T>): Promise<T>;
}

/** Fold every event written so far (in transactions of FOLD_CHUNK events). */
export async function refreshSpans(store: SpanStore): Promise<void> {
  let horizon: number | undefined;
  if (store.dialect === 'postgres') {
    // SHARE waits for every transaction inserting into usage_events to end: no id at or below
    // the maximum read now can commit later. Held only for this read.
    horizon = await store.transaction(async (tx) => {
      await tx.sql.run('LOCK TABLE usage_events IN SHARE MODE');
      return Number((await tx.sql.get<{ h: number }>('SELECT coalesce(max(id), 0) AS h FROM usage_events'))?.h ?? 0);
    });
  }
  while ((await store.transaction((tx) => foldSpans(tx.sql, horizon))) >= FOLD_CHUNK);
}

/** refreshSpans, one at a time in this process: a call while one runs waits for the next after it. */
export function spansRefresher(store: SpanStore): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    if (!running) {
      running = refreshSpans(store).finally(() => {
        running = undefined;
      });
      return running;
    }
    // Events written since the running fold began need another.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return run();
      });
    return queued;
  };
  return run;
}
