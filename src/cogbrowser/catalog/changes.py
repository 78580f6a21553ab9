"""Knowing when the catalog changed, without asking it: PostgreSQL LISTEN/NOTIFY.

Migration 0003 makes every change to images or collections notify the channel `cogbrowser_catalog`
at commit, whoever made it (this server, a `cogbrowser ingest` in another process, psql). A
`CatalogChanges` keeps one connection listening on that channel in a thread and counts what it
hears. Whoever caches catalog rows (layers.LayerCache) stamps each entry with the count and drops
entries whose stamp is old.

While the listener is not connected — starting, or after the connection was lost — `version` is
None and nothing may be cached: a change made meanwhile would go unheard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "cogbrowser_catalog"
POLL_SECONDS = 0.2  # how long the thread waits for a notification before looking at its stop flag
RETRY_SECONDS = 2.0  # after a lost connection


class CatalogChanges:
    """A counter that moves on every committed change to images or collections, in any process."""

    def __init__(self, url: Callable[[], str]) -> None:
        self._url = url  # asked at each connection: the embedded cluster's port may change
        self._count = 0
        self._listening = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="catalog-changes", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)

    @property
    def version(self) -> int | None:
        """The number of changes heard so far, or None while not listening (cache nothing then)."""
        with self._lock:
            return self._count if self._listening else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _heard(self, listening: bool) -> None:
        with self._lock:
            self._count += 1
            self._listening = listening

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url(), autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._heard(listening=True)  # what changed before LISTEN is unknown: a new count
                    self._ready.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=POLL_SECONDS):
                            self._heard(listening=True)
            except psycopg.Error as exc:
                self._heard(listening=False)
                self._ready.set()
                if not self._stop.is_set():
                    log.warning("not listening for catalog changes (%s); retrying", str(exc).strip())
                self._stop.wait(RETRY_SECONDS)
