"""The address bar is written in the browser (assets/url-state.js) and read on the server
(BrowseState.from_query_string): the two must speak one grammar. For the same controls, the page's
function writes exactly what BrowseState.query_string() writes, and what it writes reads back."""

from __future__ import annotations

import pytest

from cogbrowser.ui import compare
from cogbrowser.ui.detections_overlay import overlay_from_controls
from cogbrowser.ui.image_search import filters_from_controls
from cogbrowser.ui.map_state import BrowseState, View, Visualization
from helpers import open_browse

AOI = {"type": "Polygon", "coordinates": [[[13.5, 45.61], [13.92, 45.61], [13.92, 45.9], [13.5, 45.9], [13.5, 45.61]]]}
NOTHING = {"ready": True, "view": None, "image": None, "vis": None, "opacity": 1, "start": None, "end": None,
           "cloud": 100, "collections": [], "targets": [], "in_view": [], "aoi": None, "sort": "-acquired_at",
           "show": ["show"],
           "classes": [], "names": [], "score": 0, "highlight": None, "basemap": None,
           "compared": None, "mode": "swipe", "swipe": 0.5, "fade": 0.5, "compare_style": "", "mosaic": "image",
           "place_names": []}
CASES = [
    {},
    {"view": {"lat": 45.7723456, "lon": 13.5884123, "zoom": 12.456}, "image": {"id": "S2_demo_20240601", "vis": None},
     "vis": [["style", "ndvi"], ["rescale", "-0.2,0.9"], ["gain", "1.5"], ["colormap", "viridis"]], "opacity": 0.35,
     "compared": "sentinel2-demo@2024-08-15", "mode": "opacity", "fade": 0.3, "compare_style": "ndvi",
     "mosaic": "closest"},
    {"image": {"id": "S2_demo_20240601"}, "vis": [["bands", "B08, B04,B03"], ["rescale", "0,3000"],
                                                  ["rescale", "0,2500"], ["rescale", "10,2000"], ["gamma", "1.2"]],
     "compared": "S2_demo_20240815", "swipe": 0.123456, "cloud": 100, "mosaic": "least-cloudy"},
    {"image": {"id": "dem_demo_30m"}, "vis": [["expression", "(B1-100)/(B1+1)"], ["rescale", "0.00001,12345678901"],
                                              ["gain", "0.0001"]], "opacity": 1},
    {"view": {"lat": -33.123456789, "lon": -151.987654321, "zoom": 3}, "start": "2024-04-01T00:00:00",
     "end": "2024-06-30", "cloud": 30.5, "collections": ["sentinel2-demo", "my scenes"], "targets": ["ship"],
     "in_view": ["view"], "aoi": AOI, "sort": "cloud_cover", "show": [], "classes": ["ship", "Smith, John"],
     "names": ["Adria, Spirit", "Ωmega +1;2"], "score": 0.55, "highlight": 42, "basemap": "sentinel2-demo",
     "place_names": ["on"]},
]


def python_query(values: dict) -> str:
    """What the server's BrowseState writes for these control values."""
    v = {**NOTHING, **values}
    view = View(v["view"]["lat"], v["view"]["lon"], v["view"]["zoom"]) if v["view"] else None
    state = BrowseState(
        view=view, image=(v["image"] or {}).get("id"), visualization=Visualization.from_pairs(v["vis"] or []),
        opacity=1.0 if v["opacity"] is None else v["opacity"],
        search=filters_from_controls((v["start"], v["end"]), v["cloud"], v["collections"], v["targets"],
                                     v["in_view"], v["aoi"], v["sort"]),
        overlay=overlay_from_controls(v["show"], v["classes"], v["names"], v["score"]), detection=v["highlight"],
        compare=compare.from_controls(v["compared"], v["mode"], v["swipe"], v["fade"], v["compare_style"]),
        basemap=v["basemap"] or None, mosaic=None if v["mosaic"] == "image" else v["mosaic"],
        place_names=bool(v["place_names"]))
    return state.query_string()


def page_query(page, values: dict):
    arguments = list({**NOTHING, **values}.values())
    return page.evaluate("args => window.dash_clientside.cogbrowserState.writeQuery(...args)", arguments)


@pytest.fixture(scope="module")
def analytics_page(chromium, demo_server):
    """A page of the app away from `/` (the function then leaves the address bar alone)."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo_server[0] + "/analytics")
    page.wait_for_function("() => window.dash_clientside && window.dash_clientside.cogbrowserState")
    yield page
    context.close()


@pytest.mark.parametrize("values", CASES, ids=["nothing", "preset-compare", "composite", "expression", "search"])
def test_the_page_writes_what_the_server_writes_and_reads(analytics_page, values):
    written = page_query(analytics_page, values)
    assert written == python_query(values)
    again = BrowseState.from_query_string(written)
    assert again.query_string() == written  # and it reads back to the same state


def test_nothing_is_written_before_the_links_state_is_applied(analytics_page):
    assert not isinstance(page_query(analytics_page, {"ready": False, "image": {"id": "x"}}), str)


def test_the_address_bar_follows_the_map_without_a_server_callback(ui_page, demo_server):
    open_browse(ui_page, demo_server[0], "?lat=45.70000&lon=13.60000&zoom=9")
    ui_page.wait_for_selector(".result")
    for _ in range(3):  # the page's first callbacks are all answered
        ui_page.wait_for_function("() => window.store && !window.store.getState().isLoading")
        ui_page.wait_for_timeout(300)
    posts: list[str] = []
    ui_page.on("request", lambda r: r.method == "POST" and "_dash-update-component" in r.url
               and posts.append(r.post_data))
    ui_page.locator("#browse-map").hover()
    ui_page.mouse.wheel(0, -400)  # zoom in
    ui_page.wait_for_function("() => !/[?&]zoom=9(&|$)/.test(location.search)")
    assert "zoom=" in ui_page.evaluate("location.search")
    ui_page.wait_for_timeout(500)  # a callback the zoom set off would have been sent by now
    assert posts == [], "a zoom asked the server"
