"""grlc compatibility of the stored queries (https://github.com/CLARIAH/grlc).

A query file written for grlc works when dropped into ``queries/``:

* its decorators are read and honoured: ``summary``, ``description``, ``tags``,
  ``pagination`` (with grlc's ``page``), ``method: POST`` (form parameters),
  ``defaults`` and ``enumerate`` (values computed from the data, published in
  the OpenAPI enum, checked on requests, recomputed when the store changes);
* ``endpoint``, ``endpoint_in_url`` and ``transform`` are refused by
  ``ssikg queries check`` with file, line and the reason (no SSRF);
* grlc's parameter variables (``?_name``, ``?__name``, ``_iri``, ``_number``,
  ``_integer``, XSD datatypes, ``_prefix_datatype``, ``_fr`` …) become typed
  parameters bound as RDF terms by a VALUES block, a value not valid for its
  type refused naming the parameter; an absent optional one leaves its variable
  unbound; a suffix grlc would bind uselessly is a problem saying why;
* ``ssikg queries run`` refuses a value outside an enumeration as the API does;
* a grlc INSERT file is refused as an update, pointing to /sparql;
* the project's own grlc-style query (``organisations-by-kind``) runs with them;
* ``/api/swagger`` serves the vendored Swagger UI, which in headless Chromium
  lists the operations and runs one ("Try it out" → "Execute") with no request
  leaving the server and no console error.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import LiveServer, chromium, close_app, run_cli

from ssikg.app import create_app
from ssikg.settings import PROJECT_ROOT
from ssikg.stored_queries import ParamError, QueryFileError, check_dir, grlc_param, load_all

ID = "https://w3id.org/ssikg/id/"
CONCEPT = ID + "concept/"
XSD = "http://www.w3.org/2001/XMLSchema#"
STATED = "https://w3id.org/ssikg/graph/stated"
# The units the stated graph places posts in (org:postIn), and the posts of ssi-be.
UNITS_WITH_POSTS = sorted(ID + u for u in ("ssi-be", "ministere-interieur", "ambassade-fr-be",
                                           "police-nationale", "gendarmerie-nationale"))
SSI_BE_POSTS = 3
ALL_POSTS = 7

# Files as a grlc user writes them: no title_fr, no params list, grlc's decorators.
GRLC_FILES = {
    "posts-in.rq": """\
        #+ summary: Posts of a unit
        #+ description: The posts placed in a unit (org:postIn).
        #+ tags:
        #+   - posts
        #+ method: POST
        #+ pagination: 2
        #+ enumerate:
        #+   - unit

        PREFIX org: <http://www.w3.org/ns/org#>
        SELECT ?post WHERE {
          GRAPH <https://w3id.org/ssikg/graph/stated> { ?post org:postIn ?_unit_iri }
        }
        ORDER BY ?post
        """,
    "posts-maybe-in.rq": """\
        #+ summary: Posts, in a unit if one is given
        PREFIX org: <http://www.w3.org/ns/org#>
        SELECT ?post WHERE {
          GRAPH <https://w3id.org/ssikg/graph/stated> { ?post org:postIn ?__unit_iri }
        }
        """,
    "typed.rq": """\
        #+ summary: Typed grlc parameters
        #+ defaults:
        #+   - count: 7
        SELECT ?text ?label ?count ?day ?thing WHERE {
          BIND(?_text AS ?text)
          BIND(?__label_fr AS ?label)
          BIND(?__count_xsd_integer AS ?count)
          BIND(?__day_xsd_date AS ?day)
          BIND(?__thing_iri AS ?thing)
        }
        """,
    "more-types.rq": """\
        #+ summary: grlc's other types
        PREFIX geo: <http://www.opengis.net/ont/geosparql#>
        SELECT ?size ?amount ?flag ?moment ?year ?small ?hour ?shape ?label WHERE {
          BIND(?__size_number AS ?size)
          BIND(?__amount_decimal AS ?amount)
          BIND(?__flag_xsd_boolean AS ?flag)
          BIND(?__moment_dateTime AS ?moment)
          BIND(?__year_gYear AS ?year)
          BIND(?__small_unsignedByte AS ?small)
          BIND(?__hour_xsd_time AS ?hour)
          BIND(?__shape_geo_wktLiteral AS ?shape)
          BIND(?__label_deu AS ?label)
        }
        """,
}


def write_queries(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def grlc_source(tmp_path_factory) -> Path:
    """A project folder whose queries/ holds only the grlc files."""
    source = tmp_path_factory.mktemp("grlc-source")
    write_queries(source / "queries", GRLC_FILES)
    return source


@pytest.fixture(scope="module")
def grlc_server(built_store, grlc_source, tmp_path_factory):
    target = tmp_path_factory.mktemp("grlc-store") / "store"
    shutil.copytree(built_store.resolve(), target)
    app = create_app({"store": target, "auto_build": False, "source_dir": grlc_source})
    app.config["TESTING"] = True
    with LiveServer(app) as server:
        yield server
    close_app(app)


def get(server, name: str, params=None, suffix: str = "", **kwargs) -> requests.Response:
    return requests.get(f"{server.url}/api/queries/{name}{suffix}", params=params, timeout=60,
                        **kwargs)


def column(response: requests.Response, name: str) -> list:
    assert response.status_code == 200, response.text
    body = response.json()
    index = body["columns"].index(name)
    return [row[index] for row in body["rows"]]


def assert_bad(response: requests.Response, parameter: str, says: str = "") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter and says in body["message"], body


# ---------------------------------------------------------------------------
# Decorators and conventions, as read from the files


def test_a_grlc_file_is_read_with_its_decorators(grlc_source):
    queries, problems = check_dir(grlc_source / "queries")
    assert not [p for p in problems if p.severity == "error"], problems
    assert sorted(queries) == ["more-types", "posts-in", "posts-maybe-in", "typed"]
    posts = queries["posts-in"]
    assert (posts.title, posts.description, posts.tags) == (
        "Posts of a unit", "The posts placed in a unit (org:postIn).", ("posts",))
    assert (posts.paginated, posts.page_size, posts.grlc_pages, posts.methods) == (
        True, 2, True, ("GET", "POST"))
    (unit,) = posts.params
    assert (unit.name, unit.variable, unit.type, unit.required, unit.from_data) == (
        "unit", "_unit_iri", "iri", True, True)
    typed = {p.name: p for p in queries["typed"].params}
    assert {n: (p.type, p.lang, p.required, p.default) for n, p in typed.items()} == {
        "text": ("string", None, True, None), "label": ("string", "fr", False, None),
        "count": ("integer", None, False, "7"),  # grlc's defaults: optional, with its default
        "day": ("date", None, False, None), "thing": ("iri", None, False, None)}
    assert queries["posts-maybe-in"].params[0].required is False
    assert queries["typed"].methods == ("GET",)


def test_grlc_variables_bind_as_typed_rdf_terms(grlc_server):
    hostile = '"} UNION { ?s ?p ?o } #'
    response = get(grlc_server, "typed", {"text": hostile, "label": "voiture", "day": "2024-02-08",
                                          "thing": "id:ssi-be"}, suffix=".srj")
    assert response.status_code == 200, response.text
    (row,) = response.json()["results"]["bindings"]
    assert row["text"] == {"type": "literal", "value": hostile}  # one literal, never query text
    assert row["label"] == {"type": "literal", "value": "voiture", "xml:lang": "fr"}
    assert row["count"] == {"type": "literal", "value": "7", "datatype": XSD + "integer"}  # default
    assert row["day"] == {"type": "literal", "value": "2024-02-08", "datatype": XSD + "date"}
    assert row["thing"] == {"type": "uri", "value": ID + "ssi-be"}
    bare = get(grlc_server, "typed", {"text": "x", "count": "12"}).json()
    assert bare["rows"] == [["x", None, 12, None, None]]  # absent optional ones stay unbound
    assert_bad(get(grlc_server, "typed"), "text", "missing required parameter")
    assert_bad(get(grlc_server, "typed", {"text": "x", "day": "2024-13-45"}), "day", "date")
    assert_bad(get(grlc_server, "typed", {"text": "x", "count": "seven"}), "count", "integer")
    assert_bad(get(grlc_server, "typed", {"text": "x", "thing": "not an iri"}), "thing", "IRI")
    assert_bad(get(grlc_server, "typed", {"text": "x", "_text": "y"}), "_text", "unknown")


GEO = "http://www.opengis.net/ont/geosparql#"


def test_grlc_number_datatype_and_language_suffixes_bind_as_rdf_terms(grlc_server):
    """Each value is bound as the literal grlc would write into the query (the engine then
    reads it as it reads that literal: Oxigraph answers 255 as an xsd:integer), never as text."""
    hostile = 'POINT(1 2)"^^<x> } UNION { ?s ?p ?o } #'

    def typed(value, datatype):
        return ox.Literal(value, datatype=ox.NamedNode(datatype))

    terms = {"size": typed("2.5e3", XSD + "double"), "amount": typed("-1.50", XSD + "decimal"),
             "flag": typed("true", XSD + "boolean"),
             "moment": typed("2024-02-29T10:00:00Z", XSD + "dateTime"),
             "year": typed("2024", XSD + "gYear"), "small": typed("255", XSD + "unsignedByte"),
             "hour": typed("24:00:00", XSD + "time"), "shape": typed(hostile, GEO + "wktLiteral"),
             "label": ox.Literal("Haus", language="deu")}
    response = get(grlc_server, "more-types", {name: term.value for name, term in terms.items()},
                   suffix=".srj")
    assert response.status_code == 200, response.text
    written = "SELECT * WHERE { " + " ".join(f"BIND({t} AS ?{n})" for n, t in terms.items()) + " }"
    expected = json.loads(ox.Store().query(written).serialize(format=ox.QueryResultsFormat.JSON))
    assert response.json()["results"] == expected["results"]
    (row,) = response.json()["results"]["bindings"]
    assert row["shape"] == {"type": "literal", "value": hostile, "datatype": GEO + "wktLiteral"}
    assert row["amount"]["datatype"] == XSD + "decimal" and row["size"]["datatype"] == XSD + "double"
    for name, value, says in (("size", "1 } UNION { ?s ?p ?o", "a number as SPARQL writes one"),
                              ("size", "1.", "number"), ("amount", "1,5", "xsd:decimal"),
                              ("flag", "yes", "xsd:boolean"),
                              ("moment", "2023-02-29T10:00:00", "a day that exists"),
                              ("year", "24", "xsd:gYear"), ("small", "256", "from 0 to 255"),
                              ("hour", "25:00:00", "xsd:time")):
        assert_bad(get(grlc_server, "more-types", {name: value}), name, says)


@pytest.mark.parametrize("variable, value, term", [
    ("_n_number", "12", ox.Literal("12", datatype=ox.NamedNode(XSD + "integer"))),
    ("_n_number", "-.5", ox.Literal("-.5", datatype=ox.NamedNode(XSD + "decimal"))),
    ("_n_number", "1E-3", ox.Literal("1E-3", datatype=ox.NamedNode(XSD + "double"))),
    ("_t_EN", "x", ox.Literal("x", language="en")),
    ("_d_xsd_dayTimeDuration", "P1DT2H", ox.Literal("P1DT2H", datatype=ox.NamedNode(XSD + "dayTimeDuration"))),
    ("_h_hexBinary", "0fA0", ox.Literal("0fA0", datatype=ox.NamedNode(XSD + "hexBinary"))),
    ("_k_token", "a b", ox.Literal("a b", datatype=ox.NamedNode(XSD + "token"))),
    ("_l_language", "fr-BE", ox.Literal("fr-BE", datatype=ox.NamedNode(XSD + "language"))),
    ("_m_gMonthDay", "--02-29", ox.Literal("--02-29", datatype=ox.NamedNode(XSD + "gMonthDay"))),
    ("_i_long", "-9223372036854775808", ox.Literal("-9223372036854775808", datatype=ox.NamedNode(XSD + "long"))),
])
def test_each_grlc_suffix_converts_to_its_rdf_term(variable, value, term):
    assert grlc_param(variable).convert(value) == term


@pytest.mark.parametrize("variable, value", [
    ("_n_number", "0x10"), ("_n_number", "1e"), ("_n_number", "NaN"), ("_f_float", "1.5f"),
    ("_d_duration", "P"), ("_d_duration", "P1YT"), ("_h_hexBinary", "abc"),
    ("_b_base64Binary", "abc"), ("_k_token", " a"), ("_k_token", "a  b"), ("_l_language", "fr_BE"),
    ("_c_NCName", "a:b"), ("_u_anyURI", "a b"), ("_p_positiveInteger", "0"),
    ("_i_int", "2147483648"), ("_m_gMonthDay", "--02-30"), ("_y_gYearMonth", "2024-13"),
])
def test_a_value_not_valid_for_its_grlc_type_is_refused_naming_the_parameter(variable, value):
    param = grlc_param(variable)
    with pytest.raises(ParamError) as refused:
        param.convert(value)
    assert refused.value.parameter == param.name and f"'{param.name}'" in refused.value.message


def test_the_openapi_document_publishes_each_grlc_types_rule(grlc_server):
    from openapi_spec_validator import validate

    document = requests.get(grlc_server.url + "/api/openapi.json", timeout=60).json()
    validate(document)
    schemas = {p["name"]: p["schema"] for p in
               document["paths"]["/api/queries/more-types"]["get"]["parameters"]}
    assert schemas["small"] == {"type": "integer", "minimum": 0, "maximum": 255}
    for name, good, bad in (("size", "2.5e3", "1."), ("amount", "-1.50", "1,5"),
                            ("moment", "2024-02-29T10:00:00Z", "2024-02-29 10:00")):
        pattern = re.compile(schemas[name]["pattern"])
        assert pattern.search(good) and not pattern.search(bad), (name, pattern.pattern)


def test_an_absent_optional_parameter_leaves_its_variable_unbound(grlc_server):
    assert len(column(get(grlc_server, "posts-maybe-in"), "post")) == ALL_POSTS
    assert len(column(get(grlc_server, "posts-maybe-in", {"unit": "id:ssi-be"}), "post")) == SSI_BE_POSTS


def test_pagination_pages_by_its_size_and_grlc_page_numbers(grlc_server):
    whole = column(get(grlc_server, "posts-in", {"unit": "id:ssi-be", "limit": "1000"}), "post")
    assert len(whole) == SSI_BE_POSTS
    first = get(grlc_server, "posts-in", {"unit": "id:ssi-be"})
    assert column(first, "post") == whole[:2]  # pagination: 2
    assert 'rel="next"' in first.headers["Link"]
    second = get(grlc_server, "posts-in", {"unit": "id:ssi-be", "page": "2"})
    assert column(second, "post") == whole[2:] and 'rel="next"' not in second.headers["Link"]
    following = requests.get(grlc_server.url + first.json()["next_url"], timeout=60)
    assert column(following, "post") == whole[2:]
    assert_bad(get(grlc_server, "posts-in", {"unit": "id:ssi-be", "page": "0"}), "page")
    assert_bad(get(grlc_server, "posts-maybe-in", {"page": "2"}), "page", "unknown")


def test_method_post_answers_form_parameters(grlc_server):
    url = f"{grlc_server.url}/api/queries/posts-in"
    by_get = column(get(grlc_server, "posts-in", {"unit": ID + "ssi-be"}), "post")
    posted = requests.post(url, data={"unit": ID + "ssi-be"}, timeout=60)
    assert column(posted, "post") == by_get and posted.headers["Cache-Control"] == "no-store"
    assert column(requests.post(url + ".json?page=2", data={"unit": ID + "ssi-be"}, timeout=60),
                  "post") == column(get(grlc_server, "posts-in", {"unit": ID + "ssi-be", "page": "2"}), "post")
    assert "POST" in requests.options(url, timeout=60).headers["Allow"]
    assert_bad(requests.post(url, data={"unit": ID + "dcis"}, timeout=60), "unit")
    assert_bad(requests.post(url, data=b"unit=%ff", timeout=60,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}), "unit", "UTF-8")
    assert requests.post(url, json={"unit": ID + "ssi-be"}, timeout=60).status_code == 415
    refused = requests.post(f"{grlc_server.url}/api/queries/typed", data={"text": "x"}, timeout=60)
    assert refused.status_code == 405 and "POST" not in refused.headers["Allow"]
    assert "POST" not in requests.options(f"{grlc_server.url}/api/queries/typed", timeout=60).headers["Allow"]


def test_enumerate_offers_the_values_the_data_holds(grlc_server):
    document = requests.get(grlc_server.url + "/api/openapi.json", timeout=60).json()
    item = document["paths"]["/api/queries/posts-in"]
    assert set(item) == {"get", "post"}
    (unit,) = [p for p in item["get"]["parameters"] if p["name"] == "unit"]
    assert unit["schema"]["enum"] == UNITS_WITH_POSTS
    form = item["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["unit"]["enum"] == UNITS_WITH_POSTS and form["required"] == ["unit"]
    assert_bad(get(grlc_server, "posts-in", {"unit": "id:dcis"}), "unit", "values the data holds")
    assert column(get(grlc_server, "posts-in", {"unit": "id:police-nationale"}), "post") == [
        ID + "post-dg-pn"]
    page = requests.get(f"{grlc_server.url}/queries/posts-in", timeout=60)
    assert all(f'<option value="{u}"' in page.text for u in UNITS_WITH_POSTS)


def test_cli_run_refuses_a_value_outside_the_enumeration_as_the_api_does(grlc_source, built_store):
    def run(value):
        return run_cli("queries", "run", "posts-in", "--dir", str(grlc_source / "queries"),
                       "--store", str(built_store), "--format", "csv", "-p", f"unit={value}")

    refused = run("id:dcis")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "parameter 'unit' must be one of the values the data holds" in refused.stderr
    assert ID + "ambassade-fr-be" in refused.stderr and "got 'id:dcis'" in refused.stderr
    assert refused.stdout == ""  # the query never ran
    allowed = run("id:police-nationale")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["post", ID + "post-dg-pn"]


def test_enumerations_follow_the_store_version(make_app, serve_app, grlc_source):
    import pyoxigraph as ox

    app = make_app(source_dir=grlc_source)
    server = serve_app(app)
    assert_bad(get(server, "posts-in", {"unit": "id:dcis"}), "unit")  # computed, remembered
    post, org = ox.NamedNode(ID + "post-added"), "http://www.w3.org/ns/org#"
    app.extensions["ssikg.store"].add_triples(STATED, [
        ox.Triple(post, ox.NamedNode(org + "postIn"), ox.NamedNode(ID + "dcis"))])
    assert column(get(server, "posts-in", {"unit": "id:dcis"}), "post") == [ID + "post-added"]
    document = requests.get(server.url + "/api/openapi.json", timeout=60).json()
    (unit,) = [p for p in document["paths"]["/api/queries/posts-in"]["get"]["parameters"]
               if p["name"] == "unit"]
    assert unit["schema"]["enum"] == sorted([*UNITS_WITH_POSTS, ID + "dcis"])


# ---------------------------------------------------------------------------
# What is refused


REFUSED = {
    "endpoint.rq": """\
        #+ summary: Elsewhere
        #+ endpoint: http://169.254.169.254/sparql
        SELECT * WHERE { ?s ?p ?o } LIMIT 1
        """,
    "endpoint-in-url.rq": """\
        #+ summary: Caller's endpoint
        #+ tags:
        #+   - x
        #+ endpoint_in_url: true
        SELECT * WHERE { ?s ?p ?o } LIMIT 1
        """,
    "transform.rq": """\
        #+ summary: Reshaped
        #+ transform: {"id": "?s"}
        SELECT * WHERE { ?s ?p ?o } LIMIT 1
        """,
    "suffix.rq": """\
        #+ summary: Money
        SELECT ?s WHERE {
          ?s ?p ?_amount_money
        }
        """,
    "unsuitable.rq": """\
        #+ summary: A QName
        SELECT ?s WHERE { ?s ?p ?_name_QName }
        """,
    "not-xsd.rq": """\
        #+ summary: A moment
        SELECT ?s WHERE { ?s ?p ?_when_xsd_moment }
        """,
    "no-prefix.rq": """\
        #+ summary: A shape
        SELECT ?s WHERE { ?s ?p ?_where_geo_wktLiteral }
        """,
    "malformed.rq": """\
        #+ summary: Underscores
        SELECT ?s WHERE { ?s ?p ?_a_b_c_d }
        """,
    "method.rq": """\
        #+ summary: Put
        #+ method: PUT
        SELECT * WHERE { ?s ?p ?o } LIMIT 1
        """,
    "enumerate.rq": """\
        #+ summary: Nothing to enumerate
        #+ enumerate:
        #+   - nobody
        SELECT ?s WHERE { ?s ?p ?_who_iri }
        """,
}
REFUSED_MESSAGES = [
    r"queries/endpoint\.rq:2: grlc's 'endpoint' is not honoured: .*own store.*SSRF",
    r"queries/endpoint-in-url\.rq:4: grlc's 'endpoint_in_url' is not honoured: .*SSRF",
    r"queries/transform\.rq:2: grlc's 'transform' is not honoured: .*SPARQL-Transformer",
    r"queries/suffix\.rq:3: \?_amount_money: type suffix '_money' is not supported: .*@money.*"
    r"write _xsd_money",
    r"queries/unsuitable\.rq:2: \?_name_QName: xsd:QName is refused: .*RDF 1\.1 Concepts",
    r"queries/not-xsd\.rq:2: \?_when_xsd_moment: xsd:moment is not an XSD datatype",
    r"queries/no-prefix\.rq:2: \?_where_geo_wktLiteral: .*geo:wktLiteral, but the query "
    r"declares no PREFIX geo:",
    r"queries/malformed\.rq:2: \?_a_b_c_d starts with '_', grlc's mark of a parameter",
    r"queries/method\.rq:2: 'method' must be GET or POST",
    r"queries/enumerate\.rq:2: enumerate: no parameter named 'nobody' \(parameters: who",
]


def test_refused_decorators_and_unknown_suffixes_are_reported_with_file_and_line(tmp_path):
    folder = write_queries(tmp_path / "queries", REFUSED)
    result = run_cli("queries", "check", "--dir", str(folder), cwd=tmp_path,
                     env={"PYTHONPATH": str(PROJECT_ROOT)})
    assert result.returncode == 1
    for expected in REFUSED_MESSAGES:
        assert re.search(expected, result.stderr), (expected, result.stderr)
    assert f"{len(REFUSED)} error(s)" in result.stderr
    with pytest.raises(QueryFileError):
        load_all(folder)


def test_a_grlc_insert_query_is_refused_as_an_update_pointing_to_sparql(tmp_path):
    """grlc serves INSERT DATA files; here a stored query only reads: one clear error, not a
    syntax error nor warnings about its parameters."""
    folder = write_queries(tmp_path / "queries", {"insert.rq": """\
        #+ summary: Add a statement
        PREFIX ex: <http://example.org/>
        INSERT DATA { GRAPH ?_g_iri { ex:a ex:b ?_data } }
        """})
    _queries, problems = check_dir(folder)
    (problem,) = [p for p in problems]
    assert (problem.severity, problem.line) == ("error", 3), problem
    assert problem.message.startswith("this is a SPARQL update (INSERT …), not a query: stored "
                                      "queries only read"), problem.message
    assert "grlc's INSERT queries" in problem.message
    assert "/sparql" in problem.message and "update token" in problem.message


def test_defaults_and_enumerate_report_their_items_alike(tmp_path):
    """One reader of grlc's '- name: value' lists: a name no parameter has is said the same way."""
    folder = write_queries(tmp_path / "queries", {"items.rq": """\
        #+ summary: Items
        #+ defaults:
        #+   - nobody: 3
        #+   - who: [1, 2]
        #+ enumerate:
        #+   - nobody
        #+   - who: {a: b}
        SELECT ?s WHERE { ?s ?p ?_who_iri }
        """})
    _queries, problems = check_dir(folder)
    messages = [f"{p.line}: {p.message}" for p in problems if p.severity == "error"]
    hint = "(parameters: who; grlc names them without ?_ and type suffix)"
    assert messages == [f"2: defaults: no parameter named 'nobody' {hint}",
                        "2: defaults: the default of 'who' must be text or a number",
                        f"5: enumerate: no parameter named 'nobody' {hint}",
                        "5: enumerate: 'who' must list its values, and only IRI and string parameters can list them"]


# ---------------------------------------------------------------------------
# The project's own grlc-style query


def test_the_projects_grlc_style_query_runs_with_its_conventions(live_server):
    def organisations(**params):
        return column(get(live_server, "organisations-by-kind", params), "organisation")

    document = requests.get(live_server.url + "/api/openapi.json", timeout=60).json()
    (kind,) = [p for p in document["paths"]["/api/queries/organisations-by-kind"]["get"]["parameters"]
               if p["name"] == "kind"]
    assert {CONCEPT + "type-direction", CONCEPT + "type-direction-generale",
            CONCEPT + "type-ssi"} <= set(kind["schema"]["enum"])
    assert kind["schema"]["default"] == CONCEPT + "type-direction-generale" and not kind["required"]
    assert len(organisations()) == 3  # the default kind: three directorates-general
    directions = organisations(kind="concept:type-direction")  # and the narrower kinds
    assert ID + "dcis" in directions and len(directions) == 4
    assert organisations(kind="concept:type-direction", page="2", limit="3") == directions[3:]
    assert_bad(get(live_server, "organisations-by-kind", {"kind": "id:ssi-be"}), "kind")


# ---------------------------------------------------------------------------
# Swagger UI


SWAGGER = PROJECT_ROOT / "ssikg" / "static" / "vendor" / "swagger-ui"


def test_swagger_ui_is_vendored_and_served_without_inline_script(live_server):
    assert (SWAGGER / "VERSION").read_text().startswith("swagger-ui-dist 5.35.0\n")
    assert {p.name for p in SWAGGER.iterdir()} == {
        "swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "VERSION",
        "swagger-ui-bundle.js.LICENSE.txt"}
    page = requests.get(live_server.url + "/api/swagger", timeout=60)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all("src=" in attributes for attributes in scripts)  # nothing inline
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+)"', page.text):
        assert requests.get(live_server.url + src, timeout=60).status_code == 200, src
    assert "validatorUrl: null" in (PROJECT_ROOT / "ssikg" / "static" / "swagger-init.js").read_text()
    docs = requests.get(live_server.url + "/api/docs", timeout=60)
    assert docs.status_code == 200 and 'href="/api/swagger"' in docs.text


@pytest.mark.browser
def test_swagger_ui_lists_the_operations_and_executes_one(live_server):
    requested: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live_server.url + "/api/swagger")
        page.wait_for_selector(".opblock")
        # Swagger UI renders the operations in view only: the first ones, on arrival
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert paths[:2] == ["/api/queries", "/api/queries/cq01-hosted-service-name"], paths
        # scrolled down to (the analyst tag's copy of) the grlc-style query, it opens
        block = page.locator("#operations-analyst-query_organisations_by_kind")
        for _ in range(200):
            if block.count():
                break
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(50)
        block.scroll_into_view_if_needed()
        block.locator(".opblock-summary").click()
        block.locator("button.try-out__btn").click()
        block.locator("button.execute").click()
        status = block.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for()
        assert status.inner_text().strip() == "200"
        body = block.locator(".live-responses-table tbody .response-col_description").first.inner_text()
        assert "direction générale de la sécurité civile" in body
    assert not errors, errors
    assert all(re.match(r"http://127\.0\.0\.1:\d+/", url) for url in requested), requested


def test_a_default_the_data_no_longer_holds_stays_a_choice(make_app, serve_app):
    """organisations-by-kind defaults to directorates-general; once no organisation has that kind
    the enumeration left it out: the form's first view was a 400 and the OpenAPI document invalid."""
    from openapi_spec_validator import validate

    server = serve_app(make_app(update_token="t0ken"))
    dropped = requests.post(f"{server.url}/update", timeout=60, headers={
        "Content-Type": "application/sparql-update", "Authorization": "Bearer t0ken"}, data=(
        "DELETE WHERE { GRAPH ?g { ?o <http://www.w3.org/ns/org#classification> "
        "<https://w3id.org/ssikg/id/concept/type-direction-generale> } }"))
    assert dropped.status_code == 204, dropped.text
    page = requests.get(f"{server.url}/queries/organisations-by-kind", timeout=60)
    assert page.status_code == 200, page.text[:300]
    answer = requests.get(f"{server.url}/api/queries/organisations-by-kind.json", timeout=60)
    assert answer.status_code == 200 and answer.json()["rows"] == []
    validate(requests.get(f"{server.url}/api/openapi.json", timeout=60).json())


def test_the_form_gives_every_grlc_type_an_input_type_browsers_know(grlc_server):
    """Numbers and other datatypes are typed in as text (their lexical forms are wider than
    an HTML number field's); an empty ``type=""`` would be flagged by an HTML checker."""
    page = requests.get(f"{grlc_server.url}/api/queries/more-types", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200
    types = dict(re.findall(r'<input id="[^"]*" name="([a-z]+)" class="param-input"\s+type="([^"]*)"', page.text))
    assert set(types) == {"size", "amount", "flag", "moment", "year", "small", "hour", "shape", "label"}
    assert set(types.values()) == {"text"}
