"""Lanes: do cheap requests and tiles stay fast while 8 clients ask for 4096 x 4096 WMS GetMaps?

    python bench/lanes_bench.py [--seconds 90] [--heavy-threads N] [--heavy-queue N] [--threads N]
                                [--polite] [--workdir DIR] [--quick]

The issue's measurement: "8 parallel 4096 x 4096 GetMaps for 90 s pushed the health check's median to
21 s and a tile's to 19 s". The server is the real `cogbrowser serve` on the demo data set (made fresh
in a throw-away data dir by `cogbrowser demo --no-serve`). For --seconds:

  getmap     8 clients loop on 4096 x 4096 WMS GetMaps of the demo images (a random part of an image,
             a random style of the layer: the rendered-picture cache never answers); a 503 is asked
             again at once, as a careless or hostile client would (--polite: after its Retry-After)
  health     one client asks /api/v1/health every 0.5 s
  tile       one client asks XYZ tiles of the demo images one after the other (a random tile, with a
             distinct rescale: every tile is rendered)
  catalog    one client asks /api/v1/images?limit=20 every 0.5 s
  callback   one client posts the pages' frame callback (which page a path shows: not heavy) every 0.5 s

--heavy-threads and --heavy-queue reach the server as COGBROWSER_HEAVY_THREADS / _HEAVY_QUEUE, --threads
as `serve --threads` (the tiles lane), so settings can be compared. It prints, per kind, the count by
status and p50/p95/p99/max latency; for the GetMaps, the 200s and the 503s (with Retry-After or not)
and how fast the 503s came; and the slowest request of the run. Targets: no request takes longer
than the heavy lane's wait (a quarter of the render deadline) and one render: 1.25 x 20 s = 25 s;
health and tile p50 under 1 s, no 5xx but 503, every 503 with
Retry-After. Exit status 1 when a full run misses one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, default_workdir, make_demo_data, print_table, say, scratch_dir  # noqa: E402
from cogbrowser.config import DEFAULT_RENDER_DEADLINE  # noqa: E402
from soak_bench import request, tile_of  # noqa: E402
from tile_bench import distinct_params, free_port, start_server, stop_server  # noqa: E402

MAP_SIZE = 4096
GETMAP_CLIENTS = 8
PACE_S = 0.5  # how often the health, catalog and callback clients ask
TARGET_LIGHT_P50_MS = 1000.0
CLIENT_TIMEOUT_S = 180.0  # far beyond any deadline: a request that hangs is measured, not cut short
WMS_NS = {"wms": "http://www.opengis.net/wms"}
# The pages' frame callback: which page and which top-bar links a path shows (cheap: no render)
FRAME_CALLBACK = {"output": "..page.children...nav.children..",
                  "outputs": [{"id": "page", "property": "children"}, {"id": "nav", "property": "children"}],
                  "changedPropIds": ["url.pathname"], "state": []}


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (connection refused, reset or timed out)
    ms: float
    retry_after: bool = False


@dataclass(frozen=True)
class MapLayer:
    """A demo image as a WMS layer: its name, bbox (CRS:84), styles and pixel type."""

    name: str
    bbox: tuple[float, float, float, float]
    styles: tuple[str, ...]
    dtype: str


@dataclass
class Run:
    port: int
    layers: list[MapLayer]
    polite: bool
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def ask(self, kind: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Sample:
        """One request, timed and recorded."""
        t0 = time.perf_counter()
        try:
            status, _, answer_headers = request(self.port, method, path, body, headers, timeout=CLIENT_TIMEOUT_S)
            retry_after = "retry-after" in answer_headers
            wait = float(answer_headers.get("retry-after", 0) or 0)
        except OSError:
            status, retry_after, wait = 0, False, 0.0
        sample = Sample(kind, status, (time.perf_counter() - t0) * 1000, retry_after)
        with self.lock:
            self.samples.append(sample)
        if status == 0:
            self.stop.wait(0.2)  # no answer: don't spin
        elif status == 503 and self.polite:
            self.stop.wait(wait)
        return sample


# -- what the clients ask -----------------------------------------------------------------------
def read_layers(port: int) -> list[MapLayer]:
    """The demo images with their WMS styles (from GetCapabilities)."""
    status, body, _ = request(port, "GET", "/api/v1/images?limit=100")
    if status != 200:
        raise SystemExit(f"GET /api/v1/images answered {status}")
    images = {image["id"]: image for image in json.loads(body)["images"]}
    status, body, _ = request(port, "GET", "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0")
    if status != 200:
        raise SystemExit(f"WMS GetCapabilities answered {status}")
    layers = []
    for element in ET.fromstring(body).iter(f"{{{WMS_NS['wms']}}}Layer"):
        name = element.findtext("wms:Name", namespaces=WMS_NS)
        if name in images:
            styles = tuple(style.findtext("wms:Name", namespaces=WMS_NS) or ""
                           for style in element.findall("wms:Style", WMS_NS))
            west, south, east, north = images[name]["bbox"]
            layers.append(MapLayer(name, (west, south, min(east, 180.0), north), styles or ("",),
                                   images[name]["dtype"]))
    if not layers:
        raise SystemExit("the demo catalog has no image the WMS offers")
    return layers


def getmap_path(layer: MapLayer, rng: random.Random) -> str:
    """A 4096 x 4096 GetMap of a random part (half to all) of `layer`, in a random style."""
    west, south, east, north = layer.bbox
    share = rng.uniform(0.5, 1.0)
    width, height = (east - west) * share, (north - south) * share
    x0, y0 = rng.uniform(west, east - width), rng.uniform(south, north - height)
    return (f"/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layer.name}&STYLES={rng.choice(layer.styles)}"
            f"&CRS=CRS:84&BBOX={x0:.6f},{y0:.6f},{x0 + width:.6f},{y0 + height:.6f}"
            f"&WIDTH={MAP_SIZE}&HEIGHT={MAP_SIZE}&FORMAT=image/png")


def tile_path(layers: list[MapLayer], rng: random.Random) -> str:
    """A random tile of a multi-band demo image, with a rescale no earlier tile had."""
    layer = rng.choice([layer for layer in layers if layer.dtype in ("uint8", "uint16")] or layers)
    params = distinct_params("uint8" if layer.dtype == "uint8" else "uint16")
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{tile_of({'id': layer.name, 'bbox': layer.bbox}, rng)}?{query}"


def getmap_client(run: Run, seed: int) -> None:
    rng = random.Random(seed)
    while not run.stop.is_set():
        run.ask("getmap", "GET", getmap_path(rng.choice(run.layers), rng))


def tile_client(run: Run, seed: int) -> None:
    rng = random.Random(seed)
    while not run.stop.is_set():
        run.ask("tile", "GET", tile_path(run.layers, rng))


def paced_client(run: Run, kind: str) -> None:
    """Health, catalog or callback: one request every PACE_S (at once after a slower answer)."""
    next_at = time.perf_counter()
    pages = ["/", "/analytics"]
    while not run.stop.is_set():
        if kind == "health":
            run.ask(kind, "GET", "/api/v1/health")
        elif kind == "catalog":
            run.ask(kind, "GET", "/api/v1/images?limit=20")
        else:
            pages.reverse()
            body = {**FRAME_CALLBACK, "inputs": [{"id": "url", "property": "pathname", "value": pages[0]}]}
            run.ask(kind, "POST", "/_dash-update-component", json.dumps(body).encode(),
                    {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{run.port}"})
        next_at += PACE_S
        run.stop.wait(max(0.0, next_at - time.perf_counter()))
        next_at = max(next_at, time.perf_counter())


# -- the report -----------------------------------------------------------------------------------
def spread(values_ms: np.ndarray, quantiles: tuple[int, ...]) -> list[str]:
    """The percentiles and the maximum of some latencies, as table cells ("-" for none)."""
    if not values_ms.size:
        return ["-"] * (len(quantiles) + 1)
    return [f"{np.percentile(values_ms, q):,.0f}" for q in quantiles] + [f"{values_ms.max():,.0f}"]


def report(samples: list[Sample], seconds: float, deadline: float) -> bool:
    """Print the tables; True when the run met its targets."""
    rows = []
    for kind in ["health", "tile", "catalog", "callback", "getmap"]:
        group = [s for s in samples if s.kind == kind]
        statuses = Counter(s.status for s in group)
        rows.append([kind, len(group), ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(statuses.items())),
                     *spread(np.array([s.ms for s in group if s.status], dtype=float), (50, 95, 99))])
    print_table(f"By kind ({seconds:g} s)", ["kind", "requests", "statuses", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                rows)

    maps = [s for s in samples if s.kind == "getmap"]
    drawn = np.array([s.ms for s in maps if s.status == 200], dtype=float)
    refused = [s for s in maps if s.status == 503]
    refused_ms = np.array([s.ms for s in refused], dtype=float)
    print_table("GetMaps 4096 x 4096", ["answer", "count", "per min", "p50 ms", "p99 ms", "max ms"], [
        ["drawn (200)", drawn.size, f"{drawn.size / seconds * 60:.1f}", *spread(drawn, (50, 99))],
        ["refused, Retry-After (503)", sum(1 for s in refused if s.retry_after), "-", "-", "-", "-"],
        ["refused, no Retry-After (503)", sum(1 for s in refused if not s.retry_after), "-", "-", "-", "-"],
        ["refused (503, all)", refused_ms.size, f"{refused_ms.size / seconds * 60:.1f}", *spread(refused_ms, (50, 99))],
    ])

    answered = [s for s in samples if s.status]
    slowest = max(answered, key=lambda s: s.ms) if answered else None
    others = [s for s in samples if s.status >= 500 and s.status != 503]
    no_answer = sum(1 for s in samples if not s.status)
    without_retry = sum(1 for s in samples if s.status == 503 and not s.retry_after)
    light_p50 = {kind: float(np.percentile([s.ms for s in samples if s.kind == kind and s.status], 50))
                 for kind in ("health", "tile") if any(s.kind == kind and s.status for s in samples)}
    longest = deadline * 1.25  # the heavy lane's longest wait (web/lanes.py), then one render
    print(f"\nslowest request: {slowest.kind} {slowest.status} in {slowest.ms / 1000:.1f} s (target: at most a "
          f"wait and a render, {longest:g} s)" if slowest else "\nno request was answered")
    print("p50: " + ", ".join(f"{kind} {ms:,.0f} ms" for kind, ms in light_p50.items())
          + f" (target: under {TARGET_LIGHT_P50_MS:,.0f} ms); 5xx other than 503: {len(others)}; "
          f"503 without Retry-After: {without_retry}; no answer: {no_answer}")
    return (slowest is not None and slowest.ms <= longest * 1000 and not others and not without_retry
            and not no_answer and len(light_p50) == 2 and all(ms < TARGET_LIGHT_P50_MS for ms in light_p50.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--heavy-threads", type=int, default=None,
                        help="COGBROWSER_HEAVY_THREADS for the server (unset: its default, 1)")
    parser.add_argument("--heavy-queue", type=int, default=None,
                        help="COGBROWSER_HEAVY_QUEUE for the server (unset: its default, 4)")
    parser.add_argument("--threads", type=int, default=None,
                        help="serve --threads: the tiles lane (unset: one a core)")
    parser.add_argument("--polite", action="store_true",
                        help="GetMap clients wait a 503's Retry-After before asking again")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="20 s, to check the script still works")
    args = parser.parse_args()
    seconds = 20.0 if args.quick else args.seconds
    if args.heavy_threads is not None:
        os.environ["COGBROWSER_HEAVY_THREADS"] = str(args.heavy_threads)  # start_server passes os.environ on
    if args.heavy_queue is not None:
        os.environ["COGBROWSER_HEAVY_QUEUE"] = str(args.heavy_queue)
    deadline = float(os.environ.get("COGBROWSER_RENDER_DEADLINE") or DEFAULT_RENDER_DEADLINE)
    with scratch_dir(args.workdir, "lanes-") as scratch:
        data_dir = scratch / "data"
        make_demo_data(data_dir)
        port = free_port()
        server = start_server(data_dir, port, args.threads)
        try:
            run = Run(port, read_layers(port), args.polite)
            say(f"server: COGBROWSER_HEAVY_THREADS={os.environ.get('COGBROWSER_HEAVY_THREADS', '(default)')} "
                f"COGBROWSER_HEAVY_QUEUE={os.environ.get('COGBROWSER_HEAVY_QUEUE', '(default)')} "
                f"--threads {args.threads or '(default: one a core)'}; {GETMAP_CLIENTS} GetMap clients"
                f"{' (polite)' if args.polite else ''} for {seconds:g} s on {len(run.layers)} images")
            clients = [threading.Thread(target=getmap_client, args=(run, seed), daemon=True)
                       for seed in range(GETMAP_CLIENTS)]
            clients.append(threading.Thread(target=tile_client, args=(run, 100), daemon=True))
            clients += [threading.Thread(target=paced_client, args=(run, kind), daemon=True)
                        for kind in ("health", "catalog", "callback")]
            load = OtherLoad(lambda: [server.pid])  # the server and its PostgreSQL are ours
            for thread in clients:
                thread.start()
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                time.sleep(min(10.0, seconds - (time.perf_counter() - started)))
                say(f"  {len(run.samples):,} requests")
            run.stop.set()
            say("waiting for the requests under way")
            for thread in clients:
                thread.join(timeout=CLIENT_TIMEOUT_S)
            note = load.note()
        finally:
            stop_server(server)
        ok = report(run.samples, seconds, deadline)
        print(f"({note})")
    sys.exit(0 if ok or args.quick else 1)


if __name__ == "__main__":
    main()
