"""An image whose COG file is gone from disk (deleted by hand, a disk swapped): every surface says so the
same way, 410 Gone naming the image, and a collection drawn as a mosaic skips the lost image and names it
in the `X-Cogbrowser-Missing-Images` header instead of failing or going blank.

One catalog for the module: `lost` (an image whose file is deleted), and the collection `landsat` of
two overlapping scenes, cog1 (older, kept) and cog2 (newer, its file deleted).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import morecantile
import numpy as np
import pytest
import requests
from lxml import etree
from PIL import Image

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from helpers import ingest_images, serving, shared_catalog

UTC = timezone.utc
MISSING_HEADER = "X-Cogbrowser-Missing-Images"
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
ZOOM = 9
OVERLAP = (-73.65, 46.0)  # lon, lat inside both cog1 and cog2
ONLY_COG2 = (-72.0, 46.0)  # inside cog2 only
LOST = (23.7, 32.0)  # inside `lost`
IMAGES = [("cog1", "titiler/cog1.tif", "landsat", datetime(2020, 1, 1, tzinfo=UTC), None),
          ("cog2", "titiler/cog2.tif", "landsat", datetime(2020, 2, 1, tzinfo=UTC), None),
          ("lost", "titiler/B01.tif", None, datetime(2021, 1, 1, tzinfo=UTC), None)]


@pytest.fixture(scope="module")
def served(postgres, tmp_path_factory):
    """The base URL, and where each lost file is (its path in the data dir, a copy kept aside)."""
    folder = tmp_path_factory.mktemp("missing")
    with shared_catalog(postgres, folder) as (settings, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "landsat", "Landsat")
        ingest_images(db, settings, IMAGES)
        with serving(settings, db) as url:
            lost = {}
            for image_id in ("cog2", "lost"):
                with db.connection() as conn:
                    path = image_file(settings, queries.get_image(conn, image_id))
                lost[image_id] = (path, path.rename(folder / path.name))
            yield url, lost


@pytest.fixture(scope="module")
def base(served) -> str:
    return served[0]


def tile_of(lon: float, lat: float) -> morecantile.Tile:
    return WEB_MERCATOR.tile(lon, lat, ZOOM)


def tile_box(lon: float, lat: float) -> str:
    """The WebMercator bounds of the tile at (lon, lat), as a WMS BBOX in EPSG:3857."""
    return ",".join(str(v) for v in WEB_MERCATOR.xy_bounds(tile_of(lon, lat)))


def xyz(layer: str, lon: float, lat: float) -> str:
    t = tile_of(lon, lat)
    return f"/tiles/{layer}/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"


def wms_map(layer: str, lon: float, lat: float, **extra: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap",
                                             "LAYERS": layer, "STYLES": "", "CRS": "EPSG:3857",
                                             "BBOX": tile_box(lon, lat), "WIDTH": "256", "HEIGHT": "256",
                                             "FORMAT": "image/png", **extra}.items())
    return f"/wms?{query}"


def wms_info(layer: str, lon: float, lat: float) -> str:
    return (wms_map(layer, lon, lat).replace("REQUEST=GetMap", "REQUEST=GetFeatureInfo")
            + f"&QUERY_LAYERS={layer}&I=128&J=128&INFO_FORMAT=application/json")


def wmts_kvp(layer: str, lon: float, lat: float, request: str = "GetTile", **extra: str) -> str:
    t = tile_of(lon, lat)
    query = {"SERVICE": "WMTS", "VERSION": "1.0.0", "REQUEST": request, "LAYER": layer, "STYLE": "default",
             "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(t.z),
             "TILEROW": str(t.y), "TILECOL": str(t.x), **extra}
    return "/wmts?" + "&".join(f"{k}={v}" for k, v in query.items())


def wmts_rest(layer: str, lon: float, lat: float) -> str:
    t = tile_of(lon, lat)
    return f"/wmts/1.0.0/{layer}/default/WebMercatorQuad/{t.z}/{t.y}/{t.x}.png"


def picture(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("image/"), response.text[:500]
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


LOST_JSON = [  # the REST reads of the lost image: problem+json
    "/cogs/lost.tif",
    "/api/v1/images/lost/statistics",
    "/api/v1/images/lost/point?lon=23.7&lat=32.0",
    "/api/v1/images/lost/preview.png",
    "/api/v1/images/lost/export?format=png&width=64&height=64",
    xyz("lost", *LOST),
]
LOST_WMS = [wms_map("lost", *LOST), wms_info("lost", *LOST)]
LOST_WMTS = [wmts_kvp("lost", *LOST), wmts_rest("lost", *LOST),
             wmts_kvp("lost", *LOST, request="GetFeatureInfo", I="128", J="128", INFOFORMAT="application/json")]


@pytest.mark.parametrize("path", LOST_JSON)
def test_a_lost_image_is_gone_on_every_rest_read(base, path):
    answer = requests.get(base + path)
    assert answer.status_code == 410, answer.text[:500]
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["detail"] == "the file of image 'lost' is missing on the server"


@pytest.mark.parametrize("path", LOST_WMS)
def test_a_lost_image_is_gone_on_wms(base, path):
    answer = requests.get(base + path)
    assert answer.status_code == 410, answer.text[:500]
    root = etree.fromstring(answer.content)
    assert root.tag == "{http://www.opengis.net/ogc}ServiceExceptionReport"
    assert "the file of image 'lost' is missing on the server" in root.findtext("{http://www.opengis.net/ogc}ServiceException")


@pytest.mark.parametrize("path", LOST_WMTS)
def test_a_lost_image_is_gone_on_wmts(base, path):
    answer = requests.get(base + path)
    assert answer.status_code == 410, answer.text[:500]
    root = etree.fromstring(answer.content)
    ows = "{http://www.opengis.net/ows/1.1}"
    assert root.tag == f"{ows}ExceptionReport"
    assert root.find(f"{ows}Exception").get("exceptionCode") == "NoApplicableCode"
    assert root.findtext(f"{ows}Exception/{ows}ExceptionText") == "the file of image 'lost' is missing on the server"


def test_a_mosaic_skips_the_lost_image_and_says_so(base):
    """Where cog1 and the lost cog2 overlap, the collection's tile is cog1's tile, on every map
    service, with the lost image named in the header (one stretch for all: a collection's own is
    its newest image's, cog2's)."""
    stretch = "rescale=0,12000"
    kept = picture(requests.get(base + xyz("cog1", *OVERLAP) + "?" + stretch))
    assert kept[..., 3].any(), "cog1 has data in the tile"
    answers = [requests.get(base + xyz("landsat", *OVERLAP) + "?" + stretch),
               requests.get(base + wms_map("landsat", *OVERLAP, TIME="../..", TRANSPARENT="TRUE") + "&" + stretch),
               requests.get(base + wmts_kvp("landsat", *OVERLAP, TIME="2020-01-01/2020-03-01") + "&" + stretch)]
    for answer in answers:
        assert np.array_equal(picture(answer), kept), answer.url
        assert answer.headers[MISSING_HEADER] == "cog2", answer.url
        assert answer.headers["Cache-Control"] == "no-cache", "asked again, not kept for an hour"
    assert MISSING_HEADER not in requests.get(base + xyz("cog1", *OVERLAP)).headers


def test_a_mosaic_is_whole_again_once_the_file_is_back(served):
    """The picture drawn without the lost image is not the one served once its file is restored,
    even to a client that revalidates with the incomplete picture's ETag."""
    base, lost = served
    partial = requests.get(base + xyz("landsat", *OVERLAP))
    place, aside = lost["cog2"]
    aside.rename(place)
    try:
        whole = requests.get(base + xyz("landsat", *OVERLAP), headers={"If-None-Match": partial.headers["ETag"]})
        assert whole.status_code == 200 and MISSING_HEADER not in whole.headers
        assert not np.array_equal(picture(whole), picture(partial)), "cog2, on top, is drawn again"
    finally:
        place.rename(aside)


def test_a_mosaic_of_lost_images_only_is_gone(base):
    """Where only the lost image would be drawn (cog2's own area; or WMS/WMTS's default time, the
    newest acquisition), there is nothing to draw from: 410 as for the image itself."""
    assert requests.get(base + xyz("landsat", *ONLY_COG2)).status_code == 410
    assert requests.get(base + wms_map("landsat", *OVERLAP)).status_code == 410
    assert requests.get(base + wmts_kvp("landsat", *OVERLAP)).status_code == 410


def test_a_mosaic_feature_info_skips_the_lost_image(base):
    answer = requests.get(base + wms_info("landsat", *OVERLAP) + "&TIME=../..")
    assert answer.status_code == 200, answer.text[:500]
    assert [f["properties"]["image_id"] for f in answer.json()["features"]] == ["cog1"]
    assert answer.headers[MISSING_HEADER] == "cog2"


def test_time_series_and_timelapse_skip_the_lost_image(base):
    lon, lat = OVERLAP
    box = f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"
    series = requests.get(f"{base}/api/v1/collections/landsat/timeseries", params={"bbox": box})
    assert series.status_code == 200, series.text[:500]
    assert [p["image_id"] for p in series.json()["points"]] == ["cog1"]
    assert series.headers[MISSING_HEADER] == "cog2"
    gif = requests.get(f"{base}/api/v1/collections/landsat/timelapse.gif", params={"bbox": box, "width": 64})
    assert gif.status_code == 200 and gif.headers["Content-Type"] == "image/gif", gif.text[:500]
    assert gif.headers[MISSING_HEADER] == "cog2"
    assert Image.open(io.BytesIO(gif.content)).n_frames == 1


def test_time_series_of_lost_images_only_is_gone(base):
    lon, lat = ONLY_COG2
    box = f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"
    for route in ("timeseries", "timelapse.gif"):
        answer = requests.get(f"{base}/api/v1/collections/landsat/{route}", params={"bbox": box})
        assert answer.status_code == 410, answer.text[:500]
        assert answer.json()["detail"] == "the file of image 'cog2' is missing on the server"
