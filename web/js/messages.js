// The Message channel (PROTOCOL §4): one JSON object per text frame, tagged by `kind`. Outbound
// frames are dropped (with `false`) while the socket is not open; the caller says so.

export class Messages {
  /** @param {(message: object) => void} onMessage called for every well-formed inbound object */
  constructor({ onOpen, onMessage }) {
    this.socket = null;
    this.onOpen = onOpen;
    this.onMessage = onMessage;
  }

  /** Opens the Message socket at `url`. */
  open(url) {
    const socket = new WebSocket(url);
    socket.addEventListener('open', () => this.onOpen());
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn('message channel: a frame that is not JSON was ignored');
        return;
      }
      if (message && typeof message.kind === 'string') this.onMessage(message);
    });
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
    });
    this.socket = socket;
    return socket;
  }

  /** Whether a message sent now would go out. */
  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Sends `{kind, ...fields}`; `false` when the channel is not open. */
  send(kind, fields = {}) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify({ kind, ...fields }));
    return true;
  }
}
