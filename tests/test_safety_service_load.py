"""SERVICE and LOAD: refused by default with zero outbound connections, an
allowlist that admits exactly what it lists, private targets refused unless
allowed, and a guard that reads SPARQL syntax (strings, IRIs, comments,
prefixed names, SILENT, variables, Oxigraph's keyword gluing) rather than
grepping the text.

The outbound side is a real listener on 127.0.0.1 that counts connections
and answers like a tiny SPARQL endpoint.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import pyoxigraph as ox
import pytest
import requests

from ssikg.sparql_guard import (
    OutboundPolicy,
    Refused,
    Target,
    check_outbound,
    is_public_address,
    outbound_targets,
    tokenize,
)

TOKEN = "safety-token"
JSON = {"Accept": "application/sparql-results+json"}
ANSWER = {"head": {"vars": ["x"]},
          "results": {"bindings": [{"x": {"type": "literal", "value": "from the listener"}}]}}


class Listener:
    """A loopback TCP server counting connections and answering every request with ANSWER
    (or with the bytes of ``reply``)."""

    def __init__(self, reply: bytes | None = None):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.paths: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    request = conn.recv(65536).decode("latin-1")
                except OSError:
                    continue
                self.paths.append(request.split(" ")[1] if " " in request else "")
                if self.reply is not None:
                    conn.sendall(self.reply)
                    continue
                body = json.dumps(ANSWER).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                             b"Content-Length: " + str(len(body)).encode() +
                             b"\r\nConnection: close\r\n\r\n" + body)

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def query(server, text):
    return requests.get(f"{server.url}/sparql", params={"query": text}, headers=JSON, timeout=60)


def update(server, text):
    return requests.post(f"{server.url}/sparql", data={"update": text},
                         headers={"Authorization": f"Bearer {TOKEN}", **JSON}, timeout=60)


def service_forms(base: str) -> list[str]:
    """SERVICE calls to ``base`` written every way Oxigraph accepts (all make a request)."""
    prefix = f"PREFIX e: <{base}/> "
    port = base.rsplit(":", 1)[1]
    return [
        f"SELECT * WHERE {{ SERVICE <{base}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ service silent <{base}/sparql> {{ ?s ?p ?o }} }}",
        prefix + "SELECT * WHERE { SERVICE e:sparql { ?s ?p ?o } }",
        prefix + "SELECT * WHERE { SERVICEe:sparql { ?s ?p ?o } }",
        prefix + "SELECT * WHERE { SERVICE SILENTe:sparql { ?s ?p ?o } }",
        prefix + "SELECT * WHERE { ?s ?p trueSERVICE e:sparql { ?s ?p ?o } }",
        f"BASE <{base}/> SELECT * WHERE {{ SERVICE <sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE <http://127.0.0.\\u0031:{port}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE#comment\n<{base}/sparql>{{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE ?endpoint {{ ?s ?p ?o }} VALUES ?endpoint {{ <{base}/sparql> }} }}",
    ]


def test_the_listener_does_see_pyoxigraph_connect(listener):
    """The detector works: without the guard, pyoxigraph itself connects to the listener."""
    store = ox.Store()
    results = list(store.query(f"SELECT * WHERE {{ SERVICE <{listener.base}/sparql> {{ ?x ?y ?z }} }}"))
    assert listener.connections == 1
    assert results[0]["x"].value == "from the listener"


def test_service_and_load_are_refused_by_default_with_zero_connections(make_app, serve_app, listener):
    server = serve_app(make_app(update_token=TOKEN))
    for text in service_forms(listener.base):
        response = query(server, text)
        assert response.status_code == 403, (text, response.text)
        body = response.json()
        assert body["status"] == 403 and "SERVICE" in body["message"], body
    prefix = f"PREFIX e: <{listener.base}/> "
    for text in (f"LOAD <{listener.base}/data.ttl>",
                 f"LOAD SILENT <{listener.base}/data.ttl> INTO GRAPH <urn:g>",
                 prefix + "LOADSILENT e:data.ttl",
                 prefix + "INSERT DATA { <urn:a> <urn:b> <urn:c> } ; LOAD e:data.ttl"):
        response = update(server, text)
        assert response.status_code == 403, (text, response.text)
        assert "LOAD" in response.json()["message"]
    assert listener.connections == 0
    # Nothing was written either (the refused update held an INSERT DATA).
    assert query(server, "ASK { <urn:a> <urn:b> <urn:c> }").json()["boolean"] is False


def test_the_allowlist_admits_exactly_what_it_lists(make_app, serve_app, listener):
    server = serve_app(make_app(service_allowlist=f"{listener.base}/sparql",
                                service_allow_private=True, update_token=TOKEN))
    admitted = query(server, f"SELECT ?x WHERE {{ SERVICE <{listener.base}/sparql> {{ ?x ?y ?z }} }}")
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["results"]["bindings"][0]["x"]["value"] == "from the listener"
    assert listener.connections == 1
    for other in (f"{listener.base}/sparql2", f"{listener.base}/other", f"{listener.base}/",
                  f"http://127.0.0.1:{listener.port + 1}/sparql", f"https://127.0.0.1:{listener.port}/sparql"):
        refused = query(server, f"SELECT * WHERE {{ SERVICE <{other}> {{ ?x ?y ?z }} }}")
        assert refused.status_code == 403, other
        assert "allowlist" in refused.json()["message"]
    variable = query(server, "SELECT * WHERE { SERVICE ?e { ?x ?y ?z } "
                             f"VALUES ?e {{ <{listener.base}/sparql> }} }}")
    assert variable.status_code == 403 and "variable" in variable.json()["message"]
    assert update(server, f"LOAD <{listener.base}/data.ttl>").status_code == 403
    assert listener.connections == 1


def test_allowlisted_loopback_target_stays_refused_without_allow_private(make_app, serve_app, listener):
    server = serve_app(make_app(service_allowlist=f"{listener.base}/sparql"))
    refused = query(server, f"SELECT * WHERE {{ SERVICE <{listener.base}/sparql> {{ ?x ?y ?z }} }}")
    assert refused.status_code == 403
    assert "127.0.0.1" in refused.json()["message"] and "private" in refused.json()["message"]
    assert listener.connections == 0


def test_service_hidden_in_strings_comments_and_names_is_not_refused(make_app, serve_app, listener):
    server = serve_app(make_app())
    base = listener.base
    innocent = [
        f'SELECT ?x WHERE {{ BIND("SERVICE <{base}/sparql> {{ ?s ?p ?o }}" AS ?x) }}',
        f"SELECT ?x WHERE {{ BIND('''LOAD <{base}/x> ; SERVICE <{base}/y> {{}}''' AS ?x) }}",
        f"SELECT ?x WHERE {{ BIND(\"a \\\" SERVICE <{base}/sparql> {{}}\" AS ?x) }}",
        f"SELECT ?x WHERE {{ BIND(\"\\u0022 SERVICE <{base}/sparql> {{}}\" AS ?x) }}",
        f"SELECT * WHERE {{ ?s ?p ?o }} LIMIT 1 # SERVICE <{base}/sparql> {{ }}",
        "PREFIX service: <https://w3id.org/ssikg/> SELECT * WHERE { GRAPH ?g { ?s service:p ?o } } LIMIT 1",
        "PREFIX service: <https://w3id.org/ssikg/graph/> ASK { GRAPH service:stated { ?s ?p ?o } }",
        f"SELECT ?service WHERE {{ ?service <{base}/SERVICE> ?load }}",
    ]
    for text in innocent:
        response = query(server, text)
        assert response.status_code == 200, (text, response.text)
    assert listener.connections == 0


GARBAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\nContent-Length: 7\r\n"
           b"Connection: close\r\n\r\ngarbage")


def closed_port() -> int:
    """A loopback port nothing listens on (one just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_evaluation_failures_are_the_endpoints_or_the_querys_not_the_servers(make_app, serve_app, isolation):
    """An allowed SERVICE endpoint that refuses the connection or answers garbage is a 502
    naming it, in the client's format; a function the engine does not know is the query's
    fault (400).  Neither is a 500, whether the query runs in a worker or a thread."""
    garbage = Listener(reply=GARBAGE)
    closed = f"http://127.0.0.1:{closed_port()}/sparql"
    try:
        server = serve_app(make_app(service_allowlist=f"{garbage.base}/sparql,{closed}",
                                    service_allow_private=True, isolation=isolation))
        for endpoint in (closed, f"{garbage.base}/sparql"):
            text = f"SELECT ?x WHERE {{ SERVICE <{endpoint}> {{ ?x ?y ?z }} }}"
            failed = query(server, text)
            assert failed.status_code == 502, failed.text
            body = failed.json()
            assert body["services"] == [endpoint] and f"<{endpoint}>" in body["message"], body
            page = requests.get(f"{server.url}/sparql", params={"query": text}, headers={"Accept": "text/html"},
                                timeout=60)
            assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
            assert endpoint in page.text
        assert garbage.connections == 2
        skipped = query(server, f"SELECT ?x WHERE {{ OPTIONAL {{ SERVICE SILENT <{closed}> {{ ?x ?y ?z }} }} }}")
        assert skipped.status_code == 200, skipped.text
        unknown = query(server, "SELECT ?x WHERE { BIND(<http://example.org/no-such-function>(1) AS ?x) }")
        assert unknown.status_code == 400, unknown.text
        assert "<http://example.org/no-such-function>" in unknown.json()["message"]
    finally:
        garbage.close()


# ---------------------------------------------------------------------------
# The guard as pure functions


def test_tokenizer_skips_strings_comments_and_reads_iris():
    tokens = list(tokenize('PREFIX e: <http://x/\\u0041> # SERVICE\nSELECT ?v WHERE { ?v e:p """a\n"b"""@en }'))
    kinds = [(t.kind, t.value) for t in tokens]
    assert ("iri", "http://x/A") in kinds
    assert ("pname", "e:p") in kinds and ("var", "v") in kinds
    assert not any("SERVICE" in value for _kind, value in kinds)
    assert ("string", '"""a\n"b"""') in kinds


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT * WHERE { SERVICE <http://a.example/s> { } }", [("SERVICE", "http://a.example/s", False)]),
    ("PREFIX x: <http://a.example/> SELECT * WHERE { SERVICE SILENT x:s { } }",
     [("SERVICE", "http://a.example/s", True)]),
    ("PREFIX x: <http://a.example/> SELECT * WHERE { SERVICEx:s{ } }", [("SERVICE", "http://a.example/s", False)]),
    ("PREFIX x: <http://a.example/> PREFIX x: <http://b.example/> SELECT * WHERE { SERVICE x:s { } }",
     [("SERVICE", "http://b.example/s", False)]),
    ("BASE <http://a.example/dir/> SELECT * WHERE { SERVICE <../s> { } }", [("SERVICE", "http://a.example/s", False)]),
    ("PREFIX x: <http://a.example/> SELECT * WHERE { SERVICE x:s\\~1 { } }", [("SERVICE", "http://a.example/s~1", False)]),
    ("SELECT * WHERE { SERVICE ?e { } }", [("SERVICE", None, False)]),
    ("LOAD <http://a.example/d.ttl>", [("LOAD", "http://a.example/d.ttl", False)]),
    ("PREFIX x: <http://a.example/> CLEAR ALL ; LOAD SILENT x:d INTO GRAPH x:g", [("LOAD", "http://a.example/d", True)]),
    ('SELECT * WHERE { ?s ?p "SERVICE <http://a.example/s> {}" }', []),
    ("SELECT * WHERE { ?s ?p ?o } # SERVICE <http://a.example/s> {}", []),
    ("SELECT * WHERE { ?s <http://a.example/SERVICE> ?service }", []),
    ("PREFIX service: <http://a.example/> SELECT * WHERE { ?s service:x ?o ; service:y ?load }", []),
    ("PREFIX load: <http://a.example/> INSERT DATA { load:a load:b load:c }", []),
    ("PREFIX service: <http://a.example/> SELECT * WHERE { GRAPH service:g { ?s ?p ?o } }", []),
])
def test_outbound_targets(text, expected):
    found = [(t.keyword, t.iri, t.silent) for t in outbound_targets(text)]
    assert found == expected


# A prefixed name spelling service…: a SERVICE call where a pattern may begin, the term itself
# where a term is expected.  Each is run by the engine against the listener: the guard must find
# a target whenever the engine makes a request (no way around the switch), and none for the
# innocent ones (valid queries, refused with a 403 before).
PLACES_DATA = """@prefix e: <{base}/> .
<http://s/s> <http://s/p> <http://s/o>, "x"@en, "x"^^e:t, 1, true, e:graph, e:photo ; e:p <http://s/o> ; e:a <http://s/m> ;
    e:service <{base}/x> ; e:selfservice <{base}/x> .
<http://s/m> e:b <http://s/o> .
[] e:p <http://s/o> .
( 1 2 ) e:p <http://s/o> ."""
PLACES = {
    # a call: where a pattern may begin
    "at a group's start": ("{ service:c { ?a ?b ?c } }", True),
    "after a triple": ("{ ?s ?p ?o service:c { ?a ?b ?c } }", True),
    "after a triple and ;": ("{ ?s ?p ?o ; service:c { ?a ?b ?c } }", True),
    "after a '.'": ("{ ?s ?p ?o . service:c { ?a ?b ?c } }", True),
    "after a lone blank-node list": ("{ [ e:p ?o ] service:c { ?a ?b ?c } }", True),
    "after a collection with its property": ("{ ( 1 2 ) e:p ?o service:c { ?a ?b ?c } }", True),
    "after a blank-node object": ("{ ?s ?p [ e:p ?r ] service:c { ?a ?b ?c } }", True),
    "after a typed literal": ('{ ?s ?p "x"^^e:t service:c { ?a ?b ?c } }', True),
    "after a language-tagged literal": ('{ ?s ?p "x"@en service:c { ?a ?b ?c } }', True),
    "after a number": ("{ ?s ?p 1 service:c { ?a ?b ?c } }", True),
    "after a FILTER": ("{ ?s ?p ?o FILTER(true) service:c { ?a ?b ?c } }", True),
    "after a BIND": ("{ BIND(1 AS ?z) service:c { ?a ?b ?c } }", True),
    "after VALUES": ("{ VALUES ?x { 1 } service:c { ?a ?b ?c } }", True),
    "after an OPTIONAL": ("{ OPTIONAL { ?s ?p ?o } service:c { ?a ?b ?c } }", True),
    "after ', ?o2'": ("{ ?s ?p ?o , ?o2 service:c { ?a ?b ?c } }", True),
    "glued to its keyword": ("{ SERVICEe:x { ?a ?b ?c } }", True),
    "after a FILTER calling a function": ("{ FILTER xsd:boolean(true) service:c { ?a ?b ?c } }", True),
    "glued, after a FILTER calling a function": ("{ FILTER xsd:boolean(true) servicee:c { ?a ?b ?c } }", True),
    "after FILTER NOT EXISTS": ("{ FILTER NOT EXISTS { ?a e:none ?c } service:c { ?a ?b ?c } }", True),
    "after an object named …graph": ("{ ?s ?p e:graph service:c { ?a ?b ?c } }", True),
    "after an object named …to": ("{ ?s ?p e:photo service:c { ?a ?b ?c } }", True),
    "glued to a boolean object (an undeclared prefix)": ("{ ?s ?p trueservice:c { ?a ?b ?c } }", True),
    # a name: where a term is expected
    "in a local name": ("{ ?s e:service <{base}/x> { ?a ?b ?c } }", False),
    "in a longer local name": ("{ ?s e:selfservice <{base}/x> { ?a ?b ?c } }", False),
    "as an object": ("{ ?s ?p service:c { ?a ?b ?c } }", False),
    "as an object after ','": ("{ ?s ?p ?o , service:c { ?a ?b ?c } }", False),
    "as the object of 'a'": ("{ ?s a service:c { ?a ?b ?c } }", False),
    "after a path": ("{ ?s e:a/e:b service:c { ?a ?b ?c } }", False),
    "after an inverse path": ("{ ?s ^e:a service:c { ?a ?b ?c } }", False),
    "as a datatype": ('{ ?s ?p "x"^^service:c { ?a ?b ?c } }', False),
    "after FROM": ("FROM service:c { ?s ?p ?o }", False),
    "as an object after a FILTER": ("{ FILTER(true) ?s ?p service:c { ?a ?b ?c } }", False),
    "as an object after a BIND": ("{ BIND(1 AS ?z) ?s ?p service:c { ?a ?b ?c } }", False),
}


@pytest.mark.parametrize("name", sorted(PLACES))
def test_a_prefixed_name_spelling_service_is_a_call_exactly_where_the_engine_calls(listener, name):
    body, is_call = PLACES[name]
    body = body.replace("{base}", listener.base)
    text = (f"PREFIX : <{listener.base}/> PREFIX e: <{listener.base}/> PREFIX service: <{listener.base}/svc/> "
            f"PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> SELECT * {body}")
    store = ox.Store()
    store.load(PLACES_DATA.replace("{base}", listener.base).encode(), ox.RdfFormat.TURTLE)
    list(store.query(text, use_default_graph_as_union=True))  # the engine, with nothing in its way
    assert (listener.connections > 0) is is_call, "the engine's reading differs from the table"
    assert bool(outbound_targets(text)) is is_call


FUZZ_SUBJECTS = ["?s", "<http://s/s>", "[ e:p ?o ]", "( 1 2 )", "_:b"]
FUZZ_VERBS = ["?p", "<http://s/p>", "e:p", "a", "e:a/e:b", "^e:a", "(e:a|e:p)", "e:p*", "!e:zz"]
FUZZ_OBJECTS = ["?o", "<http://s/o>", '"x"@en', '"x"^^e:t', "1", "true", "e:graph", "[ e:q ?r ]", "( 1 )", "()",
                "-1", "e:service"]
FUZZ_PARTS = ["FILTER(true)", "FILTER xsd:boolean(true)", "FILTER NOT EXISTS { ?z e:none ?y }", "BIND(1 AS ?b1)",
              "OPTIONAL { ?s ?p ?o }", "{ ?s ?p ?o }", "VALUES ?v { 1 }", "MINUS { ?s e:none ?o }", "."]
FUZZ_GLUE = ["", " ", " . ", " ; e:p ", " e:p ", " ?p ", " , ", "true", "1", '"x"', "e:a", "e", " a ", " FILTER true",
             " #c\n", "^^e:t ", "@en "]
FUZZ_CALLS = ["service:c", "servicee:c", "SERVICE e:c", "SeRvIcE:c", "serviceundeclared:c", "SERVICE SILENTe:c",
              "service#c\n:c", "x:service"]


def _random_placement(rng) -> str:
    def triple():
        return " ".join(rng.choice(group) for group in (FUZZ_SUBJECTS, FUZZ_VERBS, FUZZ_OBJECTS))

    parts = [triple() if rng.random() < 0.6 else rng.choice(FUZZ_PARTS) for _ in range(rng.randint(0, 3))]
    return "{ " + " ".join(parts) + rng.choice(FUZZ_GLUE) + rng.choice(FUZZ_CALLS) + " { ?a ?b ?c } }"


def test_no_random_placement_gets_a_request_past_the_guard(listener):
    """Patterns, constraints, paths, literals and names glued or spaced in front of a call, drawn
    at random (a fixed seed): whenever the engine makes a request, the guard found a target."""
    import random

    rng = random.Random(20261127)
    store = ox.Store()
    store.load(PLACES_DATA.replace("{base}", listener.base).encode(), ox.RdfFormat.TURTLE)
    prologue = (f"PREFIX : <{listener.base}/> PREFIX e: <{listener.base}/> PREFIX service: <{listener.base}/svc/> "
                "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> SELECT * ")
    missed, calls = [], 0
    for _ in range(20000):
        text = prologue + _random_placement(rng)
        before = listener.connections
        with contextlib.suppress(SyntaxError, OSError, RuntimeError):  # many draws are not SPARQL
            list(store.query(text, use_default_graph_as_union=True))
        if listener.connections > before:
            calls += 1
            try:
                found = bool(outbound_targets(text))
            except Refused:
                found = True
            if not found:
                missed.append(text[len(prologue):])
    assert calls > 1000  # the draw does reach the engine's calls
    assert missed == []


def test_a_valid_query_naming_service_is_answered(make_app, serve_app, listener):
    server = serve_app(make_app())
    select = "PREFIX schema: <https://schema.org/> SELECT * { ?s schema:service ?svc { ?svc ?p ?o } }"
    assert query(server, select).status_code == 200
    describe = ("PREFIX skos: <http://www.w3.org/2004/02/skos/core#> PREFIX schema: <https://schema.org/> "
                'DESCRIBE schema:service ?x { ?x skos:altLabel "DCIS"@fr }')
    described = requests.get(f"{server.url}/sparql", params={"query": describe}, timeout=60,
                             headers={"Accept": "application/n-triples"})
    assert described.status_code == 200 and "/id/dcis>" in described.text
    assert listener.connections == 0


def test_unreadable_targets_are_refused_with_400():
    for text in ("SELECT * WHERE { SERVICE nope:s { } }", "SELECT * WHERE { SERVICE <relative> { } }",
                 'SELECT * WHERE { ?s ?p "unterminated }'):
        with pytest.raises(Refused) as caught:
            outbound_targets(text)
        assert caught.value.status == 400


@pytest.mark.parametrize(("address", "public"), [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.1", False), ("172.16.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fd00::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
])
def test_private_addresses(address, public):
    assert is_public_address(address) is public


def _target(iri):
    return Target("SERVICE", iri, False, 0)


def test_policy_prefix_matching_and_resolution():
    resolver = {"a.example": ["93.184.216.34"], "inner.example": ["10.0.0.7"],
                "meta.example": ["169.254.169.254"]}
    policy = OutboundPolicy(("http://a.example/sparql", "http://inner.example/", "http://meta.example/"),
                            resolver=lambda host, port: resolver[host])
    policy.check(_target("http://a.example/sparql"))
    policy.check(_target("http://a.example/sparql/sub"))
    policy.check(_target("http://A.EXAMPLE:80/sparql"))
    for refused in ("http://a.example/sparql2", "http://a.example.evil/sparql", "https://a.example/sparql",
                    "http://a.example@evil.example/sparql", "http://user@a.example/sparql",
                    "ftp://a.example/sparql", "http://inner.example/x", "http://meta.example/latest",
                    # dot segments a server would normalise out of the allowed folder
                    "http://a.example/sparql/../admin", "http://a.example/sparql/%2e%2e/admin",
                    "http://a.example/sparql/%2E%2E/admin", "http://a.example/sparql/./../admin",
                    "http://a.example/sparql\\..\\admin"):
        with pytest.raises(Refused) as caught:
            policy.check(_target(refused))
        assert caught.value.status == 403, refused
    relaxed = OutboundPolicy(("http://inner.example/",), allow_private=True,
                             resolver=lambda host, port: resolver[host])
    relaxed.check(_target("http://inner.example/x"))
    with pytest.raises(Refused, match="disabled"):
        OutboundPolicy(()).check(_target("http://a.example/sparql"))


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { SeRvIcE <http://127.0.0.1/s> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o SERVICE<http://127.0.0.1/s>{} }",
    "LoAd <http://127.0.0.1/d.ttl>",
])
def test_the_quick_screen_still_sends_every_keyword_to_the_tokenizer(text):
    """check_outbound skips the tokenizer for texts without the keywords' letters; any
    spelling Oxigraph reads as SERVICE or LOAD still reaches it and is refused."""
    with pytest.raises(Refused) as caught:
        check_outbound(text, OutboundPolicy(()))
    assert caught.value.status == 403


def test_the_quick_screen_passes_texts_without_keywords():
    assert check_outbound("SELECT * WHERE { ?s ?p 'x' } # no outbound call", OutboundPolicy(())) == []
