"""COGs read from an object store or over HTTP: which paths are remote, and the GDAL settings that
make reading them cheap, each with what it bought in bench/store_bench.py.

A tile of a remote COG costs round trips and bytes sent by the store, not disk reads: GDAL fetches
the header (the IFDs and tile offsets, which a COG keeps at its start), then the blocks the tile
needs. The reader keeps one dataset handle per thread (raster/reader.py), so the blocks one thread
decoded are not in another thread's block cache; what the threads can share is GDAL's cache of
fetched byte ranges, and the settings below make the reads go through it.

Measured on the 10980 x 10980 COGs of bench/store_bench.py (512 x 512 blocks, DEFLATE), 8 threads,
uint16 native-zoom tiles, Swift on this machine and 20 ms of round trip away.
"""

from __future__ import annotations

import os

__all__ = ["REMOTE_GDAL_OPTIONS", "REMOTE_PREFIXES", "is_remote"]

# GDAL's network file systems: OpenStack Swift, S3 (AWS, MinIO, Ceph RGW...), any HTTP URL, Azure,
# Google Cloud Storage, Alibaba OSS, Huawei OBS, WebHDFS.
REMOTE_PREFIXES = ("/vsiswift/", "/vsis3/", "/vsicurl/", "/vsiaz/", "/vsiadls/", "/vsigs/", "/vsioss/",
                   "/vsiobs/", "/vsiwebhdfs/")

# GDAL configuration options for reading remote COGs (process-wide options: the cache is one for
# the process, and GDAL reads most of them when its network file system starts).
REMOTE_GDAL_OPTIONS: dict[str, str] = {
    # No listing of the object's "directory" to look for sidecar files (.ovr, .aux.xml, .msk):
    # a COG carries its overviews and mask. Without it, every open lists the container (up to
    # 10,000 names a request): the first tile of a never-opened COG took 3 requests instead of 2.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # GDAL's cache of byte ranges fetched over HTTP, shared by every thread and handle (16 MiB by
    # default, a dozen 512 x 512 uint16 blocks): neighbouring tiles read by other threads find
    # their blocks' bytes here. Alone: a fifth fewer bytes from the store a tile. Bounded: at most
    # 256 MiB of a server's memory, beside the 256 MiB block cache (configure_block_cache).
    "CPL_VSIL_CURL_CACHE_SIZE": str(256 << 20),
    # A tile needing several blocks reads them one range after the other through that cache,
    # rather than in one parallel multi-range fetch that bypasses it. With the cache: half the
    # requests and bytes a tile (a uint16 tile at native zoom: 1.26 -> 0.60 requests, 2,323 ->
    # 1,081 KiB), a third to a half less CPU in the store's servers, +13-20 % tiles/s. A read
    # spanning many blocks makes as many requests as before (a 4096 x 4096 window: 46 either way).
    "GDAL_HTTP_MULTIRANGE": "SERIAL",
    # A store that answers 429 or 502/503/504 under load is asked again, up to 3 times, from 0.5 s
    # apart (GDAL's default: no retry), instead of the tile failing. Costs nothing while the store
    # answers: the same requests and times in every run.
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
}
# Measured and left out (no gain here, or a loss):
# - CPL_VSIL_CURL_ALLOWED_EXTENSIONS=.tif: no request less once EMPTY_DIR is set, and it would
#   refuse COGs registered in place under a URL without the extension.
# - GDAL_INGESTED_BYTES_AT_OPEN: the same requests even for an 80 KB header (a 10980^2 COG with
#   128 px blocks): GDAL 3.10 reads the tile offsets it needs lazily.
# - GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=YES: the same requests and bytes (and unused with SERIAL).
# - GDAL_HTTP_MULTIRANGE=SINGLE_GET: +50-70 % requests, +55-80 % bytes, +55-75 % store CPU a tile.
# - GDAL_HTTP_VERSION=2 / GDAL_HTTP_MULTIPLEX=YES: Swift's proxy (eventlet) speaks HTTP/1.1 only
#   (no h2c, no upgrade): no change. A store offering HTTP/2 over TLS was not measured here.
# - VSI_CACHE=TRUE: one request more at open, and a cache per file handle (8
#   threads x 32 handles x its size), where the shared cache above already holds the bytes.
# - GDAL_CACHEMAX above the server's 256 MiB (configure_block_cache) and CPL_VSIL_CURL_CHUNK_SIZE:
#   no fewer requests or bytes.


def is_remote(path: str | os.PathLike) -> bool:
    """Whether `path` is a GDAL virtual path onto a store or an HTTP server (not a local file)."""
    return os.fspath(path).startswith(REMOTE_PREFIXES)
