// Unit tests of the handoff banner's time display (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { timeLeft } from '../js/handoff.js';

test('time left is m:ss, rounded up, never negative', () => {
  assert.equal(timeLeft(0), '0:00');
  assert.equal(timeLeft(-5000), '0:00');
  assert.equal(timeLeft(1), '0:01');
  assert.equal(timeLeft(59_001), '1:00');
  assert.equal(timeLeft(125_000), '2:05');
});
