// Starts Swagger UI on /docs. A file rather than an inline script, so the page's CSP can forbid inline code.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // Offline: never ask validator.swagger.io about the document.
    validatorUrl: null,
    persistAuthorization: false
  });
});
