// What each way a stream can end means to a person, and whether the viewer should dial again.
// Keyed by the close reasons of PROTOCOL.md §2; pure (no DOM), so `node --test` covers it.

/** Reasons after which dialling again cannot help: the viewer stops and says why. */
const FINAL = new Set([
  'auth-failed',
  'client-id-missing',
  'entity-not-found',
  'entity-finished',
  'superseded',
  'origin-not-allowed',
  'bad-request',
  'revoked',
]);

/** The human message of every close reason the gateway (or the ticket endpoint) can give. */
export const CLOSE_MESSAGES = {
  'auth-failed': 'The gateway refused your credential: the API key or stream ticket is wrong, expired or revoked.',
  'client-id-missing': 'The viewer did not identify itself (no client id). Reload the page.',
  'entity-not-found': 'This browser session does not exist, or it belongs to another organization.',
  'entity-not-live': 'The browser session is not running yet (or no longer).',
  'browser-not-ready': 'The remote browser is still starting.',
  'verification-unavailable': 'The gateway could not check your access right now.',
  'entity-finished': 'The browser session has ended.',
  superseded: 'This stream was opened again somewhere else, so this copy was closed.',
  'client-closed': 'You closed the stream.',
  'upstream-closed': 'The remote browser closed the connection.',
  'protocol-error': 'The gateway rejected a message from this viewer.',
  'rate-limited': 'The gateway is busy (too many connections).',
  'slow-consumer': 'The connection was too slow to keep up with the screen.',
  timeout: 'The connection stopped answering.',
  revoked: 'Access was revoked: the link or API key this viewer was opened with no longer works.',
  'origin-not-allowed': 'The gateway does not accept viewers from this web address.',
  'upstream-unreachable': 'The gateway could not reach the remote browser.',
  'bus-unavailable': 'The gateway lost its coordination service.',
  'internal-error': 'The gateway hit an internal error.',
  draining: 'The gateway is restarting.',
  'bad-request': 'The gateway rejected the stream request (check the session id in the address).',
  'network-error': 'The gateway cannot be reached.',
};

/**
 * Describes how a socket (or its ticket request) ended.
 * @param {{code?: number, reason?: string}} end the WebSocket close code and reason
 * @returns {{reason: string, message: string, retry: boolean}}
 */
export function describeClose({ code = 1006, reason = '' } = {}) {
  const known = Object.hasOwn(CLOSE_MESSAGES, reason);
  const key = known ? reason : 'network-error';
  const message = known
    ? CLOSE_MESSAGES[reason]
    : `The connection dropped (code ${code}${reason ? `, ${reason}` : ''}).`;
  return { reason: key, message, retry: !FINAL.has(key) };
}

/**
 * Exponential backoff: 1 s, 2 s, 4 s … capped at 15 s; `draining` dials again almost at once
 * (another replica serves). `jitter` in [0, 1) spreads reconnecting viewers by up to 20 %.
 */
export function backoffDelay(attempt, { reason = '', jitter = 0, baseMs = 1000, capMs = 15000 } = {}) {
  if (reason === 'draining' && attempt === 0) return 100;
  const delay = Math.min(baseMs * 2 ** Math.min(attempt, 30), capMs);
  return Math.round(delay * (1 + 0.2 * jitter));
}

/** How a failed `POST /v1/stream/tickets` maps onto a close reason. */
export function ticketFailureReason(status) {
  if (status === 401 || status === 403) return 'auth-failed';
  if (status === 404) return 'entity-not-found';
  if (status === 400) return 'bad-request';
  return 'verification-unavailable';
}
