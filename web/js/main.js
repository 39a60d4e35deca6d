// Entry point: read the fragment, ask for what is missing, then start the viewer.

import { Embed } from './embed.js';
import { fragmentWithoutKey, parseFragment } from './params.js';
import { $ } from './ui.js';
import { Viewer } from './viewer.js';

/** Where the API key waits across reloads of this tab (never in the address bar). */
const KEY_STORE = 'browser-stream.apikey';
/** Where a viewer link's secret waits across reloads of this tab. */
const LINK_STORE = 'browser-stream.link';

function boot() {
  const target = parseFragment(location.hash);
  if (target.error) return showSetup(location.hash ? target.error : '');
  // A viewer link's secret wins over a stored API key (it names its own role).
  const linkSecret = target.linkSecret || sessionStorage.getItem(LINK_STORE) || '';
  const apiKey = linkSecret ? '' : target.apiKey || sessionStorage.getItem(KEY_STORE) || '';
  if (!apiKey && !linkSecret) return showSetup('An API key is needed.', target.entityId);
  if (linkSecret) sessionStorage.setItem(LINK_STORE, linkSecret);
  else sessionStorage.setItem(KEY_STORE, apiKey);
  history.replaceState(null, '', location.pathname + location.search + fragmentWithoutKey(location.hash));
  const viewer = new Viewer({ ...target, apiKey, linkSecret });
  window.viewer = viewer; // for people debugging from the console, and for the tests
  viewer.start();
  addEventListener('pagehide', () => viewer.stop());
  // In an iframe of an allowed origin, the parent page may follow and steer the viewer.
  Embed.start((command) => viewer.command(command)).then((embed) => embed && viewer.attachEmbed(embed));
}

/** The small form shown when the address does not say what to watch. */
function showSetup(error, sessionId = '') {
  const form = $('setup');
  form.hidden = false;
  $('setup-error').textContent = error;
  $('setup-session').value = sessionId;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ session: $('setup-session').value.trim(), apikey: $('setup-key').value.trim() });
    location.hash = params.toString();
  });
}

// Opening another session (editing the fragment) starts over with it.
addEventListener('hashchange', () => location.reload());
boot();
