"""Exports and timelapses from the Browse page are jobs: the panel shows a card per job with its
progress and stage, a Cancel button, and once made the browser downloads the file from the job's
result URL; a failed job shows its error, a cancelled one says "Cancelled" and leaves no file; the
map keeps answering while a job runs.

Faults injected on purpose, in the server's jobs worker only (the request path is the real one):
the timelapse's steps are slowed (so there is time to cancel it and to pan the map meanwhile), and
a worker whose size limit is below what the page asks for (so the export job fails with the real
error the export code raises).
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path

import pytest
import rasterio
import requests
from flask import Flask
from PIL import Image

from cogbrowser.api.collection_reads import timelapse_job
from cogbrowser.api.image_reads import export_job
from cogbrowser.ui.map_state import BrowseState, SearchFilters, Visualization
from cogbrowser.web.context import services_of
from helpers import browser_page, serving, shared_catalog

S2 = "S2_demo_20240601"
COLLECTION = "sentinel2-demo"
STEP_SECONDS = 0.5  # each step of a timelapse job, slowed: seconds of work, time to cancel it
WORKER_MAX_SIZE = 512  # the failing worker's size limit, below the 1024 px the page asks for
CARDS = "#browse-export-jobs .job-card"


def slowed_timelapses(app: Flask) -> None:
    context = services_of(app)
    settings, db = context.settings, context.db

    def slowed(job, folder, report):
        def step(message: str) -> None:
            time.sleep(STEP_SECONDS)
            report(message)
        return timelapse_job(db, settings, job, folder, step)

    context.jobs.register("timelapse", slowed)


def small_worker(app: Flask) -> None:
    context = services_of(app)
    context.jobs.register("export", functools.partial(
        export_job, context.db, replace(context.settings, max_image_size=WORKER_MAX_SIZE)))


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory):
    """A demo catalog of these tests' own: every server sharing a catalog runs its jobs, and only
    the faulty workers below may run these."""
    from cogbrowser.demo import ensure_demo_data

    with shared_catalog(postgres, tmp_path_factory.mktemp("demo-jobs")) as (settings, db):
        ensure_demo_data(db, settings, lambda message: None)
        yield replace(settings, job_workers=1), db


@pytest.fixture
def slow_server(catalog):
    settings, db = catalog
    with serving(settings, db, inject=slowed_timelapses) as url:
        yield url, settings


@pytest.fixture
def failing_server(catalog):
    settings, db = catalog
    with serving(settings, db, inject=small_worker) as url:
        yield url


def aoi(base: str, share: float = 0.1) -> dict:
    west, south, east, north = requests.get(f"{base}/api/v1/images/{S2}", timeout=30).json()["bbox"]
    x, y = west + (east - west) * 0.45, south + (north - south) * 0.55
    dx, dy = (east - west) * share / 2, (north - south) * share / 2
    ring = [[x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy], [x - dx, y + dy], [x - dx, y - dy]]
    return {"type": "Polygon", "coordinates": [[[round(a, 6), round(b, 6)] for a, b in ring]]}


def open_export(page, base: str) -> None:
    state = BrowseState(image=S2, visualization=Visualization(style="true-color"), search=SearchFilters(aoi=aoi(base)))
    page.goto(base + "/" + state.query_string(), wait_until="networkidle")
    page.wait_for_selector(".leaflet-container")
    page.locator("details.tool > summary", has_text="Export").click()
    page.wait_for_function("() => /[?&](style|bands|expression)=/.test(location.search)", timeout=30_000)


def job_of(page, card) -> str:
    return card.get_attribute("data-job")


def test_an_export_is_a_job_card_whose_file_the_browser_downloads(chromium, slow_server, tmp_path):
    base, _ = slow_server
    with browser_page(chromium, base) as page:
        open_export(page, base)
        page.locator("#browse-export-values").get_by_text("every band").click()
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="GeoTIFF").click()
        card = page.locator(CARDS).first
        assert card.get_attribute("data-job").startswith("/api/v1/jobs/")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        with rasterio.open(saved) as exported:
            assert exported.crs is not None and exported.count > 1 and exported.width > 0
        card.locator(".job-download").wait_for()
        assert f"Saved {saved.name}" in card.inner_text()
        job = requests.get(base + job_of(page, card), timeout=30).json()
        assert job["state"] == "succeeded" and job["kind"] == "export"

        with page.expect_download(timeout=60_000) as download:  # a second job: both are listed
            page.get_by_role("button", name="PNG").click()
        assert page.locator(CARDS).count() == 2
        picture = Image.open(download.value.path())
        assert picture.format == "PNG" and picture.size[0] > 0
        with page.expect_download(timeout=60_000) as again:  # the link saves the same file again
            page.locator(CARDS).nth(1).locator(".job-download").click()
        assert Path(again.value.path()).read_bytes() == Path(download.value.path()).read_bytes()


def test_a_running_timelapse_shows_progress_keeps_the_map_usable_and_cancels_without_a_file(chromium, slow_server):
    base, settings = slow_server
    with browser_page(chromium, base) as page:
        open_export(page, base)
        page.get_by_role("button", name="Timelapse").click()
        card = page.locator(CARDS).first
        card.locator(".job-progress").wait_for(timeout=30_000)
        card.locator(".job-stage", has_text="%").wait_for(timeout=30_000)  # the job runs: its stage, in percent
        job_url = base + job_of(page, card)
        assert requests.get(job_url, timeout=30).json()["state"] == "running"

        tiles: list[str] = []
        page.on("request", lambda r: "/wms" in r.url and "GetMap" in r.url and tiles.append(r.url))
        box = page.locator(".leaflet-container").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 - 300, box["y"] + box["height"] / 2 - 200, steps=8)
        page.mouse.up()
        deadline = time.monotonic() + 30
        while not tiles:
            assert time.monotonic() < deadline, "the panned map asked no new tiles while the job ran"
            page.wait_for_timeout(100)
        assert requests.get(job_url, timeout=30).json()["state"] == "running"  # the map answered during the job

        card.get_by_role("button", name="Cancel").click()
        card.locator(".job-stage", has_text="Cancelled").wait_for(timeout=30_000)
        job = requests.get(job_url, timeout=30).json()
        assert job["state"] == "cancelled" and job["result_url"] is None
        assert requests.get(job_url + "/result", timeout=30).status_code in (404, 409, 410)
        assert not (settings.jobs_dir / job["id"]).exists()  # nothing left on the server's disk
        assert card.locator(".job-download").count() == 0


def test_a_failing_job_shows_its_error_in_the_card(chromium, failing_server):
    base = failing_server
    with browser_page(chromium, base) as page:
        open_export(page, base)
        page.locator("#browse-export-size").click()
        page.get_by_text("1024 px on the longer side").click()
        page.get_by_role("button", name="PNG").click()
        card = page.locator(CARDS).first
        card.locator(".job-stage", has_text="above the maximum").wait_for(timeout=60_000)
        job = requests.get(base + job_of(page, card), timeout=30).json()
        assert job["state"] == "failed" and job["error"]["detail"] in card.inner_text()
        assert f"{WORKER_MAX_SIZE} pixels" in card.inner_text()
        assert card.get_attribute("role") == "alert" and card.locator(".job-download").count() == 0


def test_job_cards_come_back_after_a_reload_without_saving_the_file_again(chromium, slow_server):
    base, _ = slow_server
    with browser_page(chromium, base) as page:
        open_export(page, base)
        with page.expect_download(timeout=60_000):
            page.get_by_role("button", name="PNG").click()
        made = page.locator(CARDS).first
        made.locator(".job-download").wait_for(timeout=30_000)
        job = job_of(page, made)
        page.get_by_role("button", name="Timelapse").click()  # still running when the page reloads
        running = page.locator(CARDS).nth(1)
        running.locator(".job-progress").wait_for(timeout=30_000)
        timelapse = job_of(page, running)

        downloads: list[str] = []
        page.on("download", lambda d: downloads.append(d.suggested_filename))
        assert requests.get(base + timelapse, timeout=30).json()["state"] in ("queued", "running")
        with page.expect_download(timeout=60_000) as finished:  # the timelapse goes on and is saved once made
            page.reload(wait_until="networkidle")
            page.locator("details.tool > summary", has_text="Export").click()
            cards = page.locator(CARDS)
            cards.nth(1).wait_for(timeout=30_000)
            assert [job_of(page, cards.nth(i)) for i in range(cards.count())] == [job, timelapse]
        assert finished.value.suggested_filename.endswith(".gif")
        cards.nth(1).locator(".job-download").wait_for(timeout=30_000)
        cards.first.locator(".job-download").wait_for(timeout=30_000)  # saved before: offered, not saved again
        assert "Saved" in cards.first.inner_text()
        page.wait_for_timeout(1000)
        assert downloads == [finished.value.suggested_filename], "the export made before the reload was not saved again"
