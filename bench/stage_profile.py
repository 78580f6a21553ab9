"""Where the time of a WMS GetMap goes, stage by stage, and what the HTTP server adds around it.

    python bench/stage_profile.py [--size 10980] [--count 300] [--workdir DIR] [--quick]

The maps of mapserver_bench.py (WMS 1.3.0 GetMap in EPSG:3857, the two Sentinel-2-sized scenes,
256 px at z8, z11 and z14 boxes and 1024 x 768 at z11, every request distinct) are drawn in this
process, one thread, with each stage of the server's path timed on its own:

- lookup: the layer (LayerCache), the images of the map and their files (what a 304 also costs);
- spec: the render parameters parsed against the layer;
- open: the pooled dataset handles and the choice of overview (reader.dataset, _choose_overview);
- read: the source window's blocks read and decoded (GDAL's block cache then holds them);
- warp: the reader's warp of the same window onto the map's grid (its blocks now cached);
- render: band picking, stretch and mask to RGBA (raster/render.py);
- encode: the PNG (raster/png.py).

Then the whole GetMap through Flask's test client (the sum's difference is Flask and our request
hooks), and through the real `cogbrowser serve` under wrk (8 connections): the server's CPU time a
request (from /proc, all threads), for the maps and for a 304 of one of them (If-None-Match: all the
request handling and none of the drawing). Medians in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_workdir, embedded_catalog, say, scratch_dir  # noqa: E402

STAGES = ("lookup", "spec", "open", "read", "warp", "render", "encode")


def wms_query(layer: str, params: str, box: tuple, width: int, height: int) -> str:
    left, bottom, right, top = box
    return (f"/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layer}&STYLES=&CRS=EPSG:3857"
            f"&BBOX={left!r},{bottom!r},{right!r},{top!r}&WIDTH={width}&HEIGHT={height}&FORMAT=image/png"
            f"&TRANSPARENT=TRUE&{params}")


def stage_times(app, layer_name: str, params: dict, boxes: list[tuple], width: int, height: int
                ) -> dict[str, float]:
    """Median ms of each stage over `boxes`, the server's functions called one by one."""
    import numpy as np
    from rasterio.crs import CRS
    from rasterio.transform import from_bounds
    from rasterio.windows import from_bounds as window_from_bounds

    from cogbrowser.layers import MosaicChoice
    from cogbrowser.raster import reader
    from cogbrowser.raster.render import encode, render
    from cogbrowser.web.context import services_of

    services = services_of(app)
    crs = CRS.from_epsg(3857)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}

    @contextlib.contextmanager
    def clock(stage: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        samples[stage].append((time.perf_counter() - started) * 1000)

    with app.test_request_context():
        for box in boxes:
            with clock("lookup"):
                layer = services.layers.find(layer_name)
            with clock("spec"):
                spec = layer.spec({k: [v] for k, v in params.items()})
            with clock("lookup"):
                found = services.images_on_disk(services.overviews.images_for_map(
                    layer, crs, box, width, height, MosaicChoice(), spec), False)
            with clock("open"):
                src = reader.dataset(found.files[0])
                level = reader._choose_overview(src, crs, box, width, height)
                src = src if level is None else reader.dataset(found.files[0], level)
            source_box = reader._bounds_in_source(src, crs, box)
            window = window_from_bounds(*source_box, transform=src.transform).round_offsets().round_lengths()
            with clock("read"):
                src.read(spec.source_bands, window=window, boundless=False)
            with clock("warp"):
                data, valid = reader._warp(src, crs, box, from_bounds(*box, width, height), width, height,
                                           spec.source_bands, spec.resampling, None, np.dtype(src.dtypes[0]))
            with clock("render"):
                rgba = render(data, valid, spec, layer.image.bands)
            with clock("encode"):
                encode(np.ascontiguousarray(rgba), "png")
    return {stage: statistics.median(values) * (2 if stage == "lookup" else 1) for stage, values in samples.items()}


def flask_time(app, queries: list[str]) -> float:
    """Median ms of the whole GetMap through Flask's test client (no HTTP server)."""
    client = app.test_client()
    times = []
    for query in queries:
        started = time.perf_counter()
        answer = client.get(query)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200 or answer.mimetype != "image/png":
            raise SystemExit(f"{query} answered {answer.status_code} {answer.mimetype}: {answer.data[:300]!r}")
    return statistics.median(times)


def server_cpu(port: int, pid: int, paths: list[str], seconds: int, folder: Path,
               headers: dict[str, str] | None = None) -> tuple[float, float]:
    """(requests/s, server CPU ms a request) of wrk over `paths` at 8 connections."""
    import psutil

    from mapserver_bench import wrk

    process = psutil.Process(pid)

    def cpu() -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in [process, *process.children(recursive=True)]
                   if "postgres" not in p.name())

    before = cpu()
    rate, _p99, _bad = wrk(f"http://127.0.0.1:{port}", paths, seconds, folder, headers)
    used = cpu() - before
    return rate, used * 1000 / max(1.0, rate * seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--count", type=int, default=300, help="distinct maps a row, in process")
    parser.add_argument("--seconds", type=int, default=8, help="wrk's run a row, through the server")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="2048 x 2048 scenes, fewer maps")
    args = parser.parse_args(argv)
    size, count, seconds = (2048, 60, 2) if args.quick else (args.size, args.count, args.seconds)
    workdir = args.workdir.expanduser().resolve()

    import rasterio
    from rasterio.warp import transform

    from cogbrowser.app import create_app
    from mapserver_bench import ROWS, boxes
    from tile_bench import free_port, ingest_sources, scene_sources, start_server, stop_server

    sources = scene_sources(workdir, size)
    table = []
    with scratch_dir(workdir, "stages-") as scratch:
        rows = ingest_sources(sources, scratch / "data")
        plans = []
        for name, row in rows.items():
            with rasterio.open(row.file) as src:
                xs, ys = transform(src.crs, "EPSG:3857", [(src.bounds.left + src.bounds.right) / 2],
                                   [(src.bounds.bottom + src.bounds.top) / 2])
            params = {"bands": "3,2,1", "rescale": "0,3000"} if name == "uint16" else {"rescale": "0,255"}
            for zoom, width, height in ROWS:
                n = count if width == 256 else max(10, count // 5)
                plans.append((name, row, params, zoom, width, height, boxes((xs[0], ys[0]), zoom, width, height, n),
                              boxes((xs[0], ys[0]), zoom, width, height, 6000 if width == 256 else 1500)))

        with embedded_catalog(scratch / "data") as (db, settings):
            app = create_app(settings, db)
            for name, row, params, zoom, width, height, maps, _ in plans:
                say(f"stages of {name} {width} x {height} z{zoom}")
                stage_times(app, row.image.id, params, maps[:5], width, height)  # warm the handles
                stages = stage_times(app, row.image.id, params, maps, width, height)
                extra = "&".join(f"{k}={v}" for k, v in params.items()) + "&flask=1"
                flask = flask_time(app, [wms_query(row.image.id, extra, box, width, height) for box in maps])
                table.append([f"{name} {width}x{height} z{zoom}", stages, flask])
            app.extensions["cogbrowser"].overviews.close()

        port = free_port()
        server = start_server(scratch / "data", port)
        try:
            for entry, (_name, row, params, _zoom, width, height, _, many) in zip(table, plans):
                extra = "&".join(f"{k}={v}" for k, v in params.items())
                paths = [wms_query(row.image.id, extra, box, width, height) for box in many]  # all distinct
                say(f"server CPU of {entry[0]}")
                entry.append(server_cpu(port, server.pid, paths, seconds, scratch))
                import urllib.request

                with urllib.request.urlopen(f"http://127.0.0.1:{port}{paths[0]}") as answer:
                    etag = answer.headers["ETag"]
                entry.append(server_cpu(port, server.pid, paths[:1], seconds, scratch, {"If-None-Match": etag}))
        finally:
            stop_server(server)

    print(f"\nWMS GetMap, {size} x {size} scenes: median ms of each stage in process (one thread), the whole "
          f"GetMap through Flask,\nand the server's CPU ms a request under wrk (8 connections): maps, and 304s")
    header = (f"{'request':22}" + "".join(f"{s:>8}" for s in STAGES)
              + f"{'sum':>8}{'flask':>8}{'srv/s':>8}{'srv cpu':>8}{'304 cpu':>8}")
    print(header)
    for label, stages, flask, (rate, cpu), (_, handling) in table:
        print(f"{label:22}" + "".join(f"{stages[s]:8.2f}" for s in STAGES)
              + f"{sum(stages.values()):8.2f}{flask:8.2f}{rate:8.0f}{cpu:8.2f}{handling:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
