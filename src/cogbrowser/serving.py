"""How `cogbrowser serve` runs: one process, or (`--processes N`) a parent that binds the port and
keeps N serving processes that accept on it.

One Python process renders on about one core (the GIL, and waitress's one accepting loop); a
machine with more cores serves more with more processes, and they need no reverse proxy between
them: the parent binds the listening socket(s) and every child accepts on the same ones (the kernel
hands each new connection to one of them).

The parent opens the catalog first (starting the embedded PostgreSQL if there is no URL, and
migrating it), sweeps what dead processes left, runs the embedded job worker (not with
`--no-worker`), binds the port, then starts the children with multiprocessing's *spawn* context —
the same on Linux, macOS and Windows; no fork, whose child would inherit the parent's threads'
locks and its pool's connections. The sockets travel as arguments: multiprocessing pickles a socket
as a duplicated file descriptor on POSIX and through `socket.share()` on Windows.

Each child is an ordinary server of the catalog (`_serve_child`): its own connection pool (joining
the embedded cluster as any process of the data dir does, or the server of the URL), its own
LISTEN connection for catalog changes (so a change made through one process reaches the others'
caches at once), its own caches and admission lanes; it runs no job worker (the parent's, or the
`cogbrowser worker`s, run the jobs it queues). Nothing a request needs is kept in one process only:
jobs are rows of the catalog, sign-in sessions are cookies signed with the catalog's secret, tokens
are checked against the catalog.

A child that dies is replaced (one line on stderr says which and why); more than RESTARTS_PER_MINUTE
deaths in a minute stop everything with one line (a fault that kills every new child, not bad
luck). A child says in its first message that it serves, or why it cannot: at the start, the parent
stops with that reason (a broken basemap, an unreachable catalog); a replacement that cannot start
(the catalog down for a while) is tried again every RETRY_SECONDS while the others serve.
Ctrl-C (which the terminal sends to every process of the group) or SIGTERM to the parent stops the
children, then the worker and the database.
"""

from __future__ import annotations

import _thread
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from flask import Flask

from cogbrowser.api.uploads import prepare_upload_dir
from cogbrowser.app import create_app
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import MAX_CONNECTIONS
from cogbrowser.config import Settings
from cogbrowser.errors import CogbrowserError
from cogbrowser.places.labels import warm_up as warm_up_places
from cogbrowser.raster.reader import configure_block_cache
from cogbrowser.web.context import services_of
from cogbrowser.web.server import ConnectionShares, serve

STARTUP_SECONDS = 180.0  # a child must be serving within this (it opens the catalog, builds the app)
STOP_SECONDS = 20.0  # a child asked to stop has this long before it is killed
RESTARTS_PER_MINUTE = 5  # more deaths of children in a minute stop the whole server
RETRY_SECONDS = 5.0  # a child that could not start again is tried again after this
POOL_SIZE = 10  # a serving process's connections for requests (Database.open's own default)
SMALLEST_POOL = 2  # fewer, and requests wait for each other's queries
CHILD_OVERHEAD = 3  # a serving process's connections besides its pool: 1 listening for changes, 2 queueing jobs
log = logging.getLogger(__name__)


def pool_size(settings: Settings, count: int) -> int:
    """The connection pool of each of `count` serving processes: the usual one on a PostgreSQL server
    by URL (its administrator sizes max_connections: docs/deploy.md), a share of the embedded
    cluster's MAX_CONNECTIONS otherwise; CogbrowserError when `count` processes cannot share it.

    Of the embedded cluster's connections, the superuser's 3 and the command's own are set aside:
    its pool's idle one and, with its job worker, the queue's (jobs + 3) and one per running job."""
    if settings.database_url:
        return POOL_SIZE
    left = MAX_CONNECTIONS - 3 - 1 - (2 * settings.job_workers + 3 if settings.run_jobs else 0)
    share = left // count - CHILD_OVERHEAD
    if share < SMALLEST_POOL:
        most = left // (SMALLEST_POOL + CHILD_OVERHEAD)
        raise CogbrowserError(f"--processes {count} needs a PostgreSQL server (--database-url): the embedded "
                              f"database takes {MAX_CONNECTIONS} connections, enough for {most} serving processes")
    return min(POOL_SIZE, share)


def ready_app(settings: Settings, db: Database) -> Flask:
    """The app of one serving process, made ready to serve: GDAL's block cache, the gazetteer warming
    up in the background, request bodies spooled in the data dir (`prepare_upload_dir`)."""
    configure_block_cache()
    app = create_app(settings, db)
    warm_up_places()  # the gazetteer and the label texts, while the first page loads
    prepare_upload_dir(settings)  # waitress spools request bodies (uploads) in DATA_DIR/tmp, not the system temp
    return app


@dataclass
class _Child:
    number: int
    process: BaseProcess
    ready: Connection  # its first message: "" once it serves, or why it could not start


def serve_processes(settings: Settings, threads: int, count: int, sockets: Sequence[socket.socket],
                    echo: Callable[[str], None]) -> None:
    """Run `count` serving processes on `sockets` until KeyboardInterrupt (Ctrl-C, or SIGTERM made
    one by the caller), replacing those that die; CogbrowserError when one cannot start, or they
    keep dying. The children run no job worker (`Settings.run_jobs` off): the caller's does."""
    pool = pool_size(settings, count)
    context = multiprocessing.get_context("spawn")
    connections = context.RawArray("i", [ConnectionShares.NOT_SERVING] * count)  # web/server.ConnectionShares
    child_settings = replace(settings, run_jobs=False)
    level = logging.getLogger().level
    children: list[_Child] = []
    deaths: list[float] = []

    def spawn(number: int) -> _Child:
        reader, writer = context.Pipe(duplex=False)
        connections[number - 1] = ConnectionShares.NOT_SERVING
        process = context.Process(target=_serve_child, name=f"cogbrowser-serve-{number}", daemon=True,
                                  args=(child_settings, list(sockets), threads, pool, writer, level,
                                        connections, number - 1))
        process.start()
        writer.close()  # the child holds the writing end: a child that dies unheard makes the reader see EOF
        return _Child(number, process, reader)

    try:
        for number in range(1, count + 1):  # all at once: they start in parallel
            children.append(spawn(number))
        for child in children:
            _until_serving(child)
        echo(f"{count} serving processes (pids {', '.join(str(child.process.pid) for child in children)})")
        waiting: list[int] = []  # serving processes to start again (their last try failed)
        while True:
            by_sentinel: dict[Any, _Child] = {child.process.sentinel: child for child in children}
            if by_sentinel:
                stopped = wait(list(by_sentinel), timeout=RETRY_SECONDS if waiting else None)
            else:  # every one died and none could start again yet
                time.sleep(RETRY_SECONDS)
                stopped = []
            for sentinel in stopped:
                dead = by_sentinel[sentinel]
                dead.process.join(5)  # its exit code
                now = time.monotonic()
                deaths[:] = [when for when in deaths if now - when < 60] + [now]
                if len(deaths) > RESTARTS_PER_MINUTE:
                    raise CogbrowserError(f"serving processes died {len(deaths)} times within a minute (the last: "
                                          f"{_exit(dead.process)}); stopping (run with --verbose to see why)")
                echo(f"serving process {dead.number} (pid {dead.process.pid}) stopped: {_exit(dead.process)}; "
                     "starting another")
                children.remove(dead)
                connections[dead.number - 1] = ConnectionShares.NOT_SERVING  # its connections died with it
                waiting.append(dead.number)
            for number in list(waiting):
                again = spawn(number)
                children.append(again)
                try:
                    _until_serving(again)
                except CogbrowserError as exc:  # e.g. the catalog is down: the others answer 503 meanwhile
                    echo(f"{exc}; trying again in {RETRY_SECONDS:.0f} s")
                    children.remove(again)
                    _stop_children([again.process])
                    continue
                waiting.remove(number)
                echo(f"serving process {number} serves again (pid {again.process.pid})")
    finally:
        _stop_children([child.process for child in children])


def _until_serving(child: _Child) -> None:
    """Wait until `child` serves; CogbrowserError (its own words) if it could not start."""
    try:
        if not wait([child.ready], timeout=STARTUP_SECONDS):
            raise CogbrowserError(f"serving process {child.number} did not start within {STARTUP_SECONDS:.0f} s")
        try:
            failure = child.ready.recv()
        except EOFError:
            child.process.join(5)
            raise CogbrowserError(f"serving process {child.number} stopped while starting: "
                                  f"{_exit(child.process)}") from None
    finally:
        child.ready.close()
    if failure:
        raise CogbrowserError(failure)


def _stop_children(processes: list[BaseProcess]) -> None:
    """Ask every child to stop (SIGTERM; Windows has no such signal: terminated at once), wait, kill stragglers."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("serving process %s did not stop within %.0f s; killed", process.pid, STOP_SECONDS)
            process.kill()
            process.join(5)


def _exit(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------- in a child

def _serve_child(settings: Settings, sockets: list[socket.socket], threads: int, pool: int, ready: Connection,
                 level: int, connections: Any, slot: int) -> None:
    """One serving process (spawned): the app on the parent's sockets until told to stop, its open
    connections in `connections[slot]`. Its first message on `ready` is "" once it serves, or the
    one line that says why it could not."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level > logging.INFO:  # as the CLI: GDAL's warnings about odd but readable files are noise
        logging.getLogger("rasterio").setLevel(logging.ERROR)
    db: Database | None = None
    app: Flask | None = None
    try:
        _stop_once_on(signal.SIGINT, signal.SIGTERM)  # inside: the parent may stop us at once (another failed)
        _stop_with_parent()
        try:
            db = Database.open(settings, max_size=pool)
            app = ready_app(settings, db)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the parent says it in one line
            said = str(exc) if isinstance(exc, CogbrowserError) else f"{type(exc).__name__}: {exc}"
            _tell(ready, f"a serving process could not start: {said}")
            return
        _tell(ready, "")
        serve(app, settings, threads, sockets=sockets, shares=ConnectionShares(connections, slot))
    except KeyboardInterrupt:
        pass
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):  # the clean-up runs to its end (the parent kills
            signal.signal(number, signal.SIG_IGN)       # a child that takes over STOP_SECONDS)
        if app is not None:
            services_of(app).overviews.close()
            services_of(app).jobs.stop()  # its queue's connections (it queues jobs, runs none)
        if db is not None:
            db.close()


def _tell(parent: Connection, message: str) -> None:
    """Send the parent our first (and only) message; a parent that stopped listening is no fault."""
    with suppress(OSError):
        parent.send(message)
    parent.close()


def _stop_once_on(*signals: signal.Signals) -> None:
    """The first of these signals stops the process (KeyboardInterrupt); later ones are ignored, so
    Ctrl-C in the terminal and the parent's SIGTERM that follows it do not interrupt the clean-up."""
    def handler(signum, frame):  # noqa: ARG001
        for number in signals:
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt

    for number in signals:
        signal.signal(number, handler)


def _stop_with_parent() -> None:
    """Stop this process when its parent is gone (killed without a chance to stop its children)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        log.warning("the parent of serving process %s is gone; it stops", os.getpid())
        _thread.interrupt_main()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
