// Requested handoffs (PROTOCOL §5): the agent asks the person for help. `handoff-requested`
// shows the banner with the instructions and the time left; "Take control" accepts, then
// "Done" or "I can't do this" send `handoff-complete` (with the optional note, for the agent);
// `handoff-ended` hides it. The gateway re-sends an open handoff after a reconnect, so the
// banner is cleared whenever the Message socket opens again.

import { $, mark } from './ui.js';

/** What each outcome means for the person, when it ends. */
const OUTCOME_TEXT = {
  DONE: 'Thanks: the agent carries on.',
  DECLINED: 'The agent was told you could not do it.',
  TIMED_OUT: 'The request for help timed out.',
  CANCELLED: 'The agent no longer needs help.',
  NO_VIEWER: 'The request for help timed out.',
  ENTITY_FINISHED: 'The session ended.',
};

/** Longest note, in characters (the gateway refuses longer ones). */
const MAX_NOTE = 2000;

/** "m:ss" of a number of milliseconds (never negative). */
export function timeLeft(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

export class HandoffBanner {
  /**
   * @param {object} hooks `send(kind, fields)` → bool, `takeControl()`, `toast(text)`,
   *   `onChange(open)` when a handoff opens or ends.
   */
  constructor({ send, takeControl, toast, onChange }) {
    this.current = null;
    this.timer = null;
    this.inControl = false;
    Object.assign(this, { send, takeControl, toast, onChange });
    $('handoff-take').addEventListener('click', () => this.takeControl());
    $('handoff-done').addEventListener('click', () => this.complete(true));
    $('handoff-decline').addEventListener('click', () => this.complete(false));
    this.render();
  }

  get isOpen() {
    return this.current !== null;
  }

  onRequested({ handoff_id: id, instructions, deadline }) {
    if (typeof id !== 'string') return;
    const at = Date.parse(deadline);
    this.current = { id, deadline: Number.isNaN(at) ? Date.now() : at, sent: false };
    $('handoff-instructions').textContent = String(instructions ?? '');
    $('handoff-note').value = '';
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 1000);
    this.render();
    this.onChange(true);
  }

  onEnded({ handoff_id: id, outcome }) {
    if (!this.current || this.current.id !== id) return;
    this.clear();
    this.toast(OUTCOME_TEXT[outcome] || 'The request for help ended.');
  }

  /** Forgets the banner (the Message socket opened again: an open handoff is re-sent). */
  clear() {
    const was = this.isOpen;
    this.current = null;
    clearInterval(this.timer);
    this.render();
    if (was) this.onChange(false);
  }

  setInControl(inControl) {
    this.inControl = inControl;
    this.render();
  }

  complete(success) {
    if (!this.current || !this.inControl) return;
    const note = $('handoff-note').value.slice(0, MAX_NOTE);
    if (this.send('handoff-complete', { handoff_id: this.current.id, success, note })) {
      this.current.sent = true;
      this.render();
    }
  }

  tick() {
    if (this.current) $('handoff-time-left').textContent = timeLeft(this.current.deadline - Date.now());
  }

  render() {
    const open = this.isOpen;
    mark('handoff', open ? 'open' : 'none');
    $('handoff').hidden = !open;
    if (!open) return;
    this.tick();
    const sent = this.current.sent;
    $('handoff-take').hidden = this.inControl;
    $('handoff-done').disabled = !this.inControl || sent;
    $('handoff-decline').disabled = !this.inControl || sent;
    $('handoff-note').disabled = !this.inControl || sent;
  }
}
