"""The organisation chart: an SVG drawn from the graph with Graphviz.

Units (organisations) are clusters, posts are nodes inside their unit's
cluster, and each kind of line has its own look, explained by a legend:
reporting (solid), assistance (dashed), advice (dotted), joint authority (a
hexagon joined by bold lines to the unit under it and to its holders),
sub-organisation and installation (thin grey).  Labels follow the chosen
language with a visible fallback; every node links to its entity page.

Also the ``ssikg chart`` command.  Reads the graph through
``GraphStore.query`` only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import graphviz

from .linked_data import DEFAULT_LANG, LANGS, Labels, href_for, local_path, select, values_block
from .namespaces import GRAPH, PREFIXES, SSIKG, expand_prefixed

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


@dataclass
class ChartData:
    unit_of: dict[str, str | None] = field(default_factory=dict)  # post -> unit
    units: set[str] = field(default_factory=set)
    edges: list[tuple[str, str, str, bool]] = field(default_factory=list)  # kind, from, to, derived
    joint: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # auth -> (subs, holders)
    labels: Labels = field(default_factory=Labels)


def load_chart(store, lang: str = DEFAULT_LANG) -> ChartData:
    data = ChartData()
    for row in select(store, """SELECT ?post ?unit WHERE { ?post a org:Post .
                                 OPTIONAL { ?post org:postIn ?unit } }"""):
        post, unit = row["post"].value, row["unit"].value if row["unit"] is not None else None
        if data.unit_of.get(post) is None:
            data.unit_of[post] = unit
        if unit:
            data.units.add(unit)
    kinds = {kind.predicate: kind.name for kind in EDGE_KINDS}
    # an edge found only in the derived graph is drawn lighter and says so
    rows = select(store, f"""SELECT ?s ?p ?o (MAX(IF(?g = <{GRAPH}derived>, 0, 1)) AS ?notDerived) WHERE {{
        {values_block('p', kinds)} GRAPH ?g {{ ?s ?p ?o }} FILTER(isIRI(?o)) }} GROUP BY ?s ?p ?o""")
    for row in rows:
        derived = row["notDerived"].value == "0"
        data.edges.append((kinds[row["p"].value], row["s"].value, row["o"].value, derived))
    for row in select(store, """SELECT ?a ?sub ?holder WHERE { ?a a ssikg:JointAuthority .
                                 OPTIONAL { ?a ssikg:subordinate ?sub }
                                 OPTIONAL { ?a ssikg:authorityHolder ?holder } }"""):
        subs, holders = data.joint.setdefault(row["a"].value, (set(), set()))
        if row["sub"] is not None:
            subs.add(row["sub"].value)
        if row["holder"] is not None:
            holders.add(row["holder"].value)
    # every organisation at an end of a line is a unit of its own
    for _kind, source, target, _derived in data.edges:
        for end in (source, target):
            if end not in data.unit_of:
                data.units.add(end)
    for subs, holders in data.joint.values():
        data.units.update(x for x in subs | holders if x not in data.unit_of)
    data.labels.load(store, list(data.units) + list(data.unit_of) + list(data.joint))
    return data


def _focus(data: ChartData, focus: str) -> ChartData:
    """The part of the chart around one unit: its posts, and every line touching them."""
    own = {focus} | {p for p, u in data.unit_of.items() if u == focus}
    edges = [e for e in data.edges if e[1] in own or e[2] in own]
    joint = {a: (s, h) for a, (s, h) in data.joint.items() if (s | h) & own}
    ends = own | {e[1] for e in edges} | {e[2] for e in edges}
    for subs, holders in joint.values():
        ends |= subs | holders
    unit_of = {p: u for p, u in data.unit_of.items() if p in ends}
    units = {u for u in data.units if u in ends} | {u for u in unit_of.values() if u}
    return ChartData(unit_of=unit_of, units=units, edges=edges, joint=joint, labels=data.labels)


def _node_ids(data: ChartData) -> dict[str, str]:
    ids: dict[str, str] = {}
    for iri in sorted(data.units) + sorted(data.unit_of) + sorted(data.joint):
        ids.setdefault(iri, f"n{len(ids)}")
    return ids


def build_graph(data: ChartData, lang: str, link_base: str, focus: str | None = None,
                link_query: str = "") -> graphviz.Digraph:
    """The chart; ``link_query`` (e.g. ``?lang=en``) is added to links to the dataset's pages,
    as the page around the chart adds it to its own links."""
    if focus:
        data = _focus(data, focus)
    ids = _node_ids(data)
    words_lang = lang if lang in ("fr", "en") else "en"

    def href(iri: str) -> str:
        # an IRI that may not be a link (javascript:…) gets an inert one: Graphviz wants a URL
        return (href_for(iri, link_base) or "#") + (link_query if local_path(iri) is not None else "")

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
                         URL=href(unit), target="_top", tooltip=label(unit),
                         id=f"unit-{ids[unit]}", **{"class": "unit"})
            cluster.node(ids[unit], label=_wrap(label(unit)), shape="folder", fillcolor="#dbe4f3",
                         URL=href(unit), tooltip=label(unit), fontsize="11",
                         id=ids[unit], **{"class": "unit-node"})
            for post in sorted(p for p, u in data.unit_of.items() if u == unit):
                cluster.node(ids[post], label=_wrap(label(post)), URL=href(post),
                             tooltip=label(post), id=ids[post], **{"class": "post"})
                # keeps the unit's own box above its posts (rankdir is bottom-to-top)
                cluster.edge(ids[post], ids[unit], style="invis", weight="2")
    for post in sorted(p for p, u in data.unit_of.items() if not u):
        chart.node(ids[post], label=_wrap(label(post)), URL=href(post),
                   tooltip=label(post), id=ids[post], **{"class": "post"})
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
        chart.edge(ids[source], ids[target], tooltip=f"{label(source)} — {words} — {label(target)}",
                   **style, **{"class": f"edge-{kind.name}" + (" derived" if derived else "")})
    for authority, (subs, holders) in sorted(data.joint.items()):
        chart.node(ids[authority], label=_wrap(label(authority)), shape="hexagon",
                   style="filled,bold", fillcolor="#fbe3e7", color=JOINT_STYLE["color"],
                   URL=href(authority), tooltip=label(authority), id=ids[authority],
                   **{"class": "joint-authority"})
        for sub in sorted(subs):
            if sub in ids:
                chart.edge(ids[sub], ids[authority], tooltip=f"{label(sub)} — {JOINT_WORDS[words_lang]}",
                           **{**JOINT_STYLE, "arrowhead": "none"}, **{"class": "edge-joint"})
        for holder in sorted(holders):
            if holder in ids:
                chart.edge(ids[authority], ids[holder],
                           tooltip=f"{JOINT_WORDS[words_lang]} — {label(holder)}",
                           **JOINT_STYLE, **{"class": "edge-joint"})
    _legend(chart, words_lang, data)
    return chart


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


def render_svg(store, lang: str = DEFAULT_LANG, link_base: str = "", focus: str | None = None) -> bytes:
    """The chart as SVG bytes (Graphviz ``dot``)."""
    data = load_chart(store, lang)
    return build_graph(data, lang, link_base, focus).pipe(format="svg")


def inline_svg(svg: bytes) -> str:
    """The SVG element alone, for embedding in an HTML page."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


@click.command("chart")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.option("--lang", type=click.Choice(["fr", "en"] + [x for x in LANGS if x not in ("fr", "en")]),
              default=DEFAULT_LANG, show_default=True, help="Language of the labels.")
@click.option("--format", "fmt", type=click.Choice(["svg", "dot"]), default="svg", show_default=True,
              help="svg: the drawn chart; dot: the Graphviz source.")
@click.option("--focus", default=None, help="IRI (or id:…) of a unit: draw only its part of the chart.")
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Store folder (default: var/store in the project, or $SSIKG_STORE).")
def cli_command(output, lang, fmt, focus, store):
    """Draw the organisation chart (units, posts, reporting, assistance, advice, joint authority).

    Node links point at the entity pages under the public_base setting.
    """
    from .cli import _open_for_reading, _settings

    settings = _settings(store=store)
    graph_store = _open_for_reading(store, read_only=True)
    try:
        data = load_chart(graph_store, lang)
        if focus is not None:
            focus = expand_prefixed(focus)
            if focus not in data.units:
                raise click.BadParameter(f"<{focus}> is not a unit of the organisation chart",
                                         param_hint="--focus")
            data = _focus(data, focus)  # what is drawn, and so what the summary counts
        chart = build_graph(data, lang, settings.public_base)
        try:
            content = chart.source.encode("utf-8") if fmt == "dot" else chart.pipe(format="svg")
        except graphviz.ExecutableNotFound:
            raise click.ClickException("Graphviz 'dot' is not installed (apt install graphviz)") from None
    finally:
        graph_store.close()
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(content)
        click.echo(f"wrote {output} ({len(content):,} bytes, {len(data.units)} units, "
                   f"{len(data.unit_of)} posts)", err=True)
