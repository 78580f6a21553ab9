"""Issue 12, item 2: every render has a budget (expression nodes x pixels) and a deadline.

The issue's attacks, against the served app: `min(b1+0, ...)` with 199 arguments (999 characters,
598 nodes) on a 2048 x 2048 GetMap, on statistics and on a collection's time series took gigabytes
and tens of seconds; a 246-term chain at 4096 x 4096 stalled the server. Each is now refused at
once with a 4xx that names the budget and the figures, while the server's memory stays where it
was; an ordinary NDVI render still draws; a render past its deadline answers 503 + Retry-After in
every dialect (problem+json, WMS and WMTS exception reports).

One catalog for the module: three Landsat 8 bands of one scene (1550 x 1578 each, dated apart, as a
collection) and a 4-band uint16 image for NDVI. The app is served in this process, so the
process's resident memory is the server's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests
from lxml import etree

from cogbrowser.catalog import queries
from cogbrowser.config import DEFAULT_RENDER_BUDGET
from helpers import ingest_images, peak_rss, serving, shared_catalog

UTC = timezone.utc
SCENE = "rio-pansharpen/LC81070352015122LGN00"
IMAGES = [(f"l8_{band}", f"{SCENE}_{band.upper()}.tif", "kanto", datetime(2015, 5, day, tzinfo=UTC), None)
          for band, day in (("b2", 2), ("b3", 3), ("b4", 4))] + [
    ("corsica", "mapchete/4band_test.tif", None, datetime(2020, 1, 1, tzinfo=UTC), None)]
MIN_199 = "min(" + ",".join(["b1+0"] * 199) + ")"  # the issue's: 999 characters, 598 nodes
CHAIN_246 = "+".join(["b1"] * 246)  # 491 nodes
NDVI = "(b4-b3)/(b4+b3)"
BUDGET = f"{DEFAULT_RENDER_BUDGET:,}"
RSS_MARGIN = 300 * 2**20  # what a refused (or ordinary) request may add to the server's memory, at most
OWS = "{http://www.opengis.net/ows/1.1}"
OGC = "{http://www.opengis.net/ogc}"


@pytest.fixture(scope="module")
def servers(postgres, tmp_path_factory) -> Iterator[tuple[str, str, tuple[float, ...]]]:
    """(the server with the default limits, the same catalog served with a deadline already past,
    the WGS 84 box of the Landsat scene)."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("budget")) as (settings, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "kanto", "Kanto")
        ingest_images(db, settings, IMAGES)
        with db.connection() as conn:
            bbox = tuple(queries.get_image(conn, "l8_b2").bbox)
        hurried = dataclasses.replace(settings, render_deadline=1e-9)
        with serving(settings, db) as url, serving(hurried, db) as hurried_url:
            yield url, hurried_url, bbox


def refused_quickly(method, *args, **kwargs) -> tuple[requests.Response, float, int]:
    """The answer, the seconds it took and what it added to the server's peak memory."""
    with peak_rss() as rss:
        started = time.monotonic()
        answer = method(*args, **kwargs)
        seconds = time.monotonic() - started
    return answer, seconds, rss["peak"] - rss["before"]


def wms_map(base: str, layer: str, expression: str, size: int, **extra) -> requests.Response:
    return requests.get(f"{base}/wms", params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
        "CRS": "EPSG:3857", "BBOX": "15550000,4240000,15580000,4270000", "WIDTH": size, "HEIGHT": size,
        "FORMAT": "image/png", "expression": expression, "rescale": "0,20000", **extra}, timeout=120)


def wms_report(answer: requests.Response) -> tuple[str, str]:
    """(code, text) of a WMS 1.3.0 ServiceExceptionReport."""
    item = etree.fromstring(answer.content).find(f"{OGC}ServiceException")
    return item.get("code"), item.text


# ---------------------------------------------------------------- the issue's attacks, refused


def test_the_issues_min_on_a_2048_getmap_is_refused_at_once_without_memory(servers):
    base, _, _ = servers
    answer, seconds, grown = refused_quickly(wms_map, base, "l8_b2", MIN_199, 2048)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/xml", answer.text[:300]
    code, text = wms_report(answer)
    assert code == "InvalidParameterValue"
    assert f"render budget of {BUDGET}" in text and "598 expression nodes x 4,194,304 pixels" in text, text
    assert seconds < 5, f"refused after {seconds:.1f} s"
    assert grown < RSS_MARGIN, f"the server grew by {grown / 2**20:.0f} MB"


def test_the_issues_min_on_statistics_is_refused_at_once_without_memory(servers):
    base, _, _ = servers
    answer, seconds, grown = refused_quickly(requests.get, f"{base}/api/v1/images/l8_b2/statistics",
                                             params={"expression": MIN_199}, timeout=120)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["Content-Type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert f"render budget of {BUDGET}" in detail and "598 expression nodes x 2,445,900 pixels" in detail, detail
    assert seconds < 5, f"refused after {seconds:.1f} s"
    assert grown < RSS_MARGIN, f"the server grew by {grown / 2**20:.0f} MB"


def test_the_issues_min_on_a_time_series_is_refused_before_reading_any_image(servers):
    base, _, bbox = servers
    answer, seconds, grown = refused_quickly(requests.get, f"{base}/api/v1/collections/kanto/timeseries",
                                             params={"bbox": ",".join(map(str, bbox)), "expression": MIN_199},
                                             timeout=120)
    assert answer.status_code == 400, answer.text[:300]
    detail = answer.json()["detail"]
    assert "time series" in detail and f"render budget of {BUDGET}" in detail and "598 expression nodes" in detail
    assert seconds < 5, f"refused after {seconds:.1f} s"
    assert grown < RSS_MARGIN, f"the server grew by {grown / 2**20:.0f} MB"


def test_a_246_term_chain_at_4096_is_refused_on_wms_and_export(servers):
    base, _, _ = servers
    answer, seconds, grown = refused_quickly(wms_map, base, "l8_b2", CHAIN_246, 4096)
    code, text = wms_report(answer)
    assert code == "InvalidParameterValue" and "491 expression nodes x 16,777,216 pixels" in text, text
    assert seconds < 5 and grown < RSS_MARGIN
    export = requests.get(f"{base}/api/v1/images/l8_b2/export", timeout=120, params={
        "format": "png", "width": 4096, "height": 4096, "expression": CHAIN_246, "rescale": "0,20000"})
    assert export.status_code == 400 and "491 expression nodes x 16,777,216 pixels" in export.json()["detail"]
    raw = requests.get(f"{base}/api/v1/images/l8_b2/export", timeout=120, params={
        "width": 4096, "height": 4096, "expression": CHAIN_246})  # a GeoTIFF of the values: the same budget
    assert raw.status_code == 400 and f"render budget of {BUDGET}" in raw.json()["detail"]


def test_a_timelapse_counts_every_frame(servers):
    base, _, bbox = servers
    answer = requests.get(f"{base}/api/v1/collections/kanto/timelapse.gif", timeout=120, params={
        "bbox": ",".join(map(str, bbox)), "width": 1024, "expression": "+".join(["b1"] * 200),
        "rescale": "0,20000"})
    assert answer.status_code == 400, answer.text[:300]
    assert "x 3 images" in answer.json()["detail"] and f"render budget of {BUDGET}" in answer.json()["detail"]


# ---------------------------------------------------------------- what ordinary users do still works


def test_an_ordinary_ndvi_getmap_still_draws(servers):
    base, _, _ = servers
    answer, _, grown = refused_quickly(requests.get, f"{base}/wms", timeout=120, params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "corsica", "STYLES": "",
        "CRS": "EPSG:4326", "BBOX": "41.40,8.27,41.48,8.34", "WIDTH": 2048, "HEIGHT": 2048, "FORMAT": "image/png",
        "expression": NDVI, "colormap": "rdylgn"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png", answer.text[:300]
    assert grown < RSS_MARGIN


def test_ordinary_statistics_and_time_series_still_answer(servers):
    base, _, bbox = servers
    stats = requests.get(f"{base}/api/v1/images/corsica/statistics", params={"expression": NDVI}, timeout=120)
    assert stats.status_code == 200 and stats.json()["statistics"][0]["count"] > 0
    series = requests.get(f"{base}/api/v1/collections/kanto/timeseries", timeout=120,
                          params={"bbox": ",".join(map(str, bbox)), "expression": "b1*2"})
    assert series.status_code == 200 and len(series.json()["points"]) == 3


# ---------------------------------------------------------------- the deadline


def test_a_render_past_its_deadline_answers_503_with_retry_after(servers):
    _, hurried, bbox = servers
    tile = requests.get(f"{hurried}/tiles/corsica/WebMercatorQuad/12/2142/1529.png", timeout=60)
    assert tile.status_code == 503 and tile.headers["Retry-After"].isdigit(), tile.text[:300]
    assert "deadline" in tile.json()["detail"]
    stats = requests.get(f"{hurried}/api/v1/images/corsica/statistics", params={"expression": NDVI}, timeout=60)
    assert stats.status_code == 503 and "Retry-After" in stats.headers
    series = requests.get(f"{hurried}/api/v1/collections/kanto/timeseries", timeout=60,
                          params={"bbox": ",".join(map(str, bbox)), "expression": NDVI.replace("b4", "b1")
                                  .replace("b3", "b1")})
    assert series.status_code == 503

    getmap = wms_map(hurried, "corsica", NDVI, 256, BBOX="41.40,8.27,41.48,8.34", CRS="EPSG:4326")
    assert getmap.status_code == 503 and "Retry-After" in getmap.headers
    code, text = wms_report(getmap)
    assert code == "NoApplicableCode" and "deadline" in text

    wmts = requests.get(f"{hurried}/wmts/1.0.0/corsica/default/WebMercatorQuad/12/1529/2142.png", timeout=60)
    assert wmts.status_code == 503 and "Retry-After" in wmts.headers, wmts.text[:300]
    report = etree.fromstring(wmts.content).find(f"{OWS}Exception")
    assert report.get("exceptionCode") == "NoApplicableCode"

    health = requests.get(f"{hurried}/api/v1/health", timeout=60)
    assert health.status_code == 200, "what renders nothing has no deadline to miss"
