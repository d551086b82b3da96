// Customers: search by name or email, filter by creation date, page through, create one.
import { api, get } from "../api.js";
import { act, field, filterForm, h, input, pager, section, table, when } from "../dom.js";

function createForm() {
  const name = h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" });
  const email = h("input", { name: "email", type: "email", required: true, autocomplete: "off" });
  const form = h("form", { class: "stack", id: "new-customer" }, field("Name", name), field("Email", email),
    h("button", { type: "submit", class: "primary" }, "Create customer"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await act(form, () => api("POST", "/customers", { body: { name: name.value, email: email.value } }), "Customer created.");
    if (created) { window.location.assign(`/customers/${created.data.id}`); }
  });
  return form;
}

export async function render(main, { can }) {
  document.title = "Customers · Shipyard";
  main.append(h("h1", {}, "Customers"));
  const params = new URLSearchParams(window.location.search);
  main.append(section("Find",
    filterForm([
      field("Search", input("q", { type: "search", maxlength: 100, placeholder: "part of a name or an email" })),
      field("Email", input("email", { type: "email" })),
      field("Created on or after", input("created_after", { type: "date" })),
      field("Created before", input("created_before", { type: "date" })),
    ])));
  const page = await get("/customers", {
    limit: 20,
    cursor: params.get("cursor"),
    q: params.get("q"),
    email: params.get("email"),
    created_after: params.get("created_after") ? `${params.get("created_after")}T00:00:00Z` : null,
    created_before: params.get("created_before") ? `${params.get("created_before")}T00:00:00Z` : null,
  });
  main.append(section("All customers",
    table(["Name", "Email", "Created"], page.data.map((customer) => h("tr", {},
      h("td", {}, h("a", { href: `/customers/${customer.id}` }, customer.name)),
      h("td", {}, customer.email), h("td", {}, when(customer.created_at)))), "No customers match."),
    pager(page.next_cursor)));
  if (can("customers:write")) { main.append(section("New customer", createForm())); }
}
