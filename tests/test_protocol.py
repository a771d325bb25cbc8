"""The W3C SPARQL 1.1 Protocol test suite (rdf-tests ``sparql/sparql11/protocol``),
one test per case, run against a real server on loopback, plus the pure
request decoding and the USING rewrite of :mod:`ssikg.protocol`.

The kasei.us graphs the suite uses are loaded into a private copy of the
built store through the server's own Graph Store Protocol.
"""

from __future__ import annotations

import pytest
import requests

from ssikg import protocol
from ssikg.errors import SsikgError

TOKEN = "w3c-protocol-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DATA = "http://kasei.us/2009/09/sparql/data/"
D0, D1, D2, D3 = (f"{DATA}data{i}.rdf" for i in range(4))
FOAF = "http://xmlns.com/foaf/0.1/"


@pytest.fixture(scope="module")
def server(built_store, tmp_path_factory):
    """A writable server over a private store holding data1..data3 as named graphs."""
    from conftest import writable_live_server

    with writable_live_server(built_store, tmp_path_factory.mktemp("w3c-protocol"), TOKEN) as live:
        for iri in (D1, D2, D3):
            r = requests.put(f"{live.url}/store", params={"graph": iri}, headers={
                **AUTH, "Content-Type": "text/turtle"}, data=f"<{iri}> a <{FOAF}Document> .")
            assert r.status_code in (201, 204), r.text
        yield live


def sparql(server, method="GET", params=None, data=None, headers=None):
    return requests.request(method, f"{server.url}/sparql", params=params, data=data,
                            headers=headers or {}, timeout=60)


def ask(response) -> bool:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/sparql-results+json")
    return response.json()["boolean"]


def post_query(server, text, params=None):
    return sparql(server, "POST", params=params, data=text.encode(),
                  headers={"Content-Type": "application/sparql-query"})


def post_update(server, text, params=None):
    return sparql(server, "POST", params=params, data=text.encode(),
                  headers={"Content-Type": "application/sparql-update", **AUTH})


# ---------------------------------------------------------------------------
# Queries


def test_w3c_query_post_form(server):
    r = sparql(server, "POST", params={"default-graph-uri": D0}, data="query=ASK%20%7B%7D",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ask(r) is True


def test_w3c_query_get(server):
    assert ask(sparql(server, params={"query": "ASK {}", "default-graph-uri": D0})) is True


def test_w3c_query_post_direct(server):
    assert ask(post_query(server, "ASK {}")) is True


BOTH_TYPED = f"ASK {{ <{D1}> a ?type . <{D2}> a ?type . }}"


def test_w3c_query_dataset_default_graphs_get(server):
    params = [("query", BOTH_TYPED), ("default-graph-uri", D1), ("default-graph-uri", D2)]
    assert ask(sparql(server, params=params)) is True
    # control: with only data1 as default graph, data2's triple is not there
    assert ask(sparql(server, params=[("query", BOTH_TYPED), ("default-graph-uri", D1)])) is False


def test_w3c_query_dataset_default_graphs_post(server):
    params = [("default-graph-uri", D1), ("default-graph-uri", D2)]
    assert ask(post_query(server, BOTH_TYPED, params)) is True


NAMED_BOTH = f"ASK {{ GRAPH ?g1 {{ <{D1}> a ?type }} GRAPH ?g2 {{ <{D2}> a ?type }} }}"


def test_w3c_query_dataset_named_graphs_post(server):
    params = [("named-graph-uri", D1), ("named-graph-uri", D2)]
    assert ask(post_query(server, NAMED_BOTH, params)) is True
    assert ask(post_query(server, NAMED_BOTH, [("named-graph-uri", D1)])) is False


def test_w3c_query_dataset_named_graphs_get(server):
    params = [("query", NAMED_BOTH), ("named-graph-uri", D1), ("named-graph-uri", D2)]
    assert ask(sparql(server, params=params)) is True


def test_w3c_query_dataset_full(server):
    query = (f"ASK {{ <{D3}> a ?type GRAPH ?g1 {{ <{D1}> a ?type }} "
             f"GRAPH ?g2 {{ <{D2}> a ?type }} }}")
    params = [("default-graph-uri", D3), ("named-graph-uri", D1), ("named-graph-uri", D2)]
    assert ask(post_query(server, query, params)) is True
    # the protocol dataset really replaces the union: data3 is not a named graph here
    query3 = f"ASK {{ GRAPH ?g {{ <{D3}> a ?type }} }}"
    assert ask(post_query(server, query3, params)) is False


def test_w3c_query_multiple_dataset(server):
    query = (f"ASK FROM <{D3}> {{ GRAPH ?g1 {{ <{D1}> a ?type }} "
             f"GRAPH ?g2 {{ <{D2}> a ?type }} }}")
    # The protocol's named graphs win over the query's FROM (which would leave none).
    params = [("named-graph-uri", D1), ("named-graph-uri", D2)]
    assert ask(post_query(server, query, params)) is True
    # Without protocol parameters the query's own FROM applies (default graph = data3 only).
    assert ask(post_query(server, f"ASK FROM <{D3}> {{ <{D3}> a ?t }}")) is True
    assert ask(post_query(server, f"ASK FROM <{D3}> {{ <{D1}> a ?t }}")) is False


def test_a_prefixed_from_is_the_querys_dataset(server):
    prefix = f"PREFIX d: <{DATA}> "
    assert ask(post_query(server, prefix + f"ASK FROM d:data3.rdf {{ <{D3}> a ?t }}")) is True
    assert ask(post_query(server, prefix + f"ASK FROM d:data3.rdf {{ <{D1}> a ?t }}")) is False
    # FROM NAMED alone: those named graphs, and an empty default graph
    assert ask(post_query(server, prefix + "ASK FROM NAMED d:data1.rdf { GRAPH d:data1.rdf { ?s ?p ?o } }")) is True
    assert ask(post_query(server, prefix + "ASK FROM NAMED d:data1.rdf { GRAPH d:data2.rdf { ?s ?p ?o } }")) is False
    assert ask(post_query(server, prefix + "ASK FROM NAMED d:data1.rdf { ?s ?p ?o }")) is False


def test_w3c_query_content_type_select(server):
    r = post_query(server, "SELECT (1 AS ?value) {}", {"default-graph-uri": D0})
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] in (
        "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
        "text/tab-separated-values")
    assert r.json()["results"]["bindings"][0]["value"]["value"] == "1"


def test_w3c_query_content_type_ask(server):
    r = post_query(server, "ASK {}", {"default-graph-uri": D0})
    assert r.headers["Content-Type"].split(";")[0] in (
        "application/sparql-results+json", "application/sparql-results+xml")


def test_w3c_query_content_type_describe(server):
    r = post_query(server, "DESCRIBE <http://example.org/>", {"default-graph-uri": D0})
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] in (
        "application/rdf+xml", "text/turtle", "application/n-triples")


def test_w3c_query_content_type_construct(server):
    r = post_query(server, "CONSTRUCT { <s> <p> 1 } WHERE {}", {"default-graph-uri": D0})
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "text/turtle"
    import rdflib

    graph = rdflib.Graph().parse(data=r.text, format="turtle")
    assert len(graph) == 1


# ---------------------------------------------------------------------------
# Updates (each leaves the store as the next one expects: they DROP ALL first)


def test_w3c_update_dataset_default_graph(server):
    update = f"""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <{FOAF}>
CLEAR ALL ;
INSERT DATA {{ GRAPH <{D1}> {{ <{D1}> a foaf:Document }} }} ;
INSERT {{ GRAPH <http://example.org/protocol-update-dataset-test/> {{ ?s a dc:BibliographicResource }} }}
WHERE {{ ?s a foaf:Document }}"""
    assert post_update(server, update, {"using-graph-uri": D1}).status_code == 204
    check = ("ASK { GRAPH <http://example.org/protocol-update-dataset-test/> { "
             f"<{D1}> a <http://purl.org/dc/terms/BibliographicResource> }} }}")
    assert ask(post_query(server, check)) is True


def _three_documents(target: str, where: str) -> str:
    return f"""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <{FOAF}>
DROP ALL ;
INSERT DATA {{
    GRAPH <{D1}> {{ <{D1}> a foaf:Document }}
    GRAPH <{D2}> {{ <{D2}> a foaf:Document }}
    GRAPH <{D3}> {{ <{D3}> a foaf:Document }}
}} ;
INSERT {{ GRAPH <{target}> {{ ?s a dc:BibliographicResource }} }}
WHERE {{ {where} }}"""


def _check_one_and_two(server, target: str) -> bool:
    bib = "<http://purl.org/dc/terms/BibliographicResource>"
    return ask(post_query(server, f"""ASK {{
    GRAPH <{target}> {{ <{D1}> a {bib} . <{D2}> a {bib} . }}
    FILTER NOT EXISTS {{ GRAPH <{target}> {{ <{D3}> a {bib} . }} }} }}"""))


def test_w3c_update_dataset_default_graphs(server):
    target = "http://example.org/protocol-update-dataset-graphs-test/"
    params = [("using-graph-uri", D1), ("using-graph-uri", D2)]
    assert post_update(server, _three_documents(target, "?s a foaf:Document"), params).status_code == 204
    assert _check_one_and_two(server, target) is True


def test_w3c_update_dataset_named_graphs(server):
    target = "http://example.org/protocol-update-dataset-named-graphs-test/"
    params = [("using-named-graph-uri", D1), ("using-named-graph-uri", D2)]
    update = _three_documents(target, "GRAPH ?g { ?s a foaf:Document }")
    assert post_update(server, update, params).status_code == 204
    assert _check_one_and_two(server, target) is True


def test_w3c_update_dataset_full(server):
    target = "http://example.org/protocol-update-dataset-full-test/"
    update = f"""PREFIX foaf: <{FOAF}>
DROP ALL ;
INSERT DATA {{
    GRAPH <{D1}> {{ <{D1}> a foaf:Document }}
    GRAPH <{D2}> {{ <{D2}> a foaf:Document }}
    GRAPH <{D3}> {{ <{D3}> a foaf:Document }}
}} ;
INSERT {{ GRAPH <{target}> {{ ?s <http://example.org/in> ?in }} }}
WHERE {{
    {{ GRAPH ?g {{ ?s a foaf:Document }} BIND(?g AS ?in) }}
    UNION
    {{ ?s a foaf:Document . BIND("default" AS ?in) }}
}}"""
    params = [("using-graph-uri", D1), ("using-named-graph-uri", D2)]
    assert post_update(server, update, params).status_code == 204
    assert ask(post_query(server, f"""ASK {{
    GRAPH <{target}> {{
        <{D1}> <http://example.org/in> "default" .
        <{D2}> <http://example.org/in> <{D2}> .
    }}
    FILTER NOT EXISTS {{ GRAPH <{target}> {{ <{D3}> ?p ?o }} }} }}""")) is True


def test_w3c_update_post_form(server):
    r = sparql(server, "POST", data="update=CLEAR+ALL",
               headers={"Content-Type": "application/x-www-form-urlencoded", **AUTH})
    assert r.status_code == 204, r.text
    assert ask(post_query(server, "ASK { GRAPH ?g { ?s ?p ?o } }")) is False


def test_w3c_update_post_direct(server):
    post_update(server, f"INSERT DATA {{ GRAPH <{D1}> {{ <{D1}> a <{FOAF}Document> }} }}")
    assert post_update(server, "CLEAR ALL").status_code == 204
    assert ask(post_query(server, "ASK { GRAPH ?g { ?s ?p ?o } }")) is False


def test_w3c_update_base_uri(server):
    graph = "http://example.org/protocol-base-test/"
    # The store records empty graphs, so CLEAR of a graph that does not exist fails
    # (SPARQL 1.1 Update §3.1.3); make sure it exists first, as the suite assumes.
    assert post_update(server, f"CREATE SILENT GRAPH <{graph}>").status_code == 204
    update = (f"CLEAR GRAPH <{graph}> ;\n"
              f"INSERT DATA {{ GRAPH <{graph}> {{ <http://example.org/s> <http://example.org/p> <test> }} }}")
    assert post_update(server, update).status_code == 204
    r = post_query(server, f"SELECT ?o WHERE {{ GRAPH <{graph}> {{ <http://example.org/s> "
                           "<http://example.org/p> ?o } }")
    bindings = r.json()["results"]["bindings"]
    assert len(bindings) == 1
    assert bindings[0]["o"]["type"] == "uri"
    assert bindings[0]["o"]["value"] != "test"
    assert bindings[0]["o"]["value"] == "https://w3id.org/ssikg/test"  # the public base, documented


# ---------------------------------------------------------------------------
# Bad requests: each a 4xx with a message, in the client's format


def assert_client_error(response, status=None):
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == response.status_code and body["message"] and body["title"]
    return body


def test_w3c_bad_query_method(server):
    r = sparql(server, "PUT", params={"query": "ASK {}", "default-graph-uri": D0},
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_client_error(r, 405)
    assert "POST" in r.headers["Allow"]


def test_w3c_bad_multiple_queries(server):
    r = sparql(server, params=[("query", "ASK {}"), ("query", "SELECT * {}")])
    assert "exactly one" in assert_client_error(r, 400)["message"]


def test_w3c_bad_query_wrong_media_type(server):
    r = sparql(server, "POST", data="ASK {}", headers={"Content-Type": "text/plain"})
    assert "text/plain" in assert_client_error(r, 415)["message"]


def test_w3c_bad_query_missing_form_type(server):
    r = requests.Request("POST", f"{server.url}/sparql", data=b"query=ASK%20%7B%7D").prepare()
    r.headers.pop("Content-Type", None)
    assert_client_error(requests.Session().send(r, timeout=30), 415)


def test_w3c_bad_query_missing_direct_type(server):
    r = requests.Request("POST", f"{server.url}/sparql", data=b"ASK {}").prepare()
    r.headers.pop("Content-Type", None)
    assert_client_error(requests.Session().send(r, timeout=30), 415)


def test_w3c_bad_query_non_utf8(server):
    r = sparql(server, "POST", data="ASK {}".encode("utf-16"),
               headers={"Content-Type": "application/sparql-query; charset=UTF-16"})
    assert "UTF-8" in assert_client_error(r, 400)["message"]
    # the same bytes without a charset are still refused: they are not UTF-8
    r = sparql(server, "POST", data="ASK {}".encode("utf-16"),
               headers={"Content-Type": "application/sparql-query"})
    assert "UTF-8" in assert_client_error(r, 400)["message"]


def test_w3c_bad_request_body_non_utf8(server):
    r = sparql(server, "POST", data=b"query=ASK%20%7B%20%22%FF%22%20%7D",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "UTF-8" in assert_client_error(r, 400)["message"]


def test_w3c_bad_query_syntax(server):
    r = sparql(server, params={"query": "ASK {"})
    message = assert_client_error(r, 400)["message"]
    assert "error at 1:" in message  # the parser's position


def test_w3c_bad_update_get(server):
    r = sparql(server, params={"update": "CLEAR ALL"})
    assert "POST" in assert_client_error(r, 400)["message"]


def test_w3c_bad_multiple_updates(server):
    r = sparql(server, "POST", data="update=CLEAR%20NAMED&update=CLEAR%20DEFAULT",
               headers={"Content-Type": "application/x-www-form-urlencoded", **AUTH})
    assert_client_error(r, 400)


def test_w3c_bad_update_wrong_media_type(server):
    r = sparql(server, "POST", data="CLEAR NAMED", headers={"Content-Type": "text/plain", **AUTH})
    assert_client_error(r, 415)


def test_w3c_bad_update_missing_form_type(server):
    r = requests.Request("POST", f"{server.url}/sparql", data=b"update=CLEAR%20NAMED",
                         headers=AUTH).prepare()
    r.headers.pop("Content-Type", None)
    assert_client_error(requests.Session().send(r, timeout=30), 415)


def test_w3c_bad_update_non_utf8(server):
    r = sparql(server, "POST", data="CLEAR NAMED".encode("utf-16"),
               headers={"Content-Type": "application/sparql-update; charset=UTF-16", **AUTH})
    assert_client_error(r, 400)


def test_w3c_bad_update_syntax(server):
    r = sparql(server, "POST", data="update=CLEAR%20XYZ",
               headers={"Content-Type": "application/x-www-form-urlencoded", **AUTH})
    message = assert_client_error(r, 400)["message"]
    assert "malformed update" in message and "error at 1:" in message


def test_w3c_bad_update_dataset_conflict(server):
    update = """PREFIX foaf:  <http://xmlns.com/foaf/0.1/>
WITH <http://example/addresses>
DELETE { ?person foaf:givenName 'Bill' }
INSERT { ?person foaf:givenName 'William' }
WHERE { ?person foaf:givenName 'Bill' }"""
    r = post_update(server, update, {"using-named-graph-uri": "http://example/people"})
    assert "USING or WITH" in assert_client_error(r, 400)["message"]
    using = "DELETE { ?s ?p ?o } USING <http://example/g> WHERE { ?s ?p ?o }"
    assert_client_error(post_update(server, using, {"using-graph-uri": "http://example/h"}), 400)


def test_error_in_client_format(server):
    r = sparql(server, params={"query": "ASK {"}, headers={"Accept": "text/plain"})
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith("400 Malformed query: malformed query: error at 1:")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = sparql(server, params={"query": "ASK {"}, headers={"Accept": browser})
    assert r.status_code == 400 and "<h1>400" in r.text and "error at 1:" in r.text


# ---------------------------------------------------------------------------
# Pure decoding


def test_parse_request_get_without_operation_is_none():
    assert protocol.parse_request("GET", None, []) is None


def test_parse_request_direct_query_takes_dataset_from_url():
    op = protocol.parse_request("POST", "application/sparql-query; charset=utf-8",
                                [("default-graph-uri", D1), ("named-graph-uri", D2)], b"ASK {}")
    assert op == protocol.QueryOperation("ASK {}", [D1], [D2], via="direct")


def test_parse_request_form_merges_url_and_body_parameters():
    op = protocol.parse_request("POST", protocol.FORM, [("default-graph-uri", D1)],
                                b"query=ASK+%7B%7D&named-graph-uri=" + D2.encode() + b"&format=xml")
    assert (op.text, op.default_graphs, op.named_graphs, op.format) == ("ASK {}", [D1], [D2], "xml")


def test_parse_request_refuses_relative_graph_iri():
    with pytest.raises(SsikgError) as caught:
        protocol.parse_request("GET", None, [("query", "ASK {}"), ("default-graph-uri", "data1")])
    assert caught.value.status == 400 and "absolute IRI" in caught.value.message


def test_parse_request_direct_query_refuses_query_parameter():
    with pytest.raises(SsikgError):
        protocol.parse_request("POST", protocol.SPARQL_QUERY, [("query", "ASK {}")], b"ASK {}")


def test_apply_using_adds_clauses_before_where_only():
    text = ("PREFIX ex: <http://ex/> INSERT { GRAPH ex:out { ?s ex:where 'WHERE { }' } } "
            "WHERE { ?s ex:p ?o } ; INSERT DATA { ex:a ex:b ex:c } ; "
            "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }")
    out = protocol.apply_using(text, ["http://g/1"], ["http://g/2"])
    assert out.count("USING <http://g/1> USING NAMED <http://g/2> WHERE") == 2
    assert "ex:where 'WHERE { }'" in out  # strings and prefixed names untouched
    assert "INSERT DATA { ex:a ex:b ex:c }" in out


def test_apply_using_rewrites_delete_where():
    out = protocol.apply_using("DELETE WHERE { ?s <http://p> ?o }", ["http://g/1"], [])
    assert out == "DELETE { ?s <http://p> ?o } USING <http://g/1> WHERE { ?s <http://p> ?o }"


def test_apply_using_ignores_keywords_in_comments_and_iris():
    text = "# WITH <http://x> USING\nINSERT { <http://a/WHERE> <http://p> ?o } WHERE { ?s ?p ?o }"
    op = protocol.parse_request("POST", protocol.SPARQL_UPDATE, [("using-graph-uri", D1)],
                                text.encode())
    assert op.rewritten().endswith(f"USING <{D1}> WHERE {{ ?s ?p ?o }}")


def test_non_utf8_url_parameters_are_400(server):
    r = requests.get(f"{server.url}/sparql?query=ASK%20%7B%20%22%FF%22%20%7D", timeout=30)
    assert "UTF-8" in assert_client_error(r, 400)["message"]
    r = requests.get(f"{server.url}/sparql?query=ASK%20%7B%20FILTER(STRLEN(%22%C3%A9%22)%3D1)%20%7D",
                     timeout=30)
    assert ask(r) is True  # é, properly encoded, is one character


def test_relative_iris_in_queries_resolve_against_the_public_base(server):
    r = sparql(server, params={"query": "SELECT ?s WHERE { VALUES ?s { <id/dcis> } }"})
    assert r.json()["results"]["bindings"][0]["s"]["value"] == "https://w3id.org/ssikg/id/dcis"


def test_output_parameter_is_an_alias_of_format(server):
    r = sparql(server, params={"query": "SELECT (1 AS ?one) {}", "output": "csv"})
    assert r.headers["Content-Type"].startswith("text/csv") and r.text.splitlines() == ["one", "1"]


def test_a_syntax_error_names_the_undeclared_prefix_and_stays_short(server):
    """Oxigraph lists the grammar's Unicode ranges for a missing prefix; the client is told
    which prefix to declare."""
    r = sparql(server, params={"query": "SELECT * WHERE { ?s foo:p ?o }"}, headers={"Accept": "application/json"})
    message = assert_client_error(r, 400)["message"]
    assert message == "malformed query: error at 1:26: undeclared prefix 'foo:' (declare it: PREFIX foo: <…>)"
    declared = "PREFIX foo: <http://example.org/> SELECT * WHERE { ?s foo:p bar:o }"
    message = assert_client_error(sparql(server, params={"query": declared}), 400)["message"]
    assert "undeclared prefix 'bar:'" in message
    message = assert_client_error(sparql(server, params={"query": "SELECT * WHERE { ?s ?p }"}), 400)["message"]
    assert message.startswith("malformed query: error at 1:") and len(message) < 400
    blank = "CONSTRUCT { _:b ?p ?o } WHERE { ?s ?p x:a }"  # a blank node's label is no prefix
    assert "undeclared prefix 'x:'" in assert_client_error(sparql(server, params={"query": blank}), 400)["message"]
    subject = "SELECT * { x:a ?p ?o }"  # where Oxigraph does not say why
    assert "the prefix 'x:' is not declared" in assert_client_error(sparql(server, params={"query": subject}),
                                                                    400)["message"]
