"""The pages open in a real browser, from the app alone."""

from __future__ import annotations

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
    """Dash keeps `@dash.callback`s in a global registry that the first app empties; the pages of
    a second app (a test server, a second create_app) must still respond."""
    with browser_page(chromium, demo_server[0]) as first:  # the demo app has started
        first.goto(demo_server[0] + "/", wait_until="networkidle")
        first.wait_for_selector(".leaflet-container")
    with browser_page(chromium, live_server) as second:
        second.goto(live_server + "/analytics", wait_until="networkidle")
        second.wait_for_selector(".dashboard", timeout=15000)
