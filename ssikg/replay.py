"""The replay front: a repeated ``GET /sparql`` whose answer the view took whole from the
result cache is answered again before Flask, with the status, headers and bytes the
view produced (and a request id of its own).  A warm query then costs the WSGI
server's time and little more: Flask's request context, routing, hooks and the view
are most of a cached answer's cost (see bench/RESULTS.md).

What is replayed is narrow on purpose:

* only what the view marked (``REPLAYABLE`` in the WSGI environ): a query answered
  whole from the result cache, whose bytes depend on the request and the store
  version alone, as the result cache's own rules guarantee (:mod:`ssikg.result_cache`);
* keyed by the store version, the path, the query string, the URL scheme and script
  root, and every request header except those that cannot change an answer
  (``IGNORED_HEADERS``), so another ``Accept``, ``Accept-Encoding``, ``Origin``, ``Host``
  or ``X-Forwarded-Host/-Proto/-Prefix`` is another entry, and a header the front does
  not know is a reason to keep apart, never to share.  A proxy's ``X-Forwarded-For`` and
  ``X-Real-IP`` name the client, which no answer depends on: one entry serves every
  client behind the proxy.  Behind trusted proxies (``forwarded_proxies``) the front sees
  the environ ProxyFix has already corrected;
* never a conditional or ranged request (Flask answers those, 304 included), never a
  request with a body.

Its entries take at most an eighth of ``result_cache_mb`` besides the result cache,
each at most a sixteenth of that (small answers: for a large one the transfer, not
the request path, is the cost).  A replay is counted as a result-cache hit, in the
request metrics and in the access log like any request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import http
from .result_cache import CACHE_HEADER, VersionedLRU, cache_bytes

REPLAYABLE = "ssikg.replayable"
PATH = "/sparql"
IGNORED_HEADERS = frozenset({"HTTP_USER_AGENT", "HTTP_CONNECTION", "HTTP_KEEP_ALIVE", "HTTP_REFERER",
                             "HTTP_X_REQUEST_ID", "HTTP_TE",
                             # who the client is (differs per client behind a proxy), never what it gets
                             "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"})
_NOT_REPLAYED = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
                 "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE")
_OK = "200 OK"


@dataclass(frozen=True)
class Replay:
    headers: tuple[tuple[str, str], ...]  # as the view sent them, without X-Request-Id
    body: bytes
    mimetype: str | None


class ReplayFront:
    """WSGI middleware around the Flask app (see the module docstring)."""

    def __init__(self, wsgi_app, store, cache: VersionedLRU):
        self.wsgi_app, self.store, self.cache = wsgi_app, store, cache

    def __call__(self, environ, start_response):
        if not _may_replay(environ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        key = _key(self.store.version, environ)
        replay = self.cache.get(key)
        if replay is None:
            return self._record(environ, start_response, key)
        request_id = http.request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        start_response(_OK, [*replay.headers, ("X-Request-Id", request_id)])
        http.count("result_cache_hits")
        http.record_request(request_id, "GET", PATH, PATH, 200, time.perf_counter() - started,
                            replay.mimetype, len(replay.body), environ.get("REMOTE_ADDR"),
                            environ.get("HTTP_USER_AGENT") or None, http.proxy_address(environ))
        return [replay.body]

    def _record(self, environ, start_response, key: tuple):
        sent: list = []

        def remember(status, headers, exc_info=None):
            sent[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, remember)
        if not environ.get(REPLAYABLE) or not sent or sent[0] != _OK:
            return body
        try:
            data = b"".join(body)  # marked whole by the view: one piece, already in memory
        finally:
            close = getattr(body, "close", None)
            if close:
                close()
        headers = tuple((name, value) for name, value in sent[1] if name.lower() != "x-request-id")
        mimetype = next((value.split(";")[0] for name, value in headers if name.lower() == "content-type"), None)
        self.cache.keep(key, Replay(headers, data, mimetype), len(data) + len(key[1]) + 64 * len(headers))
        return [data]

    def stats(self) -> dict:
        return self.cache.stats()


def _may_replay(environ) -> bool:
    return (environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == PATH
            and environ.get("CONTENT_LENGTH") in (None, "", "0")
            and not any(name in environ for name in _NOT_REPLAYED))


def _key(version: str, environ) -> tuple:
    """The entry's key: the query string second (its size is counted with the entry)."""
    return (version, environ.get("QUERY_STRING", ""), _headers(environ),
            environ.get("wsgi.url_scheme", ""), environ.get("SCRIPT_NAME", ""))


def _headers(environ) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in environ.items()
                        if name.startswith("HTTP_") and name not in IGNORED_HEADERS))


def mark_replayable(environ, headers) -> None:
    """Called by the view: this response is a whole result from the result cache."""
    if headers.get(CACHE_HEADER) == "hit":
        environ[REPLAYABLE] = True


def install(app) -> ReplayFront | None:
    """Put the front before ``app``'s WSGI callable when its store has a result cache."""
    store = app.extensions["ssikg.store"]
    size = cache_bytes(store, app.config["SSIKG"])
    if not size:
        return None
    front = ReplayFront(app.wsgi_app, store, VersionedLRU(size // 8))
    app.wsgi_app = front
    app.extensions["ssikg.replay"] = front
    return front
