// The remote screen: noVNC's RFB client on the gateway's VNC channel, scaled to fit its box.
// The link (link.js) owns dialling; this module owns the RFB object of the current socket.

import RFB from '../node_modules/@novnc/novnc/core/rfb.js';

export class Screen {
  /** @param {HTMLElement} target the box the remote screen fills */
  constructor(target, { onConnect, onDisconnect } = {}) {
    this.target = target;
    this.rfb = null;
    this.viewOnly = false;
    this.onConnect = onConnect || (() => {});
    this.onDisconnect = onDisconnect || (() => {});
  }

  /** Opens the VNC socket at `url` (noVNC asks for the `binary` subprotocol) and shows it. */
  open(url) {
    const socket = new WebSocket(url, ['binary']);
    const rfb = new RFB(this.target, socket, { shared: true });
    rfb.scaleViewport = true;
    rfb.resizeSession = false;
    rfb.focusOnClick = true;
    rfb.qualityLevel = 6;
    rfb.compressionLevel = 2;
    rfb.background = 'transparent';
    rfb.viewOnly = this.viewOnly;
    rfb.addEventListener('connect', () => this.onConnect());
    rfb.addEventListener('disconnect', () => {
      if (this.rfb === rfb) this.rfb = null;
      this.onDisconnect();
    });
    // Copies reach the page as `copied-text` on the Message channel (Unicode, from the
    // selection); RFB cut text is Latin-1 only, so its `clipboard` event is not used.
    this.rfb = rfb;
    return socket;
  }

  /** Stops (or resumes) sending keys and pointer events, on this socket and the next ones. */
  setViewOnly(viewOnly) {
    this.viewOnly = viewOnly;
    if (this.rfb) this.rfb.viewOnly = viewOnly;
  }

  /** Gives the canvas keyboard focus, so typing goes to the remote browser. */
  focus() {
    this.rfb?.focus({ preventScroll: true });
  }

  /** The canvas, when connected (tests and the screenshot fallback read it). */
  canvas() {
    return this.target.querySelector('canvas');
  }
}
