"""XYZ tiles and TileJSON: `/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{png|jpg|webp}`.

A layer is an image id, or a collection id drawn as a mosaic of its images that touch the tile,
newest on top, optionally filtered by `datetime` (a day, an instant or `start/end`).
A thin adapter: it looks the layer up in the catalog, parses the render parameters into a
RenderSpec, asks the raster core for the tile's area and renders it. Tiles outside the image are
answered with a transparent tile (200), so map clients draw nothing rather than log errors.
"""

from __future__ import annotations

from urllib.parse import urlencode

import morecantile
from flask import Blueprint, Response, current_app, request, url_for

from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.layers import Layer, images_for_area, parse_time_range
from cogbrowser.raster.render import FORMATS
from cogbrowser.raster.render_spec import RENDER_PARAMETERS
from cogbrowser.tile_grid import (
    TILE_MATRIX_SETS,
    TILE_SIZE,
    advertised_bounds,
    zoom_range,
)
from cogbrowser.web.context import services
from cogbrowser.web.problems import problem
from cogbrowser.web.rendering import rendered_response
from cogbrowser.web.tokens import TOKEN_PARAMETER

blueprint = Blueprint("tiles", __name__)


TILE_PARAMETERS = (*RENDER_PARAMETERS, "datetime", TOKEN_PARAMETER)  # datetime: time filter of collection layers


class _TileRequestError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _layer(name: str, tms_id: str) -> tuple[Layer, morecantile.TileMatrixSet]:
    """The layer and tile matrix set of a request, or a problem response."""
    if tms_id not in TILE_MATRIX_SETS:
        raise _TileRequestError(problem(404, "Not Found", f"unknown tile matrix set {tms_id!r} "
                                        f"(available: {', '.join(TILE_MATRIX_SETS)})"))
    unknown = sorted(set(request.args) - set(TILE_PARAMETERS))
    if unknown:
        raise _TileRequestError(problem(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                                        f"(parameters: {', '.join(TILE_PARAMETERS)})"))
    try:
        found = services().layers.find(name)
    except NotFound as exc:
        raise _TileRequestError(problem(404, "Not Found", str(exc))) from None
    return found, TILE_MATRIX_SETS[tms_id]


def _render_params() -> dict[str, list[str]]:
    return {k: v for k, v in request.args.to_dict(flat=False).items() if k in RENDER_PARAMETERS}


@blueprint.get("/tiles/<layer>/<tms_id>/<int:z>/<int:x>/<int:y>.<fmt>")
def tile(layer: str, tms_id: str, z: int, x: int, y: int, fmt: str) -> Response:
    if fmt.lower() not in FORMATS:
        return problem(404, "Not Found", f"unknown tile format {fmt!r} (use png, jpg or webp)")
    try:
        found, tms = _layer(layer, tms_id)
    except _TileRequestError as exc:
        return exc.response
    if not (tms.minzoom <= z <= tms.maxzoom):
        return problem(404, "Not Found", f"zoom {z} is outside {tms.minzoom}..{tms.maxzoom} of {tms_id}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        return problem(404, "Not Found", f"tile {z}/{x}/{y} is outside the {tms_id} grid")
    try:
        spec = found.spec(_render_params())
        bounds = tuple(tms.xy_bounds(x, y, z))
        images = images_for_area(services().db, found, tms.rasterio_crs, bounds,
                                 parse_time_range(request.args.get("datetime")))
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))

    try:
        return rendered_response(images, spec, tms.rasterio_crs, bounds, TILE_SIZE, TILE_SIZE, fmt)
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))


@blueprint.get("/tiles/<layer>/<tms_id>/tilejson.json")
def tilejson(layer: str, tms_id: str) -> Response:
    try:
        found, tms = _layer(layer, tms_id)
        found.spec(_render_params())
        parse_time_range(request.args.get("datetime"))
    except _TileRequestError as exc:
        return exc.response
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))
    west, south, east, north = advertised_bounds(found)
    query = f"?{urlencode(request.args, doseq=True)}" if request.args else ""
    template = url_for("tiles.tile", layer=layer, tms_id=tms_id, z=0, x=0, y=0, fmt="png", _external=True)
    template = template.replace("/0/0/0.png", "/{z}/{x}/{y}.png") + query
    minzoom, maxzoom = zoom_range(found.image, tms)
    return Response(current_app.json.dumps({
        "tilejson": "3.0.0", "name": layer, "scheme": "xyz", "tiles": [template],
        "minzoom": minzoom, "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(tms.minzoom, maxzoom - 3)],
    }), content_type="application/json", headers={"Access-Control-Allow-Origin": "*"})

