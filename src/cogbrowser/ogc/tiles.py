"""XYZ tiles and TileJSON: `/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{png|jpg|webp}`.

A thin adapter: it looks the image up in the catalog, parses the render parameters into a
RenderSpec, asks the raster core for the tile's area and renders it. Tiles outside the image are
answered with a transparent tile (200), so map clients draw nothing rather than log errors.
"""

from __future__ import annotations

import hashlib
import math
from urllib.parse import urlencode

import morecantile
from flask import Blueprint, Response, current_app, request, url_for
from pyproj import Transformer

from cogbrowser.api.problems import problem
from cogbrowser.catalog import queries
from cogbrowser.errors import InvalidInput
from cogbrowser.ogc.tile_cache import TileCache
from cogbrowser.raster.reader import read_area
from cogbrowser.raster.render import FORMATS, encode, render
from cogbrowser.raster.render_spec import RENDER_PARAMETERS, parse_render_spec

blueprint = Blueprint("tiles", __name__)

TILE_MATRIX_SETS = ("WebMercatorQuad", "WorldCRS84Quad")
TILE_SIZE = 256


class _TileRequestError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _layer(layer: str, tms_id: str) -> tuple[dict, dict | None, morecantile.TileMatrixSet]:
    """The image row, its collection and the tile matrix set of a request, or a problem response."""
    if tms_id not in TILE_MATRIX_SETS:
        raise _TileRequestError(problem(404, "Not Found", f"unknown tile matrix set {tms_id!r} "
                                        f"(available: {', '.join(TILE_MATRIX_SETS)})"))
    unknown = sorted(set(request.args) - set(RENDER_PARAMETERS))
    if unknown:
        raise _TileRequestError(problem(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                                        f"(render parameters: {', '.join(RENDER_PARAMETERS)})"))
    with current_app.extensions["cogbrowser.db"].connection() as conn:
        row = queries.get_image(conn, layer)
        collection = queries.get_collection(conn, row["collection_id"]) if row and row["collection_id"] else None
    if row is None:
        raise _TileRequestError(problem(404, "Not Found", f"no image {layer!r} in the catalog"))
    return row, collection, morecantile.tms.get(tms_id)


def _spec(row: dict, collection: dict | None):
    band_names = [band.get("name") for band in row["bands"]]
    presets = collection["presets"] if collection else []
    return parse_render_spec(request.args.to_dict(flat=False), band_names, presets)


@blueprint.get("/tiles/<layer>/<tms_id>/<int:z>/<int:x>/<int:y>.<fmt>")
def tile(layer: str, tms_id: str, z: int, x: int, y: int, fmt: str) -> Response:
    if fmt.lower() not in FORMATS:
        return problem(404, "Not Found", f"unknown tile format {fmt!r} (use png, jpg or webp)")
    try:
        row, collection, tms = _layer(layer, tms_id)
    except _TileRequestError as exc:
        return exc.response
    if not (tms.minzoom <= z <= tms.maxzoom):
        return problem(404, "Not Found", f"zoom {z} is outside {tms.minzoom}..{tms.maxzoom} of {tms_id}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        return problem(404, "Not Found", f"tile {z}/{x}/{y} is outside the {tms_id} grid")
    try:
        spec = _spec(row, collection)
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))

    etag = hashlib.blake2b(repr((row["checksum"], tms_id, z, x, y, fmt.lower(),
                                 sorted(request.args.items(multi=True)))).encode(), digest_size=16).hexdigest()
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)

    cache: TileCache = current_app.extensions["cogbrowser.tile_cache"]
    cached = cache.get(etag)
    if cached is not None:
        return Response(cached, headers=headers, content_type=FORMATS[fmt.lower()])

    bounds = tms.xy_bounds(x, y, z)
    nodata = spec.nodata if spec.nodata is not None else row["nodata"]
    path = current_app.config["COGBROWSER_SETTINGS"].image_file(row["path"])
    try:
        area = read_area(path, tms.rasterio_crs, tuple(bounds), TILE_SIZE, TILE_SIZE, spec.source_bands,
                         resampling=spec.resampling, nodata=nodata)
    except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
        return problem(400, "Bad Request", str(exc))
    body = encode(render(area.data, area.valid, spec, row["bands"]), fmt)
    cache.put(etag, body)
    return Response(body, headers=headers, content_type=FORMATS[fmt.lower()])


@blueprint.get("/tiles/<layer>/<tms_id>/tilejson.json")
def tilejson(layer: str, tms_id: str) -> Response:
    try:
        row, collection, tms = _layer(layer, tms_id)
        _spec(row, collection)
    except _TileRequestError as exc:
        return exc.response
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))
    west, south, east, north = row["bbox"]
    if east > 180:  # across the antimeridian: TileJSON bounds cannot wrap
        west, east = -180.0, 180.0
    query = f"?{urlencode(request.args, doseq=True)}" if request.args else ""
    template = url_for("tiles.tile", layer=layer, tms_id=tms_id, z=0, x=0, y=0, fmt="png", _external=True)
    template = template.replace("/0/0/0.png", "/{z}/{x}/{y}.png") + query
    maxzoom = _native_zoom(row, tms)
    return Response(current_app.json.dumps({
        "tilejson": "3.0.0", "name": layer, "scheme": "xyz", "tiles": [template],
        "minzoom": max(tms.minzoom, maxzoom - 12), "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(tms.minzoom, maxzoom - 3)],
    }), content_type="application/json", headers={"Access-Control-Allow-Origin": "*"})


def _native_zoom(row: dict, tms: morecantile.TileMatrixSet) -> int:
    """The zoom whose pixels are as fine as the image's, measured at its centre in the TMS's CRS."""
    left, bottom, right, top = row["native_bounds"]
    cx, cy = (left + right) / 2, (bottom + top) / 2
    to_tms = Transformer.from_crs(row["crs"], tms.rasterio_crs.to_wkt(), always_xy=True)
    (x0, x1), (y0, y1) = to_tms.transform([cx, cx + row["resolution"][0]], [cy, cy])
    resolution = math.hypot(x1 - x0, y1 - y0)
    if not math.isfinite(resolution) or resolution <= 0:
        return tms.minzoom
    return int(min(tms.maxzoom, max(tms.minzoom, tms.zoom_for_res(resolution))))
