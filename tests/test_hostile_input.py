"""Hostile and malformed requests, from a fuzzing audit of both servers (the development
server and gunicorn): each gets a clear 4xx in the client's format, nothing is fetched,
expanded or stored that the client did not send, and the data is unchanged.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
from test_safety_service_load import Listener

TOKEN = "hostile-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRAPH = "http://example.org/hostile"
NT = {"Content-Type": "application/n-triples", **AUTH}
TRIPLE = b"<http://example.org/a> <http://example.org/b> <http://example.org/c> .\n"
BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY %s "%s">' % (bytes([c]), (b"&%s;" % bytes([c - 1])) * 10)
                   for c in range(ord("b"), ord("j")))
        + b']><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
          b'<rdf:Description rdf:about="http://a/b"><rdf:value>&i;</rdf:value></rdf:Description></rdf:RDF>')


@pytest.fixture
def server(make_app, serve_app):
    live = serve_app(make_app(update_token=TOKEN, max_body_bytes=4096))
    assert requests.put(f"{live.url}/store", params={"graph": GRAPH}, data=TRIPLE, headers=NT,
                        timeout=30).status_code == 201
    return live


def graph_content(server) -> bytes:
    return requests.get(f"{server.url}/store", params={"graph": GRAPH}, timeout=30,
                        headers={"Accept": "application/n-triples"}).content


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def test_validate_never_fetches_a_json_ld_context(server):
    listener = Listener()
    try:
        for context in (f"{listener.base}/ctx.jsonld", "file:///etc/hostname", [f"{listener.base}/a"]):
            body = {"@context": context, "@id": "http://a/b", "p": "x"}
            r = requests.post(f"{server.url}/validate", json=body, timeout=30,
                              headers={"Content-Type": "application/ld+json", "Accept": "application/json"})
            assert r.status_code == 400, r.text
            assert r.headers["Content-Type"].startswith("application/json")
        assert listener.connections == 0
    finally:
        listener.close()


def test_xml_entities_are_not_expanded_without_bound(server):
    started = time.monotonic()
    for path, params, headers in (("/validate", None, {"Accept": "application/json"}),
                                  ("/store", {"graph": GRAPH}, AUTH)):
        r = requests.request("POST" if path == "/validate" else "PUT", server.url + path, params=params,
                             data=BOMB, timeout=60, headers={**headers, "Content-Type": "application/rdf+xml"})
        assert r.status_code == 400 and "entit" in r.json()["message"], r.text
    assert time.monotonic() - started < 10
    for declaration in ('<!ENTITY x SYSTEM "file:///etc/passwd">', '<!ENTITY % p "x">'):
        document = BOMB.split(b"[", 1)[0] + b"[" + declaration.encode() + b"]>" + BOMB.split(b"]>", 1)[1]
        r = requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=document, timeout=30,
                         headers={**AUTH, "Content-Type": "application/rdf+xml"})
        assert r.status_code == 400 and "entity" in r.json()["message"]
    assert graph_content(server) == TRIPLE
    # Entities that shorten IRIs, as ontology editors write them, are fine.
    usual = (b'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY ex "http://example.org/">]>'
             b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
             b'<rdf:Description rdf:about="&ex;a"><rdf:value>v</rdf:value></rdf:Description></rdf:RDF>')
    r = requests.post(f"{server.url}/store", params={"graph": GRAPH}, data=usual, timeout=30,
                      headers={**AUTH, "Content-Type": "application/rdf+xml"})
    assert r.status_code == 204 and b'"v"' in graph_content(server)


def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(server):
    def chunks():
        for _ in range(20):  # 20 × 500 bytes, over the 4,096-byte limit, with no Content-Length
            yield TRIPLE * 6

    for method, path, params in (("PUT", "/store", {"graph": GRAPH}), ("POST", "/sparql", None)):
        r = requests.request(method, server.url + path, params=params, data=chunks(), timeout=30,
                             headers=NT if path == "/store" else {"Content-Type": "application/sparql-query"})
        assert r.status_code == 413, (path, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
    assert graph_content(server) == TRIPLE
    small = requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=iter([TRIPLE]), headers=NT,
                         timeout=30)
    assert small.status_code == 204 and graph_content(server) == TRIPLE  # a chunked body within it


def test_an_invalid_content_length_is_400_not_an_empty_body(server):
    for value in (b"abc", b"-5", b"+3"):
        answer = raw_request(server.port, b"PUT /store?graph=" + GRAPH.encode() + b" HTTP/1.1\r\n"
                             b"Host: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
                             b"Content-Type: application/n-triples\r\nContent-Length: " + value +
                             b"\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert graph_content(server) == TRIPLE


def test_an_encoded_request_body_is_415(server):
    import gzip

    r = requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=gzip.compress(TRIPLE), timeout=30,
                     headers={**NT, "Content-Encoding": "gzip"})
    assert r.status_code == 415 and "Content-Encoding" in r.json()["message"]
    r = requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=TRIPLE, timeout=30,
                     headers={**NT, "Content-Encoding": "br"})
    assert r.status_code == 415
    assert graph_content(server) == TRIPLE


def test_a_graph_parameter_with_control_characters_or_empty_is_400(server):
    for value in ("\x00", "\x01 sneaky", "", " "):
        r = requests.put(f"{server.url}/store", params={"graph": value}, data=TRIPLE, headers=NT, timeout=30)
        assert r.status_code == 400, repr(value)
    store_itself = requests.get(f"{server.url}/store", params={"graph": f"{server.url}/store"}, timeout=30)
    assert store_itself.status_code == 404  # nothing was written under the endpoint's own URL


@pytest.mark.parametrize("path", ["/", "/id/dcis.html", "/org-chart", "/org-chart.svg"])
def test_any_lang_parameter_gets_a_page(live_server, path):
    for lang in ('"', "a\r\nX-Injected: 1", "€", "fr"):
        r = requests.get(live_server.url + path, params={"lang": lang}, timeout=60)
        assert r.status_code == 200, (lang, r.status_code)
        assert "X-Injected" not in r.headers and r.headers["ETag"].startswith('W/"')


@pytest.mark.parametrize("value", ["²", "¹", "٣", "1" * 4400, "0" * 30 + "1", "-1", "1e3"], ids=lambda v: v[:6])
def test_paging_parameters_are_ascii_numbers(live_server, value):
    r = requests.get(f"{live_server.url}/api/queries/label-search", timeout=60,
                     params={"text": "x", "limit": value}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.json()["parameter"] == "limit"


def test_the_timeout_parameter_is_read_however_it_is_spelled(live_server):
    ask = "ASK { ?s ?p ?o }"
    encoded = requests.get(f"{live_server.url}/sparql?query=ASK%20%7B%7D&%74imeout=abc", timeout=30)
    assert encoded.status_code == 400 and "timeout" in encoded.json()["message"]
    twice = requests.get(f"{live_server.url}/sparql", params=[("query", ask), ("timeout", "5"),
                                                             ("timeout", "abc")], timeout=30)
    assert twice.status_code == 400 and twice.json()["parameter"] == "timeout"
    assert requests.get(f"{live_server.url}/sparql", params={"query": ask, "timeout": "5"},
                        timeout=30).status_code == 200


def test_made_up_methods_keep_the_metrics_readable_and_bounded(live_server):
    for method in (b'X"Y', b"M\\N", b"AUDITMETHOD1", b"AUDITMETHOD2"):
        raw_request(live_server.port, method + b" /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = requests.get(f"{live_server.url}/metrics", timeout=30).text
    methods = {line.split('method="', 1)[1].split('"', 1)[0]
               for line in text.splitlines() if line.startswith("ssikg_http_requests_total")}
    # the standard methods (other tests of the session may have sent PATCH or TRACE), and one
    # OTHER for every made-up one
    assert "OTHER" in methods and methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
                                              "CONNECT", "OTHER"}


def test_a_request_id_is_echoed_only_when_it_is_a_plain_token(live_server):
    plain = requests.get(f"{live_server.url}/health", headers={"X-Request-Id": "trace-42.a/b=="}, timeout=30)
    assert plain.headers["X-Request-Id"] == "trace-42.a/b=="
    odd = raw_request(live_server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\n"
                                        b"Connection: close\r\n\r\n")
    assert odd.startswith(b"HTTP/1.1 200") and b"a\x01b" not in odd


def test_options_answers_no_content_type(live_server):
    r = requests.options(f"{live_server.url}/sparql", timeout=30)
    assert r.status_code == 200 and "GET" in r.headers["Allow"] and "Content-Type" not in r.headers


def nested_json_ld(depth: int) -> bytes:
    return b'{"@id": "http://a/b", "http://e/p": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def test_deeply_nested_json_ld_is_refused_before_parsing(server):
    """pyoxigraph's JSON-LD parser recursed per level and crashed the server process (SIGSEGV)
    from ~4,000 levels; far below that, the upload is refused and nothing is stored."""
    before = graph_content(server)
    for deep in (nested_json_ld(300), b'{"@id": "http://a/b", "http://e/p": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}"):
        validated = requests.post(f"{server.url}/validate", data=deep, timeout=30,
                                  headers={"Content-Type": "application/ld+json", "Accept": "application/json"})
        assert validated.status_code == 400 and "more than 256 deep" in validated.json()["message"]
        stored = requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=deep, timeout=30,
                              headers={"Content-Type": "application/ld+json", **AUTH})
        assert stored.status_code == 400 and "more than 256 deep" in stored.text
    assert graph_content(server) == before
    shallow = requests.post(f"{server.url}/validate", data=nested_json_ld(100), timeout=30,
                            headers={"Content-Type": "application/ld+json", "Accept": "application/json"})
    assert shallow.status_code in (200, 422), shallow.text  # read and validated
    quoted = b'{"@id": "http://a/b", "http://e/p": "' + b"{[" * 400 + b'"}'  # brackets in a string
    assert requests.post(f"{server.url}/validate", data=quoted, timeout=30,
                         headers={"Content-Type": "application/ld+json"}).status_code in (200, 422)


def test_deeply_nested_sparql_is_refused_before_parsing(server):
    """Oxigraph's SPARQL parser, too, crashed (an update is parsed in the server process)."""
    opened, closed = "[<a:p>" * 300, "]" * 300
    update = f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <a:a> <a:b> {opened}1{closed} }} }}"
    refused = requests.post(f"{server.url}/sparql", data=update.encode(), timeout=30,
                            headers={"Content-Type": "application/sparql-update", **AUTH})
    assert refused.status_code == 400 and "more than 256 deep" in refused.json()["message"]
    query = f"ASK {{ FILTER({'(' * 300}1{')' * 300}) }}"
    asked = requests.get(f"{server.url}/sparql", params={"query": query}, timeout=30,
                         headers={"Accept": "application/json"})
    assert asked.status_code == 400 and asked.json()["title"] == "Nested too deeply"
    fine = f"ASK {{ FILTER({'(' * 200}1{')' * 200}) }} # {'(' * 400}"  # a comment does not nest
    assert requests.get(f"{server.url}/sparql", params={"query": fine}, timeout=30,
                        headers={"Accept": "application/json"}).json()["boolean"] is True


CHAINS = {
    "unary operators": "ASK { ?s ?p ?o FILTER(" + "!" * 10_000 + "true) }",
    "joined groups": "SELECT * WHERE { " + "{ ?s ?p ?o } " * 400 + "}",
    "MINUS chain": "SELECT * WHERE { ?s ?p ?o " + "MINUS { ?s <a:x> ?o } " * 3000 + "}",
    "BIND chain": "SELECT * WHERE { BIND(1 AS ?x0) " + "".join(f"BIND(?x{i}+1 AS ?x{i + 1}) " for i in range(3000))
                  + "}",
    "OPTIONAL chain": "SELECT * WHERE { ?s ?p ?o " + "OPTIONAL { ?s <a:x> ?o } " * 1000 + "}",
    "path steps": "SELECT * WHERE { ?s " + "/".join(["<a:b>"] * 3000) + " ?o }",
}


@pytest.fixture
def roomy_server(make_app, serve_app):
    """A writable server with the default body limit (the chains are tens of kilobytes)."""
    return serve_app(make_app(update_token=TOKEN))


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_long_chains_are_refused_as_nesting(roomy_server, name):
    """Left-deep chains nest Oxigraph's algebra as brackets do: a few hundred joined groups, a
    few thousand MINUS, BIND or path steps, ten thousand '!' crashed the thread evaluating
    them (the whole server process under isolation=thread) — now a 400, as deep brackets are."""
    asked = requests.post(f"{roomy_server.url}/sparql", data={"query": CHAINS[name]}, timeout=30,
                          headers={"Accept": "application/json"})
    assert asked.status_code == 400 and asked.json()["title"] == "Nested too deeply", asked.text
    assert requests.get(f"{roomy_server.url}/health", timeout=30).status_code == 200
    update = "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(" + "!" * 20_000 + "true) }"
    refused = requests.post(f"{roomy_server.url}/update", data=update.encode(), timeout=30,
                            headers={"Content-Type": "application/sparql-update", **AUTH})
    assert refused.status_code == 400


def test_wide_but_shallow_queries_still_run(roomy_server):
    """What the chains rule must not refuse: long flat expressions, alternatives, VALUES, many
    short paths and divisions."""
    flat = "ASK { FILTER(" + " && ".join(["true"] * 2000) + ") }"
    alternatives = "ASK { ?s " + "|".join(["<a:b>"] * 200) + " ?o }"
    values = "SELECT * WHERE { VALUES ?x { " + " ".join(f"<a:v{i}>" for i in range(3000)) + " } }"
    # many short paths and divisions, each ended by its object or operand (they were added up)
    paths = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o " + " ".join(
        f"OPTIONAL {{ ?s <a:a>/<a:b>/<a:c>/<a:d> ?o{i} }}" for i in range(65)) + " }"
    divisions = "SELECT * { BIND(2 AS ?a) " + " ".join(f"FILTER(?a/{i} > 0)" for i in range(1, 270)) + " } ORDER BY " \
        + " ".join(f"(?a/{i})" for i in range(1, 261))
    for query in (flat, alternatives, values, paths, divisions):
        answer = requests.post(f"{roomy_server.url}/sparql", data={"query": query}, timeout=60,
                               headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200, answer.text


def test_a_plain_text_error_shows_control_characters_as_codes(live_server):
    """A terminal reading a text/plain error must not run an escape sequence a client sent,
    nor show a line the server did not write."""
    r = requests.get(f"{live_server.url}/validate", params={"format": "\x1b[31mRED\r\nX-Injected: 1"},
                     headers={"Accept": "text/plain"}, timeout=30)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert "\x1b" not in r.text and r.text.count("\n") == 1 and "\\x1b[31mRED\\x0d\\x0aX-Injected" in r.text


def test_an_iri_of_another_scheme_is_never_a_link(server):
    """Data (or a query) may hold javascript: IRIs: pages show them as text, and the page
    policy runs no inline script anyway."""
    evil = "javascript:alert(document.domain)"
    update = f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <https://w3id.org/ssikg/id/dcis> <http://www.w3.org/2000/01/rdf-schema#seeAlso> <{evil}> }} }}"
    assert requests.post(f"{server.url}/sparql", data=update.encode(), timeout=30,
                         headers={"Content-Type": "application/sparql-update", **AUTH}).status_code == 204
    page = requests.get(f"{server.url}/id/dcis.html", timeout=30)
    assert page.status_code == 200 and 'href="javascript:' not in page.text and "javascript:alert" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    query = f'SELECT ?y WHERE {{ BIND(IRI("{evil}") AS ?y) }}'
    results = requests.get(f"{server.url}/sparql", params={"query": query, "format": "html"}, timeout=30)
    assert results.status_code == 200 and 'href="javascript:' not in results.text
    assert "Content-Security-Policy" in results.headers
