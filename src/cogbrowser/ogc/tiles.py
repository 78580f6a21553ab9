"""XYZ tiles and TileJSON: `/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{png|jpg|webp}`.

A layer is an image id, or a collection id drawn as a mosaic of its images that touch the tile,
optionally filtered by `datetime` (a day, an instant or `start/end`) and `max_cloud_cover`, the
newest on top (or as `mosaic_order` says: oldest, least-cloudy, or closest to `closest_to`).
A thin adapter, declared with `@endpoint` like the REST API: the declaration parses the query
string (the render parameters and `datetime`; anything else is a 400 naming it), describes both
routes in the OpenAPI document, and errors raised here (NotFound, InvalidInput) become problem
details in the shared handlers. It looks the layer up in the catalog, parses the render parameters
into a RenderSpec, picks the images that touch the tile and renders them. Tiles outside the image
are answered with a transparent tile (200), so map clients draw nothing rather than log errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import morecantile
from flask import Blueprint, Response, url_for
from pydantic import BaseModel, Field

from cogbrowser.errors import NotFound
from cogbrowser.layers import MosaicChoice, MosaicOrder, mosaic_choice
from cogbrowser.raster.render import FORMATS
from cogbrowser.tile_grid import (
    TILE_MATRIX_SETS,
    TILE_SIZE,
    advertised_bounds,
    tile_bounds,
    zoom_range,
)
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, json_response, link_args
from cogbrowser.web.params import DatetimeParam, RenderParams, interval
from cogbrowser.web.rendering import rendered_response

blueprint = Blueprint("tiles", __name__)

TAGS = ("tiles",)
TILE_PATH = "/tiles/<layer>/<tileMatrixSetId>/<int:z>/<int:x>/<int:y>.<format>"
TILEJSON_PATH = "/tiles/<layer>/<tileMatrixSetId>/tilejson.json"
CORS = {"Access-Control-Allow-Origin": "*"}  # map pages of any origin may draw the tiles

LAYER_PATH_PARAMETERS: dict[str, str | dict[str, Any]] = {
    "layer": "An image id, or a collection id: a mosaic of its images, newest on top",
    "tileMatrixSetId": {"type": "string", "enum": list(TILE_MATRIX_SETS),
                        "description": "The tile matrix set (OGC TMS 2.0): WebMercatorQuad is the grid of web maps"},
}
TILE_PATH_PARAMETERS: dict[str, str | dict[str, Any]] = {
    **LAYER_PATH_PARAMETERS,
    "z": "The zoom level (tile matrix)",
    "x": "The tile's column, from the west",
    "y": "The tile's row, from the north",
    "format": {"type": "string", "enum": list(FORMATS), "description": "The picture's format"},
}
TILE_ANSWERS: dict[int, Any] = {
    200: {"description": "The tile, 256 x 256 pixels (transparent where no image has data); a collection's "
                         "images whose file is gone are left out and named in X-Cogbrowser-Missing-Images",
          "content": {media: {"schema": {"type": "string", "format": "binary"}}
                      for media in dict.fromkeys(FORMATS.values())},
          "headers": {"X-Cogbrowser-Missing-Images": {
              "description": "ids of the mosaic's images left out because their file is missing",
              "schema": {"type": "string"}}}},
    304: None,
    400: "A render parameter, `datetime` or a mosaic parameter does not fit: `detail` names it",
    404: "No such layer, tile matrix set or format, or the zoom or tile is outside the tile matrix set",
    410: None,
}


class TileQuery(RenderParams):
    """The render parameters, and the acquisitions a collection layer draws."""

    datetime: DatetimeParam | None = None
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description=(
        "a collection's images with at most this cloud cover (percent); unknown cover passes no limit"))
    mosaic_order: MosaicOrder = Field("newest", description=(
        "which of a collection's images lies on top where they overlap: the newest, the oldest, the "
        "least cloudy, or the one acquired closest to `closest_to` (by default the end of `datetime`)"))
    closest_to: DatetimeParam | None = Field(None, description="the time of `mosaic_order=closest`")

    def mosaic(self) -> MosaicChoice:
        """The acquisitions a collection layer draws, and their order."""
        return mosaic_choice(interval(self.datetime), self.max_cloud_cover, self.mosaic_order, self.closest_to)


class TileJSON(BaseModel):
    """A TileJSON 3.0.0 document: the layer's tile URL template (with this request's query), zooms and box."""

    tilejson: str = "3.0.0"
    name: str
    scheme: str = "xyz"
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]  # west, south, east, north (WGS 84)
    center: tuple[float, float, int]  # longitude, latitude, zoom


def _tile_matrix_set(tms_id: str) -> morecantile.TileMatrixSet:
    tms = TILE_MATRIX_SETS.get(tms_id)
    if tms is None:
        raise NotFound(f"unknown tile matrix set {tms_id!r} (available: {', '.join(TILE_MATRIX_SETS)})")
    return tms


@endpoint(blueprint, "GET", TILE_PATH, summary="A map tile of an image or a collection", tags=TAGS,
          query=TileQuery, path_parameters=TILE_PATH_PARAMETERS, responses=TILE_ANSWERS)
def tile(layer: str, tileMatrixSetId: str, z: int, x: int, y: int, format: str, query: TileQuery) -> Response:
    """The tile drawn with the render parameters (a preset with `style`); a collection is a mosaic
    of its images that touch the tile (those acquired within `datetime`, under `max_cloud_cover`), the
    newest on top unless `mosaic_order` says otherwise. A tile of
    the grid outside the layer's images is transparent. Answers carry an ETag (304 when it matches)."""
    fmt = format.lower()
    if fmt not in FORMATS:
        raise NotFound(f"unknown tile format {format!r} (use png, jpg or webp)")
    tms = _tile_matrix_set(tileMatrixSetId)
    found = services().layers.find(layer)
    if not (tms.minzoom <= z <= tms.maxzoom):
        raise NotFound(f"zoom {z} is outside {tms.minzoom}..{tms.maxzoom} of {tileMatrixSetId}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise NotFound(f"tile {z}/{x}/{y} is outside the {tileMatrixSetId} grid")
    spec = found.spec(query.render_values())
    bounds = tile_bounds(tms, z, x, y)
    images = services().overviews.images_for_map(found, tms.rasterio_crs, bounds, TILE_SIZE, TILE_SIZE,
                                                 query.mosaic(), spec)
    return rendered_response(images, spec, tms.rasterio_crs, bounds, TILE_SIZE, TILE_SIZE, fmt,
                             mosaic=found.is_collection)


@endpoint(blueprint, "GET", TILEJSON_PATH, summary="The TileJSON of an image or a collection", tags=TAGS,
          query=TileQuery, path_parameters=LAYER_PATH_PARAMETERS,
          responses={200: TileJSON, 400: TILE_ANSWERS[400], 404: "No such layer or tile matrix set"})
def tilejson(layer: str, tileMatrixSetId: str, query: TileQuery) -> Response:
    """What a map library needs to show the layer: the tile URL template (carrying the render
    parameters and `datetime` given here), the zooms worth drawing and the layer's WGS 84 box."""
    tms = _tile_matrix_set(tileMatrixSetId)
    found = services().layers.find(layer)
    found.spec(query.render_values())  # a render parameter the layer cannot draw is refused now, not per tile
    query.mosaic()  # ... and a mosaic order without its time
    west, south, east, north = advertised_bounds(found)
    search = f"?{urlencode(link_args())}" if link_args() else ""  # the render parameters, never the token
    template = url_for("tiles.tile", layer=layer, tileMatrixSetId=tileMatrixSetId, z=0, x=0, y=0, format="png",
                       _external=True)
    template = template.replace("/0/0/0.png", "/{z}/{x}/{y}.png") + search
    minzoom, maxzoom = zoom_range(found.image, tms)
    document = TileJSON(name=layer, tiles=[template], minzoom=minzoom, maxzoom=maxzoom,
                        bounds=(west, south, east, north),
                        center=((west + east) / 2, (south + north) / 2, max(tms.minzoom, maxzoom - 3)))
    return json_response(document, headers=CORS)
