// Starts the vendored Swagger UI on /api/swagger over the server's OpenAPI document.
// A file of its own: the pages' Content-Security-Policy ("script-src 'self'") runs no
// inline script.  Nothing outside the server is asked for: no validator badge
// (validatorUrl null), and the document comes from the same origin.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    domNode: root,
    validatorUrl: null,
    deepLinking: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
