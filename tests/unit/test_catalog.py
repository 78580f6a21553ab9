"""The catalog database: migrations on empty and existing databases, the shared embedded server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psycopg
import pytest

from cogbrowser.catalog import migrate as migrate_module
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.catalog.migrate import available_migrations, migrate, schema_version
from cogbrowser.config import Settings
from cogbrowser.errors import DatabaseUnavailable


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrations_create_the_schema_on_an_empty_database(database_url):
    assert tables(database_url) == set()
    with psycopg.connect(database_url, autocommit=True) as conn:
        applied = migrate(conn)
        assert applied == [v for v, _, _ in available_migrations()]
        assert schema_version(conn) == applied[-1]
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"collections", "images", "detections", "schema_migrations"} <= tables(database_url)
    assert {"images_bbox_gist", "detections_bbox_gist", "detections_image_class"} <= indexes


def test_migrations_on_an_existing_database_keep_its_rows(database_url, monkeypatch):
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO collections (id, title) VALUES ('kept', 'Kept')")
        assert migrate(conn) == []  # nothing new: a no-op

        # A later release ships migration 0002: only it runs, and the rows stay.
        shipped = available_migrations()
        extra = (shipped[-1][0] + 1, "add_notes", "ALTER TABLE collections ADD COLUMN notes text DEFAULT 'n/a';")
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*shipped, extra])
        assert migrate(conn) == [extra[0]]
        assert conn.execute("SELECT id, notes FROM collections").fetchall() == [("kept", "n/a")]
        assert schema_version(conn) == extra[0]


def test_a_broken_migration_changes_nothing(database_url, monkeypatch):
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)
        before = schema_version(conn)
        shipped = available_migrations()
        bad = (before + 1, "broken", "ALTER TABLE collections ADD COLUMN x int; SELECT no_such_function();")
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*shipped, bad])
        with pytest.raises(psycopg.errors.UndefinedFunction):
            migrate(conn)
        assert schema_version(conn) == before
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'collections'")}
        assert "x" not in columns


def test_database_open_migrates_and_reports_a_bad_url(tmp_path, database_url):
    with Database.open(Settings.from_env(data_dir=tmp_path, database_url=database_url)) as db:
        with db.connection() as conn:
            assert schema_version(conn) >= 1
    bad = Settings.from_env(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable, match=r"cannot connect to PostgreSQL at 127.0.0.1:1/none: .*refused"):
        Database.open(bad)


def test_embedded_server_is_shared_and_stopped_by_its_last_user(tmp_path):
    """Another process (say, `cogbrowser serve`) uses the cluster; our leaving must not stop it."""
    pgdata = tmp_path / "data dir" / "postgres"
    other = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from cogbrowser.catalog.embedded import EmbeddedPostgres
            server = EmbeddedPostgres(Path({str(pgdata)!r}))
            server.start()
            print(server.port, flush=True)
            sys.stdin.readline()
            server.stop()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        port = int(other.stdout.readline())
        ours = EmbeddedPostgres(pgdata)
        url = ours.start()
        assert ours.port == port  # reused, not a second server
        ours.stop()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)  # still up for the other process
    finally:
        other.communicate("\n", timeout=60)
    assert other.returncode == 0
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)
    assert not (pgdata / "postmaster.pid").exists()


def test_embedded_server_keeps_its_data_across_restarts(tmp_path):
    settings = Settings.from_env(data_dir=tmp_path / "restart")
    with Database.open(settings) as db:
        with db.connection() as conn:
            conn.execute("INSERT INTO collections (id, title) VALUES ('c1', 'One')")
    with Database.open(settings) as db:
        with db.connection() as conn:
            assert conn.execute("SELECT title FROM collections").fetchone() == {"title": "One"}


def test_the_analytics_indexes_are_added_to_an_existing_catalog(database_url, monkeypatch):
    """A catalog made before migration 0007 gets the indexes the Analytics page's questions read."""
    shipped = available_migrations()
    with psycopg.connect(database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: [m for m in shipped if m[0] < 7])
        migrate(conn)
        conn.execute("INSERT INTO collections (id, title) VALUES ('kept', 'Kept')")
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: shipped)
        assert migrate(conn) == [v for v, _, _ in shipped if v >= 7]
        definition = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'detections_sample_order'"
                                  ).fetchone()
        assert definition is not None and "hashint8extended(id, (0)::bigint)" in definition[0]
        analytics = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'detections_analytics'"
                                 ).fetchone()
        assert analytics is not None and "(target_class, detected_at, score)" in analytics[0]
        assert conn.execute("SELECT id FROM collections").fetchall() == [("kept",)]
