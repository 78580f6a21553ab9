"""Tile grids: the tile matrix sets served, and a layer on one of them — the box and zooms clients
are told, and the tiles they cover.

TileJSON and WMTS capabilities advertise the same facts about a layer — its WGS84 bounds, the zoom
whose pixels match the image's and the coarser zooms worth drawing — so they are defined once here
and the two surfaces cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import morecantile
import numpy as np

from cogbrowser.layers import Layer
from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.reader import transformer

# Loaded once: morecantile.tms.get() deep-copies its definition on every call (1.7 ms, a fifth of a
# whole tile request in a profile). TileMatrixSet objects are not modified after creation.
TILE_MATRIX_SETS: dict[str, morecantile.TileMatrixSet] = {
    tms_id: morecantile.tms.get(tms_id) for tms_id in ("WebMercatorQuad", "WorldCRS84Quad")
}
WEB_MERCATOR_QUAD = TILE_MATRIX_SETS["WebMercatorQuad"]
TILE_SIZE = 256  # pixels a side of every tile served (XYZ, WMTS, the user's basemap)
ZOOM_SPAN = 12  # zooms advertised below the native one: coarser ones show the image as a few pixels
SAMPLES = 5  # points a side at which native_zoom measures the image's pixel size
EDGE = 1e-9  # a fraction of a tile: a box edge exactly on a tile edge does not reach into the next tile



@dataclass(frozen=True)
class TileLimits:
    """The rows and columns of one tile matrix that a layer touches (inclusive)."""

    zoom: int
    min_row: int
    max_row: int
    min_col: int
    max_col: int


def advertised_bounds(layer: Layer) -> Bounds:
    """The layer's WGS84 box as clients are told it: a collection's covers all its images.

    The catalog keeps a box across the antimeridian with its east edge past 180; TileJSON bounds,
    WMTS WGS84BoundingBox and WMS EX_GeographicBoundingBox cannot wrap (in most clients), so such
    a layer is advertised over every longitude. Latitudes stay within -90..90.
    """
    box = layer.bbox
    west, east = (-180.0, 180.0) if box.crosses_antimeridian else (box.west, box.east)
    return west, max(box.south, -90.0), east, min(box.north, 90.0)


class PixelGrid(Protocol):
    """Where an image's pixels lie: a catalog image, or a raster described straight from its file."""

    @property
    def crs(self) -> str: ...  # WKT

    @property
    def native_bounds(self) -> tuple[float, float, float, float]: ...

    @property
    def resolution(self) -> tuple[float, float]: ...


def native_zoom(image: PixelGrid, tms: morecantile.TileMatrixSet) -> int:
    """The zoom whose pixels are as fine as the image's where the image is most detailed in the
    TMS's CRS: one pixel step measured at SAMPLES x SAMPLES points across the image, the finest kept.

    Not at the centre alone: that may be a point where a pixel has no size in the TMS's CRS (the
    South Pole at the centre of an Antarctic grid) or off the Earth (beside a geostationary disk).
    """
    left, bottom, right, top = image.native_bounds
    step_x, step_y = image.resolution
    grid_x, grid_y = np.meshgrid(np.linspace(left, right, SAMPLES + 2)[1:-1],
                                 np.linspace(bottom, top, SAMPLES + 2)[1:-1])
    xs, ys = grid_x.ravel(), grid_y.ravel()
    to_tms = transformer(image.crs, tms.rasterio_crs)
    tx, ty = (np.asarray(v) for v in to_tms.transform(np.concatenate([xs, xs + step_x, xs]),
                                                       np.concatenate([ys, ys, ys + step_y]), errcheck=False))
    n = xs.size
    with np.errstate(invalid="ignore"):
        sizes = np.sqrt(np.hypot(tx[n:2 * n] - tx[:n], ty[n:2 * n] - ty[:n])
                        * np.hypot(tx[2 * n:] - tx[:n], ty[2 * n:] - ty[:n]))
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    if not sizes.size:
        return tms.minzoom
    return int(min(tms.maxzoom, max(tms.minzoom, tms.zoom_for_res(float(sizes.min())))))


def zoom_range(image: PixelGrid, tms: morecantile.TileMatrixSet) -> tuple[int, int]:
    """The zooms worth drawing the image at: its native zoom and ZOOM_SPAN coarser ones."""
    maxzoom = native_zoom(image, tms)
    return max(tms.minzoom, maxzoom - ZOOM_SPAN), maxzoom


def tile_bounds(tms: morecantile.TileMatrixSet, zoom: int, col: int, row: int) -> Bounds:
    """The box of one tile in the TMS's CRS: what an XYZ tile or a WMTS tile at (zoom, col, row) draws."""
    left, bottom, right, top = tms.xy_bounds(morecantile.Tile(col, row, zoom))
    return left, bottom, right, top


def tile_limits(tms: morecantile.TileMatrixSet, bounds: Bounds, zoom: int) -> TileLimits:
    """The tiles of `zoom` that a WGS84 box (west <= east) touches, clamped to the matrix.

    Arithmetic on the matrix's origin and tile size, not morecantile's tile(), which recomputes the
    TMS's bounds on every call: capabilities ask this for every layer, tile matrix set and zoom.
    Assumes a top-left origin and x-first axes, as WebMercatorQuad and WorldCRS84Quad have.
    """
    left, bottom, right, top = tms_bounds(tms, bounds)
    matrix = tms.matrix(zoom)
    origin_x, origin_y = matrix.pointOfOrigin
    width, height = matrix.cellSize * matrix.tileWidth, matrix.cellSize * matrix.tileHeight

    def index(offset: float, size: float, count: int, inward: float) -> int:
        return min(max(math.floor(offset / size + inward), 0), count - 1)

    return TileLimits(zoom,
                      index(origin_y - top, height, matrix.matrixHeight, EDGE),
                      index(origin_y - bottom, height, matrix.matrixHeight, -EDGE),
                      index(left - origin_x, width, matrix.matrixWidth, EDGE),
                      index(right - origin_x, width, matrix.matrixWidth, -EDGE))


def tms_bounds(tms: morecantile.TileMatrixSet, bounds: Bounds) -> Bounds:
    """A WGS84 box (west <= east) in the TMS's CRS, clamped to the TMS (Web Mercator stops at 85.05)."""
    limit = _geographic_bounds(tms)
    west, south, east, north = bounds
    west, east = (min(max(v, limit[0]), limit[2]) for v in (west, east))
    south, north = (min(max(v, limit[1]), limit[3]) for v in (south, north))
    (left, right), (bottom, top) = transformer(tms.geographic_crs.to_wkt(), tms.rasterio_crs).transform(
        [west, east], [south, north])
    return left, bottom, right, top


_GEOGRAPHIC_BOUNDS: dict[str, Bounds] = {}


def _geographic_bounds(tms: morecantile.TileMatrixSet) -> Bounds:
    """The TMS's lon/lat bounds, computed once per TMS id (morecantile recomputes them, a densified
    reprojection, on each access)."""
    key = str(tms.id)
    if key not in _GEOGRAPHIC_BOUNDS:
        west, south, east, north = tms.bbox
        _GEOGRAPHIC_BOUNDS[key] = (west, south, east, north)
    return _GEOGRAPHIC_BOUNDS[key]
