"""The SPARQL 1.1 Graph Store HTTP Protocol at ``/store`` (blueprint ``graph_store``).

``?default`` names the store's own default graph, ``?graph=IRI`` a named
graph (indirect identification); without either, GET returns the whole
dataset (TriG / N-Quads, as a file to save), and POST creates a new graph
(201 + Location) from a triple format, or, as Oxigraph server and Fuseki do,
loads a TriG / N-Quads document's quads into the graphs it names (204).
GET and HEAD read, PUT replaces, POST merges (also ``multipart/form-data``
with several RDF parts), DELETE drops.

Every write needs the update token (:mod:`ssikg.auth`) and is atomic: the
upload is parsed completely before the store is touched, so a broken upload
answers 400 and changes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from urllib.parse import urljoin

import pyoxigraph as ox
from flask import Blueprint, Response, request, url_for

from .. import auth, http, protocol, streaming, uploads
from ..app import get_settings, get_store
from ..errors import SsikgError
from ..namespaces import GRAPH, PREFIXES

bp = Blueprint("graph_store", __name__)

DATASET_FORMATS = tuple(f for f in protocol.GRAPH_FORMATS if f.short in ("trig", "nq"))
QUAD_SYNTAXES = {ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS}
UPLOAD_TYPES = uploads.RDF_UPLOAD_TYPES  # one table with /validate


@dataclass(frozen=True)
class Target:
    """What a request addresses: the default graph (``""``), a named graph, or the dataset (None)."""

    graph: str | None

    @property
    def is_dataset(self) -> bool:
        return self.graph is None

    @property
    def label(self) -> str:
        return "the dataset" if self.graph is None else ("the default graph" if self.graph == ""
                                                         else f"graph <{self.graph}>")


def parse_target(args: list[tuple[str, str]], request_url: str) -> Target:
    """``?default`` / ``?graph=IRI`` → Target (relative graph IRIs resolve against the request)."""
    names = [k for k, _ in args]
    graphs = [v for k, v in args if k == "graph"]
    if "default" in names and graphs:
        raise protocol.bad_request("use either ?default or ?graph=IRI, not both")
    if len(graphs) > 1:
        raise protocol.bad_request("exactly one ?graph parameter is allowed")
    if "default" in names:
        return Target("")
    if graphs:
        reference = graphs[0]
        # urljoin drops control characters and resolves "" to the request itself: a graph
        # named so would be written somewhere the client never named.
        if not reference.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in reference):
            raise protocol.bad_request(f"?graph must be an IRI reference, without spaces or control "
                                       f"characters; got {reference[:80]!r}")
        return Target(protocol.check_iri(urljoin(request_url, reference), "graph"))
    return Target(None)


@bp.route("/store", methods=["GET", "PUT", "POST", "DELETE"])
def graph_store():
    target = parse_target(list(request.args.items(multi=True)), request.base_url)
    if request.method in ("GET", "HEAD"):
        return read(target)
    settings = get_settings()
    store = get_store()
    auth.require_write(settings, request.headers.get("Authorization"), store=store)
    if request.method == "PUT" and target.is_dataset:
        raise protocol.bad_request("PUT needs ?default or ?graph=IRI")
    if request.method == "DELETE" and target.is_dataset:
        raise protocol.bad_request("DELETE needs ?default or ?graph=IRI; the whole dataset cannot be "
                                   "dropped through the Graph Store Protocol")
    if request.method == "DELETE":
        with store.write_session:  # the preconditions hold until the write is made
            check_preconditions(store, target)
            return delete(target)
    if target.is_dataset and _upload_format() in QUAD_SYNTAXES:
        return load_dataset()
    creating = target.is_dataset  # POST without ?graph: into a new graph
    if creating:
        target = Target(f"{GRAPH}uploads/{uuid.uuid4()}")
    # Parsed whole before the store is touched (and before other writes are held up).
    triples = _uploaded_triples(target.graph or settings.public_base)
    with store.write_session:
        if not creating:
            check_preconditions(store, target)
        response = write(target, triples, mode="replace" if request.method == "PUT" else "add",
                         creating=creating)
    if creating:
        response.headers["Location"] = url_for("graph_store.graph_store", graph=target.graph)
    return response


# ---------------------------------------------------------------------------
# Reading


def _exists(store, target: Target) -> bool:
    return target.graph in ("", None) or target.graph in set(store.named_graphs())


def graph_etag(store, graph: str | None, media_type: str) -> str:
    """The strong ETag of ``graph``'s representation in ``media_type`` at the store's version
    (a remote store's ``precondition_version``: its ``version`` moves every few seconds)."""
    version = getattr(store, "precondition_version", None) or store.version
    return hashlib.sha256(f"{version}\0{graph}\0{media_type}".encode()).hexdigest()[:32]


def check_preconditions(store, target: Target) -> None:
    """If-Match and If-None-Match on a write (RFC 9110 §13.1.1–2): 412, with nothing changed,
    unless they hold.  ``If-Match`` names a representation the client read (any format,
    plain or gzip, strong comparison) or ``*`` (the graph exists); ``If-None-Match: *``
    writes only a graph that does not exist yet, and a listed tag must not be current."""
    if_match, if_none_match = request.headers.get("If-Match"), request.headers.get("If-None-Match")
    if if_match is None and if_none_match is None:
        return
    exists = _exists(store, target)
    current: set[str] = set()
    if exists:
        for fmt in protocol.GRAPH_FORMATS:
            tag = graph_etag(store, target.graph, fmt.media_type)
            current |= {tag, tag + "-gzip"}
    failed = None
    if if_match is not None:
        tags = request.if_match
        if not exists:
            failed = f"If-Match: {target.label} does not exist"
        elif not (tags.star_tag or any(tags.contains(tag) for tag in current)):
            failed = f"If-Match: {target.label} has changed since that version was read"
    if failed is None and if_none_match is not None and exists:
        tags = request.if_none_match
        if tags.star_tag:
            failed = f"If-None-Match: *: {target.label} exists already"
        elif any(tags.contains_weak(tag) for tag in current):
            failed = f"If-None-Match: {target.label} is still at that version"
    if failed:
        raise SsikgError(412, failed + "; nothing was changed")


def read(target: Target) -> Response:
    store = get_store()
    formats = DATASET_FORMATS if target.is_dataset else protocol.GRAPH_FORMATS
    chosen = protocol.negotiate(request.headers.get("Accept"), formats, protocol.GRAPH_ALIASES)
    if chosen is None:
        raise SsikgError(406, f"{target.label} is offered as " + ", ".join(protocol.offered(formats)),
                         extra={"offered": protocol.offered(formats)})
    if not _exists(store, target):
        raise SsikgError(404, f"there is no graph <{target.graph}> in the store")
    etag = graph_etag(store, target.graph, chosen.media_type)
    headers = {"Vary": "Accept", "Cache-Control": "public, no-cache"}
    held = http.held_etag(etag)
    if held is not None:
        response = Response(status=304, headers={**headers, "Vary": "Accept, Accept-Encoding"})
        response.set_etag(held)
        return response
    if request.method == "HEAD":
        body = iter(())  # no Content-Length: 0 on HEAD (the GET body is streamed)
    else:
        keep_graph_names = chosen.format in QUAD_SYNTAXES
        body = streaming.stream_quads(store, target.graph, chosen.format, dict(PREFIXES),
                                      as_triples=not keep_graph_names)
        if isinstance(body, streaming.SpooledBody):  # spooled whole for an HTTP/1.0 client
            headers["Content-Length"] = str(body.length)
    if target.is_dataset:  # a file to save, named for what it holds
        headers["Content-Disposition"] = f'attachment; filename="ssikg.{chosen.short}"'
    response = Response(body, content_type=chosen.content_type, headers=headers)
    response.set_etag(etag)
    return response


# ---------------------------------------------------------------------------
# Writing


def _upload_format() -> ox.RdfFormat | None:
    return UPLOAD_TYPES.get(protocol.split_media_type(request.headers.get("Content-Type"))[0])


def parse_upload(body: bytes, content_type: str | None, base_iri: str, *, what: str = "the upload"
                 ) -> list[ox.Triple]:
    """Every triple of an RDF document, or a 400/415 naming what is wrong. Nothing is stored."""
    quads = parse_quads(body, content_type, base_iri, what=what)
    stray = next((q for q in quads if not isinstance(q.graph_name, ox.DefaultGraph)), None)
    if stray is not None:
        raise protocol.bad_request(f"{what} names graph {stray.graph_name}; a Graph Store upload holds "
                                   "the triples of one graph (chosen by ?graph or ?default; a POST "
                                   "without either loads TriG / N-Quads into the graphs they name)")
    return [q.triple for q in quads]


def parse_quads(body: bytes, content_type: str | None, base_iri: str, *, what: str = "the upload"
                ) -> list[ox.Quad]:
    """Every quad of an RDF document, or a 400/415 naming what is wrong. Nothing is stored."""
    fmt = uploads.rdf_format_for(content_type, what=what)  # or a 415 naming what is accepted
    return uploads.parse_rdf_body(body, fmt, base_iri=base_iri, limit=get_settings().max_body_bytes,
                                  what=what)


def _uploaded_triples(base_iri: str) -> list[ox.Triple]:
    body = uploads.read_body(get_settings().max_body_bytes)  # whole, or 400/413/415
    mimetype, _ = protocol.split_media_type(request.headers.get("Content-Type"))
    if mimetype == "multipart/form-data":
        return _multipart_triples(base_iri)  # parsed from the body just read
    return parse_upload(body, request.headers.get("Content-Type"), base_iri)


def _multipart_triples(base_iri: str) -> list[ox.Triple]:
    """Each file part is an RDF document, typed by its Content-Type or its file extension."""
    triples: list[ox.Triple] = []
    parts = list(request.files.items(multi=True))
    if not parts:
        raise protocol.bad_request("the multipart/form-data body holds no file part")
    for field_name, part in parts:
        label = f"part {part.filename or field_name!r}"
        content_type = part.content_type
        mimetype, _ = protocol.split_media_type(content_type)
        if mimetype in ("", "application/octet-stream"):
            content_type = uploads.media_type_from_filename(part.filename)
        triples.extend(parse_upload(part.read(), content_type, base_iri, what=label))
    return triples


def write(target: Target, triples: list[ox.Triple], *, mode: str, creating: bool = False) -> Response:
    store = get_store()
    settings = get_settings()
    graph = target.graph
    existed = not creating and _exists(store, target)
    if settings.get("validate_on_write"):
        from .. import validation

        validation.check_graph_write(store, graph, triples, mode)
    if mode == "replace":
        store.replace_graph(graph, triples)
    elif triples:
        store.add_triples(graph, triples)
    if graph and not triples and not existed:
        store.create_graph(graph)
    http.count("graph_store_writes")
    return Response(status=204 if existed else 201)


def load_dataset() -> Response:
    """POST of TriG / N-Quads without ?graph: each quad into the graph it names (default-graph
    quads into the store's default graph), all in one atomic write, under the rules of every
    Graph Store write (token, body limit, If-Match on the dataset's ETag, validate_on_write)."""
    store = get_store()
    settings = get_settings()
    body = uploads.read_body(settings.max_body_bytes)  # whole, or 400/413
    # Parsed whole before the store is touched: a broken document changes nothing.
    quads = parse_quads(body, request.headers.get("Content-Type"), settings.public_base)
    unnamed = next((q for q in quads if isinstance(q.graph_name, ox.BlankNode)), None)
    if unnamed is not None:
        raise protocol.bad_request(f"the upload names a graph by the blank node {unnamed.graph_name}; "
                                   "a graph of the store is named by an IRI")
    update = insert_data(quads)
    with store.write_session:
        check_preconditions(store, Target(None))
        if settings.get("validate_on_write"):
            from .. import validation

            validation.check_update(store, update, settings.public_base, what="graph store POST")
        try:
            if quads:
                store.update(update)
        except (SyntaxError, ValueError, RuntimeError, OSError) as exc:
            raise SsikgError(400, f"the load failed and changed nothing: {exc}", title="Load failed") from None
    http.count("graph_store_writes")
    return Response(status=204)


def insert_data(quads: list[ox.Quad]) -> str:
    """One ``INSERT DATA`` adding each quad to its graph (the default graph's to the default
    graph): a write of several graphs that lands whole or not at all."""
    blocks: dict[str, list[str]] = {}
    for quad in quads:
        graph = "" if isinstance(quad.graph_name, ox.DefaultGraph) else str(quad.graph_name)
        blocks.setdefault(graph, []).append(f"{quad.subject} {quad.predicate} {quad.object} .\n")
    body = "".join("".join(lines) if not graph else f"GRAPH {graph} {{\n{''.join(lines)}}}\n"
                   for graph, lines in blocks.items())
    return f"INSERT DATA {{\n{body}}}"


def delete(target: Target) -> Response:
    store = get_store()
    settings = get_settings()
    if not _exists(store, target):
        raise SsikgError(404, f"there is no graph <{target.graph}> in the store")
    if settings.get("validate_on_write"):
        from .. import validation

        validation.check_graph_write(store, target.graph, [], "delete")
    store.drop_graph(target.graph)
    http.count("graph_store_writes")
    return Response(status=204)
