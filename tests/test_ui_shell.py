"""The pages open in a real browser, from the app alone."""

from __future__ import annotations

from conftest import browser_page


def test_both_pages_open_and_load_nothing_from_elsewhere(chromium, demo_server):
    base = demo_server[0]
    with browser_page(chromium, base) as page:
        page.goto(base + "/", wait_until="networkidle")
        assert page.title() == "cogbrowser"
        page.wait_for_selector(".leaflet-container")
        page.get_by_role("link", name="Analytics").click()
        page.wait_for_url("**/analytics")
        page.wait_for_selector(".dashboard")
