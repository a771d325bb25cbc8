"""Content negotiation on /sparql: every result format both ways (served, parsed
back, compared), q-values and wildcards, ``format=``, 406 and ``Vary``."""

from __future__ import annotations

import io
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs

import pyoxigraph as ox
import pytest
import rdflib
import requests

from ssikg import protocol

SELECT = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?s ?label WHERE { GRAPH ?g { ?s rdfs:label ?label } } ORDER BY ?s ?label LIMIT 40"""
CONSTRUCT = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
CONSTRUCT { ?s rdfs:label ?label } WHERE { ?s rdfs:label ?label FILTER(isIRI(?s)) }
ORDER BY ?s LIMIT 60"""


def get(live_server, query, accept=None, **params):
    headers = {"Accept": accept} if accept is not None else {}
    return requests.get(f"{live_server.url}/sparql", params={"query": query, **params},
                        headers=headers, timeout=60)


def media(response) -> str:
    return response.headers["Content-Type"].split(";")[0].strip()


@pytest.fixture(scope="module")
def reference_rows(live_server):
    r = get(live_server, SELECT, "application/sparql-results+json")
    rows = list(ox.parse_query_results(r.content, ox.QueryResultsFormat.JSON))
    assert len(rows) == 40
    return [tuple(row[v] for v in ("s", "label")) for row in rows]


@pytest.mark.parametrize("accept,fmt", [
    ("application/sparql-results+xml", ox.QueryResultsFormat.XML),
    ("text/tab-separated-values", ox.QueryResultsFormat.TSV),
    ("application/sparql-results+json", ox.QueryResultsFormat.JSON),
])
def test_select_formats_parse_back_to_the_same_rows(live_server, reference_rows, accept, fmt):
    r = get(live_server, SELECT, accept)
    assert r.status_code == 200 and media(r) == accept
    assert r.headers["Vary"].startswith("Accept")
    rows = [tuple(row[v] for v in ("s", "label"))
            for row in ox.parse_query_results(r.content, fmt)]
    assert rows == reference_rows


def test_select_csv_parses_back_to_the_same_values(live_server, reference_rows):
    import csv

    r = get(live_server, SELECT, "text/csv")
    assert media(r) == "text/csv"
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    assert table[0] == ["s", "label"]
    assert [tuple(row) for row in table[1:]] == [(s.value, lbl.value) for s, lbl in reference_rows]


@pytest.mark.parametrize("accept,fmt", [
    ("application/sparql-results+json", ox.QueryResultsFormat.JSON),
    ("application/sparql-results+xml", ox.QueryResultsFormat.XML),
])
def test_ask_formats(live_server, accept, fmt):
    for query, expected in (("ASK { ?s ?p ?o }", True), ("ASK { <urn:nothing> ?p ?o }", False)):
        r = get(live_server, query, accept)
        assert media(r) == accept
        assert bool(ox.parse_query_results(r.content, fmt)) is expected


def _triples(data: bytes, fmt: ox.RdfFormat) -> set:
    return {(q.subject, q.predicate, q.object) for q in ox.parse(data, fmt)}


@pytest.fixture(scope="module")
def reference_triples(live_server):
    r = get(live_server, CONSTRUCT, "application/n-triples")
    triples = _triples(r.content, ox.RdfFormat.N_TRIPLES)
    assert len(triples) == 60
    return triples


@pytest.mark.parametrize("accept,fmt", [
    ("text/turtle", ox.RdfFormat.TURTLE),
    ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    ("application/n-quads", ox.RdfFormat.N_QUADS),
    ("application/trig", ox.RdfFormat.TRIG),
    ("application/ld+json", ox.RdfFormat.JSON_LD),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML),
])
def test_construct_formats_parse_back_to_the_same_graph(live_server, reference_triples, accept, fmt):
    r = get(live_server, CONSTRUCT, accept)
    assert r.status_code == 200 and media(r) == accept
    assert _triples(r.content, fmt) == reference_triples


def test_construct_turtle_also_parses_with_rdflib(live_server, reference_triples):
    turtle = get(live_server, CONSTRUCT, "text/turtle").text
    graph = rdflib.Graph().parse(data=turtle, format="turtle")
    assert len(graph) == len(reference_triples)
    # written with the project's prefixes, so that a reader sees id:dcis, not the full IRI
    body = [line for line in turtle.splitlines() if not line.startswith("@prefix")]
    assert "@prefix ssikg: <https://w3id.org/ssikg/ontology#> ." in turtle
    assert "ssikg:" in "\n".join(body) and not [line for line in body if "<https://w3id.org/ssikg/" in line]


def test_defaults_without_accept(live_server):
    assert media(get(live_server, SELECT, "")) == "application/sparql-results+json"
    assert media(get(live_server, CONSTRUCT, "")) == "text/turtle"
    assert media(get(live_server, SELECT, "*/*")) == "application/sparql-results+json"
    assert media(get(live_server, CONSTRUCT, "*/*")) == "text/turtle"


@pytest.mark.parametrize("query,accept,expected", [
    (SELECT, "text/csv;q=0.5, application/sparql-results+xml", "application/sparql-results+xml"),
    (SELECT, "application/sparql-results+json;q=0.1, text/tab-separated-values;q=0.9",
     "text/tab-separated-values"),
    (SELECT, "text/*", "text/csv"),
    (SELECT, "application/sparql-results+json;q=0, */*;q=0.1", "application/sparql-results+xml"),
    (SELECT, "application/json", "application/sparql-results+json"),
    (SELECT, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),  # a browser
    (SELECT, "text/html;q=0.5, application/sparql-results+xml", "application/sparql-results+xml"),
    (CONSTRUCT, "application/rdf+xml;q=0.3, application/n-triples;q=0.6", "application/n-triples"),
    (CONSTRUCT, "text/*;q=0.2, application/ld+json;q=0.1", "text/turtle"),
    (CONSTRUCT, "application/json", "application/ld+json"),
    (CONSTRUCT, "text/turtle;q=0, */*;q=0.5", "application/n-triples"),
])
def test_q_values_and_wildcards(live_server, query, accept, expected):
    r = get(live_server, query, accept)
    assert r.status_code == 200, r.text
    assert media(r) == expected


@pytest.mark.parametrize("value,query,expected", [
    ("json", SELECT, "application/sparql-results+json"), ("xml", SELECT, "application/sparql-results+xml"),
    ("csv", SELECT, "text/csv"), ("tsv", SELECT, "text/tab-separated-values"),
    ("ttl", CONSTRUCT, "text/turtle"), ("nt", CONSTRUCT, "application/n-triples"),
    ("nq", CONSTRUCT, "application/n-quads"), ("trig", CONSTRUCT, "application/trig"),
    ("jsonld", CONSTRUCT, "application/ld+json"), ("rdf", CONSTRUCT, "application/rdf+xml"),
    ("text/csv", SELECT, "text/csv"),
])
def test_format_parameter_overrides_accept(live_server, value, query, expected):
    r = get(live_server, query, "application/sparql-results+xml, application/rdf+xml", format=value)
    assert r.status_code == 200, r.text
    assert media(r) == expected


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_gets_the_answer_as_a_page(live_server):
    """A link to /sparql?query=… (entity pages have one) or the no-JavaScript form: a table
    with links to the entity pages, not a file to download."""
    query = ("PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT ?unit ?label WHERE { "
             "VALUES ?unit { <https://w3id.org/ssikg/id/dcis> } ?unit skos:prefLabel ?label }")
    page = get(live_server, query, BROWSER, lang="en")
    assert page.status_code == 200 and media(page) == "text/html"
    assert "Accept" in page.headers["Vary"] and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert '<th scope="col">unit</th>' in html and '<a href="/id/dcis?lang=en"' in html
    assert '<td lang="fr">direction de la coopération internationale de sécurité' in html
    assert "format=csv" in html  # the same answer to download
    assert media(get(live_server, query, "", format="html")) == "text/html"
    assert "<code>true</code>" in get(live_server, "ASK { ?s ?p ?o }", BROWSER).text
    triples = get(live_server, CONSTRUCT, BROWSER).text
    assert '<th scope="col">predicate</th>' in triples and "format=ttl" in triples


@pytest.mark.parametrize("accept,page", [
    ("application/json, text/html;q=0.9", False),  # a data type ranked above: data
    ("application/xml, text/html;q=0.9", False),  # an alias of a result format counts too
    ("text/html, application/sparql-results+json", False),  # a tie: data, whatever the order
    ("text/html, application/sparql-results+json;q=0.9", True),
])
def test_a_page_only_when_html_ranks_above_every_data_format(live_server, accept, page):
    r = get(live_server, "ASK { ?s ?p ?o }", accept)
    assert r.status_code == 200 and (media(r) == "text/html") is page


def test_a_page_rather_than_406_when_html_is_all_that_is_left(live_server):
    r = get(live_server, "ASK { ?s ?p ?o }", "text/turtle, text/html;q=0.5")  # no Turtle for ASK
    assert r.status_code == 200 and media(r) == "text/html" and "<code>true</code>" in r.text
    assert get(live_server, "ASK { ?s ?p ?o }", "text/turtle").status_code == 406


def test_a_page_of_results_stops_at_its_row_limit(make_app, serve_app):
    server = serve_app(make_app(max_rows=3))
    html = get(server, "SELECT * WHERE { ?s ?p ?o }", BROWSER, lang="en").text
    assert html.count("<tr>") == 1 + 3 and "Only the first 3 rows are shown" in html


def test_format_parameter_in_a_form_post(live_server):
    r = requests.post(f"{live_server.url}/sparql", data={"query": SELECT, "format": "tsv"}, timeout=60)
    assert media(r) == "text/tab-separated-values"


def test_unknown_format_parameter_is_400(live_server):
    r = get(live_server, SELECT, None, format="yaml")
    assert r.status_code == 400 and "unknown format" in r.json()["message"]


def test_format_for_the_wrong_kind_is_406(live_server):
    r = get(live_server, SELECT, None, format="ttl")
    assert r.status_code == 406
    assert "application/sparql-results+json" in r.json()["offered"]


def test_nothing_acceptable_is_406_listing_offers(live_server):
    r = get(live_server, SELECT, "image/png")
    assert r.status_code == 406
    body = r.json()
    assert body["status"] == 406 and "text/csv" in body["message"]
    assert set(protocol.offered(protocol.SOLUTIONS_FORMATS)) <= set(body["offered"])
    r = get(live_server, CONSTRUCT, "application/sparql-results+json")
    assert r.status_code == 406 and "text/turtle" in r.json()["offered"]


def test_a_graph_the_format_cannot_hold_is_400_not_500(live_server):
    """JSON-LD has no RDF 1.2 triple terms: the engine refuses to write them, which is what
    the request asks, not a fault of the server; Turtle writes the same graph."""
    quoted = "CONSTRUCT { <urn:s> <urn:p> <<( <urn:a> <urn:b> <urn:c> )>> } WHERE {}"
    r = get(live_server, quoted, "application/ld+json")
    assert r.status_code == 400, r.text
    assert "JSON-LD" in r.json()["message"]
    assert get(live_server, quoted, "text/turtle").status_code == 200


def test_negotiate_prefers_our_order_on_ties():
    chosen = protocol.negotiate("text/csv, application/sparql-results+json", protocol.SOLUTIONS_FORMATS)
    assert chosen.short == "csv"  # client order breaks ties between equally weighted types
    assert protocol.negotiate("*/*", protocol.GRAPH_FORMATS).short == "ttl"
    assert protocol.negotiate("text/plain", protocol.GRAPH_FORMATS, protocol.GRAPH_ALIASES).short == "nt"
    assert protocol.negotiate("text/plain", protocol.SOLUTIONS_FORMATS, protocol.SOLUTIONS_ALIASES) is None


# ---------------------------------------------------------------------------
# One negotiation rule for every route (protocol.best_offer)


@pytest.mark.parametrize("accept,sparql,entity,report", [
    # equal weights: the range the client wrote first wins, on every route alike
    ("application/ld+json, text/turtle", "application/ld+json", "jsonld", "application/ld+json"),
    ("text/turtle, application/ld+json", "text/turtle", "ttl", "text/turtle"),
    ("application/n-triples;q=0.9, application/rdf+xml;q=0.5", "application/n-triples", "nt",
     "application/n-triples"),
])
def test_one_accept_header_gets_the_same_choice_from_every_route(live_server, accept, sparql, entity, report):
    answer = get(live_server, CONSTRUCT, accept)
    assert media(answer) == sparql
    redirect = requests.get(f"{live_server.url}/id/dcis", headers={"Accept": accept}, allow_redirects=False,
                            timeout=60)
    assert redirect.status_code == 303 and redirect.headers["Location"].endswith("/id/dcis." + entity)
    validated = requests.get(f"{live_server.url}/validate", headers={"Accept": accept}, timeout=120)
    assert validated.status_code == 200 and media(validated) == report


def test_an_alias_counts_only_when_named():
    offers = (("html", "text/html"), ("ttl", "text/turtle"))
    aliases = (("nt", "text/plain"),)
    assert protocol.best_offer("text/*", offers, aliases) == "html"
    assert protocol.best_offer("text/plain", offers, aliases) == "nt"
    assert protocol.best_offer("image/png", offers, aliases) is None
    assert protocol.best_offer(None, offers, aliases) == "html"  # no header: our first offer


def test_choose_representation_names_the_choices():
    offers = (("a", "text/turtle"), ("b", "application/ld+json"))
    names = {"ttl": "a", "jsonld": "b"}
    assert protocol.choose_representation("text/turtle", " JSONLD ", offers, names) == "b"
    with pytest.raises(protocol.SsikgError) as unknown:
        protocol.choose_representation(None, "png", offers, names)
    assert unknown.value.status == 400 and "jsonld, ttl" in unknown.value.message
    with pytest.raises(protocol.SsikgError) as refused:
        protocol.choose_representation("image/png", None, offers, names, what=" of the thing")
    assert refused.value.status == 406
    assert refused.value.message.endswith("of the thing; offered: text/turtle, application/ld+json")


@pytest.mark.parametrize("accept,kind", [
    (None, "application/json"), ("*/*", "application/json"), ("text/html", "text/html"),
    ("text/plain", "text/plain"), ("text/html, text/plain", "text/html"), ("text/plain, text/html", "text/plain"),
    ("text/html;q=0.5, application/json", "application/json"), ("application/json, text/html", "application/json"),
])
def test_errors_answer_json_unless_html_or_text_rank_above_it(live_server, accept, kind):
    headers = {"Accept": accept} if accept else {}
    response = requests.get(f"{live_server.url}/no/such/route", headers=headers, timeout=60)
    assert response.status_code == 404
    assert media(response) == kind


# ---------------------------------------------------------------------------
# The results page's links: each a GET link while short, a POST form past 8,000 bytes


class _Sends(HTMLParser):
    """The links and buttons of a page: {text: ("get", href) or ("post", action, fields)}, a
    button sending the fields of the form it names (``form=``) and its own name and value."""

    def __init__(self):
        super().__init__()
        self.links, self.buttons, self.forms = {}, {}, {}
        self._href, self._button, self._form, self._text = None, None, None, ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self._href, self._text = attrs.get("href"), ""
        elif tag == "form" and attrs.get("id"):
            self._form = self.forms[attrs["id"]] = (attrs["action"], [])
        elif tag == "input" and self._form and attrs.get("type") == "hidden":
            self._form[1].append((attrs["name"], attrs["value"]))
        elif tag == "button" and attrs.get("form"):
            self._button, self._text = attrs, ""

    def handle_data(self, data):
        self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links[self._text.strip()] = ("get", self._href)
            self._href = None
        elif tag == "button" and self._button:
            self.buttons[self._text.strip()] = self._button
            self._button = None
        elif tag == "form":
            self._form = None

    def sends(self) -> dict:
        sends = dict(self.links)
        for text, button in self.buttons.items():
            action, fields = self.forms[button["form"]]
            choice = [(button["name"], button["value"])] if button.get("name") else []
            sends[text] = ("post", button.get("formaction") or action, fields + choice)
        return sends


def sends_of(html: str) -> dict:
    parser = _Sends()
    parser.feed(html)
    return parser.sends()


def follow(live_server, send, accept=BROWSER):
    if send[0] == "get":
        return requests.get(live_server.url + send[1], headers={"Accept": accept}, timeout=60)
    return requests.post(live_server.url + send[1], data=send[2], headers={"Accept": accept}, timeout=60)


LONG_ASK = "ASK { ?s ?p ?o }\n# " + "x" * 9000  # over 8 KB: a GET of it is a 414 in production


def test_long_query_pages_post_their_other_formats_and_open_the_editor_by_fragment(live_server):
    html = requests.post(f"{live_server.url}/sparql", data={"query": LONG_ASK},
                         headers={"Accept": BROWSER}, timeout=60).text
    assert html.count("x" * 9000) == 3  # once in the form, once shown, once in the editor link
    sends = sends_of(html)
    assert sends["csv"][:2] == ("post", "/sparql")
    assert ("query", LONG_ASK) in sends["csv"][2] and ("format", "csv") in sends["csv"][2]
    r = follow(live_server, sends["json"])
    assert r.status_code == 200 and r.json()["boolean"] is True
    editor = re.search(r'href="/query#(query=[^"]+)"', html)  # the page's script reads the fragment
    assert editor and parse_qs(unescape(editor.group(1)))["query"] == [LONG_ASK]
    assert all(len(s[1].partition("#")[0]) <= 8000 for s in sends.values() if s[0] == "get")
    short = sends_of(get(live_server, "ASK { ?s ?p ?o }", BROWSER).text)
    assert short["csv"][0] == "get" and "format=csv" in short["csv"][1]
    assert follow(live_server, short["csv"], "*/*").text.strip().endswith("true")


def test_a_graph_page_offers_every_graph_format_the_endpoint_serves(live_server):
    sends = sends_of(get(live_server, CONSTRUCT, BROWSER).text)
    assert {"ttl", "trig", "nt", "nq", "jsonld", "rdf"} <= set(sends)
    nquads = follow(live_server, sends["nq"], "*/*")
    assert media(nquads) == "application/n-quads" and len(ox.Dataset(ox.parse(
        nquads.content, ox.RdfFormat.N_QUADS))) > 0
    assert media(follow(live_server, sends["trig"], "*/*")) == "application/trig"


@pytest.mark.parametrize("query", [SELECT, SELECT + "\n# " + "x" * 9000], ids=["short", "long"])
def test_the_language_switch_of_a_posted_page_asks_the_query_again(live_server, query):
    page = requests.post(f"{live_server.url}/sparql?lang=fr", data={"query": query},
                         headers={"Accept": BROWSER}, timeout=60)
    assert page.headers["Content-Language"] == "fr"
    english = sends_of(page.text)["en"]
    assert english[0] == ("get" if len(query) < 8000 else "post")
    r = follow(live_server, english)
    assert r.status_code == 200 and r.headers["Content-Language"] == "en"
    assert "<h1>Results</h1>" in r.text and "40 rows" in r.text


def test_the_query_pages_plain_form_keeps_the_page_language(live_server):
    page = requests.get(f"{live_server.url}/query", params={"lang": "en"},
                        headers={"Accept": BROWSER, "Accept-Language": "fr"}, timeout=30).text
    action = re.search(r'<form id="plain-form" method="post" action="([^"]+)"', page).group(1)
    r = requests.post(live_server.url + action.replace("&amp;", "&"), data={"query": SELECT},
                      headers={"Accept": BROWSER, "Accept-Language": "fr"}, timeout=60)
    assert r.headers["Content-Language"] == "en" and "<h1>Results</h1>" in r.text


@pytest.mark.parametrize("accept,media", [
    ("application/xml", "application/sparql-results+xml"),
    ("text/xml", "application/sparql-results+xml"),
    ("application/xml, text/html;q=0.5", "application/sparql-results+xml"),  # a script, not a page
])
def test_stored_queries_take_the_result_aliases_sparql_takes(live_server, accept, media):
    stored = requests.get(f"{live_server.url}/api/queries/cq01-hosted-service-name", headers={"Accept": accept},
                          timeout=60)
    assert stored.status_code == 200 and stored.headers["Content-Type"].startswith(media), stored.text[:200]
    assert media_of(get(live_server, SELECT, accept)) == media


def media_of(response) -> str:
    assert response.status_code == 200, response.text[:200]
    return media(response)


@pytest.mark.parametrize("accept", [";;;", "text/turtle;q=abc", "text/turtle;q=nan"])
def test_an_unreadable_accept_header_is_read_leniently(live_server, accept):
    """RFC 9110 lets a server ignore what it cannot parse: no range read is */*, a bad q is 1."""
    redirect = requests.get(f"{live_server.url}/id/dcis", headers={"Accept": accept}, allow_redirects=False,
                            timeout=60)
    assert redirect.status_code == 303
    answer = get(live_server, CONSTRUCT, accept)
    assert answer.status_code == 200
    if "turtle" in accept:
        assert media(answer) == "text/turtle" and redirect.headers["Location"].endswith(".ttl")
