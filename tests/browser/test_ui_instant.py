"""What a click shows before the server has answered it: a clicked result and a chosen preset are drawn
at once (browse.js), from the same URLs as the server's layer, which then takes over.

The proof holds the page's callbacks: every answer of /_dash-update-component waits until the test lets
it go, so whatever imagery is asked for meanwhile was decided in the browser alone."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import api, browser_page, open_browse

IMAGERY_TILES = ".leaflet-browse-imagery-pane img.leaflet-tile"
ONE_LAYER = "() => document.querySelectorAll('.leaflet-browse-imagery-pane .leaflet-layer').length === 1"


class HeldCallbacks:
    """Routes the page's callback requests through the test: while `hold` is set, their answers wait."""

    def __init__(self, page) -> None:
        self.page, self.hold, self.waiting = page, threading.Event(), []
        page.route(lambda url: urlsplit(url).path == "/_dash-update-component", self._route)

    def _route(self, route) -> None:
        if self.hold.is_set():
            self.waiting.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        self.hold.clear()
        waiting, self.waiting = self.waiting, []
        for route in waiting:
            route.continue_()


def getmaps(urls: list[str], image: str) -> list[dict[str, str]]:
    """The GetMap requests for `image` among `urls`, as their query parameters."""
    found = []
    for url in urls:
        params = {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        if urlsplit(url).path == "/wms" and params.get("request") == "GetMap" and params.get("layers") == image:
            found.append(params)
    return found


def shown_layers(page) -> list[str]:
    """The images whose tiles are in the imagery pane now."""
    return page.evaluate(f"""() => [...new Set([...document.querySelectorAll('{IMAGERY_TILES}')]
        .map(t => new URL(t.src).searchParams.get('layers')))]""")


@pytest.fixture
def s2_images(demo_server):
    images = api(demo_server[0], "/api/v1/images", collections="sentinel2-demo", limit=100)["images"]
    return [i["id"] for i in images]


def settle(page) -> None:
    for _ in range(3):
        page.wait_for_function("() => window.store && !window.store.getState().isLoading", timeout=30_000)
        page.wait_for_timeout(200)


def test_a_clicked_result_is_drawn_before_any_callback_answers(chromium, demo_server, s2_images):
    base = demo_server[0]
    with browser_page(chromium, base) as page:
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        open_browse(page, base, "?detections=off")
        page.wait_for_selector(".result")
        settle(page)
        held = HeldCallbacks(page)
        held.hold.set()
        image = s2_images[0]
        page.locator(f'.result[data-image="{image}"]').click()
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               f".some(t => t.complete && t.naturalWidth > 0 && t.src.includes('{image}'))")
        early = getmaps(requested, image)
        assert early and all(p["styles"] == "true-color" for p in early), "drawn in its collection's first preset"
        assert held.waiting, "the click did ask the server too"
        view = page.evaluate("() => document.querySelector('#browse-map').getBoundingClientRect().width")
        assert view > 0

        held.release()  # the server's layer takes over from the same URLs, and the provisional one goes
        page.wait_for_function("() => /[?&]image=/.test(location.search)")
        settle(page)
        page.wait_for_function(ONE_LAYER, timeout=30_000)
        assert shown_layers(page) == [image]
        urls = {u.split("&bbox=")[0] for u in requested if "GetMap" in u and image in u}
        assert len(urls) == 1, f"the server's layer asked for other tiles than the provisional one: {urls}"


def test_the_next_image_of_a_collection_keeps_the_look_and_a_quick_second_click_wins(chromium, demo_server,
                                                                                      s2_images):
    base = demo_server[0]
    first, second, third = s2_images[:3]
    with browser_page(chromium, base) as page:
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        open_browse(page, base, f"?image={first}&style=ndvi&rescale=-0.2,0.8&detections=off")
        page.wait_for_function(f"() => document.querySelector('{IMAGERY_TILES}')")
        settle(page)
        page.locator(".browse-tab", has_text="Search").click()
        held = HeldCallbacks(page)
        held.hold.set()
        page.locator(f'.result[data-image="{second}"]').click()
        page.locator(f'.result[data-image="{third}"]').click()  # before the server answered the first click
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               f".some(t => t.src.includes('{third}'))")
        drawn = getmaps(requested, third)
        assert drawn and all(p["styles"] == "ndvi" and p["rescale"] == "-0.2,0.8" for p in drawn), \
            "an image of the shown one's collection keeps the shown look"
        held.release()
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('image') === '{third}'",
                               timeout=30_000)
        settle(page)
        page.wait_for_function(ONE_LAYER, timeout=30_000)
        assert shown_layers(page) == [third], "no stale provisional layer of the image clicked first"


def test_a_chosen_preset_is_asked_for_before_the_server_answers(chromium, demo_server, s2_images):
    base = demo_server[0]
    image = s2_images[0]
    with browser_page(chromium, base) as page:
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        open_browse(page, base, f"?image={image}&style=true-color&detections=off")
        page.wait_for_function(f"() => document.querySelector('{IMAGERY_TILES}')")
        settle(page)
        held = HeldCallbacks(page)
        held.hold.set()
        page.locator("#browse-style label", has_text="NDVI").click()
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               ".some(t => t.src.includes('styles=ndvi') && t.complete && t.naturalWidth > 0)")
        assert held.waiting and all(p["styles"] == "ndvi" for p in getmaps(requested, image)[-4:])
        held.release()
        page.wait_for_function("() => /[?&]style=ndvi/.test(location.search)", timeout=30_000)
        settle(page)
        page.wait_for_function(ONE_LAYER, timeout=30_000)
        styles = page.evaluate(f"() => [...new Set([...document.querySelectorAll('{IMAGERY_TILES}')]"
                               ".map(t => new URL(t.src).searchParams.get('styles')))]")
        assert styles == ["ndvi"]
