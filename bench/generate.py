"""Deterministic synthetic organisational graph for the benchmarks, in the project's ontology.

Shaped like the real network (``data/*.trig``): the ministry, the police and gendarmerie,
the DCIS and its continental zones, an SSI network in the 160 countries of
:mod:`bench.countries` (embassies, SSI units, then further antennas per country as the
size grows), posts with ``org:postIn`` / ``org:reportsTo`` / ``ssikg:assists`` chains
(ASI → ASIA → liaison officers → assistants → zone chief → DCIS director → DG),
cooperations, sites and vCard addresses, SKOS vocabularies (themes, roles, countries),
English labels in the editorial graph, derived links, and provenance: one
``ssikg:SourceStatement`` fact node per paragraph and RDF reifications of about half
of the stated triples, as in ``data/provenance.trig``.

Output is N-Quads into the named graphs ``https://w3id.org/ssikg/graph/{stated,
provenance,vocabularies,derived,editorial}``, cut at exactly the requested number of
quads (all distinct).  The same seed and size give the same bytes.

    python -m bench.generate --triples 1e5 --seed 7 --out bench/out/data/1e5
"""

from __future__ import annotations

import argparse
import contextlib
import random
from pathlib import Path

from ssikg.namespaces import CONCEPT, FACT, GRAPHS, ID, PREFIXES, SCHEME, SSIKG

from .countries import CONTINENTS, COUNTRIES

DEFAULT_SEED = 7


def iri(value: str) -> str:
    return f"<{value}>"


def _ns(prefix: str):
    base = PREFIXES[prefix]
    return lambda local: f"<{base}{local}>"


RDF, SKOS, DCT, PROV, ORG, CV, VCARD, XSD = (_ns(p) for p in
                                             ("rdf", "skos", "dct", "prov", "org", "cv", "vcard", "xsd"))
A = RDF("type")
COUNTRY_BASE = "http://publications.europa.eu/resource/authority/country/"


def ent(slug: str) -> str:
    return f"<{ID}{slug}>"


def concept(slug: str) -> str:
    return f"<{CONCEPT}{slug}>"


def onto(local: str) -> str:
    return f"<{SSIKG}{local}>"


def country_iri(code: str) -> str:
    return f"<{COUNTRY_BASE}{code}>"


def lit(text: str, lang: str | None = "fr", datatype: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    if datatype:
        return f'"{escaped}"^^{datatype}'
    return f'"{escaped}"@{lang}' if lang else f'"{escaped}"'


def integer(value: int) -> str:
    return lit(str(value), datatype=XSD("integer"))


G = {name: iri(GRAPHS[name]) for name in ("stated", "provenance", "vocabularies", "derived", "editorial")}

THEMES = [
    ("terrorisme", "terrorisme", "terrorism"),
    ("extremisme", "extrémisme violent", "violent extremism"),
    ("criminalite-organisee", "criminalité organisée", "organised crime"),
    ("trafic-drogue", "trafic de drogue", "drug trafficking"),
    ("trafic-armes", "trafic d’armes", "arms trafficking"),
    ("immigration-irreguliere", "immigration irrégulière", "irregular immigration"),
    ("trafic-etres-humains", "trafic des êtres humains", "human trafficking"),
    ("cybercriminalite", "cybercriminalité", "cybercrime"),
    ("securite-civile", "sécurité civile", "civil protection"),
    ("fraude-documentaire", "fraude documentaire", "document fraud"),
    ("blanchiment", "blanchiment d’argent", "money laundering"),
    ("securite-routiere", "sécurité routière", "road safety"),
    ("gestion-de-crise", "gestion de crise", "crisis management"),
    ("police-technique", "police technique et scientifique", "forensic science"),
    ("maintien-ordre", "maintien de l’ordre", "public order"),
    ("soutien-export-securite", "soutien à l’exportation de sécurité", "security export support"),
]
ROLES = [
    ("role-asi", "attaché de sécurité intérieure", "internal security attaché", "ASI"),
    ("role-asia", "attaché de sécurité intérieure adjoint", "deputy internal security attaché", "ASIA"),
    ("role-officier-liaison", "officier de liaison", "liaison officer", "OL"),
    ("role-assistant", "assistant", "assistant", None),
    ("role-ambassadeur", "ambassadeur", "ambassador", None),
    ("role-chef-zone", "chef de zone", "zone head", None),
    ("role-directeur", "directeur", "director", None),
    ("role-directeur-general", "directeur général", "director general", "DG"),
    ("role-ministre", "ministre", "minister", None),
]
ORG_TYPES = [("type-ssi", "service de sécurité intérieure"), ("type-ambassade", "ambassade"),
             ("type-direction", "direction"), ("type-zone", "zone géographique"),
             ("type-ministere", "ministère"), ("type-reseau", "réseau")]
COOP_KINDS = [("coop-bilaterale", "coopération bilatérale"), ("coop-multilaterale", "coopération multilatérale"),
              ("coop-technique", "coopération technique"), ("coop-operationnelle", "coopération opérationnelle"),
              ("coop-institutionnelle", "coopération institutionnelle")]
STREETS = ["rue", "avenue", "boulevard", "place", "chemin", "allée"]
STREET_NAMES = ["de la République", "Victor Hugo", "des Nations", "de l’Indépendance", "du Port",
                "Ducale", "de France", "de la Paix", "des Ambassades", "Jean Jaurès"]


class Full(Exception):
    """The requested number of quads has been written."""


class QuadWriter:
    """Writes distinct quads as N-Quads lines, and stops at exactly ``limit``."""

    def __init__(self, handle, limit: int):
        self.handle = handle
        self.limit = limit
        self.count = 0
        self._lines: list[str] = []

    def add(self, s: str, p: str, o: str, g: str) -> None:
        if self.count >= self.limit:
            raise Full
        self._lines.append(f"{s} {p} {o} {g} .\n")
        self.count += 1
        if len(self._lines) >= 20000:
            self.flush()

    def flush(self) -> None:
        self.handle.write("".join(self._lines))
        self._lines.clear()


class Generator:
    def __init__(self, out: QuadWriter, seed: int):
        self.out = out
        self.rng = random.Random(seed)
        self.reified = 0
        self.facts = 0

    # -- helpers ---------------------------------------------------------
    def stated(self, s, p, o, fact: str | None = None):
        self.out.add(s, p, o, G["stated"])
        if fact is not None and self.rng.random() < 0.5:
            self.reified += 1
            node = f"_:r{self.reified}"
            prov = G["provenance"]
            self.out.add(node, A, RDF("Statement"), prov)
            self.out.add(node, RDF("subject"), s, prov)
            self.out.add(node, RDF("predicate"), p, prov)
            self.out.add(node, RDF("object"), o, prov)
            self.out.add(node, PROV("wasDerivedFrom"), fact, prov)

    def fact(self, sentence: str) -> str:
        self.facts += 1
        node = f"<{FACT}S{self.facts}>"
        prov = G["provenance"]
        self.out.add(node, A, onto("SourceStatement"), prov)
        self.out.add(node, onto("factId"), lit(f"S{self.facts}", None), prov)
        self.out.add(node, PROV("value"), lit(sentence), prov)
        self.out.add(node, PROV("wasQuotedFrom"), ent("page"), prov)
        self.out.add(node, onto("factStatus"), onto("Explicit"), prov)
        return node

    def post(self, slug, unit, role, label_fr, label_en, fact, alt=None):
        p = ent(slug)
        self.stated(p, A, ORG("Post"), fact)
        self.stated(p, ORG("postIn"), unit, fact)
        self.stated(p, ORG("role"), concept(role), fact)
        self.stated(p, SKOS("prefLabel"), lit(label_fr), fact)
        if alt:
            self.stated(p, SKOS("altLabel"), lit(alt), fact)
        self.out.add(p, SKOS("prefLabel"), lit(label_en, "en"), G["editorial"])
        self.out.add(unit, ORG("hasPost"), p, G["derived"])
        return p

    # -- the fixed core --------------------------------------------------
    def vocabularies(self):
        voc = G["vocabularies"]
        schemes = {"themes": ("thèmes", "themes"), "roles": ("rôles", "roles"),
                   "org-types": ("types d’organisation", "organisation types"),
                   "cooperation-kinds": ("types de coopération", "kinds of cooperation"),
                   "countries": ("pays", "countries"), "continents": ("continents", "continents")}
        for slug, (fr, en) in schemes.items():
            s = f"<{SCHEME}{slug}>"
            self.out.add(s, A, SKOS("ConceptScheme"), voc)
            self.out.add(s, SKOS("prefLabel"), lit(fr), voc)
            self.out.add(s, SKOS("prefLabel"), lit(en, "en"), voc)

        def concept_row(slug, scheme, fr, en=None, notation=None, broader=None):
            c = concept(slug)
            self.out.add(c, A, SKOS("Concept"), voc)
            self.out.add(c, SKOS("inScheme"), f"<{SCHEME}{scheme}>", voc)
            self.out.add(c, SKOS("prefLabel"), lit(fr), voc)
            if en:
                self.out.add(c, SKOS("prefLabel"), lit(en, "en"), voc)
            if notation:
                self.out.add(c, SKOS("notation"), lit(notation, None), voc)
            if broader:
                self.out.add(c, SKOS("broader"), broader, voc)
            else:
                self.out.add(c, SKOS("topConceptOf"), f"<{SCHEME}{scheme}>", voc)

        for slug, fr, en in THEMES:
            concept_row(slug, "themes", fr, en)
        for slug, fr, en, alt in ROLES:
            concept_row(slug, "roles", fr, en, notation=alt)
        for slug, fr in ORG_TYPES:
            concept_row(slug, "org-types", fr)
        for slug, fr in COOP_KINDS:
            concept_row(slug, "cooperation-kinds", fr)
        concept_row("statut-diplomatique", "org-types", "statut diplomatique", "diplomatic status")
        for code, name in CONTINENTS.items():
            concept_row(f"continent-{code.lower()}", "continents", name, notation=code)

    def country(self, code: str, name: str, continent: str):
        """A country concept, written with the first unit in that country (so small sizes hold units)."""
        voc = G["vocabularies"]
        c = country_iri(code)
        self.out.add(c, A, SKOS("Concept"), voc)
        self.out.add(c, SKOS("inScheme"), f"<{SCHEME}countries>", voc)
        self.out.add(c, SKOS("prefLabel"), lit(name), voc)
        self.out.add(c, SKOS("notation"), lit(code, None), voc)
        self.out.add(c, SKOS("broader"), concept(f"continent-{continent.lower()}"), voc)

    def core(self):
        f = self.fact("La direction de la coopération internationale de sécurité (DCIS) est une direction "
                      "commune à la police et à la gendarmerie nationales.")
        ministry = ent("ministere-interieur")
        self.stated(ministry, A, ORG("FormalOrganization"), f)
        self.stated(ministry, SKOS("prefLabel"), lit("ministère de l’Intérieur"), f)
        self.stated(ministry, ORG("classification"), concept("type-ministere"), f)
        minister = self.post("post-ministre-io", ministry, "role-ministre",
                             "ministre de l’Intérieur et des Outre-mer", "Minister of the Interior", f)
        dcis = ent("dcis")
        self.stated(dcis, A, ORG("OrganizationalUnit"), f)
        self.stated(dcis, SKOS("prefLabel"), lit("direction de la coopération internationale de sécurité"), f)
        self.stated(dcis, SKOS("altLabel"), lit("DCIS"), f)
        self.stated(dcis, ORG("classification"), concept("type-direction"), f)
        for slug, label, label_en in (("police-nationale", "police nationale", "National Police"),
                                      ("gendarmerie-nationale", "gendarmerie nationale", "National Gendarmerie")):
            force = ent(slug)
            self.stated(force, A, ORG("Organization"), f)
            self.stated(force, SKOS("prefLabel"), lit(label), f)
            self.stated(force, ORG("subOrganizationOf"), ministry, f)
            self.stated(dcis, ORG("subOrganizationOf"), force, f)
            dg = self.post(f"post-dg-{slug[0]}n", force, "role-directeur-general",
                           f"directeur général de la {label}", f"Director General of the {label_en}", f)
            self.stated(dg, ORG("reportsTo"), minister, f)
            self.stated(dcis, ORG("reportsTo"), dg, f)
        director = self.post("post-directeur-dcis", dcis, "role-directeur", "directeur de la DCIS",
                             "Director of the DCIS", f)
        self.stated(director, ORG("reportsTo"), ent("post-dg-pn"), f)
        network = ent("reseau-ssi")
        self.stated(network, A, ORG("Organization"), f)
        self.stated(network, SKOS("prefLabel"), lit("réseau des services de sécurité intérieure"), f)
        self.stated(network, ORG("classification"), concept("type-reseau"), f)
        self.stated(network, ORG("subOrganizationOf"), dcis, f)
        for code, name in CONTINENTS.items():
            zone = ent(f"zone-{code.lower()}")
            fz = self.fact(f"La zone {name} de la DCIS coordonne les services de sécurité intérieure.")
            self.stated(zone, A, ORG("OrganizationalUnit"), fz)
            self.stated(zone, SKOS("prefLabel"), lit(f"zone {name}"), fz)
            self.stated(zone, ORG("classification"), concept("type-zone"), fz)
            self.stated(zone, ORG("subOrganizationOf"), dcis, fz)
            chief = self.post(f"post-chef-zone-{code.lower()}", zone, "role-chef-zone",
                              f"chef de la zone {name}", f"Head of the {name} zone", fz)
            self.stated(chief, ORG("reportsTo"), director, fz)

    # -- one unit of the network ----------------------------------------
    def unit(self, index: int):
        rng = self.rng
        code, name, continent = COUNTRIES[index % len(COUNTRIES)]
        antenna = index // len(COUNTRIES)
        lower = code.lower()
        slug = f"ssi-{lower}" if antenna == 0 else f"ssi-{lower}-{antenna + 1}"
        unit = ent(slug)
        embassy = ent(f"ambassade-fr-{lower}")
        ambassador = ent(f"post-ambassadeur-{lower}")
        country = country_iri(code)
        city = f"{name} ville {antenna + 1}"
        label = (f"service de sécurité intérieure de {name}" if antenna == 0
                 else f"antenne {antenna + 1} du service de sécurité intérieure de {name}")

        f = self.fact(f"Le service de sécurité intérieure est installé au sein de l’Ambassade de France "
                      f"({name}, {city}).")
        if antenna == 0:
            self.country(code, name, continent)
            self.stated(embassy, A, ORG("Organization"), f)
            self.stated(embassy, A, CV("PublicOrganisation"), f)
            self.stated(embassy, SKOS("prefLabel"), lit(f"Ambassade de France ({name})"), f)
            self.stated(embassy, ORG("classification"), concept("type-ambassade"), f)
            self.stated(embassy, DCT("spatial"), country, f)
            self.post(f"post-ambassadeur-{lower}", embassy, "role-ambassadeur",
                      f"ambassadeur de France ({name})", f"French ambassador ({name})", f)
        self.stated(unit, A, ORG("OrganizationalUnit"), f)
        self.stated(unit, A, CV("PublicOrganisation"), f)
        self.stated(unit, SKOS("prefLabel"), lit(label), f)
        self.stated(unit, SKOS("altLabel"), lit("SSI"), f)
        self.stated(unit, ORG("classification"), concept("type-ssi"), f)
        self.stated(unit, DCT("spatial"), country, f)
        self.stated(unit, onto("installedWithin"), embassy, f)
        self.stated(unit, ORG("subOrganizationOf"), ent(f"zone-{continent.lower()}"), f)
        self.out.add(unit, SKOS("prefLabel"), lit(f"French internal security service in {name} #{antenna + 1}", "en"),
                     G["editorial"])
        self.out.add(unit, ORG("memberOf"), ent("reseau-ssi"), G["derived"])

        # Site and address
        fs = self.fact(f"Ses coordonnées : Service de sécurité intérieure, Ambassade de France, {city}.")
        site, card, addr = ent(f"site-{slug}"), ent(f"vcard-{slug}"), ent(f"addr-{slug}")
        number = rng.randint(1, 250)
        street = f"{number}, {rng.choice(STREETS)} {rng.choice(STREET_NAMES)}"
        self.stated(unit, ORG("hasSite"), site, fs)
        self.stated(site, A, ORG("Site"), fs)
        self.stated(site, ORG("siteAddress"), card, fs)
        self.stated(card, A, VCARD("Organization"), fs)
        self.stated(card, VCARD("organization-name"), lit("Service de sécurité intérieure", None), fs)
        self.stated(card, VCARD("hasAddress"), addr, fs)
        self.stated(addr, A, VCARD("Address"), fs)
        self.stated(addr, VCARD("street-address"), lit(street, None), fs)
        self.stated(addr, VCARD("postal-code"), lit(f"{rng.randint(1000, 99999)}", None), fs)
        self.stated(addr, VCARD("locality"), lit(city, None), fs)
        self.stated(addr, onto("careOf"), lit("Ambassade de France", None), fs)
        self.out.add(addr, VCARD("country-name"), lit(name, None), G["derived"])

        # Posts and their reporting / assistance lines
        themes = rng.sample(THEMES, rng.randint(2, 4))
        fa = self.fact(f"L’attaché de sécurité intérieure ({name}) conseille l’ambassadeur ; ses axes de "
                       f"coopération touchent principalement {', '.join(t[1] for t in themes)}.")
        asi = self.post(f"post-asi-{slug}", unit, "role-asi", f"attaché de sécurité intérieure ({name})",
                        f"internal security attaché ({name})", fa, alt="ASI")
        self.stated(asi, onto("hasStatus"), concept("statut-diplomatique"), fa)
        self.stated(asi, ORG("reportsTo"), ent(f"post-chef-zone-{continent.lower()}"), fa)
        self.stated(asi, onto("advises"), ambassador, fa)
        for theme in themes:
            self.stated(asi, onto("cooperationAxis"), concept(theme[0]), fa)
        fd = self.fact(f"L’ASI ({name}) est secondé par un adjoint (ASIA).")
        asia = self.post(f"post-asia-{slug}", unit, "role-asia", f"attaché adjoint ({name})",
                         f"deputy attaché ({name})", fd, alt="ASIA")
        self.stated(asia, onto("assists"), asi, fd)
        self.stated(asia, ORG("reportsTo"), asi, fd)
        self.out.add(asi, onto("assistedBy"), asia, G["derived"])
        officers = []
        for n in range(rng.randint(1, 4)):
            theme = rng.choice(THEMES)
            fo = self.fact(f"Un officier de liaison ({name}) en matière de {theme[1]}.")
            ol = self.post(f"post-ol-{slug}-{n + 1}", unit, "role-officier-liaison",
                           f"officier de liaison en matière de {theme[1]} ({name})",
                           f"liaison officer for {theme[2]} ({name})", fo)
            self.stated(ol, onto("assists"), asi, fo)
            self.stated(ol, ORG("reportsTo"), asia, fo)
            self.stated(ol, onto("thematicRemit"), concept(theme[0]), fo)
            self.stated(ol, DCT("spatial"), country, fo)
            self.out.add(asi, onto("assistedBy"), ol, G["derived"])
            officers.append(ol)
        for n in range(rng.randint(0, 3)):
            fx = self.fact(f"Des assistants ({name}) appuient les officiers de liaison.")
            assistant = self.post(f"post-assistant-{slug}-{n + 1}", unit, "role-assistant",
                                  f"assistant ({name}) {n + 1}", f"assistant ({name}) {n + 1}", fx)
            self.stated(assistant, ORG("reportsTo"), rng.choice(officers), fx)
            self.stated(assistant, onto("assists"), asia, fx)

        # A bilateral cooperation led by the ASI
        theme = themes[0]
        fc = self.fact(f"Il anime et coordonne la coopération bilatérale de sécurité avec {name}, "
                       f"notamment contre {theme[1]}.")
        coop = ent(f"coop-{slug}")
        self.stated(coop, A, onto("Cooperation"), fc)
        self.stated(coop, SKOS("prefLabel"), lit(f"coopération bilatérale de sécurité ({name})"), fc)
        self.stated(coop, onto("scope"), concept("coop-bilaterale"), fc)
        self.stated(coop, onto("field"), concept(theme[0]), fc)
        self.stated(coop, onto("ledAndCoordinatedBy"), asi, fc)
        self.stated(coop, onto("emphasisedAspect"), concept(rng.choice(COOP_KINDS[2:])[0]), fc)
        self.stated(coop, DCT("description"),
                    lit(f"Coopération avec {name} en matière de {theme[1]} ; "
                        f"actions de formation et d’échange ({rng.randint(2, 40)} actions par an)."), fc)

    def run(self):
        self.vocabularies()
        self.core()
        index = 0
        while True:
            self.unit(index)
            index += 1


def generate(out_dir: Path, triples: int, seed: int = DEFAULT_SEED) -> Path:
    """Write ``out_dir/data/bench.nq`` with exactly ``triples`` quads (reused when already there)."""
    out_dir = Path(out_dir)
    target = out_dir / "data" / "bench.nq"
    stamp = out_dir / "data" / ".generated"
    signature = f"{triples} {seed} v2"
    if target.is_file() and stamp.is_file() and stamp.read_text() == signature:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        writer = QuadWriter(handle, triples)
        with contextlib.suppress(Full):  # the writer stops the endless unit loop at the size
            Generator(writer, seed).run()
        writer.flush()
    partial.replace(target)
    stamp.write_text(signature)
    return target


def parse_size(text: str) -> int:
    """``1e5``, ``100000`` or ``100k`` → an int."""
    text = text.strip().lower()
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(float(text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=parse_size, required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="source folder; data/bench.nq is written in it")
    args = parser.parse_args(argv)
    path = generate(args.out, args.triples, args.seed)
    print(path)


if __name__ == "__main__":
    main()
