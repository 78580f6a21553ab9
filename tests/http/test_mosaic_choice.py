"""A collection drawn as a mosaic, as the analyst chooses it: which images (dates, cloud limit) and
which lies on top (newest, oldest, least cloudy, closest to a date), the same on XYZ tiles, WMS
and WMTS; and the time series' cloud limit, so cloudy dates do not pull the curve down."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import morecantile
import numpy as np
import pytest
import requests
from PIL import Image

from cogbrowser.catalog import queries
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA

WEB = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def landsat(db, settings, live_server):
    """The overlapping Landsat pair as one collection: cog1 (1 January, 5 % cloud) and cog2 (20
    January, 60 % cloud); and the tile of zoom 8 across the edge of their overlap."""
    for name, day, cloud in (("cog1", 1, 5.0), ("cog2", 20, 60.0)):
        result = ingest_file(db, settings, IngestRequest(
            path=REAL_DATA / f"titiler/{name}.tif", image_id=name, collection="landsat",
            acquired_at=datetime(2020, 1, day, tzinfo=timezone.utc)))
        assert result.status == "added"
        with db.connection() as conn:
            queries.update_image(conn, name, {"cloud_cover": cloud})
    with db.connection() as conn:
        one, two = (queries.get_image(conn, i).bbox for i in ("cog1", "cog2"))
    lon, lat = (max(one[0], two[0]) + min(one[2], two[2])) / 2, (one[1] + one[3]) / 2
    return live_server, WEB.tile(lon, lat, 8), (lon, lat)


STRETCH = "0,12000"  # the images alone and the mosaic drawn with one stretch: their pixels compare


def rgba(url: str, **params) -> np.ndarray:
    response = requests.get(url, params={"rescale": STRETCH, **params})
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def pictures(base: str, tile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tile of each image alone, and where each one's pixels are: (older, newer, overlap, only newer)."""
    path = f"WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    older, newer = rgba(f"{base}/tiles/cog1/{path}"), rgba(f"{base}/tiles/cog2/{path}")
    overlap = (older[..., 3] == 255) & (newer[..., 3] == 255)
    only_newer = (newer[..., 3] == 255) & (older[..., 3] == 0)
    assert overlap.mean() > 0.05 and only_newer.mean() > 0.05, "the tile spans the overlap's edge"
    return older, newer, overlap, only_newer


@pytest.mark.parametrize("params, on_top", [
    ({}, "newer"), ({"mosaic_order": "newest"}, "newer"), ({"mosaic_order": "oldest"}, "older"),
    ({"mosaic_order": "least-cloudy"}, "older"),
    ({"mosaic_order": "closest", "closest_to": "2020-01-18"}, "newer"),
    ({"mosaic_order": "closest", "closest_to": "2020-01-03T12:00:00Z"}, "older"),
    ({"mosaic_order": "closest", "datetime": "2019-12-01/2020-01-02"}, "older"),  # the end of datetime
])
def test_the_mosaic_order_says_which_image_lies_on_top(landsat, params, on_top):
    base, tile, _ = landsat
    older, newer, overlap, _ = pictures(base, tile)
    mosaic = rgba(f"{base}/tiles/landsat/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", **params)
    expected = older if on_top == "older" else newer
    assert np.array_equal(mosaic[overlap], expected[overlap])


def test_a_mosaic_is_drawn_with_one_stretch_its_newest_images(landsat, db):
    """Without a rescale, every image of the mosaic is stretched by the newest image's 2-98 % range
    (not each by its own: a patchwork), as the collection's overview draws it too."""
    base, tile, _ = landsat
    with db.connection() as conn:
        statistics = [band["statistics"] for band in queries.get_image(conn, "cog2").bands]
    newest = [f"{s['p2']},{s['p98']}" for s in statistics]  # one range a band
    url = f"{base}/tiles/landsat/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    older, _, overlap, only_newer = pictures(base, tile)
    for order in ("newest", "oldest"):  # the older image on top too
        default = rgba(url, rescale=None, mosaic_order=order)
        assert np.array_equal(default, rgba(url, rescale=newest, mosaic_order=order))
        own = rgba(f"{base}/tiles/cog1/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", rescale=None)
        if order == "oldest":
            assert not np.array_equal(default[overlap], own[overlap]), "the older image keeps its own stretch"


def test_the_cloud_limit_leaves_cloudy_images_out(landsat):
    base, tile, _ = landsat
    older, _, overlap, only_newer = pictures(base, tile)
    url = f"{base}/tiles/landsat/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    clear = rgba(url, max_cloud_cover=10)
    assert np.array_equal(clear[overlap], older[overlap])
    assert (clear[only_newer][..., 3] == 0).all(), "the cloudy image is drawn all the same"
    assert np.array_equal(rgba(url, max_cloud_cover=60), rgba(url)), "60 % is within a limit of 60"


@pytest.mark.parametrize("params, words", [
    ({"mosaic_order": "sharpest"}, "mosaic_order"), ({"mosaic_order": "closest"}, "closest_to"),
    ({"max_cloud_cover": "101"}, "max_cloud_cover"), ({"max_cloud_cover": "cloudy"}, "max_cloud_cover"),
    ({"mosaic_order": "closest", "closest_to": "soon"}, "closest_to"),
])
def test_bad_mosaic_parameters_are_named(landsat, params, words):
    base, tile, _ = landsat
    response = requests.get(f"{base}/tiles/landsat/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png", params=params)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/problem+json"
    assert words in response.json()["detail"]


def wms_box(tile) -> str:
    box = WEB.xy_bounds(tile)
    return f"{box.left},{box.bottom},{box.right},{box.top}"


def test_wms_and_wmts_take_the_same_mosaic_parameters(landsat):
    base, tile, _ = landsat
    older, _, overlap, only_newer = pictures(base, tile)
    wms = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "landsat", "STYLES": "",
           "CRS": "EPSG:3857", "BBOX": wms_box(tile), "WIDTH": 256, "HEIGHT": 256, "FORMAT": "image/png",
           "TRANSPARENT": "TRUE", "TIME": "../.."}
    oldest = rgba(f"{base}/wms", **wms, MOSAIC_ORDER="oldest")
    assert np.array_equal(oldest[overlap], older[overlap])
    clear = rgba(f"{base}/wms", **wms, max_cloud_cover="10")
    assert (clear[only_newer][..., 3] == 0).all()
    report = requests.get(f"{base}/wms", params={**wms, "MOSAIC_ORDER": "sharpest"})
    assert report.status_code == 200 and b"ServiceExceptionReport" in report.content
    exception = ET.fromstring(report.content).find(".//{*}ServiceException")
    assert exception is not None and exception.get("code") == "InvalidParameterValue"
    assert exception.get("locator") == "MOSAIC_ORDER" and "sharpest" in (exception.text or "")

    wmts = {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "landsat", "STYLE": "default",
            "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(tile.z), "TILEROW": str(tile.y),
            "TILECOL": str(tile.x), "FORMAT": "image/png", "TIME": "../.."}
    assert np.array_equal(rgba(f"{base}/wmts", **wmts, mosaic_order="oldest")[overlap], older[overlap])
    bad = requests.get(f"{base}/wmts", params={**wmts, "max_cloud_cover": "-1"})
    assert bad.status_code == 400 and b"max_cloud_cover" in bad.content


def test_the_time_series_leaves_cloudy_dates_out(landsat):
    base, _, (lon, lat) = landsat
    url = f"{base}/api/v1/collections/landsat/timeseries"
    area = {"bbox": f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}", "bands": "1"}
    every = requests.get(url, params=area).json()["points"]
    assert [p["image_id"] for p in every] == ["cog1", "cog2"]
    clear = requests.get(url, params={**area, "max_cloud_cover": 10}).json()["points"]
    assert [p["image_id"] for p in clear] == ["cog1"]
    none = requests.get(url, params={**area, "max_cloud_cover": 1})
    assert none.status_code == 404 and "cloud limit" in none.json()["detail"]


@pytest.mark.parametrize("params, on_top", [
    ({}, "cog2"), ({"mosaic_order": "oldest"}, "cog1"), ({"mosaic_order": "least-cloudy"}, "cog1"),
    ({"max_cloud_cover": "20"}, "cog1"), ({"mosaic_order": "closest", "closest_to": "2020-01-18"}, "cog2"),
])
def test_a_point_of_the_mosaic_reads_the_image_on_top_there(landsat, params, on_top):
    """Where both images have data, the collection's point is the pixel of the image the mosaic
    draws on top: the same answer as that image's own point."""
    base, _, (lon, lat) = landsat
    answer = requests.get(f"{base}/api/v1/collections/landsat/point", timeout=30,
                          params={"lon": lon, "lat": lat, "expression": "b1*2", **params})
    assert answer.status_code == 200, answer.text
    own = requests.get(f"{base}/api/v1/images/{on_top}/point", timeout=30,
                       params={"lon": lon, "lat": lat, "expression": "b1*2"}).json()
    assert answer.json() == own and own["values"][0] is not None


@pytest.mark.parametrize("params, status, words", [
    ({"lon": "0", "lat": "0"}, 404, ("no image", "landsat")),
    ({"x": "500000", "y": "5000000"}, 400, ("lon",)),
    ({"lon": "-74", "lat": "46", "mosaic_order": "random"}, 400, ("mosaic_order",)),
])
def test_a_point_of_the_mosaic_says_what_is_wrong(landsat, params, status, words):
    base, _, _ = landsat
    answer = requests.get(f"{base}/api/v1/collections/landsat/point", params=params, timeout=30)
    assert answer.status_code == status and answer.headers["Content-Type"] == "application/problem+json"
    assert all(word in answer.json()["detail"] for word in words), answer.json()
    assert requests.get(f"{base}/api/v1/collections/cog1/point", params={"lon": "-74", "lat": "46"},
                        timeout=30).status_code == 404
