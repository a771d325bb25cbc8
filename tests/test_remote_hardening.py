"""ssikg in front of a remote SPARQL engine, where it must not leak, go stale or overwork:
credentials and the engine's URL never reach a client; no 304 from a version that cannot see
the engine's own changes; writes into the (invisible) default graph refused; ``max_rows``
bounding what is read; ``/metrics`` up while the engine is down; one timeout rule and one
concurrency gate for ``/sparql`` and pages; an update's own failure a 400 like the embedded
store's; dumps streamed.

Engines: a real ``oxigraph serve`` on loopback (loaded by ``ssikg build --backend``), and
small fake engines that answer slowly, without end, or only for the graph listing.
"""

from __future__ import annotations

import http.server
import threading
import time
from urllib.parse import parse_qs

import pyoxigraph as ox
import pytest
import requests
from conftest import LiveServer, run_cli
from sparql_engines import OXIGRAPH, OxigraphServer, free_port

from ssikg.app import create_app
from ssikg.namespaces import ID
from ssikg.remote_store import RemoteConfig, RemoteStore

pytestmark = pytest.mark.timeout(300)
TOKEN = "hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Accept": "application/sparql-results+json"}
SKOS_LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"


def needs_oxigraph():
    from conftest import require_tool

    require_tool(OXIGRAPH is not None, "oxigraph CLI (PyPI package oxigraph)")


def app_over(url: str, tmp_path, **settings):
    return create_app({"backend": url, "auto_build": False, "store": tmp_path / "unused", **settings})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """``oxigraph serve`` loaded with the project's graphs by ``ssikg build --backend``."""
    needs_oxigraph()
    with OxigraphServer(tmp_path_factory.mktemp("oxigraph") / "db") as server:
        published = run_cli("build", "--backend", server.query_url, "--store-url", server.store_url)
        assert published.returncode == 0, published.stderr
        yield server


@pytest.fixture(scope="module")
def served(engine, tmp_path_factory):
    app = app_over(engine.query_url, tmp_path_factory.mktemp("app"), backend_update_url=engine.update_url,
                   backend_store_url=engine.store_url, update_token=TOKEN)
    with LiveServer(app) as server:
        yield server
    app.extensions["ssikg.store"].close()


# ---------------------------------------------------------------------------
# 1. Credentials and the engine's URL stay on the server


def test_credentials_and_the_engines_url_never_reach_a_client(tmp_path, caplog):
    port = free_port()  # nothing listens there
    url = f"http://alice:SECRET@127.0.0.1:{port}/query"
    with LiveServer(app_over(url, tmp_path, backend_timeout=2)) as server:
        answers = [requests.get(f"{server.url}/sparql", params={"query": "ASK {}"}, headers=JSON, timeout=60),
                   requests.get(f"{server.url}/id/dcis.ttl", timeout=60),
                   requests.get(f"{server.url}/health", timeout=60)]
    for answer in answers:
        assert answer.status_code in (502, 503), answer.text
        assert "SPARQL backend" in answer.text
        for secret in ("SECRET", "alice", str(port)):
            assert secret not in answer.text, (secret, answer.url, answer.text)
    # the operator still learns where: the URL, credentials redacted, in the server log
    assert f"***@127.0.0.1:{port}/query" in caplog.text and "SECRET" not in caplog.text


def test_build_never_prints_the_engines_password():
    port = free_port()
    result = run_cli("build", "--backend", f"http://u:PW0rd@127.0.0.1:{port}/query",
                     "--store-url", f"http://u:PW0rd@127.0.0.1:{port}/store", timeout=120)
    assert result.returncode != 0
    assert "PW0rd" not in result.stdout + result.stderr
    assert f"***@127.0.0.1:{port}" in result.stderr and "unreachable" in result.stderr


# ---------------------------------------------------------------------------
# 2. No 304 over a version that cannot see the engine's own changes


def _labels(engine) -> list[tuple[str, ox.Literal]]:
    answer = requests.post(engine.query_url, headers=JSON, timeout=60, data={
        "query": f"SELECT ?g ?l WHERE {{ GRAPH ?g {{ <{ID}dcis> <{SKOS_LABEL}> ?l }} }}"}).json()
    return [(row["g"]["value"], ox.Literal(row["l"]["value"], language=row["l"].get("xml:lang")))
            for row in answer["results"]["bindings"]]


def _relabel(engine, labels: list[tuple[str, ox.Literal]], new_text: str | None) -> None:
    """Replace each dcis label on the engine itself (``new_text`` in the same language, or back to
    ``labels`` when None): the number of triples stays the same."""
    current = _labels(engine)
    wanted = labels if new_text is None else [(g, ox.Literal(new_text, language=label.language))
                                              for g, label in labels]
    delete = " ".join(f"GRAPH <{g}> {{ <{ID}dcis> <{SKOS_LABEL}> {label} }}" for g, label in current)
    insert = " ".join(f"GRAPH <{g}> {{ <{ID}dcis> <{SKOS_LABEL}> {label} }}" for g, label in wanted)
    changed = requests.post(engine.update_url, timeout=60,
                            data={"update": f"DELETE DATA {{ {delete} }} ;\nINSERT DATA {{ {insert} }}"})
    assert changed.status_code == 204, changed.text


def test_a_label_changed_on_the_engine_is_never_answered_304(engine, served):
    before = {path: requests.get(served.url + path, timeout=60) for path in ("/id/dcis.ttl", "/id/dcis.html")}
    graph_read = requests.get(f"{served.url}/graph/stated.nt", timeout=60)
    old = _labels(engine)
    assert old
    _relabel(engine, old, "Label changed on the engine")
    try:
        time.sleep(2.1)  # the remote store's version moves every 2 s: memoised pages are that fresh
        for path, first in [*before.items(), ("/graph/stated.nt", graph_read)]:
            assert first.status_code == 200, (path, first.text[:300])
            held = first.headers.get("ETag") or '"anything"'
            again = requests.get(served.url + path, headers={"If-None-Match": held}, timeout=60)
            assert again.status_code == 200, path
            assert "Label changed on the engine" in again.text, path
            assert "ETag" not in again.headers or not again.headers["ETag"].startswith("W/"), path
    finally:
        _relabel(engine, old, None)


def test_graph_store_reads_keep_a_strong_etag_for_if_match_but_never_304(served):
    url = f"{served.url}/store"
    graph = {"graph": "http://example.org/hardening/if-match"}
    body = b"<http://example.org/a> <http://example.org/b> <http://example.org/c> .\n"
    headers = {**AUTH, "Content-Type": "application/n-triples"}
    assert requests.put(url, params=graph, data=body, headers=headers, timeout=60).status_code in (201, 204)
    read = requests.get(url, params=graph, headers={"Accept": "application/n-triples"}, timeout=60)
    etag = read.headers["ETag"]
    assert not etag.startswith("W/")
    held = requests.get(url, params=graph, headers={"Accept": "application/n-triples", "If-None-Match": etag},
                        timeout=60)
    assert held.status_code == 200 and b"example.org/c" in held.content
    put = requests.put(url, params=graph, data=body, headers={**headers, "If-Match": etag}, timeout=60)
    assert put.status_code == 204, put.text


# ---------------------------------------------------------------------------
# 3. The default graph is the union of the named graphs: writes into it are refused


def test_writes_into_the_default_graph_are_refused(served):
    insert = requests.post(f"{served.url}/sparql", headers=AUTH, timeout=60,
                           data={"update": "INSERT DATA { <urn:d> <urn:d> <urn:d> }"})
    assert insert.status_code == 400, insert.text
    assert "named graph" in insert.json()["message"]
    put = requests.put(f"{served.url}/store?default", data=b"<urn:d> <urn:d> <urn:d> .\n", timeout=60,
                       headers={**AUTH, "Content-Type": "application/n-triples"})
    assert put.status_code == 400 and "named graph" in put.json()["message"], put.text
    ask = requests.get(f"{served.url}/sparql", params={"query": "ASK { <urn:d> ?p ?o }"}, headers=JSON,
                       timeout=60)
    assert ask.json()["boolean"] is False
    # into a named graph, the same triple is written and seen by queries
    named = requests.post(f"{served.url}/sparql", headers=AUTH, timeout=60, data={
        "update": "INSERT DATA { GRAPH <http://example.org/hardening/d> { <urn:d> <urn:d> <urn:d> } }"})
    assert named.status_code == 204, named.text
    ask = requests.get(f"{served.url}/sparql", params={"query": "ASK { <urn:d> ?p ?o }"}, headers=JSON,
                       timeout=60)
    assert ask.json()["boolean"] is True


# ---------------------------------------------------------------------------
# 7. An update's own failure is a 400, as on the embedded store


@pytest.mark.parametrize("update", ["DROP GRAPH <http://example.org/hardening/none>",
                                    "CLEAR GRAPH <http://example.org/hardening/none>",
                                    "MOVE <http://example.org/hardening/none> TO <http://example.org/x>",
                                    "CREATE GRAPH <https://w3id.org/ssikg/graph/stated>"])
def test_an_updates_own_failure_is_a_400(served, update):
    r = requests.post(f"{served.url}/sparql", data={"update": update}, headers=AUTH, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["title"] == "Update failed" and "SILENT" in r.json()["message"]


# ---------------------------------------------------------------------------
# 9. sd:EmptyGraphs says what the engine does


def test_the_description_declares_empty_graphs_when_the_engine_keeps_them(served):
    description = requests.get(f"{served.url}/sparql", headers={"Accept": "application/n-triples"}, timeout=60)
    assert description.status_code == 200
    assert "http://www.w3.org/ns/sparql-service-description#EmptyGraphs" in description.text
    assert "https://w3id.org/ssikg/graph/external" in description.text


# ---------------------------------------------------------------------------
# Fake engines


class StreamingEngine(http.server.ThreadingHTTPServer):
    """Answers the graph listing at once; every other query (and a Graph Store GET) with rows
    (or triples) without end, or, with ``hold``, nothing until ``hold`` seconds have passed.
    Records how many answers it started and when each connection was closed."""

    daemon_threads = True

    def __init__(self, hold: float = 0.0):
        super().__init__(("127.0.0.1", 0), _StreamingHandler)
        self.hold = hold
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.started = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class _StreamingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        if body.get("query", [""])[0].startswith("SELECT DISTINCT ?g WHERE { GRAPH ?g {"):
            listing = b'{"head":{"vars":["g"]},"results":{"bindings":[{"g":{"type":"uri","value":"http://g"}}]}}'
            return self._send(listing, "application/sparql-results+json")
        self.server.started.set()
        if self.server.hold:
            time.sleep(self.server.hold)
            return self._send(b'{"head":{},"boolean":true}', "application/sparql-results+json")
        row = (b'{"s":{"type":"uri","value":"http://s"},"p":{"type":"uri","value":"http://p"},'
               b'"o":{"type":"literal","value":"' + b"y" * 200 + b'"}}')
        self._stream(b'{"head":{"vars":["s","p","o"]},"results":{"bindings":[' + row, b"," + row,
                     "application/sparql-results+json")

    def do_GET(self):  # noqa: N802 - a Graph Store GET
        self._stream(b"", b'<http://s> <http://p> "' + b"y" * 200 + b'" .\n', "application/n-triples")

    def _send(self, body: bytes, media_type: str):
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, first: bytes, more: bytes, media_type: str):
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(first) + len(more), first + more))
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(more) * 50, more * 50))
                time.sleep(0.02)
        except OSError:
            self.server.closed.set()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_engine():
    engines = []

    def start(**kwargs) -> StreamingEngine:
        engines.append(StreamingEngine(**kwargs))
        return engines[-1]

    yield start
    for engine in engines:
        engine.stop()


# ---------------------------------------------------------------------------
# 4. max_rows bounds what is read from the engine


def test_max_rows_stops_reading_an_endless_answer(fake_engine, tmp_path):
    engine = fake_engine()
    app = app_over(engine.url + "/query", tmp_path, max_rows=100, query_timeout=20, backend_timeout=20)
    with LiveServer(app) as server:
        r = requests.get(f"{server.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"},
                         headers=JSON, timeout=120)
        assert r.status_code == 200, r.text
        assert r.headers["SSIKG-Truncated"] == "true" and r.headers["SSIKG-Max-Rows"] == "100"
        assert len(r.json()["results"]["bindings"]) == 100
        assert engine.closed.wait(10)  # ssikg hung up on the rest


# ---------------------------------------------------------------------------
# 8. Dumps are streamed: the first quad does not wait for the end of the engine's answer


@pytest.mark.parametrize("with_store_url", [False, True])
def test_a_dump_streams_from_the_engine(fake_engine, with_store_url):
    engine = fake_engine()
    store = RemoteStore(RemoteConfig(engine.url + "/query", store_url=engine.url + "/store" if with_store_url
                                     else None, timeout=20))
    try:
        quads = store.quads("http://g")
        first = next(iter(quads))  # the answer never ends: read whole, this would wait 20 s and fail
        assert first.graph_name == ox.NamedNode("http://g") and first.subject == ox.NamedNode("http://s")
        quads.close()
        assert engine.closed.wait(10)
    finally:
        store.close()


# ---------------------------------------------------------------------------
# 5. /metrics answers while the engine is down


def test_metrics_answer_200_without_the_engine(tmp_path):
    with LiveServer(app_over(f"http://127.0.0.1:{free_port()}/query", tmp_path, backend_timeout=2)) as server:
        r = requests.get(f"{server.url}/metrics", timeout=60)
    assert r.status_code == 200, r.text
    assert "ssikg_http_requests_total" in r.text and "ssikg_store_up 0" in r.text
    assert "ssikg_store_quads" not in r.text


# ---------------------------------------------------------------------------
# 6. and 9. One timeout rule and one concurrency gate for /sparql and pages


def test_backend_timeout_is_the_rule_on_sparql_and_pages(fake_engine, tmp_path):
    """An engine that lists its graphs at once, then thinks for 6 s over every query: with
    backend_timeout=1 and a longer query_timeout, /sparql and a page both give up after 1 s
    with a 504 (the engine's slowness), not /sparql's 503 at query_timeout."""
    engine = fake_engine(hold=6)
    app = app_over(engine.url + "/query", tmp_path, backend_timeout=1, query_timeout=4)
    with LiveServer(app) as server:
        query = requests.get(f"{server.url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, headers=JSON,
                             timeout=60)
        page = requests.get(f"{server.url}/id/dcis.ttl", timeout=60)
    assert query.status_code == 504 and "did not answer within 1 s" in query.json()["message"], query.text
    assert page.status_code == 504 and "did not answer within 1 s" in page.text, page.text


def test_page_queries_share_the_concurrency_gate(fake_engine, tmp_path):
    engine = fake_engine(hold=4)
    app = app_over(engine.url + "/query", tmp_path, backend_timeout=10, max_concurrent_queries=1,
                   queue_timeout=0)
    with LiveServer(app) as server:
        first: list = []
        holder = threading.Thread(target=lambda: first.append(
            requests.get(f"{server.url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, headers=JSON,
                         timeout=60)))
        holder.start()
        assert engine.started.wait(10)  # the one slot is held while the engine thinks
        page = requests.get(f"{server.url}/id/dcis.ttl", timeout=60)
        holder.join(30)
    assert page.status_code == 503 and page.headers.get("Retry-After"), page.text
    assert "busy" in page.text.lower() or "maximum" in page.text
    assert first and first[0].status_code == 200
