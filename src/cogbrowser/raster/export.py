"""Exports: the grid an area is read onto, and GeoTIFFs of raw values.

An export is "this area of this image, at this size, in this CRS" like a tile, with two differences
that live here: the size is the user's to choose (pixels, a resolution, or by default the image's
own resolution, capped), and the answer may be raw values rather than a picture. Exported in the
image's own CRS at its own resolution, the grid snaps to the image's pixels, so every output pixel
is exactly one source pixel and nothing is resampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.warp import transform as transform_points

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.reader import Area
from cogbrowser.raster.region import (
    WGS84,
    Bounds,
    ImageExtent,
    OutsideImage,
    bounds_to_crs,
    overlaps,
    parse_bbox,
    parse_crs,
    parse_number,
)
from cogbrowser.raster.render import output_values
from cogbrowser.raster.render_spec import RenderSpec

__all__ = ["Grid", "Size", "parse_size", "parse_export_grid", "plan_grid", "native_resolution", "fit_size",
           "geotiff_bytes", "export_geotiff"]

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
    def over(cls, crs: CRS, bounds: Bounds, width: int, height: int) -> "Grid":
        return cls(crs, bounds, width, height, from_bounds(*bounds, width, height))


@dataclass(frozen=True)
class Size:
    """What the request says of the output size; all None: the image's native resolution."""

    width: int | None = None
    height: int | None = None
    resolution: tuple[float, float] | None = None


def parse_size(width: str | None, height: str | None, resolution: str | None, max_size: int) -> Size:
    """`width`/`height` (pixels, up to `max_size`; one alone keeps the bbox's aspect) or
    `resolution` (`r` or `rx,ry` in the output CRS's units), not both."""
    size = Size(_pixels(width, "width", max_size), _pixels(height, "height", max_size))
    if resolution is None or not resolution.strip():
        return size
    if size.width or size.height:
        raise InvalidInput("resolution: give either width/height or resolution, not both")
    values = [parse_number(part, "resolution") for part in resolution.split(",")]
    if len(values) not in (1, 2) or min(values) <= 0:
        raise InvalidInput(f"resolution: {resolution!r} is not one or two positive numbers (rx or rx,ry)")
    return Size(resolution=(values[0], values[-1]))


def parse_export_grid(params: Mapping[str, str | None], image: ImageExtent, max_size: int) -> Grid:
    """The grid of an export request: `crs` (default the image's own), `bbox` in `bbox-crs`
    (default lon/lat; no bbox: the whole image), and `width`/`height` or `resolution`."""
    crs = parse_crs(params.get("crs"), "crs", image, image.crs)
    bbox_crs = parse_crs(params.get("bbox-crs"), "bbox-crs", image, WGS84)
    bbox_text = params.get("bbox")
    bounds = None
    if bbox_text:
        bounds = bounds_to_crs(parse_bbox(bbox_text, bbox_crs), bbox_crs, crs)
        if bounds is None:
            raise InvalidInput(f"bbox: {bbox_text!r} cannot be expressed in the export's CRS {_name(crs)}")
    size = parse_size(params.get("width"), params.get("height"), params.get("resolution"), max_size)
    return plan_grid(image, crs, bounds, size, max_size)


def plan_grid(image: ImageExtent, crs: CRS, bounds: Bounds | None, size: Size, max_size: int) -> Grid:
    """The output grid over `bounds` in `crs` (None: the whole image), sized as `size` says.

    OutsideImage when the area surely misses the image (when that cannot be told, e.g. for a box
    reaching off a geostationary disk, the read finds out and answers nodata); InvalidInput when
    it would be bigger than `max_size` pixels on a side.
    """
    if bounds is None:
        bounds = _image_bounds(image, crs)
    in_image_crs = bounds_to_crs(bounds, crs, image.crs)
    if in_image_crs is not None and not overlaps(in_image_crs, image.bounds):
        raise OutsideImage("the bbox")
    if size == Size() and crs == image.crs and _north_up(image.transform):
        grid = _snapped(crs, bounds, image.transform)
    else:
        width, height = _dimensions(bounds, size, lambda: native_resolution(image, crs, bounds))
        grid = Grid.over(crs, bounds, width, height)
    if max(grid.width, grid.height) > max_size:
        raise InvalidInput(f"{'resolution' if size.resolution else 'bbox'}: the export would be "
                           f"{_count_text(grid.width)} x {_count_text(grid.height)} pixels, above the maximum of "
                           f"{max_size} per side; give a coarser resolution, width/height or a smaller bbox")
    return grid


def native_resolution(image: ImageExtent, crs: CRS, bounds: Bounds) -> tuple[float, float]:
    """The size in `crs` of one image pixel at the centre of `bounds`: one step east and one step
    north of the image's grid, measured where the export is (projections stretch pixels)."""
    rx, ry = math.hypot(image.transform.a, image.transform.d), math.hypot(image.transform.b, image.transform.e)
    if crs == image.crs:
        return rx, ry
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    try:
        (ix,), (iy,) = transform_points(crs, image.crs, [cx], [cy])
        xs, ys = transform_points(image.crs, crs, [ix, ix + rx, ix], [iy, iy, iy + ry])
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
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=data.shape[0], dtype=data.dtype,
                   crs=grid.crs, transform=grid.transform, nodata=nodata, tiled=True, blockxsize=256,
                   blockysize=256, compress="deflate", bigtiff="if_safer")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
            for index, text in enumerate(descriptions, start=1):
                dst.set_band_description(index, text)
            if nodata is None and not valid.all():
                dst.write_mask(valid)
        return memory.read()


# ---------------------------------------------------------------- helpers

def _pixels(text: str | None, parameter: str, max_size: int) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidInput(f"{parameter}: {text!r} is not a positive whole number of pixels")
    if int(text) > max_size:
        raise InvalidInput(f"{parameter}: {int(text)} is above the maximum of {max_size} pixels")
    return int(text)


def _image_bounds(image: ImageExtent, crs: CRS) -> Bounds:
    """The image's box in `crs`: its own bounds, or the catalog's lon/lat bbox (right across the
    antimeridian and for geostationary disks, where transforming the corners is not) moved there."""
    if crs == image.crs:
        return image.bounds
    bounds = bounds_to_crs(image.bbox, WGS84, crs)
    if bounds is None:
        raise InvalidInput(f"bbox: the image's extent cannot be expressed in {_name(crs)}; give a bbox")
    return bounds


def _name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else "the image's own CRS"


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
