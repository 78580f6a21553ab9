"""Everything the catalog stores about a raster, read from the file itself.

`describe()` is the one place that turns a GeoTIFF into catalog facts: size, CRS, bounds on the
Earth, bands and their statistics, nodata/mask kind, overviews, and the acquisition time and cloud
cover when the file's metadata (or its name, as Landsat and Sentinel-2 products encode it) says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import rasterio
from rasterio.enums import ColorInterp, MaskFlags

from cogbrowser.errors import IngestError, first_line
from cogbrowser.raster import GDAL_ERRORS
from cogbrowser.raster.footprint import raster_extent
from cogbrowser.raster.statistics import band_statistics

_TIME_KEYS = ("datetime", "acquisition_datetime", "acquisitiondatetime", "acquisition_date", "acquired",
              "date_acquired", "sensing_time", "sensing_start", "datatake_sensing_start", "product_start_time",
              "start_datetime", "start_time", "acquisition_time", "date")
_CLOUD_KEYS = ("cloud_cover", "cloudcover", "eo:cloud_cover", "cloudy_pixel_percentage",
               "cloud_coverage_assessment", "cloud_coverage", "clouds")


@dataclass
class RasterInfo:
    """Catalog facts about one raster file."""

    width: int
    height: int
    band_count: int
    dtype: str
    crs: str  # WKT 2
    epsg: int | None
    transform: tuple[float, ...]
    native_bounds: tuple[float, float, float, float]
    bbox: tuple[float, float, float, float]
    footprint: dict
    resolution: tuple[float, float]
    nodata: float | None
    mask: str
    overviews: list[int]
    compression: str | None
    blocksize: tuple[int, int] | None
    bands: list[dict]
    acquired_at: datetime | None = None
    cloud_cover: float | None = None
    properties: dict = field(default_factory=dict)


def describe(path: Path | str, *, nodata: float | None = None, band_names: Sequence[str | None] | None = None,
             name_hint: str | None = None) -> RasterInfo:
    """Read the catalog facts of a georeferenced raster, or raise IngestError saying what is missing."""
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise IngestError(f"not a readable raster: {first_line(exc)}") from exc
    with dataset as src:
        if src.crs is None or src.transform.is_identity:
            if src.gcps[0]:
                raise IngestError("it is georeferenced by ground control points only; warp it to a CRS first")
            raise IngestError("it has no georeference (no CRS or geotransform)")
        extent = raster_extent(src.crs.to_wkt(), src.transform, src.width, src.height)
        effective_nodata = src.nodata if nodata is None else nodata
        try:
            stats = band_statistics(src, nodata=nodata)
        except GDAL_ERRORS as exc:
            raise IngestError(f"its pixels cannot be read (truncated or corrupt?): {first_line(exc)}") from exc
        tags = _all_tags(src)
        bands = []
        for index in range(1, src.count + 1):
            description = src.descriptions[index - 1] or ""
            from_collection = band_names[index - 1] if band_names and len(band_names) == src.count else None
            name = from_collection or _band_name(description, index)
            bands.append({
                "index": index, "name": name, "description": description,
                "colorinterp": src.colorinterp[index - 1].name, "dtype": src.dtypes[index - 1],
                "statistics": stats[index - 1],
            })
        return RasterInfo(
            width=src.width, height=src.height, band_count=src.count, dtype=src.dtypes[0],
            crs=src.crs.to_wkt(), epsg=src.crs.to_epsg(), transform=tuple(src.transform)[:6],
            native_bounds=tuple(src.bounds), bbox=extent.bbox, footprint=extent.footprint,
            resolution=(abs(src.res[0]), abs(src.res[1])),
            nodata=effective_nodata, mask=_mask_kind(src, effective_nodata),
            overviews=list(src.overviews(1)),
            compression=src.compression.name if src.compression else None,
            blocksize=tuple(src.block_shapes[0]) if src.block_shapes else None,
            bands=bands,
            acquired_at=_acquisition_time(tags, name_hint or Path(str(path)).name),
            cloud_cover=_cloud_cover(tags),
            properties={"tags": {k: v for k, v in tags.items() if len(v) < 2000}},
        )


def parse_datetime(text: str) -> datetime | None:
    """A timestamp from the formats found in raster metadata; naive times are taken as UTC."""
    text = text.strip()
    for candidate in (text, text.replace("Z", "+00:00")):
        try:
            value = datetime.fromisoformat(candidate)
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y%m%dT%H%M%S", "%Y%m%d", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return None


def _all_tags(src: rasterio.io.DatasetReader) -> dict[str, str]:
    tags: dict[str, str] = {}
    for namespace in (None, "IMAGERY"):
        try:
            found = src.tags(ns=namespace) if namespace else src.tags()
        except Exception:  # a driver without that domain
            continue
        tags.update({str(k): str(v) for k, v in found.items()})
    return tags


def _acquisition_time(tags: dict[str, str], filename: str) -> datetime | None:
    lowered = {k.lower(): v for k, v in tags.items()}
    for key in _TIME_KEYS:
        if key in lowered:
            value = parse_datetime(lowered[key])
            if value:
                return value
    return _time_from_name(filename)


_LANDSAT_ID = re.compile(r"L[COTEM]0?\d\d{3}\d{3}(\d{4})(\d{3})[A-Z]{3}\d\d")
_COLLECTION_ID = re.compile(r"L[COTEM]0\d_L\w{3}_\d{6}_(\d{8})_")
_COMPACT_DATETIME = re.compile(r"(?<!\d)(\d{8}T\d{6})(?!\d)")
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
_SEPARATED_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)([-_.])(0?[1-9]|1[0-2])\2(0?[1-9]|[12]\d|3[01])(?!\d)")


def _time_from_name(name: str) -> datetime | None:
    """Dates as products name them: Landsat scene/collection ids, Sentinel-2 T-stamps, YYYYMMDD."""
    match = _LANDSAT_ID.search(name)
    if match:
        year, doy = int(match.group(1)), int(match.group(2))
        if 1972 <= year <= 2100 and 1 <= doy <= 366:
            return datetime.strptime(f"{year}{doy:03d}", "%Y%j").replace(tzinfo=timezone.utc)
    for pattern, fmt in ((_COLLECTION_ID, "%Y%m%d"), (_COMPACT_DATETIME, "%Y%m%dT%H%M%S")):
        match = pattern.search(name)
        if match:
            return datetime.strptime(match.group(1), fmt).replace(tzinfo=timezone.utc)
    for match in (_COMPACT_DATE.search(name), _SEPARATED_DATE.search(name)):
        if match and match.lastindex:
            last = match.lastindex  # the day is the last group, the month the one before
            year, month, day = int(match.group(1)), int(match.group(last - 1)), int(match.group(last))
            try:
                return datetime(year, month, day, tzinfo=timezone.utc)
            except ValueError:  # e.g. 2023-02-30
                continue
    return None


def _cloud_cover(tags: dict[str, str]) -> float | None:
    lowered = {k.lower(): v for k, v in tags.items()}
    for key in _CLOUD_KEYS:
        if key in lowered:
            try:
                value = float(lowered[key])
            except ValueError:
                continue
            if 0 <= value <= 1 and key == "clouds":
                value *= 100
            if 0 <= value <= 100:
                return value
    return None


def _mask_kind(src: rasterio.io.DatasetReader, nodata: float | None) -> str:
    flags = src.mask_flag_enums[0]
    if ColorInterp.alpha in src.colorinterp or MaskFlags.alpha in flags:
        return "alpha"
    if MaskFlags.per_dataset in flags:
        return "mask"
    if nodata is not None:
        return "nodata"
    if src.dtypes[0].startswith("float"):
        return "nan"
    return "none"


def _band_name(description: str, index: int) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", description).strip("_")
    return cleaned if cleaned and not cleaned[0].isdigit() else f"b{index}"

