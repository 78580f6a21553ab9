"""API benchmark: catalog searches and detection aggregations over HTTP, on a big catalog.

Fills a throw-away embedded catalog like catalog_bench.py (100,000 images, 1,000,000 detections by
default, the same generator), then starts the real `python -m cogbrowser serve` on it and times
requests from one keep-alive client on loopback, the way a script or the dashboard asks:

  search  GET /api/v1/images?bbox=&datetime=&max_cloud_cover=&limit=100        target p95 < 50 ms
  count   GET /api/v1/detections/counts?by=class&image_ids=(10-100)&datetime=   target p95 < 150 ms
  year    GET /api/v1/detections/counts?by=class&datetime=(one year)            target p95 < 150 ms
  dets    GET /api/v1/detections?bbox=&datetime=&classes=&limit=1000             (no target; reported)
  dates   GET /api/v1/acquisitions?bbox=&datetime=(one year)&max_cloud_cover=    (no target; reported)
          the Browse page's calendar marks and time steps, asked with every search

and what the Analytics page asks when its filters change (a class and a year), each timed alone:

  summary GET /api/v1/detections/summary?classes=&datetime=                      the totals
  scores  GET /api/v1/detections/scores?bins=10&classes=&datetime=               the score histogram
  sample  GET /api/v1/detections/sample?size=5000&classes=&datetime=             the scatter's points
  days    GET /api/v1/detections/counts?by=day&split=class&classes=&datetime=    the bars by day
  names   GET /api/v1/detections/counts?by=name&split=class&limit=400&...        the bars by name

Times include everything a client waits for: HTTP, validation, SQL, JSON. Exit status 1 when a
full-size run misses a target. `--quick`: 5,000 images, 50,000 detections, 50 requests a kind.
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import random
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from _common import (
    OtherLoad,
    default_workdir,
    percentiles,
    postmaster_pid,
    print_table,
    say,
)
from catalog_bench import CLASS_NAMES, filled_catalog, random_bbox, random_period
from tile_bench import free_port, start_server, stop_server

SEARCH_P95_MS = 50.0
AGGREGATION_P95_MS = 150.0


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def make_requests(rng: random.Random, image_times: list, n: int) -> dict[str, list[str]]:
    times = [t for t, _ in image_times]
    kinds: dict[str, list[str]] = {"search": [], "count": [], "year": [], "dets": [], "summary": [], "scores": [],
                                   "sample": [], "days": [], "names": [], "dates": []}
    for _ in range(n):
        start, end = random_period(rng, 91)
        bbox = ",".join(f"{v:.4f}" for v in random_bbox(rng))
        kinds["search"].append("/api/v1/images?" + urlencode({
            "bbox": bbox, "datetime": f"{iso(start)}/{iso(end)}",
            "max_cloud_cover": rng.choice([10, 20, 30, 50, 70]), "limit": 100}))
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
        pool = [image_id for _, image_id in image_times[lo:hi]]
        ids = rng.sample(pool, min(len(pool), rng.randint(10, 100))) or [image_times[0][1]]
        kinds["count"].append("/api/v1/detections/counts?" + urlencode({
            "by": "class", "image_ids": ",".join(ids), "datetime": f"{iso(start)}/{iso(end)}"}))
        year_start, year_end = random_period(rng, 365)
        kinds["year"].append("/api/v1/detections/counts?" + urlencode({
            "by": "class", "datetime": f"{iso(year_start)}/{iso(year_end)}"}))
        kinds["dets"].append("/api/v1/detections?" + urlencode({
            "bbox": ",".join(f"{v:.4f}" for v in random_bbox(rng)), "datetime": f"{iso(start)}/{iso(end)}",
            "classes": ",".join(rng.sample(CLASS_NAMES, rng.randint(1, 2))), "limit": 1000}))
        kinds["dates"].append("/api/v1/acquisitions?" + urlencode({
            "bbox": bbox, "datetime": f"{iso(year_start)}/{iso(year_end)}",
            "max_cloud_cover": rng.choice([10, 20, 30, 50, 70])}))
        dashboard = {"classes": rng.choice(CLASS_NAMES), "datetime": f"{iso(year_start)}/{iso(year_end)}"}
        kinds["summary"].append("/api/v1/detections/summary?" + urlencode(dashboard))
        kinds["scores"].append("/api/v1/detections/scores?" + urlencode({"bins": 10, **dashboard}))
        kinds["sample"].append("/api/v1/detections/sample?" + urlencode({"size": 5000, **dashboard}))
        kinds["days"].append("/api/v1/detections/counts?" + urlencode({"by": "day", "split": "class", **dashboard}))
        kinds["names"].append("/api/v1/detections/counts?" + urlencode(
            {"by": "name", "split": "class", "limit": 400, **dashboard}))
    return kinds


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    """(milliseconds until the whole body was read, number of items in the answer)."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}: {body[:300]!r}")
    document = json.loads(body)
    items = next((document[key] for key in ("images", "counts", "detections", "points", "histograms", "acquisitions")
                  if isinstance(document.get(key), list)), [document])
    return elapsed, len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests of each kind (default 200)")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="5,000 images, 50,000 detections, 50 requests")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.detections, args.requests = 5_000, 50_000, 50

    with filled_catalog(args.workdir, "api-", args.images, args.detections) as filled:
        data_dir, settings = filled.data_dir, filled.settings
        with filled.db.connection() as conn:
            image_times = [(r["acquired_at"], r["id"]) for r in
                           conn.execute("SELECT acquired_at, id FROM images ORDER BY acquired_at")]
        rng = random.Random(args.seed)
        warm = make_requests(rng, image_times, 20)
        timed = make_requests(rng, image_times, args.requests)
        port = free_port()
        server = start_server(data_dir, port)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for paths in warm.values():
                for path in paths:
                    timed_get(conn, path)
            say(f"timing {args.requests} requests of each kind, interleaved")
            load = OtherLoad(lambda: [server.pid, *postmaster_pid(settings.pg_dir)])
            samples: dict[str, list[float]] = {kind: [] for kind in timed}
            rows: dict[str, list[int]] = {kind: [] for kind in timed}
            for i in range(args.requests):
                for kind, paths in timed.items():
                    ms, count = timed_get(conn, paths[i])
                    samples[kind].append(ms)
                    rows[kind].append(count)
            note = load.note()
        finally:
            stop_server(server)

    targets = {"search": SEARCH_P95_MS, "count": AGGREGATION_P95_MS, "year": AGGREGATION_P95_MS, "dets": None,
               "summary": None, "scores": None, "sample": None, "days": None, "names": None, "dates": None}
    table = []
    for kind, values in samples.items():
        stats = percentiles(values)
        target = targets[kind]
        verdict = "" if target is None else ("OK" if stats["p95"] < target else "OVER")
        median_rows = sorted(rows[kind])[len(rows[kind]) // 2]
        table.append([kind, median_rows, stats["p50"], stats["p95"], stats["max"], target or "-", verdict])
    print(f"\n{args.images:,} images, {args.detections:,} detections; one keep-alive client on loopback against "
          f"`cogbrowser serve`; while timing, {note}")
    print_table("HTTP latency (ms)", ["kind", "rows (median)", "p50", "p95", "max", "p95 target", ""], table)
    over = [row[0] for row in table if row[-1] == "OVER"]
    print(f"\nkinds over their p95 target: {', '.join(over) if over else 'none'}")
    return 1 if over and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
