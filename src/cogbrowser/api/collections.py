"""`/api/v1/collections`: list, read, create, update and delete collections.

A collection groups images of one kind (a sensor, a mission) and says how to look at them: band
metadata (names, common names, wavelengths) and render presets (true colour, false colour, NDVI …),
which become the styles of its WMS/WMTS layers and the choices of the UI. Presets are checked
when they are written, against the collection's band names, so a broken preset is refused here
rather than failing on every tile later.

Deleting a collection that still has images is refused (409) unless `cascade=true`, which deletes
its images too (files and rows, as DELETE /api/v1/images/{id} does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint, Response, request, url_for
from pydantic import Field, StringConstraints, model_validator

from cogbrowser.catalog import queries
from cogbrowser.catalog.records import CollectionRecord
from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.ingest.delete import delete_images
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.render_spec import parse_render_spec
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.params import ID, BodyModel, Link, QueryModel, jsonable
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("collections", __name__)
TAGS = ("collections",)
PATH = {"collection_id": "The collection's id"}
Title = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Band(BodyModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    common_name: str | None = Field(None, max_length=64, description="e.g. red, nir (STAC eo)")
    description: str | None = Field(None, max_length=500)
    center_wavelength: float | None = Field(None, gt=0, lt=1e6, description="micrometres")


class Preset(BodyModel):
    """A named way to draw the collection's images: bands or an expression, with a stretch."""

    name: ID
    title: str | None = Field(None, max_length=200)
    bands: list[int | Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = \
        Field(None, min_length=1, max_length=3, description="1 (grey/colormap) or 3 (RGB) bands, by index or name")
    expression: str | None = Field(None, min_length=1, max_length=2000, description="band math; ';' separates R;G;B")
    rescale: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = \
        Field(None, min_length=1, max_length=3, description="[[min, max]] once or per output")
    colormap: str | None = Field(None, max_length=10000, description="a colormap name or a JSON class map")
    gamma: float | None = Field(None, gt=0, le=10)

    @model_validator(mode="after")
    def _one_source(self) -> Preset:
        if self.bands and self.expression:
            raise ValueError("give bands or an expression, not both")
        return self


class CollectionUpdate(BodyModel):
    """The fields to change; those left out keep their values."""

    title: Title | None = None
    description: str | None = Field(None, max_length=10000)
    bands: list[Band] | None = Field(None, max_length=512)
    presets: list[Preset] | None = Field(None, max_length=100)
    properties: dict[str, Any] | None = None


class CollectionCreate(CollectionUpdate):
    """A new collection: its id, and any of the fields a change may set."""

    id: ID


class Extent(BodyModel):
    bbox: list[float] | None = Field(None, description="west, south, east, north of all its images")
    start: datetime | None = None
    end: datetime | None = None


class Collection(BodyModel):
    """A collection with how many images it holds, where and when, and its links."""

    id: str
    title: str
    description: str
    bands: list[dict[str, Any]]
    presets: list[dict[str, Any]]
    properties: dict[str, Any]
    image_count: int
    extent: Extent
    created_at: datetime
    updated_at: datetime
    links: list[Link]


class CollectionList(BodyModel):
    collections: list[Collection]
    count: int


class DeleteQuery(QueryModel):
    cascade: bool = Field(False, description="also delete the collection's images (files and rows)")


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/api/v1/collections", summary="List the collections", tags=TAGS,
          responses={200: CollectionList})
def list_collections() -> CollectionList:
    """Every collection with its image count, extent and time span."""
    with services().db.connection() as conn:
        rows = queries.list_collections(conn)
        extents = {row.id: queries.collection_extent(conn, row.id) for row in rows}
    items = [_collection(row, extents[row.id]) for row in rows]
    return CollectionList(collections=items, count=len(items))


@endpoint(blueprint, "POST", "/api/v1/collections", summary="Create a collection", tags=TAGS,
          body=CollectionCreate, responses={201: Collection, 409: None})
def create_collection(body: CollectionCreate) -> Response:
    """409 when the id is taken. Presets are checked against the given band names."""
    _check_presets(body.presets, [band.name for band in body.bands or []])
    with services().db.connection() as conn, conn.transaction():
        if queries.get_collection(conn, body.id) is not None:
            raise ApiError(409, "Conflict", f"collection {body.id!r} exists; PATCH it to change it")
        queries.upsert_collection(conn, body.id, body.title, body.description, _dump(body.bands),
                                  _dump(body.presets), body.properties)
    answer = get_collection_resource(body.id)
    response = Response(answer.model_dump_json(), status=201, mimetype="application/json")
    response.headers["Location"] = url_for("collections.get_collection", collection_id=body.id)
    return response


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>", summary="One collection", tags=TAGS,
          path_parameters=PATH, responses={200: Collection})
def get_collection(collection_id: str) -> Collection:
    return get_collection_resource(collection_id)


@endpoint(blueprint, "PATCH", "/api/v1/collections/<collection_id>", summary="Change a collection", tags=TAGS,
          path_parameters=PATH, body=CollectionUpdate, responses={200: Collection})
def update_collection(collection_id: str, body: CollectionUpdate) -> Collection:
    """Title, description, band metadata, presets or properties; what is not given is kept."""
    with services().db.connection() as conn, conn.transaction():
        row = queries.get_collection(conn, collection_id)
        if row is None:
            raise NotFound(f"no collection {collection_id!r} in the catalog")
        bands = [band.name for band in body.bands] if body.bands is not None else \
            [str(band.get("name")) for band in row.bands if band.get("name")]
        if not bands:
            bands = _image_band_names(conn, collection_id)
        _check_presets(body.presets, bands)
        queries.upsert_collection(conn, collection_id, body.title, body.description, _dump(body.bands),
                                  _dump(body.presets), body.properties)
    return get_collection_resource(collection_id)


@endpoint(blueprint, "DELETE", "/api/v1/collections/<collection_id>", summary="Delete a collection", tags=TAGS,
          path_parameters=PATH, query=DeleteQuery, responses={204: None, 409: None})
def delete_collection(collection_id: str, query: DeleteQuery) -> Response:
    """Refused (409) while it has images, unless `cascade=true` deletes them with it."""
    settings = services().settings
    with services().db.connection() as conn:
        if queries.get_collection(conn, collection_id) is None:
            raise NotFound(f"no collection {collection_id!r} in the catalog")
        image_ids = queries.collection_image_ids(conn, collection_id)
    if image_ids and not query.cascade:
        raise ApiError(409, "Conflict", f"collection {collection_id!r} has {len(image_ids)} image(s); delete them "
                       "first, or repeat with cascade=true to delete them with it")
    delete_images(services().db, settings, image_ids, then=lambda conn: queries.delete_collection(conn, collection_id))
    return Response(status=204)


# ---------------------------------------------------------------- helpers

def get_collection_resource(collection_id: str) -> Collection:
    with services().db.connection() as conn:
        rows = list(queries.list_collections(conn, [collection_id]))
        if not rows:
            raise NotFound(f"no collection {collection_id!r} in the catalog")
        return _collection(rows[0], queries.collection_extent(conn, collection_id))


def _collection(row: CollectionRecord, bbox: BBox | None) -> Collection:
    cid = row.id
    root = request.url_root.rstrip("/")
    links = [Link(href=f"{root}/api/v1/collections/{cid}", rel="self", type="application/json"),
             Link(href=f"{root}/api/v1/images?collections={cid}", rel="items", type="application/json",
                  title="the collection's images"),
             Link(href=f"{root}/stac/collections/{cid}", rel="alternate", type="application/json",
                  title="as a STAC collection")]
    if row.image_count:
        links.append(Link(href=f"{root}/tiles/{cid}/WebMercatorQuad/tilejson.json", rel="tiles",
                          type="application/json", title="XYZ tiles of the mosaic (TileJSON)"))
    return Collection(
        id=cid, title=row.title, description=row.description, bands=jsonable(row.bands),
        presets=jsonable(row.presets), properties=jsonable(row.properties), image_count=row.image_count,
        extent=Extent(bbox=list(bbox) if bbox else None, start=row.start_datetime, end=row.end_datetime),
        created_at=row.created_at, updated_at=row.updated_at, links=links)


def _check_presets(presets: list[Preset] | None, band_names: list[str]) -> None:
    """Each preset must be drawable: its bands exist (by index or name), its expression parses."""
    if not presets:
        return
    names = [p.name.lower() for p in presets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ApiError(400, "Bad Request", f"presets: the name {duplicates[0]!r} is used twice",
                       errors=[{"field": "presets", "message": f"duplicate name {duplicates[0]!r}"}])
    width = max([len(band_names)] + [b for p in presets for b in (p.bands or []) if isinstance(b, int)])
    known: list[str | None] = list(band_names) + [None] * (width - len(band_names))
    for index, preset in enumerate(presets):
        try:
            parse_render_spec({"style": [preset.name]}, known, [_dump_one(preset)])
        except InvalidInput as exc:
            field = f"presets.{index}"
            raise ApiError(400, "Bad Request", f"{field} ({preset.name}): {exc}",
                           errors=[{"field": field, "message": str(exc)}]) from None


def _image_band_names(conn, collection_id: str) -> list[str]:
    newest = queries.search_images(conn, queries.ImageQuery(collections=[collection_id], limit=1))
    return [str(band.get("name") or "") for band in newest[0].bands] if newest else []


def _dump(items: list | None) -> list | None:
    return None if items is None else [_dump_one(item) for item in items]


def _dump_one(item: BodyModel) -> dict:
    return item.model_dump(exclude_none=True)

