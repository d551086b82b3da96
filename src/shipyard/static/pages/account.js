// Token management on the account page, through the token API itself (/api/v1/tokens).
// A cookie session must send its CSRF token on every state-changing call.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };

  async function problemText(response) {
    try { const problem = await response.json(); return problem.detail || problem.title; } catch { return response.statusText; }
  }

  const form = document.getElementById("new-token");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const scopes = Array.from(form.elements.scopes.selectedOptions).map((option) => option.value);
      const response = await fetch("/api/v1/tokens", {
        method: "POST", headers, credentials: "same-origin",
        body: JSON.stringify({ name: form.elements.name.value, scopes }),
      });
      const out = document.getElementById("new-token-secret");
      out.hidden = false;
      out.textContent = response.ok
        ? "Copy it now, it is not shown again: " + (await response.json()).token
        : "Could not create the token: " + (await problemText(response));
    });
  }

  document.querySelectorAll("[data-revoke-token]").forEach((button) => {
    button.addEventListener("click", async () => {
      const response = await fetch("/api/v1/tokens/" + encodeURIComponent(button.dataset.revokeToken), {
        method: "DELETE", headers, credentials: "same-origin",
      });
      if (response.ok) { window.location.reload(); } else { button.textContent = await problemText(response); }
    });
  });
})();
