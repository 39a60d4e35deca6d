// browser-stream user-event capture, injected by cdp-executor's StreamUserEvents.
// __BINDING__ is replaced by the stream's own binding name. Runs once per document; values of
// password fields and of elements marked sensitive never leave the page.
(() => {
  const B = "__BINDING__";
  const KEY = B + "_installed";
  if (window[KEY] || typeof window[B] !== "function") return;
  const send = window[B];
  const docId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  let seq = 0;
  const SENSITIVE_AUTOCOMPLETE = /^\s*(cc-|one-time-code)/i;
  const isSensitive = (el) => {
    if (!el || el.nodeType !== 1) return false;
    if (el.tagName === "INPUT" && (el.type || "").toLowerCase() === "password") return true;
    if (SENSITIVE_AUTOCOMPLETE.test(el.getAttribute("autocomplete") || "")) return true;
    return !!(el.closest && el.closest("[data-sensitive]"));
  };
  const describe = (el) => {
    if (!el || el.nodeType !== 1) return null;
    const tag = el.tagName.toLowerCase();
    const name = el.getAttribute("name");
    let selector = tag;
    if (el.id) selector += "#" + el.id;
    else if (name) selector += '[name="' + name + '"]';
    return { tag, id: el.id || null, name, selector, type: el.type || null };
  };
  const valueOf = (el) => {
    if (isSensitive(el)) return "[redacted]";
    if (el && el.isContentEditable) return (el.innerText || "").slice(0, 1000);
    return String((el && el.value) ?? "").slice(0, 1000);
  };
  const emit = (type, el, extra) => {
    seq += 1;
    const detail = Object.assign({ target: describe(el) }, extra);
    try {
      send(JSON.stringify({ docId, seq, type, url: location.href, detail }));
    } catch (e) {}
  };
  const handlers = {
    click: (e) => emit("click", e.target, { x: e.clientX, y: e.clientY, button: e.button }),
    input: (e) => emit("input", e.target, { value: valueOf(e.target), inputType: e.inputType || null }),
    keydown: (e) =>
      emit("keypress", e.target, isSensitive(e.target) ? { key: "[redacted]", code: "[redacted]" } : { key: e.key, code: e.code }),
    focusin: (e) => emit("focus", e.target, {}),
  };
  for (const [type, handler] of Object.entries(handlers)) document.addEventListener(type, handler, true);
  window[KEY] = {
    teardown: () => {
      for (const [type, handler] of Object.entries(handlers)) document.removeEventListener(type, handler, true);
      delete window[KEY];
    },
  };
})();
