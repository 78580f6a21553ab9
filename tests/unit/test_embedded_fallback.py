"""The embedded database where the pgserver wheel is missing: PostgreSQL's binaries from the conda
environment (conda-forge's `postgresql`) or from PATH, or one clear line saying there are none.

The PATH case runs Debian's own PostgreSQL (`apt-get install postgresql`; .ci/run installs it),
different binaries from pgserver's, through the whole catalog: initdb, pg_ctl, migrations.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest

from cogbrowser.catalog import embedded
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import NO_BINARIES, conda_bin_dirs, find_postgres_bin
from cogbrowser.config import Settings

DEBIAN_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
HIDE_PGSERVER = "import sys; sys.modules['pgserver'] = None"  # find_spec and import then see no package


@pytest.fixture
def without_pgserver(monkeypatch):
    """As where the pgserver wheel is missing: no such package, and no conda environment."""
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)


def debian_binaries() -> Path:
    assert DEBIAN_BINARIES, "Debian's PostgreSQL binaries are needed: apt-get install postgresql (.ci/run does it)"
    return DEBIAN_BINARIES[-1]


def test_without_pgserver_postgresql_from_path_runs_the_catalog(without_pgserver, monkeypatch, tmp_path):
    folder = debian_binaries()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    assert find_postgres_bin() == folder
    settings = Settings.from_env(data_dir=tmp_path / "data dir", database_url=None)
    db = Database.open(settings)  # starts the embedded cluster with Debian's binaries, then migrates
    try:
        with db.connection() as conn:
            version = conn.execute("SHOW server_version").fetchone()["server_version"]
            tables = {row["tablename"] for row in conn.execute("SELECT tablename FROM pg_tables")}
        assert version.split(".")[0] == folder.parent.name
        assert {"images", "collections", "detections"} <= tables
    finally:
        db.close()
    assert not (settings.pg_dir / "postmaster.pid").exists(), "the last user did not stop the cluster"


def test_without_pgserver_the_conda_environment_is_looked_in(without_pgserver, monkeypatch, tmp_path):
    conda = tmp_path / "miniforge3" / "envs" / "cogbrowser"
    (conda / "bin").mkdir(parents=True)
    for tool in ("pg_ctl", "initdb"):
        (conda / "bin" / tool).symlink_to(debian_binaries() / tool)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # none on PATH: only conda's can be found
    assert find_postgres_bin() is None
    monkeypatch.setenv("CONDA_PREFIX", str(conda))
    assert find_postgres_bin() == conda / "bin"


def test_conda_keeps_postgresql_in_library_bin_on_windows():
    prefix = PureWindowsPath(r"C:\Users\Ana Lyst\miniforge3\envs\cogbrowser")
    assert conda_bin_dirs(prefix, windows=True) == [prefix / "Library" / "bin"]
    assert str(conda_bin_dirs(prefix, windows=True)[0]).endswith(r"envs\cogbrowser\Library\bin")
    assert conda_bin_dirs(Path("/opt/conda"), windows=False) == [Path("/opt/conda/bin")]


def test_the_pgserver_wheel_comes_first_when_present(monkeypatch):
    monkeypatch.setenv("CONDA_PREFIX", "/nonexistent")
    first = embedded.postgres_bin_candidates()[0]
    assert first.parts[-3:] == ("pgserver", "pginstall", "bin") and find_postgres_bin() == first


def test_with_no_binaries_anywhere_the_command_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "COGBROWSER_"))}
    env["PATH"] = str(Path(sys.executable).parent)  # no pg_ctl there (the venv's own scripts)
    run = f"{HIDE_PGSERVER}; from cogbrowser.cli import main; sys.argv[0] = 'cogbrowser'; main()"
    result = subprocess.run([sys.executable, "-c", run, "--data-dir", str(tmp_path / "data dir"), "serve"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [f"cogbrowser: error: {NO_BINARIES}"], result.stderr
    assert "Traceback" not in result.stderr
