// The viewer: reconnecting sockets of one stream key (the screen and the Message channel), the
// control indicator, the browser bar and the clipboard boxes. Everything the page does on the
// wire follows PROTOCOL.md §2 (tickets, close reasons), §4 (message kinds), §5 and §10.
//
// The screen has two transports. The viewer opens the CDP screencast first: the gateway
// closes it with 4001 `use-vnc-streaming` when the browser has a VNC address (then the VNC
// channel shows it), and otherwise sends frames
// (then a canvas shows them and the CDP input socket carries keys and clicks). Either way the
// screen's state is the `vnc` one (`data-vnc`, the Screen pill), and the Message socket is
// the same.

import { CdpScreen } from './cdp-screen.js';
import { readLocal, tooLarge, writeLocal } from './clipboard.js';
import { HandoffBanner } from './handoff.js';
import { Link } from './link.js';
import { Messages } from './messages.js';
import { detectPlatform, streamPath } from './params.js';
import { Screen } from './screen.js';
import { $, mark, toast } from './ui.js';

/** What each `error.failed_kind` was, for the toast. */
const ACTION_NAMES = {
  navigate: 'Opening the address', reload: 'Reloading', 'go-back': 'Going back', 'go-forward': 'Going forward',
  'take-screenshot': 'The screenshot', 'clear-cookies': 'Clearing cookies', 'clear-all-data': 'Clearing data',
  'clipboard-paste': 'Pasting', 'ask-for-clipboard-response': 'Pasting', 'clipboard-copy': 'Copying',
  'take-control': 'Taking control', 'get-browser-url': 'Reading the address',
  'handoff-complete': 'Finishing the request for help',
};

/** Why control went back to the agent, in words. */
const CONTROL_REASONS = {
  'taken-by-another-viewer': 'Another viewer took control.',
  'grace-expired': 'Control went back to the agent while you were disconnected.',
  'view-only': 'This link can only watch.',
};

/** How long the other socket may take to be closed by the gateway after a final close. */
const FINISH_GRACE_MS = 3000;

/** Screenshot types the page shows. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

/** How many recent inbound message kinds the viewer remembers. */
const RECENT_KINDS = 50;

const CHANNEL_LABELS = { vnc: 'Screen', messages: 'Controls' };

/** One UUID per page load (PROTOCOL §1 stream key), shared by both sockets. */
function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Viewer {
  constructor({ entityKind, entityId, apiKey, linkSecret }) {
    this.entity = { entityKind, entityId };
    this.clientId = newClientId();
    this.interactor = 'agent';
    this.wantControl = false;
    // Set by the embedding parent (embed.js): no input, no taking control.
    this.viewOnly = false;
    // The postMessage bridge to an allowed parent page, when embedded.
    this.embed = null;
    this.screenOpen = false;
    this.finished = false;
    this.recent = [];
    const credentials = { apiKey, linkSecret, entityKind, entityId };
    // 'vnc' or 'cdp' once chosen; tasks and runs always watch over VNC.
    this.transport = null;
    this.screen = new Screen($('screen'));
    this.messages = new Messages({ onOpen: () => this.onMessagesOpen(), onMessage: (m) => this.onMessage(m) });
    const link = (name, path, open, onState = (state) => this.onLinkState(name, state), retry = undefined) =>
      new Link({ name, path, credentials, clientId: this.clientId, open, onState, retry });
    this.links = {
      vnc: link('vnc', streamPath('vnc', entityKind, entityId), (url) => this.screen.open(url)),
      messages: link('messages', streamPath('messages', entityKind, entityId), (url) => this.messages.open(url)),
    };
    this.cdp = new CdpScreen({
      target: $('screen'), entityKind, entityId, link, mayDrive: () => this.mayDrive(),
      onState: (state) => this.onLinkState('vnc', state), onLive: () => this.onFrames(), onUseVnc: () => this.useVnc(),
    });
    Object.assign(this.links, { screencast: this.cdp.screencast, input: this.cdp.inputLink });
    this.handoff = new HandoffBanner({
      send: (kind, fields) => this.send(kind, fields),
      takeControl: () => this.takeControl(),
      toast: (text) => toast(text),
      onChange: () => this.showControl(),
    });
    this.bindControls();
    $('entity-label').textContent = `${entityKind.replace('_', ' ')} ${entityId}`;
    $('client-id').textContent = this.clientId;
  }

  start() {
    $('banner').hidden = true;
    // Which transport is asked again on every start: the session may have changed.
    this.setTransport(null);
    this.cdp.screencast.start();
    this.links.messages.start();
  }

  stop() {
    Object.values(this.links).forEach((l) => l.stop());
  }

  // === sockets ===

  onLinkState(name, state) {
    mark(name, state.phase);
    if (state.end) mark(`${name}Close`, state.end.reason);
    const pill = $(`${name}-status`);
    pill.dataset.phase = state.phase;
    pill.querySelector('.pill-text').textContent = `${CHANNEL_LABELS[name]}: ${this.phaseText(state)}`;
    if (state.phase === 'stopped' && state.end && !state.end.retry) this.onFinal(state.end);
    else if (state.phase === 'stopped' && state.gaveUp) this.showBanner(`${state.end.message} Gave up reconnecting.`, true);
    if (name === 'vnc' && state.phase === 'waiting' && !this.finished) {
      this.showBanner(`${state.end.message} Reconnecting in ${Math.ceil(state.delayMs / 1000)} s…`, false);
    }
    if (name === 'vnc' && state.phase === 'open') {
      $('banner').hidden = true;
      this.screenOpen = true;
      this.emit('connected');
    } else if (name === 'vnc') this.screenOpen = false;
  }

  // === transport (PROTOCOL §10) ===

  setTransport(transport) {
    this.transport = transport;
    mark('transport', transport ?? 'pending');
    if (transport === 'cdp') this.cdp.show();
    else this.cdp.hide();
  }

  /** The gateway said this session streams over VNC: the VNC channel shows it, as ever. */
  useVnc() {
    this.setTransport('vnc');
    this.links.vnc.start();
  }

  /** A screencast socket drew its first frame: the screen is live over CDP. */
  onFrames() {
    if (this.finished) return;
    this.setTransport('cdp');
    this.onLinkState('vnc', { phase: 'open' });
  }

  /** Whether input may leave this page now: in control, and not set to watch only. */
  mayDrive() {
    return !this.viewOnly && !this.finished && this.interactor === 'user';
  }

  /** Gives the remote screen keyboard focus, whichever transport shows it. */
  focusScreen() {
    if (this.transport === 'cdp') this.cdp.focus();
    else this.screen.focus();
  }

  // === embedding ===

  /** Tells the embedding parent, if any (embed.js). */
  emit(event, fields) {
    this.embed?.post(event, fields);
  }

  /** Attaches the parent's bridge and tells it where things stand. */
  attachEmbed(embed) {
    this.embed = embed;
    if (this.screenOpen) this.emit('connected');
    this.emit('control-state', { interactor: this.interactor, reason: this.reason ?? null });
  }

  /** A command from the embedding parent. */
  command({ command, value }) {
    if (command === 'take-control') this.takeControl();
    else if (command === 'cede-control') this.cedeControl();
    else if (command === 'set-view-only') this.setViewOnly(value);
  }

  setViewOnly(viewOnly) {
    this.viewOnly = viewOnly;
    mark('viewOnly', viewOnly ? 'yes' : 'no');
    this.screen.setViewOnly(viewOnly);
    if (viewOnly && (this.interactor === 'user' || this.wantControl)) this.cedeControl();
    $('take-control').disabled = viewOnly || this.finished;
    $('handoff-take').disabled = viewOnly;
  }

  phaseText({ phase, delayMs, end }) {
    if (phase === 'open') return 'live';
    if (phase === 'connecting') return 'connecting…';
    if (phase === 'waiting') return `retrying in ${Math.ceil(delayMs / 1000)} s (${end.message})`;
    return end ? `closed (${end.reason})` : 'closed';
  }

  /** A reason after which dialling again cannot help: stop both sockets and say why. */
  onFinal(end) {
    if (this.finished) return;
    this.finished = true;
    // The other socket gets its own close from the gateway; it just must not dial again.
    Object.values(this.links).forEach((l) => l.finish(FINISH_GRACE_MS));
    this.showBanner(end.message, end.reason !== 'entity-finished');
    this.setInteractor('agent', null);
    this.setEnded(true);
    this.emit('closed', { reason: end.reason });
  }

  /** Nothing on the page can act once the viewer stopped for good (until Reconnect). */
  setEnded(ended) {
    mark('ended', ended ? 'yes' : 'no');
    $('take-control').disabled = ended || this.viewOnly;
    $('take-screenshot').disabled = ended;
  }

  showBanner(text, canReconnect) {
    $('banner-text').textContent = text;
    $('reconnect').hidden = !canReconnect;
    $('banner').hidden = false;
  }

  onMessagesOpen() {
    // An open handoff is sent again on every new Message socket.
    this.handoff.clear();
    this.messages.send('client-info', { platform: detectPlatform(navigator) });
    this.messages.send('get-browser-url');
    // Control outlives a socket for a grace period; asking again after a reconnect keeps it.
    if (this.wantControl) this.messages.send('take-control');
  }

  onMessage(message) {
    // The recent inbound kinds (never their content), for debugging from the console.
    this.recent.push(message.kind === 'error' ? `error:${message.failed_kind}:${message.message}` : message.kind);
    if (this.recent.length > RECENT_KINDS) this.recent.shift();
    const handlers = {
      'control-state': () => this.setInteractor(message.interactor, message.reason),
      'copied-text': () => this.onCopiedText(String(message.text ?? '')),
      'ask-for-clipboard': () => this.onAskForClipboard(),
      'browser-url': () => this.showUrl(String(message.url ?? '')),
      screenshot: () => this.showScreenshot(message),
      'handoff-requested': () => {
        this.handoff.onRequested(message);
        this.emit('handoff-requested', { handoff_id: message.handoff_id, instructions: message.instructions, deadline: message.deadline });
      },
      'handoff-ended': () => {
        this.handoff.onEnded(message);
        this.emit('handoff-ended', { handoff_id: message.handoff_id, outcome: message.outcome });
      },
      error: () => toast(`${ACTION_NAMES[message.failed_kind] || 'That action'} failed: ${message.message || 'unknown error'}`, 'error'),
    };
    if (Object.hasOwn(handlers, message.kind)) handlers[message.kind]();
  }

  // === control ===

  setInteractor(interactor, reason) {
    const had = this.interactor;
    this.interactor = interactor === 'user' ? 'user' : 'agent';
    if (this.interactor === 'agent' && reason) this.wantControl = false;
    this.reason = reason;
    mark('control', this.interactor);
    const inControl = this.interactor === 'user';
    this.showControl();
    this.handoff.setInControl(inControl);
    $('take-control').hidden = inControl;
    $('cede-control').hidden = !inControl;
    $('browser-actions').disabled = !inControl;
    $('paste-send').disabled = !inControl;
    if (had === 'user' && !inControl && CONTROL_REASONS[reason]) toast(CONTROL_REASONS[reason]);
    this.emit('control-state', { interactor: this.interactor, reason: reason ?? null });
    if (had !== 'user' && inControl) this.focusScreen();
  }

  /** The control indicator: who drives, and why control last went back to the agent. */
  showControl() {
    let text;
    if (this.interactor === 'user') text = 'You are in control';
    else if (CONTROL_REASONS[this.reason]) text = `Agent in control: ${CONTROL_REASONS[this.reason]}`;
    else text = this.handoff.isOpen ? 'The agent is waiting for your help' : 'The agent is operating';
    $('control-text').textContent = text;
  }

  takeControl() {
    if (this.viewOnly) return toast('This viewer is set to watch only.');
    this.wantControl = true;
    $('control-text').textContent = 'Taking control…';
    if (!this.messages.send('take-control')) toast('Not connected: control will be taken when the connection is back.');
    this.focusScreen();
  }

  cedeControl() {
    this.wantControl = false;
    this.send('cede-control');
  }

  /** Sends a message, or says why it could not go. */
  send(kind, fields) {
    if (this.messages.send(kind, fields)) return true;
    toast('Not connected to the remote browser right now.', 'error');
    return false;
  }

  // === clipboard ===

  async onCopiedText(text) {
    if (!text) return toast('Nothing was selected in the remote browser.');
    $('copied-text').value = text;
    const written = await writeLocal(text);
    $('copied-note').hidden = written;
    toast(written ? 'Copied to your clipboard.' : 'Copied text is in the “Copied” box (clipboard access was blocked).');
  }

  async copyToLocal() {
    const box = $('copied-text');
    if (await writeLocal(box.value)) return toast('Copied to your clipboard.');
    box.select(); // the person can press Ctrl+C on the visible selection
    $('copied-note').hidden = false;
  }

  /** The gateway held back a Ctrl+V (PROTOCOL §3, paste): answer with the text to insert. */
  async onAskForClipboard() {
    const fromClipboard = await readLocal();
    const text = fromClipboard || $('paste-text').value;
    if (!text) {
      $('paste-text').focus();
      return toast('Clipboard access is blocked: put the text in the “Paste” box and press “Paste into the focused field”.', 'error');
    }
    if (tooLarge(text)) return toast('That text is too large to paste (over 1 MiB).', 'error');
    if (this.send('ask-for-clipboard-response', { text })) toast('Pasting into the remote browser…');
  }

  pasteFromBox() {
    const text = $('paste-text').value;
    if (!text) return toast('The Paste box is empty.');
    if (tooLarge(text)) return toast('That text is too large to paste (over 1 MiB).', 'error');
    if (this.send('clipboard-paste', { text })) toast('Pasting into the remote browser…');
    this.focusScreen();
  }

  // === browser bar ===

  showUrl(url) {
    const input = $('url-input');
    if (document.activeElement !== input) input.value = url;
  }

  showScreenshot({ data, mime_type: mime = 'image/png' }) {
    // Only image types become a data: URL (never, say, text/html from a confused server).
    if (typeof data !== 'string' || !IMAGE_TYPES.has(mime)) return toast('The screenshot could not be shown.', 'error');
    const src = `data:${mime};base64,${data}`;
    $('screenshot-image').src = src;
    const link = $('screenshot-download');
    link.href = src;
    link.download = `screenshot-${this.entity.entityId}-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
    $('screenshot-dialog').showModal();
  }

  bindControls() {
    const click = (id, action) => $(id).addEventListener('click', action);
    click('take-control', () => this.takeControl());
    click('cede-control', () => this.cedeControl());
    click('go-back', () => this.send('go-back'));
    click('go-forward', () => this.send('go-forward'));
    click('reload', () => this.send('reload', { hard: false }));
    click('clear-cookies', () => this.send('clear-cookies') && toast('Clearing cookies…'));
    click('clear-all-data', () => this.send('clear-all-data') && toast('Clearing all browsing data…'));
    click('take-screenshot', () => this.send('take-screenshot'));
    click('screenshot-close', () => $('screenshot-dialog').close());
    click('copy-local', () => this.copyToLocal());
    click('paste-send', () => this.pasteFromBox());
    click('reconnect', () => {
      this.finished = false;
      this.setEnded(false);
      this.start();
    });
    $('url-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const url = $('url-input').value.trim();
      if (url && this.send('navigate', { url })) $('url-input').blur();
    });
  }
}
