"""What a click shows before the server has answered it: a clicked result and a chosen preset are drawn
at once (browse.js), from the same URLs as the server's layer, which then takes over.

The proof holds the page's callbacks: every answer of /_dash-update-component waits until the test lets
it go, so whatever imagery is asked for meanwhile was decided in the browser alone."""

from __future__ import annotations

import json
import re
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


def shown_with_requests(page, base: str, search: str) -> list[str]:
    """Open the Browse page on `search` (an image shown), recording every URL it asks for, until the
    image is drawn and no callback is in flight; the list keeps growing."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_browse(page, base, search)
    page.wait_for_function(f"() => document.querySelector('{IMAGERY_TILES}')")
    settle(page)
    return requested


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
        requested = shown_with_requests(page, base, f"?image={first}&style=ndvi&rescale=-0.2,0.8&detections=off")
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
        requested = shown_with_requests(page, base, f"?image={image}&style=true-color&detections=off")
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


def test_bands_picked_for_a_composite_are_drawn_before_the_server_answers(chromium, demo_server, s2_images):
    base = demo_server[0]
    image = s2_images[0]
    with browser_page(chromium, base) as page:
        requested = shown_with_requests(page, base, f"?image={image}&bands=B04,B03,B02&detections=off")
        page.locator(".browse-tab", has_text="Visualize").click()
        held = HeldCallbacks(page)
        held.hold.set()
        page.locator("#browse-band-r").click()
        page.get_by_role("option", name=re.compile(r"^B08")).click()
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')].some(t => "
                               "/bands=B08(%2C|,)B03(%2C|,)B02/.test(t.src) && t.complete && t.naturalWidth > 0)")
        assert held.waiting, "the server's check had not answered: the browser drew the bands alone"
        assert getmaps(requested, image)[-1]["bands"] == "B08,B03,B02"
        held.release()
        page.wait_for_function("() => /[?&]bands=B08(%2C|,)B03/.test(location.search)", timeout=30_000)
        settle(page)
        page.wait_for_function(ONE_LAYER, timeout=30_000)
        assert shown_layers(page) == [image]


def _outputs(requests: list) -> list[str]:
    """The outputs named by the callback requests among `requests` (Playwright's)."""
    return [json.loads(r.post_data or "{}").get("output", "") for r in requests
            if urlsplit(r.url).path == "/_dash-update-component"]


def test_an_image_and_a_look_seen_before_are_not_asked_of_the_server_again(chromium, demo_server, s2_images):
    base = demo_server[0]
    first, second = s2_images[:2]
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?detections=off")
        page.wait_for_selector(".result")
        settle(page)
        asked: list = []
        page.on("request", lambda r: asked.append(r))
        for image in (first, second):
            page.locator(".browse-tab", has_text="Search").click()
            page.locator(f'.result[data-image="{image}"]').click()
            page.wait_for_function(f"() => new URLSearchParams(location.search).get('image') === '{image}'",
                                   timeout=30_000)
            settle(page)
        loaded = [o for o in _outputs(asked) if "browse-image-info" in o or "browse-histogram-data" in o]
        assert len(loaded) == 4, f"each new image is loaded and measured once: {loaded}"
        page.locator(".browse-tab", has_text="Search").click()

        asked.clear()
        page.locator(f'.result[data-image="{first}"]').click()  # back to the first one, in the same look
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('image') === '{first}'",
                               timeout=30_000)
        settle(page)
        page.wait_for_function(ONE_LAYER, timeout=30_000)
        assert shown_layers(page) == [first]
        assert first in page.inner_text("#browse-image-header")
        page.locator(".browse-tab", has_text="Visualize").click()
        page.wait_for_selector("#browse-histogram .band-histogram")
        again = [o for o in _outputs(asked) if "browse-image-info" in o or "browse-histogram-data" in o]
        assert not again, f"the page asked the server again for what it had: {again}"
        assert _outputs(asked), "the controls and the source check still go to the server"


# ---------------------------------------------------------------- the picture decided in the browser

def _info(base: str, image: str) -> dict:
    record = api(base, f"/api/v1/images/{image}")
    collection = api(base, f"/api/v1/collections/{record['collection_id']}")
    return {"image": record, "collection": {k: collection[k] for k in ("id", "title", "bands", "presets")}}


def test_the_browser_builds_the_servers_urls_and_stretch_messages(chromium, demo_server, s2_images):
    from cogbrowser.ui.map_state import Visualization
    from cogbrowser.ui.visualization import (
        _output_names,
        default_ranges,
        image_bands,
        legend_url,
        presets,
        stretch_problem,
        visualization_from_controls,
        wms_layer,
    )

    base, image = demo_server[0], s2_images[0]
    info = _info(base, image)
    bands = image_bands(info)
    cases = [({"bands": ",".join(bands[:3])}, [(0, 3000), (100, 2500), (None, 2000)], None, 1.2, "viridis"),
             ({"bands": ",".join(bands[:3])}, [(0, 3000)] * 3, 1, None, None),
             ({"expression": f"({bands[3]}-{bands[2]})/({bands[3]}+{bands[2]})"}, [(-0.5, None)], 2, None, "viridis"),
             ({"expression": f"{bands[0]}*2;{bands[1]};{bands[2]}"}, [(None, None)] * 3, 0.25, 3, None)]
    for preset in presets(info):
        rescale = [tuple(r) for r in preset.get("rescale") or []]
        cases.append(({"style": preset["name"]}, rescale or [(None, None)], None, preset.get("gamma"),
                      preset.get("colormap")))
        cases.append(({"style": preset["name"]}, [(0.1, None)], 1.5, 0.7, "magma"))
    assert len(presets(info)) >= 2 and any(p.get("rescale") for p in presets(info))
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?detections=off")
        page.wait_for_function("() => window.dash_clientside.cogbrowserVisualize")
        for params, rows, gain, gamma, colormap in cases:
            names = _output_names(params, info)
            source = {"image": image, "params": params, "outputs": names,
                      "defaults": [list(d) for d in default_ranges(info, params, names)]}
            rows = (list(rows) + [(None, None)] * 3)[:3]
            flat = [v for row in rows for v in row]
            vis = visualization_from_controls(source, rows, gain, gamma, colormap, info)
            layer = wms_layer(image, vis, 0.6)
            browser = page.evaluate("""([source, flat, gain, gamma, colormap, info]) => {
                const v = window.dash_clientside.cogbrowserVisualize;
                const pairs = v.renderPairs(source, flat, gain, gamma, colormap, info);
                const props = v.wmsProps(info.image.id, pairs, 0.6);
                return {pairs, url: props.url, styles: props.styles, legend: v.legendUrl(info.image.id, pairs)};
            }""", [source, flat, gain, gamma, colormap, info])
            assert [tuple(p) for p in browser["pairs"]] == vis.render_params(), params
            assert (browser["url"], browser["styles"]) == (layer.url, layer.styles), params
            assert browser["legend"] == legend_url(image, vis), params
            assert Visualization.from_pairs(browser["pairs"]) == vis
        for rows, count, defaults, gain, gamma in [([(5, 1)], 1, [(0, 1)], None, None),
                                                   ([(None, None)], 1, [(0, 1)], 500, None),
                                                   ([(None, None)], 1, [(0, 1)], 2, 0),
                                                   ([(None, 0.25)], 1, [(0.5, 1)], None, None),
                                                   ([(1, 2), (3, 3)], 2, [(0, 1), (0, 1)], None, None),
                                                   ([(None, None)], 1, [(0, 1)], 2, 0.5)]:
            flat = [v for row in (rows + [(None, None)] * 3)[:3] for v in row]
            said = page.evaluate("([f, c, d, g, m]) => "
                                 "window.dash_clientside.cogbrowserVisualize.stretchProblem(f, c, d, g, m)",
                                 [flat, count, defaults, gain, gamma])
            assert said == stretch_problem(rows, count, defaults, gain, gamma)


def _posts(held: HeldCallbacks) -> list[str]:
    """The callback requests the page sent while held (a picture edit sends none: the browser draws
    the layer, and the tools that follow the picture only do so while they are shown)."""
    return [r.request.post_data or "" for r in held.waiting]


def test_picture_only_edits_ask_for_tiles_without_the_server(chromium, demo_server, s2_images):
    base, image = demo_server[0], s2_images[0]
    with browser_page(chromium, base) as page:
        requested = shown_with_requests(page, base, f"?image={image}&style=ndvi&detections=off")
        page.locator(".browse-tab", has_text="Visualize").click()
        held = HeldCallbacks(page)
        held.hold.set()  # the server answers nothing from here on

        page.fill("#browse-gain", "1.5")
        page.press("#browse-gain", "Enter")
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               ".some(t => t.src.includes('gain=1.5') && t.complete && t.naturalWidth > 0)")
        page.fill("#browse-rescale-max-0", "0.5")
        page.press("#browse-rescale-max-0", "Enter")
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               ".some(t => /rescale=[^&]*%2C0.5|rescale=[^&]*,0.5/.test(t.src))")
        page.locator("#browse-colormap").click()
        page.get_by_role("option", name="viridis", exact=True).click()
        page.wait_for_function(f"() => [...document.querySelectorAll('{IMAGERY_TILES}')]"
                               ".some(t => t.src.includes('colormap=viridis'))")
        page.wait_for_function("() => document.querySelector('#browse-legend img').src.includes('colormap=viridis')")
        page.wait_for_function("() => /colormap=viridis/.test(location.search)")
        assert not _posts(held), "the picture changed without asking the server anything"

        shown = getmaps(requested, image)[-1]
        page.fill("#browse-rescale-min-0", "0.9")  # above the maximum: said at once, the picture stays
        page.press("#browse-rescale-min-0", "Enter")
        page.wait_for_selector("#browse-stretch-message .message.error", timeout=10_000)
        assert "must be below the maximum" in page.inner_text("#browse-stretch-message")
        page.wait_for_timeout(300)
        assert getmaps(requested, image)[-1] == shown, "no tiles asked for a stretch that cannot be drawn"
        assert shown_layers(page) == [image]
        assert not _posts(held)
        held.release()
        settle(page)
