"""Per-band statistics: min, max, mean, stddev, 2nd/98th percentiles and the valid fraction.

The 2-98 % range becomes the default rescale of every rendering, so it must respect nodata, masks,
alpha and NaN. For big rasters we read a decimated view (GDAL serves it from the overviews), the
same trade GDAL's own approximate statistics make; the result says whether it was exact.
"""

from __future__ import annotations

import math

import numpy as np
import rasterio
from rasterio.enums import Resampling

MAX_SAMPLE_PIXELS = 2048 * 2048


def band_statistics(dataset: rasterio.io.DatasetReader, nodata: float | None = None) -> list[dict]:
    """Statistics of every band of an open dataset; `nodata` overrides the file's own value."""
    scale = max(1.0, math.sqrt(dataset.width * dataset.height / MAX_SAMPLE_PIXELS))
    out_shape = (max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
    exact = scale == 1.0
    effective_nodata = dataset.nodata if nodata is None else nodata
    mask = _valid_mask(dataset, out_shape)
    result = []
    for band in range(1, dataset.count + 1):
        data = dataset.read(band, out_shape=out_shape, resampling=Resampling.nearest)
        valid = mask.copy()
        if effective_nodata is not None:
            if isinstance(effective_nodata, float) and math.isnan(effective_nodata):
                pass  # NaN is handled below for every float band
            else:
                valid &= data != effective_nodata
        if data.dtype.kind == "f":
            valid &= np.isfinite(data)
        result.append(_summarise(data[valid], valid.size, exact))
    return result


def _valid_mask(dataset: rasterio.io.DatasetReader, out_shape: tuple[int, int]) -> np.ndarray:
    """Pixels that are data by the file's own mask or alpha band (nodata values are tested per band)."""
    flags = dataset.mask_flag_enums[0] if dataset.count else ()
    from rasterio.enums import MaskFlags

    if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
        return dataset.dataset_mask(out_shape=out_shape, resampling=Resampling.nearest) > 0
    return np.ones(out_shape, dtype=bool)


def _summarise(values: np.ndarray, total: int, exact: bool) -> dict:
    count = int(values.size)
    stats: dict = {"valid_percent": round(100.0 * count / total, 4) if total else 0.0, "exact": exact}
    if count == 0:
        stats.update(min=None, max=None, mean=None, stddev=None, p2=None, p98=None)
        return stats
    as_float = values.astype(np.float64, copy=False)
    p2, p98 = np.percentile(as_float, [2, 98])
    stats.update(
        min=_num(values.min()), max=_num(values.max()), mean=float(as_float.mean()),
        stddev=float(as_float.std()), p2=float(p2), p98=float(p98),
    )
    return stats


def _num(value: np.generic) -> float | int:
    return int(value) if np.issubdtype(type(value), np.integer) else float(value)
