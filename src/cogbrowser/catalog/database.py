"""Opening the catalog database: the embedded cluster or a server by URL, a pool, migrations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from cogbrowser.catalog.changes import CatalogChanges
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.catalog.files import seal_registered_in_place
from cogbrowser.catalog.migrate import migrate
from cogbrowser.config import Settings
from cogbrowser.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

Connection = psycopg.Connection[DictRow]  # a pooled connection: rows come as dicts
IN_PLACE_SEAL_MIGRATION = 5  # images registered in place before it are sealed when it is applied


class Database:
    """The catalog's connection pool, and the embedded server it started (if any).

    Use as a context manager, or call close(): closing stops the embedded server when this was its
    last user.
    """

    def __init__(self, url: str, embedded: EmbeddedPostgres | None = None, *, max_size: int = 10) -> None:
        self.url = url
        self.embedded = embedded
        self._changes: CatalogChanges | None = None
        self._changes_lock = threading.Lock()
        try:  # fail fast with the server's own words rather than a pool time-out
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {_redact(url)}: {_one_line(exc)}") from exc
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url, min_size=1, max_size=max_size, open=False,
            # prepare_threshold=None: no server-side prepared statements. Their generic plans guess a
            # time range's selectivity and picked a full-table plan for year-long detection counts
            # (392 ms p95 instead of 71 ms over 1M rows: bench/catalog_bench.py).
            kwargs={"row_factory": dict_row, "autocommit": True, "prepare_threshold": None},
            name="cogbrowser",
        )
        try:
            self.pool.open(wait=True, timeout=30)
        except Exception as exc:
            self.pool.close()
            raise DatabaseUnavailable(f"cannot open a connection pool to PostgreSQL at {_redact(url)}: {exc}") from exc

    @classmethod
    def open(cls, settings: Settings, *, max_size: int = 10) -> Database:
        """Connect as the settings say (starting the embedded server if no URL), then migrate."""
        embedded = None
        url = settings.database_url
        if not url:
            embedded = EmbeddedPostgres(settings.pg_dir)
            url = embedded.start()
        try:
            db = cls(url, embedded, max_size=max_size)
            with db.connection() as conn:
                applied = migrate(conn)
                if IN_PLACE_SEAL_MIGRATION in applied:
                    seal_registered_in_place(conn, settings)
            if applied:
                log.info("catalog schema migrated: %s", applied)
            return db
        except BaseException:
            if embedded:
                embedded.stop()
            raise

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection (autocommit; use `with conn.transaction():` for atomic work)."""
        with self.pool.connection() as conn:
            yield conn

    @property
    def changes(self) -> CatalogChanges:
        """The catalog's change counter, listening from its first use on (servers use it; a CLI
        command never does, so it opens no extra connection)."""
        with self._changes_lock:
            if self._changes is None:
                self._changes = CatalogChanges(self.url)
            return self._changes

    def close(self) -> None:
        with self._changes_lock:
            if self._changes is not None:
                self._changes.close()
        self.pool.close()
        if self.embedded:
            self.embedded.stop()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the given URL"
    host = info.get("host", "localhost")
    return f"{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
