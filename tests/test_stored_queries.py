"""Stored queries (queries/*.rq) as a web API, over a real server on loopback.

* every file loads, its header is checked, and it runs through the API with its
  example parameters; the competency queries give the answers competency.md
  expects (the expectations of tests/test_competency.py, applied to what the
  API returns), the analyst queries give the rows checked here;
* typed binding: each parameter type converts to the right RDF term, and the
  VALUES-block binding (for backends without substitutions) gives the same
  answers as pyoxigraph's substitutions;
* hostile values (quotes, braces, ``} UNION {`` fragments, IRIs with spaces or
  ``>``, 100 kB strings, non-UTF-8 percent-encodings) are refused with a 400
  naming the parameter, or matched literally — the value comes back unchanged
  in its projected column and never alters the query — bound by substitutions
  (embedded store) and by the VALUES block over a real ``oxigraph serve`` backend;
* formats, content negotiation, pagination with Link headers, HTML pages,
  start-up and ``ssikg queries check`` reporting broken files with file:line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import textwrap

import hypothesis
import pyoxigraph as ox
import pytest
import requests
import test_competency as competency
from conftest import LiveServer, require_tool, run_cli
from hypothesis import strategies as st

from ssikg.settings import PROJECT_ROOT
from ssikg.stored_queries import (
    IRI_PATTERN,
    Param,
    ParamError,
    QueryFileError,
    check_dir,
    list_for_links,
    load_all,
    with_values,
)

QUERY_DIR = PROJECT_ROOT / "queries"
QUERIES, PROBLEMS = check_dir(QUERY_DIR)
ID = "https://w3id.org/ssikg/id/"
CONCEPT = ID + "concept/"
SSIKG = "https://w3id.org/ssikg/ontology#"
ORG = "http://www.w3.org/ns/org#"


def api(server, name: str, params=None, headers=None, suffix: str = "") -> requests.Response:
    return requests.get(f"{server.url}/api/queries/{name}{suffix}", params=params, headers=headers,
                        timeout=60)


def srj_rows(response: requests.Response):
    """SPARQL JSON results as test_competency's run() returns them: dicts of lexical values
    (None when unbound), or a bool for ASK."""
    document = response.json()
    if "boolean" in document:
        return document["boolean"]
    names = document["head"]["vars"]
    return [{n: (b[n]["value"] if n in b else None) for n in names}
            for b in document["results"]["bindings"]]


def json_dicts(body: dict) -> list[dict]:
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def assert_bad_parameter(response: requests.Response, parameter: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter and f"'{parameter}'" in body["message"], body


# ---------------------------------------------------------------------------
# Every file: loads, header checked, runs with its examples


def test_every_query_file_loads_without_problems():
    files = sorted(p.stem for p in QUERY_DIR.glob("*.rq"))
    assert [str(p) for p in PROBLEMS] == []  # neither errors nor warnings
    assert sorted(QUERIES) == files
    assert len(files) >= 40


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_header_is_complete_and_bilingual(name):
    query = QUERIES[name]
    for key in ("title", "title_fr", "description", "description_fr"):
        assert getattr(query, key).strip(), key
    assert query.title != query.title_fr  # really translated
    assert query.tags
    for param in query.params:
        assert param.type in ("iri", "string", "integer", "date", "enum")
        assert param.description
        if name in ANALYST_EXPECTATIONS and name != "reporting-chain-above":  # ours: bilingual
            assert param.description_fr
        assert param.sample is not None
        param.convert(param.sample)  # the documented example is valid
        # grlc variables (?_kind_iri) are bound by a VALUES block: they need no projection
        assert param.name in query.variables or query.kind != "select" or param.by_values
    if name.startswith("cq"):
        assert query.competency == "CQ" + name[2:4] and "competency" in query.tags


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_runs_through_the_api_with_its_examples(live_server, name):
    query = QUERIES[name]
    response = api(live_server, name, query.sample_values())
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["query"] == name and body["truncated"] is False
    assert isinstance(body["query_ms"], (int, float)) and body["query_ms"] >= 0
    assert body["parameters"] == query.sample_values()
    if query.kind == "select":
        assert body["columns"] == list(query.variables)
        assert all(len(row) == len(body["columns"]) for row in body["rows"])
    if query.competency:
        answer = srj_rows(api(live_server, name, query.sample_values(), suffix=".srj"))
        competency.EXPECTED[query.competency](answer)
    else:
        assert name in ANALYST_EXPECTATIONS, f"no expectation for {name}"
        ANALYST_EXPECTATIONS[name](json_dicts(body))


def test_competency_queries_are_all_served():
    served = {q.competency for q in QUERIES.values() if q.competency}
    assert served == set(competency.COMPETENCY_IDS)


def _labels(rows, column):
    return {r[column] for r in rows if r[column] is not None}


def _organisation_posts(rows):
    assert _labels(rows, "postLabel") == {
        "attaché de sécurité intérieure", "Volontaire international en administration",
        "officier de liaison pour le Benelux en matière de criminalité organisée"}
    assert _labels(rows, "organisationLabel") == {"service de sécurité intérieure de Belgique"}
    assert _labels(rows, "holder") == set()  # no holder is named on the page


def _reporting_chain_above(rows):
    assert {r["graph"] for r in rows} == {"https://w3id.org/ssikg/graph/stated"}
    assert {(r["aboveLabel"], r["aboveKind"]) for r in rows} == {
        ("police nationale", "organisation"), ("gendarmerie nationale", "organisation"),
        ("directeur général de la police nationale", "post"),
        ("directeur général de la gendarmerie nationale", "post")}


def _reporting_chain_below(rows):
    # the page states assistance; the reporting line read from it is derived, and says so
    assert {(r["below"], r["link"], r["graph"]) for r in rows} == {
        (ID + "post-ol-benelux", ORG + "reportsTo", "https://w3id.org/ssikg/graph/derived"),
        (ID + "post-via-be", ORG + "reportsTo", "https://w3id.org/ssikg/graph/derived")}


def _units_by_theme(rows):
    assert {(r["holderLabel"], r["via"].rsplit("#")[-1], r["matchedLabel"]) for r in rows} == {
        ("attaché de sécurité intérieure", "cooperationAxis", "criminalité organisée"),
        ("officier de liaison pour le Benelux en matière de criminalité organisée",
         "thematicRemit", "criminalité organisée"),
        ("direction de la coopération internationale de sécurité", "priorityAxis",
         "criminalité organisée transnationale"),  # narrower than the theme asked for
    }
    assert _labels(rows, "unitLabel") == {"service de sécurité intérieure de Belgique"}


def _statement_provenance(rows):
    assert len(rows) == 1
    row = rows[0]
    assert (row["object"], row["factId"], row["graph"]) == (
        CONCEPT + "statut-diplomatique", "F6", "https://w3id.org/ssikg/graph/stated")
    assert "statut diplomatique" in row["quote"]


def _network_statistics(rows):
    by_measure = {r["measure"].rsplit("#")[-1]: r for r in rows}
    assert set(by_measure) == {"embassyCount", "personnelCount", "countryCoverage", "continentCount"}
    assert by_measure["embassyCount"]["exact"] == 74
    assert by_measure["continentCount"]["exact"] == 5
    # lower bounds stay lower bounds: no exact value, the bound and the wording
    assert (by_measure["personnelCount"]["exact"], by_measure["personnelCount"]["exclusiveLowerBound"],
            by_measure["personnelCount"]["isExact"], by_measure["personnelCount"]["verbatim"]) == (
        None, 300, False, "plus de 300")
    assert by_measure["countryCoverage"]["exclusiveLowerBound"] == 152


def _posts_by_role(rows):
    assert {(r["postLabel"], r["organisationLabel"], r["network"]) for r in rows} == {
        ("attaché de sécurité intérieure", "service de sécurité intérieure de Belgique", None),
        (None, None, ID + "reseau-ssi")}


def _label_search(rows):
    labels = [r["label"] for r in rows]
    assert "réseau des services de sécurité intérieure" in labels
    assert all("sécurité intérieure" in label.lower() for label in labels)
    assert {r["labelLanguage"] for r in rows} == {"fr"}
    assert labels == sorted(labels)
    assert {r["text"] for r in rows} == {"sécurité intérieure"}  # the bound value, unchanged


def _sources_published_since(rows):
    assert [(r["page"], r["issued"], r["statements"]) for r in rows] == [(ID + "page", "2024-02-08", 79)]


def _organisations_by_kind(rows):
    # grlc style: ?_kind_iri takes its default (directorate-general), bound by a VALUES block
    assert [(r["organisationLabel"], r["classification"]) for r in rows] == [
        (label, CONCEPT + "type-direction-generale") for label in (
            "direction générale de la sécurité civile",
            "direction générale des collectivités locales",
            "direction générale des étrangers en France")]


ANALYST_EXPECTATIONS = {
    "organisation-posts": _organisation_posts,
    "reporting-chain-above": _reporting_chain_above,
    "reporting-chain-below": _reporting_chain_below,
    "units-by-theme": _units_by_theme,
    "statement-provenance": _statement_provenance,
    "network-statistics": _network_statistics,
    "posts-by-role": _posts_by_role,
    "label-search": _label_search,
    "sources-published-since": _sources_published_since,
    "organisations-by-kind": _organisations_by_kind,
}


def test_other_parameter_values_change_the_answer(live_server):
    dcis = api(live_server, "organisation-posts", {"organisation": "id:police-nationale"}).json()
    assert [r[3] for r in dcis["rows"]] == ["directeur général de la police nationale"]
    later = api(live_server, "sources-published-since", {"since": "2024-02-09"}).json()
    assert later["rows"] == []
    too_many = api(live_server, "sources-published-since", {"min_statements": "80"}).json()
    assert too_many["rows"] == []
    defaults = api(live_server, "sources-published-since").json()
    assert defaults["parameters"] == {"since": "2000-01-01", "min_statements": "0"}
    assert len(defaults["rows"]) == 1
    everything = api(live_server, "statement-provenance", {"subject": ID + "post-asi-be"}).json()
    assert len(everything["rows"]) > 5 and "predicate" not in everything["parameters"]


# ---------------------------------------------------------------------------
# Typed binding


def test_each_type_converts_to_the_right_term():
    iri = Param("x", "iri")
    assert iri.convert("https://w3id.org/ssikg/id/dcis") == ox.NamedNode(ID + "dcis")
    assert iri.convert("id:dcis") == ox.NamedNode(ID + "dcis")  # project prefixes expand
    assert iri.convert("urn:isbn:123") == ox.NamedNode("urn:isbn:123")
    assert Param("x", "string").convert("a") == ox.Literal("a")
    assert Param("x", "string", lang="fr").convert("a") == ox.Literal("a", language="fr")
    xsd = "http://www.w3.org/2001/XMLSchema#"
    assert Param("x", "integer").convert("-42") == ox.Literal("-42", datatype=ox.NamedNode(xsd + "integer"))
    assert Param("x", "integer").convert("+007") == ox.Literal("7", datatype=ox.NamedNode(xsd + "integer"))
    assert Param("x", "date").convert("2024-02-08") == ox.Literal(
        "2024-02-08", datatype=ox.NamedNode(xsd + "date"))
    assert Param("x", "enum", values=("fr", "en")).convert("fr") == ox.Literal("fr")
    themed = Param("x", "enum", values=("terror",), value_iris={"terror": CONCEPT + "terrorisme"})
    assert themed.convert("terror") == ox.NamedNode(CONCEPT + "terrorisme")


@pytest.mark.parametrize(("kind", "value"), [
    ("iri", "relative/path"), ("iri", "http://a b"), ("iri", "http://x/>"), ("iri", "http://x/<y"),
    ("iri", 'http://x/"'), ("iri", "http://x/{y}"), ("iri", "http://x/|"), ("iri", "http://x/^"),
    ("iri", "http://x/`"), ("iri", "http://x/\\"), ("iri", "http://x/\n"), ("iri", "a:%zz"),
    ("iri", " http://x/"), ("iri", ""), ("string", "x" * 2001), ("string", "a\x00b"), ("string", ""),
    ("integer", "1.5"), ("integer", "1e3"), ("integer", "1 "), ("integer", "9" * 19), ("integer", "0x10"),
    ("integer", "1; DROP ALL"), ("date", "2024-02-30"), ("date", "2024-2-8"), ("date", "08/02/2024"),
    ("date", "2024-02-08T00:00:00"), ("enum", "de"), ("enum", "fr\" || \""),
])
def test_values_of_the_wrong_type_are_refused_naming_the_parameter(kind, value):
    param = Param("thing", kind, values=("fr", "en") if kind == "enum" else ())
    with pytest.raises(ParamError) as caught:
        param.convert(value)
    assert caught.value.parameter == "thing" and "'thing'" in caught.value.message


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
@hypothesis.given(st.from_regex(IRI_PATTERN, fullmatch=True))
def test_every_iri_the_published_pattern_allows_is_accepted(value):
    """The OpenAPI pattern is the server's rule: whatever matches it converts (so the
    documentation never promises what the server then refuses)."""
    assert isinstance(Param("x", "iri").convert(value), ox.NamedNode)


HOSTILE_STRINGS = [
    '"', "'", '\\', '"""', "'''", '"}', '} UNION { ?s ?p ?o }', '") || true || ("',
    '"@en . } } ; DROP ALL ; #', "\\u0022) } UNION { ?s ?p ?o", "a\nb\r\nc\td", "{ ?s ?p ?o }",
    "<http://example.org/x>", "#", "?text", "$language", "é€😀", "\u202e\u200b", "x" * 2000,
]


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_with_values_binds_any_string_as_one_literal(shared_app, hostile):
    """The VALUES binding (for backends without substitutions) keeps any text one literal."""
    store = shared_app.extensions["ssikg.store"]
    query = "SELECT ?text ?n WHERE { BIND(STRLEN(?text) AS ?n) }"
    for term in (ox.Literal(hostile), ox.Literal(hostile, language="fr")):
        rows = list(store.query(with_values(query, {"text": term})))
        assert len(rows) == 1 and rows[0]["text"] == term
        assert int(rows[0]["n"].value) == len(hostile)
        # rdflib (a second, independent SPARQL parser) reads the same single term
        from rdflib.plugins.sparql import prepareQuery

        prepareQuery(with_values(query, {"text": term}))


def test_with_values_refuses_what_cannot_be_one_term():
    query = "SELECT * WHERE { ?a ?p ?b }"
    assert with_values(query, {}) == query
    bound = with_values(query, {"a": ox.NamedNode(ID + "x"), "b": ox.Literal("1", datatype=ox.NamedNode(
        "http://www.w3.org/2001/XMLSchema#integer"))})
    assert bound == ("SELECT * WHERE { VALUES (?a ?b) "
                     f'{{ (<{ID}x> "1"^^<http://www.w3.org/2001/XMLSchema#integer>) }}\n ?a ?p ?b }}')
    with pytest.raises(ValueError):
        with_values(query, {"a b": ox.Literal("x")})
    with pytest.raises(ValueError):
        with_values(query, {"a": ox.BlankNode("b")})


@pytest.mark.parametrize("name", sorted(n for n, q in QUERIES.items() if q.params))
def test_values_block_and_substitutions_give_the_same_answer(shared_app, name):
    query = QUERIES[name]
    store = shared_app.extensions["ssikg.store"]
    substitutions, _used = query.bind(query.sample_values())

    def rows(result):
        return sorted(tuple(str(s[v]) if s[v] is not None else "" for v in result.variables)
                      for s in result)

    text, rest = query.executable(substitutions)  # as the API runs it (grlc variables: VALUES)
    assert rows(store.query(text, substitutions=rest)) == rows(
        store.query(with_values(query.text, substitutions)))


# ---------------------------------------------------------------------------
# Hostile values over HTTP


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_strings_are_matched_literally(live_server, hostile):
    response = api(live_server, "label-search", {"text": hostile})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parameters"] == {"text": hostile}
    # every row carries the bound value unchanged, and only labels that contain it
    for row in json_dicts(body):
        assert row["text"] == hostile and hostile.lower() in row["label"].lower()
    if hostile not in ("é€😀",):
        assert body["rows"] == []  # nothing in the graph contains these


def test_a_hostile_string_present_in_the_graph_is_found_exactly(make_app, serve_app):
    """Matched literally: a label holding SPARQL syntax is found by that very text."""
    app = make_app()
    weird = 'x"} UNION { ?s ?p ?o } #\\'
    store = app.extensions["ssikg.store"]
    store.add_triples("https://w3id.org/ssikg/graph/editorial", [ox.Triple(
        ox.NamedNode(ID + "weird"), ox.NamedNode("http://www.w3.org/2004/02/skos/core#altLabel"),
        ox.Literal(weird, language="en"))])
    server = serve_app(app)
    body = api(server, "label-search", {"text": weird}).json()
    assert [(r["entity"], r["label"]) for r in json_dicts(body)] == [(ID + "weird", weird)]
    assert api(server, "label-search", {"text": weird, "language": "fr"}).json()["rows"] == []


WEIRD_LABEL = 'x"} UNION { ?s ?p ?o } #\\'


@pytest.fixture(scope="module")
def values_server(built_store, tmp_path_factory):
    """The app over a real ``oxigraph serve`` (a copy of the built store, plus a label made
    of SPARQL syntax): a remote backend takes no substitutions, so the stored-query API binds
    parameters by the VALUES block of :func:`with_values`, the path these tests exercise."""
    from sparql_engines import OXIGRAPH, OxigraphServer

    from ssikg.app import create_app
    from ssikg.remote_store import RemoteStore

    require_tool(OXIGRAPH is not None, "oxigraph CLI (PyPI package oxigraph)")
    folder = tmp_path_factory.mktemp("values-backend")
    shutil.copytree(built_store.resolve(), folder / "store")
    with OxigraphServer(folder / "store" / "db") as engine:
        label = ox.Triple(ox.NamedNode(ID + "weird"), ox.NamedNode("http://www.w3.org/2004/02/skos/core#altLabel"),
                          ox.Literal(WEIRD_LABEL, language="en"))
        requests.post(engine.store_url, params={"graph": "https://w3id.org/ssikg/graph/editorial"},
                      data=ox.serialize([label], format=ox.RdfFormat.N_TRIPLES),
                      headers={"Content-Type": "application/n-triples"}, timeout=30).raise_for_status()
        app = create_app({"backend": engine.query_url, "auto_build": False, "store": folder / "unused"})
        assert isinstance(app.extensions["ssikg.store"], RemoteStore)
        try:
            with LiveServer(app) as server:
                yield server
        finally:
            app.extensions["ssikg.store"].close()


@pytest.mark.parametrize("hostile", [*HOSTILE_STRINGS, WEIRD_LABEL], ids=range(len(HOSTILE_STRINGS) + 1))
def test_hostile_strings_bind_as_one_literal_through_the_values_path(values_server, live_server, hostile):
    """Over HTTP, through the VALUES binding a remote backend uses: the value comes back
    unchanged, matches only labels containing it, and the answer is the embedded store's
    (bound by substitutions) — apart from the one label only the engine holds."""
    response = api(values_server, "label-search", {"text": hostile})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parameters"] == {"text": hostile}
    for row in json_dicts(body):
        assert row["text"] == hostile and hostile.lower() in row["label"].lower()
    weird = [row for row in json_dicts(body) if row["entity"] == ID + "weird"]
    assert len(weird) == (hostile.lower() in WEIRD_LABEL.lower())
    embedded = api(live_server, "label-search", {"text": hostile}).json()
    entity = body["columns"].index("entity")
    assert [row for row in body["rows"] if row[entity] != ID + "weird"] == embedded["rows"]
    if hostile == WEIRD_LABEL:
        french = api(values_server, "label-search", {"text": hostile, "language": "fr"})
        assert french.status_code == 200 and french.json()["rows"] == []


@pytest.mark.parametrize("value", [
    "http://a b", "http://x/> . ?s ?p ?o . <http://y", "http://x/>", "<http://x/>", "http://x/{a}",
    'http://x/"', "not an iri", "", "http://x/\u00e9", "javascript:alert(1)<",
])
def test_hostile_iris_are_refused(live_server, value):
    assert_bad_parameter(api(live_server, "statement-provenance", {"subject": value}), "subject")


def test_very_long_values_are_refused(live_server):
    # 10 kB: past the string limit, refused by the API naming the parameter
    assert_bad_parameter(api(live_server, "label-search", {"text": "a" * 10_000}), "text")
    # 100 kB: past what the HTTP server reads as a request line (414, or the API's 400)
    huge = api(live_server, "label-search", {"text": "a" * 100_000})
    assert huge.status_code in (400, 414)
    long_iri = "https://w3id.org/ssikg/id/" + "a" * 5_000
    response = api(live_server, "statement-provenance", {"subject": long_iri})
    assert response.status_code == 200 and response.json()["rows"] == []  # a valid IRI: no match


@pytest.mark.parametrize("raw", ["%ff", "%c3%28", "%c0%af", "abc%80", "%ed%a0%80"])
def test_non_utf8_percent_encodings_are_refused(live_server, raw):
    response = requests.get(f"{live_server.url}/api/queries/label-search?text={raw}", timeout=30)
    assert_bad_parameter(response, "text")
    assert "UTF-8" in response.json()["message"]


def test_percent_encoded_utf8_is_decoded(live_server):
    response = requests.get(f"{live_server.url}/api/queries/label-search?text=S%C3%A9curit%C3%A9+"
                            "int%C3%A9rieure&language=fr", timeout=30)
    body = response.json()
    assert body["parameters"]["text"] == "Sécurité intérieure" and body["rows"]


@pytest.mark.parametrize(("name", "params", "parameter"), [
    ("label-search", {}, "text"),  # missing required
    ("label-search", {"text": "a", "txt": "b"}, "txt"),  # unknown
    ("network-statistics", {"x": "1"}, "x"),
    ("label-search", {"text": "a", "language": "de"}, "language"),
    ("label-search", {"text": "a", "language": ""}, "language"),
    ("sources-published-since", {"since": "2024-13-01"}, "since"),
    ("sources-published-since", {"min_statements": "1 OR 1=1"}, "min_statements"),
    ("label-search", {"text": "a", "limit": "0"}, "limit"),
    ("label-search", {"text": "a", "limit": "1001"}, "limit"),
    ("label-search", {"text": "a", "offset": "-1"}, "offset"),
    ("network-statistics", {"limit": "5"}, "limit"),  # not paginated
    ("network-statistics", {"format": "ttl"}, "format"),
])
def test_bad_parameters_are_400_naming_the_parameter(live_server, name, params, parameter):
    assert_bad_parameter(api(live_server, name, params), parameter)


def test_repeated_parameter_is_refused(live_server):
    response = requests.get(f"{live_server.url}/api/queries/label-search?text=a&text=b", timeout=30)
    assert_bad_parameter(response, "text")


def test_errors_come_in_the_clients_format(live_server):
    response = api(live_server, "label-search", {}, headers={"Accept": "text/csv, text/plain;q=0.9"})
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/plain")
    assert "text" in response.text
    missing = api(live_server, "no-such-query")
    assert missing.status_code == 404 and "no-such-query" in missing.json()["message"]


def test_hostile_requests_leave_the_store_unchanged(shared_app, live_server):
    store = shared_app.extensions["ssikg.store"]
    before = len(store)
    for hostile in HOSTILE_STRINGS:
        api(live_server, "label-search", {"text": hostile})
    api(live_server, "statement-provenance", {"subject": "http://x/> } ; DROP ALL ; <http://y"})
    assert len(store) == before


# ---------------------------------------------------------------------------
# Formats and content negotiation


def test_a_wrong_parameter_is_a_400_even_when_the_accept_is_unacceptable(live_server):
    r = api(live_server, "label-search", {}, headers={"Accept": "text/plain"})
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain") and "'text'" in r.text
    assert api(live_server, "label-search", {"text": "DCIS"}, headers={"Accept": "text/plain"}).status_code == 406


def test_suffixes_and_accept_choose_the_format(live_server):
    params = {"text": "DCIS"}
    csv_response = api(live_server, "label-search", params, suffix=".csv")
    assert csv_response.headers["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(csv_response.text)))
    assert table[0] == list(QUERIES["label-search"].variables) and len(table) > 1
    srj = api(live_server, "label-search", params, suffix=".srj")
    assert srj.headers["Content-Type"].startswith("application/sparql-results+json")
    assert srj.json()["head"]["vars"] == table[0]
    assert len(srj.json()["results"]["bindings"]) == len(table) - 1
    srx = api(live_server, "label-search", params, suffix=".srx")
    assert srx.headers["Content-Type"].startswith("application/sparql-results+xml")
    parsed = ox.parse_query_results(srx.content, ox.QueryResultsFormat.XML)
    assert len(list(parsed)) == len(table) - 1
    tsv = api(live_server, "label-search", params, suffix=".tsv")
    assert tsv.text.splitlines()[0] == "\t".join("?" + v for v in table[0])
    same = api(live_server, "label-search", {**params, "format": "csv"}, suffix=".csv")
    assert same.status_code == 200 and same.text == csv_response.text
    assert_bad_parameter(api(live_server, "label-search", {**params, "format": "bogus"}, suffix=".csv"), "format")
    assert_bad_parameter(api(live_server, "label-search", {**params, "format": "tsv"}, suffix=".csv"), "format")
    for accept, expected in [("text/csv", "text/csv"), ("application/sparql-results+xml",
                                                          "application/sparql-results+xml"),
                             ("text/tab-separated-values", "text/tab-separated-values"),
                             ("application/json;q=0.5, text/csv;q=0.9", "text/csv"),
                             ("*/*", "application/json"),
                             ("text/html,application/xhtml+xml,*/*;q=0.8", "text/html")]:
        response = api(live_server, "label-search", params, headers={"Accept": accept})
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(expected)
        assert "Accept" in response.headers["Vary"]
    assert api(live_server, "label-search", {**params, "format": "csv"},
               headers={"Accept": "application/json"}).headers["Content-Type"].startswith("text/csv")
    refused = api(live_server, "label-search", params, headers={"Accept": "image/png"})
    assert refused.status_code == 406 and "text/csv" in refused.json()["message"]


def test_ask_queries_answer_a_boolean(live_server):
    body = api(live_server, "cq27-ssi-or-asi-linked-to-dcis-not-stated").json()
    assert body["columns"] == ["boolean"] and body["rows"] == [[False]] and body["boolean"] is False
    srj = api(live_server, "cq27-ssi-or-asi-linked-to-dcis-not-stated", suffix=".srj").json()
    assert srj == {"head": {}, "boolean": False}


def test_list_of_queries(live_server):
    response = requests.get(live_server.url + "/api/queries", timeout=30)
    assert response.status_code == 200
    listed = {q["name"]: q for q in response.json()["queries"]}
    assert set(listed) == set(QUERIES)
    search = listed["label-search"]
    assert search["paginated"] is True and search["title_fr"] == "Recherche dans les libellés"
    assert [p["name"] for p in search["parameters"]] == ["text", "language"]
    assert search["parameters"][1]["values"] == ["fr", "en", "nl"]
    assert requests.get(live_server.url + search["url"], params={"text": "a"}, timeout=30).ok
    assert listed["cq05-who-assists-the-asi"]["competency"] == "CQ05"


# ---------------------------------------------------------------------------
# Pagination


def test_pages_with_link_headers_cover_the_whole_result(live_server):
    whole = api(live_server, "label-search", {"text": "e", "limit": "1000"}).json()
    assert whole["next_url"] is None and len(whole["rows"]) > 7
    seen, url, pages = [], f"{live_server.url}/api/queries/label-search?text=e&limit=3", 0
    while url:
        response = requests.get(url, timeout=30)
        body = response.json()
        assert body["limit"] == 3 and len(body["rows"]) <= 3
        seen += body["rows"]
        links = requests.utils.parse_header_links(response.headers["Link"])
        rels = {link["rel"]: link["url"] for link in links}
        assert "first" in rels and ("prev" in rels) == (pages > 0)
        assert rels.get("next") == body["next_url"]
        url = live_server.url + rels["next"] if "next" in rels else None
        pages += 1
    assert seen == whole["rows"] and pages == -(-len(seen) // 3)
    assert api(live_server, "label-search", {"text": "e"}).json()["limit"] == 100  # page_size


def test_pages_in_sparql_formats_carry_links_too(live_server):
    response = api(live_server, "label-search", {"text": "e", "limit": "2", "offset": "2"}, suffix=".srj")
    assert len(response.json()["results"]["bindings"]) == 2
    assert 'rel="next"' in response.headers["Link"] and 'rel="prev"' in response.headers["Link"]
    assert ".srj?" in response.headers["Link"]


def test_the_servers_row_cap_is_signalled_and_pages_continue_after_it(make_app, serve_app):
    server = serve_app(make_app(max_rows=3))
    cut = api(server, "statement-provenance", {"subject": ID + "post-asi-be"})
    assert cut.status_code == 200 and cut.headers["SSIKG-Truncated"] == "true"
    body = cut.json()
    assert body["truncated"] is True and len(body["rows"]) == 3
    page = api(server, "label-search", {"text": "e", "limit": "10"})
    assert page.json()["truncated"] is True and len(page.json()["rows"]) == 3
    assert page.json()["next_url"].endswith("limit=10&offset=3")  # nothing skipped
    srj = api(server, "statement-provenance", {"subject": ID + "post-asi-be"}, suffix=".srj").json()
    assert srj["ssikg:truncated"] is True and len(srj["results"]["bindings"]) == 3
    whole = api(server, "label-search", {"text": "e", "limit": "3"}).json()
    assert whole["truncated"] is False and whole["next_url"]  # the cap cut only the look-ahead row


@pytest.mark.parametrize("suffix,results_format", [
    (".srj", ox.QueryResultsFormat.JSON), (".srx", ox.QueryResultsFormat.XML), (".tsv", ox.QueryResultsFormat.TSV)])
def test_a_capped_result_is_a_valid_document_in_every_sparql_format(make_app, serve_app, suffix, results_format):
    """As on /sparql: cut, marked (header; a link where the format has one), and still parseable."""
    server = serve_app(make_app(max_rows=3))
    cut = api(server, "cq53-organisations-named", suffix=suffix)
    assert cut.status_code == 200, cut.text
    assert cut.headers["SSIKG-Truncated"] == "true"
    rows = list(ox.parse_query_results(cut.content, results_format))
    assert len(rows) == 3
    if suffix != ".tsv":
        assert b"urn:ssikg:truncated" in cut.content


# The suite runs again over a remote engine (tests/test_remote_rerun.py), whose data can change
# behind ssikg's back: there, answers carry no validator at all.
REMOTE = os.environ.get("SSIKG_TEST_BACKEND") == "oxigraph"


def assert_never_validated(response: requests.Response) -> None:
    assert response.status_code == 200 and "ETag" not in response.headers
    assert response.headers.get("Cache-Control", "no-store") == "no-store"


def test_stored_query_answers_revalidate_against_the_store_version(live_server):
    first = api(live_server, "cq05-who-assists-the-asi")
    if REMOTE:
        assert_never_validated(first)
        assert_never_validated(requests.get(live_server.url + "/api/queries", timeout=30))
        return
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.headers["Cache-Control"] == "public, no-cache"
    again = api(live_server, "cq05-who-assists-the-asi", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.content
    other = api(live_server, "cq05-who-assists-the-asi", suffix=".csv", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag  # another representation
    for path, accept in (("/api/queries", "application/json"), ("/api/queries", "text/html"),
                         ("/api/openapi.json", "application/json"), ("/queries/cq05-who-assists-the-asi", "text/html")):
        page = requests.get(live_server.url + path, headers={"Accept": accept}, timeout=30)
        assert page.status_code == 200 and page.headers.get("ETag"), path
        held = requests.get(live_server.url + path, headers={"Accept": accept, "If-None-Match": page.headers["ETag"]},
                            timeout=30)
        assert held.status_code == 304, path
    listing = requests.get(live_server.url + "/api/queries", headers={"Accept": "text/html"}, timeout=30)
    assert "Accept" in [v.strip() for v in listing.headers["Vary"].split(",")]  # one URL, two representations


def test_the_query_text_is_served_as_it_is_stored(live_server):
    listing = requests.get(live_server.url + "/api/queries", headers={"Accept": "application/json"}, timeout=30)
    entry = next(q for q in listing.json()["queries"] if q["name"] == "organisation-posts")
    text = requests.get(live_server.url + entry["sparql"], timeout=30)
    assert text.status_code == 200 and text.headers["Content-Type"] == "application/sparql-query"
    stored = (QUERY_DIR / "organisation-posts.rq").read_text(encoding="utf-8")
    assert text.text == stored
    assert requests.get(live_server.url + "/api/queries/no-such.rq", timeout=30).status_code == 404
    assert_bad_parameter(requests.get(live_server.url + entry["sparql"], params={"format": "json"}, timeout=30),
                         "format")


def test_a_write_changes_the_stored_query_etag(make_app, serve_app):
    app = make_app()
    server = serve_app(app)
    if REMOTE:
        assert_never_validated(api(server, "cq05-who-assists-the-asi"))
        return
    etag = api(server, "cq05-who-assists-the-asi").headers["ETag"]
    app.extensions["ssikg.store"].add_triples("https://w3id.org/ssikg/graph/editorial", [ox.Triple(
        ox.NamedNode(ID + "x"), ox.NamedNode("http://www.w3.org/2004/02/skos/core#altLabel"), ox.Literal("x"))])
    after = api(server, "cq05-who-assists-the-asi", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag


# ---------------------------------------------------------------------------
# HTML pages


def test_html_page_has_a_typed_form_and_runs_the_query(live_server):
    page = requests.get(f"{live_server.url}/queries/sources-published-since", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert 'name="since"' in html and 'type="date"' in html and 'type="number"' in html
    assert "<table class=\"results\">" in html and "2024-02-08" in html  # no required param: runs
    english = requests.get(f"{live_server.url}/queries/label-search", params={"lang": "en"}, timeout=30)
    assert "Search labels" in english.text and "<select" in english.text and "required" in english.text
    assert "<table class=\"results\">" not in english.text  # required input missing: form only
    run = requests.get(f"{live_server.url}/queries/label-search",
                       params={"text": "DCIS", "language": "", "lang": "fr"}, timeout=30)
    assert run.status_code == 200 and "Recherche dans les libellés" in run.text
    assert f">{ID}dcis</a>" in run.text
    assert 'href="/api/queries/label-search.csv?text=DCIS"' in run.text
    paged = requests.get(f"{live_server.url}/queries/label-search",
                         params={"text": "e", "limit": "5", "offset": "10"}, timeout=30)
    assert 'href="/api/queries/label-search.csv?text=e&amp;limit=5&amp;offset=10"' in paged.text
    bad = requests.get(f"{live_server.url}/queries/statement-provenance",
                       params={"subject": "http://a b"}, timeout=30)
    assert bad.status_code == 400 and "role=\"alert\"" in bad.text and "subject" in bad.text
    negotiated = api(live_server, "label-search", {"text": "DCIS"}, headers={"Accept": "text/html"})
    assert negotiated.headers["Content-Type"].startswith("text/html") and "<form" in negotiated.text


def test_html_index_lists_every_query(live_server):
    html = requests.get(f"{live_server.url}/queries", timeout=30).text
    for name in QUERIES:
        assert f'href="/queries/{name}"' in html


def test_list_for_links_gives_working_pages(shared_app, live_server):
    with shared_app.test_request_context("/"):
        links = list_for_links("en")
        french = dict((n, t) for n, t, _u in list_for_links("fr"))
    assert {name for name, _t, _u in links} == set(QUERIES)
    for name, title, url in links:
        assert title == QUERIES[name].title and french[name] == QUERIES[name].title_fr
        assert url == f"/queries/{name}"
    name, _title, url = links[0]
    assert requests.get(live_server.url + url, timeout=30).status_code == 200


def test_home_page_lists_the_stored_queries(live_server):
    html = requests.get(live_server.url + "/", headers={"Accept": "text/html"}, timeout=30).text
    assert "/queries/label-search" in html or "/api/queries/label-search" in html


# ---------------------------------------------------------------------------
# Broken files: start-up and the CLI report file:line


BROKEN = {
    "bad-yaml.rq": """\
        #+ title: Fine
        #+ description: colon: inside
        SELECT * WHERE { ?s ?p ?o }
        """,
    "bad-sparql.rq": """\
        #+ title: Broken SPARQL
        #+ title_fr: SPARQL cassé

        SELECT ?s WHERE {
          ?s ?p
        }
        """,
    "bad-param.rq": """\
        #+ title: Bad parameter
        #+ title_fr: Mauvais paramètre
        #+ params:
        #+   - name: who
        #+     type: iri
        #+     description: somebody
        #+     example: not an iri
        #+   - name: when
        #+     type: datetime
        SELECT ?who WHERE { ?who ?p ?when }
        """,
    "unprojected.rq": """\
        #+ title: Parameter outside the projection
        #+ title_fr: Paramètre hors projection
        #+ params:
        #+   - name: who
        #+     type: iri
        #+     description: somebody
        #+     example: https://w3id.org/ssikg/id/dcis
        SELECT ?p WHERE { ?who ?p ?o }
        """,
    "bound.rq": """\
        #+ title: BOUND on a parameter
        #+ title_fr: BOUND sur un paramètre
        #+ params:
        #+   - name: lang
        #+     type: string
        #+     description: reserved name
        #+     example: fr
        #+   - name: language
        #+     type: string
        #+     description: a language
        #+     example: fr
        SELECT ?language ?o WHERE { ?s ?p ?o FILTER(!BOUND(?language) || lang(?o) = ?language) }
        """,
}
EXPECTED_MESSAGES = [
    r"queries/bound\.rq:4: parameter name 'lang' is reserved",
    r"queries/bound\.rq:8: parameter 'language': BOUND\(\?language\) ignores the bound value",
    r"queries/bad-param\.rq:4: example: parameter 'who' must be an absolute IRI",
    r"queries/bad-param\.rq:8: parameter 'when': type must be one of iri, string",
    r"queries/bad-sparql\.rq:6: SPARQL syntax error",
    r"queries/bad-yaml\.rq:2: header is not valid YAML",
    r"queries/unprojected\.rq:4: parameter 'who': \?who must be in the SELECT clause",
]


@pytest.fixture
def broken_source(tmp_path):
    folder = tmp_path / "source" / "queries"
    folder.mkdir(parents=True)
    for name, text in BROKEN.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (folder / "good.rq").write_text("#+ title: Good\n#+ title_fr: Bonne\nASK {}\n", encoding="utf-8")
    return folder.parent


def test_start_up_fails_with_file_and_line(make_app, broken_source):
    with pytest.raises(QueryFileError) as caught:
        make_app(source_dir=broken_source)
    message = str(caught.value)
    for expected in EXPECTED_MESSAGES:
        assert re.search(expected, message), (expected, message)
    assert "good.rq" not in message


def test_cli_check_reports_file_and_line(broken_source):
    result = run_cli("queries", "check", "--dir", str(broken_source / "queries"), cwd=broken_source)
    assert result.returncode == 1
    for expected in EXPECTED_MESSAGES:
        assert re.search(expected, result.stderr), (expected, result.stderr)
    ok = run_cli("queries", "check")
    assert ok.returncode == 0, ok.stderr
    assert f"{len(QUERIES)} stored queries OK" in ok.stdout


def test_serve_refuses_to_start_on_a_broken_file(broken_source, built_store):
    result = run_cli("serve", "--store", str(built_store), "--port", "9",
                     env={"SSIKG_SOURCE_DIR": str(broken_source)}, timeout=60)
    assert result.returncode == 1
    assert re.search(EXPECTED_MESSAGES[-1], result.stderr) and "Traceback" not in result.stderr


def test_cli_list_names_every_query():
    result = run_cli("queries", "list")
    assert result.returncode == 0
    names = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert names == sorted(QUERIES)
    assert "label-search\tselect\t(text:string, language:enum?)" in result.stdout


def test_cli_runs_a_stored_query_with_its_parameters_like_the_api(live_server, built_store):
    """Defaults apply and values are typed, as over HTTP: the same rows, not an unbound run."""
    since = run_cli("queries", "run", "sources-published-since", "--store", str(built_store), "--format", "json")
    assert since.returncode == 0, since.stderr
    cli_rows = [b["page"]["value"] for b in json.loads(since.stdout)["results"]["bindings"]]
    api_rows = [r["page"] for r in json_dicts(api(live_server, "sources-published-since").json())]
    assert cli_rows == api_rows == [ID + "page"]
    posts = run_cli("queries", "run", "organisation-posts", "--store", str(built_store), "--format", "csv",
                    "-p", "organisation=id:ssi-be")
    api_posts = api(live_server, "organisation-posts", {"organisation": "id:ssi-be", "limit": "1000"}).json()
    assert posts.returncode == 0 and len(posts.stdout.strip().splitlines()) == 1 + len(api_posts["rows"])
    assert {line.split(",")[2] for line in posts.stdout.strip().splitlines()[1:]} == {
        row[2] for row in api_posts["rows"]}
    for args, says in ((["organisation-posts", "-p", "organisation=not an iri"], "absolute IRI"),
                       (["organisation-posts"], "missing required parameter 'organisation'"),
                       (["organisation-posts", "-p", "organisation"], "is not NAME=VALUE"),
                       (["no-such-query"], "no stored query named")):
        refused = run_cli("queries", "run", *args, "--store", str(built_store))
        assert refused.returncode == 2 and says in refused.stderr and "Traceback" not in refused.stderr


def test_a_construct_query_answers_in_rdf_formats(make_app, serve_app, tmp_path):
    folder = tmp_path / "src" / "queries"
    folder.mkdir(parents=True)
    (folder / "describe-post.rq").write_text(textwrap.dedent("""\
        #+ title: Triples about a post
        #+ title_fr: Triplets d’un poste
        #+ params:
        #+   - name: post
        #+     type: iri
        #+     description: the post
        #+     example: id:post-asi-be
        #+     required: true
        PREFIX org: <http://www.w3.org/ns/org#>
        CONSTRUCT { ?post org:postIn ?unit } WHERE { ?post org:postIn ?unit }
        """), encoding="utf-8")
    server = serve_app(make_app(source_dir=tmp_path / "src"))
    body = api(server, "describe-post", {"post": "id:post-asi-be"}).json()
    assert body["columns"] == ["subject", "predicate", "object"]
    assert body["rows"] == [[ID + "post-asi-be", ORG + "postIn", ID + "ssi-be"]]
    turtle = api(server, "describe-post", {"post": "id:post-asi-be"}, suffix=".ttl")
    assert turtle.headers["Content-Type"].startswith("text/turtle")
    triples = list(ox.parse(turtle.content, ox.RdfFormat.TURTLE))
    assert [str(t.object) for t in triples] == [f"<{ID}ssi-be>"]
    assert api(server, "describe-post", {"post": "id:post-asi-be"}, suffix=".srj").status_code == 400
    loaded = load_all(folder)
    assert loaded["describe-post"].kind == "construct"


def test_json_values_are_readable(live_server):
    body = api(live_server, "network-statistics").json()
    row = json_dicts(body)[0]
    assert isinstance(row["network"], str) and row["network"].startswith("https://")
    assert json.dumps(body, ensure_ascii=False)  # plain JSON values only


# ---------------------------------------------------------------------------
# The same answers over a remote SPARQL backend (oxigraph serve; VALUES binding)


@pytest.fixture(scope="module")
def remote_api(tmp_path_factory):
    from conftest import LiveServer, require_tool
    from sparql_engines import OXIGRAPH, OxigraphServer

    from ssikg.app import create_app

    require_tool(OXIGRAPH is not None, "oxigraph CLI (PyPI package oxigraph)")
    with OxigraphServer(tmp_path_factory.mktemp("oxigraph-sq") / "db") as engine:
        published = run_cli("build", "--backend", engine.query_url, "--store-url", engine.store_url)
        assert published.returncode == 0, published.stderr
        app = create_app({"backend": engine.query_url, "auto_build": False,
                          "store": tmp_path_factory.mktemp("unused") / "store"})
        with LiveServer(app) as server:
            yield server
        app.extensions["ssikg.store"].close()


def _sorted_rows(body: dict) -> list:
    return sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in body["rows"])


def test_every_query_answers_the_same_over_a_remote_backend(remote_api, live_server):
    for name, query in sorted(QUERIES.items()):
        values = query.sample_values()
        if query.paginated:
            values = {**values, "limit": "1000"}
        embedded = api(live_server, name, values).json()
        remote = api(remote_api, name, values)
        assert remote.status_code == 200, (name, remote.text)
        assert remote.json()["columns"] == embedded["columns"], name
        assert _sorted_rows(remote.json()) == _sorted_rows(embedded), name
    hostile = api(remote_api, "label-search", {"text": '"} UNION { ?s ?p ?o } #'}).json()
    assert hostile["rows"] == [] and hostile["parameters"]["text"] == '"} UNION { ?s ?p ?o } #'
    assert_bad_parameter(api(remote_api, "statement-provenance", {"subject": "http://x/>"}), "subject")


def test_result_cells_carry_their_language(live_server):
    """WCAG 3.1.2: a French literal in an English page's table says it is French."""
    page = requests.get(f"{live_server.url}/queries/cq05-who-assists-the-asi?lang=en", timeout=60).text
    assert re.search(r'<td lang="fr">[^<]+</td>', page)


def _many_posts(app, count: int) -> None:
    """``count`` generated posts with the ASI role in the stated graph (their labels sort them)."""
    role = ox.NamedNode(CONCEPT + "role-asi")
    label = ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel")
    triples = []
    for i in range(count):
        post = ox.NamedNode(f"{ID}post-generated-{i:05d}")
        triples += [ox.Triple(post, ox.NamedNode(ORG + "role"), role),
                    ox.Triple(post, label, ox.Literal(f"poste généré {i:05d}", language="fr"))]
    app.extensions["ssikg.store"].add_triples("https://w3id.org/ssikg/graph/stated", triples)


def test_the_html_page_shows_at_most_the_sparql_pages_rows_and_links_the_full_result(make_app, serve_app):
    from ssikg.views.sparql import HTML_ROWS

    app = make_app()
    _many_posts(app, HTML_ROWS + 20)
    server = serve_app(app)
    params = {"role": CONCEPT + "role-asi", "lang": "en"}
    page = requests.get(f"{server.url}/queries/posts-by-role", params=params, timeout=60)
    assert page.status_code == 200
    body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == HTML_ROWS
    assert f"Only the first {HTML_ROWS} rows are shown" in page.text
    notice = page.text.split('class="truncated"', 1)[1].split("</p>", 1)[0]
    links = dict((text, href.replace("&amp;", "&")) for href, text in re.findall(r'<a href="([^"]+)">(\w+)</a>', notice))
    assert set(links) == {"CSV", "JSON"}
    full = requests.get(server.url + links["CSV"], timeout=60)  # the links give every row
    csv_rows = list(csv.reader(io.StringIO(full.text)))[1:]
    assert full.status_code == 200 and len(csv_rows) >= HTML_ROWS + 20  # the generated posts, and the data's
    assert len(requests.get(server.url + links["JSON"], timeout=60).json()["rows"]) == len(csv_rows)


def test_a_lower_max_rows_cuts_the_page_with_the_servers_notice(make_app, serve_app):
    server = serve_app(make_app(max_rows=2))
    page = requests.get(f"{server.url}/queries/cq53-organisations-named", params={"lang": "en"}, timeout=60)
    assert page.status_code == 200
    assert page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>") == 2
    assert "Result cut by the server&#39;s row limit." in page.text and "Only the first" not in page.text


# ---------------------------------------------------------------------------
# One negotiation rule with the rest of the site (protocol.best_offer / ranks_above)

SPARQL_KIND = {"application/sparql-results+json": "json", "application/json": "json",
               "application/sparql-results+xml": "xml", "text/csv": "csv",
               "text/tab-separated-values": "tsv", "text/html": "html"}


@pytest.mark.parametrize("accept,kind", [
    # equal weights: the range the client wrote first wins, as on /sparql
    ("application/sparql-results+json, text/csv", "json"),
    ("text/csv, application/sparql-results+json", "csv"),
    ("text/tab-separated-values;q=0.9, application/sparql-results+xml;q=0.9, text/csv;q=0.5", "tsv"),
    ("*/*", "json"),
    # a page only when text/html ranks strictly above every data format
    ("text/html, application/json", "json"),
    ("text/html, */*;q=0.8", "html"),
])
def test_one_accept_header_gets_the_same_kind_of_answer_as_from_sparql(live_server, accept, kind):
    stored = api(live_server, "label-search", {"text": "DCIS"}, headers={"Accept": accept})
    sparql = requests.get(f"{live_server.url}/sparql", params={"query": "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"},
                          headers={"Accept": accept}, timeout=60)
    assert stored.status_code == sparql.status_code == 200
    kinds = [SPARQL_KIND[r.headers["Content-Type"].split(";")[0]] for r in (stored, sparql)]
    assert kinds == [kind, kind]


def test_the_listing_is_a_page_only_when_html_ranks_above_json(live_server):
    for accept, page in (("text/html", True), ("*/*", False), ("text/html, application/json", False),
                         ("application/json;q=0.5, text/html", True), (None, False)):
        response = requests.get(live_server.url + "/api/queries", headers={"Accept": accept} if accept else {},
                                timeout=30)
        assert response.headers["Content-Type"].startswith("text/html" if page else "application/json"), accept


# ---------------------------------------------------------------------------
# Datasette's _shape


def test_json_shapes_are_datasettes(live_server):
    params = {"text": "e", "limit": "3"}
    arrays = api(live_server, "label-search", params, suffix=".json")
    default = arrays.json()
    assert api(live_server, "label-search", {**params, "_shape": "arrays"}, suffix=".json").json()["rows"] \
        == default["rows"]
    objects = json_dicts(default)
    shaped = api(live_server, "label-search", {**params, "_shape": "objects"}, suffix=".json").json()
    assert shaped["rows"] == objects and shaped["columns"] == default["columns"]
    assert {k: v for k, v in shaped.items() if k not in ("rows", "query_ms", "next_url")} == \
        {k: v for k, v in default.items() if k not in ("rows", "query_ms", "next_url")}
    assert "_shape=objects" in shaped["next_url"]  # the next page in the same shape
    bare = api(live_server, "label-search", {**params, "_shape": "array"})  # format from Accept: JSON
    assert bare.json() == objects and 'rel="next"' in bare.headers["Link"]  # paging stays in the header
    # object: keyed by the first column, a string
    named = api(live_server, "cq53-organisations-named").json()
    first = [row[0] for row in named["rows"]]
    assert len(first) > 3 and len(set(first)) == len(first)
    keyed = api(live_server, "cq53-organisations-named", {"_shape": "object"}).json()
    assert keyed == {row[named["columns"][0]]: row for row in json_dicts(named)}
    ask = api(live_server, "cq27-ssi-or-asi-linked-to-dcis-not-stated", {"_shape": "object"}).json()
    assert ask == {"false": {"boolean": False}}


def test_a_shape_that_cannot_be_given_is_a_400_naming_it(live_server):
    repeated = api(live_server, "label-search", {"text": "DCIS", "_shape": "object"})
    assert_bad_parameter(repeated, "_shape")
    assert "'text'" in repeated.json()["message"]  # the first column, whose value repeats
    for params, suffix, headers in (({"_shape": "array"}, ".csv", None),
                                    ({"_shape": "array", "format": "srj"}, "", None),
                                    ({"_shape": "array"}, "", {"Accept": "text/csv"}),
                                    ({"_shape": "rows"}, ".json", None)):
        assert_bad_parameter(api(live_server, "label-search", {"text": "DCIS", **params}, headers=headers,
                                 suffix=suffix), "_shape")
    assert_bad_parameter(api(live_server, "label-search", [("text", "DCIS"), ("_shape", "array"),
                                                           ("_shape", "array")]), "_shape")
    page = requests.get(f"{live_server.url}/queries/label-search", params={"text": "DCIS", "_shape": "array"},
                        timeout=30)
    assert page.status_code == 400


def test_object_shape_needs_a_bound_first_column():
    from ssikg.errors import SsikgError
    from ssikg.views.stored_queries import _keyed_by_first_column

    assert _keyed_by_first_column(["a", "b"], [{"a": 1, "b": None}, {"a": "x", "b": 2}]) == \
        {"1": {"a": 1, "b": None}, "x": {"a": "x", "b": 2}}
    for columns, rows in ((["a"], [{"a": None}]), ([], [{}])):
        with pytest.raises(SsikgError) as refused:
            _keyed_by_first_column(columns, rows)
        assert refused.value.status == 400 and "_shape" in refused.value.message


def test_each_shape_has_its_own_etag(live_server):
    if REMOTE:
        return
    plain = api(live_server, "cq53-organisations-named")
    etag = plain.headers["ETag"]
    other = api(live_server, "cq53-organisations-named", {"_shape": "array"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and isinstance(other.json(), list) and other.headers["ETag"] != etag


# ---------------------------------------------------------------------------
# ASK in CSV: as /sparql answers it


def test_an_ask_query_answers_csv_and_tsv_as_sparql_does(live_server):
    name = "cq27-ssi-or-asi-linked-to-dcis-not-stated"
    text = api(live_server, name, suffix=".rq").text
    for suffix, media_type in ((".csv", "text/csv"), (".tsv", "text/tab-separated-values")):
        stored = api(live_server, name, suffix=suffix)
        sparql = requests.get(f"{live_server.url}/sparql", params={"query": text}, headers={"Accept": media_type},
                              timeout=60)
        assert stored.status_code == sparql.status_code == 200
        assert stored.headers["Content-Type"] == sparql.headers["Content-Type"]
        assert stored.content == sparql.content == b"false"
