"""A remote engine that misbehaves: ssikg answers with a clean 502/504 on time, lets go of
the engine's answer at the deadline (memory and query slots are not held by an engine that
streams without end), blames the engine and not the client for an unreadable answer, and
never follows a redirect with a write. The engine is a small HTTP server on loopback that
does each wrong thing on purpose; the Graph Store case runs on a real ``oxigraph serve``.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from sparql_engines import OXIGRAPH, OxigraphServer

JSON = {"Accept": "application/sparql-results+json"}
TOKEN = "remote-token"


class FakeEngine:
    """Answers every request the way ``behaviour`` says: ``trickle`` (JSON results without
    end, a chunk every 0.1 s), ``garbage`` (200 with broken JSON results), ``redirect``
    (302 to ``target``). Records when each connection closed."""

    def __init__(self, behaviour: str, target: str = ""):
        self.behaviour, self.target = behaviour, target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed_at: list[float] = []
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                conn.recv(65536)
                self.requests += 1
                if self.behaviour == "redirect":
                    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {self.target}\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n".encode())
                elif self.behaviour == "garbage":
                    body = b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"uri","value'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                                 b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
                                 + body)
                else:  # trickle: a result that never ends
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    row = b'{"x":{"type":"literal","value":"' + b"y" * 4000 + b'"}},'
                    first = b'{"head":{"vars":["x"]},"results":{"bindings":[' + row
                    conn.sendall(b"%x\r\n%s\r\n" % (len(first), first))
                    while True:
                        conn.sendall(b"%x\r\n%s\r\n" % (len(row), row))
                        time.sleep(0.1)
            except OSError:
                pass
            finally:
                self.closed_at.append(time.monotonic())

    def close(self):
        self.sock.close()


@pytest.fixture
def engine_doing(make_app, serve_app):
    engines = []

    def start(behaviour: str, **settings):
        engine = FakeEngine(behaviour, **({"target": settings.pop("target")} if "target" in settings else {}))
        engines.append(engine)
        app = make_app(backend=engine.url + "/query", backend_update_url=engine.url + "/update",
                       update_token=TOKEN, **settings)
        return engine, serve_app(app)

    yield start
    for engine in engines:
        engine.close()


def test_an_engine_streaming_without_end_is_let_go_at_the_deadline(engine_doing):
    engine, server = engine_doing("trickle", query_timeout=2, max_concurrent_queries=1, queue_timeout=0)
    started = time.monotonic()
    r = requests.get(f"{server.url}/sparql", params={"query": "SELECT ?x WHERE { ?x ?p ?o }"}, headers=JSON,
                     timeout=60)
    assert r.status_code in (503, 504) and r.headers["Content-Type"].startswith("application/json")
    assert time.monotonic() - started < 6
    deadline = time.monotonic() + 10
    while not engine.closed_at and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.closed_at and engine.closed_at[0] - started < 8  # ssikg stopped reading and hung up
    # the only query slot is free again within moments (it was held for as long as the
    # engine went on sending): the next query is not refused as "too busy"
    for _attempt in range(20):
        again = requests.post(f"{server.url}/sparql", data={"query": "ASK { ?s ?p ?o }"}, headers=JSON,
                              timeout=60)
        if "busy" not in again.text.lower():
            break
        time.sleep(0.25)
    assert "busy" not in again.text.lower() and time.monotonic() - started < 12


def test_an_unreadable_answer_is_the_engines_fault(engine_doing):
    _engine, server = engine_doing("garbage")
    r = requests.post(f"{server.url}/sparql", data={"query": "SELECT ?x WHERE { ?x ?p ?o }"}, headers=JSON,
                      timeout=60)
    assert r.status_code == 502 and "backend" in r.json()["message"], r.text


def test_a_redirect_is_never_followed_with_a_write(engine_doing):
    target = FakeEngine("garbage")
    try:
        _engine, server = engine_doing("redirect", target=target.url + "/elsewhere")
        r = requests.post(f"{server.url}/sparql", timeout=60, headers={"Authorization": f"Bearer {TOKEN}"},
                          data={"update": "INSERT DATA { GRAPH <http://example.org/g> { "
                                          "<http://example.org/a> <http://example.org/b> 1 } }"})
        assert r.status_code == 502, r.text
        assert target.requests == 0
    finally:
        target.close()


def test_graph_store_delete_and_empty_put_with_only_a_store_url(make_app, serve_app, tmp_path):
    from conftest import require_tool

    require_tool(OXIGRAPH is not None, "oxigraph CLI (PyPI package oxigraph)")
    with OxigraphServer(tmp_path / "db") as engine:
        app = make_app(backend=engine.query_url, backend_store_url=engine.store_url, update_token=TOKEN)
        server = serve_app(app)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        graph = {"graph": "http://example.org/only-store-url"}
        put = requests.put(f"{server.url}/store", params=graph, data=b"", timeout=60,
                           headers={**auth, "Content-Type": "application/n-triples"})
        assert put.status_code == 201, put.text
        dropped = requests.delete(f"{server.url}/store", params=graph, headers=auth, timeout=60)
        assert dropped.status_code == 204, dropped.text
        time.sleep(2.1)  # the remote store's graph list is cached two seconds
        assert requests.get(f"{server.url}/store", params=graph, timeout=60).status_code == 404
