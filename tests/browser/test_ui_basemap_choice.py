"""Any image or collection of the catalog as the Browse map's basemap, in Debian's chromium on the
demo data: chosen in the map's chooser, drawn from the app's own XYZ tiles, kept in the link."""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np

from cogbrowser.ui.map_state import BrowseState, View
from helpers import api, changed_share, map_pixels, open_browse, query

BASEMAP_TILES = ".leaflet-browse-basemap-raster-pane img.leaflet-tile"
DRAWN = ("() => { const tiles = [...document.querySelectorAll('" + BASEMAP_TILES + "')];"
         " return tiles.length > 0 && tiles.every(t => t.complete && t.naturalWidth > 0); }")


def choose(page, label: str) -> None:
    page.locator("#browse-basemap-select").click()
    page.get_by_role("option", name=label).click()


def test_a_collection_as_the_basemap_is_drawn_from_its_tiles_and_kept_in_the_link(ui_page, demo_server):
    base = demo_server[0]
    collection = api(base, "/api/v1/collections")["collections"][0]
    west, south, east, north = collection["extent"]["bbox"]
    view = f"?lat={(south + north) / 2:.5f}&lon={(west + east) / 2:.5f}&zoom=11"
    tiles = []
    ui_page.on("response", lambda r: urlsplit(r.url).path.startswith(f"/tiles/{collection['id']}/")
               and tiles.append((r.status, r.headers.get("content-type"))))
    open_browse(ui_page, base, view)
    ui_page.wait_for_timeout(500)
    before = map_pixels(ui_page)
    choose(ui_page, f"{collection['title']} (collection)")
    ui_page.wait_for_function(DRAWN, timeout=30_000)
    ui_page.wait_for_function(f"() => new URLSearchParams(location.search).get('basemap') === '{collection['id']}'")
    assert tiles and all(status == 200 and kind == "image/png" for status, kind in tiles)
    ui_page.wait_for_timeout(500)  # tiles fade in
    after = map_pixels(ui_page)
    assert changed_share(before, after) > 0.3, "the mosaic does not show on the map"
    # the countries are outlines over it now, not a fill hiding it
    assert ui_page.locator(".leaflet-browse-basemap-pane path[fill-opacity='0']").count() > 0

    link = ui_page.evaluate("location.href")
    ui_page.goto("about:blank")
    tiles.clear()
    open_browse(ui_page, base, "?" + urlsplit(link).query)
    ui_page.wait_for_function(DRAWN, timeout=30_000)
    assert tiles and ui_page.locator("#browse-basemap-select").inner_text().startswith(collection["title"])
    ui_page.wait_for_timeout(500)
    assert changed_share(after, map_pixels(ui_page)) < 0.05, "the link does not reopen the same map"

    choose(ui_page, "Natural Earth (shipped)")
    ui_page.wait_for_function("() => !new URLSearchParams(location.search).has('basemap')")
    assert ui_page.locator(BASEMAP_TILES).count() == 0
    assert "basemap" not in query(ui_page)


def test_an_image_of_the_catalog_as_the_basemap(ui_page, demo_server):
    base = demo_server[0]
    image = api(base, "/api/v1/images", sortby="acquired_at", limit=1)["images"][0]
    west, south, east, north = image["bbox"]
    view = View(lat=(south + north) / 2, lon=(west + east) / 2, zoom=13)
    open_browse(ui_page, base, BrowseState(view=view, basemap=image["id"]).query_string())
    ui_page.wait_for_function(DRAWN, timeout=30_000)
    assert ui_page.locator("#browse-basemap-select").inner_text().startswith(image["id"])
    assert query(ui_page)["basemap"] == [image["id"]]
    ui_page.wait_for_timeout(500)  # tiles fade in
    assert np.std(map_pixels(ui_page)) > 5, "the image drawn as the basemap is flat"


def test_a_link_to_a_basemap_the_catalog_lacks_says_so_and_keeps_natural_earth(ui_page, demo_server):
    base = demo_server[0]
    open_browse(ui_page, base, BrowseState(basemap="no-such-layer").query_string())
    message = ui_page.locator(".basemap-choice .message.error")
    message.wait_for(timeout=15_000)
    assert "no-such-layer" in message.inner_text()
    assert ui_page.locator(BASEMAP_TILES).count() == 0
    ui_page.wait_for_function("() => !new URLSearchParams(location.search).has('basemap')")


def test_the_basemap_round_trips_through_the_url():
    state = BrowseState(basemap="sentinel2-demo")
    assert "basemap=sentinel2-demo" in state.query_string()
    assert BrowseState.from_query_string(state.query_string()).basemap == "sentinel2-demo"
    assert BrowseState.from_query_string("?lat=1&lon=2&zoom=3").basemap is None


def test_picking_a_basemap_reads_no_pixel_and_a_pixel_card_leaves_the_chooser_free(ui_page, demo_server):
    base = demo_server[0]
    image = api(base, "/api/v1/images", collections="sentinel2-demo", limit=1)["images"][0]
    open_browse(ui_page, base, f"?image={image['id']}")
    ui_page.locator(".leaflet-browse-imagery-pane img.leaflet-tile").first.wait_for()
    choose(ui_page, "dem_demo_30m (image)")
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('basemap') === 'dem_demo_30m'")
    ui_page.wait_for_timeout(800)  # a pixel read would have answered by now
    assert ui_page.locator("#browse-inspect .pixel-values").count() == 0, "the option's click reached the map"

    box = ui_page.locator("#browse-map").bounding_box()
    ui_page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    card = ui_page.locator("#browse-inspect .pixel-values")
    card.wait_for()
    chooser = ui_page.locator(".basemap-choice").bounding_box()
    shown = ui_page.locator(".inspect-card").bounding_box()
    assert chooser and shown
    assert shown["y"] + shown["height"] <= chooser["y"] + 1, "the pixel card covers the basemap chooser"
    choose(ui_page, "Natural Earth (shipped)")  # still within reach
    ui_page.wait_for_function("() => !new URLSearchParams(location.search).get('basemap')")
