// One stream socket that dials again with exponential backoff. Each dial mints a fresh stream
// ticket (a ticket opens exactly one socket), opens the socket, and waits for it to close; the
// close reason decides between dialling again and stopping with a message (close-reasons.js).
// A socket with rules of its own (the screencast, the CDP input) passes its own `retry`.

import { backoffDelay, describeClose, ticketFailureReason } from './close-reasons.js';

/** A socket that stayed open this long counts as healthy: the backoff starts over. */
const STABLE_MS = 10000;
/** Dials in a row without a healthy connection before the viewer gives up. */
const MAX_ATTEMPTS = 20;
/** Bound on the ticket request. */
const TICKET_TIMEOUT_MS = 10000;

/**
 * How the VNC and Message sockets end and dial again: the close reasons of PROTOCOL §2,
 * exponential backoff, at most MAX_ATTEMPTS dials in a row.
 *
 * A `retry` has `describe({code, reason})` → `{reason, message, retry}` (how a socket ended),
 * `delay(attempt, end)` → ms before the next dial, and `maxAttempts`.
 */
export const STREAM_RETRY = {
  describe: (closed) => describeClose(closed),
  delay: (attempt, end) => backoffDelay(attempt, { reason: end.reason, jitter: Math.random() }),
  maxAttempts: MAX_ATTEMPTS,
};

/**
 * Mints a single-use stream ticket (PROTOCOL §2). Throws `{reason}` on failure.
 * @returns {Promise<string>}
 */
export async function mintTicket({ apiKey, linkSecret, entityKind, entityId, scope = 'control' }) {
  // A viewer link buys tickets of its own entity and role; an API key names both.
  const request = linkSecret
    ? { headers: { 'x-stream-link': linkSecret } }
    : {
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ entity_kind: entityKind, entity_id: entityId, scope }),
    };
  let response;
  try {
    response = await fetch('/v1/stream/tickets', {
      method: 'POST',
      ...request,
      signal: AbortSignal.timeout(TICKET_TIMEOUT_MS),
    });
  } catch {
    throw { reason: 'network-error' };
  }
  if (response.status !== 201) throw { reason: ticketFailureReason(response.status) };
  const body = await response.json().catch(() => ({}));
  if (typeof body.ticket !== 'string') throw { reason: 'verification-unavailable' };
  return body.ticket;
}

/** `ws(s)://<this host><path>?client_id=…&ticket=…` (after the path's own query, if any). */
export function socketUrl(path, clientId, ticket) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams({ client_id: clientId, ticket });
  return `${scheme}//${location.host}${path}${path.includes('?') ? '&' : '?'}${query}`;
}

/**
 * A reconnecting stream socket.
 *
 * `open(url)` must create the WebSocket and return it. The link reports through
 * `onState({phase, attempt, delayMs, end, gaveUp})`: phase `connecting`, `open`, `waiting` or
 * `stopped`; `end` is how the last socket ended (`retry.describe`), present only when a socket
 * (or its ticket request) really ended.
 */
export class Link {
  constructor({ name, path, credentials, clientId, open, onState, retry = STREAM_RETRY }) {
    Object.assign(this, { name, path, credentials, clientId, open, onState, retry });
    this.socket = null;
    this.attempt = 0;
    this.running = false;
    this.generation = 0;
    this.lastOnly = false;
    this.dialling = false;
    this.wake = null;
  }

  /** Starts dialling (again, after a stop). */
  start() {
    if (this.running) return;
    this.running = true;
    this.lastOnly = false;
    this.generation += 1;
    this.loop(this.generation);
  }

  /** Stops now: closes the socket (as `client-closed`) and dials no more. */
  stop() {
    if (!this.running) return;
    this.running = false;
    this.socket?.close(1000, 'client-closed');
    this.wake?.();
    this.onState({ phase: 'stopped' });
  }

  /**
   * Dials no more, but lets the open socket end by itself (the gateway closes every socket of a
   * finished entity, so its own reason arrives); after `graceMs` it is closed anyway.
   */
  finish(graceMs) {
    if (!this.running) return;
    if (!this.socket && !this.dialling) return this.stop();
    this.lastOnly = true;
    const generation = this.generation;
    setTimeout(() => this.generation === generation && this.stop(), graceMs);
  }

  /** The socket proved healthy (e.g. it said it is ready): the next retry starts over. */
  healthy() {
    this.attempt = 0;
  }

  /** Whether the loop of `generation` is still the live one (a stop + start begins another). */
  live(generation) {
    return this.running && generation === this.generation;
  }

  async loop(generation) {
    this.attempt = 0;
    while (this.live(generation)) {
      this.onState({ phase: 'connecting', attempt: this.attempt });
      this.dialling = true;
      const { end, openedFor } = await this.dialOnce();
      this.dialling = false;
      if (!this.live(generation)) return;
      if (!end) return this.stop(); // finishing: the ticket came back, but no socket is wanted
      if (openedFor >= STABLE_MS) this.attempt = 0;
      if (!end.retry || this.lastOnly || this.attempt >= this.retry.maxAttempts) {
        this.running = false;
        this.onState({ phase: 'stopped', end, gaveUp: end.retry && !this.lastOnly });
        return;
      }
      const delayMs = this.retry.delay(this.attempt, end);
      this.attempt += 1;
      this.onState({ phase: 'waiting', attempt: this.attempt, delayMs, end });
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, delayMs);
      });
    }
  }

  /** One ticket + one socket, until it closes. */
  async dialOnce() {
    let ticket;
    try {
      ticket = await mintTicket({ ...this.credentials });
    } catch (failure) {
      return { end: describeClose({ code: 0, reason: failure.reason }), openedFor: 0 };
    }
    if (!this.running || this.lastOnly) return { end: null, openedFor: 0 };
    let socket;
    try {
      socket = this.open(socketUrl(this.path, this.clientId, ticket));
    } catch (error) {
      console.error(`${this.name}: cannot open the socket`, error);
      return { end: describeClose({ code: 0, reason: 'internal-error' }), openedFor: 0 };
    }
    this.socket = socket;
    let openedAt = null;
    socket.addEventListener('open', () => {
      openedAt = Date.now();
      this.onState({ phase: 'open' });
    });
    const closed = await new Promise((resolve) => {
      socket.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason }));
    });
    this.socket = null;
    return { end: this.retry.describe(closed), openedFor: openedAt ? Date.now() - openedAt : 0 };
  }
}
