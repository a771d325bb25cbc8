"""The systems under test: how each is built or loaded, started, asked and stopped.

Every server is a subprocess of the runner on a free loopback port; it is stopped by
its pid (and the pids of its own children, e.g. gunicorn's worker), never by name.
Build and load steps are timed and their peak RSS sampled with psutil.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
JSON_RESULTS = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # a process may end while being sampled
            total += proc.memory_info().rss
    return total


class RssSampler:
    """Peak RSS of a process tree while the ``with`` block runs; ``peak`` and ``baseline``
    in bytes.  The sampling runs in another process (:mod:`bench.rss`), so it never
    competes with the client's own timing for this interpreter."""

    def __init__(self, pid: int, interval: float = 0.005):
        self.pid = pid
        self.interval = interval
        self.baseline = self.peak = 0
        self._proc: subprocess.Popen | None = None

    def __enter__(self):
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.rss", str(self.pid), str(self.interval)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        self.baseline = self.peak = int(self._proc.stdout.readline())  # sampling has begun
        return self

    def __exit__(self, *exc):
        out, _ = self._proc.communicate(timeout=30)
        self.peak = max(self.baseline, int(out.split()[-1]))


def stop_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so that a runner told to stop (by a test that timed
    out, a CI job cancelled) unwinds through its ``finally`` blocks and stops the servers it
    started, instead of leaving them running."""
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def timed_command(args: list[str], *, env: dict | None = None, log: Path) -> dict:
    """Run a command to completion; its wall time, peak RSS of its process tree, exit code."""
    with open(log, "ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{tail}")
    return {"seconds": seconds, "peak_rss_mb": peak / 2**20}


@dataclass
class Server:
    """A running HTTP SPARQL endpoint started by the runner."""

    name: str
    storage: str
    url: str  # the query endpoint, e.g. http://127.0.0.1:PORT/sparql
    proc: subprocess.Popen | None = None
    startup: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        return tree_rss(self.pid)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        for child in children:  # gunicorn workers, uvicorn reloaders: ours, stopped by pid
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.proc = None


def _spawn(args: list[str], *, env: dict | None, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - the server owns its log for its lifetime
    try:
        return subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                                stdin=subprocess.DEVNULL)
    finally:
        handle.close()


def http_get(url: str, query: str, accept: str, timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", f"{parts.path}?query={quote(query)}", headers={"Accept": accept})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(server: Server, timeout: float, log: Path) -> float:
    """Poll the endpoint with ``ASK {}`` until it answers 200; returns seconds waited."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if not server.alive():
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{server.name} exited before answering:\n{tail}")
        try:
            status, _ = http_get(server.url, "ASK {}", JSON_RESULTS, timeout=5)
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s")


def wait_idle(server: Server, *, threshold: float = 5.0, limit: float = 120.0, quiet_for: float = 1.0) -> float:
    """Wait until the server's process tree has used under ``threshold`` % CPU for
    ``quiet_for`` seconds; seconds waited.  The tree is listed afresh at every look: a
    server that starts its query workers one after another adds processes meanwhile."""
    started = time.perf_counter()
    seen: dict[int, psutil.Process] = {}
    quiet_since = None
    try:
        root = psutil.Process(server.pid)
        while time.perf_counter() - started < limit:
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid not in seen:
                    seen[proc.pid] = proc
                    proc.cpu_percent(None)  # the first call only sets the baseline
            time.sleep(0.1)
            busy = 0.0
            for pid, proc in list(seen.items()):
                try:
                    busy += proc.cpu_percent(None)
                except psutil.Error:
                    del seen[pid]
            if busy < threshold:
                quiet_since = quiet_since or time.perf_counter()
                if time.perf_counter() - quiet_since >= quiet_for:
                    break
            else:
                quiet_since = None
    except psutil.Error:
        pass
    return time.perf_counter() - started


def _started(server: Server, log: Path, timeout: float) -> Server:
    try:
        sampler = RssSampler(server.pid, interval=0.05)
        with sampler:
            seconds = wait_ready(server, timeout, log)
        server.startup = {"seconds": seconds, "peak_rss_mb": sampler.peak / 2**20,
                          "ready_rss_mb": server.rss() / 2**20}
    except BaseException:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------------------
# ssikg


def ssikg_env(source_dir: Path, **settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSIKG_")}
    env["SSIKG_SOURCE_DIR"] = str(source_dir)
    for name, value in settings.items():
        env["SSIKG_" + name.upper()] = str(value)
    return env


def build_ssikg(source_dir: Path, store: Path, log: Path) -> dict:
    """``ssikg build`` (load + optimize, as in production) in a subprocess, timed."""
    if store.is_symlink() or store.exists():
        target = store.resolve()
        store.unlink() if store.is_symlink() else shutil.rmtree(store)
        shutil.rmtree(target, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    result = timed_command([sys.executable, "-m", "ssikg", "build", "--store", str(store)],
                           env=ssikg_env(source_dir), log=log)
    for line in log.read_text(errors="replace").splitlines():
        # "loaded data/bench.nq (… KiB in 1.23 s)": the load alone, before optimize()
        if line.startswith("loaded ") and " in " in line:
            result["load_seconds"] = result.get("load_seconds", 0.0) + float(line.rsplit(" in ", 1)[1].split()[0])
    return result


def copy_store(store: Path, target: Path) -> Path:
    """A private copy of a built store (RocksDB allows one read-write process per folder)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(store.resolve(), target)
    return target


def start_ssikg(name: str, source_dir: Path, store: Path, log: Path, *, timeout: float = 600,
                storage: str = "disk", processes: int | str = "auto", **settings) -> Server:
    """``ssikg serve --production --processes N`` (``auto``, ssikg's default: one per core
    when read-only, one in memory; above 1: read-only, N gunicorn processes)."""
    port = free_port()
    args = [sys.executable, "-m", "ssikg", "serve", "--production", "--store", str(store),
            "--host", "127.0.0.1", "--port", str(port)]
    args += ["--processes", str(processes)]
    proc = _spawn(args, env=ssikg_env(source_dir, **settings), log=log)
    server = Server(name, storage, f"http://127.0.0.1:{port}/sparql", proc)
    return _started(server, log, timeout)


# ---------------------------------------------------------------------------
# oxigraph serve


def build_oxigraph(nquads: Path, location: Path, log: Path) -> dict:
    """``oxigraph load`` then ``oxigraph optimize`` (the same storage state as ``ssikg build``)."""
    shutil.rmtree(location, ignore_errors=True)
    log.write_text("")
    load = timed_command(["oxigraph", "load", "--location", str(location), "--file", str(nquads)], log=log)
    optimize = timed_command(["oxigraph", "optimize", "--location", str(location)], log=log)
    return {"seconds": load["seconds"] + optimize["seconds"], "load_seconds": load["seconds"],
            "optimize_seconds": optimize["seconds"],
            "peak_rss_mb": max(load["peak_rss_mb"], optimize["peak_rss_mb"])}


def start_oxigraph(location: Path, log: Path, timeout: float = 600) -> Server:
    port = free_port()
    args = ["oxigraph", "serve-read-only", "--location", str(location), "--bind", f"127.0.0.1:{port}",
            "--union-default-graph"]
    server = Server("oxigraph", "disk", f"http://127.0.0.1:{port}/query", _spawn(args, env=None, log=log))
    return _started(server, log, timeout)


def start_oxigraph_memory(nquads: Path, log: Path, timeout: float = 600) -> Server:
    """``oxigraph serve`` without --location (in memory), loaded by POSTing the N-Quads to /store."""
    port = free_port()
    args = ["oxigraph", "serve", "--bind", f"127.0.0.1:{port}", "--union-default-graph"]
    server = Server("oxigraph-mem", "memory", f"http://127.0.0.1:{port}/query",
                    _spawn(args, env=None, log=log))
    _started(server, log, timeout)
    try:
        sampler = RssSampler(server.pid, interval=0.05)
        with sampler, open(nquads, "rb") as body:
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("POST", "/store", body=body, headers={
                "Content-Type": "application/n-quads", "Content-Length": str(nquads.stat().st_size)})
            resp = conn.getresponse()
            detail = resp.read()
            conn.close()
            seconds = time.perf_counter() - started
        if resp.status >= 300:
            raise RuntimeError(f"oxigraph-mem: POST /store answered {resp.status}: {detail[:300]!r}")
        server.startup = {"seconds": seconds, "peak_rss_mb": sampler.peak / 2**20,
                          "ready_rss_mb": server.rss() / 2**20, "how": "POST /store (N-Quads)"}
    except BaseException:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------------------
# rdflib-endpoint


def rdflib_endpoint_command() -> list[str] | None:
    exe = shutil.which("rdflib-endpoint")
    venv = ROOT / "bench" / ".venv" / "bin" / "rdflib-endpoint"
    if exe:
        return [exe]
    if venv.exists():
        return [str(venv)]
    return None


def start_rdflib(nquads: Path, log: Path, timeout: float = 1200) -> Server:
    """``rdflib-endpoint serve FILE``: parses the file into an in-memory rdflib Dataset
    (default_union=True) at start-up, so its start-up time is its load time."""
    command = rdflib_endpoint_command()
    if command is None:
        raise RuntimeError("rdflib-endpoint is not installed (pip install 'rdflib-endpoint[cli]')")
    port = free_port()
    args = [*command, "serve", str(nquads), "--host", "127.0.0.1", "--port", str(port)]
    server = Server("rdflib-endpoint", "memory", f"http://127.0.0.1:{port}/", _spawn(args, env=None, log=log))
    return _started(server, log, timeout)
