"""Moving through time on the Browse page: the time bar's arrows and the keys [ and ] step to the
previous and next acquisition of the shown collection (within the search's dates, in the view),
keeping the map's view and the image's look; the search's calendar opens on the newest data and
marks the dates with images."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import api, browser_page, open_browse, query

BAR = "#browse-time-bar"


@pytest.fixture
def s2_dates(demo_server) -> list[dict]:
    """The demo's Sentinel-2 images, oldest first."""
    images = api(demo_server[0], "/api/v1/images", collections="sentinel2-demo", limit=100)["images"]
    return sorted(images, key=lambda image: image["acquired_at"])


def shown_image(page) -> str:
    return query(page)["image"][0]


def imagery_asked(urls: list[str]) -> set[str]:
    """The images whose WMS tiles the page asked for among `urls`."""
    layers = set()
    for url in urls:
        params = {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        if urlsplit(url).path == "/wms" and params.get("request") == "GetMap":
            layers.add(params.get("layers"))
    return layers


def test_arrows_and_keys_step_through_the_collections_dates_in_the_same_view_and_look(chromium, demo_server,
                                                                                      s2_dates):
    base = demo_server[0]
    middle = s2_dates[len(s2_dates) // 2]
    with browser_page(chromium, base) as page:
        open_browse(page, base, f"?image={middle['id']}&style=ndvi")
        page.wait_for_selector(f"{BAR}:not(.hidden)")
        when = page.locator("#browse-time-when")
        position = f"{len(s2_dates) // 2 + 1} / {len(s2_dates)}"
        assert when.inner_text() == f"{middle['acquired_at'][:10]} · {position}"
        view = {key: query(page)[key] for key in ("lat", "lon", "zoom")}

        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.click("#browse-time-next")
        following = s2_dates[len(s2_dates) // 2 + 1]
        page.wait_for_function(f"() => location.search.includes('image={following['id']}')")
        assert when.inner_text().startswith(following["acquired_at"][:10])
        page.wait_for_function(f"""() => [...document.querySelectorAll('.leaflet-browse-imagery-pane img')]
            .some(t => t.complete && new URL(t.src).searchParams.get('layers') === '{following['id']}')""")
        assert following["id"] in imagery_asked(requested)
        assert query(page)["style"] == ["ndvi"], "the look stays"
        assert {key: query(page)[key] for key in ("lat", "lon", "zoom")} == view, "the map stays where it was"

        page.locator("#browse-map").focus()
        page.keyboard.press("[")
        page.wait_for_function(f"() => location.search.includes('image={middle['id']}')")
        page.keyboard.press("[")
        earlier = s2_dates[len(s2_dates) // 2 - 1]
        page.wait_for_function(f"() => location.search.includes('image={earlier['id']}')")
        assert when.inner_text().startswith(earlier["acquired_at"][:10])


def test_the_ends_of_the_searchs_dates_are_the_ends_of_the_steps(chromium, demo_server, s2_dates):
    base = demo_server[0]
    first, second = s2_dates[0], s2_dates[1]
    start, end = first["acquired_at"][:10], second["acquired_at"][:10]
    with browser_page(chromium, base) as page:
        open_browse(page, base, f"?image={second['id']}&from={start}&to={end}")
        page.wait_for_selector(f"{BAR}:not(.hidden)")
        page.wait_for_function("() => document.querySelector('#browse-time-when').textContent.endsWith('2 / 2')")
        assert page.locator("#browse-time-next").is_disabled()
        assert "No later acquisition" in page.get_attribute("#browse-time-next", "title")
        page.click("#browse-time-previous")
        page.wait_for_function(f"() => location.search.includes('image={first['id']}')")
        page.wait_for_function("() => document.querySelector('#browse-time-previous').disabled")
        page.keyboard.press("[")  # nothing before: the image stays
        page.wait_for_timeout(300)
        assert shown_image(page) == first["id"]


def test_the_calendar_opens_on_the_newest_data_and_marks_its_dates(chromium, demo_server):
    base = demo_server[0]
    days = api(base, "/api/v1/acquisitions")["days"]
    newest = days[0]
    month = newest["date"][:7]
    same_month = [day for day in days if day["date"].startswith(month)]
    with browser_page(chromium, base) as page:
        open_browse(page, base)
        page.click("#browse-dates")
        calendar = page.locator(".dash-datepicker-content table.dash-datepicker-calendar").first
        calendar.wait_for()
        year, number = int(month[:4]), int(month[5:])
        header = calendar.locator(".dash-datepicker-calendar-month-header").inner_text()
        assert header.endswith(str(year)) and header.split()[0][:3] in "JanFebMarAprMayJunJulAugSepOctNovDec"[
            (number - 1) * 3:number * 3], header
        page.wait_for_function(f"() => document.querySelectorAll('td.has-images').length >= {len(same_month)}")
        marks = page.evaluate("() => [...document.querySelectorAll('td.has-images')].map(c => c.title)")
        for day in same_month:
            images = f"{day['images']} image{'s' if day['images'] > 1 else ''}"
            assert any(mark.startswith(f"{day['date']}: {images}, ☁") for mark in marks), (day, marks)
        # the calendar covers the map's drawing buttons where they meet, not the other way round
        button = page.locator(".leaflet-draw-draw-polygon").bounding_box()
        assert button is not None
        x, y = button["x"] + button["width"] / 2, button["y"] + button["height"] / 2
        assert page.evaluate(f"() => document.elementFromPoint({x}, {y}).closest('.dash-datepicker-content') !== null")
