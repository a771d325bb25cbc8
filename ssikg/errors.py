"""One error type and one handler: every failure reaches the client as a clear
status with a message in the client's format (JSON by default, HTML for
browsers, plain text when asked), never as a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json, render_template_string, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("ssikg")

_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ status }} {{ title }} · ssikg</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{{ url_for('static', filename='ssikg.css') }}"></head>
<body><main><h1>{{ status }} {{ title }}</h1><p class="error-message">{{ message }}</p>
<p><a href="{{ url_for('sparql.home') if 'sparql.home' in endpoints else '/' }}">Home</a></p></main></body></html>"""


class SsikgError(Exception):
    """A failure with an HTTP status and a message meant for the client."""

    def __init__(self, status: int, message: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or _reason(status)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict:
        return {"status": self.status, "title": self.title, "message": self.message, **self.extra}


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def preferred_error_format() -> str:
    """json, html or text, from the request's Accept header."""
    accept = request.accept_mimetypes
    if not accept:
        return "json"
    best = accept.best_match(["application/json", "text/html", "text/plain"], default="application/json")
    if best == "text/html" and accept["text/html"] > accept["application/json"]:
        return "html"
    if best == "text/plain" and accept["text/plain"] > accept["application/json"]:
        return "text"
    return "json"


def error_response(error: SsikgError) -> Response:
    fmt = preferred_error_format()
    if fmt == "html":
        from flask import current_app

        body = render_template_string(_HTML, endpoints=current_app.view_functions, **error.body())
        response = Response(body, status=error.status, mimetype="text/html")
    elif fmt == "text":
        response = Response(f"{error.status} {error.title}: {error.message}\n", status=error.status,
                            mimetype="text/plain")
    else:
        response = Response(json.dumps(error.body(), ensure_ascii=False) + "\n", status=error.status,
                            mimetype="application/json")
    response.headers.update(error.headers)
    response.headers["Vary"] = "Accept"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SsikgError)
    def _ssikg_error(error: SsikgError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        message = error.description or error.name
        return error_response(SsikgError(error.code or 500, message, title=error.name, headers=headers))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(SsikgError(500, "The server met an unexpected condition; it has been logged."))
