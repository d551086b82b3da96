// Building the page from data: elements and text nodes only (never HTML strings), so nothing the API
// returns can become markup.
import { Problem } from "./api.js";

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) { continue; }
    if (name.startsWith("on")) { element.addEventListener(name.slice(2), value); }
    else if (value === true) { element.setAttribute(name, ""); }
    else { element.setAttribute(name, String(value)); }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) { continue; }
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// Feedback for a mutation. Most are followed by a reload or a new page, so the message is also kept
// for a few seconds in this tab's session storage and shown again there (`replayNotice`).
export function notify(message) {
  sessionStorage.setItem("shipyard.notice", JSON.stringify({ message, at: Date.now() }));
  show(message);
}

export function replayNotice() {
  const kept = JSON.parse(sessionStorage.getItem("shipyard.notice") || "null");
  sessionStorage.removeItem("shipyard.notice");
  if (kept && Date.now() - kept.at < 5000) { show(kept.message); }
}

function show(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  clearTimeout(show.timer);
  show.timer = setTimeout(() => { notice.textContent = ""; }, 6000);
}

// A problem in words, with the request ID to quote to support; a stale edit offers a reload.
export function problemBox(error) {
  if (!(error instanceof Problem)) {
    return h("div", { class: "problem", role: "alert" }, h("p", {}, "Something went wrong: ", String(error)));
  }
  const fields = error.errors.map((item) => h("li", {}, `${item.pointer || item.loc || ""} ${item.detail || item.msg || ""}`));
  return h("div", { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, error.title || "Refused"), ": ", error.message),
    fields.length ? h("ul", {}, fields) : null,
    error.isStale ? h("p", {}, "Someone changed this since you opened it. ",
      h("button", { type: "button", onclick: () => window.location.reload() }, "Reload")) : null,
    h("p", { class: "hint" }, "Code ", h("code", {}, error.code || String(error.status)),
      error.requestId ? [" · request ID ", h("code", {}, error.requestId), " (quote it to support)"] : null));
}

// Runs an action from a button or form: the button waits, a problem shows beside `place`.
export async function act(place, action, success) {
  const old = place.querySelector(":scope > .problem");
  if (old) { old.remove(); }
  try {
    const result = await action();
    if (success) { notify(success); }
    return result;
  } catch (error) {
    place.prepend(problemBox(error));
    return undefined;
  }
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", { class: "hint" }, hint) : null);
}

export function when(value) {
  if (!value) { return "—"; }
  const moment = new Date(value).toISOString();
  return h("time", { datetime: moment, class: "when" }, `${moment.slice(0, 16).replace("T", " ")} UTC`);
}

export function money(minor, currency) {
  const digits = fractionDigits(currency);
  return new Intl.NumberFormat("en", { style: "currency", currency }).format(minor / 10 ** digits);
}

export function fractionDigits(currency) {
  try { return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits; }
  catch { return 2; }
}

export function tag(text, kind = "") { return h("span", { class: `tag ${kind}` }, text); }

// A wide table scrolls sideways on a narrow screen; the scrolling box takes focus, so keys scroll it too.
export function scrollBox(label, ...children) {
  return h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": label }, children);
}

export function table(headings, rows, empty = "Nothing here yet.", label = "Table") {
  if (!rows.length) { return h("p", { class: "hint" }, empty); }
  return scrollBox(label, h("table", {},
    h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows)));
}

// "Next page" for a cursor list: the cursor goes in the address, so the page is a real link.
export function pager(nextCursor) {
  const nav = h("nav", { class: "pager", "aria-label": "Pages" });
  const params = new URLSearchParams(window.location.search);
  if (params.has("cursor")) {
    const first = new URLSearchParams(params); first.delete("cursor");
    nav.append(h("a", { href: `?${first}` }, "First page"));
  }
  if (nextCursor) {
    params.set("cursor", nextCursor);
    nav.append(h("a", { href: `?${params}`, rel: "next" }, "Next page"));
  }
  return nav;
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

// One-time secrets: shown once with a copy button.
export function secretBox(label, secret) {
  const value = h("code", { class: "secret-value" }, secret);
  return h("div", { class: "secret", role: "region", "aria-label": label },
    h("p", {}, h("strong", {}, label), " — copy it now, it is not shown again."), value,
    h("button", { type: "button", onclick: async (event) => {
      await navigator.clipboard.writeText(secret);
      event.target.textContent = "Copied";
      notify("Copied to the clipboard.");
    } }, "Copy"));
}

export function filterForm(fields, onsubmit) {
  const form = h("form", { class: "filters", role: "search" }, fields, h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) { if (value) { params.set(name, value); } }
    if (onsubmit) { onsubmit(params); }
    window.location.search = params.toString();
  });
  return form;
}

export function input(name, attributes = {}) {
  const params = new URLSearchParams(window.location.search);
  return h("input", { name, value: params.get(name) || attributes.value || "", ...attributes });
}
