// Members and invitations: change a role, remove a member, leave; invite, resend, revoke.
// The API enforces who may do what (owners alone touch owners, the last owner stays); the page only
// hides what the person's scopes cannot do, and shows the API's refusal otherwise.
import { api, get } from "../api.js";
import { act, field, h, pager, section, table, tag, when } from "../dom.js";

const ROLES = ["viewer", "member", "admin", "owner"];

function roleSelect(current, label) {
  return h("select", { name: "role", "aria-label": label }, ROLES.map((role) => h("option", { value: role, selected: role === current }, role)));
}

function memberRow(member, me, canWrite, place) {
  const self = member.user_id === me.user_id;
  const who = member.name || member.email || member.user_id;
  const cells = [h("td", {}, who, self ? [" ", tag("you", "ok")] : null), h("td", {}, member.email || "—")];
  if (!canWrite) {
    cells.push(h("td", {}, tag(member.role)), h("td", {}, when(member.created_at)),
      h("td", {}, self ? leaveButton(member, place) : null));
    return h("tr", { class: "member" }, cells);
  }
  const select = roleSelect(member.role, `Role of ${who}`);
  cells.push(h("td", {}, h("div", { class: "actions tight" }, select, h("button", { type: "button", onclick: async () => {
    if (await act(place, () => api("PATCH", `/members/${member.id}`, { body: { role: select.value } }), `${who} is now ${select.value}.`)) { window.location.reload(); }
  } }, "Change role"))), h("td", {}, when(member.created_at)),
  h("td", {}, self ? leaveButton(member, place) : h("button", { type: "button", class: "danger", "aria-label": `Remove ${who}`, onclick: async () => {
    if (!window.confirm(`Remove ${who} from this organisation?`)) { return; }
    if (await act(place, () => api("DELETE", `/members/${member.id}`), `${who} was removed.`)) { window.location.reload(); }
  } }, "Remove")));
  return h("tr", { class: "member" }, cells);
}

function leaveButton(member, place) {
  return h("button", { type: "button", class: "danger", onclick: async () => {
    if (!window.confirm("Leave this organisation?")) { return; }
    if (await act(place, () => api("DELETE", `/members/${member.id}`), "You left the organisation.")) { window.location.assign("/"); }
  } }, "Leave");
}

function inviteForm() {
  const email = h("input", { name: "email", type: "email", required: true, autocomplete: "off" });
  const role = roleSelect("member", "Role");
  const form = h("form", { class: "row", id: "invite" }, field("Email", email), field("Role", role),
    h("div", { class: "field" }, h("span", { class: "hint" }, " "), h("button", { type: "submit", class: "primary" }, "Send invitation")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await act(form.parentElement, () => api("POST", "/invitations", { body: { email: email.value, role: role.value } }), `Invitation sent to ${email.value}.`)) { window.location.reload(); }
  });
  return form;
}

async function invitations(main) {
  const page = await get("/invitations", { limit: 50 });
  const card = section("Invitations");
  card.append(inviteForm(), table(["Email", "Role", "Status", "Expires", ""], page.data.map((invitation) => h("tr", { class: "invitation" },
    h("td", {}, invitation.email), h("td", {}, tag(invitation.role)), h("td", {}, tag(invitation.status, invitation.status === "pending" ? "" : "warn")),
    h("td", {}, when(invitation.expires_at)), h("td", {}, h("div", { class: "actions tight" },
      h("button", { type: "button", "aria-label": `Resend to ${invitation.email}`, onclick: async () => {
        if (await act(card, () => api("POST", `/invitations/${invitation.id}/resend`), `Invitation sent again to ${invitation.email}.`)) { window.location.reload(); }
      } }, "Resend"),
      h("button", { type: "button", class: "danger", "aria-label": `Revoke the invitation of ${invitation.email}`, onclick: async () => {
        if (await act(card, () => api("DELETE", `/invitations/${invitation.id}`), "Invitation revoked.")) { window.location.reload(); }
      } }, "Revoke"))))), "No open invitations.", "Invitations"), pager(page.next_cursor));
  main.append(card);
}

export async function render(main, { me, can }) {
  document.title = "Members · Shipyard";
  const params = new URLSearchParams(window.location.search);
  main.append(h("h1", {}, `Members of ${me.organization.name}`));
  const page = await get("/members", { limit: 50, cursor: params.get("cursor") });
  const list = section("Members");
  list.append(table(["Name", "Email", "Role", "Since", ""], page.data.map((member) => memberRow(member, me, can("members:write"), list)), "No members.", "Members"),
    pager(page.next_cursor));
  main.append(list);
  if (can("members:write")) { await invitations(main); }
}
