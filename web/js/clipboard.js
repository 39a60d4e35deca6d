// The local clipboard through the Async Clipboard API, with a bound on how long a permission
// prompt may hold a paste. `null` means "not available": the caller falls back to the page's
// visible boxes (the Copied box, the Paste box), which work in every browser.

/** A permission prompt left unanswered this long falls back to the Paste box. */
const READ_TIMEOUT_MS = 15000;
/** PROTOCOL §4: clipboard text is capped at 1 MiB of UTF-8. */
export const MAX_CLIPBOARD_BYTES = 1024 * 1024;

/** Writes `text` to the local clipboard; `false` when the browser refuses. */
export async function writeLocal(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Reads the local clipboard's text; `null` when the browser refuses or does not answer. */
export async function readLocal() {
  if (!navigator.clipboard?.readText) return null;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), READ_TIMEOUT_MS));
  try {
    return await Promise.race([navigator.clipboard.readText(), timeout]);
  } catch {
    return null;
  }
}

/** Whether `text` is over the gateway's clipboard cap. */
export function tooLarge(text) {
  return new TextEncoder().encode(text).length > MAX_CLIPBOARD_BYTES;
}
