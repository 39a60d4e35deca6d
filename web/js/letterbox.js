// Where the remote screen sits in its box, and which remote pixel a point of the box shows. The
// frame keeps its aspect ratio inside the box, centred, so bars fill the rest (letterboxing).
// Pure (no DOM), so `node --test` covers it; the screencast canvas and the CDP input share it,
// which keeps what is drawn and where a click lands from disagreeing.

/**
 * The rectangle (box pixels) the frame fills when scaled to fit `box`, keeping its aspect ratio,
 * centred. An empty box or frame fills nothing.
 * @param {{width: number, height: number}} box
 * @param {{width: number, height: number}} frame
 * @returns {{x: number, y: number, width: number, height: number}}
 */
export function fitRect(box, frame) {
  if (!(box.width > 0 && box.height > 0 && frame.width > 0 && frame.height > 0)) {
    return { x: 0, y: 0, width: 0, height: 0 };
  }
  const scale = Math.min(box.width / frame.width, box.height / frame.height);
  const width = frame.width * scale;
  const height = frame.height * scale;
  return { x: (box.width - width) / 2, y: (box.height - height) / 2, width, height };
}

/**
 * The frame pixel (integers, 0 ≤ x < frame.width) shown at `point` (box pixels), or `null` when
 * the point is in a bar or outside the box. With `clamp`, such a point maps to the nearest edge
 * pixel instead: a button pressed on the screen and released outside it must still be released.
 * @param {{x: number, y: number}} point
 * @param {{width: number, height: number}} box
 * @param {{width: number, height: number}} frame
 * @returns {{x: number, y: number} | null}
 */
export function toFrame(point, box, frame, { clamp = false } = {}) {
  const fit = fitRect(box, frame);
  if (!fit.width) return null;
  const x = ((point.x - fit.x) / fit.width) * frame.width;
  const y = ((point.y - fit.y) / fit.height) * frame.height;
  const inside = x >= 0 && y >= 0 && x < frame.width && y < frame.height;
  if (!inside && !clamp) return null;
  return { x: clampToPixel(x, frame.width), y: clampToPixel(y, frame.height) };
}

function clampToPixel(value, size) {
  return Math.min(Math.max(Math.floor(value), 0), size - 1);
}
