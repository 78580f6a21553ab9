"""The other reads of an image over HTTP — point values, zonal statistics, exports, previews — with
rasterio's own reads of the stored COG as the oracle.

Tolerances (why):
- point values and statistics: exact (same pixels, same numpy arithmetic; float summaries to 1e-9
  relative, for summation order).
- exports in the image's own CRS at native resolution: exact (the grid snaps to the source pixels,
  so nothing is resampled).
- exports reprojected with nearest: where both are valid, at least 99 % of pixels equal the
  reference `rasterio.warp.reproject` of the full-resolution source onto the same grid (a pixel
  centre on a source pixel edge may round either way between a WarpedVRT and a plain reproject),
  and the valid masks agree on at least 98 % of pixels (edge pixels of the mask).
"""

from __future__ import annotations

import io
import json
import math
from contextlib import contextmanager

import numpy as np
import pytest
import rasterio
import requests
from PIL import Image
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.warp import reproject, transform_bounds, transform_geom
from rasterio.warp import transform as transform_points
from rasterio.windows import Window
from rasterio.windows import from_bounds as window_from_bounds

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA, near_pixel_edges

FILES = {
    "cog1": "titiler/cog1.tif",                      # Landsat 8, UTM 18N, uint16 x 3, nodata 0
    "nan": "titiler/cog_with_nan.tif",               # float32, EPSG:4326, NaN nodata
    "alpha": "rio-tiler/pix4d_alpha_nodata.tif",     # RGBA drone mosaic, UTM 50S, alpha band
    "four": "mapchete/4band_test.tif",               # uint16 x 4, EPSG:4326, nodata 0
    "albers": "rioxarray/cog.tif",                   # int16, custom Albers (no EPSG), nodata -9999
    "big": "rio-tiler/cog.tif",                      # 2658 x 2667 with overviews: statistics from one
}


@pytest.fixture
def server(db, settings, live_server):
    for image_id, name in FILES.items():
        result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / name, image_id=image_id))
        assert result.status == "added", result.message
    return live_server


@pytest.fixture
def stored(db, settings):
    """image id -> the stored COG's path (the file the server reads)."""
    def path(image_id):
        with db.connection() as conn:
            return image_file(settings, queries.get_image(conn, image_id))
    return path


def api(base, image_id, read, method="GET", **kwargs):
    return requests.request(method, f"{base}/api/v1/images/{image_id}/{read}", **kwargs)


def ok_json(response):
    assert response.status_code == 200, response.text
    return response.json()


def circle(lon, lat, radius, vertices=40):
    """A lon/lat polygon whose edges are shorter than the server's densify step (0.01 degree), so
    the oracle's plain transform_geom projects exactly the same polygon."""
    ring = [[lon + radius * math.cos(2 * math.pi * i / vertices), lat + radius * math.sin(2 * math.pi * i / vertices)]
            for i in range(vertices)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


# ---------------------------------------------------------------- point

def expected_pixel(path, lon, lat):
    with rasterio.open(path) as src:
        xs, ys = transform_points("EPSG:4326", src.crs, [lon], [lat])
        row, col = src.index(xs[0], ys[0], op=math.floor)
        values = src.read(window=Window(col, row, 1, 1), masked=True)[:, 0, 0]
    return row, col, [None if np.ma.is_masked(v) or np.isnan(v) else v.item() for v in values]


@pytest.mark.parametrize("image_id, lon, lat", [
    ("cog1", -74.5, 46.0), ("nan", 80.164, 22.0276), ("alpha", 115.1607, -8.5850), ("four", 8.3, 41.44),
    ("albers", -74.1, 45.0),
])
def test_point_values_are_rasterios_at_the_pixel(server, stored, image_id, lon, lat):
    doc = ok_json(api(server, image_id, "point", params={"lon": lon, "lat": lat}))
    row, col, values = expected_pixel(stored(image_id), lon, lat)
    assert (doc["row"], doc["col"]) == (row, col)
    assert doc["values"] == values and any(v is not None for v in values)
    assert doc["image_id"] == image_id and "acquired_at" in doc
    assert len(doc["bands"]) == len(values)


def test_point_in_a_crs_with_an_expression_and_on_nodata(server, stored):
    with rasterio.open(stored("cog1")) as src:
        x, y = src.xy(404, 378)
    doc = ok_json(api(server, "cog1", "point", params={"x": x, "y": y, "crs": "EPSG:32618",
                                                       "expression": "(b3-b1)/(b3+b1);b2*2"}))
    b1, b2, b3 = doc["values"]
    assert (doc["row"], doc["col"]) == (404, 378)
    assert [e["value"] for e in doc["expressions"]] == pytest.approx([(b3 - b1) / (b3 + b1), b2 * 2])
    assert doc["expressions"][0]["expression"] == "(b3 - b1) / (b3 + b1)"

    with rasterio.open(stored("nan")) as src:  # a NaN pixel reads as null
        row, col = map(int, np.argwhere(np.isnan(src.read(1)))[0])
        lon, lat = src.xy(row, col)
    doc = ok_json(api(server, "nan", "point", params={"lon": lon, "lat": lat, "expression": "b1*2"}))
    assert doc["values"] == [None] and doc["expressions"][0]["value"] is None


def test_point_outside_the_image_is_404(server):
    response = api(server, "cog1", "point", params={"lon": 10, "lat": 10})
    assert response.status_code == 404
    assert response.json()["detail"] == "the point lon=10, lat=10 is outside the extent of image 'cog1'"


# ---------------------------------------------------------------- statistics

def oracle_values(path, shapes=None, overview_level=None):
    """Per band, the valid values inside `shapes` (image CRS; None: everywhere) by rasterio's
    masked read, and the count of pixels in the zone."""
    with rasterio.open(path, overview_level=overview_level) as src:
        data = src.read(masked=True)
        zone = (geometry_mask(shapes, out_shape=src.shape, transform=src.transform, invert=True)
                if shapes else np.ones(src.shape, bool))
    keep = ~np.ma.getmaskarray(data) & zone & ~np.isnan(data.data.astype(np.float64))
    return [data.data[b][keep[b]] for b in range(data.shape[0])], int(zone.sum())


def assert_summary(got, values, pixels, bins=10, value_range=None):
    assert got["count"] == values.size > 0
    assert got["valid_percent"] == pytest.approx(100.0 * values.size / pixels, abs=1e-4)
    assert got["min"] == values.min().item() and got["max"] == values.max().item()
    as_float = values.astype(np.float64)
    p2, median, p98 = np.percentile(as_float, [2, 50, 98])
    expected = {"mean": as_float.mean(), "std": as_float.std(), "median": median, "p2": p2, "p98": p98}
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-9)
    counts, edges = np.histogram(as_float, bins=bins, range=value_range)
    assert got["histogram"]["counts"] == counts.tolist()
    assert got["histogram"]["edges"] == pytest.approx(edges.tolist())


def test_statistics_of_a_bbox_in_the_images_crs(server, stored):
    with rasterio.open(stored("cog1")) as src:
        left, top = src.xy(100, 200, offset="ul")
    bbox = (left + 1234.5, top - 60000.0, left + 50000.0, top - 200.0)
    doc = ok_json(api(server, "cog1", "statistics", params={
        "bbox": ",".join(map(str, bbox)), "bbox-crs": "EPSG:32618", "bins": 7, "range": "5000,12000"}))
    box = {"type": "Polygon", "coordinates": [[[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]],
                                               [bbox[0], bbox[3]], [bbox[0], bbox[1]]]]}
    values, pixels = oracle_values(stored("cog1"), [box])
    assert doc["overview_level"] is None and doc["resolution"] == pytest.approx([300.038, 300.038], abs=1e-3)
    assert doc["pixels"] == pixels and [s["name"] for s in doc["statistics"]] == ["b1", "b2", "b3"]
    for got, band_values in zip(doc["statistics"], values):
        assert_summary(got, band_values, pixels, bins=7, value_range=(5000, 12000))


def test_statistics_of_a_lonlat_bbox_skip_nan(server, stored):
    bbox = (79.9, 21.8, 80.6, 22.4)
    doc = ok_json(api(server, "nan", "statistics", params={"bbox": ",".join(map(str, bbox))}))
    box = transform_geom("EPSG:4326", "EPSG:4326", {"type": "Polygon", "coordinates": [[
        [bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]], [bbox[0], bbox[1]]]]})
    (values,), pixels = oracle_values(stored("nan"), [box])
    assert_summary(doc["statistics"][0], values, pixels)
    assert doc["statistics"][0]["valid_percent"] < 100  # the NaNs were left out, not counted


@pytest.mark.parametrize("how", ["get", "get-multipolygon", "post-geometry", "post-feature-collection"])
def test_statistics_of_polygons(server, stored, how):
    one, two = circle(-74.5, 46.0, 0.05), circle(-74.3, 45.9, 0.03)
    if how == "get":
        shapes, response = [one], api(server, "cog1", "statistics", params={"geometry": json.dumps(one)})
    elif how == "get-multipolygon":
        both = {"type": "MultiPolygon", "coordinates": [one["coordinates"], two["coordinates"]]}
        shapes, response = [both], api(server, "cog1", "statistics", params={"geometry": json.dumps(both)})
    elif how == "post-geometry":
        shapes, response = [one], api(server, "cog1", "statistics", "POST", json=one, params={"bands": "b3,1"})
    else:
        body = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": g, "properties": {}}
                                                          for g in (one, two)]}
        shapes, response = [one, two], api(server, "cog1", "statistics", "POST", json=body)
    doc = ok_json(response)
    with rasterio.open(stored("cog1")) as src:
        projected = [transform_geom("EPSG:4326", src.crs, shape) for shape in shapes]
    values, pixels = oracle_values(stored("cog1"), projected)
    bands = [3, 1] if how == "post-geometry" else [1, 2, 3]
    assert doc["pixels"] == pixels and [s["name"] for s in doc["statistics"]] == [f"b{b}" for b in bands]
    for got, band in zip(doc["statistics"], bands):
        assert_summary(got, values[band - 1], pixels)


def test_statistics_honour_alpha_and_nodata(server, stored):
    doc = ok_json(api(server, "alpha", "statistics", params={"bands": "1,2,3"}))
    values, pixels = oracle_values(stored("alpha"))
    for got, band_values in zip(doc["statistics"], values):
        assert_summary(got, band_values, pixels)
    assert doc["statistics"][0]["valid_percent"] < 95  # the transparent collar is not data

    doc = ok_json(api(server, "albers", "statistics"))
    (values,), pixels = oracle_values(stored("albers"))
    assert_summary(doc["statistics"][0], values, pixels)
    assert doc["statistics"][0]["min"] > -9999


def test_statistics_of_expressions(server, stored):
    doc = ok_json(api(server, "four", "statistics", params={"expression": "(b4-b3)/(b4+b3);b1*2"}))
    (b1, b2, b3, b4), pixels = oracle_values(stored("four"))
    with rasterio.open(stored("four")) as src:
        data = src.read(masked=True).astype(np.float64)
    ndi = ((data[3] - data[2]) / (data[3] + data[2])).compressed()
    assert [s["name"] for s in doc["statistics"]] == ["(b4 - b3) / (b4 + b3)", "b1 * 2"]
    assert_summary(doc["statistics"][0], ndi[np.isfinite(ndi)], pixels)
    assert_summary(doc["statistics"][1], (data[0] * 2).compressed(), pixels)


def test_big_zones_are_read_from_an_overview(server, stored):
    doc = ok_json(api(server, "big", "statistics"))
    assert doc["overview_level"] == 0 and doc["shape"] == [1334, 1329]
    assert doc["resolution"] == pytest.approx([200.0, 200.0], rel=1e-3)  # 2 x the native 100 m
    (values,), pixels = oracle_values(stored("big"), overview_level=0)
    assert_summary(doc["statistics"][0], values, pixels)

    small = ok_json(api(server, "big", "statistics", params={"bbox": "-57,73.4,-56.6,73.6"}))
    assert small["overview_level"] is None and small["resolution"] == pytest.approx([100.0, 100.0], rel=1e-3)


def test_a_polygon_smaller_than_a_pixel_counts_the_pixel_it_touches(server, stored):
    doc = ok_json(api(server, "cog1", "statistics", params={"geometry": json.dumps(circle(-74.5, 46.0, 0.0001))}))
    row, col, values = expected_pixel(stored("cog1"), -74.5, 46.0)
    assert doc["all_touched"] and doc["pixels"] >= 1
    assert doc["statistics"][0]["count"] >= 1


# ---------------------------------------------------------------- export

@contextmanager
def open_tif(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/tiff"
    with MemoryFile(response.content) as memory, memory.open() as dataset:
        yield dataset


def reference(path, dst, bands, nodata):
    """The source's bands reprojected with nearest onto `dst`'s grid, full resolution."""
    out = np.zeros((len(bands), dst.height, dst.width), dtype=dst.dtypes[0])
    with rasterio.open(path) as src:
        reproject(rasterio.band(src, bands), out, dst_transform=dst.transform, dst_crs=dst.crs,
                  resampling=Resampling.nearest, src_nodata=nodata, dst_nodata=nodata)
    return out


def test_export_geotiff_reprojected_to_lonlat(server, stored):
    bbox = (-74.7, 45.8, -74.3, 46.2)
    response = api(server, "cog1", "export", params={"bbox": ",".join(map(str, bbox)), "crs": "EPSG:4326"})
    with open_tif(response) as dst:
        assert dst.crs == CRS.from_epsg(4326) and dst.dtypes == ("uint16",) * 3 and dst.nodata == 0
        assert all(abs(a - b) <= r for a, b, r in zip(dst.bounds, bbox, dst.res * 2))
        assert dst.res == pytest.approx((0.0039, 0.0027), rel=0.05)  # 300 m at 46 N
        data, ref = dst.read(), reference(stored("cog1"), dst, [1, 2, 3], 0)
        either = near_pixel_edges(stored("cog1"), dst.crs, dst.bounds, dst.width, dst.height)
    valid, ref_valid = (data != 0).all(axis=0), (ref != 0).all(axis=0)
    assert (valid == ref_valid).mean() >= 0.98
    differing = ~(data == ref).all(axis=0) & valid & ref_valid & ~either
    assert not differing.any(), f"{differing.sum()} pixels away from source pixel edges differ from GDAL's"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="cog1_') and disposition.endswith('.tif"')
    assert response.headers["Cache-Control"] and response.headers["ETag"]
    again = api(server, "cog1", "export", params={"bbox": ",".join(map(str, bbox)), "crs": "EPSG:4326"},
                headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_export_in_the_images_own_crs_is_its_pixels(server, stored):
    bbox = (-74.7, 45.8, -74.3, 46.2)
    with open_tif(api(server, "cog1", "export", params={"bbox": ",".join(map(str, bbox))})) as dst, \
            rasterio.open(stored("cog1")) as src:
        assert dst.crs == src.crs and dst.res == pytest.approx(src.res)
        asked = transform_bounds("EPSG:4326", src.crs, *bbox, densify_pts=21)
        assert all(abs(a - b) <= src.res[0] for a, b in zip(dst.bounds, asked))
        window = window_from_bounds(*dst.bounds, transform=src.transform).round_offsets().round_lengths()
        assert np.array_equal(dst.read(), src.read(window=window))


def test_export_of_an_expression_is_float32_with_nan(server, stored):
    bbox = "8.28,41.41,8.33,41.46"
    params = {"bbox": bbox, "crs": "EPSG:3857", "expression": "(b4-b3)/(b4+b3)"}
    with open_tif(api(server, "four", "export", params=params)) as dst:
        assert dst.crs == CRS.from_epsg(3857) and dst.dtypes == ("float32",) and math.isnan(dst.nodata)
        assert dst.descriptions == ("(b4 - b3) / (b4 + b3)",)
        got = dst.read(1)
        b3, b4 = reference(stored("four"), dst, [3, 4], 0).astype(np.float64)
    with np.errstate(all="ignore"):
        expected = np.where((b3 != 0) & (b4 != 0), (b4 - b3) / (b4 + b3), np.nan)
    both = np.isfinite(got) & np.isfinite(expected)
    assert (np.isfinite(got) == np.isfinite(expected)).mean() >= 0.98
    assert np.isclose(got[both], expected[both], rtol=1e-6).mean() >= 0.99


def test_export_keeps_masks_and_nodata(server, stored):
    with open_tif(api(server, "alpha", "export", params={"bands": "1,2,3"})) as dst, \
            rasterio.open(stored("alpha")) as src:
        assert (dst.width, dst.height, dst.count, dst.transform) == (src.width, src.height, 3, src.transform)
        assert MaskFlags.per_dataset in dst.mask_flag_enums[0] and dst.nodata is None
        alpha = src.read(4) > 0
        assert np.array_equal(dst.dataset_mask() > 0, alpha)
        assert np.array_equal(dst.read()[:, alpha], src.read([1, 2, 3])[:, alpha])

    with open_tif(api(server, "nan", "export")) as dst, rasterio.open(stored("nan")) as src:
        assert math.isnan(dst.nodata) and dst.crs == src.crs
        assert np.array_equal(dst.read(), src.read(), equal_nan=True)

    with open_tif(api(server, "albers", "export", params={"format": "tiff"})) as dst, \
            rasterio.open(stored("albers")) as src:
        assert dst.crs == src.crs and dst.nodata == -9999 and dst.dtypes == ("int16",)
        assert np.array_equal(dst.read(), src.read())


@pytest.mark.parametrize("fmt, kind", [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")])
def test_export_pictures(server, fmt, kind):
    bbox = "-74.7,45.8,-74.3,46.2"
    response = api(server, "cog1", "export", params={"bbox": bbox, "crs": "EPSG:3857", "format": fmt, "width": 300})
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    (x0, y0), (x1, y1) = zip(*transform_points("EPSG:4326", "EPSG:3857", [-74.7, -74.3], [45.8, 46.2]))
    assert image.format == kind and image.size == (300, round(300 * (y1 - y0) / (x1 - x0)))
    assert response.headers["ETag"] and response.headers["Cache-Control"]
    assert response.headers["Content-Disposition"].endswith(f'.{fmt}"')
    sized = api(server, "cog1", "export", params={"bbox": bbox, "format": fmt, "width": 200, "height": 100})
    assert Image.open(io.BytesIO(sized.content)).size == (200, 100)


# ---------------------------------------------------------------- preview

def test_preview_keeps_the_aspect_ratio(server):
    response = api(server, "cog1", "preview.png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (round(779 * 512 / 790), 512)  # cog1 is 779 x 790
    assert np.asarray(image.convert("RGBA"))[..., 3].max() == 255
    assert api(server, "cog1", "preview.png", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304

    small = api(server, "alpha", "preview.webp", params={"max_size": 100, "bands": "1,2,3"})
    assert Image.open(io.BytesIO(small.content)).size == (round(686 * 100 / 758), 100)
    not_enlarged = api(server, "albers", "preview.jpg", params={"max_size": 2048})
    assert Image.open(io.BytesIO(not_enlarged.content)).size == (500, 500)


# ---------------------------------------------------------------- across the antimeridian

DATELINE = "rio-tiler/cog_dateline.tif"  # Landsat QA, UTM 60N, 100 m, Aleutians: 178.0 .. 181.5 in the catalog
ACROSS = (179.9, 51.6, -179.5, 51.9)  # as a user writes it: west > east crosses the antimeridian
ACROSS_TEXT = ",".join(map(str, ACROSS))
WEB_MERCATOR_EDGE = 20037508.342789244


@pytest.fixture
def dateline(db, settings, live_server):
    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / DATELINE, image_id="dateline"))
    assert result.status == "added", result.message
    return live_server


def lonlat_box(west, south, east, north):
    """The box as a lon/lat polygon (east past 180 across the antimeridian) whose edges follow the
    parallels and meridians: cut into pieces of at most 0.01 degree, as the server documents, so the
    oracle's plain transform_geom projects exactly the polygon the server does."""
    def edge(x0, y0, x1, y1):
        pieces = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / 0.01))
        return [[x0 + (x1 - x0) * i / pieces, y0 + (y1 - y0) * i / pieces] for i in range(pieces)]

    ring = (edge(west, south, east, south) + edge(east, south, east, north) + edge(east, north, west, north)
            + edge(west, north, west, south))
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_statistics_over_a_bbox_across_the_antimeridian(dateline, stored):
    doc = ok_json(api(dateline, "dateline", "statistics", params={"bbox": ACROSS_TEXT}))
    with rasterio.open(stored("dateline")) as src:
        zone = transform_geom("EPSG:4326", src.crs, lonlat_box(179.9, 51.6, 180.5, 51.9))
    (values,), pixels = oracle_values(stored("dateline"), [zone])
    assert doc["overview_level"] is None and doc["pixels"] == pixels
    assert_summary(doc["statistics"][0], values, pixels)
    # the 0.6 degrees across the antimeridian (about 41 km, 430 of the image's 2325 columns with the
    # tilt of the meridians in UTM), not the 359.4 the other way round
    assert 400 < doc["window"]["width"] < 450

    in_utm = ok_json(api(dateline, "dateline", "statistics", params={
        "bbox": ",".join(str(round(v)) for v in transform_bounds("EPSG:4326", "EPSG:32660", 179.9, 51.6, 180.5, 51.9)),
        "bbox-crs": "EPSG:32660"}))
    assert in_utm["statistics"][0]["count"] > 0.95 * doc["statistics"][0]["count"]


def test_a_bbox_across_the_antimeridian_meets_an_image_on_both_sides(server, stored):
    """West of -74 reaching east over the antimeridian to -75: the parts of cog1 east of -74 and
    west of -75, and nothing between."""
    doc = ok_json(api(server, "cog1", "statistics", params={"bbox": "-74,45,-75,46", "bands": "1"}))
    with rasterio.open(stored("cog1")) as src:
        data = src.read(1, masked=True)
        rows, cols = np.mgrid[0:src.height, 0:src.width]
        xs, ys = src.xy(rows.ravel(), cols.ravel())
        lons, lats = (np.asarray(v).reshape(src.shape) for v in transform_points(src.crs, "EPSG:4326", xs, ys))
    zone = ((lons >= -74) | (lons <= -75)) & (lats >= 45) & (lats <= 46)
    values = data.data[zone & ~np.ma.getmaskarray(data)]
    assert doc["pixels"] == zone.sum() and 0 < zone.sum() < zone.size
    assert_summary(doc["statistics"][0], values, int(zone.sum()))


def test_an_export_across_the_antimeridian_has_the_pixels_of_the_cog(dateline, stored):
    with open_tif(api(dateline, "dateline", "export", params={"bbox": ACROSS_TEXT})) as dst, \
            rasterio.open(stored("dateline")) as src:
        assert dst.crs == src.crs and dst.res == pytest.approx(src.res)
        asked = transform_bounds("EPSG:4326", src.crs, 179.9, 51.6, 180.5, 51.9, densify_pts=21)
        assert all(abs(a - b) <= src.res[0] for a, b in zip(dst.bounds, asked))
        window = window_from_bounds(*dst.bounds, transform=src.transform).round_offsets().round_lengths()
        assert np.array_equal(dst.read(), src.read(window=window))


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_an_export_across_the_antimeridian_in_a_crs_that_wraps_stays_one_piece(dateline, stored, crs):
    """Longitudes run on past 180 (EPSG:4326), or x past the edge of the Web Mercator world: the box
    stays the 0.6 degrees asked, with the COG's pixels in it."""
    response = api(dateline, "dateline", "export", params={"bbox": ACROSS_TEXT, "crs": crs})
    with open_tif(response) as dst:
        asked = (179.9, 51.6, 180.5, 51.9)
        if crs == "EPSG:3857":
            (x0, x1), (y0, y1) = transform_points("EPSG:4326", crs, [179.9, 179.9], [51.6, 51.9])
            asked = (x0, y0, x0 + (x1 - x0) + 6378137.0 * math.radians(0.6), y1)
            assert dst.bounds.right > WEB_MERCATOR_EDGE
        assert all(abs(a - b) <= r for a, b, r in zip(dst.bounds, asked, dst.res * 2))
        data, ref = dst.read(), reference(stored("dateline"), dst, [1], None)
    assert (data == ref).mean() >= 0.99 and (data > 1).mean() > 0.9  # the image's values, not fill


def test_a_crs_that_cannot_hold_a_box_across_the_antimeridian_is_named():
    from cogbrowser.errors import InvalidInput
    from cogbrowser.raster.crs import WGS84
    from cogbrowser.raster.export import bounds_in

    equal_earth = CRS.from_epsg(8857)  # its x runs out at the antimeridian, by a width that depends on latitude
    with pytest.raises(InvalidInput, match=r"^bbox: 179.9,51.6,180.5,51.9 crosses the antimeridian, and EPSG:8857"):
        bounds_in((179.9, 51.6, 180.5, 51.9), WGS84, equal_earth)
    assert bounds_in((179.9, 51.6, 180.5, 51.9), WGS84, CRS.from_epsg(32601))[0] < 330_000  # UTM 1N holds it


# ---------------------------------------------------------------- bad input

UNCLOSED = json.dumps({"type": "Polygon", "coordinates": [[[-74.5, 46], [-74.4, 46], [-74.4, 46.1], [-74.5, 46.1]]]})


BAD_REQUESTS = [  # path under /api/v1/images/, query parameters, status, words of the problem's detail
    ("nope/point", {"lon": 1, "lat": 1}, 404, "no image 'nope' in the catalog"),
    ("..%2F..%2Fetc/point", {"lon": 1, "lat": 1}, 404, ""),
    ("cog1/point", {}, 400, "lon: give lon and lat"),
    ("cog1/point", {"lon": "abc", "lat": 46}, 400, "lon: 'abc' is not a number"),
    ("cog1/point", {"lon": "nan", "lat": 46}, 400, "lon: 'nan' is not a finite number"),
    ("cog1/point", {"lon": -74.5, "lat": 95}, 400, "is not on the Earth"),
    ("cog1/point", {"lon": -74.5, "lat": 46, "crs": "EPSG:3857"}, 400, "crs: it applies to x and y"),
    ("cog1/point", {"x": 1, "y": 2, "crs": "EPSG:9999"}, 400, "crs: 'EPSG:9999' is not offered"),
    ("cog1/point", {"lon": -74.5, "lat": 46, "expression": "b1+"}, 400, "unexpected end of expression"),
    ("cog1/point", {"lon": -74.5, "lat": 46, "colour": "red"}, 400, "unknown parameter(s): colour"),
    ("cog1/statistics", {"bbox": "1,2,3"}, 400, "bbox: expected 4 numbers"),
    ("cog1/statistics", {"bbox": "nan,1,2,3"}, 400, "bbox: 'nan' is not a finite number"),
    ("cog1/statistics", {"bbox": "600000,5000000,500000,5100000", "bbox-crs": "EPSG:32618"}, 400,
     "bbox: west (600000) must be less than east (500000)"),  # in WGS 84, west > east crosses the antimeridian
    ("cog1/statistics", {"bbox": "-74,47,-73,46"}, 400, "bbox: south (47) must be less than north (46)"),
    ("cog1/statistics", {"bbox": "10,10,11,11"}, 404, "the bbox 10,10,11,11 is outside the extent of image 'cog1'"),
    ("cog1/statistics", {"bbox": "-74,45,-73,46", "bbox-crs": "EPSG:2056"}, 400, "bbox-crs: 'EPSG:2056' is not"),
    ("cog1/statistics", {"bbox-crs": "EPSG:4326"}, 400, "bbox-crs: it says the CRS of bbox"),
    ("cog1/statistics", {"bands": "B99"}, 400, "bands: unknown band 'B99'"),
    ("cog1/statistics", {"bands": "1,,2"}, 400, "bands: empty band"),
    ("cog1/statistics", {"bands": "9"}, 400, "bands: band 9 does not exist (the image has 3)"),
    ("cog1/statistics", {"expression": "b1 + nope"}, 400, "nope"),
    ("cog1/statistics", {"bands": "1", "expression": "b1"}, 400, "expression: give either bands or an expression"),
    ("cog1/statistics", {"bins": "0"}, 400, "bins: '0' is not a whole number in 1..1000"),
    ("cog1/statistics", {"range": "5,1"}, 400, "range: '5,1' needs finite numbers with min below max"),
    ("cog1/statistics", {"geometry": '{"type": "Polygon"'}, 400, "geometry: not valid JSON"),
    ("cog1/statistics", {"geometry": '{"type": "Point", "coordinates": [1, 2]}'}, 400, "a 'Point' is not an area"),
    ("cog1/statistics", {"geometry": '{"type": "Polygon", "coordinates": [[1, 2]]}'}, 400, "3 levels of lists"),
    ("cog1/statistics", {"geometry": UNCLOSED}, 400, "geometry: a polygon ring must end where it starts"),
    ("cog1/statistics", {"geometry": json.dumps(circle(10, 10, 0.1))}, 404, "the geometry is outside the extent"),
    ("cog1/statistics", {"geometry": json.dumps(circle(-74.5, 46, 0.1)), "bbox": "-75,45,-74,46"}, 400,
     "geometry: give one zone, not bbox and geometry"),
    ("cog1/export", {"bbox": "10,10,11,11"}, 404, "the bbox is outside the extent of image 'cog1'"),
    ("cog1/export", {"width": "100000"}, 400, "width: 100000 is above the maximum of 4096 pixels"),
    ("cog1/export", {"width": "-5"}, 400, "width: '-5' is not a positive whole number"),
    ("cog1/export", {"crs": "EPSG:4326", "resolution": "0.00001"}, 400,
     "resolution: the export would be 307892 x 215109 pixels"),
    ("cog1/export", {"resolution": "1e-320"}, 400, "above the maximum of 4096 per side"),
    ("cog1/export", {"resolution": "10", "width": "10"}, 400, "resolution: give either width/height or resolution"),
    ("cog1/export", {"crs": "EPSG:2056"}, 400, "crs: 'EPSG:2056' is not offered"),
    ("cog1/export", {"crs": "mercator"}, 400, "crs: 'mercator' is not offered"),
    ("cog1/export", {"format": "gif"}, 400, "format: 'gif' is not offered (use tif, png, jpg, webp or kmz)"),
    ("cog1/export", {"rescale": "0,1000"}, 400, "rescale: applies to pictures"),
    ("cog1/export", {"format": "png", "bands": "1,2"}, 400, "bands: give 1 band"),
    ("alpha/export", {"nodata": "300"}, 400, "nodata 300.0 is not a value of the image's uint8 pixels"),
    ("cog1/preview.gif", {}, 404, "unknown preview format 'gif'"),
    ("cog1/preview.png", {"max_size": "5000"}, 400, "max_size: '5000' is not a whole number of pixels in 1..2048"),
    ("cog1/preview.png", {"colormap": "nope"}, 400, "colormap"),
]


def test_bad_requests_are_problems(server, subtests):
    """One catalog for every case (subtests): a catalog per case would cost a second each."""
    for path, params, status, words in BAD_REQUESTS:
        with subtests.test(path=path, params=params):
            response = requests.get(f"{server}/api/v1/images/{path}", params=params)
            assert response.status_code == status, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert words in response.json()["detail"]


def test_bad_posted_bodies_are_problems(server):
    bad_json = api(server, "cog1", "statistics", "POST", data="{not json",
                   headers={"Content-Type": "application/geo+json"})
    assert bad_json.status_code == 400 and "body: not valid JSON" in bad_json.json()["detail"]
    not_area = api(server, "cog1", "statistics", "POST", json={"type": "LineString", "coordinates": [[1, 2], [3, 4]]})
    assert not_area.status_code == 400 and "body: a 'LineString' is not an area" in not_area.json()["detail"]
