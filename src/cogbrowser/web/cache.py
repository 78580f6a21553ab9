"""A bounded in-memory cache of encoded pictures (tiles, maps, legends, exports), shared by the
server's threads.

Map clients ask for the same tiles again (panning back, a second user, a refresh); rendering one
costs 5-50 ms, a cache hit microseconds. Bounded by total bytes, least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class ResponseCache:
    """key -> encoded picture bytes, at most `max_bytes` in all; safe to use from many threads."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes // 8:  # one huge entry must not flush everything else
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.size -= len(evicted)

    def __len__(self) -> int:
        return len(self._items)
