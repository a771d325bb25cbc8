"""Keeping XML output well-formed and exact whatever the literals hold.

RDF allows any Unicode character in a literal; XML 1.0 does not.  The serialisers
(pyoxigraph's SPARQL XML results and RDF/XML, rdflib's RDF/XML) write a literal's
characters as they are, so a carriage return comes back as a line feed after any
conforming parser's end-of-line handling (XML 1.0 §2.11), and a C0 control character
(U+0001–U+0008, U+000B, U+000C, U+000E–U+001F) makes the whole document ill-formed
(§2.2).  :func:`xml_safe` rewrites their bytes in serialised XML: a carriage return
as the character reference ``&#13;`` (exact), the characters XML 1.0 cannot carry at
all as U+FFFD (the one loss, confined to that character; JSON, CSV, TSV and the RDF
text formats carry them exactly).

Working on bytes is safe: these characters are single bytes in UTF-8, never part of a
multi-byte sequence, and the serialisers never write them as markup.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(rb"[\x00-\x08\x0b-\x1f]")
_REPLACEMENT = "\ufffd".encode()


def _replace(match: re.Match) -> bytes:
    return b"&#13;" if match.group() == b"\r" else _REPLACEMENT


def xml_safe(data: bytes) -> bytes:
    """``data`` (serialised XML, or a piece of it) with no byte XML 1.0 would misread."""
    if not _UNSAFE.search(data):
        return data
    return _UNSAFE.sub(_replace, data)


class XmlSafeSink:
    """A file-like sink passing every write through :func:`xml_safe`."""

    def __init__(self, sink):
        self._sink = sink

    def write(self, data) -> int:
        self._sink.write(xml_safe(bytes(data)))
        return len(data)

    def flush(self) -> None:
        flush = getattr(self._sink, "flush", None)
        if flush:
            flush()
