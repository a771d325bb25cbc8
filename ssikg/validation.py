"""Validation of the knowledge graph against the SHACL shapes in ``ontology/shapes.ttl``.

This module owns the validation engine: it builds the *validation view* of a
dataset (the store's quads, or RDF files in any syntax), runs pyshacl over it,
and turns pyshacl's ``sh:ValidationReport`` into a :class:`ValidationReport`
with labels, paths, values and messages in French or English.  It also owns
validate-on-write: :func:`check_update` and :func:`check_graph_write` compute
what a write adds and removes and refuse (422) a write that would break a shape,
validating only the nodes the write can change (see "Incremental validation of a
checked write" below; the whole would-be store when the write reaches too much).

The validation view is one RDF graph (pyshacl validates each named graph of a
dataset separately, which would hide cross-graph facts), made of:

* the union of every named graph (and the default graph);
* for each triple ``s p o`` of the stated graph, a marker node
  ``[] ssikgsh:statedSubject s ; ssikgsh:statedPredicate p ; ssikgsh:statedObject o``,
  so that graph-specific rules (a stated triple needs provenance) are SPARQL
  constraints over the union;
* the page text as ``ssikgsh:sourcePage ssikgsh:sourceText "…"`` so that a
  SPARQL constraint can check that a quote is a verbatim substring of it;
* the vocabulary axioms found in the shapes file (its ``rdfs:subClassOf``
  triples: ORG and CPOV's class tree), so that ``sh:class org:Organization``
  accepts an ``org:OrganizationalUnit``.  No RDFS entailment is run over the
  data: range entailment would type every ``org:postIn`` target as an
  organisation and hide dangling references.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import rdflib
from rdflib import RDF, RDFS, SH, BNode, Literal, URIRef
from rdflib.namespace import SKOS
from rdflib.plugins.sparql import prepareQuery

from .errors import SsikgError
from .namespaces import CONCEPT, FACT, GRAPHS, ONTOLOGY, PREFIXES
from .result_cache import non_deterministic_calls
from .settings import SOURCE_ROOT
from .update_delta import data_only_delta

SHAPES_NS = "https://w3id.org/ssikg/shapes#"
SSIKGSH = rdflib.Namespace(SHAPES_NS)
DCT = rdflib.Namespace(PREFIXES["dct"])
LANGUAGES = ("fr", "en")
MAX_SHOWN_VALUE = 120

# File suffix → rdflib parser name; dataset formats keep their named graphs.
FILE_FORMATS = {
    ".ttl": "turtle", ".turtle": "turtle", ".nt": "nt", ".ntriples": "nt", ".n3": "n3",
    ".trig": "trig", ".nq": "nquads", ".nquads": "nquads", ".jsonld": "json-ld",
    ".json": "json-ld", ".rdf": "xml", ".owl": "xml", ".xml": "xml", ".trix": "trix",
}
DATASET_FORMATS = {"trig", "nquads", "json-ld", "trix"}

_SEVERITY_ORDER = {"Violation": 0, "Warning": 1, "Info": 2}


class ValidationInputError(ValueError):
    """An input cannot be read or parsed (the message names the file)."""


class ShapesUnavailable(ValidationInputError):
    """The shapes file cannot be read or parsed: the server's setup, not the data's fault."""


class TooLargeToValidate(ValidationInputError):
    """More triples than ``validate_max_triples``: pyshacl would need minutes and gigabytes
    (a million triples ran over 15 minutes in a 2.2 GB process), so it is not started."""

    def __init__(self, triples: int, limit: int, what: str, *, hint: str = "set validate_max_triples=0 "
                 "(SSIKG_VALIDATE_MAX_TRIPLES=0) to lift the limit", setting: str = "validate_max_triples"):
        self.triples, self.limit = triples, limit
        super().__init__(f"{what} holds {triples:,} triples, more than {setting} "
                         f"({limit:,}); validating it in one pass would take too long and too much "
                         f"memory, so it was not started: {hint}")


def check_triple_limit(triples: int, limit: int, what: str, **kwargs) -> None:
    """Refuse (:class:`TooLargeToValidate`) ``triples`` above ``limit`` (0 = no limit)."""
    if limit and triples > limit:
        raise TooLargeToValidate(triples, limit, what, **kwargs)


# ---------------------------------------------------------------------------
# Shapes


def default_shapes_path(source_dir: Path | None = None) -> Path:
    return Path(source_dir or SOURCE_ROOT) / "ontology" / "shapes.ttl"


def default_page_path(source_dir: Path | None = None) -> Path:
    return Path(source_dir or SOURCE_ROOT) / "data" / "source" / "page.txt"


@dataclass
class Shapes:
    """The shapes graph and the vocabulary axioms it carries."""

    graph: rdflib.Graph
    axioms: rdflib.Graph
    path: Path | None = None

    @property
    def count(self) -> int:
        shapes = set(self.graph.subjects(RDF.type, SH.NodeShape))
        shapes |= set(self.graph.subjects(RDF.type, SH.PropertyShape))
        return len(shapes)


def validation_inputs_state(source_dir: Path | None = None) -> tuple:
    """What a report also depends on besides the data: the shapes file and the page copy
    (path, size, modification time), so a report kept for a store version is not given
    for rules or a page edited since."""
    state = []
    for path in (default_shapes_path(source_dir), default_page_path(source_dir)):
        try:
            info = path.stat()
            state.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            state.append((str(path), None, None))
    return tuple(state)


_shapes_cache: dict[tuple[str, float], Shapes] = {}
_shapes_lock = threading.Lock()


def load_shapes(path: Path | None = None) -> Shapes:
    """Parse the shapes file (cached by path and modification time)."""
    path = Path(path or default_shapes_path())
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError as exc:
        raise ShapesUnavailable(f"cannot read the shapes file {path}: {exc.strerror}") from None
    with _shapes_lock:
        cached = _shapes_cache.get(key)
        if cached is not None:
            return cached
        graph = rdflib.Graph()
        try:
            graph.parse(path, format="turtle")
        except MemoryError:
            raise  # a validation child past validation_memory_mb: not a fault of the shapes
        except Exception as exc:  # rdflib raises many types for bad syntax
            raise ShapesUnavailable(f"{path}: cannot parse the shapes: {exc}") from None
        axioms = rdflib.Graph()
        for triple in graph.triples((None, RDFS.subClassOf, None)):
            axioms.add(triple)
        shapes = Shapes(graph, axioms, path)
        _shapes_cache.clear()
        _shapes_cache[key] = shapes
        return shapes


# ---------------------------------------------------------------------------
# Inputs: quads as rdflib terms (subject, predicate, object, graph or None)


RdfQuad = tuple  # (s, p, o, g) with rdflib terms; g is None for the default graph

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def _from_ox(term):
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        datatype = term.datatype.value
        # rdflib treats "x" and "x"^^xsd:string as different terms; keep the plain form.
        return Literal(term.value) if datatype == _XSD_STRING else Literal(term.value, datatype=URIRef(datatype))
    if isinstance(term, ox.DefaultGraph) or term is None:
        return None
    raise ValidationInputError(f"unsupported RDF term in the data: {term}")


def quads_from_store(quads: Iterable[ox.Quad]) -> Iterator[RdfQuad]:
    """rdflib quads from pyoxigraph quads (``GraphStore.quads()`` or a scratch store)."""
    for quad in quads:
        yield (_from_ox(quad.subject), _from_ox(quad.predicate), _from_ox(quad.object),
               _from_ox(quad.graph_name))


def parse_rdf(data: bytes | str, fmt: str, *, graph: str | None = None, source: str = "body",
              base_iri: str | None = None) -> list[RdfQuad]:
    """Parse RDF in any rdflib syntax; dataset formats keep their graphs, triple formats go to
    ``graph`` (default graph when None)."""
    dataset = rdflib.Dataset()
    try:
        if fmt in DATASET_FORMATS:
            dataset.parse(data=data, format=fmt, publicID=base_iri)
            target = None
        else:
            target = dataset.graph(URIRef(graph)) if graph else dataset.default_graph
            target.parse(data=data, format=fmt, publicID=base_iri)
    except Exception as exc:  # rdflib raises many types for bad syntax
        raise ValidationInputError(f"{source}: cannot parse as {fmt}: {_short(exc)}") from None
    default_id = dataset.default_graph.identifier
    quads = []
    for s, p, o, g in dataset.quads((None, None, None, None)):
        name = getattr(g, "identifier", g)
        quads.append((s, p, o, None if name == default_id else name))
    return quads


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:400] or type(exc).__name__


def quads_from_files(paths: Iterable[Path]) -> list[RdfQuad]:
    """Parse files (or every RDF file under a folder) keeping their named graphs.

    Plain Turtle under an ``ontology`` folder goes into the ontology graph (as
    the build does); other triple files go into the default graph.
    """
    quads: list[RdfQuad] = []
    for path in _expand(paths):
        fmt = FILE_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValidationInputError(f"{path}: unknown RDF file type {path.suffix!r} "
                                       f"(known: {', '.join(sorted(FILE_FORMATS))})")
        graph = GRAPHS["ontology"] if fmt not in DATASET_FORMATS and path.parent.name == "ontology" else None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationInputError(f"{path}: cannot read: {exc.strerror}") from None
        quads.extend(parse_rdf(data, fmt, graph=graph, source=str(path), base_iri=path.resolve().as_uri()))
    return quads


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            children = [child for child in sorted(path.rglob("*")) if child.is_file()
                        and child.suffix.lower() in FILE_FORMATS and not child.name.startswith("shapes")]
            if path.name == "data" and (path.parent / "ontology").is_dir():
                _refuse_what_a_build_refuses(children, path.parent)  # a project's data/, read as the build reads it
            yield from children
        else:
            yield path


def _refuse_what_a_build_refuses(data_files: list[Path], source_dir: Path) -> None:
    from .store import TRIPLE_FORMATS, StoreError, refuse_an_export_beside_data

    for path in data_files:
        if path.suffix.lower() in TRIPLE_FORMATS:
            raise ValidationInputError(f"{path}: a data file must name its graphs (write it as TriG or N-Quads); "
                                       "the build refuses plain triples in data/")
    try:
        refuse_an_export_beside_data(data_files, source_dir)
    except StoreError as exc:
        raise ValidationInputError(str(exc)) from None


# ---------------------------------------------------------------------------
# The validation view


class _ViewGraph(rdflib.Graph):
    """An rdflib graph that parses each SPARQL text once.

    pyshacl sends a SPARQL constraint's text to ``query()`` once per focus
    node, and rdflib re-parses it every time; caching the parsed query cuts
    validation time by about three quarters.
    """

    def query(self, query_object, *args, **kwargs):
        if isinstance(query_object, str):
            query_object = _prepared(query_object)
        return super().query(query_object, *args, **kwargs)


@functools.lru_cache(maxsize=256)
def _prepared(text: str):
    return prepareQuery(text)


# The graphs whose triples the view marks, with the marker's predicates (subject, predicate, object).
_MARKED_GRAPHS = {
    URIRef(GRAPHS[name]): (SSIKGSH[f"{name}Subject"], SSIKGSH[f"{name}Predicate"], SSIKGSH[f"{name}Object"])
    for name in ("stated", "derived")
}


def _add_marker(view: rdflib.Graph, predicates: tuple, triple: tuple) -> None:
    """Mark ``triple`` as belonging to a marked graph: ``[] …Subject s ; …Predicate p ; …Object o``."""
    marker = BNode()
    for predicate, term in zip(predicates, triple, strict=True):
        view.add((marker, predicate, term))


def build_view(quads: Iterable[RdfQuad], *, page_texts: Iterable[str] = (), axioms: rdflib.Graph | None = None
               ) -> tuple[rdflib.Graph, int]:
    """The graph pyshacl validates (see the module docstring) and the number of data triples."""
    view = _ViewGraph()
    count = 0
    for s, p, o, g in quads:
        view.add((s, p, o))
        count += 1
        marked = _MARKED_GRAPHS.get(g)
        if marked is not None:
            _add_marker(view, marked, (s, p, o))
    for text in page_texts:
        view.add((SSIKGSH.sourcePage, SSIKGSH.sourceText, Literal(text)))
    if axioms is not None:
        view += axioms
    return view, count


# ---------------------------------------------------------------------------
# The report


# Longest namespace first, so that a term gets its most specific prefix.
_COMPACT_PREFIXES = sorted({**PREFIXES, "ssikgsh": SHAPES_NS}.items(), key=lambda kv: -len(kv[1]))


def _compact(term) -> str:
    if isinstance(term, URIRef):
        value = str(term)
        for prefix, iri in _COMPACT_PREFIXES:
            local = value[len(iri):]
            if value.startswith(iri) and local and "/" not in local and "#" not in local:
                return f"{prefix}:{local}"
        return f"<{value}>"
    if isinstance(term, BNode):
        return f"_:{term}"
    if isinstance(term, Literal):
        text = str(term)
        if len(text) > MAX_SHOWN_VALUE:
            text = text[:MAX_SHOWN_VALUE - 1] + "…"
        if term.language:
            return f'"{text}"@{term.language}'
        if term.datatype and str(term.datatype) != _XSD_STRING:
            return f'"{text}"^^{_compact(term.datatype)}'
        return f'"{text}"'
    return str(term)


def _term_json(term) -> str | None:
    if term is None:
        return None
    if isinstance(term, BNode):
        return f"_:{term}"
    return str(term)


@dataclass(frozen=True)
class ValidationResult:
    """One sh:ValidationResult, with what a maintainer needs to fix it."""

    focus: object
    path: object
    value: object
    shape: object  # sh:sourceShape
    constraint: object  # sh:sourceConstraint (SPARQL-based constraints), else None
    component: object
    severity: str
    messages: dict
    focus_labels: dict
    path_text: str | None

    def message(self, lang: str = "en") -> str:
        return (self.messages.get(lang) or self.messages.get("en") or self.messages.get("fr")
                or next(iter(self.messages.values()), "") or "")

    def focus_label(self, lang: str = "en") -> str:
        return self.focus_labels.get(lang) or self.focus_labels.get("") or _compact(self.focus)

    @property
    def rule(self):
        """The named rule that failed: the SPARQL constraint when it has an IRI, else the shape."""
        return self.constraint if isinstance(self.constraint, URIRef) else self.shape

    @property
    def shape_name(self) -> str | None:
        return _compact(self.rule) if isinstance(self.rule, URIRef) else None

    def as_dict(self, lang: str = "en") -> dict:
        return {
            "focus": _term_json(self.focus),
            "focus_label": self.focus_label(lang),
            "path": self.path_text,
            "value": _compact(self.value) if self.value is not None else None,
            "message": self.message(lang),
            "messages": {code: self.message(code) for code in LANGUAGES},
            "shape": _term_json(self.rule) if isinstance(self.rule, URIRef) else None,
            "source_shape": _term_json(self.shape),
            "shape_name": self.shape_name,
            "component": _compact(self.component) if self.component is not None else None,
            "severity": self.severity,
        }


_SUMMARY = {
    "fr": {
        "ok": "conforme : {triples} triplets validés contre {shapes} formes, aucun résultat",
        "ko": "non conforme : {results} résultat(s) sur {focus} nœud(s) ({violations} violation(s)), "
              "{triples} triplets validés contre {shapes} formes",
        "value": "valeur", "path": "chemin", "shape": "forme",
    },
    "en": {
        "ok": "conforms: {triples} triples validated against {shapes} shapes, no results",
        "ko": "does not conform: {results} result(s) on {focus} focus node(s) ({violations} violation(s)), "
              "{triples} triples validated against {shapes} shapes",
        "value": "value", "path": "path", "shape": "shape",
    },
}


@dataclass
class ValidationReport:
    conforms: bool
    results: list[ValidationResult]
    graph: rdflib.Graph
    triples: int
    shapes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(1 for r in self.results if r.severity == "Violation")

    def summary(self, lang: str = "en") -> str:
        words = _SUMMARY.get(lang, _SUMMARY["en"])
        template = words["ok"] if self.conforms and not self.results else words["ko"]
        return template.format(triples=self.triples, shapes=self.shapes, results=len(self.results),
                               focus=len({r.focus for r in self.results}), violations=self.violations)

    def grouped(self) -> list[tuple[object, list[ValidationResult]]]:
        groups: dict = {}
        for result in self.results:
            groups.setdefault(result.focus, []).append(result)
        return list(groups.items())

    def as_dict(self, lang: str = "en") -> dict:
        return {
            "conforms": self.conforms,
            "summary": self.summary(lang),
            "lang": lang,
            "results_count": len(self.results),
            "violations": self.violations,
            "focus_nodes": len({r.focus for r in self.results}),
            "triples": self.triples,
            "shapes": self.shapes,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "results": [r.as_dict(lang) for r in self.results],
        }

    def text(self, lang: str = "en") -> str:
        """A readable report grouped by focus node, ending with the one-line summary."""
        words = _SUMMARY.get(lang, _SUMMARY["en"])
        lines: list[str] = []
        for focus, results in self.grouped():
            label = results[0].focus_label(lang)
            name = _compact(focus)
            lines.append(f"{label} ({name})" if label != name else name)
            for r in results:
                lines.append(f"  - [{r.severity}] {r.message(lang)}")
                details = []
                if r.path_text:
                    details.append(f"{words['path']}: {r.path_text}")
                if r.value is not None:
                    details.append(f"{words['value']}: {_compact(r.value)}")
                if r.shape_name:
                    details.append(f"{words['shape']}: {r.shape_name}")
                if details:
                    lines.append("    " + " · ".join(details))
            lines.append("")
        lines.extend(self.notes)
        lines.append(self.summary(lang))
        return "\n".join(lines) + "\n"

    def serialize(self, fmt: str) -> bytes:
        """The sh:ValidationReport graph in an rdflib syntax (turtle, json-ld, nt, xml)."""
        graph = self.graph
        if fmt in {"turtle", "json-ld", "xml"}:
            graph.bind("sh", SH)
            graph.bind("ssikgsh", SSIKGSH)
            for prefix, iri in PREFIXES.items():
                graph.bind(prefix, iri)
        data = graph.serialize(format=fmt, encoding="utf-8")
        return data if isinstance(data, bytes) else data.encode("utf-8")


def _path_text(graph: rdflib.Graph, path) -> str | None:
    """SHACL path as readable SPARQL-like text."""
    if path is None:
        return None
    if isinstance(path, URIRef):
        return _compact(path)
    inverse = graph.value(path, SH.inversePath)
    if inverse is not None:
        return "^" + (_path_text(graph, inverse) or "?")
    alternatives = graph.value(path, SH.alternativePath)
    if alternatives is not None:
        items = list(rdflib.collection.Collection(graph, alternatives))
        return "(" + "|".join(_path_text(graph, i) or "?" for i in items) + ")"
    for predicate, suffix in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
        inner = graph.value(path, predicate)
        if inner is not None:
            return f"({_path_text(graph, inner)}){suffix}"
    if (path, RDF.first, None) in graph:
        return "/".join(_path_text(graph, i) or "?" for i in rdflib.collection.Collection(graph, path))
    return _compact(path)


def _labels(view: rdflib.Graph, node) -> dict:
    """Labels of a node by language ('' for the untagged fallback)."""
    labels: dict[str, str] = {}
    for predicate in (SKOS.prefLabel, RDFS.label, DCT.title):
        for literal in view.objects(node, predicate):
            if isinstance(literal, Literal):
                labels.setdefault(literal.language or "", str(literal))
    if isinstance(node, BNode) and (node, RDF.type, RDF.Statement) in view:
        parts = [view.value(node, p) for p in (RDF.subject, RDF.predicate, RDF.object)]
        described = " ".join(_compact(p) if p is not None else "?" for p in parts)
        labels.setdefault("fr", f"réification de {described}")
        labels.setdefault("en", f"reification of {described}")
    if "fr" in labels and "en" not in labels:
        labels.setdefault("", labels["fr"])
    return labels


_PLACEHOLDER = re.compile(r"\{[?$][A-Za-z_][A-Za-z0-9_]*\}")


@functools.lru_cache(maxsize=1024)
def _template_pattern(template: str) -> re.Pattern:
    """A regex matching ``template`` once pyshacl has filled its {?var} placeholders."""
    parts = _PLACEHOLDER.split(template)
    return re.compile("(?s:.*?)".join(re.escape(part) for part in parts) + r"\Z")


def _result_messages(report: rdflib.Graph, node, shapes: rdflib.Graph) -> dict[str, str]:
    """The result's messages by language.

    pyshacl drops the language tag when it fills a message's placeholders, so
    each message is matched back to the language-tagged template it came from.
    """
    templates = []
    for source in (report.value(node, SH.sourceConstraint), report.value(node, SH.sourceShape)):
        if source is not None:
            templates.extend(shapes.objects(source, SH.message))
        if templates:
            break
    messages: dict[str, str] = {}
    for literal in list(report.objects(node, SH.resultMessage)):
        text = str(literal)
        lang = getattr(literal, "language", None)
        if not lang:
            lang = next((t.language for t in templates
                         if t.language and _template_pattern(str(t)).match(text)), "")
            if lang:  # give the report graph its language tag back
                report.remove((node, SH.resultMessage, literal))
                report.add((node, SH.resultMessage, Literal(text, lang=lang)))
        messages.setdefault(lang or "", text)
    for template in templates:  # a language pyshacl did not report keeps its plain template
        if template.language and template.language not in messages and not _PLACEHOLDER.search(str(template)):
            messages[template.language] = str(template)
    return messages


def _read_results(report: rdflib.Graph, view: rdflib.Graph, shapes: rdflib.Graph) -> list[ValidationResult]:
    """The report's results, each said once: pyshacl repeats a result when two constraints of
    one shape fail on the same value (sh:nodeKind and sh:class both refuse a literal count) or a
    node is reached twice; the copies are dropped from the report graph too, so that every
    representation counts the same results."""
    found = []
    for node in list(report.subjects(RDF.type, SH.ValidationResult)):
        shape = report.value(node, SH.sourceShape)
        messages = _result_messages(report, node, shapes)
        severity = report.value(node, SH.resultSeverity)
        focus = report.value(node, SH.focusNode)
        path = report.value(node, SH.resultPath)
        found.append((node, ValidationResult(
            focus=focus, path=path, value=report.value(node, SH.value), shape=shape,
            constraint=report.value(node, SH.sourceConstraint),
            component=report.value(node, SH.sourceConstraintComponent),
            severity=str(severity).rsplit("#", 1)[-1] if severity else "Violation",
            messages=messages, focus_labels=_labels(view, focus),
            path_text=_path_text(report, path))))
    # Sorted before de-duplicating, so the copy kept (its component) is the same on every run.
    found.sort(key=lambda pair: _sort_key(pair[1]))
    results, seen = [], set()
    for node, result in found:
        identity = _identity(result)
        if identity in seen:
            _remove_result(report, node)
        else:
            seen.add(identity)
            results.append(result)
    return results


def _sort_key(result: ValidationResult) -> tuple:
    return (_SEVERITY_ORDER.get(result.severity, 3), result.focus_label("en"), str(result.focus),
            result.path_text or "", str(result.rule), _compact(result.value) if result.value is not None else "",
            str(result.component))


def _identity(result: ValidationResult) -> tuple:
    """What makes two results the same to a reader: node, path, value, rule, severity and messages
    (the path as text, since each result may carry its own copy of a complex path; not the
    constraint component, which the reader never sees apart from the message)."""
    return (result.focus, result.path_text, result.value, result.rule, result.severity,
            tuple(sorted(result.messages.items())))


def _remove_result(report: rdflib.Graph, node) -> None:
    """Take a result out of the report graph with the blank nodes only it used (a path, details)."""
    for link in list(report.subjects(SH.result, node)):
        report.remove((link, SH.result, node))
    pending = [node]
    while pending:
        subject = pending.pop()
        for _s, _p, obj in list(report.triples((subject, None, None))):
            report.remove((subject, _p, obj))
            if isinstance(obj, BNode) and (None, None, obj) not in report:
                pending.append(obj)


# ---------------------------------------------------------------------------
# Running


def read_page_texts(page: Path | None = None, *, source_dir: Path | None = None) -> list[str]:
    """The page copy's text, or [] when there is none (the quote checks are then skipped)."""
    path = Path(page) if page else default_page_path(source_dir)
    try:
        return [path.read_text(encoding="utf-8")]
    except FileNotFoundError:
        if page:
            raise ValidationInputError(f"{path}: no such page file") from None
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationInputError(f"{path}: cannot read the page text: {exc}") from None


_QUOTE_SHAPES = ("SourceStatement-quoteInPage", "VerbatimInPageShape")


# Shapes about the dataset as a whole: a part validated on its own lacks those graphs by design.
_WHOLE_DATASET_SHAPES = ("StoreShape",)


def validate_quads(quads: Iterable[RdfQuad], *, page_texts: Iterable[str] | None = None,
                   shapes: Shapes | None = None, source_dir: Path | None = None,
                   whole_dataset: bool = True) -> ValidationReport:
    """Validate rdflib quads (s, p, o, graph) against the shapes.  ``whole_dataset`` False (an
    upload validated alone) leaves out the rules requiring the dataset's graphs."""

    started = time.monotonic()
    shapes = shapes or load_shapes(default_shapes_path(source_dir))
    texts = list(read_page_texts(source_dir=source_dir) if page_texts is None else page_texts)
    view, triples = build_view(quads, page_texts=texts, axioms=shapes.axioms)
    switched_off = [] if texts else list(_QUOTE_SHAPES)
    if not whole_dataset:
        switched_off += _WHOLE_DATASET_SHAPES
    shapes_graph = shapes.graph
    if switched_off:
        shapes_graph = rdflib.Graph() + shapes.graph
        for name in switched_off:
            shapes_graph.add((SSIKGSH[name], SH.deactivated, Literal(True)))
    notes = []
    if not texts:
        # Without the page every quote would be flagged: those checks are off; say so.
        notes.append("note: no page text (data/source/page.txt); verbatim-quote checks skipped")
    conforms, report_graph = _run_pyshacl(view, shapes_graph)
    results = _read_results(report_graph, view, shapes.graph)
    return ValidationReport(conforms=bool(conforms), results=results, graph=report_graph, triples=triples,
                            shapes=shapes.count, seconds=time.monotonic() - started, notes=notes)


class TooDeepToValidate(ValidationInputError):
    """The data nests deeper than the validator's recursion allows (a chain or a list of a
    thousand links and more): rdflib evaluates property paths recursively."""


def _run_pyshacl(view, shapes_graph) -> tuple[bool, rdflib.Graph]:
    import pyshacl

    try:
        # a copy: pyshacl adds triples to the shapes graph it is given (owl:Class rdfs:subClassOf
        # rdfs:Class …), and the parsed shapes are kept for every later validation and served at /shapes
        conforms, report_graph, _text = pyshacl.validate(
            view, shacl_graph=rdflib.Graph() + shapes_graph, inference="none", advanced=False, inplace=True,
            allow_warnings=True, meta_shacl=False)
    except RecursionError:
        raise TooDeepToValidate(
            "the data cannot be validated: a chain of links (org:subOrganizationOf, org:reportsTo…) or an "
            "rdf:List in it is too long, or loops, for the validator, which follows paths recursively; "
            "validate a smaller part") from None
    if isinstance(report_graph, Exception):  # pyshacl returns a ValidationFailure for broken shapes
        raise ValidationInputError(f"the shapes cannot be applied: {report_graph}")
    return bool(conforms), report_graph


def undeclared_rules(report: ValidationReport) -> list[str]:
    """The rules (``ssikgsh:…Declared``, ``ssikgsh:DeclaredTerm-known``…) that fired because a
    resource or term is not declared in the validated data: a part validated alone (an upload,
    one file) often names what the rest of the data declares."""
    names = (r.shape_name for r in report.results if r.severity == "Violation")
    return sorted({name for name in names if name and "declared" in name.lower()})


def validate_store(store, **kwargs) -> ValidationReport:
    """Validate a :class:`~ssikg.store.GraphStore` (anything with ``quads()``)."""
    return validate_quads(quads_from_store(store.quads()), **kwargs)


def validate_files(paths: Iterable[Path], **kwargs) -> ValidationReport:
    return validate_quads(quads_from_files(paths), **kwargs)


# ---------------------------------------------------------------------------
# Validate-on-write


_before_cache: dict[tuple[int, str], Counter] = {}
_before_lock = threading.Lock()


def _result_key(result: ValidationResult) -> tuple:
    """A result's identity across two validations (blank node labels may differ per copy, a
    remote engine's above all, so a blank node counts by kind only — and results are
    counted, so that one existing result on a blank node does not hide new ones)."""
    def key(term):
        return "_:" if isinstance(term, BNode) else term
    return (key(result.focus), result.path_text, key(result.value), key(result.rule))


def _result_keys(report: ValidationReport) -> Counter:
    return Counter(_result_key(r) for r in report.results)


def _new_results(after: ValidationReport, before: Counter) -> list[ValidationResult]:
    """The results of ``after`` beyond those ``before`` had, key by key."""
    left = Counter(before)
    new = []
    for result in after.results:
        key = _result_key(result)
        if left[key] > 0:
            left[key] -= 1
        else:
            new.append(result)
    return new


def _existing_results(store, source_dir: Path | None) -> Counter:
    """Results the store already has, cached by its version, so only new breakage refuses a write."""
    cache_key = (id(store), str(store.version))
    with _before_lock:
        if cache_key in _before_cache:
            return _before_cache[cache_key]
    keys = _result_keys(_validate_whole(store.quads(), source_dir, "the write"))
    with _before_lock:
        _before_cache.clear()
        _before_cache[cache_key] = keys
    return keys


def _scratch_copy(store) -> ox.Store:
    scratch = ox.Store()
    scratch.extend(store.quads())
    return scratch


def _refuse_if_broken(store, scratch: ox.Store, what: str, source_dir: Path | None) -> None:
    """The reference check: validate the whole would-be store, refuse results the store lacks."""
    after = _validate_whole(scratch.quads_for_pattern(None, None, None, None), source_dir, what)
    if after.conforms and not after.results:
        return
    _refuse_new(what, after, _new_results(after, _existing_results(store, source_dir)))


def _validate_whole(quads, source_dir: Path | None, what: str) -> ValidationReport:
    """The whole-dataset report on pyoxigraph ``quads``: in a server, in the validation child
    (bounded as :func:`_validate_views` is), elsewhere in process."""
    timeout = _app_setting("validation_timeout")
    if timeout is None:
        return validate_quads(quads_from_store(quads), source_dir=source_dir)
    from .validation_process import check_whole_in_child

    return check_whole_in_child(quads, timeout=timeout, source_dir=source_dir,
                                memory_mb=_app_setting("validation_memory_mb") or 0, what=what)


def _refuse_new(what: str, after: ValidationReport, new: list[ValidationResult]) -> None:
    if not new:
        return
    report = _single(after, *new)
    raise SsikgError(
        422, f"{what} refused: it would break {len(new)} shape constraint(s); the store is unchanged. "
             f"{new[0].message('en')}",
        title="Validation failed",
        extra={"report": report.as_dict("en")})


def _single(report: ValidationReport, *results: ValidationResult) -> ValidationReport:
    return ValidationReport(conforms=False, results=list(results), graph=report.graph, triples=report.triples,
                            shapes=report.shapes, seconds=report.seconds, notes=report.notes)


def check_update(store, update_text: str, base_iri: str | None = None, *,
                 source_dir: Path | None = None, incremental: bool | None = None, what: str = "update") -> None:
    """Refuse (422) a SPARQL update whose result would break a shape; the store is not touched.

    An update made only of ``INSERT DATA`` / ``DELETE DATA`` operations is read for the quads
    it states (:mod:`ssikg.update_delta`); any other runs on a scratch in-memory copy of the
    store (seconds per million quads).  A malformed or
    failing update is refused with 400 here, before the store sees it.  The
    caller holds the store's write session across the check and the commit, so
    no other write comes between them.  An update calling a non-deterministic function
    (``RAND()``, ``NOW()``, ``UUID()``, ``STRUUID()``, ``BNODE()``: the result cache's list) is
    refused (400): the commit runs it again, and could then make another choice than the one checked.
    ``incremental`` (default: the module's :data:`INCREMENTAL_WRITES`) validates only what the
    update changes (:func:`_check_delta`); False validates the whole would-be store.  ``what``
    names the write in the refusal (a Graph Store load is checked as the update it makes).
    """
    _refuse_non_deterministic(update_text)
    _refuse_unvalidatable(store, incremental=_incremental(incremental))
    before, scratch, added, removed = update_changes(store, update_text, base_iri)
    _refuse_unstorable(added)
    _check(store, before, scratch, added, removed, what, _source_dir(source_dir), incremental)


def update_changes(store, update_text: str, base_iri: str | None = None):
    """``(before, after, added, removed)``: the store as read (``raw``, or a copy of a remote
    engine's), the store after the update when it had to be run on a copy (else None), and
    the quads the update adds and removes.  A malformed or failing update is a 400."""
    before = _before_state(store)
    with _update_errors():
        delta = data_only_delta(before, update_text, base_iri)
    if delta is not None:
        return before, None, *delta
    scratch = ox.Store()
    scratch.extend(before.quads_for_pattern(None, None, None, None))
    with _update_errors():
        scratch.update(update_text, base_iri=base_iri)
    return before, scratch, *_diff(before, scratch)


def refuse_unstorable_update(store, update_text: str, base_iri: str | None = None) -> None:
    """400 for an update that would store a literal typed ``rdf:langString`` or
    ``rdf:dirLangString`` without its language: Oxigraph's SPARQL parser and ``STRDT`` make
    one, but no RDF syntax can write it (N-Quads, TriG and Turtle parsers refuse it), so the
    store's own dumps and its validation would break.  Only an update that names one of
    these datatypes is read for its changes (on a copy, unless it is data only)."""
    if "langstring" in update_text.lower():
        _refuse_unstorable(update_changes(store, update_text, base_iri)[2])


def _refuse_unstorable(added: list) -> None:
    from .uploads import refuse_unwritable

    refuse_unwritable(added, "the update")


@contextmanager
def _update_errors():
    """A malformed or failing update as the 400 the commit would have given."""
    try:
        yield
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed update: {exc}", title="Malformed update") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise SsikgError(400, f"the update failed and changed nothing: {exc}", title="Update failed") from None


def _diff(before: ox.Store, after: ox.Store) -> tuple[list[ox.Quad], list[ox.Quad]]:
    """The quads an update added and removed: one pass over the result finds the additions; the
    sizes then tell whether anything was removed, and only then is the store passed over too."""
    added = [quad for quad in after.quads_for_pattern(None, None, None, None) if quad not in before]
    if len(before) + len(added) == len(after):
        return added, []
    return added, [quad for quad in before.quads_for_pattern(None, None, None, None) if quad not in after]


def _refuse_non_deterministic(update_text: str) -> None:
    calls = non_deterministic_calls(update_text)
    if calls:
        named = ", ".join(f"{name}()" for name in calls)
        raise SsikgError(400, f"validate_on_write checks an update by running it on a copy, then runs it again "
                              f"on the store: {named} could give another value the second time, so what is "
                              f"committed might not be what was checked; write the values out instead",
                         title="Update not checkable", extra={"functions": calls})


def check_graph_write(store, graph: str | None, triples: Iterable, mode: str, *,
                      source_dir: Path | None = None, incremental: bool | None = None) -> None:
    """Refuse (422) a Graph Store write whose result would break a shape.

    ``mode`` is ``replace`` (PUT), ``add`` (POST) or ``delete`` (DELETE);
    ``graph`` is the graph IRI (``""`` or None for the default graph);
    ``triples`` are pyoxigraph Triples or Quads (their graph is ignored).  The write's
    added and removed quads are computed from the request itself (no copy of the store is
    needed for the incremental check); ``incremental`` as for :func:`check_update`.
    """
    if mode not in {"replace", "add", "delete"}:
        raise ValueError(f"unknown graph write mode {mode!r}")
    _refuse_unvalidatable(store, incremental=_incremental(incremental))
    before = _before_state(store)
    target = ox.DefaultGraph() if graph in (None, "") else ox.NamedNode(graph)
    new = set() if mode == "delete" else {ox.Quad(t.subject, t.predicate, t.object, target) for t in triples}
    if mode == "add":
        added, removed = [quad for quad in new if quad not in before], []
    else:
        current = set(before.quads_for_pattern(None, None, None, target))
        added, removed = list(new - current), list(current - new)
    what = {"replace": "graph store PUT", "add": "graph store POST", "delete": "graph store DELETE"}[mode]
    _check(store, before, None, added, removed, what, _source_dir(source_dir), incremental)


def _incremental(incremental: bool | None) -> bool:
    return INCREMENTAL_WRITES if incremental is None else incremental


def _before_state(store) -> ox.Store:
    """The store's content as a pyoxigraph store to read by pattern: the embedded store itself
    (the caller holds its write session), else an in-memory copy (a remote engine)."""
    raw = getattr(store, "raw", None)
    return raw if isinstance(raw, ox.Store) else _scratch_copy(store)


def _check(store, before: ox.Store, after: ox.Store | None, added: list, removed: list, what: str,
           source_dir: Path | None, incremental: bool | None) -> None:
    try:
        _check_changes(store, before, after, added, removed, what, source_dir, incremental)
    except TooDeepToValidate as exc:
        raise SsikgError(400, f"{what} refused: {exc}; the store is unchanged",
                         title="Not checkable") from None
    except ValidationInputError as exc:  # e.g. an RDF 1.2 triple term, which the validator cannot read
        raise SsikgError(400, f"{what} refused: it cannot be checked against the shapes ({exc}); the store "
                              "is unchanged; turn validate_on_write off to write it unchecked",
                         title="Not checkable") from None


def _check_changes(store, before: ox.Store, after: ox.Store | None, added: list, removed: list, what: str,
                   source_dir: Path | None, incremental: bool | None) -> None:
    if not added and not removed:
        return  # nothing changes: nothing new can break
    if _incremental(incremental) and len(added) + len(removed) <= INCREMENTAL_MAX_CHANGES:
        try:
            _check_delta(before, added, removed, what, source_dir)
            return
        except _TooBroad:
            pass  # the write reaches too much of the store: validate all of it
    _refuse_unvalidatable(store, incremental=False)
    if after is None:
        after = ox.Store()
        after.extend(before.quads_for_pattern(None, None, None, None))
        for quad in removed:
            after.remove(quad)
        after.extend(added)
    _refuse_if_broken(store, after, what, source_dir)


# ---------------------------------------------------------------------------
# Incremental validation of a checked write
#
# A write can only change the results of the nodes whose data it changes and of the nodes
# whose rules read that data.  The check therefore validates two small views, cut from the
# store before and after the write by the same selection: the *focus* nodes a rule could judge
# differently, each with everything its rules read.  The results on the focus nodes, after
# minus before, are the write's new results — the same as the whole store's after minus before,
# since whatever lies outside the selection, or inside it but untouched, counts the same in the
# two views.  The reach of the rules is derived from the shapes (their paths and fixed target
# nodes) plus what their SPARQL constraints read, written out below from shapes.ttl.
# tests/test_validation_incremental.py checks, for every mutation of the shape tests, that the
# verdict and the new results are those of the whole-store check (``incremental=False``).

INCREMENTAL_WRITES = True  # False: every checked write validates the whole would-be store
INCREMENTAL_MAX_CHANGES = 20_000  # quads a write may change before the whole store is validated
INCREMENTAL_MAX_NODES = 20_000  # focus and support nodes a selection may reach, likewise


class _TooBroad(Exception):
    """The write reaches too much of the store for a selection to pay: validate everything."""


def _iri(value: str) -> ox.NamedNode:
    return ox.NamedNode(value)


_RDF_NS, _ORG_NS, _SSIKG_NS = str(RDF), PREFIXES["org"], PREFIXES["ssikg"]
_RDF_TYPE, _RDF_SUBJECT, _RDF_PREDICATE, _RDF_OBJECT = (_iri(_RDF_NS + n) for n in ("type", "subject", "predicate",
                                                                                   "object"))
_DERIVED_FROM = _iri(PREFIXES["prov"] + "wasDerivedFrom")
_SOURCE_STATEMENT = _iri(_SSIKG_NS + "SourceStatement")
_REPORTS_TO = _iri(_ORG_NS + "reportsTo")
_UP = frozenset(_iri(_ORG_NS + n) for n in ("subOrganizationOf", "unitOf")) | {_iri(_SSIKG_NS + "jointDirectorateOf")}
_DOWN = frozenset(_iri(_ORG_NS + n) for n in ("hasSubOrganization", "hasUnit"))
_CLASSIFICATION, _INSTALLED_WITHIN = _iri(_ORG_NS + "classification"), _iri(_SSIKG_NS + "installedWithin")
_DEFINED_BY, _OWL_ONTOLOGY = _iri(str(RDFS.isDefinedBy)), _iri("http://www.w3.org/2002/07/owl#Ontology")
_ONTOLOGY_NODE = _iri(ONTOLOGY)
_REIFICATION_LINKS = frozenset({_RDF_SUBJECT, _RDF_PREDICATE, _RDF_OBJECT, _DERIVED_FROM})
_FACT_NUMBER = re.compile(re.escape(FACT) + r"F([0-9]+)")
_GRAPH_STATED, _GRAPH_EDITORIAL = _iri(GRAPHS["stated"]), _iri(GRAPHS["editorial"])
_SSI_TYPE = _iri(CONCEPT + "type-ssi")

# What the SPARQL constraints read beyond their focus node's own triples (their text is not
# parsed; read from shapes.ttl):
# * from the focus to a value whose data they read: the subordinate's org:reportsTo
#   (JointAuthority-holderIsReportsTo), the quantity's bounds (CountedQuantity-noExactCount),
#   the reified triple (Reification-tripleExists), the fact's type (the provenance rules);
_SPARQL_VALUE_LINKS = frozenset({_iri(_SSIKG_NS + "subordinate"), _iri(_SSIKG_NS + "personnelCount"),
                                 _iri(_SSIKG_NS + "countryCoverage"), _RDF_SUBJECT, _DERIVED_FROM})
# * what they read there;
_SPARQL_VALUE_READS = frozenset({_REPORTS_TO, _iri(_SSIKG_NS + "exclusiveLowerBound"),
                                 _iri(_SSIKG_NS + "inclusiveLowerBound")})
# * links they follow backwards to their focus: its reifications, the inverse hierarchy links
#   (InternalSecurityService-inEmbassy, which reads the organisations concept:type-ssi
#   classifies, is given its items by _support_whole_dataset_rules);
_SPARQL_INVERSE_LINKS = frozenset({_RDF_SUBJECT}) | _DOWN
# * values another node may share (OrganisationIdentifier-unique, SourceStatement-factIdUnique).
_UNIQUE_VALUES = frozenset({_iri(_ORG_NS + "identifier"), _iri(_SSIKG_NS + "factId")})

_VALUE_READING = tuple(URIRef(str(SH) + name) for name in ("class", "or", "and", "xone", "not", "node",
                                                           "qualifiedValueShape"))


@dataclass(frozen=True)
class _Reach:
    """How far the shapes read from a focus node, derived from the shapes graph."""

    fixed_nodes: frozenset  # sh:targetNode: focus nodes whatever the data
    value_links: frozenset  # focus → value links along which a rule reads the value's own data
    value_reads: frozenset  # the value's predicates such a rule reads (rdf:type for sh:class…)
    inverse_links: frozenset  # links a rule follows from the value back to its focus


_reach_cache: dict[int, _Reach] = {}


def _reach(shapes: Shapes) -> _Reach:
    cached = _reach_cache.get(id(shapes.graph))
    if cached is not None:
        return cached
    graph = shapes.graph
    value_links, value_reads, inverse_links = set(_SPARQL_VALUE_LINKS), {_RDF_TYPE} | _SPARQL_VALUE_READS, set()
    for shape in set(graph.subjects(SH.path, None)):
        path = graph.value(shape, SH.path)
        inverse_links |= _path_predicates(graph, path, inverse=True)
        constraints = [graph.value(shape, c) for c in _VALUE_READING if (shape, c, None) in graph]
        if not constraints:
            continue
        value_links |= _path_predicates(graph, path)
        for constraint in constraints:  # a nested shape's paths are read at the value
            members = list(rdflib.collection.Collection(graph, constraint)) if (constraint, RDF.first, None) in graph \
                else [constraint]
            for member in members:
                value_reads |= _path_predicates(graph, graph.value(member, SH.path))
    # A shape targeting the objects of a predicate reads that link backwards too.
    inverse_links |= {_iri(str(p)) for p in graph.objects(None, SH.targetObjectsOf)}
    reach = _Reach(frozenset(_from_rdflib(n) for n in graph.objects(None, SH.targetNode)),
                   frozenset(value_links), frozenset(value_reads), frozenset(inverse_links | _SPARQL_INVERSE_LINKS))
    _reach_cache.clear()
    _reach_cache[id(shapes.graph)] = reach
    return reach


def _path_predicates(graph: rdflib.Graph, path, *, inverse: bool = False) -> set:
    """The predicates of a SHACL path walked forwards (or, with ``inverse``, those under sh:inversePath)."""
    if path is None:
        return set()
    if isinstance(path, URIRef):
        return set() if inverse else {_iri(str(path))}
    found: set = set()
    inner = graph.value(path, SH.inversePath)
    if inner is not None:
        return _path_predicates(graph, inner) if inverse else set()
    alternatives = graph.value(path, SH.alternativePath)
    items = list(rdflib.collection.Collection(graph, alternatives if alternatives is not None else path)) \
        if alternatives is not None or (path, RDF.first, None) in graph else []
    for predicate in (SH.zeroOrMorePath, SH.oneOrMorePath, SH.zeroOrOnePath):
        if graph.value(path, predicate) is not None:
            items.append(graph.value(path, predicate))
    for item in items:
        found |= _path_predicates(graph, item, inverse=inverse)
    return found


def _from_rdflib(term):
    return ox.BlankNode(str(term)) if isinstance(term, BNode) else _iri(str(term))


class _Selection:
    """What to cut from each state: nodes with all their triples, (subject, predicate) and
    (predicate, object) patterns, and single triples — the same patterns for before and after."""

    def __init__(self, states: tuple[ox.Store, ox.Store]):
        self.states = states
        self.nodes: set = set()
        self.out_links: set = set()
        self.in_links: set = set()
        self.triples: set = set()

    def match(self, s, p, o) -> Iterator[ox.Quad]:
        for state in self.states:
            yield from state.quads_for_pattern(s, p, o, None)

    def objects(self, s, p) -> set:
        return {q.object for q in self.match(s, p, None)}

    def subjects(self, p, o) -> set:
        return {q.subject for q in self.match(None, p, o)}

    def cut(self, state: ox.Store) -> set:
        quads = set()
        for node in self.nodes:
            quads.update(state.quads_for_pattern(node, None, None, None))
        for s, p in self.out_links:
            quads.update(state.quads_for_pattern(s, p, None, None))
        for p, o in self.in_links:
            quads.update(state.quads_for_pattern(None, p, o, None))
        for s, p, o in self.triples:
            quads.update(state.quads_for_pattern(s, p, o, None))
        return quads


def _is_node(term) -> bool:
    return isinstance(term, (ox.NamedNode, ox.BlankNode))


def _select(states, touched: set, reach: _Reach) -> tuple[set, _Selection]:
    """The focus nodes a write may change a result on, and the selection that supports them."""
    sel = _Selection(states)
    subjects = {s for s, _p, _o in touched}
    # An object's own results change only when a rule reads the link backwards (^org:hasPost,
    # the facts a reification derives from…); a rule reading it forwards judges the subject.
    focus = subjects | {o for _s, p, o in touched if p in reach.inverse_links and _is_node(o)}
    for s, p, _o in touched:
        if p in reach.value_reads:  # a value's type, post holder, superior or bound: its referrers
            for link in reach.value_links:
                focus |= sel.subjects(link, s)
    for s in subjects:  # the reifications of a touched subject (Reification-tripleExists)
        focus |= sel.subjects(_RDF_SUBJECT, s)
    for node in list(focus):  # a reification changed: the subject whose provenance it carries
        focus |= sel.objects(node, _RDF_SUBJECT)
    cyclic = _cyclic_nodes(sel, touched)
    for s, p, o in touched:
        if p in _UNIQUE_VALUES:
            focus |= sel.subjects(p, o)
        if s in cyclic or o in cyclic:
            focus |= _cycle_through(sel, s, p, o)
    focus |= reach.fixed_nodes
    _guard(focus)
    _support_focus(sel, focus, reach)
    _support_whole_dataset_rules(sel, touched)
    return focus, sel


def _guard(nodes) -> None:
    if len(nodes) > INCREMENTAL_MAX_NODES:
        raise _TooBroad


def _up(sel: _Selection, node) -> set:
    found = set()
    for link in _UP:
        found |= sel.objects(node, link)
    for link in _DOWN:
        found |= sel.subjects(link, node)
    return found


def _closure(sel: _Selection, start, step) -> set:
    return _closure_of_all(sel, [start], step)


def _closure_of_all(sel: _Selection, starts, step) -> set:
    """Every node reached from ``starts`` (themselves included) by ``step``, in one walk."""
    seen = {start for start in starts if _is_node(start)}
    pending = list(seen)
    while pending:
        for following in step(sel, pending.pop()):
            if following not in seen:
                seen.add(following)
                pending.append(following)
                _guard(seen)
    return seen


def _superiors(sel: _Selection, node) -> set:
    return sel.objects(node, _REPORTS_TO)


def _cyclic_nodes(sel: _Selection, touched: set) -> set:
    """The nodes that lie on some cycle of reporting or containment links reachable from the
    touched links (one pass: Tarjan's strongly connected components), so that the closure of
    :func:`_cycle_through` is computed only for links that may close one — per link, it made
    a chain of n new links cost n² (a 1,500-link chain: 84 s)."""
    cyclic = set()
    for step, links in ((_superiors, {_REPORTS_TO}), (_up, set(_UP) | set(_DOWN))):
        starts = {term for s, p, o in touched if p in links for term in (s, o) if _is_node(term)}
        if starts:
            cyclic |= _nodes_on_cycles(sel, starts, step)
    return cyclic


def _nodes_on_cycles(sel: _Selection, starts: set, step) -> set:
    """Nodes in a strongly connected component of more than one node, or with a loop, among
    those reachable from ``starts`` by ``step`` (iterative Tarjan)."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    found: set = set()
    counter = 0
    for root in starts:
        if root in index:
            continue
        work = [(root, iter(step(sel, root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for following in successors:
                if following == node:
                    found.add(node)
                if following not in index:
                    index[following] = low[following] = counter
                    counter += 1
                    stack.append(following)
                    on_stack.add(following)
                    _guard(index)
                    work.append((following, iter(step(sel, following))))
                    advanced = True
                    break
                if following in on_stack:
                    low[node] = min(low[node], index[following])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.update(component)
    return found


def _cycle_through(sel: _Selection, s, p, o) -> set:
    """Every node of a cycle a touched link closes or opens (each is reported by the cycle rules)."""
    if p == _REPORTS_TO:
        lower, upper, step = s, o, _superiors
    elif p in _UP:
        lower, upper, step = s, o, _up
    elif p in _DOWN:
        lower, upper, step = o, s, _up
    else:
        return set()
    closure = _closure(sel, upper, step)
    return closure if lower in closure else set()


def _support_focus(sel: _Selection, focus: set, reach: _Reach) -> None:
    """Everything a focus node's rules read: its triples and markers, the links back to it, its
    values' and referrers' triples with their values' types, its chains of superiors and parents,
    and the nodes sharing its unique values."""
    neighbours = set()
    for node in focus:
        sel.nodes.add(node)
        for quad in sel.match(node, None, None):
            if quad.predicate in reach.value_links and _is_node(quad.object):
                neighbours.add(quad.object)
            if quad.predicate in _UNIQUE_VALUES:
                sel.in_links.add((quad.predicate, quad.object))
        sel.in_links.update((link, node) for link in reach.inverse_links)  # counted, or followed below
        neighbours |= sel.subjects(_RDF_SUBJECT, node)  # its reifications, read in full
    # the chains of superiors and parents of all focus nodes, each walked once
    for upper in _closure_of_all(sel, focus, _superiors):
        sel.out_links.add((upper, _REPORTS_TO))
    for upper in _closure_of_all(sel, focus, _up):
        sel.out_links.update((upper, link) for link in _UP)
        sel.in_links.update((link, upper) for link in _DOWN)
    _guard(neighbours)
    for node in neighbours - focus:  # what the rules read at a value (its type, holder, superior…)
        sel.out_links.update((node, predicate) for predicate in reach.value_reads)
        # and at a reification (typed rdf:Statement or not: the provenance rules do not ask):
        # what it describes, the facts it derives from and their type, the triple itself
        sel.out_links.update((node, link) for link in _REIFICATION_LINKS)
        for fact in sel.objects(node, _DERIVED_FROM):
            sel.out_links.add((fact, _RDF_TYPE))
        sel.triples.update(_reified(sel, node))


def _support_whole_dataset_rules(sel: _Selection, touched: set) -> None:
    """The items of the rules on fixed nodes that the write may change, with what they read."""
    # Store-requiredGraphs: one piece of evidence per required graph, the same in both views
    # when one survives the write.
    sel.nodes.update((_ONTOLOGY_NODE, _GRAPH_EDITORIAL))
    for pattern in ((None, _RDF_TYPE, _iri(str(SKOS.ConceptScheme)), None), (None, None, None, _GRAPH_STATED),
                    (None, _RDF_TYPE, _SOURCE_STATEMENT, None)):
        sel.triples.update(_witnesses(sel.states, pattern))
    # DeclaredTerm-known: the terms the write uses or declares, each with a use and its declaration.
    terms = {p for _s, p, _o in touched} | {o for _s, p, o in touched if p == _RDF_TYPE}
    terms |= {s for s, p, _o in touched if p == _DEFINED_BY}
    if (_ONTOLOGY_NODE, _RDF_TYPE, _OWL_ONTOLOGY) in touched:  # every project term changes at once
        terms |= _project_terms(sel.states)
    _guard(terms)
    for term in terms:
        if isinstance(term, ox.NamedNode):
            sel.nodes.add(term)
            sel.triples.update(_witnesses(sel.states, (None, term, None, None)))
            sel.triples.update(_witnesses(sel.states, (None, _RDF_TYPE, term, None)))
    # DerivedTriple-hasJustification: touched triples, those whose reification or fact changed.
    items = set(touched)
    for s, p, o in touched:
        if p in _REIFICATION_LINKS:
            items |= _reified(sel, s)
        if p == _RDF_TYPE and o == _SOURCE_STATEMENT:
            for statement in sel.subjects(_DERIVED_FROM, s):
                items |= _reified(sel, statement)
    _guard(items)
    for s, p, o in items:
        sel.triples.add((s, p, o))
        sel.in_links.add((_RDF_SUBJECT, s))
        for statement in sel.subjects(_RDF_SUBJECT, s):
            sel.nodes.add(statement)
            for fact in sel.objects(statement, _DERIVED_FROM):
                sel.out_links.add((fact, _RDF_TYPE))
    # SourceStatement-noGap: a fact added or removed, and its neighbours in the numbering.
    for s, p, o in touched:
        number = _FACT_NUMBER.fullmatch(s.value) if isinstance(s, ox.NamedNode) else None
        if p == _RDF_TYPE and o == _SOURCE_STATEMENT and number:
            for k in range(int(number[1]) - 1, int(number[1]) + 2):
                sel.triples.add((_iri(f"{FACT}F{k}"), _RDF_TYPE, _SOURCE_STATEMENT))
    # InternalSecurityService-inEmbassy: the organisations whose classification or hosting
    # changed, and those hosted by an organisation whose classification changed.
    hosted = {s for s, p, _o in touched if p in (_CLASSIFICATION, _INSTALLED_WITHIN)}
    for s, p, _o in touched:
        if p == _CLASSIFICATION:
            hosted |= sel.subjects(_INSTALLED_WITHIN, s)
    _guard(hosted)
    for organisation in hosted:
        sel.triples.add((organisation, _CLASSIFICATION, _SSI_TYPE))
        sel.out_links.add((organisation, _INSTALLED_WITHIN))
        for host in sel.objects(organisation, _INSTALLED_WITHIN):
            sel.out_links.add((host, _CLASSIFICATION))


def _witnesses(states, pattern) -> set:
    """A triple matching ``pattern`` that both states hold, so that the two views see the same;
    when the write removed every one, the first of each state (both then belong to the write)."""
    before, after = states
    for quad in before.quads_for_pattern(*pattern):
        if quad in after:
            return {(quad.subject, quad.predicate, quad.object)}
    found = set()
    for state in states:
        for quad in state.quads_for_pattern(*pattern):
            found.add((quad.subject, quad.predicate, quad.object))
            break
    return found


def _reified(sel: _Selection, statement) -> set:
    """The triples a reification describes, in either state."""
    return {(s, p, o) for s in sel.objects(statement, _RDF_SUBJECT) for p in sel.objects(statement, _RDF_PREDICATE)
            for o in sel.objects(statement, _RDF_OBJECT) if _is_node(s) and isinstance(p, ox.NamedNode)}


def _project_terms(states) -> set:
    terms = set()
    for state in states:
        for row in state.query("SELECT DISTINCT ?t { { ?s ?t ?o } UNION { ?s a ?t } "
                               f"FILTER (STRSTARTS(STR(?t), \"{_SSIKG_NS}\")) }}", use_default_graph_as_union=True):
            terms.add(row["t"])
    return terms


def _check_delta(before: ox.Store, added: list, removed: list, what: str, source_dir: Path | None) -> None:
    """Refuse (422) the write's new results, found by validating only what it can change."""
    started = time.monotonic()
    touched = {(q.subject, q.predicate, q.object) for q in (*added, *removed)}
    after = ox.Store()
    after.extend(added)
    after = _Overlay(before, after, set(removed))
    shapes = load_shapes(default_shapes_path(source_dir))
    focus, selection = _select((before, after), touched, _reach(shapes))
    idle = _idle_whole_dataset_shapes(touched)
    after_report, before_report = _validate_views(selection.cut(after), lambda: selection.cut(before), focus,
                                                  shapes, idle, what, source_dir)
    if before_report is None:
        return  # nothing to refuse: what the store had before does not matter
    after_report.triples = len(before) + len(added) - len(removed)
    after_report.seconds = time.monotonic() - started
    _refuse_new(what, after_report, _new_results(after_report, _result_keys(before_report)))


def _validate_views(after: set, before, focus: set, shapes: Shapes, idle: list[str], what: str,
                    source_dir: Path | None) -> tuple[ValidationReport, ValidationReport | None]:
    """The reports on the cut views after and (only when that one has results) ``before()``.
    In a server they are made in a child process (:mod:`ssikg.validation_process`): pyshacl
    cannot be interrupted and holds the interpreter, so there the check is bounded by
    ``validation_timeout`` and ``validation_memory_mb`` (the write is then not made) and the
    server's other requests go on at full speed; elsewhere (tests, tools) in process."""
    timeout = _app_setting("validation_timeout")
    if timeout is not None:
        from .validation_process import check_focus_in_child

        return check_focus_in_child(after, before(), focus, idle, timeout=timeout, source_dir=source_dir,
                                    memory_mb=_app_setting("validation_memory_mb") or 0, what=what)
    texts = read_page_texts(source_dir=source_dir)
    after_report = validate_focus(after, focus, shapes, texts, idle)
    if not after_report.results:
        return after_report, None
    return after_report, validate_focus(before(), focus, shapes, texts, idle)


def _idle_whole_dataset_shapes(touched: set) -> list[str]:
    """Whole-dataset shapes whose results the write cannot change, left out of both views'
    validation.  SourceStatement-noGap reads only the ``a ssikg:SourceStatement`` triples of
    the view (no inference: the view is the data), which are the same before and after unless
    the write adds or removes one; yet it judges every fact the view holds (a fact is read as
    support of each reification), so on a write touching thousands of nodes it took half the
    check's time, for results it could only find in both views."""
    if any(p == _RDF_TYPE and o == _SOURCE_STATEMENT for _s, p, o in touched):
        return []
    return ["FactNumberingShape"]


# pyshacl's focus_nodes option cannot be used: it keeps IRIs only (a reification is a blank
# node) and, in pyshacl 0.40, also filters the values a nested shape checks (sh:or of
# datatypes, sh:qualifiedValueShape), changing verdicts.  Instead each shape's targets are
# resolved on the cut view and replaced by the focus nodes among them (sh:targetNode).
_TARGETS = (SH.targetClass, SH.targetSubjectsOf, SH.targetObjectsOf, SH.targetNode)


def _focused_shapes(shapes_graph: rdflib.Graph, view: rdflib.Graph, focus: set) -> rdflib.Graph:
    """The shapes with each shape's targets narrowed to the focus nodes it targets in ``view``."""
    graph = rdflib.Graph() + shapes_graph
    for shape in {s for predicate in _TARGETS for s in shapes_graph.subjects(predicate, None)}:
        targets = set()
        for cls in shapes_graph.objects(shape, SH.targetClass):
            classes = set(view.transitive_subjects(RDFS.subClassOf, cls))
            targets |= {n for n in focus if any((n, RDF.type, c) in view for c in classes)}
        for predicate in shapes_graph.objects(shape, SH.targetSubjectsOf):
            targets |= {n for n in focus if (n, predicate, None) in view}
        for predicate in shapes_graph.objects(shape, SH.targetObjectsOf):
            targets |= {n for n in focus if (None, predicate, n) in view}
        targets |= focus & set(shapes_graph.objects(shape, SH.targetNode))
        for predicate in _TARGETS:
            graph.remove((shape, predicate, None))
        for node in targets:
            graph.add((shape, SH.targetNode, node))
    return graph


def validate_focus(quads: set, focus: set, shapes: Shapes, texts: list[str],
                    idle: list[str] = ()) -> ValidationReport:
    """Validate a cut view on the focus nodes only, the ``idle`` shapes switched off."""

    started = time.monotonic()
    view, triples = build_view(quads_from_store(quads), page_texts=texts, axioms=shapes.axioms)
    shapes_graph = _focused_shapes(shapes.graph, view, {_from_ox(node) for node in focus})
    for name in [*idle, *([] if texts else _QUOTE_SHAPES)]:
        shapes_graph.add((SSIKGSH[name], SH.deactivated, Literal(True)))
    conforms, report_graph = _run_pyshacl(view, shapes_graph)
    notes = [] if texts else ["note: no page text (data/source/page.txt); verbatim-quote checks skipped"]
    return ValidationReport(conforms=bool(conforms), results=_read_results(report_graph, view, shapes.graph),
                            graph=report_graph, triples=triples, shapes=shapes.count,
                            seconds=time.monotonic() - started, notes=notes)


class _Overlay:
    """The store after a write, read by pattern without copying it: the store's quads minus the
    removed ones, plus the added ones."""

    def __init__(self, base: ox.Store, added: ox.Store, removed: set):
        self.base, self.added, self.removed = base, added, removed

    def quads_for_pattern(self, s, p, o, g=None):
        for quad in self.base.quads_for_pattern(s, p, o, g):
            if quad not in self.removed:
                yield quad
        yield from self.added.quads_for_pattern(s, p, o, g)

    def __contains__(self, quad) -> bool:
        return quad not in self.removed and (quad in self.base or quad in self.added)

    def query(self, text, **kwargs):
        rows = []
        for store in (self.base, self.added):  # only for term lists: a union of the two is enough
            rows.extend(store.query(text, **kwargs))
        return rows


def _source_dir(source_dir: Path | None) -> Path | None:
    """The explicit folder, else the current app's source_dir setting (shapes and page live there)."""
    return source_dir if source_dir is not None else _app_setting("source_dir")


def _app_setting(name: str):
    """The current app's setting ``name``; None outside an app."""
    try:
        from flask import current_app

        return current_app.config["SSIKG"][name]
    except (RuntimeError, KeyError):
        return None


def _refuse_unvalidatable(store, *, incremental: bool) -> None:
    """413 before a checked write on a store too large to check it, rather than left waiting.
    A whole-store check (a write reaching too much of the store, or incremental checks off) is
    bounded by ``validate_max_triples`` (a million triples took over 15 minutes).  An incremental
    check costs what the write reaches plus, for an update other than ``INSERT DATA`` /
    ``DELETE DATA``, a copy of the store: its own bound is
    ``validate_write_max_triples``, which follows ``validate_max_triples`` when unset."""
    setting, limit = "validate_max_triples", _app_setting("validate_max_triples") or 0
    if incremental and _app_setting("validate_write_max_triples") is not None:
        setting, limit = "validate_write_max_triples", _app_setting("validate_write_max_triples")
    try:
        check_triple_limit(len(store), limit, "the store", setting=setting,
                           hint=f"validate_on_write validates what each write changes, or the whole store when "
                                f"a write reaches too much of it; raise {setting} (0 = no limit) or turn "
                                f"validate_on_write off")
    except TooLargeToValidate as exc:
        raise SsikgError(413, f"the write was not made: {exc}", title="Too large to validate",
                         extra={"triples": exc.triples, setting: exc.limit}) from None


__all__ = [
    "ShapesUnavailable", "TooDeepToValidate", "TooLargeToValidate", "ValidationInputError", "ValidationReport", "ValidationResult", "build_view",
    "check_graph_write", "check_triple_limit", "check_update", "load_shapes", "parse_rdf", "quads_from_files",
    "quads_from_store", "undeclared_rules", "validate_files", "validate_quads", "validate_store",
]
