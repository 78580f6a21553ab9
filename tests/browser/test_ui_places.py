"""The map's search box and place names, in Debian's chromium on the demo data: a user types a
town, coordinates or an image id and the map goes there (or the image opens); Place names draws
the app's own labels over the imagery, and takes them away again."""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np
import pygeodesy
import pytest

from helpers import changed_share, map_pixels, open_browse, query

SEARCH = "#browse-place-search"
SUGGESTIONS = "#browse-place-suggestions .place-suggestion"
TRIESTE_VIEW = "?lat=45.70000&lon=13.60000&zoom=9"
IMAGERY_TILES = ("() => { const tiles = document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile');"
                 " return tiles.length > 0 && [...tiles].every(t => t.complete && t.naturalWidth > 0); }")
LABEL_TILES = ("() => { const tiles = document.querySelectorAll('.leaflet-browse-labels-pane img.leaflet-tile');"
               " return tiles.length > 0 && [...tiles].every(t => t.complete && t.naturalWidth > 0); }")


def type_into_search(page, text: str) -> list[str]:
    """Type as a user does, and the suggestions' texts once they are in."""
    page.locator(SEARCH).click()
    page.locator(SEARCH).fill("")
    page.locator(SEARCH).press_sequentially(text, delay=30)
    page.wait_for_selector("#browse-place-suggestions.open")
    return page.locator("#browse-place-suggestions li").all_inner_texts()


def centre_reaches(page, lat: float, lon: float, tolerance: float = 0.01, zoom: float | None = None) -> None:
    """Until the map's centre (and zoom), as the address bar says it, is at lat, lon (the flight is over)."""
    page.wait_for_function(
        "([lat, lon, tol, zoom]) => { const q = new URLSearchParams(location.search);"
        " return Math.abs(Number(q.get('lat')) - lat) < tol && Math.abs(Number(q.get('lon')) - lon) < tol"
        " && (zoom === null || Number(q.get('zoom')) === zoom); }",
        arg=[lat, lon, tolerance, zoom], timeout=15_000)


def test_a_town_typed_and_picked_with_the_keyboard_moves_the_map_there(ui_page, demo_server):
    open_browse(ui_page, demo_server[0], TRIESTE_VIEW)
    shown = type_into_search(ui_page, "paris")
    assert shown[0].endswith("Paris, France") and shown[1].endswith("Paris, United States")
    assert ui_page.locator(SUGGESTIONS).first.get_attribute("class").endswith("active")
    ui_page.keyboard.press("ArrowDown")  # the second: Paris, Texas
    assert "active" in ui_page.locator(SUGGESTIONS).nth(1).get_attribute("class")
    assert ui_page.get_by_role("combobox").get_attribute("aria-activedescendant") == \
        ui_page.get_by_role("option", selected=True).get_attribute("id"), "a screen reader hears the one chosen"
    ui_page.keyboard.press("Enter")
    centre_reaches(ui_page, 33.66, -95.56, tolerance=0.02, zoom=11)
    assert not ui_page.locator("#browse-place-suggestions").is_visible(), "the list closes on a choice"
    assert ui_page.locator(SEARCH).input_value() == "Paris, United States", "the box names what the map shows"

    type_into_search(ui_page, "Zürich")
    ui_page.keyboard.press("Escape")
    assert not ui_page.locator("#browse-place-suggestions").is_visible(), "Esc closes the list"
    ui_page.keyboard.press("ArrowDown")
    ui_page.keyboard.press("Enter")  # nothing chosen: the list was closed
    centre_reaches(ui_page, 33.66, -95.56, tolerance=0.02)

    type_into_search(ui_page, "munchen")  # no umlaut: found all the same, and picked by a click
    ui_page.locator(SUGGESTIONS, has_text="Munich, Germany").click()
    centre_reaches(ui_page, 48.137, 11.575)


@pytest.mark.parametrize("notation", ["mgrs", "mgrs-spaced", "dms"])
def test_coordinates_typed_move_the_map_there_with_a_marker(ui_page, demo_server, notation):
    lat, lon = 46.5, 14.25
    mgrs = str(pygeodesy.toMgrs(pygeodesy.toUtm8(lat, lon)))  # 33T VM 42451 49876
    typed = {"mgrs": mgrs.replace(" ", ""), "mgrs-spaced": mgrs, "dms": "46°30'00\"N 14°15'00\"E"}[notation]
    open_browse(ui_page, demo_server[0], TRIESTE_VIEW)
    shown = type_into_search(ui_page, typed)
    kind, label = shown[0].split("\n")
    assert kind.lower() == "coordinates"
    assert [float(v) for v in label.split(",")] == pytest.approx([lat, lon], abs=1e-4)
    ui_page.keyboard.press("Enter")
    centre_reaches(ui_page, lat, lon, tolerance=0.001, zoom=14)
    marker = ui_page.locator(".leaflet-marker-pane path.place-marker, .leaflet-overlay-pane path.place-marker")
    assert marker.count() == 1, "a marker where the coordinates are"


def test_coordinates_out_of_range_say_so_in_the_list(ui_page, demo_server):
    open_browse(ui_page, demo_server[0], TRIESTE_VIEW)
    shown = type_into_search(ui_page, "95, 10")
    assert len(shown) == 1 and "latitude 95° is out of range" in shown[0]
    ui_page.keyboard.press("Enter")
    centre_reaches(ui_page, 45.7, 13.6)  # the map stays


def test_an_image_id_opens_the_image_as_its_result_does(ui_page, demo_server):
    base = demo_server[0]
    tiles: list[str] = []
    ui_page.on("request", lambda r: "aerial_port_20240618" in r.url and "/wms" in urlsplit(r.url).path
               and tiles.append(r.url))
    open_browse(ui_page, base, TRIESTE_VIEW)
    shown = type_into_search(ui_page, "aerial_port")
    assert shown[0].lower().startswith("image") and "aerial_port_20240618" in shown[0]
    ui_page.keyboard.press("Enter")
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('image') === 'aerial_port_20240618'")
    ui_page.wait_for_function(IMAGERY_TILES, timeout=30_000)
    assert tiles, "the image's layer is drawn"
    assert ui_page.locator(".browse-tab--selected").inner_text() == "Visualize"
    lat, lon = float(query(ui_page)["lat"][0]), float(query(ui_page)["lon"][0])
    assert 45.747 < lat < 45.767 and 13.558 < lon < 13.586, "the map on the image"


def test_place_names_are_drawn_over_the_imagery_and_taken_away(ui_page, demo_server):
    base = demo_server[0]
    labels: list[tuple[int, str]] = []
    ui_page.on("response", lambda r: urlsplit(r.url).path.startswith("/ui/basemap/labels/")
               and labels.append((r.status, r.headers.get("content-type"))))
    # the demo's Sentinel-2 image over the Gulf of Trieste: Monfalcone lies on it
    open_browse(ui_page, base, "?lat=45.77000&lon=13.58000&zoom=11&image=S2_demo_20240601")
    ui_page.wait_for_function(IMAGERY_TILES, timeout=30_000)
    ui_page.wait_for_timeout(500)
    before = map_pixels(ui_page)

    ui_page.get_by_label("Place names").check()
    ui_page.wait_for_function(LABEL_TILES, timeout=30_000)
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('labels') === '1'")
    ui_page.wait_for_timeout(500)  # tiles fade in
    assert labels and all(status == 200 and kind == "image/png" for status, kind in labels)
    assert ui_page.get_by_text("Place names © GeoNames (CC BY 4.0)").is_visible()
    after = map_pixels(ui_page)
    changed = np.abs(after - before).sum(axis=2) > 60
    ink, halo = after.max(axis=2) < 70, after.min(axis=2) > 220
    assert (changed & ink).sum() > 20 and (changed & halo).sum() > 50, "dark names in a white halo, over the image"
    assert 0.0005 < changed_share(before, after) < 0.1, "a few names, not a veil over the image"

    link = ui_page.evaluate("location.href")
    ui_page.get_by_label("Place names").uncheck()
    ui_page.wait_for_function("() => !new URLSearchParams(location.search).has('labels')")
    ui_page.wait_for_timeout(300)
    assert ui_page.locator(".leaflet-browse-labels-pane img.leaflet-tile").count() == 0
    assert changed_share(before, map_pixels(ui_page)) < 0.0005, "the names are gone"

    labels.clear()
    open_browse(ui_page, base, "?" + urlsplit(link).query)  # the link brings them back
    ui_page.wait_for_function(LABEL_TILES, timeout=30_000)
    assert ui_page.get_by_label("Place names").is_checked() and labels
    assert np.isfinite(map_pixels(ui_page)).all()
