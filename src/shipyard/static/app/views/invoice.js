// One invoice: a new one or a draft is edited here (line items with live totals); an open one can be
// paid, voided or emailed. The server computes the real amounts; the page only previews them.
import { api, get } from "../api.js";
import { act, field, fractionDigits, h, money, scrollBox, section, table, tag, when } from "../dom.js";

function toMinor(text, currency) {
  const value = Number.parseFloat(text || "0");
  return Number.isFinite(value) ? Math.round(value * 10 ** fractionDigits(currency)) : Number.NaN;
}

function lineRow(line, currency, onchange, onremove) {
  const description = h("input", { name: "description", required: true, maxlength: 500, value: line.description || "", "aria-label": "Description", placeholder: "Description" });
  const quantity = h("input", { name: "quantity", type: "number", min: 1, step: 1, required: true, value: line.quantity || 1, "aria-label": "Quantity", title: "Quantity" });
  const digits = fractionDigits(currency());
  const unit = h("input", { name: "unit_price", type: "number", min: 0, step: 1 / 10 ** digits, required: true, inputmode: "decimal",
    value: line.unit_amount === undefined ? "" : (line.unit_amount / 10 ** digits).toFixed(digits), "aria-label": "Unit price", placeholder: "Unit price" });
  const amount = h("td", { class: "amount" });
  const row = h("tr", { class: "line" }, h("td", {}, description), h("td", {}, quantity), h("td", {}, unit), amount,
    h("td", {}, h("button", { type: "button", class: "danger", onclick: () => { row.remove(); onremove(); } }, "Remove line")));
  row.read = () => ({ description: description.value, quantity: Number.parseInt(quantity.value || "0", 10), unit_amount: toMinor(unit.value, currency()) });
  row.show = () => {
    const { quantity: count, unit_amount: price } = row.read();
    amount.textContent = Number.isFinite(count * price) ? money(count * price, currency()) : "—";
  };
  for (const element of [quantity, unit]) { element.addEventListener("input", onchange); }
  return row;
}

async function editor(main, invoice, etag, customerId) {
  const customers = invoice ? null : (await get("/customers", { limit: 100 })).data;
  const preselected = new URLSearchParams(window.location.search).get("customer");
  const customer = customers ? h("select", { name: "customer_id", required: true },
    customers.map((item) => h("option", { value: item.id, selected: item.id === preselected }, `${item.name} <${item.email}>`))) : null;
  const currency = h("input", { name: "currency", required: true, pattern: "[A-Z]{3}", maxlength: 3, value: invoice ? invoice.currency : "EUR", autocomplete: "off" });
  const due = h("input", { name: "due_date", type: "date", value: invoice && invoice.due_date ? invoice.due_date : "" });
  const memo = h("textarea", { name: "memo", rows: 2, maxlength: 2000 }, invoice ? invoice.memo : "");
  const body = h("tbody", {});
  const total = h("output", { id: "invoice-total", "aria-live": "polite" });
  const recompute = () => {
    let sum = 0;
    for (const row of body.children) { row.show(); const line = row.read(); sum += line.quantity * line.unit_amount; }
    total.textContent = Number.isFinite(sum) ? money(sum, /^[A-Z]{3}$/.test(currency.value) ? currency.value : "EUR") : "—";
  };
  const currentCurrency = () => (/^[A-Z]{3}$/.test(currency.value) ? currency.value : "EUR");
  const addLine = (line = {}) => { body.append(lineRow(line, currentCurrency, recompute, recompute)); recompute(); };
  for (const line of invoice ? invoice.line_items : [{}]) { addLine(line); }
  currency.addEventListener("input", recompute);
  const form = h("form", { class: "stack", id: "invoice-form" },
    customer ? field("Customer", customer) : null,
    h("div", { class: "row" }, field("Currency", currency, "ISO 4217, e.g. EUR"), field("Due date", due)),
    h("fieldset", {}, h("legend", {}, "Line items"),
      scrollBox("Line items", h("table", { class: "lines" }, h("thead", {}, h("tr", {},
        ["Description", "Quantity", "Unit price", "Amount", ""].map((name) => h("th", { scope: "col" }, name)))), body)),
      h("button", { type: "button", id: "add-line", onclick: () => addLine() }, "Add line"),
      h("p", { class: "total" }, "Total ", total)),
    field("Memo", memo),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, invoice ? "Save draft" : "Create draft")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const payload = { currency: currency.value, line_items: Array.from(body.children, (row) => row.read()), memo: memo.value, due_date: due.value || null };
    const target = invoice ? customerId : customer.value;
    const saved = await act(form, () => (invoice
      ? api("PATCH", `/customers/${target}/invoices/${invoice.id}`, { body: payload, ifMatch: etag })
      : api("POST", `/customers/${target}/invoices`, { body: payload })), invoice ? "Draft saved." : "Draft created.");
    if (saved) { window.location.assign(`/customers/${target}/invoices/${saved.data.id}`); }
  });
  main.append(section(invoice ? "Edit draft" : "New invoice", customers && !customers.length
    ? h("p", {}, "Create a customer first: ", h("a", { href: "/customers" }, "Customers")) : form));
}

function actions(invoice, customerId, etag) {
  const base = `/customers/${customerId}/invoices/${invoice.id}`;
  const bar = h("div", { class: "actions", id: "invoice-actions" });
  const button = (label, run, success, kind = "") => h("button", { type: "button", class: kind, onclick: async () => {
    if (await act(bar, run, success)) { window.location.reload(); }
  } }, label);
  if (invoice.status === "draft") {
    bar.append(button("Finalize", () => api("POST", `${base}/finalize`), "Invoice finalized.", "primary"),
      button("Delete draft", async () => { await api("DELETE", base, { ifMatch: etag }); window.location.assign(`/customers/${customerId}`); }, "Draft deleted.", "danger"));
  }
  if (invoice.status === "open") {
    bar.append(button("Mark paid", () => api("POST", `${base}/pay`), "Invoice marked paid.", "primary"),
      button("Void", () => api("POST", `${base}/void`), "Invoice voided.", "danger"));
  }
  if (invoice.status === "open" || invoice.status === "paid") {
    bar.append(h("button", { type: "button", onclick: () => act(bar, () => api("POST", `${base}/send`), "Email queued to the customer.") }, "Send by email"));
  }
  return bar;
}

export async function render(main, { params, can }) {
  const [customerId, invoiceId] = params;
  if (!invoiceId) {
    document.title = "New invoice · Shipyard";
    main.append(h("p", { class: "crumbs" }, h("a", { href: "/invoices" }, "Invoices"), " / "), h("h1", {}, "New invoice"));
    await editor(main, null, null, null);
    return;
  }
  const { data: invoice, etag } = await api("GET", `/customers/${encodeURIComponent(customerId)}/invoices/${encodeURIComponent(invoiceId)}`);
  document.title = `Invoice #${invoice.number} · Shipyard`;
  main.append(h("p", { class: "crumbs" }, h("a", { href: "/invoices" }, "Invoices"), " / ", h("a", { href: `/customers/${customerId}` }, "Customer")),
    h("h1", {}, `Invoice #${invoice.number} `, tag(invoice.status, invoice.status === "paid" ? "ok" : "")));
  main.append(section("Summary", h("dl", { class: "facts" },
    h("dt", {}, "Total"), h("dd", { id: "invoice-summary-total" }, money(invoice.total, invoice.currency)),
    h("dt", {}, "Due"), h("dd", {}, invoice.due_date || "—"),
    h("dt", {}, "Created"), h("dd", {}, when(invoice.created_at)),
    h("dt", {}, "Finalized"), h("dd", {}, when(invoice.finalized_at)),
    h("dt", {}, "Paid"), h("dd", {}, when(invoice.paid_at)),
    h("dt", {}, "Voided"), h("dd", {}, when(invoice.voided_at))),
  can("invoices:write") ? actions(invoice, customerId, etag) : null));
  if (invoice.status === "draft" && can("invoices:write")) {
    await editor(main, invoice, etag, customerId);
    return;
  }
  main.append(section("Line items", table(["Description", "Quantity", "Unit price", "Amount"], invoice.line_items.map((line) => h("tr", {},
    h("td", {}, line.description), h("td", {}, String(line.quantity)), h("td", {}, money(line.unit_amount, invoice.currency)),
    h("td", {}, money(line.amount, invoice.currency))))), invoice.memo ? h("p", {}, invoice.memo) : null));
}
