"""The validation service: ``GET /validate`` checks the current store against the
SHACL shapes, ``POST /validate`` checks the RDF in the request body (any RDF
syntax, by Content-Type) or a file uploaded by the validation page's form
(``multipart/form-data``, typed by the part's Content-Type or its file name),
alone or merged with the store (``merge=store``).

The answer is the ``sh:ValidationReport`` graph by content negotiation
(Turtle, JSON-LD, N-Triples, RDF/XML; Turtle for ``*/*``, as Fuseki's SHACL
service does) or a summary as JSON, HTML or plain text.  ``format=`` overrides
Accept; ``lang=fr|en`` (else Accept-Language) chooses the language of messages
and labels.  A non-conforming report is still a 200: the validation ran.

Uploads are typed as Graph Store writes are (:func:`ssikg.uploads.rdf_format_for`) and
limited to ``max_body_bytes``.  pyshacl runs in a child process (:mod:`ssikg.validation_process`),
killed after ``validation_timeout`` seconds (503); at most
``max_concurrent_validations`` validations run at once per server process (a POST, or the
store's report when it is not cached); beyond, a request waits up to ``queue_timeout``
for a slot, then gets a 503 with ``Retry-After``, as a query does.  A validation of more than
``validate_max_triples`` triples (the store, or the upload with or without it) is refused
with 413 before it starts.  An upload validated alone whose violations come from the
"declared" rules gets a note suggesting ``merge=store``.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, json, request

from .. import linked_data as ld
from .. import protocol
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..namespaces import GRAPHS
from ..uploads import RDF_UPLOAD_TYPES, parse_rdf_body, rdf_format_for, read_body
from ..validation import (
    TooLargeToValidate,
    ValidationInputError,
    ValidationReport,
    check_triple_limit,
    undeclared_rules,
    validation_inputs_state,
)
from ..validation_process import serialise, validate_in_child
from ..xml_text import xml_safe
from .resources import current_lang, page, ui_lang

bp = Blueprint("validation", __name__)

QUAD_SYNTAXES = {ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS, ox.RdfFormat.JSON_LD}

@dataclass(frozen=True)
class ReportFormat:
    media_type: str
    kind: str  # "rdf" (rdflib serializer name in `rdflib`), "json", "html" or "text"
    rdflib: str | None = None


# Preference order for */*: the report graph in Turtle first.
REPORT_FORMATS = (
    ReportFormat("text/turtle", "rdf", "turtle"),
    ReportFormat("application/ld+json", "rdf", "json-ld"),
    ReportFormat("application/n-triples", "rdf", "nt"),
    ReportFormat("application/rdf+xml", "rdf", "xml"),
    ReportFormat("application/json", "json"),
    ReportFormat("text/html", "html"),
    ReportFormat("text/plain", "text"),
)
FORMAT_PARAMETER = {
    "ttl": "text/turtle", "turtle": "text/turtle", "jsonld": "application/ld+json",
    "json-ld": "application/ld+json", "nt": "application/n-triples", "ntriples": "application/n-triples",
    "n-triples": "application/n-triples", "rdf": "application/rdf+xml", "xml": "application/rdf+xml",
    "json": "application/json", "html": "text/html", "text": "text/plain", "txt": "text/plain",
}


# ---------------------------------------------------------------------------
# Routes


@bp.get("/validate")
def validate_store_route() -> Response:
    """Validate the current store (cached until the store changes)."""
    report = _store_report()
    return _answer(report)


@bp.post("/validate")
def validate_body_route() -> Response:
    """Validate the RDF in the body, alone or merged with the store (``merge=store``): a
    document sent as the body, or a file uploaded by the page's form (multipart/form-data).
    A file the form sent that cannot be validated (unreadable, too large, of an unknown
    type) is answered, to a browser, by the validation page with its form and the reason."""
    try:
        return _validate_body()
    except SsikgError as error:
        if error.status in (400, 413, 415) and _form_page_wanted():
            return _form_error_page(error)
        raise


def _validate_body() -> Response:
    settings = get_settings()
    limit = settings.max_body_bytes
    form_upload = (request.mimetype or "").lower() == "multipart/form-data"
    if form_upload:
        _body(limit)  # the size limits first; the form is parsed from the body read
        body, fmt, what = _uploaded_file()
    fields = request.form if form_upload else {}
    merge = (request.args.get("merge") or fields.get("merge") or "").strip().lower()
    if merge not in ("", "none", "store"):
        raise SsikgError(400, f"unknown merge '{merge}'; use merge=store to validate the body "
                              "together with the store's content, or leave it out")
    graph = _target_graph(request.args.get("graph") or fields.get("graph"))
    if not form_upload:
        what = "the request body"
        fmt = rdf_format_for(request.headers.get("Content-Type"), what=what)
        body = _body(limit)
    store_size = len(get_store()) if merge == "store" else 0
    _refuse_too_large(store_size, settings, "the store")  # before a slot is taken or the body parsed
    with validation_gate().slot(settings):
        parsed = _parse(body, fmt, limit, what)
        if fmt not in QUAD_SYNTAXES:  # a triple syntax: its triples go to graph= (else the default graph)
            target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
            parsed = [ox.Quad(q.subject, q.predicate, q.object, target) for q in parsed]
        _refuse_too_large(store_size + len(parsed), settings,
                          "the store merged with the upload" if merge == "store" else "the upload")
        quads = itertools.chain(get_store().quads(), parsed) if merge == "store" else parsed
        try:
            report = validate_in_child(serialise(quads), timeout=settings.validation_timeout,
                                       source_dir=settings.source_dir, whole_dataset=merge == "store",
                                       memory_mb=settings.validation_memory_mb)
        except ValidationInputError as exc:
            raise SsikgError(400, str(exc), title="Not validatable") from None
    if merge != "store":
        _suggest_merge(report)
    return _answer(report)


_MERGE_NOTE = {
    "en": "note: {rules} found resources or terms that this upload uses but does not declare; the store "
          "may declare them: validate again with merge=store (the form's box “together with the store's "
          "content”) to check the upload together with the store",
    "fr": "note : {rules} ont trouvé des ressources ou des termes que ce fichier utilise sans les déclarer ; "
          "la base les déclare peut-être : validez à nouveau avec merge=store (la case « avec le contenu "
          "de la base » du formulaire) pour vérifier le fichier avec le contenu de la base",
}


def _suggest_merge(report: ValidationReport) -> None:
    """An upload validated alone cannot see what the store declares: say how to check both."""
    rules = undeclared_rules(report)
    if rules:
        report.notes.append(_MERGE_NOTE[ui_lang(current_lang())].format(rules=", ".join(rules)))


# ---------------------------------------------------------------------------
# Back-pressure


class ValidationGate:
    """At most ``size`` validations at once in this process; beyond, a request waits up to
    ``queue_timeout`` for a slot, then gets a 503 with ``Retry-After`` (the queries' rule)."""

    def __init__(self, size: int):
        self.size = size
        self._slots = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def slot(self, settings: Mapping) -> Iterator[None]:
        wait = float(settings.get("queue_timeout") or 0)
        acquired = self._slots.acquire(timeout=wait) if wait else self._slots.acquire(blocking=False)
        if not acquired:
            retry = int(settings.get("retry_after") or 1)
            raise SsikgError(503, f"the server is already running its maximum of {self.size} validations at "
                                  f"once (waited {wait:g} s for a slot); retry in {retry} s", title="Too busy",
                             headers={"Retry-After": str(retry)}, extra={"retry_after": retry})
        try:
            yield
        finally:
            self._slots.release()


def validation_gate(app=None) -> ValidationGate:
    """The gate of ``app`` (default: the current one): one per process, as the app is, sized by
    ``max_concurrent_validations`` (each validation is a child process taking a core and up to
    ``validation_memory_mb``: beyond a couple at once the machine only gets slower at everything else)."""
    app = app or current_app
    gate = app.extensions.get("ssikg.validation_gate")
    if gate is None:
        size = app.config["SSIKG"]["max_concurrent_validations"]
        gate = app.extensions.setdefault("ssikg.validation_gate", ValidationGate(size))
    return gate


# ---------------------------------------------------------------------------
# Inputs


def _refuse_too_large(triples: int, settings: Mapping, what: str) -> None:
    """413 above ``validate_max_triples``: retrying would not help (a 503 would invite it), and
    the data to validate is what is too large for this server, as a body is for 413."""
    try:
        check_triple_limit(triples, settings.get("validate_max_triples") or 0, what,
                           hint="validate a smaller part with POST /validate (without merge=store), or "
                                "raise validate_max_triples (0 = no limit) where the server is configured")
    except TooLargeToValidate as exc:
        raise SsikgError(413, str(exc), title="Too large to validate",
                         extra={"triples": exc.triples, "validate_max_triples": exc.limit}) from None



def _parse(body: bytes, fmt: ox.RdfFormat, limit: int, what: str) -> list[ox.Quad]:
    """The quads of the upload, parsed as a write parses them; a 400 with the parser's words
    (and its line) when it cannot be read.  Validation changes nothing, so the write's
    "nothing was changed" is left out."""
    try:
        return parse_rdf_body(body, fmt, base_iri=get_settings().public_base, limit=limit, what=what)
    except SsikgError as exc:
        message = exc.message.removesuffix("; nothing was changed")
        raise SsikgError(exc.status, f"the upload could not be read: {message}", title="Unreadable RDF",
                         extra={"accepted": sorted(RDF_UPLOAD_TYPES)}) from None


def _uploaded_file() -> tuple[bytes, ox.RdfFormat, str]:
    """The file of a form upload: its bytes, its syntax (from the part's Content-Type, or its
    file name's extension when the type says nothing) and how messages name it."""
    parts = [part for _name, part in request.files.items(multi=True)]
    if not parts:
        raise SsikgError(400, "the multipart/form-data body holds no file part: choose an RDF file to validate")
    if len(parts) > 1:
        raise SsikgError(400, "send one file at a time to POST /validate")
    part = parts[0]
    what = f"file {part.filename!r}" if part.filename else "the uploaded file"
    body = part.read()
    if not body.strip():  # what a browser sends when no file was chosen
        raise SsikgError(400, f"{what} is empty: choose an RDF file to validate")
    return body, rdf_format_for(part.content_type, what=what, filename=part.filename or ""), what


def _body(limit: int) -> bytes:
    length = request.content_length
    if limit and length is not None and length > limit:
        raise SsikgError(413, f"the body is {length:,} bytes; POST /validate accepts at most "
                              f"{limit:,} bytes")
    body = read_body(limit)
    if not body.strip():
        raise SsikgError(400, "the body is empty: send the RDF to validate")
    return body


def _target_graph(value: str | None) -> str | None:
    """``graph=`` puts a triple-format body into a named graph (``stated`` etc. are accepted as short names)."""
    if value is None or value == "":
        return None
    if value in GRAPHS:
        return GRAPHS[value]
    return protocol.check_iri(value, f"graph= (one of {', '.join(GRAPHS)}, or an IRI)")


# ---------------------------------------------------------------------------
# The store's report, cached by store version


_cache_lock = threading.Lock()


def _store_report() -> ValidationReport:
    store = get_store()
    settings = get_settings()
    # the rules and the page as they are now (they are read from source_dir, not the build)
    key = (str(store.version), validation_inputs_state(settings.source_dir))
    cache = current_app.extensions.setdefault("ssikg.validation", {})
    with _cache_lock:
        if cache.get("version") == key:
            return cache["report"]
    _refuse_too_large(len(store), settings, "the store")
    with validation_gate().slot(settings):
        with _cache_lock:  # another request may have made it while this one waited for a slot
            if cache.get("version") == key:
                return cache["report"]
        try:
            report = validate_in_child(serialise(store.quads()), timeout=settings.validation_timeout,
                                       source_dir=settings.source_dir, memory_mb=settings.validation_memory_mb)
        except ValidationInputError as exc:
            raise SsikgError(422, f"the store cannot be validated: {exc}", title="Not validatable") from None
    with _cache_lock:
        cache.update(version=key, report=report)
    return report


# ---------------------------------------------------------------------------
# Answers


def _negotiate() -> ReportFormat:
    by_type = {f.media_type: f for f in REPORT_FORMATS}
    return protocol.choose_representation(
        request.headers.get("Accept"), request.args.get("format"), [(f, f.media_type) for f in REPORT_FORMATS],
        {name: by_type[media] for name, media in FORMAT_PARAMETER.items()}, what=" of the validation report")


def _answer(report: ValidationReport) -> Response:
    fmt = _negotiate()
    lang = ui_lang(current_lang())  # the site's choice; messages exist in its interface languages
    if fmt.kind == "rdf":
        data = report.serialize(fmt.rdflib)
        response = Response(xml_safe(data) if fmt.rdflib == "xml" else data, mimetype=fmt.media_type)
    elif fmt.kind == "json":
        response = Response(json.dumps(report.as_dict(lang), ensure_ascii=False) + "\n",
                            mimetype="application/json")
    elif fmt.kind == "text":
        response = Response(report.text(lang), mimetype="text/plain")
    else:
        response = _html(report, lang)
    if fmt.kind in ("rdf", "text") and fmt.media_type.startswith("text/"):
        response.charset = "utf-8"
    response.headers["Content-Language"] = lang
    response.headers["X-SSIKG-Conforms"] = "true" if report.conforms else "false"
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept")
    response.vary.add("Accept-Language")
    return response


_HTML_TEXT = {
    "fr": {"title": "Validation SHACL", "conforms": "Les données sont conformes aux formes.",
           "fails": "Les données ne sont pas conformes.", "focus": "Nœud", "path": "Chemin",
           "value": "Valeur", "message": "Message", "shape": "Forme", "severity": "Gravité",
           "download": "Rapport sh:ValidationReport", "none": "Aucun résultat.",
           "upload": "Valider un fichier RDF", "file": "Fichier RDF (Turtle, TriG, N-Triples, N-Quads, JSON-LD, "
           "RDF/XML, N3)", "merge": "avec le contenu de la base", "submit": "Valider",
           "upload_note": "Le fichier est seulement validé : rien n’est enregistré."},
    "en": {"title": "SHACL validation", "conforms": "The data conforms to the shapes.",
           "fails": "The data does not conform.", "focus": "Focus node", "path": "Path",
           "value": "Value", "message": "Message", "shape": "Shape", "severity": "Severity",
           "download": "sh:ValidationReport", "none": "No results.",
           "upload": "Validate an RDF file", "file": "RDF file (Turtle, TriG, N-Triples, N-Quads, JSON-LD, "
           "RDF/XML, N3)", "merge": "together with the store's content", "submit": "Validate",
           "upload_note": "The file is only validated: nothing is stored."},
}


_LANG_NOTE = {
    "fr": "(rapport d’un fichier envoyé, qu’un lien ne peut pas renvoyer ; pour une autre langue, "
          "envoyez-le à nouveau depuis le formulaire dans cette langue)",
    "en": "(the report of a file sent, which a link cannot send again; for another language, "
          "send it again from the form in that language)",
}
FOCUS_CHECKED = 200  # focus nodes of an upload's report looked up in the store (one ASK each)


def _html(report: ValidationReport, lang: str) -> Response:
    groups = [{"focus": r[0].as_dict(lang), "results": [x.as_dict(lang) for x in r]}
              for _focus, r in ((f, rs) for f, rs in report.grouped())]
    posted = request.method == "POST"
    for group in groups:
        focus = group["focus"].get("focus") or ""
        group["linked"] = focus.startswith(("http://", "https://")) and not posted
    if posted:  # an upload's nodes may not be in the store: a link to them would be a 404
        _link_known_focus(groups)
    return page("validation.html", lang=lang, report=report.as_dict(lang), groups=groups,
                v=_HTML_TEXT[lang], self_url=request.script_root + request.path,
                # the links fetch the store's report: a posted body's report is not behind them
                downloads=not posted, lang_note=_lang_note(lang) if posted else None)


def _lang_note(lang: str) -> dict:
    """The language switch of an upload's report: a note, and the form in each language."""
    return {"text": _LANG_NOTE[lang],
            "targets": {code: f"{request.script_root}/validate?lang={code}#upload-h" for code in ld.LANGS}}


def _link_known_focus(groups: list[dict]) -> None:
    """Mark the groups whose focus node the store has: one ASK per distinct focus IRI, for the
    first :data:`FOCUS_CHECKED` of them (the others are shown as text)."""
    store = get_store()
    known: dict[str, bool] = {}
    for group in groups:
        focus = group["focus"].get("focus") or ""
        if not focus.startswith(("http://", "https://")):
            continue
        if focus not in known and len(known) < FOCUS_CHECKED:
            try:
                known[focus] = ld.exists(store, focus)
            except ValueError:  # not an IRI the store could hold
                known[focus] = False
        group["linked"] = known.get(focus, False)


def _form_page_wanted() -> bool:
    """Whether the request is the page's form asking for an HTML answer."""
    if (request.mimetype or "").lower() != "multipart/form-data":
        return False
    try:
        return _negotiate().kind == "html"
    except SsikgError:
        return False


def _form_error_page(error: SsikgError) -> Response:
    """The validation page with its form and why the file could not be validated (the
    error's status kept)."""
    lang = ui_lang(current_lang())
    response = page("validation.html", status=error.status, lang=lang, report=None, error=error.body(),
                    groups=[], v=_HTML_TEXT[lang], self_url=request.script_root + request.path, downloads=False)
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    return response
