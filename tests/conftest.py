"""Shared fixtures: a store built once from the real sources, per-test copies of it,
apps over those copies, and real HTTP servers on loopback.

Nothing is mocked: ``built_store`` is a real on-disk Oxigraph store built by
``ssikg.store.build_store``; ``live_server`` serves an app over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ssikg.app import create_app
from ssikg.settings import PROJECT_ROOT
from ssikg.store import build_store

REQUIRE_SYSTEM_TOOLS = os.environ.get("SSIKG_REQUIRE_SYSTEM_TOOLS") == "1"


def require_tool(available: bool, what: str) -> None:
    """Skip when a system tool is missing, except in CI where it must be there."""
    if available:
        return
    if REQUIRE_SYSTEM_TOOLS:
        pytest.fail(f"{what} is required (SSIKG_REQUIRE_SYSTEM_TOOLS=1) but missing")
    pytest.skip(f"{what} is not installed")


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextlib.contextmanager
def chromium():
    """Debian's headless Chromium through playwright (never `playwright install`); skipped where
    it is missing, except in CI."""
    require_tool(CHROMIUM.exists(), "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def built_store(tmp_path_factory) -> Path:
    """A pristine store built from the repository's ontology/ and data/; never opened for writing."""
    path = tmp_path_factory.mktemp("built") / "store"
    build_store(path, PROJECT_ROOT)
    return path


@pytest.fixture(scope="session")
def base_quads(built_store) -> list:
    """Every quad of the built store: the real data the SHACL mutation tests copy and mutate."""
    from ssikg.store import open_store

    store = open_store(built_store, read_only=True)
    try:
        return list(store.quads())
    finally:
        store.close()


@pytest.fixture(scope="module")
def embedded(built_store):
    """The built store opened read-only, to compare another engine's answers with."""
    from ssikg.store import open_store

    store = open_store(built_store, read_only=True)
    yield store
    store.close()


@pytest.fixture
def store_copy(built_store, tmp_path) -> Path:
    """A private copy of the built store that a test may open, write and break."""
    target = tmp_path / "store"
    shutil.copytree(built_store.resolve(), target)
    return target


@pytest.fixture
def make_app(built_store, tmp_path):
    """Factory: an app over a fresh copy of the built store, with setting overrides."""
    counter = iter(range(1000))
    apps = []

    def factory(**overrides):
        target = tmp_path / f"store-{next(counter)}"
        shutil.copytree(built_store.resolve(), target)
        settings = {"store": target, "auto_build": False, **overrides}
        app = create_app(settings)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_app(app)


def close_app(app) -> None:
    """Stop an app's query workers (if it started any) and close its store."""
    executor = app.extensions.get("ssikg.executor")
    if executor is not None:
        executor.shutdown()
    app.extensions["ssikg.store"].close()


@pytest.fixture(scope="session")
def shared_app(built_store, tmp_path_factory):
    """One read-only-by-default app for the whole session (tests must not write through it)."""
    target = tmp_path_factory.mktemp("shared") / "store"
    shutil.copytree(built_store.resolve(), target)
    app = create_app({"store": target, "auto_build": False})
    app.config["TESTING"] = True
    yield app
    close_app(app)


class LiveServer:
    """A real threaded HTTP server on 127.0.0.1 serving a WSGI app."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(shared_app):
    """The shared app on a real loopback server, for read-only HTTP tests."""
    with LiveServer(shared_app) as server:
        yield server


@pytest.fixture
def serve_app():
    """Factory: serve any app on a real loopback server for the test's duration."""
    servers = []

    def factory(app) -> LiveServer:
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def writable_live_server(built_store: Path, folder: Path, token: str):
    """A live server over a private copy of the built store, accepting writes with ``token``;
    its store is closed afterwards."""
    target = folder / "store"
    shutil.copytree(built_store.resolve(), target)
    app = create_app({"store": target, "auto_build": False, "update_token": token})
    try:
        with LiveServer(app) as live:
            yield live
    finally:
        app.extensions["ssikg.store"].close()


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_for_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before answering {url}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real ``ssikg`` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ssikg", *args], cwd=cwd or PROJECT_ROOT, env=full_env,
                          input=input, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def wait_until_up():
    """Factory: wait until a server subprocess answers 200 at ``url``; unlike
    ``wait_for_http``, a slow first answer (a loaded CI machine) is retried too."""
    import requests

    def wait(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer within {timeout} s")

    return wait


@pytest.fixture(scope="session", autouse=True)
def _remote_backend_mode():
    """With ``SSIKG_TEST_BACKEND=oxigraph``, every app the tests create (make_app, shared_app,
    or create_app over a store folder) serves that store through a real ``oxigraph serve``
    and :class:`ssikg.remote_store.RemoteStore`, so the endpoint, linked-data and
    stored-query tests run a second time over the remote backend."""
    if os.environ.get("SSIKG_TEST_BACKEND", "") != "oxigraph":
        yield
        return
    from sparql_engines import OXIGRAPH, oxigraph_opener

    import ssikg.app

    if OXIGRAPH is None:
        pytest.fail("SSIKG_TEST_BACKEND=oxigraph needs the oxigraph CLI (PyPI package oxigraph)")
    started = []
    original = ssikg.app._open_embedded
    ssikg.app._open_embedded = oxigraph_opener(started)
    yield
    ssikg.app._open_embedded = original
    for server in started:
        server.stop()
