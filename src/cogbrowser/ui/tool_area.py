"""The area and the values the Browse page's area tools (Inspect area, Export) work on.

Both tools answer the same two questions, so they are answered once, here, as pure functions:

- which area: the area of interest when one is drawn or uploaded (`image_search.AOI`), else the
  map's view, else the whole image — always cut to the shown image's bbox, so an export has no
  empty margins and "nothing in the area" is known before asking the server;
- which values: those drawn (the preset, bands or band math of `Visualization.render_params()`,
  the same translation as the map's tiles), or every band of the image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping, shape

from cogbrowser.ui.browse_map import view_bbox
from cogbrowser.ui.map_state import Visualization
from cogbrowser.web.params import MAX_GEOJSON_TEXT

SOURCE_KEYS = ("style", "bands", "expression")  # the render parameters that say which values are drawn
AS_DRAWN, EVERY_BAND = "drawn", "bands"
KIND_TEXT = {"aoi": "the area of interest", "view": "the map view", "image": "the whole image"}

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class ToolArea:
    """An area of the shown image: `bbox` (west, south, east, north, WGS 84, within the image's
    bbox) and, for an area of interest, its `geometry` (a GeoJSON polygon)."""

    kind: str  # "aoi", "view" or "image"
    bbox: BBox
    geometry: dict | None = None

    def bbox_text(self) -> str:
        return ",".join(f"{v:.6f}" for v in self.bbox)

    def zone_params(self) -> dict[str, str]:
        """The zone as /statistics, /timeseries and /export take it: the polygon itself (simplified
        until it fits in a URL), else the bbox."""
        if self.geometry is not None:
            return {"geometry": geometry_text(self.geometry)}
        return {"bbox": self.bbox_text()}

    def describe(self) -> str:
        west, south, east, north = self.bbox
        return f"{KIND_TEXT[self.kind]} ({west:.4f}, {south:.4f} – {east:.4f}, {north:.4f})"


def geometry_text(geometry: dict, limit: int = MAX_GEOJSON_TEXT) -> str:
    """`geometry` as compact GeoJSON of at most `limit` characters: as it is when it fits, else its
    vertices to 1e-6 degree (about 10 cm), else simplified (a detailed uploaded outline) with a
    tolerance doubled until it fits; the outline moves by less than that tolerance."""
    text = json.dumps(geometry, separators=(",", ":"))
    if len(text) <= limit:
        return text
    area = shape(geometry)
    west, south, east, north = area.bounds
    tolerance = max(east - west, north - south) / 100_000
    candidate = area
    while True:
        text = json.dumps(_rounded(mapping(candidate)), separators=(",", ":"))
        if len(text) <= limit:
            return text
        candidate = area.simplify(tolerance, preserve_topology=True)
        tolerance *= 2


def _rounded(value: Any) -> Any:
    """A GeoJSON mapping with every number rounded to 6 decimals."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return round(value, 6) if isinstance(value, float) else value


def tool_area(aoi: dict | None, bounds: Sequence[Sequence[float]] | None,
              image_bbox: Sequence[float]) -> ToolArea | None:
    """The area the tools use (see the module docstring), or None when it misses the image."""
    if aoi:
        try:
            box = shape(aoi).bounds
        except (ValueError, TypeError, KeyError, AttributeError):
            box = None
        if box:
            clipped = clip_bbox(box, image_bbox)
            return ToolArea("aoi", clipped, aoi) if clipped else None
    view = view_bbox(bounds)
    if view is None:
        return ToolArea("image", _floats(image_bbox))
    clipped = clip_bbox(view, image_bbox)
    return ToolArea("view", clipped) if clipped else None


def clip_bbox(box: Sequence[float], within: Sequence[float]) -> BBox | None:
    """`box` cut to `within` (both west, south, east, north), or None when they do not overlap.
    A box across the antimeridian (west > east) is left whole: the server cuts it."""
    if box[0] > box[2] or within[0] > within[2]:
        return _floats(box)
    west, south = max(box[0], within[0]), max(box[1], within[1])
    east, north = min(box[2], within[2]), min(box[3], within[3])
    return (west, south, east, north) if west < east and south < north else None


def _floats(box: Sequence[float]) -> BBox:
    """A bbox (west, south, east, north) as four floats."""
    west, south, east, north = box
    return float(west), float(south), float(east), float(north)


def value_params(drawn: Sequence[Sequence[str]] | None, which: str, band_names: Sequence[str] = ()
                 ) -> dict[str, str]:
    """The parameters selecting the values to read: those drawn (`drawn`: the VIS store, render
    params as pairs), or every band (named, since /timeseries reads only the first by default)."""
    if which == EVERY_BAND:
        return {"bands": ",".join(band_names)} if band_names else {}
    return {name: value for name, value in Visualization.from_pairs(drawn or []).render_params()
            if name in SOURCE_KEYS}


def longest_side_params(bbox: Sequence[float], pixels: int, lon_lat: bool = False) -> dict[str, str]:
    """`width` or `height`, whichever is the longer side in the output CRS (`lon_lat`: degrees,
    else metres on the ground, as in UTM or Web Mercator), set to `pixels`: the server derives the
    other from the area's shape in that CRS."""
    west, south, east, north = bbox
    across = (east - west) * (1.0 if lon_lat else math.cos(math.radians((south + north) / 2)))
    return {"width": str(pixels)} if across >= north - south else {"height": str(pixels)}
