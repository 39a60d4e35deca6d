// Unit tests of the close-reason table and the backoff (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, CLOSE_MESSAGES, describeClose, ticketFailureReason } from '../js/close-reasons.js';

test('final reasons stop the viewer and every other reason dials again', () => {
  for (const reason of ['entity-finished', 'auth-failed', 'superseded', 'entity-not-found', 'client-id-missing', 'revoked']) {
    assert.equal(describeClose({ code: 1000, reason }).retry, false, reason);
  }
  for (const reason of ['entity-not-live', 'browser-not-ready', 'upstream-closed', 'draining', 'slow-consumer', 'internal-error']) {
    assert.equal(describeClose({ code: 1011, reason }).retry, true, reason);
  }
});

test('every close reason of the protocol table has a human message', () => {
  const table = ['auth-failed', 'client-id-missing', 'entity-not-found', 'entity-not-live', 'browser-not-ready',
    'verification-unavailable', 'entity-finished', 'superseded', 'client-closed', 'upstream-closed', 'protocol-error',
    'rate-limited', 'slow-consumer', 'timeout', 'origin-not-allowed', 'upstream-unreachable', 'bus-unavailable',
    'internal-error', 'draining', 'revoked'];
  for (const reason of table) assert.ok(CLOSE_MESSAGES[reason], reason);
  assert.equal(describeClose({ code: 1000, reason: 'entity-finished' }).message, 'The browser session has ended.');
});

test('an unknown or missing reason is a dropped connection that is retried', () => {
  const end = describeClose({ code: 1006, reason: '' });
  assert.equal(end.reason, 'network-error');
  assert.equal(end.retry, true);
  assert.match(end.message, /1006/);
  assert.equal(describeClose({ code: 4000, reason: 'toString' }).reason, 'network-error');
});

test('backoff doubles from one second and stops growing at fifteen', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n)), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoffDelay(0, { reason: 'draining' }), 100);
  assert.ok(backoffDelay(2, { jitter: 0.99 }) <= 4800);
});

test('ticket failures map onto close reasons', () => {
  assert.equal(ticketFailureReason(401), 'auth-failed');
  assert.equal(ticketFailureReason(404), 'entity-not-found');
  assert.equal(ticketFailureReason(400), 'bad-request');
  assert.equal(ticketFailureReason(503), 'verification-unavailable');
  assert.equal(describeClose({ reason: ticketFailureReason(401) }).retry, false);
  assert.equal(describeClose({ reason: ticketFailureReason(503) }).retry, true);
});
