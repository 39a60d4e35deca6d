// Unit tests of the fragment parsing and the stream paths (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { detectPlatform, fragmentWithoutKey, parseFragment, streamPath } from '../js/params.js';

test('the fragment names one entity and the API key', () => {
  assert.deepEqual(parseFragment('#session=pbs_1&apikey=k'), { entityKind: 'browser_session', entityId: 'pbs_1', apiKey: 'k', linkSecret: '' });
  assert.deepEqual(parseFragment('#task=tsk_9'), { entityKind: 'task', entityId: 'tsk_9', apiKey: '', linkSecret: '' });
  assert.deepEqual(parseFragment('#session=pbs_2&link=bsl_s'), { entityKind: 'browser_session', entityId: 'pbs_2', apiKey: '', linkSecret: 'bsl_s' });
  assert.equal(parseFragment('#workflow_run=wr_2&apikey=x').entityKind, 'workflow_run');
});

test('a fragment without an entity, with two, or with a huge id is refused', () => {
  assert.ok(parseFragment('').error);
  assert.ok(parseFragment('#apikey=k').error);
  assert.ok(parseFragment('#session=a&task=b').error);
  assert.ok(parseFragment(`#session=${'x'.repeat(129)}`).error);
});

test('the API key and the link secret are removed from the fragment and nothing else is', () => {
  assert.equal(fragmentWithoutKey('#session=pbs_1&apikey=k'), '#session=pbs_1');
  assert.equal(fragmentWithoutKey('#apikey=k'), '');
  assert.equal(fragmentWithoutKey('#session=pbs_2&link=bsl_s'), '#session=pbs_2');
});

test('stream paths follow the gateway table', () => {
  assert.equal(streamPath('vnc', 'browser_session', 'pbs_1'), '/v1/stream/vnc/browser_session/pbs_1');
  assert.equal(streamPath('messages', 'browser_session', 'pbs_1'), '/v1/stream/messages/browser_session/pbs_1');
  assert.equal(streamPath('vnc', 'task', 'tsk_1'), '/api/v1/stream/vnc/task/tsk_1');
  assert.equal(streamPath('messages', 'workflow_run', 'a/b'), '/api/v1/stream/messages/workflow_run/a%2Fb');
});

test('the platform of client-info comes from what the browser reports', () => {
  assert.equal(detectPlatform({ userAgentData: { platform: 'macOS' } }), 'mac');
  assert.equal(detectPlatform({ platform: 'Win32' }), 'windows');
  assert.equal(detectPlatform({ platform: 'Linux x86_64' }), 'linux');
  assert.equal(detectPlatform({ platform: '' , userAgent: 'Something' }), 'other');
});
