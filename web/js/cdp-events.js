// DOM keyboard, mouse and wheel events as the CDP input socket's messages (PROTOCOL §10, the
// incumbent's `mouseEvent` / `keyEvent` / `wheelEvent` of spec §9.5, §9.9). Pure: the events
// come in as plain objects, so `node --test` covers the mapping; cdp-input.js does the I/O.

/** The CDP modifier bits. */
export const ALT = 1;
export const CTRL = 2;
export const META = 4;
export const SHIFT = 8;

/** Windows virtual key codes of the keys whose `key` is a name, not a character. */
const VIRTUAL_KEYS = {
  Backspace: 8, Tab: 9, Enter: 13, Shift: 16, Control: 17, Alt: 18, Pause: 19, CapsLock: 20,
  Escape: 27, ' ': 32, PageUp: 33, PageDown: 34, End: 35, Home: 36,
  ArrowLeft: 37, ArrowUp: 38, ArrowRight: 39, ArrowDown: 40, Insert: 45, Delete: 46,
  Meta: 91, ContextMenu: 93,
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, 112 + i])),
};

/** The DOM `MouseEvent.button` numbers, by CDP name. */
const BUTTONS = ['left', 'middle', 'right'];

/** Pixels per wheel line (a DOM_DELTA_LINE event, e.g. Firefox's mouse wheel). */
const LINE_PX = 40;
/** Pixels per wheel page (DOM_DELTA_PAGE). */
const PAGE_PX = 800;

/** The modifier bits held during `event` (anything with altKey, ctrlKey, metaKey, shiftKey). */
export function modifiersOf(event) {
  return (event.altKey ? ALT : 0) | (event.ctrlKey ? CTRL : 0) | (event.metaKey ? META : 0)
    | (event.shiftKey ? SHIFT : 0);
}

/**
 * The Windows virtual key code of a key, or `null` when it has none we know: named keys from
 * the table, letters and digits by their uppercase character code, and otherwise the browser's
 * own (legacy) `keyCode`.
 */
export function virtualKeyCode({ key, keyCode }) {
  if (Object.hasOwn(VIRTUAL_KEYS, key)) return VIRTUAL_KEYS[key];
  if (/^[a-z0-9]$/i.test(key)) return key.toUpperCase().charCodeAt(0);
  return Number.isInteger(keyCode) && keyCode > 0 && keyCode < 255 ? keyCode : null;
}

/**
 * The `keyEvent` of a DOM `keydown` or `keyup`. A printable key (a one-character `key`) goes
 * down as `keyDown` with its `text`; any other key, and a character typed with Ctrl, Alt or
 * Meta held (a shortcut such as Ctrl+C, which must not type its letter), as `rawKeyDown`.
 */
export function keyMessage(domType, event) {
  const modifiers = modifiersOf(event);
  const message = { kind: 'keyEvent', key: event.key, code: event.code, modifiers };
  const vk = virtualKeyCode(event);
  if (vk !== null) message.windowsVirtualKeyCode = vk;
  if (domType === 'keyup') return { ...message, eventType: 'keyUp' };
  const printable = [...event.key].length === 1 && !(modifiers & (ALT | CTRL | META));
  return printable ? { ...message, eventType: 'keyDown', text: event.key } : { ...message, eventType: 'rawKeyDown' };
}

/** The CDP name of a DOM `MouseEvent.button` (`none` for the back/forward buttons). */
export function buttonName(button) {
  return BUTTONS[button] ?? 'none';
}

/**
 * A `mouseEvent` at `at` (frame pixels). Presses and releases are single clicks; moves carry
 * the button held, if any, so a drag selects.
 */
export function mouseMessage(eventType, at, button, modifiers) {
  const clickCount = eventType === 'mouseMoved' ? 0 : 1;
  return { kind: 'mouseEvent', eventType, x: at.x, y: at.y, button, clickCount, modifiers };
}

/** The `wheelEvent` of a DOM `wheel` event at `at` (frame pixels), its deltas in pixels. */
export function wheelMessage(at, event) {
  const unit = [1, LINE_PX, PAGE_PX][event.deltaMode] ?? 1;
  return {
    kind: 'wheelEvent',
    x: at.x,
    y: at.y,
    deltaX: Math.round(event.deltaX * unit),
    deltaY: Math.round(event.deltaY * unit),
    modifiers: modifiersOf(event),
  };
}
