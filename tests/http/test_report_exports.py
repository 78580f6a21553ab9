"""Issue 14, item 8: report-ready exports. A picture export may carry a scale bar, a north arrow,
the legend, a caption and the image's detections; it may be masked to the area of interest; it
may be a KMZ for Google Earth. Checked on a real Landsat COG (UTM 18N, 300 m pixels) by what a
reader of the picture sees: the scale bar's length against the pixels' ground size, the outline
where the detection is, transparency exactly outside the polygon (rasterio's own mask as the
oracle), the KMZ's box where the export was asked.
"""

from __future__ import annotations

import io
import json
import math
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import requests
from PIL import Image
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.warp import transform_geom

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.raster.decorations import CAPTION_BACKGROUND, INK, OUTLINE
from helpers import ingest_images, serving, shared_catalog

IMAGE = ("cog1", "titiler/cog1.tif", None, None, None)  # Landsat 8, UTM 18N, 300 m, 779 x 790
BOX = "-74.9,45.6,-73.9,46.4"
LOOK = {"bands": "1,2,3", "rescale": "0,20000"}
SHIP = {"type": "Polygon", "coordinates": [[[-74.5, 46.0], [-74.3, 46.0], [-74.3, 46.15], [-74.5, 46.15],
                                            [-74.5, 46.0]]]}
KML = "{http://www.opengis.net/kml/2.2}"

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def base(postgres, tmp_path_factory):
    """The app with cog1 and one detection on it ("MV Aurora", a ship, score 0.9)."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("report")) as (settings, db):
        ingest_images(db, settings, [IMAGE])
        with db.connection() as conn, conn.transaction():
            queries.insert_detections(conn, [{
                "image_id": "cog1", "target_class": "ship", "target_name": "MV Aurora", "score": 0.9,
                "geometry": SHIP, "bbox": (-74.5, 46.0, -74.3, 46.15)}])
            path = image_file(settings, queries.get_image(conn, "cog1"))
        with serving(settings, db) as url:
            yield url, path


def export(url: str, **params) -> requests.Response:
    return requests.get(f"{url}/api/v1/images/cog1/export", params={**LOOK, **params}, timeout=60)


def picture(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def problem(response: requests.Response, status: int, *words: str) -> None:
    assert response.status_code == status and response.headers["Content-Type"] == "application/problem+json"
    assert all(word in response.json()["detail"] for word in words), response.json()["detail"]


def test_the_scale_bar_is_as_long_as_the_distance_it_names(base):
    """In the image's own CRS at its own 300 m pixels, a scale bar of d metres is d / 300 pixels
    long (UTM's scale factor is within 0.1 % there); d is a round 1, 2 or 5 x 10^n."""
    url, _ = base
    plain = picture(export(url, bbox=BOX, format="png"))
    drawn = picture(export(url, bbox=BOX, format="png", decorations="scale_bar"))
    height, width = plain.shape[:2]
    changed = np.any(plain != drawn, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.min() > height / 2 and cols.max() < width / 2, "the scale bar is in the bottom left corner only"
    ink = np.all(drawn[..., :3] == INK[:3], axis=2)
    row = max(range(height), key=lambda r: ink[r, : width // 2].sum())  # the bar's middle row
    ink_cols = np.nonzero(ink[row])[0]
    bar_pixels = ink_cols.max() - ink_cols.min()
    longest = 300.038 * width / 4
    power = 10 ** math.floor(math.log10(longest))
    metres = max(step * power for step in (1, 2, 5) if step * power <= longest)
    assert abs(bar_pixels - metres / 300.038) <= 2, (bar_pixels, metres)


def test_caption_legend_and_north_arrow_sit_in_their_corners(base):
    url, _ = base
    plain = picture(export(url, bbox=BOX, format="png", width=600))
    drawn = picture(export(url, bbox=BOX, format="png", width=600, decorations="caption,legend,north_arrow"))
    height, width = plain.shape[:2]
    band = np.all(drawn[:20, :, :3] == CAPTION_BACKGROUND[:3], axis=2)
    assert band.mean() > 0.5, "a dark caption band across the top"
    white = np.all(drawn[..., :3] == 255, axis=2)
    assert white[height // 2:, width * 3 // 4:].sum() > 500, "the legend's white card at the bottom right"
    assert not np.array_equal(drawn[20:height // 4, width * 3 // 4:], plain[20:height // 4, width * 3 // 4:]), \
        "the north arrow at the top right, below the caption"
    assert np.array_equal(drawn[height // 3: height * 2 // 3, : width // 2],
                          plain[height // 3: height * 2 // 3, : width // 2]), "the middle is the picture"
    own = picture(export(url, bbox=BOX, format="png", width=600, caption="Port of Montreal, before"))
    assert not np.array_equal(own[:20], drawn[:20]) and np.all(own[:20, :, :3] == CAPTION_BACKGROUND[:3],
                                                                axis=2).mean() > 0.5


def test_detections_are_outlined_where_they_are_and_filtered(base):
    """The ship's footprint, moved into the picture's CRS: its outline's pixels are yellow."""
    url, _ = base
    response = export(url, bbox=BOX, format="png", crs="EPSG:4326", width=500, decorations="detections")
    drawn = picture(response)
    height, width = drawn.shape[:2]
    west, south, east, north = map(float, BOX.split(","))
    yellow = np.all(drawn[..., :3] == OUTLINE[:3], axis=2)
    for lon, lat in SHIP["coordinates"][0][:4]:
        col, row = round((lon - west) / (east - west) * width), round((north - lat) / (north - south) * height)
        assert yellow[row - 2: row + 3, col - 2: col + 3].any(), f"no outline at the corner {lon},{lat}"
    assert yellow.sum() < 0.05 * yellow.size, "an outline, not a filled box"
    none = picture(export(url, bbox=BOX, format="png", crs="EPSG:4326", width=500, decorations="detections",
                          detection_min_score="0.95"))
    assert not np.all(none[..., :3] == OUTLINE[:3], axis=2).any(), "0.9 is below the score asked"
    other = picture(export(url, bbox=BOX, format="png", crs="EPSG:4326", width=500, decorations="detections",
                           detection_classes="aircraft"))
    assert not np.all(other[..., :3] == OUTLINE[:3], axis=2).any(), "no aircraft on the image"


def circle(lon: float, lat: float, radius: float, vertices: int = 60) -> dict:
    ring = [[lon + radius * math.cos(2 * math.pi * i / vertices), lat + radius * math.sin(2 * math.pi * i / vertices)]
            for i in range(vertices)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_an_export_clipped_to_the_area_is_masked_exactly_outside_it(base):
    """Without a bbox, the export covers the polygon's bounds; outside the polygon the PNG is
    transparent and the GeoTIFF is no data, pixel for pixel as rasterio masks the same polygon."""
    url, _ = base
    area = circle(-74.4, 46.0, 0.08)  # edges under the server's 0.01 degree densify step
    tif = export(url, format="tif", geometry=json.dumps(area), bands=None, rescale=None)
    assert tif.status_code == 200, tif.text
    with MemoryFile(tif.content) as memory, memory.open() as dst:
        zone = transform_geom("EPSG:4326", dst.crs, area)
        outside = geometry_mask([zone], out_shape=dst.shape, transform=dst.transform)
        valid = dst.dataset_mask() > 0
        assert valid.any() and not valid[outside].any(), "no data outside the area"
        assert valid[~outside].mean() > 0.99, "the image's values inside it"
        transform, shape = dst.transform, dst.shape
    png = picture(export(url, format="png", geometry=json.dumps(area)))
    assert png.shape[:2] == shape
    outside = geometry_mask([zone], out_shape=shape, transform=transform)
    assert (png[..., 3][outside] == 0).all() and (png[..., 3][~outside] > 0).mean() > 0.99
    jpeg = export(url, format="jpg", geometry=json.dumps(area))
    assert jpeg.status_code == 200 and jpeg.headers["Content-Type"] == "image/jpeg"
    flat = np.asarray(Image.open(io.BytesIO(jpeg.content)).convert("RGB")).astype(int)
    assert (flat[outside] > 240).all(axis=1).mean() > 0.98, "white outside the area (a JPEG has no transparency)"
    assert (flat[~outside] < 200).all(axis=1).mean() > 0.9, "the picture inside it"


def test_a_kmz_lays_the_picture_on_the_box_asked(base):
    url, _ = base
    response = export(url, bbox=BOX, format="kmz", width=400, decorations="legend,caption,detections")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.google-earth.kmz"
    assert response.headers["Content-Disposition"].endswith('.kmz"')
    with zipfile.ZipFile(io.BytesIO(response.content)) as kmz:
        assert kmz.namelist()[0] == "doc.kml"
        kml = ET.fromstring(kmz.read("doc.kml"))
        box = kml.find(f".//{KML}LatLonBox")
        assert [float(box.find(f"{KML}{side}").text) for side in ("west", "south", "east", "north")] == \
            pytest.approx([float(v) for v in BOX.split(",")], abs=1e-9)
        overlay = Image.open(io.BytesIO(kmz.read(kml.find(f".//{KML}GroundOverlay/{KML}Icon/{KML}href").text)))
        assert overlay.size[0] == 400 and overlay.format == "PNG"
        yellow = np.all(np.asarray(overlay.convert("RGBA"))[..., :3] == OUTLINE[:3], axis=2)
        assert yellow.any(), "the ship is outlined on the overlay"
        legend = kml.find(f".//{KML}ScreenOverlay/{KML}Icon/{KML}href").text
        assert Image.open(io.BytesIO(kmz.read(legend))).format == "PNG"
        assert kml.find(f".//{KML}GroundOverlay/{KML}name").text.startswith("cog1")


def test_a_report_export_made_by_a_job_is_the_same_file(base):
    url, _ = base
    params = {**LOOK, "bbox": BOX, "format": "kmz", "width": "300", "decorations": "caption"}
    at_once = requests.get(f"{url}/api/v1/images/cog1/export", params=params, timeout=60)
    job = requests.get(f"{url}/api/v1/images/cog1/export", params=params, timeout=60,
                       headers={"Prefer": "respond-async"})
    assert job.status_code == 202, job.text
    from test_export_jobs import until_finished
    done = until_finished(job.headers["Location"])
    assert done["state"] == "succeeded", done
    made = requests.get(done["result_url"], timeout=30)
    assert made.headers["Content-Type"] == "application/vnd.google-earth.kmz"
    with zipfile.ZipFile(io.BytesIO(made.content)) as one, zipfile.ZipFile(io.BytesIO(at_once.content)) as other:
        assert one.read("doc.kml") == other.read("doc.kml")
        assert one.read("files/overlay.png") == other.read("files/overlay.png")


@pytest.mark.parametrize("params, parameter, words", [
    ({"format": "tif", "decorations": "legend"}, "decorations", ("pictures",)),
    ({"format": "tif", "caption": "x"}, "caption", ("pictures",)),
    ({"format": "png", "decorations": "legend,compass"}, "decorations", ("compass",)),
    ({"format": "kmz", "crs": "EPSG:3857"}, "crs", ("4326",)),
    ({"format": "kmz", "decorations": "scale_bar"}, "decorations", ("scale_bar", "Google Earth")),
    ({"format": "png", "detection_min_score": "0.5"}, "detection_min_score", ("detections",)),
    ({"format": "png", "geometry": '{"type": "Point", "coordinates": [0, 0]}'}, "geometry", ()),
])
def test_report_options_that_cannot_apply_are_refused_by_name(base, params, parameter, words):
    url, _ = base
    response = requests.get(f"{url}/api/v1/images/cog1/export", params={"bbox": BOX, **params}, timeout=30)
    problem(response, 400, parameter, *words)


def test_an_area_outside_the_image_is_a_404_naming_it(base):
    url, _ = base
    response = export(url, format="png", geometry=json.dumps(circle(10.0, 10.0, 0.1)))
    problem(response, 404, "outside")
