"""`/api/v1/collections/{id}/timeseries` and `/timelapse.gif`: an area across a collection's dates.

"How did NDVI change over this field this season?" and "show me this port, date after date" are
questions about every image of a collection over one area. Both walk the collection's images
that cover the area (catalog search, oldest first), read each through the raster core — zonal
statistics of an expression or band on each image's own pixels, or the area rendered in Web
Mercator — and answer one table (JSON or CSV) or one animated GIF. Images that do not touch the
area, or have no valid pixel in it (clouds masked as nodata, outside the swath), are listed as
such rather than dropped silently.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import numpy as np
from flask import Blueprint, Response
from PIL import Image, ImageDraw
from pydantic import Field
from rasterio.crs import CRS

from cogbrowser.catalog import queries
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.layers import Layer, find_layer, render_layer, utc_iso
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.legend import default_font
from cogbrowser.raster.outputs import output_names, parse_outputs
from cogbrowser.raster.reader import transformer
from cogbrowser.raster.region import (
    WGS84,
    OutsideImage,
    parse_geometry,
    rectangle,
    shapes_bounds,
    shapes_to_crs,
)
from cogbrowser.raster.zonal import zonal_statistics
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.params import (
    BBoxParam,
    BodyModel,
    DatetimeParam,
    GeoJSONText,
    QueryModel,
    RenderParams,
    Text,
    interval,
)
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("collection_reads", __name__)
TAGS = ("collection reads",)
PATH = {"collection_id": "The collection's id"}
MAX_IMAGES = 200  # dates in one time series or timelapse
MAX_GIF_SIZE = 1024
WEB_MERCATOR = CRS.from_epsg(3857)


class TimeSeriesQuery(QueryModel):
    bbox: BBoxParam | None = None
    geometry: GeoJSONText | None = Field(None, description="the area as GeoJSON (WGS 84) instead of bbox")
    expression: Text | None = Field(None, description="the index to follow, e.g. (B08-B04)/(B08+B04)")
    bands: Text | None = Field(None, description="or bands by index or name (default: the first)")
    style: Text | None = Field(None, description="or a preset of the collection")
    datetime: DatetimeParam | None = None
    f: Literal["json", "csv"] = "json"


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
    bbox: BBoxParam = Field(description="the area, west,south,east,north in WGS 84")
    datetime: DatetimeParam | None = None
    width: int = Field(512, ge=16, le=MAX_GIF_SIZE, description="pixels across (the height follows the area)")
    frame_ms: int = Field(700, ge=50, le=10_000, description="how long each date is shown")
    label: bool = Field(True, description="write the date on each frame")


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/timeseries", tags=TAGS, path_parameters=PATH,
          summary="Statistics of a band or index over an area, image after image", query=TimeSeriesQuery,
          responses={200: (TimeSeries, {"text/csv": {"type": "string"}})})
def timeseries(collection_id: str, query: TimeSeriesQuery) -> Response | TimeSeries:
    """Mean, min, max, std and median of the band or expression over `bbox` or `geometry`, for
    each image of the collection that covers the area (at most 200, oldest first)."""
    layer, images = _images(collection_id, query.bbox, query.geometry, query.datetime)
    shapes_lonlat = parse_geometry(query.geometry) if query.geometry else [rectangle(query.bbox)]
    params = {k: [v] for k, v in (("expression", query.expression), ("bands", query.bands), ("style", query.style))
              if v}
    points = []
    for image in images:
        spec = parse_outputs(params or {"bands": ["1"]}, [b.get("name") for b in image.bands], layer.presets)
        names = output_names(spec, [b.get("name") for b in image.bands])
        try:
            shapes = shapes_to_crs(shapes_lonlat, WGS84, CRS.from_wkt(image.crs), "the area")
            result = zonal_statistics(_file(image), spec, shapes, what="the area")
            summaries = result.outputs
        except (OutsideImage, InvalidInput):
            summaries = [{"count": 0, "valid_percent": 0.0} for _ in names]
        for name, summary in zip(names, summaries):
            points.append(TimeSeriesPoint(
                image_id=image.id, acquired_at=utc_iso(image.acquired_at) if image.acquired_at else None,
                name=name, count=summary["count"], valid_percent=summary["valid_percent"],
                **{k: summary.get(k) for k in ("mean", "min", "max", "std", "median")}))
    answer = TimeSeries(collection_id=collection_id, points=points)
    if query.f == "csv":
        return Response(_csv(answer), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{collection_id}-timeseries.csv"'})
    return answer


@endpoint(blueprint, "GET", "/api/v1/collections/<collection_id>/timelapse.gif", tags=TAGS, path_parameters=PATH,
          summary="An area of the collection as an animated GIF, date after date", query=TimelapseQuery,
          responses={200: {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}})
def timelapse(collection_id: str, query: TimelapseQuery) -> Response:
    """Each image that covers `bbox` (oldest first, at most 200) rendered with the render
    parameters (a preset with `style`) in Web Mercator, its date written in a corner."""
    layer, images = _images(collection_id, query.bbox, None, query.datetime)
    given = query.model_dump(include=set(RenderParams.model_fields), exclude_none=True)
    spec = layer.spec({name: value if isinstance(value, list) else [value] for name, value in given.items()})
    bounds, width, height = _mercator_grid(tuple(query.bbox), query.width)
    frames = []
    for image in images:
        rgba = render_layer([image], [_file(image)], spec, WEB_MERCATOR, bounds, width, height)
        if not rgba[3].any():
            continue
        frame = Image.fromarray(np.moveaxis(rgba, 0, -1), "RGBA")
        background = Image.new("RGBA", frame.size, (236, 240, 234, 255))
        frame = Image.alpha_composite(background, frame).convert("RGB")
        if query.label and image.acquired_at:
            _label(frame, image.acquired_at.strftime("%Y-%m-%d"))
        frames.append(frame)
    if not frames:
        raise ApiError(404, "Not Found", f"no image of collection {collection_id!r} has data in the bbox "
                       "within the dates asked")
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=query.frame_ms, loop=0,
                   optimize=False)
    return Response(out.getvalue(), mimetype="image/gif", headers={
        "Content-Disposition": f'inline; filename="{collection_id}-timelapse.gif"'})


# ---------------------------------------------------------------- helpers

def _images(collection_id: str, bbox: BBox | None, geometry: str | None, when: str | None) -> tuple[Layer, list[ImageRecord]]:
    """The collection as a layer, and its images covering the area within the dates, oldest first."""
    if bbox is None and geometry is None:
        raise ApiError(400, "Bad Request", "bbox: give the area as bbox or geometry",
                       errors=[{"field": "bbox", "message": "bbox or geometry is required"}])
    if bbox is not None and geometry is not None:
        raise ApiError(400, "Bad Request", "geometry: give bbox or geometry, not both",
                       errors=[{"field": "geometry", "message": "not with bbox"}])
    area = bbox if bbox is not None else BBox(*shapes_bounds(parse_geometry(geometry)))
    start, end = interval(when)
    with services().db.connection() as conn:
        layer = find_layer(conn, collection_id)
        if not layer.is_collection:
            raise NotFound(f"no collection {collection_id!r} in the catalog (an image is not a collection)")
        images = queries.search_images(conn, queries.ImageQuery(
            bbox=area, collections=[collection_id], start=start, end=end, sort="acquired_at", descending=False,
            limit=MAX_IMAGES))
    if not images:
        raise ApiError(404, "Not Found", f"no image of collection {collection_id!r} covers the area within the "
                       "dates asked")
    return layer, images


def _mercator_grid(bbox: tuple[float, float, float, float], width: int) -> tuple[tuple, int, int]:
    """The bbox in Web Mercator and the picture size keeping its shape there."""
    west, south, east, north = bbox
    (left, right), (bottom, top) = transformer(WGS84, WEB_MERCATOR).transform([west, east], [south, north])
    height = max(1, min(MAX_GIF_SIZE, round(width * (top - bottom) / (right - left))))
    return (left, bottom, right, top), width, height


def _label(frame: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(frame)
    font = default_font()
    box = draw.textbbox((0, 0), text, font=font)
    draw.rectangle((4, 4, 12 + box[2] - box[0], 12 + box[3] - box[1]), fill=(29, 39, 51))
    draw.text((8, 6), text, font=font, fill=(255, 255, 255))


def _csv(answer: TimeSeries) -> str:
    out = io.StringIO()
    columns = list(TimeSeriesPoint.model_fields)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for point in answer.points:
        writer.writerow(["" if getattr(point, c) is None else getattr(point, c) for c in columns])
    return out.getvalue()


def _file(image: ImageRecord) -> Path:
    return services().image_file(image.path)
