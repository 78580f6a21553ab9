"""A PostgreSQL server as a team runs one, for tests and benchmarks: Debian's PostgreSQL binaries
(/usr/lib/postgresql/<version>/bin), a cluster in one folder, on a free loopback port, with a
password for every connection and a role `cogbrowser` that owns the database `cogbrowser` and
nothing else (what `docs/deploy.md` asks an administrator to make).

It is *external* to cogbrowser: no cogbrowser process starts or stops it, every one reaches it by
URL (`--database-url` / COGBROWSER_DATABASE_URL), as they reach a database server on another
machine. Nothing is written outside the folder and nothing runs as a system service.

    python tools/postgres_server.py DIR [--port 15432]   # runs until Ctrl-C, printing the URL

PostgreSQL refuses to run as root: run as root (CI, containers), the server runs as Debian's
`postgres` user (made by the postgresql package), which is given the folder. Linux only (it runs
Debian's binaries), like the servers it stands in for.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROLE, DATABASE = "cogbrowser", "cogbrowser"
SUPERUSER = "postgres"
OS_USER_WHEN_ROOT = "postgres"  # Debian's postgresql package makes it
DEBIAN_PACKAGE = "postgresql"


@dataclass(frozen=True)
class Server:
    """A running server: where it listens, and the passwords of its superuser and of the app's role."""

    port: int
    superuser_password: str
    password: str  # the role `cogbrowser`'s
    host: str = "127.0.0.1"

    def url_of(self, role: str, password: str, dbname: str) -> str:
        return f"postgresql://{role}:{quote(password, safe='')}@{self.host}:{self.port}/{dbname}"

    @property
    def database_url(self) -> str:
        """The URL cogbrowser is given (COGBROWSER_DATABASE_URL): the role `cogbrowser` on its database."""
        return self.url_of(ROLE, self.password, DATABASE)

    @property
    def superuser_url(self) -> str:
        return self.url_of(SUPERUSER, self.superuser_password, "postgres")

    def create_database(self, name: str) -> str:
        """A new database owned by the role `cogbrowser` (a test's own catalog); its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(ROLE)))
        return self.url_of(ROLE, self.password, name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def binaries() -> Path | None:
    """The newest of Debian's PostgreSQL versions installed: its bin folder."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))
    return found[-1] if found and (found[-1] / "pg_ctl").is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(folder: Path, port: int | None = None) -> Iterator[Server]:
    """A server with its cluster in `folder` (made on first use) until the block ends (stopped, its
    data left in place)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(f"no PostgreSQL in /usr/lib/postgresql: install Debian's {DEBIAN_PACKAGE}")
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    as_user = _os_user(folder)
    pgdata, passwords = folder / "pgdata", folder / "passwords"
    if not (pgdata / "PG_VERSION").is_file():
        superuser_password, password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        pwfile = folder / "initdb-password"
        pwfile.write_text(superuser_password + "\n")
        _give(pwfile, as_user)
        try:
            _run(as_user, [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=scram-sha-256",
                           f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-instructions"])
        finally:
            pwfile.unlink()
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 200\n"
                       "fsync = off\n")  # a test server: a machine's crash loses nothing a test keeps
        (pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
        passwords.write_text(f"{superuser_password}\n{password}\n")
        passwords.chmod(0o600)
        created = True
    else:
        superuser_password, password = passwords.read_text().split()
        created = False
    server = Server(port or free_port(), superuser_password, password)
    log = folder / "postgres.log"
    log.touch()
    _give(log, as_user)
    _run(as_user, [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", "60",
                   "-o", f"-p {server.port}", "start"])
    try:
        if created:
            _make_role_and_database(server)
        yield server
    finally:
        _run(as_user, [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"])


def _make_role_and_database(server: Server) -> None:
    """What an administrator does once: a login role without privileges, owning its database."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE),
                                                                         sql.Literal(server.password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(ROLE)))
    with psycopg.connect(server.url_of(SUPERUSER, server.superuser_password, DATABASE), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(ROLE)))


def _os_user(folder: Path) -> pwd.struct_passwd | None:
    """Who runs the server: whoever we are, or Debian's `postgres` user when we are root (given the
    folder, and a way through its parents, e.g. pytest's folders of mode 0700)."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(OS_USER_WHEN_ROOT)
    except KeyError:
        raise RuntimeError(f"running as root, and no {OS_USER_WHEN_ROOT!r} user to run PostgreSQL as: "
                           f"install Debian's {DEBIAN_PACKAGE}") from None
    _give(folder, user)
    for parent in folder.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    return user


def _give(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(user: pwd.struct_passwd | None, args: list[str]) -> None:
    """A PostgreSQL program, as `user`, in a session of its own (a Ctrl-C in our terminal stays ours)."""
    identity = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, start_new_session=True, **identity)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    with running(args.folder, args.port) as server:
        print(f"export COGBROWSER_DATABASE_URL={server.database_url}")
        print(f"# the superuser: {server.superuser_url} (Ctrl-C stops the server)", file=sys.stderr)
        with suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
