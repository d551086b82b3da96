// The page an invitation email links to (/invitations/accept#token=…). main.js has kept the token
// from the fragment in this tab's session storage, so it survives the trip to the sign-in page.
import { api } from "../api.js";
import { act, h, section } from "../dom.js";

export const INVITATION_KEY = "shipyard.invitation";

export function keepInvitationToken() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (token) {
    sessionStorage.setItem(INVITATION_KEY, token);
    window.history.replaceState(null, "", window.location.pathname);  // the token leaves the address bar
  }
}

export async function render(main, { me }) {
  document.title = "Invitation · Shipyard";
  main.append(h("h1", {}, "Join an organisation"));
  const token = sessionStorage.getItem(INVITATION_KEY);
  if (!token) {
    main.append(section("No invitation", h("p", {}, "This page needs the link from your invitation email. Open the link again, or ask for a new invitation.")));
    return;
  }
  if (!me) {
    main.append(section("Sign in first", h("p", {}, "Sign in with the email address the invitation was sent to."),
      h("p", {}, h("a", { class: "button primary", href: "/login?return_to=/invitations/accept" }, "Sign in to accept"))));
    return;
  }
  const card = section("Your invitation", h("p", {}, `You are signed in as ${me.profile.email || me.profile.name}.`));
  const button = h("button", { type: "button", class: "primary", onclick: async () => {
    const accepted = await act(card, () => api("POST", "/invitations/accept", { body: { token } }));
    if (!accepted) { return; }
    sessionStorage.removeItem(INVITATION_KEY);
    const organization = accepted.data.organization;
    card.replaceChildren(h("h2", {}, "Welcome"), h("p", { role: "status" }, `You joined ${organization.name} as ${organization.role}.`),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: async () => {
        if (await act(card, () => api("POST", "/me/active-organization", { body: { organization_id: organization.id } }), `Switched to ${organization.name}.`)) { window.location.assign("/"); }
      } }, `Open ${organization.name}`), h("a", { class: "button", href: "/" }, "Stay where I am")));
  } }, "Accept invitation");
  card.append(h("div", { class: "actions" }, button));
  main.append(card);
}
