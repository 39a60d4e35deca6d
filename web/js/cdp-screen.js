// The CDP transport of a browser session's screen (PROTOCOL §10): the screencast link with its
// canvas, and the input link with the listeners that feed it. The viewer decides when this
// transport is used (viewer.js); this module owns what it takes to show and drive the screen
// over CDP, and turns the screencast link's states into the screen's.

import { CdpInput, cdpInputPath, INPUT_RETRY } from './cdp-input.js';
import { ScreencastView, screencastPath, USE_VNC } from './screencast.js';
import { mark } from './ui.js';

export class CdpScreen {
  /**
   * @param {object} options `target` (the screen box), `entityKind`, `entityId`, `link(name, path, open,
   *   onState, retry)` (makes a Link of the viewer's stream key), `mayDrive()` (whether input
   *   may leave the page now), and the viewer's callbacks: `onState(state)` (the screen's link
   *   state), `onLive()` (a screencast socket drew its first frame), `onUseVnc()` (the gateway
   *   said this session streams over VNC)
   */
  constructor({ target, entityKind, entityId, link, mayDrive, onState, onLive, onUseVnc }) {
    this.view = new ScreencastView(target, { onFrames: onLive });
    this.input = new CdpInput(target, { view: this.view, canSend: mayDrive, onReady: () => this.onReady() });
    this.screencast = link('screencast', screencastPath(entityKind, entityId), (url) => this.view.open(url), (state) => {
      mark('screencast', state.phase);
      // An open socket is not yet a live screen: that is its first frame (`onLive`).
      if (state.phase === 'open') return;
      if (state.end?.reason === USE_VNC.reason) onUseVnc();
      else onState(state);
    }, this.view.retry);
    this.inputLink = link('input', cdpInputPath(entityKind, entityId), (url) => this.input.open(url),
      (state) => mark('cdpInput', state.phase), INPUT_RETRY);
  }

  onReady() {
    this.inputLink.healthy();
    mark('cdpInput', 'ready');
  }

  /**
   * Sends input from the canvas (frames came). Also brings back an input link that gave up
   * while the screencast was away.
   */
  show() {
    this.input.listen(this.view.canvas);
    this.inputLink.start();
  }

  /** Takes the canvas and the input away (not, or no longer, the CDP transport). */
  hide() {
    this.input.stopListening();
    this.view.unmount();
    this.inputLink.stop();
  }

  /** Gives the canvas keyboard focus. */
  focus() {
    this.view.focus();
  }
}
