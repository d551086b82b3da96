// One customer: edit (with If-Match, so a stale edit is refused), archive, and its invoices.
import { api, get } from "../api.js";
import { act, field, h, money, pager, section, table, tag, when } from "../dom.js";

export async function render(main, { params, can }) {
  const [customerId] = params;
  const { data: customer, etag } = await api("GET", `/customers/${encodeURIComponent(customerId)}`);
  document.title = `${customer.name} · Shipyard`;
  main.append(h("p", { class: "crumbs" }, h("a", { href: "/customers" }, "Customers"), " / "), h("h1", {}, customer.name));
  const facts = h("dl", { class: "facts" }, h("dt", {}, "Email"), h("dd", {}, customer.email),
    h("dt", {}, "ID"), h("dd", {}, h("code", {}, customer.id)), h("dt", {}, "Created"), h("dd", {}, when(customer.created_at)));
  main.append(section("Details", facts));

  if (can("customers:write")) {
    const name = h("input", { name: "name", required: true, value: customer.name });
    const email = h("input", { name: "email", type: "email", required: true, value: customer.email });
    const form = h("form", { class: "stack", id: "edit-customer" }, field("Name", name), field("Email", email),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save changes"),
        h("button", { type: "button", class: "danger", id: "archive-customer" }, "Archive customer")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const saved = await act(form, () => api("PATCH", `/customers/${customer.id}`, { body: { name: name.value, email: email.value }, ifMatch: etag }), "Customer saved.");
      if (saved) { window.location.reload(); }
    });
    form.querySelector("#archive-customer").addEventListener("click", async () => {
      if (!window.confirm(`Archive ${customer.name}? Their invoices remain.`)) { return; }
      const archived = await act(form, () => api("DELETE", `/customers/${customer.id}`, { ifMatch: etag }), "Customer archived.");
      if (archived) { window.location.assign("/customers"); }
    });
    main.append(section("Edit", form));
  }

  const query = new URLSearchParams(window.location.search);
  const invoices = await get(`/customers/${customer.id}/invoices`, { limit: 20, cursor: query.get("cursor") });
  main.append(section("Invoices",
    can("invoices:write") ? h("p", {}, h("a", { class: "button primary", href: `/invoices/new?customer=${customer.id}` }, "New invoice")) : null,
    table(["Number", "Status", "Total", "Due"], invoices.data.map((invoice) => h("tr", {},
      h("td", {}, h("a", { href: `/customers/${customer.id}/invoices/${invoice.id}` }, `#${invoice.number}`)),
      h("td", {}, tag(invoice.status)), h("td", {}, money(invoice.total, invoice.currency)), h("td", {}, invoice.due_date || "—"))),
    "No invoices yet."),
    pager(invoices.next_cursor)));
}
