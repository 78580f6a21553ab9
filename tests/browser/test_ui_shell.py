"""The pages open in a real browser, from the app alone."""

from __future__ import annotations

from flask import Flask

from cogbrowser.ui import mount_ui
from helpers import browser_page


def test_both_pages_open_and_load_nothing_from_elsewhere(chromium, demo_server):
    base = demo_server[0]
    with browser_page(chromium, base) as page:
        page.goto(base + "/", wait_until="networkidle")
        assert page.title() == "cogbrowser"
        page.wait_for_selector(".leaflet-container")
        page.get_by_role("link", name="Analytics").click()
        page.wait_for_url("**/analytics")
        page.wait_for_selector(".dashboard")


def test_every_app_of_the_process_serves_working_pages(chromium, demo_server, live_server):
    """Each app declares the pages' callbacks itself: the pages of a second app (a test server, a
    second create_app) respond as the first's do — the page is routed, and its own callbacks run."""
    with browser_page(chromium, demo_server[0]) as first:  # the demo app has started
        first.goto(demo_server[0] + "/", wait_until="networkidle")
        first.wait_for_selector(".leaflet-container")
    with browser_page(chromium, live_server) as second:
        second.goto(live_server + "/analytics", wait_until="networkidle")
        second.wait_for_selector(".dashboard", timeout=15000)
        second.wait_for_selector("#an-kpis .kpi", timeout=15000)  # the report's callback answered


def test_each_app_has_every_callback_of_the_pages():
    """Two apps made one after the other in a process: both serve the whole set of callbacks."""
    apps = [mount_ui(Flask(f"app-{i}")) for i in range(2)]
    served = [app.server.test_client().get("/_dash-dependencies").get_json() for app in apps]
    outputs = [sorted(callback["output"] for callback in callbacks) for callbacks in served]
    assert len(outputs[0]) > 50 and outputs[0] == outputs[1]
    assert any("page.children" in output for output in outputs[1])  # the router
