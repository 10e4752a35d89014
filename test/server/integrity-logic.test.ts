/**
 * The server's integrity decisions, pure: the ack plan passing a seq hole only for an
 * authenticated record, and the flags (seq ranges) of a batch's verdicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planIngest } from '../../src/server/ingest.js';
import { integrityFlags, type Verdict } from '../../src/server/integrity.js';
import type { UploadRecord } from '../../src/protocol/v1.js';

test('planIngest: a hole is passed only by a record passGap allows; the hole is reported', () => {
  assert.deepEqual(planIngest(3, [4, 5, 8, 9]), { store: [0, 1], duplicates: 0, ackedThroughSeq: 5, gap: { expectedSeq: 6, receivedSeq: 8 } });
  assert.deepEqual(
    planIngest(3, [4, 5, 8, 9], undefined, () => true),
    { store: [0, 1, 2, 3], duplicates: 0, ackedThroughSeq: 9, gaps: [{ fromSeq: 6, toSeq: 7 }] },
  );
  assert.deepEqual(
    planIngest(3, [4, 5, 8, 9], undefined, (i) => i !== 2),
    { store: [0, 1], duplicates: 0, ackedThroughSeq: 5, gap: { expectedSeq: 6, receivedSeq: 8 } },
  );
  // A hole at the start of the batch (the first records of the batch were deleted), and a covering record.
  assert.deepEqual(
    planIngest(0, [3, 4], [undefined, 7], () => true),
    { store: [0, 1], duplicates: 0, ackedThroughSeq: 7, gaps: [{ fromSeq: 1, toSeq: 2 }] },
  );
  // Without holes nothing changes.
  assert.deepEqual(
    planIngest(0, [1, 2], undefined, () => true),
    { store: [0, 1], duplicates: 0, ackedThroughSeq: 2 },
  );
});

const rec = (seq: number, throughSeq?: number): UploadRecord => ({ seq, type: 'process', time: `t${seq}`, ...(throughSeq ? { throughSeq } : {}) });

test('integrityFlags: runs of one verdict become one range; gaps sit in seq order; ok records are not flagged', () => {
  const seqs = [1, 2, 3, 4, 7, 8, 9, 10];
  const v: Verdict[] = ['ok', 'edited', 'edited', 'forged', 'ok', 'unauthenticated', 'ok', 'edited'];
  const inputs = seqs.map((s) => ({ record: rec(s), afterGap: s === 7 }));
  assert.deepEqual(integrityFlags(inputs, v, [{ fromSeq: 5, toSeq: 6 }]), [
    { kind: 'edited', fromSeq: 2, toSeq: 3, records: 2, firstTime: 't2', lastTime: 't3' },
    { kind: 'forged', fromSeq: 4, toSeq: 4, records: 1, firstTime: 't4', lastTime: 't4' },
    { kind: 'gap', fromSeq: 5, toSeq: 6, records: 2, firstTime: 't7', lastTime: 't7' },
    { kind: 'unauthenticated', fromSeq: 8, toSeq: 8, records: 1, firstTime: 't8', lastTime: 't8' },
    { kind: 'edited', fromSeq: 10, toSeq: 10, records: 1, firstTime: 't10', lastTime: 't10' },
  ]);
  assert.deepEqual(integrityFlags([{ record: rec(1) }], ['ok'], []), []);
  // A flagged covering record flags its whole range; the next record continues it.
  assert.deepEqual(integrityFlags([{ record: rec(1, 5) }, { record: rec(6) }], ['edited', 'edited'], []), [
    { kind: 'edited', fromSeq: 1, toSeq: 6, records: 2, firstTime: 't1', lastTime: 't6' },
  ]);
});
