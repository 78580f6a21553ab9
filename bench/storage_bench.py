"""Storage benchmark: writing into the object store, and raw reads that flow from it.

    python bench/storage_bench.py [--size-mb 1024] [--workdir DIR] [--quick]

On a single-node OpenStack Swift cluster from Debian's packages (tools/swift_cluster.py; its Swift
API and its S3 API on loopback):

1. Upload of a --size-mb file (random bytes: nothing to gain from compression) into the store, as
   ingest and uploads do it (storage/stores.py: 64 MiB parts, 4 at once), through the Swift API and
   the S3 API: seconds and MB/s; and a single-part write of the same file for comparison.
2. A GDAL /vsicurl/ read of a 1024 x 1024 window of a 4096 x 4096 COG through the real
   `cogbrowser serve`'s `/cogs/{id}.tif`, with COGBROWSER_RAW_ACCESS=proxy and =redirect, in a
   fresh process each time (as QGIS opening the layer): the HTTP requests GDAL made (counted from
   libcurl's verbose output: a redirect followed counts as two), how many of them reached the
   store directly, the bytes of the ranges read, and the seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from _common import default_workdir, say, scratch_dir  # noqa: E402

WINDOW = 1024
COG_SIZE = 4096
READER = """
import sys, time, rasterio
from rasterio.windows import Window
started = time.perf_counter()
with rasterio.open('/vsicurl/' + sys.argv[1]) as src:
    data = src.read(window=Window(1536, 1536, 1024, 1024))
print(f"SECONDS {time.perf_counter() - started:.3f} SHAPE {data.shape} SUM {int(data.sum())}")
"""


def upload_figures(store_env: dict[str, str], workdir: Path, size_mb: int) -> list[tuple[str, float, float]]:
    from cogbrowser.storage import stores
    from cogbrowser.storage.locations import parse_storage

    big = workdir / f"random-{size_mb}mb.bin"
    if not big.exists() or big.stat().st_size != size_mb * 2**20:
        say(f"writing a {size_mb} MB file of random bytes")
        rng = np.random.default_rng(0)
        with open(big, "wb") as out:
            for _ in range(size_mb):
                out.write(rng.integers(0, 256, 2**20, dtype=np.uint8).tobytes())
    os.environ.update(store_env)
    figures = []
    s3 = stores.open_store(parse_storage("s3://bench/"))  # type: ignore[arg-type]
    s3._client.create_bucket(Bucket="bench")
    for label, url, part_bytes in (("Swift, 64 MiB parts x 4", "swift://bench/", stores.PART_BYTES),
                                   ("S3 API, 64 MiB parts x 4", "s3://bench/", stores.PART_BYTES),
                                   ("Swift, one part", "swift://bench/", 2**40),
                                   ("S3 API, one part", "s3://bench/", 2**40)):
        store = stores.open_store(parse_storage(url))  # type: ignore[arg-type]
        stores.PART_BYTES = part_bytes
        say(f"uploading {size_mb} MB: {label}")
        started = time.perf_counter()
        store.put_file(big, "big.bin")
        seconds = time.perf_counter() - started
        assert store.head("big.bin").size == big.stat().st_size  # type: ignore[union-attr]
        store.delete("big.bin")
        figures.append((label, seconds, size_mb * 2**20 / 1e6 / seconds))
    stores.PART_BYTES = 64 * 2**20
    return figures


def make_cog(path: Path) -> None:
    if path.exists():
        return
    say(f"making a {COG_SIZE} x {COG_SIZE} uint16 COG")
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(COG_SIZE), np.arange(COG_SIZE)).astype(np.uint16)
    data = (ramp + rng.integers(0, 200, (COG_SIZE, COG_SIZE))).astype(np.uint16)
    profile = {"driver": "COG", "width": COG_SIZE, "height": COG_SIZE, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": from_origin(500000, 5400000, 10, 10), "compress": "DEFLATE"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def read_figures(store_env: dict[str, str], workdir: Path) -> list[tuple[str, int, int, float, int]]:
    from tile_bench import free_port, start_server, stop_server

    cog = workdir / "window-4096.tif"
    make_cog(cog)
    rows = []
    with scratch_dir(workdir, "storage-") as data_dir:
        env = {**os.environ, **store_env, "COGBROWSER_DATA_DIR": str(data_dir),
               "COGBROWSER_STORAGE": "swift://bench/read"}
        env.pop("COGBROWSER_DATABASE_URL", None)
        subprocess.run([sys.executable, "-m", "cogbrowser", "ingest", str(cog), "--id", "window"], env=env,
                       check=True, capture_output=True)
        for mode in ("proxy", "redirect"):
            port = free_port()
            os.environ.update({**store_env, "COGBROWSER_STORAGE": "swift://bench/read", "COGBROWSER_RAW_ACCESS": mode})
            server = start_server(data_dir, port)
            try:
                url = f"http://127.0.0.1:{port}/cogs/window.tif"
                reader_env = {**os.environ, "CPL_CURL_VERBOSE": "YES", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
                for name in store_env:  # the reader has no store credentials: a client on the LAN
                    reader_env.pop(name, None)
                done = subprocess.run([sys.executable, "-c", READER, url], env=reader_env, capture_output=True,
                                      text=True, check=True)
                requests = re.findall(r"^> (GET|HEAD) (\S+)", done.stderr, re.MULTILINE)
                to_store = sum(1 for _, target in requests if not target.startswith("/cogs/"))
                received = sum(int(b) - int(a) + 1 for a, b in re.findall(r"^< Content-Range: bytes (\d+)-(\d+)/",
                                                                          done.stderr, re.MULTILINE | re.IGNORECASE))
                seconds = float(done.stdout.split("SECONDS ")[1].split()[0])
                rows.append((mode, len(requests), to_store, seconds, received))
            finally:
                stop_server(server)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--quick", action="store_true", help="a 128 MB upload")
    args = parser.parse_args(argv)
    size = 128 if args.quick else args.size_mb
    from swift_cluster import running

    with scratch_dir(args.workdir, "swift-") as folder, running(folder) as cluster:
        store_env = cluster.environment
        uploads = upload_figures(store_env, args.workdir, size)
        reads = read_figures(store_env, args.workdir)
    print(f"\nUpload of {size} MB into the store (single-node Swift on loopback, 2 cores)")
    print(f"{'how':28} {'seconds':>8} {'MB/s':>8}")
    for label, seconds, rate in uploads:
        print(f"{label:28} {seconds:8.2f} {rate:8.0f}")
    print(f"\nGDAL /vsicurl/ read of a {WINDOW} x {WINDOW} window of a {COG_SIZE} x {COG_SIZE} COG through /cogs")
    print(f"{'COGBROWSER_RAW_ACCESS':22} {'requests':>9} {'to store':>9} {'seconds':>8} {'bytes':>11}")
    for mode, count, to_store, seconds, received in reads:
        print(f"{mode:22} {count:9} {to_store:9} {seconds:8.3f} {received:11,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
