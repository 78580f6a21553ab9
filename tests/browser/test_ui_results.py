"""Results at scale: more than a page of images, sorted as the analyst asks, every result's
footprint on the map (its outline opens it), the list used from the keyboard, and an empty list
that names the filter that emptied it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import browser_page, open_browse, query

COUNT = 62  # more than a page (image_search.PAGE_SIZE = 50)


def tile_of(n: int) -> tuple[float, float]:
    """The west and north of image `n`: a grid of small images that do not overlap."""
    return 10.0 + (n % 8) * 0.05, 46.0 - (n // 8) * 0.05


@pytest.fixture
def many_images(tmp_path, settings, db, live_server):
    """COUNT small images in a grid, a day apart, their cloud cover falling as they get newer."""
    start = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
    for n in range(COUNT):
        west, north = tile_of(n)
        path = tmp_path / f"scene_{n:02d}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint8", crs="EPSG:4326",
                           transform=from_origin(west, north, 0.04 / 32, 0.04 / 32)) as out:
            out.write(np.full((1, 32, 32), 40 + n * 3, dtype=np.uint8))
        result = ingest_file(db, settings, IngestRequest(path=path, collection="grid", image_id=f"scene_{n:02d}",
                                                         acquired_at=start + timedelta(days=n),
                                                         cloud_cover=float(COUNT - n)))
        assert result.status == "added", result
    return live_server


def titles(page) -> list[str]:
    return page.locator(".result .title").all_inner_texts()


def test_more_than_a_page_sorted_and_each_footprint_on_the_map(chromium, many_images):
    base = many_images
    newest_first = [f"scene_{n:02d}" for n in reversed(range(COUNT))]
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?lat=45.8&lon=10.2&zoom=9")
        page.wait_for_function("() => document.querySelectorAll('.result').length === 50")
        assert titles(page) == newest_first[:50]
        assert page.locator("#browse-result-summary").text_content() == f"50 of {COUNT}"
        page.wait_for_function("() => document.querySelectorAll('.leaflet-browse-outlines-pane path').length >= 50")

        page.get_by_role("button", name="Show more").click()
        page.wait_for_function(f"() => document.querySelectorAll('.result').length === {COUNT}")
        assert titles(page) == newest_first, "the next page follows on, nothing twice"
        assert page.locator("#browse-result-summary").text_content() == str(COUNT)
        assert not page.get_by_role("button", name="Show more").is_visible()
        outlines = "document.querySelectorAll('.leaflet-browse-outlines-pane path').length"
        page.wait_for_function(f"() => {outlines} >= {COUNT}")

        page.locator("#browse-sort").click()
        page.get_by_role("option", name="Least cloudy first").click()
        page.wait_for_function("() => new URLSearchParams(location.search).get('sort') === 'cloud_cover'")
        page.wait_for_function("() => document.querySelector('.result .title').textContent === 'scene_61'")
        page.locator("#browse-sort").click()
        page.get_by_role("option", name="Oldest first").click()
        page.wait_for_function("() => document.querySelector('.result .title').textContent === 'scene_00'")
        assert query(page)["sort"] == ["acquired_at"]

        # a footprint's outline on the map opens its image
        west, north = tile_of(5)
        point = page.evaluate(f"""() => new Promise(done => window.cogbrowser.onMap(map => {{
            const p = map.latLngToContainerPoint([{north - 0.02}, {west}]); done([p.x, p.y]); }}))""")
        box = page.locator("#browse-map").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + point[0], box["y"] + point[1])
        page.wait_for_function("() => new URLSearchParams(location.search).get('image') === 'scene_05'")


def test_the_results_by_keyboard(chromium, many_images):
    base = many_images
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?lat=45.8&lon=10.2&zoom=9&sort=id")
        page.wait_for_function("() => document.querySelectorAll('.result').length === 50")
        first = page.locator(".result").first
        first.focus()
        assert page.evaluate("() => document.activeElement.dataset.image") == "scene_00"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        assert page.evaluate("() => document.activeElement.dataset.image") == "scene_02"
        page.keyboard.press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('image') === 'scene_02'")
        page.locator(".browse-tab", has_text="Search").click()
        page.locator('.result[data-image="scene_03"]').focus()
        page.keyboard.press(" ")
        page.wait_for_function("() => new URLSearchParams(location.search).get('image') === 'scene_03'")


def test_an_empty_list_names_the_filter_that_emptied_it(chromium, many_images):
    base = many_images
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?lat=-30&lon=-60&zoom=8&inview=1")  # far from every image
        message = page.locator("#browse-result-list .message.empty")
        message.wait_for()
        assert message.inner_text() == (f"No images in the map's view; {COUNT} match without that filter: zoom out, "
                                        'or untick "Only images in the current map view".')
        open_browse(page, base, "?lat=45.8&lon=10.2&zoom=9&cloud=0&collection=grid")  # all are cloudier
        message.wait_for()
        assert message.inner_text() == ("No images under the cloud limit; "
                                        f"{COUNT} match without that filter: raise the cloud limit.")
