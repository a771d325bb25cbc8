"""The organisation chart: an SVG drawn from the graph with Graphviz.

Units (organisations) are clusters, posts are nodes inside their unit's
cluster, and each kind of line has its own look, explained by a legend:
reporting (solid), assistance (dashed), advice (dotted), joint authority (a
hexagon joined by bold lines to the unit under it and to its holders),
sub-organisation and installation (thin grey).  Labels follow the chosen
language with a visible fallback; every node links to its entity page.

Bounded whatever the store's size: a unit's part (:func:`load_focus`) is read around the
unit alone, at most :data:`NEIGHBOURS_SHOWN` of each kind of neighbour ("+N more" for the
rest); the whole chart (:func:`load_whole`) is drawn as it is up to :data:`NODE_BUDGET`
units and posts, and above that as a :class:`Summary` of the top levels; ``dot`` runs with
a timeout (:func:`render_svg`).

Also the ``ssikg chart`` command.  Reads the graph through
``GraphStore.query`` only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import click
import graphviz

from .linked_data import (
    DEFAULT_LANG,
    LANGS,
    Labels,
    bound,
    href_for,
    iri_ref,
    iri_values,
    local_path,
    prologue,
    select,
)
from .namespaces import PREFIXES, SSIKG, expand_prefixed

ORG = PREFIXES["org"]
UNIT_TYPES = (ORG + "Organization", ORG + "OrganizationalUnit", ORG + "FormalOrganization",
              PREFIXES["cv"] + "PublicOrganisation")


@dataclass(frozen=True)
class EdgeKind:
    name: str
    predicate: str
    style: dict
    words: dict  # lang -> legend text


EDGE_KINDS = (
    EdgeKind("reports", ORG + "reportsTo",
             {"style": "solid", "color": "#1b1b1b", "penwidth": "1.6", "arrowhead": "normal"},
             {"fr": "rend compte à", "en": "reports to"}),
    EdgeKind("assists", SSIKG + "assists",
             {"style": "dashed", "color": "#1f5fbf", "penwidth": "1.6", "arrowhead": "onormal"},
             {"fr": "seconde", "en": "assists"}),
    EdgeKind("advises", SSIKG + "advises",
             {"style": "dotted", "color": "#1b7a3a", "penwidth": "2", "arrowhead": "vee"},
             {"fr": "conseille", "en": "advises"}),
    EdgeKind("suborg", ORG + "subOrganizationOf",
             {"style": "solid", "color": "#8a8a8a", "penwidth": "0.8", "arrowhead": "empty"},
             {"fr": "sous-organisation de", "en": "sub-organisation of"}),
    EdgeKind("installed", SSIKG + "installedWithin",
             {"style": "dashed", "color": "#8a8a8a", "penwidth": "0.8", "arrowhead": "odot"},
             {"fr": "installé au sein de", "en": "installed within"}),
)
JOINT_STYLE = {"style": "bold", "color": "#a3122a", "penwidth": "2.4", "arrowhead": "diamond"}
JOINT_WORDS = {"fr": "autorité conjointe", "en": "joint authority"}
DERIVED_WORDS = {"fr": "déduit", "en": "derived"}
TITLE_WORDS = {"fr": "Organigramme", "en": "Organisation chart"}
LEGEND_WORDS = {"fr": "Légende", "en": "Legend"}


NODE_BUDGET = 300  # units and posts: a whole chart bigger than this is drawn as a summary
NEIGHBOURS_SHOWN = 30  # per kind of neighbour of a focused unit; the rest are counted
# (singular, plural): French puts 0 and 1 in the singular, English only 1
MORE_WORDS = {"fr": ("+{n} autre", "+{n} autres"), "en": ("+{n} more", "+{n} more")}
POSTS_WORDS = {"fr": ("poste", "postes"), "en": ("post", "posts")}
UNITS_WORDS = {"fr": ("unité", "unités"), "en": ("unit", "units")}
# the text version's names for the joint authority's two kinds of line
JOINT_LINE_WORDS = {"sub": {"fr": "sous l’autorité conjointe", "en": "under the joint authority"},
                    "holder": {"fr": "exercée par", "en": "held by"}}
NOT_INSTALLED_WORDS = {"fr": "Graphviz (dot) n’est pas installé sur ce serveur : l’organigramme ne peut pas être dessiné.",
                       "en": "Graphviz (dot) is not installed on this server: the chart cannot be drawn."}
SVG_LABEL_WORDS = {"fr": "Organigramme (dessin) ; sa version texte est donnée sur la page.",
                   "en": "Organisation chart (drawing); its text version is given on the page."}
SUMMARY_WORDS = {
    "fr": "Vue d’ensemble : {units} unités et {posts} postes, plus que les {budget} éléments dessinés "
          "d’un coup ; chaque unité mène à sa partie de l’organigramme.",
    "en": "Overview: {units} units and {posts} posts, more than the {budget} drawn at once; "
          "each unit leads to its part of the chart.",
}


class ChartError(Exception):
    """Graphviz could not draw the chart: it took too long (``timed_out``) or failed."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


@dataclass
class ChartData:
    unit_of: dict[str, str | None] = field(default_factory=dict)  # post -> unit
    units: set[str] = field(default_factory=set)
    edges: list[tuple[str, str, str, bool]] = field(default_factory=list)  # kind, from, to, derived
    joint: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # auth -> (subs, holders)
    labels: Labels = field(default_factory=Labels)
    # what is not drawn: unit -> [(what, how many)], what being "posts" or (direction, edge kind)
    more: dict[str, list[tuple[object, int]]] = field(default_factory=dict)


@dataclass
class Summary:
    """The top levels of a chart too big to draw whole: units with the size of their branch."""

    units: int  # in the whole chart
    posts: int
    budget: int
    shown: list[str] = field(default_factory=list)  # top-down
    parent: dict[str, str] = field(default_factory=dict)
    branch: dict[str, tuple[int, int]] = field(default_factory=dict)  # unit -> (sub-units, posts) below it
    hidden_children: dict[str, int] = field(default_factory=dict)  # unit -> children not drawn
    hidden_roots: int = 0
    labels: Labels = field(default_factory=Labels)


def _edge_kinds() -> dict[str, str]:
    return {kind.predicate: kind.name for kind in EDGE_KINDS}


def load_chart(store, lang: str = DEFAULT_LANG) -> ChartData:
    """The whole chart, every unit and post: only for a chart within :data:`NODE_BUDGET`
    (see :func:`load_whole`)."""
    data = ChartData()
    for row in select(store, """SELECT ?post ?unit WHERE { ?post a org:Post .
                                 OPTIONAL { ?post org:postIn ?unit } }"""):
        post, unit = row["post"].value, row["unit"].value if row["unit"] is not None else None
        if data.unit_of.get(post) is None:
            data.unit_of[post] = unit
        if unit:
            data.units.add(unit)
    kinds = _edge_kinds()
    # an edge found only in the derived graph is drawn lighter and says so
    rows = select(store, f"""SELECT ?s ?p ?o (MAX(IF(?g = graph:derived, 0, 1)) AS ?notDerived) WHERE {{
        {iri_values('p', kinds)} GRAPH ?g {{ ?s ?p ?o }} FILTER(isIRI(?o)) }} GROUP BY ?s ?p ?o""")
    for row in rows:
        derived = row["notDerived"].value == "0"
        data.edges.append((kinds[row["p"].value], row["s"].value, row["o"].value, derived))
    for row in select(store, """SELECT ?a ?sub ?holder WHERE { ?a a ssikg:JointAuthority .
                                 OPTIONAL { ?a ssikg:subordinate ?sub }
                                 OPTIONAL { ?a ssikg:authorityHolder ?holder } }"""):
        _add_joint(data, row)
    # every organisation at an end of a line is a unit of its own
    for _kind, source, target, _derived in data.edges:
        for end in (source, target):
            if end not in data.unit_of:
                data.units.add(end)
    for subs, holders in data.joint.values():
        data.units.update(x for x in subs | holders if x not in data.unit_of)
    data.labels.load(store, list(data.units) + list(data.unit_of) + list(data.joint))
    return data


def _add_joint(data: ChartData, row) -> None:
    subs, holders = data.joint.setdefault(row["a"].value, (set(), set()))
    if row["sub"] is not None:
        subs.add(row["sub"].value)
    if row["holder"] is not None:
        holders.add(row["holder"].value)


def _count(rows, name: str = "n") -> int:
    return int(rows[0][name].value) if rows and rows[0].get(name) is not None else 0


def chart_size(store) -> tuple[int, int]:
    """(units, posts) of the whole chart, counted by the store."""
    units = select(store, f"""SELECT (COUNT(DISTINCT ?u) AS ?n) WHERE {{
        {iri_values('t', UNIT_TYPES)} ?u a ?t }}""")
    posts = select(store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a org:Post }")
    return _count(units), _count(posts)


def load_whole(store, lang: str = DEFAULT_LANG, budget: int = NODE_BUDGET) -> ChartData | Summary:
    """The whole chart when it fits in ``budget`` nodes, else its :class:`Summary`."""
    units, posts = chart_size(store)
    if units + posts <= budget:
        return load_chart(store, lang)
    return load_summary(store, units, posts, budget)


def is_unit(store, iri: str) -> bool:
    """Whether the chart draws ``iri`` as a unit (one ASK: a post's unit, an organisation at an
    end of a line, or one under a joint authority; never a post)."""
    return bool(store.query(prologue() + f"""ASK {{
        {{ ?post org:postIn ?this }}
        UNION {{ {iri_values('k', _edge_kinds())} GRAPH ?g {{ ?this ?k ?other }} FILTER(isIRI(?other)) }}
        UNION {{ {iri_values('k', _edge_kinds())} GRAPH ?g {{ ?other ?k ?this }} }}
        UNION {{ ?a ssikg:subordinate|ssikg:authorityHolder ?this }}
        FILTER NOT EXISTS {{ ?this a org:Post }} }}""", substitutions=bound({"this": iri})))


def load_focus(store, focus: str, lang: str = DEFAULT_LANG, shown: int = NEIGHBOURS_SHOWN) -> ChartData | None:
    """The part of the chart around one unit, read alone: the unit, its ancestors, its posts
    and every line touching them, at most ``shown`` of each kind (the rest counted in
    ``more``).  None when ``focus`` is not a unit.  Reads only the unit's neighbourhood."""
    if not is_unit(store, focus):
        return None
    data = ChartData(units={focus})
    hidden: list[tuple[object, int]] = []
    # the type in a FILTER EXISTS: as a triple, the engine may start from every org:Post
    posts = [r["post"].value for r in select(store, f"""SELECT DISTINCT ?this ?post WHERE {{
        ?post org:postIn ?this FILTER EXISTS {{ ?post a org:Post }} }} ORDER BY ?post LIMIT {shown}""", this=focus)]
    if len(posts) == shown:
        total = _count(select(store, """SELECT ?this (COUNT(DISTINCT ?post) AS ?n) WHERE {
            ?post org:postIn ?this FILTER EXISTS { ?post a org:Post } } GROUP BY ?this""", this=focus))
        if total > shown:
            hidden.append(("posts", total - shown))
    data.unit_of.update((post, focus) for post in posts)
    hidden += _focus_edges(store, focus, data, shown)
    _post_edges(store, posts, data, shown)
    _ancestors(store, focus, data)
    _focus_joint(store, focus, posts, data, shown)
    _place_ends(store, data)
    if hidden:
        data.more[focus] = hidden
    data.labels.load(store, list(data.units) + list(data.unit_of) + list(data.joint))
    return data


def _focus_edges(store, focus: str, data: ChartData, shown: int) -> list[tuple[object, int]]:
    """The lines of the unit itself, at most ``shown`` per direction and kind; the hidden counts."""
    kinds = _edge_kinds()
    # The FILTER stands after the UNION, not in its branch: Virtuoso's compiler fails on a
    # filtered branch once ?this is bound by VALUES (error SP031), as over a remote backend.
    counts = select(store, f"""SELECT ?this ?dir ?p (COUNT(DISTINCT ?other) AS ?n) WHERE {{
        {iri_values('p', kinds)}
        {{ GRAPH ?g {{ ?this ?p ?other }} BIND("out" AS ?dir) }}
        UNION {{ GRAPH ?g {{ ?other ?p ?this }} BIND("in" AS ?dir) }}
        FILTER(?dir = "in" || isIRI(?other)) }} GROUP BY ?this ?dir ?p""", this=focus)
    hidden = []
    for row in counts:
        direction, predicate, total = row["dir"].value, row["p"].value, int(row["n"].value)
        pattern = "?this {p} ?other" if direction == "out" else "?other {p} ?this"
        rows = select(store, f"""SELECT ?this ?other (MAX(IF(?g = graph:derived, 0, 1)) AS ?notDerived) WHERE {{
            GRAPH ?g {{ {pattern.format(p=iri_ref(predicate))} }} FILTER(isIRI(?other)) }}
            GROUP BY ?this ?other ORDER BY ?other LIMIT {shown}""", this=focus)
        for r in rows:
            source, target = (focus, r["other"].value) if direction == "out" else (r["other"].value, focus)
            data.edges.append((kinds[predicate], source, target, r["notDerived"].value == "0"))
        if total > shown:
            hidden.append(((direction, kinds[predicate]), total - shown))
    return hidden


def _post_edges(store, posts: list[str], data: ChartData, shown: int) -> None:
    """The lines of the unit's drawn posts (a bounded number: a few per post)."""
    if not posts:
        return
    kinds = _edge_kinds()
    # one VALUES per block, the kinds in a FILTER: two VALUES blocks are joined after a full read
    posts_in, kinds_in = iri_values('x', posts), ", ".join(iri_ref(k) for k in kinds)
    rows = select(store, f"""SELECT ?s ?p ?o (MAX(IF(?g = graph:derived, 0, 1)) AS ?notDerived) WHERE {{
        {{ {posts_in} GRAPH ?g {{ ?x ?p ?o }} FILTER(?p IN ({kinds_in}) && isIRI(?o)) BIND(?x AS ?s) }}
        UNION {{ {posts_in} GRAPH ?g {{ ?s ?p ?x }} FILTER(?p IN ({kinds_in})) BIND(?x AS ?o) }} }}
        GROUP BY ?s ?p ?o ORDER BY ?p ?s ?o LIMIT {shown * 2}""")
    for row in rows:
        edge = (kinds[row["p"].value], row["s"].value, row["o"].value, row["notDerived"].value == "0")
        if edge not in data.edges:
            data.edges.append(edge)


def _ancestors(store, focus: str, data: ChartData, levels: int = 12) -> None:
    """The units above ``focus`` (sub-organisation lines up to the top), for context: one
    lookup per level from the parents already read (a property path is slower)."""
    frontier = {target for kind, source, target, _derived in data.edges if kind == "suborg" and source == focus}
    seen = {focus} | frontier
    for _level in range(levels):
        if not frontier:
            return
        rows = select(store, f"""SELECT ?x ?up (MAX(IF(?g = graph:derived, 0, 1)) AS ?notDerived) WHERE {{
            {iri_values('x', frontier)} GRAPH ?g {{ ?x org:subOrganizationOf ?up }} FILTER(isIRI(?up)) }}
            GROUP BY ?x ?up LIMIT {levels}""")
        for row in rows:
            edge = ("suborg", row["x"].value, row["up"].value, row["notDerived"].value == "0")
            if edge not in data.edges:
                data.edges.append(edge)
        frontier = {row["up"].value for row in rows} - seen
        seen |= frontier


def _focus_joint(store, focus: str, posts: list[str], data: ChartData, shown: int) -> None:
    """The joint authorities over the unit or its drawn posts, with their members."""
    # the bound ?this reaches a triple pattern of a union branch, not a BIND in it
    over_posts = (f"UNION {{ {iri_values('x', posts)} ?a ssikg:subordinate|ssikg:authorityHolder ?x }}"
                  if posts else "")
    rows = select(store, f"""SELECT DISTINCT ?this ?a ?sub ?holder WHERE {{
        {{ ?a ssikg:subordinate|ssikg:authorityHolder ?this }} {over_posts}
        ?a a ssikg:JointAuthority .
        OPTIONAL {{ ?a ssikg:subordinate ?sub }} OPTIONAL {{ ?a ssikg:authorityHolder ?holder }} }}
        LIMIT {shown * 10}""", this=focus)
    for row in rows:
        _add_joint(data, row)


def _place_ends(store, data: ChartData) -> None:
    """Each other end of a drawn line: a post goes in its unit's box, anything else is a unit."""
    ends = {end for _kind, source, target, _derived in data.edges for end in (source, target)}
    for subs, holders in data.joint.values():
        ends |= subs | holders
    ends -= set(data.unit_of) | data.units
    if not ends:
        return
    for row in select(store, f"""SELECT ?x ?unit WHERE {{ {iri_values('x', ends)} ?x a org:Post .
                                  OPTIONAL {{ ?x org:postIn ?unit }} }}"""):
        post, unit = row["x"].value, row["unit"].value if row["unit"] is not None else None
        if data.unit_of.get(post) is None:
            data.unit_of[post] = unit
    data.units |= {end for end in ends if end not in data.unit_of}
    data.units |= {unit for unit in data.unit_of.values() if unit}


def load_summary(store, units: int, posts: int, budget: int = NODE_BUDGET) -> Summary:
    """The top levels of the sub-organisation tree, level by level while ``budget`` allows,
    each drawn unit with the size of its branch."""
    summary = Summary(units=units, posts=posts, budget=budget)
    # the tops of the sub-organisation trees; units outside any tree are only counted
    tops = f"""{iri_values('t', UNIT_TYPES)} ?u a ?t FILTER NOT EXISTS {{ ?u org:subOrganizationOf ?up }}
               FILTER EXISTS {{ ?below org:subOrganizationOf ?u }}"""
    roots = [r["u"].value for r in select(store, f"SELECT DISTINCT ?u WHERE {{ {tops} }} ORDER BY ?u LIMIT {budget}")]
    if not roots:  # no tree at all: the first units, the others counted
        tops = f"{iri_values('t', UNIT_TYPES)} ?u a ?t"
        roots = [r["u"].value for r in select(store, f"SELECT DISTINCT ?u WHERE {{ {tops} }} ORDER BY ?u LIMIT {budget}")]
    if len(roots) == budget:
        summary.hidden_roots = _count(select(store, f"SELECT (COUNT(DISTINCT ?u) AS ?n) WHERE {{ {tops} }}")) - budget
    summary.shown = list(roots)
    frontier = roots
    while frontier and len(summary.shown) < budget:
        room = budget - len(summary.shown)
        rows = select(store, f"""SELECT DISTINCT ?parent ?child WHERE {{ {iri_values('parent', frontier)}
            ?child org:subOrganizationOf ?parent }} ORDER BY ?parent ?child LIMIT {room}""")
        children = [r["child"].value for r in rows if r["child"].value not in summary.parent
                    and r["child"].value not in summary.shown]
        for row in rows:
            summary.parent.setdefault(row["child"].value, row["parent"].value)
        summary.shown += list(dict.fromkeys(children))
        if len(rows) == room:  # the level did not fit whole: the rest is counted, not drawn
            break
        frontier = children
    _branch_sizes(store, summary)
    summary.labels.load(store, summary.shown)
    return summary


def _branch_sizes(store, summary: Summary) -> None:
    """For each drawn unit: the sub-units and posts of its whole branch, and its children not
    drawn.  Two aggregate reads (the sub-organisation lines, the posts per unit), summed here:
    a property path per unit is much slower."""
    children: dict[str, set[str]] = {}
    for row in select(store, """SELECT DISTINCT ?child ?parent WHERE {
            ?child org:subOrganizationOf ?parent FILTER(isIRI(?child) && isIRI(?parent)) }"""):
        children.setdefault(row["parent"].value, set()).add(row["child"].value)
    own_posts = {row["u"].value: int(row["n"].value) for row in select(
        store, "SELECT ?u (COUNT(DISTINCT ?post) AS ?n) WHERE { ?post org:postIn ?u } GROUP BY ?u")}
    shown = set(summary.shown)
    for unit in summary.shown:
        below, stack = set(), [unit]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in below and child != unit:  # (a cycle ends here)
                    below.add(child)
                    stack.append(child)
        summary.branch[unit] = (len(below), own_posts.get(unit, 0) + sum(own_posts.get(u, 0) for u in below))
        # a child drawn under another of its parents is drawn: counted once, where it is drawn
        hidden = len(children.get(unit, set()) - shown)
        if hidden > 0:
            summary.hidden_children[unit] = hidden


def _node_ids(data: ChartData) -> dict[str, str]:
    ids: dict[str, str] = {}
    for iri in sorted(data.units) + sorted(data.unit_of) + sorted(data.joint):
        ids.setdefault(iri, f"n{len(ids)}")
    return ids


def build_graph(data: ChartData, lang: str, link_base: str, link_query: str = "") -> graphviz.Digraph:
    """The chart; ``link_query`` (e.g. ``?lang=en``) is added to links to the dataset's pages,
    as the page around the chart adds it to its own links."""
    ids = _node_ids(data)
    words_lang = lang if lang in ("fr", "en") else "en"

    def href(iri: str) -> str:
        # an IRI that may not be a link (javascript:…) gets an inert one: Graphviz wants a URL
        return _url((href_for(iri, link_base) or "#") + (link_query if local_path(iri) is not None else ""))

    def label(iri: str) -> str:
        picked = data.labels.pick(iri, lang)
        return f"{picked.text} ({picked.lang})" if picked.fallback else picked.text

    # the graph's name becomes the SVG's <title>, read by screen readers
    chart = graphviz.Digraph(TITLE_WORDS[words_lang], graph_attr={
        "rankdir": "BT", "fontname": "Helvetica", "fontsize": "11", "newrank": "true",
        "nodesep": "0.3", "ranksep": "0.5", "bgcolor": "white", "tooltip": TITLE_WORDS[words_lang],
        "label": "", "compound": "true"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "box", "style": "rounded,filled",
                   "fillcolor": "white", "color": "#555555", "fontcolor": "#1b1b1b", "target": "_top"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    for index, unit in enumerate(sorted(data.units)):
        with chart.subgraph(name=f"cluster_u{index}") as cluster:
            cluster.attr(label="", style="rounded,filled", fillcolor="#eef2f8", color="#8796b0",
                         URL=href(unit), target="_top", tooltip=_plain(label(unit)),
                         id=f"unit-{ids[unit]}", **{"class": "unit"})
            cluster.node(ids[unit], label=_plain(_wrap(label(unit))), shape="folder", fillcolor="#dbe4f3",
                         URL=href(unit), tooltip=_plain(label(unit)), fontsize="11",
                         id=ids[unit], **{"class": "unit-node"})
            for post in sorted(p for p, u in data.unit_of.items() if u == unit):
                cluster.node(ids[post], label=_plain(_wrap(label(post))), URL=href(post),
                             tooltip=_plain(label(post)), id=ids[post], **{"class": "post"})
                # keeps the unit's own box above its posts (rankdir is bottom-to-top)
                cluster.edge(ids[post], ids[unit], style="invis", weight="2")
            for number, (what, count) in enumerate(data.more.get(unit, [])):
                more_id = f"{ids[unit]}_more{number}"
                # to the unit page's table listing them (on that page, not a link to itself)
                cluster.node(more_id, label=_wrap(more_text(what, count, words_lang)), shape="note",
                             fillcolor="#fff7d6", URL=href(unit) + more_anchor(what),
                             tooltip=more_text(what, count, words_lang),
                             id=more_id, **{"class": "more"})
                cluster.edge(more_id, ids[unit], style="invis", weight="2")
    for post in sorted(p for p, u in data.unit_of.items() if not u):
        chart.node(ids[post], label=_plain(_wrap(label(post))), URL=href(post),
                   tooltip=_plain(label(post)), id=ids[post], **{"class": "post"})
    by_name = {kind.name: kind for kind in EDGE_KINDS}
    for kind_name, source, target, derived in sorted(data.edges):
        kind = by_name[kind_name]
        if source not in ids or target not in ids:
            continue
        words = kind.words[words_lang]
        style = dict(kind.style)
        if derived:
            style["color"] = _lighter(style["color"])
            words = f"{words} ({DERIVED_WORDS[words_lang]})"
        chart.edge(ids[source], ids[target], tooltip=_plain(f"{label(source)} — {words} — {label(target)}"),
                   **style, **{"class": f"edge-{kind.name}" + (" derived" if derived else "")})
    for authority, (subs, holders) in sorted(data.joint.items()):
        chart.node(ids[authority], label=_plain(_wrap(label(authority))), shape="hexagon",
                   style="filled,bold", fillcolor="#fbe3e7", color=JOINT_STYLE["color"],
                   URL=href(authority), tooltip=_plain(label(authority)), id=ids[authority],
                   **{"class": "joint-authority"})
        for sub in sorted(subs):
            if sub in ids:
                chart.edge(ids[sub], ids[authority], tooltip=_plain(f"{label(sub)} — {JOINT_WORDS[words_lang]}"),
                           **{**JOINT_STYLE, "arrowhead": "none"}, **{"class": "edge-joint"})
        for holder in sorted(holders):
            if holder in ids:
                chart.edge(ids[authority], ids[holder],
                           tooltip=_plain(f"{JOINT_WORDS[words_lang]} — {label(holder)}"),
                           **JOINT_STYLE, **{"class": "edge-joint"})
    _legend(chart, words_lang, data)
    return chart


def counted(count: int, words: dict, lang: str) -> str:
    """``words[lang]`` (singular, plural) as ``count`` asks: French "0 poste", English "0 posts"."""
    singular, plural = words[lang]
    return singular if (count < 2 if lang == "fr" else count == 1) else plural


def more_text(what, count: int, lang: str) -> str:
    """"+12 more posts", "+1 more unit", "+370 more (sub-organisation of)": what a chart leaves out."""
    lang = lang if lang in MORE_WORDS else "en"
    more = counted(count, MORE_WORDS, lang).format(n=count)
    if what == "posts":
        return f"{more} {counted(count, POSTS_WORDS, lang)}"
    if what == "units":
        return f"{more} {counted(count, UNITS_WORDS, lang)}"
    _direction, kind_name = what
    kind = next(k for k in EDGE_KINDS if k.name == kind_name)
    return f"{more} ({kind.words[lang]})"


def more_anchor(what) -> str:
    """Where a unit's page lists what its "+N more" box counts: posts and incoming lines in
    the incoming relations table, outgoing lines in the relations table."""
    return "#out-h" if what != "posts" and what[0] == "out" else "#in-h"


def summary_text(summary: Summary, lang: str) -> str:
    lang = lang if lang in SUMMARY_WORDS else "en"
    return SUMMARY_WORDS[lang].format(units=summary.units, posts=summary.posts, budget=summary.budget)


def branch_text(summary: Summary, unit: str, lang: str) -> str:
    """"12 units · 40 posts" below a unit of a summary."""
    lang = lang if lang in UNITS_WORDS else "en"
    units, posts = summary.branch.get(unit, (0, 0))
    return f"{units} {counted(units, UNITS_WORDS, lang)} · {posts} {counted(posts, POSTS_WORDS, lang)}"


def build_summary(summary: Summary, lang: str, link_base: str, chart_link) -> graphviz.Digraph:
    """A summary chart: the top units, each with the size of its branch and a link
    (``chart_link(iri)``) to its focused chart; children not drawn are counted."""
    words_lang = lang if lang in ("fr", "en") else "en"
    ids = {iri: f"s{index}" for index, iri in enumerate(summary.shown)}
    chart = graphviz.Digraph(TITLE_WORDS[words_lang], graph_attr={
        "rankdir": "RL", "fontname": "Helvetica", "fontsize": "11", "bgcolor": "white",
        "tooltip": TITLE_WORDS[words_lang], "label": _wrap(summary_text(summary, words_lang), 90),
        "labelloc": "t", "nodesep": "0.2", "ranksep": "0.5"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "folder", "style": "filled",
                   "fillcolor": "#dbe4f3", "color": "#555555", "target": "_top"},
        edge_attr=EDGE_KINDS[3].style)
    for iri in summary.shown:
        picked = summary.labels.pick(iri, lang)
        name = f"{picked.text} ({picked.lang})" if picked.fallback else picked.text
        text = f"{_wrap(name)}\n{branch_text(summary, iri, words_lang)}"
        chart.node(ids[iri], label=_plain(text), URL=_url(chart_link(iri)), tooltip=_plain(name), id=ids[iri],
                   **{"class": "summary-unit"})
        if summary.parent.get(iri) in ids:
            chart.edge(ids[iri], ids[summary.parent[iri]], **{"class": "edge-suborg"})
        if summary.hidden_children.get(iri):
            more = more_text("units", summary.hidden_children[iri], words_lang)
            chart.node(ids[iri] + "_more", label=more, shape="note", fillcolor="#fff7d6",
                       URL=_url(chart_link(iri)), tooltip=more, id=ids[iri] + "_more", **{"class": "more"})
            chart.edge(ids[iri] + "_more", ids[iri], style="dashed", **{"class": "edge-more"})
    if summary.hidden_roots:
        more = more_text("units", summary.hidden_roots, words_lang)
        chart.node("roots_more", label=more, shape="note", fillcolor="#fff7d6", id="roots_more",
                   **{"class": "more"})
    return chart


def render_svg(chart: graphviz.Digraph, timeout: float | None) -> bytes:
    """The chart drawn by Graphviz ``dot``, killed after ``timeout`` seconds.

    Raises ``graphviz.ExecutableNotFound`` when dot is missing, :class:`ChartError` when it
    takes too long or fails."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=chart.source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise graphviz.ExecutableNotFound(["dot"]) from None
    except subprocess.TimeoutExpired:  # subprocess.run has killed dot
        raise ChartError(f"drawing the chart took longer than {timeout:g} s", timed_out=True) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChartError("Graphviz failed to draw the chart" + (f": {detail[-1][:200]}" if detail else ""))
    return done.stdout


def _legend(chart: graphviz.Digraph, lang: str, data: ChartData) -> None:
    with chart.subgraph(name="cluster_legend") as legend:
        legend.attr(label=LEGEND_WORDS[lang], style="rounded", color="#999999", fontsize="10",
                    id="legend", **{"class": "legend"})
        legend.attr("node", shape="plaintext", style="", fontsize="9", width="0.2", height="0.2")
        rows = [(kind.name, kind.words[lang], kind.style) for kind in EDGE_KINDS]
        rows.append(("joint", JOINT_WORDS[lang], JOINT_STYLE))
        for name, words, style in rows:
            legend.node(f"legend_{name}_a", label=words, **{"class": "legend-item"})
            legend.node(f"legend_{name}_b", label="", **{"class": "legend-item"})
            legend.edge(f"legend_{name}_a", f"legend_{name}_b", **style,
                        **{"class": f"legend-edge legend-{name}"})


def _plain(text: str) -> str:
    """``text`` (a label from the data) as plain text for Graphviz: a value shaped ``<…>``
    would otherwise be read as an HTML-like label (links, images, files of the server) and
    backslashes as escapes (``\\N`` is the node's name)."""
    return graphviz.escape(text)


def _url(href: str) -> str:
    """``href`` as Graphviz must be given it: it copies "&name" into the SVG as an entity
    when it knows the name (``&lang=en`` would be the entity ``&lang``, not XML)."""
    return href.replace("&", "&amp;")


def _lighter(color: str) -> str:
    return color + "99" if re.fullmatch(r"#[0-9a-fA-F]{6}", color) else color


def _wrap(text: str, width: int = 28) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "\n".join(lines)


def inline_svg(svg: bytes, lang: str = "en") -> str:
    """The SVG element alone, for embedding in an HTML page: one image with a short name
    (Chromium would otherwise name it with all its text), the page's text version saying
    the rest."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    if start < 0:
        return text
    name = SVG_LABEL_WORDS[lang if lang in SVG_LABEL_WORDS else "en"]
    return f'<svg role="img" aria-label="{name}"' + text[start + len("<svg"):]


def standalone_svg(svg: bytes, lang: str) -> bytes:
    """The SVG served alone: its language (``xml:lang``) and a root ``<title>``, the name
    a browser or screen reader gives the document."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    end = text.find(">", start)
    if start < 0 or end < 0:
        return svg
    words = lang if lang in TITLE_WORDS else "en"
    title_lang = "" if words == lang else f' xml:lang="{words}"'  # (no Dutch words: English ones)
    opened = text[start:end].rstrip("/")
    return (text[:start] + f'{opened} xml:lang="{lang}"><title{title_lang}>{TITLE_WORDS[words]}</title>'
            + text[end + 1:]).encode("utf-8")


# ---------------------------------------------------------------------------
# The text version: what the SVG draws, said in lists


def outline(data: ChartData, lang: str) -> dict:
    """The chart as text, node for node and line for line as :func:`build_graph` draws it:
    ``units`` (label order) with their posts and "+N more" counts, ``unplaced`` posts,
    ``joint`` authorities and ``lines`` (kind, words in ``lang``, from, to, derived)."""
    words_lang = lang if lang in ("fr", "en") else "en"
    ids = _node_ids(data)

    def node(iri: str) -> dict:
        return {"iri": iri, "label": data.labels.pick(iri, lang)}

    def by_label(iris):
        return sorted(iris, key=lambda iri: (data.labels.pick(iri, lang).text.lower(), iri))

    units = [{**node(unit), "posts": [node(p) for p in by_label(p for p, u in data.unit_of.items() if u == unit)],
              "more": [{"text": more_text(what, count, words_lang), "anchor": more_anchor(what)}
                       for what, count in data.more.get(unit, [])]}
             for unit in by_label(data.units)]
    lines = []
    for kind_name, source, target, derived in sorted(data.edges):
        if source in ids and target in ids:
            kind = next(k for k in EDGE_KINDS if k.name == kind_name)
            lines.append({"kind": kind.name, "words": kind.words[words_lang], "from": node(source),
                          "to": node(target), "derived": derived})
    for authority, (subs, holders) in sorted(data.joint.items()):
        lines += [{"kind": "joint", "words": JOINT_LINE_WORDS["sub"][words_lang], "from": node(sub),
                   "to": node(authority), "derived": False} for sub in sorted(subs) if sub in ids]
        lines += [{"kind": "joint", "words": JOINT_LINE_WORDS["holder"][words_lang], "from": node(authority),
                   "to": node(holder), "derived": False} for holder in sorted(holders) if holder in ids]
    return {"units": units, "unplaced": [node(p) for p in by_label(p for p, u in data.unit_of.items() if not u)],
            "joint": [node(a) for a in by_label(data.joint)], "lines": lines,
            "derived_word": DERIVED_WORDS[words_lang]}


def summary_outline(summary: Summary, lang: str, chart_link) -> dict:
    """A summary as text: its unit tree nested as drawn (each unit under the parent it is
    drawn under), each unit with its branch's size, "+N more units" and its focused chart
    (``chart_link(iri)``), as :func:`build_summary` draws them."""
    words_lang = lang if lang in ("fr", "en") else "en"
    shown = set(summary.shown)
    children: dict[str | None, list[str]] = {}
    for unit in summary.shown:
        parent = summary.parent.get(unit)
        children.setdefault(parent if parent in shown else None, []).append(unit)

    def tree(parent: str | None, depth: int = 0) -> list[dict]:
        # the tree's depth is bounded by the budget; a cycle cannot occur (a unit has one drawn parent)
        return [{"iri": unit, "label": summary.labels.pick(unit, lang),
                 "branch": branch_text(summary, unit, words_lang), "chart_url": chart_link(unit),
                 "more": (more_text("units", summary.hidden_children[unit], words_lang)
                          if summary.hidden_children.get(unit) else ""),
                 "children": tree(unit, depth + 1) if depth < summary.budget else []}
                for unit in children.get(parent, [])]

    return {"tree": tree(None),
            "more_roots": more_text("units", summary.hidden_roots, words_lang) if summary.hidden_roots else ""}


@click.command("chart")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.option("--lang", type=click.Choice(["fr", "en"] + [x for x in LANGS if x not in ("fr", "en")]),
              default=DEFAULT_LANG, show_default=True, help="Language of the labels.")
@click.option("--format", "fmt", type=click.Choice(["svg", "dot"]), default="svg", show_default=True,
              help="svg: the drawn chart; dot: the Graphviz source.")
@click.option("--focus", default=None, help="IRI (or id:…) of a unit: draw only its part of the chart.")
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Store folder (default: $SSIKG_STORE, else var/store in the project, or ~/.local/share/ssikg/store for an installed wheel).")
def cli_command(output, lang, fmt, focus, store):
    """Draw the organisation chart (units, posts, reporting, assistance, advice, joint authority).

    Node links point at the entity pages under the public_base setting.
    """
    from .cli import _open_for_reading, _settings

    settings = _settings(store=store)
    graph_store = _open_for_reading(store, read_only=True)
    try:
        if focus is not None:
            focus = expand_prefixed(focus)
            data = load_focus(graph_store, focus, lang)  # one ASK first: nothing else for a non-unit
            if data is None:
                raise click.BadParameter(f"<{focus}> is not a unit of the organisation chart",
                                         param_hint="--focus")
        else:
            data = load_whole(graph_store, lang)
        if isinstance(data, Summary):
            chart_base = settings.public_base.rstrip("/") + "/org-chart?focus="
            chart = build_summary(data, lang, settings.public_base, lambda iri: chart_base + quote(iri, safe=""))
            counts = f"summary of {data.units} units, {data.posts} posts: {len(data.shown)} units drawn"
        else:
            chart = build_graph(data, lang, settings.public_base)
            counts = f"{len(data.units)} units, {len(data.unit_of)} posts"
        try:
            content = (chart.source.encode("utf-8") if fmt == "dot"
                       else render_svg(chart, settings["query_timeout"]))
        except graphviz.ExecutableNotFound:
            raise click.ClickException("Graphviz 'dot' is not installed (apt install graphviz)") from None
        except ChartError as error:
            raise click.ClickException(str(error)) from None
    finally:
        graph_store.close()
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(content)
        click.echo(f"wrote {output} ({len(content):,} bytes, {counts})", err=True)
