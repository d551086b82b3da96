// Recent server errors (scrubbed): the operators' view of what went wrong, by request ID.
import { get } from "../api.js";
import { h, pager, section, table, when } from "../dom.js";

export async function render(main) {
  document.title = "Errors · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "Recent errors"), h("p", { class: "hint" }, "The last server errors, with credentials and personal data removed. A person quoting a request ID finds it here."));
  const page = await get("/errors", { limit: 25, cursor: params.get("cursor") });
  main.append(section("Errors", table(["When", "Request", "Route", "Status", "Error"], page.data.map((report) => h("tr", {},
    h("td", {}, when(report.occurred_at)), h("td", {}, report.request_id ? h("code", {}, report.request_id) : "—"),
    h("td", {}, `${report.method || ""} ${report.route}`), h("td", {}, String(report.status)),
    h("td", {}, report.exception_type ? h("strong", {}, report.exception_type, ": ") : null, report.message))),
  "No errors recorded. Good.", "Errors"), pager(page.next_cursor)));
}
