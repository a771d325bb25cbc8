"""The application factory: settings, the store, blueprints and error handlers.

``create_app()`` with no arguments serves the embedded default: it builds the
on-disk store from ``ontology/`` and ``data/`` when missing or stale, opens it,
and serves it.  Tests pass overrides (a temporary store, a token) instead of
touching the environment.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

from flask import Flask, current_app, g

from . import http, replay
from .errors import register_error_handlers
from .settings import Settings, load_settings
from .store import GraphStore, ensure_built, open_store
from .stored_queries import load_all as load_stored_queries

log = logging.getLogger("ssikg")

# One blueprint per concern; each module exposes ``bp``.
BLUEPRINTS = (
    "ssikg.views.sparql",
    "ssikg.views.graph_store",
    "ssikg.views.resources",
    "ssikg.views.stored_queries",
    "ssikg.views.validation",
    "ssikg.views.shapes",
    "ssikg.views.ops",
)


def create_app(overrides: dict[str, Any] | None = None, *, store: GraphStore | None = None) -> Flask:
    settings = load_settings(overrides)
    app = Flask(__name__)
    app.config["SSIKG"] = settings
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_body_bytes or None
    app.json.ensure_ascii = False
    # Checked before the store opens: a broken query file stops start-up with file:line messages.
    app.extensions["ssikg.queries"] = load_stored_queries(settings.source_dir / "queries")
    app.extensions["ssikg.store"] = store or _open_configured_store(settings)
    register_error_handlers(app)
    http.install(app)  # CORS, gzip, request log, metrics
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    replay.install(app)  # answers repeated cached queries before Flask
    trust_forwarded_headers(app, settings.get("forwarded_proxies") or 0)
    return app


def trust_forwarded_headers(app: Flask, proxies: int) -> None:
    """Behind ``proxies`` trusted reverse proxies, read the client's address, scheme, host,
    port and path prefix from their X-Forwarded-* headers (werkzeug's ProxyFix).  Outermost,
    so the replay front, the access log and every URL the app makes see the public values;
    with 0 the headers are left unread (anyone may send them)."""
    if proxies <= 0:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,
                            x_port=proxies, x_prefix=proxies)
    app.before_request(_refuse_unusable_prefix)


# A path prefix every URL can start with: "//host" would make links leave the site, and a
# space or a quote would make IRIs no serialiser can write.
_USABLE_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*/?")


def _refuse_unusable_prefix() -> None:
    from flask import request

    from .errors import SsikgError

    prefix = request.environ.get("SCRIPT_NAME", "")
    if not _USABLE_PREFIX.fullmatch(prefix):
        raise SsikgError(400, f"X-Forwarded-Prefix {prefix!r} is not a path prefix such as /ssikg "
                              "(the proxy in front of this server is misconfigured)")


def _open_configured_store(settings: Settings) -> GraphStore:
    opener = _store_openers()["remote" if settings.get("backend") else "embedded"]
    return opener(settings)


def _store_openers():
    """Store kinds by name; a remote backend registers itself beside the embedded one."""
    return {"embedded": _open_embedded, "remote": _open_remote}


def _open_remote(settings: Settings) -> GraphStore:
    from .remote_store import open_remote

    return open_remote(settings)


def _open_embedded(settings: Settings) -> GraphStore:
    path = settings.store_path
    read_only = settings.get("read_only", False)
    if settings.auto_build and not read_only:  # read-only instances serve a store built once elsewhere
        status = ensure_built(path, settings.source_dir, progress=log.info)
        if status == "unexported":
            log.warning("%s holds writes not exported to files; serving it as it is", path)
    return open_store(path, in_memory=settings.in_memory, read_only=read_only,
                      source_dir=settings.source_dir if settings.in_memory else None)


def start_query_workers(app: Flask) -> None:
    """Start the query worker processes now rather than on the first queries (servers
    call this; tests, which create many apps, leave the pool to start lazily)."""
    from .execution import get_executor

    with app.app_context():
        get_executor(get_store(), get_settings()).prestart()


def get_store() -> GraphStore:
    """The one accessor for the current app's store."""
    return current_app.extensions["ssikg.store"]


def store_version() -> str:
    """The store's version as this request first read it.  Read before any of the request's
    content (the views' blueprints ask for it first), so a body is never older than the version
    its ETag names: a write landing meanwhile can only make the body newer, and revalidating
    that ETag then gets the new content instead of a 304 that keeps the old one."""
    if "ssikg_store_version" not in g:
        g.ssikg_store_version = get_store().version
    return g.ssikg_store_version


def read_version_first() -> None:
    """A ``before_request`` hook for blueprints whose answers carry the store's version."""
    store_version()


def get_settings() -> Settings:
    return current_app.config["SSIKG"]
