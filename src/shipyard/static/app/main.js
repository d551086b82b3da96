// The UI's entry point: who is signed in (GET /api/v1/me), the navigation they may use, the
// organisation switcher, then the view for this address. Every link is a real link to a real page.
import { api, get, useCsrfToken } from "./api.js";
import { act, h, problemBox, replayNotice } from "./dom.js";

const VIEWS = [
  [/^\/$/, "dashboard"],
  [/^\/customers$/, "customers"],
  [/^\/customers\/([^/]+)$/, "customer"],
  [/^\/invoices$/, "invoices"],
  [/^\/invoices\/new$/, "invoice"],
  [/^\/customers\/([^/]+)\/invoices\/([^/]+)$/, "invoice"],
  [/^\/tokens$/, "tokens"],
  [/^\/webhooks$/, "webhooks"],
  [/^\/webhooks\/([^/]+)$/, "webhook"],
  [/^\/events$/, "events"],
  [/^\/audit$/, "audit"],
  [/^\/members$/, "members"],
  [/^\/errors$/, "errors"],
  [/^\/invitations\/accept$/, "accept"],
];

const NAVIGATION = [
  ["/", "Dashboard", null],
  ["/customers", "Customers", "customers:read"],
  ["/invoices", "Invoices", "invoices:read"],
  ["/webhooks", "Webhooks", "webhooks:read"],
  ["/events", "Events", "webhooks:read"],
  ["/audit", "Audit log", "audit:read"],
  ["/tokens", "API tokens", "tokens:write"],
  ["/members", "Members", "members:read"],
  ["/errors", "Errors", "errors:read"],
  ["/account", "Account", null],
];

function navigation(me) {
  const here = window.location.pathname;
  const links = NAVIGATION.filter(([, , scope]) => !scope || me.scopes.includes(scope)).map(([path, label]) => {
    const current = path === "/" ? here === "/" : here.startsWith(path);
    return h("li", {}, h("a", { href: path, "aria-current": current ? "page" : null }, label));
  });
  document.getElementById("navigation").append(h("ul", {}, links));
}

function organizationSwitcher(me) {
  const place = document.getElementById("organization");
  const organizations = me.organizations || [];
  if (organizations.length < 2) {
    place.append(h("span", { class: "org-name" }, me.organization.name, " ", h("span", { class: "tag" }, me.role)));
    return;
  }
  const select = h("select", { id: "organization-switch", name: "organization_id" },
    organizations.map((org) => h("option", { value: org.id, selected: org.id === me.organization.id }, `${org.name} (${org.role})`)));
  const form = h("form", { class: "switcher" }, h("label", { for: "organization-switch", class: "visually-hidden" }, "Organisation"),
    select, h("button", { type: "submit" }, "Switch"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await act(form, () => api("POST", "/me/active-organization", { body: { organization_id: select.value } }), "Organisation switched.");
    if (done) { window.location.assign("/"); }
  });
  place.append(form);
}

async function start() {
  const main = document.getElementById("content");
  const match = VIEWS.map(([pattern, name]) => [window.location.pathname.match(pattern), name]).find(([found]) => found);
  const [found, name] = match || [null, null];
  let me = null;
  if (name === "accept") { (await import("./views/accept.js")).keepInvitationToken(); }
  try {
    me = await get("/me");
  } catch (error) {
    if (name !== "accept") { main.replaceChildren(problemBox(error)); return; }
  }
  if (me) {
    useCsrfToken(me.csrf_token);
    const signOut = document.getElementById("sign-out");
    signOut.elements.csrf_token.value = me.csrf_token || "";
    signOut.hidden = false;
    navigation(me);
    organizationSwitcher(me);
  }
  const context = { me, params: found ? found.slice(1) : [], can: (scope) => Boolean(me && me.scopes.includes(scope)) };
  try {
    const view = await import(`./views/${name || "missing"}.js`);
    main.replaceChildren();
    await view.render(main, context);
  } catch (error) {
    main.replaceChildren(problemBox(error));
  }
  replayNotice();
}

start().finally(() => document.getElementById("content").setAttribute("aria-busy", "false"));
