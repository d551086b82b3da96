// What needs attention: overdue and open invoices, failing webhook endpoints, recent activity.
import { get } from "../api.js";
import { h, money, problemBox, section, table, tag, when } from "../dom.js";

const today = () => new Date().toISOString().slice(0, 10);

function invoiceRow(invoice) {
  const overdue = invoice.due_date && invoice.due_date < today();
  return h("tr", {},
    h("td", {}, h("a", { href: `/customers/${invoice.customer_id}/invoices/${invoice.id}` }, `#${invoice.number}`)),
    h("td", {}, money(invoice.total, invoice.currency)),
    h("td", {}, invoice.due_date || "—", overdue ? [" ", tag("overdue", "bad")] : null));
}

async function part(title, load) {
  const card = section(title);
  try { card.append(await load()); } catch (error) { card.append(problemBox(error)); }
  return card;
}

export async function render(main, { me, can }) {
  document.title = "Dashboard · Shipyard";
  main.append(h("h1", {}, `Hello, ${me.profile.name || me.profile.email || "there"}`));
  const grid = h("div", { class: "grid" });
  main.append(grid);
  const parts = [];
  if (can("invoices:read")) {
    parts.push(part("Open invoices", async () => {
      const open = (await get("/invoices", { status: "open", limit: 100 })).data;
      open.sort((a, b) => (a.due_date || "9999").localeCompare(b.due_date || "9999"));
      const overdue = open.filter((invoice) => invoice.due_date && invoice.due_date < today()).length;
      return h("div", {}, h("p", { class: "figure" }, h("strong", {}, String(open.length)), " open, ",
        h("strong", { class: overdue ? "bad" : "" }, String(overdue)), " overdue"),
      table(["Invoice", "Total", "Due"], open.slice(0, 8).map(invoiceRow), "No open invoices."),
      h("p", {}, h("a", { href: "/invoices?status=open" }, "All open invoices")));
    }));
  }
  if (can("webhooks:read")) {
    parts.push(part("Webhook endpoints", async () => {
      const endpoints = (await get("/webhook-endpoints", { limit: 100 })).data;
      const failing = endpoints.filter((endpoint) => !endpoint.enabled || endpoint.disabled_reason);
      return h("div", {}, h("p", { class: "figure" }, h("strong", {}, String(endpoints.length)), " endpoints, ",
        h("strong", { class: failing.length ? "bad" : "" }, String(failing.length)), " disabled or failing"),
      table(["Endpoint", "State"], failing.map((endpoint) => h("tr", {},
        h("td", {}, h("a", { href: `/webhooks/${endpoint.id}` }, endpoint.url)),
        h("td", {}, tag(endpoint.disabled_reason || "disabled", "bad")))), "Every endpoint is healthy."));
    }));
  }
  if (can("audit:read")) {
    parts.push(part("Recent activity", async () => {
      const events = (await get("/audit-events", { limit: 8 })).data;
      return h("div", {}, table(["When", "Action", "Result"], events.map((event) => h("tr", {},
        h("td", {}, when(event.occurred_at)), h("td", {}, event.action), h("td", {}, tag(event.result, event.result === "success" ? "ok" : "warn"))))),
      h("p", {}, h("a", { href: "/audit" }, "The whole audit log")));
    }));
  } else if (can("webhooks:read")) {
    parts.push(part("Recent events", async () => {
      const events = (await get("/events", { limit: 8 })).data;
      return table(["When", "Event"], events.map((event) => h("tr", {}, h("td", {}, when(event.created_at)), h("td", {}, event.type))));
    }));
  }
  grid.append(...await Promise.all(parts));
}
