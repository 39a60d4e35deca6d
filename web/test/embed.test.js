// Unit tests of the embedding bridge's checks (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseCommand, trustedParent } from '../js/embed.js';

test('only an allowed parent origin is trusted, compared exactly', () => {
  const allowed = ['https://app.example', 'http://127.0.0.1:8080'];
  assert.equal(trustedParent('https://app.example', allowed), 'https://app.example');
  assert.equal(trustedParent('http://127.0.0.1:8080', allowed), 'http://127.0.0.1:8080');
  assert.equal(trustedParent('https://app.example.evil', allowed), null);
  assert.equal(trustedParent('http://app.example', allowed), null);
  assert.equal(trustedParent('null', allowed), null);
  assert.equal(trustedParent('https://app.example', []), null);
  assert.equal(trustedParent(undefined, allowed), null);
  assert.equal(trustedParent('https://app.example', 'https://app.example'), null);
});

test('commands are addressed to the page and well-formed, or ignored', () => {
  assert.deepEqual(parseCommand({ target: 'browser-stream', command: 'take-control' }), { command: 'take-control' });
  assert.deepEqual(parseCommand({ target: 'browser-stream', command: 'set-view-only', value: true }), { command: 'set-view-only', value: true });
  assert.equal(parseCommand({ target: 'browser-stream', command: 'set-view-only', value: 'yes' }), null);
  assert.equal(parseCommand({ target: 'other', command: 'take-control' }), null);
  assert.equal(parseCommand({ target: 'browser-stream', command: 'navigate' }), null);
  assert.equal(parseCommand('take-control'), null);
  assert.equal(parseCommand(null), null);
});
