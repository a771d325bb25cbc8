"""The pages in a real headless Chromium (Playwright, system /usr/bin/chromium):
home, an organisation with its provenance quote, a post, a stored query run in
YASGUI against /sparql, and the org chart with a click through to a page.

Every request the pages make is recorded: none may leave 127.0.0.1, and no
page may log a console error.  Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import pytest
from conftest import chromium

from ssikg.settings import PROJECT_ROOT

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
WAIT_MS = 20_000
MIN_TEXT_PX = 11  # node labels are drawn at 10pt (13px); shrunk to the column they were 6-7px


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


class Watched:
    """A browser page whose requests and console errors are recorded."""

    def __init__(self, browser, lang: str = "fr-FR"):
        self.context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.set_default_timeout(WAIT_MS)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def check_clean(self) -> None:
        foreign = [u for u in self.requests
                   if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                   and urlsplit(u).hostname != "127.0.0.1"]
        assert not foreign, f"requests left the test server: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"
        assert self.requests, "no request recorded"

    def close(self) -> None:
        self.context.close()


def chart_text_height(page) -> float:
    """The on-screen height (CSS px) of a post's label in the page's organisation chart."""
    return page.locator("figure.org-chart g.node.post text").first.bounding_box()["height"]


def editor_value(page) -> str:
    return page.evaluate("window.ssikgYasgui.getTab().getYasqe().getValue()")


@pytest.fixture
def watched(browser):
    session = Watched(browser)
    yield session
    session.close()


def test_home_page(watched, live_server):
    page = watched.page
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "ssikg" in page.locator("h1").inner_text()
    assert page.locator("ul.organisations li").count() >= 5
    assert page.locator("ul.posts li").count() >= 5
    assert page.locator("ul.stored-queries li").count() >= 5
    # the skip link is the first focusable element and targets the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#content"
    watched.screenshot("home")
    watched.check_clean()


def test_organisation_page_shows_its_provenance_quote(watched, live_server):
    page = watched.page
    page.goto(live_server.url + "/id/dcis")  # 303 to the HTML document
    assert page.url.endswith("/id/dcis.html")
    assert page.locator("h1").inner_text() == "direction de la coopération internationale de sécurité"
    quote = page.locator("blockquote.quote", has_text="relève de l’autorité conjointe des deux directeurs")
    assert quote.count() >= 1 and quote.first.is_visible()
    assert page.locator("time[datetime='2024-02-08']").count() >= 1
    assert page.locator("figure.org-chart svg").count() == 1
    assert chart_text_height(page) >= MIN_TEXT_PX  # the unit's part of the chart is readable too
    page.get_by_role("link", name="en", exact=True).click()
    page.wait_for_url("**lang=en")
    assert page.locator("h1").inner_text() == "Directorate for International Security Cooperation"
    watched.screenshot("organisation-dcis")
    watched.check_clean()


def test_post_page(watched, live_server):
    page = watched.page
    page.goto(live_server.url + "/id/post-asi-be")
    assert page.locator("h1").inner_text() == "attaché de sécurité intérieure"
    assert page.locator("table.relations").first.is_visible()
    assert page.get_by_text("L’attaché de sécurité intérieure dispose du statut diplomatique").count() >= 1
    # its unit is a link to the unit's page
    page.locator("a[href='/id/ssi-be']").first.click()
    page.wait_for_url("**/id/ssi-be.html")
    assert "sécurité intérieure" in page.locator("h1").inner_text()
    watched.screenshot("post-asi-be")
    watched.check_clean()


def test_stored_query_runs_in_yasgui_and_shows_its_rows(watched, live_server):
    page = watched.page
    prefilled = "ASK { ?s ?p ?o }"
    page.goto(f"{live_server.url}/query?query={quote(prefilled)}")  # as entity pages link to it
    page.wait_for_selector("#yasgui .CodeMirror")
    assert page.locator("#plain-form").is_hidden()
    assert editor_value(page) == prefilled
    example = page.locator("button.example[data-name='cq05-who-assists-the-asi']")
    example.click()
    rows = page.locator(".tabPanel.active .yasr table tbody tr")
    rows.first.wait_for()
    text = page.locator(".tabPanel.active .yasr table").inner_text()
    assert "officier de liaison" in text and "Volontaire international en administration" in text
    assert rows.count() == 2
    # the dataset's IRIs link to this server's pages, as every page of the site does
    hrefs = page.locator(".tabPanel.active .yasr table a").evaluate_all("els => els.map(a => a.href)")
    assert f"{live_server.url}/id/post-via-be" in hrefs and not [h for h in hrefs if "w3id.org/ssikg" in h]
    # the example's tab has its own editor, named as the first one is
    labels = page.locator("#yasgui .CodeMirror textarea").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert len(labels) == 2 and all(labels), labels
    sparql_calls = [u for u in watched.requests if urlsplit(u).path == "/sparql"]
    assert sparql_calls, "YASGUI did not query this server's /sparql"
    watched.screenshot("query-ui")
    watched.check_clean()


def test_a_shared_link_cannot_point_any_tab_elsewhere(watched, live_server):
    """YASGUI copies a link's settings into the defaults of every tab: a link naming another
    endpoint, method, graphs or content type must change none of the tabs."""
    page = watched.page
    sent = []
    page.on("request", lambda r: urlsplit(r.url).path == "/sparql" and sent.append((r.method, r.url, r.post_data or "")))
    elsewhere = "http://127.0.0.1:9/sparql"
    page.goto(f"{live_server.url}/query#query={quote('ASK { ?s ?p ?o }')}&endpoint={quote(elsewhere)}"
              "&requestMethod=GET&namedGraph=http%3A%2F%2Fevil.example%2Fng&contentTypeSelect=text%2Fhtml")
    page.wait_for_selector("#yasgui .CodeMirror")
    page.locator(".tabPanel.active .yasr").get_by_text("true").first.wait_for()  # it ran, here
    page.locator("#yasgui .addTab").first.click()  # a new tab takes the instance's defaults
    page.wait_for_function("() => window.ssikgYasgui.getTab().getYasqe() !== undefined")
    assert page.evaluate("window.ssikgYasgui.getTab().getEndpoint()") == live_server.url + "/sparql"
    page.evaluate("window.ssikgYasgui.getTab().getYasqe().setValue('ASK { ?s ?p ?o }')")
    page.evaluate("window.ssikgYasgui.getTab().getYasqe().query()")
    deadline = time.monotonic() + 30
    while len(sent) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(sent) >= 2, sent
    for method, url, body in sent:
        assert url.startswith(live_server.url + "/sparql") and method == "POST", (method, url)
        assert "named-graph-uri" not in url + body


def test_a_query_error_shows_the_servers_message_not_its_json(watched, live_server):
    page = watched.page
    page.goto(f"{live_server.url}/query?lang=en#query={quote('SELECT * WHERE { ?s foo:p ?o }')}")
    shown = page.locator(".tabPanel.active .yasr .server-error")
    shown.wait_for()
    text = shown.inner_text()
    assert "400 Malformed query" in text and "undeclared prefix 'foo:'" in text
    assert '"message"' not in page.locator(".tabPanel.active .yasr").inner_text()
    assert shown.get_attribute("role") == "alert"


def test_org_chart_renders_and_a_click_opens_the_page(watched, live_server):
    page = watched.page
    page.goto(live_server.url + "/org-chart")
    chart = page.locator("figure.org-chart svg")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert page.locator("figure.org-chart g.cluster").count() >= 5
    # drawn at its own size (not shrunk to the column): wider than the page, scrolled sideways
    # in a labelled region that the keyboard reaches and scrolls
    assert chart_text_height(page) >= MIN_TEXT_PX
    region = page.locator("figure.org-chart .chart-scroll")
    assert region.get_attribute("role") == "region" and region.get_attribute("aria-label")
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    region.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('figure.org-chart .chart-scroll').scrollLeft > 0")
    watched.screenshot("org-chart")
    node = page.locator("figure.org-chart g.node.post", has_text="ambassadeur").locator("a").first
    node.click()
    page.wait_for_url("**/id/post-ambassadeur-be.html")
    assert page.locator("h1").inner_text() == "ambassadeur"
    watched.screenshot("org-chart-click")
    watched.check_clean()


def test_query_editor_share_link_keyboard_and_prefixes(watched, live_server):
    page = watched.page
    shared = "SELECT ?post WHERE { ?post a <http://www.w3.org/ns/org#Post> } LIMIT 2"
    # a share link naming another endpoint opens its query on this server's endpoint
    page.goto(f"{live_server.url}/query?lang=en#query={quote(shared)}&endpoint={quote('http://example.org/sparql')}")
    page.wait_for_selector("#yasgui .CodeMirror")
    assert editor_value(page) == shared
    assert page.evaluate("window.ssikgYasgui.getTab().getEndpoint()") == live_server.url + "/sparql"
    # the editor and the endpoint field have names; the editor comes before the 49 examples
    textarea = page.locator("#yasgui .CodeMirror textarea").first
    assert textarea.get_attribute("aria-label") == "SPARQL query editor"
    assert page.locator("#yasgui input.autocomplete").first.get_attribute("aria-label") == "Endpoint queried"
    assert page.locator("#editor-help").is_visible() and "Ctrl+]" in page.locator("#editor-help").inner_text()
    stops = 0
    while not textarea.evaluate("el => el === document.activeElement"):
        page.keyboard.press("Tab")
        stops += 1
        assert stops <= 20, "the editor is not among the first tab stops"
    # Tab leaves the editor instead of indenting; Shift+Tab comes back
    page.keyboard.press("Tab")
    assert not textarea.evaluate("el => el === document.activeElement")
    page.keyboard.press("Shift+Tab")
    assert textarea.evaluate("el => el === document.activeElement")
    assert editor_value(page) == shared
    # the project's prefixes are offered first
    page.keyboard.press("Control+Home")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowUp")
    page.keyboard.type("PREFIX ss")
    hint = page.locator(".CodeMirror-hint").first
    hint.wait_for()
    assert hint.inner_text() == "ssikg: <https://w3id.org/ssikg/ontology#>"
    hint.click()  # chosen by pointer: a key press can race the list being redrawn
    page.wait_for_function("() => window.ssikgYasgui.getTab().getYasqe().getValue().startsWith('PREFIX ssikg:')")
    # the address keeps the edited query: a reload restores it (and runs it, as a shared link does)
    edited = editor_value(page)
    assert edited.startswith("PREFIX ssikg: <https://w3id.org/ssikg/ontology#>\n")
    page.reload()
    page.wait_for_selector("#yasgui .CodeMirror")
    assert editor_value(page) == edited
    watched.screenshot("query-ui-shared")
    watched.check_clean()


def test_a_long_querys_results_page_opens_it_in_the_editor(watched, live_server):
    """Past 8 KB the results page's editor link carries the query in its fragment (a GET of it
    would be a 414 in production): the query page opens with it."""
    import re
    from html import unescape

    import requests

    long_query = "SELECT ?post WHERE { ?post a <http://www.w3.org/ns/org#Post> } LIMIT 2\n# " + "x" * 9000
    results = requests.post(f"{live_server.url}/sparql?lang=en", data={"query": long_query},
                            headers={"Accept": "text/html"}, timeout=60).text
    href = unescape(re.search(r'href="(/query\?lang=en#query=[^"]+)"', results).group(1))
    page = watched.page
    page.goto(live_server.url + href)
    page.wait_for_selector("#yasgui .CodeMirror")
    assert editor_value(page) == long_query
    # the results page itself, POSTed: its language switch is a button that asks the query again
    page.evaluate("""query => { const form = document.createElement('form');
        form.method = 'post'; form.action = '/sparql?lang=en';
        const field = document.createElement('textarea'); field.name = 'query'; field.value = query;
        form.appendChild(field); document.body.appendChild(form); form.submit(); }""", long_query)
    page.wait_for_selector("h1:text('Results')")
    with page.expect_navigation():
        page.locator(".lang-switch button[lang='fr']").click()
    assert page.locator("h1").inner_text() == "Résultats" and page.locator("table.results tr").count() == 3
    watched.check_clean()


def _luminance(rgb: str) -> float:
    channels = [int(x) / 255 for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_query_ui_passes_what_axe_found_in_yasgui(watched, live_server):
    """(axe-core is not installed here: the attributes and styles its rules check.) The results'
    page size select has a name, the tablist holds only tabs, the YASGUI host has a role for
    its name, syntax colours reach 4.5:1, the editor shows focus, example links have unique names."""
    page = watched.page
    query = "PREFIX id: <https://w3id.org/ssikg/id/>\nSELECT * WHERE { ?s ?p id:dcis } LIMIT 20"
    page.goto(f"{live_server.url}/query?lang=en#query={quote(query)}")  # a shared link runs its query
    page.locator(".tabPanel.active .yasr table tbody tr").first.wait_for()
    assert page.get_by_role("combobox", name="Page size").count() == 1
    roles = page.locator(".tabsList a, .tabsList button").evaluate_all("els => els.map(e => e.getAttribute('role'))")
    assert roles and all(role == "tab" for role in roles), roles
    assert page.locator("#yasgui").get_attribute("role") == "region"
    token = page.locator(".CodeMirror .cm-string-2").first  # id:dcis
    assert contrast(token.evaluate("e => getComputedStyle(e).color"), "rgb(255, 255, 255)") >= 4.5
    number = page.locator(".CodeMirror-linenumber").first.evaluate("e => getComputedStyle(e).color")
    gutter = page.locator(".CodeMirror-gutters").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert contrast(number, gutter) >= 4.5, (number, gutter)
    page.locator("#yasgui .CodeMirror textarea").first.focus()
    outline = page.locator("#yasgui .CodeMirror").first.evaluate(
        "e => [getComputedStyle(e).outlineStyle, parseFloat(getComputedStyle(e).outlineWidth)]")
    assert outline[0] != "none" and outline[1] >= 2, outline
    names = page.locator("a.example-link").evaluate_all(
        "els => els.map(a => a.getAttribute('aria-label') || a.textContent.trim())")
    assert len(names) >= 10 and len(set(names)) == len(names) and all(n.startswith("API") for n in names)
    watched.check_clean()


def test_pages_do_not_scroll_sideways_at_320_px(browser, live_server):
    watched = Watched(browser)
    try:
        watched.page.set_viewport_size({"width": 320, "height": 800})
        for path in ("/id/dcis.html", "/id/post-asi-be.html", "/ontology.html", "/queries",
                     "/queries/cq05-who-assists-the-asi", "/id/fact/F31.html"):
            watched.page.goto(live_server.url + path)
            widths = watched.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], (path, widths)
        # the chart drawn alone: titled, and the browser's icon request is answered
        watched.page.goto(live_server.url + "/org-chart.svg?lang=en")
        assert watched.page.title() == "Organisation chart"
        watched.page.wait_for_timeout(300)  # (the icon is requested after the load)
        watched.check_clean()
    finally:
        watched.close()
