"""WMS GetMap against MapServer (issue 16's peer): the same COGs, the same maps, 8 clients with wrk.

    python bench/mapserver_bench.py [--size 10980] [--seconds 5] [--rounds 3] [--server-processes 1,2]
                                    [--workdir DIR] [--quick]

The two Sentinel-2-sized scenes of tile_bench.py (uint8 RGB, and 4-band uint16 drawn with bands
3,2,1 and a 0-3000 stretch) are ingested into a throw-away data dir and served by the real
`cogbrowser serve`; MapServer 8 (Debian's `mapserv`, 2 FastCGI processes under lighttpd,
tools/mapserver_peer.py; installed from Debian's packages here if missing) serves the same COGs.
Each row asks WMS 1.3.0 GetMap in EPSG:3857, PNG, transparent, at the scene's centre: 256 px maps at
z8, z11 and z14 (native) boxes and 1024 x 768 at z11. Every request of a run is distinct (the box
moves by a fraction of a pixel), so no cache answers; our XYZ tiles of the same zoom are asked with
a new stretch each (no tile cache, no lookup table made before). wrk (2 threads, 8 connections) runs
each for --seconds, once the machine idles again (`settle`). A round runs every row, MapServer's
run and ours back to back; the host's speed drifts by up to 2x within minutes, so each ratio is
taken within a round, and the table gives the median of the rounds (and the lowest) with the
medians of the requests/s and p99.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from _common import default_workdir, run_wrk, say, scratch_dir  # noqa: E402

WORLD = 40075016.685578488  # metres across EPSG:3857
ROWS = [(z, 256, 256) for z in (8, 11, 14)] + [(11, 1024, 768)]
WANDER = 64  # pixels: how far a row's boxes stray from the scene's centre


def ensure_peer_installed() -> None:
    from mapserver_peer import DEBIAN_PACKAGES, missing_programs

    if missing_programs() or shutil.which("wrk") is None:
        say(f"installing Debian's {DEBIAN_PACKAGES} wrk")
        subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES.split(), "wrk"], check=True,
                       stdout=subprocess.DEVNULL, env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/bin:/bin"})


def boxes(centre: tuple[float, float], zoom: int, width: int, height: int, count: int) -> list[tuple]:
    """`count` distinct boxes of width x height pixels at `zoom` about `centre`, each moved from the
    last by 0.37 pixel across and 0.23 down, wrapping within WANDER pixels: every box stays over the
    scene. (Boxes that drifted on and on left it after a few hundred requests at z8 and a few
    thousand at z11: empty maps, cheap for both servers, were most of those rows until 2026-12-04.)"""
    pixel = WORLD / 256 / 2**zoom
    x, y = centre
    found = []
    for k in range(count):
        dx, dy = (k * 0.37) % WANDER * pixel, (k * 0.23) % WANDER * pixel
        found.append((x - width * pixel / 2 + dx, y - height * pixel / 2 - dy,
                      x + width * pixel / 2 + dx, y + height * pixel / 2 - dy))
    return found


def wrk(base: str, paths: list[str], seconds: int, folder: Path,
        headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(requests/s, p99 ms, answers other than 2xx/3xx and socket errors) of `_common.run_wrk` over
    `paths`, each sent with `headers`; the first answer must be a PNG (a WMS exception comes as XML
    with a 200)."""
    with urllib.request.urlopen(base + paths[0], timeout=60) as answer:
        if answer.headers.get_content_type() != "image/png":
            raise SystemExit(f"{base + paths[0]} answered {answer.headers.get_content_type()}: {answer.read()[:300]!r}")
    load = run_wrk(base, paths, seconds, folder, headers)
    return load.requests / load.seconds if load.seconds else 0.0, load.p99, load.non2xx + load.socket_errors


def settle(limit: float = 10.0) -> None:
    """Wait until the machine idles (under a fifth of its CPU busy over a quarter second), at most
    `limit` seconds: a server keeps drawing the maps it was asked for after wrk stops (MapServer's
    1024 x 768 maps: up to a second of both cores), and the next run must not pay for them (our
    p99 of those maps: 210-250 ms right after MapServer's run, 87-128 ms after a pause)."""
    import psutil

    deadline = time.monotonic() + limit
    while psutil.cpu_percent(interval=0.25) > 20 and time.monotonic() < deadline:
        pass


def xyz_paths(layer: str, name: str, centre: tuple[float, float], scene_width: float, zoom: int,
              count: int) -> list[str]:
    """`count` distinct XYZ tiles of `layer`: the 5 x 5 tiles around `centre` at `zoom` (fewer where
    the scene, `scene_width` metres across, is narrower: every tile over it), each asked with its
    own rescale upper bound (our tile cache must not answer)."""
    span = WORLD / 2**zoom
    col, row = int((centre[0] + WORLD / 2) // span), int((WORLD / 2 - centre[1]) // span)
    reach = max(0, min(2, int(scene_width / span / 2) - 1))
    tiles = [(col + dx, row + dy) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    paths = []
    for k in range(count):
        x, y = tiles[k % len(tiles)]
        render = f"bands=3,2,1&rescale=0,{3000 + k}" if name == "uint16" else f"rescale=0,{255 + k / 1000:.3f}"
        paths.append(f"/tiles/{layer}/WebMercatorQuad/{zoom}/{x}/{y}.png?{render}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--seconds", type=int, default=5, help="a row's run, each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every row, MapServer's and ours in turn")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="2048 x 2048 scenes, 1 round, 3 s a row")
    parser.add_argument("--server-processes", default="1,2",
                        help="cogbrowser serve --processes, one run each (default 1,2; MapServer runs 2)")
    args = parser.parse_args(argv)
    size, seconds, rounds = (2048, 3, 1) if args.quick else (args.size, args.seconds, args.rounds)
    workdir = args.workdir.expanduser().resolve()
    ensure_peer_installed()
    import rasterio
    from rasterio.warp import transform, transform_bounds

    from mapserver_peer import Layer, running
    from tile_bench import free_port, ingest_sources, scene_sources, start_server, stop_server

    sources = scene_sources(workdir, size)
    processes = [int(n) for n in args.server_processes.split(",")]
    plans = []  # (label, MapServer's paths, our WMS paths, our XYZ paths or None)
    runs: dict[tuple[int, str], list[dict]] = {}  # (processes, row) -> each round's figures by column
    with scratch_dir(workdir, "mapserver-") as scratch:
        rows = ingest_sources(sources, scratch / "data")
        layers = [Layer("uint8", Path(rows["uint8"].file), (1, 2, 3)),
                  Layer("uint16", Path(rows["uint16"].file), (3, 2, 1), (0, 3000))]
        with running(scratch / "peer", layers) as peer:
            for name, row in rows.items():
                with rasterio.open(row.file) as src:
                    xs, ys = transform(src.crs, "EPSG:3857", [(src.bounds.left + src.bounds.right) / 2],
                                       [(src.bounds.bottom + src.bounds.top) / 2])
                    west, _, east, _ = transform_bounds(src.crs, "EPSG:3857", *src.bounds)
                centre, scene_width = (xs[0], ys[0]), east - west
                render = "bands=3,2,1&rescale=0,3000" if name == "uint16" else "rescale=0,255"
                for zoom, width, height in ROWS:
                    count = 6000 if width == 256 else 1500
                    theirs = ["/" + peer.getmap(name, box, width, height).split("127.0.0.1", 1)[1].split("/", 1)[1]
                              for box in boxes(centre, zoom, width, height, count)]
                    mine = [p.replace("mapserv?", "wms?").replace(f"LAYERS={name}", f"LAYERS=bench-{name}&{render}")
                            for p in theirs]
                    label = f"{name} {width}x{height} z{zoom}"
                    xyz = xyz_paths(f"bench-{name}", name, centre, scene_width, zoom, count) if width == 256 else None
                    plans.append((label, theirs, mine, xyz))
            for count in processes:
                port = free_port()
                server = start_server(scratch / "data", port, processes=count)
                try:
                    for round_ in range(1, rounds + 1):
                        for label, theirs, mine, xyz in plans:
                            # MapServer's run and ours back to back: the host's speed drifts by up
                            # to 2x within minutes, and a ratio is only fair within one round.
                            say(f"round {round_}/{rounds}, cogbrowser with {count} process(es): {label}")
                            settle()
                            found = {"MapServer": wrk(peer.url.rsplit("/", 1)[0], theirs, seconds, scratch)}
                            settle()
                            found["wms"] = wrk(f"http://127.0.0.1:{port}", mine, seconds, scratch)
                            if xyz is not None:
                                settle()
                                found["xyz"] = wrk(f"http://127.0.0.1:{port}", xyz, seconds, scratch)
                            runs.setdefault((count, label), []).append(found)
                finally:
                    stop_server(server)
    print(f"\n{size} x {size} scenes, 8 connections (wrk), every request distinct; {rounds} round(s) of {seconds} s "
          f"a run, MapServer's run of a row and ours back to back. MapServer: WMS 1.3.0 GetMap, EPSG:3857, PNG, 2 "
          f"FastCGI processes. cogbrowser (serve --processes N): the same GetMap (wms), and the XYZ tiles of that "
          f"zoom around the same place (xyz). Requests/s and p99 are medians of the rounds; the ratios are "
          f"ours over MapServer's in the same round, as the median of the rounds (and the lowest)")
    for count in processes:
        print(f"\ncogbrowser serve --processes {count}")
        print(f"{'request':22}{'MapServer /s':>14}{'p99':>7}{'wms /s':>10}{'p99':>7}{'xyz /s':>10}{'p99':>7}"
              f"{'wms/MapServer':>20}{'xyz/MapServer':>20}")
        for label, *_ in plans:
            found = runs[(count, label)]
            line = f"{label:22}"
            for column, width in (("MapServer", 14), ("wms", 10), ("xyz", 10)):
                if column in found[0]:
                    bad = any(run[column][2] for run in found)
                    line += (f"{statistics.median(run[column][0] for run in found):{width}.1f}"
                             f"{statistics.median(run[column][1] for run in found):7.0f}" + ("!" if bad else ""))
                else:
                    line += f"{'-':>{width}}{'-':>7}"
            for column in ("wms", "xyz"):
                if column in found[0]:
                    ratios = [run[column][0] / run["MapServer"][0] for run in found]
                    line += f"{statistics.median(ratios):13.2f} ({min(ratios):.2f})"
                else:
                    line += f"{'-':>20}"
            print(line)
    print("(p99 in ms; ! marks a row with answers other than 2xx/3xx)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
