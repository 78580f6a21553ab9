"""An area across a collection's dates: a time series of an index, and a timelapse GIF."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timezone

import imageio_ffmpeg
import numpy as np
import pytest
import requests
from PIL import Image, ImageSequence
from pyproj import Transformer

from cogbrowser.catalog import queries
from helpers import ingest_images

UTC = timezone.utc
IMAGES = [("cog1", "titiler/cog1.tif", "landsat", datetime(2020, 1, 1, tzinfo=UTC), None),
          ("cog2", "titiler/cog2.tif", "landsat", datetime(2020, 2, 1, tzinfo=UTC), None)]


@pytest.fixture
def landsat(db, settings, live_server):
    with db.connection() as conn:
        queries.upsert_collection(conn, "landsat", "Landsat")
    ingest_images(db, settings, IMAGES)
    with db.connection() as conn:
        boxes = [queries.get_image(conn, image_id).bbox for image_id, *_ in IMAGES]
    # a small box inside both images
    west, south = max(b[0] for b in boxes), max(b[1] for b in boxes)
    east, north = min(b[2] for b in boxes), min(b[3] for b in boxes)
    w, s = west + (east - west) * 0.4, south + (north - south) * 0.4
    return live_server, (w, s, w + (east - west) * 0.1, s + (north - south) * 0.1)


def test_a_time_series_is_the_statistics_of_each_date(landsat):
    base, bbox = landsat
    box = ",".join(map(str, bbox))
    series = requests.get(f"{base}/api/v1/collections/landsat/timeseries", params={"bbox": box, "expression": "b1*2"})
    assert series.status_code == 200, series.text
    points = series.json()["points"]
    assert [p["image_id"] for p in points] == ["cog1", "cog2"], "oldest first"
    for point in points:  # each equals the statistics of that image over the same bbox
        single = requests.get(f"{base}/api/v1/images/{point['image_id']}/statistics",
                              params={"bbox": box, "expression": "b1*2"}).json()["statistics"][0]
        assert point["mean"] == pytest.approx(single["mean"]) and point["count"] == single["count"] > 0
    table = requests.get(f"{base}/api/v1/collections/landsat/timeseries",
                         params={"bbox": box, "expression": "b1*2", "f": "csv"})
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [float(r["mean"]) for r in rows] == pytest.approx([p["mean"] for p in points])
    assert "attachment" in table.headers["Content-Disposition"]


def test_a_timelapse_has_a_frame_per_date(landsat):
    base, bbox = landsat
    answer = requests.get(f"{base}/api/v1/collections/landsat/timelapse.gif",
                          params={"bbox": ",".join(map(str, bbox)), "width": 200, "rescale": "0,20000"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/gif"
    gif = Image.open(io.BytesIO(answer.content))
    frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == 2 and gif.size[0] == 200
    assert np.asarray(frames[0]).tolist() != np.asarray(frames[1]).tolist(), "two dates, two pictures"


def test_a_timelapse_as_a_video_of_clear_dates_at_the_frame_rate_asked(landsat, db, tmp_path):
    """An MP4 (H.264, read back by ffmpeg) with a frame per date, shown 1/fps seconds each; a
    cloud limit leaves the cloudy date out, in the GIF as in the video."""
    base, bbox = landsat
    params = {"bbox": ",".join(map(str, bbox)), "width": 201, "rescale": "0,20000", "fps": 2}
    answer = requests.get(f"{base}/api/v1/collections/landsat/timelapse.mp4", params=params, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "video/mp4", answer.text
    assert answer.headers["Content-Disposition"] == 'inline; filename="landsat-timelapse.mp4"'
    reader = imageio_ffmpeg.read_frames(saved(answer.content, tmp_path / "all.mp4"))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8) for f in reader]
    assert meta["fps"] == 2 and meta["size"][0] == 202, meta  # 201 padded to even, for H.264
    assert len(frames) == 2 and not np.array_equal(frames[0], frames[1])
    with db.connection() as conn:
        conn.execute("UPDATE images SET cloud_cover = CASE id WHEN 'cog2' THEN 60 ELSE 5 END")
    clear = requests.get(f"{base}/api/v1/collections/landsat/timelapse.mp4", timeout=60,
                         params={**params, "max_cloud_cover": 20})
    reader = imageio_ffmpeg.read_frames(saved(clear.content, tmp_path / "clear.mp4"))
    next(reader)
    assert sum(1 for _ in reader) == 1, "cog2 is cloudier than 20 %"
    gif = requests.get(f"{base}/api/v1/collections/landsat/timelapse.gif", timeout=60,
                       params={**params, "max_cloud_cover": 20})
    assert sum(1 for _ in ImageSequence.Iterator(Image.open(io.BytesIO(gif.content)))) == 1
    assert Image.open(io.BytesIO(gif.content)).info["duration"] == 500, "2 frames per second"


def saved(content: bytes, path) -> str:
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("path, params, status, named", [
    ("landsat/timelapse.mp4", {"bbox": "0,0,1,1", "fps": "2", "frame_ms": "500"}, 400, "fps"),
    ("landsat/timelapse.mp4", {"bbox": "0,0,1,1", "fps": "50"}, 400, "fps"),
    ("landsat/timeseries", {}, 400, "bbox"),
    ("landsat/timeseries", {"bbox": "0,0,1,1", "geometry": '{"type":"Point","coordinates":[0,0]}'}, 400, "geometry"),
    ("landsat/timeseries", {"bbox": "0,0,1,1"}, 404, "covers the area"),
    ("landsat/timeseries", {"bbox": "-75,45,-74,46", "expression": "b9"}, 400, "b9"),
    ("nope/timeseries", {"bbox": "0,0,1,1"}, 404, "nope"),
    ("cog1/timelapse.gif", {"bbox": "0,0,1,1"}, 404, "not a collection"),
    ("landsat/timelapse.gif", {"bbox": "0,0,1,1", "width": "5000"}, 400, "width"),
])
def test_bad_requests_say_why(landsat, path, params, status, named):
    base, _ = landsat
    answer = requests.get(f"{base}/api/v1/collections/{path}", params=params)
    assert answer.status_code == status and named in answer.json()["detail"], answer.text


# ---------------------------------------------------------------- across the antimeridian

ACROSS = "179.9,51.6,-179.5,51.9"  # west > east: 0.6 degrees across the antimeridian, over the Aleutians


@pytest.fixture
def aleutians(db, settings, live_server):
    with db.connection() as conn:
        queries.upsert_collection(conn, "aleutians", "Aleutians")
    ingest_images(db, settings, [("dateline", "rio-tiler/cog_dateline.tif", "aleutians",
                                  datetime(2021, 6, 1, tzinfo=UTC), None)])
    return live_server


def test_a_time_series_across_the_antimeridian(aleutians):
    series = requests.get(f"{aleutians}/api/v1/collections/aleutians/timeseries", params={"bbox": ACROSS})
    assert series.status_code == 200, series.text
    (point,) = series.json()["points"]
    single = requests.get(f"{aleutians}/api/v1/images/dateline/statistics", params={"bbox": ACROSS})
    assert single.status_code == 200, single.text
    expected = single.json()["statistics"][0]
    assert point["count"] == expected["count"] > 100_000  # about 41 x 33 km of 100 m pixels
    assert point["mean"] == pytest.approx(expected["mean"])


def test_a_timelapse_across_the_antimeridian(aleutians):
    """The frame is the 0.6 degrees asked, in Web Mercator past the world's edge, full of the image."""
    answer = requests.get(f"{aleutians}/api/v1/collections/aleutians/timelapse.gif",
                          params={"bbox": ACROSS, "width": 300, "label": "false"})
    assert answer.status_code == 200, answer.text
    gif = Image.open(io.BytesIO(answer.content))
    (_, bottom), (_, top) = zip(*Transformer.from_crs(4326, 3857, always_xy=True).transform([180, 180], [51.6, 51.9]))
    across = 6378137.0 * math.radians(0.6)
    assert gif.size == (300, round(300 * (top - bottom) / across))
    pixels = np.asarray(gif.convert("RGB")).reshape(-1, 3)
    background = (pixels == (236, 240, 234)).all(axis=1)
    assert background.mean() < 0.01, "the whole frame is the image"
    assert len(np.unique(pixels, axis=0)) > 1
