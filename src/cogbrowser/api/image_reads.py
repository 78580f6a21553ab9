"""`/api/v1/images/{image_id}/…`: the reads of one image that are not map tiles.

- `point`: every band's raw value at a lon/lat (or x/y in a CRS), with the pixel's row and column;
- `statistics` (GET, or POST a GeoJSON zone): count, min, max, mean, std, median, p2/p98 and a
  histogram per band or expression over a bbox, a polygon or the whole image; asked with
  `Prefer: respond-async`, a job (`statistics_job`: the same JSON), as the pages ask for them;
- `export`: an area as a GeoTIFF of raw values (`format=tif`, the default) or as a picture; a large
  one (over COGBROWSER_SYNC_RENDER_PIXELS), or one asked with `Prefer: respond-async`, is a job
  (202; `export_job` runs it, api/jobs.py says when);
- `preview.{png|jpg|webp}`: the whole image, small, in its own CRS (no reprojection, so the
  picture has the image's own aspect ratio and is read straight from one overview).

They take the render parameters of tiles (`bands`, `expression`, `style`, `nodata`, …). A thin
adapter: each request is parsed once, into the query models below (numbers, EPSG codes, BBoxes by
the one antimeridian rule, GeoJSON polygons); the checks that need the image (is this CRS offered
for it, which part of the area lies over it) follow once the image is known; reading is the raster
core's (raster/point, zonal, export, region). Errors become problem details — 400 for bad input
(the detail names the parameter), 404 for an unknown image and for a point or area outside the image.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
from flask import Blueprint, Response, jsonify
from pydantic import AfterValidator, Field, PlainValidator, StringConstraints, WithJsonSchema, model_validator
from rasterio.crs import CRS
from werkzeug.datastructures import MultiDict

from cogbrowser.api.export_pictures import (
    DECORATIONS,
    KMZ,
    ON_THE_MAP_ONLY,
    detection_outlines,
    is_report,
    media_type,
    picture_bytes,
)
from cogbrowser.api.jobs import Job, prefers_async, render_job_answer, runs_as_job
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.config import Settings
from cogbrowser.errors import ImageFileMissing, InvalidInput, NotFound
from cogbrowser.jobs import JobRecord, Outcome, Report, render_to_file
from cogbrowser.layers import Layer, find_layer, images_on_disk, read_image_area, render_layer
from cogbrowser.raster.crs import OFFERED_EPSG, OFFERED_TEXT, WGS84, epsg_crs
from cogbrowser.raster.decorations import outside_mask
from cogbrowser.raster.export import Grid, Size, bounds_in, export_geotiff, fit_size, plan_grid
from cogbrowser.raster.outputs import band_label, output_names, parse_outputs
from cogbrowser.raster.point import read_pixel
from cogbrowser.raster.reader import Source
from cogbrowser.raster.region import (
    ImageExtent,
    OutsideImage,
    bbox_zone,
    geojson_polygons,
    shapes_bounds,
    shapes_to_crs,
)
from cogbrowser.raster.render import FORMATS, encode
from cogbrowser.raster.render_spec import RenderSpec
from cogbrowser.raster.zonal import DEFAULT_BINS, MAX_BINS, zonal_statistics
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import RawBody, endpoint, parse_query, read_json_body
from cogbrowser.web.params import (
    BBoxNumbers,
    EpsgCode,
    FiniteNumber,
    MinMax,
    Number,
    PolygonsParam,
    RenderParams,
    RenderQuery,
    Text,
    TextList,
    WholeNumber,
    area_bbox,
    list_numbers,
    list_text,
    render_field,
)
from cogbrowser.web.problems import ApiError, bad_request
from cogbrowser.web.rendering import cached_response, rendered_response

blueprint = Blueprint("image_reads", __name__)

IMAGE = "/api/v1/images/<image_id>"
TAGS = ("image reads",)
PATH = {"image_id": "The image's id"}
PICTURE_ONLY = ("rescale", "gain", "gamma", "colormap")  # meaningless for raw values
REPORT_ONLY = ("decorations", "caption", "detection_classes", "detection_min_score")  # drawn on pictures
DEFAULT_PREVIEW_SIZE = 512
MAX_PREVIEW_SIZE = 2048
GEOJSON_BODY = RawBody({"application/geo+json": {"type": "object"}, "application/json": {"type": "object"}},
                       "A GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (WGS 84): the zone",
                       required=False)
PICTURES = {"content": {media: {"schema": {"type": "string", "format": "binary"}}
                        for media in ("image/tiff", "image/png", "image/jpeg", "image/webp")}}
JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
EXPORT_FORMATS = {"tif": "tif", "tiff": "tif", "geotiff": "tif", **{name: name for name in FORMATS}, KMZ: KMZ}
ON_THE_EARTH = "is not on the Earth (lon in -180..180, lat in -90..90)"


# ---------------------------------------------------------------- the queries

class PointQuery(RenderQuery):
    lon: Annotated[float, FiniteNumber(-180, 180, ON_THE_EARTH)] | None = Field(
        None, description="longitude (WGS 84), with lat")
    lat: Annotated[float, FiniteNumber(-90, 90, ON_THE_EARTH)] | None = Field(
        None, description="latitude (WGS 84), with lon")
    x: Number | None = Field(None, description="x in `crs` (default: the image's CRS), with y")
    y: Number | None = Field(None, description="y in `crs`, with x")
    crs: EpsgCode | None = Field(None, description=f"CRS of x/y: {OFFERED_TEXT} or the image's own")
    expression: Text | None = Field(None, description="band math to evaluate there too; ';' separates several")
    nodata: Text | None = render_field("nodata")

    @model_validator(mode="after")
    def _one_point(self) -> PointQuery:
        """lon and lat, or x and y (with crs): not both, not half of one."""
        geographic, projected = self.lon is not None or self.lat is not None, self.x is not None or self.y is not None
        if geographic and projected:
            raise bad_request("x", "give lon and lat, or x and y (with crs), not both")
        if not geographic and not projected:
            raise bad_request("lon", "give lon and lat (WGS 84), or x and y (with crs)")
        for name in ("lon", "lat") if geographic else ("x", "y"):
            if getattr(self, name) is None:
                raise bad_request(name, "a number is required")
        if geographic and self.crs is not None:
            raise bad_request("crs", "it applies to x and y; lon and lat are always WGS 84")
        return self


class StatisticsQuery(RenderQuery):
    bbox: BBoxNumbers | None = None
    bbox_crs: EpsgCode | None = Field(None, alias="bbox-crs", description="the CRS of bbox (default EPSG:4326)")
    geometry: PolygonsParam | None = Field(None, description="the zone as GeoJSON (or POST it as the body)")
    bands: Text | None = Field(None, description="bands by index or name (default: all)")
    expression: Text | None = Field(None, description="band math; ';' separates several")
    style: Text | None = render_field("style")
    nodata: Text | None = render_field("nodata")
    bins: Annotated[int, WholeNumber(1, MAX_BINS)] = Field(DEFAULT_BINS, description="histogram bins")
    range: MinMax | None = Field(None, description="histogram range min,max (default: the data's)")

    @model_validator(mode="after")
    def _one_zone(self) -> StatisticsQuery:
        """One zone at most; a bbox by the rule of its CRS."""
        if self.bbox is not None and self.geometry is not None:
            raise bad_request("geometry", "give one zone, not bbox and geometry")
        if self.bbox_crs is not None and self.bbox is None:
            raise bad_request("bbox-crs", "it says the CRS of bbox, and no bbox is given")
        if self.bbox is not None:
            self.bbox = area_bbox(self.bbox, self.bbox_crs)
        return self


def _export_format(value: Any) -> str:
    """tif (also tiff, geotiff) or a picture format, in any case."""
    fmt = str(value).strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{fmt!r} is not offered (use tif, png, jpg, webp or kmz)")
    return EXPORT_FORMATS[fmt]


def _known_decorations(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in DECORATIONS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a decoration (use {', '.join(DECORATIONS)})")
    return names


def _resolution(value: Any) -> tuple[float, float]:
    """`r` or `rx,ry`, positive."""
    try:
        values = list_numbers(value)
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) <= 0:
        raise ValueError(f"{list_text(value)!r} is not one or two positive numbers (rx or rx,ry)")
    return values[0], values[-1]


ExportFormat = Annotated[str, PlainValidator(_export_format), WithJsonSchema({
    "type": "string", "enum": sorted(EXPORT_FORMATS)})]
Resolution = Annotated[tuple[float, float], PlainValidator(_resolution), WithJsonSchema({
    "type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1, "maxItems": 2})]
Pixels = Annotated[int, WholeNumber(1, unit=" of pixels")]


class ExportQuery(RenderParams):
    bbox: BBoxNumbers | None = None
    bbox_crs: EpsgCode | None = Field(None, alias="bbox-crs", description="the CRS of bbox (default EPSG:4326)")
    crs: EpsgCode | None = Field(None, description=f"output CRS: {OFFERED_TEXT} or the image's own (the default)")
    format: ExportFormat = Field("tif", description="tif (raw values, the default), png, jpg, webp, or kmz (a "
                                                    "Google Earth ground overlay, drawn in EPSG:4326)")
    width: Pixels | None = None
    height: Pixels | None = None
    resolution: Resolution | None = Field(None, description="pixel size in the output CRS's units: r or rx,ry")
    geometry: PolygonsParam | None = Field(None, description=(
        "the area of interest (GeoJSON, WGS 84): outside it a picture is transparent (white in a JPEG) and "
        "raw values are no data; without bbox, the export covers its bounds"))
    decorations: Annotated[list[str], AfterValidator(_known_decorations), WithJsonSchema({
        "type": "array", "items": {"type": "string", "enum": list(DECORATIONS)}})] | None = Field(None, description=(
        "drawn on a picture (comma-separated): scale_bar, north_arrow, legend, caption (the image, its date "
        "and the look), detections (the image's, outlined and labelled); a KMZ takes legend, caption and "
        "detections"))
    caption: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        None, description="the caption's own text (implies the caption)")
    detection_classes: TextList | None = Field(None, description="with decorations=detections: these classes only")
    detection_min_score: float | None = Field(None, ge=0, le=1, description=(
        "with decorations=detections: scores from this one"))

    @model_validator(mode="after")
    def _consistent(self) -> ExportQuery:
        """width/height or resolution; no stretch or decoration for raw values; a KMZ in lon/lat; a
        bbox by the rule of its CRS, and the geometry's bounds without one."""
        if self.resolution is not None and (self.width is not None or self.height is not None):
            raise bad_request("resolution", "give either width/height or resolution, not both")
        if self.format == "tif":
            given = [name for name in (*PICTURE_ONLY, *REPORT_ONLY) if getattr(self, name) is not None]
            if given:
                raise bad_request(given[0], "applies to pictures (format=png, jpg, webp or kmz), not to raw values "
                                            "(tif)")
        if self.format == KMZ:
            if self.crs is not None and self.crs != 4326:
                raise bad_request("crs", "a KMZ is laid on the ground in EPSG:4326 (lon/lat); leave crs out")
            flat = [name for name in ON_THE_MAP_ONLY if name in (self.decorations or ())]
            if flat:
                raise bad_request("decorations", f"{flat[0]} is for flat pictures: Google Earth draws its own "
                                                 "(a KMZ takes legend, caption and detections)")
        asked = set(self.decorations or ())
        for name in ("detection_classes", "detection_min_score"):
            if getattr(self, name) is not None and "detections" not in asked:
                raise bad_request(name, "it filters the detections drawn: add detections to decorations")
        if self.bbox is not None:
            self.bbox = area_bbox(self.bbox, self.bbox_crs)
        return self


class PreviewQuery(RenderParams):
    max_size: Annotated[int, WholeNumber(1, MAX_PREVIEW_SIZE, " of pixels")] = Field(
        DEFAULT_PREVIEW_SIZE, description="longest side in pixels")


# ---------------------------------------------------------------- the views

def image_read(view: Callable) -> Callable:
    """Look the image up for a view of one image, and say precisely what is missing or outside."""
    @functools.wraps(view)
    def wrapper(image_id: str, **kwargs: Any) -> Response:
        try:
            return view(_image_layer(image_id), **kwargs)
        except OutsideImage as exc:
            raise ApiError(404, "Not Found", f"{exc.what} is outside the extent of image {image_id!r}") from None
        except FileNotFoundError:
            raise ImageFileMissing([image_id]) from None
    return wrapper


@endpoint(blueprint, "GET", f"{IMAGE}/point", summary="Every band's raw value at a point", tags=TAGS,
          path_parameters=PATH, query=PointQuery, responses={200: JSON_OBJECT, 410: None})
@image_read
def point(layer: Layer, query: PointQuery) -> Response:
    """The pixel under lon/lat (or x/y in a CRS): its row and column, every band's value (null where
    the pixel is no data) and the value of any `expression`. 404 outside the image."""
    return jsonify(point_answer(layer, query))


def point_answer(layer: Layer, query: PointQuery) -> dict[str, Any]:
    """The answer of `point` for the image `layer` (also a collection's point, for its top image)."""
    image = layer.image
    crs, x, y, what = point_of(query, image.extent)
    spec = parse_outputs(query.render_values(), layer.band_names, layer.presets)
    pixel = read_pixel(_file(image), crs, x, y, _nodata(spec.nodata, image), spec.expressions)
    if pixel is None:
        raise OutsideImage(what)
    return {
        **_identity(image), "row": pixel.row, "col": pixel.col,
        "bands": [band_label(layer.band_names, i) for i in range(1, len(layer.band_names) + 1)],
        "values": pixel.values,
        "expressions": [{"expression": str(e), "value": v} for e, v in zip(spec.expressions, pixel.expressions)],
    }


def point_of(query: PointQuery, extent: ImageExtent) -> tuple[CRS, float, float, str]:
    """The point asked: its CRS, x, y, and how to name it."""
    if query.lon is not None and query.lat is not None:
        return WGS84, query.lon, query.lat, f"the point lon={query.lon:g}, lat={query.lat:g}"
    if query.x is not None and query.y is not None:
        crs = offered_crs(query.crs, "crs", extent, extent.crs)
        return crs, query.x, query.y, f"the point x={query.x:g}, y={query.y:g}"
    raise AssertionError("PointQuery lets no request without a point through")


STATISTICS: dict[str, Any] = {
    "summary": "Statistics and histogram over a bbox, a polygon or the whole image", "tags": TAGS,
    "path_parameters": PATH, "query": StatisticsQuery, "responses": {200: JSON_OBJECT, 410: None}}


@endpoint(blueprint, "GET", f"{IMAGE}/statistics", **STATISTICS)
@image_read
def statistics(layer: Layer, query: StatisticsQuery) -> Response:
    """count, min, max, mean, std, median, 2/98 % and a histogram per band or expression, on the
    image's own pixels (read from an overview for large zones; the answer says which). A bbox
    given in WGS 84 with west > east crosses the antimeridian. Asked with `Prefer: respond-async`,
    the request is checked, then answered 202 with a job whose `result_url` is the same JSON."""
    return _statistics(layer, query, None)


@endpoint(blueprint, "POST", f"{IMAGE}/statistics", access="read", raw_body=GEOJSON_BODY, **STATISTICS)
@image_read
def statistics_post(layer: Layer, query: StatisticsQuery) -> Response:
    """As GET, with the zone posted as GeoJSON (too large for a URL); no body: the whole image."""
    posted = read_json_body(any_media_type=True)  # a GeoJSON file posted as it comes, whatever its media type
    if posted is not None and (query.bbox is not None or query.geometry is not None):
        raise bad_request("body", f"give one zone, not {'bbox' if query.bbox is not None else 'geometry'} and body")
    return _statistics(layer, query, None if posted is None else geojson_polygons(posted, "body"))


def _statistics(layer: Layer, query: StatisticsQuery, posted: list[dict] | None) -> Response:
    spec = parse_outputs(query.render_values(), layer.band_names, layer.presets)
    zone = _zone(query, posted, layer.image.extent)  # a zone outside the image is refused now, not by the job
    if prefers_async():
        services().images_on_disk([layer.image], mosaic=False)  # 410 now for a file that is gone
        return render_job_answer("statistics", f"{layer.image.id}-statistics.json",
                                 {"image_id": layer.image.id, "zone": posted})
    return Response(_statistics_json(layer, _file(layer.image), query, spec, zone), mimetype="application/json")


def statistics_job(db: Database, settings: Settings, job: JobRecord, folder: Path, report: Report) -> Outcome:
    """The work of a statistics job (in a jobs worker, no request): the query parsed again, the
    image looked up again, the same JSON kept as the job's result."""
    query = cast(StatisticsQuery, parse_query(StatisticsQuery, MultiDict(job.params["query"])))
    with db.connection() as conn:
        layer = find_layer(conn, job.params["image_id"])
    if layer.is_collection:
        raise NotFound(f"no image {job.params['image_id']!r} in the catalog")
    spec = parse_outputs(query.render_values(), layer.band_names, layer.presets)
    path = images_on_disk(settings, [layer.image], mosaic=False).files[0]

    def make(step: Report) -> tuple[bytes, str]:
        step("reading")
        zone = _zone(query, job.params.get("zone"), layer.image.extent)
        return _statistics_json(layer, path, query, spec, zone), f"{job.filename}: {zone[1]} of image {layer.image.id}"

    try:
        return render_to_file(settings, folder, job.filename, "application/json", report, make)
    except FileNotFoundError:
        raise ImageFileMissing([layer.image.id]) from None
    except OutsideImage as exc:
        raise ApiError(404, "Not Found", f"{exc.what} is outside the extent of image {layer.image.id!r}") from None


def _statistics_json(layer: Layer, path: Source, query: StatisticsQuery, spec: RenderSpec,
                     zone: tuple[list[dict] | None, str]) -> bytes:
    """The statistics answer: the zone's values summarised per output, with where they were read."""
    image = layer.image
    shapes, what = zone
    result = zonal_statistics(path, spec, shapes, what=what, bins=query.bins, value_range=query.range)
    window = result.window
    return orjson.dumps({
        **_identity(image), "overview_level": result.overview_level, "resolution": list(result.resolution),
        "window": {"col_off": window.col_off, "row_off": window.row_off, "width": window.width,
                   "height": window.height},
        "shape": list(result.shape), "pixels": result.pixels, "all_touched": result.all_touched,
        "statistics": [{"name": name, **summary}
                       for name, summary in zip(output_names(spec, layer.band_names), result.outputs)],
    }, option=orjson.OPT_SERIALIZE_NUMPY)


@endpoint(blueprint, "GET", f"{IMAGE}/export", summary="An area as a GeoTIFF of raw values, or as a picture",
          tags=TAGS, path_parameters=PATH, query=ExportQuery, responses={200: PICTURES, 202: Job, 410: None})
@image_read
def export(layer: Layer, query: ExportQuery) -> Response:
    """In EPSG:4326, EPSG:3857, a UTM zone or the image's own CRS; at the image's resolution (snapped
    to its pixels in its own CRS) or the `width`/`height`/`resolution` asked. A bbox given in WGS 84
    with west > east crosses the antimeridian. An export of more pixels than the server makes while
    a client waits (COGBROWSER_SYNC_RENDER_PIXELS), or asked with `Prefer: respond-async`, answers
    202 with a job (`Location`: its URL); its `result_url` is the file once made."""
    image = layer.image
    grid = _export_grid(query, image.extent, services().settings.max_image_size)
    epsg = grid.crs.to_epsg()
    name = f"{image.id}_{f'EPSG{epsg}' if epsg else 'native'}_{grid.width}x{grid.height}.{query.format}"
    spec = _export_spec(layer, query)
    if runs_as_job(grid.width * grid.height):
        spec.check_cost(grid.width * grid.height)  # refused now, not by a job that fails later
        services().images_on_disk([image], mosaic=False)  # 410 now for a file that is gone
        return render_job_answer("export", name, {"image_id": image.id})
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    key = repr(("export", image.checksum, query.model_dump_json(by_alias=True, warnings=False)))
    if query.format == "tif":
        return cached_response(key, lambda: _geotiff_bytes(layer, spec, grid, _file(image), query), "image/tiff",
                               headers)
    if is_report(query):
        outlines = detection_outlines(services().db, image.id, grid, query)
        key = repr((key, [(o.label, o.rings) for o in outlines]))  # a new detection is a new picture
        return cached_response(key, lambda: picture_bytes(layer, _file(image), spec, grid, query, outlines),
                               media_type(query.format), headers)
    return rendered_response([image], spec, grid.crs, grid.bounds, grid.width, grid.height, query.format, headers)


def export_job(db: Database, settings: Settings, job: JobRecord, folder: Path, report: Report) -> Outcome:
    """The work of an export job (in a jobs worker, no request): the export's query parsed again,
    the image looked up again, the same GeoTIFF or picture made, kept as the job's result."""
    query = cast(ExportQuery, parse_query(ExportQuery, MultiDict(job.params["query"])))
    with db.connection() as conn:
        layer = find_layer(conn, job.params["image_id"])
    if layer.is_collection:
        raise NotFound(f"no image {job.params['image_id']!r} in the catalog")
    image = layer.image
    grid = _export_grid(query, image.extent, settings.max_image_size)
    spec = _export_spec(layer, query)
    path = images_on_disk(settings, [image], mosaic=False).files[0]

    def make(step: Report) -> tuple[bytes, str]:
        step("reading")
        if query.format == "tif":
            data = _geotiff_bytes(layer, spec, grid, path, query)
        elif is_report(query):
            data = picture_bytes(layer, path, spec, grid, query, detection_outlines(db, image.id, grid, query))
        else:
            rgba = render_layer([image], [path], spec, grid.crs, grid.bounds, grid.width, grid.height)
            step(f"encoding {query.format.upper()}")
            data = encode(rgba, query.format)
        return data, f"{job.filename}: {grid.width} x {grid.height} pixels of image {image.id}"

    made = "image/tiff" if query.format == "tif" else media_type(query.format)
    try:
        return render_to_file(settings, folder, job.filename, made, report, make)
    except FileNotFoundError:
        raise ImageFileMissing([image.id]) from None


@endpoint(blueprint, "GET", f"{IMAGE}/preview.<fmt>", summary="A thumbnail of the whole image", tags=TAGS,
          path_parameters={**PATH, "fmt": "png, jpg or webp"}, query=PreviewQuery,
          responses={200: {"content": {media: {"schema": {"type": "string", "format": "binary"}}
                                       for media in ("image/png", "image/jpeg", "image/webp")}}, 410: None})
@image_read
def preview(layer: Layer, fmt: str, query: PreviewQuery) -> Response:
    """In the image's own CRS (no reprojection: its own aspect ratio, read from one overview)."""
    image = layer.image
    if fmt.lower() not in FORMATS:
        raise NotFound(f"unknown preview format {fmt!r} (use png, jpg or webp)")
    width, height = fit_size(image.width, image.height, query.max_size)
    spec = layer.spec(query.render_values())
    return rendered_response([image], spec, image.extent.crs, image.native_bounds, width, height, fmt)


# ---------------------------------------------------------------- checks that need the image

def offered_crs(code: int | None, parameter: str, extent: ImageExtent, default: CRS) -> CRS:
    """The CRS an EPSG code names, if this image can be read in it: EPSG:4326, EPSG:3857, a WGS 84
    UTM zone, or the image's own code (its own CRS, exactly). `default` when none is given."""
    if code is None:
        return default
    if code == extent.epsg:
        return extent.crs
    crs = epsg_crs(code) if code in OFFERED_EPSG else None
    if crs is None:
        own = f", or the image's own EPSG:{extent.epsg}" if extent.epsg else ""
        raise bad_request(parameter, f"'EPSG:{code}' is not offered (use {OFFERED_TEXT}{own})")
    return crs


def _zone(query: StatisticsQuery, posted: list[dict] | None, extent: ImageExtent) -> tuple[list[dict] | None, str]:
    """The zone of a statistics request as polygons in the image's CRS (None: the whole image), and
    how to name it in messages: the bbox (its parts over the image, in bbox-crs), the geometry, or
    the polygons `posted` as the body."""
    if query.bbox is not None:
        crs = offered_crs(query.bbox_crs, "bbox-crs", extent, WGS84)
        box = query.bbox.wrapped() if crs.is_geographic else query.bbox
        what = f"the bbox {','.join(f'{v:.10g}' for v in box)}"
        return bbox_zone(query.bbox, crs, extent, what), what
    polygons = query.geometry.shapes if query.geometry is not None else posted
    if polygons is not None:
        return shapes_to_crs(polygons, WGS84, extent.crs, "the geometry"), "the geometry"
    return None, "the image"


def _export_grid(query: ExportQuery, extent: ImageExtent, max_size: int) -> Grid:
    """The grid of an export: `crs` (default the image's own; a KMZ's is lon/lat), `bbox` in
    `bbox-crs` (no bbox: the geometry's bounds, or the whole image), and `width`/`height` (at most
    `max_size`) or `resolution`."""
    crs = offered_crs(query.crs, "crs", extent, WGS84 if query.format == KMZ else extent.crs)
    bounds = None
    if query.bbox is not None:
        bounds = bounds_in(query.bbox, offered_crs(query.bbox_crs, "bbox-crs", extent, WGS84), crs)
    elif query.geometry is not None:
        bounds = bounds_in(shapes_bounds(query.geometry.shapes), WGS84, crs)
    for name in ("width", "height"):
        pixels = getattr(query, name)
        if pixels is not None and pixels > max_size:
            raise bad_request(name, f"{pixels} is above the maximum of {max_size} pixels")
    return plan_grid(extent, crs, bounds, Size(query.width, query.height, query.resolution), max_size)


# ---------------------------------------------------------------- helpers

def _export_spec(layer: Layer, query: ExportQuery) -> RenderSpec:
    """What an export draws: raw values of bands or expressions (tif), or a picture's render spec."""
    if query.format == "tif":
        return parse_outputs(query.render_values(), layer.band_names, layer.presets)
    return layer.spec(query.render_values())


def _geotiff_bytes(layer: Layer, spec: RenderSpec, grid: Grid, path: Source, query: ExportQuery) -> bytes:
    """The raw values of the asked bands or expressions on `grid`, as a GeoTIFF; no data outside
    the query's geometry."""
    image = layer.image
    try:
        area = read_image_area(image, path, spec, grid.crs, grid.bounds, grid.width, grid.height)
    except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
        raise InvalidInput(str(exc)) from None
    if query.geometry is not None:
        shapes = shapes_to_crs(query.geometry.shapes, WGS84, grid.crs, "geometry")
        area = dataclasses.replace(area, valid=area.valid & ~outside_mask(shapes, grid.transform, grid.width,
                                                                           grid.height))
    return export_geotiff(area, spec, grid, _nodata(spec.nodata, image), output_names(spec, layer.band_names))


def _image_layer(image_id: str) -> Layer:
    """The image as a layer (its bands, and its collection's presets for `style`); NotFound if none."""
    try:
        layer = services().layers.find(image_id)
    except NotFound:
        layer = None
    if layer is None or layer.is_collection:
        raise NotFound(f"no image {image_id!r} in the catalog")
    return layer


def _file(image: ImageRecord) -> Source:
    return services().image_file(image)


def _nodata(override: float | None, image: ImageRecord) -> float | None:
    return override if override is not None else image.nodata


def _identity(image: ImageRecord) -> dict[str, Any]:
    acquired = image.acquired_at
    return {"image_id": image.id, "acquired_at": acquired.isoformat() if acquired else None}
