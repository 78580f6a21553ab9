"""Detections import benchmark: time and peak memory of `cogbrowser detections import`, CSV and GeoJSON.

    python bench/detections_import_bench.py [--detections 200000] [--workdir DIR]

A throw-away embedded catalog gets one synthetic image (a 4096 x 4096 uint8 GeoTIFF in UTM); two
files hold the same N detections on it (boxes of 20-200 m in WGS 84, a class, a name, a score and
an extra property): a CSV with lon/lat columns, and a GeoJSON FeatureCollection of polygons. Each is
imported by the CLI, as a user runs it, in a process of its own whose resident memory is sampled
every 5 ms; the catalog's detections are deleted between runs.

What it shows: rows a second for each format, and that the import's memory does not grow with the
file (the GeoJSON was parsed whole with json.loads before ijson: its peak grew with the file).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_workdir, embedded_catalog, print_table, say, scratch_dir  # noqa: E402

SIZE = 4096
ORIGIN_X, ORIGIN_Y, PIXEL = 500_000.0, 4_000_000.0, 10.0  # UTM 33N, 10 m pixels
CLASSES = ["ship", "aircraft", "vehicle", "storage_tank", "building"]


def make_image(path: Path) -> None:
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(ORIGIN_X, ORIGIN_Y, PIXEL, PIXEL),
               "tiled": True, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.random.default_rng(1).integers(0, 255, (1, SIZE, SIZE), dtype=np.uint8))


def write_files(folder: Path, image_id: str, count: int) -> tuple[Path, Path]:
    """The same detections as a CSV and as a GeoJSON FeatureCollection."""
    to_wgs84 = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    rng = random.Random(7)
    extent = SIZE * PIXEL
    csv_path, geojson_path = folder / "detections.csv", folder / "detections.geojson"
    with csv_path.open("w", newline="", encoding="utf-8") as csv_file, \
            geojson_path.open("w", encoding="utf-8") as geojson_file:
        rows = csv.writer(csv_file)
        rows.writerow(["image_id", "target_class", "target_name", "score", "lon_min", "lat_min", "lon_max",
                       "lat_max", "sensor"])
        geojson_file.write('{"type": "FeatureCollection", "features": [\n')
        for number in range(count):
            x = ORIGIN_X + rng.uniform(0, extent - 300)
            y = ORIGIN_Y - rng.uniform(300, extent)
            size = rng.uniform(20, 200)
            (west, east), (south, north) = to_wgs84.transform([x, x + size], [y, y + size])
            target_class = rng.choice(CLASSES)
            name = f"{target_class} {number % 997}"
            score = round(rng.uniform(0.3, 1.0), 3)
            rows.writerow([image_id, target_class, name, score, f"{west:.7f}", f"{south:.7f}", f"{east:.7f}",
                           f"{north:.7f}", "bench"])
            ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
            feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                       "properties": {"image_id": image_id, "target_class": target_class, "target_name": name,
                                      "score": score, "sensor": "bench"}}
            geojson_file.write(("," if number else "") + json.dumps(feature) + "\n")
        geojson_file.write("]}\n")
    return csv_path, geojson_path


def import_file(data_dir: Path, path: Path) -> tuple[float, int, str]:
    """(seconds, peak resident bytes, last line of stderr) of the CLI importing `path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
    env["COGBROWSER_DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "cogbrowser", "detections", "import", str(path)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    watched = psutil.Process(process.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"the import of {path.name} failed:\n{stderr}")
    return seconds, peak, stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detections", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    args = parser.parse_args()

    from cogbrowser.ingest.images import IngestRequest, ingest_file

    with scratch_dir(args.workdir, "detections-import-") as folder:
        data_dir = folder / "data"
        with embedded_catalog(data_dir) as (db, settings):
            source = folder / "scene.tif"
            make_image(source)
            image_id = ingest_file(db, settings, IngestRequest(
                path=source, image_id="bench-scene", acquired_at=datetime(2024, 6, 1, tzinfo=timezone.utc))).image_id
            say(f"writing {args.detections:,} detections as CSV and GeoJSON")
            files = write_files(folder, image_id, args.detections)
            rows = []
            for path in files:
                with db.connection() as conn:
                    conn.execute("DELETE FROM detections")
                say(f"importing {path.name}")
                seconds, peak, said = import_file(data_dir, path)
                if f"Imported {args.detections} detection(s)" not in said:
                    raise SystemExit(f"unexpected answer: {said}")
                rows.append([path.suffix.lstrip("."), f"{path.stat().st_size / 2**20:.0f}", f"{seconds:.1f}",
                             f"{args.detections / seconds:,.0f}", f"{peak / 2**20:.0f}"])
    print_table(f"cogbrowser detections import, {args.detections:,} detections (the CLI, one process)",
                ["format", "file MiB", "seconds", "rows/s", "peak RSS MiB"], rows)


if __name__ == "__main__":
    main()
