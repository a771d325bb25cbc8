"""Streaming: a result far larger than the server's memory growth while serving
it, sent chunked as it is produced; and the producer/consumer plumbing of
:mod:`ssikg.streaming` (bounded, stoppable)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import psutil
import pyoxigraph as ox
import pytest
import requests

from ssikg import streaming

# ~3,400 quads crossed with themselves: far more rows than the store holds.
BIG = "SELECT ?s ?p ?o ?x WHERE { ?s ?p ?o . ?x ?y ?z } LIMIT 600000"


class MemoryWatch:
    """RSS growth of a server and its worker processes.

    A worker the pool spawns during the measurement brings its start-up memory, which
    has nothing to do with the result: it counts only beyond the size of the largest
    worker that was already there (an idle worker is the reference)."""

    def __init__(self, process: psutil.Process):
        self.process = process
        self.first: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.initial: set[int] = set()

    def start(self, settle_for: float = 1.0, at_most: float = 20.0) -> None:
        """Take the baseline once the process tree is steady (a spare worker may be booting)."""
        deadline = time.monotonic() + at_most
        stable_since, last = time.monotonic(), self._total()
        while time.monotonic() < deadline and time.monotonic() - stable_since < settle_for:
            time.sleep(0.1)
            now = self._total()
            if abs(now - last) > 1_000_000:
                stable_since = time.monotonic()
            last = now
        self.sample()
        self.initial = set(self.first)

    def _total(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def sample(self) -> None:
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
                rss = proc.memory_info().rss
                self.first.setdefault(proc.pid, rss)
                self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), rss)

    @property
    def baseline(self) -> int:
        return sum(self.first.values())

    @property
    def growth(self) -> int:
        workers = [self.first[pid] for pid in self.initial if pid != self.process.pid]
        reference = max(workers, default=0)
        total = 0
        for pid, first in self.first.items():
            start = first if pid in self.initial else max(first, reference)
            total += max(0, self.peak[pid] - start)
        return total


@pytest.fixture(params=["development", "production"])
def server_process(request, store_copy, wait_until_up):
    """``ssikg serve`` in a subprocess, with the development server and with gunicorn
    (whose INFO access log must not make the server buffer a streamed body)."""
    from conftest import free_port, stop_process

    port = free_port()
    env = {**os.environ, "SSIKG_QUERY_TIMEOUT": "280", "PYTHONUNBUFFERED": "1"}
    extra = ["--production"] if request.param == "production" else []
    proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--store", str(store_copy),
                             "--port", str(port), *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=15)


def test_large_result_streams_with_bounded_server_memory(server_process):
    proc, url = server_process
    warm = requests.get(f"{url}/sparql", params={"query": "SELECT * { ?s ?p ?o } LIMIT 2000"}, timeout=60)
    assert warm.status_code == 200
    watch = MemoryWatch(psutil.Process(proc.pid))
    watch.start()
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            watch.sample()
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    received = chunks = 0
    first_chunk_after = None
    started = time.monotonic()
    try:
        with requests.get(f"{url}/sparql", params={"query": BIG}, stream=True, timeout=280,
                          headers={"Accept": "application/sparql-results+json",
                                   "Accept-Encoding": "identity"}) as r:
            assert r.status_code == 200
            assert "Content-Length" not in r.headers  # chunked: sent as produced
            for chunk in r.iter_content(chunk_size=256 * 1024):
                if first_chunk_after is None:
                    first_chunk_after = time.monotonic() - started
                received += len(chunk)
                chunks += 1
            tail = chunk[-200:]
    finally:
        stop.set()
        sampler.join(timeout=5)
    growth = watch.growth
    print(f"\nstreamed {received / 1e6:.0f} MB in {chunks} chunks; server (+ workers) RSS "
          f"{watch.baseline / 1e6:.0f} MB, growth {growth / 1e6:.1f} MB; "
          f"first bytes after {first_chunk_after:.2f} s of {time.monotonic() - started:.1f} s")
    assert tail.rstrip().endswith(b"]}}")  # the whole JSON document arrived
    assert received > 100_000_000
    assert growth < received / 5  # memory did not follow the result size


def test_stream_is_bounded_and_stops_when_closed():
    produced = []
    finished = threading.Event()

    def work(sink):
        try:
            for i in range(10_000):
                sink.write(b"x" * 1024)
                produced.append(i)
        finally:
            finished.set()

    chunks = streaming.stream(work, chunk_size=4096, max_chunks=2)
    first = next(chunks)
    assert len(first) == 4096
    time.sleep(0.2)
    # the producer is blocked on the bounded queue, far from the end
    assert len(produced) < 100
    chunks.close()
    assert finished.wait(5)
    assert len(produced) < 100


def test_errors_before_the_first_byte_reach_the_caller():
    store = ox.Store()

    def work(sink):
        store.query("SELECT * {")

    with pytest.raises(SyntaxError):
        streaming.start(work)


def test_stream_quads_serialises_one_graph_in_the_producer_thread():
    store = ox.Store()
    graph = ox.NamedNode("http://e/g")
    store.bulk_extend([ox.Quad(ox.NamedNode(f"http://e/{i}"), ox.NamedNode("http://e/p"),
                               ox.Literal(str(i)), graph) for i in range(20_000)])

    class Wrapped:  # the GraphStore.quads() contract
        def quads(self, name):
            return store.quads_for_pattern(None, None, None, None if name is None else ox.NamedNode(name))

    chunks = list(streaming.stream_quads(Wrapped(), "http://e/g", ox.RdfFormat.N_TRIPLES,
                                         as_triples=True))
    assert len(chunks) > 1
    parsed = list(ox.parse(b"".join(chunks), ox.RdfFormat.N_TRIPLES))
    assert len(parsed) == 20_000


def test_a_small_result_is_answered_whole_and_a_large_one_streamed(live_server):
    """The worker batches a job's messages into frames: a result that arrives in one frame
    is answered with a Content-Length; one the serialiser is still writing is chunked."""
    small = requests.get(f"{live_server.url}/sparql", params={"query": "ASK { ?s ?p ?o }"},
                         headers={"Accept": "application/sparql-results+json",
                                  "Accept-Encoding": "identity"}, timeout=30)
    assert small.status_code == 200 and small.json() == {"head": {}, "boolean": True}
    assert small.headers["Content-Length"] == str(len(small.content))
    query = "SELECT ?s ?p ?o ?x WHERE { ?s ?p ?o . ?x ?y ?z } LIMIT 20000"
    with requests.get(f"{live_server.url}/sparql", params={"query": query}, stream=True, timeout=60,
                      headers={"Accept": "application/sparql-results+json",
                               "Accept-Encoding": "identity"}) as large:
        assert large.status_code == 200
        assert "Content-Length" not in large.headers
        assert len(large.json()["results"]["bindings"]) == 20000


def test_frames_carry_every_message_whatever_their_batching():
    from ssikg.workers import decode_frame, encode_message

    messages = [(b"H", b'{"kind": "solutions"}'), (b"D", b""), (b"D", bytes(range(256)) * 300),
                (b"E", b"{}")]
    frame = b"".join(encode_message(tag, payload) for tag, payload in messages)
    assert list(decode_frame(frame)) == messages


def test_a_result_of_two_serialiser_writes_is_answered_whole(live_server):
    """The worker holds a job's first frame until two 8 KiB writes are waiting (or the job
    ends): a 13 KB result arrives in one frame and is answered with a Content-Length."""
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 60"
    answer = requests.get(f"{live_server.url}/sparql", params={"query": query}, timeout=60,
                          headers={"Accept": "application/sparql-results+json", "Accept-Encoding": "identity"})
    assert answer.status_code == 200 and 8192 < len(answer.content) < 16384
    assert answer.headers["Content-Length"] == str(len(answer.content))
    assert len(answer.json()["results"]["bindings"]) == 60


def test_a_streamed_result_leaves_in_whole_frames_not_serialiser_writes(live_server):
    """The serialiser writes 8 KiB at a time; the worker sends up to 64 KiB per frame, and
    the server writes what one frame brought as one HTTP chunk (one write, not eight)."""
    query = "SELECT ?s ?p ?o ?x WHERE { ?s ?p ?o . ?x ?y ?z } LIMIT 20000"
    with requests.get(f"{live_server.url}/sparql", params={"query": query}, stream=True, timeout=60,
                      headers={"Accept": "application/sparql-results+json",
                               "Accept-Encoding": "identity"}) as large:
        chunks = list(large.raw.read_chunked(decode_content=False))
    body = b"".join(chunks)
    assert len(json.loads(body)["results"]["bindings"]) == 20000
    assert len(chunks) > 1 and max(len(chunk) for chunk in chunks) > 8192, [len(c) for c in chunks[:5]]


def test_the_workers_sink_sends_full_pieces_at_once_and_holds_a_short_one():
    """Full 8 KiB pieces (rows flowing) leave at once, so a large result's first byte does
    not wait for the next piece; a short piece (a header flushed by a failing evaluation, or
    the last one) waits for the next write or the end, so a failure before it keeps its status."""
    from ssikg.workers import _EmitSink

    sent = []
    sink = _EmitSink(lambda tag, payload: sent.append((tag, len(payload))))
    sink.write(b"x" * _EmitSink.FULL)
    assert sent == [(b"D", _EmitSink.FULL)]
    sink.write(b"header")
    assert sent == [(b"D", _EmitSink.FULL)]  # held: an X message could still come first
    sink.write(b"y" * _EmitSink.FULL)
    assert sent[1:] == [(b"D", 6), (b"D", _EmitSink.FULL)]
    sink.write(b"tail")
    sink.finish()
    assert sent[-1] == (b"D", 4)
