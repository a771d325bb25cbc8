/* ssikg query page: replaces the plain form by YASGUI when JavaScript runs.
 * Offline by construction: the endpoint is this server's /sparql, the only
 * autocompleters are prefixes (YASQE's bundled list, prefixCcApi unset) and
 * variables, nothing is persisted across visits, and the stored queries are
 * offered as examples that open in a new tab. */
(function () {
  "use strict";
  var configEl = document.getElementById("ssikg-query-config");
  var host = document.getElementById("yasgui");
  var form = document.getElementById("plain-form");
  if (!configEl || !host || !form || typeof Yasgui === "undefined") {
    return;
  }
  var config = JSON.parse(configEl.textContent);
  var endpoint = new URL(config.endpoint, window.location.href).href;
  var initial = document.getElementById("query").value;

  var yasgui = new Yasgui(host, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    endpointCatalogueOptions: {
      getData: function () { return [{ endpoint: endpoint }]; },
      keys: []
    },
    persistenceId: null,
    populateFromUrl: false,
    autofocus: false,
    yasqe: {
      autocompleters: ["prefixes", "variables"],
      prefixCcApi: null,
      showQueryButton: true,
      resizeable: true
    },
    yasr: { prefixes: {} }
  });
  var tab = yasgui.getTab();
  tab.setQuery(initial);
  tab.setEndpoint(endpoint);
  form.hidden = true;

  var examples = {};
  (config.examples || []).forEach(function (example) { examples[example.name] = example; });
  document.querySelectorAll("button.example").forEach(function (button) {
    var example = examples[button.dataset.name];
    if (!example) {
      return;
    }
    button.hidden = false;
    var fallback = button.parentElement.querySelector("a.example-link");
    if (fallback) {
      // the stored query's own page stays one click away, after the button
      fallback.textContent = "API";
      fallback.classList.add("api-link");
    }
    button.addEventListener("click", function () {
      var opened = yasgui.addTab(true, {
        name: example.title.slice(0, 40),
        yasqe: { value: example.query },
        requestConfig: { endpoint: endpoint, method: "POST" }
      });
      var newTab = yasgui.getTab(opened && opened.getId ? opened.getId() : undefined) || yasgui.getTab();
      newTab.setQuery(example.query);
      newTab.setEndpoint(endpoint);
      newTab.query();
      host.scrollIntoView();
    });
  });
  window.ssikgYasgui = yasgui;
})();
