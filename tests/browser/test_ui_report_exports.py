"""Issue 14, item 8: report-ready exports from the Browse page's Export tool, as an analyst makes
them in Debian's chromium on the demo data: a PNG clipped to a round area of interest with a scale
bar, a legend and their own caption; the same as a KMZ and a JPEG; a timelapse as an MP4 at the
speed chosen, within the search's cloud limit. The files are checked as a reader would see them,
against the API asked the same question.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile

import imageio_ffmpeg
import numpy as np
import pytest
import requests
from PIL import Image, ImageSequence

from cogbrowser.raster.decorations import CAPTION_BACKGROUND, INK
from cogbrowser.ui.map_state import BrowseState, SearchFilters, Visualization

pytestmark = pytest.mark.browser

S2 = "S2_demo_20240601"
COLLECTION = "sentinel2-demo"
KML = "{http://www.opengis.net/kml/2.2}"


def round_area(base: str, share: float = 0.12) -> dict:
    """A circle of `share` of the image's width around a point off its centre (edges short enough
    that the server's densifying changes nothing)."""
    west, south, east, north = requests.get(f"{base}/api/v1/images/{S2}", timeout=30).json()["bbox"]
    lon, lat = west + (east - west) * 0.45, south + (north - south) * 0.55
    rx, ry = (east - west) * share / 2, (north - south) * share / 2
    ring = [[round(lon + rx * math.cos(2 * math.pi * i / 48), 6), round(lat + ry * math.sin(2 * math.pi * i / 48), 6)]
            for i in range(48)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def open_export(page, base: str, state: BrowseState) -> None:
    page.goto(base + "/" + state.query_string(), wait_until="networkidle")
    page.wait_for_selector(".leaflet-container")
    page.locator("details.tool > summary", has_text="Export").click()
    page.wait_for_function("() => /[?&](style|bands|expression)=/.test(location.search)", timeout=30_000)


def download(page, button: str):
    with page.expect_download(timeout=120_000) as started:
        page.get_by_role("button", name=button, exact=True).click()
    return started.value


def test_a_report_picture_clipped_to_the_area_with_scale_bar_legend_and_caption(ui_page, demo_server):
    base = demo_server[0]
    area = round_area(base)
    open_export(ui_page, base, BrowseState(image=S2, visualization=Visualization(style="true-color"),
                                           search=SearchFilters(aoi=area)))
    for label in ("Scale bar", "Legend"):
        ui_page.locator("#browse-export-decorations").get_by_text(label).click()
    ui_page.locator("#browse-export-caption").fill("Harbour, 1 June: before the works")

    png = download(ui_page, "PNG")
    assert png.suggested_filename.endswith(".png")
    rgba = np.asarray(Image.open(png.path()).convert("RGBA"))
    height, width = rgba.shape[:2]
    assert rgba[height // 2, width // 2, 3] == 255, "inside the circle: the image"
    assert rgba[height // 5, width // 20, 3] == 0, "outside the circle, within its box: transparent"
    assert np.all(rgba[:10, :, :3] == CAPTION_BACKGROUND[:3], axis=2).mean() > 0.5, "the caption across the top"
    ink = np.all(rgba[..., :3] == INK[:3], axis=2)
    assert ink[height * 3 // 4:, : width // 2].sum() > 20, "the scale bar at the bottom left"
    white = np.all(rgba[..., :3] == 255, axis=2)
    assert white[height // 2:, width * 3 // 4:].sum() > 200, "the legend at the bottom right"

    # the same picture laid on the ground: a KMZ over the circle's box, the legend on screen
    kmz = download(ui_page, "KMZ")
    assert kmz.suggested_filename.endswith(".kmz")
    with zipfile.ZipFile(kmz.path()) as archive:
        kml = ET.fromstring(archive.read("doc.kml"))
        box = kml.find(f".//{KML}LatLonBox")
        lons, lats = zip(*area["coordinates"][0])
        assert float(box.find(f"{KML}west").text) == pytest.approx(min(lons), abs=1e-5)
        assert float(box.find(f"{KML}north").text) == pytest.approx(max(lats), abs=1e-5)
        assert kml.find(f".//{KML}GroundOverlay/{KML}name").text == "Harbour, 1 June: before the works"
        overlay = np.asarray(Image.open(io.BytesIO(archive.read("files/overlay.png"))).convert("RGBA"))
        assert overlay[0, 0, 3] == 0 and overlay[overlay.shape[0] // 2, overlay.shape[1] // 2, 3] == 255
        assert kml.find(f".//{KML}ScreenOverlay") is not None, "the legend, ticked"

    jpeg = download(ui_page, "JPEG")
    assert jpeg.suggested_filename.endswith(".jpg") and Image.open(jpeg.path()).format == "JPEG"
    assert "error" not in ui_page.locator("#browse-export-result").inner_html()


def test_a_timelapse_as_a_video_at_the_chosen_speed_leaves_out_cloudy_dates(ui_page, demo_server, tmp_path):
    base = demo_server[0]
    images = requests.get(f"{base}/api/v1/images", params={"collections": COLLECTION, "limit": 100},
                          timeout=30).json()["images"]
    clouds = sorted(image["cloud_cover"] for image in images if image.get("cloud_cover") is not None)
    limit = clouds[len(clouds) // 2]  # about half the dates are cloudier
    area = round_area(base, share=0.08)
    open_export(ui_page, base, BrowseState(image=S2, visualization=Visualization(style="true-color"),
                                           search=SearchFilters(aoi=area, max_cloud=limit)))
    ui_page.locator("#browse-export-movie").click()
    ui_page.get_by_role("option", name="MP4").click()
    ui_page.locator("#browse-export-speed").click()
    ui_page.get_by_role("option", name="2 dates/s").click()
    video = download(ui_page, "Timelapse")
    assert video.suggested_filename == f"{COLLECTION}-timelapse.mp4"
    path = tmp_path / "timelapse.mp4"
    video.save_as(path)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["fps"] == 2
    lons, lats = zip(*area["coordinates"][0])
    box = f"{min(lons)},{min(lats)},{max(lons)},{max(lats)}"
    oracle = requests.get(f"{base}/api/v1/collections/{COLLECTION}/timelapse.gif", timeout=120, params={
        "bbox": box, "style": "true-color", "max_cloud_cover": f"{limit:g}", "width": 64})
    every = requests.get(f"{base}/api/v1/collections/{COLLECTION}/timelapse.gif", timeout=120, params={
        "bbox": box, "style": "true-color", "width": 64})
    clear_dates = sum(1 for _ in ImageSequence.Iterator(Image.open(io.BytesIO(oracle.content))))
    all_dates = sum(1 for _ in ImageSequence.Iterator(Image.open(io.BytesIO(every.content))))
    assert frames == clear_dates < all_dates, (frames, clear_dates, all_dates)
    ui_page.locator("#browse-export-jobs video.gif-preview").wait_for(state="attached")  # the video in its card
