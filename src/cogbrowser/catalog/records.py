"""The catalog's rows as typed records: what `queries` returns, and what the rest of the code reads.

One frozen dataclass per kind of row, with the columns as attributes (PostgreSQL's `box` as a
`BBox`, arrays as tuples), so a misspelt column is a type error rather than a KeyError at run time,
and every reader of a row sees the same shape. JSON columns (bands, presets, properties, GeoJSON)
stay as their JSON values.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from affine import Affine
from rasterio.crs import CRS

from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.region import ImageExtent

Json = dict[str, Any]
Record = TypeVar("Record")


def stored_bbox(value: Any) -> BBox | None:
    """A `box` column value (psycopg returns its text form, `(x2,y2),(x1,y1)`) as a BBox."""
    if value is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in str(value).replace("(", "").replace(")", "").split(","))
    return BBox(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def from_row(kind: type[Record], row: dict[str, Any], **converted: Any) -> Record:
    """A record of `kind` from a row of columns (those it does not declare are ignored; those it
    declares with a default may be missing), with `converted` values in place of the row's."""
    values = {f.name: row[f.name] for f in fields(kind) if f.name in row}  # type: ignore[arg-type]
    values.update(converted)
    return kind(**values)


@dataclass(frozen=True)
class ImageRecord:
    """One image: a COG (managed in the data dir, or referenced in place) and what ingest measured."""

    id: str
    collection_id: str | None
    title: str | None
    path: str  # relative to the data dir when managed, else absolute
    managed: bool
    source_path: str | None
    acquired_at: datetime | None
    cloud_cover: float | None
    crs: str  # WKT 2
    epsg: int | None
    native_bounds: tuple[float, float, float, float]
    bbox: BBox  # WGS 84; east past 180 across the antimeridian
    footprint: Json  # GeoJSON Polygon or MultiPolygon, WGS 84
    width: int
    height: int
    band_count: int
    dtype: str
    nodata: float | None  # may be NaN
    resolution: tuple[float, float]
    transform: tuple[float, float, float, float, float, float]
    overviews: tuple[int, ...]
    bands: list[Json]  # per band: index, name, description, colorinterp, statistics
    mask: str  # none | nodata | alpha | mask
    compression: str | None
    blocksize: tuple[int, int] | None
    checksum: str  # sha256 of the stored COG
    source_checksum: str
    size_bytes: int
    properties: Json
    created_at: datetime
    updated_at: datetime
    in_place_seal: str | None = None  # images registered in place: proof an administrator did it (catalog/files.py)
    detection_count: int | None = None  # in search results

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ImageRecord:
        blocksize = row.get("blocksize")
        return from_row(cls, row, bbox=stored_bbox(row["bbox"]), native_bounds=tuple(row["native_bounds"]),
                        resolution=tuple(row["resolution"]), transform=tuple(row["transform"]),
                        overviews=tuple(row["overviews"] or ()), blocksize=tuple(blocksize) if blocksize else None)

    @property
    def band_names(self) -> list[str | None]:
        """Each band's name (None where it has none), in band order."""
        return [band.get("name") for band in self.bands]

    @property
    def nodata_is_nan(self) -> bool:
        return self.nodata is not None and math.isnan(self.nodata)

    @functools.cached_property
    def extent(self) -> ImageExtent:
        """Where the image lies, as the raster core takes it (its CRS parsed from the stored WKT once
        per record: that costs about a millisecond)."""
        return ImageExtent(CRS.from_wkt(self.crs), self.epsg, Affine(*self.transform), self.native_bounds,
                           self.bbox)



@dataclass(frozen=True)
class AcquisitionRecord:
    """An image as a moment in time: what the calendar and the steps from date to date need, light
    enough to send thousands of them to a page."""

    id: str
    collection_id: str | None
    acquired_at: datetime | None
    cloud_cover: float | None
    bbox: BBox
    footprint: Json  # None when not asked for (queries.list_acquisitions)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AcquisitionRecord:
        return from_row(cls, row, bbox=stored_bbox(row["bbox"]))

@dataclass(frozen=True)
class CollectionContents:
    """What a collection holds, in a few numbers: whether a drawing of all its images is still it."""

    count: int
    digest: str  # of every image's id, checksum and acquisition time: changes with any of them
    oldest: datetime | None
    newest: datetime | None
    undated: int  # images without an acquisition time
    uniform: bool  # all images have the same bands (count and type): they can be drawn as one raster


@dataclass(frozen=True)
class CollectionRecord:
    """One collection: its band metadata and render presets; with its images' count and time span
    where the query counted them (`list_collections`)."""

    id: str
    title: str
    description: str
    bands: list[Json]  # [{name, common_name, description, center_wavelength}]
    presets: list[Json]  # [{name, title, bands | expression, rescale, colormap}]
    properties: Json
    created_at: datetime
    updated_at: datetime
    image_count: int | None = None
    start_datetime: datetime | None = None
    end_datetime: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CollectionRecord:
        return from_row(cls, row)


@dataclass(frozen=True)
class DetectionRecord:
    """One detected target on an image."""

    id: int
    image_id: str
    target_class: str
    target_name: str | None
    score: float
    geometry: Json  # GeoJSON, WGS 84
    bbox: BBox
    pixel_bbox: tuple[float, float, float, float] | None
    area_m2: float | None
    detected_at: datetime | None
    properties: Json
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DetectionRecord:
        pixel = row.get("pixel_bbox")
        return from_row(cls, row, bbox=stored_bbox(row["bbox"]), pixel_bbox=tuple(pixel) if pixel else None)


@dataclass(frozen=True)
class DetectionPoint:
    """A detection as the dashboard's scatter draws it: its facts and the centre of its box."""

    id: int
    image_id: str
    target_class: str
    target_name: str | None
    score: float
    detected_at: datetime | None
    area_m2: float | None
    lon: float  # -180..180
    lat: float


@dataclass(frozen=True)
class ImageFile:
    """Where an image's COG is, and whether the catalog owns it."""

    id: str
    path: str
    managed: bool
    in_place_seal: str | None = None


@dataclass(frozen=True)
class ImageGeoRef:
    """What placing a detection on an image needs: its grid and acquisition time."""

    id: str
    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    acquired_at: datetime | None


@dataclass(frozen=True)
class TokenRecord:
    """An API token, by name (the token itself is never stored)."""

    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CatalogSummary:
    """Counts for a status line."""

    collections: int
    images: int
    detections: int
    first_acquired: datetime | None
    last_acquired: datetime | None


@dataclass(frozen=True)
class DetectionSummary:
    """Totals of a selection of detections."""

    detections: int
    images: int
    classes: int
    names: int
    first: datetime | None
    last: datetime | None
    mean_score: float | None
    min_score: float | None
    max_score: float | None


@dataclass(frozen=True)
class GroupCount:
    """Detections counted in one group (and, for stacked bars, one part of it)."""

    key: Any  # a class, name, image id, collection id, or a day (datetime)
    count: int
    split: Any = None


@dataclass(frozen=True)
class ScoreBin:
    """Detections whose score falls in bin `bin` (0-based) of a histogram, in one `split` group."""

    bin: int
    count: int
    split: Any = None


@dataclass(frozen=True)
class SavedViewRecord:
    """A named state of the Browse page: its query string (without the '?')."""

    id: int
    name: str
    state: str
    created_at: datetime
    updated_at: datetime
