"""The result cache: query results kept per store version, so that a
query asked again (a stored query behind a dashboard, the query UI's examples, the
org chart) is answered without a worker, a concurrency slot or an evaluation.

What may be kept is narrow on purpose:

* only an embedded store's results: its ``version`` changes with every write made
  through this server, and a read-only store cannot change under it; a remote
  engine's data can change behind ssikg's back, so its results are never kept;
* only deterministic queries: ``RAND()``, ``NOW()``, ``UUID()``, ``STRUUID()`` and
  ``SERVICE`` (another endpoint's data) make a query uncacheable, read as SPARQL
  tokens (the word "service" in a label or comment does not);
* only results of at most a sixteenth of the cache: one that arrived whole is kept at
  once; a streamed one is collected as it goes out and kept when it reaches its end,
  and is dropped as soon as it grows past that size (a large result is never held).

The cache holds ``result_cache_mb`` MiB per server process (least recently used
entries go first); 0 turns it off.  Every key names the store version, the query
text, its dataset, bound parameters and the negotiated format, so a hit answers
exactly what evaluating the query would.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

CACHE_HEADER = "SSIKG-Cache"

# Texts without these letters need no tokenizing (most queries); the others are read as
# SPARQL tokens, so "service" in a label, a comment or an IRI (common here: SSI stands for
# "service de sécurité intérieure") does not make a query uncacheable.
_MAY_BE_UNCACHEABLE = re.compile(r"rand|now|uuid|service|\\u", re.IGNORECASE)  # \u: escaped IRIs
_NON_DETERMINISTIC_CALLS = ("RAND", "NOW", "UUID", "STRUUID")
_REMEMBERED_TEXT = 8192  # verdicts on longer texts are not kept (bounded memory)


def deterministic(query: str) -> bool:
    """Whether evaluating ``query`` twice on the same data must give the same answer."""
    if not _MAY_BE_UNCACHEABLE.search(query):
        return True
    return _read_deterministic(query) if len(query) > _REMEMBERED_TEXT else _remembered(query)


def _read_deterministic(query: str) -> bool:
    from .sparql_guard import Refused, outbound_targets
    from .sparql_lexer import tokenize

    try:
        if any(token.keyword(*_NON_DETERMINISTIC_CALLS) for token in tokenize(query)):
            return False
        return not outbound_targets(query)  # SERVICE reads another endpoint's data
    except (Refused, ValueError):
        return False


_remembered = functools.lru_cache(maxsize=512)(_read_deterministic)


@dataclass(frozen=True)
class CachedResult:
    kind: str
    format: object
    body: bytes
    headers: tuple[tuple[str, str], ...]


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
    """Query results for one store, keyed by everything that decides their bytes."""

    @classmethod
    def for_store(cls, store, settings) -> ResultCache | None:
        size = cache_bytes(store, settings)
        return cls(size) if size else None

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
        return self.keep(key, CachedResult(kind, fmt, body, tuple(headers.items())), _entry_size(key, body))


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
