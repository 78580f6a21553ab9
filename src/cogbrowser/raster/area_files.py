"""An area of interest from a file a user has at hand: GeoJSON, KML, KMZ, a zipped Shapefile or WKT.

Analysts get their areas from many tools: Google Earth (KML, KMZ), a GIS (Shapefiles, zipped to be
one file), a script (GeoJSON, WKT). Each is read here into one shapely geometry in WGS 84, the union
of the file's polygons, or refused with a ValueError whose message says what is wrong in the user's
words (the format it is not, the member a zip lacks, the lines it holds instead of polygons).

The vector formats are read by GDAL's OGR drivers through pyogrio (its wheel carries GDAL with the
KML, LIBKML and Shapefile drivers, on Windows too); WKT and GeoJSON by shapely. Zips are opened here,
not by GDAL, so that a Shapefile in a folder of the zip is found and a zip bomb is refused before it
is unpacked. Nothing here knows HTTP: a page or an API hands over the bytes and the file's name.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cogbrowser.json_budget import check_json_values

MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # what a zip may unpack to (a KMZ, a zipped Shapefile)
ACCEPTED = ("GeoJSON (.geojson, .json), KML (.kml), KMZ (.kmz), a zipped Shapefile (.zip holding .shp, .shx, .dbf "
            "and .prj) or WKT (.wkt, .txt)")
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def read_area(data: bytes, filename: str) -> BaseGeometry:
    """The polygons of an area file as one geometry in WGS 84 (longitude, latitude), by the file's
    extension (content sniffed when it has none). ValueError says why a file cannot be used."""
    suffix = PurePosixPath(filename.lower()).suffix
    if not data:
        raise ValueError("the file is empty")
    if suffix in (".geojson", ".json"):
        geometry = _geojson(data)
    elif suffix == ".kml":
        geometry = _ogr(data, "KML")
    elif suffix == ".kmz":
        geometry = _ogr(_kml_of_kmz(data), "KML")
    elif suffix == ".zip":
        geometry = _zipped_shapefile(data)
    elif suffix in (".wkt", ".txt"):
        geometry = _wkt(data)
    elif suffix in SHAPEFILE_PARTS:
        raise ValueError(f"a Shapefile is several files: zip the {filename.rsplit('.', 1)[0]}.shp, .shx, .dbf and "
                         ".prj together and give the .zip")
    else:
        geometry = _sniffed(data, filename)
    return polygons_only(geometry)


def polygons_only(geometry: BaseGeometry) -> BaseGeometry:
    """The polygons of `geometry` (from a collection, the polygons among its parts), valid, in
    longitude and latitude; ValueError for anything else."""
    if geometry.geom_type == "GeometryCollection":
        parts = [g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
        if parts:
            geometry = shapely.union_all(parts)
    if geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        kind = geometry.geom_type if not geometry.is_empty else "nothing"
        raise ValueError(f"the area must be polygons, not {kind} (draw or save it as a polygon)")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
        geometry = polygons_only(geometry) if geometry.geom_type != "Polygon" else geometry
    west, south, east, north = geometry.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise ValueError("coordinates must be longitude and latitude (WGS 84 degrees); a Shapefile in "
                         "another CRS needs its .prj")
    return geometry


# ---------------------------------------------------------------- the formats

def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("it is not text (UTF-8)") from None


def _geojson(data: bytes) -> BaseGeometry:
    check_json_values(data, "the GeoJSON file")  # parsed, it would cost 10-20 times its size
    try:
        document = json.loads(_text(data))
    except ValueError:
        raise ValueError("not a GeoJSON file (it is not JSON text)") from None
    try:
        return shapely.union_all([shape(g) for g in _geojson_geometries(document)])
    except (TypeError, KeyError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise ValueError(f"not a valid GeoJSON geometry ({exc})") from None


def _geojson_geometries(document: object) -> list[dict]:
    kind = document.get("type") if isinstance(document, dict) else None
    if isinstance(document, dict) and kind == "FeatureCollection":
        return [f["geometry"] for f in document.get("features") or [] if f.get("geometry")]
    if isinstance(document, dict) and kind == "Feature":
        return [document["geometry"]]
    if isinstance(document, dict) and kind in ("Polygon", "MultiPolygon", "GeometryCollection"):
        return [document]
    raise ValueError(f"expected polygons (a geometry, Feature or FeatureCollection), got {kind!r}")


def _wkt(data: bytes) -> BaseGeometry:
    text = _text(data).strip()
    if text.upper().startswith("SRID="):  # EWKT: the SRID must be WGS 84's
        srid, _, text = text.partition(";")
        if srid.split("=", 1)[1].strip() not in ("4326", "4979"):
            raise ValueError(f"the WKT is in {srid.strip()}; give it in WGS 84 (SRID=4326)")
    try:
        return shapely.from_wkt(text)
    except shapely.errors.ShapelyError as exc:
        raise ValueError(f"not WKT ({exc})") from None


def _kml_of_kmz(data: bytes) -> bytes:
    """The KML document of a KMZ (doc.kml, else its first .kml)."""
    with _zip(data, "KMZ") as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".kml")]
        if not names:
            raise ValueError("the KMZ holds no .kml document")
        chosen = next((n for n in names if PurePosixPath(n).name.lower() == "doc.kml"), names[0])
        return archive.read(chosen)


def _zipped_shapefile(data: bytes) -> BaseGeometry:
    """The polygons of every Shapefile in a zip (in any folder of it), reprojected from its .prj."""
    with _zip(data, "zip") as archive, tempfile.TemporaryDirectory(prefix="cogbrowser-area-") as folder:
        shapefiles = [n for n in archive.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
        if not shapefiles:
            kinds = sorted({PurePosixPath(n).suffix or n for n in archive.namelist()})
            raise ValueError(f"the zip holds no Shapefile (.shp), only {', '.join(kinds) or 'nothing'}; "
                             f"accepted are {ACCEPTED}")
        geometries = []
        for number, member in enumerate(shapefiles):
            stem = member[:-4]
            parts = {n[len(stem):].lower(): n for n in archive.namelist()
                     if n.startswith(stem) and n[len(stem):].lower() in SHAPEFILE_PARTS}
            if ".shx" not in parts or ".dbf" not in parts:
                raise ValueError(f"{PurePosixPath(member).name} comes without its .shx or .dbf in the zip")
            for suffix, name in parts.items():
                (Path(folder) / f"{number}{suffix}").write_bytes(archive.read(name))
            geometries.append(_ogr(b"", "ESRI Shapefile", Path(folder) / f"{number}.shp", has_crs=".prj" in parts))
        return shapely.union_all(geometries)


def _sniffed(data: bytes, filename: str) -> BaseGeometry:
    """A file whose name says nothing: GeoJSON or WKT by its first characters, else refused."""
    head = data[:200].lstrip().decode("utf-8", "replace")
    if head.startswith("{"):
        return _geojson(data)
    if head.split("(", 1)[0].strip().upper() in ("POLYGON", "MULTIPOLYGON", "GEOMETRYCOLLECTION"):
        return _wkt(data)
    if head.startswith("<") and "kml" in head.lower():
        return _ogr(data, "KML")
    kind = f"a {PurePosixPath(filename).suffix} file" if PurePosixPath(filename).suffix else "this file"
    raise ValueError(f"{kind} is not an area: accepted are {ACCEPTED}")


# ---------------------------------------------------------------- reading with GDAL's OGR

def _ogr(data: bytes, driver: str, path: Path | None = None, has_crs: bool = True) -> BaseGeometry:
    """The union of the polygons of every layer of a vector file, in WGS 84: the file at `path`, or
    `data` written to a temporary file first. (Given bytes, pyogrio copies them to a new in-memory
    file on each call, and GDAL names a KML's layer without a folder after that file: the name
    listed then matched no layer of the next copy.)"""
    if path is None:
        with tempfile.TemporaryDirectory(prefix="cogbrowser-area-") as folder:
            written = Path(folder) / f"area.{driver.lower()}"
            written.write_bytes(data)
            return _ogr(b"", driver, written, has_crs)
    from pyogrio import list_layers, raw
    from pyogrio.errors import DataLayerError, DataSourceError, GeometryError

    try:
        layers = [str(row[0]) for row in list_layers(str(path))]
        geometries = []
        for layer in layers:
            meta, _, wkb, _ = raw.read(str(path), layer=layer, read_geometry=True, columns=[])
            if wkb is None:
                continue
            found = [g for g in shapely.from_wkb([w for w in wkb if w is not None]) if not g.is_empty]
            geometries += list(_to_wgs84(found, meta.get("crs") if has_crs else None))
    except (DataSourceError, DataLayerError, GeometryError) as exc:
        reason = _first_line(exc).replace(f"'{path}'", "the file").replace(str(path), "the file")  # not our folders
        raise ValueError(f"not a readable {driver} file ({reason})") from None
    if not geometries:
        raise ValueError(f"the {driver} holds no shapes")
    return shapely.union_all(geometries)


def _to_wgs84(geometries: Iterable[BaseGeometry], crs: str | None) -> Iterable[BaseGeometry]:
    """`geometries` in their CRS (None: taken as WGS 84) as longitude and latitude."""
    source = ProjCRS.from_user_input(crs) if crs else None
    if source is None or source.equals(ProjCRS.from_epsg(4326), ignore_axis_order=True):
        yield from geometries
        return
    to_wgs84 = Transformer.from_crs(source, 4326, always_xy=True)
    for geometry in geometries:
        yield shapely.transform(geometry, lambda xy: _transformed(to_wgs84, xy))


def _transformed(transformer: Transformer, xy):  # shapely.transform's callback: an (N, 2) array in and out
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


class _zip:
    """A zip opened for reading, refused when it is not one or would unpack to too much."""

    def __init__(self, data: bytes, what: str) -> None:
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise ValueError(f"not a {what} file (it is not a zip archive)") from None
        unpacked = sum(info.file_size for info in self.archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            self.archive.close()
            raise ValueError(f"the {what} unpacks to {unpacked / 2**20:,.0f} MiB, more than the "
                             f"{MAX_UNPACKED_BYTES / 2**20:,.0f} MiB an area file may hold")

    def __enter__(self) -> zipfile.ZipFile:
        return self.archive

    def __exit__(self, *exc: object) -> None:
        self.archive.close()


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0].split("; It might help", 1)[0] if str(exc) else type(exc).__name__
