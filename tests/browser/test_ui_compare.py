"""Compare and Measure on the Browse page, used as a user would: in Debian's chromium, on the demo.

"Left of the divider is one image, right of it the other" is checked in the map's pixels against
screenshots of each image alone at the same view; distances and areas against pyproj's geodesic
on the WGS 84 ellipsoid, for the points the page's own coordinate readout gives.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image
from pyproj import Geod

from cogbrowser.ui.compare import compared_visualization, from_controls, restored
from cogbrowser.ui.map_state import BrowseState, Compare, Visualization
from helpers import api, browser_page, changed_share, query

S2 = "S2_demo_20240601"
LOADED = ("() => { const panes = ['.leaflet-browse-imagery-pane', '.leaflet-browse-compare-pane'];"
          " const tiles = panes.map(p => [...document.querySelectorAll(p + ' img.leaflet-tile')]);"
          " return tiles.every(t => t.length > 0 && t.every(i => i.complete && i.naturalWidth > 0))"
          " && !document.querySelector('.tiles-loading'); }")
LOADED_ALONE = LOADED.replace(", '.leaflet-browse-compare-pane'", "")


# ---------------------------------------------------------------- helpers

def view_over(base: str, image_id: str = S2, zoom: int = 12) -> str:
    """A view on the image's centre, close enough that it fills most of the map."""
    west, south, east, north = api(base, f"/api/v1/images/{image_id}")["bbox"]
    return f"lat={(south + north) / 2:.5f}&lon={(west + east) / 2:.5f}&zoom={zoom}&detections=off"


def open_page(page, base: str, search: str, comparing: bool) -> None:
    page.goto(base + "/" + search, wait_until="networkidle")
    page.wait_for_selector(".leaflet-browse-imagery-pane img.leaflet-tile", state="attached", timeout=30_000)
    settle(page, comparing)


def settle(page, comparing: bool) -> None:
    page.wait_for_function(LOADED if comparing else LOADED_ALONE, timeout=30_000)
    page.wait_for_timeout(400)  # the last tiles fade in


def picture(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator("#browse-map").screenshot())).convert("RGB"), dtype=float)


def strip(pixels: np.ndarray, start: float, end: float) -> np.ndarray:
    """Columns from `start` to `end` (shares of the width), away from the labels and legend."""
    height, width = pixels.shape[:2]
    return pixels[int(height * .15): int(height * .78), int(width * start): int(width * end)]


def alone(chromium, base: str, search: str) -> np.ndarray:
    with browser_page(chromium, base) as page:
        open_page(page, base, search, comparing=False)
        return picture(page)


# ---------------------------------------------------------------- the state in the URL (no browser)

def test_the_comparison_round_trips_through_the_query_string():
    for compare in (Compare(target="S2_demo_20240412", swipe=0.25, style="ndvi"),
                    Compare(target="sentinel2-demo@2024-08-15", mode="opacity", opacity=0.3)):
        state = BrowseState(image=S2, visualization=Visualization(style="true-color"), compare=compare)
        text = state.query_string()
        assert BrowseState.from_query_string(text) == state
        # the controls' values and back (as _restore and _state_query use them)
        assert from_controls(*restored(compare)) == compare
    assert Compare(target="sentinel2-demo@2024-08-15").layer == ("sentinel2-demo", "2024-08-15")
    assert Compare(target=S2).layer == (S2, None)
    assert Compare(target="a@not-a-day").layer == ("a@not-a-day", None)
    text = BrowseState(image=S2, compare=Compare(target="sentinel2-demo@2024-08-15", swipe=0.4)).query_string()
    assert "compare=sentinel2-demo%402024-08-15" in text and "swipe=0.4" in text and "compare_mode" not in text
    # a hand-edited link: values out of range fall back, and no comparison without a shown image
    odd = BrowseState.from_query_string(f"?image={S2}&compare=X&swipe=7&compare_mode=blend&compare_opacity=-1")
    assert odd.compare == Compare(target="X")
    assert BrowseState.from_query_string("?compare=X").compare is None
    assert from_controls(None, "opacity", 0.2, 0.2, "ndvi") is None


def test_the_compared_side_is_drawn_as_the_shown_image_when_it_can_be():
    info = {"image": {"id": "x", "bands": [{"name": n} for n in ("B02", "B03", "B04", "B08")]},
            "collection": {"presets": [{"name": "true-color", "bands": ["B04", "B03", "B02"]}, {"name": "ndvi"}]}}
    shown = Visualization(bands=("B08", "B04", "B03"), gamma=1.3)
    assert compared_visualization(info, None, shown.render_params()) == shown
    assert compared_visualization(info, "ndvi", shown.render_params()) == Visualization(style="ndvi")
    other = Visualization(bands=("red", "green", "blue"))  # bands it has not: its collection's default
    assert compared_visualization(info, None, other.render_params()) == Visualization(style="true-color")


# ---------------------------------------------------------------- swipe and opacity

def test_swipe_shows_one_look_left_and_the_other_right_and_the_divider_moves_it(chromium, demo_server):
    base = demo_server[0]
    view = view_over(base)
    true_colour = alone(chromium, base, f"?{view}&image={S2}&style=true-color")
    ndvi = alone(chromium, base, f"?{view}&image={S2}&style=ndvi")
    assert changed_share(strip(true_colour, .1, .9), strip(ndvi, .1, .9)) > 0.5, "the two looks are alike"

    with browser_page(chromium, base) as page:
        wms = []
        page.on("request", lambda r: "/wms" in r.url and "GetMap" in r.url and wms.append(r.url))
        open_page(page, base, f"?{view}&image={S2}&style=true-color&compare={S2}&compare_style=ndvi&swipe=0.5",
                  comparing=True)
        assert any("styles=ndvi" in url for url in wms) and any("styles=true-color" in url for url in wms)
        shot = picture(page)
        left, right = strip(shot, .15, .45), strip(shot, .55, .85)
        assert changed_share(left, strip(true_colour, .15, .45)) < 0.03, "left of the divider is not true colour"
        assert changed_share(right, strip(ndvi, .55, .85)) < 0.03, "right of the divider is not NDVI"
        assert changed_share(right, strip(true_colour, .55, .85)) > 0.5
        labels = page.locator(".compare-label").all_inner_texts()
        assert S2 in labels[0] and S2 in labels[1]

        # drag the divider to 30 % of the map's width: what lay left of it now shows NDVI
        box = page.locator("#browse-map").bounding_box()
        handle = page.locator(".compare-handle").bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        for step in range(1, 6):
            page.mouse.move(box["x"] + box["width"] * (.5 - .04 * step), handle["y"] + handle["height"] / 2)
        page.mouse.up()
        page.wait_for_function("() => /[?&]swipe=0\\.3/.test(location.search)")
        assert abs(float(query(page)["swipe"][0]) - 0.3) < 0.01
        page.wait_for_timeout(300)
        moved = picture(page)
        assert changed_share(strip(moved, .33, .45), strip(ndvi, .33, .45)) < 0.03
        assert changed_share(strip(moved, .1, .27), strip(true_colour, .1, .27)) < 0.03
        assert query(page)["lat"] and not page.evaluate(
            "() => document.querySelector('.leaflet-container').classList.contains('leaflet-dragging')")


def test_opacity_mode_blends_the_compared_image_over_the_shown_one(chromium, demo_server):
    base = demo_server[0]
    view = view_over(base)
    true_colour = strip(alone(chromium, base, f"?{view}&image={S2}&style=true-color"), .1, .85)
    ndvi = strip(alone(chromium, base, f"?{view}&image={S2}&style=ndvi"), .1, .85)
    with browser_page(chromium, base) as page:
        open_page(page, base, f"?{view}&image={S2}&style=true-color&compare={S2}&compare_style=ndvi"
                              "&compare_mode=opacity&compare_opacity=0.5", comparing=True)
        assert page.locator(".compare-divider").is_hidden()
        half = strip(picture(page), .1, .85)
        assert np.abs(half - (true_colour + ndvi) / 2).mean() < 4, "not half one, half the other"

        page.locator("#browse-compare summary").click()
        page.locator("#browse-compare-opacity-row").wait_for(state="visible")  # the control of this mode
        page.locator("#browse-compare-opacity [role=slider]").focus()
        page.keyboard.press("End")  # the slider to 100 %: the compared image alone
        page.wait_for_function("() => /[?&]compare_opacity=1(&|$)/.test(location.search)")
        page.wait_for_timeout(300)
        assert changed_share(strip(picture(page), .1, .85), ndvi) < 0.03

        page.locator("#browse-compare label", has_text="Swipe").click()  # and back to a swipe
        page.wait_for_function("() => /[?&]swipe=/.test(location.search) && !/compare_mode/.test(location.search)")
        assert page.locator(".compare-divider").is_visible()
        page.locator("#browse-compare-opacity-row").wait_for(state="hidden")


def test_a_chosen_date_is_in_the_link_which_reopens_it_and_stop_restores_the_map(chromium, demo_server):
    base = demo_server[0]
    view = view_over(base)
    with browser_page(chromium, base) as page:
        open_page(page, base, f"?{view}&image={S2}", comparing=False)
        page.locator(".browse-tab", has_text="Visualize").click()
        page.locator("#browse-compare summary").click()
        page.locator("#browse-compare-target").click()
        page.get_by_role("option", name=re.compile(r"^2024-08-15 · sentinel2-demo")).click()
        page.wait_for_function("() => /[?&]compare=sentinel2-demo(%40|@)2024-08-15/.test(location.search)")
        settle(page, comparing=True)
        assert query(page)["compare"] == ["sentinel2-demo@2024-08-15"] and query(page)["swipe"] == ["0.5"]
        times = page.evaluate("() => [...document.querySelectorAll('.leaflet-browse-compare-pane img')]"
                              ".map(i => new URL(i.src).searchParams.get('TIME'))")
        assert set(times) == {"2024-08-15"}  # the collection's layer on /wms, that day
        link, comparing = page.evaluate("location.href"), picture(page)
        shown_alone_right = strip(alone(chromium, base, f"?{view}&image={S2}&style=true-color"), .55, .85)
        assert changed_share(strip(comparing, .55, .85), shown_alone_right) > 0.1  # clouds of 15 August

    with browser_page(chromium, base) as page:
        page.goto(link, wait_until="networkidle")
        settle(page, comparing=True)
        assert page.evaluate("location.href") == link
        assert changed_share(picture(page), comparing) < 0.02
        page.locator("#browse-compare summary").click()
        assert "2024-08-15" in page.locator("#browse-compare-target").inner_text()

        page.get_by_role("button", name="Stop comparing").click()
        page.wait_for_function("() => !/[?&]compare=/.test(location.search)")
        page.wait_for_timeout(500)
        assert page.locator(".leaflet-browse-compare-pane img").count() == 0
        assert page.evaluate("() => document.querySelector('.leaflet-browse-imagery-pane').style.clipPath") == ""
        assert page.locator(".compare-divider").is_hidden()
        settle(page, comparing=False)
        assert changed_share(strip(picture(page), .1, .85),
                             strip(alone(chromium, base, f"?{view}&image={S2}&style=true-color"), .1, .85)) < 0.02


# ---------------------------------------------------------------- measuring

def coordinates_at(page, x: float, y: float) -> tuple[float, float]:
    """(lon, lat) under the pointer, as the page's coordinate readout shows it."""
    page.mouse.move(x, y)
    text = page.locator("#browse-coords").inner_text().strip()
    shown = re.fullmatch(r"([\d.]+)° ([NS])\s+([\d.]+)° ([EW])", text)
    assert shown, text
    lat = float(shown[1]) * (1 if shown[2] == "N" else -1)
    return float(shown[3]) * (1 if shown[4] == "E" else -1), lat


def metres(text: str) -> float:
    """The first figure with a unit in a result ("12.346 km (12 346 m)", "850.2 m", "3.2 ha")."""
    found = re.search(r"(\d[\d ,.]*?)\s*(km²|m²|ha|km|m)(?![a-zA-Z])", text.replace("\u2009", ""))
    assert found, text
    factor = {"m": 1, "km": 1000, "m²": 1, "ha": 1e4, "km²": 1e6}[found[2]]
    return float(found[1].replace(" ", "").replace(",", "")) * factor


def test_measuring_a_line_and_an_area_agrees_with_the_geodesic(ui_page, demo_server):
    base = demo_server[0]
    page = ui_page
    page.goto(base + "/?lat=45.77&lon=13.59&zoom=11&detections=off", wait_until="networkidle")
    page.wait_for_selector(".leaflet-control-measure")
    box = page.locator("#browse-map").bounding_box()
    clicks = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
              for fx, fy in ((.55, .3), (.85, .6), (.5, .8))]
    points = [coordinates_at(page, x, y) for x, y in clicks]

    page.locator(".leaflet-control-measure").hover()  # it opens under the pointer
    page.get_by_text("Create a new measurement").click()
    for x, y in clicks[:2]:
        page.mouse.move(x, y, steps=4)
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
    results = page.locator(".leaflet-control-measure .results")
    text = results.inner_text()
    geod = Geod(ellps="WGS84")
    (lon1, lat1), (lon2, lat2) = points[:2]
    expected = geod.inv(lon1, lat1, lon2, lat2)[2]
    shown = metres(text.split("distance", 1)[1])
    assert abs(shown - expected) / expected < 0.01, (text, expected)
    assert "km" in text and " m)" in text  # metric: km, with the metres

    page.mouse.move(*clicks[2], steps=4)
    page.mouse.click(*clicks[2])
    page.wait_for_timeout(300)
    text = results.inner_text()
    lons, lats = zip(*points)
    area = abs(geod.polygon_area_perimeter(lons, lats)[0])
    shown = metres(text.split("Area", 1)[1])
    assert abs(shown - area) / area < 0.01, (text, area)
    assert re.search(r"km²|ha", text)
