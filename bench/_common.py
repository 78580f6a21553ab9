"""What both benchmarks share: a work folder, a throw-away catalog, timing, and printing tables.

Progress goes to stderr and the figures to stdout, so `python bench/x.py > figures.txt` keeps the
tables and still shows progress on the terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_STARTED = time.perf_counter()


def default_workdir() -> Path:
    """Where cached inputs and per-run scratch folders live unless --workdir says otherwise."""
    return Path(tempfile.gettempdir()) / "cogbrowser-bench"


def say(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the script started."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_dir(workdir: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder under `workdir`, removed afterwards whatever happens."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_demo_data(data_dir: Path) -> None:
    """The demo data set in `data_dir`, as `cogbrowser demo --no-serve` makes it, on its own embedded
    catalog (whatever COGBROWSER_DATABASE_URL the caller has)."""
    env = {k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"}
    say("making the demo data set")
    subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "demo", "--no-serve"],
                   env=env, check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def embedded_catalog(data_dir: Path, *, max_size: int = 4):
    """A Database on its own embedded PostgreSQL in `data_dir` (started, migrated; stopped afterwards).

    COGBROWSER_DATABASE_URL is ignored on purpose: the benchmarks always measure the embedded server
    in a fresh data dir, never a server somebody pointed the environment at.
    """
    from cogbrowser.catalog.database import Database
    from cogbrowser.config import Settings

    settings = Settings.from_env(data_dir=data_dir)
    if settings.database_url:
        settings = Settings(data_dir=settings.data_dir)
    say(f"starting the embedded PostgreSQL in {settings.pg_dir}")
    db = Database.open(settings, max_size=max_size)
    try:
        yield db, settings
    finally:
        db.close()


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0

    @property
    def cores(self) -> float:
        """Process CPU time over wall time: about 2.0 when two cores were busy throughout."""
        return self.cpu / self.wall if self.wall > 0 else 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    """Wall and CPU time (all threads of this process: GDAL's worker threads included) of a block."""
    result = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.wall = time.perf_counter() - wall
        result.cpu = time.process_time() - cpu


def drop_dirty_pages() -> None:
    """Flush written files to disk so one measurement does not pay for the previous one's writeback."""
    if hasattr(os, "sync"):
        os.sync()


def warm_page_cache(path: Path, chunk: int = 16 << 20) -> None:
    """Read a file once so every measurement starts from the same (warm) page cache."""
    with open(path, "rb", buffering=0) as handle:
        while handle.read(chunk):
            pass


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples_ms, dtype=float)
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "max": float(values.max()), "mean": float(values.mean())}


class OtherLoad:
    """How much CPU other processes used while we measured (they slow every figure here down).

    Busy CPU time of the whole machine minus our own process's and minus the processes of `pids`
    (e.g. our embedded PostgreSQL: its postmaster, backends and parallel workers); also the time the
    hypervisor stole from this virtual machine.
    """

    def __init__(self, pids: Callable[[], list[int]] | None = None) -> None:
        self._pids = pids or (list)
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        import psutil

        t = psutil.cpu_times()
        busy = sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
        own = os.times()  # this process and the children it waited for (initdb, pg_ctl)
        ours = own.user + own.system + own.children_user + own.children_system
        for pid in self._pids():
            try:
                proc = psutil.Process(pid)
                times = proc.cpu_times()
                ours += times.user + times.system + times.children_user + times.children_system
                for child in proc.children(recursive=True):
                    child_times = child.cpu_times()
                    ours += child_times.user + child_times.system
            except psutil.Error:
                pass
        return time.perf_counter(), busy, ours, getattr(t, "steal", 0.0)

    def note(self) -> str:
        wall0, busy0, ours0, steal0 = self._start
        wall1, busy1, ours1, steal1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        others = max(0.0, (busy1 - busy0) - (ours1 - ours0))
        text = (f"other processes used {others:,.0f} CPU s over these {wall:,.0f} s ({others / wall:.2f} of "
                f"{os.cpu_count()} CPUs)")
        if steal1 - steal0 > 0.05 * wall:
            text += f"; the hypervisor stole {steal1 - steal0:,.0f} s"
        if others / wall > 0.2:
            text += ": the machine was shared, figures are slower and noisier than on an idle one"
        return text


def postmaster_pid(pg_dir: Path) -> list[int]:
    """The pid of the PostgreSQL server of a cluster folder (first line of postmaster.pid)."""
    try:
        return [int((Path(pg_dir) / "postmaster.pid").read_text().splitlines()[0])]
    except (OSError, ValueError, IndexError):
        return []


def mib(n_bytes: int | float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table, numbers right-aligned, on stdout."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric)).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    stripped = text.replace(",", "").rstrip("x%").split(" ")[0]
    try:
        float(stripped)
    except ValueError:
        return text in ("", "-")
    return True


# -- load with wrk ------------------------------------------------------------------------------------
CLIENTS = 8
WRK_SCRIPT = """
%(headers)s
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", paths[((n - 1) * %(threads)d + id - 1) %% #paths + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%%d duration_us=%%d p50_us=%%d p95_us=%%d p99_us=%%d max_us=%%d "
    .. "status=%%d timeout=%%d connect=%%d read=%%d write=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.timeout, e.connect, e.read, e.write))
end
"""
WRK_THREADS = 2


@dataclass
class Load:
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    max: float
    non2xx: int
    socket_errors: int
    wrapped: bool  # wrk went round the list: later requests repeated earlier ones (the cache may have answered)

    @property
    def rate(self) -> float:
        """2xx answers a second."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds else 0.0


def run_wrk(base: str, paths: list[str], seconds: int, folder: Path, headers: dict[str, str] | None = None) -> Load:
    """wrk over `paths` in turn (each sent with `headers`), WRK_THREADS threads and CLIENTS
    connections for `seconds`: its figures, read from the summary the Lua script prints."""
    listing, script = folder / "paths.txt", folder / "paths.lua"
    listing.write_text("\n".join(paths) + "\n")
    setup = "\n".join(f'wrk.headers["{name}"] = [[{value}]]' for name, value in (headers or {}).items())
    script.write_text(WRK_SCRIPT % {"paths": listing, "threads": WRK_THREADS, "headers": setup})
    done = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "60s",
                           "--latency", "-s", str(script), base], capture_output=True, text=True, check=True)
    found = re.search(r"^BENCH (.*)$", done.stdout, re.MULTILINE)
    if not found:
        raise SystemExit(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    v = {key: int(value) for key, value in (pair.split("=") for pair in found.group(1).split())}
    ms = 1 / 1000
    return Load(v["requests"], v["duration_us"] / 1e6, v["p50_us"] * ms, v["p95_us"] * ms, v["p99_us"] * ms,
                v["max_us"] * ms, v["status"], v["timeout"] + v["connect"] + v["read"] + v["write"],
                v["requests"] + v["timeout"] > len(paths))
