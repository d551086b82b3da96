// The audit log with the API's filters: action, actor, target and a time window.
import { get } from "../api.js";
import { field, filterForm, h, input, pager, section, table, tag, when } from "../dom.js";

const day = (value) => (value ? `${value}T00:00:00Z` : null);

export async function render(main) {
  document.title = "Audit log · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "Audit log"), section("Find", filterForm([
    field("Action", input("action", { placeholder: "customer.created" })),
    field("Actor ID", input("actor_id")),
    field("Target type", input("target_type", { placeholder: "customer" })),
    field("Target ID", input("target_id")),
    field("On or after", input("occurred_after", { type: "date" })),
    field("Before", input("occurred_before", { type: "date" })),
  ])));
  const page = await get("/audit-events", {
    limit: 25, cursor: params.get("cursor"), action: params.get("action"), actor_id: params.get("actor_id"),
    target_type: params.get("target_type"), target_id: params.get("target_id"),
    occurred_after: day(params.get("occurred_after")), occurred_before: day(params.get("occurred_before")),
  });
  main.append(section("Events", table(["When", "Action", "Result", "Actor", "Target", "Request"], page.data.map((event) => h("tr", { class: "audit-event" },
    h("td", {}, when(event.occurred_at)), h("td", {}, event.action), h("td", {}, tag(event.result, event.result === "success" ? "ok" : "warn")),
    h("td", {}, event.actor_type, event.actor_id ? [" ", h("code", {}, event.actor_id)] : null),
    h("td", {}, event.target_type || "—", event.target_id ? [" ", h("code", {}, event.target_id)] : null),
    h("td", {}, event.request_id ? h("code", {}, event.request_id) : "—"))), "No audit events match.", "Audit events"), pager(page.next_cursor)));
}
