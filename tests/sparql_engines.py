"""Real SPARQL engines for the remote-backend tests: ``oxigraph serve`` and Virtuoso 7.

Each engine runs as a subprocess on 127.0.0.1 with its data in a temporary
folder, is waited for until its SPARQL endpoint answers, and is stopped by its
own pid (terminate, then kill).  ``overrides()`` gives the ssikg settings that
point an app at it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pyoxigraph as ox
import requests

VIRTUOSO = shutil.which("virtuoso-t")
VIRTUOSO_ISQL = shutil.which("isql-vt") or shutil.which("isql")
OXIGRAPH = shutil.which("oxigraph")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed run leaves no engine behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EngineProcess:
    """A SPARQL engine subprocess; a context manager that always stops what it started."""

    query_url: str
    update_url: str | None = None
    store_url: str | None = None
    name = "engine"

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def overrides(self, *, writable: bool = True) -> dict:
        settings = {"backend": self.query_url, "backend_timeout": 30}
        if writable:
            settings.update(backend_update_url=self.update_url, backend_store_url=self.store_url)
        return settings

    def _spawn(self, args: list[str], cwd: Path, log_name: str) -> None:
        self.log_path = cwd / log_name
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                response = requests.post(self.query_url, data={"query": "ASK {}"}, timeout=2,
                                         headers={"Accept": "application/sparql-results+json"})
                if response.ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{self.name} did not answer at {self.query_url} within {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except (OSError, AttributeError):
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class OxigraphServer(EngineProcess):
    """``oxigraph serve`` (or ``serve-read-only``) over a RocksDB folder, e.g. a built store's db/."""

    name = "oxigraph serve"

    def __init__(self, location: Path, *, read_only: bool = False, port: int | None = None):
        super().__init__()
        self.location = Path(location)
        self.port = port or free_port()
        base = f"http://127.0.0.1:{self.port}"
        self.query_url = f"{base}/query"
        self.update_url = None if read_only else f"{base}/update"
        self.store_url = None if read_only else f"{base}/store"
        command = "serve-read-only" if read_only else "serve"
        self.location.mkdir(parents=True, exist_ok=True)
        self._spawn([OXIGRAPH, command, "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}"],
                    self.location.parent, f"oxigraph-{self.port}.log")
        self.wait_ready(30)


VIRTUOSO_INI = """\
[Database]
DatabaseFile = virtuoso.db
ErrorLogFile = virtuoso.log
LockFile = virtuoso.lck
TransactionFile = virtuoso.trx
xa_persistent_file = virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = virtuoso-temp.db
TransactionFile = virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
CheckpointInterval = 0
CaseMode = 2
DirsAllowed = .
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
ThreadsPerQuery = 2

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {server_root}
ServerThreads = 6
MaxClientConnections = 6
Charset = UTF-8

[SPARQL]
ResultSetMaxRows = 1000000
MaxQueryExecutionTime = 60
MaxQueryCostEstimationTime = 400
"""


class VirtuosoServer(EngineProcess):
    """Virtuoso open source 7 in a private folder, SPARQL on /sparql, Graph Store on /sparql-graph-crud.

    The anonymous SPARQL user is granted SPARQL_UPDATE (through isql) so that
    ``ssikg build --backend`` can publish without Virtuoso's digest-auth endpoint.
    """

    name = "Virtuoso"

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sql_port, self.http_port = free_port(), free_port()
        base = f"http://127.0.0.1:{self.http_port}"
        self.query_url = f"{base}/sparql"
        self.update_url = f"{base}/sparql"
        self.store_url = f"{base}/sparql-graph-crud"
        server_root = self.folder / "vsp"
        server_root.mkdir(exist_ok=True)
        (self.folder / "virtuoso.ini").write_text(VIRTUOSO_INI.format(
            sql_port=self.sql_port, http_port=self.http_port, server_root=server_root))
        self._spawn([VIRTUOSO, "-f", "-c", "virtuoso.ini"], self.folder, "virtuoso-stdout.log")
        try:
            self.wait_ready(90)
            self.isql('GRANT SPARQL_UPDATE TO "SPARQL";')
        except BaseException:
            self.stop()
            raise

    def isql(self, statement: str) -> str:
        result = subprocess.run([VIRTUOSO_ISQL, f"127.0.0.1:{self.sql_port}", "dba", "dba", f"exec={statement}"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if result.returncode != 0 or "*** Error" in result.stdout + result.stderr:
            raise RuntimeError(f"isql {statement!r} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def log_tail(self) -> str:
        try:
            return (self.folder / "virtuoso.log").read_text(errors="replace")[-1500:]
        except OSError:
            return super().log_tail()


# ---------------------------------------------------------------------------
# SSIKG_TEST_BACKEND=oxigraph: every app the tests create serves its store through oxigraph serve


def oxigraph_opener(started: list[EngineProcess]):
    """A replacement for ``ssikg.app._open_embedded``: the same built store folder, served by a
    real ``oxigraph serve`` on its ``db/`` and reached through :class:`RemoteStore`.

    Closing the store stops the engine; ``started`` collects every engine so the session
    stops any left open.
    """
    from ssikg.remote_store import RemoteConfig, RemoteStore
    from ssikg.store import ensure_built

    def open_remote_copy(settings):
        path = settings.store_path
        if settings.auto_build and not settings.get("read_only"):
            ensure_built(path, settings.source_dir)
        server = OxigraphServer(Path(path).resolve() / "db", read_only=bool(settings.get("read_only")))
        started.append(server)
        timeout = settings.get("backend_timeout") or settings.get("query_timeout") or 30
        store = RemoteStore(RemoteConfig(server.query_url, server.update_url, server.store_url,
                                         timeout=float(timeout)))
        close = store.close

        def close_and_stop():
            close()
            server.stop()

        store.close = close_and_stop
        return store

    return open_remote_copy


# ---------------------------------------------------------------------------
# Comparing answers across engines


def norm(term, *, fold_language: bool = False) -> str:
    """A term as text, with every blank node alike (labels differ between engines)."""
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return "_:b"
    if fold_language and isinstance(term, ox.Literal) and term.language:
        return f"{term.value!r}@{term.language.lower()}"  # Virtuoso lower-cases language tags
    return str(term)


def answer(result, *, fold_language: bool = False):
    """A query result in a form two engines' answers can be compared by equality."""
    if isinstance(result, ox.QueryBoolean):
        return bool(result)
    if isinstance(result, ox.QueryTriples):
        return sorted(" ".join(norm(t, fold_language=fold_language)
                               for t in (x.subject, x.predicate, x.object)) for x in result)
    names = sorted(v.value for v in result.variables)
    return sorted(tuple(norm(row[name], fold_language=fold_language) for name in names)
                  for row in result)
