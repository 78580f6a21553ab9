"""A page whose server restarts says so and reconnects, instead of hanging (issue 13).

`cogbrowser serve` on the demo catalog, run as a user runs it, is killed with `kill -9` while the
Browse page is open; the user picks another preset. The page says the connection is lost, and once
the server is started again on the same port and data dir it says "Reconnected" and the preset
takes effect: tiles of the new look are asked for and drawn.
"""

from __future__ import annotations

import os
import signal

from helpers import browser_page, free_port, interrupt, open_browse, start, wait_for, wait_for_imagery

S2 = "S2_demo_20240601"
NOTICE = "#cogbrowser-busy"


def serve(settings, port: int, log):
    process = start(["serve", "--port", str(port)], settings.data_dir, log=log,
                    COGBROWSER_DATABASE_URL=settings.database_url)
    wait_for(f"http://127.0.0.1:{port}/api/v1/health", process, timeout=60)
    return process


def test_a_restarted_server_is_said_and_the_touched_control_takes_effect(chromium, demo_server, tmp_path):
    _, settings, _ = demo_server
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = serve(settings, port, tmp_path / "first.log")
    second = None
    try:
        with browser_page(chromium, base) as page:
            tiles: list[tuple[str, int]] = []
            page.on("response", lambda r: "/wms" in r.url and "GetMap" in r.url and tiles.append((r.url, r.status)))
            open_browse(page, base, f"?image={S2}&detections=off")
            wait_for_imagery(page)
            page.locator(".browse-tab", has_text="Visualize").click()
            page.wait_for_load_state("networkidle")

            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            tiles.clear()
            page.locator("#browse-style label", has_text="NDVI").click()
            notice = page.locator(NOTICE)
            notice.wait_for(state="visible", timeout=10_000)
            assert "Connection to the server lost" in notice.inner_text() and "reconnecting" in notice.inner_text()
            assert notice.get_attribute("role") == "status"
            page.wait_for_timeout(2_500)  # a few health polls fail: the page keeps saying so, no JS error
            assert "Connection to the server lost" in notice.inner_text()

            second = serve(settings, port, tmp_path / "second.log")
            page.wait_for_function(f"() => document.querySelector('{NOTICE}').textContent === 'Reconnected'",
                                   timeout=15_000)
            page.wait_for_function("() => /[?&]style=ndvi/.test(location.search)", timeout=15_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')]"
                ".some(t => t.src.includes('styles=ndvi'))", timeout=15_000)
            wait_for_imagery(page)
            drawn = [url for url, status in tiles if status == 200]
            assert any("styles=ndvi" in url for url in drawn), tiles
            notice.wait_for(state="hidden", timeout=10_000)  # "Reconnected" goes after a few seconds
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                interrupt(process)
