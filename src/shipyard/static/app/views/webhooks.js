// Webhook endpoints: the list with each one's state, and a new endpoint (its secret shown once).
import { api, get } from "../api.js";
import { act, field, h, pager, secretBox, section, table, tag, when } from "../dom.js";

// The event types an endpoint may subscribe to, as the API publishes them in its OpenAPI document.
async function subscribableTypes() {
  const response = await fetch("/openapi.json", { credentials: "same-origin" });
  const schema = (await response.json()).components.schemas.WebhookEndpointCreate;
  return [...schema.properties.event_types.items.enum].sort();
}

export function state(endpoint) {
  if (endpoint.enabled) { return tag("enabled", "ok"); }
  return tag(endpoint.disabled_reason ? `disabled: ${endpoint.disabled_reason}` : "disabled", "bad");
}

async function createForm() {
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://example.com/hooks", autocomplete: "off" });
  const description = h("input", { name: "description", maxlength: 500 });
  const types = await subscribableTypes();
  const boxes = types.map((type) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "event_types", value: type, checked: type === "*" }), ` ${type === "*" ? "* (every event)" : type}`));
  const out = h("div", { id: "new-endpoint-secret" });
  const form = h("form", { class: "stack", id: "new-endpoint" }, field("URL", url), field("Description", description),
    h("fieldset", {}, h("legend", {}, "Events"), h("div", { class: "checks" }, boxes)),
    h("button", { type: "submit", class: "primary" }, "Create endpoint"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = Array.from(form.querySelectorAll("input[name=event_types]:checked"), (box) => box.value);
    const created = await act(form, () => api("POST", "/webhook-endpoints", { body: { url: url.value, description: description.value, event_types: chosen } }), "Endpoint created.");
    if (created) {
      out.replaceChildren(secretBox("Signing secret", created.data.secret),
        h("p", {}, h("a", { href: `/webhooks/${created.data.id}` }, "Open the endpoint and its delivery log")));
    }
  });
  return form;
}

export async function render(main, { can }) {
  document.title = "Webhooks · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "Webhook endpoints"));
  const page = await get("/webhook-endpoints", { limit: 50, cursor: params.get("cursor") });
  main.append(section("Endpoints", table(["URL", "Events", "State", "Created"], page.data.map((endpoint) => h("tr", {},
    h("td", {}, h("a", { href: `/webhooks/${endpoint.id}` }, endpoint.url), endpoint.description ? h("div", { class: "hint" }, endpoint.description) : null),
    h("td", { class: "scopes" }, endpoint.event_types.join(", ")), h("td", {}, state(endpoint)), h("td", {}, when(endpoint.created_at)))),
  "No endpoints yet."), pager(page.next_cursor)));
  if (can("webhooks:write")) { main.append(section("New endpoint", await createForm())); }
}
