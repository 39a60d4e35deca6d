// Unit tests of the letterbox mapping: what the screencast canvas fills, and which remote pixel
// a point of the screen box shows (run: `npm test` in web/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fitRect, toFrame } from '../js/letterbox.js';

const FRAME = { width: 1000, height: 500 };

test('a wide frame in a tall box gets bars above and below', () => {
  assert.deepEqual(fitRect({ width: 500, height: 500 }, FRAME), { x: 0, y: 125, width: 500, height: 250 });
});

test('a tall frame in a wide box gets bars left and right', () => {
  assert.deepEqual(fitRect({ width: 800, height: 400 }, { width: 400, height: 800 }), { x: 300, y: 0, width: 200, height: 400 });
});

test('a frame is scaled up to fill a larger box of its shape', () => {
  assert.deepEqual(fitRect({ width: 2000, height: 1000 }, FRAME), { x: 0, y: 0, width: 2000, height: 1000 });
  assert.deepEqual(toFrame({ x: 1999, y: 999 }, { width: 2000, height: 1000 }, FRAME), { x: 999, y: 499 });
});

test('an empty box or frame fills nothing and maps nothing', () => {
  assert.deepEqual(fitRect({ width: 0, height: 300 }, FRAME), { x: 0, y: 0, width: 0, height: 0 });
  assert.equal(toFrame({ x: 1, y: 1 }, { width: 500, height: 500 }, { width: 0, height: 0 }), null);
  assert.equal(toFrame({ x: 1, y: 1 }, { width: 0, height: 0 }, FRAME, { clamp: true }), null);
});

test('a point on the image maps to the remote pixel under it, scaled', () => {
  const box = { width: 500, height: 500 }; // the image is at y 125..375, half size
  assert.deepEqual(toFrame({ x: 0, y: 125 }, box, FRAME), { x: 0, y: 0 });
  assert.deepEqual(toFrame({ x: 250, y: 250 }, box, FRAME), { x: 500, y: 250 });
  assert.deepEqual(toFrame({ x: 100.9, y: 200.4 }, box, FRAME), { x: 201, y: 150 });
  assert.deepEqual(toFrame({ x: 499.9, y: 374.9 }, box, FRAME), { x: 999, y: 499 });
});

test('a tall frame maps the same way across its side bars', () => {
  const box = { width: 800, height: 400 };
  const frame = { width: 400, height: 800 }; // the image is at x 300..500, half size
  assert.deepEqual(toFrame({ x: 300, y: 0 }, box, frame), { x: 0, y: 0 });
  assert.deepEqual(toFrame({ x: 400, y: 200 }, box, frame), { x: 200, y: 400 });
  assert.equal(toFrame({ x: 299, y: 200 }, box, frame), null);
  assert.equal(toFrame({ x: 500, y: 200 }, box, frame), null);
});

test('a point in a letterbox bar or outside the box maps to nothing', () => {
  const box = { width: 500, height: 500 };
  assert.equal(toFrame({ x: 250, y: 124.9 }, box, FRAME), null);
  assert.equal(toFrame({ x: 250, y: 375 }, box, FRAME), null);
  assert.equal(toFrame({ x: -1, y: 250 }, box, FRAME), null);
  assert.equal(toFrame({ x: 600, y: 250 }, box, FRAME), null);
});

test('with clamp, a point off the image maps to the nearest edge pixel', () => {
  const box = { width: 500, height: 500 };
  assert.deepEqual(toFrame({ x: 250, y: 10 }, box, FRAME, { clamp: true }), { x: 500, y: 0 });
  assert.deepEqual(toFrame({ x: 900, y: 450 }, box, FRAME, { clamp: true }), { x: 999, y: 499 });
  assert.deepEqual(toFrame({ x: -50, y: -50 }, box, FRAME, { clamp: true }), { x: 0, y: 0 });
});
