"""Soak: 8 mixed clients for 10 minutes against the real `cogbrowser serve` while faults are injected.

    python bench/soak_bench.py [--minutes 10] [--clients 8] [--workdir DIR] [--quick]

The server runs on the demo data set (made fresh in a throw-away data dir by `cogbrowser demo
--no-serve`). Each client loops over a weighted mix of what users and scripts do: the health check,
image and detection searches, detection counts, STAC searches, XYZ tiles, WMS GetMaps, statistics,
pixel values, the Browse page and small uploads (a write, with a token). Meanwhile a fault script
runs on a timetable spread over the run:

  stop the database      the embedded PostgreSQL's postmaster is shut down (fast), left down for
                         20 s, then started again if the server has not already restarted it
  delete a file          one image's COG is deleted from the store (its requests should answer 410)
  kill the server        `kill -9` of the serving process (the worker that runs jobs too), then a
                         restart on the same port and data dir

It prints, every 30 s, the requests of that window by status class, the 5xx, the failed connections
(answers nobody could give while the server was down), p99 and the server's RSS; then the totals by
kind and status, and the faults with how long the server took to answer the health check with 200
again. Target: 0 answers with a 5xx status other than 503 (503 + Retry-After is the honest answer
while the catalog is down), and an RSS that stays flat after the warm-up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_workdir, make_demo_data, mib, postmaster_pid, print_table, say, scratch_dir  # noqa: E402
from tile_bench import free_port, rss, start_server, stop_server  # noqa: E402
from upload_bench import make_token  # noqa: E402

WINDOW_S = 30.0
OUTAGE_S = 20.0


@dataclass
class Sample:
    at: float  # seconds since the start of the run
    kind: str
    status: int  # 0: no answer (connection refused, reset or timed out)
    ms: float
    retry_after: bool = False


@dataclass
class Catalog:
    """What the clients pick their requests from, read from the API before the run."""

    images: list[dict]
    collections: list[str]
    token: str


@dataclass
class Run:
    port: int
    catalog: Catalog
    started: float = field(default_factory=time.perf_counter)
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> float:
        return time.perf_counter() - self.started

    def record(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


# -- what the clients ask -----------------------------------------------------------------------
def tile_of(image: dict, rng: random.Random) -> str:
    """A random XYZ tile inside the image, at a zoom between 'whole image in a tile' and native."""
    import morecantile

    west, south, east, north = image["bbox"]
    east = min(east, 180.0)
    tms = morecantile.tms.get("WebMercatorQuad")
    zoom = rng.randint(8, 13)
    lon, lat = rng.uniform(west, east), rng.uniform(south, north)
    tile = tms.tile(lon, lat, zoom)
    return f"/tiles/{image['id']}/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"


def small_geotiff(rng: random.Random) -> bytes:
    """A 256 x 256 RGB GeoTIFF somewhere in Europe, different each time (an upload is not a duplicate)."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    pixels = np.random.default_rng(rng.randrange(1 << 32)).integers(0, 255, (3, 256, 256), dtype=np.uint8)
    west, north = rng.uniform(0, 20), rng.uniform(40, 55)
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs="EPSG:4326",
                         transform=from_origin(west, north, 0.001, 0.001)) as dataset:
            dataset.write(pixels)
        return memory.read()


def mix(catalog: Catalog, rng: random.Random) -> tuple[str, str, str, bytes | None, dict[str, str]]:
    """(kind, method, path, body, headers) of one request, drawn from the weighted mix."""
    image = rng.choice(catalog.images)
    west, south, east, north = image["bbox"]
    east = min(east, 180.0)
    cx, cy = (west + east) / 2, (south + north) / 2
    kinds = ["health", "images", "detections", "counts", "stac", "tile", "wms", "statistics", "point",
             "page", "upload"]
    weights = [8, 10, 8, 6, 5, 35, 8, 5, 5, 5, 1]
    kind = rng.choices(kinds, weights)[0]
    if kind == "health":
        return kind, "GET", "/api/v1/health", None, {}
    if kind == "images":
        return kind, "GET", f"/api/v1/images?bbox={west},{south},{east},{north}&limit=20", None, {}
    if kind == "detections":
        return kind, "GET", f"/api/v1/detections?bbox={west},{south},{east},{north}&limit=100", None, {}
    if kind == "counts":
        return kind, "GET", "/api/v1/detections/counts?by=class", None, {}
    if kind == "stac":
        return kind, "GET", f"/stac/search?bbox={west},{south},{east},{north}&limit=10", None, {}
    if kind == "tile":
        return kind, "GET", tile_of(image, rng), None, {}
    if kind == "wms":
        return kind, "GET", (f"/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={image['id']}&STYLES="
                             f"&CRS=CRS:84&BBOX={west},{south},{east},{north}&WIDTH=512&HEIGHT=512"
                             "&FORMAT=image/png"), None, {}
    if kind == "statistics":
        return kind, "GET", f"/api/v1/images/{image['id']}/statistics", None, {}
    if kind == "point":
        return kind, "GET", f"/api/v1/images/{image['id']}/point?lon={cx}&lat={cy}", None, {}
    if kind == "page":
        return kind, "GET", "/", None, {}
    name = f"soak-{rng.randrange(1 << 30):08x}.tif"
    return kind, "POST", f"/api/v1/images?filename={name}&wait=false", small_geotiff(rng), {
        "Authorization": f"Bearer {catalog.token}", "Content-Type": "image/tiff"}


def client(run: Run, seed: int) -> None:
    rng = random.Random(seed)
    while not run.stop.is_set():
        kind, method, path, body, headers = mix(run.catalog, rng)
        at, t0 = run.now(), time.perf_counter()
        try:
            status, _, answer_headers = request(run.port, method, path, body, headers)
            retry_after = "retry-after" in answer_headers
        except OSError:
            status, retry_after = 0, False
            time.sleep(0.2)  # the server is down: don't spin
        run.record(Sample(at, kind, status, (time.perf_counter() - t0) * 1000, retry_after))


# -- faults ---------------------------------------------------------------------------------------
@dataclass
class Fault:
    at: float
    name: str
    detail: str = ""
    healthy_after: float | None = None  # seconds from the fault until /api/v1/health answered 200
    waited: bool = True  # False: a fault the server need not recover from (the health check is not watched)


def wait_healthy(run: Run, since: float, limit: float = 120.0) -> float | None:
    while run.now() - since < limit and not run.stop.is_set():
        try:
            if request(run.port, "GET", "/api/v1/health", timeout=5)[0] == 200:
                return run.now() - since
        except OSError:
            pass
        time.sleep(0.25)
    return None


def stop_database(run: Run, data_dir: Path) -> Fault:
    import psutil

    pg_dir = data_dir / "postgres"
    fault = Fault(run.now(), "stop the database")
    pids = postmaster_pid(pg_dir)
    if not pids:
        fault.detail = "no postmaster.pid: nothing to stop"
        return fault
    try:
        proc = psutil.Process(pids[0])
        proc.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)  # fast shutdown
        proc.wait(timeout=30)
    except psutil.Error as exc:
        fault.detail = f"could not stop it: {exc}"
        return fault
    run.stop.wait(OUTAGE_S)
    if postmaster_pid(pg_dir) and _alive(postmaster_pid(pg_dir)[0]):
        fault.detail = f"down; the server had restarted it itself within {OUTAGE_S:.0f} s"
    else:
        from cogbrowser.catalog.embedded import EmbeddedPostgres

        EmbeddedPostgres(pg_dir).start()
        fault.detail = f"down {OUTAGE_S:.0f} s, then started again by this script"
    fault.healthy_after = wait_healthy(run, fault.at)
    return fault


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def delete_file(run: Run, data_dir: Path) -> Fault:
    image = run.catalog.images[0]
    cogs = sorted((data_dir / "cogs").rglob(f"{image['id']}.tif"))
    for path in cogs:
        path.unlink()
    return Fault(run.now(), "delete a file", f"{image['id']}: {len(cogs)} file(s) deleted", waited=False)


def kill_server(run: Run, server: list[subprocess.Popen], data_dir: Path) -> Fault:
    fault = Fault(run.now(), "kill the server")
    server[0].kill()
    server[0].wait()
    server[0] = start_server(data_dir, run.port)
    fault.detail = "kill -9, then restarted on the same port"
    fault.healthy_after = run.now() - fault.at
    return fault


def inject_faults(run: Run, timetable: list[tuple[float, Callable[[], Fault]]], faults: list[Fault]) -> None:
    """Run each fault at its time, one after the other (a fault waits for the server to recover)."""
    for at, inject in timetable:
        while run.now() < at and not run.stop.is_set():
            time.sleep(0.2)
        if run.stop.is_set():
            return
        faults.append(inject())
        say(f"  {faults[-1].name}: {faults[-1].detail}")


# -- the run --------------------------------------------------------------------------------------
def read_catalog(port: int, token: str) -> Catalog:
    status, body, _ = request(port, "GET", "/api/v1/images?limit=100")
    images = [{"id": feature["id"], "bbox": feature["bbox"]} for feature in json.loads(body)["images"]] \
        if status == 200 else []
    if not images:
        raise SystemExit(f"the demo catalog has no images (GET /api/v1/images answered {status})")
    status, body, _ = request(port, "GET", "/api/v1/collections")
    collections = [c["id"] for c in json.loads(body).get("collections", [])] if status == 200 else []
    return Catalog(images, collections, token)


def report(run: Run, faults: list[Fault], rss_by_window: list[tuple[float, int]], minutes: float) -> bool:
    samples = sorted(run.samples, key=lambda s: s.at)
    windows: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        windows[int(sample.at // WINDOW_S)].append(sample)
    rows = []
    memory = {int(at // WINDOW_S): value for at, value in rss_by_window}
    for index in sorted(windows):
        group = windows[index]
        classes = Counter(s.status // 100 if s.status else 0 for s in group)
        answered = [s.ms for s in group if s.status]
        rows.append([f"{index * WINDOW_S:.0f}-{(index + 1) * WINDOW_S:.0f}", len(group), classes[2], classes[3],
                     classes[4], sum(1 for s in group if s.status == 503), sum(1 for s in group if s.status >= 500
                                                                               and s.status != 503),
                     classes[0], f"{np.percentile(answered, 99):.0f}" if answered else "-",
                     mib(memory[index]) if index in memory else "-"])
    print_table(f"Over time ({WINDOW_S:.0f} s windows)",
                ["seconds", "requests", "2xx", "3xx", "4xx", "503", "other 5xx", "no answer", "p99 ms", "server RSS"],
                rows)
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for sample in samples:
        by_kind[sample.kind][sample.status] += 1
    kind_rows = []
    for kind in sorted(by_kind):
        group = [s for s in samples if s.kind == kind and s.status]
        kind_rows.append([kind, sum(by_kind[kind].values()),
                          ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(by_kind[kind].items())),
                          f"{np.percentile([s.ms for s in group], 50):.0f}" if group else "-",
                          f"{np.percentile([s.ms for s in group], 99):.0f}" if group else "-"])
    print_table("By kind", ["kind", "requests", "statuses", "p50 ms", "p99 ms"], kind_rows)
    print_table("Faults", ["at s", "fault", "what happened", "health 200 after s"],
                [[f"{f.at:.0f}", f.name, f.detail,
                  "-" if not f.waited else f"{f.healthy_after:.1f}" if f.healthy_after is not None else "never"]
                 for f in faults])
    five_hundreds = [s for s in samples if s.status >= 500 and s.status != 503]
    without_retry = [s for s in samples if s.status == 503 and not s.retry_after]
    answered = [s.ms for s in samples if s.status]
    steady = [value for at, value in rss_by_window if at >= min(120.0, minutes * 60 / 3)]
    growth = (steady[-1] / steady[0] - 1) * 100 if len(steady) > 1 and steady[0] else 0.0
    print(f"\n{len(samples):,} requests in {minutes:g} min; 5xx other than 503: {len(five_hundreds)} (target 0); "
          f"503 without Retry-After: {len(without_retry)}; no answer: {sum(1 for s in samples if not s.status)}; "
          f"p99 {np.percentile(answered, 99):.0f} ms; server RSS after warm-up {growth:+.1f} %")
    for sample in five_hundreds[:10]:
        print(f"  5xx: {sample.status} on {sample.kind} at {sample.at:.1f} s")
    return not five_hundreds and not without_retry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="2 minutes, to check the script still works")
    args = parser.parse_args()
    minutes = 2.0 if args.quick else args.minutes
    with scratch_dir(args.workdir, "soak-") as scratch:
        data_dir = scratch / "data"
        make_demo_data(data_dir)
        token = make_token(data_dir)
        port = free_port()
        server = [start_server(data_dir, port)]
        try:
            run = Run(port, read_catalog(port, token))
            say(f"{args.clients} clients for {minutes:g} min on {len(run.catalog.images)} images")
            threads = [threading.Thread(target=client, args=(run, seed), daemon=True) for seed in range(args.clients)]
            run.started = time.perf_counter()
            for thread in threads:
                thread.start()
            total = minutes * 60
            timetable: list[tuple[float, Callable[[], Fault]]] = [(total * 0.25, lambda: stop_database(run, data_dir)),
                         (total * 0.50, lambda: delete_file(run, data_dir)),
                         (total * 0.70, lambda: kill_server(run, server, data_dir))]
            faults: list[Fault] = []
            injector = threading.Thread(target=inject_faults, args=(run, timetable, faults), daemon=True)
            injector.start()
            rss_by_window: list[tuple[float, int]] = []
            next_sample = 0.0
            while run.now() < total:
                if run.now() >= next_sample:
                    rss_by_window.append((run.now(), rss(server[0].pid)))
                    say(f"  {len(run.samples):,} requests, server RSS {mib(rss_by_window[-1][1])}")
                    next_sample += WINDOW_S
                time.sleep(0.5)
            run.stop.set()
            for thread in [*threads, injector]:
                thread.join(timeout=150)
        finally:
            stop_server(server[0])
        ok = report(run, faults, rss_by_window, minutes)
    sys.exit(0 if ok or args.quick else 1)


if __name__ == "__main__":
    main()
