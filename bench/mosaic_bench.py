"""Mosaic benchmark: a whole collection drawn as one layer, WMS GetMap and XYZ tiles at z6-z8, 8 clients with wrk.

    python bench/mosaic_bench.py [--scenes 200] [--size 2048] [--seconds 10] [--zooms 6,7,8] [--workdir DIR]
                                 [--keep | --data-dir DIR] [--server-threads N] [--server-processes N] [--quick]

The issue's target: "with 200 scenes of a collection (200 COGs of 2048 x 2048 tiling a region, with
overlaps), tiles at z6-z8 where one tile touches 50-200 scenes: p95 < 300 ms and >= 30 tiles/s at
8 clients".

--scenes synthetic scenes (uint8 RGB, EPSG:32633 at 10 m, each its own tint and acquisition day) tile
a region in a grid with about 20 % overlap; they are generated once and cached in the work dir, then
ingested in one `cogbrowser ingest --collection mosaic` call into a throw-away data dir (--keep keeps
it; --data-dir reuses one and skips both). The real `cogbrowser serve` then answers, for each zoom,
two lists of DISTINCT requests over the region (so the rendered-tile cache never answers): WMS 1.3.0
GetMaps of 256 x 256 px boxes of the zoom's scale in EPSG:3857 with TIME=../.. (every acquisition,
newest on top; without TIME a collection draws only its newest acquisition), each box moved by a
fraction of a pixel from the last, and the XYZ tiles of the region, each with its own rescale upper
bound. wrk (2 threads, 8 connections) loads each list for --seconds; the table gives how many scenes
each map's box touches, tiles/s, p50/p95/p99 and whether the target is met.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CLIENTS,
    WRK_THREADS,
    Load,
    OtherLoad,
    default_workdir,
    mib,
    print_table,
    run_wrk,
    say,
    timed,
)
from tile_bench import free_port, rss, start_server, stop_server  # noqa: E402

COLLECTION = "mosaic"
WORLD = 40075016.685578488  # metres across EPSG:3857
PIXEL = 10.0  # metres, as Sentinel-2's 10 m bands
ORIGIN_X, ORIGIN_Y = 300_000.0, 5_100_000.0  # top-left of the grid in UTM 33N (around 46 N, 12.4 E)
STEP_SHARE = 0.78125  # grid step / scene width: 16 km for 20.48 km scenes, about 20 % overlap
FIRST_DAY = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
SOURCE_VERSION = 1
TARGET_P95_MS = 300.0
TARGET_RATE = 30.0
TILE = 256


# -- the scenes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """Where the scenes lie: `scenes` cells of a grid `columns` wide, row by row from the north-west."""

    scenes: int
    size: int
    columns: int

    @property
    def step(self) -> float:
        return self.size * PIXEL * STEP_SHARE

    def origin(self, index: int) -> tuple[float, float]:
        """The scene's top-left corner in EPSG:32633."""
        row, column = divmod(index, self.columns)
        return ORIGIN_X + column * self.step, ORIGIN_Y - row * self.step

    def acquired_at(self, index: int) -> datetime:
        """One day apart, in a shuffled order, so that "newest on top" makes a patchwork, not a staircase."""
        order = np.random.default_rng(7).permutation(self.scenes)
        return FIRST_DAY + timedelta(days=int(order[index]))


def sources_dir(workdir: Path, grid: Grid) -> Path:
    return workdir / f"mosaic-sources-v{SOURCE_VERSION}-{grid.size}px-{grid.columns}cols"


def scene_path(folder: Path, index: int) -> Path:
    return folder / f"scene-{index:03d}.tif"


def make_scene(path: Path, grid: Grid, index: int) -> None:
    """A tinted RGB scene: smooth gradients (the bulk), a wave texture and a little noise, so it is cheap
    to make but does not compress to nothing; no nodata. The acquisition time is a tag ingest reads."""
    size = grid.size
    rng = np.random.default_rng(index)
    hue = (index * 0.618034) % 1.0  # golden-ratio steps: neighbours get clearly different tints
    tint = np.array([0.6 + 0.4 * math.cos(2 * math.pi * (hue + k / 3)) for k in range(3)], dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    base = 70.0 + 90.0 * ramp[None, :] * rng.uniform(0.5, 1.0) + 60.0 * ramp[:, None] * rng.uniform(0.5, 1.0)
    waves = (np.sin(np.arange(size, dtype=np.float32) * (2 * math.pi / rng.uniform(30, 90)) + index)[None, :]
             * np.cos(np.arange(size, dtype=np.float32) * (2 * math.pi / rng.uniform(30, 90)))[:, None]) * 14.0
    x0, y0 = grid.origin(index)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:32633",
        "transform": from_origin(x0, y0, PIXEL, PIXEL), "tiled": True, "blockxsize": 256, "blockysize": 256,
        "compress": "DEFLATE", "zlevel": 1, "photometric": "RGB", "interleave": "pixel",
    }
    data = np.empty((3, size, size), dtype=np.uint8)
    for band in range(3):
        smooth = np.clip(base * tint[band] + waves, 0, 245).astype(np.uint8)
        data[band] = smooth + rng.integers(0, 10, (size, size), dtype=np.uint8)  # at most 254: no overflow
    partial = path.with_suffix(".partial.tif")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(ACQUISITION_DATETIME=grid.acquired_at(index).strftime("%Y-%m-%dT%H:%M:%SZ"))
    os.replace(partial, path)


def ensure_scenes(folder: Path, grid: Grid) -> list[Path]:
    """The grid's scene files, generating the missing ones (in parallel: numpy and GDAL release the GIL)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [scene_path(folder, i) for i in range(grid.scenes)]
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        say(f"generating {len(missing)} scenes of {grid.size} x {grid.size} in {folder}")
        with timed() as t, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda i: make_scene(paths[i], grid, i), missing))
        say(f"  generated in {t.wall:.1f} s, {mib(sum(p.stat().st_size for p in paths))} in all")
    else:
        say(f"using the {len(paths)} cached scenes in {folder}")
    return paths


def ingest(paths: Sequence[Path], data_dir: Path) -> float:
    """All scenes in ONE `cogbrowser ingest` call (the embedded PostgreSQL starts once): its wall seconds."""
    env = {k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"}
    log = data_dir.parent / "ingest.log"
    say(f"ingesting {len(paths)} scenes into {data_dir} (log: {log})")
    started = time.perf_counter()
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "ingest",
                               "--collection", COLLECTION, *map(str, paths)], env=env, stdout=out, stderr=out)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"cogbrowser ingest exited with {done.returncode}; see {log}")
    say(f"  {log.read_text().strip().splitlines()[-1]}")
    return seconds


# -- the catalog, seen from the server ------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    id: str
    acquired_at: str
    box: tuple[float, float, float, float]  # footprint's box in EPSG:3857


def get_json(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=60) as answer:
        return json.loads(answer.read())


def collection_scenes(base: str) -> list[Scene]:
    """The collection's images as the server's catalog has them, each footprint as a box in EPSG:3857
    (from its native bounds), so a reused --data-dir is described as it is, not as this script would make it."""
    scenes: list[Scene] = []
    path: str | None = f"/api/v1/images?{urlencode({'collections': COLLECTION, 'limit': 1000})}"
    while path:
        page = get_json(base, path)
        for image in page["images"]:
            crs = f"EPSG:{image['epsg']}" if image["epsg"] else image["crs"]
            box = transform_bounds(crs, "EPSG:3857", *image["native_bounds"], densify_pts=21)
            scenes.append(Scene(image["id"], image["acquired_at"], tuple(box)))
        following = [urlsplit(link["href"]) for link in page.get("links", []) if link.get("rel") == "next"]
        path = f"{following[0].path}?{following[0].query}" if following else None
    if not scenes:
        raise SystemExit(f"the catalog has no images in collection {COLLECTION!r}")
    return scenes


def touched(scenes: Sequence[Scene], boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """How many scenes' footprint boxes each map box overlaps."""
    s = np.array([scene.box for scene in scenes])[None, :, :]
    b = np.asarray(boxes, dtype=float)[:, None, :]
    overlap = (s[..., 0] < b[..., 2]) & (s[..., 2] > b[..., 0]) & (s[..., 1] < b[..., 3]) & (s[..., 3] > b[..., 1])
    return overlap.sum(axis=1)


# -- request lists ---------------------------------------------------------------------------------
@dataclass
class RequestList:
    zoom: int
    kind: str  # "wms" | "xyz"
    paths: list[str]
    boxes: list[tuple[float, float, float, float]]  # each request's box in EPSG:3857
    places: int  # distinct box positions (WMS) or tiles (XYZ) before the sub-pixel moves / rescale changes
    scenes: np.ndarray = field(default_factory=lambda: np.zeros(0))


def region_box(scenes: Sequence[Scene]) -> tuple[float, float, float, float]:
    boxes = np.array([scene.box for scene in scenes])
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def wms_list(region: Sequence[float], zoom: int, count: int) -> RequestList:
    """`count` 256 px GetMaps at `zoom`'s scale: boxes centred on a 3 x 3 grid of points inside the region
    (so each overlaps it), each round moved by a fraction of a pixel (up to 36 px in all, 84,681 distinct)."""
    pixel = WORLD / TILE / 2**zoom
    west, south, east, north = region
    centres = [(west + (east - west) * fx, south + (north - south) * fy)
               for fy in (5 / 6, 1 / 2, 1 / 6) for fx in (1 / 6, 1 / 2, 5 / 6)]
    boxes, paths = [], []
    for k in range(count):
        cx, cy = centres[k % len(centres)]
        round_ = k // len(centres)
        dx, dy = (round_ % 97) * 0.37 * pixel, ((round_ // 97) % 97) * 0.41 * pixel
        half = TILE * pixel / 2
        box = (cx - half + dx, cy - half + dy, cx + half + dx, cy + half + dy)
        boxes.append(box)
        query = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": COLLECTION, "STYLES": "",
                 "CRS": "EPSG:3857", "BBOX": ",".join(f"{v:.3f}" for v in box), "WIDTH": TILE, "HEIGHT": TILE,
                 "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": "../.."}
        paths.append("/wms?" + urlencode(query, safe=",/:"))
    return RequestList(zoom, "wms", paths, boxes, len(centres))


def xyz_list(scenes: Sequence[Scene], region: Sequence[float], zoom: int, count: int) -> RequestList:
    """`count` XYZ tiles: the region's tiles at `zoom` that touch a scene (the region's box has an empty
    corner where the grid's last row ends), in turn, each request with its own rescale upper bound
    (255.0001, 255.0002, ...: the same picture to the eye, another to the rendered-tile cache)."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = transform_bounds("EPSG:3857", "EPSG:4326", *region)
    tiles = sorted(tms.tiles(west, south, east, north, zooms=[zoom]), key=lambda t: (t.y, t.x))
    tiles = [t for t, n in zip(tiles, touched(scenes, [tuple(tms.xy_bounds(t)) for t in tiles])) if n]
    boxes, paths = [], []
    for k in range(count):
        t = tiles[k % len(tiles)]
        b = tms.xy_bounds(t)
        boxes.append((b.left, b.bottom, b.right, b.top))
        paths.append(f"/tiles/{COLLECTION}/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?rescale=0,{255 + (k + 1) / 10000:.4f}")
    return RequestList(zoom, "xyz", paths, boxes, len(tiles))


def wait_for_overview(base: str, data_dir: Path, path: str, timeout: float = 600) -> str:
    """Ask for one small-scale map, then wait until the server has built the collection's overview
    (collection_overviews.py: in the background, after the first such map): the figures are of the
    steady state. Says how long that took, or that the server builds none (an older server)."""
    folder = data_dir / "overviews"
    before = set(folder.glob("*.tif")) if folder.is_dir() else set()
    started = time.perf_counter()
    check_first(base, path)
    while time.perf_counter() - started < timeout:
        found = set(folder.glob("*.tif")) - before if folder.is_dir() else set()
        if found or (before and time.perf_counter() - started > 5):
            took = time.perf_counter() - started
            what = "already there" if not found else f"built {took:.1f} s after the first small-scale map"
            return f"the collection's overview: {what}"
        if time.perf_counter() - started > 30 and not folder.is_dir():
            break
        time.sleep(0.2)
    return "no collection overview was built (a server without them, or COGBROWSER_OVERVIEW_IMAGES=0)"


def check_first(base: str, path: str) -> float:
    """The first request of a list must be a 200 PNG (a WMS exception is XML with a 200): the share of its
    pixels drawn (alpha > 0), which shows the map holds the mosaic and not a transparent nothing."""
    with urllib.request.urlopen(base + path, timeout=300) as answer:
        body = answer.read()
        kind = answer.headers.get_content_type()
        if answer.status != 200 or kind != "image/png":
            raise SystemExit(f"{path} answered {answer.status} {kind}: {body[:300]!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG has no georeference, as it should
        with rasterio.MemoryFile(body) as memory, memory.open() as picture:
            alpha = picture.read(picture.count)
    return float((alpha > 0).mean())


# -- load ----------------------------------------------------------------------------------------------
def wait_idle(pid: int, limit: float = 120.0) -> None:
    """Wait until the server stops rendering what wrk left in flight (its CPU under 10 % of a core), so the
    next list does not pay for the last one's abandoned requests."""
    import psutil

    server = psutil.Process(pid)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and server.cpu_percent(interval=0.5) > 10:
        pass


# -- main ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200, help="scenes in the collection (default 200)")
    parser.add_argument("--size", type=int, default=2048, help="width and height of a scene in pixels (default 2048)")
    parser.add_argument("--columns", type=int, default=None,
                        help="scenes in a row of the grid (default 15 for 200 scenes: a 15 x 14 grid)")
    parser.add_argument("--seconds", type=int, default=None, help="seconds of wrk a list (default 10; quick 3)")
    parser.add_argument("--zooms", default="6,7,8", help="WebMercatorQuad zooms (default 6,7,8)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help=f"cache and scratch folder (default {default_workdir()})")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and print its path (for --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="serve this already-ingested data dir (collection 'mosaic'): no generation, no ingest")
    parser.add_argument("--server-processes", type=int, default=1, help="serve --processes (default 1)")
    parser.add_argument("--server-threads", type=int, default=None,
                        help="`serve --threads` (default: cogbrowser serve's own default)")
    parser.add_argument("--quick", action="store_true", help="24 scenes of 1024 x 1024 in a 6 x 4 grid, 3 s a list")
    args = parser.parse_args(argv)
    scenes_n, size = (24, 1024) if args.quick else (args.scenes, args.size)
    columns = args.columns or (6 if args.quick else math.ceil(math.sqrt(scenes_n * 15 / 14)))
    seconds = args.seconds or (3 if args.quick else 10)
    zooms = [int(z) for z in args.zooms.split(",")]
    workdir = args.workdir.expanduser().resolve()
    if shutil.which("wrk") is None:
        say("installing Debian's wrk")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                       env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/bin:/bin"})

    ingest_seconds: float | None = None
    if args.data_dir:
        data_dir = args.data_dir.expanduser().resolve()
        if not data_dir.is_dir():
            raise SystemExit(f"--data-dir {data_dir} is not a folder")
        scratch, kept = Path(tempfile.mkdtemp(prefix="mosaic-run-", dir=workdir)), True
    else:
        grid = Grid(scenes_n, size, columns)
        sources = ensure_scenes(sources_dir(workdir, grid), grid)
        scratch, kept = Path(tempfile.mkdtemp(prefix="mosaic-", dir=workdir)), args.keep
        data_dir = scratch / "data"
        ingest_seconds = ingest(sources, data_dir)

    results: list[tuple[RequestList, Load, float]] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        say(f"starting cogbrowser serve on port {port} (log: {data_dir.parent / 'server.log'})")
        server = start_server(data_dir, port, args.server_threads, processes=args.server_processes)
        try:
            scenes = collection_scenes(base)
            region = region_box(scenes)
            say(f"{len(scenes)} scenes; region {(region[2] - region[0]) / 1000:.0f} x "
                f"{(region[3] - region[1]) / 1000:.0f} km in EPSG:3857")
            count = max(2000, 600 * seconds)  # more than the fastest server gets through in `seconds`
            lists = [r for z in zooms for r in (wms_list(region, z, count), xyz_list(scenes, region, z, count))]
            load = OtherLoad(pids=lambda: [server.pid])
            overview_note = wait_for_overview(base, data_dir, lists[0].paths[0])
            for requests in lists:
                assert len(set(requests.paths)) == len(requests.paths), "requests must be distinct"
                requests.scenes = touched(scenes, requests.boxes)
                covered = check_first(base, requests.paths[0])
                wait_idle(server.pid)
                say(f"z{requests.zoom} {requests.kind}: {requests.places} places, scenes a map "
                    f"{requests.scenes.min()}-{requests.scenes.max()}, first map {covered:.0%} drawn; wrk {seconds} s")
                result = run_wrk(base, requests.paths, seconds, scratch)
                say(f"  {result.rate:.1f}/s, p95 {result.p95:,.0f} ms, {result.non2xx} non-2xx, "
                    f"{result.socket_errors} socket errors")
                results.append((requests, result, covered))
            load_note = load.note()
            wait_idle(server.pid)
            server_rss = rss(server.pid)
        finally:
            say("stopping the server")
            stop_server(server)
    finally:
        if not kept:
            shutil.rmtree(scratch, ignore_errors=True)
        elif args.data_dir:
            shutil.rmtree(scratch, ignore_errors=True)  # only wrk's lists; the data dir is the caller's

    # The server's cap on scenes drawn into one map, if the code being measured still has one.
    cap = getattr(importlib.import_module("cogbrowser.layers"), "MAX_MOSAIC_IMAGES", None)
    rows = []
    for requests, result, covered in results:
        met = result.p95 < TARGET_P95_MS and result.rate >= TARGET_RATE and not result.non2xx \
            and not result.socket_errors
        capped = np.minimum(requests.scenes, cap) if cap else requests.scenes
        drawn = f"{capped.min()}/{np.median(capped):.0f}/{capped.max()}"
        rows.append([f"z{requests.zoom}", requests.kind, requests.places,
                     f"{requests.scenes.min()}/{np.median(requests.scenes):.0f}/{requests.scenes.max()}", drawn,
                     f"{covered:.0%}", result.requests, round(result.rate, 2), round(result.p50), round(result.p95),
                     round(result.p99), result.non2xx + result.socket_errors,
                     ("met" if met else "MISSED") + (" (list wrapped)" if result.wrapped else "")])
    print(f"\nmachine: {os.cpu_count()} CPUs, rasterio {rasterio.__version__}, GDAL {rasterio.__gdal_version__}")
    made = (f" of {size} x {size} uint8 RGB at {PIXEL:g} m, a grid {columns} wide, "
            f"step {size * PIXEL * STEP_SHARE / 1000:g} km")
    print(f"collection {COLLECTION!r}: {len(scenes)} scenes" + (made if not args.data_dir else f" in {data_dir}")
          + (f"; ingest of all in one `cogbrowser ingest` call: {ingest_seconds:.1f} s "
             f"({ingest_seconds / len(scenes):.2f} s a scene)" if ingest_seconds is not None else ""))
    print(f"server: `python -m cogbrowser serve --processes {args.server_processes}` "
          f"({args.server_threads or 'default'} threads); wrk {WRK_THREADS} "
          f"threads, {CLIENTS} connections, {seconds} s a list, every request of a list distinct; "
          f"WMS with TIME=../.. (every acquisition, newest on top)")
    if cap:
        print(f"a map drawn from the scenes (not from the collection's overview) has at most {cap} of them "
              f"(cogbrowser.layers.MAX_MOSAIC_IMAGES, newest first): 'at most drawn' is the scenes touched under "
              f"that cap (fewer when the map fills up sooner)")
    print(f"while the lists ran, {load_note}")
    print(overview_note)
    print_table(f"Collection mosaic, 256 x 256 PNG at {CLIENTS} clients "
                f"(target: p95 < {TARGET_P95_MS:.0f} ms and >= {TARGET_RATE:.0f} tiles/s)",
                ["zoom", "kind", "places", "scenes touched min/med/max", "at most drawn", "1st map covered",
                 "requests", "tiles/s", "p50 ms", "p95 ms", "p99 ms", "errors", "target"], rows)
    print(f"\nserver resident memory after the runs: {mib(server_rss)}")
    if kept:
        print(f"data dir kept: {data_dir}\n  rerun: python bench/mosaic_bench.py --data-dir {data_dir}")
    if args.quick:
        print("\n(--quick: a small collection; the figures do not count against the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
