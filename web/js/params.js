// Reads what the viewer shows from the URL fragment (`#session=pbs_…&apikey=…`, or a viewer
// link's `#session=pbs_…&link=bsl_…`). The fragment is never part of an HTTP request, so the
// key or link secret stays out of server and proxy logs. Pure.

/** The entity kinds of PROTOCOL.md §1, with the fragment key that names each. */
const KINDS = [
  ['session', 'browser_session'],
  ['task', 'task'],
  ['workflow_run', 'workflow_run'],
];

/** Longest id the gateway accepts (PROTOCOL §2 caps ids and client ids at 128 characters). */
const MAX_ID = 128;

/**
 * Parses a fragment such as `#session=pbs_1&apikey=k`.
 * @returns {{entityKind: string, entityId: string, apiKey: string} | {error: string}}
 */
export function parseFragment(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const found = KINDS.filter(([key]) => params.get(key));
  if (found.length === 0) return { error: 'Give a browser session id (session=…), task=… or workflow_run=….' };
  if (found.length > 1) return { error: 'Give only one of session, task or workflow_run.' };
  const [key, entityKind] = found[0];
  const entityId = params.get(key).trim();
  if (entityId.length > MAX_ID) return { error: 'That id is too long.' };
  return {
    entityKind,
    entityId,
    apiKey: (params.get('apikey') || '').trim(),
    linkSecret: (params.get('link') || '').trim(),
  };
}

/** The fragment without its `apikey` or `link`, so no secret lingers in the address bar. */
export function fragmentWithoutKey(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  params.delete('apikey');
  params.delete('link');
  const rest = params.toString();
  return rest ? `#${rest}` : '';
}

/** The gateway paths of PROTOCOL.md §2 for one channel (`vnc` or `messages`). */
export function streamPath(channel, entityKind, entityId) {
  const id = encodeURIComponent(entityId);
  return entityKind === 'browser_session'
    ? `/v1/stream/${channel}/browser_session/${id}`
    : `/api/v1/stream/${channel}/${entityKind}/${id}`;
}

/** The `platform` of `client-info` (PROTOCOL §4), from what the browser says it runs on. */
export function detectPlatform(nav) {
  const name = `${nav?.userAgentData?.platform || nav?.platform || ''} ${nav?.userAgent || ''}`.toLowerCase();
  if (name.includes('mac')) return 'mac';
  if (name.includes('win')) return 'windows';
  if (name.includes('linux') || name.includes('x11')) return 'linux';
  return 'other';
}

