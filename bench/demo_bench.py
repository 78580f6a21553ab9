"""Demo benchmark: how long the README's first command, `cogbrowser demo`, takes the first time and after.

    python bench/demo_bench.py [--workdir DIR]

`cogbrowser demo` makes the demo data set once in its data dir (10 generated images through the real
ingest, their detections through the real import), then serves it; every later start finds it in
place. On a throw-away data dir with its own embedded PostgreSQL, the script times:

  first run  cogbrowser.demo.ensure_demo_data() on an empty catalog, as `cogbrowser demo`     target < 60 s
             calls it (the catalog's start not counted)
  again      the same call with the data set in place: a check, nothing made                   target < 2 s
  restart    `python -m cogbrowser --data-dir DIR demo --port P` as a subprocess, from its     target < 10 s
             start until /api/v1/health answers, the data set in place: the interpreter, the
             embedded PostgreSQL's start, the check and waitress listening

The first run's own messages are timed too, so a slow stage shows. Exit status 1 when a figure
misses its target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    OtherLoad,
    default_workdir,
    embedded_catalog,
    postmaster_pid,
    print_table,
    say,
    scratch_dir,
    timed,
)
from tile_bench import free_port, http_get, stop_server  # noqa: E402

TARGET_FIRST_S = 60.0
TARGET_AGAIN_S = 2.0
TARGET_RESTART_S = 10.0


def start_demo(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """`cogbrowser demo` on `data_dir` as a subprocess, returned once /api/v1/health answers 200."""
    env = dict(os.environ)
    env.pop("COGBROWSER_DATABASE_URL", None)
    with log.open("wb") as stream:
        proc = subprocess.Popen([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "demo",
                                 "--host", "127.0.0.1", "--port", str(port)], stdout=stream,
                                stderr=subprocess.STDOUT, env=env)
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cogbrowser demo exited with {proc.returncode}; see {log}")
        try:
            if http_get(port, "/api/v1/health")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.05)
    stop_server(proc)
    raise SystemExit(f"cogbrowser demo did not answer /api/v1/health within 600 s; see {log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help=f"scratch folder (default {default_workdir()})")
    args = parser.parse_args(argv)

    from cogbrowser.demo import ensure_demo_data

    with scratch_dir(args.workdir.expanduser().resolve(), "demo-") as scratch:
        data_dir = scratch / "data dir"
        load = OtherLoad(lambda: postmaster_pid(data_dir / "postgres"))
        stages: list[tuple[float, str]] = []
        with embedded_catalog(data_dir) as (db, settings):
            started = time.perf_counter()

            def echo(message: str) -> None:
                stages.append((time.perf_counter() - started, message.strip()))
                say(message.strip())

            say("first run: making the demo data set")
            with timed() as first:
                ensure_demo_data(db, settings, echo)
            again_messages: list[str] = []
            with timed() as again:
                ensure_demo_data(db, settings, again_messages.append)
        load_note = load.note()  # before the restart, whose subprocess it would count as another's
        say("restart: cogbrowser demo on the same data dir")
        log = scratch / "demo.log"
        with timed() as restart:
            proc = start_demo(data_dir, free_port(), log)
        stop_server(proc)
        restart_said = log.read_text(encoding="utf-8", errors="replace")

    print_table("The first run's messages (seconds since it began)", ["s", "message"],
                [[f"{seconds:.1f}", message] for seconds, message in stages])
    figures = [("first run", first, TARGET_FIRST_S), ("again", again, TARGET_AGAIN_S),
               ("restart", restart, TARGET_RESTART_S)]
    print_table("cogbrowser demo: making the data set, and finding it in place",
                ["step", "wall s", "CPU s (this process)", "target", "verdict"],
                [[name, timing.wall, timing.cpu if name != "restart" else "-", f"< {target:.0f} s",
                  "met" if timing.wall < target else "MISSED"] for name, timing, target in figures])
    in_place = [line for line in restart_said.splitlines() if "in place" in line]
    print(f"again said:   {' '.join(again_messages)}")
    print(f"restart said: {in_place[0] if in_place else 'NOT that the data set was in place:'}")
    if not in_place:
        print(restart_said[-2000:])
    print(f"first run and again: {load_note}")
    return 1 if any(timing.wall >= target for _, timing, target in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
