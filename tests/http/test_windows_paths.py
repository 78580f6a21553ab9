"""Windows correctness, checked on Linux: most users run cogbrowser on Windows.

- Paths: data dirs with drive letters, backslashes and spaces; stored image paths that mean the
  same on Windows and Linux; ingest of files whose names and folders have spaces.
- Nothing Unix-only at run time: a scan of src/ for calls, modules, keywords and paths that do not
  exist on Windows, outside the branches that only run elsewhere (GUARDS).
- Text files read and written with a named encoding (Windows' default is the ANSI code page).
- The server is waitress (pure Python, runs on Windows), not a fork-based one.
"""

from __future__ import annotations

import ast
import shutil
import signal
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
import requests

from cogbrowser import config
from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.config import Settings
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA

SRC = Path(__file__).resolve().parents[2] / "src" / "cogbrowser"
WINDOWS_DATA_DIR = PureWindowsPath(r"C:\Users\Ana Lyst\AppData\Local\cogbrowser")


# ---------------------------------------------------------------- paths

def test_image_files_resolve_with_windows_path_semantics(monkeypatch):
    """catalog/files.image_file as it runs on Windows: managed COGs are stored relative with '/',
    which Windows reads as a separator; in-place files keep their drive letter or UNC share."""
    from cogbrowser.catalog import files
    from cogbrowser.catalog.records import ImageFile

    monkeypatch.setattr(config, "Path", PureWindowsPath)
    monkeypatch.setattr(files, "Path", PureWindowsPath)
    monkeypatch.setattr(files, "_within", lambda path, folder: path.parent == folder)  # no resolve() here
    settings = Settings(data_dir=WINDOWS_DATA_DIR)  # type: ignore[arg-type]
    managed = files.image_file(settings, ImageFile("S2 scene", "cogs/S2 scene.tif", managed=True))
    assert str(managed) == r"C:\Users\Ana Lyst\AppData\Local\cogbrowser\cogs\S2 scene.tif"
    monkeypatch.setattr(files, "_key", lambda path, create: b"k" * 32)
    for stored in (r"D:\EO data\2024\scene 1.tif", r"\\nas\imagery\scene.tif"):
        seal = files.in_place_seal(settings, "x", stored)
        assert files.image_file(settings, ImageFile("x", stored, False, seal)) == PureWindowsPath(stored)
    assert settings.cog_dir == WINDOWS_DATA_DIR / "cogs" and settings.pg_dir == WINDOWS_DATA_DIR / "postgres"


def test_a_data_dir_given_with_backslashes_and_spaces_on_windows(monkeypatch):
    """`--data-dir "D:\\EO Data\\cogbrowser"` keeps its drive and its spaces (from_env resolves it;
    PureWindowsPath has no resolve, so only the join is checked here)."""
    monkeypatch.setattr(config, "Path", PureWindowsPath)
    settings = Settings(data_dir=PureWindowsPath(r"D:\EO Data\cogbrowser"))  # type: ignore[arg-type]
    assert settings.tmp_dir == PureWindowsPath("D:/EO Data/cogbrowser/tmp")
    assert settings.tmp_dir.drive == "D:" and settings.tmp_dir.parent.name == "cogbrowser"


@pytest.mark.parametrize("source, name", [
    ("titiler/B01.tif", "S2 B01 (copy) #1.tif"),  # a valid COG: copied as it is
    ("rasterio/world.rgb.tif", "world map, été 2024.tif"),  # not a COG: converted
])
def test_ingest_of_files_with_spaces_in_names_and_folders(db, settings, live_server, tmp_path, source, name):
    folder = tmp_path / "My Scenes (2024)" / "sub folder"
    folder.mkdir(parents=True)
    shutil.copy(REAL_DATA / source, folder / name)
    result = ingest_file(db, settings, IngestRequest(path=folder / name))
    assert result.status == "added", result.message
    assert all(c.isalnum() or c in "._-" for c in result.image_id), result.image_id  # URL-safe
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    assert row.path == f"cogs/{result.image_id}.tif"  # relative, '/': the same on Windows and Linux
    assert PureWindowsPath(row.path).parts == PurePosixPath(row.path).parts
    assert image_file(settings, row).is_file()
    response = requests.get(f"{live_server}/cogs/{result.image_id}.tif", headers={"Range": "bytes=0-3"}, timeout=30)
    assert response.status_code == 206 and response.content[:2] in (b"II", b"MM")


def test_in_place_ingest_of_a_file_with_spaces_keeps_its_absolute_path(db, settings, tmp_path):
    folder = tmp_path / "EO data" / "in place"
    folder.mkdir(parents=True)
    shutil.copy(REAL_DATA / "rio-tiler/cog_rgb.tif", folder / "aerial tile 7.tif")
    result = ingest_file(db, settings, IngestRequest(path=folder / "aerial tile 7.tif", in_place=True))
    assert result.status == "added", result.message
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    assert Path(row.path).is_absolute() and image_file(settings, row) == folder / "aerial tile 7.tif"


# ---------------------------------------------------------------- nothing Unix-only at run time

UNIX_MODULES = {"fcntl", "pwd", "grp", "resource", "termios", "tty", "pty", "crypt", "spwd", "syslog", "posix",
                "curses", "readline"}
UNIX_ATTRIBUTES = {
    "os": {"fork", "forkpty", "setsid", "setpgrp", "setpgid", "getpgid", "killpg", "getuid", "geteuid", "getgid",
           "getegid", "setuid", "setgid", "chown", "lchown", "fchown", "nice", "mkfifo", "getloadavg", "statvfs",
           "sync", "uname", "WNOHANG", "wait3", "wait4", "sched_getaffinity"},
    "signal": {"SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGALRM", "SIGQUIT", "SIGPIPE", "SIGCONT",
               "SIGSTOP", "SIGTSTP", "alarm", "setitimer", "pause", "sigwait"},
    "select": {"poll", "epoll", "kqueue"},
    "socket": {"AF_UNIX"},
}
POSIX_ONLY_KEYWORDS = {"preexec_fn", "user", "group", "extra_groups", "process_group", "pass_fds"}
UNIX_PATHS = ("/tmp", "/dev/", "/proc/", "/etc/", "/var/", "/usr/")
# Conditions under which Unix-only code may run: each holds only where that code exists.
GUARDS = (
    "sys.platform",  # an explicit platform branch
    "os.name",
    "hasattr(os,",  # the call exists here
    "_running_as_root()",  # catalog/embedded.py: os.geteuid exists and is 0 (never on Windows)
    "self._os_user",  # catalog/embedded.py: set only when running as root (above)
)
# Functions only ever called under a guard, with where and why.
GUARDED_FUNCTIONS = {
    ("catalog/embedded.py", "_ensure_os_user"): "called only if _running_as_root()",
}


def unix_only_uses(path: Path) -> list[str]:
    """Unix-only things a module uses outside guarded code, as 'file:line: what'."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    relative = path.relative_to(SRC).as_posix()
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        what = _unix_only(node, docstrings)
        if what and not _guarded(node, parents, relative):
            found.append(f"{relative}:{node.lineno}: {what}")
    return found


def _unix_only(node: ast.AST, docstrings: set[int]) -> str | None:
    if isinstance(node, ast.Import):
        names = {alias.name.split(".")[0] for alias in node.names} & UNIX_MODULES
        return f"import {', '.join(sorted(names))}" if names else None
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNIX_MODULES:
        return f"from {node.module} import"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.attr in UNIX_ATTRIBUTES.get(node.value.id, ()):
        return f"{node.value.id}.{node.attr}"
    if isinstance(node, ast.keyword):
        if node.arg == "shell" and isinstance(node.value, ast.Constant) and node.value.value is True:
            return "shell=True (cmd.exe is not sh)"
        if node.arg in POSIX_ONLY_KEYWORDS:
            return f"{node.arg}= (POSIX only)"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
            and node.value.startswith(UNIX_PATHS):
        return f"hard-coded path {node.value!r}"
    return None


def _guarded(node: ast.AST, parents: dict, relative: str) -> bool:
    """Inside a branch whose condition is a guard, after a guard in an `and`, or in a function only
    ever called under one."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.If, ast.IfExp, ast.While)) and child is not parent.test \
                and any(guard in ast.unparse(parent.test) for guard in GUARDS):
            return True
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.And) and child in parent.values:
            before = parent.values[:parent.values.index(child)]
            if any(guard in ast.unparse(value) for value in before for guard in GUARDS):
                return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and (relative, parent.name) in GUARDED_FUNCTIONS:
            return True
        child, parent = parent, parents.get(parent)
    return False


def test_nothing_unix_only_runs_on_windows():
    found = [use for path in sorted(SRC.rglob("*.py")) for use in unix_only_uses(path)]
    assert not found, "Unix-only code outside a platform guard:\n" + "\n".join(found)


def test_the_scan_sees_what_it_looks_for(tmp_path, monkeypatch):
    sample = SRC / "_scan_sample.py"  # inside SRC for relative paths; removed at once
    sample.write_text(
        "import fcntl\nimport os, signal, subprocess, sys\n"
        "os.kill(1, signal.SIGKILL)\nsubprocess.run('ls', shell=True)\nopen('/tmp/x')\n"
        "if sys.platform != 'win32':\n    import pwd\n    os.killpg(1, signal.SIGHUP)\n"
        "ok = hasattr(os, 'geteuid') and os.geteuid() == 0\n", encoding="utf-8")
    try:
        found = unix_only_uses(sample)
    finally:
        sample.unlink()
    assert [line.split(": ", 1)[1] for line in found] == [
        "import fcntl", "signal.SIGKILL", "shell=True (cmd.exe is not sh)", "hard-coded path '/tmp/x'"]


# ---------------------------------------------------------------- text files name their encoding

def default_encoding_uses(path: Path) -> list[str]:
    """open()/Path.open()/read_text()/write_text() in text mode without encoding=: on Windows they
    would read and write the ANSI code page (cp1252 ...), not UTF-8."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and not any(k.arg == "encoding" for k in node.keywords) and _text_io(node):
            found.append(f"{path.relative_to(SRC).as_posix()}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def _text_io(call: ast.Call) -> bool:
    """A call that reads or writes text: read_text/write_text, the builtin open() not in a binary
    mode, or a method open() given a text mode (rasterio.open(path) and the like are not)."""
    function = call.func
    if isinstance(function, ast.Attribute) and function.attr in ("read_text", "write_text"):
        return True
    builtin = isinstance(function, ast.Name) and function.id == "open"
    if not builtin and not (isinstance(function, ast.Attribute) and function.attr == "open"):
        return False
    mode_args = call.args[1:2] if builtin else call.args[:1]
    modes = [a.value for a in mode_args if isinstance(a, ast.Constant)]
    modes += [k.value.value for k in call.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
    mode = next((m for m in modes if isinstance(m, str)), None)
    return (builtin or mode is not None) and "b" not in (mode or "")


def test_text_files_are_read_and_written_with_an_encoding():
    found = [use for path in sorted(SRC.rglob("*.py")) for use in default_encoding_uses(path)]
    assert not found, "text I/O in the locale's encoding (cp1252 on Windows):\n" + "\n".join(found)


# ---------------------------------------------------------------- the server

def test_the_server_is_waitress(settings, db, monkeypatch):
    """`serve` hands the app to waitress (the Windows-capable WSGI server): no fork, no Unix socket."""
    import dataclasses

    from waitress.server import TcpWSGIServer

    from cogbrowser import cli
    from cogbrowser.web import server as front

    started = []
    monkeypatch.setattr(front.FrontServer, "run", lambda server: started.append(server))
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        cli._serve(dataclasses.replace(settings, port=0), db, threads=2)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    [server] = started
    server.close()
    assert isinstance(server, TcpWSGIServer)
    assert server.effective_host == settings.host
    assert server.task_dispatcher.pools["tiles"].threads == {0, 1}, "--threads 2: two threads for tiles"
    pyproject = (SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"waitress' in pyproject and not any(f'"{name}' in pyproject for name in ("gunicorn", "uwsgi", "uvicorn"))
