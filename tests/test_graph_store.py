"""The W3C SPARQL 1.1 Graph Store HTTP Protocol test suite (rdf-tests
``sparql/sparql11/http-rdf-update``), one test per case, against a real server
on loopback; plus the dataset-level GET and the rules around uploads.

The cases run in the suite's order on one writable server (a private copy of
the built store): each GET checks the state left by the write before it.
"""

from __future__ import annotations

import pytest
import requests
from rdflib import Graph
from rdflib.compare import isomorphic

TOKEN = "gsp-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TURTLE = {"Content-Type": "text/turtle; charset=utf-8", **AUTH}
PERSON1 = "http://www.example/graphstore/person/1.ttl"
PERSON2 = "http://www.example/graphstore/person/2.ttl"
PREFIXES = ("@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n"
            "@prefix v: <http://www.w3.org/2006/vcard/ns#> .\n")
JANE = PREFIXES + """<http://www.example/graphstore/person/1> a foaf:Person;
    foaf:businessCard [ a v:VCard; v:fn "John Doe" ] ."""
JANE_REPLACED = PREFIXES + """<http://www.example/graphstore/person/1> a foaf:Person;
    foaf:businessCard [ a v:VCard; v:fn "Jane Doe" ] ."""
ALICE = PREFIXES + """[] a foaf:Person; foaf:businessCard [ a v:VCard; v:given-name "Alice" ] ."""
JANE_NAMED = PREFIXES + """<http://www.example/graphstore/person/1> foaf:name "Jane Doe" ."""
JANE_POSTED = PREFIXES + """<http://www.example/graphstore/person/1> a foaf:Person;
    foaf:name "Jane Doe";
    foaf:businessCard [ a v:VCard; v:fn "Jane Doe" ] ."""
JANE_MULTIPART = PREFIXES + """<http://www.example/graphstore/person/1> a foaf:Person;
    foaf:name "Jane Doe"; foaf:givenName "Jane"; foaf:familyName "Doe";
    foaf:businessCard [ a v:VCard; v:fn "Jane Doe" ] ."""


@pytest.fixture(scope="module")
def server(built_store, tmp_path_factory):
    from conftest import writable_live_server

    with writable_live_server(built_store, tmp_path_factory.mktemp("gsp"), TOKEN) as live:
        live.created = None
        yield live


def store_url(server, **params):
    return requests.Request("GET", f"{server.url}/store", params=params).prepare().url


def get_graph(server, url, accept="text/turtle"):
    r = requests.get(url, headers={"Accept": accept}, timeout=30)
    return r, (Graph().parse(data=r.text, format="turtle") if r.status_code == 200 else None)


def same(turtle: str, graph: Graph) -> bool:
    return isomorphic(Graph().parse(data=turtle, format="turtle"), graph)


def test_w3c_put__initial_state(server):
    r = requests.put(store_url(server, graph=PERSON1), data=JANE, headers=TURTLE, timeout=30)
    assert r.status_code == 201, r.text
    assert "Content-Type" not in r.headers and r.content == b""  # no content, no type


def test_w3c_get_of_put__initial_state(server):
    r, graph = get_graph(server, store_url(server, graph=PERSON1))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle")
    assert same(JANE, graph)


def test_w3c_put__graph_already_in_store(server):
    r = requests.put(store_url(server, graph=PERSON1), data=JANE_REPLACED, headers=TURTLE, timeout=30)
    assert r.status_code == 204


def test_w3c_get_of_put__graph_already_in_store(server):
    r, graph = get_graph(server, store_url(server, graph=PERSON1))
    assert same(JANE_REPLACED, graph)  # replaced, not merged


def test_w3c_put__default_graph(server):
    r = requests.put(store_url(server, default=""), data=ALICE, headers=TURTLE, timeout=30)
    assert r.status_code == 204  # the default graph always exists


def test_w3c_get_of_put__default_graph(server):
    r, graph = get_graph(server, f"{server.url}/store?default")
    assert r.status_code == 200 and same(ALICE, graph)


def test_w3c_put__mismatched_payload(server):
    before, _ = get_graph(server, store_url(server, graph=PERSON1))
    rdfxml = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="http://a"/></rdf:RDF>')
    r = requests.put(store_url(server, graph=PERSON1), data=rdfxml, headers=TURTLE, timeout=30)
    assert r.status_code == 400
    assert "cannot parse" in r.json()["message"] and "nothing was changed" in r.json()["message"]
    after, _ = get_graph(server, store_url(server, graph=PERSON1))
    assert after.content == before.content


def test_w3c_delete__existing_graph(server):
    requests.put(store_url(server, graph=PERSON2), data=JANE, headers=TURTLE, timeout=30)
    r = requests.delete(store_url(server, graph=PERSON2), headers=AUTH, timeout=30)
    assert r.status_code == 204


def test_w3c_get_of_delete__existing_graph(server):
    r = requests.get(store_url(server, graph=PERSON2), timeout=30)
    assert r.status_code == 404 and PERSON2 in r.json()["message"]


def test_w3c_delete__nonexistent_graph(server):
    r = requests.delete(store_url(server, graph=PERSON2), headers=AUTH, timeout=30)
    assert r.status_code == 404


def test_w3c_post__existing_graph(server):
    r = requests.post(store_url(server, graph=PERSON1), data=JANE_NAMED, headers=TURTLE, timeout=30)
    assert r.status_code == 204


def test_w3c_get_of_post__existing_graph(server):
    r, graph = get_graph(server, store_url(server, graph=PERSON1))
    assert same(JANE_POSTED, graph)  # merged


def test_w3c_post__multipart_formdata(server):
    files = [
        ("lastName", ("lastName.ttl", PREFIXES + '<http://www.example/graphstore/person/1> '
                      'foaf:familyName "Doe" .', "text/turtle")),
        ("firstName", ("firstName.nt", '<http://www.example/graphstore/person/1> '
                       '<http://xmlns.com/foaf/0.1/givenName> "Jane" .\n', None)),
    ]
    r = requests.post(store_url(server, graph=PERSON1), files=files, headers=AUTH, timeout=30)
    assert r.status_code == 204, r.text


def test_w3c_get_of_post__multipart_formdata(server):
    r, graph = get_graph(server, store_url(server, graph=PERSON1))
    assert same(JANE_MULTIPART, graph)


def test_w3c_post__create__new_graph(server):
    r = requests.post(f"{server.url}/store", data=ALICE, headers=TURTLE, timeout=30)
    assert r.status_code == 201
    server.created = r.headers["Location"]
    assert "graph=" in server.created


def test_w3c_get_of_post__create__new_graph(server):
    r, graph = get_graph(server, requests.compat.urljoin(server.url, server.created))
    assert r.status_code == 200 and same(ALICE, graph)


def test_w3c_get_of_post__after_noop(server):
    url = requests.compat.urljoin(server.url, server.created)
    r = requests.post(url, data=b"", headers=TURTLE, timeout=30)
    assert r.status_code == 204
    r, graph = get_graph(server, url)
    assert same(ALICE, graph)


def test_w3c_head_on_an_existing_graph(server):
    r = requests.head(store_url(server, graph=PERSON1), headers={"Accept": "text/turtle"}, timeout=30)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"].startswith("text/turtle") and r.headers["ETag"]


def test_w3c_head_on_a_nonexisting_graph(server):
    r = requests.head(store_url(server, graph="http://www.example/graphstore/person/4.ttl"), timeout=30)
    assert r.status_code == 404


# ---------------------------------------------------------------------------
# Beyond the suite


def test_get_named_graph_in_quad_syntax_keeps_the_graph_name(server):
    r = requests.get(store_url(server, graph=PERSON1), headers={"Accept": "application/n-quads"},
                     timeout=30)
    assert r.status_code == 200
    assert all(line.endswith(f"<{PERSON1}> .") for line in r.text.splitlines() if line)


def test_get_whole_dataset_as_trig(server):
    import pyoxigraph as ox

    r = requests.get(f"{server.url}/store", headers={"Accept": "application/trig"}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/trig")
    graphs = {q.graph_name.value for q in ox.parse(r.content, ox.RdfFormat.TRIG)
              if isinstance(q.graph_name, ox.NamedNode)}
    assert "https://w3id.org/ssikg/graph/stated" in graphs and PERSON1 in graphs
    r = requests.get(f"{server.url}/store", headers={"Accept": "text/turtle"}, timeout=30)
    assert r.status_code == 406 and "application/trig" in r.json()["offered"]


def test_get_conditional_304(server):
    r = requests.get(store_url(server, graph=PERSON1), timeout=30)
    again = requests.get(store_url(server, graph=PERSON1), headers={"If-None-Match": r.headers["ETag"]},
                         timeout=30)
    assert again.status_code == 304 and again.content == b""


def test_upload_naming_another_graph_is_refused(server):
    r = requests.put(store_url(server, graph=PERSON1), data="<http://g> { <http://a> <http://b> 1 }",
                     headers={"Content-Type": "application/trig", **AUTH}, timeout=30)
    assert r.status_code == 400 and "names graph" in r.json()["message"]


def test_unsupported_upload_type_is_415(server):
    r = requests.put(store_url(server, graph=PERSON1), data="a,b", headers={
        "Content-Type": "text/csv", **AUTH}, timeout=30)
    assert r.status_code == 415 and "text/turtle" in r.json()["message"]


def test_broken_multipart_part_changes_nothing(server):
    before = requests.get(store_url(server, graph=PERSON1), timeout=30).content
    files = [("good", ("good.ttl", "<http://a> <http://b> <http://c> .", "text/turtle")),
             ("bad", ("bad.ttl", "<http://a> <http://b> .", "text/turtle"))]
    r = requests.post(store_url(server, graph=PERSON1), files=files, headers=AUTH, timeout=30)
    assert r.status_code == 400 and "bad.ttl" in r.json()["message"]
    assert requests.get(store_url(server, graph=PERSON1), timeout=30).content == before


def test_default_and_graph_together_is_400(server):
    r = requests.get(f"{server.url}/store?default&graph={PERSON1}", timeout=30)
    assert r.status_code == 400


def test_writes_need_the_token(server):
    r = requests.put(store_url(server, graph=PERSON1), data=JANE, headers={"Content-Type": "text/turtle"},
                     timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.delete(store_url(server, graph=PERSON1), headers={"Authorization": "Bearer nope"},
                        timeout=30)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert requests.get(store_url(server, graph=PERSON1), timeout=30).status_code == 200


def test_an_empty_put_leaves_an_empty_graph(server):
    """GSP §5.3 and sd:EmptyGraphs: PUT of nothing empties the graph; the graph stays."""
    graph = "http://www.example/graphstore/emptied"
    assert requests.put(store_url(server, graph=graph), data=JANE, headers=TURTLE, timeout=30).status_code == 201
    assert requests.put(store_url(server, graph=graph), data=b"", headers=TURTLE, timeout=30).status_code == 204
    r, content = get_graph(server, store_url(server, graph=graph))
    assert r.status_code == 200 and len(content) == 0
    ask = requests.get(f"{server.url}/sparql", params={"query": f"ASK {{ GRAPH <{graph}> {{}} }}"},
                       headers={"Accept": "application/sparql-results+json"}, timeout=30)
    assert ask.json()["boolean"] is True


def test_writes_honour_if_match_and_if_none_match(server):
    """RFC 9110 §13.1.1–2: a failed precondition is 412 and changes nothing."""
    graph = "http://www.example/graphstore/conditional"
    url = store_url(server, graph=graph)

    def put(body, **headers):
        return requests.put(url, data=body, headers={**TURTLE, **headers}, timeout=30)

    assert put(JANE, **{"If-Match": "*"}).status_code == 412  # nothing there yet
    assert put(JANE, **{"If-None-Match": "*"}).status_code == 201  # create only
    refused = put(ALICE, **{"If-None-Match": "*"})
    assert refused.status_code == 412 and "exists" in refused.json()["message"]
    read = requests.get(url, headers={"Accept": "application/n-triples", "Accept-Encoding": "gzip"}, timeout=30)
    assert read.headers["ETag"].endswith('-gzip"')  # any representation read may be named
    assert put(JANE_REPLACED, **{"If-Match": read.headers["ETag"]}).status_code == 204
    stale = put(ALICE, **{"If-Match": read.headers["ETag"]})  # the graph changed since that read
    assert stale.status_code == 412 and "changed" in stale.json()["message"]
    assert requests.delete(url, headers={**AUTH, "If-Match": read.headers["ETag"]}, timeout=30).status_code == 412
    assert requests.post(url, data=ALICE, timeout=30, headers={
        **TURTLE, "If-None-Match": read.headers["ETag"]}).status_code == 204  # not the current version
    r, content = get_graph(server, url)
    assert same(PREFIXES + JANE_REPLACED.removeprefix(PREFIXES) + ALICE.removeprefix(PREFIXES), content)
    current = requests.get(url, headers={"Accept": "text/turtle"}, timeout=30).headers["ETag"]
    assert requests.delete(url, headers={**AUTH, "If-Match": current}, timeout=30).status_code == 204
    assert requests.get(url, timeout=30).status_code == 404


# ---------------------------------------------------------------------------
# Whole-dataset load: POST of TriG / N-Quads without ?graph, as Oxigraph server and Fuseki

LOADED_A, LOADED_B = "http://www.example/load/a", "http://www.example/load/b"
TWO_GRAPHS = f"""@prefix foaf: <http://xmlns.com/foaf/0.1/> .
<http://www.example/load/default-subject> foaf:name "in the default graph" .
<{LOADED_A}> {{ <http://www.example/load/p1> foaf:name "One" ; foaf:knows _:friend .
               _:friend foaf:name "Friend" . }}
<{LOADED_B}> {{ <http://www.example/load/p2> foaf:name "Two" . }}
"""


def test_post_of_trig_without_graph_loads_each_graph(server):
    r = requests.post(f"{server.url}/store", data=TWO_GRAPHS, headers={
        "Content-Type": "application/trig", **AUTH}, timeout=30)
    assert r.status_code == 204 and "Location" not in r.headers
    a, graph_a = get_graph(server, store_url(server, graph=LOADED_A))
    assert a.status_code == 200 and len(graph_a) == 3
    b, graph_b = get_graph(server, store_url(server, graph=LOADED_B))
    assert same('<http://www.example/load/p2> <http://xmlns.com/foaf/0.1/name> "Two" .', graph_b)
    default = requests.get(store_url(server, default=""), headers={"Accept": "application/n-triples"},
                           timeout=30).text
    assert "in the default graph" in default
    nquads = f'<http://www.example/load/p3> <http://xmlns.com/foaf/0.1/name> "Three" <{LOADED_B}> .\n'
    r = requests.post(f"{server.url}/store", data=nquads, headers={
        "Content-Type": "application/n-quads", **AUTH}, timeout=30)
    assert r.status_code == 204
    assert len(get_graph(server, store_url(server, graph=LOADED_B))[1]) == 2  # merged, not replaced


def test_a_broken_dataset_load_changes_nothing(server):
    broken = f"<{LOADED_A}/broken> {{ <http://a> <http://b> <http://c> . }}\n<{LOADED_A}/more> {{ <http://a> "
    r = requests.post(f"{server.url}/store", data=broken, headers={
        "Content-Type": "application/trig", **AUTH}, timeout=30)
    assert r.status_code == 400 and r.json()["message"]
    assert requests.get(store_url(server, graph=f"{LOADED_A}/broken"), timeout=30).status_code == 404


def test_a_dataset_load_needs_the_token_and_honours_if_match(server):
    body = f"<{LOADED_A}/tokenless> {{ <http://a> <http://b> <http://c> . }}"
    r = requests.post(f"{server.url}/store", data=body, headers={"Content-Type": "application/trig"},
                      timeout=30)
    assert r.status_code == 401
    read = requests.get(f"{server.url}/store", headers={"Accept": "application/n-quads"}, timeout=60)
    assert requests.post(f"{server.url}/store", data=body, headers={
        "Content-Type": "application/trig", "If-Match": '"stale"', **AUTH}, timeout=30).status_code == 412
    assert requests.get(store_url(server, graph=f"{LOADED_A}/tokenless"), timeout=30).status_code == 404
    assert requests.post(f"{server.url}/store", data=body, headers={
        "Content-Type": "application/trig", "If-Match": read.headers["ETag"], **AUTH}, timeout=30).status_code == 204


def test_the_whole_dataset_downloads_as_a_named_file(server):
    for accept, name in (("application/trig", "ssikg.trig"), ("application/n-quads", "ssikg.nq")):
        r = requests.get(f"{server.url}/store", headers={"Accept": accept}, timeout=60, stream=True)
        assert r.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        r.close()
    one = requests.head(store_url(server, graph=LOADED_A), timeout=30)
    assert "Content-Disposition" not in one.headers


def test_upload_charsets_are_those_of_validate(server):
    """One table of upload types and charsets for the Graph Store and /validate: UTF-8 and
    its ASCII subset are read, any other charset is a 415 naming UTF-8, and nothing is stored."""
    graph = "http://www.example/graphstore/charsets"
    body = PREFIXES + "<http://www.example/graphstore/person/9> foaf:name \"Nine\" ."
    ascii_put = requests.put(f"{server.url}/store", params={"graph": graph}, data=body.encode("ascii"),
                             headers={**AUTH, "Content-Type": "text/turtle; charset=us-ascii"}, timeout=30)
    assert ascii_put.status_code == 201, ascii_put.text
    latin = requests.put(f"{server.url}/store", params={"graph": graph}, data=body.encode("latin-1"),
                         headers={**AUTH, "Content-Type": "text/turtle; charset=iso-8859-1"}, timeout=30)
    assert latin.status_code == 415 and "UTF-8" in latin.json()["message"]
    assert requests.delete(f"{server.url}/store", params={"graph": graph}, headers=AUTH, timeout=30).status_code == 204
