"""Where a user points, in an image's terms: a box or polygon moved into the image's CRS and clipped
to the image.

Requests are parsed at the edge (web/params.py); this module takes their values — boxes as tuples,
GeoJSON as dicts, CRSs as objects — and does the geometry. Lines of a lon/lat polygon are straight
in lon/lat (RFC 7946), so long edges are densified before they are projected; otherwise a bbox edge
would cut a straight chord through a UTM image instead of following its parallel. Boxes follow the
one antimeridian rule of `BBox`: a lon/lat box across the antimeridian has its east edge past 180,
and is moved into another CRS whole wherever that CRS can hold it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds, transform_geom

from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.crs import WGS84
from cogbrowser.raster.reader import transformer

__all__ = ["ImageExtent", "OutsideImage", "GeometryError", "geojson_polygons", "rectangle", "shapes_to_crs",
           "shapes_bounds", "bounds_to_crs", "clip_to_image", "bbox_zone", "overlaps"]

MAX_SEGMENT_DEGREES = 0.01  # ~1 km: a lon/lat edge this long is straight to well under a metre in UTM
MAX_PIECES_PER_EDGE = 100
CLIP_MARGIN = 0.01  # of the catalog bbox's size, each side
MAX_VERTICES = 100_000  # of a posted polygon: more is a mistake or an attack, not a zone
_SEAM_TOLERANCE = 1e-3  # CRS units: the antimeridian seen from its two sides lands this close, or one period apart


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


class GeometryError(InvalidInput):
    """GeoJSON that is not an area: `parameter` names where it was given, `reason` says what is wrong."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter, self.reason = parameter, reason


def geojson_polygons(value: object, parameter: str = "geometry") -> list[dict]:
    """The polygons of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (lon/lat), as
    parsed JSON. GeometryError naming `parameter` for anything else.

    A FeatureCollection is the union of its features' polygons (what a GIS exports for an area
    drawn in several parts). Rings must be closed, of at least 4 positions, with real lon/lat.
    """
    shapes = list(_polygons(value, parameter))
    if not shapes:
        raise GeometryError(parameter, "no Polygon or MultiPolygon in it")
    if sum(len(ring) for shape in shapes for ring in _rings(shape)) > MAX_VERTICES:
        raise GeometryError(parameter, f"more than {MAX_VERTICES} vertices")
    for shape in shapes:
        for ring in _rings(shape):
            _check_ring(ring, parameter)
    return shapes


def rectangle(bbox: Sequence[float]) -> dict:
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


def bounds_to_crs(bounds: Sequence[float], src_crs: CRS, dst_crs: CRS) -> Bounds | None:
    """`bounds` (in `src_crs`) as a box in `dst_crs` (densified edges); None when that cannot be
    computed: edges off the projection, or a box across the antimeridian that `dst_crs` cannot
    hold in one piece.

    A box across the antimeridian — lon/lat with its east edge past 180, or a projected box whose
    lon/lat box crosses it — is moved in its two halves, joined again where `dst_crs` is continuous
    across the antimeridian (a UTM zone there) or repeats around the globe (lon/lat, where the east
    edge stays past 180, and Web Mercator, where the box reaches past the world's edge). A box that
    lands across the antimeridian in lon/lat keeps its east edge past 180.
    """
    box = (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3]))
    if src_crs == dst_crs:
        return box
    if src_crs.is_geographic and box[2] > 180.0:
        return _across_antimeridian(box, src_crs, dst_crs)
    moved = _transformed_box(box, src_crs, dst_crs)
    if moved is not None and dst_crs.is_geographic and moved[0] > moved[2]:
        moved = (moved[0], moved[1], moved[2] + 360.0, moved[3])
    elif moved is not None and not src_crs.is_geographic and not dst_crs.is_geographic:
        lonlat = _transformed_box(box, src_crs, WGS84)
        if lonlat is not None and lonlat[0] > lonlat[2] and _seam(dst_crs, lonlat[1], lonlat[3]) != 0.0:
            moved = _across_antimeridian((lonlat[0], lonlat[1], lonlat[2] + 360.0, lonlat[3]), WGS84, dst_crs)
    return moved if moved is not None and moved[0] < moved[2] and moved[1] < moved[3] else None


def clip_to_image(bbox: Sequence[float], crs: CRS, image: ImageExtent) -> list[Bounds]:
    """The parts of `bbox` (in `crs`) over the image's own box, so a "whole world" box is not
    projected into a CRS that cannot hold it; none when they do not meet.

    Lon/lat boxes are clipped to the catalog's bbox tried as given and shifted by 360 degrees either
    way, each part kept in the image's longitudes: a box across the antimeridian may meet an image on
    both of its sides, and an image across it is stored with its east edge past 180. Other CRSs: the
    image's bounds in them, when those can be computed (else the box is kept as it is). Those boxes
    come from samples of the image's edges, so they are grown by CLIP_MARGIN first: clipping must
    never cut off a pixel.
    """
    box = (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3]))
    lonlat = crs == WGS84
    image_box = image.bbox if lonlat else bounds_to_crs(image.bounds, image.crs, crs)
    if image_box is None:
        return [box]
    shifts = (0.0, 360.0, -360.0) if lonlat else (0.0,)
    west, south, east, north = image_box
    pad_x, pad_y = (east - west) * CLIP_MARGIN, (north - south) * CLIP_MARGIN
    grown = (west - pad_x, south - pad_y, east + pad_x, north + pad_y)
    parts = [_intersection((box[0] + shift, box[1], box[2] + shift, box[3]), grown) for shift in shifts]
    return [part for part in parts if part is not None]


def bbox_zone(bbox: Sequence[float], crs: CRS, image: ImageExtent, what: str) -> list[dict]:
    """A box in `crs` as the zone of a read of the image: its parts over the image (clip_to_image),
    as polygons in the image's CRS. OutsideImage (naming `what`) when it misses the image."""
    parts = clip_to_image(bbox, crs, image)
    if not parts:
        raise OutsideImage(what)
    return shapes_to_crs([rectangle(part) for part in parts], crs, image.crs, what)


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two boxes share some area (touching edges do not count)."""
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


# ---------------------------------------------------------------- helpers

def _intersection(a: Sequence[float], b: Sequence[float]) -> Bounds | None:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])) if overlaps(a, b) else None


def _transformed_box(box: Sequence[float], src_crs: CRS, dst_crs: CRS) -> Bounds | None:
    """GDAL's densified box of `box` in `dst_crs` (west > east when it lands across the antimeridian
    in lon/lat); None when it cannot be computed."""
    try:
        moved = transform_bounds(src_crs, dst_crs, *box, densify_pts=21)
    except Exception:
        return None
    return moved if all(math.isfinite(v) for v in moved) else None


def _across_antimeridian(box: Bounds, src_crs: CRS, dst_crs: CRS) -> Bounds | None:
    """A lon/lat box whose east edge is past 180, in `dst_crs` (see bounds_to_crs)."""
    west, south, east, north = box
    first = _transformed_box((west, south, 180.0, north), src_crs, dst_crs)
    second = _transformed_box((-180.0, south, east - 360.0, north), src_crs, dst_crs)
    period = _seam(dst_crs, south, north)
    if first is None or second is None or period is None:
        return None
    joined = (min(first[0], second[0] + period), min(first[1], second[1]),
              max(first[2], second[2] + period), max(first[3], second[3]))
    return joined if joined[0] < joined[2] and joined[1] < joined[3] else None


def _seam(crs: CRS, south: float, north: float) -> float | None:
    """How far apart the antimeridian lands in `crs` seen from its east and from its west side,
    between latitudes `south` and `north`: 0 where `crs` is continuous across it (a UTM zone there),
    one period where `crs` repeats around the globe (360 in lon/lat, the world's width in Web
    Mercator), None where neither (the sides land apart by different amounts, or off the projection)."""
    if crs.is_geographic:
        return 360.0
    lats = [south, (south + north) / 2, north]
    xs, ys = transformer(WGS84, crs).transform([180.0] * 3 + [-180.0] * 3, lats * 2, errcheck=False)
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        return None
    gaps = [x_east - x_west for x_east, x_west in zip(xs[:3], xs[3:])]
    if max(abs(y_east - y_west) for y_east, y_west in zip(ys[:3], ys[3:])) > _SEAM_TOLERANCE \
            or max(gaps) - min(gaps) > _SEAM_TOLERANCE:
        return None
    return 0.0 if abs(gaps[0]) <= _SEAM_TOLERANCE else gaps[0]


def _polygons(value: object, parameter: str) -> Iterable[dict]:
    if not isinstance(value, dict):
        raise GeometryError(parameter, f"expected a GeoJSON object, got {type(value).__name__}")
    kind = value.get("type")
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list):
            raise GeometryError(parameter, "a FeatureCollection needs a 'features' list")
        for feature in features:
            yield from _polygons(feature, parameter)
    elif kind == "Feature":
        yield from _polygons(value.get("geometry"), parameter)
    elif kind in ("Polygon", "MultiPolygon"):
        coordinates = value.get("coordinates")
        depth = 3 if kind == "Polygon" else 4
        if not _nested_lists(coordinates, depth):
            raise GeometryError(parameter, f"the coordinates of a {kind} must be {depth} levels of lists "
                                           "ending in [lon, lat] positions")
        yield {"type": kind, "coordinates": coordinates}
    else:
        raise GeometryError(parameter, f"a {kind!r} is not an area (use a Polygon or MultiPolygon)")


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
        raise GeometryError(parameter, f"a polygon ring needs at least 4 positions, got {len(ring)}")
    if list(ring[0][:2]) != list(ring[-1][:2]):
        raise GeometryError(parameter, "a polygon ring must end where it starts")
    _check_lon_lat([xy[:2] for xy in ring], parameter)


def _check_lon_lat(points: Iterable[Sequence[float]], parameter: str) -> None:
    for lon, lat in points:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise GeometryError(parameter, "coordinates must be finite numbers")
        if not -180.0 <= lon <= 180.0:
            raise GeometryError(parameter, f"longitude {lon:g} is outside -180..180")
        if not -90.0 <= lat <= 90.0:
            raise GeometryError(parameter, f"latitude {lat:g} is outside -90..90")


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
