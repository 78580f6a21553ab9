"""Shared fixtures: one real embedded PostgreSQL for the session, a fresh database per test.

The embedded cluster starts once (about a second); each test that needs a catalog gets its own
database in it, created from scratch and migrated, so tests never see each other's rows.

The tests are in four tier folders, and each test gets its folder's marker, so a tier runs alone
(`pytest -m unit`, `pytest tests/unit`, `pytest -m "not browser and not slow"`):

- unit: no server (pure code, real files, real GDAL; perhaps the embedded database);
- http: the app served by waitress on loopback, with the database;
- browser: Debian's chromium through Playwright (a test elsewhere that asks for the chromium
  fixture is marked browser too);
- slow: minutes (the offline proof: install kits built, then installed and run in a network
  namespace).

What tests import from each other is in helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.config import Settings
from helpers import browser_page, new_database, serving, shared_catalog

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "http", "browser", "slow")  # folders under tests/, each named as its marker


def pytest_collection_modifyitems(config, items) -> None:
    """The marker of each test's tier folder; `browser` too for a test that starts chromium."""
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.path.relative_to(TESTS.parent)} is in no tier: test files belong in "
                                    f"{', '.join(f'tests/{name}/' for name in TIERS)}")
        item.add_marker(tier)
        if tier != "browser" and "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker("browser")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> EmbeddedPostgres:
    """The embedded PostgreSQL (real binaries from the pgserver wheel), in a folder with a space."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "cluster dir" / "postgres")
    server.start()
    yield server
    server.stop()


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

@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, driven by Playwright (never a downloaded browser), as tools/chromium.py starts it."""
    from playwright.sync_api import sync_playwright

    from chromium import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


# ---------------------------------------------------------------- a real object store

@pytest.fixture(scope="session")
def swift_store(tmp_path_factory):
    """A single-node OpenStack Swift cluster from Debian's packages (tools/swift_cluster.py): its
    Swift API with tempauth and TempURLs, and its S3 API, on loopback, for the session."""
    from swift_cluster import DEBIAN_PACKAGES, missing_programs, running

    if missing_programs():
        pytest.fail(f"the object store tests need Debian's {DEBIAN_PACKAGES} (.ci/run installs them)")
    with running(tmp_path_factory.mktemp("swift")) as cluster:
        yield cluster


# ---------------------------------------------------------------- a PostgreSQL server, as a team runs one

@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """An external PostgreSQL server (Debian's binaries, tools/postgres_server.py) on loopback for the
    session: `.database_url` is the role `cogbrowser` on its own database; `.create_database(name)`
    gives a test a database of its own on it."""
    from postgres_server import DEBIAN_PACKAGE, binaries, running

    if binaries() is None:
        pytest.fail(f"the deployment tests need Debian's {DEBIAN_PACKAGE} (.ci/run installs it)")
    with running(tmp_path_factory.mktemp("postgres-server")) as server:
        yield server


@pytest.fixture(scope="session")
def demo_server(postgres, tmp_path_factory):
    """The demo data set (made as `cogbrowser demo` makes it) served on loopback: (url, settings, db)."""
    from cogbrowser.demo import ensure_demo_data

    with shared_catalog(postgres, tmp_path_factory.mktemp("demo-ui")) as (settings, db):
        ensure_demo_data(db, settings, lambda message: None)
        with serving(settings, db) as url:
            yield url, settings, db


@pytest.fixture
def ui_page(chromium, demo_server):
    """A browser page on the demo server (request recording as in browser_page)."""
    with browser_page(chromium, demo_server[0]) as page:
        yield page
