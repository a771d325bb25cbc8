"""The dataset ssikg asks a remote engine for: a query's own FROM / FROM NAMED goes to
the engine as written (no dataset parameters that would override it), and the
protocol's ``default-graph-uri`` / ``named-graph-uri`` win over it.  The engine is a
small HTTP server on loopback that records what it is sent."""

from __future__ import annotations

import http.server
import json
import threading
from urllib.parse import parse_qsl

import pytest
import requests

GRAPH = "http://example.org/g1"
OTHER = "http://example.org/g2"
DATASET_PARAMS = ("default-graph-uri", "named-graph-uri")


class RecordingEngine(http.server.ThreadingHTTPServer):
    """Answers every SPARQL query with a plausible JSON result and keeps its parameters."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[list[tuple[str, str]]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def sent_with(self, text: str) -> list[tuple[str, str]]:
        """The parameters of the one request that carried ``text``."""
        matching = [params for params in self.received if ("query", text) in params]
        assert len(matching) == 1, self.received
        return matching[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        params = parse_qsl(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        self.server.received.append(params)
        query = dict(params).get("query", "")
        if query.lstrip().upper().startswith("ASK"):
            answer = {"head": {}, "boolean": True}
        elif "COUNT" in query:
            answer = {"head": {"vars": ["n"]}, "results": {"bindings": [
                {"n": {"type": "literal", "value": "1",
                       "datatype": "http://www.w3.org/2001/XMLSchema#integer"}}]}}
        else:
            answer = {"head": {"vars": ["g"]}, "results": {"bindings": [
                {"g": {"type": "uri", "value": g}} for g in (GRAPH, OTHER)]}}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def engine():
    server = RecordingEngine()
    yield server
    server.shutdown()
    server.server_close()


def ask(server, text, params=()):
    r = requests.post(f"{server.url}/sparql", params=list(params), data={"query": text},
                      headers={"Accept": "application/sparql-results+json"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["boolean"]


def test_a_query_with_its_own_dataset_reaches_the_engine_as_written(engine, make_app, serve_app):
    server = serve_app(make_app(backend=engine.url + "/query"))
    from_query = f"ASK FROM <{GRAPH}> FROM NAMED <{OTHER}> {{ ?s ?p ?o }}"
    assert ask(server, from_query) is True
    sent = engine.sent_with(from_query)
    assert [name for name, _ in sent if name in DATASET_PARAMS] == [], sent
    # The protocol's dataset wins over FROM, and is what the engine is given.
    protocol_query = f"ASK FROM <{GRAPH}> {{ ?s ?p ?o . FILTER(true) }}"
    assert ask(server, protocol_query, [("default-graph-uri", OTHER)]) is True
    sent = engine.sent_with(protocol_query)
    assert ("default-graph-uri", OTHER) in sent and ("default-graph-uri", GRAPH) not in sent, sent
    # Without either, ssikg's default graph (the union of the graphs) is spelled out.
    plain = "ASK { ?s ?p ?o }"
    assert ask(server, plain) is True
    sent = engine.sent_with(plain)
    assert {("default-graph-uri", GRAPH), ("default-graph-uri", OTHER)} <= set(sent), sent
