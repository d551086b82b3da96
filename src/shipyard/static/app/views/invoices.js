// Every invoice of the organisation, by status, paged.
import { get } from "../api.js";
import { field, filterForm, h, input, money, pager, section, table, tag, when } from "../dom.js";

const STATUSES = ["", "draft", "open", "paid", "void"];

export async function render(main, { can }) {
  document.title = "Invoices · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "Invoices"));
  if (can("invoices:write")) { main.append(h("p", {}, h("a", { class: "button primary", href: "/invoices/new" }, "New invoice"))); }
  const status = h("select", { name: "status" }, STATUSES.map((value) => h("option", { value, selected: params.get("status") === value }, value || "any")));
  main.append(section("Find", filterForm([field("Status", status), field("Customer email", input("customer_email", { type: "email" }))])));
  const page = await get("/invoices", { limit: 20, cursor: params.get("cursor"), status: params.get("status"), customer_email: params.get("customer_email") });
  main.append(section("All invoices",
    table(["Number", "Status", "Total", "Due", "Created"], page.data.map((invoice) => h("tr", {},
      h("td", {}, h("a", { href: `/customers/${invoice.customer_id}/invoices/${invoice.id}` }, `#${invoice.number}`)),
      h("td", {}, tag(invoice.status)), h("td", {}, money(invoice.total, invoice.currency)),
      h("td", {}, invoice.due_date || "—"), h("td", {}, when(invoice.created_at)))), "No invoices match."),
    pager(page.next_cursor)));
}
