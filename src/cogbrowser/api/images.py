"""`/api/v1/images`: search the catalog's images, read, change and delete one.

Search filters combine in one request — bbox, `intersects` (a GeoJSON geometry), datetime,
collections, ids, max cloud cover, images with detections of a class, text in the id or title —
and pages are cut by a cursor (keyset pagination on the sort key and the id), so a page never
repeats or skips an image when images are added meanwhile. Every image carries its links: the raw
COG, TileJSON, the WMS, a thumbnail, its STAC item.

Uploads (POST) live in uploads.py; pixel reads of one image (point, statistics, export, preview)
in image_reads.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, request
from pydantic import Field, StringConstraints
from shapely.geometry.base import BaseGeometry

from cogbrowser.api.paging import read_cursor, search_fingerprint, write_cursor
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import NotFound
from cogbrowser.ingest.delete import FileInUse, delete_images
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.footprint import geometry_intersects, parse_geojson_geometry
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, this_url, url_with
from cogbrowser.web.params import (
    ID,
    BBoxParam,
    BodyModel,
    DatetimeParam,
    GeoJSONText,
    IdList,
    Link,
    QueryModel,
    TextList,
    interval,
    json_number,
    jsonable,
)
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("images", __name__)
TAGS = ("images",)
PATH = {"image_id": "The image's id"}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
Sort = Literal["acquired_at", "-acquired_at", "cloud_cover", "-cloud_cover", "id", "-id"]


class ImageFilters(QueryModel):
    """What an image must be to be found: the filters of the image search and of the acquisitions."""

    bbox: BBoxParam | None = None
    intersects: GeoJSONText | None = Field(None, description=(
        "A GeoJSON geometry (WGS 84) the image's footprint must touch (larger ones: POST /stac/search)"))
    datetime: DatetimeParam | None = None
    collections: IdList | None = None
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description="percent")
    detection_class: TextList | None = Field(None, description="only images with detections of these classes")


class ImageSearch(ImageFilters):
    ids: IdList | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="text in the image's id or title (case-insensitive)")
    sortby: Sort = Field("-acquired_at", description="sort key; '-' for descending (newest first)")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"images per page (at most {MAX_LIMIT})")
    cursor: str | None = Field(None, max_length=2000, description="the page after this one: from the `next` link")
    count: bool = Field(False, description="also count all matching images (`matched`)")


class Image(BodyModel):
    """One image: what it is, where and when, its bands with statistics, and its links."""

    id: str
    collection_id: str | None
    title: str | None
    acquired_at: datetime | None
    cloud_cover: float | None
    epsg: int | None
    crs: str = Field(description="WKT 2 of the image's CRS")
    bbox: list[float] = Field(description="west, south, east, north (WGS 84; east > 180 across the antimeridian)")
    footprint: dict[str, Any] = Field(description="GeoJSON geometry (WGS 84)")
    native_bounds: list[float]
    width: int
    height: int
    band_count: int
    dtype: str
    nodata: float | str | None = Field(description="the nodata value ('nan' for NaN)")
    resolution: list[float]
    transform: list[float]
    overviews: list[int]
    bands: list[dict[str, Any]]
    mask: str
    compression: str | None
    blocksize: list[int] | None
    size_bytes: int
    checksum: str
    detection_count: int
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    links: list[Link]


class ImageList(BodyModel):
    """A page of images; `next` (in links) continues the same search."""

    images: list[Image]
    count: int = Field(description="images on this page")
    matched: int | None = Field(None, description="all images matching (with count=true)")
    links: list[Link]


class ImageUpdate(BodyModel):
    """The fields to change; those left out keep their values (null clears an optional one)."""

    title: str | None = Field(None, max_length=500)
    collection_id: ID | None = None
    acquired_at: datetime | None = None
    cloud_cover: float | None = Field(None, ge=0, le=100)
    properties: dict[str, Any] | None = None


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/api/v1/images", summary="Search images", tags=TAGS, query=ImageSearch,
          responses={200: ImageList})
def search_images(query: ImageSearch) -> ImageList:
    """All filters combine (AND). Pages follow the `next` link; a cursor belongs to its search."""
    filters = search_fingerprint(query, exclude={"limit", "cursor", "count"})
    after = read_cursor(query.cursor, filters, query.sortby)
    geometry = parse_geojson_geometry(query.intersects, "intersects") if query.intersects else None
    sort = query.sortby.lstrip("-")
    base = queries.ImageQuery(
        bbox=query.bbox or _geometry_bbox(geometry), start=interval(query.datetime)[0],
        end=interval(query.datetime)[1], collections=query.collections, ids=query.ids,
        max_cloud_cover=query.max_cloud_cover, with_target_class=query.detection_class, text=query.q, sort=sort,
        descending=query.sortby.startswith("-"), limit=query.limit + 1, after=after)
    with services().db.connection() as conn:
        rows = matching_images(conn, base, geometry, query.limit + 1)
        matched = count_matching(conn, base, geometry) if query.count else None
    page, more = rows[:query.limit], len(rows) > query.limit
    links = [Link(href=this_url(), rel="self", type="application/json")]
    if more:
        last = page[-1]
        token = write_cursor(filters, query.sortby, getattr(last, sort), last.id)
        links.append(Link(href=url_with("cursor", token), rel="next", type="application/json"))
    return ImageList(images=[image_resource(row) for row in page], count=len(page), matched=matched, links=links)


@endpoint(blueprint, "GET", "/api/v1/images/<image_id>", summary="One image", tags=TAGS, path_parameters=PATH,
          responses={200: Image})
def get_image(image_id: str) -> Image:
    """All metadata of the image, with per-band statistics."""
    return _image_or_404(image_id)


@endpoint(blueprint, "PATCH", "/api/v1/images/<image_id>", summary="Change an image's metadata", tags=TAGS,
          path_parameters=PATH, body=ImageUpdate, responses={200: Image})
def update_image(image_id: str, body: ImageUpdate) -> Image:
    """Title, collection (an existing one, or null), acquisition time, cloud cover, properties."""
    changes = body.model_dump(exclude_unset=True)
    if "properties" in changes and changes["properties"] is None:
        changes["properties"] = {}  # null clears them
    with services().db.connection() as conn, conn.transaction():
        if queries.get_image(conn, image_id) is None:
            raise NotFound(f"no image {image_id!r} in the catalog")
        collection = changes.get("collection_id")
        if collection is not None and queries.get_collection(conn, collection) is None:
            raise ApiError(400, "Bad Request", f"collection_id: no collection {collection!r} (create it first)",
                           errors=[{"field": "collection_id", "message": "no such collection"}])
        if changes:
            queries.update_image(conn, image_id, changes)
    return _image_or_404(image_id)


@endpoint(blueprint, "DELETE", "/api/v1/images/<image_id>", summary="Delete an image", tags=TAGS,
          path_parameters=PATH, responses={204: None, 409: None})
def delete_image(image_id: str) -> Response:
    """The row, its detections and its COG file go together, or none of them does."""
    try:
        deleted = delete_images(services().db, services().settings, [image_id])
    except FileInUse as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    if not deleted:
        raise NotFound(f"no image {image_id!r} in the catalog")
    return Response(status=204)


# ---------------------------------------------------------------- the resource

def image_resource(row: ImageRecord) -> Image:
    """A catalog row as the API shows it, with links on the requesting host."""
    image_id = row.id
    root = request.url_root.rstrip("/")
    links = [
        Link(href=f"{root}/api/v1/images/{image_id}", rel="self", type="application/json"),
        Link(href=f"{root}/cogs/{image_id}.tif", rel="data", title="the COG (HTTP Range)",
             type="image/tiff; application=geotiff; profile=cloud-optimized"),
        Link(href=f"{root}/tiles/{image_id}/WebMercatorQuad/tilejson.json", rel="tiles", type="application/json",
             title="XYZ tiles (TileJSON)"),
        Link(href=f"{root}/wms?SERVICE=WMS&REQUEST=GetCapabilities", rel="wms", type="text/xml",
             title=f"WMS (layer {image_id})"),
        Link(href=f"{root}/api/v1/images/{image_id}/preview.png", rel="thumbnail", type="image/png"),
        Link(href=f"{root}/stac/collections/{row.collection_id}/items/{image_id}" if row.collection_id
             else f"{root}/stac/search?ids={image_id}", rel="alternate", type="application/geo+json",
             title="as a STAC item"),
    ]
    return Image(
        id=image_id, collection_id=row.collection_id, title=row.title, acquired_at=row.acquired_at,
        cloud_cover=row.cloud_cover, epsg=row.epsg, crs=row.crs, bbox=list(row.bbox), footprint=row.footprint,
        native_bounds=list(row.native_bounds), width=row.width, height=row.height, band_count=row.band_count,
        dtype=row.dtype, nodata=json_number(row.nodata), resolution=list(row.resolution),
        transform=list(row.transform), overviews=list(row.overviews), bands=jsonable(row.bands), mask=row.mask,
        compression=row.compression, blocksize=list(row.blocksize) if row.blocksize else None,
        size_bytes=row.size_bytes, checksum=row.checksum, detection_count=row.detection_count or 0,
        properties=jsonable(row.properties), created_at=row.created_at, updated_at=row.updated_at, links=links)


def _image_or_404(image_id: str) -> Image:
    with services().db.connection() as conn:
        rows = queries.search_images(conn, queries.ImageQuery(ids=[image_id], limit=1)) \
            if queries.valid_id(image_id) else []
    if not rows:
        raise NotFound(f"no image {image_id!r} in the catalog")
    return image_resource(rows[0])


# ---------------------------------------------------------------- geometry filter

def _geometry_bbox(geometry: BaseGeometry | None) -> BBox | None:
    return BBox(*geometry.bounds) if geometry is not None else None


def matching_images(conn: Connection, base: queries.ImageQuery, geometry: BaseGeometry | None,
                    wanted: int) -> list[ImageRecord]:
    """Up to `wanted` rows of `base`, keeping (with a geometry) only footprints that touch it: the
    bbox index narrows the candidates, then each footprint is tested, batch after batch. The REST
    search and STAC search share it."""
    if geometry is None:
        return queries.search_images(conn, base)
    found: list[ImageRecord] = []
    query = base
    while len(found) < wanted:
        batch = queries.search_images(conn, query)
        found += [row for row in batch if geometry_intersects(row.footprint, geometry)]
        if query.limit is None or len(batch) < query.limit:
            break
        last = batch[-1]
        query = replace(query, after=(getattr(last, query.sort), last.id))
    return found[:wanted]


def count_matching(conn: Connection, base: queries.ImageQuery, geometry: BaseGeometry | None) -> int:
    """All rows `matching_images` would find over every page."""
    everything = replace(base, limit=None, after=None)
    if geometry is None:
        return queries.count_images(conn, everything)
    return sum(1 for row in queries.search_images(conn, everything) if geometry_intersects(row.footprint, geometry))

