"""Work files under DATA_DIR/tmp (ingests' COGs in the making, GDAL's `*.ovr.tmp` beside them, upload
folders, spooled request bodies), named after the process that owns them.

Several processes share a data dir (a server, a CLI ingest, another server), so a file in DATA_DIR/tmp
may be another live process's work. Each name starts with its owner's tag, `p<pid>t<start ms>` (the
start time tells a reused pid apart), so a start-up sweep removes the files of dead processes at once
and leaves the rest alone: no age to wait for, nothing of a killed `cogbrowser ingest` survives the
next start.

On Linux the start is the process's own in /proc (milliseconds since boot), not psutil's
`create_time`: that adds the boot time, which Linux derives from the wall clock, so a clock stepped
by a few seconds (NTP, a virtual machine's clock catching up) made a live process's files look dead
to a process that read the boot time after the step, and its sweep removed them (seen in CI: a
server's upload folder, a CLI ingest's COG in the making). Windows and macOS record the creation
time once, at the start.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import psutil

from cogbrowser.config import Settings

_TAG = re.compile(r"^p(?P<pid>\d+)t(?P<started>\d+)-")
_SAME_START_MS = 2000  # outside Linux, start times read twice may differ by the rounding of the clock


@functools.cache
def owner_tag() -> str:
    """This process's tag: the start of every work file name it makes."""
    return _tag(os.getpid())


def _tag(pid: int) -> str:
    return f"p{pid}t{_started(pid)}"


def _started(pid: int) -> int:
    """When process `pid` started, in ms: since boot on Linux (its stat's starttime, which no clock
    change moves), since the epoch elsewhere. OSError or psutil's errors when there is no such process."""
    if sys.platform.startswith("linux"):
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        fields = stat.rsplit(b")", 1)[1].split()  # after the command name, which may hold spaces
        return int(fields[19]) * 1000 // os.sysconf("SC_CLK_TCK")  # field 22: starttime, in clock ticks
    return int(psutil.Process(pid).create_time() * 1000)


def work_path(settings: Settings, suffix: str = "", kind: str = "work") -> Path:
    """A new name in DATA_DIR/tmp owned by this process (the folder is made if needed)."""
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    return settings.tmp_dir / f"{owner_tag()}-{kind}-{uuid.uuid4().hex}{suffix}"


def spool_in_tmp(settings: Settings) -> None:
    """Make DATA_DIR/tmp this process's temporary folder, its files named with this process's tag
    (waitress spools request bodies with `tempfile.TemporaryFile()`, which takes no folder or name:
    on Windows those are named files a killed server leaves behind)."""
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(settings.tmp_dir)
    tempfile.template = f"{owner_tag()}-spool-"


def owner_alive(name: str) -> bool | None:
    """Whether the process that made the file `name` still runs; None if the name has no tag."""
    match = _TAG.match(name)
    if match is None:
        return None
    pid = int(match["pid"])
    try:
        started = _started(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError, ValueError, IndexError):
        return False
    return abs(started - int(match["started"])) <= _SAME_START_MS


def sweep_dead_work_files(settings: Settings) -> list[Path]:
    """Remove, at once, every file and folder in DATA_DIR/tmp whose owner process has died."""
    removed: list[Path] = []
    if not settings.tmp_dir.is_dir():
        return removed
    for entry in settings.tmp_dir.iterdir():
        if owner_alive(entry.name) is not False:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink(missing_ok=True)
            except OSError:  # Windows: still open somewhere; the next start tries again
                continue
        if not entry.exists():
            removed.append(entry)
    return removed
