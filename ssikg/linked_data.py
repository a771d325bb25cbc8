"""Describing resources for people and machines: labels by language, relations,
provenance per triple, quantities with their bound semantics, RDF documents, and the
listings of the home page (the first resources of a kind by label).

Everything here reads the graph through :meth:`GraphStore.query` only (SELECT,
ASK and CONSTRUCT), so it works the same over the embedded store and a remote
SPARQL backend.  The IRI a request names is never pasted into query text: it is
bound to a variable as an RDF term (``substitutions``; see :func:`select`).
Query text holds only constants, as prefixed names (``graph:provenance`` …), and
lists of IRIs read from the store itself (labels to load), which go in ``VALUES``
blocks built from pyoxigraph's ``NamedNode`` (:func:`iri_values`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import pyoxigraph as ox
import rdflib

from .namespaces import BASE, GRAPH, GRAPHS, ONTOLOGY_GRAPH, PREFIXES, SSIKG, sparql_prefixes
from .xml_text import xml_safe

LANGS = ("fr", "en", "nl")
DEFAULT_LANG = "fr"
SOURCE_LANG = "fr"  # the source page's language: names in it are the page's own

RDF_TYPE = PREFIXES["rdf"] + "type"
SKOS = PREFIXES["skos"]
RDFS = PREFIXES["rdfs"]
DCT = PREFIXES["dct"]
PROVENANCE_GRAPH = GRAPHS["provenance"]  # named in the page query shown to people

# Label properties in order of preference: a prefLabel in the wanted language
# beats an rdfs:label in it, which beats a title.
LABEL_PROPERTIES = (SKOS + "prefLabel", RDFS + "label", DCT + "title", SKOS + "altLabel",
                    PREFIXES["vcard"] + "organization-name")

QUANTITY_CLASS = SSIKG + "BoundedQuantity"
QUANTITY_PROPERTIES = ("exclusiveLowerBound", "inclusiveLowerBound", "exclusiveUpperBound",
                       "inclusiveUpperBound", "exactValue", "isExact", "verbatim")

# RDF document formats: suffix -> (media type, rdflib format name)
RDF_FORMATS = {
    "ttl": ("text/turtle", "turtle"),
    "jsonld": ("application/ld+json", "json-ld"),
    "nt": ("application/n-triples", "nt"),
    "rdf": ("application/rdf+xml", "xml"),
}
FORMAT_ALIASES = {
    "ttl": "ttl", "turtle": "ttl", "jsonld": "jsonld", "json-ld": "jsonld", "json": "jsonld",
    "nt": "nt", "ntriples": "nt", "n-triples": "nt", "rdf": "rdf", "xml": "rdf", "rdfxml": "rdf",
    "rdf+xml": "rdf", "html": "html",
}


# ---------------------------------------------------------------------------
# Terms in query text


def iri_ref(iri: str) -> str:
    """``<iri>`` for query text; raises ValueError for anything that is not an IRI."""
    return str(ox.NamedNode(iri))


def iri_values(variable: str, iris) -> str:
    """``VALUES ?variable { <a> <b> … }`` for IRIs the code holds (constants, IRIs read from
    the store): never for a request's IRI, which :func:`select` binds."""
    refs = " ".join(iri_ref(i) for i in dict.fromkeys(iris))
    return f"VALUES ?{variable} {{ {refs} }}"


def _iri_list(iris) -> str:
    """``<a>, <b>, …`` for ``IN (…)``: constants of the code only."""
    return ", ".join(iri_ref(i) for i in dict.fromkeys(iris))


def prologue() -> str:
    """The project's prefixes, and ``graph:`` for its named graphs (``graph:provenance``)."""
    return sparql_prefixes() + f"PREFIX graph: <{GRAPH}>\n"


def bound(bindings: dict[str, object]) -> dict:
    """Query substitutions: each variable name bound to its term (a str is an IRI; ValueError
    when it is not one)."""
    return {ox.Variable(name): ox.NamedNode(value) if isinstance(value, str) else value
            for name, value in bindings.items()}


def select(store, sparql: str, **bindings) -> list[dict]:
    """Run a SELECT (after :func:`prologue`) with ``bindings`` (variable name -> IRI or term)
    bound as RDF terms, and return its rows as dicts of variable name -> term (or None).
    A bound variable must be projected: pyoxigraph refuses to bind any other."""
    solutions = store.query(prologue() + sparql, substitutions=bound(bindings) or None)
    names = [v.value for v in solutions.variables]
    return [{name: row[name] for name in names} for row in solutions]


def is_iri(term) -> bool:
    return isinstance(term, ox.NamedNode)


# ---------------------------------------------------------------------------
# Labels


@dataclass(frozen=True)
class Label:
    text: str
    lang: str | None  # the label's own language
    fallback: bool  # True when it is not in the language asked for

    def __str__(self) -> str:
        return self.text


# Prefixes used only to show IRIs of other vocabularies shortly on pages.
DISPLAY_PREFIXES = {**PREFIXES, "vann": "http://purl.org/vocab/vann/",
                    "sh": "http://www.w3.org/ns/shacl#", "void": "http://rdfs.org/ns/void#",
                    "dcat": "http://www.w3.org/ns/dcat#", "sd": "http://www.w3.org/ns/sparql-service-description#"}


def compact_iri(iri: str) -> str:
    """A prefixed name where a known prefix fits, else the IRI."""
    best = None
    for prefix, ns in DISPLAY_PREFIXES.items():
        if iri.startswith(ns) and (best is None or len(ns) > len(DISPLAY_PREFIXES[best])):
            best = prefix
    if best is None:
        return iri
    return f"{best}:{iri[len(DISPLAY_PREFIXES[best]):]}"


class Labels:
    """Every label known for a set of IRIs, picked per language with a visible fallback."""

    def __init__(self):
        self._by_iri: dict[str, list[tuple[int, str | None, str]]] = defaultdict(list)

    def add(self, iri: str, prop: str, literal) -> None:
        rank = LABEL_PROPERTIES.index(prop) if prop in LABEL_PROPERTIES else len(LABEL_PROPERTIES)
        self._by_iri[iri].append((rank, literal.language, literal.value))

    def load(self, store, iris) -> Labels:
        iris = [i for i in dict.fromkeys(iris) if i and i not in self._by_iri]
        for chunk_start in range(0, len(iris), 400):
            chunk = iris[chunk_start:chunk_start + 400]
            # the properties in a FILTER, not a second VALUES: the engine joins two VALUES
            # blocks after reading every ?x ?p ?label (slow on a big store)
            rows = select(store, f"""SELECT ?x ?p ?label WHERE {{
                {iri_values('x', chunk)}
                ?x ?p ?label . FILTER(?p IN ({_iri_list(LABEL_PROPERTIES)}) && isLiteral(?label)) }}""")
            for row in rows:
                self.add(row["x"].value, row["p"].value, row["label"])
        return self

    def pick(self, iri: str, lang: str) -> Label:
        candidates = self._by_iri.get(iri)
        if not candidates:
            return Label(compact_iri(iri), None, False)
        order = [lang] + [x for x in LANGS if x != lang]

        def key(candidate):
            rank, label_lang, text = candidate
            lang_rank = order.index(label_lang) if label_lang in order else len(order)
            # Language first (a French prefLabel beats an English title when French is asked),
            # then the property's rank; language-less literals count as a match.
            if label_lang is None:
                lang_rank = 0
            return (lang_rank, rank, text)

        _rank, label_lang, text = min(candidates, key=key)
        return Label(text, label_lang, label_lang is not None and label_lang != lang)

    def all_of(self, iri: str, prop: str) -> list[tuple[str | None, str]]:
        rank = LABEL_PROPERTIES.index(prop)
        return sorted({(lang, text) for r, lang, text in self._by_iri.get(iri, []) if r == rank},
                      key=lambda lt: (lt[0] or "", lt[1]))


# ---------------------------------------------------------------------------
# Links (public-base rewrite)


def local_path(iri: str) -> str | None:
    """The server path (without leading slash) that dereferences ``iri``, or None if it is
    not under the base.  Hash IRIs resolve to their document with the fragment kept."""
    if not iri.startswith(BASE):
        return None
    return iri[len(BASE):]


def href_for(iri: str, link_base: str) -> str | None:
    """Where a person follows ``iri``: under ``link_base`` for IRIs of this dataset, the IRI
    itself for another http(s) IRI, and nowhere (None) for any other scheme: the data may
    hold ``javascript:`` IRIs, which must never become a link."""
    path = local_path(iri)
    if path is not None:
        return link_base + path
    return iri if is_web_iri(iri) else None


def is_web_iri(iri: str) -> bool:
    return iri[:8].lower().startswith(("http://", "https://"))


# ---------------------------------------------------------------------------
# Quantities


@dataclass(frozen=True)
class Quantity:
    text: str  # e.g. "more than 300"
    verbatim: str | None  # the page's words, e.g. "plus de 300"
    exact: bool


_BOUND_WORDS = {
    "fr": {"exclusiveLowerBound": "plus de {}", "inclusiveLowerBound": "au moins {}",
           "exclusiveUpperBound": "moins de {}", "inclusiveUpperBound": "au plus {}",
           "exactValue": "{}", "unknown": "quantité non précisée"},
    "en": {"exclusiveLowerBound": "more than {}", "inclusiveLowerBound": "at least {}",
           "exclusiveUpperBound": "fewer than {}", "inclusiveUpperBound": "at most {}",
           "exactValue": "{}", "unknown": "unspecified quantity"},
}


def describe_quantity(props: dict[str, list], lang: str) -> Quantity:
    """Render a bounded quantity by its strongest stated bound: an exclusive lower bound
    of 300 is "more than 300", never "300"."""
    words = _BOUND_WORDS.get(lang, _BOUND_WORDS["en"])
    parts = []
    for name in ("exactValue", "exclusiveLowerBound", "inclusiveLowerBound",
                 "exclusiveUpperBound", "inclusiveUpperBound"):
        if props.get(name):
            parts.append(words[name].format(props[name][0].value))
            if name == "exactValue":
                break
            if name == "exclusiveLowerBound":
                # the inclusive bound (301) is derived from it; say the stated one only
                props = {k: v for k, v in props.items() if k != "inclusiveLowerBound"}
            if name == "exclusiveUpperBound":
                props = {k: v for k, v in props.items() if k != "inclusiveUpperBound"}
    text = " ; ".join(parts) if lang == "fr" else "; ".join(parts)
    verbatim = props.get("verbatim", [None])[0]
    exact = bool(props.get("isExact")) and props["isExact"][0].value == "true"
    return Quantity(text or words["unknown"], verbatim.value if verbatim is not None else None, exact)


# ---------------------------------------------------------------------------
# Entity description for pages


@dataclass
class FactRef:
    iri: str
    fact_id: str | None = None
    quote: str | None = None
    quote_lang: str | None = None
    section: str | None = None
    section_title: str | None = None
    page: str | None = None
    issued: str | None = None
    interpretation: str | None = None
    note: str | None = None  # why a derived triple follows (on its rdf:Statement)
    note_lang: str | None = None


@dataclass
class Value:
    """The other end of a relation: a resource (iri) or a literal."""

    term: object
    iri: str | None = None
    label: Label | None = None
    literal: str | None = None
    lang: str | None = None
    datatype: str | None = None
    quantity: Quantity | None = None
    blank: bool = False


@dataclass
class Relation:
    predicate: str
    value: Value
    graphs: list[str] = field(default_factory=list)  # short names: stated, derived, …
    facts: list[FactRef] = field(default_factory=list)

    @property
    def notes(self) -> list[tuple[str | None, str]]:
        """(language, text) of each distinct justification of this triple."""
        return list(dict.fromkeys((f.note_lang, f.note) for f in self.facts if f.note))

    @property
    def status(self) -> str:
        for name in ("stated", "derived", "external", "editorial", "vocabularies", "ontology"):
            if name in self.graphs:
                return name
        return self.graphs[0] if self.graphs else "unknown"


@dataclass
class Grounded:
    """A triple that a source statement grounds (through its rdf:Statement), and the
    graphs holding it."""

    subject: Value
    predicate: str
    value: Value
    graphs: list[str]


@dataclass
class Entity:
    iri: str
    lang: str
    label: Label
    types: list[Value]
    alt_labels: list[tuple[str | None, str]]
    outgoing: list[Relation]
    incoming: list[Relation]
    labels: Labels
    quote: FactRef | None = None  # when the entity is itself a source statement
    grounds: list[Grounded] = field(default_factory=list)  # the triples a source statement grounds
    # (direction "out"/"in", predicate) -> how many values there are, where fewer are shown
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    # the French name, when the title is in another language (a modellers' translation)
    source_name: Label | None = None

    def more(self, direction: str, predicate: str) -> dict | None:
        """For a property with more values than the page shows: how many are shown, how many
        there are, and a SPARQL query listing them all."""
        total = self.totals.get((direction, predicate))
        if total is None:
            return None
        shown = sum(1 for r in (self.outgoing if direction == "out" else self.incoming) if r.predicate == predicate)
        return {"shown": shown, "total": total, "query": values_query(self.iri, predicate, direction)}

    def predicate_label(self, predicate: str) -> Label:
        return self.labels.pick(predicate, self.lang)

    def grouped(self, relations: list[Relation]) -> list[tuple[str, list[Relation]]]:
        groups: dict[str, list[Relation]] = {}
        for relation in relations:
            groups.setdefault(relation.predicate, []).append(relation)
        return list(groups.items())

    @property
    def facts(self) -> list[FactRef]:
        """Each source statement behind the page's relations, once, in fact order."""
        unique: dict[str, FactRef] = {}
        for relation in self.outgoing + self.incoming:
            for fact in relation.facts:
                unique.setdefault(fact.iri, fact)
        return sorted(unique.values(), key=lambda f: _fact_order(f.fact_id))

    @property
    def is_organisation(self) -> bool:
        org = PREFIXES["org"]
        kinds = {org + "Organization", org + "OrganizationalUnit", org + "FormalOrganization",
                 PREFIXES["cv"] + "PublicOrganisation"}
        return any(t.iri in kinds for t in self.types)


def graph_short_name(graph_iri: str) -> str:
    return graph_iri[len(GRAPH):] if graph_iri.startswith(GRAPH) else graph_iri


def exists(store, iri: str) -> bool:
    """Whether the graph mentions ``iri`` as a subject or an object (ValueError: not an IRI)."""
    return bool(store.query("ASK { { ?this ?p ?o } UNION { ?s ?p ?this } }", substitutions=bound({"this": iri})))


# ---------------------------------------------------------------------------
# Listings: the first resources of a kind by label (the home page's lists)


LISTINGS = {  # name -> graph pattern on ?x
    "organisations": "VALUES ?type { org:Organization org:OrganizationalUnit org:FormalOrganization "
                     "cv:PublicOrganisation } ?x a ?type .",
    "posts": "?x a org:Post .", "themes": "?x skos:inScheme scheme:themes .",
}
LISTING_SIZE = 50  # entries listed; the rest are counted and linked


def recall(store, name: str):
    """What a page kept of the whole store (see :meth:`ssikg.store.GraphStore.recall`) while
    it holds what its build made, else ``None``: then read it in the store."""
    recalled = getattr(store, "recall", None)  # stand-ins for a store may not keep any
    return recalled(name) if recalled is not None else None


def remember(store, name: str, value) -> None:
    """Keep ``value`` for :func:`recall` (see :meth:`ssikg.store.GraphStore.remember`)."""
    kept = getattr(store, "remember", None)
    if kept is not None:
        kept(name, value)


def first_listed_query(pattern: str, lang: str, limit: int = LISTING_SIZE) -> str:
    """The first ``limit`` resources matching ``pattern`` by their label in ``lang`` (else
    any label, else their IRI), lower-cased; ties by IRI.  Ordered by the store, so that only
    the labels of the entries shown are read afterwards."""
    wanted = lang if lang in LANGS else DEFAULT_LANG  # a constant of the code, not the request's text
    return f"""SELECT ?x (MIN(?key) AS ?sortKey) WHERE {{ {pattern}
        OPTIONAL {{ ?x skos:prefLabel ?wanted FILTER(LANG(?wanted) = "{wanted}") }}
        OPTIONAL {{ ?x skos:prefLabel|rdfs:label ?other }}
        BIND(LCASE(STR(COALESCE(?wanted, ?other, STR(?x)))) AS ?key) }}
        GROUP BY ?x ORDER BY ?sortKey ?x LIMIT {limit}"""


def first_listed(store, pattern: str, lang: str, limit: int = LISTING_SIZE) -> list[str]:
    """The IRIs :func:`first_listed_query` selects, in its order.  Ordering means reading the
    label of every resource of the kind (at 1e6 quads, half a second for the posts), so the
    answer is kept with the build until its first write (:func:`remember`), under the query's
    own text: an answer kept for other code (another pattern, size or language) is never used."""
    query = first_listed_query(pattern, lang, limit)
    name = f"first-listed:{_query_key(query)}"
    kept = recall(store, name)
    if isinstance(kept, list):
        return list(kept)
    first = _first_listed_in(store, query)
    remember(store, name, first)
    return first


def _first_listed_in(store, query: str) -> list[str]:
    return [row["x"].value for row in select(store, query) if is_iri(row["x"])]


def _query_key(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:24]


LINKS_SHOWN = 100  # values shown per property and direction on a page; the rest are counted

# the triples of a page, by direction: the resource is ?this, the other end ?o (out) or ?s (in);
# blank subjects are rdf:Statements: a fact's page lists the triples they stand for
_LINK_PATTERNS = {
    "out": ("o", "GRAPH ?g {{ ?this {p} ?o }}"),
    "in": ("s", "GRAPH ?g {{ ?s {p} ?this }} FILTER(?p NOT IN (rdf:subject, rdf:object) && !isBlank(?s))"),
}


def values_query(iri: str, predicate: str, direction: str) -> str:
    """A SPARQL query listing every value of ``predicate`` from (out) or to (in) ``iri``."""
    this, prop = iri_ref(iri), iri_ref(predicate)
    pattern = f"{this} {prop} ?value" if direction == "out" else f"?value {prop} {this}"
    return f"SELECT DISTINCT ?value WHERE {{ {pattern} }}\nORDER BY ?value"


def _linked_rows(store, iri: str, direction: str, shown: int) -> tuple[list[dict], dict[str, int]]:
    """The rows (this, g, p, and o or s) of one direction of a page, at most ``shown`` values per
    property (LIMIT in the query, so only what is shown is read further), and the totals of
    the properties cut short."""
    other, pattern = _LINK_PATTERNS[direction]
    counts = select(store, f"""SELECT ?this ?p (COUNT(DISTINCT ?{other}) AS ?n) WHERE {{
        {pattern.format(p="?p")} }} GROUP BY ?this ?p""", this=iri)
    totals = {row["p"].value: int(row["n"].value) for row in counts}
    whole = [p for p, n in totals.items() if n <= shown]
    rows = []
    if whole:
        rows = select(store, f"""SELECT ?this ?g ?{other} ?p WHERE {{ {iri_values('p', whole)}
            {pattern.format(p="?p")} }}""", this=iri)
    cut = {p: n for p, n in totals.items() if n > shown}
    for predicate in cut:
        rows += _first_values(store, iri, predicate, other, pattern, shown)
    return rows, cut


def _first_values(store, iri: str, predicate: str, other: str, pattern: str, shown: int) -> list[dict]:
    """The rows of the first ``shown`` values of one property cut short: the values first
    (no ORDER BY: sorting every value is most of the cost; the store's order is stable, and
    the page sorts what it shows), then the graphs holding those triples."""
    where = pattern.format(p=iri_ref(predicate)).replace("?p NOT IN", iri_ref(predicate) + " NOT IN")
    first = [row[other] for row in select(store, f"""SELECT DISTINCT ?this ?{other} WHERE {{
        {where.replace("GRAPH ?g ", "")} }} LIMIT {shown}""", this=iri)]
    if any(isinstance(term, ox.BlankNode) for term in first):  # VALUES cannot name a blank node
        held = select(store, f"""SELECT ?this ?{other} (GROUP_CONCAT(STR(?g); separator=" ") AS ?graphs)
            WHERE {{ {where} }} GROUP BY ?this ?{other} LIMIT {shown}""", this=iri)
        graphs = [(row[other], row["graphs"].value.split()) for row in held]
    else:
        held = select(store, f"SELECT ?this ?g ?{other} WHERE {{ {_only(other, first)} {where} }}", this=iri)
        graphs = [(row[other], [row["g"].value]) for row in held]
    return [{"this": ox.NamedNode(iri), "g": ox.NamedNode(graph), other: term, "p": ox.NamedNode(predicate)}
            for term, names in graphs for graph in names]


def describe(store, iri: str, lang: str = DEFAULT_LANG, shown: int = LINKS_SHOWN) -> Entity | None:
    """Everything a page shows about ``iri``; None when the graph does not mention it.  At most
    ``shown`` values per property and direction (``Entity.totals`` counts the others)."""
    outgoing_rows, out_cut = _linked_rows(store, iri, "out", shown)
    incoming_rows, in_cut = _linked_rows(store, iri, "in", shown)
    grounds = _grounded(store, iri)
    # a resource named only by reification nodes still exists (e.g. an object value)
    if not outgoing_rows and not incoming_rows and not grounds and not exists(store, iri):
        return None
    facts = _provenance(store, iri, [row["o"] for row in outgoing_rows] if out_cut else None,
                        [row["s"] for row in incoming_rows] if in_cut else None)
    outgoing = _relations(outgoing_rows, "o", facts, lambda row: (iri, row["p"].value, row["o"]))
    incoming = _relations(incoming_rows, "s", facts, lambda row: (row["s"], row["p"].value, iri))

    values = [r.value for r in outgoing + incoming]
    values += [v for g in grounds for v in (g.subject, g.value)]
    mentioned = {r.predicate for r in outgoing + incoming} | {g.predicate for g in grounds}
    mentioned |= {v.iri for v in values if v.iri}
    labels = _own_labels(iri, outgoing_rows).load(store, mentioned - {iri})
    quantities = _quantities(store, [v.iri for v in values if v.iri])
    for value in values:
        if value.iri:
            value.label = labels.pick(value.iri, lang)
            if value.iri in quantities:
                value.quantity = describe_quantity(quantities[value.iri], lang)
    types = _unique_values(r.value for r in outgoing if r.predicate == RDF_TYPE)
    # the names stay in the table: each with its graph and the facts behind it, so an English
    # page shows the page's French name with its quote, and its own title as editorial
    visible_out = [r for r in outgoing if r.predicate != RDF_TYPE]
    entity = Entity(iri=iri, lang=lang, label=labels.pick(iri, lang), types=types,
                    alt_labels=labels.all_of(iri, SKOS + "altLabel"), outgoing=visible_out,
                    incoming=incoming, labels=labels)
    if entity.label.lang not in (None, SOURCE_LANG):
        source_name = labels.pick(iri, SOURCE_LANG)
        entity.source_name = source_name if source_name.lang == SOURCE_LANG else None
    entity.quote = _own_quote(store, iri)
    entity.grounds = grounds
    entity.totals = {("out", p): n for p, n in out_cut.items()} | {("in", p): n for p, n in in_cut.items()}
    return entity


def _own_labels(iri: str, outgoing_rows) -> Labels:
    """The labels of ``iri`` among its own triples (already read: no query names it again)."""
    labels = Labels()
    for row in outgoing_rows:
        if row["p"].value in LABEL_PROPERTIES and isinstance(row["o"], ox.Literal):
            labels.add(iri, row["p"].value, row["o"])
    return labels


def _grounded(store, iri: str) -> list[Grounded]:
    """The triples whose rdf:Statement was derived from ``iri`` (a source statement)."""
    rows = select(store, """SELECT ?this ?s ?p ?o ?g WHERE {
          GRAPH graph:provenance { ?st prov:wasDerivedFrom ?this ; rdf:subject ?s ; rdf:predicate ?p ;
                                       rdf:object ?o }
          OPTIONAL { GRAPH ?g { ?s ?p ?o } FILTER(?g != graph:provenance) }
        }""", this=iri)
    by_triple: dict[tuple, Grounded] = {}
    for row in rows:
        key = (_term_key(row["s"]), row["p"].value, _term_key(row["o"]))
        grounded = by_triple.setdefault(key, Grounded(_value(row["s"]), row["p"].value, _value(row["o"]), []))
        if row["g"] is not None:
            grounded.graphs.append(graph_short_name(row["g"].value))
    return sorted(by_triple.values(), key=lambda g: (g.subject.iri or "", g.predicate,
                                                   g.value.iri or g.value.literal or ""))


def _unique_values(values) -> list[Value]:
    seen, result = set(), []
    for value in values:
        if value.iri not in seen:
            seen.add(value.iri)
            result.append(value)
    return result


def _value(term) -> Value:
    if isinstance(term, ox.NamedNode):
        return Value(term, iri=term.value)
    if isinstance(term, ox.Literal):
        datatype = term.datatype.value if term.datatype is not None else None
        return Value(term, literal=term.value, lang=term.language, datatype=datatype)
    return Value(term, literal=str(term), blank=True)


def _term_key(term) -> tuple:
    if isinstance(term, str):
        return ("iri", term)
    return (type(term).__name__, str(term))


def _relations(rows, other_var, facts, triple_of) -> list[Relation]:
    by_triple: dict[tuple, Relation] = {}
    for row in rows:
        subject, predicate, obj = triple_of(row)
        key = (_term_key(subject), predicate, _term_key(obj))
        relation = by_triple.get(key)
        if relation is None:
            relation = Relation(predicate, _value(row[other_var]))
            relation.facts = facts.get(key, [])
            by_triple[key] = relation
        relation.graphs.append(graph_short_name(row["g"].value))
    return sorted(by_triple.values(), key=lambda r: (r.predicate, r.value.iri or r.value.literal or ""))


def _fact_from_row(row) -> FactRef:
    def text(name):
        term = row.get(name)
        return term.value if term is not None else None

    quote, note = row.get("quote"), row.get("why")
    return FactRef(iri=row["fact"].value, fact_id=text("factId"), quote=text("quote"),
                   quote_lang=quote.language if quote is not None else None,
                   section=text("section"), section_title=text("sectionTitle"), page=text("page"),
                   issued=text("issued"), interpretation=text("interp"), note=text("why"),
                   note_lang=note.language if note is not None else None)


_FACT_DETAILS = """
    OPTIONAL { ?fact ssikg:factId ?factId }
    OPTIONAL { ?fact prov:value ?quote }
    OPTIONAL { ?fact dct:isPartOf ?section . OPTIONAL { ?section dct:title ?sectionTitle } }
    OPTIONAL { ?fact prov:wasQuotedFrom ?page . OPTIONAL { ?page dct:issued ?issued } }"""


def _only(variable: str, terms) -> str:
    """A VALUES block keeping ``variable`` to ``terms`` (other ends of the triples shown), or ""
    for all of them (``terms`` None, or holding a blank node, which VALUES cannot name)."""
    if terms is None or any(isinstance(t, ox.BlankNode) for t in terms):
        return ""
    return f"VALUES ?{variable} {{ {' '.join(dict.fromkeys(str(t) for t in terms))} }}"


def _provenance(store, iri: str, objects=None, subjects=None) -> dict[tuple, list[FactRef]]:
    """Facts behind every triple that has ``iri`` as subject or object, keyed by triple; only
    those to ``objects`` and from ``subjects`` when given (the triples a page shows)."""
    # one block per direction, holding no BIND or OPTIONAL: the engine then joins the bound
    # ?this (and the VALUES) first, instead of reading every statement of the graph
    rows = select(store, """SELECT ?this ?s ?p ?o ?fact ?factId ?quote ?section ?sectionTitle ?page ?issued
          ?interp ?why WHERE {
          { """ + _only("o", objects) + """ GRAPH graph:provenance { ?st rdf:subject ?this ; rdf:predicate ?p ;
                                       rdf:object ?o ; prov:wasDerivedFrom ?fact } }
          UNION
          { """ + _only("s", subjects) + """ GRAPH graph:provenance { ?st rdf:object ?this ; rdf:predicate ?p ;
                                       rdf:subject ?s ; prov:wasDerivedFrom ?fact } }
          OPTIONAL { GRAPH graph:provenance { ?st ssikg:interpretation ?interp } }
          OPTIONAL { GRAPH graph:provenance { ?st skos:editorialNote ?why } }
        """ + _FACT_DETAILS + "}", this=iri)
    for row in rows:  # the end that is the resource itself is unbound in its block
        row["s"] = row["s"] if row["s"] is not None else ox.NamedNode(iri)
        row["o"] = row["o"] if row["o"] is not None else ox.NamedNode(iri)
    facts: dict[tuple, list[FactRef]] = defaultdict(list)
    seen = set()
    for row in rows:
        key = (_term_key(row["s"] if row["s"].value != iri else iri), row["p"].value,
               _term_key(row["o"] if not (is_iri(row["o"]) and row["o"].value == iri) else iri))
        if (key, row["fact"].value) in seen:
            continue
        seen.add((key, row["fact"].value))
        facts[key].append(_fact_from_row(row))
    for refs in facts.values():
        refs.sort(key=lambda f: _fact_order(f.fact_id))
    return facts


def _fact_order(fact_id: str | None) -> tuple:
    digits = "".join(c for c in (fact_id or "") if c.isdigit())
    return (int(digits) if digits else 10**9, fact_id or "")


def _own_quote(store, iri: str) -> FactRef | None:
    rows = select(store, """SELECT ?fact ?factId ?quote ?section ?sectionTitle ?page ?issued ?interp
        WHERE { ?fact prov:value ?quote . """ + _FACT_DETAILS + "} LIMIT 1", fact=iri)
    return _fact_from_row(rows[0]) if rows else None


def _quantities(store, iris) -> dict[str, dict[str, list]]:
    iris = [i for i in dict.fromkeys(iris) if i]
    if not iris:
        return {}
    props = [SSIKG + name for name in QUANTITY_PROPERTIES]
    rows = select(store, f"""SELECT ?q ?p ?v WHERE {{ {iri_values('q', iris)}
        ?q a ssikg:BoundedQuantity . ?q ?p ?v FILTER(?p IN ({_iri_list(props)})) }}""")
    result: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        result[row["q"].value][row["p"].value[len(SSIKG):]].append(row["v"])
    return result


def page_query(iri: str) -> str:
    """A SPARQL query that reproduces an entity page: each triple, its graph and its facts
    (the quote is read within the provenance OPTIONAL, so a triple without provenance keeps
    ``?fact`` unbound rather than joining every fact of the store)."""
    ref = iri_ref(iri)
    return f"""PREFIX rdf: <{PREFIXES['rdf']}>
PREFIX prov: <{PREFIXES['prov']}>
PREFIX dct: <{PREFIXES['dct']}>
# Every triple about {ref}, the graph holding it, and the source statements behind it.
SELECT ?direction ?predicate ?value ?graph ?fact ?quote ?issued WHERE {{
  {{ GRAPH ?graph {{ {ref} ?predicate ?value }} BIND("out" AS ?direction)
     OPTIONAL {{ GRAPH <{PROVENANCE_GRAPH}> {{ ?st rdf:subject {ref} ; rdf:predicate ?predicate ;
                  rdf:object ?value ; prov:wasDerivedFrom ?fact }}
                OPTIONAL {{ ?fact prov:value ?quote . OPTIONAL {{ ?fact prov:wasQuotedFrom/dct:issued ?issued }} }} }} }}
  UNION
  {{ GRAPH ?graph {{ ?value ?predicate {ref} }} BIND("in" AS ?direction)
     FILTER(?predicate NOT IN (rdf:subject, rdf:object))
     OPTIONAL {{ GRAPH <{PROVENANCE_GRAPH}> {{ ?st rdf:subject ?value ; rdf:predicate ?predicate ;
                  rdf:object {ref} ; prov:wasDerivedFrom ?fact }}
                OPTIONAL {{ ?fact prov:value ?quote . OPTIONAL {{ ?fact prov:wasQuotedFrom/dct:issued ?issued }} }} }} }}
}}
ORDER BY ?direction ?predicate ?value ?fact"""


# ---------------------------------------------------------------------------
# RDF documents


def description_triples(store, iri: str):
    """The RDF document about ``iri``: its outgoing and incoming triples and, whole, the
    reification statements that name it (the provenance of its triples; for a source
    statement, the triples it grounds), so that no blank node in it is left undescribed."""
    return store.query(prologue() + """CONSTRUCT { ?this ?p ?o . ?s ?q ?this . ?st ?sp ?so }
        WHERE {
          { ?this ?p ?o }
          UNION { ?s ?q ?this FILTER(?q NOT IN (rdf:subject, rdf:object)) }
          UNION { GRAPH graph:provenance { ?st ?link ?this ; a rdf:Statement ; ?sp ?so } }
          UNION { GRAPH graph:provenance { ?st rdf:subject ?this ; a rdf:Statement ; ?sp ?so } }
        }""", substitutions=bound({"this": iri}))


def graph_triples(store, graph_iri: str):
    """The triples of the named graph ``graph_iri`` (a CONSTRUCT: works on every backend)."""
    return store.query("CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?graph { ?s ?p ?o } }",
                       substitutions=bound({"graph": graph_iri}))


def ontology_triples(store):
    return graph_triples(store, ONTOLOGY_GRAPH)


def to_rdflib(triples) -> rdflib.Graph:
    graph = rdflib.Graph()
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, override=True, replace=True)
    data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    if data:
        graph.parse(data=data.decode("utf-8"), format="nt")
    return graph


def serialise(graph: rdflib.Graph, suffix: str) -> bytes:
    media_type, rdflib_format = RDF_FORMATS[suffix]
    if suffix == "jsonld":
        used = {p: ns for p, ns in PREFIXES.items()}
        text = graph.serialize(format="json-ld", context=used, auto_compact=True)
    else:
        text = graph.serialize(format=rdflib_format)
    data = text.encode("utf-8") if isinstance(text, str) else text
    return xml_safe(data) if media_type == "application/rdf+xml" else data


def empty_document(suffix: str, message: str) -> bytes:
    """A valid, empty document in ``suffix``'s format carrying ``message`` (for 404s)."""
    safe = " ".join(message.split())  # one line: a newline would end a Turtle comment
    if suffix in ("ttl", "nt"):
        return f"# {safe}\n".encode()
    if suffix == "jsonld":
        import json

        # "error" is not mapped by the context, so RDF processors ignore it: an empty graph
        return (json.dumps({"@context": {}, "@graph": [], "error": safe},
                           ensure_ascii=False) + "\n").encode()
    escaped = safe.replace("--", "- -").replace("&", "&amp;").replace("<", "&lt;")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<!-- {escaped} -->\n'
            f'<rdf:RDF xmlns:rdf="{PREFIXES["rdf"]}"/>\n').encode()
