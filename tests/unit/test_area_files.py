"""Areas of interest from the files analysts have: GeoJSON, KML (Google Earth), KMZ, a zipped
Shapefile in another CRS, WKT; each read into WGS 84 polygons, and each bad file refused with a
message that says what is wrong. The files are written here with GDAL's own drivers (pyogrio)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio import raw
from pyproj import Transformer
from shapely.geometry import Polygon, mapping

from cogbrowser.raster.area_files import MAX_UNPACKED_BYTES, read_area

TRIANGLE = Polygon([(13.5, 45.6), (13.9, 45.6), (13.7, 45.9), (13.5, 45.6)])
SQUARE = Polygon([(14.0, 45.0), (14.2, 45.0), (14.2, 45.2), (14.0, 45.2), (14.0, 45.0)])


def written(folder: Path, name: str, driver: str, shapes, crs: str = "EPSG:4326", kind: str = "Polygon") -> Path:
    path = folder / name
    wkb = np.array([shapely.to_wkb(s) for s in shapes], dtype=object)
    raw.write(str(path), wkb, field_data=[], fields=[], driver=driver, geometry_type=kind, crs=crs)
    return path


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_geojson_and_wkt(tmp_path):
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": mapping(TRIANGLE)},
        {"type": "Feature", "properties": {}, "geometry": mapping(SQUARE)}]}
    area = read_area(json.dumps(collection).encode(), "fields.geojson")
    assert area.geom_type == "MultiPolygon" and area.equals(TRIANGLE.union(SQUARE))
    assert read_area(TRIANGLE.wkt.encode(), "area.wkt").equals(TRIANGLE)
    assert read_area(f"SRID=4326;{TRIANGLE.wkt}".encode(), "area.txt").equals(TRIANGLE)
    assert read_area(TRIANGLE.wkt.encode(), "pasted").equals(TRIANGLE), "sniffed without an extension"


def test_kml_and_kmz_from_google_earth(tmp_path):
    kml = written(tmp_path, "area.kml", "KML", [TRIANGLE, SQUARE])
    area = read_area(kml.read_bytes(), "Area.KML")
    assert area.equals_exact(TRIANGLE.union(SQUARE), tolerance=1e-9) or area.symmetric_difference(
        TRIANGLE.union(SQUARE)).area < 1e-12
    kmz = zipped({"doc.kml": kml.read_bytes(), "files/icon.png": b"\x89PNG"})
    assert read_area(kmz, "area.kmz").symmetric_difference(TRIANGLE.union(SQUARE)).area < 1e-12


RING = "13.6,45.7 13.8,45.7 13.8,45.9 13.6,45.7"
PLACEMARK = (f"<Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>{RING}</coordinates></LinearRing>"
             "</outerBoundaryIs></Polygon></Placemark>")


@pytest.mark.parametrize("body", [PLACEMARK, f"<Document>{PLACEMARK}</Document>",
                                  f"<Document><name>Fields</name>{PLACEMARK}</Document>"])
def test_a_kml_written_by_hand_without_a_folder_is_read(body):
    """GDAL names the layer of a KML without a folder after its file: the file read is the file listed."""
    kml = f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">{body}</kml>'
    area = read_area(kml.encode(), "field.kml")
    assert area.symmetric_difference(shapely.Polygon([(13.6, 45.7), (13.8, 45.7), (13.8, 45.9)])).area < 1e-12
    assert read_area(zipped({"doc.kml": kml.encode()}), "field.kmz").equals(area)


def test_a_zipped_shapefile_in_utm_comes_back_to_wgs84(tmp_path):
    to_utm = Transformer.from_crs(4326, 32633, always_xy=True)
    utm = shapely.transform(TRIANGLE, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    shp = written(tmp_path, "fields.shp", "ESRI Shapefile", [utm], crs="EPSG:32633")
    members = {f"export/fields{suffix}": shp.with_suffix(suffix).read_bytes() for suffix in (".shp", ".shx", ".dbf",
                                                                                           ".prj")}
    area = read_area(zipped(members), "fields.zip")
    assert area.symmetric_difference(TRIANGLE).area < 1e-9 * TRIANGLE.area + 1e-12
    assert abs(area.bounds[0] - 13.5) < 1e-6, "reprojected from UTM by its .prj"


@pytest.mark.parametrize("name, data, words", [
    ("area.shp", b"anything", "zip the area.shp, .shx, .dbf and .prj"),
    ("fields.zip", zipped({"readme.txt": b"hello"}), "holds no Shapefile (.shp), only .txt"),
    ("fields.zip", b"not a zip", "not a zip file (it is not a zip archive)"),
    ("area.kmz", zipped({"image.png": b"x"}), "the KMZ holds no .kml document"),
    ("area.kml", b"<kml><broken", "not a readable KML file"),
    ("fields.zip", zipped({"f.shp": b"\0" * 50, "f.shx": b"\0" * 50, "f.dbf": b"\0" * 50}),
     "not a readable ESRI Shapefile file (the file not recognized as being in a supported file format"),
    ("area.geojson", b"{", "not a GeoJSON file"),
    ("area.wkt", b"POLYGON ((1 2, 3", "not WKT"),
    ("area.wkt", b"LINESTRING (13 45, 14 46)", "the area must be polygons, not LineString"),
    ("area.wkt", b"SRID=3857;POLYGON ((0 0, 1 0, 1 1, 0 0))", "give it in WGS 84"),
    ("area.wkt", b"POLYGON ((500000 5000000, 500100 5000000, 500100 5000100, 500000 5000000))",
     "longitude and latitude"),
    ("area.gpx", b"<gpx/>", "accepted are GeoJSON (.geojson, .json), KML (.kml), KMZ (.kmz), a zipped Shapefile"),
    ("area.kml", b"", "the file is empty"),
])
def test_bad_files_are_named_in_the_message(name, data, words):
    with pytest.raises(ValueError) as refused:
        read_area(data, name)
    assert words in str(refused.value)
    assert "cogbrowser-area-" not in str(refused.value) and "/tmp" not in str(refused.value)


def test_points_in_a_kml_are_not_an_area(tmp_path):
    kml = written(tmp_path, "pins.kml", "KML", [shapely.Point(13.6, 45.7)], kind="Point")
    with pytest.raises(ValueError, match="the area must be polygons, not Point"):
        read_area(kml.read_bytes(), "pins.kml")


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    huge = io.BytesIO()
    with zipfile.ZipFile(huge, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fields.shp", b"\0" * (MAX_UNPACKED_BYTES + 1))
    with pytest.raises(ValueError, match="unpacks to"):
        read_area(huge.getvalue(), "fields.zip")
