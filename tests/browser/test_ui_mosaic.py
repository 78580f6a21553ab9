"""A collection as the main layer: the Visualize tab's "Show" draws the shown image's collection as a
mosaic, in the order chosen (most recent, least cloudy, closest to the image's date, oldest), within
the search's dates and cloud limit, in the shown look; the choice is kept in the link."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import requests
from PIL import Image
from pyproj import Transformer

from helpers import api, browser_page, open_browse, query

MOSAIC_TILES = ("() => { const t = [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')];"
                " return t.length > 0 && t.every(i => i.complete && i.naturalWidth > 0"
                " && new URL(i.src).searchParams.get('layers') === 'sentinel2-demo'); }")


def params_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def picture(url: str) -> np.ndarray:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))


def test_the_collection_as_a_least_cloudy_mosaic_within_the_searchs_clouds(chromium, demo_server):
    base = demo_server[0]
    images = api(base, "/api/v1/images", collections="sentinel2-demo", limit=100)["images"]
    cloudy = max(images, key=lambda image: image["cloud_cover"])
    newest_first = sorted(images, key=lambda image: image["acquired_at"], reverse=True)
    clearest = min(newest_first, key=lambda image: image["cloud_cover"])  # of equals, the newest lies on top
    assert cloudy["cloud_cover"] > 30 > clearest["cloud_cover"]
    with browser_page(chromium, base) as page:
        tiles: list[str] = []
        page.on("request", lambda r: urlsplit(r.url).path == "/wms" and "GetMap" in r.url and tiles.append(r.url))
        open_browse(page, base, f"?image={cloudy['id']}&style=ndvi&cloud=30")
        page.locator(".browse-tab", has_text="Visualize").click()
        page.locator("#browse-mosaic").click()
        page.get_by_role("option", name="Mosaic, least cloudy on top").click()
        page.wait_for_function("() => new URLSearchParams(location.search).get('mosaic') === 'least-cloudy'")
        page.wait_for_function(MOSAIC_TILES)
        asked = params_of(next(url for url in reversed(tiles) if params_of(url).get("layers") == "sentinel2-demo"))
        assert asked["mosaic_order"] == "least-cloudy" and asked["max_cloud_cover"] == "30"
        assert asked["styles"] == "ndvi" and asked["TIME"] == "../..", "the look stays, all dates within the clouds"
        assert query(page)["style"] == ["ndvi"] and query(page)["image"] == [cloudy["id"]]

        # what the page draws is the clearest image where it lies (the demo's dates share one footprint):
        # the page's mosaic request and the clearest image's, over the middle of the image
        west, south, east, north = clearest["bbox"]
        x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform((west + east) / 2, (south + north) / 2)
        middle = {**asked, "bbox": f"{x - 2000},{y - 2000},{x + 2000},{y + 2000}", "crs": "EPSG:3857"}
        same_area = {k: v for k, v in middle.items() if k not in ("TIME", "max_cloud_cover", "mosaic_order")}
        mosaic = picture(f"{base}/wms?" + urlencode(middle))
        alone = picture(f"{base}/wms?" + urlencode({**same_area, "layers": clearest["id"]}))
        drawn = alone[..., 3] > 0
        assert drawn.mean() > 0.2 and np.array_equal(mosaic[drawn], alone[drawn])

        link = page.evaluate("location.href")
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?" + urlsplit(link).query)
        page.wait_for_function(MOSAIC_TILES)
        page.locator(".browse-tab", has_text="Visualize").click()
        assert "least cloudy" in page.locator("#browse-mosaic").inner_text()


def test_closest_follows_the_shown_date_and_the_searchs_dates_bound_it(chromium, demo_server):
    base = demo_server[0]
    images = sorted(api(base, "/api/v1/images", collections="sentinel2-demo", limit=100)["images"],
                    key=lambda image: image["acquired_at"])
    shown = images[len(images) // 2]
    start, end = images[1]["acquired_at"][:10], images[-2]["acquired_at"][:10]
    with browser_page(chromium, base) as page:
        tiles: list[str] = []
        page.on("request", lambda r: urlsplit(r.url).path == "/wms" and "GetMap" in r.url and tiles.append(r.url))
        open_browse(page, base, f"?image={shown['id']}&mosaic=closest&from={start}&to={end}")
        page.wait_for_function(MOSAIC_TILES)
        asked = params_of(tiles[-1])
        assert asked["mosaic_order"] == "closest" and asked["closest_to"].startswith(shown["acquired_at"][:19])
        assert asked["TIME"] == f"{start}/{end}T23:59:59Z"
        bar = page.locator("#browse-time-when")
        page.wait_for_function("() => document.querySelector('#browse-time-when').textContent.startsWith('Mosaic')")
        assert bar.inner_text().startswith(f"Mosaic around {shown['acquired_at'][:10]}")
        page.click("#browse-time-next")  # the next date: the mosaic gathers around it
        following = images[len(images) // 2 + 1]
        page.wait_for_function(f"() => location.search.includes('image={following['id']}')")
        when = following["acquired_at"][:19]
        page.wait_for_function(f"""() => [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')]
            .some(t => (new URL(t.src).searchParams.get('closest_to') || '').startsWith('{when}'))""")


def test_the_pixel_card_reads_the_image_the_mosaic_shows_there(chromium, demo_server):
    """Shown the cloudiest date with the least cloudy on top, a click reads the clearest image's
    pixel (its id, its values as its own point answers them), not the cloudy one's."""
    base = demo_server[0]
    images = api(base, "/api/v1/images", collections="sentinel2-demo", limit=100)["images"]
    cloudy = max(images, key=lambda image: image["cloud_cover"])
    clearest = min(sorted(images, key=lambda image: image["acquired_at"], reverse=True),
                   key=lambda image: image["cloud_cover"])
    west, south, east, north = clearest["bbox"]
    lon, lat = (west + east) / 2, (south + north) / 2
    with browser_page(chromium, base) as page:
        open_browse(page, base, f"?image={cloudy['id']}&style=ndvi&mosaic=least-cloudy&lat={lat:.6f}&lon={lon:.6f}"
                                "&zoom=14&detections=off")
        page.wait_for_function(MOSAIC_TILES)
        box = page.locator("#browse-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        card = page.locator("#browse-inspect .pixel-values")
        card.wait_for()
        text = card.inner_text()
        assert clearest["id"] in text and cloudy["id"] not in text, text
        shown_row = int(text.split("row ")[1].split(",")[0])
        own = api(base, f"/api/v1/images/{clearest['id']}/point", lon=f"{lon:.8f}", lat=f"{lat:.8f}")
        assert abs(shown_row - own["row"]) <= 2, "the clicked pixel of the clearest image"
        assert clearest["id"] in page.locator("#browse-inspect .image-metadata").inner_text()
