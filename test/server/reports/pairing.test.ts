/**
 * pairSourced, the pairing the reports and the checkout spans share, on an exact synthetic
 * timeline: which events each span was made of, its key and seat key, in pairEvents' order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairEvents, pairKey, pairSourced, seatKeyOf, type ReportEvent } from '../../../src/server/reports/pairing.js';

const h = (n: number) => Date.parse('2024-05-06T00:00:00Z') + n * 3_600_000;
const lease = (code: number, time: number, leaseId: string, extra: Partial<ReportEvent> = {}): ReportEvent & { id: string } => ({
  id: `${leaseId}/${code}@${time}`,
  time,
  code,
  product: 'cad',
  agentId: 'a1',
  user: 'ann',
  host: 'h1',
  pid: 7,
  processStart: 'ps',
  leaseId,
  ...extra,
});

test('pairSourced: each span with its opening and closing event, key and kind, as pairEvents gives the spans', () => {
  const events = [
    // An end with no start before it (a start written later at a later time stays open).
    lease(2, h(1), 'L1', { reason: 'quit' }),
    lease(1, h(2), 'L1'),
    lease(1, h(3), 'L2'),
    // Two allocations of one key: first in, first out.
    { ...lease(27, h(3), 'x'), leaseId: null },
    { ...lease(27, h(4), 'x'), leaseId: null },
    { ...lease(28, h(5), 'x'), leaseId: null, reason: 'expired' },
    lease(2, h(6), 'L2', { reason: 'idle' }),
    { ...lease(7, h(6), 'x'), leaseId: null, reason: 'no-seats' },
  ];
  const { spans, denials } = pairSourced(events);
  const ids = (s: (typeof spans)[number]) => [s.pairKind, s.opening?.id ?? null, s.closing?.id ?? null];
  assert.deepStrictEqual(spans.map(ids), [
    ['lease', null, 'L1/2@' + h(1)],
    ['lease', 'L1/1@' + h(2), null],
    ['lease', 'L2/1@' + h(3), 'L2/2@' + h(6)],
    ['allocation', 'x/27@' + h(3), 'x/28@' + h(5)],
    ['allocation', 'x/27@' + h(4), null],
  ]);
  assert.deepStrictEqual(
    spans.map((s) => s.key),
    ['lease\u0000L1', 'lease\u0000L1', 'lease\u0000L2', 'a\u0000cad\u0000a1\u0000ann', 'a\u0000cad\u0000a1\u0000ann'],
  );
  assert.equal(pairKey('queue', events[0]), 'q\u0000cad\u0000a1\u0000ann\u00007\u0000ps');
  assert.equal(seatKeyOf('leaseInAllocation', events[0]), null);
  assert.deepStrictEqual(
    spans.map((s) => [s.span.start, s.span.end, s.span.reason, s.span.seatKey]),
    [
      [null, h(1), 'quit', 'cad\u0000a1\u0000ann'],
      [h(2), null, null, 'cad\u0000a1\u0000ann'],
      [h(3), h(6), 'idle', 'cad\u0000a1\u0000ann'],
      [h(3), h(5), 'expired', 'alloc\u0000cad\u0000a1\u0000ann'],
      [h(4), null, null, 'alloc\u0000cad\u0000a1\u0000ann'],
    ],
  );
  assert.deepStrictEqual(
    denials.map((d) => [d.pairKind, d.span.start, d.span.end, d.span.reason]),
    [['deny', h(6), h(6), 'no-seats']],
  );
  // The same spans as pairEvents, whatever order the events come in (a stable sort by time).
  assert.deepStrictEqual(
    pairEvents(events).spans,
    spans.map((s) => s.span),
  );
  const sorted = (l: unknown[]) => l.map((x) => JSON.stringify(x)).sort();
  assert.deepStrictEqual(sorted(pairEvents([...events].reverse()).spans), sorted(spans.map((s) => s.span)));
});
