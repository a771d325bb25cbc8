"""The production server's process lifecycle, with real processes on loopback: what an
HTTP/1.0 client gets when an answer cannot be completed, how a cut answer is logged,
what SIGTERM does to queries in flight, which build a read-only server serves after a
rebuild (a respawned process too), who may build or write at start-up, and the query
worker pool keeping its size.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest
import requests
from conftest import free_port, wait_for_http

from ssikg.settings import PROJECT_ROOT
from ssikg.store import BUILDS_DIR, WRITER_LOCK, _flock, _release

pytestmark = pytest.mark.timeout(120)

STREAMING_CROSS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }"  # streams for minutes
EVALUATING_CROSS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
EVERY_TRIPLE = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"  # a few hundred KiB: streamed in several frames
TSV = "text/tab-separated-values"


class Server:
    """``ssikg serve`` (``args``) in a subprocess on loopback, its output in a log file."""

    def __init__(self, tmp: Path, store: Path, *args: str, up: bool = True, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"serve-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ssikg", "serve", *args, "--store", str(store), "--port", str(self.port)],
                cwd=PROJECT_ROOT, env={**os.environ, "SSIKG_AUTO_BUILD": "0", **env}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if up:
            try:
                wait_for_http(self.url + "/health", timeout=60, process=self.process)
            except BaseException:
                self.stop()
                raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith('{"event": "request"')]

    def gunicorn_workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return condition()


def busy_query_workers(server: Server, window: float = 0.3) -> list[int]:
    """The query worker processes that used CPU during ``window`` seconds (running a query)."""
    def cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    try:
        before = {child: cpu(child) for worker in server.gunicorn_workers() for child in worker.children()}
        time.sleep(window)
        return [child.pid for child, used in before.items() if cpu(child) - used > 0.05]
    except psutil.NoSuchProcess:
        return []


def http10(server, method: str, path: str, accept: str, form: dict | None = None) -> tuple[int, dict, bytes]:
    """One HTTP/1.0 exchange on a raw socket (nginx's proxy_pass speaks HTTP/1.0 by default):
    status, headers (lower-case names), the body read to the connection's close."""
    body = urlencode(form).encode() if form else b""
    head = f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
    if form:
        head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    header_block, _, content = bytes(received).partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = dict((name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, content


# ---------------------------------------------------------------------------
# Answers that cannot be completed, and their log


def test_an_http10_client_never_gets_a_cut_answer_as_a_complete_one(store_copy, tmp_path, servers):
    """HTTP/1.0 has no chunked framing: a stream cut by its deadline would look complete.
    Such a client gets the whole answer with a Content-Length, or a clean 503."""
    server = Server(tmp_path, store_copy, "--production", "--processes", "1", "--threads", "4")
    servers.append(server)
    status, headers, body = http10(server, "POST", "/sparql", TSV, {"query": STREAMING_CROSS, "timeout": "2"})
    assert status == 503, body[:200]
    assert json.loads(body)["title"] == "Query timeout"
    status, headers, body = http10(server, "POST", "/sparql", TSV, {"query": EVERY_TRIPLE})
    assert status == 200 and int(headers["content-length"]) == len(body) > 64 * 1024
    assert body.count(b"\n") == 1 + requests.get(server.url + "/health", timeout=30).json()["triples"]
    status, headers, body = http10(server, "GET", "/store", "application/n-quads")  # the Graph Store dump
    assert status == 200 and int(headers["content-length"]) == len(body) > 64 * 1024
    # HTTP/1.1 clients still get the stream, cut without its terminating chunk.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.post(server.url + "/sparql", data={"query": STREAMING_CROSS, "timeout": "2"},
                          headers={"Accept": TSV}, timeout=60).content


def test_a_large_http10_answer_is_spooled_to_a_file_and_bounded(make_app, serve_app, monkeypatch):
    from ssikg import streaming

    monkeypatch.setattr(streaming, "SPOOL_IN_MEMORY", 16 * 1024)  # the dump and the query go to a file
    server = serve_app(make_app())
    for method, path, accept, form in (("GET", "/store", "application/n-quads", None),
                                       ("POST", "/sparql", TSV, {"query": EVERY_TRIPLE})):
        status, headers, body = http10(server, method, path, accept, form)
        assert status == 200 and int(headers["content-length"]) == len(body) > 16 * 1024
    monkeypatch.setattr(streaming, "SPOOL_MAX", 32 * 1024)
    uncached = EVERY_TRIPLE.replace("?s ?p ?o WHERE", "?o ?p ?s WHERE")  # not answered from the cache
    status, headers, body = http10(server, "POST", "/sparql", TSV, {"query": uncached})
    assert status == 503 and json.loads(body)["title"] == "Answer too large for HTTP/1.0"


def test_a_cut_answer_is_one_access_log_line_saying_why_not_a_traceback(store_copy, tmp_path, servers):
    server = Server(tmp_path, store_copy, "--production", "--processes", "1", "--threads", "4")
    servers.append(server)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(server.url + "/sparql", params={"query": STREAMING_CROSS, "timeout": "1.5"},
                         headers={"Accept": TSV}, timeout=60).content
    # a client that leaves in the middle of a stream
    with requests.get(server.url + "/sparql", params={"query": STREAMING_CROSS}, headers={"Accept": TSV},
                      stream=True, timeout=60) as leaving:
        assert leaving.status_code == 200 and next(leaving.iter_content(4096))
    # a query worker killed in the middle of a stream
    with requests.get(server.url + "/sparql", params={"query": STREAMING_CROSS}, headers={"Accept": TSV},
                      stream=True, timeout=60) as orphaned:
        received = orphaned.iter_content(4096)  # one iterator: dropping one closes the connection
        assert next(received)
        query_workers = [child for worker in server.gunicorn_workers() for child in worker.children()]
        assert query_workers
        for child in query_workers:  # the idle ones too: which one streams is not told outside
            child.kill()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for _ in received:
                pass

    def cut_reasons():
        return sorted(line["aborted"] for line in server.access_lines() if "aborted" in line)

    assert wait_for(lambda: len(cut_reasons()) == 3), server.log()
    assert cut_reasons() == ["client-gone", "timeout", "worker-died"]
    assert all(line["status"] == 200 for line in server.access_lines() if "aborted" in line)
    metrics = requests.get(server.url + "/metrics", timeout=30).text
    assert "ssikg_aborted_answers_total 3" in metrics
    server.stop()
    log = server.log()
    assert "Traceback" not in log and "Error handling request" not in log


def test_sigterm_stops_the_queries_in_flight_and_the_server_at_once(store_copy, tmp_path, servers):
    """The queries in flight end now (503 before the first byte, a cut transfer after)
    rather than the server draining them until query_timeout."""
    server = Server(tmp_path, store_copy, "--production", "--processes", "1", "--threads", "4",
                    SSIKG_QUERY_TIMEOUT="300")
    servers.append(server)
    answers: dict[str, object] = {}

    def evaluating():
        answers["evaluating"] = requests.get(server.url + "/sparql", params={"query": EVALUATING_CROSS},
                                             timeout=60)

    def streaming():
        try:
            _ = requests.get(server.url + "/sparql", params={"query": STREAMING_CROSS},
                             headers={"Accept": TSV}, timeout=60).content
            answers["streaming"] = "complete"
        except requests.exceptions.ChunkedEncodingError:
            answers["streaming"] = "cut"

    clients = [threading.Thread(target=evaluating), threading.Thread(target=streaming)]
    for client in clients:
        client.start()
    assert wait_for(lambda: len(busy_query_workers(server)) == 2)
    server.process.send_signal(signal.SIGTERM)
    for client in clients:
        client.join(timeout=30)
    assert server.process.wait(timeout=20) == 0  # not after query_timeout (300 s)
    assert answers["streaming"] == "cut"
    stopped = answers["evaluating"]
    assert stopped.status_code == 503 and stopped.json()["title"] == "Server stopping"
    assert "server-stopping" in {line.get("aborted") for line in server.access_lines()}


# ---------------------------------------------------------------------------
# Which build a server serves, and who builds


def _sources(tmp: Path) -> Path:
    source = tmp / "source"
    for name in ("ontology", "data", "queries"):
        shutil.copytree(PROJECT_ROOT / name, source / name)
    return source


def test_a_respawned_process_serves_the_build_its_server_started_with(tmp_path, servers):
    source = _sources(tmp_path)
    store = tmp_path / "site" / "store"
    env = {"SSIKG_SOURCE_DIR": str(source)}
    built = subprocess.run([sys.executable, "-m", "ssikg", "build", "--store", str(store)], cwd=PROJECT_ROOT,
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    server = Server(tmp_path, store, "--production", "--processes", "1", SSIKG_READ_ONLY="1", **env)
    servers.append(server)
    before = requests.get(server.url + "/health", timeout=30).json()
    (source / "data" / "extra.trig").write_text(
        "<urn:ssikg:test:graph> { <urn:ssikg:test:s> <urn:ssikg:test:p> \"added after the first build\" . }\n")
    rebuilt = subprocess.run([sys.executable, "-m", "ssikg", "build", "--store", str(store)], cwd=PROJECT_ROOT,
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0 and "kept the previous build" in rebuilt.stderr, rebuilt.stderr
    [worker] = server.gunicorn_workers()
    worker.kill()
    assert wait_for(lambda: [w.pid for w in server.gunicorn_workers()] not in ([], [worker.pid]))
    wait_for_http(server.url + "/health", timeout=60, process=server.process)
    after = requests.get(server.url + "/health", timeout=30).json()
    assert after["store_version"] == before["store_version"]
    assert after["triples"] == before["triples"]


def test_read_only_wins_over_an_update_token_at_start_up(store_copy, tmp_path, servers):
    """Beside a process writing to the store, a read-only server given a token starts and
    serves read-only (it was taken for a writer and refused, or its process died)."""
    writer = _flock(store_copy.resolve(), WRITER_LOCK, fcntl.LOCK_EX)  # as a server with writes holds it
    try:
        server = Server(tmp_path, store_copy, "--production", "--processes", "auto", "--threads", "2",
                        SSIKG_READ_ONLY="1", SSIKG_UPDATE_TOKEN="secret")
        servers.append(server)
        assert requests.get(server.url + "/sparql", params={"query": "ASK { ?s ?p ?o }"},
                            timeout=30).json()["boolean"] is True
        write = requests.post(server.url + "/sparql", data={"update": "CLEAR ALL"},
                              headers={"Authorization": "Bearer secret"}, timeout=30)
        assert write.status_code == 403
    finally:
        _release(writer)
    log = server.log()
    assert log.count("the update token is ignored") == 1
    assert "writes are enabled" not in log and "read-only" in log


def test_a_server_started_during_a_build_neither_builds_nor_takes_the_builds_message(tmp_path):
    """A first build is running (it holds its new folder's writer lock): a server started
    meanwhile, read-only or not, says so and builds nothing itself."""
    store = tmp_path / "site" / "store"
    running = store.parent / BUILDS_DIR / "20261127T000000-running"
    running.mkdir(parents=True)
    held = _flock(running, WRITER_LOCK, fcntl.LOCK_EX)
    try:
        for env in ({"SSIKG_READ_ONLY": "1"}, {"SSIKG_AUTO_BUILD": "1"}):
            result = subprocess.run(
                [sys.executable, "-m", "ssikg", "serve", "--store", str(store), "--port", str(free_port())],
                cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                stdin=subprocess.DEVNULL)
            assert result.returncode == 1, result.stderr
            assert "'ssikg build' is building" in result.stderr and "then start the server" in result.stderr
            assert "then build" not in result.stderr and "Traceback" not in result.stderr
            assert sorted(p.name for p in running.parent.iterdir()) == [running.name]
            assert not store.exists()
    finally:
        _release(held)


def test_a_writer_server_refused_during_a_rebuild_is_told_to_wait(store_copy, tmp_path):
    held = _flock(store_copy.resolve(), WRITER_LOCK, fcntl.LOCK_EX)  # as a build over it holds it
    (tmp_path / "source").mkdir()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ssikg", "serve", "--store", str(store_copy), "--port", str(free_port())],
            cwd=PROJECT_ROOT, env={**os.environ, "SSIKG_AUTO_BUILD": "1", "SSIKG_UPDATE_TOKEN": "t"},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        _release(held)
    assert result.returncode == 1
    assert "wait for the build to finish" in result.stderr and "then build" not in result.stderr


# ---------------------------------------------------------------------------
# The query worker pool


def test_a_killed_query_worker_is_replaced_while_others_are_idle(built_store):
    from ssikg.workers import WorkerPool

    pool = WorkerPool(built_store.resolve(), size=3)
    try:
        pool.prestart("v")
        assert wait_for(lambda: pool.idle_count() == 3, timeout=60)
        worker = pool.checkout("v")
        pool.discard(worker, replace_version="v")  # a query overran, or its client left
        assert wait_for(lambda: pool.idle_count() == 3, timeout=60)
        assert len(pool.pids()) == 3 and worker.pid not in pool.pids()
    finally:
        pool.shutdown()
