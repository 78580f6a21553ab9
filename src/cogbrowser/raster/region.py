"""Where a user points: a bbox, a GeoJSON polygon or a point, in a CRS they name.

Every image read that is not a map tile (point values, zonal statistics, exports) starts from a
place the user typed into a URL or posted as GeoJSON. This module parses those inputs once, with
errors that name the parameter, and moves them into an image's CRS. Lines of a lon/lat polygon are
straight in lon/lat (RFC 7946), so long edges are densified before they are projected; otherwise a
bbox edge would cut a straight chord through a UTM image instead of following its parallel.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds, transform_geom

from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.raster.bbox import Bounds

__all__ = ["WGS84", "ImageExtent", "OutsideImage", "parse_number", "parse_bbox", "parse_crs",
           "parse_geometry", "rectangle", "shapes_to_crs", "shapes_bounds", "bounds_to_crs", "clip_to_image",
           "overlaps"]

WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = 3857
UTM_ZONES = frozenset(range(32601, 32661)) | frozenset(range(32701, 32761))  # WGS 84 / UTM north and south
MAX_SEGMENT_DEGREES = 0.01  # ~1 km: a lon/lat edge this long is straight to well under a metre in UTM
MAX_PIECES_PER_EDGE = 100
CLIP_MARGIN = 0.01  # of the catalog bbox's size, each side
MAX_VERTICES = 100_000  # of a posted polygon: more is a mistake or an attack, not a zone
_EPSG = re.compile(r"^(?:EPSG:|urn:ogc:def:crs:EPSG::|https?://www\.opengis\.net/def/crs/EPSG/0/)(\d{4,6})$",
                   re.IGNORECASE)


@dataclass(frozen=True)
class ImageExtent:
    """Where an image lies: its CRS (and EPSG code, if it has one), geotransform, bounds in its CRS,
    and its lon/lat bbox as the catalog stores it (computed at ingest to be right across the
    antimeridian, around the poles and for geostationary disks; east may exceed 180)."""

    crs: CRS
    epsg: int | None
    transform: Affine
    bounds: Bounds
    bbox: Bounds


class OutsideImage(NotFound):
    """A point or area that does not touch the image; `what` names it ("the point lon=…, lat=…")."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is outside the image's extent")
        self.what = what


def parse_number(text: str | None, parameter: str) -> float:
    """A finite number given as text; 'nan', 'inf' and words are errors naming the parameter."""
    if text is None or not str(text).strip():
        raise InvalidInput(f"{parameter}: a number is required")
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{parameter}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{parameter}: {text!r} is not a finite number")
    return value


def parse_bbox(text: str, crs: CRS, parameter: str = "bbox") -> Bounds:
    """`west,south,east,north` in `crs`; in a geographic CRS, longitudes and latitudes must be real.

    West must be less than east: a bbox across the antimeridian is not supported (give two).
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise InvalidInput(f"{parameter}: expected 4 numbers west,south,east,north, got {len(parts)} in {text!r}")
    west, south, east, north = (parse_number(p, parameter) for p in parts)
    if not west < east:
        raise InvalidInput(f"{parameter}: west ({west:g}) must be less than east ({east:g})")
    if not south < north:
        raise InvalidInput(f"{parameter}: south ({south:g}) must be less than north ({north:g})")
    if crs.is_geographic:
        _check_lon_lat([(west, south), (east, north)], parameter)
    return west, south, east, north


def parse_crs(text: str | None, parameter: str, image: ImageExtent, default: CRS) -> CRS:
    """The CRS a user names (`EPSG:n` or its OGC URI/URN), among those an image can be read in.

    Offered: EPSG:4326, EPSG:3857, every WGS 84 UTM zone and the image's own EPSG code — the
    CRSs an analyst exports to, each a well-behaved projection. Nothing given: `default`.
    """
    if text is None or not text.strip():
        return default
    match = _EPSG.match(text.strip())
    code = int(match.group(1)) if match else None
    if code is not None and code == image.epsg:
        return image.crs
    if code not in {4326, WEB_MERCATOR} | UTM_ZONES:
        own = f", or the image's own EPSG:{image.epsg}" if image.epsg else ""
        raise InvalidInput(f"{parameter}: {text!r} is not offered (use EPSG:4326, EPSG:3857, "
                           f"a WGS 84 UTM zone EPSG:326xx/327xx{own})")
    return CRS.from_epsg(code)


def parse_geometry(value: str | dict, parameter: str = "geometry") -> list[dict]:
    """The polygons of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (lon/lat).

    A FeatureCollection is the union of its features' polygons (what a GIS exports for an area
    drawn in several parts). Rings must be closed, of at least 4 positions, with real lon/lat.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"{parameter}: not valid JSON ({exc})") from None
    shapes = list(_polygons(value, parameter))
    if not shapes:
        raise InvalidInput(f"{parameter}: no Polygon or MultiPolygon in it")
    if sum(len(ring) for shape in shapes for ring in _rings(shape)) > MAX_VERTICES:
        raise InvalidInput(f"{parameter}: more than {MAX_VERTICES} vertices")
    for shape in shapes:
        for ring in _rings(shape):
            _check_ring(ring, parameter)
    return shapes


def rectangle(bbox: Bounds) -> dict:
    """The box as a GeoJSON Polygon, in whatever CRS the box is (never split at the antimeridian:
    that is footprint.bbox_polygon's job for stored lon/lat boxes)."""
    west, south, east, north = bbox
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def shapes_to_crs(shapes: Sequence[dict], src_crs: CRS, dst_crs: CRS, what: str) -> list[dict]:
    """`shapes` moved from `src_crs` into `dst_crs`, geographic edges densified first.

    InvalidInput when a vertex cannot be projected there (e.g. off a geostationary disk, or a
    polygon far larger than the image's projection covers).
    """
    if src_crs == dst_crs:
        return list(shapes)
    if src_crs.is_geographic:
        shapes = [_densified(shape) for shape in shapes]
    try:
        moved = [transform_geom(src_crs, dst_crs, shape) for shape in shapes]
    except Exception:
        moved = []
    if not moved or not all(math.isfinite(v) for shape in moved for ring in _rings(shape) for xy in ring
                            for v in xy[:2]):
        raise InvalidInput(f"{what} cannot be projected into the image's CRS (does it reach beyond what "
                           "the image's projection covers?)")
    return moved


def shapes_bounds(shapes: Iterable[dict]) -> Bounds:
    """The box around every vertex of `shapes`."""
    xs, ys = [], []
    for shape in shapes:
        for ring in _rings(shape):
            xs += [xy[0] for xy in ring]
            ys += [xy[1] for xy in ring]
    return min(xs), min(ys), max(xs), max(ys)


def bounds_to_crs(bounds: Bounds, src_crs: CRS, dst_crs: CRS) -> Bounds | None:
    """`bounds` as a box in `dst_crs` (densified edges); None when that cannot be computed (edges
    off the projection, or a box that wraps the antimeridian)."""
    if src_crs == dst_crs:
        return bounds
    try:
        box = transform_bounds(src_crs, dst_crs, *bounds, densify_pts=21)
    except Exception:
        return None
    if not all(math.isfinite(v) for v in box) or not (box[0] < box[2] and box[1] < box[3]):
        return None
    return box


def clip_to_image(bbox: Bounds, crs: CRS, image: ImageExtent, what: str) -> Bounds:
    """The part of `bbox` (in `crs`) over the image's own box, so a "whole world" box is not
    projected into a CRS that cannot hold it. OutsideImage when they do not meet.

    Lon/lat boxes are clipped to the catalog's bbox, tried as given and shifted by 360 degrees
    (an image across the antimeridian is stored with its east edge past 180); other CRSs to the
    image's bounds in them, when those can be computed (else the box is kept as it is). Those
    boxes come from samples of the image's edges, so they are grown by CLIP_MARGIN first:
    clipping must never cut off a pixel.
    """
    if crs.is_geographic and crs.to_epsg() == 4326:
        image_box, shifts = image.bbox, (0.0, 360.0, -360.0)
    else:
        image_box, shifts = bounds_to_crs(image.bounds, image.crs, crs), (0.0,)
        if image_box is None:
            return bbox
    west, south, east, north = image_box
    pad_x, pad_y = (east - west) * CLIP_MARGIN, (north - south) * CLIP_MARGIN
    grown = (west - pad_x, south - pad_y, east + pad_x, north + pad_y)
    for shift in shifts:
        clipped = _intersection((bbox[0] + shift, bbox[1], bbox[2] + shift, bbox[3]), grown)
        if clipped is not None:
            return clipped
    raise OutsideImage(what)


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two boxes share some area (touching edges do not count)."""
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


# ---------------------------------------------------------------- helpers

def _intersection(a: Sequence[float], b: Sequence[float]) -> Bounds | None:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])) if overlaps(a, b) else None


def _polygons(value: object, parameter: str) -> Iterable[dict]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{parameter}: expected a GeoJSON object, got {type(value).__name__}")
    kind = value.get("type")
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list):
            raise InvalidInput(f"{parameter}: a FeatureCollection needs a 'features' list")
        for feature in features:
            yield from _polygons(feature, parameter)
    elif kind == "Feature":
        yield from _polygons(value.get("geometry"), parameter)
    elif kind in ("Polygon", "MultiPolygon"):
        coordinates = value.get("coordinates")
        depth = 3 if kind == "Polygon" else 4
        if not _nested_lists(coordinates, depth):
            raise InvalidInput(f"{parameter}: the coordinates of a {kind} must be {depth} levels of lists "
                               "ending in [lon, lat] positions")
        yield {"type": kind, "coordinates": coordinates}
    else:
        raise InvalidInput(f"{parameter}: a {kind!r} is not an area (use a Polygon or MultiPolygon)")


def _nested_lists(value: object, depth: int) -> bool:
    """Whether `value` is `depth` levels of non-empty lists whose innermost lists are positions."""
    if depth == 1:
        return isinstance(value, list) and len(value) >= 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return isinstance(value, list) and bool(value) and all(_nested_lists(v, depth - 1) for v in value)


def _rings(shape: dict) -> list[list]:
    coordinates = shape["coordinates"]
    return list(coordinates) if shape["type"] == "Polygon" else [r for polygon in coordinates for r in polygon]


def _check_ring(ring: list, parameter: str) -> None:
    if len(ring) < 4:
        raise InvalidInput(f"{parameter}: a polygon ring needs at least 4 positions, got {len(ring)}")
    if list(ring[0][:2]) != list(ring[-1][:2]):
        raise InvalidInput(f"{parameter}: a polygon ring must end where it starts")
    _check_lon_lat([xy[:2] for xy in ring], parameter)


def _check_lon_lat(points: Iterable[Sequence[float]], parameter: str) -> None:
    for lon, lat in points:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise InvalidInput(f"{parameter}: coordinates must be finite numbers")
        if not -180.0 <= lon <= 180.0:
            raise InvalidInput(f"{parameter}: longitude {lon:g} is outside -180..180")
        if not -90.0 <= lat <= 90.0:
            raise InvalidInput(f"{parameter}: latitude {lat:g} is outside -90..90")


def _densified(shape: dict) -> dict:
    """`shape` with every edge longer than MAX_SEGMENT_DEGREES split into equal pieces."""
    def ring(points: list) -> list:
        out = [points[0]]
        for (x0, y0, *_), (x1, y1, *_) in zip(points, points[1:]):
            pieces = min(MAX_PIECES_PER_EDGE, max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / MAX_SEGMENT_DEGREES)))
            out += [[x0 + (x1 - x0) * i / pieces, y0 + (y1 - y0) * i / pieces] for i in range(1, pieces + 1)]
        return out

    if shape["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r) for r in shape["coordinates"]]}
    return {"type": "MultiPolygon", "coordinates": [[ring(r) for r in polygon] for polygon in shape["coordinates"]]}
