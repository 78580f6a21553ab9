"""The rendered-tile cache stays within its byte budget and keeps the recently used tiles."""

from __future__ import annotations

import threading

from cogbrowser.web.cache import ResponseCache


def test_bounded_by_bytes_least_recently_used_out_first():
    cache = ResponseCache(max_bytes=1000)
    for name in "abcd":
        cache.put(name, bytes(100))
    assert cache.get("a") is not None  # a is now the most recently used
    for name in "efghijk":
        cache.put(name, bytes(100))
    assert cache.size <= 1000 and len(cache) == 10
    assert cache.get("a") is not None and cache.get("b") is None
    cache.put("a", bytes(50))  # replacing an entry keeps the byte count right
    assert cache.size == 950


def test_an_oversized_tile_is_not_cached():
    cache = ResponseCache(max_bytes=800)
    cache.put("small", bytes(10))
    cache.put("huge", bytes(500))
    assert cache.get("huge") is None and cache.get("small") is not None


def test_many_threads():
    cache = ResponseCache(max_bytes=10_000)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put(f"{offset}-{i % 50}", bytes(37))
            cache.get(f"{offset}-{(i * 7) % 50}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.size == 37 * len(cache) <= 10_000
