"""The result cache: query results kept per store version, so that a
query asked again (a stored query behind a dashboard, the query UI's examples, the
org chart) is answered without a worker, a concurrency slot or an evaluation.

What may be kept is narrow on purpose:

* only an embedded store's results: its ``version`` changes with every write made
  through this server, and a read-only store cannot change under it; a remote
  engine's data can change behind ssikg's back, so its results are never kept;
* only deterministic queries: ``RAND()``, ``NOW()``, ``UUID()``, ``STRUUID()``, ``BNODE()`` and
  ``SERVICE`` (another endpoint's data) make a query uncacheable, read as SPARQL
  tokens (the word "service" in a label or comment does not);
* only results of at most a sixteenth of the cache: one that arrived whole is kept at
  once; a streamed one is collected as it goes out and kept when it reaches its end,
  and is dropped as soon as it grows past that size (a large result is never held).

The cache holds ``result_cache_mb`` MiB per server process (least recently used
entries go first); 0 turns it off.  Every key names the store version, the query
text, its dataset, bound parameters and the negotiated format, so a hit answers
exactly what evaluating the query would.

Server processes that serve one read-only store (``ssikg serve --production`` with
several processes, or separate read-only servers given one ``result_cache_dir``) also
share what they keep through files in that folder (:class:`SharedResults`): a query
evaluated by one process is a hit in the others, instead of being evaluated once per
process.  Only a read-only store qualifies: its data cannot change while they serve it,
and every file name also names the store's build folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .workers import RDF_FORMATS, RESULTS_FORMATS, format_name

log = logging.getLogger("ssikg")

CACHE_HEADER = "SSIKG-Cache"

# Texts without these letters need no tokenizing (most queries); the others are read as
# SPARQL tokens, so "service" in a label, a comment or an IRI (common here: SSI stands for
# "service de sécurité intérieure") does not make a query uncacheable.
_MAY_BE_UNCACHEABLE = re.compile(r"rand|now|uuid|bnode|service|\\u", re.IGNORECASE)  # \u: escaped IRIs
# Calls whose value differs from one evaluation to the next (validate-on-write refuses them too:
# ssikg.validation.check_update runs an update twice and must see the same choice both times).
NON_DETERMINISTIC_CALLS = ("RAND", "NOW", "UUID", "STRUUID", "BNODE")
_MAY_CALL = re.compile(r"rand|now|uuid|bnode", re.IGNORECASE)  # without "service": French labels say it
_REMEMBERED_TEXT = 8192  # verdicts on longer texts are not kept (bounded memory)


def deterministic(query: str) -> bool:
    """Whether evaluating ``query`` twice on the same data must give the same answer."""
    if not _MAY_BE_UNCACHEABLE.search(query):
        return True
    return _read_deterministic(query) if len(query) > _REMEMBERED_TEXT else _remembered(query)


def mints_blank_nodes(query: str) -> bool:
    """Whether ``query`` is a CONSTRUCT that may write blank nodes of its own (``_:x`` or ``[…]``
    in its template, or in the pattern of ``CONSTRUCT WHERE``): each evaluation names them
    afresh, so two answers are isomorphic but not byte-identical.  (A blank node of the store
    keeps its label; a ``[`` in the WHERE clause makes this err on the safe side.)"""
    if "_:" not in query and "[" not in query:
        return False
    return _read_mints_blank_nodes(query) if len(query) > _REMEMBERED_TEXT else _remembered_mints(query)


def _read_mints_blank_nodes(query: str) -> bool:
    from .sparql_lexer import tokenize

    try:
        tokens = tokenize(query)
    except ValueError:
        return False
    form = next((token.text.upper() for token in tokens if token.keyword("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")), "")
    return form == "CONSTRUCT" and any(
        (token.kind == "pname" and token.prefix == "_") or (token.kind == "punct" and token.text == "[")
        for token in tokens)


def non_deterministic_calls(text: str) -> list[str]:
    """The non-deterministic functions ``text`` calls (upper case, first use order), read as SPARQL
    tokens; [] when there are none or the text cannot be tokenized (its parser then says why)."""
    if not _MAY_CALL.search(text):
        return []
    from .sparql_lexer import tokenize

    try:
        names = [token.text.upper() for token in tokenize(text) if token.keyword(*NON_DETERMINISTIC_CALLS)]
    except ValueError:
        return []
    return list(dict.fromkeys(names))


def _read_deterministic(query: str) -> bool:
    from .sparql_guard import Refused, outbound_targets
    from .sparql_lexer import tokenize

    try:
        if any(token.keyword(*NON_DETERMINISTIC_CALLS) for token in tokenize(query)):
            return False
        return not outbound_targets(query)  # SERVICE reads another endpoint's data
    except (Refused, ValueError):
        return False


_remembered = functools.lru_cache(maxsize=512)(_read_deterministic)
_remembered_mints = functools.lru_cache(maxsize=512)(_read_mints_blank_nodes)


@dataclass(frozen=True)
class CachedResult:
    kind: str
    format: object
    body: bytes
    headers: tuple[tuple[str, str], ...]
    shared: bool = False  # read from a file another server process kept


class VersionedLRU:
    """A bounded, thread-safe LRU of byte-sized entries whose keys start with a store
    version: the first entry of a newer version drops every older one (they are stale)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 16
        self._entries: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def keep(self, key: tuple, value, size: int) -> bool:
        """Keep ``value`` (``size`` bytes) under ``key``; False when it is too large to be worth a place."""
        if size > self.max_entry_bytes:
            return False
        with self._lock:
            if key[0] != self._version:  # the store changed: every older entry is stale
                self._entries.clear()
                self._bytes = 0
                self._version = key[0]
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _evicted_key, (_value, evicted_size) = self._entries.popitem(last=False)
                self._bytes -= evicted_size
            return True

    def stats(self) -> dict:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes, "max_bytes": self.max_bytes}


class ResultCache(VersionedLRU):
    """Query results for one store, keyed by everything that decides their bytes; with
    ``shared``, also those the other processes serving the same read-only store kept."""

    def __init__(self, max_bytes: int, shared: SharedResults | None = None):
        super().__init__(max_bytes)
        self.shared = shared

    @classmethod
    def for_store(cls, store, settings) -> ResultCache | None:
        size = cache_bytes(store, settings)
        if not size:
            return None
        folder = settings.get("result_cache_dir")
        if folder and getattr(store, "writable", True):
            log.info("result_cache_dir is not used: only servers of a read-only store share results")
            folder = None
        shared = SharedResults(Path(folder), str(store.folder), size) if folder else None
        return cls(size, shared)

    def get(self, key: tuple) -> CachedResult | None:
        hit = super().get(key)
        if hit is None and self.shared is not None:
            hit = self.shared.get(key)
            if hit is not None:
                self.keep(key, dataclasses.replace(hit, shared=False), _entry_size(key, hit.body))
        return hit

    @staticmethod
    def key(job: dict, version: str) -> tuple | None:
        """The entry's key, or None when the query's answer may differ next time."""
        if not deterministic(job["query"]):
            return None
        substitutions = job.get("substitutions") or {}
        return (version, job["query"], job.get("base_iri"),
                _frozen(job.get("default_graphs")), _frozen(job.get("named_graphs")),
                tuple(sorted((str(k), str(v)) for k, v in substitutions.items())),
                tuple(sorted((job.get("prefixes") or {}).items())),
                job.get("solutions_format"), job.get("graph_format"), job.get("max_rows"))

    def put(self, key: tuple, kind: str, fmt, body: bytes, headers: dict[str, str]) -> bool:
        """Keep a whole result; False when it is too large to be worth a place."""
        result = CachedResult(kind, fmt, body, tuple(headers.items()))
        kept = self.keep(key, result, _entry_size(key, body))
        if kept and self.shared is not None:
            self.shared.put(key, result)
        return kept


class SharedResults:
    """Results kept as files in ``folder`` by the server processes of one read-only store.

    A file is named by a hash of the store's build folder (``scope``) and the entry's
    key, written under a temporary name and renamed into place, so a reader sees a
    whole entry or none.  The folder holds about ``max_bytes``: whenever a process
    has written an eighth of that since it last looked, it deletes the least recently
    used files (a hit touches its file) until three quarters are left.  Failing to read
    or write a file only costs an evaluation."""

    _MAGIC = b"ssikg-result-1\n"

    def __init__(self, folder: Path, scope: str, max_bytes: int):
        self.folder, self.scope, self.max_bytes = Path(folder), scope, max_bytes
        self._written = 0
        self._lock = threading.Lock()
        self._warned = False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._failed("create", exc)

    def _path(self, key: tuple) -> Path:
        digest = hashlib.sha256(repr((self.scope, key)).encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / f"{digest[:40]}.result"

    def get(self, key: tuple) -> CachedResult | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        result = self._decode(data)
        if result is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: pruning spares it
        return result

    def put(self, key: tuple, result: CachedResult) -> None:
        table = RDF_FORMATS if result.kind == "graph" else RESULTS_FORMATS
        header = json.dumps({"kind": result.kind, "format": format_name(result.format, table),
                             "headers": result.headers}).encode()
        data = self._MAGIC + len(header).to_bytes(4, "big") + header + result.body
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as exc:
            self._failed("write", exc)
            temporary.unlink(missing_ok=True)
            return
        with self._lock:
            self._written += len(data)
            due = self._written * 8 >= self.max_bytes
            if due:
                self._written = 0
        if due:
            self.prune()

    def prune(self) -> None:
        """Delete the least recently used files until three quarters of ``max_bytes`` are left."""
        entries, total = [], 0
        try:
            with os.scandir(self.folder) as found:
                for entry in found:
                    try:
                        status = entry.stat()
                    except OSError:
                        continue
                    entries.append((status.st_mtime, status.st_size, entry.path))
                    total += status.st_size
        except OSError as exc:
            self._failed("list", exc)
            return
        if total <= self.max_bytes:
            return
        entries.sort()
        for _mtime, size, path in entries:
            if total <= self.max_bytes * 3 // 4:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size

    def _decode(self, data: bytes) -> CachedResult | None:
        start = len(self._MAGIC)
        if not data.startswith(self._MAGIC) or len(data) < start + 4:
            return None
        size = int.from_bytes(data[start:start + 4], "big")
        try:
            header = json.loads(data[start + 4:start + 4 + size])
            table = RDF_FORMATS if header["kind"] == "graph" else RESULTS_FORMATS
            return CachedResult(header["kind"], table[header["format"]], data[start + 4 + size:],
                                tuple((name, value) for name, value in header["headers"]), shared=True)
        except (ValueError, KeyError, TypeError):
            return None

    def _failed(self, action: str, exc: OSError) -> None:
        if not self._warned:  # once: a full or read-only folder would otherwise log every query
            self._warned = True
            log.warning("result_cache_dir %s: cannot %s (%s); results are not shared", self.folder,
                        action, exc)


def cache_bytes(store, settings) -> int:
    """The result cache's size for ``store``: ``result_cache_mb``, and 0 (no cache) unless
    the store is embedded."""
    megabytes = float(settings.get("result_cache_mb") or 0)
    if megabytes <= 0 or getattr(store, "kind", None) != "embedded":
        return 0
    return int(megabytes * 1024 * 1024)


def _entry_size(key: tuple, body: bytes) -> int:
    return len(body) + len(key[1])  # the result and the query text it is kept under


def _frozen(graphs) -> tuple | None:
    return None if graphs is None else tuple(graphs)
