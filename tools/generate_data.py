#!/usr/bin/env python3
"""Generate the SSIKG data files (data/*.trig) from one Python description.

Maintainer tool, NOT part of the build.  The committed ``data/*.trig`` files
are plain TriG and are what the build loads; this script only exists so that
the stated triples, their fact links and the RDF 1.1 reification blocks in
``data/provenance.trig`` stay consistent when the model is edited.

Usage (from the repository root)::

    python tools/generate_data.py            # rewrite data/*.trig
    python tools/generate_data.py --check    # exit 1 if the files would change

Inputs:  data/source/page.txt (verbatim copy of the source page), the
tables below and the property axioms (rdfs:subPropertyOf, owl:inverseOf) of
ontology/ssikg.ttl, read with pyoxigraph.  Outputs: data/stated.trig,
data/provenance.trig, data/derived.trig, data/editorial.trig,
data/vocabularies.trig.  The ontology itself is maintained by hand.

Rules encoded here (see /work/shared/domain/facts.md for the analysis):
* every triple in the ``stated`` graph comes from >= 1 fact F1..F79 and is
  reified in ``provenance`` (``prov:wasDerivedFrom fact:Fn``); triples that
  need context resolution get ``ssikg:interpretation ssikg:Contextual``;
* every triple in ``derived`` is reified in ``provenance`` with the facts it
  rests on, ``ssikg:interpretation ssikg:Derived`` and a ``skos:editorialNote``
  citing the B-number of facts.md;
* ``derived`` also holds the entailments of the stated triples that a client
  without a reasoner would miss: their inverses (owl:inverseOf) and the
  super-properties (rdfs:subPropertyOf, read from ontology/ssikg.ttl) of their
  predicates, skos:related both ways; each is justified by the stated triple's
  facts, like the other derived triples;
* ``@en`` labels of entities live in ``editorial`` (modeller translations);
* nothing is written to the default graph; the ``external`` graph stays empty.
"""
from __future__ import annotations

import re
import sys
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
PAGE = DATA / "source" / "page.txt"

GRAPH = "https://w3id.org/ssikg/graph/"

PREFIXES = OrderedDict(
    [
        ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
        ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
        ("xsd", "http://www.w3.org/2001/XMLSchema#"),
        ("owl", "http://www.w3.org/2002/07/owl#"),
        ("skos", "http://www.w3.org/2004/02/skos/core#"),
        ("dct", "http://purl.org/dc/terms/"),
        ("prov", "http://www.w3.org/ns/prov#"),
        ("foaf", "http://xmlns.com/foaf/0.1/"),
        ("org", "http://www.w3.org/ns/org#"),
        ("cv", "http://data.europa.eu/m8g/"),
        ("vcard", "http://www.w3.org/2006/vcard/ns#"),
        ("schema", "https://schema.org/"),
        ("ssikg", "https://w3id.org/ssikg/ontology#"),
        ("id", "https://w3id.org/ssikg/id/"),
        ("concept", "https://w3id.org/ssikg/id/concept/"),
        ("scheme", "https://w3id.org/ssikg/id/scheme/"),
        ("fact", "https://w3id.org/ssikg/id/fact/"),
        ("country", "http://publications.europa.eu/resource/authority/country/"),
        ("lang", "http://publications.europa.eu/resource/authority/language/"),
    ]
)

# --------------------------------------------------------------------------
# Facts F1..F79: (number, status S/C/M, verbatim quote, English gloss).
# Quotes are verbatim substrings of data/source/page.txt (checked below).
# --------------------------------------------------------------------------
FACTS = [
    (1, 'M', 'Le service de sécurité intérieure [nl]',
     'The page title is "Le service de sécurité intérieure" ("The internal security service"). [nl] is a language switch and not part of the title.'),
    (2, 'M', '[nl]',
     'The page signals that a Dutch-language version exists. Neither its URL nor its content is in the text.'),
    (3, 'M', '1/ Le service de sécurité intérieure (SSI) de BELGIQUE',
     'Section 1 is about the internal security service (acronym SSI) "of Belgium", that is, the French SSI posted in Belgium.'),
    (4, 'S', 'Le service de sécurité intérieure est installé au sein de l’Ambassade de France en Belgique.',
     'The internal security service is installed within the Embassy of France in Belgium.'),
    (5, 'M', 'L’attaché de sécurité intérieure (ASI)',
     'A sub-heading of section 1 introduces the post "attaché de sécurité intérieure" (acronym ASI).'),
    (6, 'S', 'L’attaché de sécurité intérieure dispose du statut diplomatique',
     'The ASI has diplomatic status.'),
    (7, 'S', 'met en œuvre la coopération définie par le ministre de l’Intérieur et des Outre-mer',
     'The ASI implements the cooperation defined by the Minister of the Interior and Overseas.'),
    (8, 'S', 'la coopération définie par le ministre de l’Intérieur et des Outre-mer',
     'The cooperation in F7 is defined by the post "ministre de l’Intérieur et des Outre-mer", which belongs to the Ministry of the Interior (B21).'),
    (9, 'S', 'en cohérence avec les orientations générales de la politique extérieure française',
     'The ASI carries out this cooperation consistently with the general orientations of French external policy.'),
    (10, 'S', 'Conseiller de l’ambassadeur pour toutes les questions relatives à la sécurité intérieure',
     'The ASI is adviser to the ambassador on all questions relating to internal security.'),
    (11, 'S', 'ainsi que celles relevant des différents services du ministère de l’Intérieur',
     'The ASI also advises the ambassador on questions within the remit of the various services of the Ministry of the Interior. The ministry therefore has several services, none named here.'),
    (12, 'S', 'il anime et coordonne la coopération bilatérale de sécurité',
     'The ASI leads (animates) and coordinates bilateral security cooperation.'),
    (13, 'S', 'ainsi que la coopération multilatérale',
     'The ASI also leads and coordinates multilateral cooperation.'),
    (14, 'S', 'en particulier dans leurs aspects techniques, opérationnels et institutionnels',
     'The bilateral and multilateral cooperation are led "in particular" in their technical, operational and institutional aspects. "En particulier" marks emphasis, not restriction.'),
    (15, 'S', 'Compte tenu des enjeux bilatéraux, ses axes de coopération touchent principalement',
     'Given the bilateral stakes, the ASI\'s ("ses") cooperation axes mainly concern the items in F16–F18. The list is not exhaustive.'),
    (16, 'S', 'la lutte contre le terrorisme',
     'Main cooperation axis of the ASI: counter-terrorism.'),
    (17, 'S', 'toute forme d’extrémisme',
     'Main cooperation axis of the ASI: every form of extremism.'),
    (18, 'S', 'la lutte contre la criminalité organisée',
     'Main cooperation axis of the ASI: the fight against organised crime.'),
    (19, 'S', 'Son rôle en matière de soutien à l’exportation pour les entreprises françaises travaillant dans le domaine de la sécurité intérieure est également prégnant.',
     'The ASI\'s role in export support for French companies working in internal security is also significant ("prégnant").'),
    (20, 'M', 'Les missions du service de sécurité intérieure (SSI)',
     'A second sub-heading of section 1, "The missions of the SSI". The text under it is about staff (F21, F24) and the contact details (F25–F30). No list of missions follows (B37).'),
    (21, 'S', 'Pour l’exercice de ses attributions, l’ASI est secondé par un officier de liaison',
     'To carry out their duties, the ASI is seconded (assisted) by a liaison officer.'),
    (22, 'S', 'officier de liaison pour le Benelux',
     "The liaison officer's geographic remit is the Benelux."),
    (23, 'S', 'en matière de criminalité organisée',
     "The liaison officer's thematic remit is organised crime."),
    (24, 'S', 'et par un Volontaire international en administration (VIA)',
     'The ASI is also seconded by an International Volunteer in Administration (VIA).'),
    (25, 'S', 'Ses coordonnées',
     '"Its/their contact details:" introduces a contact block. The block is attributed to the SSI because its first line is the SSI (B12).'),
    (26, 'S', 'Service de sécurité intérieure',
     'The addressee line is "Service de sécurité intérieure".'),
    (27, 'S', 'Ambassade de France',
     'The contact address goes via (c/o) the "Ambassade de France".'),
    (28, 'S', '65, rue Ducale',
     'The street address is "65, rue Ducale".'),
    (29, 'S', '1000 Bruxelles',
     'The postal code is 1000.'),
    (30, 'S', '1000 Bruxelles',
     'The locality is Bruxelles.'),
    (31, 'M', '2/ La Direction de la Coopération Internationale de Sécurité (DCIS)',
     'Section 2 is about the DCIS. The heading capitalises the name: "Direction de la Coopération Internationale de Sécurité".'),
    (32, 'S', 'La direction de la coopération internationale de sécurité (DCIS) est une direction',
     'The DCIS (full name in lower case in the body text) is a directorate ("direction").'),
    (33, 'S', 'est une direction commune à la police et à la gendarmerie nationales',
     'The DCIS is a directorate common to the national police and the national gendarmerie.'),
    (34, 'S', 'A ce titre, elle relève de l’autorité conjointe des deux directeurs généraux.',
     'As such, the DCIS comes under the joint authority of the two directors general.'),
    (35, 'C', 'des deux directeurs généraux',
     'In context ("A ce titre", following F33), the two directors general are the director general of the police nationale and the director general of the gendarmerie nationale. The joint authority follows from the DCIS being a common directorate.'),
    (36, 'S', 'Elle participe à la mise en œuvre de la politique étrangère de la France dans les domaines qui dépendent du ministère de l’Intérieur',
     "The DCIS takes part in implementing France's foreign policy in the fields that fall under the Ministry of the Interior."),
    (37, 'S', 'à l’exception des questions relevant exclusivement des services de renseignement',
     'Questions that fall exclusively within the intelligence services are excluded.'),
    (38, 'S', 'Les policiers et gendarmes de la DCIS',
     'The DCIS has police officers and gendarmes as staff.'),
    (39, 'S', 'ont en charge la mise en œuvre des programmes et actions de coopération internationale de sécurité intérieure et civile',
     'DCIS police officers and gendarmes are in charge of implementing international cooperation programmes and actions in internal security.'),
    (40, 'S', 'coopération internationale de sécurité intérieure et civile',
     'The same programmes and actions also cover civil security.'),
    (41, 'S', 'ils concourent au renforcement de la sécurité dans la lutte contre la criminalité sous toutes ses formes',
     'For these purposes they help strengthen security in the fight against crime in all its forms.'),
    (42, 'S', 'portent assistance à la communauté française face aux catastrophes de toute nature',
     'They assist the French community in the face of disasters of every kind.'),
    (43, 'M', 'Une réponse internationale aux défis multiples d’un monde en mutation',
     'A sub-heading of section 2: "An international response to the multiple challenges of a changing world".'),
    (44, 'S', 'La coopération entre pays est essentielle pour contrer les diverses menaces qui prennent naissance hors de nos frontières.',
     'Cooperation between countries is essential to counter the threats that originate outside "our" (France\'s) borders.'),
    (45, 'S', 'Terrorisme',
     'DCIS priority axis: terrorism.'),
    (46, 'S', 'criminalité organisée transnationale',
     'DCIS priority axis: transnational organised crime.'),
    (47, 'S', 'trafics de drogue ou d’armes',
     'DCIS priority axis: drug trafficking.'),
    (48, 'S', 'trafics de drogue ou d’armes',
     'DCIS priority axis: arms trafficking.'),
    (49, 'S', 'immigration irrégulière',
     'DCIS priority axis: irregular immigration.'),
    (50, 'S', 'trafic des êtres humains',
     'DCIS priority axis: trafficking in human beings.'),
    (51, 'S', 'cybercriminalité',
     'DCIS priority axis: cybercrime.'),
    (52, 'S', 'constituent les axes prioritaires de travail des policiers et gendarmes de la DCIS',
     "F45–F51 are the priority work axes of the DCIS's police officers and gendarmes."),
    (53, 'S', 'Afin de mener à bien des coopérations tant bilatérales que multilatérales, la France s’appuie sur son réseau des services de sécurité intérieure',
     'To carry out both bilateral and multilateral cooperation, France relies on its network of internal security services.'),
    (54, 'S', 'déployés dans 74 ambassades',
     'These internal security services are deployed in 74 embassies (an exact count).'),
    (55, 'S', 'composé de plus de 300 policiers et gendarmes',
     'The network is made up of more than 300 police officers and gendarmes. This is a lower bound.'),
    (56, 'S', 'couvre plus 152 pays',
     'The network covers more than 152 countries. The page literally reads "plus 152", read as "plus de 152" (B2).'),
    (57, 'S', 'sur les cinq continents',
     'The coverage spans "the five continents", a conventional French phrase.'),
    (58, 'S', 'Il est constitué des attachés de sécurité intérieure (ASI)',
     'The network is made up of internal security attachés (ASI).'),
    (59, 'S', 'de leurs adjoints (ASIA)',
     'The network also includes their deputies, the ASIA.'),
    (60, 'S', 'de leurs adjoints (ASIA)',
     'The ASIA are the deputies ("adjoints") of the ASIs. This is a relation between roles.'),
    (61, 'S', 'des officiers de liaison',
     'The network also includes liaison officers.'),
    (62, 'S', 'des assistants',
     'The network also includes assistants.'),
    (63, 'S', 'des coopérants',
     'The network also includes "coopérants" (cooperation staff).'),
    (64, 'S', 'ou encore des experts techniques internationaux',
     'The network also includes international technical experts. "ou encore" ("and also") may mark the list as non-exhaustive (B18).'),
    (65, 'S', 'cette dernière catégorie relevant du réseau partagé avec la DCSD',
     'The last category, the international technical experts, comes under the network shared with the DCSD.'),
    (66, 'S', 'réseau partagé avec la DCSD',
     'There is a network shared with the DCSD. The DCSD is an organisation named only by its acronym.'),
    (67, 'M', 'Une mission de coordination et d’animation',
     'A sub-heading of section 2: "A coordination and facilitation mission".'),
    (68, 'S', 'La DCIS anime et coordonne la coopération technique, institutionnelle et opérationnelle de la police et de la gendarmerie nationales.',
     'The DCIS leads and coordinates the technical cooperation of the police nationale and gendarmerie nationale.'),
    (69, 'S', 'coopération technique, institutionnelle et opérationnelle',
     'The DCIS also leads and coordinates the institutional cooperation of the police nationale and gendarmerie nationale.'),
    (70, 'S', 'coopération technique, institutionnelle et opérationnelle',
     'The DCIS also leads and coordinates the operational cooperation of the police nationale and gendarmerie nationale.'),
    (71, 'S', 'Elle est, en outre, en charge de la mise en œuvre de la coopération technique du ministère de l’Intérieur',
     "In addition, the DCIS is responsible for implementing the Ministry of the Interior's technical cooperation."),
    (72, 'S', 'au profit notamment du secrétariat général',
     'Beneficiaries include ("notamment") the General Secretariat.'),
    (73, 'S', 'de la direction générale de la sécurité civile',
     'Beneficiary: the Directorate-General for Civil Security.'),
    (74, 'S', 'de la direction générale des étrangers en France',
     'Beneficiary: the Directorate-General for Foreign Nationals in France.'),
    (75, 'S', 'de la direction générale des collectivités locales',
     'Beneficiary: the Directorate-General for Local Authorities.'),
    (76, 'S', 'de la délégation à la sécurité et à la circulation routières',
     'Beneficiary: the Delegation for Road Safety and Traffic.'),
    (77, 'S', 'au profit notamment',
     '"notamment" ("notably") makes the beneficiary list F72–F76 non-exhaustive.'),
    (78, 'M', 'JPEG',
     'The page contains a JPEG image. Its content, caption and alt text are unknown.'),
    (79, 'M', 'publié le 08/02/2024',
     'Published on 8 February 2024 (French dd/mm/yyyy).'),
]

STATUS = {"S": "ssikg:Explicit", "C": "ssikg:Contextual", "M": "ssikg:PageMetadata"}


# --------------------------------------------------------------------------
# Term helpers (terms are Turtle strings)
# --------------------------------------------------------------------------
def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fr(text: str) -> str:
    return f'"{_esc(text)}"@fr'


def en(text: str) -> str:
    return f'"{_esc(text)}"@en'


def s_(text: str) -> str:  # plain xsd:string literal
    return f'"{_esc(text)}"'


def count(value: int) -> str:
    """A count as xsd:integer: Oxigraph stores every integer-derived datatype (e.g.
    xsd:nonNegativeInteger) as xsd:integer, so only this one is served as written.  The
    properties' range stays xsd:nonNegativeInteger, whose value space holds these values."""
    if value < 0:
        raise ValueError(f"a count cannot be negative: {value}")
    return f'"{value}"^^xsd:integer'


def integer(value: int) -> str:
    return str(int(value))


TRUE, FALSE = "true", "false"

PAGE_ID = "id:page"
PAGE_COPY = "id:page-local-copy"
SEED_FILE_NAME = "000_b0df10a4594c1420.txt"
PAGE_COPY_COMMENT = (
    "Local copy of the source page: the seed file named by dct:identifier, kept byte for byte in the "
    "repository as data/source/page.txt. The quotes of the source statements are checked against it."
)
SEC = {
    "1": "<https://w3id.org/ssikg/id/page/section-1>",
    "1a": "<https://w3id.org/ssikg/id/page/section-1a>",
    "1b": "<https://w3id.org/ssikg/id/page/section-1b>",
    "2": "<https://w3id.org/ssikg/id/page/section-2>",
    "2a": "<https://w3id.org/ssikg/id/page/section-2a>",
    "2b": "<https://w3id.org/ssikg/id/page/section-2b>",
}
IMAGE = "<https://w3id.org/ssikg/id/page/image-1>"


def fact_section(n: int) -> str:
    """Where fact n appears on the page (page order, facts.md §A)."""
    if n in (1, 2, 78, 79):
        return PAGE_ID
    for last, sec in ((4, "1"), (19, "1a"), (30, "1b"), (42, "2"), (66, "2a"), (77, "2b")):
        if n <= last:
            return SEC[sec]
    raise ValueError(n)


# --------------------------------------------------------------------------
# STATED graph: what the page says.  st(s, p, o, facts, contextual)
# --------------------------------------------------------------------------
STATED: list[tuple[str, str, str, tuple[int, ...], bool]] = []


def st(s, p, o, facts, ctx=False):
    if isinstance(facts, int):
        facts = (facts,)
    STATED.append((s, p, o, tuple(facts), ctx))


def st_many(s, p, objs, facts, ctx=False):
    for o in objs:
        st(s, p, o, facts, ctx)


T = "rdf:type"
PL, AL = "skos:prefLabel", "skos:altLabel"
ORG_PUBLIC = ("org:Organization", "cv:PublicOrganisation")

# F1-F2 page, title, language switch
st_many(PAGE_ID, T, ("foaf:Document", "prov:Entity", "schema:WebPage"), 1)
st(PAGE_ID, "dct:title", fr("Le service de sécurité intérieure"), 1)
st(PAGE_ID, "dct:language", "lang:FRA", 1, ctx=True)  # observation O1
st(PAGE_ID, "schema:workTranslation", "id:page-nl", 2)
st_many("id:page-nl", T, ("foaf:Document", "schema:WebPage"), 2)
st("id:page-nl", "dct:language", "lang:NLD", 2)
st("id:page-nl", "schema:translationOfWork", PAGE_ID, 2)


def section(key, title, parent, position, n):
    st_many(SEC[key], T, ("schema:WebPageElement", "prov:Entity"), n)
    st(SEC[key], "dct:title", fr(title), n)
    st(SEC[key], "dct:isPartOf", parent, n)
    st(SEC[key], "schema:position", integer(position), n)


# F3 section 1 heading: the SSI of Belgium
section("1", "1/ Le service de sécurité intérieure (SSI) de BELGIQUE", PAGE_ID, 1, 3)
st_many("id:ssi-be", T, ("org:OrganizationalUnit", "cv:PublicOrganisation"), 3)
st("id:ssi-be", PL, fr("service de sécurité intérieure de Belgique"), 3)
st("id:ssi-be", AL, fr("SSI"), 3)
st("id:ssi-be", "org:classification", "concept:type-ssi", 3)
st("id:ssi-be", "dct:spatial", "country:BEL", 3)

# F4 installed within the embassy (not a sub-organisation, B7)
st("id:ssi-be", "ssikg:installedWithin", "id:ambassade-fr-be", 4)
st_many("id:ambassade-fr-be", T, ORG_PUBLIC, 4)
st("id:ambassade-fr-be", PL, fr("Ambassade de France en Belgique"), 4)
st("id:ambassade-fr-be", "org:classification", "concept:type-ambassade", 4)
st("id:ambassade-fr-be", "dct:spatial", "country:BEL", 4)

# F5 sub-heading, the ASI post
section("1a", "L’attaché de sécurité intérieure (ASI)", SEC["1"], 1, 5)
st("id:post-asi-be", T, "org:Post", 5)
st("id:post-asi-be", "org:postIn", "id:ssi-be", 5, ctx=True)
st("id:post-asi-be", "org:role", "concept:role-asi", 5)
st("id:post-asi-be", PL, fr("attaché de sécurité intérieure"), 5)
st("id:post-asi-be", AL, fr("ASI"), 5)

# F6 diplomatic status
st("id:post-asi-be", "ssikg:hasStatus", "concept:statut-diplomatique", 6)

# F7-F9 cooperation defined by the minister
st("id:coop-mi-asi", T, "ssikg:Cooperation", 7)
st("id:coop-mi-asi", PL, fr("coopération définie par le ministre de l’Intérieur et des Outre-mer"), (7, 8))
st("id:coop-mi-asi", "ssikg:implementedBy", "id:post-asi-be", 7)
st("id:coop-mi-asi", "ssikg:definedBy", "id:post-ministre-io", 8)
st("id:post-ministre-io", T, "org:Post", 8)
st("id:post-ministre-io", "org:postIn", "id:ministere-interieur", (8, 11), ctx=True)
st("id:post-ministre-io", "org:role", "concept:role-ministre", 8)
st("id:post-ministre-io", PL, fr("ministre de l’Intérieur et des Outre-mer"), 8)
st("id:coop-mi-asi", "ssikg:consistentWith", "concept:orientations-politique-exterieure", 9)

# F10-F11 adviser to the ambassador (not reportsTo, B10)
st("id:post-asi-be", "ssikg:advises", "id:post-ambassadeur-be", 10)
st("id:post-asi-be", "ssikg:adviceTopic", "concept:securite-interieure", 10)
st("id:post-ambassadeur-be", T, "org:Post", 10)
st("id:post-ambassadeur-be", "org:postIn", "id:ambassade-fr-be", 10, ctx=True)
st("id:post-ambassadeur-be", "org:role", "concept:role-ambassadeur", 10)
st("id:post-ambassadeur-be", PL, fr("ambassadeur"), 10)
st("id:post-asi-be", "ssikg:adviceScopeOrganisation", "id:ministere-interieur", 11)
st_many("id:ministere-interieur", T, ("org:FormalOrganization", "cv:PublicOrganisation"), 11)
st("id:ministere-interieur", PL, fr("ministère de l’Intérieur"), (11, 36, 71))
st("id:ministere-interieur", "org:classification", "concept:type-ministere", 11)

# F12-F14 bilateral / multilateral cooperation led by the ASI
st("id:coop-asi-bilat", T, "ssikg:Cooperation", 12)
st("id:coop-asi-bilat", PL, fr("coopération bilatérale de sécurité"), 12)
st("id:coop-asi-bilat", "ssikg:scope", "concept:coop-bilaterale", 12)
st("id:coop-asi-bilat", "ssikg:field", "concept:securite", 12)
st("id:coop-asi-bilat", "ssikg:ledAndCoordinatedBy", "id:post-asi-be", 12)
st("id:coop-asi-multi", T, "ssikg:Cooperation", 13)
st("id:coop-asi-multi", PL, fr("coopération multilatérale"), 13)
st("id:coop-asi-multi", "ssikg:scope", "concept:coop-multilaterale", 13)
st("id:coop-asi-multi", "ssikg:ledAndCoordinatedBy", "id:post-asi-be", 13)
for coop in ("id:coop-asi-bilat", "id:coop-asi-multi"):
    st_many(
        coop,
        "ssikg:emphasisedAspect",
        ("concept:coop-technique", "concept:coop-operationnelle", "concept:coop-institutionnelle"),
        14,
    )

# F15-F19 ASI cooperation axes and export support
st("id:post-asi-be", "ssikg:cooperationAxisListExhaustive", FALSE, 15)
st("id:post-asi-be", "ssikg:cooperationAxis", "concept:terrorisme", (15, 16))
st("id:post-asi-be", "ssikg:cooperationAxis", "concept:extremisme", (15, 17))
st("id:post-asi-be", "ssikg:cooperationAxis", "concept:criminalite-organisee", (15, 18))
st("id:post-asi-be", "ssikg:activity", "concept:soutien-export-securite", 19)

# F20 sub-heading "Les missions ..." (no missions minted, B37)
section("1b", "Les missions du service de sécurité intérieure (SSI)", SEC["1"], 2, 20)

# F21-F23 the Benelux liaison officer (assists, not reportsTo, B9)
st("id:post-ol-benelux", T, "org:Post", 21)
st("id:post-ol-benelux", "ssikg:assists", "id:post-asi-be", 21)
st("id:post-ol-benelux", "org:postIn", "id:ssi-be", 21, ctx=True)
st("id:post-ol-benelux", "org:role", "concept:role-officier-liaison", (21, 22))
st(
    "id:post-ol-benelux",
    PL,
    fr("officier de liaison pour le Benelux en matière de criminalité organisée"),
    (21, 22, 23),
)
st("id:post-ol-benelux", "dct:spatial", "concept:benelux", 22)
st("id:post-ol-benelux", "ssikg:thematicRemit", "concept:criminalite-organisee", 23)

# F24 the VIA
st("id:post-via-be", T, "org:Post", 24)
st("id:post-via-be", "ssikg:assists", "id:post-asi-be", 24)
st("id:post-via-be", "org:postIn", "id:ssi-be", 24, ctx=True)
st("id:post-via-be", "org:role", "concept:role-via", 24)
st("id:post-via-be", PL, fr("Volontaire international en administration"), 24)
st("id:post-via-be", AL, fr("VIA"), 24)

# F25-F30 contact block (attributed to the SSI, B12)
st("id:ssi-be", "org:hasSite", "id:site-ducale-65", 25)
st("id:site-ducale-65", T, "org:Site", 25)
st("id:site-ducale-65", "org:siteAddress", "id:vcard-ssi-be", (25, 26))
st("id:vcard-ssi-be", T, "vcard:Organization", 26)
st("id:vcard-ssi-be", "vcard:organization-name", s_("Service de sécurité intérieure"), 26)
st("id:vcard-ssi-be", "vcard:hasAddress", "id:addr-ssi-be", (25, 28, 29, 30))
st("id:addr-ssi-be", T, "vcard:Address", 28)
st("id:addr-ssi-be", "ssikg:careOf", s_("Ambassade de France"), 27)
st("id:addr-ssi-be", "vcard:street-address", s_("65, rue Ducale"), 28)
st("id:addr-ssi-be", "vcard:postal-code", s_("1000"), 29)
st("id:addr-ssi-be", "vcard:locality", s_("Bruxelles"), 30)

# F31-F32 the DCIS
section("2", "2/ La Direction de la Coopération Internationale de Sécurité (DCIS)", PAGE_ID, 2, 31)
st("id:dcis", AL, fr("Direction de la Coopération Internationale de Sécurité"), 31)
st_many("id:dcis", T, ("org:OrganizationalUnit", "cv:PublicOrganisation"), 32)
st("id:dcis", PL, fr("direction de la coopération internationale de sécurité"), 32)
st("id:dcis", AL, fr("DCIS"), (31, 32))
st("id:dcis", "org:classification", "concept:type-direction", 32)

# F33 common directorate of police and gendarmerie (B6)
for parent, label in (
    ("id:police-nationale", "police nationale"),
    ("id:gendarmerie-nationale", "gendarmerie nationale"),
):
    st("id:dcis", "org:subOrganizationOf", parent, 33)
    st("id:dcis", "ssikg:jointDirectorateOf", parent, 33)
    st_many(parent, T, ORG_PUBLIC, 33)
    st(parent, PL, fr(label), 33)

# F34-F35 joint authority of the two directors general (B5)
st("id:auth-dcis", T, "ssikg:JointAuthority", 34)
st("id:auth-dcis", PL, fr("autorité conjointe des deux directeurs généraux"), 34)
st("id:auth-dcis", "ssikg:subordinate", "id:dcis", 34)
st("id:auth-dcis", "ssikg:holderCount", count(2), 34)
for post, parent, label in (
    ("id:post-dg-pn", "id:police-nationale", "directeur général de la police nationale"),
    ("id:post-dg-gn", "id:gendarmerie-nationale", "directeur général de la gendarmerie nationale"),
):
    st("id:dcis", "org:reportsTo", post, (34, 35), ctx=True)
    st("id:auth-dcis", "ssikg:authorityHolder", post, (34, 35), ctx=True)
    st(post, T, "org:Post", 35, ctx=True)
    st(post, "org:postIn", parent, 35, ctx=True)
    st(post, "org:role", "concept:role-directeur-general", (34, 35), ctx=True)
    st(post, PL, fr(label), 35, ctx=True)

# F36-F37 participation in foreign policy (B39)
st("id:part-pol-etr", T, "ssikg:PolicyParticipation", 36)
st("id:part-pol-etr", PL, fr("mise en œuvre de la politique étrangère de la France"), 36)
st("id:part-pol-etr", "ssikg:participant", "id:dcis", 36)
st("id:part-pol-etr", "ssikg:policy", "concept:politique-etrangere-france", 36)
st("id:part-pol-etr", "ssikg:withinRemitOf", "id:ministere-interieur", 36)
st("id:part-pol-etr", "ssikg:excludes", "concept:questions-exclusivement-renseignement", 37)

# F38-F42 staff, programmes, fields, contribution, assistance
st_many("id:dcis", "ssikg:staffRole", ("concept:role-policier", "concept:role-gendarme"), 38)
st("id:prog-dcis", T, "ssikg:Cooperation", 39)
st(
    "id:prog-dcis",
    PL,
    fr("programmes et actions de coopération internationale de sécurité intérieure et civile"),
    (39, 40),
)
st("id:prog-dcis", "ssikg:implementedBy", "id:dcis", 39)
st("id:prog-dcis", "ssikg:field", "concept:securite-interieure", 39)
st("id:prog-dcis", "ssikg:field", "concept:securite-civile", 40)
st("id:dcis", "ssikg:contributesTo", "concept:lutte-criminalite", 41)
st("id:dcis", "ssikg:activity", "concept:assistance-communaute-francaise-catastrophes", 42)

# F43-F44 sub-heading and rationale (kept as text, no structure)
section("2a", "Une réponse internationale aux défis multiples d’un monde en mutation", SEC["2"], 1, 43)
st(
    SEC["2a"],
    "dct:description",
    fr(
        "La coopération entre pays est essentielle pour contrer les diverses menaces "
        "qui prennent naissance hors de nos frontières."
    ),
    44,
)

# F45-F52 seven atomic DCIS priority axes (B23, B24)
for n, slug in (
    (45, "terrorisme"),
    (46, "criminalite-organisee-transnationale"),
    (47, "trafic-drogue"),
    (48, "trafic-armes"),
    (49, "immigration-irreguliere"),
    (50, "trafic-etres-humains"),
    (51, "cybercriminalite"),
):
    st("id:dcis", "ssikg:priorityAxis", f"concept:{slug}", (n, 52))

# F53-F57 the network of internal security services
st("id:reseau-ssi", T, "org:Organization", 53)
st("id:reseau-ssi", PL, fr("réseau des services de sécurité intérieure"), 53)
st("id:reseau-ssi", "org:classification", "concept:type-reseau", 53)
st_many(
    "id:reseau-ssi",
    "ssikg:supportsCooperationScope",
    ("concept:coop-bilaterale", "concept:coop-multilaterale"),
    53,
)
st("id:reseau-ssi", "ssikg:embassyCount", count(74), 54)
st("id:reseau-ssi", "ssikg:personnelCount", "id:q-personnel", 55)
st("id:q-personnel", T, "ssikg:BoundedQuantity", 55)
st("id:q-personnel", "ssikg:exclusiveLowerBound", integer(300), 55)
st("id:q-personnel", "ssikg:isExact", FALSE, 55)
st("id:q-personnel", "ssikg:verbatim", fr("plus de 300"), 55)
st("id:q-personnel", PL, fr("plus de 300 policiers et gendarmes"), 55)
st_many("id:q-personnel", "ssikg:countedRole", ("concept:role-policier", "concept:role-gendarme"), 55)
st("id:reseau-ssi", "ssikg:countryCoverage", "id:q-pays", 56)
st("id:q-pays", T, "ssikg:BoundedQuantity", 56)
st("id:q-pays", "ssikg:exclusiveLowerBound", integer(152), 56, ctx=True)  # "plus 152" read as "plus de 152" (B2)
st("id:q-pays", "ssikg:isExact", FALSE, 56)
st("id:q-pays", "ssikg:verbatim", fr("plus 152"), 56)
st("id:q-pays", PL, fr("plus de 152 pays"), 56, ctx=True)  # « plus 152 pays » normalised (B2)
st("id:reseau-ssi", "ssikg:continentCount", count(5), 57)

# F58-F66 network composition (roles, not posts: B18) and the DCSD
for n, slug in (
    (58, "role-asi"),
    (59, "role-asia"),
    (61, "role-officier-liaison"),
    (62, "role-assistant"),
    (63, "role-cooperant"),
    (64, "role-eti"),
):
    st("id:reseau-ssi", "ssikg:composedOfRole", f"concept:{slug}", n)
st("id:reseau-ssi", "ssikg:compositionListExhaustive", FALSE, 64)  # « ou encore » (B18)
st("concept:role-asia", "ssikg:deputyOf", "concept:role-asi", 60)
st("concept:role-eti", "ssikg:fallsUnder", "id:reseau-partage-dcsd", 65)
st("id:reseau-partage-dcsd", T, "org:Organization", 66)
st("id:reseau-partage-dcsd", PL, fr("réseau partagé avec la DCSD"), 66)
st("id:reseau-partage-dcsd", "org:classification", "concept:type-reseau", 66)
st("id:reseau-partage-dcsd", "ssikg:sharedWith", "id:dcsd", 66)
st("id:dcsd", T, "org:Organization", 66)
st("id:dcsd", PL, fr("DCSD"), 66)

# F67-F77 coordination mission and beneficiaries
section("2b", "Une mission de coordination et d’animation", SEC["2"], 2, 67)
st("id:coop-pn-gn", T, "ssikg:Cooperation", 68)
st(
    "id:coop-pn-gn",
    PL,
    fr("coopération technique, institutionnelle et opérationnelle de la police et de la gendarmerie nationales"),
    (68, 69, 70),
)
st("id:coop-pn-gn", "ssikg:ledAndCoordinatedBy", "id:dcis", 68)
st_many("id:coop-pn-gn", "ssikg:cooperationOf", ("id:police-nationale", "id:gendarmerie-nationale"), 68)
st("id:coop-pn-gn", "ssikg:aspect", "concept:coop-technique", 68)
st("id:coop-pn-gn", "ssikg:aspect", "concept:coop-institutionnelle", 69)
st("id:coop-pn-gn", "ssikg:aspect", "concept:coop-operationnelle", 70)
st("id:coop-tech-mi", T, "ssikg:Cooperation", 71)
st("id:coop-tech-mi", PL, fr("coopération technique du ministère de l’Intérieur"), 71)
st("id:coop-tech-mi", "ssikg:cooperationOf", "id:ministere-interieur", 71)
st("id:coop-tech-mi", "ssikg:aspect", "concept:coop-technique", 71)
st("id:coop-tech-mi", "ssikg:implementedBy", "id:dcis", 71)
for n, ent, label, typ in (
    (72, "id:secretariat-general", "secrétariat général", "type-secretariat-general"),
    (73, "id:dg-securite-civile", "direction générale de la sécurité civile", "type-direction-generale"),
    (74, "id:dg-etrangers-france", "direction générale des étrangers en France", "type-direction-generale"),
    (75, "id:dg-collectivites-locales", "direction générale des collectivités locales", "type-direction-generale"),
    (
        76,
        "id:deleg-securite-circulation-routieres",
        "délégation à la sécurité et à la circulation routières",
        "type-delegation",
    ),
):
    st("id:coop-tech-mi", "ssikg:beneficiary", ent, n)
    st_many(ent, T, ORG_PUBLIC, n)
    st(ent, PL, fr(label), n)
    st(ent, "org:classification", f"concept:{typ}", n)
st("id:coop-tech-mi", "ssikg:beneficiaryListExhaustive", FALSE, 77)

# F78-F79 footer
st(PAGE_ID, "schema:image", IMAGE, 78)
st(IMAGE, T, "schema:ImageObject", 78)
st(IMAGE, "schema:encodingFormat", s_("image/jpeg"), 78)
st(PAGE_ID, "dct:issued", '"2024-02-08"^^xsd:date', 79)
st(PAGE_ID, "schema:datePublished", '"2024-02-08"^^xsd:date', 79)


# --------------------------------------------------------------------------
# DERIVED graph: inferences from the page (facts.md §B/§C rows marked DER)
# dv(s, p, o, facts, note)
# --------------------------------------------------------------------------
DERIVED: list[tuple[str, str, str, tuple[int, ...], str]] = []


def dv(s, p, o, facts, note):
    DERIVED.append((s, p, o, tuple(facts), note))


dv(
    "id:ssi-be", "org:memberOf", "id:reseau-ssi", (3, 4, 53, 54),
    "B8/C26: the SSI of Belgium is a « service de sécurité intérieure » installed in an embassy (F3, F4); "
    "France’s network is made of such services deployed in embassies (F53, F54). Membership is a "
    "near-definitional inference, not a page statement.",
)
dv(
    "id:ambassade-fr-be", "org:hasSite", "id:site-ducale-65", (4, 25, 27),
    "B13/C27: the SSI is installed within the embassy (F4) and its contact address is c/o « Ambassade de "
    "France » (F27); the embassy therefore has premises at this site. Not said to be its main site.",
)
dv(
    "id:reseau-ssi", "org:hasMember", "id:ssi-be", (3, 4, 53, 54),
    "W3C ORG: inverse (owl:inverseOf) of the derived org:memberOf triple (B8/C26), materialised for "
    "queries without a reasoner.",
)
dv(
    "id:site-ducale-65", "org:siteOf", "id:ambassade-fr-be", (4, 25, 27),
    "W3C ORG: inverse (owl:inverseOf) of the derived org:hasSite triple (B13/C27), materialised for "
    "queries without a reasoner.",
)
dv(
    "id:addr-ssi-be", "vcard:country-name", s_("Belgique"), (3, 4),
    "B14/C28: the address block has no country line; « Belgique » comes from the heading (F3) and the "
    "embassy name (F4).",
)
dv(
    "id:ministere-interieur", AL, fr("ministère de l’Intérieur et des Outre-mer"), (8, 11),
    "B21/C29: the ministry is named « ministère de l’Intérieur » (F11, F36, F71); only the minister’s "
    "title carries « et des Outre-mer » (F8). The long ministry name is reconstructed from that title.",
)
for post, n in (("id:post-ol-benelux", 21), ("id:post-via-be", 24)):
    dv(
        post, "org:reportsTo", "id:post-asi-be", (n,),
        "B9/C16: « l’ASI est secondé par » implies support and usually subordination; the reporting "
        "line is materialised here for org-chart use only. The page states ssikg:assists, not a reporting line.",
    )
    dv(
        "id:post-asi-be", "ssikg:assistedBy", post, (n,),
        "B9: inverse (owl:inverseOf) of the stated ssikg:assists triple, materialised for queries without "
        "a reasoner.",
    )
dv(
    "id:q-personnel", "ssikg:inclusiveLowerBound", integer(301), (55,),
    "B1: « plus de 300 » is an exclusive lower bound of 300 on a count of persons, hence an inclusive "
    "integer lower bound of 301. The exact number is not stated.",
)
dv(
    "id:q-pays", "ssikg:inclusiveLowerBound", integer(153), (56,),
    "B2: « plus 152 » read as « plus de 152 » (exclusive lower bound 152), hence an inclusive integer "
    "lower bound of 153. The exact number is not stated.",
)
for parent in ("id:police-nationale", "id:gendarmerie-nationale"):
    dv(
        parent, "org:hasSubOrganization", "id:dcis", (33,),
        "B6: inverse (owl:inverseOf) of the stated org:subOrganizationOf triple, materialised for "
        "queries without a reasoner.",
    )
for post, org_, facts in (
    ("id:post-asi-be", "id:ssi-be", (5,)),
    ("id:post-ol-benelux", "id:ssi-be", (21,)),
    ("id:post-via-be", "id:ssi-be", (24,)),
    ("id:post-ambassadeur-be", "id:ambassade-fr-be", (10,)),
    ("id:post-ministre-io", "id:ministere-interieur", (8, 11)),
    ("id:post-dg-pn", "id:police-nationale", (35,)),
    ("id:post-dg-gn", "id:gendarmerie-nationale", (35,)),
):
    dv(
        org_, "org:hasPost", post, facts,
        "W3C ORG: inverse (owl:inverseOf) of the stated org:postIn triple, materialised for queries "
        "without a reasoner (B11, B16 for the context-dependent ones).",
    )

dv(
    "id:site-ducale-65", "org:siteOf", "id:ssi-be", (25,),
    "W3C ORG: inverse (owl:inverseOf) of the stated org:hasSite triple (B12, B13), materialised for "
    "queries without a reasoner.",
)


# --------------------------------------------------------------------------
# Entailments of the stated triples, materialised for consumers without a
# reasoner (an ORG-only client asking org:linkedTo, a SKOS client asking
# skos:related): every super-property (rdfs:subPropertyOf+, read from the
# ontology) of a stated triple's predicate, and skos:related both ways
# (owl:SymmetricProperty in SKOS).  The inverses (owl:inverseOf) are written
# above with their own notes; build() checks that none is missing.
# An entailment that is already stated (ssikg:jointDirectorateOf ⊑
# org:subOrganizationOf, F33) is not repeated.  ssikg:factId ⊑ dct:identifier
# is not materialised: it is on the fact nodes of the provenance graph, not
# on stated triples, and would mix fact numbers with the page copy's file name.
# --------------------------------------------------------------------------
ONTOLOGY = ROOT / "ontology" / "ssikg.ttl"
SYMMETRIC = ("skos:related",)
# inverse pairs the derived graph materialises: W3C ORG's (not in ontology/ssikg.ttl) and the
# ontology's own owl:inverseOf pairs (read by inverse_properties)
ORG_INVERSES = {"org:postIn": "org:hasPost", "org:subOrganizationOf": "org:hasSubOrganization",
                "org:hasSite": "org:siteOf", "org:unitOf": "org:hasUnit", "org:memberOf": "org:hasMember",
                "org:holds": "org:heldBy"}
# why each sub-property entailment holds (facts.md B-number, then a caveat for the reader); a
# sub-property used in the stated graph without a line here stops the generator
SUB_PROPERTY_BASIS = {
    "ssikg:installedWithin": ("B7", "A hosting link: neither a sub-organisation nor a reporting line."),
    "ssikg:emphasisedAspect": ("B26", "« en particulier » marks emphasis, not restriction (F14)."),
    "ssikg:deputyOf": ("B19", "A relation between role concepts; no ASIA post is stated."),
    "ssikg:jointDirectorateOf": ("B6", "The org:subOrganizationOf triples are stated (F33)."),
}


def curie(iri: str) -> str:
    """An IRI of the ontology as this file writes it (prefix:local)."""
    for prefix, ns in PREFIXES.items():
        local = iri[len(ns):]
        if iri.startswith(ns) and re.fullmatch(r"[A-Za-z][\w-]*", local):
            return f"{prefix}:{local}"
    raise SystemExit(f"no prefix for {iri} in PREFIXES")


def ontology_pairs(predicate: str) -> list[tuple[str, str]]:
    """(subject, object) of the ontology's triples with this predicate (a full IRI), as CURIEs."""
    import pyoxigraph  # the store's own parser; only this tool and the build need it

    return [
        (curie(t.subject.value), curie(t.object.value))
        for t in pyoxigraph.parse(path=str(ONTOLOGY), format=pyoxigraph.RdfFormat.TURTLE)
        if t.predicate.value == predicate and isinstance(t.object, pyoxigraph.NamedNode)
    ]


def super_properties() -> dict[str, list[str]]:
    """Each property -> its super-properties (rdfs:subPropertyOf, transitively), sorted."""
    direct: dict[str, set[str]] = {}
    for sub, sup in ontology_pairs(PREFIXES["rdfs"] + "subPropertyOf"):
        direct.setdefault(sub, set()).add(sup)
    closure = {}
    for prop in direct:
        seen, todo = set(), list(direct[prop])
        while todo:
            sup = todo.pop()
            if sup not in seen:
                seen.add(sup)
                todo += direct.get(sup, ())
        closure[prop] = sorted(seen)
    return closure


def inverse_properties() -> dict[str, str]:
    """Each property -> its inverse: ORG's pairs and the ontology's owl:inverseOf, both ways."""
    pairs = list(ORG_INVERSES.items()) + ontology_pairs(PREFIXES["owl"] + "inverseOf")
    return {a: b for p, q in pairs for a, b in ((p, q), (q, p))}


def sub_property_entailments() -> None:
    """dv() the super-property triples of the stated graph that are neither stated nor derived yet."""
    supers = super_properties()
    present = {(s, p, o) for s, p, o, *_rest in STATED} | {(s, p, o) for s, p, o, *_rest in DERIVED}
    for s, p, o, facts, _ctx in STATED:
        for sup in supers.get(p, ()):
            if p not in SUB_PROPERTY_BASIS:
                raise SystemExit(f"{p} rdfs:subPropertyOf {sup}: add its basis to SUB_PROPERTY_BASIS")
            basis, caveat = SUB_PROPERTY_BASIS[p]
            entailed = [(s, sup, o, f"{basis}: super-property (rdfs:subPropertyOf {sup}) of the stated {p} "
                                    f"triple, materialised for queries without a reasoner. {caveat}")]
            if sup in SYMMETRIC:
                entailed.append((o, sup, s, f"{basis}: {sup} is symmetric: reverse of the {sup} entailed by the "
                                            f"stated {p} triple, materialised for queries without a reasoner. "
                                            f"{caveat}"))
            for es, ep, eo, note in entailed:
                if (es, ep, eo) not in present:
                    present.add((es, ep, eo))
                    dv(es, ep, eo, facts, note)


sub_property_entailments()


# --------------------------------------------------------------------------
# EDITORIAL graph: modeller additions (English labels, label status, notes)
# --------------------------------------------------------------------------
EDITORIAL: list[tuple[str, str, str]] = []


def ed(s, p, o):
    EDITORIAL.append((s, p, o))


EDITORIAL_GRAPH_IRI = f"<{GRAPH}editorial>"
ed(
    EDITORIAL_GRAPH_IRI, "skos:editorialNote",
    en(
        "Modeller additions, not page statements: every @en label in this graph is a translation by the "
        "modeller, not an official name (facts.md B33, C30); label statuses and editorial notes explain "
        "how the French labels of the stated graph relate to the page text."
    ),
)

EN_LABELS = {
    "id:ssi-be": "French internal security service (SSI) in Belgium",
    "id:ambassade-fr-be": "Embassy of France in Belgium",
    "id:dcis": "Directorate for International Security Cooperation",
    "id:police-nationale": "French National Police",
    "id:gendarmerie-nationale": "French National Gendarmerie",
    "id:ministere-interieur": "Ministry of the Interior",
    "id:dcsd": "DCSD",
    "id:reseau-ssi": "network of internal security services",
    "id:reseau-partage-dcsd": "network shared with the DCSD",
    "id:secretariat-general": "General Secretariat",
    "id:dg-securite-civile": "Directorate-General for Civil Security",
    "id:dg-etrangers-france": "Directorate-General for Foreign Nationals in France",
    "id:dg-collectivites-locales": "Directorate-General for Local Authorities",
    "id:deleg-securite-circulation-routieres": "Delegation for Road Safety and Traffic",
    "id:post-asi-be": "Internal Security Attaché (Belgium)",
    "id:post-ol-benelux": "Liaison Officer for the Benelux (organised crime)",
    "id:post-via-be": "International Volunteer in Administration (VIA)",
    "id:post-ambassadeur-be": "Ambassador (Embassy of France in Belgium)",
    "id:post-ministre-io": "Minister of the Interior and Overseas",
    "id:post-dg-pn": "Director General of the National Police",
    "id:post-dg-gn": "Director General of the National Gendarmerie",
    "id:coop-mi-asi": "cooperation defined by the Minister of the Interior and Overseas",
    "id:coop-asi-bilat": "bilateral security cooperation",
    "id:coop-asi-multi": "multilateral cooperation",
    "id:coop-pn-gn": "technical, institutional and operational cooperation of the national police and gendarmerie",
    "id:coop-tech-mi": "technical cooperation of the Ministry of the Interior",
    "id:prog-dcis": "international internal and civil security cooperation programmes and actions",
    "id:part-pol-etr": "implementation of France’s foreign policy",
    "id:auth-dcis": "joint authority of the two directors general",
    "id:q-personnel": "more than 300 police officers and gendarmes",
    "id:q-pays": "more than 152 countries",
}
for ent, label in EN_LABELS.items():
    ed(ent, PL, en(label))

LABEL_STATUS = {
    "ssikg:Verbatim": (
        "id:ambassade-fr-be", "id:dcis", "id:ministere-interieur", "id:dcsd", "id:reseau-ssi",
        "id:reseau-partage-dcsd", "id:secretariat-general", "id:dg-securite-civile",
        "id:dg-etrangers-france", "id:dg-collectivites-locales", "id:deleg-securite-circulation-routieres",
        "id:post-asi-be", "id:post-ol-benelux", "id:post-via-be", "id:post-ambassadeur-be",
        "id:post-ministre-io", "id:q-personnel",
    ),
    "ssikg:Normalised": (
        "id:ssi-be", "id:q-pays", "concept:trafic-drogue", "concept:role-eti", "concept:role-directeur-general",
    ),
    "ssikg:Reconstructed": (
        "id:police-nationale", "id:gendarmerie-nationale", "id:post-dg-pn", "id:post-dg-gn",
        "concept:role-asia", "concept:trafic-armes", "concept:coop-institutionnelle", "concept:coop-operationnelle",
    ),
}
for status, ents in LABEL_STATUS.items():
    for ent in ents:
        ed(ent, "ssikg:labelStatus", status)

NOTES = {
    "id:ssi-be": (
        "French prefLabel case-normalised from « (SSI) de BELGIQUE » (F3). This is the French service "
        "posted in Belgium, not a Belgian service (B33). « SSI » names both the kind of service and this "
        "instance, so it is an altLabel and never org:identifier (B20). Installed within the embassy, not "
        "a sub-organisation of it (B7)."
    ),
    "id:police-nationale": "Label reconstructed from « la police et à la gendarmerie nationales » (F33, B29).",
    "id:gendarmerie-nationale": "Label reconstructed from « la police et à la gendarmerie nationales » (F33, B29).",
    "id:post-dg-pn": (
        "Label reconstructed: the page says only « des deux directeurs généraux » (F34, F35, B29); "
        "the acronym DGPN is not on the page."
    ),
    "id:post-dg-gn": (
        "Label reconstructed: the page says only « des deux directeurs généraux » (F34, F35, B29); "
        "the acronym DGGN is not on the page."
    ),
    "id:auth-dcis": (
        "N-ary node keeping the jointness of the authority; the two org:reportsTo triples from the DCIS "
        "are also stated (B5). No reporting line above the two directors general is stated."
    ),
    "id:post-ol-benelux": (
        "org:postIn id:ssi-be comes from the layout (the officer is introduced under the SSI heading); "
        "the remit is Benelux-wide, so the post might be hosted elsewhere (B16). Benelux is not expanded "
        "to countries (B15)."
    ),
    "id:post-ambassadeur-be": (
        "« l’ambassadeur » resolved to the ambassador of the embassy hosting the SSI (B11); no org:headOf "
        "is asserted."
    ),
    "id:dcsd": "Only the acronym is on the page: no expansion and no parent organisation (F66, C3, C4).",
    "id:q-personnel": (
        "« plus de 300 »: an exclusive lower bound, never an exact count (B1). Not 300, not ≥ 300. "
        "The French prefLabel is the page’s wording « plus de 300 policiers et gendarmes » (F55)."
    ),
    "id:q-pays": (
        "The page reads « couvre plus 152 pays » without « de »; read as « plus de 152 » (an exclusive "
        "lower bound), not as « an additional 152 » (B2, O2). The French prefLabel « plus de 152 pays » "
        "is normalised from « couvre plus 152 pays » by adding the missing « de »; the verbatim wording "
        "stays in ssikg:verbatim."
    ),
    "id:reseau-ssi": (
        "The page says France relies on « son réseau »; it does not say the network belongs to the DCIS "
        "(B8, C13). The composition list ends with « ou encore » and may be non-exhaustive "
        "(ssikg:compositionListExhaustive false); the VIA is not among the categories (B18)."
    ),
    "id:coop-asi-bilat": "« en particulier » marks emphasis, not restriction (F14, B26).",
    "id:coop-asi-multi": (
        "« en particulier » marks emphasis, not restriction (F14, B26). No field is stated for the "
        "multilateral cooperation."
    ),
    "id:coop-tech-mi": (
        "« au profit notamment » makes the beneficiary list non-exhaustive (F77, B27). The beneficiaries "
        "are not stated to be units of the ministry (B28)."
    ),
    PAGE_ID: (
        "Web address, publisher and author of the page are unknown; only the local file name is known "
        "(C20). The Dutch version has no known address or content (B32)."
    ),
}
for ent, note in NOTES.items():
    ed(ent, "skos:editorialNote", en(note))

for n, _status, _quote, gloss in FACTS:
    ed(f"fact:F{n}", "rdfs:comment", en(gloss))


# --------------------------------------------------------------------------
# VOCABULARIES graph: SKOS schemes, concepts and collections
# concept: (slug, scheme, fr, en, fr altLabels, broader, related, facts)
# --------------------------------------------------------------------------
SCHEMES = OrderedDict(
    [
        ("themes", ("thèmes", "themes")),
        ("roles", ("rôles", "roles")),
        ("cooperation-kinds", ("types de coopération", "kinds of cooperation")),
        ("org-types", ("types d’organisation", "organisation types")),
        ("statuses", ("statuts", "statuses")),
        ("places", ("lieux", "places")),
    ]
)

CONCEPTS = [
    # themes (crime hierarchy per B25)
    ("terrorisme", "themes", "terrorisme", "terrorism", (), None, (), (16, 45)),
    ("extremisme", "themes", "extrémisme", "extremism", (), None, (), (17,)),
    ("criminalite", "themes", "criminalité", "crime", (), None, (), (41,)),
    ("criminalite-organisee", "themes", "criminalité organisée", "organised crime", (), "criminalite", (), (18, 23)),
    (
        "criminalite-organisee-transnationale", "themes", "criminalité organisée transnationale",
        "transnational organised crime", (), "criminalite-organisee", (), (46,),
    ),
    ("trafic-drogue", "themes", "trafic de drogue", "drug trafficking", (), None, (), (47,)),
    ("trafic-armes", "themes", "trafic d’armes", "arms trafficking", (), None, (), (48,)),
    ("immigration-irreguliere", "themes", "immigration irrégulière", "irregular immigration", (), None, (), (49,)),
    ("trafic-etres-humains", "themes", "trafic des êtres humains", "trafficking in human beings", (), None, (), (50,)),
    ("cybercriminalite", "themes", "cybercriminalité", "cybercrime", (), None, (), (51,)),
    (
        "lutte-criminalite", "themes", "lutte contre la criminalité sous toutes ses formes",
        "fight against crime in all its forms", (), None, ("criminalite",), (41,),
    ),
    ("securite", "themes", "sécurité", "security", (), None, (), (12, 41)),
    ("securite-interieure", "themes", "sécurité intérieure", "internal security", (), "securite", (), (10, 39)),
    ("securite-civile", "themes", "sécurité civile", "civil security", (), "securite", (), (40,)),
    (
        "soutien-export-securite", "themes",
        "soutien à l’exportation pour les entreprises françaises travaillant dans le domaine de la sécurité intérieure",
        "export support for French companies working in the internal security field", (), None, (), (19,),
    ),
    (
        "assistance-communaute-francaise-catastrophes", "themes",
        "assistance à la communauté française face aux catastrophes de toute nature",
        "assistance to the French community in the face of disasters of every kind", (), None, (), (42,),
    ),
    (
        "orientations-politique-exterieure", "themes",
        "orientations générales de la politique extérieure française",
        "general orientations of French external policy", (), None, ("politique-etrangere-france",), (9,),
    ),
    (
        "politique-etrangere-france", "themes", "politique étrangère de la France", "foreign policy of France",
        (), None, (), (36,),
    ),
    (
        "questions-exclusivement-renseignement", "themes",
        "questions relevant exclusivement des services de renseignement",
        "questions falling exclusively within the remit of the intelligence services", (), None,
        ("services-renseignement",), (37,),
    ),
    ("services-renseignement", "themes", "services de renseignement", "intelligence services", (), None, (), (37,)),
    # roles (org:Role)
    ("role-asi", "roles", "attaché de sécurité intérieure", "internal security attaché", ("ASI",), None, (), (5, 58)),
    (
        "role-asia", "roles", "adjoint d’attaché de sécurité intérieure", "deputy internal security attaché",
        ("ASIA",), None, (), (59, 60),
    ),
    ("role-officier-liaison", "roles", "officier de liaison", "liaison officer", (), None, (), (21, 61)),
    ("role-assistant", "roles", "assistant", "assistant", (), None, (), (62,)),
    ("role-cooperant", "roles", "coopérant", "cooperation officer", (), None, (), (63,)),
    ("role-eti", "roles", "expert technique international", "international technical expert", (), None, (), (64,)),
    (
        "role-via", "roles", "Volontaire international en administration", "International Volunteer in Administration",
        ("VIA",), None, (), (24,),
    ),
    ("role-ambassadeur", "roles", "ambassadeur", "ambassador", (), None, (), (10,)),
    ("role-ministre", "roles", "ministre", "minister", (), None, (), (8,)),
    ("role-directeur-general", "roles", "directeur général", "director general", (), None, (), (34,)),
    ("role-policier", "roles", "policier", "police officer", (), None, (), (38, 55)),
    ("role-gendarme", "roles", "gendarme", "gendarme", (), None, (), (38, 55)),
    # cooperation kinds (two facets, B26)
    ("coop-bilaterale", "cooperation-kinds", "coopération bilatérale", "bilateral cooperation", (), None, (), (12, 53)),
    (
        "coop-multilaterale", "cooperation-kinds", "coopération multilatérale", "multilateral cooperation", (), None,
        (), (13, 53),
    ),
    ("coop-technique", "cooperation-kinds", "coopération technique", "technical cooperation", (), None, (), (14, 68, 71)),
    (
        "coop-operationnelle", "cooperation-kinds", "coopération opérationnelle", "operational cooperation", (), None,
        (), (14, 70),
    ),
    (
        "coop-institutionnelle", "cooperation-kinds", "coopération institutionnelle", "institutional cooperation", (),
        None, (), (14, 69),
    ),
    # organisation types
    ("type-ssi", "org-types", "service de sécurité intérieure", "internal security service", ("SSI",), None, (), (3, 53)),
    ("type-direction", "org-types", "direction", "directorate", (), None, (), (32,)),
    (
        "type-direction-generale", "org-types", "direction générale", "directorate-general", (), "type-direction", (),
        (73, 74, 75),
    ),
    ("type-ambassade", "org-types", "ambassade", "embassy", (), None, (), (4, 54)),
    ("type-ministere", "org-types", "ministère", "ministry", (), None, (), (11,)),
    ("type-reseau", "org-types", "réseau", "network", (), None, (), (53, 66)),
    ("type-delegation", "org-types", "délégation", "delegation", (), None, (), (76,)),
    ("type-secretariat-general", "org-types", "secrétariat général", "general secretariat", (), None, (), (72,)),
    # statuses
    ("statut-diplomatique", "statuses", "statut diplomatique", "diplomatic status", (), None, (), (6,)),
    # places
    ("benelux", "places", "Benelux", "Benelux", (), None, (), (22,)),
]

COLLECTIONS = [
    (
        "axes-prioritaires-dcis",
        "axes prioritaires de travail des policiers et gendarmes de la DCIS",
        "priority work axes of the DCIS police officers and gendarmes",
        (
            "terrorisme", "criminalite-organisee-transnationale", "trafic-drogue", "trafic-armes",
            "immigration-irreguliere", "trafic-etres-humains", "cybercriminalite",
        ),
        fr(
            "Terrorisme, criminalité organisée transnationale, trafics de drogue ou d’armes, immigration "
            "irrégulière et trafic des êtres humains et cybercriminalité"
        ),
        en(
            "Verbatim list split into seven atomic themes; « trafics de drogue ou d’armes » gives two "
            "(B23). The axes are stated for the DCIS police officers and gendarmes (B24)."
        ),
        (45, 46, 47, 48, 49, 50, 51, 52),
    ),
    (
        "facet-portee",
        "portée de la coopération",
        "scope of cooperation",
        ("coop-bilaterale", "coop-multilaterale"),
        None,
        en("Scope facet of the cooperation kinds (B26)."),
        (),
    ),
    (
        "facet-aspect",
        "aspect de la coopération",
        "aspect of cooperation",
        ("coop-technique", "coop-operationnelle", "coop-institutionnelle"),
        None,
        en("Aspect facet of the cooperation kinds (B26)."),
        (),
    ),
]

VOCAB: list[tuple[str, str, str]] = []
for name, (lfr, lenl) in SCHEMES.items():
    sch = f"scheme:{name}"
    VOCAB += [
        (sch, T, "skos:ConceptScheme"),
        (sch, PL, fr(lfr)),
        (sch, PL, en(lenl)),
        (
            sch,
            "skos:editorialNote",
            en(
                "French labels follow the page text (minimally normalised); English labels are modeller "
                "translations (B33)."
            ),
        ),
    ]
    for slug, scheme, *_rest in CONCEPTS:
        if scheme == name and _rest[3] is None:
            VOCAB.append((sch, "skos:hasTopConcept", f"concept:{slug}"))
for slug, scheme, lfr, lenl, alts, broader, related, facts in CONCEPTS:
    c = f"concept:{slug}"
    types = ["skos:Concept"]
    if scheme == "roles":
        types.insert(0, "org:Role")
    if scheme == "places":
        types.insert(0, "dct:Location")
    VOCAB += [(c, T, t) for t in types]
    VOCAB += [(c, "skos:inScheme", f"scheme:{scheme}"), (c, PL, fr(lfr)), (c, PL, en(lenl))]
    VOCAB += [(c, AL, fr(a)) for a in alts]
    if broader:
        VOCAB += [(c, "skos:broader", f"concept:{broader}"), (f"concept:{broader}", "skos:narrower", c)]
    else:
        VOCAB.append((c, "skos:topConceptOf", f"scheme:{scheme}"))
    VOCAB += [(c, "skos:related", f"concept:{r}") for r in related]
    VOCAB += [(f"concept:{r}", "skos:related", c) for r in related]
    VOCAB += [(c, "prov:wasDerivedFrom", f"fact:F{n}") for n in facts]
for slug, lfr, lenl, members, scope_note, ed_note, facts in COLLECTIONS:
    c = f"concept:{slug}"
    VOCAB += [(c, T, "skos:Collection"), (c, PL, fr(lfr)), (c, PL, en(lenl))]
    VOCAB += [(c, "skos:member", f"concept:{m}") for m in members]
    if scope_note:
        VOCAB.append((c, "skos:scopeNote", scope_note))
    VOCAB.append((c, "skos:editorialNote", ed_note))
    VOCAB += [(c, "prov:wasDerivedFrom", f"fact:F{n}") for n in facts]
_COOPERATION_KINDS_NOTE = (
    "French prefLabel reconstructed from the coordination « la coopération technique, institutionnelle "
    "et opérationnelle » (F68, F69)."
)
CONCEPT_NOTES = {
    "concept:role-asia": "The page glosses « ASIA » only as « leurs adjoints » (of the ASI); the French prefLabel "
                         "is reconstructed (B19).",
    "concept:role-via": "The VIA is not one of the network categories of F58–F64; do not map it to « assistant » "
                        "(B18).",
    "concept:trafic-drogue": "French prefLabel in the singular; the page writes « trafics de drogue ou d’armes » "
                             "(F47).",
    "concept:trafic-armes": "French prefLabel reconstructed from the coordination « trafics de drogue ou d’armes » "
                            "(F48).",
    "concept:role-eti": "French prefLabel in the singular; the page writes « experts techniques internationaux » "
                        "(F64).",
    "concept:role-directeur-general": "French prefLabel in the singular; the page writes « des deux directeurs "
                                      "généraux » (F34).",
    "concept:coop-institutionnelle": _COOPERATION_KINDS_NOTE,
    "concept:coop-operationnelle": _COOPERATION_KINDS_NOTE,
    "concept:benelux": "Not expanded to its member countries on the page (B15, C17).",
}
VOCAB += [(concept, "skos:editorialNote", en(note)) for concept, note in CONCEPT_NOTES.items()]


# --------------------------------------------------------------------------
# Page sentences (for ssikg:sentence on fact nodes)
# --------------------------------------------------------------------------
def section_ranges(page: str) -> dict[str, tuple[int, int]]:
    starts = [
        ("1", page.index("1/ Le service")),
        ("1a", page.index("L’attaché de sécurité intérieure (ASI)")),
        ("1b", page.index("Les missions du service")),
        ("2", page.index("2/ La Direction")),
        ("2a", page.index("Une réponse internationale")),
        ("2b", page.index("Une mission de coordination")),
        ("footer", page.index("JPEG")),
    ]
    ranges = {PAGE_ID: (0, len(page))}
    for (key, start), (_k, end) in zip(starts, starts[1:], strict=False):
        ranges[SEC[key]] = (start, end)
    return ranges


SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Ý])")


def sentence_of(page: str, quote: str, rng: tuple[int, int]) -> str:
    pos = page.find(quote, rng[0], rng[1])
    if pos < 0:
        raise SystemExit(f"quote not found in its section: {quote!r}")
    line_start = page.rfind("\n", 0, pos) + 1
    line_end = page.find("\n", pos)
    line = page[line_start:line_end]
    rel = pos - line_start
    start, end = 0, len(line)
    for m in SENTENCE_BREAK.finditer(line):
        if m.start() >= rel + len(quote):
            end = m.start()
            break
        if m.end() <= rel:
            start = m.end()
    return re.sub(r"^-\s+", "", line[start:end].strip())  # drop a bullet dash


# --------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------
def prefix_block(used: str) -> str:
    lines = []
    for p, ns in PREFIXES.items():
        if re.search(rf"(?<![\w-]){p}:", used):
            lines.append(f"@prefix {p}: <{ns}> .")
    return "\n".join(lines) + "\n"


def pred(p: str) -> str:
    return "a" if p == "rdf:type" else p


def subject_blocks(triples, indent="    ") -> list[str]:
    """Group (s, p, o) by subject then predicate, in first-seen order."""
    by_s: OrderedDict[str, OrderedDict[str, list[str]]] = OrderedDict()
    for s, p, o in triples:
        objs = by_s.setdefault(s, OrderedDict()).setdefault(p, [])
        if o not in objs:
            objs.append(o)
    blocks = []
    for s, preds in by_s.items():
        parts = []
        for p, objs in preds.items():
            if len(objs) > 1 and sum(len(o) for o in objs) > 60:
                joined = (",\n" + indent * 3).join(objs)
            else:
                joined = ", ".join(objs)
            parts.append(f"{pred(p)} {joined}")
        body = (" ;\n" + indent * 2).join(parts)
        blocks.append(f"{indent}{s}\n{indent * 2}{body} .")
    return blocks


def graph_doc(name: str, header: str, body: str) -> str:
    text = f"GRAPH <{GRAPH}{name}> {{\n{body}\n}}\n"
    return header + prefix_block(text) + "\n" + text


def reification(s, p, o, facts, extra) -> str:
    parts = [
        "a rdf:Statement",
        f"rdf:subject {s}",
        f"rdf:predicate {p}",
        f"rdf:object {o}",
        "prov:wasDerivedFrom " + ", ".join(f"fact:F{n}" for n in facts),
    ] + extra
    return "    [] " + " ;\n        ".join(parts) + " ."


def build() -> dict[str, str]:
    page = PAGE.read_text(encoding="utf-8")
    ranges = section_ranges(page)
    numbers = [f[0] for f in FACTS]
    assert numbers == list(range(1, 80)), "facts must be F1..F79 in order"

    # sanity: no duplicate stated triple, every fact used
    seen = set()
    for s, p, o, facts, _ctx in STATED:
        assert (s, p, o) not in seen, (s, p, o)
        seen.add((s, p, o))
        assert all(1 <= n <= 79 for n in facts)
    used = {n for *_x, facts, _c in STATED for n in facts}
    missing = set(numbers) - used
    assert not missing, f"facts without a stated triple: {sorted(missing)}"
    # the inverse entailments of the stated and derived triples are all materialised (see ORG_INVERSES)
    present = {(s, p, o) for s, p, o, *_rest in STATED + DERIVED}
    inverses = inverse_properties()
    lost = [(o, inverses[p], s) for s, p, o, *_rest in STATED + DERIVED
            if p in inverses and (o, inverses[p], s) not in present]
    assert not lost, f"inverses of stated or derived triples missing from DERIVED: {lost}"

    out = {}
    # ---- stated: grouped by the first fact of each triple
    by_fact: OrderedDict[int, list] = OrderedDict((n, []) for n in numbers)
    for s, p, o, facts, _ctx in STATED:
        by_fact[facts[0]].append((s, p, o))
    chunks = []
    quotes = {n: q for n, _st, q, _g in FACTS}
    for n, triples in by_fact.items():
        if not triples:
            continue
        chunks.append(f"    # F{n} «{quotes[n]}»\n" + "\n".join(subject_blocks(triples)))
    out["stated.trig"] = graph_doc(
        "stated",
        "# SSIKG: what the source page states (facts F1–F79).\n"
        "# Every triple is reified in data/provenance.trig with prov:wasDerivedFrom fact:Fn.\n"
        "# Generated by tools/generate_data.py (plain TriG; the generator is not needed to build).\n",
        "\n\n".join(chunks),
    )

    # ---- provenance: page-copy metadata, fact nodes, reifications
    prov_chunks = [
        "    # Local copy of the source page (facts.md D.6): the file name identifies the copy, not the\n"
        "    # web page, whose address is unknown (C20)\n"
        f"    {PAGE_COPY} a prov:Entity ;\n"
        f"        dct:identifier \"{SEED_FILE_NAME}\" ;\n"
        f"        prov:wasDerivedFrom {PAGE_ID} ;\n"
        f"        rdfs:comment {en(PAGE_COPY_COMMENT)} .\n"
        f"    <{GRAPH}stated> prov:wasDerivedFrom {PAGE_ID} .\n"
        f"    <{GRAPH}derived> prov:wasDerivedFrom <{GRAPH}stated> ."
    ]
    fact_blocks = []
    for n, status, quote, _gloss in FACTS:
        sec = fact_section(n)
        sentence = sentence_of(page, quote, ranges[sec])
        assert quote in sentence and sentence in page, (n, sentence)
        fact_blocks.append(
            f"    fact:F{n} a ssikg:SourceStatement ;\n"
            f"        ssikg:factId \"F{n}\" ;\n"
            f"        prov:value {fr(quote)} ;\n"
            f"        ssikg:sentence {fr(sentence)} ;\n"
            f"        prov:wasQuotedFrom {PAGE_ID} ;\n"
            f"        dct:isPartOf {sec} ;\n"
            f"        ssikg:factStatus {STATUS[status]} ."
        )
    prov_chunks.append("    # Source statements (one per fact)\n" + "\n".join(fact_blocks))
    reif = []
    for s, p, o, facts, ctx in STATED:
        extra = ["ssikg:interpretation ssikg:Contextual"] if ctx else []
        reif.append(reification(s, p, o, facts, extra))
    prov_chunks.append("    # Reifications of the stated triples\n" + "\n".join(reif))
    dreif = []
    for s, p, o, facts, note in DERIVED:
        dreif.append(
            reification(s, p, o, facts, ["ssikg:interpretation ssikg:Derived", f"skos:editorialNote {en(note)}"])
        )
    prov_chunks.append("    # Reifications of the derived triples\n" + "\n".join(dreif))
    out["provenance.trig"] = graph_doc(
        "provenance",
        "# SSIKG provenance: source statements fact:F1..F79 (verbatim quotes from the page) and\n"
        "# RDF 1.1 reifications linking every stated and derived triple to the facts it rests on.\n"
        "# Generated by tools/generate_data.py.\n",
        "\n\n".join(prov_chunks),
    )

    # ---- derived
    out["derived.trig"] = graph_doc(
        "derived",
        "# SSIKG derived graph: inferences from the page (facts.md rows marked DER) and the\n"
        "# sub-property and inverse entailments of stated triples, for queries without a reasoner.\n"
        "# Each triple is reified in data/provenance.trig with its facts and the reasoning.\n"
        "# Generated by tools/generate_data.py.\n",
        "\n".join(subject_blocks([(s, p, o) for s, p, o, _f, _n in DERIVED])),
    )
    # ---- editorial
    out["editorial.trig"] = graph_doc(
        "editorial",
        "# SSIKG editorial graph: modeller additions that are not page statements\n"
        "# (English translations of labels, label status, editorial notes, English glosses of facts).\n"
        "# Generated by tools/generate_data.py.\n",
        "\n".join(subject_blocks(EDITORIAL)),
    )
    # ---- vocabularies
    out["vocabularies.trig"] = graph_doc(
        "vocabularies",
        "# SSIKG controlled vocabularies (SKOS): themes, roles, cooperation kinds, organisation types,\n"
        "# statuses, places. Generated by tools/generate_data.py.\n",
        "\n".join(subject_blocks(VOCAB)),
    )
    return out


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python tools/generate_data.py", description=(
        "Write data/*.trig from the tables in this file (the generated files are never edited by hand)."))
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a generated file would change (for CI)")
    check = parser.parse_args(argv).check  # an unknown option is refused (exit 2), never taken as 'write'
    files = build()
    changed = []
    for name, text in files.items():
        path = DATA / name
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            changed.append(name)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and changed:
        print("out of date:", ", ".join(changed))
        return 1
    print(("would change: " if check else "written: ") + (", ".join(changed) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
