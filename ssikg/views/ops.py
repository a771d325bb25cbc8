"""Operations routes (blueprint ``ops``): ``/health`` for liveness probes and
``/metrics`` in the Prometheus text exposition format."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .. import http
from ..app import get_store

bp = Blueprint("ops", __name__)


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


@bp.route("/metrics")
def metrics():
    executor = current_app.extensions.get("ssikg.executor")  # none before the first query
    response = Response(http.prometheus_text(get_store(), getattr(executor, "results", None),
                                             current_app.extensions.get("ssikg.replay")),
                        content_type="text/plain; version=0.0.4; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
