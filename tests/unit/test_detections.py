"""Detections import: CSV with lon/lat or pixel boxes, GeoJSON, bad rows by line, all-or-nothing."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
import rasterio
from rasterio.warp import transform as warp_transform

from cogbrowser.catalog import queries
from cogbrowser.errors import InvalidInput
from cogbrowser.ingest.detections import import_detections
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA

TCI = REAL_DATA / "titiler/TCI.tif"  # Sentinel-2, UTM 34N, 1098 x 1098 px at 100 m


@pytest.fixture
def tci(db, settings) -> str:
    result = ingest_file(db, settings, IngestRequest(
        path=TCI, acquired_at=datetime(2021, 5, 1, 9, 30, tzinfo=timezone.utc)))
    assert result.status == "added"
    return result.image_id


def write_csv(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def all_detections(db) -> list[dict]:
    with db.connection() as conn:
        return [asdict(d) for d in queries.search_detections(conn, queries.DetectionQuery(limit=10_000))]


def test_csv_with_pixel_and_lonlat_boxes(db, tci, tmp_path):
    csv_file = write_csv(tmp_path / "detections.csv", [
        "image_id,target_class,target_name,score,px_min,py_min,px_max,py_max,lon_min,lat_min,lon_max,lat_max,detected_at",
        f"{tci},ship,MV Aurora,0.93,100,200,110,204,,,,,2021-05-01T09:31:00Z",
        f"{tci},storage_tank,,0.71,,,,,23.50,31.90,23.51,31.91,",
    ])
    report = import_detections(db, csv_file)
    assert (report.rows_read, report.imported, report.problems) == (2, 2, [])

    ship, tank = sorted(all_detections(db), key=lambda d: d["target_class"])
    assert (ship["target_class"], ship["target_name"], ship["score"]) == ("ship", "MV Aurora", pytest.approx(0.93))
    assert ship["pixel_bbox"] == (100, 200, 110, 204)
    assert ship["detected_at"] == datetime(2021, 5, 1, 9, 31, tzinfo=timezone.utc)
    # The pixel box's corner, converted by rasterio independently, is the geometry's corner.
    with rasterio.open(TCI) as src:
        x, y = src.transform * (100, 200)
        (lon,), (lat,) = warp_transform(src.crs, "EPSG:4326", [x], [y])
    assert ship["geometry"]["coordinates"][0][0] == pytest.approx([lon, lat], abs=1e-7)
    # 10 x 4 pixels of 100 m: about 400,000 m2
    assert ship["area_m2"] == pytest.approx(400_000, rel=0.02)

    assert tank["target_name"] is None
    assert tank["detected_at"] == datetime(2021, 5, 1, 9, 30, tzinfo=timezone.utc)  # the image's time
    assert tank["bbox"] == pytest.approx((23.50, 31.90, 23.51, 31.91))
    assert tank["pixel_bbox"] is not None


def test_invalid_rows_are_listed_by_line_and_nothing_is_imported(db, tci, tmp_path):
    csv_file = write_csv(tmp_path / "bad rows.csv", [
        "image_id,target_class,target_name,score,lon_min,lat_min,lon_max,lat_max",
        f"{tci},ship,ok,0.5,23.5,31.9,23.51,31.91",
        "nope,ship,,0.5,23.5,31.9,23.51,31.91",
        f"{tci},ship,,1.7,23.5,31.9,23.51,31.91",
        f"{tci},ship,,0.5,23.5,31.95,23.51,31.91",
        f"{tci},ship,,high,23.5,31.9,23.51,31.91",
        f"{tci},,,0.5,23.5,31.9,23.51,31.91",
        f"{tci},ship,,0.5,23.5,95,23.51,31.91",
        f"{tci},ship,,0.5,23.5,31.9",
    ], newline="\r\n")
    report = import_detections(db, csv_file)
    problems = {p.where: p.message for p in report.problems}
    assert problems == {
        "line 3": "image_id 'nope' is not in the catalog",
        "line 4": "score 1.7 is outside 0..1",
        "line 5": "lat_min 31.95 is not below lat_max 31.91",
        "line 6": "score 'high' is not a number",
        "line 7": "target_class is empty",
        "line 8": "lat_min 95 is outside -90..90",
        "line 9": "has 6 fields, the header has 8",
    }
    assert report.imported == 0
    assert all_detections(db) == []


def test_line_endings_do_not_matter(db, tci, tmp_path):
    """A CSV saved on Windows (CRLF), on Linux (LF) or by old Mac tools (CR) gives the same
    detections, quoted fields with commas and an empty last column included."""
    lines = [
        "image_id,target_class,target_name,score,lon_min,lat_min,lon_max,lat_max,detected_at",
        f'{tci},ship,"Ever Given, 2nd",0.91,23.5,31.9,23.51,31.91,2021-05-01T09:30:00Z',
        f"{tci},tank,,0.4,23.6,31.95,23.61,31.96,",
    ]
    imported = {}
    for label, newline in (("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r")):
        report = import_detections(db, write_csv(tmp_path / f"{label} endings.csv", lines, newline))
        assert report.imported == 2 and not report.problems, (label, report.problems)
        imported[label] = [{k: v for k, v in row.items() if k not in ("id", "created_at")}
                           for row in all_detections(db)]
        with db.connection() as conn:
            conn.execute("DELETE FROM detections")
    assert imported["CRLF"] == imported["LF"] == imported["CR"]
    assert [row["target_name"] for row in imported["LF"]] == ["Ever Given, 2nd", None]


def test_skip_invalid_imports_the_valid_rows(db, tci, tmp_path):
    csv_file = write_csv(tmp_path / "mixed.csv", [
        "image_id,target_class,target_name,score,px_min,py_min,px_max,py_max",
        f"{tci},vehicle,,0.5,1,1,3,3",
        f"{tci},vehicle,,0.5,1,1,3,99999",
        f"{tci},vehicle,,0.6,5,5,9,9",
    ])
    report = import_detections(db, csv_file, skip_invalid=True)
    assert report.imported == 2
    assert [p.where for p in report.problems] == ["line 3"]
    assert "outside the image (1098 x 1098 pixels)" in report.problems[0].message
    assert len(all_detections(db)) == 2


def test_missing_columns_are_named(db, tci, tmp_path):
    csv_file = write_csv(tmp_path / "no box.csv", ["image_id,target_class,score", f"{tci},ship,0.5"])
    with pytest.raises(InvalidInput, match="missing column"):
        import_detections(db, csv_file)


def test_excel_csv_with_bom_semicolons_and_aliases(db, tci, tmp_path):
    text = ("\ufeffImage;Class;Name;Confidence;West;South;East;North\r\n"
            f"{tci};aircraft;F-GKXA;0,9;23.5;31.9;23.51;31.91\r\n")
    path = tmp_path / "excel.csv"
    path.write_text(text, encoding="utf-8")
    report = import_detections(db, path)
    # A decimal comma is not a number we guess at: the row is refused and says why.
    assert [p.message for p in report.problems] == ["score '0,9' is not a number"]
    path.write_text(text.replace("0,9", "0.9"), encoding="utf-8")
    report = import_detections(db, path)
    assert report.imported == 1 and all_detections(db)[0]["target_name"] == "F-GKXA"


def test_geojson_feature_collection(db, tci, tmp_path):
    polygon = [[[23.50, 31.90], [23.51, 31.90], [23.51, 31.91], [23.50, 31.91], [23.50, 31.90]]]
    document = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": polygon},
         "properties": {"image_id": tci, "target_class": "building", "score": 0.8, "roof": "red"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [23.6, 31.95]},
         "properties": {"image_id": tci, "target_class": "vehicle", "score": 0.4, "target_name": "truck 7"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[23.5, 31.9], [23.6, 31.9]]},
         "properties": {"image_id": tci, "target_class": "road", "score": 0.4}},
        {"type": "Feature",
         "geometry": {"type": "Polygon", "coordinates": [[[23.5, 31.9], [23.6, 31.9], [23.6, 32.0]]]},
         "properties": {"image_id": tci, "target_class": "building", "score": 0.4}},
    ]}
    path = tmp_path / "detections.geojson"
    path.write_text(json.dumps(document))
    report = import_detections(db, path)
    assert {p.where: p.message for p in report.problems} == {
        "feature 3": "geometry type 'LineString' is not supported (use Polygon, MultiPolygon or Point)",
        "feature 4": "a polygon ring needs at least 4 positions",
    }
    assert report.imported == 0
    report = import_detections(db, path, skip_invalid=True)
    assert report.imported == 2
    building = next(d for d in all_detections(db) if d["target_class"] == "building")
    assert building["properties"] == {"roof": "red"}
    assert building["geometry"]["coordinates"] == polygon


def test_not_a_feature_collection(db, tmp_path):
    path = tmp_path / "x.geojson"
    path.write_text('{"type": "Feature"}')
    with pytest.raises(InvalidInput, match="not a GeoJSON FeatureCollection"):
        import_detections(db, path)


@pytest.mark.parametrize("text, message", [
    ('[{"type": "Feature"}]', "x.geojson is not a GeoJSON FeatureCollection"),
    ('{"features": [], "type": "Point"}', "x.geojson is not a GeoJSON FeatureCollection"),
    ('{"features": []}', "x.geojson is not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": {}}', "x.geojson has no 'features' list"),
    ('{"type": "FeatureCollection"}', "x.geojson has no 'features' list"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature",', "x.geojson is not valid JSON: parse error"),
    ('{"type": "FeatureCollection", "features": [NaN]}', "x.geojson is not valid JSON: lexical error"),
    ("", "x.geojson is not valid JSON"),
])
def test_a_file_that_is_not_a_feature_collection_says_what_it_is_in_one_line(db, tmp_path, text, message):
    path = tmp_path / "x.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=f"^{message}") as raised:
        import_detections(db, path)
    assert "\n" not in str(raised.value)


def test_a_feature_collection_reads_whatever_the_order_of_its_members_and_with_a_bom(db, tci, tmp_path):
    """"type" after "features" (json.dumps of a dict built so), and Windows tools' byte order mark."""
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [23.6, 31.95]},
               "properties": {"image_id": tci, "target_class": "vehicle", "score": 0.4}}
    path = tmp_path / "late type.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"features": [feature] * 3, "type": "FeatureCollection"}).encode())
    report = import_detections(db, path)
    assert (report.rows_read, report.imported, report.invalid) == (3, 3, 0)


def test_a_feature_collection_of_10_000_detections_is_read_feature_by_feature(db, tci, tmp_path):
    """json.loads would hold the whole 2 MB file parsed (its import peaked at 19 MiB); read as it streams,
    the import's Python memory peaks under 2 MiB."""
    features = ",".join(json.dumps({
        "type": "Feature", "properties": {"image_id": tci, "target_class": "ship", "score": 0.5, "n": i},
        "geometry": {"type": "Polygon", "coordinates": [[[23.5, 31.9], [23.51, 31.9], [23.51, 31.91],
                                                         [23.5, 31.91], [23.5, 31.9]]]}}) for i in range(10_000))
    path = tmp_path / "many.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [' + features + "]}", encoding="utf-8")
    tracemalloc.start()
    try:
        report = import_detections(db, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.rows_read, report.imported) == (10_000, 10_000)
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB at the peak for a {path.stat().st_size / 2**20:.0f} MiB file"
    with db.connection() as conn:
        counted = conn.execute("SELECT count(*) AS n, max((properties->>'n')::int) AS last FROM detections").fetchone()
    assert (counted["n"], counted["last"]) == (10_000, 9_999)


def test_a_file_of_a_million_bad_rows_counts_them_and_keeps_the_first_thousand(db, tci, tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["image_id,target_class,score,px_min,py_min,px_max,py_max"]
                     + [f"{tci},ship,high,1,1,2,2"] * 1_000_000)
    report = import_detections(db, path, skip_invalid=True)
    assert (report.rows_read, report.imported, report.invalid, len(report.problems)) == (1_000_000, 0, 1_000_000, 1000)
    assert report.problems[-1].where == "line 1001" and "score 'high' is not a number" in report.problems[-1].message


def test_detections_go_with_their_image(db, tci, tmp_path):
    write_csv(tmp_path / "d.csv", ["image_id,target_class,score,px_min,py_min,px_max,py_max",
                                   f"{tci},ship,0.5,1,1,2,2"])
    import_detections(db, tmp_path / "d.csv")
    with db.connection() as conn:
        queries.delete_image(conn, tci)
    assert all_detections(db) == []
