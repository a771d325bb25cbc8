"""Coverage of the SHACL shapes beyond the organisational defects of
test_validation_mutations.py: count datatypes, undeclared terms and concepts,
short or misplaced quotes, duplicate fact ids, derived triples without
justification, dangling or ill-typed ORG values, deleted graphs and facts, and
the wording of the messages a maintainer reads.

Each case takes the real data (the store built from ontology/ and data/),
applies one SPARQL update on a scratch copy, runs the project's validation
engine (``validate_quads``, what ``ssikg validate`` and validate-on-write run)
and expects the named rule on the named focus node, and no unrelated rule.
Mutations that add a stated triple add its provenance too, so that each run
carries one kind of defect.
"""

from __future__ import annotations

import pytest
import rdflib
from rdflib.namespace import SH
from validation_harness import (
    DERIVED,
    EDITORIAL,
    ID,
    PROVENANCE,
    STATED,
    M,
    add_stated,
    assert_caught,
    join,
    mutate,
    replace_stated_object,
    rule_key,
    validate,
)

from ssikg.validation import load_shapes

ONTOLOGY_NODE = "https://w3id.org/ssikg/ontology"
DERIVED_NODE = "https://w3id.org/ssikg/graph/derived"
PROVENANCE_NODE = "https://w3id.org/ssikg/graph/provenance"


# ---------------------------------------------------------------------------
# Update builders


def set_fact_value(fact: str, predicate: str, value: str) -> str:
    """Replace a source statement's quote, sentence or id (a literal, or a SPARQL expression on ?old)."""
    return (f"DELETE {{ GRAPH ?g {{ fact:{fact} {predicate} ?old }} }} "
            f"INSERT {{ GRAPH ?g {{ fact:{fact} {predicate} ?new }} }} "
            f"WHERE {{ GRAPH ?g {{ fact:{fact} {predicate} ?old }} BIND ({value} AS ?new) }}")


def embassy_count(new: str) -> str:
    return replace_stated_object("id:reseau-ssi", "ssikg:embassyCount", '"74"^^xsd:integer', new)


C = M  # a case of this file: one gap in the shapes, as a mutation of the real data

CASES = [
    # 1. Count datatypes
    C("embassyCount as a plain string", embassy_count('"74"'), ("reseau-ssi", "Count-embassyCount")),
    C("negative embassyCount", embassy_count('"-74"^^xsd:integer'), ("reseau-ssi", "Count-embassyCount")),
    C("embassyCount as a decimal", embassy_count("74.0"), ("reseau-ssi", "Count-embassyCount")),
    C("embassyCount as French words", embassy_count('"cinq"@fr'), ("reseau-ssi", "Count-embassyCount")),
    C("continentCount as a plain string",
      replace_stated_object("id:reseau-ssi", "ssikg:continentCount", '"5"^^xsd:integer', '"5"'),
      ("reseau-ssi", "Count-continentCount")),
    # 2. Undeclared terms and concepts
    C("British spelling of org:subOrganizationOf",
      add_stated("id:ssi-be", "org:subOrganisationOf", "id:dcis", "F3"), (ONTOLOGY_NODE, "DeclaredTerm-known")),
    C("org:reportTo instead of org:reportsTo",
      add_stated("id:post-via-be", "org:reportTo", "id:post-asi-be", "F24"), (ONTOLOGY_NODE, "DeclaredTerm-known")),
    C("misspelt project predicate",
      add_stated("id:ssi-be", "ssikg:installedWithn", "id:ambassade-fr-be", "F4"),
      (ONTOLOGY_NODE, "DeclaredTerm-known")),
    C("class org:Organisation (British spelling)",
      add_stated("id:dcsd", "rdf:type", "org:Organisation", "F66"), (ONTOLOGY_NODE, "DeclaredTerm-known")),
    C("role that is not a declared concept",
      add_stated("id:post-asi-be", "org:role", "concept:role-inexistant", "F5"),
      ("post-asi-be", "ConceptReference-declared")),
    C("classification by an undeclared concept",
      add_stated("id:dcsd", "org:classification", "concept:type-inconnu", "F66"),
      ("dcsd", "ConceptReference-declared")),
    # 3. Quotes and fact ids
    C("empty quote", set_fact_value("F55", "prov:value", '""@fr'), ("fact/F55", "SourceStatement-quoteLength")),
    C("one-character quote", set_fact_value("F55", "prov:value", '"a"@fr'),
      ("fact/F55", "SourceStatement-quoteLength")),
    C("quote from another sentence of the page",
      'DELETE { GRAPH ?g { fact:F55 prov:value ?q } } INSERT { GRAPH ?g { fact:F55 prov:value ?other } } '
      'WHERE { GRAPH ?g { fact:F55 prov:value ?q } GRAPH ?h { fact:F4 prov:value ?other } }',
      ("fact/F55", "SourceStatement-quoteInSentence")),
    C("two facts with the same fact id", set_fact_value("F57", "ssikg:factId", '"F56"'),
      ("fact/F57", "SourceStatement-factIdUnique"), ("fact/F56", "SourceStatement-factIdUnique")),
    # 4. Derived triples need their justification
    C("derived triple without a reification",
      f"INSERT DATA {{ GRAPH {DERIVED} {{ id:ssi-be org:memberOf id:dcis }} }}",
      (DERIVED_NODE, "DerivedTriple-hasJustification")),
    # 5. The SSI is installed within embassies only
    C("SSI also installed within a directorate",
      add_stated("id:ssi-be", "ssikg:installedWithin", "id:dcis", "F4"),
      ("concept/type-ssi", "InternalSecurityService-inEmbassy")),
    C("the SSI's host no longer classified as an embassy",
      join(f"DELETE DATA {{ GRAPH {STATED} {{ id:ambassade-fr-be org:classification concept:type-ambassade }} }}",
           f"DELETE WHERE {{ GRAPH {PROVENANCE} {{ ?r rdf:subject id:ambassade-fr-be ; "
           "rdf:predicate org:classification ; rdf:object concept:type-ambassade ; ?rp ?ro } }"),
      ("concept/type-ssi", "InternalSecurityService-inEmbassy"), also={"SourceStatement-supports"}),
    # 6. Dangling and ill-typed ORG values
    C("org:hasPost to an undeclared post", add_stated("id:ssi-be", "org:hasPost", "id:nowhere", "F21"),
      ("ssi-be", "HasPost-postDeclared")),
    C("org:memberOf an undeclared organisation", add_stated("id:ssi-be", "org:memberOf", "id:nowhere", "F53"),
      ("ssi-be", "MemberOf-organisationDeclared")),
    C("org:memberOf a literal", add_stated("id:ssi-be", "org:memberOf", '"réseau SSI"@fr', "F53"),
      ("ssi-be", "MemberOf-organisationDeclared")),
    C("org:headOf a literal", add_stated("id:post-asi-be", "org:headOf", '"ssi"', "F5"),
      ("post-asi-be", "MemberOf-organisationDeclared")),
    C("org:identifier as an IRI", add_stated("id:dcsd", "org:identifier", "id:something", "F66"),
      ("dcsd", "OrganisationIdentifier-literal")),
    C("membership whose member is a concept",
      join(add_stated("id:adhesion", "rdf:type", "org:Membership", "F53"),
           add_stated("id:adhesion", "org:member", "concept:terrorisme", "F53"),
           add_stated("id:adhesion", "org:organization", "id:reseau-ssi", "F53")),
      ("adhesion", "Membership-member")),
    # 7. Deleted graphs and facts
    C("ontology graph dropped", "DROP GRAPH <https://w3id.org/ssikg/graph/ontology>",
      ("page", "Store-requiredGraphs")),
    C("vocabularies graph dropped", "DROP GRAPH <https://w3id.org/ssikg/graph/vocabularies>",
      ("page", "Store-requiredGraphs"), also={"ConceptReference-declared"}),
    C("editorial graph dropped", "DROP GRAPH <https://w3id.org/ssikg/graph/editorial>",
      ("page", "Store-requiredGraphs")),
    C("whole fact deleted with its triple and reification",
      join("DELETE WHERE { GRAPH ?g { fact:F57 ?p ?o } }",
           f"DELETE DATA {{ GRAPH {STATED} {{ id:reseau-ssi ssikg:continentCount 5 }} }}",
           f"DELETE WHERE {{ GRAPH {PROVENANCE} {{ ?r rdf:subject id:reseau-ssi ; "
           "rdf:predicate ssikg:continentCount ; ?rp ?ro } }"),
      (PROVENANCE_NODE, "SourceStatement-noGap")),
    # 8. A string holder count is a datatype error, not a miscount
    C("holderCount as a plain string",
      replace_stated_object("id:auth-dcis", "ssikg:holderCount", '"2"^^xsd:integer', '"2"'),
      ("auth-dcis", "JointAuthority-holderCountValue")),
]


# ---------------------------------------------------------------------------
# Fixtures and helpers


def results_of(report, rule: str):
    return [r for r in report.results if rule_key(r) == rule]


# ---------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_each_gap_is_caught_by_its_named_rule(base_quads, case):
    assert_caught(base_quads, case)


def test_an_undeclared_term_is_named_with_where_it_is_used(base_quads):
    report = validate(mutate(base_quads, add_stated("id:ssi-be", "org:subOrganisationOf", "id:dcis", "F3")))
    [result] = results_of(report, "DeclaredTerm-known")
    assert str(result.value) == "http://www.w3.org/ns/org#subOrganisationOf"
    assert f"{ID}ssi-be" in result.message("en") and "org:subOrganizationOf" in result.message("en")


def test_qualified_and_inverse_prov_o_terms_are_known(base_quads):
    """PROV-O's qualified pattern and expanded inverses are PROV-O: a write using them is not
    refused as a typo; a misspelt PROV-O term still is."""
    report = validate(mutate(base_quads, f"""INSERT DATA {{ GRAPH {EDITORIAL} {{
        id:page prov:qualifiedDerivation [ a prov:Derivation ; prov:entity id:page ; prov:hadRole id:page ] ;
                prov:generated id:page ; prov:influenced id:page .
        id:page a prov:EmptyCollection }} }}"""))
    assert results_of(report, "DeclaredTerm-known") == []
    typo = validate(mutate(base_quads, f"INSERT DATA {{ GRAPH {EDITORIAL} {{ id:page prov:qualifiedDerivaton id:page }} }}"))
    assert [str(r.value) for r in results_of(typo, "DeclaredTerm-known")] == [
        "http://www.w3.org/ns/prov#qualifiedDerivaton"]


def test_an_empty_store_reports_every_required_graph(base_quads):
    report = validate(mutate(base_quads, "DROP ALL"))
    missing = {str(r.value).rsplit("/", 1)[-1] for r in results_of(report, "Store-requiredGraphs")}
    assert missing == {"ontology", "vocabularies", "stated", "provenance", "editorial"}
    assert {rule_key(r) for r in report.results} == {"Store-requiredGraphs"}


def test_a_string_holder_count_says_it_must_be_an_integer(base_quads):
    report = validate(mutate(base_quads, replace_stated_object(
        "id:auth-dcis", "ssikg:holderCount", '"2"^^xsd:integer', '"2"')))
    assert not results_of(report, "JointAuthority-holderCount")  # not "is 2 but names 2 holders"
    assert all("xsd:integer" in r.message("en") for r in report.results)


def test_two_labels_in_one_language_are_named_with_the_language(base_quads):
    report = validate(mutate(base_quads, add_stated(
        "id:dcis", "skos:prefLabel", '"direction commune"@fr', "F33")))
    [result] = results_of(report, "Label-onePerLanguage")
    message = result.message("en")
    assert "« fr »" in message and "direction commune" in message
    assert "direction de la coopération internationale de sécurité" in message


def test_a_sub_organisation_cycle_names_the_relationship_that_loops(base_quads):
    report = validate(mutate(base_quads, add_stated("id:police-nationale", "org:subOrganizationOf", "id:dcis")))
    messages = [r.message("en") for r in results_of(report, "Organisation-noParentCycle")]
    assert messages and all("cycle through " in m for m in messages)
    assert any("through org:subOrganizationOf:" in m for m in messages)


def test_every_shape_and_sparql_constraint_has_an_iri():
    """The README promises a named rule for every result: no blank-node shape or constraint."""
    graph = load_shapes().graph
    typed = {node for kind in (SH.NodeShape, SH.PropertyShape, SH.SPARQLConstraint)
             for node in graph.subjects(rdflib.RDF.type, kind)}
    referenced = {node for link in (SH.property, SH.sparql, SH.node) for node in graph.objects(None, link)}
    anonymous = sorted(str(node) for node in typed | referenced if not isinstance(node, rdflib.URIRef))
    assert anonymous == []
    messageless = sorted(str(node) for node in typed
                         if {m.language for m in graph.objects(node, SH.message)} != {"fr", "en"}
                         and (node, SH.property, None) not in graph and (node, SH.sparql, None) not in graph)
    assert messageless == []
    # as the README says: a name in both languages for each, a description for each node shape
    unnamed = sorted(str(node) for node in typed if {n.language for n in graph.objects(node, SH.name)} != {"fr", "en"})
    undescribed = sorted(str(node) for node in graph.subjects(rdflib.RDF.type, SH.NodeShape)
                         if {d.language for d in graph.objects(node, SH.description)} != {"fr", "en"})
    assert unnamed == [] and undescribed == []
