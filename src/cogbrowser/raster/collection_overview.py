"""A collection drawn once, coarse: the mosaic of its images on one Web Mercator grid, as a COG.

A map of a whole collection at a small scale touches dozens to hundreds of images, and reading each
(even from its smallest overview) costs a few milliseconds: a z6 tile over 200 scenes took seconds.
Drawn once onto a coarse grid, newest on top as a mosaic draws them, such a map is one read of one
file, as fast as a single image. The grid is a WebMercatorQuad zoom's own pixel grid, so tiles at
that zoom and above read whole, aligned pixels of it (and its internal overviews, one a zoom).

Pure raster work: which images, in which order, and when to build again are the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.cog import CogOptions, write_cog
from cogbrowser.raster.crs import WEB_MERCATOR
from cogbrowser.raster.reader import Source, clear_handles, pixel_size_in, read_area, transformer

WORLD_METRES = 40075016.685578488  # the width of the Web Mercator plane
HALF_WORLD = WORLD_METRES / 2
SCENE_PIXELS = 128  # a typical image spans about this many overview pixels: coarser maps touch 4 or more
MAX_SIDE = 4096  # pixels a side at most (a 4-band uint16 overview is then 128 MiB to draw in memory)
MIN_ZOOM = 2  # coarser than this, a zoom's pixel would hold whole countries


@dataclass(frozen=True)
class OverviewGrid:
    """The pixel grid of a collection overview: a window of zoom `zoom`'s WebMercatorQuad pixels."""

    zoom: int
    col: int  # the grid's first column and row among the zoom's pixels
    row: int
    width: int
    height: int

    @property
    def pixel(self) -> float:
        """The pixel's size in metres of the Web Mercator plane."""
        return zoom_pixel(self.zoom)

    @property
    def transform(self) -> Affine:
        return Affine(self.pixel, 0, -HALF_WORLD + self.col * self.pixel, 0, -self.pixel,
                      HALF_WORLD - self.row * self.pixel)

    def window(self, bounds: Bounds) -> tuple[int, int, int, int] | None:
        """(col, row, width, height) of the grid's pixels touching `bounds` (metres), or None."""
        left, bottom, right, top = bounds
        col0 = max(0, math.floor((left + HALF_WORLD) / self.pixel) - self.col)
        col1 = min(self.width, math.ceil((right + HALF_WORLD) / self.pixel) - self.col)
        row0 = max(0, math.floor((HALF_WORLD - top) / self.pixel) - self.row)
        row1 = min(self.height, math.ceil((HALF_WORLD - bottom) / self.pixel) - self.row)
        if col1 <= col0 or row1 <= row0:
            return None
        return col0, row0, col1 - col0, row1 - row0

    def window_bounds(self, col: int, row: int, width: int, height: int) -> Bounds:
        left = -HALF_WORLD + (self.col + col) * self.pixel
        top = HALF_WORLD - (self.row + row) * self.pixel
        return left, top - height * self.pixel, left + width * self.pixel, top


def zoom_pixel(zoom: int) -> float:
    """The size of a WebMercatorQuad pixel at `zoom`, in metres of the plane."""
    return WORLD_METRES / 256 / 2**zoom


def overview_grid(boxes: Sequence[Bounds]) -> OverviewGrid | None:
    """The grid of an overview of images lying over `boxes` (Web Mercator metres, one an image).

    Its zoom is the finest whose pixel is at least 1/SCENE_PIXELS of the median image's width (maps
    at that zoom and coarser touch four images or more; finer ones, a few), coarsened until the
    whole extent fits MAX_SIDE pixels a side. None: no zoom from MIN_ZOOM fits, or no boxes.
    """
    if not boxes:
        return None
    widths = sorted(max(right - left, top - bottom) for left, bottom, right, top in boxes)
    target = widths[len(widths) // 2] / SCENE_PIXELS
    if target <= 0:
        return None
    zoom = math.floor(math.log2(WORLD_METRES / 256 / target))
    left = min(b[0] for b in boxes)
    bottom = min(b[1] for b in boxes)
    right = max(b[2] for b in boxes)
    top = max(b[3] for b in boxes)
    while zoom >= MIN_ZOOM:
        pixel = zoom_pixel(zoom)
        col0, col1 = math.floor((left + HALF_WORLD) / pixel), math.ceil((right + HALF_WORLD) / pixel)
        row0, row1 = math.floor((HALF_WORLD - top) / pixel), math.ceil((HALF_WORLD - bottom) / pixel)
        if col1 - col0 <= MAX_SIDE and row1 - row0 <= MAX_SIDE:
            return OverviewGrid(zoom, col0, row0, max(1, col1 - col0), max(1, row1 - row0))
        zoom -= 1
    return None


def mercator_box(box: Bounds) -> Bounds | None:
    """A WGS84 box (west, south, east, north; east <= 180) in Web Mercator metres, latitudes clamped
    to the plane's +-85.05 degrees; None for a box across the antimeridian."""
    west, south, east, north = box
    if east > 180 or west < -180 or east <= west:
        return None
    limit = 85.0511287798
    south, north = max(-limit, min(limit, south)), max(-limit, min(limit, north))
    if north <= south:
        return None
    xs, ys = transformer("EPSG:4326", WEB_MERCATOR).transform([west, east], [south, north])
    return float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1])


def output_pixel(crs: CRS, bounds: Sequence[float], width: int, height: int) -> float | None:
    """The size of a map's pixel in Web Mercator metres (its finer side, at the map's centre), or
    None where the centre has no place on the plane."""
    return pixel_size_in(WEB_MERCATOR, crs, bounds, width, height)


@dataclass(frozen=True)
class OverviewSource:
    """One image of the collection as the overview draws it: its file, nodata, place (metres)."""

    path: Source
    nodata: float | None
    box: Bounds


def build_overview(sources: Sequence[OverviewSource], band_count: int, grid: OverviewGrid, destination: Path,
                   keep_going: Callable[[], bool] = lambda: True) -> int:
    """Draw `sources` (the one on top first) onto `grid` and write the COG at `destination`, with an
    internal mask where no image has data. Returns how many images were drawn; stops early (writing
    nothing, returning -1) when `keep_going` says so, e.g. the collection changed meanwhile.

    Each image is read as a map of its own place on the grid (raster.reader: its right overview,
    nearest), so an image costs about what one tile of it costs.
    """
    data: np.ndarray | None = None
    filled = np.zeros((grid.height, grid.width), bool)
    drawn = 0
    try:
        for source in sources:
            if not keep_going():
                return -1
            window = grid.window(source.box)
            if window is None:
                continue
            col, row, width, height = window
            try:
                area = read_area(source.path, WEB_MERCATOR, grid.window_bounds(*window), width, height,
                                 range(1, band_count + 1), resampling="nearest", nodata=source.nodata)
            except FileNotFoundError:
                continue  # gone since the catalog was asked: drawn without it, as a mosaic is
            if data is None:
                data = np.zeros((band_count, grid.height, grid.width), area.data.dtype)
            empty = filled[row:row + height, col:col + width]
            take = area.valid & ~empty
            if take.any():
                target = data[:, row:row + height, col:col + width]
                target[:, take] = area.data[:, take]
                empty |= take
                drawn += 1
    finally:
        clear_handles()  # the building thread keeps no file open (Windows could not delete it)
    if data is None:
        data = np.zeros((band_count, grid.height, grid.width), np.uint8)
    _write(data, filled, grid, destination)
    return drawn


def _write(data: np.ndarray, filled: np.ndarray, grid: OverviewGrid, destination: Path) -> None:
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=data.shape[0], dtype=data.dtype,
                   crs=WEB_MERCATOR, transform=grid.transform, tiled=True, blockxsize=512, blockysize=512)
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
            dst.write_mask(filled.astype(np.uint8) * 255)
        # Overviews by nearest: each is then exactly the next coarser zoom's pixels of the same mosaic.
        write_cog(memory.name, destination, CogOptions(overview_resampling="nearest", threads="2"))
