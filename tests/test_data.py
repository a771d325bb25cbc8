"""Integrity of the ontology and the data files (ontology/ssikg.ttl, data/*.trig).

Uses pyoxigraph and rdflib directly: one in-memory store holds the ontology in
graph <…/graph/ontology> and every data/*.trig file in its own named graphs,
exactly as the build does.  Each check is written as a function returning the
list of problems it finds, so that the mutation tests at the end can show the
checks really fail on broken data.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS, XSD

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_FILE = ROOT / "ontology" / "ssikg.ttl"
DATA_FILES = sorted((ROOT / "data").glob("*.trig"))
PAGE_FILE = ROOT / "data" / "source" / "page.txt"
# sha256 of /work/shared/seed/000_b0df10a4594c1420.txt (the source page, 4,137 bytes)
PAGE_SHA256 = "584eadd13c3ffab5cd2ce9abb694bb6b6f6f55743f0a1a1152377fd6114743a7"

G = "https://w3id.org/ssikg/graph/"
SSIKG = "https://w3id.org/ssikg/ontology#"
ID = "https://w3id.org/ssikg/id/"
ONTOLOGY_GRAPH = ox.NamedNode(G + "ontology")
EXPECTED_GRAPHS = {"ontology", "stated", "provenance", "derived", "editorial", "vocabularies"}

PREFIXES = """
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX org: <http://www.w3.org/ns/org#>
PREFIX cv: <http://data.europa.eu/m8g/>
PREFIX vann: <http://purl.org/vocab/vann/>
PREFIX ssikg: <https://w3id.org/ssikg/ontology#>
PREFIX id: <https://w3id.org/ssikg/id/>
PREFIX fact: <https://w3id.org/ssikg/id/fact/>
"""
ORG_CLASSES = (
    "org:Organization org:FormalOrganization org:OrganizationalUnit "
    "org:OrganizationalCollaboration cv:PublicOrganisation"
)


def load_store() -> ox.Store:
    store = ox.Store()
    store.load(path=str(ONTOLOGY_FILE), format=ox.RdfFormat.TURTLE, to_graph=ONTOLOGY_GRAPH)
    for path in DATA_FILES:
        store.load(path=str(path), format=ox.RdfFormat.TRIG)
    return store


@pytest.fixture(scope="module")
def store() -> ox.Store:
    return load_store()


def q(store: ox.Store, query: str):
    return store.query(PREFIXES + query, use_default_graph_as_union=True)


def rows(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = q(store, query)
    names = [v.value for v in result.variables]
    return [{n: (s[n].value if s[n] is not None else None) for n in names} for s in result]


def page_text() -> str:
    return PAGE_FILE.read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# Checks (each returns a list of problems)
# --------------------------------------------------------------------------
def unreified_stated_triples(store) -> list:
    """Stated triples without a reification that reaches a quoted source statement."""
    return rows(store, f"""
        SELECT ?s ?p ?o WHERE {{
          GRAPH <{G}stated> {{ ?s ?p ?o }}
          FILTER NOT EXISTS {{
            GRAPH <{G}provenance> {{
              ?r a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o ;
                 prov:wasDerivedFrom ?fact .
              ?fact a ssikg:SourceStatement ; prov:value ?quote ; prov:wasQuotedFrom id:page .
            }}
          }}
        }}""")


def dangling_reifications(store) -> list:
    """Reifications whose triple is in neither the stated nor the derived graph."""
    return rows(store, f"""
        SELECT ?r ?s ?p ?o WHERE {{
          GRAPH <{G}provenance> {{ ?r a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o }}
          FILTER NOT EXISTS {{ GRAPH <{G}stated> {{ ?s ?p ?o }} }}
          FILTER NOT EXISTS {{ GRAPH <{G}derived> {{ ?s ?p ?o }} }}
        }}""")


def bad_derived_triples(store) -> list:
    """Derived triples without a reification carrying facts, Derived status and a B/C-citing note."""
    problems = []
    for row in rows(store, f"""
        SELECT ?s ?p ?o (SAMPLE(?note) AS ?aNote) (COUNT(DISTINCT ?fact) AS ?facts) WHERE {{
          GRAPH <{G}derived> {{ ?s ?p ?o }}
          OPTIONAL {{
            GRAPH <{G}provenance> {{
              ?r rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o ;
                 ssikg:interpretation ssikg:Derived ;
                 skos:editorialNote ?note ;
                 prov:wasDerivedFrom ?fact .
              ?fact prov:value ?quote .
            }}
          }}
        }} GROUP BY ?s ?p ?o"""):
        if int(row["facts"]) == 0 or not re.search(r"\b[BC]\d+\b", row["aNote"] or ""):
            problems.append(row)
    return problems


# W3C ORG's inverse pairs (owl:inverseOf in the ORG vocabulary, not in the project's ontology)
ORG_INVERSES = ("(org:postIn org:hasPost) (org:subOrganizationOf org:hasSubOrganization) (org:hasSite org:siteOf) "
                "(org:unitOf org:hasUnit) (org:memberOf org:hasMember) (org:holds org:heldBy)")
STATED_OR_DERIVED = f"VALUES ?g {{ <{G}stated> <{G}derived> }}"


def missing_super_property_triples(store) -> list:
    """Stated triples whose super-property triple (rdfs:subPropertyOf+ in the ontology) is
    neither stated nor derived: a client without a reasoner would not see it."""
    return rows(store, f"""
        SELECT ?s ?p ?o ?super WHERE {{
          GRAPH <{G}stated> {{ ?s ?p ?o }}
          GRAPH <{G}ontology> {{ ?p rdfs:subPropertyOf+ ?super }}
          FILTER NOT EXISTS {{ {STATED_OR_DERIVED} GRAPH ?g {{ ?s ?super ?o }} }}
        }}""")


def missing_inverse_triples(store) -> list:
    """Stated or derived triples whose inverse (ontology owl:inverseOf, or ORG's) is neither
    stated nor derived (an ORG-only client would get other answers from ?a org:hasSite ?b and
    ?b org:siteOf ?a), and skos:related links (symmetric) without their reverse."""
    return rows(store, f"""
        SELECT ?s ?p ?o ?inverse WHERE {{
          {{ GRAPH <{G}ontology> {{ {{ ?p owl:inverseOf ?inverse }} UNION {{ ?inverse owl:inverseOf ?p }} }} }}
          UNION {{ VALUES (?p ?inverse) {{ {ORG_INVERSES} }} }}
          UNION {{ VALUES (?inverse ?p) {{ {ORG_INVERSES} }} }}
          {STATED_OR_DERIVED} GRAPH ?g {{ ?s ?p ?o }}
          FILTER NOT EXISTS {{ {STATED_OR_DERIVED.replace("?g", "?h")} GRAPH ?h {{ ?o ?inverse ?s }} }}
        }}""") + rows(store, f"""
        SELECT ?s ?p ?o ?inverse WHERE {{
          VALUES ?p {{ skos:related }} BIND(?p AS ?inverse)
          {STATED_OR_DERIVED} GRAPH ?g {{ ?s ?p ?o }}
          FILTER NOT EXISTS {{ GRAPH ?h {{ ?o ?p ?s }} }}
        }}""")


def quotes_not_in_page(store, page: str) -> list:
    found = rows(store, f"""
        SELECT ?fact ?text WHERE {{
          GRAPH <{G}provenance> {{ ?fact prov:value|ssikg:sentence ?text }}
        }}""")
    assert found, "no quotes at all"
    return [r for r in found if r["text"] not in page]


def undeclared_ssikg_terms(store) -> list:
    used = set()
    for quad in store:
        if quad.graph_name == ONTOLOGY_GRAPH:
            continue
        for term in (quad.subject, quad.predicate, quad.object):
            if isinstance(term, ox.NamedNode) and term.value.startswith(SSIKG):
                used.add(term.value)
    assert used, "no ssikg: term used in the data"
    problems = []
    for iri in sorted(used):
        ok = bool(q(store, f"""
            ASK {{ GRAPH <{G}ontology> {{
              <{iri}> a ?kind ; rdfs:isDefinedBy <https://w3id.org/ssikg/ontology> ;
                 rdfs:label ?lfr, ?len ; skos:definition ?dfr, ?den .
              FILTER(?kind IN (owl:Class, owl:ObjectProperty, owl:DatatypeProperty, owl:NamedIndividual))
              FILTER(lang(?lfr) = "fr" && lang(?len) = "en" && lang(?dfr) = "fr" && lang(?den) = "en")
            }} }}"""))
        if not ok:
            problems.append(iri)
    return problems


def misused_property_kinds(store) -> list:
    """Object properties with literal values and datatype properties with IRI values."""
    return rows(store, f"""
        SELECT ?p ?o WHERE {{
          GRAPH ?g {{ ?s ?p ?o }}
          FILTER(?g != <{G}ontology>)
          GRAPH <{G}ontology> {{ ?p a ?kind }}
          FILTER((?kind = owl:ObjectProperty && isLiteral(?o)) ||
                 (?kind = owl:DatatypeProperty && !isLiteral(?o)))
        }}""")


def forbidden_exact_counts(store) -> list:
    """Literals 300 / 152 anywhere except as ssikg:exclusiveLowerBound (or its reification)."""
    return rows(store, f"""
        SELECT ?g ?s ?p ?o WHERE {{
          GRAPH ?g {{ ?s ?p ?o }}
          FILTER(?g != <{G}ontology>)
          FILTER(isLiteral(?o) && STR(?o) IN ("300", "152", "300.0", "152.0"))
          FILTER(?p != ssikg:exclusiveLowerBound)
          FILTER NOT EXISTS {{
            GRAPH <{G}provenance> {{ ?s rdf:predicate ssikg:exclusiveLowerBound }}
            FILTER(?p = rdf:object)
          }}
        }}""")


def duplicate_preflabels(store) -> list:
    return rows(store, """
        SELECT ?s ?lang (COUNT(DISTINCT ?l) AS ?n) WHERE {
          ?s skos:prefLabel ?l BIND(lang(?l) AS ?lang)
        } GROUP BY ?s ?lang HAVING (COUNT(DISTINCT ?l) > 1)""")


def agents_without_fr_label(store) -> list:
    return rows(store, f"""
        SELECT DISTINCT ?x WHERE {{
          VALUES ?class {{ {ORG_CLASSES} org:Post }}
          GRAPH <{G}stated> {{ ?x a ?class }}
          FILTER NOT EXISTS {{ GRAPH <{G}stated> {{ ?x skos:prefLabel ?l FILTER(lang(?l) = "fr") }} }}
        }}""")


def count_in_stated(store, classes: str) -> list[str]:
    return sorted(r["x"] for r in rows(store, f"""
        SELECT DISTINCT ?x WHERE {{
          VALUES ?class {{ {classes} }}
          GRAPH <{G}stated> {{ ?x a ?class }}
        }}"""))


# --------------------------------------------------------------------------
# Parsing and graph layout
# --------------------------------------------------------------------------
@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_data_file_parses_with_rdflib_and_has_nothing_in_default_graph(path):
    ds = rdflib.Dataset()
    ds.parse(path, format="trig")
    assert len(ds) > 0 or sum(len(g) for g in ds.graphs()) > 0
    default = ds.default_graph if hasattr(ds, "default_graph") else ds.default_context
    assert len(default) == 0, f"{path.name} puts triples in the default graph"
    names = {str(g.identifier) for g in ds.graphs() if len(g)}
    assert names and all(n.startswith(G) for n in names), names


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_data_file_parses_with_pyoxigraph(path):
    store = ox.Store()
    store.load(path=str(path), format=ox.RdfFormat.TRIG)
    assert len(store) > 0
    assert not list(store.quads_for_pattern(None, None, None, ox.DefaultGraph()))


def test_data_files_are_utf8_and_use_page_typography():
    for path in [*DATA_FILES, ONTOLOGY_FILE]:
        text = path.read_bytes().decode("utf-8")  # raises if not UTF-8
        assert "\r" not in text
    stated = (ROOT / "data" / "stated.trig").read_text(encoding="utf-8")
    literals = re.findall(r'"((?:[^"\\]|\\.)*)"', stated)
    assert literals
    assert not [lit for lit in literals if "'" in lit], "use the page’s apostrophe U+2019"
    assert "œuvre" in stated and "’" in stated


def test_ontology_parses_and_has_header():
    g = rdflib.Graph().parse(ONTOLOGY_FILE, format="turtle")
    assert len(g) > 100
    store = ox.Store()
    store.load(path=str(ONTOLOGY_FILE), format=ox.RdfFormat.TURTLE)
    header = PREFIXES + """
        ASK {
          <https://w3id.org/ssikg/ontology> a owl:Ontology ;
            owl:versionInfo "1.0.0" ;
            owl:versionIRI <https://w3id.org/ssikg/ontology/1.0.0> ;
            dct:title ?tfr, ?ten ; dct:description ?dfr, ?den ;
            dct:license <https://creativecommons.org/licenses/by/4.0/> ;
            vann:preferredNamespacePrefix "ssikg" ;
            vann:preferredNamespaceUri "https://w3id.org/ssikg/ontology#" .
          FILTER(lang(?tfr) = "fr" && lang(?ten) = "en" && lang(?dfr) = "fr" && lang(?den) = "en")
          FILTER NOT EXISTS { <https://w3id.org/ssikg/ontology> dct:created|dct:issued|dct:modified ?d }
        }"""
    assert bool(store.query(header))


def test_every_ontology_term_is_documented(store):
    bad = rows(store, f"""
        SELECT ?t WHERE {{ GRAPH <{G}ontology> {{
          ?t a ?kind .
          FILTER(?kind IN (owl:Class, owl:ObjectProperty, owl:DatatypeProperty, owl:NamedIndividual))
          FILTER(STRSTARTS(STR(?t), "{SSIKG}"))
          FILTER NOT EXISTS {{
            ?t rdfs:label ?lfr, ?len ; skos:definition ?dfr, ?den ;
               rdfs:isDefinedBy <https://w3id.org/ssikg/ontology> .
            FILTER(lang(?lfr) = "fr" && lang(?len) = "en" && lang(?dfr) = "fr" && lang(?den) = "en")
          }}
        }} }}""")
    assert not bad


OWL_KINDS = {"class": {OWL.Class, RDFS.Datatype},
             "object": {OWL.ObjectProperty}, "data": {OWL.DatatypeProperty},
             "annotation": {OWL.AnnotationProperty}}
BUILT_IN = (str(RDF), str(RDFS), str(OWL), str(XSD))


def _kind(g: rdflib.Graph, term) -> set[str]:
    declared = set(g.objects(term, RDF.type))
    return {kind for kind, types in OWL_KINDS.items() if declared & types}


def test_the_ontology_declares_every_term_it_uses_as_owl_2_dl_tools_need():
    """OWL API (Protégé, HermiT) reads an undeclared reused term by guessing: a sub-property of
    org:subOrganizationOf became an annotation in RDF/XML and not in Turtle.  Every term in a
    class or property position is declared with exactly one OWL kind; sub-properties match
    their super-property's kind; no reserved vocabulary names a class."""
    g = rdflib.Graph().parse(ONTOLOGY_FILE, format="turtle")
    problems = []
    for s, p, o in g:
        if not str(p).startswith(BUILT_IN) and len(_kind(g, p)) != 1:
            problems.append(f"predicate {p} not declared once")
        if p in (RDFS.domain, RDFS.range, RDFS.subClassOf):
            if str(o).startswith(BUILT_IN) and (o, RDF.type, RDFS.Datatype) not in g and not str(o).startswith(str(XSD)):
                problems.append(f"reserved {o} used as a class ({s} {p})")
            elif not str(o).startswith(str(XSD)) and "class" not in _kind(g, o):
                problems.append(f"{o} used as a class, not declared ({s} {p})")
        if p == RDFS.subPropertyOf and (_kind(g, s) != _kind(g, o) or not _kind(g, s)):
            problems.append(f"{s} ({_kind(g, s)}) below {o} ({_kind(g, o)})")
    assert not problems, "\n".join(sorted(set(problems)))


def test_no_two_ontology_terms_share_a_label():
    """Label-based tools (Protégé's rendering, ROBOT's duplicate_label) merge terms that do."""
    g = rdflib.Graph().parse(ONTOLOGY_FILE, format="turtle")
    seen: dict[tuple[str, str], set] = {}
    for term, label in g.subject_objects(RDFS.label):
        seen.setdefault((str(label).lower(), label.language), set()).add(term)
    assert {key: terms for key, terms in seen.items() if len(terms) > 1} == {}


def test_key_ontology_axioms(store):
    for triple in (
        "ssikg:installedWithin rdfs:subPropertyOf org:linkedTo",
        "ssikg:jointDirectorateOf rdfs:subPropertyOf org:subOrganizationOf",
        "ssikg:SourceStatement rdfs:subClassOf prov:Entity",
        "ssikg:assists owl:inverseOf ssikg:assistedBy",
    ):
        assert bool(q(store, f"ASK {{ GRAPH <{G}ontology> {{ {triple} }} }}")), triple
    # assistance and advice are not reporting lines
    assert not bool(q(store, f"""ASK {{ GRAPH <{G}ontology> {{
        VALUES ?p {{ ssikg:assists ssikg:advises ssikg:installedWithin }}
        ?p rdfs:subPropertyOf* ?super .
        FILTER(?super IN (org:reportsTo, org:subOrganizationOf, org:unitOf)) }} }}"""))


def test_expected_named_graphs_and_external_is_empty(store):
    names = {g.value.removeprefix(G) for g in store.named_graphs()}
    assert names >= EXPECTED_GRAPHS
    assert "external" not in names  # no verified external source: the graph stays empty
    assert not list(store.quads_for_pattern(None, None, None, ox.DefaultGraph()))


def test_every_ssikg_term_used_in_data_is_declared(store):
    assert undeclared_ssikg_terms(store) == []


def test_object_and_datatype_properties_used_consistently(store):
    assert misused_property_kinds(store) == []


# --------------------------------------------------------------------------
# Source page and facts
# --------------------------------------------------------------------------
def test_page_copy_is_byte_identical_to_seed():
    assert hashlib.sha256(PAGE_FILE.read_bytes()).hexdigest() == PAGE_SHA256
    seed = Path("/work/shared/seed/000_b0df10a4594c1420.txt")
    if seed.exists():
        assert seed.read_bytes() == PAGE_FILE.read_bytes()


def test_page_description(store):
    assert bool(q(store, f"""ASK {{ GRAPH <{G}stated> {{
        id:page a <http://xmlns.com/foaf/0.1/Document>, prov:Entity, <https://schema.org/WebPage> ;
          dct:title "Le service de sécurité intérieure"@fr ;
          dct:issued "2024-02-08"^^xsd:date ;
          dct:language <http://publications.europa.eu/resource/authority/language/FRA> ;
          <https://schema.org/workTranslation> id:page-nl .
        id:page-nl dct:language <http://publications.europa.eu/resource/authority/language/NLD> .
      }}
    }}"""))
    # the seed file name identifies the local copy, which derives from the web page (facts.md D.6)
    copies = rows(store, f"""SELECT ?copy WHERE {{ GRAPH <{G}provenance> {{
        ?copy a prov:Entity ; dct:identifier "000_b0df10a4594c1420.txt" ; prov:wasDerivedFrom id:page }} }}""")
    assert [r["copy"] for r in copies] == [ID + "page-local-copy"]
    assert not bool(q(store, "ASK { id:page dct:identifier ?name }"))  # the web page's address is unknown (C20)
    sections = rows(store, f"""SELECT ?s ?title ?parent WHERE {{ GRAPH <{G}stated> {{
        ?s dct:title ?title ; dct:isPartOf ?parent }} }}""")
    assert {r["s"].removeprefix(ID) for r in sections} == {
        "page/section-1", "page/section-1a", "page/section-1b",
        "page/section-2", "page/section-2a", "page/section-2b",
    }
    assert all(r["title"] in page_text() for r in sections)
    # no date other than the publication date anywhere
    dates = rows(store, """SELECT DISTINCT ?d WHERE { ?s ?p ?d
        FILTER(isLiteral(?d) && datatype(?d) IN (xsd:date, xsd:dateTime, xsd:gYear)) }""")
    assert [r["d"] for r in dates] == ["2024-02-08"]


def test_every_fact_has_a_source_statement_and_a_stated_triple(store):
    found = {
        r["id"]: r
        for r in rows(store, f"""
        SELECT ?id ?status ?section (COUNT(DISTINCT ?r) AS ?reified) WHERE {{
          GRAPH <{G}provenance> {{
            ?fact a ssikg:SourceStatement ; ssikg:factId ?id ; prov:value ?quote ;
                  prov:wasQuotedFrom id:page ; dct:isPartOf ?section ; ssikg:factStatus ?status .
            FILTER(lang(?quote) = "fr")
            FILTER(?fact = IRI(CONCAT("https://w3id.org/ssikg/id/fact/", ?id)))
            OPTIONAL {{
              ?r a rdf:Statement ; prov:wasDerivedFrom ?fact ;
                 rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o .
              FILTER EXISTS {{ GRAPH <{G}stated> {{ ?s ?p ?o }} }}
            }}
          }}
        }} GROUP BY ?id ?status ?section""")
    }
    expected = {f"F{n}" for n in range(1, 80)}
    assert set(found) == expected
    missing = sorted((k for k, r in found.items() if int(r["reified"]) == 0), key=lambda k: int(k[1:]))
    assert missing == []
    statuses = {k: r["status"].removeprefix(SSIKG) for k, r in found.items()}
    assert statuses["F35"] == "Contextual"
    assert {k for k, s in statuses.items() if s == "PageMetadata"} == {
        f"F{n}" for n in (1, 2, 3, 5, 20, 31, 43, 67, 78, 79)
    }
    assert sum(s == "Explicit" for s in statuses.values()) == 68
    assert found["F6"]["section"] == ID + "page/section-1a"
    assert found["F44"]["section"] == ID + "page/section-2a"


def test_every_quote_and_sentence_is_verbatim_from_the_page(store):
    assert quotes_not_in_page(store, page_text()) == []


def test_every_stated_triple_is_reified_to_a_quoted_fact(store):
    assert unreified_stated_triples(store) == []


def test_every_reification_points_to_an_existing_triple(store):
    assert dangling_reifications(store) == []


def test_every_derived_triple_is_reified_with_reasoning(store):
    assert bad_derived_triples(store) == []


def test_context_dependent_triples_are_flagged(store):
    for s, p, o in (
        ("id:post-ol-benelux", "org:postIn", "id:ssi-be"),
        ("id:post-asi-be", "org:postIn", "id:ssi-be"),
        ("id:post-ambassadeur-be", "org:postIn", "id:ambassade-fr-be"),
        ("id:dcis", "org:reportsTo", "id:post-dg-pn"),
        ("id:q-pays", "skos:prefLabel", '"plus de 152 pays"@fr'),  # « plus 152 » read as « plus de 152 »
    ):
        assert bool(q(store, f"""ASK {{ GRAPH <{G}provenance> {{
            ?r rdf:subject {s} ; rdf:predicate {p} ; rdf:object {o} ;
               ssikg:interpretation ssikg:Contextual }} }}""")), (s, p, o)
    assert not bool(q(store, f"""ASK {{ GRAPH <{G}provenance> {{
        ?r rdf:subject id:post-asi-be ; rdf:predicate ssikg:hasStatus ;
           ssikg:interpretation ?any }} }}"""))


# --------------------------------------------------------------------------
# Modelling rules
# --------------------------------------------------------------------------
def test_no_exact_count_literals_300_or_152(store):
    assert forbidden_exact_counts(store) == []
    bounds = rows(store, f"""SELECT ?q ?b ?exact ?v WHERE {{ GRAPH <{G}stated> {{
        ?q a ssikg:BoundedQuantity ; ssikg:exclusiveLowerBound ?b ; ssikg:isExact ?exact ;
           ssikg:verbatim ?v }} }} ORDER BY ?b""")
    assert [(r["b"], r["exact"], r["v"]) for r in bounds] == [
        ("152", "false", "plus 152"),
        ("300", "false", "plus de 300"),
    ]


def test_open_lists_are_stated_as_not_exhaustive(store):
    """« principalement » (F15), « ou encore » (F64) and « notamment » (F77) each leave their list open."""
    got = rows(store, f"""SELECT ?s ?p ?fact WHERE {{
        GRAPH <{G}stated> {{ ?s ?p false }}
        GRAPH <{G}provenance> {{ ?r rdf:subject ?s ; rdf:predicate ?p ; rdf:object false ;
                                    prov:wasDerivedFrom ?fact }}
        FILTER(STRENDS(STR(?p), "ListExhaustive")) }}""")
    assert {(r["s"].removeprefix(ID), r["p"].removeprefix(SSIKG), r["fact"].removeprefix(ID)) for r in got} == {
        ("post-asi-be", "cooperationAxisListExhaustive", "fact/F15"),
        ("reseau-ssi", "compositionListExhaustive", "fact/F64"),
        ("coop-tech-mi", "beneficiaryListExhaustive", "fact/F77"),
    }


def test_exact_counts_as_stated(store):
    got = rows(store, f"""SELECT ?e ?c WHERE {{ GRAPH <{G}stated> {{
        id:reseau-ssi ssikg:embassyCount ?e ; ssikg:continentCount ?c .
        FILTER(datatype(?e) = xsd:integer && datatype(?c) = xsd:integer) }} }}""")
    assert got == [{"e": "74", "c": "5"}]


def _as_rdflib(term):
    """A pyoxigraph term as an rdflib one, lexical form kept as it is (no normalisation)."""
    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return rdflib.BNode(term.value)
    if term.language:
        return rdflib.Literal(term.value, lang=term.language, normalize=False)
    return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value), normalize=False)


def _graphs(quads) -> dict[str, rdflib.Graph]:
    graphs: dict[str, rdflib.Graph] = {}
    for quad in quads:
        graph = graphs.setdefault(quad.graph_name.value, rdflib.Graph())
        graph.add((_as_rdflib(quad.subject), _as_rdflib(quad.predicate), _as_rdflib(quad.object)))
    return graphs


def test_the_store_serves_exactly_what_the_files_say(built_store):
    """Every graph of the built store is isomorphic to its source files, literal for literal
    (lexical form and datatype): the engine rewrites nothing that is published (Oxigraph
    would serve "74"^^xsd:nonNegativeInteger as xsd:integer, "1.50" as "1.5")."""
    from rdflib.compare import isomorphic

    from ssikg.store import source_files

    written = []
    for source in source_files(ROOT):
        for quad in ox.parse(path=str(source.path), format=source.format):
            graph = ox.NamedNode(source.graph) if source.graph else quad.graph_name
            written.append(ox.Quad(quad.subject, quad.predicate, quad.object, graph))
    served_store = ox.Store.read_only(str(built_store / "db"))
    try:
        served = _graphs(served_store)
    finally:
        del served_store
    files = _graphs(written)
    assert sorted(served) == sorted(files)
    for name, graph in files.items():
        assert isomorphic(graph, served[name]), name


def test_at_most_one_preflabel_per_language(store):
    assert duplicate_preflabels(store) == []


def test_organisations_and_posts_have_french_preflabels(store):
    assert agents_without_fr_label(store) == []


def test_exactly_14_organisations_and_7_posts_in_stated(store):
    orgs = count_in_stated(store, ORG_CLASSES)
    assert len(orgs) == 14, orgs
    assert ID + "france" not in orgs
    posts = count_in_stated(store, "org:Post")
    assert [p.removeprefix(ID) for p in posts] == sorted(
        ["post-asi-be", "post-ol-benelux", "post-via-be", "post-ambassadeur-be",
         "post-ministre-io", "post-dg-pn", "post-dg-gn"]
    )
    multi = rows(store, f"""SELECT ?p (COUNT(DISTINCT ?o) AS ?n) WHERE {{ GRAPH <{G}stated> {{
        ?p a org:Post . OPTIONAL {{ ?p org:postIn ?o }} }} }} GROUP BY ?p HAVING (COUNT(DISTINCT ?o) != 1)""")
    assert multi == []


def test_no_held_posts_anywhere(store):
    assert not bool(q(store, "ASK { GRAPH ?g { { ?a org:heldBy ?b } UNION { ?a org:holds ?b } } }"))


def test_page_boundaries_are_respected_in_stated(store):
    stated = f"<{G}stated>"
    forbidden = [
        # SSI is hosted by, not part of, the embassy (B7)
        "id:ssi-be org:subOrganizationOf|org:unitOf id:ambassade-fr-be",
        # assistance and advice are not reporting lines (B9, B10)
        "?x org:reportsTo id:post-asi-be",
        "id:post-asi-be org:reportsTo ?x",
        # the network is not stated to belong to the DCIS (B8)
        "id:reseau-ssi ?p id:dcis",
        "id:ssi-be org:memberOf ?x",
        # derived-only material (B13, B14, B21)
        "id:ambassade-fr-be org:hasSite ?x",
        '?x <http://www.w3.org/2006/vcard/ns#country-name> ?c',
        'id:ministere-interieur skos:altLabel ?l',
        # no invented people, expansions or parents
        "?x org:heldBy|org:headOf ?y",
        "?x org:identifier ?y",
        "?x a org:ChangeEvent",
    ]
    for pattern in forbidden:
        assert not bool(q(store, f"ASK {{ GRAPH {stated} {{ {pattern} }} }}")), pattern
    dcsd = rows(store, f"SELECT ?p ?o WHERE {{ GRAPH {stated} {{ id:dcsd ?p ?o }} }}")
    assert {(r["p"].rsplit("#", 1)[-1], r["o"].rsplit("#", 1)[-1]) for r in dcsd} == {
        ("type", "Organization"), ("prefLabel", "DCSD")
    }
    # no English text in the stated graph (translations live in editorial)
    assert not bool(q(store, f'ASK {{ GRAPH {stated} {{ ?s ?p ?o FILTER(langMatches(lang(?o), "en")) }} }}'))


def test_derived_graph_holds_the_expected_inferences(store):
    concept = "<https://w3id.org/ssikg/id/concept/"
    for pattern in (
        "id:ssi-be org:memberOf id:reseau-ssi",
        "id:ambassade-fr-be org:hasSite id:site-ducale-65",
        'id:addr-ssi-be <http://www.w3.org/2006/vcard/ns#country-name> "Belgique"',
        'id:ministere-interieur skos:altLabel "ministère de l’Intérieur et des Outre-mer"@fr',
        "id:post-ol-benelux org:reportsTo id:post-asi-be",
        "id:post-via-be org:reportsTo id:post-asi-be",
        # entailments of stated triples (sub-properties and inverses)
        "id:ssi-be org:linkedTo id:ambassade-fr-be",
        f"id:coop-asi-bilat ssikg:aspect {concept}coop-technique>, {concept}coop-operationnelle>, "
        f"{concept}coop-institutionnelle>",
        f"id:coop-asi-multi ssikg:aspect {concept}coop-technique>, {concept}coop-operationnelle>, "
        f"{concept}coop-institutionnelle>",
        f"{concept}role-asia> skos:related {concept}role-asi>",
        f"{concept}role-asi> skos:related {concept}role-asia>",
        "id:police-nationale org:hasSubOrganization id:dcis",
        "id:post-asi-be ssikg:assistedBy id:post-via-be",
    ):
        assert bool(q(store, f"ASK {{ GRAPH <{G}derived> {{ {pattern} }} }}")), pattern
    # the DCIS's org:subOrganizationOf is stated alongside ssikg:jointDirectorateOf (F33): not repeated
    assert not bool(q(store, f"ASK {{ GRAPH <{G}derived> {{ id:dcis org:subOrganizationOf ?parent }} }}"))
    # ssikg:factId ⊑ dct:identifier stays on the fact nodes: provenance metadata, not a page statement
    assert not bool(q(store, f"ASK {{ GRAPH <{G}derived> {{ ?fact dct:identifier ?id }} }}"))


def test_every_stated_triple_has_its_super_property_triples_for_clients_without_a_reasoner(store):
    assert missing_super_property_triples(store) == []


def test_every_stated_or_derived_triple_has_its_inverse_and_skos_related_goes_both_ways(store):
    assert missing_inverse_triples(store) == []


def test_english_labels_are_editorial_and_cover_every_agent(store):
    missing = rows(store, f"""SELECT ?x WHERE {{
        VALUES ?class {{ {ORG_CLASSES} org:Post }}
        GRAPH <{G}stated> {{ ?x a ?class }}
        FILTER NOT EXISTS {{ GRAPH <{G}editorial> {{ ?x skos:prefLabel ?l FILTER(lang(?l) = "en") }} }}
    }}""")
    assert missing == []
    assert bool(q(store, f"""ASK {{ GRAPH <{G}editorial> {{
        id:police-nationale ssikg:labelStatus ssikg:Reconstructed .
        id:post-dg-pn ssikg:labelStatus ssikg:Reconstructed }} }}"""))


def test_every_english_label_has_a_french_one(store):
    """A French page shows French titles: nothing is labelled in English only."""
    english_only = rows(store, """SELECT ?x WHERE {
        ?x skos:prefLabel ?en FILTER(lang(?en) = "en")
        FILTER NOT EXISTS { ?x skos:prefLabel ?fr FILTER(lang(?fr) = "fr") } }""")
    assert english_only == []
    assert bool(q(store, f"""ASK {{
        GRAPH <{G}stated> {{ id:q-personnel skos:prefLabel "plus de 300 policiers et gendarmes"@fr .
                            id:q-pays skos:prefLabel "plus de 152 pays"@fr }}
        GRAPH <{G}editorial> {{ id:q-personnel ssikg:labelStatus ssikg:Verbatim .
                               id:q-pays ssikg:labelStatus ssikg:Normalised }} }}"""))


def test_verbatim_labels_are_in_the_page(store):
    labels = rows(store, """SELECT ?x ?l WHERE {
        ?x ssikg:labelStatus ssikg:Verbatim ; skos:prefLabel ?l FILTER(lang(?l) = "fr") }""")
    assert len(labels) >= 10
    page = page_text()
    assert [r for r in labels if r["l"] not in page] == []


def test_a_french_label_not_in_the_page_says_how_it_was_made(store):
    """An entity's or concept's French prefLabel is the page's text, or its labelStatus says
    it is normalised (case, singular) or reconstructed (from a coordination or a gloss) — with
    an editorial note saying from what.  Scheme and collection names are the modellers' own."""
    labels = rows(store, """SELECT ?x ?l ?status WHERE {
        ?x skos:prefLabel ?l FILTER(lang(?l) = "fr")
        FILTER NOT EXISTS { ?x a ?modellers VALUES ?modellers { skos:ConceptScheme skos:Collection } }
        OPTIONAL { ?x ssikg:labelStatus ?status } }""")
    page = page_text().lower()
    unexplained = [r["x"] for r in labels if r["l"].lower() not in page
                   and r.get("status") not in (SSIKG + "Normalised", SSIKG + "Reconstructed")]
    assert unexplained == []
    noteless = rows(store, """SELECT ?x WHERE { ?x ssikg:labelStatus ?status
        VALUES ?status { ssikg:Normalised ssikg:Reconstructed }
        FILTER NOT EXISTS { ?x skos:editorialNote ?note } }""")
    assert noteless == []


def test_concepts_used_in_stated_are_in_a_scheme_with_labels(store):
    bad = rows(store, f"""SELECT DISTINCT ?c WHERE {{
        GRAPH <{G}stated> {{ {{ ?s ?p ?c }} UNION {{ ?c ?p ?o }} }}
        FILTER(STRSTARTS(STR(?c), "https://w3id.org/ssikg/id/concept/"))
        FILTER NOT EXISTS {{ GRAPH <{G}vocabularies> {{
          ?c a skos:Concept ; skos:inScheme ?scheme ; skos:prefLabel ?fr, ?en .
          ?scheme a skos:ConceptScheme .
          FILTER(lang(?fr) = "fr" && lang(?en) = "en") }} }}
    }}""")
    assert bad == []
    roles = rows(store, f"""SELECT ?c WHERE {{ GRAPH <{G}vocabularies> {{
        ?c skos:inScheme <{ID}scheme/roles> FILTER NOT EXISTS {{ ?c a org:Role }} }} }}""")
    assert roles == []


def test_schemes_and_crime_hierarchy(store):
    schemes = rows(store, f"""SELECT ?s WHERE {{ GRAPH <{G}vocabularies> {{
        ?s a skos:ConceptScheme ; skos:prefLabel ?fr, ?en ; skos:hasTopConcept ?top .
        ?top skos:topConceptOf ?s .
        FILTER(lang(?fr) = "fr" && lang(?en) = "en") }} }} GROUP BY ?s""")
    names = {r["s"].removeprefix(ID + "scheme/") for r in schemes}
    assert names >= {"themes", "roles", "cooperation-kinds", "org-types", "statuses"}
    assert bool(q(store, f"""ASK {{ GRAPH <{G}vocabularies> {{
        <{ID}concept/criminalite-organisee-transnationale> skos:broader <{ID}concept/criminalite-organisee> .
        <{ID}concept/criminalite-organisee> skos:broader <{ID}concept/criminalite> }} }}"""))
    members = rows(store, f"""SELECT ?m WHERE {{ GRAPH <{G}vocabularies> {{
        <{ID}concept/axes-prioritaires-dcis> a skos:Collection ; skos:member ?m }} }}""")
    assert len(members) == 7


def test_generator_is_in_sync_with_the_data_files():
    """tools/generate_data.py must reproduce the committed data/*.trig exactly."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_data.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # a misspelt option is refused, never taken as "write" (it overwrote hand edits, exit 0)
    typo = subprocess.run([sys.executable, str(ROOT / "tools" / "generate_data.py"), "--chek"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert typo.returncode == 2 and "unrecognized arguments: --chek" in typo.stderr and "written" not in typo.stdout


# --------------------------------------------------------------------------
# The checks can fail: break a copy of the data and watch them catch it
# --------------------------------------------------------------------------
@pytest.fixture
def broken_store() -> ox.Store:
    return load_store()


def test_checks_catch_an_unreified_stated_triple(broken_store):
    stated = ox.NamedNode(G + "stated")
    broken_store.add(ox.Quad(ox.NamedNode(ID + "dcsd"), ox.NamedNode(SSIKG + "sharedWith"),
                             ox.NamedNode(ID + "dcis"), stated))
    assert len(unreified_stated_triples(broken_store)) == 1
    assert undeclared_ssikg_terms(broken_store) == []


def test_checks_catch_a_dangling_reification_and_a_bare_300(broken_store):
    stated = ox.NamedNode(G + "stated")
    personnel = next(broken_store.quads_for_pattern(
        ox.NamedNode(ID + "reseau-ssi"), ox.NamedNode(SSIKG + "personnelCount"), None, stated))
    broken_store.remove(personnel)
    broken_store.add(ox.Quad(ox.NamedNode(ID + "reseau-ssi"),
                             ox.NamedNode("https://schema.org/numberOfEmployees"),
                             ox.Literal("300", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
                             stated))
    assert len(dangling_reifications(broken_store)) == 1
    assert len(forbidden_exact_counts(broken_store)) == 1


def test_checks_catch_a_second_preflabel_and_an_undeclared_term(broken_store):
    editorial = ox.NamedNode(G + "editorial")
    broken_store.add(ox.Quad(ox.NamedNode(ID + "dcis"), ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel"),
                             ox.Literal("DCIS directorate", language="en"), editorial))
    broken_store.add(ox.Quad(ox.NamedNode(ID + "dcis"), ox.NamedNode(SSIKG + "inventedTerm"),
                             ox.Literal("x"), editorial))
    assert len(duplicate_preflabels(broken_store)) == 1
    assert undeclared_ssikg_terms(broken_store) == [SSIKG + "inventedTerm"]


def test_checks_catch_a_misquoted_fact(broken_store):
    prov = ox.NamedNode(G + "provenance")
    fact = ox.NamedNode(ID + "fact/F55")
    value = ox.NamedNode("http://www.w3.org/ns/prov#value")
    old = next(broken_store.quads_for_pattern(fact, value, None, prov))
    broken_store.remove(old)
    broken_store.add(ox.Quad(fact, value, ox.Literal("composé de 300 policiers", language="fr"), prov))
    assert [r["fact"] for r in quotes_not_in_page(broken_store, page_text())] == [fact.value]



def test_checks_catch_a_missing_super_property_or_inverse_triple(broken_store):
    derived = ox.NamedNode(G + "derived")
    org = "http://www.w3.org/ns/org#"
    for s, p, o in (("ssi-be", org + "linkedTo", "ambassade-fr-be"),
                    ("gendarmerie-nationale", org + "hasSubOrganization", "dcis")):
        broken_store.remove(ox.Quad(ox.NamedNode(ID + s), ox.NamedNode(p), ox.NamedNode(ID + o), derived))
    assert [(r["s"], r["super"]) for r in missing_super_property_triples(broken_store)] == [
        (ID + "ssi-be", org + "linkedTo")]
    assert [(r["s"], r["inverse"]) for r in missing_inverse_triples(broken_store)] == [
        (ID + "dcis", org + "hasSubOrganization")]
