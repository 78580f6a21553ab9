"""When the server is busy (its heavy lane full: web/lanes.py), a page's heavy callback is answered
503 + Retry-After at once. The page says the server is busy, asks again after the seconds the
server names, and shows the answer once there is room — a user sees a notice, never a silent button.

The demo catalog served with one heavy thread, no queue and a short deadline; the fault injected:
the export takes a few seconds, so one export asked by a script fills the heavy lane.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import requests
from flask import Flask, Response

from cogbrowser.ui.map_state import BrowseState, SearchFilters, Visualization
from helpers import browser_page, serving

S2 = "S2_demo_20240601"
EXPORT_SECONDS = 3.5  # the slowed export: longer than one Retry-After, shorter than three
DEADLINE = 4.0  # heavy work may wait this long; the heavy lane's Retry-After is half of it, 2 s


def slow_export(app: Flask) -> None:
    views = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}

    def export(**_: object) -> Response:
        time.sleep(EXPORT_SECONDS)
        return Response(b"GeoTIFF", content_type="image/tiff")

    app.view_functions[views["/api/v1/images/<image_id>/export"]] = export


@pytest.fixture(scope="module")
def busy_server(demo_server):
    _, settings, db = demo_server
    settings = dataclasses.replace(settings, heavy_threads=1, heavy_queue=0, render_deadline=DEADLINE)
    with serving(settings, db, inject=slow_export) as url:
        yield url


def fill_the_heavy_lane(base: str, bbox: list[float]) -> threading.Thread:
    """A script's export, running: the one heavy thread taken for EXPORT_SECONDS. A heavy probe
    turned away says it runs (the page's own heavy callbacks may have held the lane a moment)."""
    for _ in range(5):
        script = threading.Thread(target=requests.get, args=(f"{base}/api/v1/images/{S2}/export",),
                                  kwargs={"params": {"bbox": ",".join(map(str, bbox))}, "timeout": 60})
        script.start()
        time.sleep(0.3)
        west, south = bbox[:2]
        tiny = f"{west},{south},{west + 1e-3},{south + 1e-3}"
        probe = requests.get(f"{base}/api/v1/images/{S2}/statistics", params={"bbox": tiny}, timeout=60)
        if probe.status_code == 503:
            return script
        script.join()
    raise AssertionError("the export never took the heavy lane")


def test_a_busy_server_is_said_and_the_statistics_come_when_there_is_room(chromium, busy_server):
    base = busy_server
    bbox = requests.get(f"{base}/api/v1/images/{S2}", timeout=30).json()["bbox"]
    state = BrowseState(image=S2, visualization=Visualization(style="ndvi"), search=SearchFilters())
    with browser_page(chromium, base) as page:
        page.goto(base + "/" + state.query_string(), wait_until="networkidle")
        page.wait_for_function("() => /[?&]style=/.test(location.search)", timeout=30_000)
        page.locator("details.tool > summary", has_text="Inspect area").click()
        page.wait_for_load_state("networkidle")
        script = fill_the_heavy_lane(base, bbox)
        asked = time.monotonic()
        page.get_by_role("button", name="Histogram & statistics").click()
        busy = page.locator("#cogbrowser-busy")
        busy.wait_for(state="visible", timeout=5_000)
        assert "busy" in busy.inner_text() and "asking again in 2 s" in busy.inner_text()
        assert busy.get_attribute("role") == "status"
        page.locator("#browse-area-table").wait_for(timeout=30_000)
        shown_after = time.monotonic() - asked
        busy.wait_for(state="hidden", timeout=10_000)  # the notice goes once the answers came
        script.join()
    assert EXPORT_SECONDS - 1 < shown_after < EXPORT_SECONDS + 20, f"statistics shown after {shown_after:.1f} s"
