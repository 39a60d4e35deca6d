// The CDP input socket (PROTOCOL §10): the person's keys, clicks and wheel on the screencast
// canvas, sent as `mouseEvent` / `keyEvent` / `wheelEvent` while this viewer holds control.
// Control, the clipboard and the browser bar stay on the Message socket: the gateway applies
// the same control to this socket and turns Ctrl/Cmd+C and Ctrl/Cmd+V into the clipboard flow.

import { describeClose } from './close-reasons.js';
import { buttonName, keyMessage, modifiersOf, mouseMessage, wheelMessage } from './cdp-events.js';
import { toFrame } from './letterbox.js';

/**
 * Close codes after which the input socket dials again (spec §9.9: abnormal, server error, the
 * incumbent's browser-state timeouts), plus 1012: PROTOCOL §2's "draining: reconnect".
 */
const RETRY_CODES = new Set([1006, 1011, 1012, 4408, 4410, 4411]);
/** Delay before each new dial, and how many in a row (reset once the socket is `ready`). */
const RETRY_DELAY_MS = 2000;
const MAX_ATTEMPTS = 5;
/** Mouse moves are sent at most this often (the last one of a burst always goes). */
const MOVE_INTERVAL_MS = 50;

/** `/v1/stream/cdp_input/browser_session/{id}`, or `/api/v1/stream/cdp_input/{task|workflow_run}/{id}`. */
export function cdpInputPath(entityKind, entityId) {
  const id = encodeURIComponent(entityId);
  if (entityKind === 'browser_session') return `/v1/stream/cdp_input/browser_session/${id}`;
  return `/api/v1/stream/cdp_input/${entityKind === 'task' ? 'task' : 'workflow_run'}/${id}`;
}

/** How an input socket ended: PROTOCOL §2's words, the incumbent's rule for dialling again. */
export function describeInputEnd(closed) {
  return { ...describeClose(closed), retry: RETRY_CODES.has(closed.code) };
}

/** The link's rules for the input socket (link.js `STREAM_RETRY` shape). */
export const INPUT_RETRY = { describe: describeInputEnd, delay: () => RETRY_DELAY_MS, maxAttempts: MAX_ATTEMPTS };

export class CdpInput {
  /**
   * @param {HTMLElement} target the screen box: pointer events count there, bars included
   * @param {object} options `view` (screencast.js, for the viewport and focus), `canSend()`
   *   (whether this viewer may drive now), `onReady()` (the socket is bound to the page)
   */
  constructor(target, { view, canSend, onReady }) {
    Object.assign(this, { target, view, canSend, onReady });
    this.socket = null;
    this.listening = null;
    this.held = null; // the mouse button this viewer pressed and has not released
    this.keysDown = new Map(); // code → key-up message, released if the canvas loses focus
    this.pendingMove = null;
    this.moveTimer = null;
    this.lastMoveAt = -Infinity;
  }

  /** Opens the input socket at `url`. */
  open(url) {
    const socket = new WebSocket(url);
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message?.kind === 'ready') this.onReady();
    });
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
    });
    this.socket = socket;
    return socket;
  }

  /** Starts turning events on the screen box and `canvas` into input (the CDP transport). */
  listen(canvas) {
    if (this.listening) return;
    const controller = new AbortController();
    const on = (element, type, handler, passive = true) =>
      element.addEventListener(type, handler, { signal: controller.signal, passive });
    on(this.target, 'pointerdown', (e) => this.onPress(e), false);
    on(this.target, 'pointerup', (e) => this.onRelease(e));
    on(this.target, 'pointercancel', (e) => this.onRelease(e));
    on(this.target, 'pointermove', (e) => this.onMove(e));
    on(this.target, 'wheel', (e) => this.onWheel(e), false);
    on(this.target, 'contextmenu', (e) => e.preventDefault(), false);
    on(canvas, 'keydown', (e) => this.onKey('keydown', e), false);
    on(canvas, 'keyup', (e) => this.onKey('keyup', e), false);
    on(canvas, 'blur', () => this.releaseKeys());
    this.listening = controller;
  }

  /** Stops listening (the screen went over to VNC). */
  stopListening() {
    this.listening?.abort();
    this.listening = null;
    this.held = null;
    this.keysDown.clear();
    this.dropPendingMove();
  }

  // === events ===

  /** The viewport pixel under a pointer event, or `null` in the letterbox bars. */
  at(event, clamp) {
    const box = this.target.getBoundingClientRect();
    const point = { x: event.clientX - box.left, y: event.clientY - box.top };
    return toFrame(point, box, this.view.viewport, { clamp });
  }

  onPress(event) {
    // The page must neither select nor drag; the canvas takes the keyboard.
    event.preventDefault();
    this.view.focus();
    const at = this.at(event, false);
    if (!at || this.held !== null) return;
    this.target.setPointerCapture?.(event.pointerId);
    const button = buttonName(event.button);
    if (this.send(mouseMessage('mousePressed', at, button, modifiersOf(event)))) this.held = button;
  }

  onRelease(event) {
    if (this.held === null) return;
    // A release outside the image still releases, at the nearest edge.
    const at = this.at(event, true);
    const button = this.held;
    this.held = null;
    if (at) this.send(mouseMessage('mouseReleased', at, button, modifiersOf(event)));
  }

  onMove(event) {
    if (!this.canSend()) return;
    const at = this.at(event, this.held !== null);
    if (!at) return;
    this.pendingMove = mouseMessage('mouseMoved', at, this.held ?? 'none', modifiersOf(event));
    if (this.moveTimer) return;
    const wait = Math.max(0, this.lastMoveAt + MOVE_INTERVAL_MS - performance.now());
    this.moveTimer = setTimeout(() => {
      this.moveTimer = null;
      const move = this.pendingMove;
      this.pendingMove = null;
      this.lastMoveAt = performance.now();
      if (move) this.send(move);
    }, wait);
  }

  onWheel(event) {
    event.preventDefault(); // the viewer page itself must not scroll
    const at = this.at(event, false);
    if (at) this.send(wheelMessage(at, event));
  }

  onKey(domType, event) {
    // Keys typed on the screen are for the remote browser, never this page (Tab, Backspace…).
    event.preventDefault();
    if (event.isComposing) return;
    const message = keyMessage(domType, event);
    if (domType === 'keydown') this.keysDown.set(event.code, { ...keyMessage('keyup', event), modifiers: 0 });
    else this.keysDown.delete(event.code);
    this.send(message);
  }

  /** The canvas lost focus: its key-ups would go elsewhere, so release what is held now. */
  releaseKeys() {
    for (const keyUp of this.keysDown.values()) this.send(keyUp);
    this.keysDown.clear();
  }

  // === socket ===

  dropPendingMove() {
    clearTimeout(this.moveTimer);
    this.moveTimer = null;
    this.pendingMove = null;
  }

  /** Sends one input message while this viewer may drive; `false` when it did not go. */
  send(message) {
    if (!this.canSend() || this.socket?.readyState !== WebSocket.OPEN) return false;
    // A press or release carries its own position: a move queued before it is stale.
    if (message.kind === 'mouseEvent' && message.eventType !== 'mouseMoved') this.dropPendingMove();
    this.socket.send(JSON.stringify(message));
    return true;
  }
}
