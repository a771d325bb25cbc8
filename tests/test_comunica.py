"""Comunica (Node.js, pinned in tests/clients/comunica/) as a client of the live server: the
endpoint as a ``sparql`` source (SELECT, ASK, CONSTRUCT), an entity IRI dereferenced as a
plain document (303 and content negotiation driven by Comunica's own Accept header), and
both sources federated in one query. Every answer is compared with the store's own.

Each source set is one ``node query.mjs`` process answering a batch of queries (Comunica
takes about a second to start); ``query.mjs`` also reports every HTTP exchange Comunica
made, so the tests see which Accept it sent and which media type it got.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import urlsplit

import pyoxigraph as ox
import pytest
from conftest import require_tool

from ssikg.settings import PROJECT_ROOT

COMUNICA_DIR = PROJECT_ROOT / "tests" / "clients" / "comunica"
NODE = shutil.which("node")
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_MEDIA_TYPES = {"text/turtle", "application/ld+json", "application/n-triples", "application/rdf+xml",
                   "application/n-quads", "application/trig"}
DCIS = "https://w3id.org/ssikg/id/dcis"
PREFIXES = """PREFIX org: <http://www.w3.org/ns/org#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX ssikg: <https://w3id.org/ssikg/ontology#>
PREFIX id: <https://w3id.org/ssikg/id/>
"""

# Endpoint batch: a join with a FILTER over labels in two languages, typed literals
# (integers, dates, booleans), an ASK that holds and one that does not, a CONSTRUCT.
UNIT_RELATIONS = PREFIXES + """SELECT ?unit ?rel ?other ?unitLabel ?otherLabel WHERE {
  ?unit a org:OrganizationalUnit ; skos:prefLabel ?unitLabel ; ?rel ?other .
  ?other skos:prefLabel ?otherLabel .
  FILTER(STRSTARTS(STR(?rel), "http://www.w3.org/ns/org#") && lang(?unitLabel) = "fr" && lang(?otherLabel) = "en")
}"""
TYPED_VALUES = PREFIXES + """SELECT DISTINCT ?s ?p ?v WHERE {
  ?s ?p ?v FILTER(isIRI(?s) && isLiteral(?v) && datatype(?v) NOT IN (xsd:string, rdf:langString))
}"""
ASK_HOLDS = PREFIXES + "ASK { id:dcis org:reportsTo ?post . ?post skos:prefLabel ?label }"
ASK_FAILS = PREFIXES + "ASK { id:dcis org:reportsTo id:dcis }"
SUB_ORGANISATIONS = PREFIXES + """CONSTRUCT { ?unit org:subOrganizationOf ?parent ; skos:prefLabel ?label }
WHERE { ?unit org:subOrganizationOf ?parent ; skos:prefLabel ?label }"""

# Document batch: what the entity document says about the DCIS.
DCIS_LABELS = PREFIXES + "SELECT ?label WHERE { id:dcis skos:prefLabel ?label }"
DCIS_OUTGOING = PREFIXES + "SELECT DISTINCT ?p ?o WHERE { id:dcis ?p ?o FILTER(!isBlank(?o)) }"

# The ontology: one document at /ontology (hash IRIs), negotiated in place, no redirect.
ONTOLOGY_GRAPH = "https://w3id.org/ssikg/graph/ontology"
NAMED_TRIPLES = "SELECT ?s ?p ?o WHERE { %s }"
NAMED_PATTERN = "?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o))"
COUNT_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"

# Federated: the axes come from the document (and the endpoint), their labels only from the
# endpoint (the DCIS document does not carry them), so both sources must take part.
AXIS_LABELS = PREFIXES + """SELECT DISTINCT ?axis ?label WHERE {
  id:dcis ssikg:priorityAxis ?axis . ?axis skos:prefLabel ?label FILTER(lang(?label) = "fr")
}"""


@pytest.fixture(scope="module", autouse=True)
def comunica_installed():
    installed = NODE is not None and (COMUNICA_DIR / "node_modules" / "@comunica" / "query-sparql").is_dir()
    require_tool(installed, "Comunica (node, and npm ci --prefix tests/clients/comunica)")


def run_comunica(sources: list[str], queries: list[str]) -> dict:
    """One ``node query.mjs`` run: its parsed report (results in query order, HTTP exchanges)."""
    arguments = [argument for source in sources for argument in ("--source", source)]
    arguments += [argument for query in queries for argument in ("--query", query)]
    done = subprocess.run([NODE, "query.mjs", *arguments], cwd=COMUNICA_DIR, capture_output=True,
                          text=True, timeout=180)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"query.mjs exited with {done.returncode} without a report:\n{done.stdout}\n{done.stderr}")
    assert len(report["results"]) == len(queries)
    return report


def answer(report: dict, index: int) -> dict:
    """The SPARQL JSON results (or N-Triples) Comunica gave for query ``index``; fails on its error."""
    result = report["results"][index]
    assert "error" not in result, f"Comunica failed: {result['error']}"
    return result["body"]


def json_term(term: dict) -> tuple:
    """A SPARQL JSON term as a comparable tuple (a plain literal is an xsd:string)."""
    if term["type"] == "literal":
        if "xml:lang" in term:
            return ("literal", term["value"], "@" + term["xml:lang"].lower())
        return ("literal", term["value"], term.get("datatype", XSD_STRING))
    return (term["type"], term["value"])


def store_term(term) -> tuple:
    if isinstance(term, ox.Literal):
        if term.language:
            return ("literal", term.value, "@" + term.language.lower())
        return ("literal", term.value, term.datatype.value)
    return ("bnode" if isinstance(term, ox.BlankNode) else "uri", term.value)


def comunica_rows(body: dict) -> set[tuple]:
    names = body["head"]["vars"]
    return {tuple(json_term(binding[name]) if name in binding else None for name in names)
            for binding in body["results"]["bindings"]}


def store_rows(store, query: str, names: list[str]) -> set[tuple]:
    return {tuple(store_term(row[name]) if row[name] is not None else None for name in names)
            for row in store.query(query)}


def triples(ntriples: str) -> set[tuple[str, str, str]]:
    return {(str(q.subject), str(q.predicate), str(q.object))
            for q in ox.parse(ntriples.encode(), format=ox.RdfFormat.N_TRIPLES)}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


@pytest.fixture(scope="module")
def store(shared_app):
    return shared_app.extensions["ssikg.store"]


@pytest.fixture(scope="module")
def endpoint_run(live_server) -> dict:
    return run_comunica([f"sparql@{live_server.url}/sparql"],
                        [UNIT_RELATIONS, TYPED_VALUES, ASK_HOLDS, ASK_FAILS, SUB_ORGANISATIONS])


@pytest.fixture(scope="module")
def document_run(live_server) -> dict:
    return run_comunica([f"{live_server.url}/id/dcis"], [DCIS_LABELS, DCIS_OUTGOING])


def test_endpoint_join_with_filter_matches_the_store(endpoint_run, store):
    body = answer(endpoint_run, 0)
    names = ["unit", "rel", "other", "unitLabel", "otherLabel"]
    assert body["head"]["vars"] == names
    expected = store_rows(store, UNIT_RELATIONS, names)
    assert len(expected) >= 5
    assert comunica_rows(body) == expected
    assert len(body["results"]["bindings"]) == len(expected)


def test_endpoint_typed_literals_keep_their_datatypes(endpoint_run, store):
    rows = comunica_rows(answer(endpoint_run, 1))
    assert rows == store_rows(store, TYPED_VALUES, ["s", "p", "v"])
    datatypes = {value[2] for _, _, value in rows}
    assert {"http://www.w3.org/2001/XMLSchema#integer", "http://www.w3.org/2001/XMLSchema#boolean"} <= datatypes


def test_endpoint_ask(endpoint_run, store):
    assert bool(store.query(ASK_HOLDS)) is True and bool(store.query(ASK_FAILS)) is False
    assert answer(endpoint_run, 2)["boolean"] is True
    assert answer(endpoint_run, 3)["boolean"] is False


def test_endpoint_construct_matches_the_store(endpoint_run, store):
    got = triples(answer(endpoint_run, 4))
    expected = {(str(t.subject), str(t.predicate), str(t.object)) for t in store.query(SUB_ORGANISATIONS)}
    assert len(expected) >= 4
    assert got == expected


def test_endpoint_answers_in_the_formats_comunica_asked_for(endpoint_run):
    """Each query went to /sparql and came back 200 in a media type Comunica's Accept named."""
    exchanges = endpoint_run["requests"]
    assert len(exchanges) == 5
    for exchange in exchanges:
        assert urlsplit(exchange["url"]).path == "/sparql"
        assert exchange["status"] == 200, exchange
        offered = {media_type(part) for part in exchange["accept"].split(",")}
        assert media_type(exchange["contentType"]) in offered, exchange
    construct = exchanges[-1]
    assert media_type(construct["contentType"]) in RDF_MEDIA_TYPES


def test_entity_iri_dereferenced_by_comunica_gives_rdf(document_run):
    """GET /id/dcis with Comunica's Accept: a 303 (followed by fetch) to an RDF document."""
    (exchange,) = document_run["requests"]
    assert urlsplit(exchange["url"]).path == "/id/dcis"
    assert exchange["redirected"] is True
    assert exchange["status"] == 200
    kind = media_type(exchange["contentType"])
    assert kind in RDF_MEDIA_TYPES, exchange
    suffix = {"text/turtle": ".ttl", "application/ld+json": ".jsonld", "application/n-triples": ".nt",
              "application/rdf+xml": ".rdf"}[kind]
    assert urlsplit(exchange["finalUrl"]).path == "/id/dcis" + suffix


def test_entity_document_labels_match_the_store(document_run, store):
    rows = comunica_rows(answer(document_run, 0))
    assert rows == store_rows(store, DCIS_LABELS, ["label"])
    assert {label[2] for (label,) in rows} >= {"@fr", "@en"}


def test_entity_document_carries_every_outgoing_triple(document_run, store):
    rows = comunica_rows(answer(document_run, 1))
    assert rows == store_rows(store, DCIS_OUTGOING, ["p", "o"])
    assert len(rows) >= 20


def test_ontology_document_negotiated_in_place(live_server, store):
    """GET /ontology with Comunica's Accept: 200 RDF directly, with every triple of the ontology graph."""
    report = run_comunica([f"{live_server.url}/ontology"], [NAMED_TRIPLES % NAMED_PATTERN, COUNT_TRIPLES])
    (exchange,) = report["requests"]
    assert exchange["status"] == 200 and exchange["redirected"] is False
    assert media_type(exchange["contentType"]) in RDF_MEDIA_TYPES, exchange
    in_graph = NAMED_TRIPLES % f"GRAPH <{ONTOLOGY_GRAPH}> {{ {NAMED_PATTERN} }}"
    expected = store_rows(store, in_graph, ["s", "p", "o"])
    assert len(expected) >= 100
    assert comunica_rows(answer(report, 0)) == expected
    (count,) = store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o }} }}")
    assert answer(report, 1)["results"]["bindings"][0]["n"]["value"] == count["n"].value


def test_federated_endpoint_and_document(live_server, store):
    report = run_comunica([f"sparql@{live_server.url}/sparql", f"{live_server.url}/id/dcis"], [AXIS_LABELS])
    rows = comunica_rows(answer(report, 0))
    expected = store_rows(store, AXIS_LABELS, ["axis", "label"])
    assert len(expected) >= 5
    assert rows == expected
    exchanges = report["requests"]
    assert all(exchange["status"] == 200 for exchange in exchanges), exchanges
    (document,) = [exchange for exchange in exchanges if urlsplit(exchange["url"]).path == "/id/dcis"]
    assert media_type(document["contentType"]) in RDF_MEDIA_TYPES, document
    queries = [exchange for exchange in exchanges if urlsplit(exchange["url"]).path == "/sparql"
               and (exchange["method"] == "POST" or urlsplit(exchange["url"]).query.startswith("query="))]
    assert queries, exchanges
    assert all(media_type(exchange["contentType"]) == "application/sparql-results+json" for exchange in queries)
