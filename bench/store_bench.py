"""Store benchmark: map tiles read from COGs on the local disk, in OpenStack Swift (/vsiswift/), in the
same cluster's S3 API (/vsis3/) and in Swift 20 ms of round trip away, with GDAL's remote-reading
options measured one by one.

    python bench/store_bench.py [--size 10980] [--requests 200] [--study-requests 160] [--workdir DIR]
                                [--quick]

The two Sentinel-2-sized COGs of tile_bench.py (3 bands uint8, 4 bands uint16, made by cogbrowser's
own ingest, cached in the work dir) are put into two single-node Swift clusters (tools/swift_cluster.py):
one on loopback, one in a network namespace 20 ms of round trip away (tools/netem.py). Every
measurement runs in a fresh Python process (this script with --child), so GDAL's caches start empty
and each set of options is read at start, as a server would:

- the first tile of a never-opened COG in a process that has read a tile of the other COG (as a
  running server would have), through a relay that counts the new connections and HTTP requests
  reaching the store: its milliseconds and its round trips;
- tiles rendered in-process as ogc/tiles.py renders them (read_area, render, encode: tile_bench's
  render_tile) by 8 long-lived threads, as a server's: tiles/s, p50, p99, and the CPU each tile
  cost the reader's process and the store's servers (they share this machine's cores).

Targets (issue 15): from the store on loopback >= 80 % of the local disk's tiles/s; 20 ms away
>= 50 % and p99 < 400 ms; the first tile of a never-opened COG in <= 4 round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tools"))
from _common import (  # noqa: E402
    OtherLoad,
    default_workdir,
    drop_dirty_pages,
    mib,
    print_table,
    say,
    scratch_dir,
    warm_page_cache,
)

FULL_SIZE = 10980
CLIENTS = 8
CONTAINER = "cogs"
COG_VERSION = 1
TARGET_LOOPBACK_SHARE = 0.80
TARGET_DELAYED_SHARE = 0.50
TARGET_P99_MS = 400.0
TARGET_ROUND_TRIPS = 4
STUDY_CASE = "uint16 png native"


# -- the COGs ------------------------------------------------------------------------------------------
def cached_cogs(workdir: Path, size: int) -> tuple[dict, dict[str, Path]]:
    """{dataset: ImageRecord}, {dataset: COG}: tile_bench's sources through cogbrowser's ingest, kept
    in the work dir (the catalog they were made with is thrown away; the bench needs the rows only)."""
    folder = workdir / f"store-cogs-v{COG_VERSION}-{size}"
    records = folder / "records.pickle"
    files = {name: folder / f"{name}.tif" for name in ("uint8", "uint16")}
    if records.is_file() and all(path.is_file() for path in files.values()):
        say(f"using the cached COGs in {folder}")
        return pickle.loads(records.read_bytes()), files
    from tile_bench import ingest_sources, scene_sources

    sources = scene_sources(workdir, size)
    folder.mkdir(parents=True, exist_ok=True)
    with scratch_dir(workdir, "store-ingest-") as scratch:
        rows = ingest_sources(sources, scratch / "data")
        for name, row in rows.items():
            shutil.copyfile(row.file, files[name])
    records.write_bytes(pickle.dumps({name: row.image for name, row in rows.items()}))
    return {name: row.image for name, row in rows.items()}, files


def header_bytes(path: Path) -> int:
    """Where the first tile's data starts: the bytes GDAL must read before any pixel (the IFDs and
    tile offsets the COG layout puts first)."""
    import rasterio

    with rasterio.open(path) as src:
        offsets = [int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))]
        for level in range(len(src.overviews(1))):
            with rasterio.open(path, overview_level=level) as ovr:
                offsets.append(int(ovr.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)))
    return min(offsets)


# -- the stores -----------------------------------------------------------------------------------------
def put_object(cluster, name: str, path: Path) -> float:
    """PUT a file into the container (streamed), seconds."""
    storage, token = cluster.token()
    urllib.request.urlopen(urllib.request.Request(f"{storage}/{CONTAINER}", method="PUT",
                                                  headers={"X-Auth-Token": token}), timeout=60).close()
    t0 = time.perf_counter()
    with path.open("rb") as body:
        request = urllib.request.Request(f"{storage}/{CONTAINER}/{name}", data=body, method="PUT",
                                         headers={"X-Auth-Token": token, "Content-Length": str(path.stat().st_size)})
        with urllib.request.urlopen(request, timeout=600) as answer:
            if answer.status != 201:
                raise SystemExit(f"PUT {name}: HTTP {answer.status}")
    return time.perf_counter() - t0


@dataclass
class Store:
    """Where a run reads the COGs: a path prefix and the environment GDAL needs. A remote store also
    has the Swift proxy's own address (the first tile is counted through a relay in front of it),
    the folder of its servers (their CPU is measured), the delay a relay must add where the kernel
    has no netem, and whether its loads go through a relay process (the far store: its requests and
    bytes are counted)."""

    name: str
    prefix: str = ""                          # "" (local paths), "/vsiswift/" or "/vsis3/"
    env: dict[str, str] = field(default_factory=dict)
    direct: tuple[str, int] | None = None
    folder: Path | None = None
    relay_delay: float = 0.0
    through_relay: bool = False

    def paths(self, files: dict[str, Path]) -> dict[str, str]:
        if not self.prefix:
            return {name: str(path) for name, path in files.items()}
        return {name: f"{self.prefix}{CONTAINER}/{name}.tif" for name in files}

    def cpu(self) -> float:
        """CPU seconds used so far by this store's servers (whose command lines name its folder)."""
        import psutil

        if self.folder is None:
            return 0.0
        total = 0.0
        for process in psutil.process_iter(["cmdline", "cpu_times"]):
            if any(str(self.folder) in part for part in process.info["cmdline"] or ()):
                total += process.info["cpu_times"].user + process.info["cpu_times"].system
        return total


def counted(store: Store) -> Store:
    """The store with its loads through a relay process that counts requests and bytes (a hop of
    its own on loopback: the option study's figures, not the main table's)."""
    return Store(store.name, store.prefix, store.env, store.direct, store.folder, store.relay_delay, True)


def address(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


# -- the options -----------------------------------------------------------------------------------------
def option_study(header: int) -> list[tuple[str, dict[str, str]]]:
    """(label, options) of each GDAL setting tried alone on GDAL's defaults (the reader's
    remote options left out, its GDAL_OPTIONS kept), then the reader as it is, then remote.py's (the same,
    since the reader uses them: the row stays to show it)."""
    ingest = str(max(16384, -(-header // 16384) * 16384))
    base = {"_REMOTE_OPTIONS": "{}"}
    alone = [
        ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS=.tif", {"CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}),
        (f"GDAL_INGESTED_BYTES_AT_OPEN={ingest}", {"GDAL_INGESTED_BYTES_AT_OPEN": ingest}),
        ("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=YES", {"GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES"}),
        ("GDAL_HTTP_MULTIRANGE=SINGLE_GET", {"GDAL_HTTP_MULTIRANGE": "SINGLE_GET"}),
        ("GDAL_HTTP_MULTIRANGE=SERIAL", {"GDAL_HTTP_MULTIRANGE": "SERIAL"}),
        ("GDAL_HTTP_VERSION=2 + GDAL_HTTP_MULTIPLEX=YES", {"GDAL_HTTP_VERSION": "2", "GDAL_HTTP_MULTIPLEX": "YES"}),
        ("CPL_VSIL_CURL_CACHE_SIZE=256 MiB", {"CPL_VSIL_CURL_CACHE_SIZE": str(256 << 20)}),
        ("VSI_CACHE=TRUE, VSI_CACHE_SIZE=16 MiB", {"VSI_CACHE": "TRUE", "VSI_CACHE_SIZE": str(16 << 20)}),
        ("GDAL_CACHEMAX=1024 MiB (reader: 256)", {"_BLOCK_CACHE_MIB": "1024"}),
        ("CPL_VSIL_CURL_CHUNK_SIZE=256 KiB", {"CPL_VSIL_CURL_CHUNK_SIZE": str(256 << 10)}),
        ("GDAL_HTTP_MAX_RETRY=3, RETRY_DELAY=0.5", {"GDAL_HTTP_MAX_RETRY": "3", "GDAL_HTTP_RETRY_DELAY": "0.5"}),
        ("CPL_VSIL_CURL_CACHE_SIZE=256 MiB + MULTIRANGE=SERIAL",
         {"CPL_VSIL_CURL_CACHE_SIZE": str(256 << 20), "GDAL_HTTP_MULTIRANGE": "SERIAL"}),
    ]
    return [("GDAL's defaults, no EMPTY_DIR", {**base, "_READER_OPTIONS": "{}"}),
            ("GDAL's defaults + EMPTY_DIR (reader.GDAL_OPTIONS)", base),
            *((label, {**base, **options}) for label, options in alone),
            (READER, {}),
            (RECOMMENDED, recommended())]


READER, RECOMMENDED = "reader as it is", "remote.py's options"
SERVED_RECOMMENDED = "+ remote.py's options (environment)"


def recommended() -> dict[str, str]:
    """REMOTE_GDAL_OPTIONS as the reader's remote options (the child sets them)."""
    from cogbrowser.raster.remote import REMOTE_GDAL_OPTIONS

    return {"_REMOTE_OPTIONS": json.dumps(REMOTE_GDAL_OPTIONS)}


# -- a child process: one set of options, fresh GDAL ---------------------------------------------------
def run_child(job: dict, on_warm=None) -> dict:
    """This script in a fresh process: `job`'s environment and options, then the first tile (timed
    alone) and the cases (8 threads). With job["warm"], the child first renders that tile (of the
    other COG: imports, PROJ, the store's auth and connection paid), then calls `on_warm` here
    before it times its first tile: what a running server pays for a COG it never opened."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFT_", "AWS_", "GDAL_", "CPL_", "VSI_"))}
    env.update(job["env"])
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child"], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(job) + "\n")
    child.stdin.flush()
    if job.get("warm"):
        if child.stdout.readline().strip() == "warmed" and on_warm is not None:
            on_warm()
        child.stdin.write("go\n")
        child.stdin.flush()
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"the child failed:\n{err[-3000:]}")
    return json.loads(out)


def child_main() -> int:
    job = json.loads(sys.stdin.readline())
    import morecantile

    from cogbrowser.raster import reader
    from tile_bench import Ingested, render_tile

    if "_READER_OPTIONS" in os.environ:
        reader.GDAL_OPTIONS = json.loads(os.environ["_READER_OPTIONS"])
    if "_REMOTE_OPTIONS" in os.environ:  # what the reader sets for the process at its first remote open
        reader.REMOTE_GDAL_OPTIONS = json.loads(os.environ["_REMOTE_OPTIONS"])  # type: ignore[attr-defined]
    reader.configure_block_cache(int(os.environ.get("_BLOCK_CACHE_MIB", reader.DEFAULT_BLOCK_CACHE_MIB)))
    tms = morecantile.tms.get("WebMercatorQuad")
    records = pickle.loads(Path(job["records"]).read_bytes())
    rows = {name: Ingested(records[name], path) for name, path in job["paths"].items()}
    result: dict = {"cases": {}}
    if job.get("warm"):
        dataset, fmt, request = job["warm"]
        render_tile(rows[dataset], tms, fmt, tuple(request))
        print("warmed", flush=True)
        sys.stdin.readline()
    cpu = time.process_time()
    dataset, fmt, request = job["first"]
    t0 = time.perf_counter()
    render_tile(rows[dataset], tms, fmt, tuple(request))
    result["first_ms"] = (time.perf_counter() - t0) * 1000
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for label, (dataset, fmt, requests) in job["cases"].items():
            result["cases"][label] = load(pool, rows[dataset], tms, fmt, [tuple(r) for r in requests])
    result["cpu"] = time.process_time() - cpu
    print(json.dumps(result))
    return 0


def load(pool: ThreadPoolExecutor, row, tms, fmt: str, requests: list) -> dict:
    """The tiles rendered by the pool's CLIENTS threads (long-lived, as a server's: each keeps its
    handles open from case to case): the wall time and each tile's latency."""
    from tile_bench import render_tile

    def one(request) -> tuple[float, str | None]:
        t0 = time.perf_counter()
        try:
            render_tile(row, tms, fmt, request)
            error = None
        except Exception as exc:  # reported, the run goes on
            error = f"{type(exc).__name__}: {exc}"
        return (time.perf_counter() - t0) * 1000, error

    t0 = time.perf_counter()
    done = list(pool.map(one, requests))
    errors = [error for _, error in done if error]
    return {"wall": time.perf_counter() - t0, "latencies": [ms for ms, _ in done], "errors": errors[:3],
            "n_errors": len(errors)}


# -- figures ---------------------------------------------------------------------------------------------
@dataclass
class Figures:
    """Repeated runs of one thing: tiles/s of each run, latencies pooled, CPU and counts a tile."""

    rates: list[float]
    p50: float
    p99: float
    errors: int
    cpu_ms: float        # the reader's process, a tile (median)
    store_cpu_ms: float  # the store's servers, a tile (median)
    requests: float | None  # HTTP requests a tile, where counted (median)
    kib: float | None       # KiB from the store a tile, where counted (median)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> str:
        return f"{min(self.rates):.0f}-{max(self.rates):.0f}" if len(self.rates) > 1 else "-"


def figures(results: list[dict], labels: list[str] | None = None) -> Figures:
    """The cases `labels` (default: all) of repeated runs: tiles over walls per run."""
    rates, latencies, errors, cpu, store_cpu, requests, kib = [], [], 0, [], [], [], []
    for result in results:
        cases = [result["cases"][label] for label in (labels or result["cases"])]
        n = sum(len(c["latencies"]) for c in cases)
        rates.append(n / sum(c["wall"] for c in cases))
        latencies.extend(v for c in cases for v in c["latencies"])
        errors += sum(c["n_errors"] for c in cases)
        tiles = sum(len(c["latencies"]) for c in result["cases"].values()) + 1  # and the first tile
        cpu.append(result["cpu"] * 1000 / tiles)
        store_cpu.append(result.get("store_cpu", 0.0) * 1000 / tiles)
        if "counts" in result:
            requests.append(result["counts"]["requests"] / tiles)
            kib.append(result["counts"]["bytes"] / 1024 / tiles)
    values = np.asarray(latencies)
    return Figures(rates, float(np.percentile(values, 50)), float(np.percentile(values, 99)), errors,
                   statistics.median(cpu), statistics.median(store_cpu),
                   statistics.median(requests) if requests else None, statistics.median(kib) if kib else None)


@dataclass
class FirstTile:
    ms: list[float]
    requests: list[str]  # of the first run
    connections: int

    @property
    def after_auth(self) -> int:
        return sum("/auth/" not in r for r in self.requests)

    @property
    def summary(self) -> str:
        auth = len(self.requests) - self.after_auth
        return f"{self.after_auth}{f' + {auth} auth' if auth else ''}, {self.connections} new conn"


# -- phase 2: the real server -------------------------------------------------------------------------
@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (tile_bench.start_server hands os.environ to the server)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def served(store: Store, options: dict[str, str], files: dict[str, Path], records: dict, cases: dict,
           data_dir: Path) -> dict[str, dict]:
    """`cogbrowser serve` with the COGs registered in place (`ingest --in-place`: a file, or the
    objects already in the store), tile_bench's load on `cases` (8 HTTP clients): {label: figures}."""
    import netem
    import swift_cluster
    from tile_bench import Ingested, free_port, run_load, start_server, stop_server, url

    relay = None
    env = dict(store.env)
    if store.through_relay:
        assert store.direct is not None
        relay, host, port = netem.spawn_relay(store.direct, delay=store.relay_delay)
        env = swift_cluster.Cluster(f"http://{host}:{port}").environment
    scheme = {"/vsiswift/": "swift://", "/vsis3/": "s3://"}.get(store.prefix)
    try:
        with environment({**env, **options}):
            if not data_dir.exists():
                for name, path in files.items():
                    target = str(path) if scheme is None else f"{scheme}{CONTAINER}/{name}.tif"
                    subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "ingest",
                                    "--in-place", target, "--id", records[name].id],
                                   env={k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"},
                                   check=True, capture_output=True)
            port = free_port()
            server = start_server(data_dir, port)
            try:
                rows = {name: Ingested(image, Path()) for name, image in records.items()}
                warm = [url(rows[dataset], fmt, (r[0], r[1], r[2], {**r[3], "rescale": f"0,{1000 + i}"}))
                        for i, (dataset, fmt, requests) in enumerate(cases.values()) for r in requests[:1]]
                run_load(port, warm)
                out = {}
                for label, (dataset, fmt, requests) in cases.items():
                    result = run_load(port, [url(rows[dataset], fmt, tuple(r)) for r in requests])
                    out[label] = {"wall": result.wall, "latencies": result.latencies_ms,
                                  "n_errors": sum(v for k, v in result.statuses.items() if k != 200)}
                return out
            finally:
                stop_server(server)
    finally:
        if relay is not None:
            netem.stop_relay(relay)


# -- main ------------------------------------------------------------------------------------------------
def build_cases(records: dict, n: int) -> dict[str, tuple[str, str, list]]:
    """{label: (dataset, "png", requests)}: tile_bench's tiles (native, native-3, zoomed out) of each COG,
    PNG, every request's rescale distinct."""
    import morecantile

    from cogbrowser.tile_grid import zoom_range
    from tile_bench import Ingested, zoom_levels
    from tile_bench import build_cases as tile_cases

    tms = morecantile.tms.get("WebMercatorQuad")
    zooms = {name: zoom_levels(tms, image.bbox, zoom_range(image, tms)[1]) for name, image in records.items()}
    rows = {name: Ingested(image, Path()) for name, image in records.items()}
    return {f"{c.dataset} {c.fmt} {c.zoom_name}": (c.dataset, c.fmt, c.requests)
            for c in tile_cases(tms, rows, zooms, n) if c.fmt == "png"}


class Bench:
    """The measurements: each a fresh child process on one store with one set of options."""

    def __init__(self, files: dict[str, Path], records_file: Path, first: list, warm: list) -> None:
        self.files, self.records_file, self.first, self.warm = files, records_file, first, warm

    def job(self, store: Store, options: dict[str, str], cases: dict, env: dict[str, str]) -> dict:
        return {"env": {**env, **options}, "paths": store.paths(self.files), "records": str(self.records_file),
                "first": self.first, "cases": cases}

    def load(self, store: Store, options: dict[str, str], cases: dict) -> dict:
        """The first tile and `cases` at 8 threads, with the store's CPU; the far store through a
        relay process that counts requests and bytes (and adds the delay where netem cannot)."""
        import psutil

        import netem
        import swift_cluster

        relay = None
        env = store.env
        if store.through_relay:
            assert store.direct is not None
            relay, host, port = netem.spawn_relay(store.direct, delay=store.relay_delay)
            env = swift_cluster.Cluster(f"http://{host}:{port}").environment
        try:
            cpu = store.cpu()
            result = run_child(self.job(store, options, cases, env))
            result["store_cpu"] = store.cpu() - cpu
        finally:
            if relay is not None:
                times = psutil.Process(relay.pid).cpu_times()
                counts = netem.stop_relay(relay)
        if relay is not None:
            result["counts"] = counts
            result["relay_cpu"] = times.user + times.system
        return result

    def first_tile(self, store: Store, options: dict[str, str],
                   fresh: bool = False) -> tuple[float, list[str], int]:
        """The first tile of a never-opened COG in a process that has read another COG of the store
        (`fresh`: in a new process, its auth and connections included), through a counting relay in
        this process (which adds the delay where netem cannot): ms, the requests and the new
        connections after the other COG's tile."""
        import netem
        import swift_cluster

        assert store.direct is not None
        relay = netem.Relay(store.direct, delay=store.relay_delay)
        before = [0, 0]

        def warmed() -> None:
            before[:] = [len(relay.requests), relay.connections]

        with relay.running():
            env = swift_cluster.Cluster(relay.url).environment
            job = {**self.job(store, options, {}, env), "warm": None if fresh else self.warm}
            result = run_child(job, warmed)
        return result["first_ms"], relay.requests[before[0]:], relay.connections - before[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE)
    parser.add_argument("--requests", type=int, default=200, help="tiles per case and store (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each store, interleaved (default 3)")
    parser.add_argument("--study-requests", type=int, default=160,
                        help=f"tiles of '{STUDY_CASE}' for each option tried (default 160)")
    parser.add_argument("--study-repeat", type=int, default=2, help="runs of each option, interleaved (default 2)")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="2048 x 2048 COGs, 24 tiles a case, one run of each")
    parser.add_argument("--no-served", action="store_true", help="skip the tiles through `cogbrowser serve`")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main()
    import rasterio

    import netem
    import swift_cluster

    size = 2048 if args.quick else args.size
    n = 24 if args.quick else args.requests
    study_n = 24 if args.quick else args.study_requests
    repeat, study_repeat = (1, 1) if args.quick else (args.repeat, args.study_repeat)
    workdir = args.workdir.expanduser().resolve()
    records, files = cached_cogs(workdir, size)
    for path in files.values():
        warm_page_cache(path)
    header = header_bytes(files["uint16"])
    cases = build_cases(records, n)
    study_cases = {STUDY_CASE: (cases[STUDY_CASE][0], cases[STUDY_CASE][1], cases[STUDY_CASE][2][:study_n])}
    warm_case = cases["uint8 png mid"]
    bench = Bench(files, files["uint8"].parent / "records.pickle",
                  [cases[STUDY_CASE][0], "png", cases[STUDY_CASE][2][0]], [warm_case[0], "png", warm_case[2][0]])
    best = recommended()
    settings = {READER: {}, RECOMMENDED: best}

    with scratch_dir(workdir, "store-") as scratch, ExitStack() as stack:
        say("starting the Swift cluster on loopback")
        near = stack.enter_context(swift_cluster.running(scratch / "swift-near"))
        say("making the network namespace 20 ms of round trip away")
        space = stack.enter_context(netem.delayed_namespace())
        say(f"  {space.name} at {space.inside} ({space.method}); starting a Swift cluster in it")
        far_port = swift_cluster.free_port()
        far = stack.enter_context(swift_cluster.running(scratch / "swift-far", far_port, host=space.inside,
                                                        wrap=space.command([])))
        connect_ms, rtt_ms = netem.measure_round_trip(space)
        uploads = []
        for cluster, where in ((near, "loopback"), (far, "the namespace")):
            for name, path in files.items():
                seconds = put_object(cluster, f"{name}.tif", path)
                uploads.append([where, f"{name}.tif", mib(path.stat().st_size), seconds,
                                path.stat().st_size / 1e6 / seconds])
                say(f"  PUT {name}.tif into {where}: {seconds:.1f} s")
        drop_dirty_pages()  # the uploads' write-back must not slow the first runs down
        delay = space.delay_ms / 1000 if space.method == "relay" else 0.0
        local = Store("local disk")
        stores = [local,
                  Store("Swift /vsiswift/ loopback", "/vsiswift/", near.environment, address(near.url),
                        scratch / "swift-near"),
                  Store("S3 /vsis3/ loopback", "/vsis3/", near.environment, address(near.url), scratch / "swift-near"),
                  Store("Swift /vsiswift/ 20 ms RTT", "/vsiswift/", {}, address(far.url), scratch / "swift-far",
                        delay, through_relay=True)]
        load_note = OtherLoad()
        runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
        firsts: dict[tuple[str, str], list[tuple[float, list[str], int]]] = defaultdict(list)
        for rep in range(repeat):
            for store in stores:
                for setting, options in settings.items():
                    if store is local and setting != READER:
                        continue  # the remote options change nothing for a local file
                    say(f"run {rep + 1}/{repeat}: {store.name}, {setting}: {len(cases)} cases x {n} tiles")
                    runs[store.name, setting].append(bench.load(store, options, cases))
                    f = figures(runs[store.name, setting][-1:])
                    say(f"  {f.rate:.1f} tiles/s, p99 {f.p99:.0f} ms, errors {f.errors}")
                    if store.direct:
                        firsts[store.name, setting].append(bench.first_tile(store, options))
        fresh = {store.name: bench.first_tile(store, best, fresh=True) for store in stores[1:]}
        study: dict[tuple[str, str], list[dict]] = defaultdict(list)
        study_firsts: dict[tuple[str, str], list[tuple[float, list[str], int]]] = defaultdict(list)
        for rep in range(study_repeat):
            for store in (stores[1], stores[3]):
                for label, options in option_study(header):
                    say(f"study {rep + 1}/{study_repeat}: {store.name}: {label}")
                    study_firsts[store.name, label].append(bench.first_tile(store, options))
                    study[store.name, label].append(bench.load(counted(store), options, study_cases))
        served_runs: dict[tuple[str, str], dict[str, dict]] = {}
        if not args.no_served:
            from cogbrowser.raster.remote import REMOTE_GDAL_OPTIONS

            for index, store in enumerate(stores):
                for setting, options in ((READER, {}), (SERVED_RECOMMENDED, REMOTE_GDAL_OPTIONS)):
                    if store is local and setting != READER:
                        continue
                    say(f"cogbrowser serve, {store.name}, {setting}: {len(cases)} cases x {n} tiles")
                    served_runs[store.name, setting] = served(store, dict(options), files, records, cases,
                                                              scratch / f"served-{index}")
        note = load_note.note()
        h2 = http2_offered(near.url)

    # -- report
    print(f"\nmachine: {os.cpu_count()} CPUs, rasterio {rasterio.__version__}, GDAL {rasterio.__gdal_version__}")
    for name, path in files.items():
        with rasterio.open(path) as cog:
            print(f"{name}: {cog.width} x {cog.height} x {cog.count} {cog.dtypes[0]}, "
                  f"{cog.compression.name if cog.compression else '-'}, blocks {cog.block_shapes[0]}, "
                  f"overviews {cog.overviews(1)}, {mib(path.stat().st_size)}")
    print(f"uint16 COG: header (IFDs and tile offsets, before the first tile's bytes) {header:,} bytes")
    print(f"namespace {space.name}: delay by {space.method} ({space.delay_ms:g} ms each way); measured: new "
          f"connection and first byte {connect_ms:.1f} ms, round trip {rtt_ms:.1f} ms")
    print(f"Swift's proxy and HTTP/2 (curl): {h2}")
    print(f"while measuring, {note}")
    print_table("Uploads into the stores (Swift API PUT, one stream)", ["store", "object", "size", "s", "MB/s"],
                uploads)

    baseline = figures(runs[local.name, READER]).rate
    rows, failures = [], 0
    for store in stores:
        for setting in settings:
            if (store.name, setting) not in runs:
                continue
            f = figures(runs[store.name, setting])
            share = f.rate / baseline
            first = FirstTile([ms for ms, _, _ in firsts[store.name, setting]] or
                              [r["first_ms"] for r in runs[store.name, setting]],
                              *(firsts[store.name, setting][0][1:] if firsts[store.name, setting] else ([], 0)))
            verdict = True
            if "20 ms" in store.name:
                target = f">={TARGET_DELAYED_SHARE:.0%}, p99<{TARGET_P99_MS:.0f}, <={TARGET_ROUND_TRIPS} req"
                verdict = share >= TARGET_DELAYED_SHARE and f.p99 < TARGET_P99_MS
            elif store.prefix:
                target = f">={TARGET_LOOPBACK_SHARE:.0%}, <={TARGET_ROUND_TRIPS} req"
                verdict = share >= TARGET_LOOPBACK_SHARE
            else:
                target = "-"
            if store.prefix and first.after_auth > TARGET_ROUND_TRIPS:
                verdict = False
            failures += setting == RECOMMENDED and not verdict
            rows.append([store.name, setting, f.rate, f.spread, f.p50, f.p99, f"{share:.0%}",
                         statistics.median(first.ms), first.summary if store.prefix else "-", f.cpu_ms,
                         f.store_cpu_ms, per_tile(f.requests, ".2f"), per_tile(f.kib, ",.0f"), f.errors, target,
                         "met" if verdict else "MISSED"])
    print_table(f"Tiles in-process ({CLIENTS} threads; read_area + render + encode PNG), all {len(cases)} cases x {n} "
                f"together, median of {repeat} runs (share: of the local disk's tiles/s)",
                ["store", "GDAL options", "tiles/s", "runs", "p50 ms", "p99 ms", "share", "first tile ms",
                 "first tile: requests", "reader CPU ms/tile", "store CPU ms/tile", "req/tile", "KiB/tile", "errors",
                 "target", "verdict"], rows)
    per_case = []
    for label in cases:
        for store in stores:
            for setting in settings:
                if (store.name, setting) in runs:
                    f = figures(runs[store.name, setting], [label])
                    per_case.append([label, store.name, setting, f.rate, f.spread, f.p50, f.p99])
    print_table("Per case", ["case", "store", "GDAL options", "tiles/s", "runs", "p50 ms", "p99 ms"], per_case)
    study_rows = []
    for (store_name, label), results in study.items():
        f = figures(results)
        first = FirstTile([ms for ms, _, _ in study_firsts[store_name, label]], *study_firsts[store_name, label][0][1:])
        study_rows.append([store_name, label, first.after_auth, first.connections, statistics.median(first.ms),
                           f.rate, f.spread, f.p50, f.p99, per_tile(f.requests, ".2f"), per_tile(f.kib, ",.0f"),
                           f.store_cpu_ms, f.errors])
    print_table(f"Each GDAL option alone on GDAL's defaults (+ EMPTY_DIR), then the reader as it is and "
                f"remote.py's: the first tile of a never-opened COG (requests after auth, new connections, ms) "
                f"and '{STUDY_CASE}' x {study_n} at {CLIENTS} threads through a "
                f"counting relay (requests and KiB from the store a tile), median of {study_repeat} runs",
                ["store", "option", "first: req", "conn", "first ms", "tiles/s", "runs", "p50 ms", "p99 ms",
                 "req/tile", "KiB/tile", "store CPU ms/tile", "errors"], study_rows)
    if served_runs:
        served_rows = []
        base = served_figures(served_runs[local.name, READER])[0]
        for (name, setting), result in served_runs.items():
            rate, p50, p99, errors = served_figures(result)
            served_rows.append([name, setting, rate, p50, p99, f"{rate / base:.0%}", errors])
        print_table(f"Tiles from the real `cogbrowser serve` (its default threads; {CLIENTS} HTTP clients, keep-alive, "
                    f"loopback), the COGs registered in place (`ingest --in-place`), all {len(cases)} cases x {n} "
                    f"together, one run (share: of the server on the local disk)",
                    ["store", "server", "tiles/s", "p50 ms", "p99 ms", "share", "not 200"], served_rows)
    for store in stores[1:]:
        for setting in settings:
            requests = firsts[store.name, setting][0][1]
            print(f"\nfirst tile, {store.name}, {setting}:" + "".join(f"\n  {r}" for r in requests))
    for name, (ms, requests, connections) in fresh.items():
        print(f"\nfirst tile in a fresh process (its imports and PROJ's start included), {name}, recommended: "
              f"{ms:.0f} ms, {connections} new connections:" + "".join(f"\n  {r}" for r in requests))
    from cogbrowser.raster import reader
    from cogbrowser.raster.remote import REMOTE_GDAL_OPTIONS

    print(f"\n{READER}: GDAL_OPTIONS {reader.GDAL_OPTIONS}, REMOTE_GDAL_OPTIONS {reader.REMOTE_GDAL_OPTIONS}")  # type: ignore[attr-defined]
    print(f"{RECOMMENDED} (cogbrowser.raster.remote.REMOTE_GDAL_OPTIONS in place of REMOTE_OPTIONS): "
          f"{REMOTE_GDAL_OPTIONS}")
    if size != FULL_SIZE:
        print("\n(--quick / small size: the figures do not count against the targets)")
    return 1 if size == FULL_SIZE and failures else 0


def served_figures(result: dict[str, dict]) -> tuple[float, float, float, int]:
    """tiles/s, p50, p99 and answers other than 200 of a served run, all cases together."""
    latencies = np.concatenate([np.asarray(case["latencies"]) for case in result.values()])
    rate = len(latencies) / sum(case["wall"] for case in result.values())
    return (rate, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)),
            sum(case["n_errors"] for case in result.values()))


def per_tile(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def http2_offered(url: str) -> str:
    """Whether the proxy answers HTTP/2: with prior knowledge (h2c), and to curl's upgrade offer."""
    answers = []
    for flag in ("--http2-prior-knowledge", "--http2"):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version}", flag, f"{url}/healthcheck"],
                             capture_output=True, text=True)
        answers.append(f"{flag}: HTTP/{out.stdout or '-'} (curl exit {out.returncode})")
    return "; ".join(answers)


if __name__ == "__main__":
    sys.exit(main())
