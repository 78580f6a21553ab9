"""XYZ tiles and TileJSON: `/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{png|jpg|webp}`.

A layer is an image id, or a collection id drawn as a mosaic of its images that touch the tile,
newest on top, optionally filtered by `datetime` (a day, an instant or `start/end`).
A thin adapter: it looks the layer up in the catalog, parses the render parameters into a
RenderSpec, asks the raster core for the tile's area and renders it. Tiles outside the image are
answered with a transparent tile (200), so map clients draw nothing rather than log errors.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import morecantile
import numpy as np
from flask import Blueprint, Response, current_app, request, url_for
from pyproj import Transformer

from cogbrowser.api.problems import problem
from cogbrowser.catalog import queries
from cogbrowser.errors import InvalidInput
from cogbrowser.ogc.tile_cache import TileCache
from cogbrowser.raster.metadata import parse_datetime
from cogbrowser.raster.reader import read_area
from cogbrowser.raster.render import FORMATS, encode, render
from cogbrowser.raster.render_spec import RENDER_PARAMETERS, parse_render_spec

blueprint = Blueprint("tiles", __name__)

TILE_MATRIX_SETS = ("WebMercatorQuad", "WorldCRS84Quad")
TILE_SIZE = 256


TILE_PARAMETERS = (*RENDER_PARAMETERS, "datetime")  # datetime: time filter of collection layers
MAX_MOSAIC_IMAGES = 50


class _TileRequestError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class Layer:
    """What a layer name stands for: one image, or a collection drawn as a mosaic (newest on top)."""

    id: str
    image: dict  # the image itself, or the collection's newest image (band names, resolution)
    collection: dict | None
    is_collection: bool

    @property
    def presets(self) -> list:
        return self.collection["presets"] if self.collection else []

    def spec(self):
        band_names = [band.get("name") for band in self.image["bands"]]
        params = {k: v for k, v in request.args.to_dict(flat=False).items() if k in RENDER_PARAMETERS}
        return parse_render_spec(params, band_names, self.presets)


def _layer(layer: str, tms_id: str) -> tuple[Layer, morecantile.TileMatrixSet]:
    """The layer and tile matrix set of a request, or a problem response."""
    if tms_id not in TILE_MATRIX_SETS:
        raise _TileRequestError(problem(404, "Not Found", f"unknown tile matrix set {tms_id!r} "
                                        f"(available: {', '.join(TILE_MATRIX_SETS)})"))
    unknown = sorted(set(request.args) - set(TILE_PARAMETERS))
    if unknown:
        raise _TileRequestError(problem(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                                        f"(parameters: {', '.join(TILE_PARAMETERS)})"))
    with current_app.extensions["cogbrowser.db"].connection() as conn:
        row = queries.get_image(conn, layer)
        if row is not None:
            collection = queries.get_collection(conn, row["collection_id"]) if row["collection_id"] else None
            return Layer(layer, row, collection, False), morecantile.tms.get(tms_id)
        collection = queries.get_collection(conn, layer)
        newest = queries.search_images(conn, queries.ImageQuery(collections=[layer], limit=1)) if collection else []
    if collection is None:
        raise _TileRequestError(problem(404, "Not Found", f"no image or collection {layer!r} in the catalog"))
    if not newest:
        raise _TileRequestError(problem(404, "Not Found", f"collection {layer!r} has no images yet"))
    return Layer(layer, newest[0], collection, True), morecantile.tms.get(tms_id)


def _time_range() -> tuple[datetime | None, datetime | None]:
    """`datetime` as one instant/day, or an interval `start/end` with `..` for an open end."""
    text = request.args.get("datetime", "").strip()
    if not text:
        return None, None
    parts = text.split("/")
    if len(parts) > 2:
        raise InvalidInput(f"datetime: {text!r} is not a time or an interval 'start/end'")
    values = []
    for part in parts:
        if part in ("", ".."):
            values.append(None)
            continue
        value = parse_datetime(part)
        if value is None:
            raise InvalidInput(f"datetime: {part!r} is not a date or time (e.g. 2024-06-01 or 2024-06-01T10:00:00Z)")
        values.append(value)
    if len(values) == 1:  # a bare date means that whole day
        start = values[0]
        day_only = len(parts[0]) <= 10
        return start, (start + timedelta(days=1) - timedelta(microseconds=1)) if day_only else start
    if values[0] and values[1] and values[0] > values[1]:
        raise InvalidInput(f"datetime: the interval {text!r} ends before it starts")
    return values[0], values[1]


def _images_for(layer: Layer, tms: morecantile.TileMatrixSet, x: int, y: int, z: int) -> list[dict]:
    if not layer.is_collection:
        return [layer.image]
    start, end = _time_range()
    west, south, east, north = tms.bounds(x, y, z)
    with current_app.extensions["cogbrowser.db"].connection() as conn:
        return queries.search_images(conn, queries.ImageQuery(
            bbox=(west, south, east, north), collections=[layer.id], start=start, end=end,
            sort="acquired_at", descending=True, limit=MAX_MOSAIC_IMAGES))


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
        spec = found.spec()
        images = _images_for(found, tms, x, y, z)
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))

    etag = hashlib.blake2b(repr(([i["checksum"] for i in images], tms_id, z, x, y, fmt.lower(),
                                 sorted(request.args.items(multi=True)))).encode(), digest_size=16).hexdigest()
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)

    cache: TileCache = current_app.extensions["cogbrowser.tile_cache"]
    cached = cache.get(etag)
    if cached is not None:
        return Response(cached, headers=headers, content_type=FORMATS[fmt.lower()])

    try:
        rgba = _mosaic(images, spec, tuple(tms.xy_bounds(x, y, z)), tms)
    except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
        return problem(400, "Bad Request", str(exc))
    body = encode(rgba, fmt)
    cache.put(etag, body)
    return Response(body, headers=headers, content_type=FORMATS[fmt.lower()])


def _mosaic(images: list[dict], spec, bounds: tuple, tms: morecantile.TileMatrixSet) -> np.ndarray:
    """Render each image in turn (newest first) into the pixels still empty, until none are."""
    settings = current_app.config["COGBROWSER_SETTINGS"]
    rgba = np.zeros((4, TILE_SIZE, TILE_SIZE), dtype=np.uint8)
    for image in images:
        nodata = spec.nodata if spec.nodata is not None else image["nodata"]
        area = read_area(settings.image_file(image["path"]), tms.rasterio_crs, bounds, TILE_SIZE, TILE_SIZE,
                         spec.source_bands, resampling=spec.resampling, nodata=nodata)
        if not area.valid.any():
            continue
        drawn = render(area.data, area.valid, spec, image["bands"])
        empty = (rgba[3] == 0) & (drawn[3] > 0)
        rgba[:, empty] = drawn[:, empty]
        if (rgba[3] > 0).all():
            break
    return rgba


@blueprint.get("/tiles/<layer>/<tms_id>/tilejson.json")
def tilejson(layer: str, tms_id: str) -> Response:
    try:
        found, tms = _layer(layer, tms_id)
        found.spec()
        _time_range()
    except _TileRequestError as exc:
        return exc.response
    except InvalidInput as exc:
        return problem(400, "Bad Request", str(exc))
    if found.is_collection:
        with current_app.extensions["cogbrowser.db"].connection() as conn:
            west, south, east, north = queries.collection_extent(conn, layer)
    else:
        west, south, east, north = found.image["bbox"]
    if east > 180:  # across the antimeridian: TileJSON bounds cannot wrap
        west, east = -180.0, 180.0
    query = f"?{urlencode(request.args, doseq=True)}" if request.args else ""
    template = url_for("tiles.tile", layer=layer, tms_id=tms_id, z=0, x=0, y=0, fmt="png", _external=True)
    template = template.replace("/0/0/0.png", "/{z}/{x}/{y}.png") + query
    maxzoom = _native_zoom(found.image, tms)
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
