"""Where a raster lies on the Earth: its WGS84 bounding box and footprint polygon.

Naive corner reprojection goes wrong for exactly the rasters people care about: a UTM scene across
the antimeridian becomes a world-wide box, a polar stereographic scene around the pole misses half
its longitudes, a geostationary full disk has corners off the planet. So we sample a grid over the
raster, drop samples that do not land on the Earth, detect antimeridian crossings from jumps between
neighbouring samples, and test whether a pole lies inside.

Boxes that cross the antimeridian keep their east edge past 180 degrees (e.g. 179.5 .. 181.2), the
form the catalog stores; GeoJSON footprints are split at the antimeridian (RFC 7946).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cogbrowser.errors import IngestError, InvalidInput, first_line
from cogbrowser.raster.bbox import Bounds

_GRID = 97  # samples per side of the grid (edges included)
_EDGE = 65  # samples per edge for the footprint ring



@dataclass(frozen=True)
class Extent:
    """A raster's place on the Earth, in WGS84 degrees."""

    bbox: Bounds  # west, south, east, north; east > 180 when crossing the antimeridian
    footprint: dict  # GeoJSON Polygon or MultiPolygon


_EARTH_RADIUS_M = 6_378_137.0  # WGS84's semi-major axis
_SAME_BODY = 0.2  # PROJ's own tolerance: an ellipsoid within 20 % of the Earth's is on the Earth


def to_wgs84_transformer(crs_wkt: str) -> Transformer:
    """A lon/lat transformer for the CRS, or a clear error for CRSs not on the Earth (e.g. Mars).

    The body is judged from the ellipsoid here, not from PROJ's error text: pyproj keeps that text
    in one process-wide slot that any other thread's PROJ error overwrites or clears.
    """
    try:
        source = CRS.from_user_input(crs_wkt)
    except ProjError as exc:
        raise IngestError(f"its CRS cannot be read: {first_line(exc)}") from exc
    ellipsoid = source.ellipsoid
    if ellipsoid is not None and abs(ellipsoid.semi_major_metre / _EARTH_RADIUS_M - 1) > _SAME_BODY:
        datum = source.datum.name if source.datum is not None else ellipsoid.name
        raise IngestError(
            f"its CRS is not on the Earth (datum {datum}, radius {ellipsoid.semi_major_metre / 1000:,.0f} km "
            f"against the Earth's {_EARTH_RADIUS_M / 1000:,.0f} km); cogbrowser maps the Earth only"
        )
    try:
        return Transformer.from_crs(source, CRS.from_epsg(4326), always_xy=True)
    except ProjError as exc:
        raise IngestError(f"its CRS cannot be transformed to WGS84: {first_line(exc)}") from exc


def raster_extent(crs_wkt: str, transform: Affine, width: int, height: int) -> Extent:
    """The WGS84 bounding box and footprint of a georeferenced raster."""
    to_wgs84 = to_wgs84_transformer(crs_wkt)

    cols = np.linspace(0, width, _GRID)
    rows = np.linspace(0, height, _GRID)
    grid_c, grid_r = np.meshgrid(cols, rows)
    lon, lat = _pixels_to_lonlat(to_wgs84, transform, grid_c, grid_r)
    valid = np.isfinite(lon) & np.isfinite(lat)
    if not valid.any():
        raise IngestError("no part of it lands on the Earth when reprojected to WGS84")

    crosses = _crosses_antimeridian(lon, valid)
    pole = _pole_inside(crs_wkt, transform, width, height)
    south, north = float(lat[valid].min()), float(lat[valid].max())
    if pole == "north":
        north = 90.0
    elif pole == "south":
        south = -90.0

    if pole:
        west, east = -180.0, 180.0
    else:
        unwrapped = np.where(crosses & (lon < 0), lon + 360.0, lon) if crosses else lon
        west, east = float(unwrapped[valid].min()), float(unwrapped[valid].max())
        if east - west >= 359.999 or west < -180 - 1e-9:
            west, east = -180.0, 180.0
    bbox = (_clamp(west, -180, 540), _clamp(south, -90, 90), _clamp(east, -180, 540), _clamp(north, -90, 90))
    return Extent(bbox=bbox, footprint=_footprint(to_wgs84, transform, width, height, bbox, bool(pole)))


GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def parse_geojson_geometry(value: str | dict, parameter: str = "intersects") -> BaseGeometry:
    """A GeoJSON geometry (text or parsed) in WGS 84, as a shapely geometry to test footprints
    against; InvalidInput naming `parameter` for anything else (bad JSON, a Feature, open rings,
    coordinates off the Earth)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"{parameter}: not valid JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        kind = value.get("type") if isinstance(value, dict) else type(value).__name__
        raise InvalidInput(f"{parameter}: expected a GeoJSON geometry ({', '.join(GEOMETRY_TYPES)}), got {kind!r}")
    try:
        geometry = shape(value)
    except (KeyError, TypeError, ValueError, IndexError, shapely.errors.ShapelyError) as exc:
        raise InvalidInput(f"{parameter}: not a valid {value['type']} ({first_line(exc)})") from None
    if geometry.is_empty:
        raise InvalidInput(f"{parameter}: the geometry is empty")
    west, south, east, north = geometry.bounds
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidInput(f"{parameter}: coordinates must be finite numbers")
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise InvalidInput(f"{parameter}: coordinates must be longitudes in -180..180 and latitudes in -90..90")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)  # a self-touching ring still says where the user means
    return geometry


def geometry_intersects(footprint: dict, geometry: BaseGeometry) -> bool:
    """Whether a stored GeoJSON footprint (split at the antimeridian) touches `geometry`."""
    try:
        return shape(footprint).intersects(geometry)
    except (shapely.errors.ShapelyError, ValueError, KeyError, TypeError):
        return True  # a footprint shapely cannot read: its bbox matched, keep it rather than lose it


def bbox_polygon(bbox: Bounds) -> dict:
    """A GeoJSON Polygon (or MultiPolygon across the antimeridian) for a stored-form bbox."""
    west, south, east, north = bbox
    if east <= 180:
        return {"type": "Polygon", "coordinates": [_rect(west, south, east, north)]}
    return {
        "type": "MultiPolygon",
        "coordinates": [[_rect(west, south, 180.0, north)], [_rect(-180.0, south, east - 360.0, north)]],
    }


def ring_bbox(coords: list[list[float]]) -> Bounds:
    """Stored-form bbox of a lon/lat ring (or point list), unwrapping across the antimeridian."""
    lon = np.array([c[0] for c in coords], dtype=float)
    lat = np.array([c[1] for c in coords], dtype=float)
    if lon.size > 1 and (np.abs(np.diff(lon)) > 180).any():
        lon = np.where(lon < 0, lon + 360.0, lon)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _pixels_to_lonlat(to_wgs84: Transformer, transform: Affine, cols, rows):
    xs, ys = transform @ (np.asarray(cols, dtype=float), np.asarray(rows, dtype=float))  # type: ignore[operator]
    # (affine's hints name floats; it maps arrays too)
    with np.errstate(all="ignore"):
        lon, lat = to_wgs84.transform(xs, ys, errcheck=False)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lat) > 90.0001) | (np.abs(lon) > 540)
    lon[bad] = np.nan
    lat[bad] = np.nan
    return lon, lat


def _crosses_antimeridian(lon: np.ndarray, valid: np.ndarray) -> bool:
    """True when neighbouring samples jump by more than 180 degrees of longitude."""
    filled = np.where(valid, lon, np.nan)
    with np.errstate(invalid="ignore"):
        jumps_x = np.abs(np.diff(filled, axis=1)) > 180
        jumps_y = np.abs(np.diff(filled, axis=0)) > 180
    return bool(jumps_x.any() or jumps_y.any())


def _pole_inside(crs_wkt: str, transform: Affine, width: int, height: int) -> str | None:
    """'north' or 'south' when that pole falls inside the raster's pixel grid."""
    try:
        from_wgs84 = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs_wkt), always_xy=True)
    except ProjError:
        return None
    inverse = ~transform
    for name, lat in (("north", 90.0), ("south", -90.0)):
        with np.errstate(all="ignore"):
            x, y = from_wgs84.transform(0.0, lat, errcheck=False)
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        col, row = inverse @ (x, y)
        if 0 <= col <= width and 0 <= row <= height:
            return name
    return None


def _footprint(to_wgs84: Transformer, transform: Affine, width: int, height: int, bbox: Bounds, pole: bool) -> dict:
    if pole:
        return bbox_polygon(bbox)
    t = np.linspace(0, 1, _EDGE)[:-1]
    cols = np.concatenate([t * width, np.full_like(t, width), (1 - t) * width, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * height, np.full_like(t, height), (1 - t) * height])
    lon, lat = _pixels_to_lonlat(to_wgs84, transform, cols, rows)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return bbox_polygon(bbox)  # edges off the Earth (full disk): the box is the honest answer
    if bbox[2] > 180:
        lon = np.where(lon < 0, lon + 360.0, lon)
    ring = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat)]
    ring.append(ring[0])
    if bbox[2] <= 180:
        return {"type": "Polygon", "coordinates": [ring]}
    west_part = _clip_ring(ring, keep_below=180.0)
    east_part = [[x - 360.0, y] for x, y in _clip_ring(ring, keep_below=None, keep_above=180.0)]
    parts = [[p] for p in (west_part, east_part) if len(p) >= 4]
    return {"type": "MultiPolygon", "coordinates": parts}


def _clip_ring(ring: list[list[float]], keep_below: float | None = None, keep_above: float | None = None) -> list:
    """Sutherland-Hodgman clip of a closed ring against one vertical line (lon <= or >= a value)."""
    limit = keep_below if keep_below is not None else keep_above
    assert limit is not None

    def inside(p: list[float]) -> bool:
        return p[0] <= limit if keep_below is not None else p[0] >= limit

    out: list[list[float]] = []
    points = ring[:-1]
    for i, current in enumerate(points):
        previous = points[i - 1]
        if inside(current):
            if not inside(previous):
                out.append(_intersect(previous, current, limit))
            out.append(current)
        elif inside(previous):
            out.append(_intersect(previous, current, limit))
    if out:
        out.append(out[0])
    return out


def _intersect(a: list[float], b: list[float], x: float) -> list[float]:
    f = (x - a[0]) / (b[0] - a[0])
    return [x, round(a[1] + f * (b[1] - a[1]), 7)]


def _rect(west: float, south: float, east: float, north: float) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(max(value, low), high), 9)

