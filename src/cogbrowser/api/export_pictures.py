"""Report-ready picture exports: what an analyst pastes into a briefing.

An export's picture (PNG, JPEG, WebP) may carry a scale bar, a north arrow, the legend of its look,
a caption (the image, its date and the look, or the analyst's own words) and the outlines of the
image's detections; it may be masked outside the area of interest (`geometry`) rather than cover
its box; and it may be a KMZ, a ground overlay for Google Earth. Drawing is the raster core's
(raster/decorations.py, raster/kmz.py); this module gathers what to draw: the image's record, the
detections from the catalog, the area moved into the picture's CRS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timezone
from typing import Literal, Protocol

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.errors import InvalidInput
from cogbrowser.layers import Layer, render_layer
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.crs import WGS84
from cogbrowser.raster.decorations import Decorations, Outline, decorate, mask_outside, on_background
from cogbrowser.raster.export import Grid
from cogbrowser.raster.kmz import kmz_bytes
from cogbrowser.raster.legend import draw_legend, legend_for
from cogbrowser.raster.reader import Source
from cogbrowser.raster.region import bounds_to_crs, shapes_to_crs
from cogbrowser.raster.render import FORMATS, encode
from cogbrowser.raster.render_spec import RenderSpec
from cogbrowser.web.params import Polygons

__all__ = ["Decoration", "DECORATIONS", "PictureAsked", "is_report", "picture_bytes", "media_type",
           "detection_outlines", "MAX_OUTLINES"]

Decoration = Literal["scale_bar", "north_arrow", "legend", "caption", "detections"]
DECORATIONS: tuple[Decoration, ...] = ("scale_bar", "north_arrow", "legend", "caption", "detections")
ON_THE_MAP_ONLY = ("scale_bar", "north_arrow")  # a KMZ viewer draws its own
MAX_OUTLINES = 5000  # detections drawn on one picture: more would only paint it yellow
KMZ = "kmz"
WHITE = (255, 255, 255)  # where a JPEG report has no picture: masked, or no data


class PictureAsked(Protocol):
    """What an export query says of its picture (api/image_reads.py's ExportQuery)."""

    format: str
    decorations: list[str] | None
    caption: str | None
    geometry: Polygons | None
    detection_classes: list[str] | None
    detection_min_score: float | None

    def render_values(self) -> dict[str, list[str]]: ...


def is_report(query: PictureAsked) -> bool:
    """Whether the picture is more than the render: decorated, masked to an area, or a KMZ."""
    return bool(query.decorations or query.caption or query.geometry is not None or query.format == KMZ)


def media_type(fmt: str) -> str:
    return "application/vnd.google-earth.kmz" if fmt == KMZ else FORMATS[fmt]


def picture_bytes(layer: Layer, path: Source, spec: RenderSpec, grid: Grid, query: PictureAsked,
                  outlines: Sequence[Outline]) -> bytes:
    """The picture of `layer`'s image on `grid` as `query` asks for it: masked, decorated, encoded
    (or laid in a KMZ). `outlines`: the detections to draw (detection_outlines), when asked."""
    image = layer.image
    rgba = render_layer([image], [path], spec, grid.crs, grid.bounds, grid.width, grid.height)
    if query.geometry is not None:
        rgba = mask_outside(rgba, shapes_to_crs(query.geometry.shapes, WGS84, grid.crs, "geometry"), grid.transform)
    asked = set(query.decorations or ())
    legend = legend_for(spec, image.bands) if "legend" in asked else None
    caption = query.caption or (default_caption(layer, query) if "caption" in asked else None)
    if query.format == KMZ:
        overlay = decorate(rgba, grid.crs, grid.bounds, Decorations(outlines=outlines))
        legend_png = encode(draw_legend(legend), "png") if legend is not None else None
        name = caption or default_caption(layer, query)
        return kmz_bytes(encode(overlay, "png"), "png", grid.bounds, name, f"Exported by cogbrowser from image "
                         f"{image.id}", legend_png)
    decorations = Decorations(scale_bar="scale_bar" in asked, north_arrow="north_arrow" in asked, legend=legend,
                              caption=caption, outlines=outlines)
    picture = decorate(rgba, grid.crs, grid.bounds, decorations)
    if query.format == "jpg":
        picture = on_background(picture, WHITE)
    return encode(picture, query.format)


def default_caption(layer: Layer, query: PictureAsked) -> str:
    """The image, its date and time, and the look: "S2A_T31UDQ_20240502 · 2024-05-02 10:56 UTC · NDVI"."""
    image = layer.image
    parts = [image.id]
    if image.acquired_at is not None:
        parts.append(image.acquired_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    values = query.render_values()
    look = [*values.get("style", []), *values.get("expression", []), *(f"bands {b}" for b in values.get("bands", []))]
    if look:
        parts.append(look[0])
    return " · ".join(parts)


def detection_outlines(db: Database, image_id: str, grid: Grid, query: PictureAsked) -> list[Outline]:
    """The footprints of the image's detections over the picture (of the classes and score asked),
    in the picture's CRS, each labelled with its name or class and score."""
    if "detections" not in (query.decorations or ()):
        return []
    box = bounds_to_crs(grid.bounds, grid.crs, WGS84)
    bbox = BBox(*box) if box is not None else None
    with db.connection() as conn:
        found = queries.search_detections(conn, queries.DetectionQuery(
            image_ids=[image_id], bbox=bbox, target_classes=query.detection_classes,
            min_score=query.detection_min_score, limit=MAX_OUTLINES))
    outlines = []
    for detection in found:
        try:
            shapes = shapes_to_crs([detection.geometry], WGS84, grid.crs, "a detection")
        except InvalidInput:  # a footprint that cannot be drawn in this CRS is left out
            continue
        rings = [ring for shape in shapes for ring in _exteriors(shape)]
        label = f"{detection.target_name or detection.target_class} {detection.score:.2f}"
        outlines.append(Outline(rings, label))
    return outlines


def _exteriors(shape: dict) -> list[list[tuple[float, float]]]:
    polygons = [shape["coordinates"]] if shape["type"] == "Polygon" else shape["coordinates"]
    return [[(float(x), float(y)) for x, y, *_ in polygon[0]] for polygon in polygons if polygon]
