// Embedding (PROTOCOL §5): when the page runs in an iframe of an origin the gateway allows
// (`--frame-ancestors`, read from /viewer-config.json), it talks to its parent with
// postMessage, origin-checked both ways: events go to that one origin only, and commands are
// taken only from the parent window at that origin. Any other parent gets nothing.
//
// Events (to the parent): {source: 'browser-stream', event, ...fields}, `event` one of
// `connected`, `control-state` {interactor, reason}, `handoff-requested` {handoff_id,
// instructions, deadline}, `handoff-ended` {handoff_id, outcome}, `closed` {reason}.
// Commands (from the parent): {target: 'browser-stream', command}, `command` one of
// `take-control`, `cede-control`, `set-view-only` {value: boolean}.

/** The parent's origin when it may talk to the page, else null. */
export function trustedParent(ancestorOrigin, allowed) {
  if (typeof ancestorOrigin !== 'string' || !Array.isArray(allowed)) return null;
  return allowed.includes(ancestorOrigin) ? ancestorOrigin : null;
}

/** A command the page understands, or null (unknown, malformed, or not addressed to it). */
export function parseCommand(data) {
  if (!data || typeof data !== 'object' || data.target !== 'browser-stream') return null;
  if (data.command === 'take-control' || data.command === 'cede-control') return { command: data.command };
  if (data.command === 'set-view-only' && typeof data.value === 'boolean') return { command: data.command, value: data.value };
  return null;
}

/** The origin of the page that frames this one (Chromium and Safari: ancestorOrigins). */
function ancestorOrigin() {
  if (window.parent === window) return null;
  if (location.ancestorOrigins?.length) return location.ancestorOrigins[0];
  try {
    return document.referrer ? new URL(document.referrer).origin : null;
  } catch {
    return null;
  }
}

export class Embed {
  /** Starts the bridge when framed by an allowed origin; resolves to it, or null. */
  static async start(onCommand) {
    const parent = ancestorOrigin();
    if (!parent) return null;
    let allowed = [];
    try {
      allowed = (await (await fetch('viewer-config.json', { cache: 'no-store' })).json()).frame_ancestors;
    } catch {
      return null;
    }
    const origin = trustedParent(parent, allowed);
    if (!origin) return null;
    return new Embed(origin, onCommand);
  }

  constructor(origin, onCommand) {
    this.origin = origin;
    addEventListener('message', (event) => {
      if (event.source !== window.parent || event.origin !== this.origin) return;
      const command = parseCommand(event.data);
      if (command) onCommand(command);
    });
  }

  post(event, fields = {}) {
    window.parent.postMessage({ source: 'browser-stream', event, ...fields }, this.origin);
  }
}
