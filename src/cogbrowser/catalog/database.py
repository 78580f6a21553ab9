"""Opening the catalog database: the embedded cluster or a server by URL, a pool, migrations; and
what happens while it is down.

When the database goes away (stopped, crashed, its host unreachable), a request must not wait for
it: the first failed connection marks the catalog unreachable (`Outage`), and from then on every
`connection()` raises DatabaseUnavailable at once (the web layer answers 503 + Retry-After) while
a thread tries to reach it again every half second, first restarting the embedded cluster if its
postmaster died. When it answers, the pool drops its dead connections and work resumes; nothing
is restarted by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from cogbrowser.catalog.changes import CatalogChanges
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.catalog.files import seal_registered_in_place
from cogbrowser.catalog.migrate import migrate
from cogbrowser.config import Settings
from cogbrowser.errors import DatabaseUnavailable, DiskFull, first_line

log = logging.getLogger(__name__)

Connection = psycopg.Connection[DictRow]  # a pooled connection: rows come as dicts
IN_PLACE_SEAL_MIGRATION = 5  # images registered in place before it are sealed when it is applied
UNREACHABLE = "catalog unreachable"  # how every error of an outage begins (the health check says it)
PROBE_SECONDS = 0.5  # between two attempts to reach the catalog again during an outage
WAIT_SLICE = 0.25  # a request waiting for a pooled connection looks at the outage this often
POOL_WAIT = 10.0  # at most this long for a pooled connection while the catalog answers (then: busy)
CONNECT_TIMEOUT = 3  # seconds: a host that does not answer at all is an outage, not a hang


class Outage:
    """Whether the catalog is known to be unreachable, decided without waiting; while it is, a
    thread runs `probe` every PROBE_SECONDS until it succeeds, then `recovered`."""

    def __init__(self, probe: Callable[[], None], recovered: Callable[[], None]) -> None:
        self._probe, self._recovered = probe, recovered
        self._reason: str | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def reason(self) -> str | None:
        """Why the catalog is unreachable, or None while it is not known to be."""
        return self._reason

    def check(self) -> None:
        """DatabaseUnavailable at once while the catalog is known to be unreachable."""
        reason = self._reason
        if reason is not None:
            raise DatabaseUnavailable(f"{UNREACHABLE}: {reason}")

    def begin(self, exc: BaseException) -> DatabaseUnavailable:
        """The catalog was found unreachable: say so from now on, start probing; the error to raise."""
        reason = _one_line(exc)
        with self._lock:
            if self._reason is None and not self._closed.is_set():
                log.warning("%s (%s); trying to reach it again every %.1f s", UNREACHABLE, reason, PROBE_SECONDS)
                self._reason = reason
                self._thread = threading.Thread(target=self._wait_for_recovery, name="catalog-outage", daemon=True)
                self._thread.start()
        return DatabaseUnavailable(f"{UNREACHABLE}: {reason}")

    def close(self) -> None:
        self._closed.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _wait_for_recovery(self) -> None:
        while not self._closed.wait(PROBE_SECONDS):
            try:
                self._probe()
                self._recovered()
            except Exception as exc:  # noqa: BLE001 - whatever keeps it down, we try again
                self._reason = _one_line(exc)
                continue
            log.warning("the catalog answers again")
            with self._lock:
                self._reason = None
                self._thread = None
            return


class Database:
    """The catalog's connection pool, and the embedded server it started (if any).

    Use as a context manager, or call close(): closing stops the embedded server when this was its
    last user.
    """

    def __init__(self, url: str, embedded: EmbeddedPostgres | None = None, *, max_size: int = 10) -> None:
        self._url = url
        self.embedded = embedded
        self._changes: CatalogChanges | None = None
        self._changes_lock = threading.Lock()
        try:  # fail fast with the server's own words rather than a pool time-out
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {redacted(url)}: {_one_line(exc)}") from exc
        self.outage = Outage(self._probe, self._recovered)
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            lambda: self.url, min_size=1, max_size=max_size, open=False,
            # prepare_threshold=None: no server-side prepared statements. Their generic plans guess a
            # time range's selectivity and picked a full-table plan for year-long detection counts
            # (392 ms p95 instead of 71 ms over 1M rows: bench/catalog_bench.py).
            kwargs={"row_factory": dict_row, "autocommit": True, "prepare_threshold": None,
                    "connect_timeout": CONNECT_TIMEOUT},
            # A connection is tried before it is handed out (a few µs on loopback): after a restart of
            # the database the pool's old connections are dead, and none must reach a request.
            check=ConnectionPool.check_connection,
            name="cogbrowser",
        )
        try:
            self.pool.open(wait=True, timeout=30)
        except Exception as exc:
            self.pool.close()
            raise DatabaseUnavailable(f"cannot open a connection pool to PostgreSQL at {redacted(url)}: {exc}") from exc

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

    @property
    def url(self) -> str:
        """The connection URL (the embedded cluster's port may change when it is restarted)."""
        return self.embedded.url if self.embedded else self._url

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection (autocommit; use `with conn.transaction():` for atomic work).

        DatabaseUnavailable, at once, while the catalog is unreachable, or when the connection is
        lost under the caller; a pool that stays full for POOL_WAIT seconds is DatabaseUnavailable too.
        PostgreSQL's own disk-full error (SQLSTATE 53100: it could not extend a table or its WAL)
        becomes DiskFull: nothing was written, and the fix is the administrator's, not the code's.
        """
        self.outage.check()
        conn = self._pooled_connection()
        try:
            with conn:  # as the pool's own connection(): rolls back what an error left open
                yield conn
        except psycopg.errors.DiskFull as exc:
            raise DiskFull(f"the catalog's disk is full, nothing was written: {first_line(exc)}; "
                           "free some space on the server and try again") from exc
        except psycopg.OperationalError as exc:
            if conn.broken or conn.closed:
                raise self.outage.begin(exc) from exc
            raise
        finally:
            self.pool.putconn(conn)

    def _pooled_connection(self) -> Connection:
        """A connection from the pool, waiting in short slices so that an outage found meanwhile (by
        this request or another) ends the wait at once."""
        deadline = time.monotonic() + POOL_WAIT
        while True:
            try:
                return self.pool.getconn(timeout=WAIT_SLICE)
            except PoolTimeout:
                self.outage.check()
                if self.pool.get_stats().get("pool_size", 0) < (self.pool.max_size or 0):
                    self._probe_now()  # not all connections are busy: the pool cannot make new ones
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(f"the catalog is busy: no connection free within {POOL_WAIT:.0f} s "
                                              "(every connection of this server is in use)") from None

    def _probe_now(self) -> None:
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as exc:
            raise self.outage.begin(exc) from exc

    def _probe(self) -> None:
        """During an outage: restart the embedded cluster if it died, then connect once."""
        if self.embedded:
            self.embedded.ensure_running()
        psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT).close()

    def _recovered(self) -> None:
        self.pool.check()  # dead connections out, new ones in

    @property
    def changes(self) -> CatalogChanges:
        """The catalog's change counter, listening from its first use on (servers use it; a CLI
        command never does, so it opens no extra connection)."""
        with self._changes_lock:
            if self._changes is None:
                self._changes = CatalogChanges(lambda: self.url)
            return self._changes

    def close(self) -> None:
        with self._changes_lock:
            if self._changes is not None:
                self._changes.close()
        self.outage.close()  # before the embedded cluster stops: it must not be restarted then
        self.pool.close()
        if self.embedded:
            self.embedded.stop()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the given URL"
    host = info.get("host", "localhost")
    return f"{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
