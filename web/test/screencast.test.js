// Unit tests of how the CDP transport's sockets end and what a screencast frame holds (run:
// `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cdpInputPath, describeInputEnd } from '../js/cdp-input.js';
import { describeScreencastEnd, readFrame, screencastPath } from '../js/screencast.js';

test('the paths of a browser session are the incumbent ones', () => {
  assert.equal(screencastPath('browser_session', 'pbs_1'), '/v1/stream/browser_sessions/pbs_1');
  assert.equal(screencastPath('task', 'tsk_1'), '/api/v1/stream/tasks/tsk_1?prefer_vnc=true');
  assert.equal(screencastPath('workflow_run', 'wr_1'), '/api/v1/stream/workflow_runs/wr_1?prefer_vnc=true');
  assert.equal(cdpInputPath('browser_session', 'a/b'), '/v1/stream/cdp_input/browser_session/a%2Fb');
  assert.equal(cdpInputPath('task', 'tsk_1'), '/api/v1/stream/cdp_input/task/tsk_1');
  assert.equal(cdpInputPath('workflow_run', 'wr_1'), '/api/v1/stream/cdp_input/workflow_run/wr_1');
});

test('4001 use-vnc-streaming is final: the viewer goes over to VNC', () => {
  assert.deepEqual(describeScreencastEnd({ code: 4001, reason: 'use-vnc-streaming' }).reason, 'use-vnc-streaming');
  assert.equal(describeScreencastEnd({ code: 4001, reason: 'use-vnc-streaming' }).retry, false);
});

test('a terminal status ends the stream for good; other statuses are retried', () => {
  for (const status of ['completed', 'failed', 'terminated', 'canceled', 'timed_out', 'timeout', 'session_expired']) {
    const end = describeScreencastEnd({ code: 1000, reason: 'client-closed' }, status);
    assert.deepEqual([end.reason, end.retry], ['entity-finished', false], status);
  }
  assert.deepEqual(describeScreencastEnd({ code: 1005, reason: '' }, 'not_found').reason, 'entity-not-found');
  const unavailable = describeScreencastEnd({ code: 1005, reason: '' }, 'browser_unavailable');
  assert.deepEqual([unavailable.reason, unavailable.retry], ['browser-not-ready', true]);
});

test('a final close reason wins over the status; a dropped stream is retried', () => {
  assert.equal(describeScreencastEnd({ code: 1002, reason: 'auth-failed' }, 'browser_unavailable').reason, 'auth-failed');
  const dropped = describeScreencastEnd({ code: 1006, reason: '' }, 'running');
  assert.deepEqual([dropped.reason, dropped.retry], ['network-error', true]);
  assert.equal(describeScreencastEnd({ code: 1012, reason: 'draining' }).retry, true);
});

test('a frame carries its image and viewport; a bare status only its status', () => {
  const frame = readFrame(JSON.stringify({
    browser_session_id: 'pbs_1', status: 'running', screenshot: 'AAAA', format: 'jpeg', viewport_width: 1024, viewport_height: 640, url: 'http://x/',
  }));
  assert.deepEqual(frame, { status: 'running', screenshot: 'AAAA', mime: 'image/jpeg', width: 1024, height: 640 });
  assert.deepEqual(readFrame('{"browser_session_id":"pbs_1","status":"completed"}'), { status: 'completed' });
});

test('text that is not a frame, an unknown format and absurd sizes are not trusted', () => {
  assert.equal(readFrame('not json'), null);
  assert.equal(readFrame('[1]'), null);
  assert.equal(readFrame('{"screenshot":"AAAA"}'), null);
  assert.deepEqual(readFrame('{"status":"running","screenshot":"AAAA","format":"html"}'), { status: 'running' });
  assert.deepEqual(readFrame('{"status":"running","screenshot":"AAAA","format":"constructor"}'), { status: 'running' });
  const huge = readFrame('{"status":"running","screenshot":"AAAA","viewport_width":100000,"viewport_height":-1}');
  assert.deepEqual([huge.width, huge.height], [null, null]);
});

test('the input socket dials again only after the incumbent\'s transient closes (and draining)', () => {
  for (const code of [1006, 1011, 1012, 4408, 4410, 4411]) assert.equal(describeInputEnd({ code, reason: '' }).retry, true, code);
  for (const code of [1000, 1002, 1008, 4404]) assert.equal(describeInputEnd({ code, reason: '' }).retry, false, code);
  assert.equal(describeInputEnd({ code: 1002, reason: 'auth-failed' }).message.includes('refused your credential'), true);
});
