// One webhook endpoint: enable or disable, rotate the secret, ping, and the delivery log with every
// attempt of each delivery and a redeliver button.
import { api, get } from "../api.js";
import { act, h, pager, secretBox, section, table, tag, when } from "../dom.js";
import { state } from "./webhooks.js";

function outcome(status) { return tag(status, status === "succeeded" ? "ok" : status === "failed" ? "bad" : "warn"); }

function controls(endpoint, etag) {
  const base = `/webhook-endpoints/${endpoint.id}`;
  const out = h("div", { id: "rotated-secret" });
  const bar = h("div", { class: "actions" });
  const reloadAfter = (label, run, success, kind = "") => h("button", { type: "button", class: kind, onclick: async () => {
    if (await act(bar, run, success)) { window.location.reload(); }
  } }, label);
  bar.append(
    endpoint.enabled
      ? reloadAfter("Disable", () => api("PATCH", base, { body: { enabled: false }, ifMatch: etag }), "Endpoint disabled.")
      : reloadAfter("Enable", () => api("PATCH", base, { body: { enabled: true }, ifMatch: etag }), "Endpoint enabled.", "primary"),
    reloadAfter("Send a ping", () => api("POST", `${base}/test`), "Ping queued; it appears in the delivery log."),
    h("button", { type: "button", onclick: async () => {
      if (!window.confirm("Rotate the signing secret? The old one keeps signing for a while.")) { return; }
      const rotated = await act(bar, () => api("POST", `${base}/rotate-secret`), "Secret rotated.");
      if (rotated) { out.replaceChildren(secretBox("New signing secret", rotated.data.secret), h("p", { class: "hint" }, `The previous secret also signs until ${new Date(rotated.data.previous_secret_expires_at).toISOString()}.`)); }
    } }, "Rotate secret"),
    h("button", { type: "button", class: "danger", onclick: async () => {
      if (!window.confirm("Delete this endpoint and its delivery log?")) { return; }
      if (await act(bar, () => api("DELETE", base), "Endpoint deleted.")) { window.location.assign("/webhooks"); }
    } }, "Delete endpoint"));
  return h("div", {}, bar, out);
}

async function attempts(endpoint, delivery, cell) {
  const detail = await get(`/webhook-endpoints/${endpoint.id}/deliveries/${delivery.id}`);
  cell.replaceChildren(table(["#", "Started", "Outcome", "Status", "Latency", "Error or response"], detail.attempt_log.map((attempt) => h("tr", {},
    h("td", {}, String(attempt.number)), h("td", {}, when(attempt.started_at)), h("td", {}, attempt.outcome),
    h("td", {}, attempt.status_code === null ? "—" : String(attempt.status_code)),
    h("td", {}, attempt.latency_ms === null ? "—" : `${attempt.latency_ms} ms`),
    h("td", {}, attempt.error || (attempt.response_body ? h("pre", {}, attempt.response_body) : "—")))), "No attempt yet.", `Attempts of ${delivery.id}`));
}

function deliveryRows(endpoint, deliveries, canWrite, place) {
  return deliveries.flatMap((delivery) => {
    const detail = h("td", { colspan: 6 });
    const detailRow = h("tr", { class: "detail", hidden: true }, detail);
    const toggle = h("button", { type: "button", "aria-expanded": "false", onclick: async () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      detailRow.hidden = !open;
      if (open) { await act(detail, () => attempts(endpoint, delivery, detail)); }
    } }, "Attempts");
    return [h("tr", { class: "delivery" },
      h("td", {}, delivery.event_type), h("td", {}, outcome(delivery.status)), h("td", {}, String(delivery.attempts)),
      h("td", {}, delivery.last_status_code === null ? "—" : String(delivery.last_status_code)), h("td", {}, when(delivery.created_at)),
      h("td", {}, h("div", { class: "actions tight" }, toggle, canWrite ? h("button", { type: "button", onclick: async () => {
        if (await act(place, () => api("POST", `/webhook-endpoints/${endpoint.id}/deliveries/${delivery.id}/redeliver`), "Redelivery queued.")) { window.location.reload(); }
      } }, "Redeliver") : null))), detailRow];
  });
}

export async function render(main, { params, can }) {
  const [endpointId] = params;
  const { data: endpoint, etag } = await api("GET", `/webhook-endpoints/${encodeURIComponent(endpointId)}`);
  document.title = `Webhook ${endpoint.url} · Shipyard`;
  main.append(h("p", { class: "crumbs" }, h("a", { href: "/webhooks" }, "Webhooks"), " / "), h("h1", { class: "wrap" }, endpoint.url));
  main.append(section("Endpoint", h("dl", { class: "facts" },
    h("dt", {}, "State"), h("dd", {}, state(endpoint)),
    h("dt", {}, "Events"), h("dd", {}, endpoint.event_types.join(", ")),
    h("dt", {}, "Description"), h("dd", {}, endpoint.description || "—"),
    h("dt", {}, "ID"), h("dd", {}, h("code", {}, endpoint.id))),
  can("webhooks:write") ? controls(endpoint, etag) : null));
  const query = new URLSearchParams(window.location.search);
  const page = await get(`/webhook-endpoints/${endpoint.id}/deliveries`, { limit: 20, cursor: query.get("cursor") });
  const log = section("Delivery log");
  log.append(h("p", {}, h("button", { type: "button", onclick: () => window.location.reload() }, "Refresh")),
    table(["Event", "Status", "Attempts", "Last HTTP status", "Created", ""], deliveryRows(endpoint, page.data, can("webhooks:write"), log), "No deliveries yet.", "Deliveries"),
    pager(page.next_cursor));
  main.append(log);
}
