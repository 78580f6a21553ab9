"""A collection of many scenes drawn at a small scale from its overview: the same mosaic as drawn
from the scenes, current again soon after an ingest or a delete, and never used for a mosaic it does
not hold (a time filter leaving scenes out, another order)."""

from __future__ import annotations

import io
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
import requests
from PIL import Image
from rasterio.transform import from_origin

from cogbrowser.catalog import queries
from cogbrowser.collection_overviews import LOCK_SECONDS, overview_name
from cogbrowser.ingest.delete import delete_images
from cogbrowser.ingest.images import IngestRequest, ingest_file

WEB = morecantile.tms.get("WebMercatorQuad")
COLUMNS, ROWS = 4, 3  # 12 scenes of 25.6 km, 20 km apart: their overview is at zoom 9
DAY0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
CENTRE = (15.55, 45.40)  # lon, lat: inside the scenes' union
FLAT = {"rescale": "0,255"}  # one stretch for every scene: the pictures are comparable pixel for pixel


def scene(folder: Path, index: int, colour: tuple[int, int, int], origin: tuple[float, float]) -> Path:
    """A 256 x 256 RGB scene at 100 m in UTM 33N, all one colour."""
    path = folder / f"scene{index:02d}.tif"
    data = np.empty((3, 256, 256), np.uint8)
    data[:] = np.asarray(colour, np.uint8)[:, None, None]
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(*origin, 100, 100)) as dst:
        dst.write(data)
    return path


def colour_of(index: int) -> tuple[int, int, int]:
    return (20 + 17 * index) % 256, (200 - 13 * index) % 256, (60 + 29 * index) % 256


@pytest.fixture
def mosaic(db, settings, live_server, tmp_path):
    """A collection of 12 overlapping scenes, one day apart (the last one newest)."""
    for index in range(COLUMNS * ROWS):
        column, row = index % COLUMNS, index // COLUMNS
        path = scene(tmp_path, index, colour_of(index), (520000 + 20000 * column, 5060000 - 20000 * row))
        result = ingest_file(db, settings, IngestRequest(path=path, image_id=f"s{index:02d}", collection="grid",
                                                         acquired_at=DAY0 + timedelta(days=index)))
        assert result.status == "added", result.message
    return live_server


def picture(base: str, tile, **params) -> tuple[np.ndarray, str]:
    answer = requests.get(f"{base}/tiles/grid/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
                          params={**FLAT, **params}, timeout=60)
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA")), answer.headers["ETag"]


def from_scenes(base: str, tile, **params) -> np.ndarray:
    """The mosaic drawn from the scenes themselves: "closest to a day after them all" puts the same
    scene on top as "newest", but is not the overview's mosaic."""
    return picture(base, tile, **{"mosaic_order": "closest", "closest_to": "2030-01-01", **params})[0]


def overview_file(settings, db) -> Path:
    with db.connection() as conn:
        contents = queries.collection_contents(conn, "grid")
    return settings.overview_dir / overview_name("grid", contents.digest)


def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert time.monotonic() < deadline, f"no overview {path.name} after {timeout} s"
        time.sleep(0.1)


def alike(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels drawn the same (scene edges may move by a pixel between samplings)."""
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=-1) == 0).mean())


def test_a_small_scale_map_is_drawn_from_the_overview_as_from_the_scenes(mosaic, settings, db):
    tile = WEB.tile(*CENTRE, 8)
    first, first_tag = picture(mosaic, tile)  # the first small-scale map asks for the overview
    wait_for_file(overview_file(settings, db))
    drawn, tag = picture(mosaic, tile)
    assert tag != first_tag, "the map is not drawn from the overview once it is built"
    reference = from_scenes(mosaic, tile)
    assert alike(first, reference) == 1.0
    assert alike(drawn, reference) > 0.98
    assert (drawn[..., 3] == 255).mean() == pytest.approx((reference[..., 3] == 255).mean(), abs=0.01)
    newest = np.asarray(colour_of(COLUMNS * ROWS - 1))
    assert (drawn[..., :3] == newest).all(axis=-1).mean() > 0.02, "the newest scene is not on top"


def test_a_large_scale_map_is_drawn_from_the_scenes(mosaic, settings, db):
    picture(mosaic, WEB.tile(*CENTRE, 8))
    wait_for_file(overview_file(settings, db))
    tile = WEB.tile(*CENTRE, 12)
    assert np.array_equal(picture(mosaic, tile)[0], from_scenes(mosaic, tile))


def eventually(check, timeout: float = 10) -> None:
    """`check()` becomes true: what a server caches of the catalog (its layers) follows a change
    once PostgreSQL's notification of it arrives, a few milliseconds after the commit."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{check.__doc__ or check} is still not so after {timeout} s"
        time.sleep(0.05)


def test_the_overview_follows_an_ingest_and_a_delete(mosaic, settings, db, tmp_path):
    tile = WEB.tile(*CENTRE, 8)
    picture(mosaic, tile)
    wait_for_file(old := overview_file(settings, db))
    colour = (255, 0, 255)

    def late_scene_shown() -> float:
        return float((picture(mosaic, tile)[0][..., :3] == colour).all(axis=-1).mean())

    # A newer scene over the middle of the grid: on top at once (drawn from the scenes meanwhile),
    # then from the new overview, built without another small-scale map asking for it.
    path = scene(tmp_path, 99, colour, (545000, 5045000))
    assert ingest_file(db, settings, IngestRequest(path=path, image_id="late", collection="grid",
                                                   acquired_at=DAY0 + timedelta(days=60))).status == "added"
    eventually(lambda: late_scene_shown() > 0.01)
    new = overview_file(settings, db)
    assert new != old
    wait_for_file(new)
    eventually(lambda: not old.exists())  # the overview of the old contents is removed
    drawn = picture(mosaic, tile)[0]
    assert (drawn[..., :3] == colour).all(axis=-1).mean() > 0.01
    assert alike(drawn, from_scenes(mosaic, tile)) > 0.98

    delete_images(db, settings, ["late"])
    eventually(lambda: late_scene_shown() == 0)
    wait_for_file(old)  # the contents of before the ingest: their overview, built again
    time.sleep(0.5)
    assert late_scene_shown() == 0


@pytest.mark.parametrize("params", [{"datetime": "2024-05-01/2024-05-06"}, {"mosaic_order": "oldest"}])
def test_a_mosaic_the_overview_does_not_hold_is_drawn_from_the_scenes(mosaic, settings, db, params):
    tile = WEB.tile(*CENTRE, 8)
    before, before_tag = picture(mosaic, tile, **params)
    picture(mosaic, tile)
    wait_for_file(overview_file(settings, db))
    after, after_tag = picture(mosaic, tile, **params)
    assert after_tag == before_tag and np.array_equal(after, before)
    assert alike(after, picture(mosaic, tile)[0]) < 0.9, "the choice changes nothing in this tile"


def test_a_time_filter_holding_every_scene_is_drawn_from_the_overview(mosaic, settings, db):
    tile = WEB.tile(*CENTRE, 8)
    every = {"datetime": "2024-04-01/2024-12-31"}
    _, before_tag = picture(mosaic, tile, **every)
    wait_for_file(overview_file(settings, db))
    after, after_tag = picture(mosaic, tile, **every)
    assert after_tag != before_tag
    assert alike(after, picture(mosaic, tile)[0]) == 1.0


def test_wms_draws_a_small_scale_map_from_the_overview(mosaic, settings, db):
    """Every acquisition (TIME=../..: without TIME, WMS shows the newest one's scenes only)."""
    tile = WEB.tile(*CENTRE, 8)
    picture(mosaic, tile)
    wait_for_file(overview_file(settings, db))
    box = WEB.xy_bounds(tile)
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "grid", "STYLES": "",
              "CRS": "EPSG:3857", "BBOX": f"{box.left},{box.bottom},{box.right},{box.top}", "WIDTH": 256,
              "HEIGHT": 256, "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": "../..", **FLAT}
    answer = requests.get(f"{mosaic}/wms", params=params, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png", answer.text
    drawn = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))
    assert alike(drawn, picture(mosaic, tile)[0]) == 1.0


def test_an_overview_another_process_builds_is_not_built_twice(mosaic, settings, db):
    """Serving processes sharing a data dir: one builds, the others wait for its file; a lock left by
    a process that died building (older than LOCK_SECONDS) is taken over."""
    tile = WEB.tile(*CENTRE, 8)
    target = overview_file(settings, db)
    lock = target.with_name(target.name + ".building")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    first, _ = picture(mosaic, tile)
    time.sleep(2)
    assert not target.exists(), "built although another process holds the lock"
    assert alike(picture(mosaic, tile)[0], first) == 1.0  # drawn from the scenes meanwhile
    stale = time.time() - LOCK_SECONDS - 60
    os.utime(lock, (stale, stale))
    picture(mosaic, tile)
    wait_for_file(target)
    assert not lock.exists()


def test_an_overview_removed_by_hand_is_built_again(mosaic, settings, db):
    tile = WEB.tile(*CENTRE, 8)
    picture(mosaic, tile)
    wait_for_file(target := overview_file(settings, db))
    drawn, _ = picture(mosaic, tile)
    target.unlink()
    again = requests.get(f"{mosaic}/tiles/grid/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
                         params={**FLAT, "gamma": "1.0"}, timeout=60)  # not the cached picture
    assert again.status_code == 200, again.text  # drawn from the scenes meanwhile, not a 410
    wait_for_file(target)
    assert alike(picture(mosaic, tile, gamma="1.00")[0], drawn) == 1.0
