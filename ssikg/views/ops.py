"""Operations routes (blueprint ``ops``): ``/health`` for liveness probes, ``/metrics``
in the Prometheus text exposition format (one view of the whole server, whatever
process answers), ``/limits`` for clients to discover the limits they will meet, and
``/robots.txt`` to keep crawlers off the costly routes, ``/.well-known/void`` for
catalogues and crawlers to find the dataset (VoID §7), ``/favicon.ico`` (the site's icon)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from .. import http
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..service_description import void_response

bp = Blueprint("ops", __name__)

# The development server (http.server) refuses request lines over 64 KiB; gunicorn's limit
# is set by ssikg.production, which records it in the app.
DEVELOPMENT_REQUEST_LINE = 65536


@bp.route("/health")
def health():
    store = get_store()
    try:
        triples, version = http.store_size(store), store.version
        status, code = "ok", 200
    except Exception as exc:  # noqa: BLE001 - a probe must answer, whatever broke
        triples, version, status, code = None, None, f"store unavailable: {exc}", 503
    response = jsonify({"status": status, "store_version": version, "triples": triples,
                        "store_kind": getattr(store, "kind", None)})
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/.well-known/void")
def void():
    return void_response()


@bp.route("/metrics")
def metrics():
    """Always 200: with the store's gauges when it answers, and ``ssikg_store_up`` 1 or 0
    (a remote engine that is down must not cost Prometheus every other metric)."""
    gauges = process_gauges(current_app)
    try:
        text, up = http.prometheus_text(get_store(), gauges), 1
    except SsikgError as exc:
        current_app.logger.warning("/metrics without the store's gauges: %s", exc.message)
        text, up = http.prometheus_text(None, gauges), 0
    text += ("# HELP ssikg_store_up Whether the store (or remote SPARQL backend) answered this scrape.\n"
             f"# TYPE ssikg_store_up gauge\nssikg_store_up {up}\n")
    response = Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def process_gauges(app: Flask) -> dict[str, int]:
    """This process's cache gauges (safe from any thread: no request context needed)."""
    executor = app.extensions.get("ssikg.executor")  # none before the first query
    return http.cache_gauges(getattr(executor, "results", None), app.extensions.get("ssikg.replay"))


def share_metrics(app: Flask, folder: Path) -> None:
    """Make ``/metrics`` report the whole server: ``folder`` is shared by its processes."""
    http.share_metrics(folder, lambda: process_gauges(app))


@bp.route("/limits")
def limits():
    """The limits a client meets, as values: never a token, a path or a credential."""
    from ..auth import writes_enabled
    from ..execution import MAX_NESTING

    settings = get_settings()
    writes = writes_enabled(settings) and getattr(get_store(), "writable", True)
    allowlist = [_endpoint_prefix(prefix) for prefix in settings.service_allowlist]
    response = jsonify({
        "query_timeout": settings.query_timeout,
        "max_rows": settings.max_rows or None,
        "max_query_length": settings.max_query_length or None,
        "max_body_bytes": settings.max_body_bytes or None,
        "max_request_line_bytes": _request_line_limit(),
        "max_nesting_depth": MAX_NESTING,
        "max_concurrent_queries": settings.max_concurrent_queries,  # per server process
        "max_concurrent_validations": settings.max_concurrent_validations,  # per server process
        "validate_max_triples": settings.validate_max_triples or None,
        "validation_timeout": settings.validation_timeout or None,
        "validation_memory_mb": settings.validation_memory_mb or None,
        "validate_on_write": bool(settings.validate_on_write),
        "validate_write_max_triples": (settings.validate_max_triples if settings.validate_write_max_triples is None
                                       else settings.validate_write_max_triples) or None,
        "queue_timeout": settings.queue_timeout,
        "retry_after": settings.retry_after,
        "writes_enabled": writes,
        # LOAD runs only in updates, so only with writes enabled and the token
        "service": {"enabled": bool(allowlist), "allowlist": allowlist,
                    "private_addresses": settings.service_allow_private},
        "load": {"enabled": bool(allowlist) and writes, "allowlist": allowlist if writes else []},
    })
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _endpoint_prefix(prefix: str) -> str:
    """An allowlisted prefix as scheme://host:port/path: the parts the SERVICE check compares,
    without any user name, password or query string it may carry."""
    parts = urlsplit(prefix)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


def _request_line_limit() -> int | None:
    """Bytes of request line (method, URL, version) the HTTP server accepts; None if unknown."""
    limit = current_app.config.get("SSIKG_REQUEST_LINE_LIMIT")
    if limit is not None:
        return limit
    if request.environ.get("SERVER_SOFTWARE", "").startswith("Werkzeug/"):
        return DEVELOPMENT_REQUEST_LINE
    return None


# Crawlers may read the pages and documents, not run queries: a crawled endpoint spends its
# time on bots.  /query is the query page (robots.txt rules are path prefixes).
ROBOTS = """\
# ssikg: pages and linked-data documents may be crawled; the query endpoints may not
# (every request there runs a query or reads the whole store).
User-agent: *
Disallow: {root}/sparql
Disallow: {root}/store
Disallow: {root}/query
Allow: {root}/
"""


@bp.route("/favicon.ico")
def favicon():
    """The site's icon where browsers look for it unasked (an SVG document, which has no
    ``<link rel="icon">``): the pages' SVG icon, not a 404 logged on the console."""
    response = current_app.send_static_file("favicon.svg")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/robots.txt")
def robots():
    # under a path prefix (a proxy's X-Forwarded-Prefix) the rules name the public paths
    response = Response(ROBOTS.format(root=request.script_root), content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
