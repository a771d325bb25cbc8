"""What a data-only SPARQL update changes, found without copying the store: this module owns it.

``validate_on_write`` checks an update on the quads it adds and removes.  For an arbitrary
update (``DELETE … INSERT … WHERE``, ``LOAD``, ``COPY`` …) those are only known by running it on
a copy of the store, which costs seconds per million quads.  An update made only of
``INSERT DATA`` and ``DELETE DATA`` operations states its quads, so they can be read without
that copy.  They are read by Oxigraph itself, which parses the update the commit will run:
each operation's block is run as ``INSERT DATA`` on an empty in-memory store, under the
request's own declarations and base IRI.  Its terms (prefixes, relative IRIs, literals,
blank nodes) are therefore exactly those the commit writes.  Only the operation boundaries
come from :mod:`ssikg.sparql_lexer`, and any text this reading does not recognise is left to
the copy (:func:`data_only_delta` returns None).

Blank nodes: Oxigraph refuses a label shared by two blocks and refuses blank nodes in
``DELETE DATA``, so each block's blank nodes are its own, new to the store (the commit names
them afresh, as the probe does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from .sparql_lexer import Token, closing_brace, tokenize


@dataclass(frozen=True)
class DataOperation:
    """One ``INSERT DATA`` or ``DELETE DATA`` operation: its keyword and its block's text."""

    inserts: bool
    block: str


def data_operations(update_text: str) -> tuple[list[str], list[DataOperation]] | None:
    """The update's prologue declarations (as written) and its operations, or None when the
    update holds anything but ``INSERT DATA`` / ``DELETE DATA`` operations separated by ``;``."""
    tokens = tokenize(update_text)
    if any(token.kind == "unterminated" for token in tokens):
        return None
    declarations: list[str] = []
    operations: list[DataOperation] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.keyword("PREFIX", "BASE") and not operations:
            end = i + (3 if token.keyword("PREFIX") else 2)
            declarations.append(update_text[token.start:tokens[end - 1].end] if end <= len(tokens) else "")
            i = end
        elif token.keyword("INSERT", "DELETE"):
            operation, i = _operation(update_text, tokens, i)
            if operation is None:
                return None
            operations.append(operation)
            if i < len(tokens) and tokens[i].text == ";":
                i += 1
            elif i < len(tokens):
                return None
        else:
            return None
    return declarations, operations


def _operation(text: str, tokens: list[Token], i: int) -> tuple[DataOperation | None, int]:
    """The DATA operation starting at ``tokens[i]`` and the index after it (None if not one)."""
    if i + 2 >= len(tokens) or not tokens[i + 1].keyword("DATA") or tokens[i + 2].text != "{":
        return None, i
    opening = tokens[i + 2]
    closing = closing_brace(tokens, opening)
    if closing is None:
        return None, i
    after = next(n for n, token in enumerate(tokens) if token is closing) + 1
    return DataOperation(tokens[i].keyword("INSERT"), text[opening.start:closing.end]), after


def _block_quads(declarations: list[str], block: str, base_iri: str | None) -> list[ox.Quad]:
    probe = ox.Store()
    probe.update("\n".join([*declarations, "INSERT DATA", block]), base_iri=base_iri)
    return list(probe.quads_for_pattern(None, None, None, None))


def data_only_delta(store, update_text: str, base_iri: str | None = None
                    ) -> tuple[list[ox.Quad], list[ox.Quad]] | None:
    """The quads the update adds to ``store`` and removes from it, net, in request order; None
    when the update is not data-only (the caller then runs it on a copy).

    ``store`` is read by membership only.  A data-only update is first run whole on an empty
    store, so a malformed one (a blank node in ``DELETE DATA``, a label shared by two blocks)
    raises pyoxigraph's ``SyntaxError`` here, as the commit would.  Nothing else is run: any
    other update is left to the caller before it could reach out (``LOAD``)."""
    parsed = data_operations(update_text)
    if parsed is None:
        return None
    ox.Store().update(update_text, base_iri=base_iri)
    declarations, operations = parsed
    added: dict[ox.Quad, None] = {}  # ordered: the check reports in request order
    removed: dict[ox.Quad, None] = {}
    for operation in operations:
        for quad in _block_quads(declarations, operation.block, base_iri):
            if operation.inserts:
                _insert(quad, store, added, removed)
            else:
                _delete(quad, store, added, removed)
    return list(added), list(removed)


def _insert(quad: ox.Quad, store, added: dict, removed: dict) -> None:
    if quad in removed:
        del removed[quad]  # deleted earlier in the request, back again: no change
    elif quad not in store:
        added[quad] = None


def _delete(quad: ox.Quad, store, added: dict, removed: dict) -> None:
    if quad in added:
        del added[quad]  # inserted earlier in the request: no change
    elif quad in store:
        removed[quad] = None
