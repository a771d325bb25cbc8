"""Per-app memos of values computed from the store (page contents, statistics, sizes).

Each memo is a small bounded LRU kept in ``app.extensions`` (so it dies with its
app, and two apps never share entries), keyed by whatever the value depends on —
the store's version first, so a write makes old entries unreachable and the LRU
drops them.  A value is computed *outside* any lock (a slow computation never
blocks another memo's readers or writers); two threads missing the same key at
once may both compute it, and the first stored wins.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import Flask, current_app

T = TypeVar("T")

_CREATE_LOCK = threading.Lock()  # only to create a memo once per app and name


class Memo:
    """A thread-safe bounded LRU of computed values."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self.computed = 0  # how many times a value was computed (a miss): for tests and debugging
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self.computed += 1
            value = self._entries.setdefault(key, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def memo_of(name: str, maxsize: int, app: Flask | None = None) -> Memo:
    """The memo ``name`` of ``app`` (default: the current app), created on first use."""
    extensions = (app or current_app).extensions
    key = "ssikg.memo." + name
    found = extensions.get(key)
    if found is None:
        with _CREATE_LOCK:
            found = extensions.setdefault(key, Memo(maxsize))
    return found


def memos(app: Flask) -> dict[str, Memo]:
    """The memos ``app`` holds, by name (to see what is kept and how often it was computed)."""
    prefix = "ssikg.memo."
    return {key[len(prefix):]: value for key, value in list(app.extensions.items()) if key.startswith(prefix)}


def store_memo(name: str, key: Hashable, compute: Callable[[], T], *, maxsize: int,
               app: Flask | None = None) -> T:
    """``compute()``, memoised under ``key`` in the memo ``name`` of ``app`` (default: the
    current app).  Put the store's version in ``key`` when the value is read from the store."""
    return memo_of(name, maxsize, app).get(key, compute)
