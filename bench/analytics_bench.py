"""Analytics benchmark: what one filter change of the Analytics page asks the server, at 1,000,000 detections.

Fills a throw-away embedded catalog with catalog_bench.py's generator (100,000 images, 1,000,000
detections by default), starts the real `python -m cogbrowser serve` on it and, for filters of each
kind (none, a class, a name, a score range, a year, a bbox), asks what the page asks
(ui/analytics_queries.py, analytics_scatter.py):

  classes  counts?by=class                                  the bars (by class) and the report
  images   counts?by=image&split=class&limit=20 x classes   the report's image table
  names    counts?by=name&split=class&limit=21 x classes    the report's name table
  days     counts?by=day                                    the report's days
  scores   scores?bins=10                                   the report's score histogram
  summary  summary                                          the report's totals
  sample   sample?size=5000                                 the scatter's points
  report   report?top=20&bins=10&sample=0                   the report's figures in one request (now)

Each call is timed alone (one keep-alive client), then the whole filter change as the page makes it:
the bars, the report and the scatter at once (three callbacks, one request each: counts by class,
report, sample) — the time until the last answer is in. `--old` times the page before the report
endpoint instead (the report's six calls, its five last in parallel, as report_answers did), for
comparison. Prints p50/p95 per call and per filter kind. Target (issue 13): the whole filter change
p95 < 1 s. `--quick`: 5,000 images, 50,000 detections, 10 rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from _common import default_workdir, percentiles, print_table, say
from catalog_bench import CLASS_NAMES, T0, filled_catalog, random_bbox
from tile_bench import free_port, start_server, stop_server

FILTER_CHANGE_P95_MS = 1000.0
REPORT_TOP = 20  # ui/analytics_queries.REPORT_TOP


def filters_of(kind: str, rng: random.Random) -> dict:
    """The API parameters of one filter of `kind`, as Filters.api_params() writes them."""
    if kind == "none":
        return {}
    if kind == "class":
        return {"classes": rng.choice(CLASS_NAMES)}
    if kind == "name":
        return {"names": f"{rng.choice(CLASS_NAMES)}-{rng.randrange(300):03d}"}
    if kind == "score":
        low = round(rng.uniform(0.3, 0.8), 2)
        return {"min_score": low, "max_score": round(low + 0.15, 2)}
    if kind == "year":
        start = T0 + timedelta(days=rng.randrange(0, 2 * 365))
        return {"datetime": f"{start:%Y-%m-%dT00:00:00Z}/{start + timedelta(days=365):%Y-%m-%dT00:00:00Z}"}
    if kind == "bbox":
        return {"bbox": ",".join(f"{v:.6f}" for v in random_bbox(rng))}
    raise ValueError(kind)


KINDS = ["none", "class", "name", "score", "year", "bbox"]


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str, **params) -> tuple[float, dict]:
        started = time.perf_counter()
        self.conn.request("GET", path + "?" + urlencode(params, doseq=True))
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"{path} {params} answered {response.status}: {body[:300]!r}")
        return elapsed, json.loads(body)


COUNTS, DETECTIONS = "/api/v1/detections/counts", "/api/v1/detections"


def calls(n_classes: int) -> dict[str, tuple[str, dict]]:
    rows = max(1, n_classes)
    return {
        "classes": (COUNTS, {"by": "class", "limit": 1000}),
        "images": (COUNTS, {"by": "image", "split": "class", "limit": REPORT_TOP * rows}),
        "names": (COUNTS, {"by": "name", "split": "class", "limit": (REPORT_TOP + 1) * rows}),
        "days": (COUNTS, {"by": "day", "limit": 100_000}),
        "scores": (f"{DETECTIONS}/scores", {"bins": 10}),
        "summary": (f"{DETECTIONS}/summary", {}),
        "sample": (f"{DETECTIONS}/sample", {"size": 5000}),
        "report": (f"{DETECTIONS}/report", {"top": REPORT_TOP, "bins": 10, "sample": 0}),
    }


def filter_change(clients: list[Client], pool: ThreadPoolExecutor, params: dict, old: bool = False) -> float:
    """The page's three callbacks at once, a request each (`old`: the report's own calls in
    parallel after its class counts, as before the report endpoint)."""
    started = time.perf_counter()
    plan = calls(len(CLASS_NAMES))

    def ask(client: Client, name: str) -> float:
        path, extra = plan[name]
        return client.get(path, **extra, **params)[0]

    def report() -> None:
        if not old:
            ask(clients[1], "report")
            return
        ask(clients[1], "classes")
        inner = [pool.submit(ask, clients[2 + i], name)
                 for i, name in enumerate(["summary", "images", "names", "days", "scores"])]
        for future in inner:
            future.result()

    outer = [pool.submit(ask, clients[0], "classes"), pool.submit(report), pool.submit(ask, clients[7], "sample")]
    for future in outer:
        future.result()
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30, help="filters of each kind timed (default 30)")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true", help="5,000 images, 50,000 detections, 10 rounds")
    parser.add_argument("--old", action="store_true", help="time the page's requests before the report endpoint")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.detections, args.rounds = 5_000, 50_000, 10

    rng = random.Random(args.seed)
    per_call: dict[str, list[float]] = {name: [] for name in calls(1)}
    per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with filled_catalog(args.workdir, "analytics-", args.images, args.detections) as filled:
        port = free_port()
        server = start_server(filled.data_dir, port)
        try:
            clients = [Client(port) for _ in range(8)]
            with ThreadPoolExecutor(max_workers=12) as pool:
                plan = calls(len(CLASS_NAMES))
                for kind in KINDS:  # warm: every call once per kind
                    for path, extra in plan.values():
                        clients[0].get(path, **extra, **filters_of(kind, rng))
                say(f"timing each call alone, {args.rounds} filters of each kind")
                for _ in range(args.rounds):
                    for kind in KINDS:
                        params = filters_of(kind, rng)
                        for name, (path, extra) in plan.items():
                            per_call[name].append(clients[0].get(path, **extra, **params)[0])
                say("timing whole filter changes (the page's calls at once)")
                for _ in range(args.rounds):
                    for kind in KINDS:
                        per_kind[kind].append(filter_change(clients, pool, filters_of(kind, rng), args.old))
        finally:
            stop_server(server)

    page = "the page's requests before the report endpoint (--old)" if args.old else "the page's requests"
    print(f"\n{args.images:,} images, {args.detections:,} detections; `cogbrowser serve` on loopback; {page}")
    print_table("each call alone, over every filter kind (ms)", ["call", "p50", "p95", "max"],
                [[name, *(percentiles(v)[k] for k in ("p50", "p95", "max"))] for name, v in per_call.items()])
    everything = [ms for values in per_kind.values() for ms in values]
    rows = [[kind, *(percentiles(v)[k] for k in ("p50", "p95", "max"))] for kind, v in per_kind.items()]
    rows.append(["all", *(percentiles(everything)[k] for k in ("p50", "p95", "max"))])
    print_table("whole filter change, by filter kind (ms)", ["filter", "p50", "p95", "max"], rows)
    p95 = percentiles(everything)["p95"]
    verdict = "OK" if p95 < FILTER_CHANGE_P95_MS else "OVER"
    print(f"\nwhole filter change p95 {p95:.0f} ms, target < {FILTER_CHANGE_P95_MS:.0f} ms: {verdict}")
    return 1 if verdict == "OVER" and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
