"""`/api/v1/acquisitions`: when the catalog has images, for moving through time.

The image search (images.py) pages full records; a calendar that marks every date with data, and a
page that steps to the previous or next acquisition at once, need the opposite: every matching
image, but only its time, cloud cover, collection and place. This answers both in one request:

- `days`: each UTC date with images, their number and cloud cover range (all matches, never cut);
- `acquisitions`: the images themselves, newest first, up to `limit` (`truncated` says if cut).

The filters are the image search's, so a page asks with the same parameters as for its results.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint
from pydantic import Field

from cogbrowser.api.images import ImageFilters
from cogbrowser.catalog import queries
from cogbrowser.catalog.records import AcquisitionRecord
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.footprint import geometry_intersects, parse_geojson_geometry
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.params import (
    BodyModel,
    interval,
)

blueprint = Blueprint("acquisitions", __name__)
TAGS = ("images",)
MAX_LIMIT = 20_000
DEFAULT_LIMIT = 5_000


class AcquisitionSearch(ImageFilters):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=(
        f"acquisitions listed at most (at most {MAX_LIMIT:,}); `days` always counts every match"))


class Acquisition(BodyModel):
    """One image as a moment: enough to step to it or mark its date."""

    id: str
    collection_id: str | None
    acquired_at: datetime | None
    cloud_cover: float | None
    bbox: list[float] = Field(description="west, south, east, north (WGS 84)")


class AcquisitionDay(BodyModel):
    """A UTC date with images."""

    date: str = Field(description="YYYY-MM-DD (UTC)")
    images: int
    min_cloud_cover: float | None = Field(description="the clearest image's cloud cover (null: none is known)")
    max_cloud_cover: float | None


class AcquisitionList(BodyModel):
    """The dates with images and the images themselves, newest first."""

    days: list[AcquisitionDay]
    acquisitions: list[Acquisition]
    matched: int = Field(description="all images matching")
    truncated: bool = Field(description="true when `acquisitions` lists fewer than `matched`")


@endpoint(blueprint, "GET", "/api/v1/acquisitions", summary="Dates with images, and the images as moments",
          tags=TAGS, query=AcquisitionSearch, responses={200: AcquisitionList})
def list_acquisitions(query: AcquisitionSearch) -> AcquisitionList:
    """Every image matching the filters (those of `GET /api/v1/images`), newest first, with its
    time, cloud cover and bbox; and each date with images."""
    geometry = parse_geojson_geometry(query.intersects, "intersects") if query.intersects else None
    start, end = interval(query.datetime)
    base = queries.ImageQuery(
        bbox=query.bbox or (BBox(*geometry.bounds) if geometry is not None else None), start=start, end=end,
        collections=query.collections, max_cloud_cover=query.max_cloud_cover,
        with_target_class=query.detection_class, limit=None)
    with services().db.connection() as conn:  # footprints only to test them against a shape: they weigh the most
        rows = queries.list_acquisitions(conn, base, footprints=geometry is not None)
    if geometry is not None:
        rows = [row for row in rows if geometry_intersects(row.footprint, geometry)]  # the shape, not its box
    return AcquisitionList(days=acquisition_days(rows), acquisitions=[_acquisition(r) for r in rows[:query.limit]],
                           matched=len(rows), truncated=len(rows) > query.limit)


def acquisition_days(rows: list[AcquisitionRecord]) -> list[AcquisitionDay]:
    """Each UTC date of `rows` (newest first) with its images and their cloud cover range."""
    days: dict[str, list[float | None]] = {}
    for row in rows:
        if row.acquired_at is not None:
            days.setdefault(row.acquired_at.astimezone(timezone.utc).date().isoformat(), []).append(row.cloud_cover)
    answer = []
    for day in sorted(days, reverse=True):
        known = [c for c in days[day] if c is not None]
        answer.append(AcquisitionDay(date=day, images=len(days[day]), min_cloud_cover=min(known) if known else None,
                                     max_cloud_cover=max(known) if known else None))
    return answer


def _acquisition(row: AcquisitionRecord) -> Acquisition:
    return Acquisition(id=row.id, collection_id=row.collection_id, acquired_at=row.acquired_at,
                       cloud_cover=row.cloud_cover,
                       bbox=list(row.bbox))
