import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareIso, dayKey, iso } from '../../../src/server/reports/calendar.js';

test('iso and dayKey write what Date#toISOString writes, at day, month and year edges, fractions, and outside 1970-9999', () => {
  const instants = [
    0,
    1,
    999.9,
    86_399_999,
    86_400_000,
    Date.parse('2024-02-29T23:59:59.999Z'),
    Date.parse('2024-03-01T00:00:00.000Z'),
    Date.parse('2024-12-31T23:59:59.5Z') + 0.25,
    Date.parse('2026-07-04T12:34:56.789Z'),
    Date.parse('9999-12-31T23:59:59.999Z'),
    Date.parse('9999-12-31T23:59:59.999Z') + 1,
    -1,
    -86_400_001.5,
  ];
  // And a sweep of irregular instants over 60 years (a prime step: every hour, minute and ms pattern).
  for (let t = Date.parse('1990-01-01T00:00:00Z'); t < Date.parse('2050-01-01T00:00:00Z'); t += 7_919_381_237) instants.push(t);
  for (const t of instants) {
    assert.equal(iso(t), new Date(t).toISOString(), String(t));
    assert.equal(dayKey(t), new Date(t).toISOString().slice(0, 10), String(t));
  }
  assert.throws(() => iso(Number.NaN), RangeError);
  // compareIso orders the texts of 1970-9999 as a locale compare does, and as their instants.
  const texts = instants.filter((t) => t >= 0 && t < 253_402_300_800_000).map(iso);
  for (let i = 0; i < texts.length; i++) {
    for (let j = 0; j < texts.length; j += 7) {
      assert.equal(compareIso(texts[i], texts[j]), Math.sign(texts[i].localeCompare(texts[j])), `${texts[i]} ${texts[j]}`);
      assert.equal(compareIso(texts[i], texts[j]), Math.sign(Date.parse(texts[i]) - Date.parse(texts[j])), `${texts[i]} ${texts[j]}`);
    }
  }
});
