"""The embedded PostgreSQL is private to its data dir: no local user gets in without the password
file, the app's own role can do nothing beyond its schema, and a cluster made by the first versions
(`trust` on 127.0.0.1, everything owned by the superuser) is locked at its next start and keeps its
rows."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cogbrowser.catalog import embedded, queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import APP_ROLE, SUPERUSER, EmbeddedPostgres
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.migrate import migrate
from cogbrowser.config import Settings
from helpers import REAL_DATA, ingest_images

PSQL = shutil.which("psql")


def test_no_password_no_entry(postgres):
    for role in (SUPERUSER, APP_ROLE):
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(f"postgresql://{role}@127.0.0.1:{postgres.port}/postgres", connect_timeout=5)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"postgresql://{role}:guessed@127.0.0.1:{postgres.port}/postgres", connect_timeout=5)
    assert stat.S_IMODE(postgres.passfile.stat().st_mode) == 0o600


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or PSQL is None,
                    reason="needs root (to act as another local user) and psql")
def test_another_local_user_cannot_use_the_password_file(postgres):
    """The attack of the issue: `psql -h 127.0.0.1 -p PORT -U postgres` as `nobody`."""
    attempt = subprocess.run(
        ["su", "-s", "/bin/sh", "nobody", "-c",
         (f"PGPASSFILE='{postgres.passfile}' PGCONNECT_TIMEOUT=5 {PSQL} -h 127.0.0.1 -p {postgres.port} -U postgres "
         "-d postgres -w -c 'SELECT 1'")],
        capture_output=True, text=True, timeout=60)
    assert attempt.returncode != 0
    assert "no password supplied" in attempt.stderr


def test_the_app_role_owns_its_schema_and_nothing_more(database_url, db):
    with psycopg.connect(database_url, autocommit=True) as conn:
        who = conn.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                           "WHERE rolname = current_user").fetchone()
        assert who == (APP_ROLE, False, False, False)
        owners = {row[0] for row in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        assert owners == {APP_ROLE}  # the migrations ran as the app role
        for statement in ("COPY (SELECT 1) TO PROGRAM 'id'",
                          "CREATE ROLE intruder LOGIN SUPERUSER",
                          "ALTER ROLE cogbrowser_app SUPERUSER",
                          "CREATE DATABASE other",
                          "SELECT pg_read_file('/etc/passwd')",
                          "COPY images FROM '/etc/passwd'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def _first_version_cluster(pgdata: Path) -> int:
    """A cluster made as the first versions made it (their _initdb and start, verbatim): `trust` for
    everyone on 127.0.0.1, the superuser its only role. Returns its port."""
    server = EmbeddedPostgres(pgdata)
    server._bin = embedded.find_postgres_bin()
    pgdata.parent.mkdir(parents=True)
    if embedded._running_as_root():
        server._os_user = server._ensure_os_user()
    pgdata.mkdir()
    server._hand_to_os_user(pgdata)
    server._run([server._exe("initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-instructions"], timeout=180)
    with (pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
    return server._pg_ctl_start()


def test_a_trust_cluster_of_the_first_version_is_locked_and_keeps_its_rows(tmp_path):
    settings = Settings.from_env(data_dir=tmp_path / "old data dir")
    port = _first_version_cluster(settings.pg_dir)
    old_url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/cogbrowser"
    with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE cogbrowser")
    with psycopg.connect(old_url, autocommit=True) as conn:
        migrate(conn)  # as the first version did: the superuser owns the schema
    with Database(old_url) as old:
        ingest_images(old, settings, [("B01", "titiler/B01.tif", "s2", None, None)])
    # Still running (an old server left it up): the new version takes it over as it is.
    with Database.open(settings) as db:
        with db.connection() as conn:
            assert conn.execute("SELECT current_user AS who").fetchone()["who"] == APP_ROLE
            assert [r["id"] for r in conn.execute("SELECT id FROM images")] == ["B01"]
            owners = {r["tableowner"] for r in conn.execute("SELECT tableowner FROM pg_tables "
                                                            "WHERE schemaname = 'public'")}
            assert owners == {APP_ROLE}
        ingest_images(db, settings, [("TCI", "titiler/TCI.tif", "s2", None, None)])  # writes as the app role
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(old_url, connect_timeout=5)  # trust is gone
    with Database.open(settings) as db, db.connection() as conn:  # and it starts again from cold
        assert sorted(r["id"] for r in conn.execute("SELECT id FROM images")) == ["B01", "TCI"]
        old_image = queries.get_image(conn, "B01")
    assert image_file(settings, old_image) == settings.cog_dir / "B01.tif"  # still served
    assert image_file(settings, old_image).read_bytes() == (REAL_DATA / "titiler/B01.tif").read_bytes()


def test_a_lost_password_file_is_one_clear_error(tmp_path):
    settings = Settings.from_env(data_dir=tmp_path / "data dir")
    Database.open(settings).close()
    (settings.data_dir / "postgres.pgpass").unlink()
    result = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(settings.data_dir), "ingest",
                             str(REAL_DATA / "titiler/B01.tif")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "password file" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr
