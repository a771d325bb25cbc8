"""Streaming serialisation: run a pyoxigraph serialiser in a producer thread
that writes into a bounded queue, and hand the HTTP layer a generator of
chunks.

Memory stays bounded by ``max_chunks × chunk_size`` whatever the result size:
the producer blocks while the client is slow.  pyoxigraph releases the GIL
while it evaluates and serialises, so the producer costs the server little.
Closing the generator (the client went away, or the response ended) stops the
producer at its next write.

It also owns the one rule for clients that cannot tell a cut answer: an HTTP/1.0
request has no chunked framing, so a stream cut by a timeout or a failure would
reach it as a complete 200.  Its answer is spooled whole before the status line
(:func:`whole_for_http10`, :func:`spool`): in memory up to
:data:`SPOOL_IN_MEMORY`, then in a temporary file, at most :data:`SPOOL_MAX`;
a failure meanwhile is still a clean 503.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator

import pyoxigraph as ox
from flask import has_request_context, request

from .errors import SsikgError
from .xml_text import XmlSafeSink

log = logging.getLogger("ssikg")

CHUNK_SIZE = 64 * 1024
MAX_CHUNKS = 8
SPOOL_IN_MEMORY = 4 * 1024 * 1024  # an HTTP/1.0 answer up to this size is held in memory…
SPOOL_MAX = 1024 * 1024 * 1024  # …beyond, in a temporary file, up to this size (else 503)


class _Stopped(Exception):
    """Raised inside the producer when the consumer has gone away."""


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


class _QueueSink:
    """File-like object pyoxigraph writes into; full chunks go to the queue."""

    def __init__(self, chunks: queue.Queue, stop: threading.Event, chunk_size: int):
        self._chunks = chunks
        self._stop = stop
        self._chunk_size = chunk_size
        self._buffer = bytearray()

    def write(self, data) -> int:
        self._buffer += data
        if len(self._buffer) >= self._chunk_size:
            self._emit()
        return len(data)

    def flush(self) -> None:
        pass

    def announce(self, value) -> None:
        """Tell the consumer something before the first byte (see :func:`start`)."""
        self._put(Announcement(value))

    def finish(self) -> None:
        if self._buffer:
            self._emit()

    def _emit(self) -> None:
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._put(chunk)

    def _put(self, item) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped()
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


class Announcement:
    """What the producer says before its first byte (e.g. the kind of result)."""

    def __init__(self, value):
        self.value = value


def stream(serialise: Callable[[object], None], *, chunk_size: int = CHUNK_SIZE,
           max_chunks: int = MAX_CHUNKS) -> Iterator[bytes]:
    """Chunks written by ``serialise(sink)`` in a background thread.

    ``serialise`` must create any pyoxigraph result object itself, inside the
    thread: query results and quad iterators are bound to the thread that
    made them (pyoxigraph aborts the process otherwise).  Use :func:`start`
    to learn about early failures before answering.
    """
    return start(serialise, chunk_size=chunk_size, max_chunks=max_chunks).chunks


class Started:
    """A running producer: ``announced`` (what it said first, or None) and ``chunks``."""

    def __init__(self, announced, chunks: Iterator[bytes]):
        self.announced = announced
        self.chunks = chunks


def start(work: Callable[[object], None], *, chunk_size: int = CHUNK_SIZE,
          max_chunks: int = MAX_CHUNKS) -> Started:
    """Run ``work(sink)`` in a producer thread and wait for its first sign of life.

    ``work`` may call ``sink.announce(value)`` before writing; the value comes
    back as ``Started.announced``.  An exception raised before the first
    announcement or chunk is re-raised here, in the caller's thread, so a view
    can still answer 4xx/5xx (a syntax error, a refusal).  Later errors end the
    stream early and are logged: the status line has gone by then.
    """
    chunks: queue.Queue = queue.Queue(maxsize=max_chunks)
    stop = threading.Event()

    def produce() -> None:
        sink = _QueueSink(chunks, stop, chunk_size)
        try:
            work(sink)
            sink.finish()
            _put(chunks, stop, _DONE)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            if stop.is_set() or isinstance(exc.__context__, _Stopped):
                return
            _put(chunks, stop, _Failed(exc))

    producer = threading.Thread(target=produce, name="ssikg-serialiser", daemon=True)
    producer.start()
    first = chunks.get()
    if isinstance(first, _Failed):
        producer.join(timeout=5)
        raise first.error
    announced = first.value if isinstance(first, Announcement) else None
    pending = [] if isinstance(first, Announcement) else [first]

    environ = request.environ if has_request_context() else None

    def consume() -> Iterator[bytes]:
        from .execution import QueryAborted, mark_aborted

        try:
            for item in pending:
                if item is _DONE:
                    return
                yield item
            while True:
                item = chunks.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    # Cut, not ended: a terminating chunk would make the rest look complete.
                    log.error("stream ended early: %s", item.error)
                    mark_aborted(environ, "failed")
                    raise QueryAborted(f"the serialisation failed while streaming: {item.error}")
                if isinstance(item, Announcement):
                    continue
                yield item
        except GeneratorExit:
            mark_aborted(environ, "client-gone")  # closed before its end: the client left
            raise
        finally:
            stop.set()
            _drain(chunks)
            producer.join(timeout=5)

    return Started(announced, consume())


def _put(chunks: queue.Queue, stop: threading.Event, item) -> None:
    while not stop.is_set():
        try:
            chunks.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def _drain(chunks: queue.Queue) -> None:
    try:
        while True:
            chunks.get_nowait()
    except queue.Empty:
        pass


_PREFIXABLE = {ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML}


def stream_quads(store, graph: str | None, fmt: ox.RdfFormat, prefixes: dict[str, str] | None = None,
                 *, as_triples: bool = False) -> Iterator[bytes]:
    """One graph (or every quad, ``graph=None``) of a GraphStore as chunks."""
    usable = prefixes if fmt in _PREFIXABLE else None

    def work(sink):
        quads = store.quads(graph)
        items = (q.triple for q in quads) if as_triples else quads
        ox.serialize(items, XmlSafeSink(sink) if fmt == ox.RdfFormat.RDF_XML else sink, fmt,
                     prefixes=usable)

    return whole_for_http10_or_stream(start(work).chunks)


# ---------------------------------------------------------------------------
# HTTP/1.0: the whole answer before the status line


def whole_for_http10(environ: dict | None = None) -> bool:
    """Whether the answer to the request (``environ``, default the current one) must be
    complete before its status line is sent: an HTTP/1.0 client (nginx's default
    ``proxy_pass`` among them) has no chunked framing, so a stream cut short would reach
    it as a complete answer."""
    if environ is None:
        environ = request.environ if has_request_context() else {}
    return (str(environ.get("SERVER_PROTOCOL", "")).upper() == "HTTP/1.0"
            and environ.get("REQUEST_METHOD") != "HEAD")  # a HEAD answer's body is never sent


class SpooledBody:
    """A spooled answer read back in chunks; ``length`` for its Content-Length."""

    def __init__(self, spooled, length: int):
        self._file = spooled
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        self._file.seek(0)
        while True:
            chunk = self._file.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._file.close()


def spool(chunks: Iterable[bytes], limit: int | None = None) -> list[bytes] | SpooledBody:
    """Read ``chunks`` to their end: ``[body]`` when it fits :data:`SPOOL_IN_MEMORY` (the
    framework then sends its Content-Length), else a :class:`SpooledBody` in a temporary
    file.  Whatever the stream raises is raised here, before any byte is sent; a body
    longer than ``limit`` (default :data:`SPOOL_MAX`) is a 503."""
    limit = SPOOL_MAX if limit is None else limit
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the body
    length = 0
    try:
        for chunk in chunks:
            length += len(chunk)
            if length > limit:
                raise SsikgError(503, f"the answer is larger than {limit // (1024 * 1024):,} MiB, the most "
                                      "this server holds for an HTTP/1.0 client (which cannot tell a cut "
                                      "answer from a whole one); ask over HTTP/1.1, or add a LIMIT",
                                 title="Answer too large for HTTP/1.0")
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    if length <= SPOOL_IN_MEMORY:
        spooled.seek(0)
        body = spooled.read()
        spooled.close()
        return [body]
    return SpooledBody(spooled, length)


def whole_for_http10_or_stream(chunks: Iterator[bytes]) -> Iterable[bytes]:
    """``chunks`` as they are, or, for an HTTP/1.0 request, spooled whole (:func:`spool`).
    A failure while spooling is a 503 before the status line."""
    if not whole_for_http10():
        return chunks
    from .execution import ABORTED_KEY, QueryAborted

    try:
        return spool(chunks)
    except SsikgError as exc:
        request.environ.pop(ABORTED_KEY, None)  # answered with a status of its own: nothing was cut
        if isinstance(exc, QueryAborted):
            raise SsikgError(503, str(exc), title="Answer failed") from None
        raise
