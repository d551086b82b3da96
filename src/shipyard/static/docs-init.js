// Starts Swagger UI for /docs. A separate file, not an inline script, so a strict CSP
// (script-src 'self') holds.
// A signed-in browser calls the API with its session cookie, so "Try it out" needs the session's
// CSRF token on every write, as the web UI sends it; /api/v1/me gives it (and a 401 means nobody is
// signed in: then the person authorises with a bearer token instead).
let csrfToken = null;
fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
  .then((response) => (response.ok ? response.json() : null))
  .then((me) => { csrfToken = me && me.csrf_token; })
  .catch(() => { csrfToken = null; });

window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default sends the spec's URL to validator.swagger.io for a badge: no third-party requests.
    validatorUrl: null,
    requestInterceptor: function (request) {
      const method = (request.method || "GET").toUpperCase();
      if (csrfToken && !["GET", "HEAD", "OPTIONS"].includes(method)) {
        request.headers["X-CSRF-Token"] = csrfToken;
      }
      return request;
    },
  });
});
