"""The Browse page, used as a user would: in Debian's chromium, on the demo data set.

Expected values come from the REST API asked the same question (never hard-coded counts), and
"the image is on the map" is checked in the map's pixels against the basemap alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pyproj import Transformer

from cogbrowser.ui.map_state import BrowseState, OverlayFilters, SearchFilters, View, Visualization
from cogbrowser.ui.visualization import legend_url, wms_layer
from helpers import (
    api,
    browser_page,
    changed_share,
    make_mbtiles,
    map_pixels,
    open_browse,
    open_tab_of_shown_image,
    query,
    wait_for_imagery,
)

S2 = "S2_demo_20240601"
OUTLINES = ".leaflet-browse-outlines-pane path"
BOXES = ".leaflet-browse-detections-pane path"
# ---------------------------------------------------------------- helpers

def open_tab(page, name: str) -> None:
    page.locator(".browse-tab", has_text=name).click()


def view_of(page) -> tuple[float, float, float]:
    page.wait_for_function("() => /[?&]zoom=/.test(location.search)")
    values = query(page)
    return float(values["lat"][0]), float(values["lon"][0]), float(values["zoom"][0])


# ---------------------------------------------------------------- the state in the URL (no browser)

def test_state_round_trips_through_the_query_string():
    state = BrowseState(
        view=View(45.77, 13.59, 13), image=S2,
        visualization=Visualization(bands=("B08", "B04", "B03"), rescale=((0, 3000), (0, 2500), (10, 2000)), gamma=1.2),
        opacity=0.6, search=SearchFilters(start="2024-04-01", end="2024-06-30", max_cloud=30,
                                          collections=("sentinel2-demo",), targets=("ship",), in_view=True,
                                          aoi={"type": "Polygon",
                                               "coordinates": [[[13, 45], [14, 45], [14, 46], [13, 45]]]}),
        overlay=OverlayFilters(show=True, classes=("ship",), names=("Adria, Spirit",), min_score=0.5), detection=7)
    text = state.query_string()
    assert BrowseState.from_query_string(text) == state
    assert text.count("rescale=") == 3 and "det_name=Adria,%20Spirit" in text
    # a hand-edited link opens with what can be read, and nothing else
    broken = BrowseState.from_query_string("?lat=north&lon=13&zoom=5&cloud=300&det_score=2&detection=x&image=I")
    assert broken.view is None and broken.search.max_cloud is None and broken.overlay.min_score is None
    assert broken.detection is None and broken.image == "I"


def test_layer_and_legend_send_the_same_render_parameters():
    vis = Visualization(style="ndvi", rescale=((-0.2, 0.9),), gain=1.5, colormap="viridis")
    layer = wms_layer(S2, vis, 0.8)
    legend = parse_qs(urlsplit(legend_url(S2, vis)).query)
    tiles = parse_qs(urlsplit(layer.url).query)
    assert layer.styles == legend["STYLE"][0] == "ndvi" and layer.layers == legend["LAYER"][0] == S2
    assert {k: v for k, v in legend.items() if k.islower()} == tiles == {
        "rescale": ["-0.2,0.9"], "gain": ["1.5"], "colormap": ["viridis"]}
    assert wms_layer(S2, vis, 0.3).id == layer.id != wms_layer(S2, Visualization(style="ndvi"), 0.8).id


def test_the_controls_make_a_short_link_and_refuse_what_cannot_be_drawn():
    from cogbrowser.ui.visualization import stretch_problem, visualization_from_controls

    info = {"image": {"id": S2, "bands": [{"name": n} for n in ("B02", "B03", "B04", "B08")]},
            "collection": {"presets": [{"name": "ndvi", "expression": "(B08-B04)/(B08+B04)", "rescale": [[-1, 1]],
                                        "colormap": "rdylgn"}]}}
    source = {"params": {"style": "ndvi"}, "outputs": ["ndvi"], "defaults": [(-1.0, 1.0)]}
    as_preset = visualization_from_controls(source, [(-1, 1), (None, None), (None, None)], 1, None, "rdylgn", info)
    assert as_preset.render_params() == [("style", "ndvi")]  # the preset's own values are not repeated
    changed = visualization_from_controls(source, [(None, 0.8), (None, None), (None, None)], 2, None, "viridis", info)
    assert changed.render_params() == [("style", "ndvi"), ("rescale", "-1,0.8"), ("gain", "2"), ("colormap", "viridis")]
    composite = {"params": {"bands": "B08,B04,B03"}, "outputs": ["B08", "B04", "B03"], "defaults": [(0, 1)] * 3}
    assert visualization_from_controls(composite, [(0, 3000)] * 3, None, 1.2, "viridis", info).render_params() == [
        ("bands", "B08,B04,B03"), ("rescale", "0,3000"), ("gamma", "1.2")]  # no colour map on RGB
    assert "below the maximum" in stretch_problem([(5, 1)], 1, [(0, 1)], None, None)
    assert "Gain" in stretch_problem([(None, None)], 1, [(0, 1)], 500, None)
    assert stretch_problem([(None, None)], 1, [(0, 1)], 2, 0.5) is None


# ---------------------------------------------------------------- search

def test_dates_narrow_the_results_as_the_api_does(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base)
    ui_page.wait_for_selector(".result")
    everything = [i["id"] for i in api(base, "/api/v1/images", limit=50)["images"]]
    assert ui_page.locator(".result .title").all_inner_texts() == everything

    end = ui_page.locator(".dash-datepicker-end-date")
    ui_page.fill("#browse-dates", "2024-04-01")
    ui_page.keyboard.press("Enter")
    end.fill("2024-05-31")
    end.press("Enter")
    expected = [i["id"] for i in api(base, "/api/v1/images", limit=50,
                                     datetime="2024-04-01T00:00:00Z/2024-05-31T23:59:59Z")["images"]]
    assert 0 < len(expected) < len(everything)
    ui_page.wait_for_function("n => document.querySelectorAll('.result').length === n", arg=len(expected))
    assert ui_page.locator(".result .title").all_inner_texts() == expected
    assert query(ui_page)["from"] == ["2024-04-01"] and query(ui_page)["to"] == ["2024-05-31"]


def test_filters_from_a_link_and_the_empty_state(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, "?cloud=10&target=aircraft&collection=sentinel2-demo")
    expected = [i["id"] for i in api(base, "/api/v1/images", limit=50, max_cloud_cover=10, detection_class="aircraft",
                                     collections="sentinel2-demo")["images"]]
    assert expected
    ui_page.wait_for_function("n => document.querySelectorAll('.result').length === n", arg=len(expected))
    assert ui_page.locator(".result .title").all_inner_texts() == expected

    open_browse(ui_page, base, "?from=2031-01-01&cloud=10")
    message = ui_page.locator("#browse-result-list .message.empty")
    message.wait_for()
    everything = api(base, "/api/v1/images", limit=1, count="true", max_cloud_cover=10)["matched"]
    assert message.inner_text() == (f"No images acquired between the dates chosen; {everything} match without that "
                                    "filter: widen the dates.")


def test_an_uploaded_area_keeps_the_images_it_touches(ui_page, demo_server, tmp_path):
    base = demo_server[0]
    west, south, east, north = 13.75, 45.70, 13.84, 45.85  # east of the Sentinel-2 scenes: only the DEM
    area = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}
    path = tmp_path / "port.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": area}]}))
    expected = [i["id"] for i in api(base, "/api/v1/images", limit=50, intersects=json.dumps(area))["images"]]
    assert expected == ["dem_demo_30m"]
    open_browse(ui_page, base)
    ui_page.wait_for_selector(".result")
    ui_page.locator("#browse-aoi-upload input[type=file]").set_input_files(str(path))
    ui_page.wait_for_function("n => document.querySelectorAll('.result').length === n", arg=len(expected))
    assert ui_page.locator(".result .title").all_inner_texts() == expected
    assert "Area: a polygon" in ui_page.locator("#browse-aoi-message").inner_text()
    assert json.loads(query(ui_page)["aoi"][0])["type"] == "Polygon"

    ui_page.get_by_role("button", name="Clear area").click()
    ui_page.wait_for_function("() => !/[?&]aoi=/.test(location.search)")
    ui_page.wait_for_function("n => document.querySelectorAll('.result').length === n",
                              arg=len(api(base, "/api/v1/images", limit=50)["images"]))


def test_a_kmz_from_google_earth_is_an_area_the_map_flies_to_and_a_gpx_is_refused(ui_page, demo_server, tmp_path):
    import zipfile

    import numpy as np
    import shapely
    from pyogrio import raw

    base = demo_server[0]
    west, south, east, north = 13.75, 45.70, 13.84, 45.85  # east of the Sentinel-2 scenes: only the DEM
    polygon = shapely.box(west, south, east, north)
    kml = tmp_path / "port.kml"
    raw.write(str(kml), np.array([shapely.to_wkb(polygon)], dtype=object), field_data=[], fields=[], driver="KML",
              geometry_type="Polygon", crs="EPSG:4326")
    kmz = tmp_path / "port.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.writestr("doc.kml", kml.read_bytes())
    open_browse(ui_page, base, "?lat=10&lon=-40&zoom=3")  # far from the area
    ui_page.wait_for_selector(".result")
    ui_page.locator("#browse-aoi-upload input[type=file]").set_input_files(str(kmz))
    ui_page.wait_for_function("() => document.querySelectorAll('.result').length === 1")
    assert ui_page.locator(".result .title").all_inner_texts() == ["dem_demo_30m"]
    assert "Area: a polygon with 4 vertices (port.kmz)" in ui_page.locator("#browse-aoi-message").inner_text()
    ui_page.wait_for_function("() => Number(new URLSearchParams(location.search).get('zoom')) >= 10")
    lat, lon, _ = view_of(ui_page)
    assert west <= lon <= east and south <= lat <= north, "the map flew to the area"

    gpx = tmp_path / "track.gpx"
    gpx.write_text("<gpx></gpx>")
    ui_page.locator("#browse-aoi-upload input[type=file]").set_input_files(str(gpx))
    error = ui_page.locator("#browse-aoi-message .message.error")
    error.wait_for()
    assert error.inner_text().startswith("track.gpx: ") and "KML (.kml), KMZ (.kmz)" in error.inner_text()
    assert ui_page.locator(".result .title").all_inner_texts() == ["dem_demo_30m"], "the area stays"

    handwritten = tmp_path / "field.kml"  # a Placemark as a person writes it: no Document, no Folder
    ring = " ".join(f"{x},{y}" for x, y in polygon.exterior.coords)
    handwritten.write_text('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
                           "<Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>" + ring +
                           "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></kml>")
    ui_page.locator("#browse-aoi-upload input[type=file]").set_input_files(str(handwritten))
    ui_page.wait_for_function("() => document.querySelector('#browse-aoi-message').innerText.includes('field.kml')")
    assert "Area: a polygon with 4 vertices (field.kml)" in ui_page.locator("#browse-aoi-message").inner_text()
    assert ui_page.locator(".result .title").all_inner_texts() == ["dem_demo_30m"]


def test_a_drawn_area_and_the_view_filter_the_results(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, "?lat=45.77&lon=13.79&zoom=14")  # east of the Sentinel-2 scenes, on the DEM
    ui_page.wait_for_selector(".result")
    ui_page.locator(".leaflet-draw-draw-rectangle").click()
    box = ui_page.locator("#browse-map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    ui_page.mouse.move(x, y)
    ui_page.mouse.down()
    ui_page.mouse.move(x + 80, y + 60, steps=8)
    ui_page.mouse.up()
    ui_page.wait_for_function("() => /[?&]aoi=/.test(location.search)")
    area = query(ui_page)["aoi"][0]
    expected = [i["id"] for i in api(base, "/api/v1/images", limit=50, intersects=area)["images"]]
    assert expected == ["dem_demo_30m"]
    ui_page.wait_for_function("n => document.querySelectorAll('.result').length === n", arg=len(expected))
    assert ui_page.locator(f"{OUTLINES}[stroke='#7a3db8']").count() == 1  # one outline of the area (a result's beside)
    assert ui_page.locator(".leaflet-overlay-pane path").count() == 0  # the drawing tool let go of it

    ui_page.get_by_role("button", name="Clear area").click()
    ui_page.wait_for_function("() => document.querySelectorAll('.result').length > 1")
    ui_page.locator("#browse-inview").get_by_text("Only images in the current map view").click()
    ui_page.wait_for_function("() => /[?&]inview=1/.test(location.search)")
    ui_page.wait_for_function("() => document.querySelectorAll('.result').length === 1")
    assert ui_page.locator(".result .title").all_inner_texts() == ["dem_demo_30m"]
    ui_page.get_by_role("button", name="Zoom to data").click()  # out to all the results: the view holds them all
    ui_page.wait_for_function("() => document.querySelectorAll('.result').length > 1")


def test_hovering_a_result_outlines_its_footprint(ui_page, demo_server):
    open_browse(ui_page, demo_server[0])
    outlines = ui_page.locator(OUTLINES)
    ui_page.wait_for_selector(".result")
    before = outlines.count()
    ui_page.locator(".result", has_text="aerial_port_20240618").hover()
    ui_page.wait_for_function(f"() => document.querySelectorAll('{OUTLINES}').length > {before}")
    ui_page.mouse.move(5, 400)  # off the list
    ui_page.wait_for_function(f"() => document.querySelectorAll('{OUTLINES}').length === {before}")


# ---------------------------------------------------------------- the image on the map

def test_a_clicked_result_is_drawn_and_a_preset_redraws_it(chromium, demo_server):
    base = demo_server[0]
    with browser_page(chromium, base) as page:
        answers = []
        page.on("response", lambda r: "/wms" in r.url and "GetMap" in r.url and answers.append((r.url, r.status)))
        open_browse(page, base, "?detections=off")
        page.locator(".result", has_text=S2).click()
        wait_for_imagery(page)
        assert answers and all(status == 200 for _, status in answers)
        assert all(f"layers={S2}" in url and "styles=true-color" in url for url, _ in answers)
        lat, lon, zoom = view_of(page)
        image = api(base, f"/api/v1/images/{S2}")
        assert image["bbox"][0] < lon < image["bbox"][2] and image["bbox"][1] < lat < image["bbox"][3]
        true_colour = map_pixels(page)
        # the image goes into the address first, its style when the style's panel has answered
        page.wait_for_function("() => /[?&]style=/.test(location.search)")
        assert query(page)["image"] == [S2] and query(page)["style"] == ["true-color"]
        open_tab(page, "Search")
        assert "selected" in page.locator(".result", has_text=S2).get_attribute("class")

        answers.clear()
        open_tab(page, "Visualize")
        page.locator("#browse-style label", has_text="NDVI").click()
        page.wait_for_function("() => /[?&]style=ndvi/.test(location.search)")
        wait_for_imagery(page)
        assert answers and all("styles=ndvi" in url and status == 200 for url, status in answers)
        ndvi = map_pixels(page)
        legend = page.locator("#browse-legend img")
        assert "GetLegendGraphic" in legend.get_attribute("src") and "STYLE=ndvi" in legend.get_attribute("src")
        page.wait_for_function("() => document.querySelector('#browse-legend img').naturalWidth > 0")

    with browser_page(chromium, base) as page:  # the same view without the image: the basemap alone
        open_browse(page, base, f"?lat={lat}&lon={lon}&zoom={zoom}&detections=off")
        page.wait_for_timeout(1500)
        basemap = map_pixels(page)
    assert changed_share(true_colour, basemap) > 0.5, "the image is not on the map"
    assert changed_share(ndvi, true_colour) > 0.5, "NDVI looks like true colour"


def test_a_custom_composite_and_a_bad_expression(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, f"?image={S2}&detections=off")
    wait_for_imagery(ui_page)
    before = map_pixels(ui_page)
    open_tab(ui_page, "Visualize")
    ui_page.locator("#browse-style label", has_text="Custom composite").click()
    ui_page.locator("#browse-band-r").click()
    ui_page.get_by_role("option", name=re.compile(r"^B08")).click()
    ui_page.wait_for_function("() => /[?&]bands=B08%2CB03%2CB02|[?&]bands=B08,B03,B02/.test(location.search)")
    wait_for_imagery(ui_page)
    assert changed_share(map_pixels(ui_page), before) > 0.3

    ui_page.locator("#browse-style label", has_text="Index / band math").click()
    ui_page.fill("#browse-expression", "(B08-B04)/(B08+nonsense)")
    ui_page.press("#browse-expression", "Enter")
    error = ui_page.locator(".source-error")
    error.wait_for()
    assert "nonsense" in error.inner_text()
    link = ui_page.evaluate("location.href")
    assert "nonsense" not in unquote(link)  # the link keeps the last look that could be drawn

    ui_page.fill("#browse-expression", "B08/B04")
    ui_page.press("#browse-expression", "Enter")
    ui_page.wait_for_function("() => /[?&]expression=B08/.test(location.search)")
    assert ui_page.locator(".source-error").count() == 0


def test_clicking_the_map_reads_the_pixel_as_the_api_does(ui_page, demo_server):
    base = demo_server[0]
    image = api(base, f"/api/v1/images/{S2}")
    a, b, c, d, e, f = image["transform"][:6]
    row, col = 1200, 700
    x, y = c + a * (col + 0.5) + b * (row + 0.5), f + d * (col + 0.5) + e * (row + 0.5)
    lon, lat = Transformer.from_crs(image["epsg"], 4326, always_xy=True).transform(x, y)
    open_browse(ui_page, base, f"?lat={lat:.7f}&lon={lon:.7f}&zoom=17&image={S2}&style=ndvi&detections=off")
    wait_for_imagery(ui_page)
    box = ui_page.locator("#browse-map").bounding_box()
    ui_page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    card = ui_page.locator("#browse-inspect")
    card.locator(".pixel-values").wait_for()
    expected = api(base, f"/api/v1/images/{S2}/point", lon=f"{lon:.7f}", lat=f"{lat:.7f}",
                   expression="(B08-B04)/(B08+B04)")
    assert (expected["row"], expected["col"]) == (row, col)
    text = card.inner_text()
    assert f"row {row}, column {col}" in text
    shown = dict(re.findall(r"^(B0\d)\s+\w+\s+(\d+)$", text, flags=re.M))
    assert shown == {name: str(value) for name, value in zip(expected["bands"], expected["values"])}
    assert f"{expected['expressions'][0]['value']:.6g}" in text
    assert "EPSG:32633" in text and "Acquired" in text  # the image's metadata


def test_a_page_opened_without_state_opens_on_the_newest_clear_image(ui_page, demo_server):
    base = demo_server[0]
    images = api(base, "/api/v1/images", limit=100)["images"]  # newest first
    clear = next(image for image in images if image["cloud_cover"] is not None and image["cloud_cover"] <= 20)
    assert images[0]["id"] != clear["id"], "the demo's newest image is cloudy: the choice is tested"
    before = ui_page.goto(base + "/", wait_until="networkidle")
    assert before and before.ok
    wait_for_imagery(ui_page)
    assert query(ui_page)["image"] == [clear["id"]]
    lat, lon, zoom = view_of(ui_page)
    west, south, east, north = clear["bbox"]
    assert west <= lon <= east and south <= lat <= north and zoom >= 9, "the map is on the image"
    assert ui_page.locator(".browse-tab--selected").inner_text() == "Search", "the results stay in sight"
    selected = '.result.selected[data-image="{}"]'.format(clear["id"])
    assert ui_page.locator(selected).count() == 1, "its result is marked"
    drawn = ui_page.evaluate("""() => [...new Set([...document.querySelectorAll(
        '.leaflet-browse-imagery-pane img.leaflet-tile')].map(t => new URL(t.src).searchParams.get('layers')))]""")
    assert drawn == [clear["id"]]


# ---------------------------------------------------------------- detections

def test_a_detection_link_opens_its_image_zoomed_and_highlighted(ui_page, demo_server):
    base = demo_server[0]
    detection = api(base, "/api/v1/detections", classes="ship", image_ids="aerial_port_20240618",
                    limit=1)["detections"][0]
    open_browse(ui_page, base, f"?detection={detection['id']}")
    wait_for_imagery(ui_page)
    lat, lon, zoom = view_of(ui_page)
    west, south, east, north = detection["bbox"]
    assert west <= lon <= east and south <= lat <= north and zoom >= 15
    assert query(ui_page)["image"] == [detection["image_id"]] and query(ui_page)["detection"] == [str(detection["id"])]
    popup = ui_page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "ship" in popup.inner_text() and detection["target_name"] in popup.inner_text()
    assert ui_page.locator(BOXES + ".detection.selected").count() == 1
    legend = ui_page.locator("#browse-det-legend").inner_text()
    counts = api(base, "/api/v1/detections/counts", by="class", image_ids=detection["image_id"])["counts"]
    for row in counts:
        assert re.search(rf"{row['key']}\s+{row['count']:,}", legend)


def test_detection_filters_draw_what_the_api_selects(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, f"?image={S2}&det_class=ship&det_score=0.8")
    selected = api(base, "/api/v1/detections", image_ids=S2, classes="ship", min_score=0.8, limit=10000)["count"]
    total = api(base, f"/api/v1/images/{S2}")["detection_count"]
    assert 0 < selected < total
    open_tab_of_shown_image(ui_page, "Detections")
    ui_page.locator(".det-summary").wait_for()
    assert f"{selected:,} of {total:,} detections drawn" in ui_page.locator(".det-summary").inner_text()
    ui_page.wait_for_function(f"() => document.querySelectorAll('{BOXES}').length === {selected}")
    assert "ship" in ui_page.locator("#browse-det-legend").inner_text()
    assert "building" not in ui_page.locator("#browse-det-legend").inner_text()


# ---------------------------------------------------------------- the URL holds the view

def test_a_link_reopens_the_same_view(chromium, demo_server):
    base = demo_server[0]
    start = (f"?image={S2}&expression=(B08-B03)/(B08%2BB03)&rescale=-0.5,0.8&colormap=viridis&opacity=0.7"
             "&from=2024-05-01&cloud=40&det_class=ship")
    with browser_page(chromium, base) as page:
        open_browse(page, base, start)
        wait_for_imagery(page)
        view_of(page)
        page.wait_for_timeout(500)
        link = page.evaluate("location.href")
        first = map_pixels(page)
        open_tab(page, "Search")
        page.wait_for_selector(".result")
        results = page.locator(".result .title").all_inner_texts()
    assert results == [i["id"] for i in api(base, "/api/v1/images", limit=50, max_cloud_cover=40,
                                            datetime="2024-05-01T00:00:00Z/..")["images"]]
    state = BrowseState.from_query_string(urlsplit(link).query)
    assert state.visualization == Visualization(expression="(B08-B03)/(B08+B03)", rescale=((-0.5, 0.8),),
                                                colormap="viridis")
    assert state.opacity == 0.7 and state.search.start == "2024-05-01" and state.overlay.classes == ("ship",)
    with browser_page(chromium, base) as page:
        page.goto(link, wait_until="networkidle")
        wait_for_imagery(page)
        page.wait_for_timeout(500)
        assert page.evaluate("location.href") == link
        assert changed_share(map_pixels(page), first) < 0.02
        assert page.locator("#browse-expression").input_value() == "(B08-B03)/(B08+B03)"
        open_tab(page, "Search")
        page.wait_for_selector(".result")
        assert page.locator(".result .title").all_inner_texts() == results


# ---------------------------------------------------------------- the map itself

def basemap_files(page) -> list[str]:
    """The basemap files the page has loaded, from its own resource timing (complete once a file is
    drawn, unlike request events, which may reach the test after the drawing)."""
    return page.evaluate("() => [...new Set(performance.getEntriesByType('resource')"
                         ".map(e => new URL(e.name).pathname).filter(p => p.startsWith('/ui/basemap/')))]")


def test_the_map_is_offline_with_scale_coordinates_and_full_screen(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, "?lat=45&lon=10&zoom=3")
    # Drawn countries (Leaflet leaves those outside the view as an empty "M0 0" path).
    ui_page.wait_for_function("() => [...document.querySelectorAll('.leaflet-browse-basemap-pane path')]"
                              ".some(p => (p.getAttribute('d') || '').length > 20)")
    assert basemap_files(ui_page) == ["/ui/basemap/countries-110m.geojson"]
    assert ui_page.locator(".leaflet-control-scale").count() == 1
    ui_page.locator(".leaflet-control-zoom-fullscreen").click()  # the overlays stay with the map
    ui_page.wait_for_function("() => !!(document.fullscreenElement && "
                             "document.fullscreenElement.querySelector('#browse-coords'))")
    ui_page.locator(".leaflet-control-zoom-fullscreen").click()
    ui_page.wait_for_function("() => !document.fullscreenElement")
    box = ui_page.locator("#browse-map").bounding_box()
    ui_page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    shown = re.fullmatch(r"([\d.]+)° N\s+([\d.]+)° E", ui_page.locator("#browse-coords").inner_text().strip())
    assert shown and abs(float(shown[1]) - 45) < 0.1 and abs(float(shown[2]) - 10) < 0.1
    for zoom in (4, 5):
        ui_page.locator(".leaflet-control-zoom-in").click()
        ui_page.wait_for_function(f"() => /[?&]zoom={zoom}(&|$)/.test(location.search)")
    ui_page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('land-50m'))")
    assert "/ui/basemap/countries-50m.geojson" in basemap_files(ui_page)
    ui_page.get_by_role("button", name="Zoom to data").click()
    lat, lon, zoom = view_of(ui_page)
    ui_page.wait_for_function("() => !/[?&]zoom=5(&|$)/.test(location.search)")
    assert zoom >= 5


def test_the_shipped_basemap_draws_no_band_across_the_map():
    """Rings crossing the antimeridian (Russia, Fiji) continue past 180° instead of jumping back:
    a flat map would draw the jump as a band across the world. Rings round a pole may jump."""
    import cogbrowser.ui.basemap as basemap

    for name in basemap.LAYERS:
        document = json.loads((Path(basemap.__file__).parent / f"{name}.geojson").read_text())
        for feature in document["features"]:
            geometry = feature["geometry"]
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            for ring in (ring for polygon in polygons for ring in polygon):
                jumps = sum(abs(a[0] - b[0]) > 180 for a, b in zip(ring, ring[1:]))
                assert jumps == 0 or (jumps == 1 and abs(ring[0][0] - ring[-1][0]) < 1e-9
                                      and min(p[1] for p in ring) < -60), (name, feature["properties"])


def test_a_users_own_basemap_lies_under_the_borders(tmp_path, settings, db):
    """`cogbrowser serve --basemap FILE`: its tiles (the server's own) under the Natural Earth
    borders, whose countries are then left unfilled (the layers the page gets, in an app context)."""
    from dataclasses import replace

    from cogbrowser.app import create_app
    from cogbrowser.ui.browse_map import basemap_layers

    with create_app(settings, db).app_context():
        shipped = basemap_layers()
    with create_app(replace(settings, basemap=make_mbtiles(tmp_path / "my basemap.mbtiles")), db).app_context():
        own = basemap_layers()
    assert not any(type(layer).__name__ == "TileLayer" for layer in shipped)
    tiles = own[0]
    assert tiles.url == "/ui/basemap/tiles/{z}/{x}/{y}" and tiles.maxNativeZoom == 1 and tiles.attribution
    countries = next(layer for layer in own if getattr(layer, "id", "") == "browse-basemap-group").children[0]
    assert countries.style["fillOpacity"] == 0 and shipped[0].children[0].style["fillOpacity"] == 1


@pytest.mark.parametrize("width, height", [(1280, 800), (1920, 1080)])
def test_panel_and_map_fit_the_screen(chromium, demo_server, width, height):
    base = demo_server[0]
    with browser_page(chromium, base, width, height) as page:
        open_browse(page, base, f"?image={S2}")
        wait_for_imagery(page)
        panel, map_box = page.locator(".browse-panel").bounding_box(), page.locator("#browse-map").bounding_box()
        assert panel["width"] <= 420 and map_box["width"] >= width - 420 - 2
        assert panel["y"] + panel["height"] <= height + 1 and map_box["y"] + map_box["height"] <= height + 1
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_panels_tabs_are_tabs_to_a_screen_reader_and_the_keyboard(ui_page, demo_server):
    open_browse(ui_page, demo_server[0], "?lat=45.7&lon=13.6&zoom=9")  # a view, no image
    tabs = ui_page.get_by_role("tab")
    ui_page.wait_for_function("() => document.querySelectorAll('[role=tab]').length === 4")
    assert [tabs.nth(i).inner_text() for i in range(4)] == ["Search", "Visualize", "Detections", "Views"]
    search = ui_page.get_by_role("tab", name="Search")
    assert search.get_attribute("aria-selected") == "true" and search.get_attribute("tabindex") == "0"
    assert ui_page.get_by_role("tablist").count() == 1 and ui_page.get_by_role("tabpanel").count() == 1
    search.focus()
    ui_page.keyboard.press("ArrowRight")
    visualize = ui_page.get_by_role("tab", name="Visualize")
    ui_page.wait_for_function("() => document.querySelector('[role=tab][aria-selected=true]').textContent"
                              " === 'Visualize'")
    assert visualize.get_attribute("tabindex") == "0" and search.get_attribute("tabindex") == "-1"
    ui_page.get_by_text("No image shown yet").wait_for()  # the Visualize tab's content
    ui_page.keyboard.press("End")
    ui_page.wait_for_function("() => document.querySelector('[role=tab][aria-selected=true]').textContent"
                              " === 'Views'")


def test_no_label_is_cut_off_at_1280_by_800(ui_page, demo_server):
    """Tabs, labels, buttons and chosen values of every tab of the panel, and the map's controls,
    show their whole text at the size of a laptop's screen."""
    open_browse(ui_page, demo_server[0], "?image=S2_demo_20240601&mosaic=least-cloudy")
    ui_page.locator(".leaflet-browse-imagery-pane img.leaflet-tile").first.wait_for()
    shown = ", ".join((".browse-tab", ".browse-panel label", ".browse-panel button",
                       ".browse-panel .dash-dropdown-value-item", ".map-overlay label", ".map-overlay button",
                       ".time-when"))
    cut = f"""() => [...document.querySelectorAll('{shown}')]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.textContent.trim())"""
    for tab in ("Search", "Visualize", "Detections", "Views"):
        ui_page.locator(".browse-tab", has_text=tab).click()
        ui_page.wait_for_timeout(300)
        assert ui_page.evaluate(cut) == [], tab
