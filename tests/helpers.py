"""What the tests share besides fixtures: the real data set, catalogs on the embedded PostgreSQL, the
app served on loopback, tile archives for basemaps, and a recorded browser page with its helpers.

Tests import these (`from helpers import ...`); the fixtures built on them are in conftest.py.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import psutil
import rasterio
import requests
from affine import Affine
from flask import Flask
from PIL import Image
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_bounds

from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.config import Settings

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
if not REAL_DATA.is_dir():  # CI clones main with shared/ beside it; a developer may point elsewhere
    REAL_DATA = Path(os.environ.get("COGBROWSER_REAL_DATA", REAL_DATA))


# GDAL's default error threshold of its approximate transformer, in source pixels: within it of a
# source pixel edge, either neighbour is a right nearest pick.
WARP_ERROR = 0.125
OFF_PROJECTION = -1e9  # source_position's column and row of a point with no place in the source's CRS


@functools.lru_cache(maxsize=64)
def transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    """A pyproj transformer (x/y order), kept: building one costs milliseconds of PROJ's database."""
    return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)


def source_position(src_transform: Affine, src_crs: CRS, crs: CRS, bounds, width: int,
                    height: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact source (col, row) of every output pixel centre of a grid (`bounds` in `crs`,
    width x height), by pyproj; OFF_PROJECTION where a centre has no place in the source's CRS
    (e.g. space beside a geostationary disk)."""
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xs, ys = from_bounds(*bounds, width, height) * (cols, rows)
    sx, sy = transformer(crs.to_wkt(), src_crs.to_wkt()).transform(xs, ys, errcheck=False)
    with np.errstate(invalid="ignore"):  # inf (off the projection) times a zero term of the transform
        col, row = ~src_transform * (np.asarray(sx), np.asarray(sy))
    finite = np.isfinite(col) & np.isfinite(row)
    return np.where(finite, col, OFF_PROJECTION), np.where(finite, row, OFF_PROJECTION)


def near_pixel_edges(path: Path, crs, bounds, width: int, height: int) -> np.ndarray:
    """The pixels of a grid (`bounds` in `crs`, width x height) whose centre falls within WARP_ERROR
    of an edge of the source's pixels: there either neighbour is a right nearest pick, and GDAL's
    warper, approximating the transform, picks either (3-9 % of a grid's pixels differ from the
    exact picks in GDAL's own warps of cog1.tif)."""
    with rasterio.open(path) as src:
        col, row = source_position(src.transform, src.crs, CRS.from_user_input(crs), bounds, width, height)
    near = (np.abs(col - np.round(col)) < WARP_ERROR) | (np.abs(row - np.round(row)) < WARP_ERROR)
    return near & (col != OFF_PROJECTION)


def real_rasters() -> list[Path]:
    """Every raster file of the shared real data set."""
    suffixes = {".tif", ".tiff", ".cog"}
    return sorted(p for p in REAL_DATA.rglob("*") if p.suffix.lower() in suffixes)


def noise_tiff(seed: int, size: int) -> bytes:
    """A georeferenced GeoTIFF in strips (so it is converted) of random pixels: new bytes each seed."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with rasterio.MemoryFile() as memory:
        with memory.open(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32633",
                         transform=from_origin(500000 + 100 * seed, 5400000, 10, 10)) as dst:
            dst.write(rng.integers(0, 255, (3, size, size), dtype="uint8"))
        buffer.write(memory.read())
    return buffer.getvalue()


# ---------------------------------------------------------------- catalogs and the served app

@contextmanager
def new_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """The URL of a new, empty database on the embedded server, for the app's role as the catalog's
    own, dropped on exit (tests and module-scoped fixtures that share one catalog between tests)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield postgres.create_database(name)  # the app's role, as the embedded catalog's own database
    finally:
        postgres.drop_database(name)


@contextmanager
def shared_catalog(postgres: EmbeddedPostgres, folder: Path) -> Iterator[tuple[Settings, Database]]:
    """Settings for a data dir (a path with spaces) under `folder` and its open, migrated catalog on
    a new database: for module-scoped fixtures whose tests share one catalog."""
    data_dir = folder / "data dir"
    data_dir.mkdir()
    with new_database(postgres) as url:
        settings = Settings.from_env(data_dir=data_dir, database_url=url)
        db = Database.open(settings)
        try:
            yield settings, db
        finally:
            db.close()


def ingest_images(db: Database, settings: Settings, images) -> None:
    """Ingest real rasters: (image id, path under REAL_DATA, collection, acquired_at, cloud cover)
    each; an acquired_at of None leaves the image without a known time, whatever its file says."""
    from cogbrowser.catalog import queries
    from cogbrowser.ingest.images import IngestRequest, ingest_file

    for image_id, path, collection, acquired, cloud in images:
        result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / path, image_id=image_id,
                                                         collection=collection, acquired_at=acquired,
                                                         cloud_cover=cloud))
        assert result.status == "added", result.message
        if acquired is None:
            with db.connection() as conn:
                queries.update_image(conn, image_id, {"acquired_at": None})


@contextmanager
def serving(settings: Settings, db: Database, inject: Callable[[Flask], None] | None = None) -> Iterator[str]:
    """The app served by waitress on a free loopback port, in a thread; yields its base URL.
    `inject` may change the app before it is served: a fault a test injects on purpose."""
    from cogbrowser.app import create_app
    from cogbrowser.web.context import services_of
    from cogbrowser.web.server import create_server

    app = create_app(settings, db)
    if inject is not None:
        inject(app)
    # the front `cogbrowser serve` runs (web/server.py): checks before bodies, timeouts, per-client cap, lanes
    server = create_server(app, settings, host="127.0.0.1", port=0, threads=4,
                           heavy_callbacks=services_of(app).heavy_callbacks)
    stop = threading.Event()

    def run() -> None:  # waitress's own run() has no stop: closing its socket under select() breaks it
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1, use_poll=server.adj.asyncore_use_poll)

    thread = threading.Thread(target=run, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join()
        server.task_dispatcher.shutdown()
        server.asyncore.close_all(server._map)
        app.extensions["cogbrowser"].overviews.close()  # its collection overviews' builder, if one started
        app.extensions["cogbrowser"].jobs.stop()  # its jobs worker, if an upload started it


# ---------------------------------------------------------------- `cogbrowser` as a process

@contextmanager
def peak_rss(process: psutil.Process | None = None) -> Iterator[dict[str, int]]:
    """A process's resident memory before, and its peak during, the block (sampled every 2 ms); this
    process's unless another is given."""
    process = process or psutil.Process()
    found = {"before": process.memory_info().rss, "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            found["peak"] = max(found["peak"], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        stop.set()
        sampler.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], data_dir: Path, log: Path | None = None, **env: str) -> subprocess.Popen:
    """`python -m cogbrowser ARGS` on `data_dir`, with no COGBROWSER_* of the caller's but `env`'s.
    Its output is piped, or written to `log` (a server that runs long: a full pipe would block it)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
    environment.update(env, COGBROWSER_DATA_DIR=str(data_dir))
    output = subprocess.PIPE if log is None else log.open("w", encoding="utf-8")
    try:
        return subprocess.Popen([sys.executable, "-m", "cogbrowser", *args], env=environment, stdout=output,
                                stderr=output, text=True)
    finally:
        if log is not None:
            output.close()


def wait_for(url: str, process: subprocess.Popen, timeout: float) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()[1]}")
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def interrupt(process: subprocess.Popen) -> str:
    """Ctrl-C, as in a terminal; returns what the server said on stderr."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return stderr


# ---------------------------------------------------------------- basemap tile archives

COLOURS = {(0, 0, 0): (200, 30, 30), (1, 0, 0): (30, 200, 30), (1, 1, 0): (30, 30, 200)}  # z/x/y -> colour


def png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, "PNG")
    return out.getvalue()


def make_mbtiles(path):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
        db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "my map"), ("format", "png"),
                                                               ("minzoom", "0"), ("maxzoom", "1"),
                                                               ("attribution", "survey office")])
        for (z, x, y), colour in COLOURS.items():  # MBTiles rows count from the south (TMS)
            db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, png(colour)))
    return path


def make_pmtiles(path):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    with Path(path).open("wb") as f:
        writer = Writer(f)
        for (z, x, y), colour in sorted(COLOURS.items(), key=lambda item: zxy_to_tileid(*item[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), png(colour))
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE, "min_zoom": 0, "max_zoom": 1,
                         "min_lon_e7": -1800000000, "min_lat_e7": -850000000, "max_lon_e7": 1800000000,
                         "max_lat_e7": 850000000, "center_zoom": 0, "center_lon_e7": 0, "center_lat_e7": 0},
                        {"name": "my pmtiles", "attribution": "survey office"})
    return path


# ---------------------------------------------------------------- a real browser

@contextmanager
def browser_page(chromium, base_url: str, width: int = 1280, height: int = 800):
    """A page of a fresh browser context that records every request it makes; on leaving, fails
    the test if any went to a host other than the app's (the pages must work offline)."""
    context = chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    closing: list[bool] = []  # fetches the closing of the page cuts off reject with "Failed to fetch": not the page's
    page.on("pageerror", lambda error: None if closing else errors.append(str(error)))
    own = urlsplit(base_url).netloc
    try:
        yield page
    finally:
        closing.append(True)
        context.close()
    foreign = sorted({url for url in requested
                      if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own})
    assert not foreign, f"the page asked other hosts: {foreign}"
    assert not errors, f"the page raised JavaScript errors: {errors}"


# ---------------------------------------------------------------- the Browse page, as the UI tests read it

def api(base: str, path: str, **params) -> dict:
    answer = requests.get(base + path, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def query(page) -> dict[str, list[str]]:
    """The page's query string as it is now: asked of the page, since `page.url` only learns of a
    `history.replaceState` when Playwright next handles the page's events."""
    return parse_qs(page.evaluate("location.search").lstrip("?"))


def open_browse(page, base: str, search: str = "") -> None:
    page.goto(base + "/" + search, wait_until="networkidle")
    page.wait_for_selector(".leaflet-container")


def open_tab_of_shown_image(page, name: str) -> None:
    """Click a tab of the panel of a page opened on an image. The page first applies its URL,
    which opens the Visualize tab and would take back a click made before it (a person's click
    comes later): the click waits for that."""
    selected = page.locator(".browse-tab--selected")
    selected.filter(has_text="Visualize").wait_for(timeout=30_000)
    page.locator(".browse-tab", has_text=name).click()
    selected.filter(has_text=name).wait_for(timeout=30_000)


IMAGERY_SETTLED = """() => {
    const tiles = [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')];
    const ready = tiles.length > 0 && !document.querySelector('.tiles-loading, .leaflet-zoom-anim')
        && tiles.every(t => t.complete && t.naturalWidth > 0 && getComputedStyle(t).opacity === '1');
    const where = tiles.map(t => { const r = t.getBoundingClientRect(); return `${t.src}@${r.left},${r.top}`; });
    const key = ready ? where.join('|') : null;
    const settled = key !== null && key === window.__imagerySeen;
    window.__imagerySeen = key;
    return settled;
}"""


def wait_for_imagery(page, timeout: float = 30_000) -> None:
    """Until the imagery's tiles are all in, faded in, and unmoved between two looks 400 ms apart: a
    map still flying to an image, or tiles still fading in, would be photographed half drawn."""
    page.wait_for_selector(".leaflet-browse-imagery-pane img.leaflet-tile", state="attached", timeout=timeout)
    page.evaluate("window.__imagerySeen = null")  # what an earlier wait saw does not count as a first look
    page.wait_for_function(IMAGERY_SETTLED, polling=400, timeout=timeout)


def map_pixels(page) -> np.ndarray:
    """The centre of the map (where the images are, away from the overlays) as RGB values."""
    picture = np.asarray(Image.open(io.BytesIO(page.locator("#browse-map").screenshot())).convert("RGB"), dtype=float)
    height, width = picture.shape[:2]
    return picture[height // 4: 3 * height // 4, width // 4: 3 * width // 4]


def changed_share(a: np.ndarray, b: np.ndarray, threshold: float = 30) -> float:
    """The share of pixels whose colour differs by more than `threshold` (sum over RGB)."""
    return float((np.abs(a - b).sum(axis=2) > threshold).mean())


# ---------------------------------------------------------------- hostile files (declare far more work than they hold)

HOSTILE_DATA = REAL_DATA.parent / "hostile"
HOSTILE_LIMITS = {  # each hostile file, and the words of the limit that refuses it
    "sparse200k.tif": "COGBROWSER_MAX_INGEST_PIXELS",
    "bands65535.tif": "COGBROWSER_MAX_INGEST_BANDS",
    "strip100k.tif": "COGBROWSER_MAX_INGEST_PIXELS",
}
