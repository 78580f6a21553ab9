"""A target named "Smith, John" (or a class "tank, fuel") is one name all the way: from the page's
URL, through the UI's API client (ui/api.py), to the catalog's answer and back on the page.

The API reads a list parameter as comma-separated values with an item holding a comma quoted, as
in CSV; the pages send lists through their client, which quotes each item. Were a name joined or
split by hand, "Smith, John" would select "Smith" and "John": other people's detections, or none.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cogbrowser.catalog import queries
from cogbrowser.ui import api
from cogbrowser.ui.analytics_queries import COUNTS, DETECTIONS, report_answers
from cogbrowser.ui.detection_filters import Filters
from cogbrowser.ui.map_state import BrowseState, OverlayFilters
from helpers import browser_page, ingest_images, open_tab_of_shown_image, serving, shared_catalog

IMAGE = "cog1"
# (class, name, how many): the names that share a part with "Smith, John" must stay apart from it
TARGETS = [("ship", "Smith, John", 2), ("ship", "Smith", 1), ("ship", "John", 1), ("ship", "MV Aurora", 3),
           ("tank, fuel", None, 2), ("tank", None, 1)]
TIMEOUT = 20_000  # ms a callback round may take on a busy two-core machine


@pytest.fixture(scope="module")
def names_catalog(postgres, tmp_path_factory):
    """One real image with the detections of TARGETS, served on loopback: (url, settings, db)."""
    from cogbrowser.ingest.detections import create_detections

    with shared_catalog(postgres, tmp_path_factory.mktemp("names")) as (settings, db):
        ingest_images(db, settings, [(IMAGE, "titiler/cog1.tif", None, datetime(2024, 5, 1, 10, tzinfo=timezone.utc),
                                      None)])
        with db.connection() as conn:
            image = queries.get_image(conn, IMAGE)
        assert image is not None
        west, south, east, north = image.bbox
        rows = []
        for target_class, name, count in TARGETS:
            for _ in range(count):
                n = len(rows) + 1
                lon, lat = west + (east - west) * n / 20, south + (north - south) / 2
                rows.append({"image_id": IMAGE, "target_class": target_class, "target_name": name,
                             "score": 0.5 + n / 100, "bbox": [lon, lat, lon + (east - west) / 50, lat + 0.0005]})
        ids, problems = create_detections(db, rows)
        assert not problems and len(ids) == sum(count for *_, count in TARGETS)
        with serving(settings, db) as url:
            yield url, settings, db


def expected(name: str | None = None, target_class: str | None = None) -> int:
    return sum(count for c, n, count in TARGETS if (name is None or n == name) and
               (target_class is None or c == target_class))


def test_the_ui_client_sends_a_name_with_a_comma_as_one_name(names_catalog):
    """The questions the pages ask, through their client, in an app of the same catalog."""
    from cogbrowser.app import create_app

    _, settings, db = names_catalog
    with create_app(settings, db).app_context():
        by_name = api.get(COUNTS, by="name", **Filters(names=("Smith, John",)).api_params())
        assert by_name["counts"] == [{"key": "Smith, John", "split": None, "count": expected("Smith, John")}]
        both = api.get(COUNTS, by="name", names=["Smith, John", "MV Aurora"])
        assert {row["key"]: row["count"] for row in both["counts"]} == {"Smith, John": 2, "MV Aurora": 3}
        tanks = api.get(COUNTS, by="class", classes=["tank, fuel"])
        assert tanks["counts"] == [{"key": "tank, fuel", "split": None, "count": expected(target_class="tank, fuel")}]
        # the Analytics report, the Browse page's overlay and its image search, as they ask
        assert report_answers(Filters(names=("Smith, John",))).summary["detections"] == 2
        drawn = api.get(DETECTIONS, f="geojson", **OverlayFilters(names=("Smith, John",)).api_params(IMAGE))
        assert sorted(f["properties"]["target_name"] for f in drawn["features"]) == ["Smith, John"] * 2
        found = api.get("/api/v1/images", detection_class=["tank, fuel"])["images"]
        assert [image["id"] for image in found] == [IMAGE]
        assert api.get("/api/v1/images", detection_class=["fuel"])["images"] == []


def test_a_name_with_a_comma_survives_the_page_url():
    """The Analytics URL keeps the name whole, and a class with a comma too."""
    filters = Filters(classes=("tank, fuel", "ship"), names=("Smith, John",))
    again, problems = Filters.from_query_string(filters.query_string())
    assert again == filters and problems == []
    assert Filters.from_query_string('class="tank, fuel",ship')[0].classes == ("tank, fuel", "ship")
    assert Filters.from_query_string("class=ship,aircraft")[0].classes == ("ship", "aircraft")


def test_the_dashboard_counts_only_the_detections_of_that_name(chromium, names_catalog):
    base = names_catalog[0]
    with browser_page(chromium, base) as page:
        page.goto(f"{base}/analytics?{Filters(names=('Smith, John',)).query_string()}", wait_until="networkidle")
        page.wait_for_function("""() => {
            const tiles = [...document.querySelectorAll('#an-kpis .kpi')];
            const detections = tiles.find(t => t.querySelector('.kpi-label').textContent === 'Detections');
            return detections && detections.querySelector('.kpi-value').textContent === '2';
        }""", timeout=TIMEOUT)
        assert page.locator("#an-names").inner_text().count("Smith, John") == 1  # one chosen name, not two
        names = page.evaluate("""() => {
            const title = [...document.querySelectorAll('#an-report h2')]
                .find(h => h.textContent.trim() === 'Most seen targets');
            let node = title && title.nextElementSibling;
            while (node && node.tagName !== 'TABLE') node = node.nextElementSibling;
            return node ? [...node.querySelectorAll('tbody tr')].map(
                tr => [...tr.children].map(td => td.textContent.trim())) : null;
        }""")
        assert names == [["Smith, John", "ship", "2"]]


def test_the_map_draws_only_the_detections_of_that_name(chromium, names_catalog):
    base = names_catalog[0]
    state = BrowseState(image=IMAGE, overlay=OverlayFilters(names=("Smith, John",)))
    with browser_page(chromium, base) as page:
        page.goto(base + "/" + state.query_string(), wait_until="networkidle")
        open_tab_of_shown_image(page, "Detections")
        summary = page.locator(".det-summary")
        summary.wait_for(timeout=TIMEOUT)
        total = sum(count for *_, count in TARGETS)
        assert f"2 of {total:,} detections drawn" in summary.inner_text()
        page.wait_for_function(
            "() => document.querySelectorAll('.leaflet-browse-detections-pane path').length === 2", timeout=TIMEOUT)
