/**
 * Pairing the server's usage events into intervals: a lease (1/2, 29/30 by lease id), an
 * allocation (27/28 by product, agent and user), a wait in the queue (5/6 by the process), and
 * denials (7) as instants.
 */
import type { ServerEvent } from '../storage/types.js';

/** One server usage event, as stored in usage_events (time in ms); reports need its product. */
export type ReportEvent = ServerEvent & { product: string };

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

/** Pair opening and closing events: 1/2 and 29/30 by lease id, 27/28 by (product, agent, user), 5/6 by the process. */
export function pairEvents(events: readonly ReportEvent[]): { spans: Span[]; denials: Span[] } {
  // In time order, ties in the given order (a stable sort); the store mostly gives them so already.
  let inOrder = true;
  for (let i = 1; i < events.length && inOrder; i++) inOrder = events[i - 1].time <= events[i].time;
  const sorted = inOrder ? events : [...events].sort((a, b) => a.time - b.time);
  const open = new Map<string, Span[]>();
  const spans: Span[] = [];
  const denials: Span[] = [];
  const keyOf = (kind: string, e: ReportEvent) => {
    switch (kind) {
      case 'lease':
      case 'leaseInAllocation':
        return `${kind}\u0000${e.leaseId ?? `${e.agentId}\u0000${e.pid}\u0000${e.processStart}`}`;
      case 'allocation':
        return `a\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`;
      default:
        return `q\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}\u0000${e.pid}\u0000${e.processStart}`;
    }
  };
  const make = (kind: string, e: ReportEvent, start: number | null): Span => ({
    kind: kind === 'leaseInAllocation' ? 'lease' : (kind as LogKind),
    product: e.product,
    agentId: e.agentId ?? e.host ?? '',
    user: e.user ?? '',
    host: e.host ?? '',
    pid: e.pid ?? null,
    leaseId: e.leaseId ?? null,
    start,
    end: null,
    reason: null,
    seatKey:
      kind === 'lease'
        ? `${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`
        : kind === 'allocation'
          ? `alloc\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`
          : null,
  });
  for (const e of sorted) {
    if (e.code === 7) {
      denials.push({ ...make('deny', e, e.time), kind: 'deny', end: e.time, reason: e.reason ?? null });
      continue;
    }
    const o = OPEN_CODES.get(e.code);
    if (o) {
      const k = keyOf(o, e);
      let list = open.get(k);
      if (!list) open.set(k, (list = []));
      const s = make(o, e, e.time);
      list.push(s);
      spans.push(s);
      continue;
    }
    const c = CLOSE_CODES.get(e.code);
    if (!c) continue;
    const list = open.get(keyOf(c, e));
    let s = list?.shift();
    if (!s) {
      // Closed, but opened before anything we were given: count it from the report start.
      s = make(c, e, null);
      spans.push(s);
    }
    s.end = e.time;
    s.reason = e.reason ?? null;
  }
  return { spans, denials };
}
