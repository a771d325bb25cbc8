"""HTTP hygiene: ETag / 304 / Cache-Control, gzip, CORS, one error shape,
structured request logs, /health, /metrics, and production serving with
gunicorn (one process, threads) in a real subprocess."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ssikg import http
from ssikg.settings import PROJECT_ROOT
from ssikg.store import open_store

QUERY = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 300"


def get(url, **headers):
    return requests.get(f"{url}/sparql", params={"query": QUERY}, headers=headers, timeout=60)


def test_etag_and_304(live_server):
    first = get(live_server.url)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = get(live_server.url, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"].strip('"').startswith(etag.strip('"').removesuffix("-gzip"))
    other_format = get(live_server.url, Accept="text/csv", **{"If-None-Match": etag})
    assert other_format.status_code == 200  # another representation, another ETag
    assert get(live_server.url, **{"If-None-Match": '"something-else"'}).status_code == 200


def test_etag_follows_the_store_version(make_app, serve_app):
    server = serve_app(make_app(update_token="t"))
    before = get(server.url).headers["ETag"]
    r = requests.post(f"{server.url}/sparql", data={"update": "INSERT DATA { GRAPH <http://e/g> "
                                                    "{ <http://e/a> <http://e/b> 1 } }"},
                      headers={"Authorization": "Bearer t"}, timeout=30)
    assert r.status_code == 204
    after = get(server.url, **{"If-None-Match": before})
    assert after.status_code == 200 and after.headers["ETag"] != before


def test_post_queries_are_not_cached(live_server):
    r = requests.post(f"{live_server.url}/sparql", data={"query": QUERY}, timeout=60)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "ETag" not in r.headers


def test_gzip_when_asked(live_server):
    plain = get(live_server.url, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    raw = requests.get(f"{live_server.url}/sparql", params={"query": QUERY}, timeout=60,
                       headers={"Accept-Encoding": "gzip"}, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers["Vary"]
    compressed = raw.raw.read(decode_content=False)
    assert len(compressed) < len(plain.content) / 3
    assert gzip.decompress(compressed) == plain.content


def test_a_304_carries_the_validator_of_the_representation_the_client_holds(live_server):
    """RFC 9110 §15.4.5: the 304 has the ETag the 200 would have had; If-None-Match uses
    the weak comparison (§13.1.2), so W/"…" matches too."""
    for path, params in (("/sparql", {"query": QUERY}),
                         ("/store", {"graph": "https://w3id.org/ssikg/graph/stated"})):
        url = live_server.url + path
        zipped = requests.get(url, params=params, headers={"Accept-Encoding": "gzip"}, timeout=60)
        plain = requests.get(url, params=params, headers={"Accept-Encoding": "identity"}, timeout=60)
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"].endswith('-gzip"')
        assert "Content-Encoding" not in plain.headers and plain.headers["ETag"] != zipped.headers["ETag"]
        for held, encoding in ((zipped, "gzip"), (plain, "identity")):
            etag = held.headers["ETag"]
            for validator in (etag, "W/" + etag, f'"other", {etag}'):
                again = requests.get(url, params=params, timeout=60, headers={
                    "Accept-Encoding": encoding, "If-None-Match": validator})
                assert again.status_code == 304, (path, validator)
                assert again.headers["ETag"] == etag, (path, validator)
                assert again.headers["Vary"] == held.headers["Vary"], (path, validator)
        # a client refusing gzip is never told that a compressed copy is good for it
        refusing = requests.get(url, params=params, timeout=60, headers={
            "Accept-Encoding": "gzip;q=0, identity", "If-None-Match": zipped.headers["ETag"]})
        assert refusing.status_code == 200 and "Content-Encoding" not in refusing.headers, path


def test_head_has_the_headers_of_get(live_server):
    """RFC 9110 §9.3.2: the same Content-Encoding, ETag and length as GET (no body)."""
    for path, params in (("/sparql", {"query": QUERY}),
                         ("/store", {"graph": "https://w3id.org/ssikg/graph/stated"}),
                         ("/id/dcis", None)):
        url = live_server.url + path
        headers = {"Accept-Encoding": "gzip", "Accept": "text/html" if path == "/id/dcis" else "*/*"}
        got = requests.get(url, params=params, headers=headers, timeout=60, allow_redirects=False)
        head = requests.head(url, params=params, headers=headers, timeout=60, allow_redirects=False)
        assert head.status_code == got.status_code and head.content == b""
        for name in ("Content-Type", "Content-Encoding", "ETag", "Content-Length", "Vary"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)


def test_cors_for_reads(live_server):
    r = get(live_server.url, Origin="https://yasgui.example")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # any origin: the header is on every answer, so a copy stored without Origin serves a fetch()
    assert get(live_server.url).headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    preflight = requests.options(f"{live_server.url}/sparql", headers={
        "Origin": "https://yasgui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"}, timeout=30)
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Request-Headers" in preflight.headers["Vary"]  # echoed back
    # a script can tell a cut result and page on; a GET-only route offers no POST
    assert "SSIKG-Truncated" in r.headers["Access-Control-Expose-Headers"]
    read_only = requests.options(f"{live_server.url}/api/queries/cq05-who-assists-the-asi", headers={
        "Origin": "https://yasgui.example", "Access-Control-Request-Method": "GET"}, timeout=30)
    methods = {m.strip() for m in read_only.headers["Access-Control-Allow-Methods"].split(",")}
    assert "GET" in methods and "POST" not in methods


def test_cors_configured_origins(make_app, serve_app):
    server = serve_app(make_app(cors_origins="https://allowed.example, https://other.example"))
    allowed = get(server.url, Origin="https://allowed.example")
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    assert "Origin" in allowed.headers["Vary"]
    refused = get(server.url, Origin="https://evil.example")
    assert refused.status_code == 200 and "Access-Control-Allow-Origin" not in refused.headers
    # a cache must not give the answer without the header to the allowed origin
    assert "Origin" in refused.headers["Vary"] and "Origin" in get(server.url).headers["Vary"]


def test_a_construct_minting_blank_nodes_has_a_weak_validator(live_server):
    """Its blank nodes are named afresh at each evaluation: the same answer, other bytes."""
    minted = requests.get(f"{live_server.url}/sparql", timeout=30, headers={"Accept": "application/n-triples"},
                          params={"query": "CONSTRUCT { _:x <http://e/p> ?s } WHERE { ?s a <http://www.w3.org/ns/org#Post> }"})
    assert minted.status_code == 200 and minted.headers["ETag"].startswith('W/"')
    again = requests.get(minted.url, timeout=30, headers={"Accept": "application/n-triples",
                                                          "If-None-Match": minted.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == minted.headers["ETag"]
    copied = requests.get(f"{live_server.url}/sparql", timeout=30, headers={"Accept": "application/n-triples"},
                          params={"query": "CONSTRUCT { ?s <http://e/p> ?o } WHERE { ?s a ?o } LIMIT 3"})
    assert not copied.headers["ETag"].startswith("W/")  # the store's own terms: the same bytes


def test_answers_that_change_each_time_get_no_validator(live_server):
    for query in ("SELECT (RAND() AS ?r) WHERE {}", "SELECT (STRUUID() AS ?u) WHERE {}", "ASK { FILTER(NOW() > 0) }"):
        r = requests.get(f"{live_server.url}/sparql", params={"query": query}, timeout=30,
                         headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200 and "ETag" not in r.headers, query


def test_a_304_keeps_the_vary_of_its_200(live_server):
    for path in ("/id/dcis.ttl", "/ontology", "/api/queries"):
        first = requests.get(live_server.url + path, timeout=30, headers={"Accept-Encoding": "gzip"})
        held = requests.get(live_server.url + path, timeout=30,
                            headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
        assert held.status_code == 304, path
        assert set(held.headers["Vary"].replace(" ", "").split(",")) == set(
            first.headers["Vary"].replace(" ", "").split(",")), path
    browser = requests.get(f"{live_server.url}/sparql", timeout=30,
                           headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["Content-Type"].startswith("text/html") and "Accept" in browser.headers["Vary"]


def test_errors_share_one_json_shape(live_server):
    cases = [requests.get(f"{live_server.url}/no-such-route", timeout=30),
             requests.delete(f"{live_server.url}/sparql", timeout=30),
             requests.get(f"{live_server.url}/sparql", params={"query": "SELEC"}, timeout=30),
             requests.get(f"{live_server.url}/sparql", params={"query": QUERY}, timeout=30,
                          headers={"Accept": "image/png"})]
    for r in cases:
        body = r.json()
        assert r.headers["Content-Type"].startswith("application/json")
        assert set(body) >= {"status", "title", "message"} and body["status"] == r.status_code
        assert 400 <= r.status_code < 500
        assert "Traceback" not in r.text


def test_structured_request_log(shared_app, caplog):
    client = shared_app.test_client()
    with caplog.at_level(logging.INFO, logger="ssikg.access"):
        r = client.get("/sparql", query_string={"query": "ASK {}"}, headers={"X-Request-Id": "abc123"})
    assert r.headers["X-Request-Id"] == "abc123"
    records = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "ssikg.access"]
    entry = records[-1]
    assert entry["id"] == "abc123" and entry["method"] == "GET" and entry["route"] == "/sparql"
    assert entry["status"] == 200 and entry["ms"] >= 0


def test_health(live_server, shared_app):
    r = requests.get(f"{live_server.url}/health", timeout=30)
    body = r.json()
    store = shared_app.extensions["ssikg.store"]
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["store_version"] == store.version and body["triples"] == len(store) > 0


def _metric(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


def test_metrics(live_server, shared_app):
    before = requests.get(f"{live_server.url}/metrics", timeout=30).text
    n0 = _metric(before, "ssikg_http_requests_total", route="/sparql", method="GET", status="200") or 0
    for _ in range(3):
        get(live_server.url)
    requests.get(f"{live_server.url}/sparql", params={"query": "SELEC"}, timeout=30)
    http.count("timeouts")
    r = requests.get(f"{live_server.url}/metrics", timeout=30)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert _metric(text, "ssikg_http_requests_total", route="/sparql", method="GET", status="200") == n0 + 3
    assert _metric(text, "ssikg_http_requests_total", route="/sparql", method="GET", status="400") >= 1
    count = _metric(text, "ssikg_http_request_duration_seconds_count", route="/sparql")
    assert _metric(text, "ssikg_http_request_duration_seconds_bucket", route="/sparql", le="+Inf") == count
    assert _metric(text, "ssikg_timeouts_total") >= 1
    assert _metric(text, "ssikg_refusals_total") is not None
    assert _metric(text, "ssikg_store_quads") == len(shared_app.extensions["ssikg.store"])
    assert "# TYPE ssikg_http_request_duration_seconds histogram" in text


def values_query(entities: int) -> str:
    """A query listing ``entities`` IRIs: ~60 bytes each in a URL."""
    listed = " ".join(f"<https://w3id.org/ssikg/id/entity-{n}>" for n in range(entities))
    return f"SELECT ?s WHERE {{ VALUES ?s {{ {listed} }} ?s ?p ?o }}"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, as an operator stops the server; killed only if it hangs."""
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_production_server(store_copy, wait_until_up):
    """``ssikg serve --production``: gunicorn, one process with threads, answers real requests."""
    from conftest import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--threads", "4",
                             "--processes", "1", "--store", str(store_copy), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health", proc)
        r = requests.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60)
        assert r.status_code == 200 and r.json()["boolean"] is True
        assert "gunicorn" in r.headers.get("Server", "")
        # gunicorn's own error for a malformed chunk reaches the app while it reads the body: 400
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                         b"3\r\nASK\r\nzz\r\nx\r\n0\r\n\r\n")
            answer = b"".join(iter(lambda: conn.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 400") and b'"status": 400' in answer, answer[:300]
        # what gunicorn refuses before the app sees it gets the same JSON shape
        too_long = requests.get(f"{url}/sparql", params={"query": "#" * 9000}, timeout=30)
        assert too_long.status_code == 414 and too_long.json()["status"] == 414
        # GET URLs up to gunicorn's largest request line (8190 bytes; its default is 4094),
        # as /limits says; longer queries must be POSTed
        line_limit = requests.get(f"{url}/limits", timeout=30).json()["max_request_line_bytes"]
        assert line_limit == 8190
        for entities, status in ((115, 200), (165, 414)):  # ~6 KB, ~9 KB
            long_query = requests.get(f"{url}/sparql", params={"query": values_query(entities)}, timeout=30)
            request_line = len(f"GET {long_query.request.path_url} HTTP/1.1")
            assert (request_line > 6000 if status == 200 else request_line > line_limit), request_line
            assert long_query.status_code == status, long_query.text[:300]
            assert long_query.headers["Content-Type"].startswith("application/")  # JSON results or error
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            output = proc.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert "gthread" in output  # gunicorn announced its threaded worker
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"event": "request"')]
    assert any(entry["route"] == "/sparql" and entry["status"] == 200 for entry in lines)



def test_a_writing_production_server_reloads_on_sighup_and_keeps_one_writer(store_copy, wait_until_up, tmp_path):
    """gunicorn's reload (SIGHUP) starts the new process before the old one has let go of the
    store, and SIGTTIN asks for a second process that could never open it: neither may take
    the server down. A second writer, or a busy port, is refused in one line before gunicorn starts."""
    import psutil
    from conftest import free_port

    port = free_port()
    env = {**os.environ, "SSIKG_UPDATE_TOKEN": "t0ken"}
    command = [sys.executable, "-m", "ssikg", "serve", "--production", "--store", str(store_copy)]
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", proc)
        for extra, env_for, says in ((["--port", str(free_port())], env, "open for writing in another process"),
                                     (["--port", str(port)], {**os.environ}, "cannot listen on")):
            refused = subprocess.run([*command, *extra], capture_output=True, text=True, env=env_for, timeout=120)
            assert refused.returncode == 1 and says in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr and "Listening at" not in refused.stderr
        master = psutil.Process(proc.pid)
        first = [c.pid for c in master.children()]
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and [c.pid for c in master.children()] in ([], first):
            time.sleep(0.2)
        wait_until_up(f"{url}/health", proc)
        assert [c.pid for c in master.children()] not in ([], first)  # a new process serves
        written = requests.post(f"{url}/sparql", data=b"INSERT DATA { GRAPH <http://e/g> { <http://e/a> <http://e/b> 1 } }",
                                headers={"Content-Type": "application/sparql-update",
                                         "Authorization": "Bearer t0ken"}, timeout=60)
        assert written.status_code == 204  # and it holds the store for writing
        os.kill(proc.pid, signal.SIGTTIN)
        time.sleep(1.5)
        assert proc.poll() is None and len(master.children()) == 1
        assert requests.get(f"{url}/health", timeout=30).status_code == 200
    finally:
        stop(proc)
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text(errors="replace")[-2000:]


def test_serve_with_auto_build_off_does_not_build(tmp_path):
    from conftest import free_port, run_cli

    missing = run_cli("serve", "--store", str(tmp_path / "none"), "--port", str(free_port()),
                      env={"SSIKG_AUTO_BUILD": "0"})
    assert missing.returncode == 1 and "auto_build is off" in missing.stderr
    assert not (tmp_path / "none").exists()


def test_production_request_lines_are_written_while_the_server_runs(store_copy, wait_until_up, tmp_path):
    """The access log is buffered (one write per batch, not per line) yet reaches stderr
    within a fraction of a second, without waiting for the server to exit."""
    import time

    from conftest import free_port, stop_process

    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--processes", "1",
                                 "--store", str(store_copy), "--port", str(port)],
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health", proc)
        marker = f"/sparql?query=ASK%7B%7D&probe={port}"
        assert requests.get(url + marker, timeout=30).status_code == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and '"status": 200' not in _request_lines(log, "/sparql"):
            time.sleep(0.05)
        assert '"status": 200' in _request_lines(log, "/sparql"), log.read_text()[-2000:]
        assert proc.poll() is None
    finally:
        stop_process(proc)


def _request_lines(log, route: str) -> str:
    return "\n".join(line for line in log.read_text(errors="replace").splitlines()
                     if line.startswith('{"event": "request"') and f'"route": "{route}"' in line)


def test_serving_read_only_a_folder_that_is_not_a_built_store_fails_in_one_line(tmp_path):
    from conftest import run_cli

    refused = run_cli("serve", "--production", "--store", str(tmp_path / "nothing-built-here"),
                      env={"SSIKG_READ_ONLY": "1"}, timeout=60)
    assert refused.returncode != 0 and "not a built store" in refused.stderr
    assert "Traceback" not in refused.stderr and "gunicorn" not in refused.stderr.lower()


@pytest.mark.parametrize("case", ["builds its store first", "checks a read-only store"])
def test_the_production_server_stops_cleanly_on_sigterm(case, store_copy, tmp_path, wait_until_up):
    """The server process builds or checks its store in a spawned interpreter: had it
    opened RocksDB itself, the gunicorn workers forked from it would inherit RocksDB's
    thread pool without its threads and, on SIGTERM, crash (SIGSEGV) or hang joining them
    until gunicorn's 30 s graceful timeout.  Here a write made after the build is kept."""
    import time

    from conftest import free_port

    building = case == "builds its store first"
    store = tmp_path / "fresh-store" if building else store_copy
    env = {**os.environ, "SSIKG_SOURCE_DIR": str(PROJECT_ROOT)}
    env.update({"SSIKG_UPDATE_TOKEN": "stop-token"} if building else {"SSIKG_READ_ONLY": "1"})
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--processes", "1",
                                 "--threads", "2", "--store", str(store), "--port", str(port)],
                                stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health", proc, timeout=180)
        assert requests.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60).json()["boolean"]
        if building:
            written = requests.post(f"{url}/sparql", headers={"Authorization": "Bearer stop-token"},
                                    data={"update": "INSERT DATA { GRAPH <urn:ssikg:test:g> "
                                                    "{ <urn:ssikg:test:s> <urn:ssikg:test:p> 1 } }"}, timeout=60)
            assert written.status_code == 204, written.text
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=25)  # well under gunicorn's 30 s graceful timeout
    finally:
        if proc.poll() is None:  # a hung server: its gunicorn and query workers go too
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    output = log.read_text(errors="replace")
    assert proc.returncode == 0 and "SIGSEGV" not in output and "SIGKILL" not in output, output[-2000:]
    assert time.monotonic() - stopped_at < 25
    if building:
        reopened = open_store(store, read_only=True)
        try:
            assert bool(reopened.query("ASK { GRAPH <urn:ssikg:test:g> { <urn:ssikg:test:s> ?p 1 } }"))
        finally:
            reopened.close()


def _shared_result_folders() -> set[str]:
    """The folders production servers share results and metrics through, in /dev/shm."""
    shm = Path("/dev/shm")
    return {str(path) for pattern in ("ssikg-results-*", "ssikg-metrics-*") for path in shm.glob(pattern)} \
        if shm.is_dir() else set()


def test_production_server_with_several_read_only_processes(store_copy, wait_until_up):
    """``--processes 2``: two gunicorn workers, each with the store open read-only, sharing
    their cached results and their metrics through temporary folders removed at the end."""
    import psutil
    from conftest import free_port, run_cli

    refused = run_cli("serve", "--production", "--processes", "2", "--store", str(store_copy),
                      env={"SSIKG_UPDATE_TOKEN": "t"})
    assert refused.returncode == 2 and "read-only" in refused.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSIKG_UPDATE_TOKEN")}
    before = _shared_result_folders()
    proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--processes", "2",
                             "--threads", "2", "--store", str(store_copy), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health", proc)
        cache_answers = []
        for _ in range(16):  # each on a new connection: either process may take it
            r = requests.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60)
            assert r.status_code == 200 and r.json()["boolean"] is True
            cache_answers.append(r.headers["SSIKG-Cache"])
        assert cache_answers == ["miss"] + ["hit"] * 15  # evaluated once for both processes
        gunicorn_workers = [child for child in psutil.Process(proc.pid).children()
                            if "ssikg.workers" not in " ".join(child.cmdline())]
        assert len(gunicorn_workers) == 2
        created = _shared_result_folders() - before  # other servers on the machine may add theirs
        if Path("/dev/shm").is_dir():
            assert {Path(folder).name.split("-")[1] for folder in created} == {"results", "metrics"}
        write = requests.post(f"{url}/sparql", data={"update": "CLEAR ALL"}, timeout=60)
        assert write.status_code == 403
    finally:
        stop(proc)
    assert not created & _shared_result_folders()  # removed when the server stopped


def test_production_processes_default_to_one_per_core_when_read_only():
    """``--processes auto`` (the default): every core for a read-only store, one process
    when writes are enabled or the store is held in memory."""
    from ssikg.cli import server_processes
    from ssikg.settings import load_settings

    cores = min(os.cpu_count() or 1, 8)
    assert server_processes("auto", True, load_settings({}))[0] == cores
    assert server_processes("auto", True, load_settings({"update_token": "t"}))[0] == 1
    assert server_processes("auto", True, load_settings({"in_memory": True}))[0] == 1
    assert server_processes("auto", False, load_settings({}))[0] == 1
    assert server_processes(3, True, load_settings({}))[0] == 3


def test_production_server_announces_its_processes(store_copy, wait_until_up):
    from conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSIKG_UPDATE_TOKEN")}
    proc = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--threads", "2",
                             "--store", str(store_copy), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc)
        r = requests.get(f"http://127.0.0.1:{port}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=60)
        assert r.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    cores = min(os.cpu_count() or 1, 8)
    plural = "es" if cores > 1 else ""
    assert f"ssikg: {cores} server process{plural} (" in output
    assert output.count("Booting worker with pid") == cores


def test_a_streamed_answer_is_timed_to_its_last_byte(make_app):
    """The latency histogram and the access log see a streamed body when the server closes it,
    not when its headers leave (a dump's headers leave at once)."""
    app = make_app()
    client = app.test_client()

    def dumps_counted() -> int:
        return http.METRICS.snapshot().counts.get("/store", 0)

    before = dumps_counted()
    response = client.get("/store", headers={"Accept": "application/n-quads"}, buffered=False)
    assert response.is_streamed
    first = next(iter(response.response))
    assert first and dumps_counted() == before  # headers sent, body under way: not yet recorded
    for _chunk in response.response:
        pass
    response.close()
    assert dumps_counted() == before + 1
