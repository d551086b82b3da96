// Starts Swagger UI for /docs. A separate file, not an inline script, so a strict CSP
// (script-src 'self') holds.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default sends the spec's URL to validator.swagger.io for a badge: no third-party requests.
    validatorUrl: null,
  });
});
