"""`/stac`: a STAC API 1.0 over the catalog (landing page, conformance, collections, items, search).

Collections are the catalog's collections and items its images, read through the same queries as
the REST API (one definition of "images in this bbox"). What a STAC client should know:

- Every item has two assets: `data`, the COG itself (`/cogs/{id}.tif`, HTTP Range, for GDAL's
  /vsicurl/), and `thumbnail`. Its `proj:*` fields are the image's grid (EPSG code, or WKT 2 when it
  has none; shape [height, width]; affine transform; native bounds) and its `eo:*` fields the cloud
  cover and the bands, with common names and wavelengths from the collection's band metadata.
- `datetime` is the acquisition time. STAC needs a time on every item, and some images have none
  (nothing in the file or its name said): those say `datetime: null` with the interval
  `start_datetime` = UNKNOWN_START (a placeholder lower bound every client can represent) ..
  `end_datetime` = when the image was ingested (it was acquired before that, at the latest). A
  `datetime` filter only finds images whose acquisition time is known.
- `bbox` is STAC's: across the antimeridian west > east (the catalog stores east past 180).
- Images without a collection have no `collection` member and no collection link (pystac reads
  them as items of no collection); their parent is the landing page. /stac/search finds them; they
  have no `self` link, since no /collections/{id}/items/{item} URL holds them.
- Pages are cut by an opaque `token` (keyset pagination, newest first, ties by id: a page never
  repeats or skips an item when images are added meanwhile). A token belongs to its search. A GET
  page's `next` link is a URL; a POST page's is a POST whose body repeats the search (`merge: false`).
- `limit` is 10 by default; larger than MAX_LIMIT is taken as MAX_LIMIT, as OGC API Features and
  STAC ask of a server (not an error). Every other bad value, and every unknown parameter or body
  member, is a 400 problem naming it.

Every link is absolute, on the host the request came to: nothing points off this server except the
standard identifiers of IDENTIFIERS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, Json
from shapely.geometry.base import BaseGeometry

from cogbrowser import __version__
from cogbrowser.api.images import count_matching, matching_images
from cogbrowser.api.paging import read_cursor, search_fingerprint, write_cursor
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection
from cogbrowser.catalog.records import CollectionRecord, ImageRecord
from cogbrowser.errors import NotFound
from cogbrowser.layers import utc_iso
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.footprint import parse_geojson_geometry
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, this_url, url_with
from cogbrowser.web.params import (
    BBoxParam,
    BodyModel,
    DatetimeParam,
    IdList,
    Link,
    QueryModel,
    interval,
    jsonable,
)
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("stac", __name__)
TAGS = ("stac",)

# Standard identifiers: names of conformance classes and JSON schemas of the STAC extensions used.
# They are not hosts the app (or a client of it) needs to contact; the offline scan allow-lists
# exactly these, so every such URL of this module is here and nowhere else.
IDENTIFIERS: dict[str, str] = {
    "core": "https://api.stacspec.org/v1.0.0/core",
    "collections": "https://api.stacspec.org/v1.0.0/collections",
    "ogcapi-features": "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "item-search": "https://api.stacspec.org/v1.0.0/item-search",
    "features-core": "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "features-geojson": "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "projection": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "web-map-links": "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json",
}
CONFORMS_TO = tuple(IDENTIFIERS[name] for name in (
    "core", "collections", "ogcapi-features", "item-search", "features-core", "features-geojson"))

STAC_VERSION = "1.0.0"
CATALOG_ID = "cogbrowser"
JSON = "application/json"
GEOJSON = "application/geo+json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
SORT = "-acquired_at"  # the order of every item page: newest first, ties by id (the cursor's sort key)
UNKNOWN_START = datetime(1970, 1, 1, tzinfo=timezone.utc)  # start_datetime of an image of unknown time
EO_COMMON_NAMES = frozenset({  # the eo extension's allowed common names (others are left out, not sent invalid)
    "pan", "coastal", "blue", "green", "green05", "yellow", "red", "rededge", "rededge071", "rededge075",
    "rededge078", "nir", "nir08", "nir09", "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12"})


# ---------------------------------------------------------------- documents

class StacModel(BaseModel):
    """Base of STAC documents: JSON names by alias; members that are None are left out when sent
    (STAC types them as strings or numbers, so a null would make the document invalid)."""

    model_config = ConfigDict(populate_by_name=True)


class StacLink(Link):
    """A link with STAC's additions: the method and body of a POST `next` link, a WMS layer."""

    model_config = ConfigDict(populate_by_name=True)
    method: Literal["GET", "POST"] | None = None
    body: dict[str, Any] | None = Field(None, description="the search to POST (a `next` link of a POST search)")
    merge: bool | None = None
    wms_layers: list[str] | None = Field(None, alias="wms:layers", description="web-map-links: the WMS layer")


class Asset(StacModel):
    href: str
    type: str
    roles: list[str]
    title: str | None = None


class Item(StacModel):
    """A STAC item: one image, with its COG and thumbnail as assets."""

    media_type: ClassVar[str] = GEOJSON
    type: Literal["Feature"] = "Feature"
    stac_version: str = STAC_VERSION
    stac_extensions: list[str]
    id: str
    collection: str | None = Field(None, description="left out for an image of no collection")
    geometry: dict[str, Any]
    bbox: list[float] = Field(description="west, south, east, north; west > east across the antimeridian")
    properties: dict[str, Any]
    links: list[StacLink]
    assets: dict[str, Asset]


class ItemCollection(StacModel):
    """A page of items; the `next` link continues the same search."""

    media_type: ClassVar[str] = GEOJSON
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Item]
    links: list[StacLink]
    number_matched: int = Field(alias="numberMatched", description="items matching the search, on all pages")
    number_returned: int = Field(alias="numberReturned", description="items on this page")


class StacCollection(StacModel):
    """A STAC collection: one of the catalog's collections, with its extent and band summary."""

    type: Literal["Collection"] = "Collection"
    stac_version: str = STAC_VERSION
    stac_extensions: list[str]
    id: str
    title: str
    description: str
    license: str
    extent: dict[str, Any] = Field(description="spatial bbox and temporal interval of its images")
    summaries: dict[str, Any] | None = None
    links: list[StacLink]


class Collections(StacModel):
    collections: list[StacCollection]
    links: list[StacLink]


class LandingPage(StacModel):
    """The root catalog: what this API conforms to and where everything is."""

    type: Literal["Catalog"] = "Catalog"
    stac_version: str = STAC_VERSION
    id: str
    title: str
    description: str
    conforms_to: list[str] = Field(alias="conformsTo")
    links: list[StacLink]


class Conformance(StacModel):
    conforms_to: list[str] = Field(alias="conformsTo")


# ---------------------------------------------------------------- parameters

class _Filters(BaseModel):
    """The parameters of every item list: the same names and meanings in a query string and a body."""

    bbox: BBoxParam | None = None
    datetime: DatetimeParam | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, description=(
        f"items per page; more than {MAX_LIMIT} is taken as {MAX_LIMIT}"))
    token: str | None = Field(None, max_length=4000, description="the page after this one: from the `next` link")


class _SearchFilters(_Filters):
    collections: IdList | None = None
    ids: IdList | None = None


class ItemsQuery(QueryModel, _Filters):
    collections: IdList | None = Field(None, description=(
        "accepted because clients send it (pystac-client does); it must name this collection"))


class SearchQuery(QueryModel, _SearchFilters):
    intersects: Json[dict[str, Any]] | None = Field(None, description=(
        "a GeoJSON geometry (WGS 84) the item's footprint must touch; not with bbox"))


class SearchBody(BodyModel, _SearchFilters):
    intersects: dict[str, Any] | None = Field(None, description=(
        "a GeoJSON geometry (WGS 84) the item's footprint must touch; not with bbox"))


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/stac", summary="The STAC landing page", tags=TAGS, responses={200: LandingPage})
def landing_page() -> Response:
    """The root catalog: conformance classes, and links to the collections and the search."""
    root = _root()
    with services().db.connection() as conn:
        rows = queries.list_collections(conn)
    links = [
        StacLink(href=f"{root}/stac", rel="self", type=JSON),
        StacLink(href=f"{root}/stac", rel="root", type=JSON),
        StacLink(href=f"{root}/stac/conformance", rel="conformance", type=JSON),
        StacLink(href=f"{root}/stac/collections", rel="data", type=JSON, title="the collections"),
        StacLink(href=f"{root}/stac/search", rel="search", type=GEOJSON, method="GET", title="search items"),
        StacLink(href=f"{root}/stac/search", rel="search", type=GEOJSON, method="POST", title="search items"),
        StacLink(href=f"{root}/api/v1/openapi.json", rel="service-desc",
                 type="application/vnd.oai.openapi+json;version=3.1", title="the API (OpenAPI)"),
        StacLink(href=f"{root}/api/v1/docs", rel="service-doc", type="text/html", title="the API documentation"),
        *(StacLink(href=f"{root}/stac/collections/{row.id}", rel="child", type=JSON, title=row.title)
          for row in rows),
    ]
    return _send(LandingPage(id=CATALOG_ID, title="cogbrowser", conforms_to=list(CONFORMS_TO), links=links,
                             description=f"The images of this cogbrowser server ({__version__}) as STAC items"))


@endpoint(blueprint, "GET", "/stac/conformance", summary="The conformance classes", tags=TAGS,
          responses={200: Conformance})
def conformance() -> Response:
    return _send(Conformance(conforms_to=list(CONFORMS_TO)))


@endpoint(blueprint, "GET", "/stac/collections", summary="All collections", tags=TAGS,
          responses={200: Collections})
def collections() -> Response:
    root = _root()
    with services().db.connection() as conn:
        found = [_collection(conn, row) for row in queries.list_collections(conn)]
    return _send(Collections(collections=found, links=[
        StacLink(href=f"{root}/stac/collections", rel="self", type=JSON),
        StacLink(href=f"{root}/stac", rel="root", type=JSON),
        StacLink(href=f"{root}/stac", rel="parent", type=JSON)]))


@endpoint(blueprint, "GET", "/stac/collections/<collection_id>", summary="One collection", tags=TAGS,
          path_parameters={"collection_id": "The collection's id"}, responses={200: StacCollection})
def collection(collection_id: str) -> Response:
    with services().db.connection() as conn:
        return _send(_collection(conn, _collection_row(conn, collection_id)))


@endpoint(blueprint, "GET", "/stac/collections/<collection_id>/items", summary="The items of a collection",
          tags=TAGS, path_parameters={"collection_id": "The collection's id"}, query=ItemsQuery,
          responses={200: ItemCollection})
def items(collection_id: str, query: ItemsQuery) -> Response:
    """Newest first; `bbox` and `datetime` filter, pages follow the `next` link."""
    if query.collections and set(query.collections) != {collection_id}:
        raise ApiError(400, "Bad Request", f"collections: these are the items of {collection_id!r} only; "
                       "search others at /stac/search",
                       errors=[{"field": "collections", "message": "another collection"}])
    with services().db.connection() as conn:
        _collection_row(conn, collection_id)
    search = SearchBody(bbox=query.bbox, datetime=query.datetime, collections=[collection_id], limit=query.limit,
                        token=query.token)
    root = _root()
    return _item_page(search, _next_get, [
        StacLink(href=f"{root}/stac/collections/{collection_id}", rel="collection", type=JSON),
        StacLink(href=f"{root}/stac/collections/{collection_id}", rel="parent", type=JSON)])


@endpoint(blueprint, "GET", "/stac/collections/<collection_id>/items/<item_id>", summary="One item", tags=TAGS,
          path_parameters={"collection_id": "The collection's id", "item_id": "The image's id"},
          responses={200: Item})
def item(collection_id: str, item_id: str) -> Response:
    with services().db.connection() as conn:
        found = _collection_row(conn, collection_id)
        row = queries.get_image(conn, item_id)
        if row is None or row.collection_id != collection_id:
            raise NotFound(f"no item {item_id!r} in collection {collection_id!r}")
    return _send(stac_item(row, found.bands))


@endpoint(blueprint, "GET", "/stac/search", summary="Search items", tags=TAGS, query=SearchQuery,
          responses={200: ItemCollection})
def search_get(query: SearchQuery) -> Response:
    """All filters combine (AND): bbox or intersects, datetime, collections, ids. Newest first."""
    return _item_page(query, _next_get)


@endpoint(blueprint, "POST", "/stac/search", summary="Search items (the search as a JSON body)", tags=TAGS,
          body=SearchBody, access="read", responses={200: ItemCollection})
def search_post(body: SearchBody) -> Response:
    """The same search as GET, in a body; the `next` link is a POST of the same body with its token."""
    return _item_page(body, _next_post(body))


# ---------------------------------------------------------------- item pages

def _item_page(search: SearchQuery | SearchBody, next_link: Callable[[str], StacLink],
               links: Iterable[StacLink] = ()) -> Response:
    """One page of the items matching `search`, with links to the next page and to the catalog."""
    geometry = _intersects(search)
    fingerprint = search_fingerprint(search, exclude={"limit", "token"})
    after = read_cursor(search.token, fingerprint, SORT, parameter="token")
    limit = min(search.limit, MAX_LIMIT)
    start, end = interval(search.datetime)
    base = queries.ImageQuery(
        bbox=search.bbox or (BBox(*geometry.bounds) if geometry is not None else None),
        start=start, end=end, collections=search.collections, ids=search.ids, sort=SORT.lstrip("-"),
        descending=SORT.startswith("-"), limit=limit + 1, after=after)
    with services().db.connection() as conn:
        rows = matching_images(conn, base, geometry, limit + 1)
        matched = count_matching(conn, base, geometry)
        bands = _collection_bands(conn, {row.collection_id for row in rows[:limit]})
    page = rows[:limit]
    root = _root()
    page_links = [StacLink(href=this_url(), rel="self", type=GEOJSON),
                  StacLink(href=f"{root}/stac", rel="root", type=JSON), *links]
    if len(rows) > limit:
        last = page[-1]
        page_links.append(next_link(write_cursor(fingerprint, SORT, last.acquired_at, last.id)))
    features = [stac_item(row, bands.get(row.collection_id or "")) for row in page]
    return _send(ItemCollection(features=features, links=page_links, number_matched=matched,
                                number_returned=len(features)))


def _intersects(search: SearchQuery | SearchBody) -> BaseGeometry | None:
    """The `intersects` geometry as shapely (None without one); 400 when given with a bbox, as STAC says."""
    if search.intersects is None:
        return None
    if search.bbox is not None:
        raise ApiError(400, "Bad Request", "bbox, intersects: give one of them, not both",
                       errors=[{"field": "intersects", "message": "not with bbox"}])
    return parse_geojson_geometry(search.intersects, "intersects")


def _next_get(token: str) -> StacLink:
    return StacLink(href=url_with("token", token), rel="next", type=GEOJSON, method="GET")


def _next_post(body: SearchBody) -> Callable[[str], StacLink]:
    """The next page of a POST search: the same body with the token (the whole body: `merge` false)."""
    def link(token: str) -> StacLink:
        return StacLink(href=request.base_url, rel="next", type=GEOJSON, method="POST", merge=False,
                        body={**body.model_dump(exclude_none=True), "token": token})
    return link


def _collection_bands(conn: Connection, collection_ids: set[str | None]) -> dict[str, list[dict]]:
    """Band metadata of the collections of a page (common names and wavelengths for eo:bands)."""
    rows = (queries.get_collection(conn, cid) for cid in collection_ids if cid)
    return {row.id: row.bands for row in rows if row}


# ---------------------------------------------------------------- items

def stac_item(row: ImageRecord, collection_bands: list[dict] | None = None) -> Item:
    """A catalog image as a STAC item, with links on the requesting host."""
    image_id, collection_id = row.id, row.collection_id
    root = _root()
    assets = {
        "data": Asset(href=f"{root}/cogs/{image_id}.tif", type=COG, roles=["data"],
                      title="the image as a Cloud Optimized GeoTIFF (HTTP Range)"),
        "thumbnail": Asset(href=f"{root}/api/v1/images/{image_id}/preview.png", type="image/png",
                           roles=["thumbnail"], title="a preview of the whole image"),
    }
    return Item(
        stac_extensions=[IDENTIFIERS["projection"], IDENTIFIERS["eo"], IDENTIFIERS["web-map-links"]],
        id=image_id, collection=collection_id, geometry=row.footprint, bbox=stac_bbox(row.bbox),
        properties=_item_properties(row, collection_bands or []), links=_item_links(row), assets=assets)


def _item_properties(row: ImageRecord, collection_bands: list[dict]) -> dict[str, Any]:
    properties: dict[str, Any] = {**_item_time(row), "created": utc_iso(row.created_at),
                                  "updated": utc_iso(row.updated_at)}
    if row.title:
        properties["title"] = row.title
    if row.cloud_cover is not None:
        properties["eo:cloud_cover"] = row.cloud_cover
    properties["eo:bands"] = eo_bands(row.bands, collection_bands)
    properties["proj:epsg"] = row.epsg
    if row.epsg is None:
        properties["proj:wkt2"] = row.crs
    properties["proj:shape"] = [row.height, row.width]
    properties["proj:transform"] = list(row.transform)
    properties["proj:bbox"] = list(row.native_bounds)
    return jsonable(properties)


def _item_time(row: ImageRecord) -> dict[str, str | None]:
    """`datetime`, or for an image of unknown acquisition time the interval it lies in (module docstring)."""
    if row.acquired_at is not None:
        return {"datetime": utc_iso(row.acquired_at)}
    return {"datetime": None, "start_datetime": utc_iso(UNKNOWN_START), "end_datetime": utc_iso(row.created_at)}


def _item_links(row: ImageRecord) -> list[StacLink]:
    image_id, collection_id = row.id, row.collection_id
    root = _root()
    links = [StacLink(href=f"{root}/stac", rel="root", type=JSON)]
    if collection_id:
        collection_url = f"{root}/stac/collections/{collection_id}"
        links += [StacLink(href=f"{collection_url}/items/{image_id}", rel="self", type=GEOJSON),
                  StacLink(href=collection_url, rel="parent", type=JSON),
                  StacLink(href=collection_url, rel="collection", type=JSON)]
    else:
        links.append(StacLink(href=f"{root}/stac", rel="parent", type=JSON))
    return links + _map_links(image_id) + [
        StacLink(href=f"{root}/api/v1/images/{image_id}", rel="alternate", type=JSON,
                 title="the image in the REST API (all metadata, band statistics)")]


def _map_links(layer: str) -> list[StacLink]:
    """Where a map client draws an image or a collection (web-map-links): TileJSON, XYZ, WMS."""
    root = _root()
    return [
        StacLink(href=f"{root}/tiles/{layer}/WebMercatorQuad/tilejson.json", rel="tilejson", type=JSON,
                 title="XYZ tiles (TileJSON)"),
        StacLink(href=f"{root}/tiles/{layer}/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png", rel="xyz", type="image/png",
                 title="XYZ tiles"),
        StacLink(href=f"{root}/wms", rel="wms", type="image/png", wms_layers=[layer], title="WMS 1.3.0 / 1.1.1"),
    ]


def eo_bands(image_bands: list[dict], collection_bands: list[dict]) -> list[dict[str, Any]]:
    """eo:bands of an image: each band's name and description, with the common name and wavelength
    of the collection's band of that name (or, when the counts agree, of that position)."""
    by_name = {str(band.get("name")): band for band in collection_bands if band.get("name")}
    same_count = len(collection_bands) == len(image_bands)
    found = []
    for position, band in enumerate(image_bands):
        known = by_name.get(str(band.get("name"))) or (collection_bands[position] if same_count else {})
        found.append(_eo_band(band, known))
    return found


def _eo_band(band: dict, known: dict) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": str(band.get("name") or f"b{band.get('index', '')}")}
    description = band.get("description") or known.get("description")
    if description:
        entry["description"] = description
    if known.get("common_name") in EO_COMMON_NAMES:
        entry["common_name"] = known["common_name"]
    if isinstance(known.get("center_wavelength"), (int, float)):
        entry["center_wavelength"] = known["center_wavelength"]
    return entry


def stac_bbox(bbox: Iterable[float]) -> list[float]:
    """A stored bbox (east past 180 across the antimeridian) as STAC writes it (then west > east)."""
    west, south, east, north = bbox
    if east - west >= 360:
        return [-180.0, south, 180.0, north]
    if east > 180:
        east -= 360
    return [west, south, east, north]


# ---------------------------------------------------------------- collections

def _collection_row(conn: Connection, collection_id: str) -> CollectionRecord:
    """The collection with its time span (list_collections), or 404."""
    rows = queries.list_collections(conn, [collection_id])
    if not rows:
        raise NotFound(f"no collection {collection_id!r} in the catalog")
    return rows[0]


def _collection(conn: Connection, row: CollectionRecord) -> StacCollection:
    """A catalog collection as a STAC collection: extent of its images, its bands as a summary."""
    collection_id = row.id
    root = _root()
    url = f"{root}/stac/collections/{collection_id}"
    box = queries.collection_extent(conn, collection_id)
    span = [utc_iso(getattr(row, key)) if getattr(row, key) else None for key in ("start_datetime", "end_datetime")]
    extent = {"spatial": {"bbox": [stac_bbox(box) if box else [-180.0, -90.0, 180.0, 90.0]]},
              "temporal": {"interval": [span]}}
    links = [StacLink(href=url, rel="self", type=JSON), StacLink(href=f"{root}/stac", rel="root", type=JSON),
             StacLink(href=f"{root}/stac", rel="parent", type=JSON),
             StacLink(href=f"{url}/items", rel="items", type=GEOJSON, title="its items"),
             StacLink(href=f"{root}/api/v1/collections/{collection_id}", rel="alternate", type=JSON,
                      title="the collection in the REST API")]
    extensions = [IDENTIFIERS["web-map-links"]] if box else []
    if box:
        links += _map_links(collection_id)
    bands = [_eo_band(band, band) for band in row.bands]
    if bands:
        extensions.append(IDENTIFIERS["eo"])
    license_ = (row.properties or {}).get("license")
    return StacCollection(
        stac_extensions=extensions, id=collection_id, title=row.title,
        description=row.description or row.title,
        license=license_ if isinstance(license_, str) and license_ else "proprietary", extent=extent,
        summaries={"eo:bands": jsonable(bands)} if bands else None, links=links)


# ---------------------------------------------------------------- helpers

def _send(document: StacModel) -> Response:
    """A STAC document as JSON (GeoJSON for items and pages), readable by browsers of any origin."""
    return Response(document.model_dump_json(by_alias=True, exclude_none=True),
                    mimetype=getattr(document, "media_type", JSON))


def _root() -> str:
    return request.url_root.rstrip("/")

