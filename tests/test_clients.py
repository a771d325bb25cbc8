"""Standard clients against a real server on loopback: SPARQLWrapper (GET and
POST, JSON and XML, and an authenticated update) and rdflib's SPARQLStore
(SELECT and CONSTRUCT); every answer is compared with the store's own."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
from rdflib import Graph, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import (
    GET,
    JSON,
    N3,
    POST,
    POSTDIRECTLY,
    RDFXML,
    TURTLE,
    URLENCODED,
    XML,
    SPARQLWrapper,
)

SELECT = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?s ?label WHERE { ?s rdfs:label ?label FILTER(isIRI(?s)) } ORDER BY ?s ?label LIMIT 25"""
CONSTRUCT = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
CONSTRUCT { ?s rdfs:label ?label } WHERE { GRAPH <https://w3id.org/ssikg/graph/stated> {
  ?s rdfs:label ?label FILTER(isIRI(?s)) } }"""


@pytest.fixture(scope="module")
def expected_rows(shared_app):
    store = shared_app.extensions["ssikg.store"]
    return [(row["s"].value, row["label"].value) for row in store.query(SELECT)]


@pytest.fixture(scope="module")
def expected_triples(shared_app):
    store = shared_app.extensions["ssikg.store"]
    return {(t.subject.value, t.object.value) for t in store.query(CONSTRUCT)}


def wrapper(live_server, method, fmt, request_method=URLENCODED) -> SPARQLWrapper:
    sparql = SPARQLWrapper(f"{live_server.url}/sparql")
    sparql.setQuery(SELECT)
    sparql.setMethod(method)
    sparql.setRequestMethod(request_method)
    sparql.setReturnFormat(fmt)
    sparql.setTimeout(60)
    return sparql


@pytest.mark.parametrize("method,request_method", [(GET, URLENCODED), (POST, URLENCODED),
                                                   (POST, POSTDIRECTLY)])
def test_sparqlwrapper_json(live_server, expected_rows, method, request_method):
    result = wrapper(live_server, method, JSON, request_method).queryAndConvert()
    rows = [(b["s"]["value"], b["label"]["value"]) for b in result["results"]["bindings"]]
    assert rows == expected_rows and len(rows) == 25


@pytest.mark.parametrize("method", [GET, POST])
def test_sparqlwrapper_xml(live_server, expected_rows, method):
    document = wrapper(live_server, method, XML).queryAndConvert()
    rows = []
    for result in document.getElementsByTagName("result"):
        values = {}
        for binding in result.getElementsByTagName("binding"):
            node = binding.firstChild if binding.firstChild.nodeType == 1 else binding.childNodes[1]
            values[binding.getAttribute("name")] = node.firstChild.nodeValue
        rows.append((values["s"], values["label"]))
    assert rows == expected_rows


@pytest.mark.parametrize("fmt,method", [(TURTLE, GET), (N3, GET), (N3, POST), (RDFXML, GET)])
def test_sparqlwrapper_construct(live_server, expected_triples, fmt, method):
    sparql = wrapper(live_server, method, fmt)  # N3 sends format=n3: answered as Turtle (a subset of N3)
    sparql.setQuery(CONSTRUCT)
    data = sparql.queryAndConvert()
    graph = data if isinstance(data, Graph) else Graph().parse(data=data, format="turtle")
    assert {(str(s), str(o)) for s, _, o in graph} == expected_triples


def test_sparqlwrapper_ask(live_server):
    sparql = wrapper(live_server, GET, JSON)
    sparql.setQuery("ASK { ?s a <https://w3id.org/ssikg/ontology#JointAuthority> }")
    assert sparql.queryAndConvert()["boolean"] is True


def test_sparqlwrapper_update_with_token(make_app, serve_app):
    server = serve_app(make_app(update_token="sw-token"))
    sparql = SPARQLWrapper(f"{server.url}/sparql")
    sparql.setMethod(POST)
    sparql.setQuery("INSERT DATA { GRAPH <http://example.org/sw> { <http://example.org/a> "
                    "<http://example.org/b> 42 } }")
    sparql.addCustomHttpHeader("Authorization", "Bearer sw-token")
    assert sparql.query().response.status == 204
    check = SPARQLWrapper(f"{server.url}/sparql")
    check.setQuery("SELECT ?o { GRAPH <http://example.org/sw> { ?s ?p ?o } }")
    check.setReturnFormat(JSON)
    assert check.queryAndConvert()["results"]["bindings"][0]["o"]["value"] == "42"


def test_rdflib_sparqlstore_select(live_server, expected_rows):
    store = SPARQLStore(f"{live_server.url}/sparql", returnFormat="json")
    rows = [(str(row.s), str(row.label)) for row in store.query(SELECT)]
    assert rows == expected_rows


def test_rdflib_sparqlstore_select_xml_post(live_server, expected_rows):
    store = SPARQLStore(f"{live_server.url}/sparql", method="POST")
    rows = [(str(row.s), str(row.label)) for row in store.query(SELECT)]
    assert rows == expected_rows


def test_rdflib_sparqlstore_construct(live_server, expected_triples):
    store = SPARQLStore(f"{live_server.url}/sparql")
    result = store.query(CONSTRUCT)
    assert {(str(s), str(o)) for s, _, o in result.graph} == expected_triples
    assert all(isinstance(s, URIRef) for s, _, _ in result.graph)


def test_rdflib_graph_over_sparqlstore(live_server, shared_app):
    """rdflib's Graph API on top of the endpoint: triples() becomes SELECT queries."""
    graph = Graph(store=SPARQLStore(f"{live_server.url}/sparql", returnFormat="json"))
    subject = URIRef("https://w3id.org/ssikg/id/dcis")
    from_endpoint = set(graph.predicate_objects(subject))
    store = shared_app.extensions["ssikg.store"]
    direct = {q.predicate.value for q in store.quads() if q.subject == ox.NamedNode(str(subject))}
    assert {str(p) for p, _ in from_endpoint} == direct and direct
