"""Validation of the knowledge graph against the SHACL shapes in ``ontology/shapes.ttl``.

This module owns the validation engine: it builds the *validation view* of a
dataset (the store's quads, or RDF files in any syntax), runs pyshacl over it,
and turns pyshacl's ``sh:ValidationReport`` into a :class:`ValidationReport`
with labels, paths, values and messages in French or English.  It also owns
validate-on-write: :func:`check_update` and :func:`check_graph_write` compute
the would-be state of a write in a scratch in-memory copy and refuse (422) a
write that would break a shape.

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
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import rdflib
from rdflib import RDF, RDFS, SH, BNode, Literal, URIRef
from rdflib.namespace import SKOS
from rdflib.plugins.sparql import prepareQuery

from .errors import SsikgError
from .namespaces import GRAPHS, PREFIXES, STATED_GRAPH
from .result_cache import non_deterministic_calls
from .settings import PROJECT_ROOT

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


class TooLargeToValidate(ValidationInputError):
    """More triples than ``validate_max_triples``: pyshacl would need minutes and gigabytes
    (a million triples ran over 15 minutes in a 2.2 GB process), so it is not started."""

    def __init__(self, triples: int, limit: int, what: str, *, hint: str = "set validate_max_triples=0 "
                 "(SSIKG_VALIDATE_MAX_TRIPLES=0) to lift the limit"):
        self.triples, self.limit = triples, limit
        super().__init__(f"{what} holds {triples:,} triples, more than validate_max_triples "
                         f"({limit:,}); validating it in one pass would take too long and too much "
                         f"memory, so it was not started: {hint}")


def check_triple_limit(triples: int, limit: int, what: str, **kwargs) -> None:
    """Refuse (:class:`TooLargeToValidate`) ``triples`` above ``limit`` (0 = no limit)."""
    if limit and triples > limit:
        raise TooLargeToValidate(triples, limit, what, **kwargs)


# ---------------------------------------------------------------------------
# Shapes


def default_shapes_path(source_dir: Path | None = None) -> Path:
    return Path(source_dir or PROJECT_ROOT) / "ontology" / "shapes.ttl"


def default_page_path(source_dir: Path | None = None) -> Path:
    return Path(source_dir or PROJECT_ROOT) / "data" / "source" / "page.txt"


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


_shapes_cache: dict[tuple[str, float], Shapes] = {}
_shapes_lock = threading.Lock()


def load_shapes(path: Path | None = None) -> Shapes:
    """Parse the shapes file (cached by path and modification time)."""
    path = Path(path or default_shapes_path())
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError as exc:
        raise ValidationInputError(f"cannot read the shapes file {path}: {exc.strerror}") from None
    with _shapes_lock:
        cached = _shapes_cache.get(key)
        if cached is not None:
            return cached
        graph = rdflib.Graph()
        try:
            graph.parse(path, format="turtle")
        except Exception as exc:  # rdflib raises many types for bad syntax
            raise ValidationInputError(f"{path}: cannot parse the shapes: {exc}") from None
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
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in FILE_FORMATS and not child.name.startswith("shapes"):
                    yield child
        else:
            yield path


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


def build_view(quads: Iterable[RdfQuad], *, page_texts: Iterable[str] = (), axioms: rdflib.Graph | None = None
               ) -> tuple[rdflib.Graph, int]:
    """The graph pyshacl validates (see the module docstring) and the number of data triples."""
    view = _ViewGraph()
    stated = URIRef(STATED_GRAPH)
    count = 0
    for s, p, o, g in quads:
        view.add((s, p, o))
        count += 1
        if g == stated:
            marker = BNode()
            view.add((marker, SSIKGSH.statedSubject, s))
            view.add((marker, SSIKGSH.statedPredicate, p))
            view.add((marker, SSIKGSH.statedObject, o))
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
    import pyshacl

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
    conforms, report_graph, _text = pyshacl.validate(
        view, shacl_graph=shapes_graph, inference="none", advanced=False, inplace=True,
        allow_warnings=True, meta_shacl=False)
    if isinstance(report_graph, Exception):  # pyshacl returns a ValidationFailure for broken shapes
        raise ValidationInputError(f"the shapes cannot be applied: {report_graph}")
    results = _read_results(report_graph, view, shapes.graph)
    return ValidationReport(conforms=bool(conforms), results=results, graph=report_graph, triples=triples,
                            shapes=shapes.count, seconds=time.monotonic() - started, notes=notes)


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
    keys = _result_keys(validate_store(store, source_dir=source_dir))
    with _before_lock:
        _before_cache.clear()
        _before_cache[cache_key] = keys
    return keys


def _scratch_copy(store) -> ox.Store:
    scratch = ox.Store()
    scratch.extend(store.quads())
    return scratch


def _refuse_if_broken(store, scratch: ox.Store, what: str, source_dir: Path | None) -> None:
    after = validate_quads(quads_from_store(scratch.quads_for_pattern(None, None, None, None)),
                           source_dir=source_dir)
    if after.conforms and not after.results:
        return
    new = _new_results(after, _existing_results(store, source_dir))
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
                 source_dir: Path | None = None) -> None:
    """Refuse (422) a SPARQL update whose result would break a shape; the store is not touched.

    The update runs on a scratch in-memory copy of the store.  A malformed or
    failing update is refused with 400 here, before the store sees it.  The
    caller holds the store's write session across the check and the commit, so
    no other write comes between them.  An update calling a non-deterministic function
    (``RAND()``, ``NOW()``, ``UUID()``, ``STRUUID()``, ``BNODE()``: the result cache's list) is
    refused (400): the commit runs it again, and could then make another choice than the one checked.
    """
    _refuse_non_deterministic(update_text)
    _refuse_unvalidatable(store)
    scratch = _scratch_copy(store)
    try:
        scratch.update(update_text, base_iri=base_iri)
    except SyntaxError as exc:
        raise SsikgError(400, f"malformed update: {exc}", title="Malformed update") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise SsikgError(400, f"the update failed and changed nothing: {exc}", title="Update failed") from None
    _refuse_if_broken(store, scratch, "update", _source_dir(source_dir))


def _refuse_non_deterministic(update_text: str) -> None:
    calls = non_deterministic_calls(update_text)
    if calls:
        named = ", ".join(f"{name}()" for name in calls)
        raise SsikgError(400, f"validate_on_write checks an update by running it on a copy, then runs it again "
                              f"on the store: {named} could give another value the second time, so what is "
                              f"committed might not be what was checked; write the values out instead",
                         title="Update not checkable", extra={"functions": calls})


def check_graph_write(store, graph: str | None, triples: Iterable, mode: str, *,
                      source_dir: Path | None = None) -> None:
    """Refuse (422) a Graph Store write whose result would break a shape.

    ``mode`` is ``replace`` (PUT), ``add`` (POST) or ``delete`` (DELETE);
    ``graph`` is the graph IRI (``""`` or None for the default graph);
    ``triples`` are pyoxigraph Triples or Quads (their graph is ignored).
    """
    if mode not in {"replace", "add", "delete"}:
        raise ValueError(f"unknown graph write mode {mode!r}")
    _refuse_unvalidatable(store)
    scratch = _scratch_copy(store)
    target = ox.DefaultGraph() if graph in (None, "") else ox.NamedNode(graph)
    if mode in {"replace", "delete"}:
        if isinstance(target, ox.DefaultGraph):
            scratch.clear_graph(target)
        else:
            scratch.remove_graph(target)
    if mode in {"replace", "add"}:
        scratch.extend(ox.Quad(t.subject, t.predicate, t.object, target) for t in triples)
    what = {"replace": "graph store PUT", "add": "graph store POST", "delete": "graph store DELETE"}[mode]
    _refuse_if_broken(store, scratch, what, _source_dir(source_dir))


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


def _refuse_unvalidatable(store) -> None:
    """413 before a checked write when the store is above ``validate_max_triples``: the check
    validates the whole store (a million triples took over 15 minutes), so the write is refused
    rather than left waiting; lift the limit or turn validate_on_write off for such a store."""
    try:
        check_triple_limit(len(store), _app_setting("validate_max_triples") or 0, "the store",
                           hint="validate_on_write validates the whole store at every write; raise "
                                "validate_max_triples (0 = no limit) or turn validate_on_write off")
    except TooLargeToValidate as exc:
        raise SsikgError(413, f"the write was not made: {exc}", title="Too large to validate",
                         extra={"triples": exc.triples, "validate_max_triples": exc.limit}) from None


__all__ = [
    "TooLargeToValidate", "ValidationInputError", "ValidationReport", "ValidationResult", "build_view",
    "check_graph_write", "check_triple_limit", "check_update", "load_shapes", "parse_rdf", "quads_from_files",
    "quads_from_store", "undeclared_rules", "validate_files", "validate_quads", "validate_store",
]
