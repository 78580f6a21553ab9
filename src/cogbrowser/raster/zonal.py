"""Statistics of an image's raw values over a zone: a bbox, a polygon, or the whole image.

Zonal statistics are read on the image's own pixel grid, never warped: resampling would invent
values (bilinear) or shift which pixels count (nearest onto another grid). A pixel belongs to the
zone when its centre is inside (GDAL's rasterize rule, as `rasterio.features.geometry_mask`); a
zone smaller than a pixel, which would select nothing, counts the pixels it touches instead.

Every way a file marks missing pixels is honoured per band (nodata tag, internal mask, alpha band,
NaN), as `read(masked=True)` does. Big zones are read from the finest overview that keeps the pixel
count under a cap (the trade GDAL's approximate statistics make), then decimated if even the
coarsest overview is too big; the answer says which grid was used, so numbers can be checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags, Resampling
from rasterio.features import geometry_mask
from rasterio.windows import Window

from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.budget import check_deadline
from cogbrowser.raster.reader import GDAL_OPTIONS, Source, dataset
from cogbrowser.raster.region import OutsideImage, shapes_bounds
from cogbrowser.raster.render_spec import RenderSpec
from cogbrowser.raster.statistics import MAX_SAMPLE_PIXELS

__all__ = ["ZonalStatistics", "zonal_statistics", "zonal_pixels", "summarise", "DEFAULT_BINS", "MAX_BINS"]

DEFAULT_BINS = 10
MAX_BINS = 1000
PERCENTILES = (2, 50, 98)


@dataclass(frozen=True)
class ZonalStatistics:
    """One summary per output (see `summarise`), and the grid they were computed on.

    `window` is in the pixels of `overview_level` (None: full resolution); `shape` is the
    (height, width) actually read from it, smaller than the window only when decimated;
    `resolution` is the size of one of those pixels in the image's CRS units.
    """

    outputs: list[dict]
    pixels: int
    overview_level: int | None
    window: Window
    shape: tuple[int, int]
    resolution: tuple[float, float]
    all_touched: bool


def zonal_statistics(path: Source, spec: RenderSpec, shapes: Sequence[dict] | None, *, what: str = "the area",
                     bins: int = DEFAULT_BINS, value_range: tuple[float, float] | None = None,
                     max_pixels: int = MAX_SAMPLE_PIXELS) -> ZonalStatistics:
    """Statistics of each of `spec`'s outputs over `shapes` (polygons in the image's CRS, e.g. from
    region.bbox_zone; None: the whole image), with a histogram of `bins` bins over `value_range`
    (None: the data's). OutsideImage (naming `what`) when the zone's box misses the image."""
    with rasterio.Env(**GDAL_OPTIONS):
        src, level, window, shape = _plan(path, shapes, what, max_pixels)
        spec.check_cost(shape[0] * shape[1], what=f"statistics of {what}")
        data, valid = _read(src, spec, window, shape)
        transform = src.window_transform(window) * Affine.scale(window.width / shape[1], window.height / shape[0])
    check_deadline()
    zone, all_touched = _zone(shapes, shape, transform)
    pixels = int(zone.sum())
    outputs = []
    for values, ok in _outputs(spec, data, valid):
        check_deadline()
        outputs.append(summarise(values[ok & zone], pixels, bins, value_range))
    resolution = (math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
    return ZonalStatistics(outputs, pixels, level, window, shape, resolution, all_touched)


def zonal_pixels(path: Source, shapes: Sequence[dict] | None, max_pixels: int = MAX_SAMPLE_PIXELS) -> int:
    """How many pixels `zonal_statistics` reads for `shapes` (0 when the zone misses the image),
    from the file's metadata alone: what a render budget counts before any pixel is read."""
    try:
        with rasterio.Env(**GDAL_OPTIONS):
            _, _, _, shape = _plan(path, shapes, "the zone", max_pixels)
    except OutsideImage:
        return 0
    return shape[0] * shape[1]


def _plan(path: Source, shapes: Sequence[dict] | None, what: str,
          max_pixels: int) -> tuple[rasterio.io.DatasetReader, int | None, Window, tuple[int, int]]:
    """Where statistics of `shapes` are read: the dataset (the overview `level`, None: full
    resolution), the window on it and the (height, width) read from it, at most `max_pixels`."""
    base = dataset(path)
    bounds = shapes_bounds(shapes) if shapes else tuple(base.bounds)
    full = _window(base, bounds)
    if full is None:
        raise OutsideImage(what)
    level = _overview_level(base, full, max_pixels)
    src = base if level is None else dataset(path, level)
    window = _window(src, bounds)
    if window is None:  # cannot happen when the full-resolution window exists; never read nothing
        raise OutsideImage(what)
    return src, level, window, _decimated_shape(window, max_pixels)


def summarise(values: np.ndarray, pixels: int, bins: int = DEFAULT_BINS,
              value_range: tuple[float, float] | None = None) -> dict:
    """count, valid_percent (of the zone's `pixels`), min, max, mean, std, median, p2, p98 and a
    histogram of the valid `values`; integers stay integers for min and max."""
    count = int(values.size)
    summary: dict = {"count": count, "valid_percent": round(100.0 * count / pixels, 4) if pixels else 0.0}
    if count == 0:
        return {**summary, **dict.fromkeys(("min", "max", "mean", "std", "median", "p2", "p98", "histogram"))}
    as_float = values.astype(np.float64, copy=False)
    p2, median, p98 = (float(v) for v in np.percentile(as_float, PERCENTILES))
    counts, edges = np.histogram(as_float, bins=bins, range=value_range)
    return {**summary, "min": values.min().item(), "max": values.max().item(), "mean": float(as_float.mean()),
            "std": float(as_float.std()), "median": median, "p2": p2, "p98": p98,
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}}


# ---------------------------------------------------------------- grid

def _window(src: rasterio.io.DatasetReader, bounds: Bounds) -> Window | None:
    """The whole pixels of `src` under `bounds` (rounded outward, at least one), or None if none.

    From the inverse geotransform of the box's corners, which also holds for rotated images
    (rasterio's windows.from_bounds refuses those).
    """
    left, bottom, right, top = bounds
    cols, rows = ~src.transform * (np.array([left, right, right, left]), np.array([top, top, bottom, bottom]))
    col0, row0 = max(math.floor(cols.min()), 0), max(math.floor(rows.min()), 0)
    col1 = min(max(math.ceil(cols.max()), col0 + 1), src.width)
    row1 = min(max(math.ceil(rows.max()), row0 + 1), src.height)
    if col0 >= col1 or row0 >= row1:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _overview_level(src: rasterio.io.DatasetReader, window: Window, max_pixels: int) -> int | None:
    """The finest level (None: full resolution) whose pixels under `window` fit in `max_pixels`;
    the coarsest overview when none does."""
    if window.width * window.height <= max_pixels:
        return None
    factors = src.overviews(1)
    for level, factor in enumerate(factors):
        if (window.width / factor) * (window.height / factor) <= max_pixels:
            return level
    return len(factors) - 1 if factors else None


def _decimated_shape(window: Window, max_pixels: int) -> tuple[int, int]:
    scale = max(1.0, math.sqrt(window.width * window.height / max_pixels))
    return max(1, math.floor(window.height / scale)), max(1, math.floor(window.width / scale))


def _zone(shapes: Sequence[dict] | None, shape: tuple[int, int], transform: Affine) -> tuple[np.ndarray, bool]:
    """Pixels whose centre is inside `shapes` — or, if there is none, those the shapes touch."""
    if not shapes:
        return np.ones(shape, bool), False
    inside = geometry_mask(shapes, out_shape=shape, transform=transform, invert=True)
    if inside.any():
        return inside, False
    return geometry_mask(shapes, out_shape=shape, transform=transform, invert=True, all_touched=True), True


# ---------------------------------------------------------------- values

def _read(src: rasterio.io.DatasetReader, spec: RenderSpec, window: Window,
          shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw values of `spec.source_bands` and their per-band validity, (bands, H, W) each."""
    bands = list(spec.source_bands)
    out_shape = (len(bands), *shape)
    data = src.read(bands, window=window, out_shape=out_shape, resampling=Resampling.nearest)
    nodata = spec.nodata
    if nodata is None:
        valid = src.read_masks(bands, window=window, out_shape=out_shape, resampling=Resampling.nearest) > 0
    else:  # the override replaces the file's nodata; its mask or alpha band still applies
        flags = src.mask_flag_enums[0]
        if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
            mask = src.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0
        else:
            mask = np.ones(shape, bool)
        valid = np.broadcast_to(mask, out_shape).copy()
        if not math.isnan(nodata):
            valid &= data != nodata
    if data.dtype.kind == "f":
        valid &= ~np.isnan(data)
    return data, valid


def _outputs(spec: RenderSpec, data: np.ndarray, valid: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(values, valid) per output: a band as read, or an expression (float64) valid where every band
    it uses is valid and its result is finite."""
    if not spec.expressions:
        yield from zip(data, valid)
        return
    index = {band: i for i, band in enumerate(spec.source_bands)}
    by_band = {band: data[i] for band, i in index.items()}
    for expression in spec.expressions:
        values = expression.evaluate(by_band, dtype=np.float64)
        ok = np.isfinite(values)
        for band in expression.bands:
            ok &= valid[index[band]]
        yield values, ok
