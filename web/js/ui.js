// Small DOM helpers: element lookup, toasts, and the state attributes tests and CSS read.

/** `document.getElementById`, failing loudly when the page and the script disagree. */
export function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`viewer: #${id} is missing from index.html`);
  return element;
}

/** How long a toast stays (errors stay longer: they need reading). */
const TOAST_MS = { info: 4000, error: 8000 };
/** At most this many toasts at once; the oldest goes first. */
const MAX_TOASTS = 4;

/** Shows a short message in the toast area (an ARIA live region). */
export function toast(text, kind = 'info') {
  const area = $('toasts');
  const item = document.createElement('div');
  item.className = `toast toast-${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  item.textContent = text;
  area.append(item);
  while (area.children.length > MAX_TOASTS) area.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS[kind] || TOAST_MS.info);
}

/** Records a state on `<body data-…>` (for CSS and for the end-to-end tests). */
export function mark(name, value) {
  document.body.dataset[name] = value;
}
