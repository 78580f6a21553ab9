"""Exports: the grid an area is read onto, and GeoTIFFs of raw values.

An export is "this area of this image, at this size, in this CRS" like a tile, with two differences
that live here: the size is the user's to choose (pixels, a resolution, or by default the image's
own resolution, capped), and the answer may be raw values rather than a picture. Exported in the
image's own CRS at its own resolution, the grid snaps to the image's pixels, so every output pixel
is exactly one source pixel and nothing is resampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.warp import transform as transform_points

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.crs import WGS84, crs_name
from cogbrowser.raster.reader import Area
from cogbrowser.raster.region import ImageExtent, OutsideImage, bounds_to_crs, overlaps
from cogbrowser.raster.render import output_values
from cogbrowser.raster.render_spec import RenderSpec

__all__ = ["Grid", "Size", "bounds_in", "plan_grid", "native_resolution", "fit_size", "geotiff_bytes",
           "export_geotiff"]

_EDGE_TOLERANCE = 1e-6  # of a pixel: a bbox edge this close to a pixel edge is on it (float noise)


@dataclass(frozen=True)
class Grid:
    """The output raster: `width` x `height` pixels covering `bounds` in `crs`, placed by `transform`
    (kept exactly as computed: a grid snapped to the image's pixels keeps the image's resolution to
    the last bit, which `from_bounds` would not)."""

    crs: CRS
    bounds: Bounds
    width: int
    height: int
    transform: Affine

    @classmethod
    def over(cls, crs: CRS, bounds: Bounds, width: int, height: int) -> Grid:
        return cls(crs, bounds, width, height, from_bounds(*bounds, width, height))


@dataclass(frozen=True)
class Size:
    """What the request says of the output size; all None: the image's native resolution."""

    width: int | None = None
    height: int | None = None
    resolution: tuple[float, float] | None = None


def bounds_in(bbox: Sequence[float], bbox_crs: CRS, crs: CRS) -> Bounds:
    """The asked box (in `bbox_crs`) in the export's CRS `crs`. InvalidInput naming bbox when it
    cannot be expressed there: a lon/lat box across the antimeridian that `crs` cannot hold in one
    piece, or edges off the projection of `crs`."""
    bounds = bounds_to_crs(bbox, bbox_crs, crs)
    if bounds is not None:
        return bounds
    text = ",".join(f"{v:g}" for v in bbox)
    if bbox_crs.is_geographic and bbox[2] > 180.0:
        raise InvalidInput(f"bbox: {text} crosses the antimeridian, and {crs_name(crs)} cannot hold it in one piece "
                           "(export it in EPSG:4326, EPSG:3857 or a UTM zone it lies in)")
    raise InvalidInput(f"bbox: {text} cannot be expressed in the export's CRS {crs_name(crs)}")


def plan_grid(extent: ImageExtent, crs: CRS, bounds: Bounds | None, size: Size, max_size: int) -> Grid:
    """The output grid over `bounds` in `crs` (None: the whole image, e.g. from bounds_in), sized
    as `size` says.

    OutsideImage when the area surely misses the image (when that cannot be told, e.g. for a box
    reaching off a geostationary disk, the read finds out and answers nodata); InvalidInput when
    it would be bigger than `max_size` pixels on a side.
    """
    if bounds is None:
        bounds = _image_bounds(extent, crs)
    in_image_crs = bounds_to_crs(bounds, crs, extent.crs)
    if in_image_crs is not None and not overlaps(in_image_crs, extent.bounds):
        raise OutsideImage("the bbox")
    if size == Size() and crs == extent.crs and _north_up(extent.transform):
        grid = _snapped(crs, bounds, extent.transform)
    else:
        width, height = _dimensions(bounds, size, lambda: native_resolution(extent, crs, bounds))
        grid = Grid.over(crs, bounds, width, height)
    if max(grid.width, grid.height) > max_size:
        raise InvalidInput(f"{'resolution' if size.resolution else 'bbox'}: the export would be "
                           f"{_count_text(grid.width)} x {_count_text(grid.height)} pixels, above the maximum of "
                           f"{max_size} per side; give a coarser resolution, width/height or a smaller bbox")
    return grid


def native_resolution(extent: ImageExtent, crs: CRS, bounds: Bounds) -> tuple[float, float]:
    """The size in `crs` of one image pixel at the centre of `bounds`: one step east and one step
    north of the image's grid, measured where the export is (projections stretch pixels)."""
    step = extent.transform
    rx, ry = math.hypot(step.a, step.d), math.hypot(step.b, step.e)
    if crs == extent.crs:
        return rx, ry
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    try:
        (ix,), (iy,) = transform_points(crs, extent.crs, [cx], [cy])
        xs, ys = transform_points(extent.crs, crs, [ix, ix + rx, ix], [iy, iy, iy + ry])
        resolution = math.hypot(xs[1] - xs[0], ys[1] - ys[0]), math.hypot(xs[2] - xs[0], ys[2] - ys[0])
    except Exception:
        resolution = (math.nan, math.nan)
    if not all(math.isfinite(v) and v > 0 for v in resolution):
        raise InvalidInput("resolution: the image's resolution cannot be measured at this bbox; give "
                           "width/height or resolution")
    return resolution


def fit_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """`width` x `height` shrunk (never enlarged) so the longer side is at most `max_size`."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def export_geotiff(area: Area, spec: RenderSpec, grid: Grid, nodata: float | None,
                   descriptions: Sequence[str]) -> bytes:
    """The GeoTIFF of `spec`'s outputs read into `area`: bands in their own dtype with the image's
    nodata (or an internal mask where it has none), expressions as float32 with NaN as nodata."""
    if spec.expressions:
        values = output_values(area.data, spec)
        valid = area.valid & np.isfinite(values).all(axis=0)
        return geotiff_bytes(values, valid, grid, math.nan, descriptions)
    return geotiff_bytes(area.data, area.valid, grid, nodata, descriptions)


def geotiff_bytes(data: np.ndarray, valid: np.ndarray, grid: Grid, nodata: float | None,
                  descriptions: Sequence[str]) -> bytes:
    """A tiled, DEFLATE-compressed GeoTIFF of `data` (bands, H, W) on `grid`. Pixels not `valid`
    get `nodata`, or, without one, an internal mask (readable by every GDAL, and by QGIS)."""
    if nodata is not None and math.isnan(nodata) and data.dtype.kind in "iu":
        nodata = None  # integers cannot hold NaN (e.g. nodata=nan asked of a uint16 image): mask instead
    data = data.copy()
    if nodata is not None:
        data[:, ~valid] = nodata
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": data.shape[0],
               "dtype": data.dtype, "crs": grid.crs, "transform": grid.transform, "nodata": nodata, "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate", "bigtiff": "if_safer"}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
            for index, text in enumerate(descriptions, start=1):
                dst.set_band_description(index, text)
            if nodata is None and not valid.all():
                dst.write_mask(valid)
        return memory.read()


# ---------------------------------------------------------------- helpers

def _image_bounds(extent: ImageExtent, crs: CRS) -> Bounds:
    """The image's box in `crs`: its own bounds, or the catalog's lon/lat bbox (right across the
    antimeridian and for geostationary disks, where transforming the corners is not) moved there."""
    if crs == extent.crs:
        return extent.bounds
    bounds = bounds_to_crs(extent.bbox, WGS84, crs)
    if bounds is None:
        raise InvalidInput(f"bbox: the image's extent cannot be expressed in {crs_name(crs)}; give a bbox")
    return bounds


def _count_text(pixels: int) -> str:
    return str(pixels) if pixels < 10**7 else f"{pixels:.3g}"


def _north_up(transform: Affine) -> bool:
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


def _snapped(crs: CRS, bounds: Bounds, transform: Affine) -> Grid:
    """The grid of the image's own pixels that covers `bounds`."""
    col0 = math.floor((bounds[0] - transform.c) / transform.a + _EDGE_TOLERANCE)
    col1 = math.ceil((bounds[2] - transform.c) / transform.a - _EDGE_TOLERANCE)
    row0 = math.floor((bounds[3] - transform.f) / transform.e + _EDGE_TOLERANCE)
    row1 = math.ceil((bounds[1] - transform.f) / transform.e - _EDGE_TOLERANCE)
    col1, row1 = max(col1, col0 + 1), max(row1, row0 + 1)
    left, top = transform * (col0, row0)
    right, bottom = transform * (col1, row1)
    return Grid(crs, (left, bottom, right, top), col1 - col0, row1 - row0, transform * Affine.translation(col0, row0))


def _dimensions(bounds: Bounds, size: Size, native: Callable[[], tuple[float, float]]) -> tuple[int, int]:
    """Pixels across and down: as given, one derived from the other by the bbox's aspect, or the
    bbox divided by a resolution (the asked one, else `native()`)."""
    extent_x, extent_y = bounds[2] - bounds[0], bounds[3] - bounds[1]
    if size.width and size.height:
        return size.width, size.height
    if size.width:
        return size.width, max(1, round(size.width * extent_y / extent_x))
    if size.height:
        return max(1, round(size.height * extent_x / extent_y)), size.height
    rx, ry = size.resolution or native()
    return _count(extent_x / rx), _count(extent_y / ry)


def _count(pixels: float) -> int:
    """A pixel count from a float that may be absurd (a resolution of 1e-320 gives inf): those are
    clamped, still far above any maximum size, so the size check reports them."""
    return max(1, round(min(pixels, 1e12)))
