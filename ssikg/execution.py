"""Running a query and turning its result into bytes: the single place where
queries are executed, so limits, timeouts and the SERVICE/LOAD policy apply to
every route.

Contract used by the views:

* :func:`check_operation` ``(text, kind)`` before running anything: refuses a
  query or update that is too long (413) or names a SERVICE / LOAD target the
  policy does not allow (403, 400 when the target cannot be read).
* :func:`run_query` evaluates a query and returns a :class:`QueryResponse`
  whose ``chunks`` iterator yields the serialised bytes as the engine produces
  them (bounded memory).  The caller passes the format it would use for each
  kind of result, because the kind is only known once the query runs.

Safety (see README "Limits and safety"):

* **Isolation.**  With an on-disk embedded store (the default), each query runs
  in a worker process (:mod:`ssikg.workers`) holding a read-only handle on the
  store.  The request thread waits for it with a deadline and SIGKILLs it when
  the deadline passes or the client disconnects: aggregates, ORDER BY and
  property paths, which pyoxigraph evaluates inside ``query()`` with no way to
  interrupt them, really stop and free the CPU.  For a remote backend, an
  in-memory store that accepts writes, or ``isolation=thread``, queries run in
  a thread of the server with a *soft* deadline (see :class:`Executor`).
* **Deadline.**  Before the status line: a 503 JSON error naming the limit.
  After it (the result was streaming): the transfer is aborted — the server
  drops the connection without the terminating chunk, so no HTTP/1.1 client can
  take the partial body for a complete one.  An HTTP/1.0 client, which has no
  chunked framing to tell it, gets the answer only once it is complete
  (:func:`ssikg.streaming.whole_for_http10`), so a failure is still a clean 503.
  The access-log line of a cut answer says why (``"aborted"``).
* **Server stop.**  SIGTERM stops the queries in flight at once
  (:func:`stop_running_queries`): 503 before the first byte, a cut transfer after.
* **Back-pressure.**  At most ``max_concurrent_queries`` run at once; beyond,
  503 with ``Retry-After``.
* **Result cache.**  The result of a deterministic query on the embedded store,
  up to an entry's size, is kept per store version (:mod:`ssikg.result_cache`;
  a streamed one once it has streamed to its end) and a repeat is answered from
  it, before any slot or worker is taken.
* **Row cap.**  With ``max_rows`` set, a longer result is cut and says so: the
  ``SSIKG-Truncated: true`` header, and in SPARQL JSON / XML a ``link``
  ``urn:ssikg:truncated`` (plus ``"ssikg:truncated": true`` in JSON).
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import logging
import os
import queue
import re
import select
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import pyoxigraph as ox
from flask import current_app, has_app_context, has_request_context, request

from . import sparql_lexer
from .auth import writes_enabled
from .errors import SsikgError
from .http import ABORTED_KEY, count
from .result_cache import CACHE_HEADER, ResultCache
from .sparql_guard import Refused, Target, check_outbound, policy_for
from .streaming import spool, whole_for_http10
from .workers import (
    RDF_FORMATS,
    RESULTS_FORMATS,
    WorkerError,
    WorkerPool,
    decode_frame,
    evaluate,
    find_allocator,
    format_name,
)

log = logging.getLogger("ssikg")

CHUNK_SIZE = 64 * 1024
# A store that enforces the deadline itself (a remote engine: its read timeout) is given this
# much more before the executor's own 503, so the engine's 504 is the answer on every route.
STORE_DEADLINE_GRACE = 2.0
TRUNCATED_HEADER = "SSIKG-Truncated"
MAX_ROWS_HEADER = "SSIKG-Max-Rows"


@dataclass
class QueryResponse:
    kind: str  # "solutions", "boolean" or "graph"
    format: ox.QueryResultsFormat | ox.RdfFormat
    chunks: Iterable[bytes]  # a list when the whole result arrived at once
    headers: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close:
            close()


class NotAcceptable(SsikgError):
    def __init__(self, kind: str, offered: list[str]):
        super().__init__(406, f"no acceptable media type for a {kind} result; offered: {', '.join(offered)}",
                         extra={"offered": offered})


class QueryAborted(SsikgError, BrokenPipeError):
    """Raised inside a response that is already streaming: the server drops the
    connection, so the client sees a broken transfer rather than a short result.

    A broken pipe to the HTTP server (errno EPIPE): gunicorn and werkzeug end the
    connection as they do for a client gone, without the terminating chunk and
    without a traceback in the log; the request's access-log line says why the
    answer was cut (``reason``: ``timeout``, ``client-gone``, ``worker-died``,
    ``failed`` or ``server-stopping``: see :func:`mark_aborted`).

    A caller that collects the chunks before answering (stored queries, an HTTP/1.0
    answer) gets a clean 503 from it instead."""

    def __init__(self, message: str, reason: str = "failed"):
        super().__init__(503, message, title="Query aborted")
        self.errno = errno.EPIPE
        self.reason = reason


def mark_aborted(environ: dict | None, reason: str) -> None:
    """Note in the request's WSGI ``environ`` that its answer was cut, and why."""
    if environ is not None:
        environ.setdefault(ABORTED_KEY, reason)


class QueryTimeout(SsikgError):
    def __init__(self, seconds: float):
        super().__init__(
            503, f"the query did not finish within its time limit of {seconds:g} s and was stopped; "
                 "simplify it, add a LIMIT, or ask the operator for a longer timeout",
            title="Query timeout", extra={"timeout": seconds})


# ---------------------------------------------------------------------------
# Checks before running


def _settings(settings=None):
    return settings if settings is not None else current_app.config["SSIKG"]


def federated_query_enabled(settings) -> bool:
    """Whether SERVICE can reach anything (for the Service Description's sd:BasicFederatedQuery)."""
    return bool(settings.get("service_allowlist"))


# Oxigraph's SPARQL parser recurses once per nesting level and crashed (SIGSEGV) from about
# 4,000 levels in a server thread: an update is parsed in the server process itself.
MAX_NESTING = 256


def check_operation(text: str, kind: str, *, base_iri: str | None = None, settings=None) -> list[Target]:
    """Refuse ``text`` (a ``"query"`` or ``"update"``) before it runs; return the SERVICE
    and LOAD targets it may call.

    413 when longer than ``max_query_length``; 400 when it nests deeper than
    :data:`MAX_NESTING`; 403 when it names a SERVICE or LOAD target the policy
    refuses; 400 when such a target cannot be read."""
    settings = _settings(settings)
    limit = settings.get("max_query_length") or 0
    if limit and len(text) > limit:
        count("refusals")
        raise SsikgError(413, f"the {kind} is {len(text):,} characters long; this endpoint accepts at "
                              f"most {limit:,} (max_query_length setting)",
                         extra={"max_query_length": limit})
    if sparql_lexer.deepest_nesting(text) > MAX_NESTING:
        count("refusals")
        raise SsikgError(400, f"the {kind} nests more than {MAX_NESTING} deep (brackets, parentheses and "
                              "braces, the parts of a group before a point, unary operators or path steps "
                              "in a row); Oxigraph would exhaust its stack (and kill the process)",
                         title="Nested too deeply")
    try:
        return check_outbound(text, policy_for(settings),
                              base_iri=base_iri if base_iri is not None else settings.get("public_base"))
    except Refused as refusal:
        count("refusals")
        title = "Outbound request refused" if refusal.status == 403 else "Bad Request"
        raise SsikgError(refusal.status, refusal.message, title=title) from None


def effective_timeout(*requested, settings) -> float | None:
    """The deadline in seconds: the smallest of the times asked for (the request's
    ``timeout`` parameter, the caller's) and the server's ``query_timeout``."""
    limits = [float(settings.get("query_timeout") or 0) or None]
    for value in requested:
        if value in (None, ""):
            continue
        try:
            asked = float(value)
        except (TypeError, ValueError):
            raise SsikgError(400, f"timeout must be a number of seconds, not {value!r}",
                             extra={"parameter": "timeout"}) from None
        if not asked > 0 or asked == float("inf"):
            raise SsikgError(400, f"timeout must be a positive number of seconds, not {value!r}",
                             extra={"parameter": "timeout"})
        limits.append(asked)
    known = [limit for limit in limits if limit]
    return min(known) if known else None


def requested_timeout() -> str | None:
    """The ``timeout`` parameter of the current request (URL or form), if any."""
    if not has_request_context():
        return None
    # Most requests have none: looking at the raw bytes first spares parsing the arguments
    # (the name may be percent-encoded, letter by letter).
    values = request.args.getlist("timeout") if _TIMEOUT_NAME.search(request.query_string) else []
    if request.mimetype == "application/x-www-form-urlencoded":
        values += request.form.getlist("timeout")
    if len(values) > 1:
        raise SsikgError(400, "the timeout parameter is given more than once", extra={"parameter": "timeout"})
    return values[0] if values else None


_TIMEOUT_NAME = re.compile(rb"(?:^|[&;])(?:t|%74)(?:i|%69)(?:m|%6d)(?:e|%65)(?:o|%6f)(?:u|%75)(?:t|%74)=",
                           re.IGNORECASE)


def _client_socket():
    if not has_request_context():
        return None
    return request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")


# ---------------------------------------------------------------------------
# Running


def run_query(store, query: str, *, solutions_format: ox.QueryResultsFormat | None,
              graph_format: ox.RdfFormat | None, offered: dict[str, list[str]] | None = None,
              base_iri: str | None = None, default_graphs: list[str] | None = None,
              named_graphs: list[str] | None = None, substitutions: dict | None = None,
              prefixes: dict[str, str] | None = None, max_rows: int | None = None) -> QueryResponse:
    """Evaluate ``query`` on ``store`` and return its serialised result, streamed.

    The deadline is the smaller of the request's ``timeout`` parameter and the server's
    ``query_timeout``.  Raises SyntaxError for a malformed query,
    :class:`NotAcceptable` when the result kind has no acceptable format,
    :class:`SsikgError` 403/413 (policy), 400 (the engine refused the query at run
    time), 502 (a SERVICE endpoint failed), 503 (busy, or the deadline passed
    before the first byte).
    """
    settings = _settings()
    targets = check_operation(query, "query", base_iri=base_iri, settings=settings)
    seconds = effective_timeout(requested_timeout(), settings=settings)
    job = {
        "query": query, "base_iri": base_iri, "default_graphs": default_graphs,
        "named_graphs": named_graphs, "substitutions": substitutions, "prefixes": prefixes,
        "solutions_format": format_name(solutions_format, RESULTS_FORMATS),
        "graph_format": format_name(graph_format, RDF_FORMATS),
        "max_rows": settings.get("max_rows") if max_rows is None else max_rows,
        # a SILENT call's failure is no failure: the engine drops it
        "services": [t.iri for t in targets if t.keyword == "SERVICE" and not t.silent],
    }
    executor = get_executor(store, settings)
    cache = executor.results
    key = cache.key(job, store.version) if cache is not None else None
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            count("result_cache_hits")
            if hit.shared:
                count("result_cache_shared_hits")
            return QueryResponse(hit.kind, hit.format, [hit.body], {**dict(hit.headers), CACHE_HEADER: "hit"})
    environ = request.environ if has_request_context() else None
    response = executor.run(job, seconds, _client_socket(), offered or {}, solutions_format, graph_format,
                            environ)
    if key is not None:
        count("result_cache_misses")
        kept = dict(response.headers)
        response.headers[CACHE_HEADER] = "miss"
        if isinstance(response.chunks, list):
            cache.put(key, response.kind, response.format, b"".join(response.chunks), kept)
        else:
            response.chunks = _CachingChunks(response.chunks, cache, key, response.kind, response.format, kept)
    if not isinstance(response.chunks, list) and whole_for_http10(environ):
        _spool_whole(response, seconds, environ)
    return response


def _spool_whole(response: QueryResponse, seconds: float | None, environ: dict) -> None:
    """The whole result, before the status line, for a client that cannot tell a cut
    answer (:func:`ssikg.streaming.whole_for_http10`): a failure is then a clean 503."""
    try:
        body = spool(response.chunks)
    except SsikgError as exc:
        environ.pop(ABORTED_KEY, None)  # answered with a status of its own: nothing was cut
        if not isinstance(exc, QueryAborted):
            raise
        if exc.reason == "timeout" and seconds:
            raise QueryTimeout(seconds) from None
        raise SsikgError(503, str(exc), title="Query aborted") from None
    response.chunks = body
    if not isinstance(body, list):
        response.headers["Content-Length"] = str(body.length)


# ---------------------------------------------------------------------------
# Executors


def choose_isolation(store, settings) -> tuple[str, str]:
    """("process" | "thread", why)."""
    if (settings.get("isolation") or "process") == "thread":
        return "thread", "isolation=thread"
    if getattr(store, "kind", None) != "embedded" or not hasattr(store, "folder"):
        return "thread", f"a {getattr(store, 'kind', 'custom')} store runs queries itself"
    if getattr(store, "in_memory", False) and writes_enabled(settings) and not settings.get("read_only"):
        return "thread", "an in-memory store that accepts writes cannot be shared with workers"
    if getattr(store, "in_memory", False):
        return "process", "each worker holds its own in-memory copy of the built store"
    return "process", "on-disk store opened read-only by each worker"


class _Deadline(Exception):
    pass


class _ClientGone(Exception):
    pass


class _Stopping(Exception):
    """The server process is stopping (SIGTERM): the query ends now."""


_STOPPING = threading.Event()
_stop_pipe: tuple[int, int] | None = None  # (read end, write end), made on first use


def _stop_fd() -> int:
    """A descriptor that becomes readable when :func:`stop_running_queries` is called in
    this process, for the waits on query workers."""
    global _stop_pipe
    if _stop_pipe is None:
        _stop_pipe = os.pipe()
    return _stop_pipe[0]


def _forget_stop_pipe() -> None:
    """In a forked child (gunicorn's processes): a pipe of its own, else a stop in one
    process would wake the others' waits."""
    global _stop_pipe
    _stop_pipe = None
    _STOPPING.clear()


os.register_at_fork(after_in_child=_forget_stop_pipe)


def stop_running_queries() -> None:
    """Stop every query of this process now and refuse new ones (the server is stopping:
    gunicorn calls this on SIGTERM, see :mod:`ssikg.production`).  A query waiting for
    its first byte answers 503, a streaming one is cut; so the process exits within a
    moment instead of waiting for its longest query.  Safe in a signal handler."""
    _STOPPING.set()
    _stop_fd()
    os.write(_stop_pipe[1], b"x")  # never read: stays readable


def _stopping_error() -> SsikgError:
    return SsikgError(503, "the server is stopping; the query was stopped: retry (another instance, "
                           "or this one once restarted)", title="Server stopping",
                      headers={"Retry-After": "1"}, extra={"retry_after": 1})


def _client_gone(sock) -> bool | None:
    """True when the peer closed the connection; None when it cannot be told (stop watching)."""
    try:
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except (ConnectionError, OSError):
        return True
    except (ValueError, TypeError):  # e.g. an SSL socket refuses MSG_PEEK
        return None
    return True if data == b"" else None


class _Source:
    """Where a running query's messages come from; ``cancel`` stops the work, ``done`` recycles.

    Either is acted on once: the first call wins."""

    def __init__(self, sock):
        self.sock = sock
        self._ended = False
        self._pending: deque[tuple[bytes, bytes]] = deque()  # arrived, not yet consumed

    def next(self, deadline: float | None) -> tuple[bytes, bytes]:
        """The job's next message, waiting for it until ``deadline``."""
        if not self._pending:
            self._receive(deadline)
        return self._pending.popleft()

    def take_complete(self) -> list[bytes] | None:
        """The rest of the result when it has all arrived already (only D messages, then
        E), consumed; else None and nothing consumed.  Lets a small result be answered
        whole, with a Content-Length, instead of as a chunked stream."""
        self._collect_arrived()
        messages = list(self._pending)
        if not messages or messages[-1][0] != b"E" or any(tag != b"D" for tag, _ in messages[:-1]):
            return None
        self._pending.clear()
        return [payload for _, payload in messages[:-1]]

    def take_arrived_data(self) -> list[bytes]:
        """The data messages already received that come next (those of the frame in hand),
        consumed: streamed as one chunk, they cost gunicorn one write instead of one per
        8 KiB serialiser write."""
        data = []
        while self._pending and self._pending[0][0] == b"D":
            data.append(self._pending.popleft()[1])
        return data

    def _collect_arrived(self) -> None:
        """Move messages that have arrived into ``_pending`` without waiting (bounded)."""

    def cancel(self) -> None:
        if not self._ended:
            self._ended = True
            self._stop(healthy=False)

    def done(self) -> None:
        if not self._ended:
            self._ended = True
            self._stop(healthy=True)

    def _watch_client(self, ready) -> None:
        if self.sock is not None and self.sock in ready:
            gone = _client_gone(self.sock)
            if gone:
                raise _ClientGone()
            if gone is None:
                self.sock = None  # pipelined bytes or an unreadable socket: stop watching


class _WorkerSource(_Source):
    def __init__(self, executor: Executor, worker, sock):
        super().__init__(sock)
        self.executor, self.worker = executor, worker

    def _receive(self, deadline: float | None) -> None:
        conn = self.worker.conn
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise _Deadline()
            stop = _stop_fd()
            watched = [conn, stop] + ([self.sock] if self.sock is not None else [])
            ready = wait(watched, timeout=remaining)
            if stop in ready:
                raise _Stopping()
            if conn in ready:
                try:
                    frame = conn.recv_bytes()
                except (EOFError, OSError):
                    raise WorkerError("the query worker died: it needed more memory than the "
                                      "worker_memory_mb limit, or was killed") from None
                self._pending.extend(decode_frame(frame))
                return
            self._watch_client(ready)

    def _collect_arrived(self) -> None:
        pass  # only the frame already read: reading ahead would buffer a large result

    def _stop(self, healthy: bool) -> None:
        self.executor._release_worker(self.worker, healthy=healthy)


class _Cancelled(Exception):
    pass


class _ThreadSource(_Source):
    """A query evaluated by a thread of this process, messages through a bounded queue."""

    def __init__(self, executor: Executor, job: dict, sock):
        super().__init__(sock)
        self.messages: queue.Queue = queue.Queue(maxsize=16)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, args=(executor, job), daemon=True,
                                       name="ssikg-query")
        self.thread.start()

    def _produce(self, executor: Executor, job: dict) -> None:
        try:
            evaluate(executor.store, job, self._emit)
        except _Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there as it is
            with contextlib.suppress(_Cancelled):
                self._emit(b"!", exc)
        finally:
            # The slot is held until the work really ends: a soft deadline does
            # not stop an aggregate, and overload must not pile such work up.
            executor.gate.release()

    def _emit(self, tag: bytes, payload: bytes) -> None:
        while True:
            if self.stop.is_set():
                raise _Cancelled()
            try:
                self.messages.put((tag, payload), timeout=0.25)
                return
            except queue.Full:
                continue

    def _collect_arrived(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:  # at most the queue's 16 messages
                self._pending.append(self.messages.get_nowait())

    def _receive(self, deadline: float | None) -> None:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise _Deadline()
            try:
                self._pending.append(self.messages.get(
                    timeout=0.2 if remaining is None else min(remaining, 0.2)))
                return
            except queue.Empty:
                pass
            if _STOPPING.is_set():
                raise _Stopping()
            if self.sock is not None:
                ready, _, _ = select.select([self.sock], [], [], 0)
                self._watch_client(ready)

    def _stop(self, healthy: bool) -> None:
        self.stop.set()


class Executor:
    """Runs queries for one store: the concurrency gate, and worker processes or threads.

    ``process`` mode: hard deadline (the worker is killed), client disconnect
    kills it too.  Writes made by this server (with a token) are seen by the
    workers: a worker opened before the store's version changed is retired, and
    new workers open the store while holding the store's write lock, so an
    open never overlaps a write.

    ``thread`` mode (remote backend, in-memory store with writes,
    ``isolation=thread``): soft deadline.  The client still gets its 503 on
    time, a streaming result stops at its next chunk, and a disconnect stops
    the serialisation; but work inside pyoxigraph's ``query()`` (aggregates,
    ORDER BY) runs to its end in the background, holding its concurrency slot
    so that such work cannot pile up.

    A remote store (:mod:`ssikg.remote_store`) is given more: the deadline, which
    shortens its ``backend_timeout`` (an engine that has not answered by then is its
    504, the executor's own 503 waiting :data:`STORE_DEADLINE_GRACE` longer, so the
    same slow engine is a 504 on ``/sparql`` as on pages); ``max_rows``, so it stops
    reading the engine's answer one row past the cap; and ``admitted``: the executor
    uses the store's ``query_gate`` as its own, so a page's queries (which take a slot
    of it themselves) and ``/sparql``'s share ``max_concurrent_queries``.
    """

    def __init__(self, store, settings):
        self.store = store
        self.settings = settings
        self.size = max(1, int(settings.get("max_concurrent_queries") or 1))
        # A remote store's own gate, when it has one: its pages' queries take the same slots.
        self.gate = getattr(store, "query_gate", None) or threading.BoundedSemaphore(self.size)
        self.mode, self.why = choose_isolation(store, settings)
        self.pool = None
        if self.mode == "process":
            allocator, library = find_allocator(settings.get("worker_allocator") or "auto")
            self.pool = WorkerPool(store.folder, self.size, int(settings.get("worker_memory_mb") or 0),
                                   in_memory=bool(getattr(store, "in_memory", False)), allocator=library)
            self.why += f"; workers allocate with {allocator}" + (f" ({library})" if library else "'s malloc")
        if self.pool is not None:
            weakref.finalize(self, self.pool.shutdown)  # an app that goes away takes its workers
        self.results = ResultCache.for_store(store, settings)
        self._write_lock = getattr(store, "_lock", None)
        accepted = _parameters(getattr(store, "query", None))
        self._passes_timeout = "timeout" in accepted
        self._passes_max_rows = "max_rows" in accepted  # reads only what the cap keeps
        self._passes_admitted = "admitted" in accepted  # holds our slot: must not take another
        log.info("query isolation: %s (%s)", self.mode, self.why)

    def prestart(self) -> None:
        """Start the whole pool of workers in the background (process mode), so that
        neither the first query nor the first burst waits for a worker to start."""
        if self.pool is not None:
            self.pool.prestart(self.store.version, open_lock=self._write_lock)

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    # -- running

    def run(self, job: dict, seconds: float | None, sock, offered: dict, solutions_format,
            graph_format, environ: dict | None = None) -> QueryResponse:
        """``environ``: the request's WSGI environ, where a cut answer is noted (:func:`mark_aborted`)."""
        if _STOPPING.is_set():
            raise _stopping_error()
        wait = float(self.settings.get("queue_timeout") or 0)
        acquired = self.gate.acquire(timeout=wait) if wait else self.gate.acquire(blocking=False)
        if not acquired:
            count("refusals")
            retry = int(self.settings.get("retry_after") or 1)
            raise SsikgError(503, f"the server is already running its maximum of {self.size} concurrent "
                                  f"queries (waited {wait:g} s for a slot); retry in {retry} s",
                             title="Too busy",
                             headers={"Retry-After": str(retry)}, extra={"retry_after": retry})
        try:
            source = self._start(job, sock, seconds)
        except _ClientGone:
            self.gate.release()
            raise SsikgError(503, "the client closed the connection before its query started") from None
        except BaseException:
            self.gate.release()
            raise
        # The clock starts once a worker has the job: starting a worker is not the query's time.
        deadline = None if seconds is None else time.monotonic() + seconds
        if deadline is not None and self.mode == "thread" and self._passes_timeout:
            deadline += STORE_DEADLINE_GRACE
        header, first = self._first_messages(source, deadline, seconds, offered)
        kind = header["kind"]
        fmt = graph_format if kind == "graph" else solutions_format
        headers = self._headers_from(header)
        rest = source.take_complete()
        if rest is not None:  # the whole result is here: answer it in one piece
            source.done()
            return QueryResponse(kind, fmt, [b"".join([first[1], *rest])], headers)
        return QueryResponse(kind, fmt, _Chunks(self._stream(source, first, deadline, seconds, environ),
                                                source), headers)

    @staticmethod
    def _first_messages(source, deadline: float | None, seconds: float | None,
                        offered: dict) -> tuple[dict, tuple[bytes, bytes]]:
        """The job's header and its first data message: waited for before the status line
        goes out, so that a failure or the deadline can still be a clean error status."""
        try:
            tag, payload = source.next(deadline)
            if tag in (b"X", b"!"):
                source.done()
                raise _job_error(tag, payload, offered)
            header = json.loads(payload)
            first = source.next(deadline)
            if first[0] in (b"X", b"!"):
                source.done()
                raise _job_error(*first, offered)
            return header, first
        except _Deadline:
            source.cancel()
            count("timeouts")
            log.warning("query stopped at its %g s deadline before answering", seconds)
            raise QueryTimeout(seconds) from None
        except _ClientGone:
            source.cancel()
            log.info("client went away; query stopped")
            raise SsikgError(503, "the client closed the connection; the query was stopped") from None
        except _Stopping:
            source.cancel()
            raise _stopping_error() from None
        except WorkerError as exc:
            source.cancel()
            log.error("%s", exc)
            raise SsikgError(503, f"the query could not be completed: {exc}") from None
        except SsikgError:
            raise
        except BaseException:
            source.cancel()
            raise

    @staticmethod
    def _headers_from(header: dict) -> dict[str, str]:
        """The response headers the job's header message calls for (the row cap's marks)."""
        if not header.get("truncated"):
            return {}
        count("truncations")
        return {TRUNCATED_HEADER: "true", MAX_ROWS_HEADER: str(header.get("max_rows"))}

    def _start(self, job: dict, sock, seconds: float | None):
        if self.mode == "thread":
            kwargs = {}
            if self._passes_timeout and seconds:
                kwargs["timeout"] = seconds
            if self._passes_max_rows and job.get("max_rows"):
                kwargs["max_rows"] = int(job["max_rows"])
            if self._passes_admitted:
                kwargs["admitted"] = True
            return _ThreadSource(self, {**job, "store_kwargs": kwargs}, sock)
        for _attempt in (1, 2):
            try:
                worker = self.pool.checkout(self.store.version, self._write_lock)
            except (WorkerError, OSError) as exc:
                log.error("query worker unavailable: %s", exc)
                raise SsikgError(503, f"no query worker is available: {exc}",
                                 headers={"Retry-After": str(int(self.settings.get("retry_after") or 1))}) \
                    from None
            if sock is not None and _client_gone(sock):
                # It left while the query waited for a slot or a starting worker: nothing ran,
                # so the worker goes back (killing it would cost an in-memory copy of the store).
                self.pool.checkin(worker)
                log.info("client went away before its query started")
                raise _ClientGone()
            try:
                worker.conn.send(job)
                return _WorkerSource(self, worker, sock)
            except BaseException as exc:
                # e.g. a worker that died while idle (then another is taken, once), or a
                # substitution that cannot be pickled
                self.pool.discard(worker, replace_version=self.store.version, open_lock=self._write_lock)
                if not isinstance(exc, OSError):
                    raise
                log.warning("a query worker had died while idle (%s); taking another", exc)
        raise SsikgError(503, "the query workers were lost; retry", headers={"Retry-After": "1"})

    def _release_worker(self, worker, *, healthy: bool) -> None:
        try:
            if healthy:
                self.pool.checkin(worker)
            else:
                self.pool.discard(worker, replace_version=self.store.version, open_lock=self._write_lock)
        finally:
            self.gate.release()

    @staticmethod
    def _stream(source, first: tuple[bytes, bytes], deadline: float | None,
                seconds: float | None, environ: dict | None = None) -> Iterator[bytes]:
        """The result's bytes; an end before the last one raises :class:`QueryAborted`
        (the answer is cut: no terminating chunk), noted in ``environ`` for the access log.
        Those ends are expected (a deadline, a client gone, a killed worker, a stop): they
        are logged by the access-log line alone, not as errors."""
        finished = False
        try:
            tag, payload = first
            while tag != b"E":
                if tag == b"D":
                    more = source.take_arrived_data()
                    if more:
                        payload = b"".join([payload, *more])
                    if payload:
                        yield payload
                elif tag in (b"X", b"!"):
                    mark_aborted(environ, "failed")
                    error = _job_error(tag, payload, {})
                    log.error("query failed while streaming (transfer aborted): %s", error)  # not expected
                    raise QueryAborted(f"the query failed while streaming: {error}")
                tag, payload = source.next(deadline)
            finished = True
        except _Deadline:
            count("timeouts")
            mark_aborted(environ, "timeout")
            raise QueryAborted(f"time limit of {seconds:g} s reached while streaming; "
                               "the transfer was aborted", "timeout") from None
        except _ClientGone:
            # Abort rather than end: if the peer only half-closed, it must not get a
            # terminating chunk after a cut result.
            mark_aborted(environ, "client-gone")
            raise QueryAborted("the client closed the connection; the query was stopped",
                               "client-gone") from None
        except _Stopping:
            mark_aborted(environ, "server-stopping")
            raise QueryAborted("the server is stopping; the transfer was aborted", "server-stopping") from None
        except WorkerError as exc:
            mark_aborted(environ, "worker-died")
            raise QueryAborted(str(exc), "worker-died") from None
        except GeneratorExit:
            # closed before its end: the HTTP server could not write to the client any more
            mark_aborted(environ, "client-gone")
            raise
        finally:
            if finished:
                source.done()
            else:
                source.cancel()


class _Chunks:
    """The result's chunks; ``close`` frees the worker even when iteration never started
    (a HEAD request, a response dropped before its body), which a bare generator would not."""

    def __init__(self, generator: Iterator[bytes], source: _Source):
        self._generator = generator
        self._source = source

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._generator)

    def close(self) -> None:
        try:
            self._generator.close()
        finally:
            self._source.cancel()

    def __del__(self):
        self.close()


class _CachingChunks:
    """A streamed result passed through unchanged, and kept in the result cache once it has
    streamed to its end, if it fits an entry.  Bytes are only held up to that size: a
    larger result stops being collected, so streaming keeps its bounded memory."""

    def __init__(self, chunks, cache, key: tuple, kind: str, fmt, headers: dict[str, str]):
        self._chunks, self._cache, self._key = chunks, cache, key
        self._kind, self._format, self._headers = kind, fmt, headers
        self._parts: list[bytes] | None = []
        self._size = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            if self._parts is not None:
                self._cache.put(self._key, self._kind, self._format, b"".join(self._parts), self._headers)
                self._parts = None
            raise
        if self._parts is not None:
            self._size += len(chunk)
            if self._size > self._cache.max_entry_bytes:
                self._parts = None
            else:
                self._parts.append(chunk)
        return chunk

    def close(self) -> None:
        self._parts = None
        close = getattr(self._chunks, "close", None)
        if close:
            close()


def _parameters(function) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def _job_error(tag: bytes, payload, offered: dict) -> Exception:
    """The exception a failed job stands for: ``!`` carries one (thread mode), ``X`` describes
    one (see :func:`ssikg.workers.failure` for whose fault each type is)."""
    if tag == b"!":
        return payload
    error = json.loads(payload)
    kind, message = error["type"], error.get("message")
    if kind == "syntax":
        return SyntaxError(message)
    if kind == "not_acceptable":
        return NotAcceptable(error["kind"], offered.get(error["kind"], []))
    if kind == "query":
        return SsikgError(400, f"the query cannot be answered as written: {message}", title="Query failed")
    if kind == "upstream":
        services = error["services"]
        named = ", ".join(f"<{iri}>" for iri in services)
        which = f"the SERVICE endpoint {named}" if len(services) == 1 else f"one of the SERVICE endpoints {named}"
        return SsikgError(502, f"{which} failed: {message} (SERVICE SILENT skips an endpoint that fails)",
                          title="SERVICE endpoint failed", extra={"services": services})
    log.error("query evaluation failed: %s", message)
    return SsikgError(500, f"the query failed: {message}")


_EXECUTORS_LOCK = threading.Lock()


def get_executor(store, settings=None) -> Executor:
    """The executor of the current app when ``store`` is its store, else one kept on the store."""
    with _EXECUTORS_LOCK:
        if has_app_context() and current_app.extensions.get("ssikg.store") is store:
            executor = current_app.extensions.get("ssikg.executor")
            if executor is None:
                executor = Executor(store, _settings(settings))
                current_app.extensions["ssikg.executor"] = executor
            return executor
        executor = getattr(store, "_ssikg_executor", None)
        if executor is None:
            executor = Executor(store, _settings(settings))
            store._ssikg_executor = executor
        return executor
