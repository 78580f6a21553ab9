"""The embedded PostgreSQL: a cluster in the data dir, run with the pgserver wheel's binaries, or
with conda-forge's postgresql (or any on PATH) where that wheel is missing (find_postgres_bin).

We drive initdb/pg_ctl ourselves rather than through pgserver's Python API because that API breaks
on data dirs whose path has spaces and listens on a Unix socket whose path length is limited; we
listen on a free loopback TCP port instead, the same on Windows and Linux.

Several cogbrowser processes may share one cluster (a `serve` and an `ingest` in another terminal):
each registers its pid in a small file beside the cluster, and the last one to leave stops it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from filelock import FileLock

from cogbrowser.errors import DatabaseUnavailable

DATABASE_NAME = "cogbrowser"
SUPERUSER = "postgres"
_OS_USER_WHEN_ROOT = "cogbrowser"
_EXE = ".exe" if sys.platform == "win32" else ""


def find_postgres_bin() -> Path | None:
    """The folder of initdb/pg_ctl: the pgserver wheel's, else a conda environment's (conda-forge's
    `postgresql`, for where the wheel cannot be had), else the first on PATH."""
    for folder in postgres_bin_candidates():
        if (folder / f"pg_ctl{_EXE}").is_file() and (folder / f"initdb{_EXE}").is_file():
            return folder
    return None


def postgres_bin_candidates() -> list[Path]:
    """Where PostgreSQL's binaries may be, in the order we prefer them."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):  # a broken or half-removed installation counts as none
        spec = None
    if spec and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin")
    # The environment this Python runs in, and the active conda environment (a venv made from a
    # conda Python has its own sys.prefix, but conda's postgresql lies in CONDA_PREFIX).
    prefixes = [Path(sys.prefix)] + ([Path(os.environ["CONDA_PREFIX"])] if os.environ.get("CONDA_PREFIX") else [])
    for prefix in prefixes:
        candidates += conda_bin_dirs(prefix, windows=sys.platform == "win32")
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return candidates


def conda_bin_dirs(prefix: Path, windows: bool) -> list[Path]:
    """Where a conda environment keeps executables: Library\\bin on Windows (conda's own layout
    for non-Python packages), bin elsewhere."""
    return [prefix / "Library" / "bin"] if windows else [prefix / "bin"]


NO_BINARIES = ("no PostgreSQL binaries (pg_ctl, initdb) for the embedded database: looked in the pgserver "
               "package, the conda environment ($CONDA_PREFIX) and PATH; install the pgserver wheel "
               "(pip install pgserver) or conda-forge's postgresql (conda install -c conda-forge postgresql), "
               "or give --database-url postgresql://...")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedPostgres:
    """A PostgreSQL cluster living in `pgdata`, started on demand and stopped by its last user."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata)
        self.log_file = self.pgdata.parent / "postgres.log"
        self._clients_file = self.pgdata.parent / "postgres-clients.json"
        self._lock = FileLock(str(self.pgdata.parent / "postgres.lock"))
        self._bin: Path | None = None
        self._os_user: str | None = None
        self.port: int | None = None

    # -- public ----------------------------------------------------------------------------
    def start(self) -> str:
        """Make sure the cluster runs and holds our database; return its connection URL."""
        self._bin = find_postgres_bin()
        if self._bin is None:
            raise DatabaseUnavailable(NO_BINARIES)
        try:
            return self._start()
        except DatabaseUnavailable as exc:
            raise DatabaseUnavailable(f"{exc} (or give --database-url postgresql://... to use another server)") from exc
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot prepare the embedded database in {self.pgdata}: {exc} "
                                      "(check the data dir, or give --database-url postgresql://...)") from exc

    def _start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            self._os_user = self._ensure_os_user()
        with self._lock:
            if not (self.pgdata / "PG_VERSION").is_file():
                self._initdb()
            self.port = self._running_port()
            if self.port is None:
                self.port = self._pg_ctl_start()
            self._register(os.getpid())
        self._ensure_database()
        return self.url

    def stop(self) -> None:
        """Leave the cluster; stop it if no other live cogbrowser process still uses it."""
        if self.port is None:
            return
        with self._lock:
            remaining = self._unregister(os.getpid())
            if not remaining and self._running_port() is not None:
                self._run([self._exe("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], timeout=60)
        self.port = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    # -- cluster ---------------------------------------------------------------------------
    def _exe(self, name: str) -> str:
        assert self._bin is not None
        return str(self._bin / f"{name}{_EXE}")

    def _run(self, args: list[str], timeout: float) -> None:
        """Run a PostgreSQL tool in its own process group so Ctrl-C in our terminal does not reach it.

        Its stderr goes to a temporary file, not a pipe: the server pg_ctl starts may inherit the
        handle and keep a pipe open forever (seen on Windows), hanging us.
        """
        kwargs: dict[str, object] = {"stdout": subprocess.DEVNULL, "timeout": timeout}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        if self._os_user:  # drop root's groups too, or root-group-only folders stay closed to it
            import pwd

            entry = pwd.getpwnam(self._os_user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        with tempfile.TemporaryFile() as stderr:
            try:
                result = subprocess.run(args, stderr=stderr, **kwargs)  # type: ignore[call-overload]
            except subprocess.TimeoutExpired as exc:
                raise DatabaseUnavailable(
                    f"{Path(args[0]).name} did not finish in {timeout:.0f} s; see {self.log_file}") from exc
            stderr.seek(0)
            detail = stderr.read().decode(errors="replace").strip().splitlines()
        if result.returncode != 0:
            tail = self._log_tail()
            raise DatabaseUnavailable(
                f"embedded PostgreSQL failed ({Path(args[0]).name}): {detail[-1] if detail else 'no message'}"
                + (f"; log says: {tail}" if tail else "")
            )

    def _log_tail(self) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
            lines = [line for line in text.splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._hand_to_os_user(self.pgdata)
        self._run(
            [self._exe("initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-instructions"],
            timeout=180,
        )
        # Loopback TCP only: no Unix socket (its path length is limited) and nothing on other interfaces.
        with (self.pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# cogbrowser\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 50\nshared_buffers = 128MB\nfsync = on\n"
            )

    def _running_port(self) -> int | None:
        """The port of a live postmaster for this cluster, read from postmaster.pid, else None."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text(encoding="utf-8", errors="replace").splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            proc = psutil.Process(pid)
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        return port if alive else None

    def _pg_ctl_start(self) -> int:
        port = _free_port()
        self.log_file.touch(exist_ok=True)
        self._hand_to_os_user(self.log_file)
        self._run(
            [self._exe("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "120",
             "-o", f"-p {port}", "start"],
            timeout=150,
        )
        return port

    def _ensure_database(self) -> None:
        import psycopg

        admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=20) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"embedded PostgreSQL started but refused a connection: {exc}") from exc

    # -- processes sharing the cluster -----------------------------------------------------
    def _read_clients(self) -> set[int]:
        try:
            pids = set(json.loads(self._clients_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pids = set()
        return {pid for pid in pids if psutil.pid_exists(pid)}

    def _register(self, pid: int) -> None:
        self._clients_file.write_text(json.dumps(sorted(self._read_clients() | {pid})), encoding="utf-8")

    def _unregister(self, pid: int) -> set[int]:
        remaining = self._read_clients() - {pid}
        self._clients_file.write_text(json.dumps(sorted(remaining)), encoding="utf-8")
        return remaining

    # -- running as root (CI, containers): PostgreSQL refuses to run as root -----------------
    def _ensure_os_user(self) -> str:
        import pwd

        try:
            pwd.getpwnam(_OS_USER_WHEN_ROOT)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", _OS_USER_WHEN_ROOT], check=True,
                           capture_output=True)
        # The server's user must reach its binaries and its folder (e.g. under /root, mode 700).
        assert self._bin is not None
        for folder in (self.pgdata.parent.resolve(), self._bin.resolve()):
            for parent in [folder, *folder.parents]:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        return _OS_USER_WHEN_ROOT

    def _hand_to_os_user(self, path: Path) -> None:
        if self._os_user:
            import pwd

            entry = pwd.getpwnam(self._os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            if path.is_dir():
                path.chmod(0o700)
