"""Detections import from CSV or GeoJSON: validated row by row, written in one transaction.

Rows are streamed: a CSV line or a GeoJSON feature is read, checked and written into a COPY one at a
time, so a million-row file never sits in memory. Problems are counted, and the first thousand kept
with their line (CSV) or feature number (GeoJSON). Unless the caller asks to skip invalid rows, one
problem rolls the whole import back.
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import numpy as np
import psycopg
from affine import Affine
from pyproj import CRS, Geod, Transformer

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection, Database
from cogbrowser.catalog.records import ImageGeoRef
from cogbrowser.errors import InvalidInput, first_line
from cogbrowser.raster.footprint import bbox_polygon, ring_bbox, to_wgs84_transformer
from cogbrowser.raster.metadata import parse_datetime

_GEOD = Geod(ellps="WGS84")
LONLAT_COLUMNS = ("lon_min", "lat_min", "lon_max", "lat_max")
PIXEL_COLUMNS = ("px_min", "py_min", "px_max", "py_max")
_ALIASES = {"west": "lon_min", "south": "lat_min", "east": "lon_max", "north": "lat_max",
            "min_lon": "lon_min", "min_lat": "lat_min", "max_lon": "lon_max", "max_lat": "lat_max",
            "col_min": "px_min", "row_min": "py_min", "col_max": "px_max", "row_max": "py_max",
            "class": "target_class", "name": "target_name", "image": "image_id", "confidence": "score"}


@dataclass
class Problem:
    where: str  # "line 12" for CSV, "feature 3" for GeoJSON
    message: str


MAX_PROBLEMS_KEPT = 1000  # invalid rows a report lists; the others are counted (a file may hold millions)


@dataclass
class ImportReport:
    rows_read: int = 0
    imported: int = 0
    invalid: int = 0  # rows refused
    problems: list[Problem] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT of them

    def add_problem(self, problem: Problem) -> None:
        self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)


class _RowError(Exception):
    """One row does not fit; the message names the field."""


def import_detections(db: Database, path: Path, *, skip_invalid: bool = False,
                      default_image_id: str | None = None) -> ImportReport:
    """Import a CSV or GeoJSON file of detections (see the CLI help for the columns)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    report = ImportReport()
    images = _ImageCache(db)
    records = _records(path, report, images, default_image_id)
    with db.connection() as conn:
        try:
            with conn.transaction():
                count = queries.insert_detections(conn, records)
                if report.invalid and not skip_invalid:
                    raise psycopg.Rollback()
                report.imported = count
        finally:
            images.close()
    return report


def create_detections(db: Database, rows: list[dict]) -> tuple[list[int], list[Problem]]:
    """Detections given as JSON objects (the REST API), checked by the same rules as a file's rows
    and inserted in one transaction, all or nothing: (new ids, []) or ([], every problem).

    A row has image_id, target_class, target_name, score, detected_at, properties, and one of
    `geometry` (GeoJSON, WGS 84), `bbox` ([west, south, east, north]) or `pixel_bbox`
    ([px_min, py_min, px_max, py_max] in the image's pixels).
    """
    images = _ImageCache(db)
    records, problems = [], []
    try:
        for number, row in enumerate(rows):
            try:
                records.append(_validate(_json_row(row), images, None))
            except _RowError as exc:
                problems.append(Problem(f"detections.{number}", str(exc)))
    finally:
        images.close()
    if problems:
        return [], problems
    with db.connection() as conn, conn.transaction():
        return queries.insert_detections(conn, records, returning_ids=True), []


def _json_row(row: dict) -> dict:
    """A JSON detection in the shape file rows have."""
    flat = {k: v for k, v in row.items() if k not in ("geometry", "bbox", "pixel_bbox", "properties")}
    for key, value in (row.get("properties") or {}).items():
        flat.setdefault(str(key), value)
    if row.get("geometry") is not None:
        flat["__geometry__"] = row["geometry"]
    for key, columns in (("bbox", LONLAT_COLUMNS), ("pixel_bbox", PIXEL_COLUMNS)):
        if row.get(key) is not None:
            flat.update(zip(columns, row[key]))
    return flat


def _records(path: Path, report: ImportReport, images: _ImageCache, default_image_id: str | None) -> Iterator[dict]:
    rows = _geojson_rows(path) if path.suffix.lower() in (".geojson", ".json") else _csv_rows(path)
    for where, row in rows:
        report.rows_read += 1
        try:
            yield _validate(row, images, default_image_id)
        except _RowError as exc:
            report.add_problem(Problem(where, str(exc)))


# -- readers: (where, row dict) -----------------------------------------------------------
def _csv_rows(path: Path) -> Iterator[tuple[str, dict]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        try:
            sample = handle.read(8192)
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name} is not a UTF-8 text file") from None
        except csv.Error:
            dialect = csv.excel
        handle.seek(0)
        reader = csv.reader(handle, dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput(f"{path.name} is empty") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name} is not a UTF-8 text file") from None
        columns = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in header]
        _check_header(path, columns)
        try:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(columns):
                    problem = f"has {len(values)} fields, the header has {len(columns)}"
                    yield f"line {reader.line_num}", {"__error__": problem}
                    continue
                yield f"line {reader.line_num}", dict(zip(columns, (v.strip() for v in values)))
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name} is not a UTF-8 text file (line {reader.line_num + 1})") from None


def _check_header(path: Path, columns: list[str]) -> None:
    missing = [c for c in ("target_class", "score") if c not in columns]
    has_lonlat = all(c in columns for c in LONLAT_COLUMNS)
    has_pixels = all(c in columns for c in PIXEL_COLUMNS)
    if not (has_lonlat or has_pixels):
        missing.append("a box: " + ", ".join(LONLAT_COLUMNS) + " or " + ", ".join(PIXEL_COLUMNS))
    if missing:
        raise InvalidInput(f"{path.name} line 1: missing column(s) {'; '.join(missing)}")


def _geojson_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """The features of a FeatureCollection, one at a time as the file is read (ijson, in C):
    `json.loads` would hold the whole collection, 10-20 times the file's size in memory."""
    with path.open("rb") as file:
        try:
            _check_collection(file, path.name)
            for number, feature in enumerate(ijson.items(file, "features.item", use_float=True), start=1):
                yield f"feature {number}", _feature_row(feature)
        except ijson.JSONError as exc:
            raise InvalidInput(f"{path.name} is not valid JSON: {first_line(exc)}") from None


def _check_collection(file: BinaryIO, name: str) -> None:
    """Raise InvalidInput unless the file is an object whose "type" is FeatureCollection and whose
    "features" is a list. Reads its top level only as far as both are found (GeoJSON writers put
    "type" first), then rewinds past the byte order mark."""
    _skip_bom(file)
    kind: Any = None
    features_event = None
    for prefix, event, value in ijson.parse(file, use_float=True):
        if prefix == "" and event not in ("start_map", "map_key", "end_map"):
            raise InvalidInput(f"{name} is not a GeoJSON FeatureCollection")
        if prefix == "type" and kind is None:
            kind = value if event == "string" else event
            if kind != "FeatureCollection":
                raise InvalidInput(f"{name} is not a GeoJSON FeatureCollection")
        elif prefix == "features" and features_event is None:
            features_event = event
            if event != "start_array":
                raise InvalidInput(f"{name} has no 'features' list")
        if kind is not None and features_event is not None:
            break
    else:
        if kind is None:
            raise InvalidInput(f"{name} is not a GeoJSON FeatureCollection")
        raise InvalidInput(f"{name} has no 'features' list")
    _skip_bom(file)  # rewound for the features' reader


def _skip_bom(file: BinaryIO) -> None:
    """Past a UTF-8 byte order mark at the start (Windows tools write one), which JSON parsers refuse."""
    file.seek(0)
    if file.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
        file.seek(0)


def _feature_row(feature: Any) -> dict:
    """A feature's properties (names as the CSV columns) and its geometry, or the row's error."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return {"__error__": "is not a GeoJSON Feature"}
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        return {"__error__": "properties is not an object"}
    row = {_ALIASES.get(str(k).lower(), str(k).lower()): v for k, v in properties.items()}
    row["__geometry__"] = feature.get("geometry")
    return row


# -- validation ---------------------------------------------------------------------------
def _validate(row: dict, images: _ImageCache, default_image_id: str | None) -> dict:
    if "__error__" in row:
        raise _RowError(row["__error__"])
    image_id = str(row.get("image_id") or default_image_id or "").strip()
    if not image_id:
        raise _RowError("image_id is empty")
    image = images.get(image_id)
    if image is None:
        raise _RowError(f"image_id {image_id!r} is not in the catalog")
    target_class = str(row.get("target_class") or "").strip()
    if not target_class:
        raise _RowError("target_class is empty")
    score = _number(row.get("score"), "score")
    if not 0 <= score <= 1:
        raise _RowError(f"score {score:g} is outside 0..1")
    detected_at = image.ref.acquired_at
    if row.get("detected_at") not in (None, ""):
        detected_at = parse_datetime(str(row["detected_at"]))
        if detected_at is None:
            raise _RowError(f"detected_at {row['detected_at']!r} is not a date/time")
    geometry, bbox, pixel_bbox = _geometry(row, image)
    name = row.get("target_name")
    known = {"image_id", "target_class", "target_name", "score", "detected_at", "__geometry__", "pixel_bbox",
             *LONLAT_COLUMNS, *PIXEL_COLUMNS}
    extra = {k: v for k, v in row.items() if k not in known and v not in (None, "")}
    return {
        "image_id": image_id, "target_class": target_class,
        "target_name": str(name).strip() if name not in (None, "") else None,
        "score": score, "geometry": geometry, "bbox": bbox, "pixel_bbox": pixel_bbox,
        "area_m2": _area_m2(geometry), "detected_at": detected_at, "properties": extra,
    }


def _geometry(row: dict, image: _PlacedImage) -> tuple[dict, tuple, tuple | None]:
    if "__geometry__" in row:
        geometry = row["__geometry__"]
        if geometry is None and all(row.get(c) not in (None, "") for c in PIXEL_COLUMNS):
            return _from_pixels(row, image)
        return _from_geojson(geometry, image)
    if all(row.get(c) not in (None, "") for c in LONLAT_COLUMNS):
        return _from_lonlat_box(row, image)
    if all(row.get(c) not in (None, "") for c in PIXEL_COLUMNS):
        return _from_pixels(row, image)
    raise _RowError("no box: fill lon_min, lat_min, lon_max, lat_max or px_min, py_min, px_max, py_max")


def _from_lonlat_box(row: dict, image: _PlacedImage) -> tuple[dict, tuple, tuple | None]:
    west, south, east, north = (_number(row[c], c) for c in LONLAT_COLUMNS)
    for name, value, limit in (("lon_min", west, 180), ("lon_max", east, 180), ("lat_min", south, 90),
                               ("lat_max", north, 90)):
        if abs(value) > limit:
            raise _RowError(f"{name} {value:g} is outside -{limit}..{limit}")
    if south >= north:
        raise _RowError(f"lat_min {south:g} is not below lat_max {north:g}")
    if west == east:
        raise _RowError(f"lon_min and lon_max are both {west:g}")
    stored = (west, south, east + 360.0 if west > east else east, north)
    return bbox_polygon(stored), stored, _to_pixels(stored, image)


def _from_pixels(row: dict, image: _PlacedImage) -> tuple[dict, tuple, tuple]:
    px_min, py_min, px_max, py_max = (_number(row[c], c) for c in PIXEL_COLUMNS)
    if px_min >= px_max or py_min >= py_max:
        raise _RowError("pixel box is empty or inverted (need px_min < px_max and py_min < py_max)")
    if px_min < 0 or py_min < 0 or px_max > image.ref.width or py_max > image.ref.height:
        raise _RowError(f"pixel box ({px_min:g}, {py_min:g}, {px_max:g}, {py_max:g}) is outside the image "
                        f"({image.ref.width} x {image.ref.height} pixels)")
    t = np.linspace(0.0, 1.0, 5)[:-1]
    cols = np.concatenate([px_min + t * (px_max - px_min), np.full(4, px_max), px_max - t * (px_max - px_min),
                           np.full(4, px_min)])
    rows = np.concatenate([np.full(4, py_min), py_min + t * (py_max - py_min), np.full(4, py_max),
                           py_max - t * (py_max - py_min)])
    xs, ys = image.affine @ (cols, rows)  # type: ignore[operator]  # affine's hints name floats; it maps arrays
    lon, lat = image.to_wgs84.transform(xs, ys)
    ring = [[round(float(x), 8), round(float(y), 8)] for x, y in zip(lon, lat)]
    if not all(math.isfinite(v) for point in ring for v in point):
        raise _RowError("pixel box does not land on the Earth")
    ring.append(ring[0])
    bbox = ring_bbox(ring)
    geometry = {"type": "Polygon", "coordinates": [ring]} if bbox[2] <= 180 else bbox_polygon(bbox)
    return geometry, bbox, (px_min, py_min, px_max, py_max)


def _from_geojson(geometry: Any, image: _PlacedImage) -> tuple[dict, tuple, tuple | None]:
    if not isinstance(geometry, dict):
        raise _RowError("geometry is missing")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    try:
        if kind == "Point":
            points = [_position(coordinates)]
        elif kind == "Polygon":
            points = [p for ring in _rings(coordinates) for p in ring]
        elif kind == "MultiPolygon":
            if not isinstance(coordinates, list) or not coordinates:
                raise _RowError("MultiPolygon has no polygons")
            points = [p for polygon in coordinates for ring in _rings(polygon) for p in ring]
        else:
            raise _RowError(f"geometry type {kind!r} is not supported (use Polygon, MultiPolygon or Point)")
    except (TypeError, ValueError) as exc:
        raise _RowError(f"geometry coordinates are malformed: {exc}") from None
    bbox = ring_bbox(points)
    clean = {"type": kind, "coordinates": coordinates}
    return clean, bbox, _to_pixels(bbox, image)


def _rings(coordinates: Any) -> list[list[list[float]]]:
    if not isinstance(coordinates, list) or not coordinates:
        raise _RowError("Polygon has no rings")
    rings = []
    for ring in coordinates:
        if not isinstance(ring, list) or len(ring) < 4:
            raise _RowError("a polygon ring needs at least 4 positions")
        positions = [_position(p) for p in ring]
        if positions[0] != positions[-1]:
            raise _RowError("a polygon ring is not closed (first and last positions differ)")
        rings.append(positions)
    return rings


def _position(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise _RowError("a position needs longitude and latitude")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise _RowError(f"position ({value[0]}, {value[1]}) is not a WGS84 longitude/latitude")
    return [lon, lat]


def _to_pixels(bbox: tuple, image: _PlacedImage) -> tuple | None:
    """The pixel box of a WGS84 box in the image's grid, when it can be computed."""
    west, south, east, north = bbox
    lons = np.array([west, east, east, west]) % 360.0
    lons = np.where(lons > 180, lons - 360, lons)
    lats = np.array([south, south, north, north])
    with np.errstate(all="ignore"):
        xs, ys = image.from_wgs84.transform(lons, lats, errcheck=False)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    cols, rows = (~image.affine) @ (np.asarray(xs), np.asarray(ys))
    return (round(float(np.min(cols)), 3), round(float(np.min(rows)), 3), round(float(np.max(cols)), 3),
            round(float(np.max(rows)), 3))


def _area_m2(geometry: dict) -> float:
    polygons = {"Polygon": [geometry["coordinates"]], "MultiPolygon": geometry["coordinates"]}.get(geometry["type"], [])
    total = 0.0
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            lons, lats = zip(*[(p[0], p[1]) for p in ring])
            area, _ = _GEOD.polygon_area_perimeter(lons, lats)
            total += abs(area) if index == 0 else -abs(area)
    return round(total, 3)


def _number(value: Any, name: str) -> float:
    if value in (None, ""):
        raise _RowError(f"{name} is empty")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _RowError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _RowError(f"{name} {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class _PlacedImage:
    """An image's georeference, with the transforms that move boxes between its pixels and lon/lat."""

    ref: ImageGeoRef
    affine: Affine
    to_wgs84: Transformer
    from_wgs84: Transformer


class _ImageCache:
    """Georeference of the images rows refer to, looked up once each on a connection of its own
    (the import's connection is busy with COPY)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._cache: dict[str, _PlacedImage | None] = {}

    def get(self, image_id: str) -> _PlacedImage | None:
        if image_id not in self._cache:
            if self._conn is None:
                self._conn_cm = self._db.connection()
                self._conn = self._conn_cm.__enter__()
            found = queries.image_geo_refs(self._conn, [image_id]).get(image_id)
            self._cache[image_id] = None if found is None else _PlacedImage(
                found, Affine(*found.transform), to_wgs84_transformer(found.crs),
                Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(found.crs), always_xy=True))
        return self._cache[image_id]

    def close(self) -> None:
        if self._conn is not None:
            self._conn_cm.__exit__(None, None, None)
            self._conn = None
