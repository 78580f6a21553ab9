"""Which lane a request waits in (web/lanes.py): the rules on their own."""

from __future__ import annotations

import json

import pytest

from cogbrowser.web.lanes import CHEAP, HEAVY, TILES, callback_ids, callback_output, lane_of, plan_lanes

HEAVY_CALLBACKS = {"browse-export-download", "browse-area-series-result"}


@pytest.mark.parametrize(("method", "path", "query", "lane"), [
    ("GET", "/api/v1/health", "", CHEAP),
    ("GET", "/api/v1/images", "limit=20", CHEAP),
    ("GET", "/stac/search", "", CHEAP),
    ("GET", "/", "", CHEAP),
    ("POST", "/api/v1/images", "", CHEAP),  # an upload: its body is read by the front, its work is a job
    ("GET", "/tiles/S2/WebMercatorQuad/12/2048/1361.png", "", TILES),
    ("GET", "/wmts", "SERVICE=WMTS&REQUEST=GetTile", TILES),
    ("GET", "/cogs/S2.tif", "", TILES),
    ("GET", "/ui/basemap/tiles/3/4/2", "", TILES),
    ("GET", "/ui/basemap/labels/3/4/2.png", "", TILES),  # the place names (ogc/place_labels.py)
    ("GET", "/api/v1/images/S2/point", "lon=1&lat=2", TILES),
    ("GET", "/api/v1/collections/sentinel-2/point", "lon=1&lat=2", TILES),
    ("GET", "/api/v1/images/S2/preview.png", "", TILES),
    ("GET", "/wms", "SERVICE=WMS&REQUEST=GetCapabilities", CHEAP),
    ("GET", "/wms", "service=wms&request=GetMap&width=256&height=256", TILES),
    ("GET", "/wms", "SERVICE=WMS&REQUEST=GetMap&WIDTH=3840&HEIGHT=1080", TILES),  # a 4K canvas
    ("GET", "/wms", "SERVICE=WMS&REQUEST=GetMap&WIDTH=4096&HEIGHT=4096", HEAVY),
    ("GET", "/wms", "SERVICE=WMS&REQUEST=GetMap&WIDTH=many&HEIGHT=4096", TILES),  # refused at once by WMS
    ("GET", "/wms", "SERVICE=WMS&REQUEST=GetFeatureInfo", TILES),
    ("GET", "/api/v1/images/S2/export", "bbox=0,0,1,1", HEAVY),
    ("GET", "/api/v1/images/S2/statistics", "", HEAVY),
    ("POST", "/api/v1/images/S2/statistics", "", HEAVY),
    ("GET", "/api/v1/collections/sentinel-2/timeseries", "", HEAVY),
    ("GET", "/api/v1/collections/sentinel-2/timelapse.gif", "", HEAVY),
    ("GET", "/api/v1/collections/sentinel-2/timelapse.mp4", "", HEAVY),
])
def test_each_kind_of_request_has_its_lane(method, path, query, lane):
    assert lane_of(method, path, query, None, HEAVY_CALLBACKS) == lane


def body(output: str) -> bytes:
    return json.dumps({"output": output, "outputs": [], "inputs": [{"id": "x", "property": "y", "value": 1}]}).encode()


@pytest.mark.parametrize(("output", "lane"), [
    ("..browse-export-download.data...browse-export-result.children..", HEAVY),
    ("browse-area-series-result.children", HEAVY),
    ("browse-image-info.data", CHEAP),
    ("..browse-image-info.data...browse-legend.style..", CHEAP),
])
def test_a_page_callback_is_heavy_when_it_writes_a_heavy_output(output, lane):
    found = callback_output(body(output)[:8192])
    assert found == output
    assert lane_of("POST", "/_dash-update-component", "", found, HEAVY_CALLBACKS) == lane


def test_callback_ids_of_one_output_and_of_several():
    assert callback_ids("a-b.children") == {"a-b"}
    assert callback_ids("..a.data...b-c.style..") == {"a", "b-c"}


def test_a_body_without_an_output_names_none():
    assert callback_output(b'{"inputs": []}') is None
    assert callback_output(b"") is None


def test_heavy_work_waits_a_quarter_of_a_render_deadline():
    lanes = plan_lanes(threads=2, heavy_threads=1, heavy_queue=4, render_deadline=20.0)
    assert lanes[HEAVY].capacity == 5 and lanes[HEAVY].max_wait == 5.0 and lanes[HEAVY].retry_after == 10
    assert lanes[CHEAP].threads >= 2 and lanes[TILES].threads == 2
