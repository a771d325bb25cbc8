"""SPARQL tokenization for the whole package: this module owns it.

Every place that reads query or update text by its tokens (the SERVICE / LOAD
guard, the protocol's USING rewrite and FROM detection, the remote store's
query-form, BASE and VALUES handling) uses :func:`tokenize` or
:func:`next_token` from here, so that all of them agree on what is a string,
an IRI, a comment or a keyword.

The rules follow the SPARQL 1.1 grammar's terminals: the four forms of string
literal with their escapes, IRIREF (with the ``\\u`` / ``\\U`` escapes that
Oxigraph decodes inside IRIs), prefixed names (PN_PREFIX / PN_LOCAL, with
``%hh`` and backslash escapes), variables, numbers and language tags.
Whitespace and ``#`` comments separate tokens and are never returned.

The lexer never raises: a quote that opens no complete string becomes one
``unterminated`` token and scanning goes on after it.  Callers decide whether
that is fatal (the guard refuses such text; the other callers let the engine
report the syntax error).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


# Not frozen: a frozen dataclass is about five times slower to build, and every
# query is tokenized on each request, hundreds of tokens at a time.
@dataclass(slots=True)
class Token:
    # "name", "pname", "iri", "var", "string", "punct", "other" (numbers, language
    # tags) or "unterminated" (a lone quote).
    kind: str
    text: str  # the token as written
    start: int
    end: int
    value: str  # iri: the IRI, escapes decoded, without <>; var: the name without ?/$; else text
    depth: int = 0  # '{' groups open around the token (a brace is outside its own group)
    prefix: str = ""  # pname: the prefix, without ':'
    local: str = ""  # pname: the local part, backslash escapes removed

    @property
    def word(self) -> str:
        """Upper-cased text of a name or prefixed name ('' otherwise).

        Prefixed names count because Oxigraph's scannerless parser reads
        ``SERVICEex:s`` as a keyword glued to its target."""
        return self.text.upper() if self.kind in {"name", "pname"} else ""

    def keyword(self, *words: str) -> bool:
        """Whether this is a bare name spelling one of ``words`` (upper case), in any case."""
        return self.kind == "name" and self.text.upper() in words


# Characters the grammar allows after the first one of names (PN_CHARS extras).
_EXTRA = r"\u00B7\u0300-\u036F\u203F-\u2040"
# PN_PREFIX: starts with a letter, may hold '.' inside but not at the end.
_PN_PREFIX = rf"(?:[^\W\d_](?:[\w.\-{_EXTRA}]*[\w\-{_EXTRA}])?)?"
# PN_LOCAL: ':' and '.' allowed inside, %hh and backslash escapes, no trailing '.'.
_PN_LOCAL_CHAR = rf"(?:[\w\-:{_EXTRA}]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%])"
_PN_LOCAL = rf"(?:{_PN_LOCAL_CHAR}(?:(?:{_PN_LOCAL_CHAR}|\.)*{_PN_LOCAL_CHAR})?)?"

# A long-quote opener commits to the long form: ''' that never closes is
# unterminated, not an empty '' followed by more (the stricter reading).
_STRING = r"""
    '''(?:[^'\\]|\\.|'(?!''))*'''
  | \"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
  | (?!''')'(?:[^'\\\n\r]|\\.)*'
  | (?!\"\"\")"(?:[^"\\\n\r]|\\.)*"
"""

# Whitespace and comments first (they separate tokens), then the tokens in
# priority order; the last alternative takes any single character, so there is
# a match at every position and a scan never skips text.
_SCAN = re.compile(rf"""
    (?P<skip>\s+|\#[^\n\r]*)
  | (?P<string>{_STRING})
  | (?P<unterminated>['"])
  | (?P<iri><(?:[^<>"{{}}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{{4}}|\\U[0-9A-Fa-f]{{8}})*>)
  | (?P<var>[?$][\w{_EXTRA}]+)
  | (?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*(?:--[A-Za-z]+)?)
  | (?P<pname>(?P<prefix>{_PN_PREFIX}|_):(?P<local>{_PN_LOCAL}))
  | (?P<name>[^\W\d][\w\-]*)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)

_UCHAR = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LOCAL_ESCAPE = re.compile(r"\\(.)")
_KIND = {"lang": "other", "number": "other"}  # regex group → token kind, where they differ


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` in order, with its brace depth."""
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of :func:`tokenize` one by one, for callers that stop early."""
    depth = 0
    for match in _SCAN.finditer(text):
        if match.lastgroup != "skip":
            token = _token(match, depth)
            yield token
            depth = token.depth + 1 if token.text == "{" and token.kind == "punct" else token.depth


def next_token(text: str, i: int, depth: int = 0) -> Token | None:
    """The token starting at or after index ``i`` (whitespace and comments skipped), or None.

    For incremental scans that may restart anywhere, even inside a word (the
    guard re-reads ``SERVICEex:s`` from after ``SERVICE``).  ``depth`` is the
    brace depth at ``i``, which only the caller can know."""
    while (match := _SCAN.match(text, i)) and match.lastgroup == "skip":
        i = match.end()
    return _token(match, depth) if match else None


def _token(match: re.Match, depth: int) -> Token:
    kind, text = match.lastgroup, match.group()  # lastgroup: the outer group, for pname
    if kind == "pname":
        local = _LOCAL_ESCAPE.sub(r"\1", match.group("local"))
        return Token("pname", text, match.start(), match.end(), text, depth,
                     prefix=match.group("prefix"), local=local)
    if kind == "iri":
        value = _UCHAR.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text[1:-1])
    elif kind == "var":
        value = text[1:]
    else:
        value = text
    if text == "}" and kind == "punct":
        depth = max(0, depth - 1)  # a closing brace is outside the group it closes
    return Token(_KIND.get(kind, kind), text, match.start(), match.end(), value, depth)


def closing_brace(tokens: list[Token], opening: Token) -> Token | None:
    """The '}' closing the group that ``opening`` (a '{' of ``tokens``, from
    :func:`tokenize`) opens, or None when the text leaves it open.

    Braces carry the depth outside their group, so it is the first '}' after
    ``opening`` at the same depth."""
    for token in tokens:
        if token.start > opening.start and token.text == "}" and token.depth == opening.depth:
            return token
    return None


def declared_prefixes(tokens: list[Token]) -> dict[str, str]:
    """The prefixes a text's ``PREFIX`` declarations bind (the last wins), by prefix name."""
    found = {}
    for index, token in enumerate(tokens[:-2]):
        if token.keyword("PREFIX") and tokens[index + 2].kind == "iri":
            found[tokens[index + 1].prefix] = tokens[index + 2].value
    return found


_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")


def deepest_nesting(text: str) -> int:
    """How deep Oxigraph's parser and evaluator will recurse on ``text``, estimated from its
    tokens (strings, IRIs and comments aside): brackets, parentheses and braces as they nest;
    plus, at each point, the patterns that came before it in each enclosing group (a group's
    parts join left-deep: ``{…}{…}{…}``, OPTIONAL, MINUS, UNION, GRAPH and BIND chains nest
    the algebra as brackets do; a group counts once, as a part), a run of unary operators
    (``!!!!…``) and a chain of path steps (``a/b/c/…``).  Each of those, a few hundred long, exhausted the stack of the
    thread evaluating it (a crash, not an error).  Not counted: the blocks of data and
    templates (``INSERT DATA {…}``, ``DELETE {…}``, ``CONSTRUCT {…}`` and the ``GRAPH`` blocks
    in them are flat lists of quads, not joins) and the operations of an update (``;`` at
    the top level starts the next one).  Cheap when the text holds few candidates:
    their count bounds the depth, and the text is tokenized only when that count is high."""
    candidates = sum(text.count(c) for c in "([{!/") + text.upper().count("BIND")
    if candidates <= NESTING_SCREEN:
        return candidates
    brackets = deepest = 0
    parts: list[int] = [0]  # per open group: the parts seen so far (the top level is one group)
    flat: list[bool] = [False]  # per open group: a block of data or a template, whose parts do not join
    run = chain = 0  # unary operators in a row; path steps in a row
    previous = None
    for token in iter_tokens(text):
        here = brackets + sum(parts)
        if not _in_path(token):
            chain = 0  # the object, a '.', a group: that path has ended (and ?a/1 is a division)
        if token.kind == "punct":
            if token.text == "{":  # a group is one part of the group around it: counted once
                if not flat[-1]:
                    parts[-1] += 1
                parts.append(0)
                flat.append(flat[-1] or _opens_quads(previous))
                deepest = max(deepest, here + 1)
            elif token.text in _OPENING:
                brackets += 1
                deepest = max(deepest, here + 1)
            elif token.text == "}":
                if len(parts) > 1:
                    parts.pop()
                    flat.pop()
            elif token.text == ";" and len(parts) == 1 and not brackets:
                parts[0] = 0  # the next operation of an update: the operations do not join
            elif token.text in _CLOSING:
                brackets = max(0, brackets - 1)
            elif token.text in "!-+" and _starts_operand(previous):
                run += 1
                deepest = max(deepest, here + run)
                previous = token
                continue
            elif token.text == "/" and _in_path(previous):  # a sequence nests its steps; alternatives (|) do not
                chain += 1
                deepest = max(deepest, here + chain)
        elif token.keyword("BIND"):
            parts[-1] += 1
            deepest = max(deepest, here + 1)
        run = 0
        previous = token
    return deepest


def _in_path(token: Token | None) -> bool:
    """Whether ``token`` can be part of a property path: an IRI, ``a``, or a path operator."""
    return token is not None and (token.kind in {"pname", "iri"} or (token.kind == "name" and token.text == "a")
                                  or (token.kind == "punct" and token.text in "/|^!()*+?"))


def _opens_quads(previous: Token | None) -> bool:
    """Whether a ``{`` after ``previous`` opens quads, not a pattern: ``INSERT DATA {``,
    ``DELETE DATA {``, the templates ``INSERT {`` / ``DELETE {`` and ``CONSTRUCT {``."""
    return previous is not None and previous.keyword("DATA", "INSERT", "DELETE", "CONSTRUCT")


def _starts_operand(previous: Token | None) -> bool:
    """Whether a ``!``, ``-`` or ``+`` after ``previous`` is unary (it begins an operand)."""
    return previous is None or (previous.kind == "punct" and previous.text not in ")]}") or (
        previous.kind == "name" and previous.text.upper() in {"FILTER", "BIND", "HAVING", "AS", "IN"})


NESTING_SCREEN = 64  # below this many opening characters the depth is not worth computing
