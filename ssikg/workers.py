"""The engine side of query execution: evaluating one job and serialising its
result as framed messages, the worker process that does it in isolation, and
the pool of such processes.

A *job* is a dict (query text, dataset, result formats by name, row limit).
:func:`evaluate` runs it on a :class:`~ssikg.store.GraphStore` and reports
through ``emit(tag, payload)``:

* ``H`` + JSON ``{"kind", "format", "truncated"}`` once the result kind is known;
* ``D`` + bytes, the serialised result, as the serialiser produces it (a short piece one
  write late: see :class:`_EmitSink`);
* ``E`` + JSON ``{}`` at the end, or ``X`` + JSON ``{"type", "message", ...}`` for
  an error: ``syntax``, ``not_acceptable``, ``query`` (the engine refused what the
  query asks at run time), ``upstream`` (a SERVICE endpoint failed) or ``error``
  (anything else: a fault of this server).

Worker processes (``python -m ssikg.workers FD DB``, started with
:mod:`subprocess`, so nothing of the threaded server is forked) open the
on-disk store with ``Store.read_only`` and serve jobs one at a time over a
socket pair.  They preload jemalloc or mimalloc when installed
(:func:`find_allocator`): the engine allocates per row, and on glibc's malloc
heavy queries took 5–20 % longer (``bench/RESULTS.md``).  The parent
(:mod:`ssikg.execution`) enforces the deadline and SIGKILLs a worker whose query overruns or whose client went away: that is the
only way to stop aggregates, ORDER BY and property paths, which pyoxigraph
evaluates inside ``query()`` with no cancellation API.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import pyoxigraph as ox

from .xml_text import XmlSafeSink

log = logging.getLogger("ssikg")

Emit = Callable[[bytes, bytes], None]

# Formats travel by name: pyoxigraph's format objects cannot be pickled.
RESULTS_FORMATS = {name: getattr(ox.QueryResultsFormat, name) for name in ("JSON", "XML", "CSV", "TSV")}
RDF_FORMATS = {name: getattr(ox.RdfFormat, name) for name in (
    "TURTLE", "N_TRIPLES", "N_QUADS", "TRIG", "JSON_LD", "STREAMING_JSON_LD", "RDF_XML", "N3")}
_PREFIXABLE = {ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML, ox.RdfFormat.N3}
_XML_FORMATS = {ox.QueryResultsFormat.XML, ox.RdfFormat.RDF_XML}
_HASH_COMMENT = {ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS,
                 ox.RdfFormat.N3}
TRUNCATED_LINK = "urn:ssikg:truncated"


def format_name(fmt, table: dict) -> str | None:
    if fmt is None:
        return None
    for name, candidate in table.items():
        if candidate == fmt:
            return name
    raise ValueError(f"unsupported format {fmt}")


def _json(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# ---------------------------------------------------------------------------
# Evaluating a job


class _EmitSink:
    """The file-like object pyoxigraph serialises into: every write becomes a D message.
    pyoxigraph writes full 8 KiB pieces while rows flow, and flushes what it holds (a short
    piece) at the end or when a failing evaluation drops its serialiser.  A short piece is
    held until the next write or the end: held back, the header flushed by a SERVICE call
    that fails before the first row does not go out before the X message, so the failure
    gets its own status instead of cutting a 200 short; full pieces go at once, so the first
    byte of a large result does not wait."""

    FULL = 8 * 1024

    def __init__(self, emit: Emit):
        self._emit = emit
        self._held: bytes | None = None

    def write(self, data) -> int:
        if self._held is not None:
            self._emit(b"D", self._held)
            self._held = None
        if len(data) >= self.FULL:
            self._emit(b"D", bytes(data))
        else:
            self._held = bytes(data)
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        """The serialisation ended well: a held piece goes out."""
        if self._held is not None:
            self._emit(b"D", self._held)
            self._held = None


def evaluate(store, job: dict, emit: Emit) -> None:
    """Run one job on ``store`` and report through ``emit`` (see the module docstring).

    Exceptions from ``emit`` itself (the consumer went away) propagate."""
    try:
        result = store.query(job["query"], base_iri=job.get("base_iri"),
                             default_graphs=job.get("default_graphs"),
                             named_graphs=job.get("named_graphs"),
                             substitutions=job.get("substitutions"), **job.get("store_kwargs", {}))
    except SyntaxError as exc:
        emit(b"X", _json({"type": "syntax", "message": str(exc)}))
        return
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        emit(b"X", _json(failure(exc, job)))
        return
    if isinstance(result, ox.QueryTriples):
        kind, fmt = "graph", RDF_FORMATS.get(job.get("graph_format") or "")
    else:
        kind = "boolean" if isinstance(result, ox.QueryBoolean) else "solutions"
        fmt = RESULTS_FORMATS.get(job.get("solutions_format") or "")
    if fmt is None:
        emit(b"X", _json({"type": "not_acceptable", "kind": "graph" if kind == "graph" else "solutions"}))
        return
    try:
        _serialise(result, kind, fmt, job, emit)
    except (OSError, RuntimeError, ValueError) as exc:
        emit(b"X", _json(failure(exc, job)))
        return
    emit(b"E", b"{}")


# What pyoxigraph 0.5 raises, as RuntimeError / OSError, for a query it parsed but will not
# run as written: a call to a function it does not know (a FILTER on an unknown IRI, a typo
# in xsd:…), a result that the chosen format cannot hold (RDF 1.2 triple terms in JSON-LD).
# SPARQL's own type errors (1/0, xsd:integer("x")) are not errors: they leave the value unbound.
_QUERY_FAULTS = re.compile(r"^The custom function <[^>]*> is not supported$"
                           r"|does not support RDF 1\.2")


def failure(exc: Exception, job: dict) -> dict:
    """The ``X`` message for an evaluation that raised ``exc``: whose fault it is.

    pyoxigraph raises the same OSError / RuntimeError for a SERVICE endpoint that
    refuses, errs or answers garbage as for a storage fault, so the query's own
    non-SILENT SERVICE calls (``job["services"]``, found by the outbound guard) decide:
    the store is local and read by this process, the endpoint is the likelier culprit."""
    message = str(exc)
    if isinstance(exc, (OSError, RuntimeError)) and _QUERY_FAULTS.search(message):
        return {"type": "query", "message": message}
    if isinstance(exc, (OSError, RuntimeError)) and job.get("services"):
        return {"type": "upstream", "message": message, "services": job["services"]}
    return {"type": "error", "message": message}


def _serialise(result, kind: str, fmt, job: dict, emit: Emit) -> None:
    out = _EmitSink(emit)
    _write_result(result, kind, fmt, job, emit, XmlSafeSink(out) if fmt in _XML_FORMATS else out)
    out.finish()


def _write_result(result, kind: str, fmt, job: dict, emit: Emit, sink) -> None:
    max_rows = int(job.get("max_rows") or 0)
    if kind == "boolean":
        emit(b"H", _json({"kind": kind, "truncated": False}))
        emit(b"D", result.serialize(format=fmt))
        return
    if kind == "solutions":
        if not max_rows:
            emit(b"H", _json({"kind": kind, "truncated": False}))
            result.serialize(sink, fmt)
            return
        # Read one row past the limit to know, before the status line, whether it was hit.
        variables = [v.value for v in result.variables]
        rows = list(islice(result, max_rows + 1))
        truncated = len(rows) > max_rows
        emit(b"H", _json({"kind": kind, "truncated": truncated, "max_rows": max_rows}))
        write_solutions(sink, fmt, variables, rows[:max_rows], truncated)
        return
    prefixes = job.get("prefixes") if fmt in _PREFIXABLE else None
    if not max_rows:
        emit(b"H", _json({"kind": kind, "truncated": False}))
        ox.serialize(result, sink, fmt, prefixes=prefixes)
        return
    triples = list(islice(result, max_rows + 1))
    truncated = len(triples) > max_rows
    emit(b"H", _json({"kind": kind, "truncated": truncated, "max_rows": max_rows}))
    ox.serialize(triples[:max_rows], sink, fmt, prefixes=prefixes)
    if truncated:
        note = f"ssikg: result truncated after {max_rows} triples (max_rows setting)"
        if fmt in _HASH_COMMENT:
            sink.write(f"# {note}\n".encode())
        elif fmt == ox.RdfFormat.RDF_XML:
            sink.write(f"<!-- {note} -->\n".encode())


# ---------------------------------------------------------------------------
# SPARQL results writers, used when rows are capped (pyoxigraph can only
# serialise a whole QuerySolutions).  They write the same documents as
# pyoxigraph, plus the truncation marker in JSON and XML.


def write_solutions(sink, fmt, variables: list[str], rows: Iterable, truncated: bool) -> None:
    writer = {ox.QueryResultsFormat.JSON: _write_json, ox.QueryResultsFormat.XML: _write_xml,
              ox.QueryResultsFormat.CSV: _write_csv, ox.QueryResultsFormat.TSV: _write_tsv}[fmt]
    writer(sink, variables, rows, truncated)


def _json_term(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Triple):
        return {"type": "triple", "value": {"subject": _json_term(term.subject),
                                            "predicate": _json_term(term.predicate),
                                            "object": _json_term(term.object)}}
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
        if getattr(term, "direction", None) is not None:
            out["its:dir"] = "rtl" if term.direction == ox.BaseDirection.RTL else "ltr"
    elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        out["datatype"] = term.datatype.value
    return out


def _write_json(sink, variables, rows, truncated) -> None:
    head = {"vars": variables}
    if truncated:
        head["link"] = [TRUNCATED_LINK]
    sink.write(b'{"head":' + json.dumps(head, ensure_ascii=False).encode())
    if truncated:
        sink.write(b',"ssikg:truncated":true')
    sink.write(b',"results":{"bindings":[')
    for index, row in enumerate(rows):
        binding = {v: _json_term(row[v]) for v in variables if row[v] is not None}
        sink.write((b"," if index else b"") + json.dumps(binding, ensure_ascii=False).encode())
    sink.write(b"]}}")


def _xml_term(term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{xml_escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{xml_escape(term.value)}</bnode>"
    if isinstance(term, ox.Triple):
        return (f"<triple><subject>{_xml_term(term.subject)}</subject><predicate>"
                f"{_xml_term(term.predicate)}</predicate><object>{_xml_term(term.object)}</object></triple>")
    if term.language:
        return f"<literal xml:lang={quoteattr(term.language)}>{xml_escape(term.value)}</literal>"
    if term.datatype.value == "http://www.w3.org/2001/XMLSchema#string":
        return f"<literal>{xml_escape(term.value)}</literal>"
    return f"<literal datatype={quoteattr(term.datatype.value)}>{xml_escape(term.value)}</literal>"


def _write_xml(sink, variables, rows, truncated) -> None:
    head = "".join(f"<variable name={quoteattr(v)}/>" for v in variables)
    if truncated:
        head += f"<link href={quoteattr(TRUNCATED_LINK)}/>"
    sink.write(('<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head>{head}</head><results>").encode())
    for row in rows:
        cells = "".join(f"<binding name={quoteattr(v)}>{_xml_term(row[v])}</binding>"
                        for v in variables if row[v] is not None)
        sink.write(f"<result>{cells}</result>".encode())
    sink.write(b"</results></sparql>")


def _csv_cell(term) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        text = f"_:{term.value}"
    elif isinstance(term, ox.Triple):
        text = str(term)
    else:
        text = term.value
    if any(c in text for c in '",\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(sink, variables, rows, truncated) -> None:
    sink.write((",".join(variables) + "\r\n").encode())
    for row in rows:
        sink.write((",".join(_csv_cell(row[v]) for v in variables) + "\r\n").encode())


def _write_tsv(sink, variables, rows, truncated) -> None:
    sink.write(("\t".join("?" + v for v in variables) + "\n").encode())
    for row in rows:
        sink.write(("\t".join("" if row[v] is None else str(row[v]) for v in variables) + "\n").encode())


# ---------------------------------------------------------------------------
# Frames: the messages of a job, batched
#
# One socket message per frame, holding one or more (tag, payload) messages,
# each as tag (1 byte) + payload length (4 bytes, big-endian) + payload.
# Batching saves the parent a wake-up and a receive per message: a small
# result (H, D, E) arrives in one frame, which also lets the parent answer it
# whole, with a Content-Length; a large one travels in 64 KiB frames instead
# of pyoxigraph's 8 KiB writes.


# pyoxigraph's serialisers write 8 KiB at a time while more follows.  A job's first frame
# leaves once two such writes are waiting: a result that ends within them (up to ~16 KiB)
# then travels whole with its end and is answered with a Content-Length; a longer one
# starts streaming after its second write (some 30 µs later for a dump).
_FIRST_FRAME = 16 * 1024


def encode_message(tag: bytes, payload: bytes) -> bytes:
    return tag + len(payload).to_bytes(4, "big") + payload


def decode_frame(frame: bytes) -> Iterator[tuple[bytes, bytes]]:
    view, offset = memoryview(frame), 0
    while offset < len(frame):
        size = int.from_bytes(view[offset + 1:offset + 5], "big")
        yield bytes(view[offset:offset + 1]), bytes(view[offset + 5:offset + 5 + size])
        offset += 5 + size


class FrameWriter:
    """Batches a job's messages into frames on ``conn``.

    A frame leaves when the job ends (E or X), when 64 KiB are waiting, when a
    job's first frame holds ``_FIRST_FRAME`` bytes (the first bytes of a streaming
    result go out early), or at the latest ``max_delay`` after its oldest message
    (a background thread sees to it, since a slow query may not write again for long)."""

    def __init__(self, conn: Connection, max_bytes: int = 64 * 1024, max_delay: float = 0.001):
        self._conn, self._max_bytes, self._max_delay = conn, max_bytes, max_delay
        self._lock = threading.Condition()
        self._parts: list[bytes] = []
        self._size = 0
        self._oldest: float | None = None
        self._first_frame = True  # the current job has sent no data yet
        self._holds_data = False  # a D message is waiting
        threading.Thread(target=self._flush_late, daemon=True, name="ssikg-frames").start()

    def emit(self, tag: bytes, payload: bytes) -> None:
        with self._lock:
            self._parts.append(encode_message(tag, payload))
            self._size += len(payload) + 5
            self._holds_data = self._holds_data or tag == b"D"
            ended = tag in (b"E", b"X")
            if ended or self._size >= self._max_bytes or (self._first_frame and self._size >= _FIRST_FRAME):
                self._flush()
                self._first_frame = ended  # the next job starts afresh
            elif self._oldest is None:
                self._oldest = time.monotonic()
                self._lock.notify()

    def _flush(self) -> None:
        frame = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._oldest = None
        if self._holds_data:
            self._first_frame, self._holds_data = False, False
        self._conn.send_bytes(frame)

    def _flush_late(self) -> None:
        with self._lock:
            while True:
                if self._oldest is None:
                    self._lock.wait()
                    continue
                remaining = self._oldest + self._max_delay - time.monotonic()
                if remaining > 0:
                    self._lock.wait(remaining)
                    continue
                try:
                    self._flush()
                except OSError:  # the server is gone: so is this worker's purpose
                    os._exit(0)


# ---------------------------------------------------------------------------
# The worker process


def _watch_parent(parent: int) -> None:
    """Exit when the server that started us is gone (a query may hold us busy for long)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _limit_memory(megabytes: int) -> None:
    """Cap the worker's heap (RLIMIT_DATA: heap and private mappings).  A query that
    needs more makes the allocator abort the worker; the parent sees it die and answers
    503, instead of the whole machine running out of memory within the time limit."""
    if megabytes > 0:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def worker_main(fd: int, folder: str, parent: int, memory_mb: int = 0, in_memory: bool = False) -> None:
    from .store import open_store

    conn = Connection(fd)
    _limit_memory(memory_mb)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        # in_memory: the worker copies the built store into its own memory, as the server does.
        store = open_store(Path(folder), in_memory=in_memory, read_only=not in_memory)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which logs it
        with contextlib.suppress(OSError):
            conn.send_bytes(b"X" + _json({"type": "error", "message": f"cannot open the store: {exc}"}))
        return
    try:
        conn.send_bytes(b"R")
    except OSError:  # the server stopped (or gave up on us) while we were starting: nothing to do
        return
    frames = FrameWriter(conn)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            evaluate(store, job, frames.emit)
        except (BrokenPipeError, ConnectionResetError):
            return


# ---------------------------------------------------------------------------
# The allocator

# name → (library the dynamic loader finds, the Debian package that installs it)
ALLOCATORS = {"jemalloc": ("jemalloc", "libjemalloc2"), "mimalloc": ("mimalloc", "libmimalloc2.0")}
AUTO_ORDER = ("jemalloc", "mimalloc")


class AllocatorMissing(RuntimeError):
    """An allocator was asked for by name and is not installed."""


@functools.lru_cache(maxsize=8)  # the lookup runs ldconfig: once per choice is enough
def find_allocator(choice: str) -> tuple[str, str | None]:
    """(name, library to preload) for the ``worker_allocator`` setting: ``auto`` takes the
    first installed of jemalloc and mimalloc, else the system's malloc (None)."""
    import ctypes.util

    if choice == "system":
        return "system", None
    for name in (AUTO_ORDER if choice == "auto" else (choice,)):
        library = ctypes.util.find_library(ALLOCATORS[name][0])  # a soname, found without loading it
        if library:
            return name, library
    if choice != "auto":
        raise AllocatorMissing(f"worker_allocator={choice}, but lib{choice} is not installed "
                               f"(Debian: apt-get install {ALLOCATORS[choice][1]}); "
                               "use auto or system")
    return "system", None


def _worker_environment(allocator: str | None) -> dict[str, str] | None:
    if allocator is None:
        return None
    preload = " ".join(filter(None, (allocator, os.environ.get("LD_PRELOAD"))))
    return {**os.environ, "LD_PRELOAD": preload}


# ---------------------------------------------------------------------------
# The pool


class WorkerError(RuntimeError):
    """A worker could not be started or died unexpectedly."""


class Worker:
    """One worker process and the parent's end of its socket pair."""

    def __init__(self, folder: Path, version: str, start_timeout: float = 60.0, memory_mb: int = 0,
                 in_memory: bool = False, allocator: str | None = None):
        parent_end, child_end = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ssikg.workers", str(child_end.fileno()), str(folder),
                 str(os.getpid()), str(memory_mb), "1" if in_memory else "0"],
                pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL, close_fds=True,
                env=_worker_environment(allocator))
        finally:
            child_end.close()
        self.conn = Connection(parent_end.detach())
        self.version = version
        self.started_at = time.monotonic()
        self._await_ready(start_timeout)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _await_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            self.kill()
            raise WorkerError(f"a query worker did not start within {timeout:g} s")
        try:
            message = self.conn.recv_bytes()
        except (EOFError, OSError):
            message = b"Xworker exited while starting"
        if message != b"R":
            self.kill()
            raise WorkerError(f"a query worker failed to start: {message[1:].decode(errors='replace')}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the only way to stop a query inside pyoxigraph; the CPU is freed at once."""
        with contextlib.suppress(OSError):
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait on us
            log.error("query worker %s did not exit after SIGKILL", self.pid)
        self.conn.close()


class WorkerPool:
    """Pre-started worker processes over one on-disk store, at most ``size`` at once.

    A worker is checked out for one query and checked in when the query ended
    normally; one that overran or lost its client is killed, and a spare is
    started in the background so the next query does not wait for a start.
    Workers opened before the store changed (``version``) are retired: a
    read-only RocksDB handle sees the database as it was when opened.
    """

    def __init__(self, folder: Path, size: int, memory_mb: int = 0, in_memory: bool = False,
                 allocator: str | None = None):
        self.folder = Path(folder)
        self.size = max(1, size)
        self.memory_mb = memory_mb
        self.in_memory = in_memory
        self.allocator = allocator  # library the workers preload; None: the system's malloc
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a worker became idle, or a start ended
        self._closed = False
        self._starting = 0  # spares being started in the background
        _LIVE_POOLS.add(self)

    def checkout(self, version: str, open_lock=None) -> Worker:
        """An idle worker opened at ``version``, else one being started, else a new one;
        keeps one spare warming.

        Waiting for a worker already starting rather than starting another matters
        for an in-memory store, where a start copies the whole store (30 s at 1e6
        triples): a burst must not launch one copy per request."""
        worker = None
        while worker is None:
            with self._lock:
                while not self._idle and self._starting and not self._closed:
                    self._returned.wait(timeout=1.0)
                candidate = self._idle.pop() if self._idle else None
                if candidate is not None:
                    self._busy.add(candidate)  # counted at once: the spare rule below sees it
            if candidate is None:
                break
            # Checked outside the lock: a waitpid under it serialised the server's threads.
            if candidate.version == version and candidate.alive():
                worker = candidate
            else:
                with self._lock:
                    self._busy.discard(candidate)
                threading.Thread(target=candidate.kill, daemon=True).start()
        if worker is None:
            worker = self._start(version, open_lock)
        with self._lock:
            self._busy.add(worker)
            spare = (not self._idle and not self._closed and not self._starting
                     and len(self._busy) < self.size)
            if spare:
                self._starting += 1
        if spare:
            self._spawn_spare(version, open_lock, counted=True)
        return worker

    def _start(self, version: str, open_lock=None) -> Worker:
        if open_lock is None:
            return self._new_worker(version)
        # Opening while the server writes is undefined behaviour for RocksDB: serialise the two.
        # (A timeout rather than a deadlock should a caller ever hold the write lock here.)
        if not open_lock.acquire(timeout=60):
            raise WorkerError("the store stayed locked by a write for 60 s")
        try:
            return self._new_worker(version)
        finally:
            open_lock.release()

    def _new_worker(self, version: str) -> Worker:
        # Copying a large store into memory takes longer than opening it.
        return Worker(self.folder, version, start_timeout=600.0 if self.in_memory else 60.0,
                      memory_mb=self.memory_mb, in_memory=self.in_memory, allocator=self.allocator)

    def checkin(self, worker: Worker) -> None:
        alive = worker.alive()  # outside the lock (a system call)
        with self._lock:
            self._busy.discard(worker)
            if not self._closed and alive and len(self._idle) < self.size:
                self._idle.append(worker)
                self._returned.notify()
                return
        worker.kill()

    def discard(self, worker: Worker, *, replace_version: str | None = None, open_lock=None) -> None:
        """Kill ``worker`` now; when ``replace_version`` is given, start one in its place in
        the background unless the pool is full: the pool stays at its size even while other
        workers are idle (else each killed query shrank it for good)."""
        worker.kill()
        with self._lock:
            self._busy.discard(worker)
            present = len(self._idle) + len(self._busy) + self._starting
            want_spare = replace_version is not None and not self._closed and present < self.size
            if want_spare:
                self._starting += 1  # counted now: a discard just after sees the pool full
        if want_spare:
            self._spawn_spare(replace_version, open_lock, counted=True)

    def _spawn_spare(self, version: str, open_lock, counted: bool = False) -> None:
        if not counted:
            with self._lock:
                self._starting += 1
        threading.Thread(target=self._add_spare, args=(version, open_lock), daemon=True,
                         name="ssikg-worker-spare").start()

    def _add_spare(self, version: str, open_lock) -> None:
        try:
            worker = self._start(version, open_lock)
        except (WorkerError, OSError) as exc:
            log.error("%s", exc)
            worker = None
        with self._lock:
            # One critical section: a waiting checkout sees either the start still
            # counted or the worker idle, never neither.
            self._starting -= 1
            kept = (worker is not None and not self._closed and worker.alive()
                    and len(self._idle) < self.size)
            if kept:
                self._idle.append(worker)
            self._returned.notify_all()  # also when the start failed: waiters stop waiting
        if worker is not None and not kept:
            worker.kill()

    def prestart(self, version: str, count: int | None = None, open_lock=None) -> None:
        """Start ``count`` workers (default: the pool's size, less those already there) in
        the background, so the first queries of a burst find them ready."""
        with self._lock:
            present = len(self._idle) + len(self._busy) + self._starting
            wanted = max(0, self.size - present if count is None else count)
            self._starting += wanted
        if wanted:
            # One after another: the first is ready soonest (four in-memory copies of a
            # 1e6-triple store started at once made the first query wait 166 s).
            threading.Thread(target=self._add_spares, args=(version, open_lock, wanted), daemon=True,
                             name="ssikg-worker-prestart").start()

    def _add_spares(self, version: str, open_lock, count: int) -> None:
        for started in range(count):
            if self._closed:
                with self._lock:
                    self._starting -= count - started
                    self._returned.notify_all()
                return
            self._add_spare(version, open_lock)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in [*self._idle, *self._busy] if w.alive()]

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._returned.notify_all()
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()


_LIVE_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for pool in list(_LIVE_POOLS):
        pool.shutdown()


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
