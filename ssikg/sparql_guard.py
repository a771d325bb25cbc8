"""Finding the outbound targets of a SPARQL query or update (``SERVICE`` and
``LOAD``) and deciding whether they may be contacted, before anything runs.

pyoxigraph makes real HTTP requests for ``SERVICE <url>`` and ``LOAD <url>``
and has no switch to turn them off, so this module is the switch.  It works on
tokens, not on the raw text: the package's SPARQL lexer
(:mod:`ssikg.sparql_lexer`) skips comments and the four forms of string literal
(with their escapes), reads IRIs (decoding their ``\\u`` escapes, as Oxigraph
does), prefixed names (resolved here through the ``PREFIX`` and ``BASE``
declarations seen so far) and variables.  A ``SERVICE`` or ``LOAD`` keyword is
then an identifier token, case-insensitive, and never a word inside a string,
an IRI, a comment or a prefixed name such as ``service:x``.

Policy (:class:`OutboundPolicy`): with an empty allowlist every ``SERVICE`` and
``LOAD`` is refused.  A target is admitted only when it is an http(s) IRI
under one of the allowlisted prefixes (compared by scheme, host, port and path
segments, so ``http://a.example`` does not admit ``http://a.example.evil``) and,
unless ``allow_private``, every address its host resolves to is a public one
(no loopback, private, link-local, cloud metadata, shared or reserved range).
``SERVICE ?var`` is always refused: its target is only known while running.

Everything here is pure (no Flask); a refusal raises :class:`Refused` carrying
the HTTP status the endpoint answers with.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit

from . import sparql_lexer
from .sparql_lexer import Token

# ---------------------------------------------------------------------------
# Tokens (the lexer is ssikg.sparql_lexer; here only the refusal of what it cannot split)


class Refused(ValueError):
    """An operation the policy does not allow; ``status`` is 400 or 403."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def next_token(text: str, i: int) -> Token | None:
    """The lexer's token at or after ``i`` (see :func:`_checked`)."""
    return _checked(sparql_lexer.next_token(text, i))


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` (see :func:`_checked`)."""
    return [_checked(token) for token in sparql_lexer.tokenize(text)]


def _checked(token: Token | None) -> Token | None:
    """``token``, unless it is an unterminated string: past one the text cannot be
    split safely, so no target found could be trusted and the text is refused (400)."""
    if token is not None and token.kind == "unterminated":
        raise Refused(400, f"unterminated string literal starting at character {token.start + 1}")
    return token


# ---------------------------------------------------------------------------
# Finding targets
#
# Oxigraph's parser is scannerless (PEG) and matches keywords without a word
# boundary: it reads ``SERVICEex:s {``, ``SERVICE SILENTex:s {``, ``trueSERVICE
# ex:s {`` (after an object) and ``LOADSILENT ex:d`` as the keywords followed by
# their target.  A context-free tokenizer sees one word there, so the finder
# also looks for the keywords *inside* names and prefixed names and re-reads the
# text after them.  To avoid refusing an innocent ``ex:service`` or
# ``service:x``, a keyword found inside a longer word counts only when what
# follows is really a call: ``[SILENT] target {`` for SERVICE, and for LOAD a
# word at the start of an update operation (where only an operation keyword
# can be).


@dataclass(frozen=True)
class Target:
    keyword: str  # "SERVICE" or "LOAD"
    iri: str | None  # None when the target is a variable
    silent: bool
    position: int
    variable: str | None = None


@dataclass
class _Scope:
    base: str | None
    prefixes: dict[str, str] = field(default_factory=dict)


def outbound_targets(text: str, base_iri: str | None = None) -> list[Target]:
    """Every SERVICE and LOAD target of ``text``, resolved to an absolute IRI.

    Raises :class:`Refused` (400) when a target cannot be resolved (undefined
    prefix, relative IRI without a base) or the text cannot be tokenized."""
    scope = _Scope(base_iri)
    targets: list[Target] = []
    depth, operation_start, position, previous = 0, True, 0, None
    place = _Place()
    while (token := next_token(text, position)) is not None:
        position = token.end
        # only the keyword itself: a name ending so (ex:graph, ex:photo) is a term, after which a
        # pattern may begin
        after_iri_keyword = previous is not None and previous.keyword(*_IRI_KEYWORDS)
        word, previous = token.word, token
        if depth == 0 and (declared_end := _declaration(text, token, scope)):
            position, operation_start = declared_end, True
            continue
        if operation_start and depth == 0 and word.startswith("LOAD"):
            found = _call(text, token.start + 4, "LOAD", token.start, scope, need_brace=False)
            if not found:
                raise Refused(400, f"LOAD at character {token.start + 1} must be followed by an IRI")
            targets.extend(found)
        # a prefixed name Oxigraph can read (its prefix declared) is one wherever a term may be:
        # ex:service, GRAPH service:g { … }, ?s ?p service:o { … } are names, not calls; with an
        # undeclared prefix the parser reads something else (trueservice:x is true, SERVICE :x)
        readable = token.kind == "pname" and token.prefix in scope.prefixes
        for offset in _occurrences(word, "SERVICE"):
            exact = offset == 0 and word == "SERVICE"
            if readable and not exact and (offset > 0 or after_iri_keyword or not place.call_possible):
                continue
            targets.extend(_call(text, token.start + offset + 7, "SERVICE", token.start + offset,
                                 scope, need_brace=not exact))
        if token.kind == "punct" and token.value in "{}":
            depth += 1 if token.value == "{" else -1
        operation_start = depth == 0 and token.kind == "punct" and token.value == ";"
        place.read(token)
    return targets


# Keywords followed by an IRI then '{': a word after them is their IRI, not a SERVICE.
_IRI_KEYWORDS = ("GRAPH", "SERVICE", "SILENT", "FROM", "NAMED", "USING", "WITH", "INTO", "TO", "DESCRIBE")
_TERM_NAMES = {"TRUE", "FALSE", "A"}  # names that are terms (the verb ``a``, the booleans)


class _Place:
    """Where a prefixed name stands in a graph pattern, as Oxigraph's parser reads it.

    A prefixed name spelling ``service…:x`` is a SERVICE call only where a pattern may begin
    (``{ service:x { … } }``, after a complete triple, a ``.``, a group, a ``FILTER (…)``…);
    in a triple's object place (``?s ?p service:x { … }``, ``?s ?p ?o , service:x``), or as a
    literal's datatype, the parser takes it as the term (its prefixed-name rule comes first
    and is greedy), and a ``{`` after it opens a plain group.  So the terms read since the
    pattern began are counted: two means the next term is an object.  Brackets and
    parentheses count as one term; ``/``, ``|`` and ``^^`` join the next term to the
    previous one; a keyword starts a new pattern.  (Checked against the engine making, or
    not making, the request: ``tests/test_safety_service_load.py``.)"""

    def __init__(self):
        self.terms, self.joined, self.describing = 0, False, False
        self.stack: list[tuple[int, bool]] = []
        self.previous: Token | None = None
        # the bracket depth of a FILTER or BIND being read: its constraint (``(…)``, a function
        # call ``xsd:boolean(…)``, ``NOT EXISTS {…}``) is no term, and a pattern may begin after it
        self.constraint: int | None = None

    @property
    def call_possible(self) -> bool:
        return not (self.joined or self.describing or self.terms == 2)

    def read(self, token: Token) -> None:
        kind, value = token.kind, token.value
        if kind == "name" and value.upper() not in _TERM_NAMES:
            self.terms, self.joined = 0, False
            self.describing = value.upper() == "DESCRIBE" or (self.describing and value.upper() not in {"WHERE", "FROM"})
            if value.upper() in {"FILTER", "BIND"} and self.constraint is None:
                self.constraint = len(self.stack)
        elif kind in {"var", "iri", "pname", "string", "name"} or (kind == "other" and not value.startswith("@")):
            self._term()
        elif kind == "punct":
            self._punct(token)
        self.previous = token

    def _term(self) -> None:
        if self.constraint is not None and len(self.stack) == self.constraint:
            return  # the name of the function a FILTER calls
        if self.joined:
            self.joined = False
        else:
            self.terms += 1

    def _punct(self, token: Token) -> None:
        value = token.value
        if value in "{[(":
            self.stack.append((self.terms, self.joined))
            self.terms, self.joined = 0, False
            self.describing = self.describing and value != "{"
        elif value in "}])":
            self.terms, self.joined = self.stack.pop() if self.stack else (0, False)
            if self.constraint is not None and len(self.stack) <= self.constraint:
                self.constraint = None  # the FILTER or BIND has ended: a pattern may begin
                self.terms, self.joined = 0, False
            elif value == "}":
                self.terms, self.joined = 0, False  # after a group, a pattern may begin
            else:
                self._term()
        elif value == ".":
            self.terms = 0
        elif value in ";,":
            self.terms = 1 if value == ";" else 2
        elif value in "/|" or (value == "^" and self.previous is not None and self.previous.kind == "string"):
            self.joined = True



def _occurrences(word: str, keyword: str) -> Iterator[int]:
    start = word.find(keyword)
    while start >= 0:
        yield start
        start = word.find(keyword, start + 1)


def _declaration(text: str, token: Token, scope: _Scope) -> int | None:
    """Record a ``PREFIX p: <iri>`` or ``BASE <iri>`` starting at ``token``; returns where it ends."""
    word = token.word
    if word.startswith("BASE"):
        iri = next_token(text, token.start + 4)
        if iri is not None and iri.kind == "iri":
            scope.base = _resolve(iri.value, scope.base, iri.start)
            return iri.end
    if word.startswith("PREFIX"):
        name = next_token(text, token.start + 6)
        if name is not None and name.kind == "pname" and not name.local and name.value.endswith(":"):
            iri = next_token(text, name.end)
            if iri is not None and iri.kind == "iri":
                scope.prefixes[name.prefix] = _resolve(iri.value, scope.base, iri.start)
                return iri.end
    return None


def _call(text: str, after: int, keyword: str, position: int, scope: _Scope,
          need_brace: bool) -> list[Target]:
    """The targets of a SERVICE / LOAD whose keyword ends at ``after`` ([] when it is not a call).

    ``SILENT`` glued to the target is ambiguous for a PEG parser (``SILENTex:s``
    is SILENT + ex:s, or a prefixed name), so both readings are returned."""
    first = next_token(text, after)
    if first is None:
        return []
    readings = [(first, False)]
    if first.word.startswith("SILENT"):
        second = next_token(text, first.start + 6)
        readings = [(second, True)] + ([(first, False)] if first.kind == "pname" else [])
    targets, unresolved = [], None
    for target_token, silent in readings:
        if target_token is None or target_token.kind not in {"iri", "pname", "var"}:
            continue
        if need_brace and (following := next_token(text, target_token.end)) is not None:
            if following.value != "{" or following.kind != "punct":
                continue
        elif need_brace:
            continue
        try:
            targets.append(_target(keyword, target_token, silent, position, scope))
        except Refused as refusal:
            # A glued reading whose prefix is undeclared cannot parse either: not a call.
            unresolved = None if need_brace else refusal
    if not targets and unresolved is not None:
        raise unresolved
    return targets


def _target(keyword: str, token: Token, silent: bool, position: int, scope: _Scope) -> Target:
    where = f"{keyword} at character {position + 1}"
    if token.kind == "var":
        return Target(keyword, None, silent, position, variable=token.value)
    if token.kind == "iri":
        return Target(keyword, _resolve(token.value, scope.base, token.start), silent, position)
    if token.prefix not in scope.prefixes:
        raise Refused(400, f"{where}: the prefix '{token.prefix}:' is not declared")
    return Target(keyword, scope.prefixes[token.prefix] + token.local, silent, position)


def _resolve(iri: str, base: str | None, position: int) -> str:
    if urlsplit(iri).scheme:
        return iri
    if not base:
        raise Refused(400, f"relative IRI <{iri}> at character {position + 1} and no base IRI")
    return urljoin(base, iri)


# ---------------------------------------------------------------------------
# Policy

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the same resolution the engine's HTTP client makes)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local (incl. 169.254.169.254 metadata), shared,
    multicast, reserved and unspecified addresses, IPv4-mapped ones included."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class OutboundPolicy:
    allowlist: tuple[str, ...] = ()
    allow_private: bool = False
    resolver: Resolver = field(default=resolve_host, compare=False)

    def check(self, target: Target) -> None:
        """Raise :class:`Refused` unless ``target`` may be contacted."""
        where = f"{target.keyword} at character {target.position + 1}"
        if target.iri is None:
            raise Refused(403, f"{where} names its endpoint with the variable ?{target.variable}; "
                               "only a literal IRI can be checked, so it is refused")
        if not self.allowlist:
            what = ("federated queries (SERVICE) are" if target.keyword == "SERVICE"
                    else "LOAD from the web is")
            raise Refused(403, f"{where}: {what} disabled on this endpoint; "
                               f"<{target.iri}> was not contacted (see the service_allowlist setting)")
        parts = urlsplit(target.iri)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise Refused(403, f"{where}: only http(s) endpoints can be contacted, not <{target.iri}>")
        if not any(_under_prefix(parts, prefix) for prefix in self.allowlist):
            raise Refused(403, f"{where}: <{target.iri}> is not under any prefix of the "
                               "service_allowlist setting; it was not contacted")
        if not self.allow_private:
            self._check_public(where, parts)

    def _check_public(self, where: str, parts) -> None:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            addresses = self.resolver(parts.hostname, port)
        except (OSError, UnicodeError) as exc:
            raise Refused(403, f"{where}: the host {parts.hostname} cannot be resolved ({exc}); "
                               "it was not contacted") from None
        private = [a for a in addresses if not is_public_address(a)]
        if private or not addresses:
            raise Refused(403, f"{where}: the host {parts.hostname} resolves to a loopback, private, "
                               f"link-local or reserved address ({', '.join(private) or 'none'}); "
                               "such targets are refused unless service_allow_private is set")


def _under_prefix(target, prefix_iri: str) -> bool:
    prefix = urlsplit(prefix_iri)
    if (target.scheme.lower(), _host_port(target)) != (prefix.scheme.lower(), _host_port(prefix)):
        return False
    if target.username is not None or target.password is not None:
        return False
    want = prefix.path or "/"
    path = target.path or "/"
    if _leaves_its_folder(path):
        return False
    if want.endswith("/") or path == want:
        return path.startswith(want) and (not prefix.query or target.query == prefix.query)
    return path.startswith(want + "/")


def _leaves_its_folder(path: str) -> bool:
    """Whether ``path`` holds a dot segment (``..``, ``.``, also percent-encoded) or a
    backslash: servers that normalise them (RFC 3986 §5.2.4; Jetty, nginx) would serve a
    path outside the allowed prefix the text seems to be under."""
    decoded = unquote(path)
    return "\\" in decoded or any(segment in (".", "..") for segment in decoded.split("/"))


def _host_port(parts) -> tuple[str, int | None]:
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return ((parts.hostname or "").lower(), port)


def _may_reach_out(text: str) -> bool:
    """False only when ``text`` cannot contain a SERVICE or LOAD keyword: Oxigraph
    matches keywords ASCII-case-insensitively, so their letters must be in the text
    (escapes aside).  Skipping the tokenizer for such texts takes the guard from
    ~70 µs to ~1 µs on a typical query (profiled on the small-query benchmark)."""
    lowered = text.lower()
    return "service" in lowered or "load" in lowered or "\\u" in lowered


def policy_for(settings) -> OutboundPolicy:
    """The policy the ``service_allowlist`` and ``service_allow_private`` settings make."""
    return OutboundPolicy(tuple(settings.get("service_allowlist") or ()), bool(settings.get("service_allow_private")))


def check_outbound(text: str, policy: OutboundPolicy, base_iri: str | None = None) -> list[Target]:
    """Refuse ``text`` if any SERVICE / LOAD target is not allowed; returns the targets."""
    if not _may_reach_out(text):
        return []
    targets = outbound_targets(text, base_iri)
    for target in targets:
        policy.check(target)
    return targets
