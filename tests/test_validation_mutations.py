"""Mutation tests for the SHACL shapes: take the real data (the store built from
ontology/ and data/), inject one organisational defect at a time with a SPARQL
update on a scratch copy, validate, and check that the defect is reported on the
right focus node by the right rule — and by no unrelated rule.  The unmutated
data must conform with zero results.

Mutations that add or remove a stated triple also add or remove its provenance
(reification + fact), so that each run carries exactly one kind of defect.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest
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
    validate,
)

from ssikg.settings import PROJECT_ROOT
from ssikg.validation import quads_from_store, validate_quads

# ---------------------------------------------------------------------------
# Update builders: one defect, its provenance kept consistent


def remove_stated(s: str, p: str, o: str) -> str:
    """Remove a stated triple and every reification of it."""
    return (f"DELETE DATA {{ GRAPH {STATED} {{ {s} {p} {o} }} }} ;\n"
            f"DELETE {{ GRAPH {PROVENANCE} {{ ?r ?rp ?ro }} }}\n"
            f"WHERE {{ GRAPH {PROVENANCE} {{ ?r rdf:subject {s} ; rdf:predicate {p} ; rdf:object {o} ; ?rp ?ro }} }}")


def in_graph(graph: str, triples: str, *, delete: bool = False) -> str:
    return f"{'DELETE' if delete else 'INSERT'} DATA {{ GRAPH {graph} {{ {triples} }} }}"


MUTATIONS = [
    # --- reporting lines
    M("reporting cycle", add_stated("id:post-dg-pn", "org:reportsTo", "id:dcis", "F34"),
      ("post-dg-pn", "ReportingLine-noCycle"), ("dcis", "ReportingLine-noCycle")),
    M("reporting self-loop", add_stated("id:dcis", "org:reportsTo", "id:dcis", "F34"),
      ("dcis", "ReportingLine-noCycle")),
    M("reportsTo an undeclared post (dangling)",
      add_stated("id:post-via-be", "org:reportsTo", "id:post-inexistant", "F24"),
      ("post-via-be", "ReportingLine-targetDeclared")),
    M("undeclared resource reports to a post",
      add_stated("id:inconnu", "org:reportsTo", "id:post-asi-be", "F24"),
      ("inconnu", "ReportingLine-sourceDeclared")),
    M("advice turned into a reporting line",
      add_stated("id:post-asi-be", "org:reportsTo", "id:post-ambassadeur-be", "F10"),
      ("post-asi-be", "ReportingLine-notAdvice")),
    # --- posts
    M("post with no unit",
      remove_stated("id:post-via-be", "org:postIn", "id:ssi-be"),
      ("post-via-be", "Post-oneUnit")),
    M("post in two units",
      add_stated("id:post-via-be", "org:postIn", "id:ambassade-fr-be", "F24"),
      ("post-via-be", "Post-oneUnit"), also={"Post-inverseUnit"}),
    M("post placed in a second unit by an inverse org:hasPost",
      in_graph(DERIVED, "id:dcis org:hasPost id:post-asi-be ."),
      ("post-asi-be", "Post-inverseUnit"), also={"DerivedTriple-hasJustification"}),
    M("post in a resource that is not an organisation",
      join(remove_stated("id:post-dg-pn", "org:postIn", "id:police-nationale"),
           add_stated("id:post-dg-pn", "org:postIn", "id:post-dg-gn", "F35")),
      ("post-dg-pn", "Post-unitDeclared"), also={"Post-inverseUnit"}),
    M("post in an undeclared organisation (dangling)",
      join(remove_stated("id:post-ambassadeur-be", "org:postIn", "id:ambassade-fr-be"),
           add_stated("id:post-ambassadeur-be", "org:postIn", "id:ambassade-inexistante", "F10")),
      ("post-ambassadeur-be", "Post-unitDeclared"), also={"Post-inverseUnit"}),
    M("org:postIn on an undeclared post",
      add_stated("id:post-inconnu", "org:postIn", "id:ssi-be", "F21"),
      ("post-inconnu", "Post-declared"), also={"FrenchLabel-present"}),
    # --- organisation hierarchy
    M("unit that is its own sub-organisation",
      add_stated("id:ssi-be", "org:subOrganizationOf", "id:ssi-be", "F3"),
      ("ssi-be", "Organisation-notOwnParent")),
    M("sub-organisation cycle",
      add_stated("id:police-nationale", "org:subOrganizationOf", "id:dcis", "F33"),
      ("police-nationale", "Organisation-noParentCycle"), ("dcis", "Organisation-noParentCycle")),
    M("sub-organisation cycle through an inverse org:hasSubOrganization",
      in_graph(DERIVED, "id:dcis org:hasSubOrganization id:gendarmerie-nationale ."),
      ("gendarmerie-nationale", "Organisation-noParentCycle"), ("dcis", "Organisation-noParentCycle"),
      also={"DerivedTriple-hasJustification"}),
    M("sub-organisation of an undeclared organisation (dangling)",
      add_stated("id:ssi-be", "org:subOrganizationOf", "id:direction-inexistante", "F3"),
      ("ssi-be", "Organisation-parentDeclared")),
    M("hosting turned into containment (installed within + sub-organisation)",
      add_stated("id:ssi-be", "org:subOrganizationOf", "id:ambassade-fr-be", "F4"),
      ("ssi-be", "InstalledWithin-notContainment")),
    M("SSI installed within an organisation that is not an embassy",
      replace_stated_object("id:ssi-be", "ssikg:installedWithin", "id:ambassade-fr-be", "id:dcis"),
      ("concept/type-ssi", "InternalSecurityService-inEmbassy")),
    M("shared org:identifier (would merge two organisations)",
      join(add_stated("id:ssi-be", "org:identifier", '"SSI"', "F3"),
           add_stated("id:reseau-ssi", "org:identifier", '"SSI"', "F53")),
      ("ssi-be", "OrganisationIdentifier-unique"), ("reseau-ssi", "OrganisationIdentifier-unique")),
    # --- joint authority
    M("joint-authority holder that is not a reportsTo target",
      remove_stated("id:dcis", "org:reportsTo", "id:post-dg-gn"),
      ("auth-dcis", "JointAuthority-holderIsReportsTo")),
    M("holderCount different from the number of holders",
      replace_stated_object("id:auth-dcis", "ssikg:holderCount", '"2"^^xsd:integer',
                            '"3"^^xsd:integer'),
      ("auth-dcis", "JointAuthority-holderCount")),
    M("joint authority with a single holder",
      remove_stated("id:auth-dcis", "ssikg:authorityHolder", "id:post-dg-gn"),
      ("auth-dcis", "JointAuthority-holders"), also={"JointAuthority-holderCount"}),
    # --- bounded quantities
    M("lower bound turned into an exact count (isExact true)",
      replace_stated_object("id:q-personnel", "ssikg:isExact", "false", "true"),
      ("q-personnel", "LowerBound-notExact")),
    M("exact count literal written instead of the bounded quantity",
      add_stated("id:reseau-ssi", "ssikg:personnelCount", "300", "F55"),
      ("reseau-ssi", "CountedQuantity-bounded"), also={"CountedQuantity-noExactCount"}),
    M("exact headcount beside the lower bound (schema:numberOfEmployees)",
      add_stated("id:reseau-ssi", "schema:numberOfEmployees", "300", "F55"),
      ("reseau-ssi", "CountedQuantity-noExactCount")),
    M("exact value on a bounded quantity",
      add_stated("id:q-pays", "rdf:value", "152", "F56"),
      ("q-pays", "LowerBound-noExactValue")),
    M("bounded quantity without its verbatim wording",
      remove_stated("id:q-pays", "ssikg:verbatim", '"plus 152"@fr'),
      ("q-pays", "LowerBound-verbatim")),
    M("verbatim wording that is not in the page",
      replace_stated_object("id:q-personnel", "ssikg:verbatim", '"plus de 300"@fr', '"au moins 300"@fr'),
      ("q-personnel", "VerbatimInPage-inPage")),
    M("inclusive bound inconsistent with the exclusive bound",
      join(in_graph(DERIVED, "id:q-personnel ssikg:inclusiveLowerBound 301 .", delete=True),
           f"DELETE {{ GRAPH {PROVENANCE} {{ ?r ?p ?o }} }} WHERE {{ GRAPH {PROVENANCE} {{ "
           "?r rdf:subject id:q-personnel ; rdf:predicate ssikg:inclusiveLowerBound ; ?p ?o } }",
           in_graph(DERIVED, "id:q-personnel ssikg:inclusiveLowerBound 300 .")),
      ("q-personnel", "LowerBound-inclusiveMatchesExclusive"), also={"DerivedTriple-hasJustification"}),
    M("lower bound on a resource that is not a bounded quantity",
      add_stated("id:reseau-ssi", "ssikg:exclusiveLowerBound", "10", "F53"),
      ("reseau-ssi", "LowerBound-typed"),
      also={"LowerBound-notExact", "LowerBound-verbatim"}),
    # --- labels
    M("organisation without a French label",
      remove_stated("id:dcsd", "skos:prefLabel", '"DCSD"@fr'),
      ("dcsd", "FrenchLabel-present")),
    M("post without a French label",
      remove_stated("id:post-ambassadeur-be", "skos:prefLabel", '"ambassadeur"@fr'),
      ("post-ambassadeur-be", "FrenchLabel-present")),
    M("two French prefLabels",
      add_stated("id:dcis", "skos:prefLabel", '"direction commune"@fr', "F33"),
      ("dcis", "Label-onePerLanguage")),
    M("two English prefLabels (editorial graph)",
      in_graph(EDITORIAL, 'id:ssi-be skos:prefLabel "Internal Security Service, Belgium"@en .'),
      ("ssi-be", "Label-onePerLanguage")),
    M("same label as prefLabel and altLabel",
      add_stated("id:dcis", "skos:altLabel", '"direction de la coopération internationale de sécurité"@fr', "F32"),
      ("dcis", "Label-prefAltDisjoint")),
    M("label without a language tag",
      in_graph(EDITORIAL, 'id:reseau-ssi skos:altLabel "réseau SSI" .'),
      ("reseau-ssi", "Label-languageTagged")),
    # --- provenance
    M("stated triple with no provenance",
      in_graph(STATED, "id:dcis org:purpose concept:securite ."),
      ("dcis", "StatedTriple-hasProvenance")),
    M("provenance that points to something other than a source statement",
      f"DELETE {{ GRAPH {PROVENANCE} {{ ?r prov:wasDerivedFrom ?f }} }}\n"
      f"INSERT {{ GRAPH {PROVENANCE} {{ ?r prov:wasDerivedFrom id:page }} }}\n"
      f"WHERE {{ GRAPH {PROVENANCE} {{ ?r rdf:subject id:dcsd ; rdf:predicate rdf:type ; "
      "rdf:object org:Organization ; prov:wasDerivedFrom ?f } }",
      ("dcsd", "StatedTriple-hasProvenance"), ("_:", "Reification-derivedFrom")),
    M("quote that is not in the page",
      'DELETE { GRAPH ?g { fact:F55 prov:value ?q } } INSERT { GRAPH ?g { fact:F55 prov:value '
      '"composé d’environ 300 policiers et gendarmes"@fr } } WHERE { GRAPH ?g { fact:F55 prov:value ?q } }',
      ("fact/F55", "SourceStatement-quoteInPage")),
    M("quote with normalised typography (straight apostrophe)",
      'DELETE { GRAPH ?g { fact:F4 prov:value ?q } } INSERT { GRAPH ?g { fact:F4 prov:value ?new } } '
      'WHERE { GRAPH ?g { fact:F4 prov:value ?q } BIND (STRLANG(REPLACE(STR(?q), "’", "\'"), "fr") AS ?new) }',
      ("fact/F4", "SourceStatement-quoteInPage")),
    M("source statement without a quote",
      'DELETE WHERE { GRAPH ?g { fact:F66 prov:value ?q } }',
      ("fact/F66", "SourceStatement-quote")),
    M("malformed fact id",
      'DELETE { GRAPH ?g { fact:F57 ssikg:factId ?id } } INSERT { GRAPH ?g { fact:F57 ssikg:factId "57" } } '
      'WHERE { GRAPH ?g { fact:F57 ssikg:factId ?id } }',
      ("fact/F57", "SourceStatement-factId")),
    M("orphan provenance (reification of a triple that is not in the data)",
      in_graph(PROVENANCE, "id:reification-test a rdf:Statement ; rdf:subject id:dcis ; "
               "rdf:predicate org:reportsTo ; rdf:object id:post-ministre-io ; prov:wasDerivedFrom fact:F34 ."),
      ("reification-test", "Reification-tripleExists")),
    # --- page metadata
    M("publication date as a plain string",
      replace_stated_object("id:page", "dct:issued", '"2024-02-08"^^xsd:date', '"08/02/2024"'),
      ("page", "PublicationDate-date")),
    M("publication date as a date-time",
      replace_stated_object("id:page", "dct:issued", '"2024-02-08"^^xsd:date',
                            '"2024-02-08T00:00:00"^^xsd:dateTime'),
      ("page", "PublicationDate-date")),
]


# ---------------------------------------------------------------------------
# Fixtures


# ---------------------------------------------------------------------------
# Tests


def test_the_real_data_conforms_with_zero_results(base_quads):
    report = validate_quads(quads_from_store(base_quads), source_dir=PROJECT_ROOT)
    assert report.conforms, report.text("en")
    assert report.results == []
    assert report.triples == len(base_quads)


def test_there_are_at_least_twenty_distinct_defect_kinds():
    assert len({m.kind for m in MUTATIONS}) == len(MUTATIONS) >= 20
    assert len({rule for m in MUTATIONS for _focus, rule in m.expected}) >= 20


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.kind for m in MUTATIONS])
def test_each_defect_is_caught_on_the_right_node_by_the_right_rule(base_quads, mutation):
    assert_caught(base_quads, mutation)


def test_a_second_unit_with_two_parents_is_allowed(base_quads):
    """B6: ORG allows several parents; only loops and dangling parents are errors."""
    scratch = mutate(base_quads, join(
        add_stated("id:dg-securite-civile", "org:subOrganizationOf", "id:ministere-interieur", "F73"),
        add_stated("id:dg-securite-civile", "org:subOrganizationOf", "id:secretariat-general", "F73")))
    report = validate(scratch)
    assert report.conforms and report.results == [], report.text("en")


def test_the_dcis_has_two_parents_in_the_real_data(base_quads):
    dcis = ox.NamedNode(ID + "dcis")
    parents = {q.object for q in base_quads
               if q.subject == dcis and q.predicate == ox.NamedNode("http://www.w3.org/ns/org#subOrganizationOf")}
    assert len(parents) == 2
