"""Large exports as jobs: what the health check and a tile see while 4 clients export 4096² GeoTIFFs.

Issue 12, item 5: heavy work held the server's few request threads, so the health check and tiles
waited behind it. `python -m cogbrowser serve` (its default threads: one a core) on a throw-away
data dir holding a real 4-band uint16 image; 4 clients each export NDVI at 4096 x 4096 as a GeoTIFF,
while a prober asks for /api/v1/health and a 256² tile in turn, every 100 ms:

- **in the request**: the exports made while their clients wait (the server's behaviour below
  COGBROWSER_SYNC_RENDER_PIXELS, and for every export before this change);
- **as jobs**: the same exports with `Prefer: respond-async` (as an export over the limit is
  without it): 202 at once, made by the jobs worker (COGBROWSER_JOB_WORKERS, 2), fetched from the
  job's `result_url` when done.

It prints, for each way, how long the 4 exports took end to end, how long a client waited for its
first answer, and the prober's latencies (p50, p95, max).

    python bench/export_jobs_bench.py [--clients 4] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, default_workdir, embedded_catalog, percentiles, print_table, say, scratch_dir  # noqa: E402
from reader_bench import real_data  # noqa: E402
from tile_bench import free_port, start_server, stop_server  # noqa: E402

NDVI = "(b4-b3)/(b4+b3)"
TILE = "/tiles/corsica/WebMercatorQuad/14/8570/6116.png"  # inside the 4-band image


def request(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def export_path(client: int, run: str) -> str:
    # a slightly different area each, so no answer comes from the server's picture cache
    west = 8.27 + 0.001 * client + (0.0005 if run == "jobs" else 0)
    return "/api/v1/images/corsica/export?" + urlencode({
        "bbox": f"{west},41.40,{west + 0.06},41.48", "width": 4096, "height": 4096, "expression": NDVI})


def probe(port: int, stop: threading.Event, health: list[float], tiles: list[float]) -> None:
    count = 0
    while not stop.is_set():
        for path, samples in (("/api/v1/health", health), (f"{TILE}?nocache={count}", tiles)):
            started = time.perf_counter()
            request(port, path)
            samples.append((time.perf_counter() - started) * 1000)
        count += 1
        time.sleep(0.1)


def one_client(port: int, client: int, run: str, first_answer: list[float]) -> None:
    started = time.perf_counter()
    if run == "in the request":
        status, body, _ = request(port, export_path(client, run))
        first_answer.append(time.perf_counter() - started)
        assert status == 200, body[:300]
        return
    status, body, headers = request(port, export_path(client, run), {"Prefer": "respond-async"})
    first_answer.append(time.perf_counter() - started)
    assert status == 202, body[:300]
    location = headers["Location"].split("://", 1)[1].split("/", 1)[1]
    while (job := json.loads(request(port, "/" + location)[1]))["state"] in ("queued", "running"):
        time.sleep(0.2)
    assert job["state"] == "succeeded", job
    status, body, _ = request(port, "/" + job["result_url"].split("://", 1)[1].split("/", 1)[1])
    assert status == 200 and body[:2] in (b"II", b"MM"), body[:300]


def run(port: int, clients: int, how: str) -> list:
    health: list[float] = []
    tiles: list[float] = []
    first: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(port, stop, health, tiles), daemon=True)
    prober.start()
    time.sleep(1)
    started = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(port, c, how, first)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - started
    stop.set()
    prober.join()
    h, t = percentiles(health), percentiles(tiles)
    return [how, f"{total:.1f}", f"{max(first):.2f}", f"{h['p50']:.0f} / {h['p95']:.0f} / {h['max']:.0f}",
            f"{t['p50']:.0f} / {t['p95']:.0f} / {t['max']:.0f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="clients exporting at once (default 4)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where the throw-away data dir goes")
    args = parser.parse_args(argv)
    with scratch_dir(args.workdir, "export-jobs-") as folder:
        from cogbrowser.ingest.images import IngestRequest, ingest_file

        data_dir = folder / "data"
        with embedded_catalog(data_dir) as (db, settings):
            ingest_file(db, settings, IngestRequest(path=real_data() / "mapchete/4band_test.tif", image_id="corsica"))
        port = free_port()
        say(f"starting the server on port {port}")
        server = start_server(data_dir, port)
        try:
            load = OtherLoad(lambda: [server.pid])
            rows = []
            for how in ("in the request", "jobs"):
                say(f"{args.clients} exports of 4096² NDVI, {how}")
                rows.append(run(port, args.clients, how))
            print_table(f"{args.clients} clients export NDVI at 4096 x 4096 (GeoTIFF); a prober asks for the health "
                        "check and a tile every 100 ms",
                        ["exports", "all done, s", "longest wait for a first answer, s",
                         "health ms p50 / p95 / max", "tile ms p50 / p95 / max"], rows)
            print(f"while it ran, {load.note()}")
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
