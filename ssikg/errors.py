"""One error type and one handler: every failure reaches the client as a clear
status with a message in the client's format (JSON by default, HTML for
browsers, plain text when asked), never as a traceback.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

from flask import Flask, Response, json, render_template_string, request, url_for
from werkzeug.exceptions import HTTPException

log = logging.getLogger("ssikg")

# The bare page, for when the site's page frame cannot be drawn (an error inside it, or an app
# without the page routes): still in the page's language, and Home is the home page.
_HTML = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<title>{{ status }} {{ title }} · ssikg</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{{ url_for('static', filename='ssikg.css') }}"></head>
<body><main><h1>{{ status }} {{ title }}</h1><p class="error-message" lang="en">{{ message }}</p>
<p><a href="{{ request.script_root }}/">{{ home }}</a></p></main></body></html>"""
_HOME_WORDS = {"fr": "Accueil", "en": "Home"}


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
    """json, html or text, from the request's Accept header: JSON unless the client ranks
    HTML (or plain text) strictly above it, so ``*/*`` and scripts get JSON; between HTML and
    plain text, the site's one rule (:func:`ssikg.protocol.best_offer`)."""
    from .protocol import best_offer, ranks_above  # protocol raises SsikgError: imported late

    accept = request.headers.get("Accept")
    best = best_offer(accept, (("html", "text/html"), ("text", "text/plain")))
    if best and ranks_above(accept, "text/html" if best == "html" else "text/plain", ("application/json",)):
        return best
    return "json"


def error_response(error: SsikgError) -> Response:
    fmt = preferred_error_format()
    if fmt == "html":
        response = _html_error(error)
    elif fmt == "text":
        response = Response(f"{error.status} {error.title}: {_printable(error.message)}\n", status=error.status,
                            mimetype="text/plain")
    else:
        response = Response(json.dumps(error.body(), ensure_ascii=False) + "\n", status=error.status,
                            mimetype="application/json")
    response.headers.update(error.headers)
    response.vary.add("Accept")
    return response


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # all but tab


def _printable(message: str) -> str:
    """A message as plain text may show it: a control character a client sent (an escape
    sequence for a terminal, a carriage return faking a line) is written as its code."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", message)


def _html_error(error: SsikgError) -> Response:
    """The error in the site's page frame (navigation, language switch, the page's language
    from ?lang= or Accept-Language); the bare page when the frame cannot be drawn."""
    try:
        from .views.resources import page

        return page("error.html", status=error.status, error=error.body(), edit_url=_edit_url(error))
    except Exception:  # noqa: BLE001 - an error page must not fail; the bare one still says why
        log.debug("error page frame unavailable", exc_info=True)
    lang = "fr" if request.accept_languages.best_match(["fr", "en"], default="fr") == "fr" else "en"
    if request.args.get("lang") in _HOME_WORDS:
        lang = request.args["lang"]
    body = render_template_string(_HTML, lang=lang, home=_HOME_WORDS[lang], **error.body())
    response = Response(body, status=error.status, mimetype="text/html")
    response.headers["Content-Language"] = lang
    response.vary.add("Accept-Language")
    return response


def _edit_url(error: SsikgError) -> str | None:
    """For a query the endpoint refused (a 4xx of /sparql or /query): the query page opening
    it, the query in the fragment (read by the page's script, never sent back to the server,
    and never written into the page but as this escaped link), keeping an explicit ?lang=."""
    if not 400 <= error.status < 500 or request.endpoint not in ("sparql.endpoint", "sparql.query_page"):
        return None
    query = request.args.get("query") or (request.form.get("query") if request.mimetype ==
                                          "application/x-www-form-urlencoded" else None)
    if not query:
        return None
    from .views.resources import with_lang  # the views import this module

    return with_lang(url_for("sparql.query_page")) + "#" + urlencode({"query": query})


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
