import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountingWatch } from '../../../src/collectors/pacct/watch.js';

test('accounting watch: probes only after sampled exits without pacct records, at most once per gap; records arriving clear a loss', () => {
  const w = new AccountingWatch(30_000);
  assert.equal(w.afterRead(0, 5, 0), false, 'records arrive: nothing to probe');
  assert.equal(w.afterRead(1000, 0, 0), false, 'quiet system: no exits, no probe');
  assert.equal(w.afterRead(2000, 0, 2), true, 'two exits pacct never reported: probe');
  w.probed(2000, true, null);
  assert.deepEqual(w.status, { state: 'receiving', lostSince: null, writesTo: null, probes: 1, lastProbeAt: new Date(2000).toISOString() });
  assert.equal(w.afterRead(3000, 0, 1), false, 'within the gap: no probe yet');
  assert.equal(w.afterRead(32_000, 0, 0), true, 'the missed exit is remembered until the gap has passed');
  w.probed(32_000, false, '/var/log/account/pacct');
  assert.equal(w.status.state, 'lost');
  assert.equal(w.status.lostSince, new Date(32_000).toISOString());
  assert.equal(w.status.writesTo, '/var/log/account/pacct');
  assert.equal(w.afterRead(40_000, 0, 3), false);
  assert.equal(w.afterRead(62_000, 0, 0), true);
  w.probed(62_000, false, null);
  assert.equal(w.status.lostSince, new Date(32_000).toISOString(), 'lost since the first failed probe');
  assert.equal(w.status.writesTo, null);
  assert.equal(w.afterRead(63_000, 1, 0), false);
  assert.deepEqual({ ...w.status, lastProbeAt: null }, { state: 'receiving', lostSince: null, writesTo: null, probes: 3, lastProbeAt: null });
});
