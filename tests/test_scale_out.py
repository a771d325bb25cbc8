"""Read scale-out without a remote engine: several ``ssikg serve`` processes answering
identically, either all on one built store opened read-only (one machine) or each
on its own copy of it (several machines), so any HTTP load balancer can spread
requests over them: same answers, same ETags, a validator from one instance
accepted by another, and writes refused where the store is read-only; and one
``ssikg serve --production`` of several processes reporting its metrics as one server.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import free_port, wait_for_http

from ssikg.settings import PROJECT_ROOT

pytestmark = pytest.mark.timeout(300)
TOKEN = "scale-out-token"
QUERY = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g"
PATHS = [
    ("/sparql", {"query": QUERY}, "application/sparql-results+json"),
    ("/id/dcis.html", None, "text/html"),
    ("/id/dcis.ttl", None, "text/turtle"),
    ("/api/queries/cq02-dcis-expansion.json", None, "application/json"),
    ("/org-chart.svg", None, "image/svg+xml"),
]


class Instance:
    """One ``ssikg serve`` (``extra`` arguments: e.g. ``--production``) on loopback, stopped by its pid."""

    def __init__(self, store: Path, tmp: Path, *extra: str, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"serve-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        environment = {**os.environ, "SSIKG_UPDATE_TOKEN": TOKEN, **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ssikg", "serve", *extra, "--store", str(store), "--port", str(self.port)],
            cwd=PROJECT_ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        """gunicorn listens before its processes are ready: a first probe may wait, so a slow
        answer is retried too, within one minute."""
        deadline = time.monotonic() + 60
        while True:
            try:
                wait_for_http(self.url + "/health", timeout=deadline - time.monotonic(), process=self.process)
                return
            except requests.Timeout:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def instances():
    started: list[Instance] = []
    yield started
    for instance in started:
        instance.stop()


def fetch(instance: Instance, path: str, params, accept: str, **headers) -> requests.Response:
    return requests.get(instance.url + path, params=params, headers={"Accept": accept, **headers},
                        timeout=60)


def same_content(a: requests.Response, b: requests.Response) -> bool:
    """Byte-identical, or for RDF the same triples (serialisation order may vary by process)."""
    media_type = a.headers["Content-Type"].split(";")[0]
    rdf_format = ox.RdfFormat.from_media_type(media_type)
    if rdf_format is None or a.content == b.content:
        return a.content == b.content

    def triples(response):
        def term(t):
            return "_:b" if isinstance(t, ox.BlankNode) else str(t)

        return sorted(" ".join(map(term, (x.subject, x.predicate, x.object)))
                      for x in ox.parse(response.content, rdf_format))

    return triples(a) == triples(b)


def assert_interchangeable(first: Instance, second: Instance) -> None:
    for path, params, accept in PATHS:
        a, b = fetch(first, path, params, accept), fetch(second, path, params, accept)
        assert a.status_code == b.status_code == 200, (path, a.text[:300], b.text[:300])
        assert same_content(a, b), path
        if a.headers.get("ETag"):
            # A validator from one instance is honoured by the other, behind a load balancer.
            assert a.headers["ETag"] == b.headers.get("ETag"), path
            again = fetch(second, path, params, accept, **{"If-None-Match": a.headers["ETag"]})
            assert again.status_code == 304, path


def test_read_only_instances_share_one_built_store(store_copy, tmp_path, instances):
    for _ in range(2):
        instances.append(Instance(store_copy, tmp_path, SSIKG_READ_ONLY="1"))
    assert_interchangeable(*instances)
    for instance in instances:
        refused = requests.post(instance.url + "/sparql", timeout=60, headers={
            "Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            data={"update": "INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> "
                            "<http://example.org/b> 1 } }"})
        assert refused.status_code == 403
        assert "read-only" in refused.json()["message"]


def test_instances_on_separate_copies_answer_identically(built_store, tmp_path, instances):
    for index in range(2):  # as on two machines: the built store copied to each
        copy = tmp_path / f"machine-{index}" / "store"
        shutil.copytree(built_store.resolve(), copy)
        instances.append(Instance(copy, tmp_path))
    assert_interchangeable(*instances)


def test_a_read_only_instance_never_builds(tmp_path, instances):
    missing = tmp_path / "never-built" / "store"
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "ssikg", "serve", "--store", str(missing), "--port", str(port)],
        cwd=PROJECT_ROOT, env={**os.environ, "SSIKG_READ_ONLY": "1"}, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "ssikg build" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()


def test_read_only_instances_given_one_result_cache_dir_evaluate_a_query_once(store_copy, tmp_path,
                                                                                instances):
    shared = tmp_path / "shared-results"
    for _ in range(2):
        instances.append(Instance(store_copy, tmp_path, SSIKG_READ_ONLY="1",
                                  SSIKG_RESULT_CACHE_DIR=str(shared)))
    first, second = instances
    accept = "application/sparql-results+json"
    evaluated = fetch(first, "/sparql", {"query": QUERY}, accept)
    answered = fetch(second, "/sparql", {"query": QUERY}, accept)
    assert evaluated.headers["SSIKG-Cache"] == "miss" and answered.headers["SSIKG-Cache"] == "hit"
    assert answered.content == evaluated.content and answered.headers["ETag"] == evaluated.headers["ETag"]
    metrics = requests.get(second.url + "/metrics", timeout=60).text
    assert "ssikg_result_cache_shared_hits_total 1" in metrics.splitlines()
    assert fetch(second, "/sparql", {"query": QUERY}, accept).headers["SSIKG-Cache"] == "hit"


def counters(text: str) -> dict[str, float]:
    """The counter and histogram series of a Prometheus text, by name and labels."""
    series = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if not line.startswith("#") and re.match(r"\w+(_total|_bucket|_count|_sum)\b", name):
            series[name] = float(value)
    return series


def sparql_requests(series: dict[str, float]) -> float:
    return sum(v for k, v in series.items() if k.startswith('ssikg_http_requests_total{route="/sparql"'))


def test_metrics_of_a_production_server_of_two_processes_are_the_servers(store_copy, tmp_path, instances):
    """``/metrics`` under ``--production --processes 2`` sums the processes' counters, whichever
    answers: no series ever decreases between scrapes (Prometheus would read a reset), the
    total catches up with every request made (other processes' counts lag by about a second:
    polled), and a process that exits leaves its counts in the sum."""
    import psutil

    server = Instance(store_copy, tmp_path, "--production", "--processes", "2", "--threads", "2",
                      SSIKG_UPDATE_TOKEN="", SSIKG_READ_ONLY="1")
    instances.append(server)
    scrapes: list[dict[str, float]] = []

    def scrape() -> None:
        scrapes.append(counters(requests.get(server.url + "/metrics", timeout=60).text))

    made, answered_by = 0, set()
    while len(answered_by) < 2 or made < 12:  # each on a new connection: either process may take it
        answer = requests.get(server.url + "/sparql", params={"query": QUERY}, timeout=60)
        assert answer.status_code == 200
        answered_by.add(answer.headers["X-Request-Id"][:8])  # the id's per-process prefix
        made += 1
        assert made < 400, "one process took every connection"
        scrape()

    def caught_up() -> bool:
        deadline = time.monotonic() + 30
        while sparql_requests(scrapes[-1]) < made and time.monotonic() < deadline:
            time.sleep(0.2)
            scrape()
        return sparql_requests(scrapes[-1]) >= made

    assert caught_up(), [sparql_requests(s) for s in scrapes]
    gunicorn_workers = [child for child in psutil.Process(server.process.pid).children()
                        if "ssikg.workers" not in " ".join(child.cmdline())]
    gunicorn_workers[0].terminate()  # gunicorn replaces it; its counts must stay
    gunicorn_workers[0].wait(timeout=60)
    for _ in range(4):
        scrape()
    assert caught_up()
    for earlier, later in itertools.pairwise(scrapes):
        assert all(later.get(name, 0) >= value for name, value in earlier.items()), \
            {name: (value, later.get(name)) for name, value in earlier.items() if later.get(name, 0) < value}


def _serve_once(store: Path, **env: str) -> subprocess.CompletedProcess:
    """``ssikg serve`` expected to refuse to start (it would otherwise serve until killed)."""
    return subprocess.run([sys.executable, "-m", "ssikg", "serve", "--store", str(store), "--port", str(free_port())],
                          cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_a_writer_and_read_only_servers_never_share_a_build(store_copy, tmp_path, instances):
    """A read-only server reads the store's version once: beside a process writing to the same
    build, it answered some routes with the writes and others without, all under one version.
    Either is refused while the other runs; 'ssikg export' (it changes no data) is not."""
    reader = Instance(store_copy, tmp_path, SSIKG_UPDATE_TOKEN="", SSIKG_READ_ONLY="1")
    instances.append(reader)
    refused = _serve_once(store_copy, SSIKG_UPDATE_TOKEN=TOKEN)
    assert refused.returncode == 1 and "served by a read-only server" in refused.stderr, refused.stderr
    in_memory = Instance(store_copy, tmp_path, SSIKG_IN_MEMORY="1")  # its writes stay in memory: allowed
    instances.append(in_memory)
    exported = subprocess.run([sys.executable, "-m", "ssikg", "export", "--store", str(store_copy),
                               "-o", str(tmp_path / "dump.nq"), "--format", "nquads"],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    reader.stop()
    instances.remove(reader)
    in_memory.stop()
    instances.remove(in_memory)

    writer = Instance(store_copy, tmp_path)  # with the update token
    instances.append(writer)
    refused = _serve_once(store_copy, SSIKG_UPDATE_TOKEN="", SSIKG_READ_ONLY="1")
    assert refused.returncode == 1 and "open for writing by another process" in refused.stderr, refused.stderr
    answer = requests.post(writer.url + "/update", data="INSERT DATA { GRAPH <http://example.org/g> { "
                           "<http://example.org/s> <http://example.org/p> 1 } }",
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"},
                           timeout=60)
    assert answer.status_code == 204
