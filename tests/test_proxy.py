"""Behind a reverse proxy (README "Behind a reverse proxy"): with ``forwarded_proxies`` the
URLs the server makes follow the X-Forwarded-Proto/-Host/-Port/-Prefix of the trusted
proxy and the access log names the client from X-Forwarded-For; without it (the default)
those headers change nothing.  The replay front keeps one entry for the clients behind a
proxy and apart the hosts and prefixes it serves.  Last, the README's nginx snippet in
front of ``ssikg serve --production``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import require_tool, stop_process
from rdflib import Graph, Namespace, URIRef

from ssikg.settings import PROJECT_ROOT

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
RDFS_SEE_ALSO = URIRef("http://www.w3.org/2000/01/rdf-schema#seeAlso")

PUBLIC = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "data.example.org",
          "X-Forwarded-Prefix": "/ssikg", "X-Forwarded-For": "203.0.113.7"}
SITE = "https://data.example.org/ssikg/"


def _description(url: str, headers: dict) -> Graph:
    answer = requests.get(url, headers={**headers, "Accept": "text/turtle"}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return Graph().parse(data=answer.text, format="turtle")


def _one(graph: Graph, predicate) -> str:
    values = {str(o) for o in graph.objects(None, predicate)}
    assert len(values) == 1, values
    return values.pop()


@pytest.fixture
def trusted(make_app, serve_app):
    """A server that trusts one proxy in front of it."""
    app = make_app(forwarded_proxies=1)
    return app, serve_app(app)


@pytest.fixture
def access_lines():
    """The access-log lines written while the test runs (the server is in this process)."""
    lines: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(record.getMessage()))

    logger = logging.getLogger("ssikg.access")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_descriptions_name_the_public_endpoint_behind_a_trusted_proxy(trusted):
    _app, server = trusted
    sd = _description(f"{server.url}/sparql", PUBLIC)
    assert _one(sd, SD.endpoint) == SITE + "sparql"
    assert _one(sd, RDFS_SEE_ALSO).startswith(SITE + "api/")  # the OpenAPI document
    void = _description(f"{server.url}/.well-known/void", PUBLIC)
    assert _one(void, VOID.sparqlEndpoint) == SITE + "sparql"
    assert _one(void, VOID.dataDump) == SITE + "store"
    openapi = requests.get(f"{server.url}/api/openapi.json", headers=PUBLIC, timeout=30).json()
    assert openapi["servers"] == [{"url": "/ssikg"}]
    # another host behind the same proxy gets its own IRIs, not those memoised for the first
    other = _description(f"{server.url}/sparql", {**PUBLIC, "X-Forwarded-Host": "mirror.example.net",
                                                  "X-Forwarded-Proto": "http"})
    assert _one(other, SD.endpoint) == "http://mirror.example.net/ssikg/sparql"


def test_forwarded_headers_change_nothing_by_default(make_app, serve_app, access_lines):
    """forwarded_proxies = 0: anyone can send X-Forwarded-*, so nothing reads them."""
    server = serve_app(make_app())
    sd = _description(f"{server.url}/sparql", PUBLIC)
    assert _one(sd, SD.endpoint) == f"{server.url}/sparql"
    moved = requests.get(f"{server.url}/id/dcis", headers={**PUBLIC, "Accept": "text/html"},
                         allow_redirects=False, timeout=30)
    assert moved.status_code == 303 and moved.headers["Location"] == "/id/dcis.html"
    assert "Disallow: /sparql\n" in requests.get(f"{server.url}/robots.txt", headers=PUBLIC, timeout=30).text
    line = next(entry for entry in access_lines if entry["route"] == "/robots.txt")
    assert line["remote"] == "127.0.0.1" and "proxy" not in line  # never the spoofable header


def test_links_redirects_and_assets_keep_the_prefix(trusted):
    _app, server = trusted
    moved = requests.get(f"{server.url}/id/dcis", headers={**PUBLIC, "Accept": "text/html"},
                         allow_redirects=False, timeout=30)
    assert moved.status_code == 303 and moved.headers["Location"] == "/ssikg/id/dcis.html"
    page = requests.get(f"{server.url}/id/dcis.html", headers=PUBLIC, timeout=30)
    assert page.status_code == 200
    assert 'href="/ssikg/static/ssikg.css"' in page.text
    assert 'href="/ssikg/id/dcis.html?lang=en"' in page.text  # the language switch
    assert '"/static/' not in page.text and 'href="/id/' not in page.text
    query_page = requests.get(f"{server.url}/query", headers=PUBLIC, timeout=30).text
    assert "/ssikg/static/vendor/yasgui/yasgui.min.js" in query_page and "/ssikg/sparql" in query_page
    robots = requests.get(f"{server.url}/robots.txt", headers=PUBLIC, timeout=30).text
    assert "Disallow: /ssikg/sparql\n" in robots and "Disallow: /sparql" not in robots


@pytest.mark.parametrize("prefix", ["//evil.example", "ssikg", "/a b"])
def test_a_prefix_no_url_can_start_with_is_a_400(trusted, prefix):
    """A misconfigured proxy's prefix: a clear 400, never a redirect off the site or a 500."""
    _app, server = trusted
    for path, accept in (("/id/dcis", "text/html"), ("/sparql", "text/turtle")):
        answer = requests.get(f"{server.url}{path}", headers={"X-Forwarded-Prefix": prefix, "Accept": accept},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 400 and "X-Forwarded-Prefix" in answer.text, answer.text[:300]
        assert "Location" not in answer.headers


def test_validation_report_downloads_keep_the_prefix(trusted):
    _app, server = trusted
    report = requests.get(f"{server.url}/validate", headers={**PUBLIC, "Accept": "text/html"}, timeout=300)
    assert report.status_code == 200, report.text[:300]
    assert 'href="/ssikg/validate?format=ttl"' in report.text
    assert 'href="/validate' not in report.text


def test_access_log_names_the_client_behind_a_trusted_proxy(trusted, access_lines):
    _app, server = trusted
    # one hop trusted: the address the proxy saw (rightmost), not what the client claimed before it
    requests.get(f"{server.url}/health", headers={"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}, timeout=30)
    line = next(entry for entry in access_lines if entry["path"] == "/health")
    assert line["remote"] == "203.0.113.7" and line["proxy"] == "127.0.0.1"


def _ask(url: str, headers: dict) -> requests.Response:
    answer = requests.get(f"{url}/sparql", params={"query": "ASK { ?s a ?c }"},
                          headers={"Accept": "application/sparql-results+json", **headers}, timeout=60)
    assert answer.status_code == 200 and answer.json()["boolean"] is True
    return answer


def test_replay_keeps_one_entry_for_the_clients_behind_a_proxy(trusted):
    app, server = trusted
    front = app.extensions["ssikg.replay"]
    for client in range(6):  # the first evaluates, the second is kept, the others replay it
        _ask(server.url, {"X-Forwarded-For": f"203.0.113.{client}", "X-Real-IP": f"203.0.113.{client}"})
    assert front.stats()["entries"] == 1


def test_replay_keeps_hosts_and_prefixes_apart(trusted):
    app, server = trusted
    front = app.extensions["ssikg.replay"]
    publics = [PUBLIC, {**PUBLIC, "X-Forwarded-Host": "mirror.example.net"},
               {**PUBLIC, "X-Forwarded-Prefix": "/other"}, {**PUBLIC, "X-Forwarded-Proto": "http"}]
    for headers in publics:
        for _ in range(3):
            _ask(server.url, headers)
    assert front.stats()["entries"] == len(publics)  # under a prefix too: each its own entry


# ---------------------------------------------------------------------------
# Through a real nginx, with the README's snippet


def _readme_snippet(name: str) -> str:
    """The README's nginx block that follows the line naming ``name``."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Behind a reverse proxy", 1)[1]
    found = re.search(re.escape(name) + r".*?```nginx\n(.*?)```", section, re.DOTALL)
    assert found, f"no nginx block after {name!r} in README"
    return found.group(1)


def _nginx_port() -> int:
    for port in range(18300, 18350):  # the port range this test may use
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in 18300-18349")


@contextlib.contextmanager
def _nginx(folder: Path, backend_port: int, locations: str):
    """nginx as this test's own process (own config, pid file and logs), stopped by its pid.
    It connects to the backend from 127.0.0.2, so the proxy's address differs from the client's."""
    port = _nginx_port()
    for sub in ("logs", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    temp = folder / "tmp"
    config = folder / "nginx.conf"
    config.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        proxy_bind 127.0.0.2;
{locations.replace("127.0.0.1:5000", f"127.0.0.1:{backend_port}")}
    }}
}}
""", encoding="utf-8")
    proc = subprocess.Popen([shutil.which("nginx"), "-e", str(folder / "logs" / "error.log"),
                             "-p", str(folder), "-c", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail("nginx stopped: " + proc.stdout.read().decode(errors="replace")
                            + (folder / "logs" / "error.log").read_text(errors="replace"))
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _request_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(errors="replace").splitlines()
            if line.startswith('{"event": "request"')]


@pytest.fixture(scope="module")
def production(built_store, tmp_path_factory):
    """``ssikg serve --production`` trusting one proxy: (its URL, its log file)."""
    from conftest import free_port, wait_for_http

    folder = tmp_path_factory.mktemp("production")
    store = folder / "store"
    shutil.copytree(built_store.resolve(), store)
    port, log = free_port(), folder / "server.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "ssikg", "serve", "--production", "--processes", "1",
                                   "--threads", "4", "--store", str(store), "--port", str(port)],
                                  stdout=sink, stderr=subprocess.STDOUT,
                                  env={**os.environ, "SSIKG_FORWARDED_PROXIES": "1"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=90, process=server)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_process(server)


def test_gunicorn_reads_no_forwarded_header_itself(production):
    """Only ssikg's ProxyFix reads forwarded headers: gunicorn's own (X-Forwarded-Ssl, a raw
    SCRIPT_NAME header), which it took from anything on 127.0.0.1, change nothing."""
    url, _log = production
    sd = _description(f"{url}/sparql", {"X-Forwarded-Ssl": "on"})
    assert _one(sd, SD.endpoint) == f"{url}/sparql"
    mounted = requests.get(f"{url}/health", headers={"SCRIPT_NAME": "/elsewhere"}, timeout=30)
    assert mounted.status_code == 200  # was gunicorn's own 500 "Configuration problem"


def test_the_readme_nginx_snippet_in_front_of_the_production_server(production, tmp_path):
    require_tool(shutil.which("nginx") is not None, "nginx")
    url, log = production
    backend = int(url.rsplit(":", 1)[1])
    locations = _readme_snippet("At the site's root") + _readme_snippet("Under a path")
    with _nginx(tmp_path / "nginx", backend, locations) as proxy:
        port = proxy.rsplit(":", 1)[1]
        # a client's own X-Forwarded-* are replaced by what nginx saw
        spoofed = {"X-Forwarded-For": "192.0.2.66", "X-Forwarded-Host": "evil.example",
                   "X-Forwarded-Prefix": "/evil"}
        sd = _description(f"{proxy}/sparql", {"Host": f"data.example.org:{port}", **spoofed})
        assert _one(sd, SD.endpoint) == f"http://data.example.org:{port}/sparql"
        below = _description(f"{proxy}/ssikg/sparql", {"Host": f"data.example.org:{port}", **spoofed})
        assert _one(below, SD.endpoint) == f"http://data.example.org:{port}/ssikg/sparql"
        moved = requests.get(f"{proxy}/ssikg/id/dcis", headers={"Accept": "text/html"},
                             allow_redirects=False, timeout=30)
        assert moved.status_code == 303 and moved.headers["Location"] == "/ssikg/id/dcis.html"
        css = requests.get(f"{proxy}/ssikg/static/ssikg.css", timeout=30)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
        # streamed through (proxy_buffering off, HTTP/1.1): a whole, parseable dump
        dump = requests.get(f"{proxy}/ssikg/store", headers={"Accept": "application/n-quads"}, timeout=120)
        assert dump.status_code == 200 and dump.text.endswith(".\n") and len(dump.text) > 100_000
    deadline = time.monotonic() + 10  # the access log is flushed every 0.2 s
    while time.monotonic() < deadline and not any(e["path"] == "/store" for e in _request_lines(log)):
        time.sleep(0.05)
    lines = [e for e in _request_lines(log) if e["path"] in ("/sparql", "/store") and "proxy" in e]
    assert len(lines) >= 3, log.read_text(errors="replace")[-2000:]
    # the client (127.0.0.1, as nginx saw it), not its claim, nor nginx's own address
    assert all(e["remote"] == "127.0.0.1" and e["proxy"] == "127.0.0.2" for e in lines), lines
