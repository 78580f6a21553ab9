"""Ingest benchmark: cogbrowser's full ingest of one big GeoTIFF against a bare GDAL COG conversion.

    python bench/ingest_bench.py [--size 10980] [--workdir DIR] [--repeat N] [--drop-source] [--quick]

The source is a Sentinel-2-sized scene (10980 x 10980, 4 bands uint16, EPSG:32633 at 10 m): a plain
tiled GeoTIFF, DEFLATE, no overviews, so it must be converted. Its pixels are synthetic but
compress like imagery: land-cover parcels and smooth gradients with sensor-like noise. It is made
once (window by window on all cores) and cached in the work dir; everything else is removed.

Measured --repeat times (default 3), alternating, page cache warm, each after a sync; medians reported:
  bare   rasterio.shutil.copy(src, dst, driver="COG", **CogOptions().creation_options(src)) under
         rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"): the least any ingest has to do;
  full   cogbrowser.ingest.images.ingest_file() into a fresh embedded catalog (its start excluded),
         split into stages with the progress callback.
Target: full <= 1.3 x bare (wall time).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    OtherLoad,
    Timing,
    default_workdir,
    drop_dirty_pages,
    embedded_catalog,
    mib,
    print_table,
    say,
    scratch_dir,
    timed,
    warm_page_cache,
)

TARGET_RATIO = 1.3
_PERCENT = re.compile(r"\s+\d+(\.\d+)?\s*%$")
FULL_SIZE = 10980
SOURCE_VERSION = 1  # bump when the generator changes, so stale cached sources are not reused
# Sentinel-2 tile 33UVP: its UTM origin, 10 m pixels.
ORIGIN_X, ORIGIN_Y, PIXEL = 399960.0, 5400000.0, 10.0
# Band signatures (B2 blue, B3 green, B4 red, B8 NIR; reflectance x 10000) of five land covers.
COVERS = np.array([
    [800, 700, 500, 300],      # water
    [300, 500, 300, 3000],     # forest
    [500, 800, 600, 3500],     # crops
    [1200, 1400, 1700, 2200],  # bare soil
    [1300, 1300, 1400, 1800],  # built-up
], dtype=np.float32)


# -- the source raster ------------------------------------------------------------------------
def source_path(workdir: Path, size: int) -> Path:
    return workdir / f"source-v{SOURCE_VERSION}-{size}x{size}-4xuint16.tif"


def cached_source(workdir: Path, size: int) -> Path:
    """The synthetic scene of `size` in the work dir, made the first time (then reused)."""
    source = source_path(workdir, size)
    if source.is_file():
        say(f"using the cached source {source}")
    else:
        say(f"generating the source {source} ({size} x {size} x 4 uint16)")
        make_source(source, size)
    return source


def make_source(path: Path, size: int) -> None:
    """Write the synthetic scene window by window (numpy on all cores, GDAL compressing in threads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.tif")
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": "uint16",
        "crs": "EPSG:32633", "transform": from_origin(ORIGIN_X, ORIGIN_Y, PIXEL, PIXEL),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "DEFLATE",
        "num_threads": "ALL_CPUS", "bigtiff": "IF_SAFER",
    }
    rows_per_window = 512
    windows = [Window(0, row, size, min(rows_per_window, size - row)) for row in range(0, size, rows_per_window)]
    workers = os.cpu_count() or 1
    with timed() as t, rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(partial, "w", **profile) as dst:
        dst.descriptions = ("B02", "B03", "B04", "B08")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = []
            for index, window in enumerate(windows):
                pending.append((window, pool.submit(_scene_window, window, index)))
                if len(pending) > workers:  # bounded read-ahead keeps memory at a few windows
                    _write_next(dst, pending, len(windows))
            while pending:
                _write_next(dst, pending, len(windows))
    os.replace(partial, path)
    say(f"source written in {t.wall:.1f} s ({t.cores:.2f} cores): {mib(path.stat().st_size)}")


def _write_next(dst, pending: list, total: int) -> None:
    window, future = pending.pop(0)
    dst.write(future.result(), window=window)
    done = (window.row_off + window.height) / dst.height
    if window.row_off == 0 or int(done * 10) != int((window.row_off / dst.height) * 10):
        say(f"  generating the source: {done:4.0%}")


def _scene_window(window: Window, index: int) -> np.ndarray:
    """Pixels of one full-width window; a pure function of the pixel coordinates and window index."""
    rng = np.random.default_rng(1000 + index)
    rows = np.arange(window.row_off, window.row_off + window.height, dtype=np.float32)[:, None]
    cols = np.arange(window.col_off, window.col_off + window.width, dtype=np.float32)[None, :]
    # Fields: a slightly warped grid of 450 m x 600 m parcels, each with a land cover and a vigour.
    u = cols + 40.0 * np.sin(rows / 700.0) + 15.0 * np.sin(rows / 97.0)
    v = rows + 40.0 * np.sin(cols / 900.0) + 15.0 * np.sin(cols / 83.0)
    ix = np.floor(u / 60.0).astype(np.int64)
    iy = np.floor(v / 45.0).astype(np.int64)
    parcel = ((ix * 73856093) ^ (iy * 19349663)) & 0xFFFF
    cover = COVERS[(parcel % len(COVERS)).astype(np.intp)]                # rows x cols x 4
    vigour = 0.85 + 0.3 * (((parcel * 2654435761) >> 8) & 0xFF).astype(np.float32) / 255.0
    # Terrain and haze: smooth gradients over kilometres.
    smooth = (1.0 + 0.12 * np.sin(cols / 2300.0 + 0.7) * np.cos(rows / 3100.0 + 1.3)
              + 0.06 * np.sin((cols + rows) / 1200.0))
    out = np.empty((4, window.height, window.width), dtype=np.uint16)
    for band in range(4):
        value = cover[..., band] * vigour * smooth
        noise = rng.standard_normal(value.shape, dtype=np.float32)
        value += noise * (12.0 + 0.02 * value)
        np.clip(value, 1, 10000, out=value)
        out[band] = value.astype(np.uint16)
    return out


# -- the measurements ---------------------------------------------------------------------------
def bare_conversion(source: Path, destination: Path) -> Timing:
    from cogbrowser.raster.cog import CogOptions

    with timed() as t:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            with rasterio.open(source) as src:
                rasterio.shutil.copy(src, str(destination), driver="COG", **CogOptions().creation_options(src))
    return t


def full_ingest(source: Path, data_dir: Path):
    """ingest_file() into a fresh embedded catalog: (total, [(stage, timing)], COG size, overviews)."""
    from cogbrowser.ingest.images import IngestRequest, ingest_file

    with embedded_catalog(data_dir) as (db, settings):
        marks: list[tuple[str, float, float, str]] = []
        seen: dict[str, int] = {}

        def progress(message: str) -> None:
            stage = _PERCENT.sub("", message)  # "converting to COG 42%" is still "converting to COG"
            if marks and marks[-1][3] == stage and message != stage:
                return
            seen[stage] = seen.get(stage, 0) + 1
            label = stage
            if stage == "checksum":
                label = "checksum of the source" if seen[stage] == 1 else "checksum of the output"
            marks.append((label, time.perf_counter(), time.process_time(), stage))
            say(f"  ingest stage: {label}")

        drop_dirty_pages()
        with timed() as total:
            start = (time.perf_counter(), time.process_time())
            result = ingest_file(db, settings, IngestRequest(path=source), progress=progress)
            end = (time.perf_counter(), time.process_time())
        if result.status != "added":
            raise SystemExit(f"ingest did not add the image: {result.status}: {result.message}")
        stages = []
        previous = ("open and readable check", *start)
        for mark in [*marks, ("(return)", *end)]:
            label, wall0, cpu0 = previous[:3]
            stages.append((label, Timing(mark[1] - wall0, mark[2] - cpu0)))
            previous = mark
        output = settings.cog_dir / f"{result.image_id}.tif"
        size = output.stat().st_size
        with rasterio.open(output) as cog:
            overviews = cog.overviews(1)
    return total, stages, size, overviews


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="width and height of the source (default 10980)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help=f"cache and scratch folder (default {default_workdir()})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement (default 3); medians are reported")
    parser.add_argument("--quick", action="store_true", help="a 2048 x 2048 source: checks the script works")
    parser.add_argument("--drop-source", action="store_true", help="delete the cached source afterwards too")
    args = parser.parse_args(argv)
    size = 2048 if args.quick else args.size
    workdir = args.workdir.expanduser().resolve()

    source = cached_source(workdir, size)
    warm_page_cache(source)
    load = OtherLoad()
    with rasterio.open(source) as src:
        src_desc = (f"{src.width} x {src.height} x {src.count} {src.dtypes[0]}, {src.crs}, "
                    f"{src.compression.name if src.compression else 'uncompressed'}, blocks {src.block_shapes[0]}, "
                    f"overviews {src.overviews(1) or 'none'}")
    raw = size * size * 4 * 2

    bare_runs: list[tuple[Timing, int, list[int]]] = []
    full_runs: list[tuple[Timing, list[tuple[str, Timing]], int, list[int]]] = []
    with scratch_dir(workdir, "run-") as scratch:
        for run in range(args.repeat):
            # Alternate the order so a slow drift of the machine does not favour one side.
            for kind in (("bare", "full") if run % 2 == 0 else ("full", "bare")):
                drop_dirty_pages()
                if kind == "bare":
                    say(f"bare GDAL COG conversion, run {run + 1}/{args.repeat}")
                    out = scratch / "bare.tif"
                    timing = bare_conversion(source, out)
                    with rasterio.open(out) as cog:
                        bare_runs.append((timing, out.stat().st_size, cog.overviews(1)))
                    out.unlink()
                else:
                    say(f"full ingest, run {run + 1}/{args.repeat}")
                    full_runs.append(full_ingest(source, scratch / f"data-{run}"))
                    timing = full_runs[-1][0]
                say(f"  {timing.wall:.1f} s wall, {timing.cpu:.1f} s CPU")

    def conversion(stages: list[tuple[str, Timing]]) -> Timing:
        return next(t for label, t in stages if label == "converting to COG")

    rows = []
    for run, ((b, _, _), (f, stages, _, _)) in enumerate(zip(bare_runs, full_runs), 1):
        conv = conversion(stages)
        rows.append([run, b.wall, b.cpu, f.wall, f.cpu, conv.wall, f.wall - conv.wall, f"{f.wall / b.wall:.2f}x"])
    median = len(bare_runs) // 2
    bare, bare_size, bare_overviews = sorted(bare_runs, key=lambda r: r[0].wall)[median]
    total, stages, full_size, full_overviews = sorted(full_runs, key=lambda r: r[0].wall)[median]
    overheads = sorted(f.wall - conversion(st).wall for f, st, _, _ in full_runs)
    overhead = overheads[median]
    ratio = total.wall / bare.wall
    steady_ratio = (bare.wall + overhead) / bare.wall

    print(f"\nsource: {source.name}: {src_desc}")
    print(f"        {mib(source.stat().st_size)} on disk, {mib(raw)} raw ({source.stat().st_size / raw:.0%})")
    print(f"machine: {os.cpu_count()} CPUs, rasterio {rasterio.__version__}, GDAL {rasterio.__gdal_version__}; "
          f"{args.repeat} run(s) of each, alternating, page cache warm")
    print(f"while measuring, {load.note()}")
    print_table(
        "Runs (wall and CPU seconds)",
        ["run", "bare wall", "bare CPU", "full wall", "full CPU", "full: converting", "full: all else",
         "full/bare"],
        rows,
    )
    print_table(
        "Bare conversion vs full ingest (median run of each)",
        ["measurement", "wall s", "CPU s", "CPU/wall", "output", "overviews"],
        [["bare GDAL COG conversion", bare.wall, bare.cpu, f"{bare.cores:.2f}", mib(bare_size), str(bare_overviews)],
         ["full ingest_file()", total.wall, total.cpu, f"{total.cores:.2f}", mib(full_size), str(full_overviews)]],
    )
    print_table(
        "Full ingest by stage, median run (from the progress callback)",
        ["stage", "wall s", "CPU s", "CPU/wall", "share"],
        [[label, t.wall, t.cpu, f"{t.cores:.2f}", f"{t.wall / total.wall:.1%}"] for label, t in stages],
    )
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    if size != FULL_SIZE:
        verdict += f" (the target is set for --size {FULL_SIZE}; small rasters get exact statistics)"
    print(f"\nratio full / bare, medians (wall):            {ratio:.2f}x   target <= {TARGET_RATIO:.2f}x   {verdict}")
    print(f"ratio (bare + ingest's own work) / bare:       {steady_ratio:.2f}x   "
          f"(ingest's own work = everything but the conversion: {overhead:.2f} s, median)")
    if args.drop_source:
        source.unlink(missing_ok=True)
    return 1 if size == FULL_SIZE and ratio > TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
