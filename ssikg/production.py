"""Production serving: gunicorn with threads, in one process or, read-only, in several.

One process by default, because only one process may open the on-disk store
read-write; threads because pyoxigraph releases the GIL while it evaluates,
iterates and serialises, so threads do run queries in parallel.  A read-only
deployment (no update token) may run several processes, each opening the store
read-only, so the Python request path uses every core.  The processes share their
metrics through a temporary folder, so ``/metrics`` reports the whole server.

SIGTERM stops a server within moments, not after its longest query: each process
stops its queries in flight at once (:func:`ssikg.execution.stop_running_queries`:
503 before the first byte, a cut transfer after), then gunicorn lets answers still
being written finish for at most :data:`GRACEFUL_TIMEOUT` seconds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, overrides: dict[str, Any], options: dict[str, Any], metrics_dir: str | None = None):
        self._overrides = overrides
        self._options = options
        self._metrics_dir = metrics_dir
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app, start_query_workers

        configure_logging()
        if self._options.get("nworkers_changed") is _one_writer:
            # On a reload (SIGHUP) gunicorn starts this process before the previous one has
            # stopped: it holds the store's writer lock until its requests are done.
            from .store import wait_free_for_writing

            wait_free_for_writing(self._overrides["store"], timeout=self.cfg.graceful_timeout + 10)
        app = create_app(self._overrides)
        app.config["SSIKG_REQUEST_LINE_LIMIT"] = self.cfg.limit_request_line  # for /limits
        if self._metrics_dir:
            from .views.ops import share_metrics

            share_metrics(app, self._metrics_dir)
        start_query_workers(app)
        return app


def _leave_metrics(arbiter, worker) -> None:
    """gunicorn's worker_exit hook: the process's last counts stay in the shared folder."""
    from . import http

    http.stop_sharing_metrics()


def _stop_queries_on_sigterm(worker) -> None:
    """gunicorn's post_worker_init hook: on SIGTERM (the server stopping, or a reload's old
    process) the queries in flight stop now, then gunicorn's own handler stops the process
    once its requests have ended; without this the stop waited for the longest query (up
    to query_timeout) while new connections hung."""
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        from .execution import stop_running_queries

        stop_running_queries()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stop)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn sets it: no EINTR in requests


def _one_writer(arbiter, new_value: int, old_value: int) -> None:
    """gunicorn's nworkers_changed hook for a server with writes enabled: only one process
    may write to the store, so SIGTTIN does not add a second (it could never open it)."""
    if new_value > 1:
        arbiter.log.warning("ssikg: a server with writes enabled runs one process; "
                            "the request for %d was ignored", new_value)
        arbiter._num_workers = 1  # the property's setter would call this hook again


# gunicorn's largest request line (its default is 4094): a GET of a ~4 KB query was a 414
# while max_query_length allows 100,000 characters.  0 would mean no limit at all.
MAX_REQUEST_LINE = 8190
# Seconds gunicorn gives a stopping process to finish the answers it is still writing (its
# queries were stopped at once) before it kills it; gunicorn's default is 30.
GRACEFUL_TIMEOUT = 10


def gunicorn_options(host: str, port: int, threads: int, processes: int = 1,
                     writes: bool = False) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": processes,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 0,  # queries have their own deadline; gunicorn must not kill a busy worker
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "post_worker_init": _stop_queries_on_sigterm,
        "keepalive": 5,
        "limit_request_line": MAX_REQUEST_LINE,
        "worker_exit": _leave_metrics,
        # No gunicorn access log: ssikg.http logs each request as one JSON line instead.
        "accesslog": None,
        # The heartbeat touches a file at every event-loop turn (5 % of the samples of a
        # small-query profile); on tmpfs that costs no disk I/O (gunicorn's own advice).
        **({"worker_tmp_dir": "/dev/shm"} if os.path.isdir("/dev/shm") else {}),
        # gunicorn's control socket is one path per user: a second server took it over and
        # removed it when it stopped; ssikg has no use for it
        "control_socket_disable": True,
        # Forwarded headers are ssikg's to trust (forwarded_proxies, through werkzeug's ProxyFix),
        # never gunicorn's: by default gunicorn took X-Forwarded-Proto and a raw SCRIPT_NAME
        # header from any client on 127.0.0.1 (its FORWARDED_ALLOW_IPS), whatever ssikg said.
        "forwarded_allow_ips": "",
        **({"nworkers_changed": _one_writer} if writes else {}),
    }


class BufferedStderrHandler(logging.StreamHandler):
    """Log lines go into a 64 KiB buffer written out every ``interval`` seconds and at exit
    (``logging.shutdown`` flushes every handler), rather than one write syscall per line: a
    line per request made the access log the largest single cost of a small query (stderr
    is line-buffered)."""

    def __init__(self, interval: float = 0.2):
        stream = open(sys.stderr.fileno(), "w", buffering=64 * 1024, encoding="utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=False)
        super().__init__(stream)
        self._stopped = threading.Event()
        threading.Thread(target=self._flush_every, args=(interval,), name="ssikg-log-flush",
                         daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - logging's own policy: report, never raise
            self.handleError(record)

    def _flush_every(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            self.flush()

    def close(self) -> None:
        self._stopped.set()
        super().close()


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``ssikg`` loggers (JSON request lines included) to stderr, once."""
    logger = logging.getLogger("ssikg")
    if any(getattr(h, "_ssikg", False) for h in logger.handlers):
        return
    handler = BufferedStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._ssikg = True
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it cannot parse (414, 431, 400…), in ssikg's one JSON
    error shape instead of gunicorn's HTML page."""
    from gunicorn import util

    body = (json.dumps({"status": status_int, "title": reason, "message": mesg or reason},
                       ensure_ascii=False) + "\n").encode("utf-8")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def run_gunicorn(overrides: dict[str, Any], *, host: str, port: int, threads: int,
                 processes: int = 1, writes: bool = False) -> None:
    from gunicorn import util

    util.write_error = write_json_error  # looked up at each error by gunicorn's workers
    metrics_dir = _metrics_folder()
    owner = os.getpid()
    try:
        _Gunicorn(overrides, gunicorn_options(host, port, threads, processes, writes), metrics_dir).run()
    finally:
        # gunicorn's workers leave through here too (SystemExit in the forked process): only
        # the server's own process removes the folder, when the server stops.
        if metrics_dir and os.getpid() == owner:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_folder() -> str | None:
    """A folder for the server processes' metrics (in memory where /dev/shm exists), or None
    when none can be made: each process then reports its own."""
    try:
        return tempfile.mkdtemp(prefix="ssikg-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    except OSError as exc:
        logging.getLogger("ssikg").warning("no shared metrics folder (%s): /metrics reports one process", exc)
        return None
