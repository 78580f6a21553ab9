"""Saved views (pins) on the Browse page: save the view on screen under a name, change everything,
open the saved one (image, look, dates and map back), rename, delete after a confirmation, and copy
links (to the view on screen, to a saved one) that open the same view in another browser."""

from __future__ import annotations

import requests

from helpers import browser_page, open_browse, open_tab_of_shown_image, query

VIEWS = "#browse-view-list .saved-view"


def open_views_tab(page) -> None:
    open_tab_of_shown_image(page, "Views")
    page.locator("#browse-view-name").wait_for()


def test_save_change_open_rename_delete_and_share(chromium, demo_server):
    base = demo_server[0]
    requests.get(f"{base}/api/v1/views")  # the catalog answers before the page is driven
    state = "?lat=45.77123&lon=13.58765&zoom=13&image=S2_demo_20240601&style=ndvi&from=2024-05-01&to=2024-07-31"
    with browser_page(chromium, base) as page:
        open_browse(page, base, state)
        page.wait_for_function("() => new URLSearchParams(location.search).get('style') === 'ndvi'")
        saved_query = query(page)
        open_views_tab(page)
        page.fill("#browse-view-name", "Port in NDVI")
        page.get_by_role("button", name="Save", exact=True).click()
        page.locator("#browse-view-message .message").wait_for()
        assert page.locator("#browse-view-message").inner_text() == "Saved as “Port in NDVI”."
        entry = page.locator(VIEWS).filter(has_text="Port in NDVI")
        entry.wait_for()
        assert "S2_demo_20240601 in ndvi · saved " in entry.inner_text()

        # elsewhere, another look, other dates: then back to the saved view
        open_browse(page, base, "?lat=10&lon=10&zoom=4&image=S2_demo_20240909&style=true-color")
        open_views_tab(page)
        page.locator(VIEWS).filter(has_text="Port in NDVI").locator("a.saved-view-name").click()
        page.wait_for_function("() => new URLSearchParams(location.search).get('image') === 'S2_demo_20240601'")
        restored = query(page)
        for key in ("image", "style", "from", "to", "lat", "lon", "zoom"):
            assert restored[key] == saved_query[key], key

        # a copied link to it opens the same view in another browser
        open_views_tab(page)
        entry = page.locator(VIEWS).filter(has_text="Port in NDVI")
        entry.get_by_role("button", name="Copy link").click()
        notice = page.locator("#browse-copied")
        page.wait_for_function("() => document.querySelector('#browse-copied').textContent.includes('/views/')")
        link = notice.inner_text().split(": ", 1)[1]
        with browser_page(chromium, base) as other:
            other.goto(link)
            other.wait_for_function("() => new URLSearchParams(location.search).get('style') === 'ndvi'")
            assert query(other)["image"] == ["S2_demo_20240601"]

        # renamed, then deleted after the confirmation
        entry.locator("input").fill("Port, NDVI in June")
        entry.get_by_role("button", name="Rename").click()
        page.locator(VIEWS).filter(has_text="Port, NDVI in June").wait_for()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(VIEWS).filter(has_text="Port, NDVI in June").get_by_role("button", name="Delete").click()
        page.locator("#browse-view-list .message.empty").wait_for()
        assert requests.get(link, allow_redirects=False).status_code == 404, "a deleted view's link says so"


def test_the_link_to_the_view_on_screen_and_a_name_taken(chromium, demo_server):
    base = demo_server[0]
    with browser_page(chromium, base) as page:
        open_browse(page, base, "?lat=45.7&lon=13.6&zoom=10&image=S2_demo_20240815&style=false-color")
        page.wait_for_function("() => new URLSearchParams(location.search).get('style') === 'false-color'")
        open_views_tab(page)
        page.get_by_role("button", name="Copy link", exact=True).first.click()
        page.wait_for_function("() => document.querySelector('#browse-copied').textContent.startsWith('Link')")
        link = page.locator("#browse-copied").inner_text().split(": ", 1)[1]
        assert link == page.evaluate("location.href")
        for attempt in ("Coast", "COAST"):
            page.fill("#browse-view-name", attempt)
            page.press("#browse-view-name", "Enter")
            said = "document.querySelector('#browse-view-message').textContent"
            page.wait_for_function(f"() => {said}.includes('{attempt}')")
        message = page.locator("#browse-view-message").inner_text()
        assert message.startswith("Not saved: a view named 'COAST' exists")
        page.fill("#browse-view-name", "")
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_function("() => document.querySelector('#browse-view-message').textContent === "
                               "'Give the view a name first.'")
