"""The raw values of one pixel, with where that pixel is: "what is the value here?".

The reader's `read_point` answers with values only (and keeps the nodata/mask/NaN rules); an
analyst also wants to know which pixel it was (row and column, to find it again in QGIS or numpy)
and the value of an index there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform as transform_points

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.expression import Expression
from cogbrowser.raster.reader import GDAL_OPTIONS, dataset, read_point
from cogbrowser.raster.region import WGS84, ImageExtent, parse_crs, parse_number

__all__ = ["PixelValues", "parse_point", "read_pixel"]

Value = int | float | None


@dataclass(frozen=True)
class PixelValues:
    """One full-resolution pixel: its row/col, every band's raw value (None: not data) and the value
    of each expression asked (None where a band it uses is not data, or the result is not finite)."""

    row: int
    col: int
    values: list[Value]
    expressions: list[float | None]


def parse_point(lon: str | None, lat: str | None, x: str | None, y: str | None, crs: str | None,
                image: ImageExtent) -> tuple[CRS, float, float, str]:
    """The point a request names — `lon`/`lat` (WGS 84), or `x`/`y` in `crs` (default: the image's
    own CRS) — as (crs, x, y, how to name it in messages)."""
    geographic, projected = lon is not None or lat is not None, x is not None or y is not None
    if geographic and projected:
        raise InvalidInput("x: give lon and lat, or x and y (with crs), not both")
    if geographic:
        if crs:
            raise InvalidInput("crs: it applies to x and y; lon and lat are always WGS 84")
        lon_value, lat_value = parse_number(lon, "lon"), parse_number(lat, "lat")
        if not (-180.0 <= lon_value <= 180.0 and -90.0 <= lat_value <= 90.0):
            raise InvalidInput(f"lon, lat: ({lon_value:g}, {lat_value:g}) is not on the Earth "
                               "(lon in -180..180, lat in -90..90)")
        return WGS84, lon_value, lat_value, f"the point lon={lon_value:g}, lat={lat_value:g}"
    if projected:
        point_crs = parse_crs(crs, "crs", image, image.crs)
        x_value, y_value = parse_number(x, "x"), parse_number(y, "y")
        return point_crs, x_value, y_value, f"the point x={x_value:g}, y={y_value:g}"
    raise InvalidInput("lon: give lon and lat (WGS 84), or x and y (with crs)")


def read_pixel(path: Path, crs: CRS, x: float, y: float, nodata: float | None = None,
               expressions: Sequence[Expression] = ()) -> PixelValues | None:
    """The pixel of the image at `path` under (x, y) in `crs`, or None when the point is outside it."""
    with rasterio.Env(**GDAL_OPTIONS):
        values = read_point(path, crs, x, y, nodata)
        if values is None:
            return None
        src = dataset(path)
        if crs != src.crs:  # the reader did the same transform, so it succeeds here too
            (x,), (y,) = transform_points(crs, src.crs, [x], [y])
        row, col = src.index(x, y, op=math.floor)
    return PixelValues(int(row), int(col), values, [_evaluate(e, values) for e in expressions])


def _evaluate(expression: Expression, values: list[Value]) -> float | None:
    bands = {band: np.array([[np.nan if values[band - 1] is None else values[band - 1]]], dtype=np.float64)
             for band in expression.bands}
    result = float(expression.evaluate(bands, dtype=np.float64)[0, 0])
    return result if math.isfinite(result) else None
