"""`/api/v1/collections/{id}/timeseries` and `/timelapse.gif`: an area across a collection's dates.

"How did NDVI change over this field this season?" and "show me this port, date after date" are
questions about every image of a collection over one area. Both walk the collection's images
that cover the area (catalog search, oldest first), read each through the raster core — zonal
statistics of an expression or band on each image's own pixels, or the area rendered in Web
Mercator — and answer one table (JSON or CSV) or one animated GIF. Images that do not touch the
area, or have no valid pixel in it (clouds masked as nodata, outside the swath), are listed as
such rather than dropped silently. An image whose file is gone is left out and named in the
`X-Cogbrowser-Missing-Images` header, as a mosaic does (410 when every image is).

A timelapse of more pixels x frames than the server makes while a client waits
(COGBROWSER_SYNC_RENDER_PIXELS), or asked with `Prefer: respond-async`, is a job (202 with the job;
`timelapse_job` makes the same GIF in a worker; api/jobs.py says when); so is a time series asked
with `Prefer: respond-async` (`timeseries_job`: the same JSON or CSV), as the pages ask for it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Literal, NamedTuple, cast

from flask import Blueprint, Response, jsonify
from pydantic import Field, model_validator
from werkzeug.datastructures import MultiDict

from cogbrowser.api.image_reads import PointQuery, point_answer
from cogbrowser.api.jobs import Job, prefers_async, render_job_answer, runs_as_job
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.config import Settings
from cogbrowser.errors import ImageFileMissing, InvalidInput, NotFound
from cogbrowser.jobs import JobRecord, Outcome, Report, render_to_file
from cogbrowser.layers import (
    Layer,
    OnDisk,
    find_layer,
    images_for_area,
    images_on_disk,
    mosaic_choice,
    render_layer,
    utc_iso,
    value_at,
)
from cogbrowser.raster.bbox import BBox, Bounds
from cogbrowser.raster.budget import RenderTooCostly, check_deadline
from cogbrowser.raster.crs import WEB_MERCATOR, WGS84
from cogbrowser.raster.outputs import output_names, parse_outputs
from cogbrowser.raster.reader import Source
from cogbrowser.raster.region import ImageExtent, OutsideImage, bbox_zone, shapes_bounds, shapes_to_crs
from cogbrowser.raster.render_spec import RenderSpec
from cogbrowser.raster.timelapse import animated_gif, frame, mercator_grid, mp4_video
from cogbrowser.raster.zonal import zonal_pixels, zonal_statistics
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, json_response, parse_query
from cogbrowser.web.params import (
    BBoxParam,
    BodyModel,
    DatetimeParam,
    FiniteNumber,
    Polygons,
    PolygonsParam,
    RenderParams,
    RenderQuery,
    Text,
    WholeNumber,
    interval,
    render_field,
)
from cogbrowser.web.problems import ApiError, bad_request
from cogbrowser.web.rendering import missing_images_headers

blueprint = Blueprint("collection_reads", __name__)
TAGS = ("collection reads",)
PATH = {"collection_id": "The collection's id"}
MAX_IMAGES = 200  # dates in one time series or timelapse
MAX_GIF_SIZE = 1024
DEFAULT_FRAME_MS = 700
TIMELAPSE_FORMATS = {"gif": "image/gif", "mp4": "video/mp4"}


class CollectionPointQuery(PointQuery):
    datetime: DatetimeParam | None = None
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description="the mosaic's cloud limit (%)")
    mosaic_order: Literal["newest", "oldest", "least-cloudy", "closest"] | None = Field(
        None, description="which image lies on top: newest (the default), oldest, least-cloudy, closest")
    closest_to: Text | None = Field(None, description="with mosaic_order=closest: the instant (RFC 3339)")

    @model_validator(mode="after")
    def _lon_lat(self) -> CollectionPointQuery:
        if self.lon is None:
            raise bad_request("x", "a collection's point is given by lon and lat (its images have their own CRSs)")
        return self


class TimeSeriesQuery(RenderQuery):
    bbox: BBoxParam | None = None
    geometry: PolygonsParam | None = Field(None, description="the area as GeoJSON (WGS 84) instead of bbox")
    expression: Text | None = Field(None, description="the index to follow, e.g. (B08-B04)/(B08+B04)")
    bands: Text | None = Field(None, description="or bands by index or name (default: the first)")
    style: Text | None = render_field("style")
    datetime: DatetimeParam | None = None
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description=(
        "only images with at most this cloud cover (percent), so cloudy dates do not pull the curve down"))
    f: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _one_area(self) -> TimeSeriesQuery:
        """bbox or geometry, one of them; a bbox with an area."""
        if self.bbox is None and self.geometry is None:
            raise bad_request("bbox", "give the area as bbox or geometry")
        if self.bbox is not None and self.geometry is not None:
            raise bad_request("geometry", "give bbox or geometry, not both")
        _require_area(self.bbox)
        return self


class TimeSeriesPoint(BodyModel):
    image_id: str
    acquired_at: str | None
    name: str = Field(description="the band or expression")
    count: int = Field(description="valid pixels in the area")
    valid_percent: float
    mean: float | None
    min: float | None
    max: float | None
    std: float | None
    median: float | None


class TimeSeries(BodyModel):
    """One row per image and output, oldest first; images without valid pixels have count 0."""

    collection_id: str
    points: list[TimeSeriesPoint]


class TimelapseQuery(RenderParams):
    bbox: BBoxParam = Field(description="the area, west,south,east,north in WGS 84 (west > east crosses the "
                                        "antimeridian)")
    datetime: DatetimeParam | None = None
    max_cloud_cover: float | None = Field(None, ge=0, le=100, description=(
        "leave out the dates whose image is cloudier than this (%): a timelapse of clear views"))
    width: Annotated[int, WholeNumber(16, MAX_GIF_SIZE, " of pixels")] = Field(
        512, description="pixels across (the height follows the area)")
    frame_ms: Annotated[int, WholeNumber(50, 10_000)] | None = Field(
        None, description="how long each date is shown, in ms (default 700)")
    fps: Annotated[float, FiniteNumber(0.1, 20, "is not a frame rate of 0.1 to 20 frames per second")] | None = \
        Field(None, description="dates per second: the other way to say frame_ms")
    label: bool = Field(True, description="write the date on each frame")

    @model_validator(mode="after")
    def _area(self) -> TimelapseQuery:
        _require_area(self.bbox)
        if self.fps is not None and self.frame_ms is not None:
            raise bad_request("fps", "give fps or frame_ms, not both")
        return self

    @property
    def frame_seconds(self) -> float:
        if self.fps is not None:
            return 1 / self.fps
        return (self.frame_ms if self.frame_ms is not None else DEFAULT_FRAME_MS) / 1000


def _require_area(bbox: BBox | None) -> None:
    """An area to draw or summarise has a width and a height (a search may use a point or a line)."""
    if bbox is not None and not bbox.has_area:
        raise bad_request("bbox", "the box has no area (give south below north and west apart from east)")


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/point", tags=TAGS, path_parameters=PATH,
          summary="The pixel a collection's mosaic shows at a point: its image's values", query=CollectionPointQuery,
          responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, 410: None})
def collection_point(collection_id: str, query: CollectionPointQuery) -> Response:
    """The image on top of the mosaic at lon/lat (as tiles, WMS and WMTS draw it with the same
    `datetime`, `max_cloud_cover`, `mosaic_order` and `closest_to`), and its pixel there as
    `/api/v1/images/{id}/point` answers it. 404 where no image of the mosaic has data."""
    layer = _a_collection(services().layers.find(collection_id))
    assert query.lon is not None and query.lat is not None  # CollectionPointQuery requires them
    choice = mosaic_choice(interval(query.datetime), query.max_cloud_cover, query.mosaic_order, query.closest_to)
    images = images_for_area(services().db, layer, WGS84, (query.lon, query.lat, query.lon, query.lat), choice)
    found = services().images_on_disk(images, mosaic=True)
    top = value_at(found.images, found.files, WGS84, query.lon, query.lat)
    if top is None:
        raise ApiError(404, "Not Found", f"no image of collection {collection_id!r} has data at lon={query.lon:g}, "
                       f"lat={query.lat:g} within the dates and cloud limit asked")
    return jsonify(point_answer(services().layers.find(top[0].id), query))


def _a_collection(layer: Layer) -> Layer:
    """`layer`, when it is a collection; NotFound for an image (the collection reads take none)."""
    if not layer.is_collection:
        raise NotFound(f"no collection {layer.id!r} in the catalog (an image is not a collection)")
    return layer


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/timeseries", tags=TAGS, path_parameters=PATH,
          summary="Statistics of a band or index over an area, image after image", query=TimeSeriesQuery,
          responses={200: (TimeSeries, {"text/csv": {"type": "string"}}), 202: Job, 410: None})
def timeseries(collection_id: str, query: TimeSeriesQuery) -> Response:
    """Mean, min, max, std and median of the band or expression over `bbox` or `geometry`, for
    each image of the collection that covers the area (at most 200, oldest first). Asked with
    `Prefer: respond-async`, the series is checked (area, images, budget), then answered 202 with a
    job whose `result_url` is the same JSON or CSV: a page asks so, since a series reads every date."""
    layer, found = _images(services().db, services().settings, collection_id, query.bbox, query.geometry,
                           query.datetime, query.max_cloud_cover)
    plans = _series_plans(query, layer, found)
    if prefers_async():
        return render_job_answer("timeseries", _series_filename(collection_id, query), {"collection_id": collection_id})
    answer = _series(collection_id, plans, lambda message: None)
    missing = missing_images_headers(found.missing)
    if query.f == "csv":
        return Response(_csv(answer), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{_series_filename(collection_id, query)}"', **missing})
    return json_response(answer, headers=missing)


def timeseries_job(db: Database, settings: Settings, job: JobRecord, folder: Path, report: Report) -> Outcome:
    """The work of a time series job (in a jobs worker, no request): the query parsed again, the
    collection's images found again, the same table kept as the job's result (JSON or CSV)."""
    query = cast(TimeSeriesQuery, parse_query(TimeSeriesQuery, MultiDict(job.params["query"])))
    collection_id = job.params["collection_id"]
    layer, found = _images(db, settings, collection_id, query.bbox, query.geometry, query.datetime,
                           query.max_cloud_cover)

    def make(step: Report) -> tuple[bytes, str]:
        answer = _series(collection_id, _series_plans(query, layer, found), step)
        data = _csv(answer).encode() if query.f == "csv" else answer.model_dump_json(by_alias=True).encode()
        left_out = f"; left out, their files are gone: {', '.join(found.missing)}" if found.missing else ""
        return data, f"{job.filename}: {len(found.images)} dates{left_out}"

    return render_to_file(settings, folder, job.filename, "text/csv" if query.f == "csv" else "application/json",
                          report, make)


def _series_filename(collection_id: str, query: TimeSeriesQuery) -> str:
    return f"{collection_id}-timeseries.{query.f}"


def _series_plans(query: TimeSeriesQuery, layer: Layer, found: OnDisk) -> list[_SeriesPlan]:
    """What the series reads of each image, checked against the render budget for the whole series
    before any pixel is read."""
    params = query.render_values() or {"bands": ["1"]}
    plans = [_series_plan(query, params, layer, image, path) for image, path in zip(found.images, found.files)]
    costliest = max((plan.spec for plan in plans), key=lambda spec: spec.cost)
    costliest.check_cost(sum(plan.pixels for plan in plans),  # the whole series, before any pixel is read
                         what=f"this time series (the pixels of its {len(plans)} images)")
    return plans


def _series(collection_id: str, plans: list[_SeriesPlan], step: Report) -> TimeSeries:
    """The zonal statistics of each planned image, oldest first; `step` hears the progress."""
    points = []
    for number, plan in enumerate(plans):
        step(f"reading dates {100 * number // len(plans)}%")
        image, spec = plan.image, plan.spec
        names = output_names(spec, image.band_names)
        check_deadline()
        try:
            if plan.shapes is None or not plan.pixels:
                raise OutsideImage("the area")
            summaries = zonal_statistics(plan.path, spec, plan.shapes, what="the area").outputs
        except (OutsideImage, InvalidInput) as exc:
            if isinstance(exc, RenderTooCostly):
                raise
            summaries = [{"count": 0, "valid_percent": 0.0} for _ in names]
        except FileNotFoundError:  # gone since `_images` looked: the same 410 as one found missing
            raise ImageFileMissing([image.id]) from None
        for name, summary in zip(names, summaries):
            points.append(TimeSeriesPoint(
                image_id=image.id, acquired_at=utc_iso(image.acquired_at) if image.acquired_at else None,
                name=name, count=summary["count"], valid_percent=summary["valid_percent"],
                **{k: summary.get(k) for k in ("mean", "min", "max", "std", "median")}))
    return TimeSeries(collection_id=collection_id, points=points)


def _movie_response(media: str) -> dict:
    return {200: {"content": {media: {"schema": {"type": "string", "format": "binary"}}}}, 202: Job, 410: None}


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/timelapse.gif", tags=TAGS, path_parameters=PATH,
          summary="An area of the collection as an animated GIF, date after date", query=TimelapseQuery,
          responses=_movie_response(TIMELAPSE_FORMATS["gif"]))
def timelapse(collection_id: str, query: TimelapseQuery) -> Response:
    """Each image that covers `bbox` (oldest first, at most 200) within the dates and cloud limit,
    rendered with the render parameters (a preset with `style`) in Web Mercator, its date written
    in a corner. More pixels x dates than the server makes while a client waits
    (COGBROWSER_SYNC_RENDER_PIXELS), or asked with `Prefer: respond-async`, answer 202 with a job
    (`Location`: its URL; `result_url`: the GIF)."""
    return _timelapse(collection_id, "gif", query)


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/timelapse.mp4", tags=TAGS, path_parameters=PATH,
          summary="An area of the collection as an MP4 video (H.264), date after date", query=TimelapseQuery,
          responses=_movie_response(TIMELAPSE_FORMATS["mp4"]))
def timelapse_video(collection_id: str, query: TimelapseQuery) -> Response:
    """The timelapse as a video that office software and browsers play: the same frames as the
    GIF, `fps` dates a second (odd sizes padded to even, as H.264 needs)."""
    return _timelapse(collection_id, "mp4", query)


def _timelapse(collection_id: str, fmt: str, query: TimelapseQuery) -> Response:
    layer, found = _images(services().db, services().settings, collection_id, query.bbox, None, query.datetime,
                           query.max_cloud_cover)
    spec, bounds, width, height = _timelapse_plan(layer, found, query)
    filename = f"{collection_id}-timelapse.{fmt}"
    if runs_as_job(width * height * len(found.images)):
        return render_job_answer("timelapse", filename, {"collection_id": collection_id, "format": fmt})
    movie = _timelapse_movie(collection_id, found, query, fmt, spec, bounds, width, height, lambda message: None)
    return Response(movie, mimetype=TIMELAPSE_FORMATS[fmt], headers={
        "Content-Disposition": f'inline; filename="{filename}"', **missing_images_headers(found.missing)})


def timelapse_job(db: Database, settings: Settings, job: JobRecord, folder: Path, report: Report) -> Outcome:
    """The work of a timelapse job (in a jobs worker, no request): the query parsed again, the
    collection's images found again, the same GIF or MP4 made and kept as the job's result."""
    query = cast(TimelapseQuery, parse_query(TimelapseQuery, MultiDict(job.params["query"])))
    collection_id, fmt = job.params["collection_id"], job.params.get("format", "gif")
    layer, found = _images(db, settings, collection_id, query.bbox, None, query.datetime, query.max_cloud_cover)
    spec, bounds, width, height = _timelapse_plan(layer, found, query)

    def make(step: Report) -> tuple[bytes, str]:
        movie = _timelapse_movie(collection_id, found, query, fmt, spec, bounds, width, height, step)
        left_out = f"; left out, their files are gone: {', '.join(found.missing)}" if found.missing else ""
        return movie, f"{job.filename}: {len(found.images)} dates of {width} x {height} pixels{left_out}"

    return render_to_file(settings, folder, job.filename, TIMELAPSE_FORMATS[fmt], report, make)


def _timelapse_plan(layer: Layer, found: OnDisk,
                    query: TimelapseQuery) -> tuple[RenderSpec, Bounds, int, int]:
    """What a timelapse draws (its spec, Web Mercator bounds and size), checked against the render
    budget for all its frames before any pixel is read."""
    spec = layer.spec(query.render_values())
    bounds, width, height = mercator_grid(query.bbox, query.width, MAX_GIF_SIZE)
    spec.check_cost(width * height, len(found.images), what=f"this timelapse of {len(found.images)} images")
    return spec, bounds, width, height


def _timelapse_movie(collection_id: str, found: OnDisk, query: TimelapseQuery, fmt: str, spec: RenderSpec,
                     bounds: Bounds, width: int, height: int, step: Report) -> bytes:
    """The GIF or MP4 of the images `found`, one frame each, oldest first; `step` hears the progress."""
    frames = []
    for number, (image, path) in enumerate(zip(found.images, found.files)):
        step(f"rendering frames {100 * number // len(found.images)}%")
        rgba = render_layer([image], [path], spec, WEB_MERCATOR, bounds, width, height)
        label = image.acquired_at.strftime("%Y-%m-%d") if query.label and image.acquired_at else None
        picture = frame(rgba, label)
        if picture is not None:
            frames.append(picture)
    if not frames:
        raise ApiError(404, "Not Found", f"no image of collection {collection_id!r} has data in the bbox "
                       "within the dates asked")
    step(f"encoding the {fmt.upper()}")
    if fmt == "mp4":
        return mp4_video(frames, query.frame_seconds)
    return animated_gif(frames, round(query.frame_seconds * 1000))


# ---------------------------------------------------------------- helpers

class _SeriesPlan(NamedTuple):
    """What a time series reads of one image: its outputs, the area in its CRS (None: the area
    misses it) and how many pixels, found without reading any pixel."""

    image: ImageRecord
    path: Source
    spec: RenderSpec
    shapes: list[dict] | None
    pixels: int


def _series_plan(query: TimeSeriesQuery, params: dict[str, list[str]], layer: Layer, image: ImageRecord,
                 path: Source) -> _SeriesPlan:
    spec = parse_outputs(params, image.band_names, layer.presets)
    try:
        shapes = _zone(query, image.extent)
    except (OutsideImage, InvalidInput):
        return _SeriesPlan(image, path, spec, None, 0)
    try:
        return _SeriesPlan(image, path, spec, shapes, zonal_pixels(path, shapes))
    except FileNotFoundError:  # gone since `_images` looked: the same 410 as one found missing
        raise ImageFileMissing([image.id]) from None


def _images(db: Database, settings: Settings, collection_id: str, bbox: BBox | None, geometry: Polygons | None,
            when: str | None, max_cloud_cover: float | None = None) -> tuple[Layer, OnDisk]:
    """The collection as a layer, and its images covering the area within the dates and the cloud
    limit, oldest first (those whose file is gone set aside: ImageFileMissing when that is all of them)."""
    area = bbox if bbox is not None else BBox(*shapes_bounds(geometry.shapes if geometry else []))
    start, end = interval(when)
    with db.connection() as conn:
        layer = _a_collection(find_layer(conn, collection_id))
        images = queries.search_images(conn, queries.ImageQuery(
            bbox=area, collections=[collection_id], start=start, end=end, max_cloud_cover=max_cloud_cover,
            sort="acquired_at", descending=False, limit=MAX_IMAGES))
    if not images:
        limits = "dates and cloud limit" if max_cloud_cover is not None else "dates"
        raise ApiError(404, "Not Found", f"no image of collection {collection_id!r} covers the area within the "
                       f"{limits} asked")
    return layer, images_on_disk(settings, images, mosaic=True)


def _zone(query: TimeSeriesQuery, extent: ImageExtent) -> list[dict]:
    """The area as polygons in one image's CRS: the bbox's parts over the image, or the geometry."""
    if query.bbox is not None:
        return bbox_zone(query.bbox, WGS84, extent, "the area")
    return shapes_to_crs(query.geometry.shapes if query.geometry else [], WGS84, extent.crs, "the area")


def _csv(answer: TimeSeries) -> str:
    out = io.StringIO()
    columns = list(TimeSeriesPoint.model_fields)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for point in answer.points:
        writer.writerow(["" if getattr(point, c) is None else getattr(point, c) for c in columns])
    return out.getvalue()

