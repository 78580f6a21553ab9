"""The embedded PostgreSQL: a cluster in the data dir, run with the pgserver wheel's binaries, or
with conda-forge's postgresql (or any on PATH) where that wheel is missing (find_postgres_bin).

We drive initdb/pg_ctl ourselves rather than through pgserver's Python API because that API breaks
on data dirs whose path has spaces and listens on a Unix socket whose path length is limited; we
listen on a free loopback TCP port instead, the same on Windows and Linux.

Several cogbrowser processes may share one cluster (a `serve` and an `ingest` in another terminal):
each registers its pid in a small file beside the cluster, and the last one to leave stops it.

The cluster is private to its data dir. Every connection needs a password (SCRAM-SHA-256, loopback
TCP only); the passwords are random and kept in DATA_DIR/postgres.pgpass, a libpq password file
readable by the data dir's owner only (mode 0600; on Windows the data dir's ACL, a per-user folder
by default, is what protects it). Every process sharing the data dir finds them there, and so can
an administrator: `PGPASSFILE=DATA_DIR/postgres.pgpass psql -h 127.0.0.1 -p PORT -U postgres`.
The app connects as `cogbrowser_app`, a role without any privilege beyond owning the catalog's
schema (no superuser, no CREATE ROLE/DATABASE, so no `COPY ... TO PROGRAM` nor server files); it
runs the migrations itself, as the owner of what they create. The superuser is used only here:
to create that role and the database, and to upgrade a cluster made by the first versions
(`trust` for anyone on 127.0.0.1, everything owned by the superuser) in place at its first start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psutil
from filelock import FileLock

from cogbrowser.errors import DatabaseUnavailable

DATABASE_NAME = "cogbrowser"
SUPERUSER = "postgres"
APP_ROLE = "cogbrowser_app"  # what the app connects as: owns the catalog's schema, nothing more
PASSFILE_NAME = "postgres.pgpass"  # beside the cluster, in the data dir
HBA = ("# cogbrowser: a password (SCRAM-SHA-256) for every connection, loopback TCP only; the passwords\n"
       f"# are in ../{PASSFILE_NAME}, readable by the data dir's owner only.\n"
       "host all all 127.0.0.1/32 scram-sha-256\n")
MAX_CONNECTIONS = 50  # of the cluster (its postgresql.conf, written at initdb); 3 are kept for the superuser
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


def _libpq_version() -> int:
    import psycopg

    return psycopg.pq.version()


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600 where the OS has modes), replacing it whole."""
    work = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    handle = os.open(work, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(work, path)
    except BaseException:
        work.unlink(missing_ok=True)
        raise


def _scram(conn, role: str, password: str) -> str:  # noqa: ANN001 (psycopg is imported lazily)
    """The SCRAM verifier of a password, computed by libpq: the password itself never reaches the
    server (nor its log)."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()


def _hand_schema_to(conn, role: str) -> None:  # noqa: ANN001
    """Make `role` the owner of schema public and of every table, view, sequence and function in
    it (indexes, triggers and a table's own sequences follow their table)."""
    from psycopg import sql

    conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
    others = ("SELECT c.relkind, c.oid::regclass::text AS name FROM pg_class c "
              "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ({}) "
              "AND pg_get_userbyid(c.relowner) <> %s")
    kinds = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for wanted in ("'r', 'p', 'f', 'v', 'm'", "'S'"):  # tables first: their sequences go with them
        for kind, name in conn.execute(others.format(wanted), (role,)).fetchall():
            conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kinds[kind]), sql.SQL(name),
                                                                  sql.Identifier(role)))
    functions = conn.execute("SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                             "AND pg_get_userbyid(proowner) <> %s", (role,)).fetchall()
    for (signature,) in functions:
        conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), sql.Identifier(role)))


def _port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on `port`: as it does, with SO_REUSEADDR except on Windows
    (the connections of a killed server linger in TIME_WAIT on its port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedPostgres:
    """A PostgreSQL cluster living in `pgdata`, started on demand and stopped by its last user."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata)
        self.log_file = self.pgdata.parent / "postgres.log"
        self._clients_file = self.pgdata.parent / "postgres-clients.json"
        self.passfile = self.pgdata.parent / PASSFILE_NAME
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
            passwords = self._passwords()
            if not (self.pgdata / "PG_VERSION").is_file():
                self._initdb(passwords[SUPERUSER])
            self.port = self._running_port()
            if self.port is None:
                self.port = self._pg_ctl_start()
            self._register(os.getpid())
            self._secure(passwords)
            self._ensure_database(DATABASE_NAME)
        return self.url

    def ensure_running(self, lock_timeout: float = 1.0) -> str:
        """Start the cluster again if its postmaster died (on its port, where every process sharing
        the data dir looks; on another only if that one was taken meanwhile); return the URL, whose
        port another process may have changed. DatabaseUnavailable if it cannot be done now."""
        from filelock import Timeout

        if self._bin is None or self.port is None:
            raise DatabaseUnavailable("the embedded PostgreSQL is not in use by this process")
        try:
            with self._lock.acquire(timeout=lock_timeout):
                port = self._running_port()
                if port is None:
                    port = self._pg_ctl_start(self.port)
                self.port = port
        except Timeout:
            raise DatabaseUnavailable("another process is starting the embedded PostgreSQL") from None
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
        """The app's connection URL: its role, the password from the password file."""
        return self.role_url(APP_ROLE, DATABASE_NAME)

    def role_url(self, role: str, dbname: str, *, require_scram: bool = True) -> str:
        """A URL for `role` on `dbname` that takes its password from the data dir's password file,
        and (where libpq knows how) insists on SCRAM, so a process that took the port after a crash
        cannot ask for the password in clear."""
        query = f"passfile={quote(str(self.passfile), safe='')}"
        if require_scram and _libpq_version() >= 160000:
            query += "&require_auth=scram-sha-256"
        return f"postgresql://{role}@127.0.0.1:{self.port}/{dbname}?{query}"

    def create_database(self, name: str) -> str:
        """Create (or complete) a database for the app role, as the catalog's is; return its URL
        (tests give each catalog a database of its own in one cluster)."""
        self._ensure_database(name)
        return self.role_url(APP_ROLE, name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.role_url(SUPERUSER, "postgres"), autocommit=True, connect_timeout=20) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

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

    def _initdb(self, superuser_password: str) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._hand_to_os_user(self.pgdata)
        # initdb reads the superuser's password from a file (never the command line); the server's
        # OS user must read it when we run as root, so it is a file of its own, removed at once.
        pwfile = self.pgdata.parent / f"initdb-pw-{secrets.token_hex(8)}"
        _write_private(pwfile, superuser_password + "\n")
        self._hand_to_os_user(pwfile)
        try:
            self._run(
                [self._exe("initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=scram-sha-256",
                 f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-instructions"],
                timeout=180,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        # Loopback TCP only: no Unix socket (its path length is limited) and nothing on other interfaces.
        with (self.pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# cogbrowser\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                f"max_connections = {MAX_CONNECTIONS}\nshared_buffers = 128MB\nfsync = on\n"
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

    def _pg_ctl_start(self, preferred_port: int | None = None) -> int:
        port = preferred_port if preferred_port and _port_is_free(preferred_port) else _free_port()
        self.log_file.touch(exist_ok=True)
        self._hand_to_os_user(self.log_file)
        self._run(
            [self._exe("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "120",
             "-o", f"-p {port}", "start"],
            timeout=150,
        )
        return port

    # -- passwords, roles, ownership -------------------------------------------------------
    def _passwords(self) -> dict[str, str]:
        """The superuser's and the app role's passwords, from the password file (made, mode 0600,
        with random passwords if it is missing)."""
        found: dict[str, str] = {}
        if self.passfile.is_file():
            for line in self.passfile.read_text(encoding="utf-8").splitlines():
                fields = line.split(":")
                if len(fields) == 5 and not line.startswith("#"):
                    found[fields[3]] = fields[4]
        if all(found.get(role) for role in (SUPERUSER, APP_ROLE)):
            return found
        if found.get(SUPERUSER) is None and (self.pgdata / "PG_VERSION").is_file() and self._hba_is_ours():
            raise DatabaseUnavailable(
                f"the embedded database's password file {self.passfile} is missing: restore it from a backup of "
                "the data dir, or move the postgres folder away to start a new catalog")
        passwords = {role: found.get(role) or secrets.token_urlsafe(32) for role in (SUPERUSER, APP_ROLE)}
        _write_private(self.passfile, "# cogbrowser's embedded PostgreSQL (libpq password file); keep it private\n"
                       + "".join(f"127.0.0.1:*:*:{role}:{password}\n" for role, password in passwords.items()))
        return passwords

    def _hba_is_ours(self) -> bool:
        try:
            return (self.pgdata / "pg_hba.conf").read_text(encoding="utf-8") == HBA
        except OSError:
            return False

    def _superuser(self, dbname: str, *, require_scram: bool = True):  # -> psycopg.Connection
        import psycopg

        try:
            return psycopg.connect(self.role_url(SUPERUSER, dbname, require_scram=require_scram), autocommit=True,
                                   connect_timeout=20)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"embedded PostgreSQL started but refused a connection: {exc}") from exc

    def _secure(self, passwords: dict[str, str]) -> None:
        """Passwords on, trust off, and the app role as it must be (no privileges but its schema).

        A cluster of the first versions trusts every local connection: we are let in without a
        password, give the superuser its password, then replace pg_hba.conf and reload, after which
        nobody gets in without the password file.
        """
        import psycopg
        from psycopg import sql

        if not self._hba_is_ours():
            with self._superuser("postgres", require_scram=False) as conn:  # trust, or initdb's own file
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(_scram(conn, SUPERUSER, passwords[SUPERUSER]))))
                (self.pgdata / "pg_hba.conf").write_text(HBA, encoding="utf-8")
                conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 10  # the postmaster reloads its files a moment later
            while True:
                try:
                    psycopg.connect(self.role_url(SUPERUSER, "postgres"), connect_timeout=5).close()
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        with self._superuser("postgres") as conn:
            role = sql.Identifier(APP_ROLE)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {}").format(role))
            # Whatever someone did to it, the role has no privilege of its own, and the password of the file.
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                                 "PASSWORD {}").format(role, sql.Literal(_scram(conn, APP_ROLE, passwords[APP_ROLE]))))

    def _ensure_database(self, name: str) -> None:
        """The database exists, and its schema and everything in it belong to the app role (a
        catalog made by the first versions belonged to the superuser)."""
        from psycopg import sql

        with self._superuser("postgres") as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with self._superuser(name) as conn:
            _hand_schema_to(conn, APP_ROLE)

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
