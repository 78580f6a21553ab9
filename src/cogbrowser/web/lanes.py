"""Admission lanes: which worker pool a request waits for, and how long it may wait.

Requests are not alike. A health check or a catalog read takes milliseconds; a map tile tens of
milliseconds; a 4096 x 4096 GetMap, an export or a time series seconds. With one pool for all, eight
big renders made the health check wait 21 s. So each kind has its own lane — its own threads and a
short queue — and a request that finds its lane full, or waits in it longer than the lane allows,
is answered 503 with Retry-After at once instead of hanging (web/server.py runs the lanes).

This module only decides: pure functions over a request's method, path, query and (for a page's
callback) the callback's output, so the rules read and test on their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import parse_qsl

CHEAP, TILES, HEAVY = "cheap", "tiles", "heavy"

HEAVY_MAP_PIXELS = 2048 * 2048  # a WMS GetMap over this many pixels renders in the heavy lane (a 4K
#                                 screen's QGIS canvas, 3840 x 2160, stays in the tiles lane)
DASH_CALLBACK_PATH = "/_dash-update-component"
CALLBACK_PEEK_BYTES = 8192  # Dash writes "output" first in a callback's body: the start says which callback

_HEAVY_PATH = re.compile(r"^/api/v1/(images/[^/]+/(export|statistics)"
                         r"|collections/[^/]+/(timeseries|timelapse\.(gif|mp4)))$")
_TILE_PATH = re.compile(r"^/(tiles|wmts|cogs|ui/basemap/tiles|ui/basemap/labels)(/|$)"
                        r"|^/api/v1/images/[^/]+/(point|preview\.[a-z]+)$|^/api/v1/collections/[^/]+/point$")
_OUTPUT = re.compile(rb'"output"\s*:\s*"((?:[^"\\]|\\.)*)"')


# Interactive first. A page's callback is a user waiting; on a machine whose cores all render tiles
# it got a fraction of a core (an Analytics change took 1.8 x as long under 8 tile clients). So while
# one runs, tiles that start render fewer at once (`tiles_beside_interactive`), leaving the rest of
# the cores to the callback and its PostgreSQL queries; no tile waits longer than INTERACTIVE_YIELD
# for that, so a page clicking constantly slows tiles, never stops them.
INTERACTIVE_YIELD = 0.1  # seconds


def tiles_beside_interactive(tile_threads: int) -> int:
    """Tiles rendering at once while a page's callback runs: half the tile threads (one at least)."""
    return max(1, tile_threads // 2)


@dataclass(frozen=True)
class Lane:
    """A worker pool: `threads` run its requests, `queue` more may wait, none longer than `max_wait`
    seconds; a refused request is told to come back after `retry_after` seconds."""

    name: str
    threads: int
    queue: int
    max_wait: float
    retry_after: int

    @property
    def capacity(self) -> int:
        """Requests the lane holds at once, running or waiting."""
        return self.threads + self.queue


def plan_lanes(threads: int, heavy_threads: int, heavy_queue: int, render_deadline: float) -> dict[str, Lane]:
    """The three lanes of a server with `threads` request threads (one a core: the tiles lane's,
    measured best for tiles) and `heavy_threads` for big renders. Cheap requests get twice as many
    threads (four at least): they mostly wait for PostgreSQL, not for a core, and a filter change of
    the Analytics page sends three callbacks at once (with two threads the third waited for one of
    them, ~0.3 s). Heavy work waits at most a quarter of
    the time one render may run (`render_deadline`): waiting and drawing together stay under 1.25
    times the deadline (25 s by default), however busy the server is."""
    return {
        CHEAP: Lane(CHEAP, threads=max(4, 2 * threads), queue=64, max_wait=10.0, retry_after=1),
        TILES: Lane(TILES, threads=threads, queue=max(64, 16 * threads), max_wait=10.0, retry_after=1),
        HEAVY: Lane(HEAVY, threads=heavy_threads, queue=heavy_queue, max_wait=render_deadline / 4,
                    retry_after=max(1, min(30, round(render_deadline / 2)))),
    }


def lane_of(method: str, path: str, query: str, callback_output: str | None,
            heavy_callbacks: Collection[str]) -> str:
    """The lane of a request: HEAVY for exports, statistics, time series, timelapses, WMS GetMaps
    over HEAVY_MAP_PIXELS and the page callbacks that call them (`heavy_callbacks`: component ids
    named in a callback's output); TILES for tiles, WMS/WMTS pictures, raw COG bytes and point reads;
    CHEAP for the rest (pages, catalog and STAC reads, writes, health)."""
    if method in ("GET", "HEAD", "POST") and _HEAVY_PATH.match(path):  # statistics take a zone by POST too
        return HEAVY
    if method in ("GET", "HEAD"):
        if _TILE_PATH.match(path):
            return TILES
        if path == "/wms":
            return _wms_lane(query)
    if method == "POST" and path == DASH_CALLBACK_PATH and callback_output is not None \
            and callback_ids(callback_output) & set(heavy_callbacks):
        return HEAVY
    return CHEAP


def _wms_lane(query: str) -> str:
    params = {key.lower(): value for key, value in parse_qsl(query, keep_blank_values=True)}
    operation = params.get("request", "").lower()
    if operation in ("getcapabilities", "capabilities", ""):
        return CHEAP
    if operation in ("getmap", "map"):
        try:
            pixels = int(params.get("width", "0")) * int(params.get("height", "0"))
        except ValueError:
            return TILES  # the service answers the bad size at once
        return HEAVY if pixels > HEAVY_MAP_PIXELS else TILES
    return TILES


def callback_ids(output: str) -> set[str]:
    """The component ids of a Dash callback's output: "id.prop", or "..id1.prop1...id2.prop2.." for
    several (Dash allows no dot in an id)."""
    outputs = output[2:-2].split("...") if output.startswith("..") else [output]
    return {name.rpartition(".")[0] for name in outputs}


def callback_output(body_start: bytes) -> str | None:
    """The output a Dash callback request names (its body's "output" member, the first one Dash
    writes), from the first CALLBACK_PEEK_BYTES of its body; None when it names none there."""
    found = _OUTPUT.search(body_start)
    if found is None:
        return None
    try:
        output: str = json.loads(b'"' + found.group(1) + b'"')
    except ValueError:
        return None
    return output
