/* ssikg query page: replaces the plain form by YASGUI when JavaScript runs.
 * Offline by construction: the endpoint is always this server's /sparql (a
 * shared link naming another endpoint is pinned back to it), the only
 * autocompleters are prefixes (the project's own first, then YASQE's bundled
 * list; prefixCcApi unset) and variables, and the stored queries are offered
 * as examples.  Nothing is persisted across visits: the query being edited is
 * kept in the address (#query=…), so a reload or a shared link restores it. */
(function () {
  "use strict";
  var configEl = document.getElementById("ssikg-query-config");
  var host = document.getElementById("yasgui");
  var form = document.getElementById("plain-form");
  if (!configEl || !host || !form || typeof Yasgui === "undefined") {
    return;
  }
  var config = JSON.parse(configEl.textContent);
  var words = config.words || {};
  var endpoint = new URL(config.endpoint, window.location.href).href;
  var initial = document.getElementById("query").value;
  // A shared link may carry any of YASGUI's settings (endpoint, method, headers, graphs,
  // content types), and YASGUI writes them into the defaults of every tab: only the query
  // is kept from it.  YASGUI then reads (and clears) the hash.
  var sharedQuery = keepOnlyTheQuery();

  registerProjectPrefixes(config.prefixes || {});
  // the endpoint answers errors as JSON ({status, title, message}): show the message, not the JSON
  Yasgui.Yasr.defaults.errorRenderers = [renderServerError];

  var yasgui = new Yasgui(host, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    endpointCatalogueOptions: {
      getData: function () { return [{ endpoint: endpoint }]; },
      keys: []
    },
    persistenceId: null,
    // a shared link (#query=…&endpoint=…) or ?query= opens its query, on this server only
    populateFromUrl: pinToThisServer,
    autofocus: false,
    yasqe: {
      autocompleters: ["ssikgPrefixes", "variables"],
      prefixCcApi: null,
      showQueryButton: true,
      resizeable: true,
      // Tab and Shift+Tab move the focus out of the editor (Ctrl+] / Ctrl+[ indent)
      extraKeys: Object.assign({}, Yasgui.Yasqe.defaults.extraKeys, { Tab: false, "Shift-Tab": false })
    },
    yasr: { prefixes: {} }
  });
  var tab = yasgui.getTab();
  if (!sharedQuery) {
    tab.setQuery(initial);
  }
  tab.setEndpoint(endpoint);
  form.hidden = true;
  document.querySelectorAll(".editor-help").forEach(function (help) { help.hidden = false; });

  function renderServerError(error) {
    var answer;
    try {
      answer = JSON.parse(error && error.text);
    } catch (notJson) {
      return undefined;  // YASR's own rendering
    }
    if (!answer || typeof answer.message !== "string") {
      return undefined;
    }
    var box = document.createElement("div");
    box.className = "server-error";
    box.setAttribute("role", "alert");
    var heading = document.createElement("strong");
    heading.textContent = [answer.status, answer.title].filter(Boolean).join(" ");
    var message = document.createElement("p");
    message.lang = "en";  // the server's messages are in English
    message.textContent = answer.message;
    box.appendChild(heading);
    box.appendChild(message);
    return box;
  }

  function keepOnlyTheQuery() {
    var shared = new URLSearchParams(window.location.hash.replace(/^#/, "")).get("query");
    if (window.location.hash) {
      var hash = shared === null ? "" : "#query=" + encodeURIComponent(shared);
      history.replaceState(history.state, "", window.location.pathname + window.location.search + hash);
    }
    return shared !== null;
  }

  function pinToThisServer(tabConfig) {
    tabConfig.requestConfig = Object.assign({}, tabConfig.requestConfig, {
      endpoint: endpoint, method: "POST", args: [], headers: {}, namedGraphs: [], defaultGraphs: []
    });
    return tabConfig;
  }

  function registerProjectPrefixes(prefixes) {
    var Yasqe = Yasgui.Yasqe;
    var bundled = Yasqe.Autocompleters.prefixes;
    var ours = Object.keys(prefixes).map(function (name) { return name + ": <" + prefixes[name] + ">"; });
    var taken = {};
    ours.forEach(function (line) { taken[line.split(":")[0]] = true; });
    Yasqe.forkAutocompleter("prefixes", {
      name: "ssikgPrefixes",
      persistenceId: null, // no cached list in localStorage
      get: function (yasqe) {
        return Promise.resolve(bundled.get(yasqe)).then(function (list) {
          return ours.concat((list || []).filter(function (line) { return !taken[line.split(":")[0]]; }));
        });
      },
      // the suggestions come back sorted: the project's prefixes go first again
      postprocessHints: function (yasqe, hints) {
        var rank = function (hint) { return ours.indexOf(hint.text) >= 0 ? 0 : 1; };
        return hints.slice().sort(function (a, b) { return rank(a) - rank(b); });
      }
    }, false);
  }

  // Result cells link an IRI to itself; the dataset's IRIs go where the site's own pages
  // link them (this server's pages when the public base is the canonical one).
  function relinkResults() {
    // an IRI of another scheme (javascript:…) is shown, never followed
    host.querySelectorAll(".yasr a[href]").forEach(function (a) {
      if (!/^https?:/i.test(a.href)) {
        a.removeAttribute("href");
      }
    });
    if (!config.dataset_base || !config.link_base || config.link_base === config.dataset_base) {
      return;
    }
    host.querySelectorAll(".yasr a[href^='" + config.dataset_base + "']").forEach(function (a) {
      a.href = new URL(config.link_base + a.getAttribute("href").slice(config.dataset_base.length),
                       window.location.href).href;
    });
  }

  // The address keeps the edited query (the query part of YASGUI's share link).
  function remember(query) {
    var hash = "#query=" + encodeURIComponent(query);
    history.replaceState(history.state, "", window.location.pathname + window.location.search + hash);
  }

  // Each editor YASGUI draws (one per tab, drawn lazily) gets a name and keeps the address;
  // each result drawn gets its links.
  var decorated = typeof WeakSet === "function" ? new WeakSet() : null;
  function decorate() {
    host.querySelectorAll(".CodeMirror").forEach(function (wrapper) {
      var editor = wrapper.CodeMirror;
      if (!editor || (decorated && decorated.has(editor))) {
        return;
      }
      if (decorated) {
        decorated.add(editor);
      }
      var input = editor.getInputField();
      input.setAttribute("aria-label", words.editor || "SPARQL query");
      if (words.editor_help_id) {
        input.setAttribute("aria-describedby", words.editor_help_id);
      }
      editor.on("change", function () {
        var active = yasgui.getTab();
        var yasqe = active && active.getYasqe();
        if (yasqe && yasqe.getWrapperElement() === wrapper) {
          remember(editor.getValue());
        }
      });
    });
    host.querySelectorAll("input.autocomplete:not([aria-label])").forEach(function (input) {
      input.setAttribute("aria-label", words.endpoint || "SPARQL endpoint");
    });
    fixRoles();
    relinkResults();
  }

  // What YASGUI draws without an accessible name or with a role its children break.
  function fixRoles() {
    // the "+" (new tab) button sits in the tablist, in its arrow-key order: a tab that opens one
    host.querySelectorAll(".tabsList button.addTab:not([role])").forEach(function (button) {
      button.setAttribute("role", "tab");
      button.setAttribute("aria-selected", "false");
    });
    // the results' page size: named by the words YASR writes before it ("Page size:")
    host.querySelectorAll("select.tableSizer:not([aria-label])").forEach(function (select) {
      var label = select.parentElement && select.parentElement.querySelector(".pageSizerLabel");
      var text = label ? label.textContent.replace(/[:\s]+$/, "").trim() : "";
      select.setAttribute("aria-label", text || "Page size");
    });
  }
  decorate();
  new MutationObserver(decorate).observe(host, { childList: true, subtree: true });
  yasgui.on("tabSelect", function () {
    window.setTimeout(function () {
      var active = yasgui.getTab();
      if (active && active.getYasqe()) {
        remember(active.getYasqe().getValue());
      }
    }, 0);
  });
  if (sharedQuery || /[?&]query=/.test(window.location.search)) {
    remember(tab.getQuery());
  }

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
      // 49 links all named "API" say nothing apart: each is named by its query too
      fallback.setAttribute("aria-label", "API: " + example.title);
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
