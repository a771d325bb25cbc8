"""The stored-query pages (``/queries``, ``/queries/<name>``, ``/api/docs``, ``/api/swagger``) as
an accessibility audit reads them, over a real loopback server:

* a language picked with ``?lang=`` stays picked: every link to a page of the site keeps it
  (under an ``Accept-Language`` asking for the other language);
* every text says its language: the OpenAPI document's English texts on a French page, its
  "(fr) …" paragraphs on an English one, the API's English error messages;
* the descriptions' Markdown (bold, code) is rendered, after escaping, never shown raw;
* the pager is named in the page's language, and the form fits a 320 px screen (Chromium).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import chromium

from ssikg.views.stored_queries import inline_markdown, paragraphs

TIMEOUT = 60
# documents and downloads: no page language to keep
DATA = (".json", ".csv", ".srj", ".srx", ".tsv", ".ttl", ".nt", ".rq", ".css", ".js", ".svg")
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A page's links, form fields, navigation labels, and each text with its language (the
    nearest ``lang`` of its element or an ancestor)."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.links: list[str] = []
        self.inputs: list[dict] = []
        self.navs: list[str | None] = []
        self.texts: list[tuple[str | None, str]] = []
        self.feed(html)

    @property
    def lang(self) -> str | None:
        return next((lang for _tag, lang in reversed(self.stack) if lang), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") and not attrs.get("hreflang"):  # not the language switch
            self.links.append(attrs["href"])
        if tag in ("input", "select"):
            self.inputs.append({"tag": tag, **attrs})
        if tag == "nav":
            self.navs.append(attrs.get("aria-label"))
        if tag not in VOID_TAGS:
            self.stack.append((tag, attrs.get("lang")))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if data.strip():
            self.texts.append((self.lang, data.strip()))

    def language_of(self, text: str) -> set[str | None]:
        """The languages of the texts containing ``text``."""
        found = {lang for lang, data in self.texts if text in data}
        assert found, f"{text!r} is not on the page"
        return found


def get(server, path: str, lang: str | None = None, accept_language: str = "fr", **params) -> requests.Response:
    if lang:
        params["lang"] = lang
    response = requests.get(server.url + path, params=params, timeout=TIMEOUT,
                            headers={"Accept": "text/html", "Accept-Language": accept_language})
    assert response.headers["Content-Type"].startswith("text/html"), path
    return response


def page_links(page: Page) -> list[str]:
    """The links to pages of this site (same origin, not a fragment, not a document)."""
    return [href for href in page.links
            if not href.startswith("#") and not urlsplit(href).scheme and not urlsplit(href).netloc
            and not urlsplit(href).path.endswith(DATA) and "format" not in parse_qs(urlsplit(href).query)]


PAGES = [("/queries", {}), ("/queries/label-search", {"text": "e", "limit": "3", "offset": "3"}),
         ("/queries/cq27-ssi-or-asi-linked-to-dcis-not-stated", {}), ("/api/docs", {}), ("/api/swagger", {}),
         ("/api/queries", {}), ("/", {})]


@pytest.mark.parametrize("path,params", PAGES)
def test_links_keep_an_explicit_language(live_server, path, params):
    """Opened with ?lang=en under Accept-Language: fr, every link to a page keeps lang=en (once),
    and the page's form sends it again."""
    response = get(live_server, path, "en", **params)
    assert response.status_code == 200 and response.headers["Content-Language"] == "en"
    page = Page(response.text)
    links = page_links(page)
    assert len(links) >= 3, links
    for href in links:
        assert parse_qs(urlsplit(href).query).get("lang") == ["en"], (path, href)
    if path.startswith("/queries/"):
        assert {"tag": "input", "type": "hidden", "name": "lang", "value": "en"} in page.inputs
    # without ?lang=, links follow Accept-Language and carry no lang= of their own
    french = Page(get(live_server, path, **params).text)
    assert all("lang" not in parse_qs(urlsplit(href).query) for href in page_links(french))


def test_the_try_link_of_the_docs_answers_in_every_format(live_server):
    """The docs' "try it" links keep lang= too: the API takes it (pages use it, data ignore it)."""
    page = Page(get(live_server, "/api/docs", "en").text)
    tries = [href for href in page_links(page) if href.startswith("/api/queries/label-search?")]
    assert tries
    answer = requests.get(live_server.url + tries[0], timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.json()["query"] == "label-search"


def test_the_docs_mark_each_text_with_its_language(live_server):
    french = Page(get(live_server, "/api/docs", "fr").text)
    assert french.language_of("Search labels") == {"en"}  # an operation's summary
    assert french.language_of("The query's result.") == {"en"}  # a response
    assert french.language_of("Rows to skip.") == {"en"}  # a parameter
    assert french.language_of("Entities and concepts whose preferred") == {"en"}  # a description
    assert french.language_of("Seulement les libellés dans cette langue") == {"fr"}
    english = Page(get(live_server, "/api/docs", "en").text)
    assert english.language_of("Seulement les libellés dans cette langue") == {"fr"}
    assert english.language_of("Recherche dans les libellés") == {"fr"}
    assert english.language_of("Rows to skip.") == {"en"}


def test_the_docs_render_their_markdown_and_list_the_responses(live_server):
    html = get(live_server, "/api/docs", "en").text
    assert "**" not in html and "`" not in html and ".;" not in html
    assert "<strong>Recherche dans les libellés</strong>" in html
    assert "<code>timeout</code>" in html
    assert '<li><code>400</code> <span lang="en">A parameter is missing' in html


def test_markdown_is_escaped_before_it_is_converted():
    assert str(inline_markdown('<b onclick="x">**bold**</b> `<i>` & **`code`**')) == (
        '&lt;b onclick=&#34;x&#34;&gt;<strong>bold</strong>&lt;/b&gt; <code>&lt;i&gt;</code> &amp; '
        '<strong><code>code</code></strong>')
    assert str(inline_markdown("a ** b")) == "a ** b"
    assert paragraphs("One.\n\n(fr) **Un.** Deux.\n\n") == [("en", "One."), ("fr", "(fr) <strong>Un.</strong> Deux.")]


def test_a_query_page_marks_its_english_texts_and_names_its_pager(live_server):
    bad = get(live_server, "/queries/statement-provenance", "fr", subject="http://a b")
    assert bad.status_code == 400
    page = Page(bad.text)
    assert page.language_of("must be an absolute IRI") == {"en"}  # the API's message
    assert page.language_of("Erreur") == {"fr"}
    for lang, label in (("fr", "Pages de résultats"), ("en", "Result pages")):
        paged = Page(get(live_server, "/queries/label-search", lang, text="e", limit="3").text)
        assert label in paged.navs
    fields = [f for f in page.inputs if f.get("id", "").startswith("param-")]
    assert fields and all(f.get("class") == "param-input" and "size" not in f for f in fields)


@pytest.mark.browser
def test_a_query_page_fits_a_320px_screen(live_server):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 320, "height": 640})
        page.set_default_timeout(20_000)
        for path in ("/queries/statement-provenance", "/queries/label-search?lang=en"):
            page.goto(live_server.url + path)
            field = page.locator("input.param-input").first
            assert field.bounding_box()["width"] <= 320, path
            assert page.evaluate("document.documentElement.scrollWidth") <= 320, path


def test_json_documents_have_one_etag_whatever_the_language(live_server):
    """The JSON listing and the OpenAPI document hold both languages: same bytes, same ETag
    (a cache revalidating with another Accept-Language got a 200 for nothing)."""
    for path in ("/api/openapi.json", "/api/queries"):
        french, english = (requests.get(f"{live_server.url}{path}", headers={"Accept-Language": lang,
                                                                              "Accept": "application/json"},
                                        timeout=60) for lang in ("fr", "en"))
        assert french.content == english.content
        assert french.headers["ETag"] == english.headers["ETag"]
    pages = [requests.get(f"{live_server.url}/queries", params={"lang": lang}, timeout=60) for lang in ("fr", "en")]
    assert pages[0].headers["ETag"] != pages[1].headers["ETag"]


def test_a_form_submitted_with_a_required_field_empty_is_a_400_on_the_form(live_server):
    """The form's first view (no parameter) is a 200; the same form sent back with its
    required field left empty is refused (as every other format refuses it) and shown again
    with the message — it was a 200 without a word, as if nothing had been sent."""
    url = f"{live_server.url}/api/queries/reporting-chain-below"
    first = requests.get(url, params={"format": "html"}, timeout=30)
    assert first.status_code == 200 and 'name="top"' in first.text
    sent = requests.get(url, params={"format": "html", "top": ""}, timeout=30)
    assert sent.status_code == 400
    assert 'name="top"' in sent.text and 'role="alert"' in sent.text
    alert = sent.text.split('role="alert"', 1)[1].split("</p>", 1)[0]
    assert "top" in alert
    assert requests.get(url, params={"format": "json", "top": ""}, timeout=30).status_code == 400
