// The remote screen over the CDP screencast (PROTOCOL §10): a send-only socket of JSON frames
// (base64 JPEG + the viewport size), drawn into a canvas in the screen box, letterboxed. The
// link (link.js) owns dialling; this module owns the canvas and the current socket's frames,
// and says how a socket ended: 4001 `use-vnc-streaming` (watch over VNC instead) or a bare
// status frame (the stream ended; terminal statuses are final, others are retried).

import { backoffDelay, CLOSE_MESSAGES, describeClose } from './close-reasons.js';
import { fitRect } from './letterbox.js';

/** Statuses after which the stream will not come back (spec §10.4). */
const TERMINAL = new Set(['completed', 'failed', 'terminated', 'canceled', 'timed_out', 'timeout', 'session_expired', 'not_found']);
/** Image formats a frame may name, as MIME types (never anything a browser would run). */
const FORMATS = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };
/** Larger viewports than this are a confused server: the canvas is not grown past it. */
const MAX_SIDE = 8192;
/** Dials in a row without frames before giving up (spec §10.4 frontend). */
const MAX_ATTEMPTS = 20;
/** How the gateway says "this session has a VNC address: use the VNC channel". */
export const USE_VNC = { code: 4001, reason: 'use-vnc-streaming' };

/**
 * The screencast path of an entity: `/v1/stream/browser_sessions/{id}`, or for a task or a
 * run `/api/v1/stream/{tasks|workflow_runs}/{id}?prefer_vnc=true` (so that, like the session
 * path, it answers 4001 when the browser has a VNC address).
 */
export function screencastPath(entityKind, entityId) {
  const id = encodeURIComponent(entityId);
  if (entityKind === 'browser_session') return `/v1/stream/browser_sessions/${id}`;
  const plural = entityKind === 'task' ? 'tasks' : 'workflow_runs';
  return `/api/v1/stream/${plural}/${id}?prefer_vnc=true`;
}

/**
 * How a screencast socket ended, given its close and the last bare status it sent (if any).
 * A final close reason wins, then a terminal status; a non-terminal status (e.g.
 * `browser_unavailable`) is a browser that may come back.
 * @returns {{reason: string, message: string, retry: boolean}}
 */
export function describeScreencastEnd(closed, status = null) {
  if (closed.code === USE_VNC.code) {
    return { reason: USE_VNC.reason, message: 'The remote browser streams over VNC.', retry: false };
  }
  const end = describeClose(closed);
  if (!end.retry) return end;
  if (status === 'not_found') return describeClose({ code: 1013, reason: 'entity-not-found' });
  if (TERMINAL.has(status)) return describeClose({ code: 1000, reason: 'entity-finished' });
  if (end.reason !== 'network-error' || !status || status === 'running') return end;
  return { reason: 'browser-not-ready', message: CLOSE_MESSAGES['browser-not-ready'], retry: true };
}

/** A frame's fields, or `null` when the text is not a frame or a status. */
export function readFrame(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  if (!message || typeof message !== 'object' || typeof message.status !== 'string') return null;
  const format = message.format ?? 'jpeg';
  const image = typeof message.screenshot === 'string' && Object.hasOwn(FORMATS, format) && FORMATS[format];
  if (!image) return { status: message.status };
  const side = (value) => (Number.isInteger(value) && value > 0 && value <= MAX_SIDE ? value : null);
  return {
    status: message.status,
    screenshot: message.screenshot,
    mime: image,
    width: side(message.viewport_width),
    height: side(message.viewport_height),
  };
}

export class ScreencastView {
  /**
   * @param {HTMLElement} target the box the remote screen fills
   * @param {{onFrames: () => void}} events `onFrames` once per socket, when its first frame is drawn
   */
  constructor(target, { onFrames }) {
    this.target = target;
    this.onFrames = onFrames;
    this.socket = null;
    this.status = null;
    this.canvas = null;
    // Decoding is asynchronous: a frame that finishes after a newer one was drawn is dropped.
    this.received = 0;
    this.drawn = 0;
    this.viewport = { width: 0, height: 0 };
    this.resize = new ResizeObserver(() => this.layout());
    /** The link's rules for this socket (link.js `STREAM_RETRY` shape). */
    this.retry = {
      describe: (closed) => describeScreencastEnd(closed, this.status),
      delay: (attempt, end) => backoffDelay(attempt, { reason: end.reason, jitter: Math.random() }),
      maxAttempts: MAX_ATTEMPTS,
    };
  }

  /** Opens the screencast socket at `url`; its first frame puts the canvas in the box. */
  open(url) {
    const socket = new WebSocket(url);
    this.socket = socket;
    this.status = null;
    let first = true;
    socket.addEventListener('message', async (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      const frame = readFrame(event.data);
      if (!frame) return;
      this.status = frame.status;
      if (!frame.screenshot) {
        // A bare status: the stream ended. Closing lets the link read `status` and decide.
        if (frame.status !== 'running') socket.close(1000, 'client-closed');
        return;
      }
      if ((await this.draw(frame, socket)) && first) {
        first = false;
        this.onFrames();
      }
    });
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
    });
    return socket;
  }

  /** Puts the canvas into the screen box (frames came: this session streams over CDP). */
  mount() {
    if (this.canvas) return;
    const canvas = document.createElement('canvas');
    canvas.className = 'screencast';
    canvas.tabIndex = 0; // focusable, so keys typed "on the screen" reach cdp-input.js
    canvas.setAttribute('aria-label', 'Remote browser screen');
    this.canvas = canvas;
    this.target.append(canvas);
    this.resize.observe(this.target);
    this.layout();
  }

  /** Takes the canvas out again (the session turned out to stream over VNC). */
  unmount() {
    this.resize.disconnect();
    this.canvas?.remove();
    this.canvas = null;
    this.viewport = { width: 0, height: 0 };
  }

  /** Gives the canvas keyboard focus. */
  focus() {
    this.canvas?.focus({ preventScroll: true });
  }

  /**
   * Decodes and draws one frame of `socket` into the canvas, whose pixels are viewport pixels
   * (as noVNC's are framebuffer pixels). `true` when it was drawn; a frame of a socket that is
   * no longer the current one is not (it must not bring back an unmounted canvas).
   */
  async draw(frame, socket) {
    const number = ++this.received;
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([decodeBase64(frame.screenshot)], { type: frame.mime }));
    } catch {
      console.warn('screencast: a frame that is not an image was skipped');
      return false;
    }
    if (number < this.drawn || this.socket !== socket) {
      bitmap.close();
      return false;
    }
    this.drawn = number;
    this.mount();
    const width = frame.width ?? bitmap.width;
    const height = frame.height ?? bitmap.height;
    if (width !== this.viewport.width || height !== this.viewport.height) {
      this.viewport = { width, height };
      this.canvas.width = width;
      this.canvas.height = height;
      this.layout();
    }
    this.canvas.getContext('2d').drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    return true;
  }

  /** Sizes and places the canvas on the letterboxed rectangle the frame fills. */
  layout() {
    if (!this.canvas) return;
    // The same box cdp-input.js maps pointer events in, so a click lands where it is drawn.
    const fit = fitRect(this.target.getBoundingClientRect(), this.viewport);
    Object.assign(this.canvas.style, {
      left: `${fit.x}px`, top: `${fit.y}px`, width: `${fit.width}px`, height: `${fit.height}px`,
    });
  }
}

function decodeBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
