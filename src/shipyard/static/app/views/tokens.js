// API tokens for scripts and agents: create with scopes and an expiry (the secret is shown once),
// revoke. A token can hold at most the scopes of the person creating it.
import { api, get } from "../api.js";
import { act, field, h, pager, secretBox, section, table, tag, when } from "../dom.js";

function createForm(scopes) {
  const name = h("input", { name: "name", required: true, maxlength: 100, autocomplete: "off" });
  const expiry = h("input", { name: "expires_in_days", type: "number", min: 1, max: 3650, step: 1, value: 90 });
  const boxes = scopes.map((scope) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "scopes", value: scope }), ` ${scope}`));
  const out = h("div", { id: "new-token-secret" });
  const form = h("form", { class: "stack", id: "new-token" }, field("Name", name),
    h("fieldset", {}, h("legend", {}, "Scopes"), h("div", { class: "checks" }, boxes)),
    field("Expires after (days)", expiry, "Leave empty for a token that does not expire."),
    h("button", { type: "submit", class: "primary" }, "Create token"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = Array.from(form.querySelectorAll("input[name=scopes]:checked"), (box) => box.value);
    const body = { name: name.value, scopes: chosen, expires_in_days: expiry.value ? Number.parseInt(expiry.value, 10) : null };
    const created = await act(form, () => api("POST", "/tokens", { body }), "Token created.");
    if (created) { out.replaceChildren(secretBox(`Token “${created.data.name}”`, created.data.token)); }
  });
  return form;
}

export async function render(main, { me }) {
  document.title = "API tokens · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, "API tokens"), h("p", { class: "hint" }, "Tokens act for this organisation through /api/v1, as this page does."));
  main.append(section("New token", createForm([...me.scopes].sort())));
  const page = await get("/tokens", { limit: 50, cursor: params.get("cursor") });
  const list = section("Tokens");
  list.append(table(["Name", "Prefix", "Scopes", "Expires", "Last used", ""], page.data.map((token) => h("tr", {},
    h("td", {}, token.name), h("td", {}, h("code", {}, `${token.display_prefix}…`)), h("td", { class: "scopes" }, token.scopes.join(", ")),
    h("td", {}, when(token.expires_at)), h("td", {}, when(token.last_used_at)),
    h("td", {}, token.revoked_at ? tag("revoked") : h("button", { type: "button", class: "danger", "aria-label": `Revoke ${token.name}`, onclick: async () => {
      if (await act(list, () => api("DELETE", `/tokens/${token.id}`), "Token revoked.")) { window.location.reload(); }
    } }, "Revoke")))), "No tokens yet."), pager(page.next_cursor));
  main.append(list);
}
