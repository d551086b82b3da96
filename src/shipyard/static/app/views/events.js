// The organisation's events (what webhooks deliver), newest first, by type.
import { get } from "../api.js";
import { field, filterForm, h, input, pager, section, table, when } from "../dom.js";

export async function render(main) {
  document.title = "Events · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "Events"), section("Find", filterForm([field("Type", input("type", { placeholder: "invoice.paid" }))])));
  const page = await get("/events", { limit: 25, cursor: params.get("cursor"), type: params.get("type") });
  main.append(section("Events", table(["When", "Type", "Data"], page.data.map((event) => h("tr", {},
    h("td", {}, when(event.created_at)), h("td", {}, event.type), h("td", {}, h("details", {}, h("summary", {}, event.id),
      h("pre", {}, JSON.stringify(event.data, null, 2)))))), "No events match.", "Events"), pager(page.next_cursor)));
}
