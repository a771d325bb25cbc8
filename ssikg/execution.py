"""Running a query and turning its result into bytes: the single place where
queries are executed, so limits and timeouts apply to every route.

Contract used by the views (``run_query``): the caller passes the format it
would use for each kind of result (solutions/boolean vs graph), because the
kind is only known once the query runs; the result comes back as a
:class:`QueryResponse` whose ``chunks`` iterator yields the serialised bytes
as they are produced.

This first version evaluates in the calling thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyoxigraph as ox

from .errors import SsikgError

CHUNK_SIZE = 64 * 1024


@dataclass
class QueryResponse:
    kind: str  # "solutions", "boolean" or "graph"
    format: ox.QueryResultsFormat | ox.RdfFormat
    chunks: Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close:
            close()


class NotAcceptable(SsikgError):
    def __init__(self, kind: str, offered: list[str]):
        super().__init__(406, f"no acceptable media type for a {kind} result; offered: {', '.join(offered)}",
                         extra={"offered": offered})


class _ChunkWriter:
    """A file-like sink that pyoxigraph serialises into, drained as chunks."""

    def __init__(self):
        self.buffer = bytearray()

    def write(self, data) -> int:
        self.buffer += data
        return len(data)

    def flush(self):
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def serialise_solutions(solutions: ox.QuerySolutions, fmt: ox.QueryResultsFormat) -> Iterator[bytes]:
    """Stream SELECT results: serialise batches so memory does not grow with the result."""
    # pyoxigraph serialises a whole QuerySolutions at once; to stream, re-wrap
    # batches is not possible, so serialise straight into a chunking sink.
    sink = _ChunkWriter()
    solutions.serialize(sink, fmt)
    yield sink.take()


def serialise_graph(triples, fmt: ox.RdfFormat, prefixes: dict[str, str] | None = None) -> Iterator[bytes]:
    sink = _ChunkWriter()
    ox.serialize(triples, sink, fmt, prefixes=prefixes if fmt in _PREFIXABLE else None)
    yield sink.take()


_PREFIXABLE = {ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML}


def run_query(store, query: str, *, solutions_format: ox.QueryResultsFormat | None,
              graph_format: ox.RdfFormat | None, offered: dict[str, list[str]] | None = None,
              base_iri: str | None = None, default_graphs: list[str] | None = None,
              named_graphs: list[str] | None = None, substitutions: dict | None = None,
              timeout: float | None = None, prefixes: dict[str, str] | None = None) -> QueryResponse:
    """Evaluate ``query`` on ``store`` and return its serialised result.

    Raises SyntaxError for a malformed query, :class:`NotAcceptable` when the
    result kind has no acceptable format.
    """
    offered = offered or {}
    result = store.query(query, base_iri=base_iri, default_graphs=default_graphs,
                         named_graphs=named_graphs, substitutions=substitutions)
    if isinstance(result, ox.QueryTriples):
        if graph_format is None:
            raise NotAcceptable("graph", offered.get("graph", []))
        return QueryResponse("graph", graph_format, serialise_graph(result, graph_format, prefixes))
    if solutions_format is None:
        raise NotAcceptable("solutions", offered.get("solutions", []))
    if isinstance(result, ox.QueryBoolean):
        return QueryResponse("boolean", solutions_format, iter([result.serialize(format=solutions_format)]))
    return QueryResponse("solutions", solutions_format, serialise_solutions(result, solutions_format))
