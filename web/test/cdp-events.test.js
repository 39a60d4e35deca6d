// Unit tests of the CDP input messages made from DOM events (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buttonName, keyMessage, modifiersOf, mouseMessage, virtualKeyCode, wheelMessage } from '../js/cdp-events.js';

test('modifier bits are Alt 1, Ctrl 2, Meta 4, Shift 8', () => {
  assert.equal(modifiersOf({}), 0);
  assert.equal(modifiersOf({ altKey: true, ctrlKey: true, metaKey: true, shiftKey: true }), 15);
  assert.equal(modifiersOf({ ctrlKey: true, shiftKey: true }), 10);
});

test('named keys, letters and digits get their Windows virtual key codes', () => {
  const expected = {
    Backspace: 8, Tab: 9, Enter: 13, Escape: 27, ' ': 32, PageUp: 33, PageDown: 34, End: 35, Home: 36,
    ArrowLeft: 37, ArrowUp: 38, ArrowRight: 39, ArrowDown: 40, Insert: 45, Delete: 46, F1: 112, F12: 123,
    a: 65, Z: 90, 0: 48, 9: 57,
  };
  for (const [key, vk] of Object.entries(expected)) assert.equal(virtualKeyCode({ key }), vk, key);
  assert.equal(virtualKeyCode({ key: '!', keyCode: 49 }), 49, "the browser's own code for the rest");
  assert.equal(virtualKeyCode({ key: 'é', keyCode: 0 }), null);
});

test('a printable key goes down with its text and up without', () => {
  assert.deepEqual(keyMessage('keydown', { key: 'h', code: 'KeyH' }), {
    kind: 'keyEvent', eventType: 'keyDown', key: 'h', code: 'KeyH', text: 'h', windowsVirtualKeyCode: 72, modifiers: 0,
  });
  assert.deepEqual(keyMessage('keydown', { key: 'H', code: 'KeyH', shiftKey: true }).text, 'H');
  assert.deepEqual(keyMessage('keyup', { key: 'h', code: 'KeyH' }), {
    kind: 'keyEvent', eventType: 'keyUp', key: 'h', code: 'KeyH', windowsVirtualKeyCode: 72, modifiers: 0,
  });
});

test('named keys and shortcuts go down raw, without text', () => {
  const enter = keyMessage('keydown', { key: 'Enter', code: 'Enter' });
  assert.equal(enter.eventType, 'rawKeyDown');
  assert.equal(enter.windowsVirtualKeyCode, 13);
  assert.ok(!('text' in enter));
  const copy = keyMessage('keydown', { key: 'c', code: 'KeyC', ctrlKey: true });
  assert.deepEqual(copy, {
    kind: 'keyEvent', eventType: 'rawKeyDown', key: 'c', code: 'KeyC', windowsVirtualKeyCode: 67, modifiers: 2,
  });
  assert.equal(keyMessage('keydown', { key: 'v', code: 'KeyV', metaKey: true }).eventType, 'rawKeyDown');
});

test('mouse presses and releases are single clicks; moves carry the held button', () => {
  assert.deepEqual(mouseMessage('mousePressed', { x: 3, y: 4 }, 'left', 0), {
    kind: 'mouseEvent', eventType: 'mousePressed', x: 3, y: 4, button: 'left', clickCount: 1, modifiers: 0,
  });
  assert.equal(mouseMessage('mouseReleased', { x: 3, y: 4 }, 'right', 8).clickCount, 1);
  assert.equal(mouseMessage('mouseMoved', { x: 3, y: 4 }, 'none', 0).clickCount, 0);
  assert.deepEqual([0, 1, 2, 3].map(buttonName), ['left', 'middle', 'right', 'none']);
});

test('wheel deltas are sent in pixels', () => {
  assert.deepEqual(wheelMessage({ x: 10, y: 20 }, { deltaX: 0, deltaY: 120.4, deltaMode: 0 }), {
    kind: 'wheelEvent', x: 10, y: 20, deltaX: 0, deltaY: 120, modifiers: 0,
  });
  assert.equal(wheelMessage({ x: 0, y: 0 }, { deltaX: 0, deltaY: 3, deltaMode: 1 }).deltaY, 120);
  assert.equal(wheelMessage({ x: 0, y: 0 }, { deltaX: -1, deltaY: 0, deltaMode: 2, shiftKey: true }).deltaX, -800);
});
