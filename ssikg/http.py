"""HTTP hygiene shared by every route: CORS for reads, gzip when asked,
structured request logging, a request id, and the metrics that ``/metrics``
exposes in the Prometheus text format (this process's, or under a server of
several processes the sum of theirs: :func:`share_metrics`).

Other modules count events with :func:`count` (e.g. ``count("timeouts")``,
``count("refusals")``); :func:`install` hooks everything into an app.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, current_app, g, has_app_context, request

access_log = logging.getLogger("ssikg.access")
ABORTED_KEY = "ssikg.aborted"  # WSGI environ: why a streamed answer was cut (execution.mark_aborted)

# ---------------------------------------------------------------------------
# Metrics

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Tally:
    """Counters and latency histograms of one process, or summed over several."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for key, value in other.requests.items():
            self.requests[key] = self.requests.get(key, 0) + value
        for name, value in other.events.items():
            self.events[name] = self.events.get(name, 0) + value
        for route, values in other.buckets.items():
            mine = self.buckets.setdefault(route, [0] * len(LATENCY_BUCKETS))
            self.buckets[route] = [a + b for a, b in zip(mine, values, strict=True)]
            self.sums[route] = self.sums.get(route, 0.0) + other.sums.get(route, 0.0)
            self.counts[route] = self.counts.get(route, 0) + other.counts.get(route, 0)

    def to_json(self) -> dict:
        return {"requests": [[*key, value] for key, value in self.requests.items()], "events": self.events,
                "latency": {route: [self.buckets[route], self.sums[route], self.counts[route]]
                            for route in self.buckets}}

    @classmethod
    def from_json(cls, data: dict) -> Tally:
        latency = data["latency"]
        return cls({(route, method, int(status)): int(value)
                    for route, method, status, value in data["requests"]},
                   {name: int(value) for name, value in data["events"].items()},
                   {route: [int(v) for v in entry[0]] for route, entry in latency.items()},
                   {route: float(entry[1]) for route, entry in latency.items()},
                   {route: int(entry[2]) for route, entry in latency.items()})


class Metrics:
    """Thread-safe counters and a latency histogram per route."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.events: dict[str, int] = defaultdict(int)
        self.latency_buckets: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = "OTHER"  # one series for every made-up method: the label set stays bounded
        with self._lock:
            self.requests[(route, method, status)] += 1
            buckets = self.latency_buckets.setdefault(route, [0] * len(LATENCY_BUCKETS))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self.latency_sum[route] += seconds
            self.latency_count[route] += 1

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.events[name] += amount

    def snapshot(self) -> Tally:
        with self._lock:
            return Tally(dict(self.requests), dict(self.events),
                         {k: list(v) for k, v in self.latency_buckets.items()},
                         dict(self.latency_sum), dict(self.latency_count))


METRICS = Metrics()
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"})

# Events every deployment reports, even at zero, so dashboards find them.
KNOWN_EVENTS = {
    "timeouts": "Queries stopped by the query time limit.",
    "refusals": "Operations refused by safety rules (SERVICE, LOAD, limits).",
    "updates": "SPARQL updates committed.",
    "graph_store_writes": "Graph Store Protocol writes committed.",
    "truncations": "Results cut at the configured row limit.",
    "result_cache_hits": "Queries answered from the result cache.",
    "result_cache_misses": "Cacheable queries evaluated (and kept when they fit).",
    "result_cache_shared_hits": "Result cache hits on results another server process kept (result_cache_dir).",
    "aborted_answers": "Streamed answers cut before their end (access log: aborted), their status sent.",
}


def count(name: str, amount: int = 1) -> None:
    """Increment the event counter ``name`` (exported as ssikg_<name>_total)."""
    METRICS.count(name, amount)


class SharedMetrics:
    """This process's counts kept as a file in a folder shared by the server's processes,
    so that whichever process answers ``/metrics`` reports the whole server (as
    prometheus_client's multiprocess mode does): its own live counts plus every other
    process's file.  A process writes its file every ``interval`` seconds, before it
    answers ``/metrics`` (so a later scrape answered by another process never shows less)
    and when it exits.  A dead process's file stays (counters never decrease); its gauges
    drop out: each process holds a lock on a file of its own for as long as it lives."""

    def __init__(self, folder: Path, gauges: Callable[[], dict[str, int]], interval: float = 1.0):
        self.folder = Path(folder)
        self.name = f"{os.getpid()}-{os.urandom(4).hex()}"  # a reused pid never takes a dead one's file
        self._gauges = gauges
        self._lock = threading.Lock()
        self._written: tuple | None = None
        self._alive = open(self.folder / f"{self.name}.alive", "wb")  # noqa: SIM115 - held for life
        fcntl.flock(self._alive, fcntl.LOCK_EX)
        self._stopped = threading.Event()
        threading.Thread(target=self._write_every, args=(interval,), name="ssikg-metrics-share",
                         daemon=True).start()

    def publish(self) -> tuple[Tally, dict[str, int]]:
        """Write this process's counts and gauges to its file; return them."""
        with self._lock:  # one writer at a time: an older snapshot never replaces a newer one
            tally, gauges = METRICS.snapshot(), self._gauges()
            state = {"tally": tally.to_json(), "gauges": gauges}
            if state != self._written:
                temporary = self.folder / f"{self.name}.json.tmp"
                temporary.write_text(json.dumps(state), encoding="utf-8")
                os.replace(temporary, self.folder / f"{self.name}.json")
                self._written = state
        return tally, gauges

    def server_view(self) -> tuple[Tally, dict[str, int]]:
        """Counters summed over every process that ever served, gauges over the living."""
        tally, gauges = self.publish()
        gauges = dict(gauges)
        for path in sorted(self.folder.glob("*.json")):
            other = path.name[:-len(".json")]
            if other == self.name:
                continue
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                tally.add(Tally.from_json(state["tally"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # removed as the server stops, or not ours: skip it
            if self._is_alive(other):
                for name, value in state.get("gauges", {}).items():
                    gauges[name] = gauges.get(name, 0) + value
        return tally, gauges

    def _is_alive(self, name: str) -> bool:
        try:
            with open(self.folder / f"{name}.alive", "rb") as held:
                fcntl.flock(held, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: readers never block each other
        except BlockingIOError:
            return True  # its owner holds it
        except OSError:
            return False
        return False

    def _write_every(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            with contextlib.suppress(OSError):  # the folder went with the server: it is stopping
                self.publish()

    def close(self) -> None:
        """Write the last counts (the process is leaving) and stop the writer."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self.publish()
        self._alive.close()


_shared: SharedMetrics | None = None


def share_metrics(folder: Path, gauges: Callable[[], dict[str, int]]) -> SharedMetrics:
    """Report the whole server from ``/metrics`` (see :class:`SharedMetrics`); ``gauges``
    gives this process's own gauges, summed over the living processes."""
    global _shared
    _shared = SharedMetrics(folder, gauges)
    return _shared


def stop_sharing_metrics() -> None:
    """Called as a server process exits: its last counts stay in the shared folder."""
    global _shared
    if _shared is not None:
        _shared.close()
        _shared = None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def store_size(store) -> int:
    """Quads in ``store``, counted once per store version (counting walks the whole store)."""
    from .memo import store_memo

    return store_memo("store-size", store.version, lambda: len(store), maxsize=2)


def cache_gauges(result_cache=None, replay=None) -> dict[str, int]:
    """The gauges of this process's caches, as ``/metrics`` names them (without ``ssikg_``)."""
    gauges = {}
    for name, cache in (("result_cache", result_cache), ("replay", replay)):
        if cache is not None:
            stats = cache.stats()
            gauges[f"{name}_entries"], gauges[f"{name}_bytes"] = stats["entries"], stats["bytes"]
    return gauges


GAUGE_HELP = {
    "result_cache_entries": "Results held by the server processes' result caches.",
    "result_cache_bytes": "Bytes held by the server processes' result caches.",
    "replay_entries": "Cached answers the server processes replay before Flask.",
    "replay_bytes": "Bytes held by the server processes' replay fronts.",
}


def prometheus_text(store=None, gauges: dict[str, int] | None = None) -> str:
    """The Prometheus text of the whole server: this process's counts, plus the other
    processes' when they share them (:func:`share_metrics`), and ``gauges`` (this
    process's: see :func:`cache_gauges`) summed likewise over the living ones."""
    if _shared is not None:
        tally, gauges = _shared.server_view()
    else:
        tally, gauges = METRICS.snapshot(), gauges or {}
    lines = ["# HELP ssikg_http_requests_total HTTP requests by route, method and status.",
             "# TYPE ssikg_http_requests_total counter"]
    for (route, method, status), value in sorted(tally.requests.items()):
        lines.append(f'ssikg_http_requests_total{{route="{_escape(route)}",method="{_escape(method)}",'
                     f'status="{status}"}} {value}')
    lines += ["# HELP ssikg_http_request_duration_seconds Time to answer: to the last byte of a streamed body.",
              "# TYPE ssikg_http_request_duration_seconds histogram"]
    for route in sorted(tally.buckets):
        label = f'route="{_escape(route)}"'
        for bound, value in zip(LATENCY_BUCKETS, tally.buckets[route], strict=True):
            lines.append(f'ssikg_http_request_duration_seconds_bucket{{{label},le="{bound}"}} {value}')
        lines.append(f'ssikg_http_request_duration_seconds_bucket{{{label},le="+Inf"}} {tally.counts[route]}')
        lines.append(f"ssikg_http_request_duration_seconds_sum{{{label}}} {tally.sums[route]:.6f}")
        lines.append(f"ssikg_http_request_duration_seconds_count{{{label}}} {tally.counts[route]}")
    for name in sorted(set(KNOWN_EVENTS) | set(tally.events)):
        metric = "ssikg_" + "".join(c if c.isalnum() else "_" for c in name) + "_total"
        lines.append(f"# HELP {metric} {KNOWN_EVENTS.get(name, 'Events counted as ' + name + '.')}")
        lines.append(f"# TYPE {metric} counter")
        lines.append(f"{metric} {tally.events.get(name, 0)}")
    if store is not None:
        lines += ["# HELP ssikg_store_quads Quads in the store.", "# TYPE ssikg_store_quads gauge",
                  f"ssikg_store_quads {store_size(store)}",
                  "# HELP ssikg_store_named_graphs Named graphs in the store.",
                  "# TYPE ssikg_store_named_graphs gauge",
                  f"ssikg_store_named_graphs {len(store.named_graphs())}"]
    for name in sorted(gauges):
        lines += [f"# HELP ssikg_{name} {GAUGE_HELP.get(name, name)}", f"# TYPE ssikg_{name} gauge",
                  f"ssikg_{name} {gauges[name]}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# gzip

COMPRESSIBLE = ("text/", "application/json", "application/ld+json", "application/sparql-results",
                "application/n-triples", "application/n-quads", "application/trig",
                "application/rdf+xml", "application/xml", "application/javascript",
                "image/svg+xml")


def _compressible(response: Response) -> bool:
    mimetype = response.mimetype or ""
    return mimetype.startswith(COMPRESSIBLE) and "Content-Encoding" not in response.headers


def gzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a stream chunk by chunk (sync-flushed, so streaming survives)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    try:
        for chunk in chunks:
            if chunk:
                data = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
                if data:
                    yield data
        yield compressor.flush(zlib.Z_FINISH)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def _apply_gzip(response: Response) -> None:
    # HEAD gets the headers GET would (RFC 9110 §9.3.2): encoding, ETag variant, length.
    if not 200 <= response.status_code < 300 or response.status_code in (204, 206):
        return
    if response.direct_passthrough or "Accept-Ranges" in response.headers:
        return  # files served with byte ranges: compressing would break the ranges
    if not _compressible(response):
        return
    if not response.is_streamed and (response.calculate_content_length() or 0) < 200:
        _add_vary(response, "Accept-Encoding")  # too small to gain: no need to read the header
        return
    if not accepts_gzip():
        _add_vary(response, "Accept-Encoding")
        return
    if response.is_streamed:
        if request.method != "HEAD":  # a HEAD body is never read: nothing to compress
            response.response = gzip_chunks(response.response)
    else:
        response.set_data(gzip_chunks_all(response.get_data()))
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Content-Length", None)
    _add_vary(response, "Accept-Encoding")
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag + "-gzip")


def validators_apply(store=None) -> bool:
    """Whether responses made from ``store`` (default: the current app's) may be validated.

    The one rule for every ETag and 304: a store whose version is not reliable (a remote
    engine, whose data can change behind ssikg's back without changing any cheap digest:
    ``version_is_reliable = False``) gives no 304 (:func:`held_etag`, so
    :func:`answer_if_held` and the after-request revalidation, answer None), no weak
    version ETag (:func:`conditional`, and any set directly: dropped after the request),
    and ``Cache-Control: no-store``.  A strong ETag a view sets itself (the Graph Store's,
    for ``If-Match`` on writes) stays, without ever giving a 304."""
    if store is None:
        if not has_app_context():
            return True
        store = current_app.extensions.get("ssikg.store")
    return bool(getattr(store, "version_is_reliable", True))


def held_etag(etag: str) -> str | None:
    """The variant of the entity ``etag`` (plain, or gzip: see _apply_gzip) that
    If-None-Match names, by the weak comparison RFC 9110 §13.1.2 prescribes; None when
    it names neither, or when the store's validators do not apply (:func:`validators_apply`).
    A 304 carries that variant, the validator of the response the client holds, so that a
    cache can freshen it (RFC 9111 §4.3.4)."""
    candidates = request.if_none_match
    if not candidates or not validators_apply():
        return None
    # the gzip copy is one this request could be given only if it takes gzip: a client refusing
    # it must not be told that a cache's compressed copy is still good for it
    for variant in (etag, etag + "-gzip") if accepts_gzip() else (etag,):
        if candidates.contains_weak(variant):
            return variant
    return None


def accepts_gzip() -> bool:
    accepted = request.accept_encodings
    return bool(accepted) and accepted["gzip"] > 0


READ_CACHE_CONTROL = "public, no-cache"  # cacheable, but always revalidated (ETags follow the store)


def version_etag(version: str, *parts: str) -> str:
    """An ETag for a representation made from the store at ``version`` and ``parts`` (hashed:
    the parts, a focus IRI say, may hold anything; an ETag header may not)."""
    digest = hashlib.sha256("\0".join((version, *parts)).encode("utf-8", "surrogatepass"))
    return f"{version}-{digest.hexdigest()[:24]}"


def conditional(response: Response, version: str, *parts: str) -> Response:
    """``response`` with a weak ETag naming the store ``version`` and ``parts``, and a 304 in
    its place when the client holds it (weak: equivalent, not byte-identical, renderings).
    Neither over a store whose version is not reliable (:func:`validators_apply`)."""
    if not validators_apply():
        response.headers["Cache-Control"] = "no-store"
        return response
    response.set_etag(version_etag(version, *parts), weak=True)
    response.headers.setdefault("Cache-Control", READ_CACHE_CONTROL)
    compressible = _compressible(response)
    response = response.make_conditional(request)
    if response.status_code == 304 and compressible:
        _add_vary(response, "Accept-Encoding")  # the 200's Vary, once gzip has had its say
    return response


def not_modified(etag: str, vary: str = "Accept", *, weak: bool = False) -> Response:
    """The 304 for a representation the client holds, answered before any work is done;
    ``vary`` is the 200's Vary before gzip adds Accept-Encoding ("" for none)."""
    response = Response(status=304)
    response.set_etag(etag, weak)
    response.headers["Vary"] = ", ".join(v for v in (vary, "Accept-Encoding") if v)  # as gzip leaves the 200's
    response.headers["Cache-Control"] = READ_CACHE_CONTROL
    return response


def answer_if_held(etag: str, *, weak: bool = True, vary: str = "",
                   headers: dict[str, str] | None = None) -> Response | None:
    """The 304 for the representation ``etag`` names when the client holds it, else None:
    for views that know their ETag before doing any work, so a revalidation runs no query.
    ``vary`` and ``headers`` (Link, Content-Location…) are those the 200 would carry."""
    held = held_etag(etag)
    if held is None:
        return None
    response = not_modified(held, vary, weak=weak)
    response.headers.update(headers or {})
    return response


def _revalidate(response: Response) -> Response:
    """Answer 304 for any GET whose ETag the client already holds (gzip variant included),
    so every view that sets an ETag gets conditional requests right."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    etag, weak = response.get_etag()
    held = held_etag(etag) if etag else None
    if held is None:
        return response
    close = getattr(response.response, "close", None)
    if close:
        close()
    answer = Response(status=304)
    for name in ("Vary", "Cache-Control", "Content-Location", "Expires", "Last-Modified"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    if _compressible(response) and not response.direct_passthrough:
        _add_vary(answer, "Accept-Encoding")  # as _apply_gzip would have on the 200
    answer.set_etag(held, weak)
    return answer


def _drop_version_validators(response: Response) -> None:
    """Over a store whose version is not reliable: no weak ETag (every one is made of the
    store's version), and what would have been revalidated is not stored at all."""
    etag, weak = response.get_etag()
    if etag and weak:
        del response.headers["ETag"]
        response.headers["Cache-Control"] = "no-store"


def gzip_chunks_all(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _add_vary(response: Response, header: str) -> None:
    values = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    if header.lower() not in {v.lower() for v in values}:
        values.append(header)
    response.headers["Vary"] = ", ".join(values)


# ---------------------------------------------------------------------------
# CORS

READ_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
# what a script may read of an answer: validators, paging links, and whether a result was cut
EXPOSED_HEADERS = "ETag, Content-Type, Link, Location, X-Request-Id, SSIKG-Truncated, SSIKG-Max-Rows, SSIKG-Cache"


def _apply_cors(app: Flask, response: Response) -> None:
    allowed = app.config["SSIKG"].get("cors_origins") or ()
    if "*" not in allowed:
        # the answer names the origin when it is listed: a shared cache must key on it, for
        # answers to other origins and to no origin alike
        _add_vary(response, "Origin")
    origin = request.headers.get("Origin")
    if "*" in allowed:
        # always, Origin or not: a copy stored for a request without one serves a fetch() too
        response.headers["Access-Control-Allow-Origin"] = "*"
        if not origin:
            return
    elif not origin:
        return
    elif origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
    else:
        return
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        # the read methods this URL has (Flask's Allow): a GET-only route offers no POST
        route_methods = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        response.headers["Access-Control-Allow-Methods"] = ", ".join(
            m for m in READ_METHODS if not route_methods or m in route_methods)
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Accept, Content-Type")
        response.headers["Access-Control-Max-Age"] = "600"
        _add_vary(response, "Access-Control-Request-Headers")  # echoed back: a cache must key on it


# ---------------------------------------------------------------------------
# Hooks


_REQUEST_IDS = itertools.count(1)
_REQUEST_ID_PREFIX = os.urandom(4).hex()  # per process: ids stay unique across processes


_GIVEN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")


def request_id_for(given: str | None) -> str:
    """The client's ``X-Request-Id`` when it is a plain token (it is echoed in a header and
    logged), else a new one."""
    return given if given and _GIVEN_REQUEST_ID.fullmatch(given) else new_request_id()


def new_request_id() -> str:
    """A 16-hex-digit id unique to this request (a random per-process prefix and a counter:
    ``uuid4`` cost a ``getrandom`` syscall per request, 4 % of a small query's profile)."""
    return f"{_REQUEST_ID_PREFIX}{next(_REQUEST_IDS) & 0xFFFFFFFF:08x}"


def _route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "(unmatched)"


# Pages run only the site's own scripts: no inline script, and so no javascript: link, can
# run, whatever IRI or text the data holds.
PAGE_POLICY = "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"


def install(app: Flask) -> None:
    """Register the hooks on ``app`` (called once from create_app)."""

    @app.before_request
    def _start():
        g.ssikg_started = time.perf_counter()
        g.ssikg_request_id = request_id_for(request.headers.get("X-Request-Id"))

    @app.after_request
    def _finish(response: Response):
        if not validators_apply():
            _drop_version_validators(response)
        response = _revalidate(response)
        _drop_type_of_no_content(response)
        _apply_cors(app, response)
        _apply_gzip(response)
        if response.mimetype in ("text/html", "image/svg+xml"):  # an SVG opened alone runs its links too
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        request_id = getattr(g, "ssikg_request_id", None)
        if request_id:
            response.headers.setdefault("X-Request-Id", request_id)
        started = getattr(g, "ssikg_started", None) or time.perf_counter()
        record = functools.partial(
            record_request, request_id, request.method, request.path, _route_label(), response.status_code,
            mimetype=response.mimetype, remote=request.remote_addr, agent=request.user_agent.string or None,
            proxy=proxy_address(request.environ))
        if response.is_streamed:
            # A streamed body's time is the answer's time: recorded when the server closes it
            # (sent, failed or abandoned by the client); its size is not measured, which would
            # mean reading the whole result into memory.
            # A body cut before its end says why in the WSGI environ (execution.mark_aborted).
            environ = request.environ
            response.call_on_close(lambda: record(elapsed=time.perf_counter() - started, size=None,
                                                  aborted=environ.get(ABORTED_KEY)))
        else:
            record(elapsed=time.perf_counter() - started, size=response.calculate_content_length())
        return response


def _drop_type_of_no_content(response: Response) -> None:
    """A 204, or an empty answer to OPTIONS or a write, describes no content: no Content-Type
    (Flask gives every response ``text/html`` by default)."""
    if response.status_code == 204 or (response.status_code in (200, 201) and not response.is_streamed
                                       and request.method in ("OPTIONS", "PUT", "POST", "DELETE")
                                       and not response.calculate_content_length()):
        response.headers.pop("Content-Type", None)


def proxy_address(environ) -> str | None:
    """The address of the trusted proxy the request came through, None without one: behind
    ``forwarded_proxies`` ProxyFix puts the client's address (from X-Forwarded-For) in
    REMOTE_ADDR and keeps the connecting proxy's here.  With ``forwarded_proxies`` = 0 the
    header is never read, so a client cannot choose the address it is logged under."""
    original = environ.get("werkzeug.proxy_fix.orig")
    if not original or not environ.get("HTTP_X_FORWARDED_FOR"):
        return None  # not through a proxy: the connecting address is the client's
    return original.get("REMOTE_ADDR")


def record_request(request_id: str | None, method: str, path: str, route: str, status: int,
                   elapsed: float, mimetype: str | None, size: int | None, remote: str | None,
                   agent: str | None, proxy: str | None = None, aborted: str | None = None) -> None:
    """Count a request in the metrics and write its access-log line (one JSON object):
    ``remote`` is the client's address, ``proxy`` (only behind trusted proxies) the address
    of the proxy that connected; ``aborted`` why a streamed answer was cut before its end
    (``timeout``, ``client-gone``, ``worker-died``, ``failed``, ``server-stopping``)."""
    METRICS.observe(route, method, status, elapsed)
    if aborted:
        METRICS.count("aborted_answers")
    if access_log.isEnabledFor(logging.INFO):
        line = {
            "event": "request", "id": request_id, "method": method, "path": path, "route": route,
            "status": status, "ms": round(elapsed * 1000, 2), "type": mimetype, "bytes": size,
            "remote": remote, "agent": agent,
        }
        if proxy:
            line["proxy"] = proxy
        if aborted:
            line["aborted"] = aborted
        access_log.info(json.dumps(line, ensure_ascii=False))
