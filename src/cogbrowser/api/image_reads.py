"""`/api/v1/images/{image_id}/…`: the reads of one image that are not map tiles.

- `point`: every band's raw value at a lon/lat (or x/y in a CRS), with the pixel's row and column;
- `statistics` (GET, or POST a GeoJSON zone): count, min, max, mean, std, median, p2/p98 and a
  histogram per band or expression over a bbox, a polygon or the whole image;
- `export`: an area as a GeoTIFF of raw values (`format=tif`, the default) or as a picture;
- `preview.{png|jpg|webp}`: the whole image, small, in its own CRS (no reprojection, so the
  picture has the image's own aspect ratio and is read straight from one overview).

They take the render parameters of tiles (`bands`, `expression`, `style`, `nodata`, …). A thin
adapter: parsing and reading live in the raster core (raster/point, zonal, export, region); here
catalog rows are looked up and errors become problem details — 400 for bad input (the detail names
the parameter), 404 for an unknown image and for a point or area outside the image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from affine import Affine
from flask import Blueprint, Response, jsonify, request
from pydantic import Field
from rasterio.crs import CRS

from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.layers import Layer, read_image_area
from cogbrowser.raster.export import Grid, export_geotiff, fit_size, parse_export_grid
from cogbrowser.raster.outputs import band_label, output_names, parse_outputs
from cogbrowser.raster.point import parse_point, read_pixel
from cogbrowser.raster.region import ImageExtent, OutsideImage
from cogbrowser.raster.render import FORMATS
from cogbrowser.raster.render_spec import RENDER_PARAMETERS
from cogbrowser.raster.zonal import parse_bins, parse_zone, zonal_statistics
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import RawBody, endpoint
from cogbrowser.web.params import GeoJSONText, QueryModel, RenderParams, Text
from cogbrowser.web.problems import ApiError
from cogbrowser.web.rendering import cached_response, rendered_response

blueprint = Blueprint("image_reads", __name__)

IMAGE = "/api/v1/images/<image_id>"
TAGS = ("image reads",)
PATH = {"image_id": "The image's id"}
PICTURE_ONLY = ("rescale", "gain", "gamma", "colormap")  # meaningless for raw values
DEFAULT_PREVIEW_SIZE = 512
MAX_PREVIEW_SIZE = 2048
GEOJSON_BODY = RawBody({"application/geo+json": {"type": "object"}, "application/json": {"type": "object"}},
                       "A GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (WGS 84): the zone",
                       required=False)
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
PICTURES = {"content": {media: {"schema": {"type": "string", "format": "binary"}}
                        for media in ("image/tiff", "image/png", "image/jpeg", "image/webp")}}


class PointQuery(QueryModel):
    lon: Text | None = Field(None, description="longitude (WGS 84), with lat")
    lat: Text | None = Field(None, description="latitude (WGS 84), with lon")
    x: Text | None = Field(None, description="x in `crs` (default: the image's CRS), with y")
    y: Text | None = Field(None, description="y in `crs`, with x")
    crs: Text | None = Field(None, description="CRS of x/y: EPSG:4326, EPSG:3857, a UTM zone or the image's own")
    expression: Text | None = Field(None, description="band math to evaluate there too; ';' separates several")
    nodata: Text | None = None


class StatisticsQuery(QueryModel):
    bbox: Text | None = Field(None, description="west,south,east,north in bbox-crs (default WGS 84)")
    bbox_crs: Text | None = Field(None, alias="bbox-crs")
    geometry: GeoJSONText | None = Field(None, description="the zone as GeoJSON text (or POST it as the body)")
    bands: Text | None = Field(None, description="bands by index or name (default: all)")
    expression: Text | None = Field(None, description="band math; ';' separates several")
    style: Text | None = None
    nodata: Text | None = None
    bins: Text | None = Field(None, description="histogram bins (default 10)")
    range: Text | None = Field(None, description="histogram range min,max (default: the data's)")


class ExportQuery(RenderParams):
    bbox: Text | None = Field(None, description="west,south,east,north in bbox-crs (default: the whole image)")
    bbox_crs: Text | None = Field(None, alias="bbox-crs")
    crs: Text | None = Field(None, description="output CRS: EPSG:4326, EPSG:3857, a UTM zone or the image's own")
    format: Text | None = Field(None, description="tif (raw values, the default), png, jpg or webp")
    width: Text | None = None
    height: Text | None = None
    resolution: Text | None = Field(None, description="pixel size in the output CRS's units: r or rx,ry")


class PreviewQuery(RenderParams):
    max_size: Text | None = Field(None, description=f"longest side in pixels (default {DEFAULT_PREVIEW_SIZE}, "
                                                    f"at most {MAX_PREVIEW_SIZE})")


def image_read(view: Callable) -> Callable:
    """Look the image up for a view of one image, and say precisely what is missing or outside."""
    @functools.wraps(view)
    def wrapper(image_id: str, query: QueryModel, **kwargs: str) -> Response:
        try:
            return view(_image_layer(image_id), **kwargs)
        except OutsideImage as exc:
            raise ApiError(404, "Not Found", f"{exc.what} is outside the extent of image {image_id!r}") from None
        except FileNotFoundError:
            raise ApiError(410, "Gone", f"the file of image {image_id!r} is missing on the server") from None
    return wrapper


@endpoint(blueprint, "GET", f"{IMAGE}/point", summary="Every band's raw value at a point", tags=TAGS,
          path_parameters=PATH, query=PointQuery, responses={200: {"content": {"application/json": {
              "schema": {"type": "object"}}}}, 410: None})
@image_read
def point(layer: Layer) -> Response:
    """The pixel under lon/lat (or x/y in a CRS): its row and column, every band's value (null where
    the pixel is no data) and the value of any `expression`. 404 outside the image."""
    image = layer.image
    crs, x, y, what = parse_point(*(request.args.get(k) for k in ("lon", "lat", "x", "y", "crs")), _extent(image))
    spec = parse_outputs(_params("expression", "nodata"), layer.band_names, layer.presets)
    pixel = read_pixel(_file(image), crs, x, y, _nodata(spec.nodata, image), spec.expressions)
    if pixel is None:
        raise OutsideImage(what)
    return jsonify({
        **_identity(image), "row": pixel.row, "col": pixel.col,
        "bands": [band_label(layer.band_names, i) for i in range(1, len(layer.band_names) + 1)],
        "values": pixel.values,
        "expressions": [{"expression": str(e), "value": v} for e, v in zip(spec.expressions, pixel.expressions)],
    })


STATISTICS = dict(summary="Statistics and histogram over a bbox, a polygon or the whole image", tags=TAGS,
                  path_parameters=PATH, query=StatisticsQuery,
                  responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, 410: None})


@endpoint(blueprint, "POST", f"{IMAGE}/statistics", access="read", raw_body=GEOJSON_BODY, name="statistics_post",
          **STATISTICS)
@endpoint(blueprint, "GET", f"{IMAGE}/statistics", **STATISTICS)
@image_read
def statistics(layer: Layer) -> Response:
    """count, min, max, mean, std, median, 2/98 % and a histogram per band or expression, on the
    image's own pixels (read from an overview for large zones; the answer says which)."""
    image = layer.image
    spec = parse_outputs(_params("bands", "expression", "style", "nodata"), layer.band_names, layer.presets)
    bins, value_range = parse_bins(request.args.get("bins"), request.args.get("range"))
    body = request.get_data(as_text=True) if request.method == "POST" else None
    shapes, what = parse_zone(request.args.get("bbox"), request.args.get("bbox-crs"), request.args.get("geometry"),
                              body, _extent(image))
    result = zonal_statistics(_file(image), spec, shapes, what=what, bins=bins, value_range=value_range)
    window = result.window
    return jsonify({
        **_identity(image), "overview_level": result.overview_level, "resolution": list(result.resolution),
        "window": {"col_off": window.col_off, "row_off": window.row_off, "width": window.width,
                   "height": window.height},
        "shape": list(result.shape), "pixels": result.pixels, "all_touched": result.all_touched,
        "statistics": [{"name": name, **summary}
                       for name, summary in zip(output_names(spec, layer.band_names), result.outputs)],
    })


@endpoint(blueprint, "GET", f"{IMAGE}/export", summary="An area as a GeoTIFF of raw values, or as a picture",
          tags=TAGS, path_parameters=PATH, query=ExportQuery, responses={200: PICTURES, 410: None})
@image_read
def export(layer: Layer) -> Response:
    """In EPSG:4326, EPSG:3857, a UTM zone or the image's own CRS; at the image's resolution (snapped
    to its pixels in its own CRS) or the `width`/`height`/`resolution` asked."""
    image = layer.image
    fmt = _export_format(request.args.get("format"))
    grid = parse_export_grid(request.args, _extent(image), services().settings.max_image_size)
    epsg = grid.crs.to_epsg()
    name = f"{image.id}_{f'EPSG{epsg}' if epsg else 'native'}_{grid.width}x{grid.height}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "tif":
        return _geotiff_response(layer, grid, headers)
    spec = layer.spec(_params(*RENDER_PARAMETERS))
    return rendered_response([image], spec, grid.crs, grid.bounds, grid.width, grid.height, fmt, headers)


@endpoint(blueprint, "GET", f"{IMAGE}/preview.<fmt>", summary="A thumbnail of the whole image", tags=TAGS,
          path_parameters={**PATH, "fmt": "png, jpg or webp"}, query=PreviewQuery,
          responses={200: {"content": {media: {"schema": {"type": "string", "format": "binary"}}
                                       for media in ("image/png", "image/jpeg", "image/webp")}}, 410: None})
@image_read
def preview(layer: Layer, fmt: str) -> Response:
    """In the image's own CRS (no reprojection: its own aspect ratio, read from one overview)."""
    image = layer.image
    if fmt.lower() not in FORMATS:
        raise NotFound(f"unknown preview format {fmt!r} (use png, jpg or webp)")
    max_size = request.args.get("max_size", str(DEFAULT_PREVIEW_SIZE)).strip()
    if not max_size.isdigit() or not 1 <= int(max_size) <= MAX_PREVIEW_SIZE:
        raise InvalidInput(f"max_size: {max_size!r} is not a whole number of pixels in 1..{MAX_PREVIEW_SIZE}")
    width, height = fit_size(image.width, image.height, int(max_size))
    spec = layer.spec(_params(*RENDER_PARAMETERS))
    return rendered_response([image], spec, _extent(image).crs, image.native_bounds, width, height, fmt)


# ---------------------------------------------------------------- helpers

def _export_format(text: str | None) -> str:
    fmt = (text or "tif").strip().lower()
    fmt = "tif" if fmt in ("tiff", "geotiff") else fmt
    if fmt != "tif" and fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not offered (use tif, png, jpg or webp)")
    return fmt


def _geotiff_response(layer: Layer, grid: Grid, headers: dict) -> Response:
    """The raw values of the asked bands or expressions on `grid`, as a GeoTIFF (ETag, 304, cache)."""
    given = [p for p in PICTURE_ONLY if p in request.args]
    if given:
        raise InvalidInput(f"{given[0]}: applies to pictures (format=png, jpg or webp), not to raw values (tif)")
    image = layer.image
    spec = parse_outputs(_params("bands", "expression", "style", "nodata", "resampling"), layer.band_names,
                         layer.presets)

    def body() -> bytes:
        try:
            area = read_image_area(image, _file(image), spec, grid.crs, grid.bounds, grid.width, grid.height)
        except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
            raise InvalidInput(str(exc)) from None
        return export_geotiff(area, spec, grid, _nodata(spec.nodata, image), output_names(spec, layer.band_names))

    key = repr(("export", image.checksum, request.path, sorted(request.args.items(multi=True))))
    return cached_response(key, body, "image/tiff", headers)


def _image_layer(image_id: str) -> Layer:
    """The image as a layer (its bands, and its collection's presets for `style`); NotFound if none."""
    try:
        layer = services().layers.find(image_id)
    except NotFound:
        layer = None
    if layer is None or layer.is_collection:
        raise NotFound(f"no image {image_id!r} in the catalog")
    return layer


def _params(*names: str) -> dict[str, list[str]]:
    return {name: request.args.getlist(name) for name in names if name in request.args}


def _extent(image: ImageRecord) -> ImageExtent:
    return ImageExtent(CRS.from_wkt(image.crs), image.epsg, Affine(*image.transform),
                       tuple(image.native_bounds), tuple(image.bbox))


def _file(image: ImageRecord) -> Path:
    return services().image_file(image.path)


def _nodata(override: float | None, image: ImageRecord) -> float | None:
    return override if override is not None else image.nodata


def _identity(image: ImageRecord) -> dict[str, Any]:
    acquired = image.acquired_at
    return {"image_id": image.id, "acquired_at": acquired.isoformat() if acquired else None}
