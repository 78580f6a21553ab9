"""Render budget: band math in bounded memory, the issue's attacks refused at once, NDVI as fast.

Issue 12, item 2: `min(b1+0, ...)` with 199 arguments on a 2048 x 2048 GetMap took +6.5 GB for 14 s,
and a 246-term chain at 4096 x 4096 took 44-76 s a render. Two parts:

- **in process**: `Expression.evaluate` of NDVI on uint16 bands at 256², 2048² and 4096² (median of
  `--repeat`), the throughput of a long expression in node-pixels per second (what the render
  budget counts, so the budget's default can be read in seconds of CPU), and the peak memory of the
  issue's `min` at 2048² (tracemalloc: numpy's arrays);
- **served**: `python -m cogbrowser serve` on a throw-away data dir holding real files (three Landsat
  8 bands of one scene as a collection, a 4-band uint16 image for NDVI): each request's status,
  time and what it added to the server process's resident memory (sampled every 5 ms).

    python bench/render_bench.py [--repeat 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, default_workdir, embedded_catalog, mib, print_table, say, scratch_dir  # noqa: E402
from reader_bench import real_data  # noqa: E402
from tile_bench import free_port, http_get, start_server, stop_server  # noqa: E402

MIN_199 = "min(" + ",".join(["b1+0"] * 199) + ")"
CHAIN_246 = "+".join(["b1"] * 246)
NDVI = "(b4-b3)/(b4+b3)"
SCENE = "rio-pansharpen/LC81070352015122LGN00"
LANDSAT_MAP = "15550000,4240000,15580000,4270000"  # EPSG:3857, inside the Landsat scene
CORSICA_MAP = "41.40,8.27,41.48,8.34"  # EPSG:4326 (lat,lon in WMS 1.3.0), inside the 4-band image


def in_process(repeat: int) -> None:
    from cogbrowser.raster.expression import parse

    rng = np.random.default_rng(1)
    names = ["b1", "b2", "b3", "b4"]
    rows = []
    for size in (256, 2048, 4096):
        bands = {i: rng.integers(0, 10000, (size, size), dtype=np.uint16) for i in (3, 4)}
        ndvi = parse(NDVI, names)
        ndvi.evaluate(bands)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            ndvi.evaluate(bands)
            times.append((time.perf_counter() - started) * 1000)
        rows.append([f"NDVI {size}²", f"{statistics.median(times):.2f}", "", ""])
    band = {1: rng.integers(0, 10000, (2048, 2048), dtype=np.uint16)}
    for name, text in (("246-term chain", CHAIN_246), ("min of 199", MIN_199)):
        expression = parse(text, names)
        tracemalloc.start()
        started = time.perf_counter()
        expression.evaluate(band)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rate = expression.cost * 2048 * 2048 / seconds
        rows.append([f"{name} 2048² ({expression.cost} nodes)", f"{seconds * 1000:.0f}", f"{rate / 1e9:.2f}",
                     mib(peak)])
    print_table("Expression.evaluate, one thread", ["case", "ms (median)", "G node-pixels/s", "peak numpy memory"],
                rows)


def ingest(data_dir: Path) -> None:
    from cogbrowser.catalog import queries
    from cogbrowser.ingest.images import IngestRequest, ingest_file

    with embedded_catalog(data_dir) as (db, settings):
        with db.connection() as conn:
            queries.upsert_collection(conn, "kanto", "Kanto")
        real = real_data()
        for day, band in enumerate(("B2", "B3", "B4"), start=2):
            ingest_file(db, settings, IngestRequest(path=real / f"{SCENE}_{band}.tif", image_id=f"l8_{band.lower()}",
                                                    collection="kanto",
                                                    acquired_at=datetime(2015, 5, day, tzinfo=timezone.utc)))
        ingest_file(db, settings, IngestRequest(path=real / "mapchete/4band_test.tif", image_id="corsica"))


def getmap(layer: str, crs: str, bbox: str, size: int, expression: str, **extra: str) -> str:
    return "/wms?" + urlencode({"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer,
                                "STYLES": "", "CRS": crs, "BBOX": bbox, "WIDTH": size, "HEIGHT": size,
                                "FORMAT": "image/png", "expression": expression, **extra})


def measured(port: int, pid: int, path: str) -> tuple[int, float, int, str]:
    """(status, ms, peak RSS growth of the server, the answer's first words) of one GET."""
    import psutil

    server = psutil.Process(pid)
    before = server.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], server.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    status, body, _ = http_get(port, path)
    ms = (time.perf_counter() - started) * 1000
    stop.set()
    sampler.join()
    text = body[:400].decode("utf-8", "replace") if status != 200 or b"Exception" in body[:200] else "picture"
    return status, ms, peak[0] - before, text


def served(workdir: Path, repeat: int) -> None:
    with scratch_dir(workdir, "render-") as folder:
        data_dir = folder / "data"
        say("ingesting the real files")
        ingest(data_dir)
        port = free_port()
        say(f"starting the server on port {port}")
        server = start_server(data_dir, port)
        try:
            load = OtherLoad(lambda: [server.pid])
            box = "138.76,34.96,141.37,37.10"
            cases: list[tuple[str, str]] = [
                ("NDVI GetMap 256²", getmap("corsica", "EPSG:4326", CORSICA_MAP, 256, NDVI, colormap="rdylgn")),
                ("NDVI GetMap 2048²", getmap("corsica", "EPSG:4326", CORSICA_MAP, 2048, NDVI, colormap="rdylgn")),
                ("NDVI GetMap 4096²", getmap("corsica", "EPSG:4326", CORSICA_MAP, 4096, NDVI, colormap="rdylgn")),
                ("min of 199, GetMap 2048²", getmap("l8_b2", "EPSG:3857", LANDSAT_MAP, 2048, MIN_199)),
                ("min of 199, statistics", "/api/v1/images/l8_b2/statistics?" + urlencode({"expression": MIN_199})),
                ("min of 199, time series", "/api/v1/collections/kanto/timeseries?"
                 + urlencode({"expression": MIN_199, "bbox": box})),
                ("246-term chain, GetMap 4096²", getmap("l8_b2", "EPSG:3857", LANDSAT_MAP, 4096, CHAIN_246)),
            ]
            rows = []
            for name, path in cases:
                results = []
                for i in range(repeat):  # distinct URLs, so the server's picture cache never answers
                    results.append(measured(port, server.pid, f"{path}&nocache={i}" if "/wms" in path else path))
                status, _, _, text = results[0]
                rows.append([name, status, f"{statistics.median(r[1] for r in results):.0f}",
                             mib(max(r[2] for r in results)), text if text == "picture" else _words(text)])
            print_table(f"Served (`cogbrowser serve`), {repeat} requests a case",
                        ["case", "status", "ms (median)", "server RSS growth (max)", "answer"], rows)
            print(f"while the server cases ran, {load.note()}")
        finally:
            stop_server(server)


def _words(text: str, limit: int = 150) -> str:
    start = max(text.find("this"), 0)
    return text[start:start + limit].replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case (default 5)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where the throw-away data dir goes")
    args = parser.parse_args(argv)
    in_process(args.repeat)
    served(args.workdir, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

