"""The raw values of one pixel, with where that pixel is: "what is the value here?".

The reader's `read_point` answers with values only (and keeps the nodata/mask/NaN rules); an
analyst also wants to know which pixel it was (row and column, to find it again in QGIS or numpy)
and the value of an index there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform as transform_points

from cogbrowser.raster.expression import Expression
from cogbrowser.raster.reader import GDAL_OPTIONS, Source, dataset, read_point

__all__ = ["PixelValues", "read_pixel"]

Value = int | float | None


@dataclass(frozen=True)
class PixelValues:
    """One full-resolution pixel: its row/col, every band's raw value (None: not data) and the value
    of each expression asked (None where a band it uses is not data, or the result is not finite)."""

    row: int
    col: int
    values: list[Value]
    expressions: list[float | None]


def read_pixel(path: Source, crs: CRS, x: float, y: float, nodata: float | None = None,
               expressions: Sequence[Expression] = ()) -> PixelValues | None:
    """The pixel of the image at `path` under (x, y) in `crs` (lon/lat in WGS 84, or x/y in any CRS), with
    every band's value (the `nodata` override, else the file's, marks no data) and each expression's;
    None when the point is outside the image."""
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
