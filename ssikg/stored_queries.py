"""Stored queries: the ``queries/*.rq`` files, their metadata headers, and safe typed binding.

A stored query is a SPARQL file whose leading ``#+`` lines hold a YAML header
(grlc's decorator style)::

    #+ title: Posts of an organisation
    #+ title_fr: Postes d'une organisation
    #+ description: ...
    #+ tags: [analyst]
    #+ paginated: true
    #+ params:
    #+   - name: organisation        # binds ?organisation
    #+     type: iri                 # iri | string | integer | date | enum
    #+     example: https://w3id.org/ssikg/id/ssi-be
    #+     required: true

grlc's own decorators and conventions are read too, so that a grlc query file
(https://github.com/CLARIAH/grlc) works as it is: ``summary`` (the title when
there is no ``title``), ``description``, ``tags``, ``pagination: N`` (paginated,
page size N; grlc's ``page`` parameter is taken as well), ``method: GET|POST``
(POST answers form parameters as well as GET), ``defaults`` (a list of
``- name: value``) and ``enumerate`` (parameters whose allowed values are
listed in the file, or computed from the data: :func:`enumeration_query`, run
by :func:`enumerations` for the API and ``ssikg queries run`` alike).
Without a ``params`` list, the query's variables named as grlc names them
declare the parameters: ``?_name`` (required), ``?__name`` (optional, unbound
when absent), with grlc's type suffixes: ``_iri``, ``_number``, ``_integer``,
XSD datatypes (``_decimal``, ``_xsd_time``), ``_prefix_datatype`` and
languages (``_en``) (:func:`grlc_param`; XSD lexical forms are checked by
:data:`XSD_PATTERNS`); those variables are bound by a VALUES block, as grlc
never projects them.  ``endpoint``, ``endpoint_in_url`` and ``transform`` are
refused: ssikg answers from its own store, and a query-chosen endpoint would
make the server fetch any URL (SSRF); so is an update (grlc's INSERT files):
stored queries only read.

This module owns reading and checking those files (every problem is reported
with its file and line), converting request values to typed RDF terms
(:meth:`Param.convert`), and the two safe ways to bind them: pyoxigraph
``substitutions`` (what :meth:`GraphStore.query` takes) and a ``VALUES`` block
at the start of the WHERE group (:func:`with_values`, for backends without
substitutions; the block is :func:`ssikg.remote_store.values_block`, each term
written by pyoxigraph).  Parameter values are never pasted into query text.
It also exposes the ``ssikg queries`` command (``check``, ``list`` and ``run``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
import pyoxigraph as ox
import yaml

from .namespaces import expand_prefixed
from .sparql_lexer import Token, closing_brace, declared_prefixes, iter_tokens, tokenize

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_DATE = ox.NamedNode(XSD + "date")
XSD_INTEGER = ox.NamedNode(XSD + "integer")

PARAM_TYPES = ("iri", "string", "integer", "date", "enum")
HEADER_KEYS = {"title", "title_fr", "description", "description_fr", "tags", "competency", "params",
               "paginated", "page_size",
               # grlc's decorators that ssikg honours
               "summary", "pagination", "method", "defaults", "enumerate"}
# grlc decorators ssikg refuses, and why (reported by 'ssikg queries check' as errors).
REFUSED_KEYS = {
    "endpoint": "ssikg answers every stored query from its own store; a query-chosen SPARQL "
                "endpoint would make the server send requests to any URL (SSRF). Remove the line",
    "endpoint_in_url": "ssikg takes no 'endpoint' request parameter: it answers from its own "
                       "store, and a caller-chosen endpoint would make the server send requests "
                       "to any URL (SSRF). Remove the line",
    "transform": "grlc's SPARQL-Transformer JSON reshaping is not supported; ssikg answers in "
                 "its own JSON, CSV and SPARQL result formats. Remove the line",
}
METHODS = ("GET", "POST")
# grlc enumerations computed from the data stop at this many values: a longer list
# is no use as a drop-down, and the query that computes it stays cheap.
ENUMERATION_LIMIT = 200
# grlc parameter variables: ?_name (required) or ?__name (optional), then an optional
# type suffix (_iri, _integer, _en, _xsd_date ...).  grlc names have no '_' in them.
GRLC_VARIABLE_RE = re.compile(r"^(_{1,2})([A-Za-z0-9]+)(?:_([A-Za-z0-9]+)(?:_([A-Za-z0-9]+))?)?$")
# grlc's own type words (gquery.get_parameters) -> our parameter type
GRLC_TYPES = {"iri": "iri", "string": "string", "literal": "string", "number": "number",
              "integer": "integer"}
# The XSD names grlc maps to xsd:<name> when written alone (?_x_decimal): its static.XSD_DATATYPES.
GRLC_XSD_NAMES = frozenset((
    "decimal", "float", "double", "integer", "positiveInteger", "negativeInteger",
    "nonPositiveInteger", "nonNegativeInteger", "long", "int", "short", "byte", "unsignedLong",
    "unsignedInt", "unsignedShort", "unsignedByte", "dateTime", "date", "gYearMonth", "gYear",
    "duration", "gMonthDay", "gDay", "gMonth", "string", "normalizedString", "token", "language",
    "NMTOKEN", "NMTOKENS", "Name", "NCName", "ID", "IDREFS", "ENTITY", "ENTITIES", "QName",
    "boolean", "hexBinary", "base64Binary", "anyURI", "notation"))
# XSD datatypes RDF 1.1 Concepts (section 5.1) says SHOULD NOT be used in RDF: refused, saying why.
XSD_UNSUITABLE = {
    "QName": "needs the namespace declarations of an enclosing XML document",
    "ENTITY": "needs the enclosing XML document's DTD",
    "ENTITIES": "is a list-valued type, which the RDF datatype model does not fit",
    "ID": "is for cross-references within one XML document",
    "IDREF": "is for cross-references within one XML document",
    "IDREFS": "is a list-valued type, which the RDF datatype model does not fit",
    "NMTOKENS": "is a list-valued type, which the RDF datatype model does not fit",
    "NOTATION": "is not meant for direct use",
    "notation": "is not an XSD name (XSD's is NOTATION, which is not meant for direct use)",
}
# Language tags written as a suffix: ISO 639 codes (2 or 3 letters).  grlc reads any other word
# as a tag too (?_x_time: "…"@time), which no data holds: those are refused instead.
GRLC_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}$")
PARAM_KEYS = {"name", "type", "description", "description_fr", "default", "example", "required",
              "values", "lang"}
# Request parameters the API itself uses; a stored query cannot declare them.
RESERVED_PARAMS = {"limit", "offset", "format", "timeout", "lang"}
# grlc's page number, an API parameter of the queries paginated by its 'pagination'
GRLC_PAGE = "page"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_STRING_LENGTH = 2000
MAX_INTEGER_DIGITS = 18

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What an IRI parameter may look like: an absolute ASCII IRI (RFC 3986 shape;
# other characters percent-encoded).  The same pattern is published in the
# OpenAPI document, so what the docs promise and what the server accepts are
# one rule; every string it matches is also an IRI pyoxigraph accepts (a
# property-based test checks this).
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
IRI_PATTERN = (r"^[A-Za-z][A-Za-z0-9+.-]*:"
               r"(?://[A-Za-z0-9._~!$&'()*+,;=-]*(?::[0-9]{0,5})?(?:/" + _PCHAR + r"*)*"
               r"|/?(?:" + _PCHAR + r"+(?:/" + _PCHAR + r"*)*)?)"
               r"(?:\?(?:" + _PCHAR + r"|[/?])*)?(?:#(?:" + _PCHAR + r"|[/?])*)?$")
IRI_RE = re.compile(IRI_PATTERN)
INTEGER_PATTERN = rf"^[+-]?[0-9]{{1,{MAX_INTEGER_DIGITS}}}$"
INTEGER_RE = re.compile(INTEGER_PATTERN)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_RE = re.compile(DATE_PATTERN)
# grlc's 'number': a number as SPARQL writes one (INTEGER, DECIMAL or DOUBLE, signed).
NUMBER_PATTERN = (r"^[+-]?(?:[0-9]+|[0-9]*\.[0-9]+"
                  r"|(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)[eE][+-]?[0-9]+)$")
NUMBER_RE = re.compile(NUMBER_PATTERN)
MAX_NUMBER_LENGTH = 100
_ERROR_POSITION = re.compile(r"error at (\d+):(\d+)")


# ---------------------------------------------------------------------------
# XSD lexical forms: what a value of a grlc datatype suffix (?_x_decimal, ?_x_xsd_time) may be


_TIMEZONE = r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_YEAR = r"-?(?:[1-9][0-9]{4,}|[0-9]{4})"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?|24:00:00(?:\.0+)?)"
_DECIMAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_DAY_TIME = r"(?:[0-9]+D)?(?:T(?=[0-9])(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+(?:\.[0-9]+)?S)?)?"
# XML names (the Basic Multilingual Plane's part of NameStartChar / NameChar)
_NAME_START = ("A-Z_a-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF"
               "\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD")
_NAME_CHAR = _NAME_START + r"\-.0-9\u00B7\u0300-\u036F\u203F-\u2040"
# datatype (local name in the XSD namespace) -> its lexical space, as a regular expression
XSD_PATTERNS = {
    "decimal": _DECIMAL,
    "float": rf"{_DECIMAL}(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN",
    "double": rf"{_DECIMAL}(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN",
    "boolean": r"true|false|1|0",
    "dateTime": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TIMEZONE}?",
    "dateTimeStamp": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TIMEZONE}",
    "time": rf"{_TIME}{_TIMEZONE}?",
    "gYear": rf"{_YEAR}{_TIMEZONE}?",
    "gYearMonth": rf"{_YEAR}-{_MONTH}{_TIMEZONE}?",
    "gMonth": rf"--{_MONTH}{_TIMEZONE}?",
    "gMonthDay": rf"--{_MONTH}-{_DAY}{_TIMEZONE}?",
    "gDay": rf"---{_DAY}{_TIMEZONE}?",
    "duration": rf"-?P(?=[0-9T])(?:[0-9]+Y)?(?:[0-9]+M)?{_DAY_TIME}",
    "dayTimeDuration": rf"-?P(?=[0-9T]){_DAY_TIME}",
    "yearMonthDuration": r"-?P(?:[0-9]+Y(?:[0-9]+M)?|[0-9]+M)",
    "hexBinary": r"(?:[0-9A-Fa-f]{2})*",
    "base64Binary": r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?",
    "anyURI": r'[^\x00-\x20<>"{}|^`\\]*',
    "normalizedString": r"[^\x00\r\n\t]*",
    "token": r"[^\x00\r\n\t ]+(?: [^\x00\r\n\t ]+)*",
    "language": r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*",
    "NMTOKEN": rf"[:{_NAME_CHAR}]+",
    "Name": rf"[:{_NAME_START}][:{_NAME_CHAR}]*",
    "NCName": rf"[{_NAME_START}][{_NAME_CHAR}]*",
}
# the integer types: (least, greatest), None where XSD sets no bound
XSD_INTEGERS = {
    "integer": (None, None), "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
    "long": (-2**63, 2**63 - 1), "int": (-2**31, 2**31 - 1), "short": (-2**15, 2**15 - 1),
    "byte": (-2**7, 2**7 - 1), "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "unsignedLong": (0, 2**64 - 1), "unsignedInt": (0, 2**32 - 1), "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 2**8 - 1),
}
MAX_TYPED_INTEGER_DIGITS = 20  # unsignedLong's; the unbounded types stop there too
_COMPILED_XSD = {name: re.compile(pattern) for name, pattern in XSD_PATTERNS.items()}
_MONTH_DAY = re.compile(r"(-?[0-9]{4,})?-?-([0-9]{2})-([0-9]{2})")


def xsd_local(datatype: str) -> str | None:
    """The local name of an XSD datatype IRI that ssikg checks, else None (any lexical form)."""
    if not datatype.startswith(XSD):
        return None
    local = datatype[len(XSD):]
    return local if local in XSD_PATTERNS or local in XSD_INTEGERS else None


def lexical_schema(datatype: str) -> dict:
    """JSON Schema of the values a typed literal parameter takes (its XSD lexical space)."""
    local = xsd_local(datatype)
    if local in XSD_INTEGERS:
        least, greatest = XSD_INTEGERS[local]
        cap = 10**MAX_TYPED_INTEGER_DIGITS - 1
        return {"type": "integer", "minimum": -cap if least is None else least,
                "maximum": cap if greatest is None else greatest}
    pattern = r"[^\x00]*" if local is None else XSD_PATTERNS[local]  # no NUL in any (_typed)
    return {"type": "string", "minLength": 1, "maxLength": MAX_STRING_LENGTH,
            "pattern": f"^(?:{pattern})$"}


def _lexical_problem(datatype: str, value: str) -> str | None:
    """Why ``value`` is not a lexical form of ``datatype`` (None when it is, or unchecked)."""
    local = xsd_local(datatype)
    if local in XSD_INTEGERS:
        least, greatest = XSD_INTEGERS[local]
        if not re.fullmatch(rf"[+-]?[0-9]{{1,{MAX_TYPED_INTEGER_DIGITS}}}", value):
            return f"an integer (at most {MAX_TYPED_INTEGER_DIGITS} digits)"
        number = int(value)
        if (least is not None and number < least) or (greatest is not None and number > greatest):
            return (f"an integer from {'-∞' if least is None else least} to "
                    f"{'∞' if greatest is None else greatest}")
        return None
    if local is None:
        return None
    if not _COMPILED_XSD[local].fullmatch(value):
        return f"a lexical form of xsd:{local}"
    month_day = _MONTH_DAY.match(value) if local in ("dateTime", "dateTimeStamp", "gMonthDay") else None
    if month_day and not _day_exists(month_day.group(1), int(month_day.group(2)), int(month_day.group(3))):
        return f"a lexical form of xsd:{local} (a day that exists)"
    return None


def _day_exists(year: str | None, month: int, day: int) -> bool:
    """Whether the day exists (in a leap year when no year is given: --02-29 is a gMonthDay)."""
    leap = year is None or (int(year) % 4 == 0 and (int(year) % 100 != 0 or int(year) % 400 == 0))
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return day <= days[month - 1]


# ---------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a query file, located by file and line."""

    file: str
    line: int
    message: str
    severity: str = "error"  # "error" stops start-up; "warning" is only reported

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}: {prefix}{self.message}"


class QueryFileError(Exception):
    """Query files with errors; the message lists each as ``file:line: message``."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("broken stored queries:\n" + "\n".join(f"  {p}" for p in errors))


class ParamError(ValueError):
    """A request value that does not fit a parameter (or an unknown parameter)."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


# ---------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str = ""
    description_fr: str = ""
    default: str | None = None
    example: str | None = None
    required: bool = False
    values: tuple[str, ...] = ()
    # For enum parameters whose choices stand for IRIs: choice -> IRI.
    value_iris: dict[str, str] = field(default_factory=dict)
    lang: str | None = None
    line: int = 0
    # The SPARQL variable, when it is not the name (grlc's ?_name_iri binds 'name').
    variable_name: str = ""
    # Bound by a VALUES block rather than substitutions: grlc variables are not projected,
    # and pyoxigraph substitutes projected variables only.
    by_values: bool = False
    # grlc 'enumerate' without a list: the allowed values are computed from the data.
    from_data: bool = False
    # type "typed" (grlc's datatype suffixes, ?_x_decimal): the literal's datatype IRI
    datatype: str | None = None

    @property
    def variable(self) -> str:
        return self.variable_name or self.name

    def convert(self, raw: str):
        """The RDF term for a request value; raises :class:`ParamError` naming the parameter."""
        value = raw
        if value == "":
            raise ParamError(self.name, f"parameter '{self.name}' is empty; give a value or leave "
                             "it out")
        if self.type == "iri":
            return self._iri(value)
        if self.type == "string":
            if len(value) > MAX_STRING_LENGTH:
                raise ParamError(self.name, f"parameter '{self.name}' is longer than "
                                 f"{MAX_STRING_LENGTH} characters")
            if "\x00" in value:
                raise ParamError(self.name, f"parameter '{self.name}' contains a NUL character")
            return ox.Literal(value, language=self.lang) if self.lang else ox.Literal(value)
        if self.type == "integer":
            if not INTEGER_RE.match(value):
                raise ParamError(self.name, f"parameter '{self.name}' must be an integer "
                                 f"(at most {MAX_INTEGER_DIGITS} digits), got {_show(raw)}")
            return ox.Literal(str(int(value)), datatype=XSD_INTEGER)
        if self.type == "date":
            try:
                if not DATE_RE.match(value):
                    raise ValueError
                day = _dt.date.fromisoformat(value)
            except ValueError:
                raise ParamError(self.name, f"parameter '{self.name}' must be a date YYYY-MM-DD, "
                                 f"got {_show(raw)}") from None
            return ox.Literal(day.isoformat(), datatype=XSD_DATE)
        if self.type == "number":
            return self._number(value)
        if self.type == "typed":
            return self._typed(value)
        if self.type == "enum":
            if value not in self.values:
                raise ParamError(self.name, f"parameter '{self.name}' must be one of "
                                 f"{', '.join(self.values)}; got {_show(raw)}")
            if value in self.value_iris:
                return ox.NamedNode(self.value_iris[value])
            return ox.Literal(value, language=self.lang) if self.lang else ox.Literal(value)
        raise ParamError(self.name, f"parameter '{self.name}' has an unknown type {self.type}")

    def _number(self, value: str) -> ox.Literal:
        """grlc's ``number``: the literal SPARQL reads from the number as written (grlc pastes it
        into the query): xsd:integer, xsd:decimal with a '.', xsd:double with an exponent."""
        if len(value) > MAX_NUMBER_LENGTH or not NUMBER_RE.match(value):
            raise ParamError(self.name, f"parameter '{self.name}' must be a number as SPARQL "
                             f"writes one (12, -1.5, 2.5e3), got {_show(value)}")
        kind = "double" if "e" in value.lower() else "decimal" if "." in value else "integer"
        return ox.Literal(value, datatype=ox.NamedNode(XSD + kind))

    def _typed(self, value: str) -> ox.Literal:
        """A literal of the parameter's datatype, its lexical form checked for the XSD types."""
        if len(value) > MAX_STRING_LENGTH or "\x00" in value:
            raise ParamError(self.name, f"parameter '{self.name}' must be at most "
                             f"{MAX_STRING_LENGTH} characters, without NUL")
        expected = _lexical_problem(self.datatype or "", value)
        if expected is not None:
            raise ParamError(self.name, f"parameter '{self.name}' must be {expected}, "
                             f"got {_show(value)}")
        return ox.Literal(value, datatype=ox.NamedNode(self.datatype))

    @property
    def type_label(self) -> str:
        """The type as messages and listings name it: xsd:decimal for a typed literal."""
        if self.type != "typed" or not self.datatype:
            return self.type
        return "xsd:" + self.datatype[len(XSD):] if self.datatype.startswith(XSD) \
            else f"<{self.datatype}>"

    def _iri(self, value: str) -> ox.NamedNode:
        if not IRI_RE.match(value):
            raise ParamError(self.name, f"parameter '{self.name}' must be an absolute IRI (ASCII, "
                             "no spaces or any of <>\"{}|^`\\; percent-encode other characters) "
                             f"or a prefixed name like id:ssi-be, got {_show(value)}")
        expanded = expand_prefixed(value)
        try:
            return ox.NamedNode(expanded)
        except ValueError as exc:
            raise ParamError(self.name, f"parameter '{self.name}' is not a valid IRI: {exc}") from None

    @property
    def sample(self) -> str | None:
        """The value documentation and tests use: the example, else the default."""
        return self.example if self.example is not None else self.default

    def describe(self) -> dict:
        """A JSON-friendly description, for the query list and the docs."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required,
                               "description": self.description}
        if self.description_fr:
            out["description_fr"] = self.description_fr
        for key in ("default", "example", "lang"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.values:
            out["values"] = list(self.values)
        if self.variable_name:
            out["variable"] = "?" + self.variable_name
        if self.from_data:
            out["enumerated"] = True  # values computed from the data (see the OpenAPI enum)
        if self.datatype:
            out["datatype"] = self.datatype
        return out


def _show(raw: str, limit: int = 60) -> str:
    text = raw if len(raw) <= limit else raw[:limit] + "…"
    return repr(text)


# ---------------------------------------------------------------------------
# Stored queries


@dataclass(frozen=True)
class StoredQuery:
    name: str
    path: Path
    text: str
    title: str
    title_fr: str = ""
    description: str = ""
    description_fr: str = ""
    tags: tuple[str, ...] = ()
    competency: str | None = None
    params: tuple[Param, ...] = ()
    paginated: bool = False
    page_size: int = DEFAULT_PAGE_SIZE
    kind: str = "select"  # select | ask | construct (CONSTRUCT and DESCRIBE)
    variables: tuple[str, ...] = ()
    methods: tuple[str, ...] = ("GET",)  # grlc 'method: POST' adds POST
    grlc_pages: bool = False  # grlc 'pagination': takes 'page' (1, 2, ...) as well

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def localized(self, key: str, lang: str | None) -> str:
        """title / description in ``lang`` (fr or en), falling back to the other one."""
        english, french = getattr(self, key), getattr(self, key + "_fr")
        if lang == "fr":
            return french or english
        return english or french

    def language_of(self, key: str, lang: str | None) -> str:
        """The language of what :meth:`localized` gives (pages mark the text with it)."""
        english, french = getattr(self, key), getattr(self, key + "_fr")
        return "fr" if (french and lang == "fr") or not english else "en"

    def bind(self, values: dict[str, str], *, empty_is_absent: bool = False,
             allowed: dict[str, tuple[str, ...]] | None = None
             ) -> tuple[dict[str, Any], dict[str, str]]:
        """Convert request values to terms: (substitutions by variable, values used).

        Unknown names, missing required parameters and values of the wrong
        type raise :class:`ParamError`.  An absent optional parameter takes
        its default, or leaves its variable free.  With ``empty_is_absent``
        (HTML forms submit every field) an empty value counts as absent;
        otherwise it is refused.  ``allowed`` holds the values computed from
        the data for the enumerated parameters (:func:`enumeration_query`): a
        value outside them is refused.
        """
        for name in values:
            if self.param(name) is None:
                known = ", ".join(p.name for p in self.params) or "none"
                raise ParamError(name, f"unknown parameter '{name}' for query {self.name} "
                                 f"(it takes: {known})")
        substitutions: dict[str, Any] = {}
        used: dict[str, str] = {}
        for param in self.params:
            raw = values.get(param.name)
            if raw is None or (raw == "" and empty_is_absent):
                raw = param.default
            if raw is None:
                if param.required:
                    raise ParamError(param.name, f"missing required parameter '{param.name}' "
                                     f"({param.type})")
                continue
            term = param.convert(raw)
            choices = (allowed or {}).get(param.name)
            if param.from_data and choices is not None and term.value not in choices:
                shown = ", ".join(choices[:10]) + (", …" if len(choices) > 10 else "")
                raise ParamError(param.name, f"parameter '{param.name}' must be one of the values "
                                 f"the data holds ({shown}); got {_show(raw)}")
            substitutions[param.variable] = term
            used[param.name] = raw
        return substitutions, used

    def executable(self, substitutions: dict[str, Any], page: tuple[int, int] | None = None
                   ) -> tuple[str, dict[str, Any]]:
        """(query text, substitutions) to run: the bindings of VALUES-bound (grlc) parameters
        written into a VALUES block, the others left as substitutions; and a page's
        LIMIT/OFFSET (integers we computed, not user text)."""
        by_values = {p.variable for p in self.params if p.by_values}
        inline = {k: v for k, v in substitutions.items() if str(k) in by_values}
        rest = {k: v for k, v in substitutions.items() if str(k) not in by_values}
        text = with_values(self.text, inline) if inline else self.text
        if page is not None:
            text = f"{text.rstrip()}\nLIMIT {int(page[0])} OFFSET {int(page[1])}\n"
        return text, rest

    def sample_values(self) -> dict[str, str]:
        return {p.name: p.sample for p in self.params if p.sample is not None}

    def paged_text(self, limit: int, offset: int) -> str:
        """The query with a page's LIMIT/OFFSET appended (integers we computed, not user text)."""
        return f"{self.text.rstrip()}\nLIMIT {int(limit)} OFFSET {int(offset)}\n"

    def describe(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "title": self.title, "title_fr": self.title_fr,
                               "description": self.description,
                               "description_fr": self.description_fr, "tags": list(self.tags),
                               "kind": self.kind, "paginated": self.paginated,
                               "columns": list(self.variables), "methods": list(self.methods),
                               "parameters": [p.describe() for p in self.params]}
        if self.competency:
            out["competency"] = self.competency
        return out


# ---------------------------------------------------------------------------
# Reading files


@dataclass
class _Header:
    text: str
    line_of: list[int]  # YAML line index -> file line (1-based)
    after_query: list[int]


def _split_header(text: str) -> _Header:
    lines: list[str] = []
    line_of: list[int] = []
    after_query: list[int] = []
    in_prologue = True
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith("#+"):
            if not in_prologue:
                after_query.append(number)
                continue
            body = stripped[2:]
            lines.append(body[1:] if body.startswith(" ") else body)
            line_of.append(number)
        elif stripped and not stripped.startswith("#"):
            in_prologue = False
    return _Header("\n".join(lines), line_of, after_query)


def _node_lines(node: yaml.Node | None) -> dict:
    """Key -> YAML line of that key, and for params each item's line (index by position)."""
    lines: dict = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[key.value] = key.start_mark.line
            if key.value == "params" and isinstance(value, yaml.SequenceNode):
                lines["params[]"] = [item.start_mark.line for item in value.value]
    return lines


class _FileChecker:
    """Reads one query file, collecting problems rather than stopping at the first."""

    def __init__(self, path: Path, shown: str, empty_store: ox.Store):
        self.path = path
        self.shown = shown
        self.empty = empty_store
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(self.shown, line, message, severity))

    def read(self) -> StoredQuery | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.problem(1, f"not UTF-8 text: {exc}")
            return None
        except OSError as exc:
            self.problem(1, f"cannot read: {exc.strerror}")
            return None
        name = self.path.stem
        if not NAME_RE.match(name):
            self.problem(1, f"file name '{name}' must use only letters, digits, '-' and '_'")
        header = _split_header(text)
        for number in header.after_query:
            self.problem(number, "'#+' header line after the query text; move it to the top")
        meta = self._parse_yaml(header)
        if meta is None:
            return None
        if self._is_update(text):
            return None
        kind, variables = self._check_sparql(text)
        fields = self._header_fields(meta, header)
        if "params" in meta:
            params = self._params(meta.get("params"), header, text)
        else:
            params = self._grlc_params(text)
        params = self._enumerate(meta.get("enumerate"), header,
                                 self._defaults(meta.get("defaults"), header, params))
        for param in params:
            self._check_values(param)
        if fields.get("grlc_pages") and any(p.name == GRLC_PAGE for p in params):
            self.problem(self._key_line(header, "pagination"), f"a parameter named "
                         f"'{GRLC_PAGE}' clashes with grlc's page number of a paginated query")
        query = StoredQuery(name=name, path=self.path, text=text, kind=kind or "select",
                            variables=tuple(variables), params=tuple(params), **fields)
        if kind is not None:
            self._check_binding(query, header)
            if query.paginated:
                self._check_pagination(query, header)
            self._check_enumerations(query)
        return query

    def _line(self, header: _Header, yaml_line: int | None) -> int:
        if yaml_line is None or not header.line_of:
            return 1
        return header.line_of[min(yaml_line, len(header.line_of) - 1)]

    def _parse_yaml(self, header: _Header) -> dict | None:
        if not header.line_of:
            self.problem(1, "no '#+' metadata header (at least '#+ title: ...')")
            return None
        try:
            node = yaml.compose(header.text, Loader=yaml.SafeLoader)
            meta = yaml.safe_load(header.text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = self._line(header, mark.line if mark else None)
            reason = getattr(exc, "problem", None) or str(exc)
            self.problem(line, f"header is not valid YAML: {reason}")
            return None
        if not isinstance(meta, dict):
            self.problem(header.line_of[0], "header must be a YAML mapping of 'key: value' lines")
            return None
        self._key_lines = _node_lines(node)
        return meta

    def _key_line(self, header: _Header, key: str) -> int:
        return self._line(header, self._key_lines.get(key))

    def _header_fields(self, meta: dict, header: _Header) -> dict:
        for key in meta:
            if key in REFUSED_KEYS:
                self.problem(self._key_line(header, key), f"grlc's '{key}' is not honoured: "
                             f"{REFUSED_KEYS[key]}")
            elif key not in HEADER_KEYS:
                self.problem(self._key_line(header, key), f"unknown header key '{key}' "
                             f"(known: {', '.join(sorted(HEADER_KEYS))})", "warning")
        fields: dict[str, Any] = {}
        for key in ("title", "title_fr", "description", "description_fr"):
            value = meta.get(key)
            if key == "title" and value is None and "summary" in meta:
                key, value = "summary", meta["summary"]  # grlc's title
            if value is None:
                if key == "title":
                    self.problem(header.line_of[0], "header has no 'title'")
                    fields[key] = self.path.stem
                elif key == "title_fr":
                    self.problem(header.line_of[0], "header has no 'title_fr' (French title)",
                                 "warning")
                continue
            if not isinstance(value, str) or not value.strip():
                self.problem(self._key_line(header, key), f"'{key}' must be non-empty text")
                continue
            fields["title" if key == "summary" else key] = value.strip()
        tags = meta.get("tags", [])
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.problem(self._key_line(header, "tags"), "'tags' must be a list of words")
            tags = []
        fields["tags"] = tuple(tags)
        competency = meta.get("competency")
        if competency is not None:
            fields["competency"] = str(competency)
        paginated = meta.get("paginated", False)
        if not isinstance(paginated, bool):
            self.problem(self._key_line(header, "paginated"), "'paginated' must be true or false")
            paginated = False
        fields["paginated"] = paginated
        page_size = meta.get("page_size", DEFAULT_PAGE_SIZE)
        if not isinstance(page_size, int) or isinstance(page_size, bool) \
                or not 1 <= page_size <= MAX_PAGE_SIZE:
            self.problem(self._key_line(header, "page_size"),
                         f"'page_size' must be an integer from 1 to {MAX_PAGE_SIZE}")
            page_size = DEFAULT_PAGE_SIZE
        fields["page_size"] = page_size
        if "pagination" in meta:
            self._grlc_pagination(meta, header, fields)
        method = meta.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in METHODS:
            self.problem(self._key_line(header, "method"), "'method' must be GET or POST "
                         f"(POST answers form parameters as well as GET), got {method!r}")
        elif method.upper() == "POST":
            fields["methods"] = ("GET", "POST")
        return fields

    def _grlc_pagination(self, meta: dict, header: _Header, fields: dict) -> None:
        """grlc's ``pagination: N``: paginated, N rows a page, and grlc's ``page`` parameter."""
        line = self._key_line(header, "pagination")
        size = meta["pagination"]
        if "paginated" in meta or "page_size" in meta:
            self.problem(line, "use either grlc's 'pagination: N' or 'paginated'/'page_size', "
                         "not both")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
            self.problem(line, f"'pagination' must be the page size, an integer from 1 to "
                         f"{MAX_PAGE_SIZE}")
            return
        fields.update(paginated=True, page_size=size, grlc_pages=True)

    # grlc: parameters named by the query's variables, 'defaults' and 'enumerate'

    def _grlc_params(self, text: str) -> list[Param]:
        """The parameters grlc reads from variable names (?_name, ?__name_iri ...)."""
        prefixes = declared_prefixes(tokenize(text))
        params: list[Param] = []
        seen: set[str] = set()
        for token in iter_tokens(text):
            if token.kind != "var" or not token.value.startswith("_") or token.value in seen:
                continue
            seen.add(token.value)
            line = text.count("\n", 0, token.start) + 1
            try:
                param = grlc_param(token.value, line, prefixes)
            except ValueError as exc:
                self.problem(line, str(exc))
                continue
            twin = next((p for p in params if p.name == param.name), None)
            if twin is not None:
                self.problem(line, f"parameter '{param.name}' is named by both ?{twin.variable} "
                             f"and ?{param.variable}")
            elif param.name in RESERVED_PARAMS:
                self.problem(line, f"?{param.variable}: parameter name '{param.name}' is reserved "
                             f"by the API ({', '.join(sorted(RESERVED_PARAMS))})")
            else:
                params.append(param)
        return params

    def _entries(self, raw, key: str, header: _Header) -> list[tuple[str, Any]]:
        """grlc's lists of ``- name`` / ``- name: value`` items as (name, value) pairs."""
        line = self._key_line(header, key)
        items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else None
        if items is None:
            self.problem(line, f"'{key}' must be a list of '- name: value' items")
            return []
        pairs = []
        for item in items:
            if isinstance(item, str) and key == "enumerate":
                pairs.append((item, None))
            elif isinstance(item, dict) and item:
                pairs.extend((str(k), v) for k, v in item.items())
            else:
                self.problem(line, f"'{key}': {item!r} is not a '- name: value' item")
        return pairs

    def _named_items(self, raw, key: str, header: _Header, params: list[Param], rule) -> list[Param]:
        """Apply grlc's ``defaults`` or ``enumerate`` (``- name: value`` items) to the parameters
        they name: ``rule(param, value, line)`` gives the changed parameter, or None when it
        refuses the item (having said why).  A name no parameter has is reported here."""
        if raw is None:
            return params
        line = self._key_line(header, key)
        by_name = {p.name: p for p in params}
        for name, value in self._entries(raw, key, header):
            param = by_name.get(name)
            if param is None:
                self.problem(line, f"{key}: no parameter named '{name}' (parameters: "
                             f"{', '.join(by_name) or 'none'}; grlc names them without ?_ and "
                             "type suffix)")
                continue
            by_name[name] = rule(param, value, line) or param
        return [by_name[p.name] for p in params]

    def _defaults(self, raw, header: _Header, params: list[Param]) -> list[Param]:
        """grlc's ``defaults``: each named parameter takes the value when absent (so is optional)."""
        return self._named_items(raw, "defaults", header, params, self._default)

    def _default(self, param: Param, value, line: int) -> Param | None:
        if isinstance(value, _dt.date):
            value = value.isoformat()
        if param.default is not None:
            self.problem(line, f"defaults: parameter '{param.name}' already has a default")
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(line, f"defaults: the default of '{param.name}' must be text or a number")
        else:
            param = replace(param, default=str(value), required=False)
            return _grlc_described(param) if param.by_values else param
        return None

    def _enumerate(self, raw, header: _Header, params: list[Param]) -> list[Param]:
        """grlc's ``enumerate``: ``- name`` (values from the data) or ``- name: [values]``."""
        return self._named_items(raw, "enumerate", header, params, self._enumeration)

    def _enumeration(self, param: Param, listed, line: int) -> Param | None:
        name = param.name
        if param.type == "enum":
            self.problem(line, f"enumerate: parameter '{name}' is already an enum")
        elif listed is None:
            return replace(param, from_data=True)
        elif param.type not in ("iri", "string") or not isinstance(listed, list) or not listed \
                or not all(isinstance(v, (str, int)) for v in listed):
            self.problem(line, f"enumerate: '{name}' must list its values, and only IRI and "
                         "string parameters can list them")
        else:
            values = tuple(str(v) for v in listed)
            iris = {v: expand_prefixed(v) for v in values} if param.type == "iri" else {}
            for value, iri in iris.items():
                if not IRI_RE.match(iri):
                    self.problem(line, f"enumerate: value '{value}' of '{name}' is not an IRI")
            return replace(param, type="enum", values=values, value_iris=iris)
        return None

    def _check_values(self, param: Param) -> None:
        """Each parameter's example and default are valid; a declared one needs a sample."""
        if param.sample is None and not param.by_values:
            self.problem(param.line, f"parameter '{param.name}' needs an 'example' (docs and tests "
                         "run it)")
        elif param.sample is None and not param.from_data:
            self.problem(param.line, f"parameter '{param.name}' (?{param.variable}) has no "
                         "default; add '#+ defaults:' so the docs can show an example", "warning")
        for key in ("default", "example"):
            value = getattr(param, key)
            if value is not None:
                try:
                    param.convert(value)
                except ParamError as exc:
                    self.problem(param.line, f"{key}: {exc.message}")

    def _check_enumerations(self, query: StoredQuery) -> None:
        for param in query.params:
            if not param.from_data:
                continue
            try:
                self.empty.query(enumeration_query(query, param))
            except (SyntaxError, ValueError, RuntimeError) as exc:
                self.problem(param.line, f"enumerate: the values of '{param.name}' cannot be "
                             f"computed from the query's WHERE group: {exc}")

    def _params(self, raw, header: _Header, text: str) -> list[Param]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(self._key_line(header, "params"), "'params' must be a list")
            return []
        item_lines = self._key_lines.get("params[]", [])
        params: list[Param] = []
        for index, item in enumerate(raw):
            line = self._line(header, item_lines[index] if index < len(item_lines) else None)
            param = self._param(item, line, text)
            if param is None:
                continue
            if any(p.name == param.name for p in params):
                self.problem(line, f"parameter '{param.name}' is declared twice")
                continue
            params.append(param)
        return params

    def _param(self, item, line: int, text: str) -> Param | None:
        if not isinstance(item, dict):
            self.problem(line, "each parameter must be a mapping with at least 'name' and 'type'")
            return None
        for key in item:
            if key not in PARAM_KEYS:
                self.problem(line, f"parameter has an unknown key '{key}' "
                             f"(known: {', '.join(sorted(PARAM_KEYS))})")
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str) or not VARIABLE_RE.match(name):
            self.problem(line, f"parameter name {name!r} must be a SPARQL variable name")
            return None
        if name in RESERVED_PARAMS or name.startswith("_"):
            self.problem(line, f"parameter name '{name}' is reserved by the API "
                         f"({', '.join(sorted(RESERVED_PARAMS))}, and names starting with '_')")
            return None
        if kind not in PARAM_TYPES:
            self.problem(line, f"parameter '{name}': type must be one of {', '.join(PARAM_TYPES)}, "
                         f"got {kind!r}")
            return None
        if not re.search(r"[?$]" + re.escape(name) + r"\b", text):
            self.problem(line, f"parameter '{name}': the query never uses ?{name}")
        if re.search(r"\bBOUND\s*\(\s*[?$]" + re.escape(name) + r"\b", _strip_comments(text),
                     re.IGNORECASE):
            # pyoxigraph 0.5 folds BOUND(?x) to false for a variable no pattern binds,
            # before substitutions apply: the test would ignore the parameter.
            self.problem(line, f"parameter '{name}': BOUND(?{name}) ignores the bound value "
                         f"(pyoxigraph); test it with COALESCE(?{name}, …) instead")
        values, value_iris = self._enum_values(item.get("values"), name, kind, line)
        lang = item.get("lang")
        if lang is not None and (kind not in ("string", "enum") or not isinstance(lang, str)):
            self.problem(line, f"parameter '{name}': 'lang' applies to string parameters only")
            lang = None
        required = item.get("required", False)
        if not isinstance(required, bool):
            self.problem(line, f"parameter '{name}': 'required' must be true or false")
            required = False
        texts = {}
        for key in ("description", "description_fr", "default", "example"):
            value = item.get(key)
            if isinstance(value, _dt.date):  # YAML reads an unquoted 2024-02-08 as a date
                value = value.isoformat()
            if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
                self.problem(line, f"parameter '{name}': '{key}' must be text")
                value = None
            texts[key] = None if value is None else str(value)
        if not texts["description"]:
            self.problem(line, f"parameter '{name}' has no description", "warning")
        param = Param(name=name, type=kind, description=texts["description"] or "",
                      description_fr=texts["description_fr"] or "", default=texts["default"],
                      example=texts["example"], required=required, values=values,
                      value_iris=value_iris, lang=lang, line=line)
        return param

    def _enum_values(self, raw, name: str, kind: str, line: int) -> tuple[tuple[str, ...], dict]:
        if kind != "enum":
            if raw is not None:
                self.problem(line, f"parameter '{name}': 'values' applies to enum parameters only")
            return (), {}
        if isinstance(raw, dict) and raw and all(isinstance(v, str) for v in raw.values()):
            iris = {str(k): expand_prefixed(v) for k, v in raw.items()}
            for key, iri in iris.items():
                if not IRI_RE.match(iri):
                    self.problem(line, f"parameter '{name}': value '{key}' maps to an invalid IRI")
            return tuple(iris), iris
        if isinstance(raw, list) and raw and all(isinstance(v, (str, int)) for v in raw):
            return tuple(str(v) for v in raw), {}
        self.problem(line, f"parameter '{name}': an enum needs 'values', a list of choices "
                     "or a mapping of choices to IRIs")
        return (), {}

    def _is_update(self, text: str) -> bool:
        """A SPARQL update (grlc serves INSERT DATA files) is reported as one, not as a syntax
        error of a query: stored queries only read."""
        keyword = _update_keyword(text)
        if keyword is None:
            return False
        self.problem(text.count("\n", 0, keyword.start) + 1,
                     f"this is a SPARQL update ({keyword.text.upper()} …), not a query: stored "
                     "queries only read, and ssikg keeps no stored updates (grlc's INSERT "
                     "queries included). Send updates to /sparql (or /update) with the update "
                     "token (Authorization: Bearer …): README, 'Writes and auth'")
        return True

    def _check_sparql(self, text: str) -> tuple[str | None, list[str]]:
        """Parse the query (on an empty store; nothing is evaluated) for its kind and columns."""
        try:
            result = self.empty.query(text)
        except SyntaxError as exc:
            message = str(exc)
            match = _ERROR_POSITION.search(message)
            # The parser places an error at end of input one line past the last one.
            line = min(int(match.group(1)), max(1, len(text.splitlines()))) if match else 1
            self.problem(line, f"SPARQL syntax error: {message}")
            return None, []
        except (RuntimeError, ValueError, OSError) as exc:
            self.problem(1, f"query cannot run: {exc}")
            return None, []
        if isinstance(result, ox.QueryBoolean):
            return "ask", []
        if isinstance(result, ox.QueryTriples):
            return "construct", []
        return "select", [v.value for v in result.variables]

    def _check_binding(self, query: StoredQuery, header: _Header) -> None:
        """pyoxigraph binds a SELECT variable only when it is projected: check each parameter."""
        for param in query.params:
            if param.sample is None:
                continue
            if param.by_values:
                try:
                    term = param.convert(param.sample)
                    self.empty.query(with_values(query.text, {param.variable: term}))
                except (ParamError, RuntimeError, ValueError, SyntaxError) as exc:
                    self.problem(param.line, f"parameter '{param.name}' (?{param.variable}) "
                                 f"cannot be bound: {exc}")
                continue
            if query.kind == "select" and param.name not in query.variables:
                self.problem(param.line, f"parameter '{param.name}': ?{param.name} must be in the "
                             "SELECT clause to be bound (or use SELECT *)")
                continue
            try:
                substitutions = {ox.Variable(param.name): param.convert(param.sample)}
                self.empty.query(query.text, substitutions=substitutions)
            except (ParamError, RuntimeError, ValueError, SyntaxError) as exc:
                self.problem(param.line, f"parameter '{param.name}' cannot be bound: {exc}")

    def _check_pagination(self, query: StoredQuery, header: _Header) -> None:
        line = self._key_line(header, "pagination" if query.grlc_pages else "paginated")
        if query.kind != "select":
            self.problem(line, "only SELECT queries can be paginated")
            return
        if not re.search(r"\bORDER\s+BY\b", _strip_comments(query.text), re.IGNORECASE):
            self.problem(line, "a paginated query needs ORDER BY, or its pages are not stable")
        try:
            self.empty.query(query.paged_text(1, 0))
        except (SyntaxError, RuntimeError) as exc:
            self.problem(line, "a paginated query must not end with its own LIMIT, OFFSET or "
                         f"VALUES (the API appends LIMIT/OFFSET): {exc}")


UPDATE_KEYWORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD",
                   "WITH")


def _update_keyword(text: str) -> Token | None:
    """The keyword starting the operation when ``text`` is a SPARQL update, else None: the
    first word after the prologue (PREFIX and BASE declarations)."""
    tokens = iter_tokens(text)
    for token in tokens:
        if token.keyword("PREFIX", "BASE"):
            for _ in range(2 if token.keyword("PREFIX") else 1):
                next(tokens, None)
            continue
        return token if token.keyword(*UPDATE_KEYWORDS) else None
    return None


def _strip_comments(text: str) -> str:
    """Drop # comments outside IRIs and strings (enough to look for keywords)."""
    out = []
    for line in text.splitlines():
        cut = re.sub(r'("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|<[^>\s]*>)|#.*',
                     lambda m: m.group(1) or "", line)
        out.append(cut)
    return "\n".join(out)


def grlc_param(variable: str, line: int = 0, prefixes: dict[str, str] | None = None) -> Param:
    """The parameter grlc reads from a variable name (without '?'); ValueError says what is wrong.

    ``_name`` is required, ``__name`` optional (its variable stays unbound when
    absent); a suffix types it as grlc's ``gquery.get_parameters`` does
    (:func:`_grlc_type`).  ``prefixes`` are the query's PREFIX declarations, for
    a ``_prefix_datatype`` suffix."""
    match = GRLC_VARIABLE_RE.match(variable)
    if not match:
        raise ValueError(f"?{variable} starts with '_', grlc's mark of a parameter, but is not "
                         "?_name or ?__name with an optional type suffix (_iri, _integer, _en, "
                         "_xsd_date …; the name itself has no '_')")
    marks, name, suffix, extra = match.groups()
    kind, lang, datatype = _grlc_type(variable, suffix, extra, prefixes or {})
    param = Param(name=name, type=kind, lang=lang, datatype=datatype, required=marks == "_",
                  variable_name=variable, by_values=True, line=line)
    return _grlc_described(param)


def _grlc_described(param: Param) -> Param:
    """A grlc parameter with the descriptions its variable and default give (grlc has none)."""
    typed = "IRI" if param.type == "iri" else param.type_label + (f" @{param.lang}" if param.lang else "")
    if param.required:
        en, fr = "Required.", "Obligatoire."
    elif param.default is not None:
        en, fr = "Optional: takes its default when absent.", \
            "Facultatif : prend sa valeur par défaut en son absence."
    else:
        en, fr = "Optional: left unbound when absent.", "Facultatif : laissé libre en son absence."
    return replace(param, description=f"Binds ?{param.variable} ({typed}). {en}",
                   description_fr=f"Lie ?{param.variable} ({typed}). {fr}")


def _grlc_type(variable: str, suffix: str | None, extra: str | None, prefixes: dict[str, str]
               ) -> tuple[str, str | None, str | None]:
    """(type, language, datatype IRI) of a grlc suffix: none (a plain literal), one of grlc's
    words (iri, number, literal, string, integer), an XSD name of grlc's list (decimal,
    dateTime …), ``prefix_datatype`` (xsd_time, geo_wktLiteral: the query's PREFIX), or a
    language code (en, fr, eng).  What grlc would bind as nothing useful is refused."""
    if suffix is None:
        return "string", None, None
    if extra is not None:
        return _grlc_datatype(variable, suffix, extra, prefixes)
    if suffix in GRLC_TYPES:
        return GRLC_TYPES[suffix], None, None
    if suffix in GRLC_XSD_NAMES:
        return _xsd_type(variable, suffix)
    if GRLC_LANGUAGE_RE.match(suffix):
        return "string", suffix.lower(), None
    raise ValueError(f"?{variable}: type suffix '_{suffix}' is not supported: it is none of "
                     "grlc's types (iri, number, literal, string, integer), an XSD datatype grlc "
                     "names alone (decimal, boolean, dateTime …), or a 2–3 letter language code; "
                     f"grlc would bind the value as a literal tagged @{suffix}, which matches no "
                     f"data. For another XSD type write _xsd_{suffix}")


def _grlc_datatype(variable: str, prefix: str, local: str, prefixes: dict[str, str]
                   ) -> tuple[str, str | None, str | None]:
    """``_prefix_local``: grlc writes the value as ``"…"^^prefix:local`` (adding the xsd
    prefix itself); we bind that literal, its prefix read from the query's declarations."""
    namespace = XSD if prefix == "xsd" else prefixes.get(prefix)
    if namespace is None:
        raise ValueError(f"?{variable}: type suffix '_{prefix}_{local}' names the datatype "
                         f"{prefix}:{local}, but the query declares no PREFIX {prefix}: (grlc "
                         "would send a query that does not parse)")
    if namespace == XSD:
        return _xsd_type(variable, local)
    datatype = namespace + local
    if not IRI_RE.match(datatype):
        raise ValueError(f"?{variable}: the datatype {prefix}:{local} is not an absolute IRI")
    return "typed", None, datatype


def _xsd_type(variable: str, local: str) -> tuple[str, str | None, str | None]:
    """The parameter type of xsd:<local>: integer, date and string keep their own types."""
    if local in XSD_UNSUITABLE:
        raise ValueError(f"?{variable}: xsd:{local} is refused: it {XSD_UNSUITABLE[local]}, and "
                         "RDF 1.1 Concepts (section 5.1) says it should not be used in RDF")
    if local in ("integer", "date", "string"):
        return local, None, None
    if local not in XSD_PATTERNS and local not in XSD_INTEGERS:
        raise ValueError(f"?{variable}: xsd:{local} is not an XSD datatype RDF uses (the "
                         "README's table of grlc suffixes lists those ssikg takes)")
    return "typed", None, XSD + local


def enumeration_query(query: StoredQuery, param: Param) -> str:
    """The values grlc's ``enumerate`` offers for ``param``: SELECT DISTINCT of its variable
    over the query's own WHERE group (and FROM clauses), every parameter unbound, at most
    :data:`ENUMERATION_LIMIT` + 1 rows (one more tells that the list is too long)."""
    tokens = tokenize(query.text)
    form = next((i for i, t in enumerate(tokens)
                 if t.keyword("SELECT", "CONSTRUCT", "ASK", "DESCRIBE")), None)
    if form is None:
        raise ValueError("not a SPARQL query")
    rest = tokens[form + 1:]
    if tokens[form].keyword("CONSTRUCT") and rest and rest[0].keyword("WHERE"):
        opening = rest[1] if len(rest) > 1 and rest[1].text == "{" else None
    else:
        template = tokens[form].keyword("CONSTRUCT") and bool(rest) and rest[0].text == "{"
        opening = _top_level_brace(rest, skip=1 if template else 0)
    closing = closing_brace(tokens, opening) if opening is not None else None
    if closing is None:
        raise ValueError("the query has no WHERE group")
    text = query.text
    dataset = " ".join(text[t.start:end] for t, end in _from_clauses(rest, opening))
    variable = "?" + param.variable
    return (f"{text[:tokens[form].start]}SELECT DISTINCT {variable} {dataset}\n"
            f"WHERE {text[opening.start:closing.end]}\nORDER BY {variable}\n"
            f"LIMIT {ENUMERATION_LIMIT + 1}\n")


def enumerations(query: StoredQuery, select: Callable[[str, str], Iterable[str]]
                 ) -> dict[str, tuple[str, ...]]:
    """The values the data holds for each of the query's grlc ``enumerate`` parameters (what
    :meth:`StoredQuery.bind` takes as ``allowed``): the API and ``ssikg queries run`` both
    use it.  ``select(text, variable)`` runs :func:`enumeration_query` and gives the
    variable's values (the caller chooses the store, its limits and any memo).  A parameter
    with more than :data:`ENUMERATION_LIMIT` values, or none, has no list (any value of its
    type goes).  A declared default stays a choice even when the data no longer holds it (it
    then answers no rows): else a form's first view would be refused, and the OpenAPI
    document invalid (a default outside its enum)."""
    found: dict[str, tuple[str, ...]] = {}
    for param in query.params:
        if not param.from_data:
            continue
        values = tuple(select(enumeration_query(query, param), param.variable))
        if not values or len(values) > ENUMERATION_LIMIT:
            continue
        if param.default is not None and param.default not in values:
            values = (*values, param.default)
        found[param.name] = values
    return found


def _top_level_brace(tokens: list[Token], skip: int) -> Token | None:
    """The '{' opening the WHERE group: at depth 0, outside parentheses (a projection's
    ``EXISTS { }``), after ``skip`` of them (a CONSTRUCT template)."""
    parens = 0
    for token in tokens:
        parens += (token.text == "(") - (token.text == ")")
        if token.text == "{" and token.depth == 0 and parens == 0:
            if not skip:
                return token
            skip -= 1
    return None


def _from_clauses(tokens: list[Token], opening: Token) -> list[tuple[Token, int]]:
    """``FROM [NAMED] <iri>`` clauses before the WHERE group: (FROM token, end of the clause)."""
    clauses = []
    before = [t for t in tokens if t.start < opening.start]
    for index, token in enumerate(before):
        if token.keyword("FROM"):
            following = before[index + 1:index + 3]
            target = next((t for t in following if t.kind in ("iri", "pname")), None)
            if target is not None:
                clauses.append((token, target.end))
    return clauses


_CHECKED: dict[tuple, tuple[dict[str, StoredQuery], list[Problem]]] = {}


def check_dir(source_dir: Path) -> tuple[dict[str, StoredQuery], list[Problem]]:
    """Read every ``*.rq`` file of a folder: (queries by name, problems).

    Remembered per folder state (names, sizes, modification times, working
    folder), so that creating many apps over the same queries parses them once."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return {}, []
    paths = sorted(source_dir.glob("*.rq"))
    try:
        state = (str(source_dir.resolve()), str(Path.cwd()),
                 tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths))
    except OSError:
        state = None
    if state is not None and state in _CHECKED:
        queries, problems = _CHECKED[state]
        return dict(queries), list(problems)
    result = _check_paths(paths)
    if state is not None:
        _CHECKED.clear()  # one folder state is enough: tests and servers use one queries/
        _CHECKED[state] = result
    return dict(result[0]), list(result[1])


def _check_paths(paths: list[Path]) -> tuple[dict[str, StoredQuery], list[Problem]]:
    empty = ox.Store()
    queries: dict[str, StoredQuery] = {}
    problems: list[Problem] = []
    for path in paths:
        checker = _FileChecker(path, _shown_path(path), empty)
        query = checker.read()
        problems.extend(checker.problems)
        if query is not None and not any(p.severity == "error" for p in checker.problems):
            queries[query.name] = query
    return queries, problems


def load_all(source_dir: Path) -> dict[str, StoredQuery]:
    """Every stored query of a folder by name; raises :class:`QueryFileError` on any error."""
    queries, problems = check_dir(source_dir)
    if any(p.severity == "error" for p in problems):
        raise QueryFileError(problems)
    return queries


def _shown_path(path: Path) -> str:
    """queries/x.rq (relative to the project folder) when possible, for readable messages."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return f"{path.parent.name}/{path.name}"


# ---------------------------------------------------------------------------
# Binding without substitutions: a VALUES block


def with_values(query: str, bindings: dict) -> str:
    """The query with its bindings in a VALUES block at the start of its WHERE group.

    Not a trailing VALUES clause: that one joins after the pattern's FILTERs
    and BINDs have run, so a filter on a parameter would see it unbound.  The
    syntax-aware placement is the remote backend's (one implementation)."""
    if not bindings:
        return query
    from .remote_store import inject_values

    return inject_values(query, {(k if isinstance(k, ox.Variable) else ox.Variable(str(k))): v
                                 for k, v in bindings.items()})


# ---------------------------------------------------------------------------
# For other views: the queries of the running app


def app_queries() -> dict[str, StoredQuery]:
    from flask import current_app

    return current_app.extensions.get("ssikg.queries", {})


def catalogue_fingerprint() -> str:
    """A digest of the catalogue the current app serves (each query's name and text), read
    when the app was made: the ETags of pages showing the catalogue name it, so that a
    process started after a query file was edited never answers a 304 for the old text."""
    from flask import current_app

    kept = current_app.extensions.get("ssikg.queries_fingerprint")
    if kept is None:
        digest = hashlib.sha256()
        for name, query in sorted(app_queries().items()):
            digest.update(f"{name}\0{query.text}\0".encode())
        kept = current_app.extensions["ssikg.queries_fingerprint"] = digest.hexdigest()[:16]
    return kept


def list_for_links(lang: str | None = None, *, external: bool = False) -> list[tuple[str, str, str]]:
    """(name, title, url of its page) for each stored query, for home pages and service
    descriptions.  Needs an app (and request, for external URLs) context.  The URLs carry
    no ``?lang=``: a page listing them keeps an explicit one with
    :func:`ssikg.views.resources.with_lang`, as for all its links (home and /query do)."""
    from flask import url_for

    return [(q.name, q.localized("title", lang),
             url_for("stored_queries.query_page", name=q.name, _external=external))
            for q in app_queries().values()]


# ---------------------------------------------------------------------------
# The ``ssikg queries`` command


def _queries_dir(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    from .cli import _settings  # a bad setting is a usage error (exit 2), as for every command

    return Path(_settings().source_dir) / "queries"


DIR_OPTION = click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False),
                          default=None, help="Folder of .rq files (default: queries/ of the project).")


@click.group("queries")
def cli_command():
    """Stored queries (queries/*.rq): check their headers and SPARQL, list them."""


@cli_command.command("check")
@DIR_OPTION
def check_command(directory):
    """Check every query file; print problems as file:line: message; exit 1 on any error."""
    folder = _queries_dir(directory)
    if not folder.is_dir():
        click.secho(f"error: {folder} is not a folder", fg="red", err=True)
        sys.exit(1)
    queries, problems = check_dir(folder)
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    files = len(list(folder.glob("*.rq")))
    if errors:
        click.secho(f"{errors} error(s) in {files} file(s)", fg="red", err=True)
        sys.exit(1)
    click.echo(f"{files} stored queries OK ({len(problems)} warning(s))")


@cli_command.command("list")
@DIR_OPTION
def list_command(directory):
    """List the stored queries: name, parameters and title."""
    folder = _queries_dir(directory)
    queries, problems = check_dir(folder)
    for query in queries.values():
        params = ", ".join(f"{p.name}:{p.type_label}{'' if p.required else '?'}" for p in query.params)
        click.echo(f"{query.name}\t{query.kind}\t({params})\t{query.title}")
    broken = sum(1 for p in problems if p.severity == "error")
    if broken:
        click.secho(f"({broken} error(s); run 'ssikg queries check')", fg="yellow", err=True)



@cli_command.command("run")
@DIR_OPTION
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Store folder (default: $SSIKG_STORE, else var/store in the project, or ~/.local/share/ssikg/store for an installed wheel).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter's value (repeat for each parameter); typed and bound as an RDF term.")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(("table", "json", "xml", "csv", "tsv", "turtle", "ntriples")),
              help="As for 'ssikg query'.")
@click.argument("name")
def run_command(directory, store, params, fmt, name):
    """Run the stored query NAME with its parameters, as GET /api/queries/NAME does: defaults
    apply, values are checked and bound as RDF terms (a paginated query runs whole)."""
    from .cli import _fail, _open_for_reading, _print_result

    queries, _problems = check_dir(_queries_dir(directory))
    query = queries.get(name)
    if query is None:
        raise click.BadParameter(f"no stored query named '{name}' (see 'ssikg queries list')",
                                 param_hint="NAME")
    values = _param_values(params)
    substitutions = _bound(query, values)  # types first: a wrong value needs no store
    graph_store = _open_for_reading(store, read_only=True)
    try:
        if any(p.from_data for p in query.params):  # grlc 'enumerate': the values the data holds
            substitutions = _bound(query, values, enumerations(query, _selector(graph_store)))
        text, substitutions = query.executable(substitutions)
        _print_result(graph_store.query(text, substitutions=substitutions), fmt)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    finally:
        graph_store.close()


def _bound(query: StoredQuery, values: dict[str, str],
           allowed: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """:meth:`StoredQuery.bind`, a refused value being a bad ``--param`` (exit 2, as click's)."""
    try:
        return query.bind(values, allowed=allowed)[0]
    except ParamError as exc:
        raise click.BadParameter(exc.message, param_hint="--param") from None


def _selector(graph_store) -> Callable[[str, str], list[str]]:
    """:func:`enumerations`' ``select`` over an open store."""
    def select(text: str, variable: str) -> list[str]:
        return [s[variable].value for s in graph_store.query(text) if s[variable] is not None]

    return select


def _param_values(pairs) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--param")
        if name in values:
            raise click.BadParameter(f"parameter '{name}' given twice", param_hint="--param")
        values[name] = value
    return values
