// Safe rendering. Everything here builds DOM nodes; text from users only ever becomes
// text nodes (textContent) or a checked href, never HTML (the page's Trusted Types
// policy would refuse an HTML string anyway).

// h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", node, …)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled" || key === "hidden") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Bidirectional controls (embeddings, overrides, isolates) would let a message reverse
// the text around it ("gpj.exe" shown as "exe.jpg"): each is shown as a visible,
// inert marker instead.
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

export function safeText(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(BIDI)) {
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    const code = match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    out.push(h("span", { class: "bidi-control", title: "a text-direction control character" }, `U+${code}`));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export const EMOJI = {
  "+1": "👍", thumbsup: "👍", "-1": "👎", smile: "😄", grin: "😁", joy: "😂", heart: "❤️", tada: "🎉",
  eyes: "👀", rocket: "🚀", fire: "🔥", white_check_mark: "✅", x: "❌", wave: "👋", pray: "🙏",
  thinking_face: "🤔", ok_hand: "👌", clap: "👏", coffee: "☕", warning: "⚠️", bug: "🐛",
};

// Only these schemes become links; anything else (javascript:, data:, vbscript:, …)
// stays text.
export function safeUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch (err) {
    return null;
  }
  return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
}

function link(href, label) {
  const url = safeUrl(href);
  if (!url) return safeText(label === href ? href : `<${href}|${label}>`);
  return [h("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, safeText(label))];
}

// The inline grammar, tried left to right; the first alternative that matches wins.
const INLINE = new RegExp(
  [
    "`([^`\\n]+)`", // 1: code
    "<(https?:[^|>\\s]+|mailto:[^|>\\s]+|[a-z][a-z0-9+.-]*:[^|>\\s]*)(?:\\|([^>\\n]+))?>", // 2, 3: <url|label>
    "<@([0-9a-fA-F-]{36})>", // 4: a user mention
    "<!(channel|here|everyone)>", // 5: a conversation mention
    "(https?://[^\\s<>\"]+[^\\s<>\".,;:!?)\\]'])", // 6: a bare URL
    "(?<![\\w*])\\*(?=\\S)([^*\\n]+?)(?<=\\S)\\*(?![\\w*])", // 7: *bold*
    "(?<![\\w_])_(?=\\S)([^_\\n]+?)(?<=\\S)_(?![\\w_])", // 8: _italic_
    "(?<![\\w~])~(?=\\S)([^~\\n]+?)(?<=\\S)~(?![\\w~])", // 9: ~strike~
    ":([a-z0-9_+-]+):", // 10: :emoji:
    "(^|[\\s(])@([A-Za-z0-9_.-]{1,32})", // 11, 12: @username
  ].join("|"),
  "g",
);

// mrkdwn -> an array of nodes. ctx.userName(id) names a mentioned user.
export function renderInline(text, ctx = {}) {
  const out = [];
  let last = 0;
  INLINE.lastIndex = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(...safeText(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (m[1] !== undefined) out.push(h("code", {}, safeText(m[1])));
    else if (m[2] !== undefined) out.push(...link(m[2], m[3] !== undefined ? m[3] : m[2]));
    else if (m[4] !== undefined) {
      const name = ctx.userName ? ctx.userName(m[4]) : m[4];
      out.push(h("span", { class: "mention", dataset: { userId: m[4] } }, "@", safeText(name)));
    } else if (m[5] !== undefined) out.push(h("span", { class: "mention mention-all" }, "@" + m[5]));
    else if (m[6] !== undefined) out.push(...link(m[6], m[6]));
    else if (m[7] !== undefined) out.push(h("strong", {}, renderInline(m[7], ctx)));
    else if (m[8] !== undefined) out.push(h("em", {}, renderInline(m[8], ctx)));
    else if (m[9] !== undefined) out.push(h("s", {}, renderInline(m[9], ctx)));
    else if (m[10] !== undefined) {
      out.push(EMOJI[m[10]] ? h("span", { class: "emoji", title: `:${m[10]}:` }, EMOJI[m[10]]) : ":" + m[10] + ":");
    } else if (m[12] !== undefined) {
      out.push(m[11]);
      out.push(h("span", { class: "mention" }, "@", m[12]));
    }
  }
  if (last < text.length) out.push(...safeText(text.slice(last)));
  return out;
}

// A message's content: ``` blocks ``` as <pre><code>, the rest as inline mrkdwn with
// its line breaks kept (CSS white-space: pre-wrap).
export function renderMrkdwn(text, ctx = {}) {
  const out = [];
  const parts = String(text).split(/```/);
  parts.forEach((part, index) => {
    const isCode = index % 2 === 1 && index < parts.length - 1;
    if (isCode) out.push(h("pre", {}, h("code", {}, safeText(part.replace(/^\n/, "").replace(/\n$/, "")))));
    else if (index % 2 === 1) out.push(...renderInline("```" + part, ctx));
    else out.push(...renderInline(part, ctx));
  });
  return out;
}

export function formatTime(iso) {
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatDay(iso) {
  const date = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return "Today";
  if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
  const options = { weekday: "long", month: "long", day: "numeric" };
  if (date.getFullYear() !== today.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString([], options);
}

// The day and time in full, for a time's tooltip ("Tuesday, December 1, 2026, 09:11 PM").
export function formatFull(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "full", timeStyle: "short" });
}

// A local-day key of a time, to put a day divider where the day changes.
export function dayKey(iso) {
  return new Date(iso).toDateString();
}

// Puts `items` ({key, version, make}) in `container` in order, reusing the element of
// a key whose version did not change.
export function reconcile(container, items, cache) {
  const seen = new Set();
  let previous = null;
  for (const item of items) {
    seen.add(item.key);
    let entry = cache.get(item.key);
    if (!entry || entry.version !== item.version) {
      const el = item.make();
      if (entry) {
        const focus = focusPath(entry.el);
        entry.el.replaceWith(el);
        if (focus) restoreFocus(el, focus);
      }
      entry = { el, version: item.version };
      cache.set(item.key, entry);
    }
    const expected = previous ? previous.nextSibling : container.firstChild;
    if (expected !== entry.el) container.insertBefore(entry.el, expected);
    previous = entry.el;
  }
  for (const [key, entry] of cache) {
    if (!seen.has(key)) {
      entry.el.remove();
      cache.delete(key);
    }
  }
}

// Where the keyboard focus is inside `el` (null if it is not): the element itself, or
// the n-th focusable element of its kind, so that a rebuilt element (a reaction came in,
// a message was edited) gets the focus back instead of dropping it on <body>.
const FOCUSABLE = "button, a[href], input, textarea, select, [tabindex]";

function focusPath(el) {
  const active = document.activeElement;
  if (!active || !el.contains(active)) return null;
  if (active === el) return { self: true };
  const all = [...el.querySelectorAll(FOCUSABLE)];
  return { className: active.className, index: all.indexOf(active) };
}

function restoreFocus(el, focus) {
  el.focus(); // first the element itself: controls shown only on :focus-within become focusable
  if (focus.self) return;
  const all = [...el.querySelectorAll(FOCUSABLE)];
  const at = all[focus.index];
  const same = at && at.className === focus.className ? at : all.find((x) => x.className === focus.className);
  if (same) same.focus();
}

// Phone width (app.css): the sidebar is a drawer and the side pane covers the conversation.
export function narrow() {
  return window.matchMedia("(max-width: 700px)").matches;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
