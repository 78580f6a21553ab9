"""Shared fixtures: one real embedded PostgreSQL for the session, a fresh database per test.

The embedded cluster starts once (about a second); each test that needs a catalog gets its own
database in it, created from scratch and migrated, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.config import Settings

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
if not REAL_DATA.is_dir():  # CI clones main with shared/ beside it; a developer may point elsewhere
    REAL_DATA = Path(os.environ.get("COGBROWSER_REAL_DATA", REAL_DATA))


def real_rasters() -> list[Path]:
    """Every raster file of the shared real data set."""
    suffixes = {".tif", ".tiff", ".cog"}
    return sorted(p for p in REAL_DATA.rglob("*") if p.suffix.lower() in suffixes)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> EmbeddedPostgres:
    """The embedded PostgreSQL (real binaries from the pgserver wheel), in a folder with a space."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "cluster dir" / "postgres")
    server.start()
    yield server
    server.stop()


@contextmanager
def new_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """The URL of a new, empty database on the embedded server, dropped on exit (tests and
    module-scoped fixtures that share one catalog between tests)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def shared_catalog(postgres: EmbeddedPostgres, folder: Path) -> Iterator[tuple[Settings, Database]]:
    """Settings for a data dir (a path with spaces) under `folder` and its open, migrated catalog on
    a new database: for module-scoped fixtures whose tests share one catalog."""
    data_dir = folder / "data dir"
    data_dir.mkdir()
    with new_database(postgres) as url:
        settings = Settings.from_env(data_dir=data_dir, database_url=url)
        db = Database.open(settings)
        try:
            yield settings, db
        finally:
            db.close()


def ingest_images(db: Database, settings: Settings, images) -> None:
    """Ingest real rasters: (image id, path under REAL_DATA, collection, acquired_at, cloud cover)
    each; an acquired_at of None leaves the image without a known time, whatever its file says."""
    from cogbrowser.catalog import queries
    from cogbrowser.ingest.images import IngestRequest, ingest_file

    for image_id, path, collection, acquired, cloud in images:
        result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / path, image_id=image_id,
                                                         collection=collection, acquired_at=acquired,
                                                         cloud_cover=cloud))
        assert result.status == "added", result.message
        if acquired is None:
            with db.connection() as conn:
                queries.update_image(conn, image_id, {"acquired_at": None})


@contextmanager
def serving(settings: Settings, db: Database) -> Iterator[str]:
    """The app served by waitress on a free loopback port, in a thread; yields its base URL."""
    from waitress.server import create_server

    from cogbrowser.api.uploads import waitress_options
    from cogbrowser.app import create_app

    server = create_server(create_app(settings, db), host="127.0.0.1", port=0, threads=4,
                           **waitress_options(settings))  # as `cogbrowser serve` sets waitress up
    stop = threading.Event()

    def run() -> None:  # waitress's own run() has no stop: closing its socket under select() breaks it
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=run, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join()
        server.task_dispatcher.shutdown()
        server.asyncore.close_all(server._map)


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> str:
    """A new, empty database on the embedded server; dropped after the test."""
    with new_database(postgres) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a data dir whose path has spaces, on the test's own database."""
    data_dir = tmp_path / "data dir with spaces"
    data_dir.mkdir()
    return Settings.from_env(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Database:
    """The open, migrated catalog of the test."""
    database = Database.open(settings)
    yield database
    database.close()


@pytest.fixture
def live_server(settings: Settings, db: Database) -> str:
    """The app served by waitress on a free loopback port, in a thread; yields its base URL."""
    with serving(settings, db) as url:
        yield url


# ---------------------------------------------------------------- a real browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "chromium is not installed (.ci/run installs Debian's package)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_server(postgres, tmp_path_factory):
    """The demo data set (made as `cogbrowser demo` makes it) served on loopback: (url, settings, db)."""
    from cogbrowser.demo import ensure_demo_data

    with shared_catalog(postgres, tmp_path_factory.mktemp("demo-ui")) as (settings, db):
        ensure_demo_data(db, settings, lambda message: None)
        with serving(settings, db) as url:
            yield url, settings, db


@contextmanager
def browser_page(chromium, base_url: str, width: int = 1280, height: int = 800):
    """A page of a fresh browser context that records every request it makes; on leaving, fails
    the test if any went to a host other than the app's (the pages must work offline)."""
    from urllib.parse import urlsplit

    context = chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    own = urlsplit(base_url).netloc
    try:
        yield page
    finally:
        context.close()
    foreign = sorted({url for url in requested
                      if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own})
    assert not foreign, f"the page asked other hosts: {foreign}"
    assert not errors, f"the page raised JavaScript errors: {errors}"


@pytest.fixture
def ui_page(chromium, demo_server):
    """A browser page on the demo server (request recording as in browser_page)."""
    with browser_page(chromium, demo_server[0]) as page:
        yield page
