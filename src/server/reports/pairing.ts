/**
 * Pairing the server's usage events into intervals: a lease (1/2, 29/30 by lease id), an
 * allocation (27/28 by product, agent and user), a wait in the queue (5/6 by the process), and
 * denials (7) as instants.
 */
import type { ReportEventRow } from '../storage/report-event-row.js';
import type { ServerEvent } from '../storage/types.js';

/** One server usage event, as stored in usage_events (time in ms); reports need its product. */
export type ReportEvent = ServerEvent & { product: string };

/** A usage event as the reports read it (REPORT_EVENT_COLS, time as text); longer rows' extra columns are ignored. */
export const toEvent = (r: ReportEventRow): ReportEvent => ({
  time: Date.parse(r[0]),
  code: r[1],
  product: r[2],
  agentId: r[3],
  user: r[4],
  host: r[5],
  pid: r[6],
  processStart: r[7],
  leaseId: r[8],
  reason: r[9],
});

export type LogKind = 'lease' | 'allocation' | 'queue' | 'deny';

export interface Span {
  kind: LogKind;
  product: string;
  agentId: string;
  user: string;
  host: string;
  pid: number | null;
  leaseId: string | null;
  /** null: opened before any event the report saw. */
  start: number | null;
  /** null: still open. */
  end: number | null;
  reason: string | null;
  /** Seat-accounting key (lease spans of code 1 and allocations count; 29/30 runs inside an allocation do not). */
  seatKey: string | null;
}

const OPEN_CODES = new Map<number, 'lease' | 'leaseInAllocation' | 'allocation' | 'queue'>([
  [1, 'lease'],
  [29, 'leaseInAllocation'],
  [27, 'allocation'],
  [5, 'queue'],
]);
const CLOSE_CODES = new Map<number, 'lease' | 'leaseInAllocation' | 'allocation' | 'queue'>([
  [2, 'lease'],
  [30, 'leaseInAllocation'],
  [28, 'allocation'],
  [6, 'queue'],
]);

export type PairKind = 'lease' | 'leaseInAllocation' | 'allocation' | 'queue';

/** What an event opens or closes (null: a denial or an event no span is made of). */
export function pairKindOf(code: number): { kind: PairKind; opens: boolean } | null {
  const o = OPEN_CODES.get(code);
  if (o) return { kind: o, opens: true };
  const c = CLOSE_CODES.get(code);
  return c ? { kind: c, opens: false } : null;
}

/** The key an opening and its closing event share: 1/2 and 29/30 the lease id, 27/28 (product, agent, user), 5/6 the process. */
export function pairKey(kind: PairKind, e: ReportEvent): string {
  switch (kind) {
    case 'lease':
    case 'leaseInAllocation':
      return `${kind}\u0000${e.leaseId ?? `${e.agentId}\u0000${e.pid}\u0000${e.processStart}`}`;
    case 'allocation':
      return `a\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`;
    default:
      return `q\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}\u0000${e.pid}\u0000${e.processStart}`;
  }
}

/** The seat-accounting key of a span of this kind made from event `e` (null: it holds no seat of its own). */
export function seatKeyOf(kind: PairKind, e: Pick<ReportEvent, 'product' | 'agentId' | 'host' | 'user'>): string | null {
  return kind === 'lease'
    ? `${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`
    : kind === 'allocation'
      ? `alloc\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`
      : null;
}

/** A span with the events it was made of (storage/spans.ts keeps them to pair again when more arrive). */
export interface SourcedSpan<E extends ReportEvent> {
  span: Span;
  pairKind: PairKind | 'deny';
  key: string;
  opening: E | null;
  closing: E | null;
}

/** Spans and denials, as pairEvents gives them. */
export interface Paired {
  spans: Span[];
  denials: Span[];
}

/** A report's input: the events, or `paired`, them paired already (pairEvents, or usage_spans). */
export interface PairedInput {
  events?: readonly ReportEvent[];
  paired?: { spans: readonly Span[]; denials: readonly Span[] };
}

export const pairedOf = (input: PairedInput): { spans: readonly Span[]; denials: readonly Span[] } => input.paired ?? pairEvents(input.events ?? []);

/** Pair opening and closing events: 1/2 and 29/30 by lease id, 27/28 by (product, agent, user), 5/6 by the process. */
export function pairEvents(events: readonly ReportEvent[]): Paired {
  const { spans, denials } = pairSourced(events);
  return { spans: spans.map((s) => s.span), denials: denials.map((s) => s.span) };
}

/** pairEvents, each span with its kind, key and events; in the same order. */
export function pairSourced<E extends ReportEvent>(events: readonly E[]): { spans: SourcedSpan<E>[]; denials: SourcedSpan<E>[] } {
  // In time order, ties in the given order (a stable sort); the store mostly gives them so already.
  let inOrder = true;
  for (let i = 1; i < events.length && inOrder; i++) inOrder = events[i - 1].time <= events[i].time;
  const sorted = inOrder ? events : [...events].sort((a, b) => a.time - b.time);
  const open = new Map<string, SourcedSpan<E>[]>();
  const spans: SourcedSpan<E>[] = [];
  const denials: SourcedSpan<E>[] = [];
  const make = (kind: PairKind | 'deny', e: ReportEvent, start: number | null): Span => ({
    kind: kind === 'leaseInAllocation' ? 'lease' : kind,
    product: e.product,
    agentId: e.agentId ?? e.host ?? '',
    user: e.user ?? '',
    host: e.host ?? '',
    pid: e.pid ?? null,
    leaseId: e.leaseId ?? null,
    start,
    end: null,
    reason: null,
    seatKey: kind === 'deny' ? null : seatKeyOf(kind, e),
  });
  for (const e of sorted) {
    if (e.code === 7) {
      denials.push({ span: { ...make('deny', e, e.time), end: e.time, reason: e.reason ?? null }, pairKind: 'deny', key: '', opening: e, closing: null });
      continue;
    }
    const p = pairKindOf(e.code);
    if (!p) continue;
    const k = pairKey(p.kind, e);
    if (p.opens) {
      let list = open.get(k);
      if (!list) open.set(k, (list = []));
      const s: SourcedSpan<E> = { span: make(p.kind, e, e.time), pairKind: p.kind, key: k, opening: e, closing: null };
      list.push(s);
      spans.push(s);
      continue;
    }
    let s = open.get(k)?.shift();
    if (!s) {
      // Closed, but opened before anything we were given: count it from the report start.
      s = { span: make(p.kind, e, null), pairKind: p.kind, key: k, opening: null, closing: null };
      spans.push(s);
    }
    s.closing = e;
    s.span.end = e.time;
    s.span.reason = e.reason ?? null;
  }
  return { spans, denials };
}
