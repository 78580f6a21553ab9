"""The demo data set: made once through the real ingest and detections import, then a no-op;
realistic enough to analyse (seasons in the fields, water darker than land in NIR,
detections on their targets); the same bytes on every run."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.files import sha256_file
from cogbrowser.catalog.records import stored_bbox
from cogbrowser.config import Settings
from cogbrowser.demo import (
    AERIAL_COLLECTION,
    COLLECTION_IDS,
    DEM_COLLECTION,
    DEMO_VERSION,
    S2_COLLECTION,
    dataset,
    demo_images,
    ensure_demo_data,
    sentinel2,
    world,
)
from cogbrowser.demo.canvas import X0, Y0

CLOUDY = {spec.image_id for spec in sentinel2.SCENES if spec.clouds > 0}
CLEAR = {spec.image_id for spec in sentinel2.SCENES if spec.clouds == 0}


@dataclass
class Demo:
    db: Database
    settings: Settings
    messages: list[str]

    def rows(self, sql: str, params=()) -> list[dict]:
        with self.db.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def cog(self, image_id: str) -> Path:
        row = self.rows("SELECT path FROM images WHERE id = %s", (image_id,))[0]
        return self.settings.data_dir / row["path"]


@pytest.fixture(scope="module")
def demo(postgres, tmp_path_factory) -> Demo:
    """One demo generation for the module, on a database of its own."""
    name = f"t_demo_{uuid.uuid4().hex[:10]}"
    url = postgres.create_database(name)
    data_dir = tmp_path_factory.mktemp("demo") / "data dir with spaces"
    data_dir.mkdir()
    settings = Settings.from_env(data_dir=data_dir, database_url=url)
    db = Database.open(settings)
    messages: list[str] = []
    ensure_demo_data(db, settings, messages.append)
    yield Demo(db, settings, messages)
    db.close()
    postgres.drop_database(name)


def ndvi_at(path: Path, u: float, v: float, radius_px: int = 1) -> float:
    """Mean NDVI of a small window of a Sentinel-2 COG around local coordinates (u, v)."""
    with rasterio.open(path) as src:
        row, col = src.index(X0 + u, Y0 - v)
        window = rasterio.windows.Window(col - radius_px, row - radius_px, 2 * radius_px + 1, 2 * radius_px + 1)
        red, nir = (src.read(b, window=window).astype(np.float64) for b in (3, 4))
    return float(np.mean((nir - red) / (nir + red)))


def test_first_run_says_what_it_does(demo):
    text = "\n".join(demo.messages)
    assert "Making the demo data set" in text
    assert "S2_demo_20240412" in text and "aerial_port_20240618" in text and "dem_demo_30m" in text
    assert "detections imported" in text
    assert demo.messages[-1].startswith("Demo data set ready")
    assert not (demo.settings.data_dir / dataset.SOURCES_DIR).exists(), "the generated sources must be removed"
    assert not demo.settings.tmp_dir.exists() or not any(demo.settings.tmp_dir.iterdir()), "no work files left"


def test_collections_have_bands_presets_and_version(demo):
    with demo.db.connection() as conn:
        s2 = queries.get_collection(conn, S2_COLLECTION)
        aerial = queries.get_collection(conn, AERIAL_COLLECTION)
        dem = queries.get_collection(conn, DEM_COLLECTION)
    assert [b["name"] for b in s2.bands] == ["B02", "B03", "B04", "B08"]
    assert [b["common_name"] for b in s2.bands] == ["blue", "green", "red", "nir"]
    assert s2.bands[3]["center_wavelength"] == pytest.approx(0.842)
    presets = {p["name"]: p for p in s2.presets}
    assert presets["true-color"]["bands"] == ["B04", "B03", "B02"]
    assert presets["false-color"]["bands"] == ["B08", "B04", "B03"]
    assert presets["ndvi"]["expression"] == "(B08-B04)/(B08+B04)" and presets["ndvi"]["colormap"] == "rdylgn"
    preset_keys = {"name", "title", "bands", "expression", "rescale", "colormap", "gamma"}
    for preset in s2.presets + aerial.presets + dem.presets:
        assert {"name", "title"} <= set(preset) <= preset_keys
        assert "bands" in preset or "expression" in preset
    assert [b["name"] for b in aerial.bands] == ["red", "green", "blue"]
    assert aerial.presets[0]["bands"] == ["red", "green", "blue"]
    terrain = dem.presets[0]
    assert terrain["colormap"] == "terrain" and terrain["rescale"][0][0] == 0 and terrain["rescale"][0][1] > 300
    for collection in (s2, aerial, dem):
        assert collection.properties["demo_version"] == DEMO_VERSION
        assert collection.title and collection.description


def test_images_have_their_dates_and_cloud_cover(demo):
    rows = {r["id"]: r for r in demo.rows("SELECT * FROM images")}
    assert set(rows) == {i.image_id for i in demo_images()}
    for image in demo_images():
        row = rows[image.image_id]
        assert row["collection_id"] == image.collection
        assert row["acquired_at"] == image.acquired, "the acquisition time comes from the GeoTIFF tags"
        assert row["epsg"] == 32633
    for image_id in CLOUDY:
        assert 1 < rows[image_id]["cloud_cover"] < 80
    for image_id in CLEAR:
        assert rows[image_id]["cloud_cover"] == 0
    assert rows["S2_demo_20241004"]["cloud_cover"] > rows["S2_demo_20240626"]["cloud_cover"]
    assert rows["aerial_port_20240618"]["cloud_cover"] == 0
    assert rows["dem_demo_30m"]["cloud_cover"] is None
    s2 = rows["S2_demo_20240412"]
    assert (s2["width"], s2["height"], s2["band_count"], s2["dtype"], s2["nodata"]) == (2048, 2048, 4, "uint16", 0)
    assert s2["resolution"] == [10.0, 10.0]
    aerial = rows["aerial_port_20240618"]
    assert (aerial["band_count"], aerial["dtype"], aerial["resolution"]) == (3, "uint8", [0.5, 0.5])
    dem = rows["dem_demo_30m"]
    assert (dem["dtype"], dem["nodata"], dem["resolution"]) == ("float32", -9999.0, [30.0, 30.0])
    # all of them in one place: the aerial photo inside the Sentinel-2 scene, the DEM around it
    west, south, east, north = stored_bbox(s2["bbox"])
    assert 13.3 < west < east < 13.8 and 45.6 < south < north < 45.9
    a = stored_bbox(aerial["bbox"])
    assert west < a[0] < a[2] < east and south < a[1] < a[3] < north
    d = stored_bbox(dem["bbox"])
    assert d[0] <= west and d[2] > east and d[1] < south and d[3] > north


def test_the_wedge_scene_has_no_data_in_a_corner(demo):
    with rasterio.open(demo.cog("S2_demo_20240626")) as src:
        mask = src.dataset_mask(out_shape=(256, 256))
    assert mask[0, -1] == 0 and mask[-1, 0] == 255 and mask[-1, -1] == 255
    assert 0.05 < (mask == 0).mean() < 0.3


@pytest.mark.parametrize("image", demo_images(), ids=lambda i: i.image_id)
def test_every_image_is_a_valid_cog(demo, image):
    path = demo.cog(image.image_id)
    assert path.is_file() and path.parent == demo.settings.cog_dir
    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    assert valid, errors


def test_detections_cover_every_class_and_follow_named_targets(demo):
    total = demo.rows("SELECT count(*) AS n FROM detections")[0]["n"]
    assert 3000 <= total <= 5000
    classes = {r["target_class"]: r["n"] for r in demo.rows(
        "SELECT target_class, count(*) AS n FROM detections GROUP BY 1")}
    assert set(classes) == {"ship", "aircraft", "vehicle", "storage_tank", "building"}
    assert classes["vehicle"] > 300 and classes["ship"] > 100 and classes["storage_tank"] > 100
    followed = demo.rows(
        "SELECT target_name, count(DISTINCT detected_at::date) AS days FROM detections WHERE target_class = 'ship'"
        " AND target_name IS NOT NULL GROUP BY 1 HAVING count(DISTINCT detected_at::date) >= 3")
    assert len(followed) >= 5
    named = demo.rows("SELECT count(*) AS n FROM detections WHERE target_name IS NOT NULL")[0]["n"]
    assert 200 < named < total / 2, "many detections are unnamed"
    scores = np.array([r["score"] for r in demo.rows("SELECT score FROM detections")])
    assert scores.min() > 0 and scores.max() < 1
    assert 0.6 < np.median(scores) < 0.95 and (scores < 0.5).mean() > 0.02
    # detected at the image's acquisition time, inside the image (pixels and on the Earth)
    assert demo.rows("SELECT count(*) AS n FROM detections d JOIN images i ON i.id = d.image_id"
                     " WHERE d.detected_at <> i.acquired_at")[0]["n"] == 0
    assert demo.rows("SELECT count(*) AS n FROM detections d JOIN images i ON i.id = d.image_id"
                     " WHERE NOT (d.bbox <@ i.bbox)")[0]["n"] == 0
    for row in demo.rows("SELECT d.pixel_bbox, i.width, i.height FROM detections d JOIN images i ON i.id = d.image_id"):
        px_min, py_min, px_max, py_max = row["pixel_bbox"]
        assert 0 <= px_min < px_max <= row["width"] and 0 <= py_min < py_max <= row["height"]
    assert demo.rows("SELECT count(*) AS n FROM detections WHERE image_id = 'dem_demo_30m'")[0]["n"] == 0


def test_detection_boxes_sit_on_their_targets(demo):
    """Ships on water (dark NIR around them), vehicles as ~9x4 px boxes, ships big on the aerial photo."""
    image_id = "S2_demo_20240721"
    with rasterio.open(demo.cog(image_id)) as src:
        nir = src.read(4)
    ships = demo.rows("SELECT pixel_bbox FROM detections WHERE image_id = %s AND target_class = 'ship' AND score > 0.5",
                      (image_id,))
    assert len(ships) >= 10
    for row in ships:
        x0, y0, x1, y1 = (int(round(v)) for v in row["pixel_bbox"])
        assert 3 <= max(x1 - x0, y1 - y0) <= 35
        ring = np.concatenate([nir[max(y0 - 4, 0):y0 - 2, x0:x1].ravel(), nir[y1 + 2:y1 + 4, x0:x1].ravel(),
                               nir[y0:y1, max(x0 - 4, 0):x0 - 2].ravel(), nir[y0:y1, x1 + 2:x1 + 4].ravel()])
        assert np.median(ring) < 800, f"ship box {row['pixel_bbox']} is not on water"
    tanks = demo.rows("SELECT pixel_bbox FROM detections WHERE image_id = %s AND target_class = 'storage_tank'",
                      (image_id,))
    for row in tanks:
        x0, y0, x1, y1 = (int(round(v)) for v in row["pixel_bbox"])
        assert nir[y0:y1 + 1, x0:x1 + 1].max() > 3000, "a tank's white roof is in its box"
    vehicles = np.array([r["pixel_bbox"] for r in demo.rows(
        "SELECT pixel_bbox FROM detections WHERE image_id = 'aerial_port_20240618' AND target_class = 'vehicle'"
        " AND properties->>'kind' = 'car'")])
    sizes = np.sort(np.stack([vehicles[:, 2] - vehicles[:, 0], vehicles[:, 3] - vehicles[:, 1]], axis=1), axis=1)
    assert 7 < np.median(sizes[:, 1]) < 12 and 3 < np.median(sizes[:, 0]) < 6
    aerial_ships = demo.rows("SELECT pixel_bbox FROM detections WHERE image_id = 'aerial_port_20240618'"
                             " AND target_class = 'ship' AND target_name IS NOT NULL")
    assert aerial_ships
    for row in aerial_ships:
        x0, y0, x1, y1 = row["pixel_bbox"]
        assert 100 <= max(x1 - x0, y1 - y0) <= 600


def test_fields_change_with_the_season_and_water_is_water(demo):
    april, july = demo.cog("S2_demo_20240412"), demo.cog("S2_demo_20240721")
    wheat = world.find_parcel("wheat", (14000.0, 9000.0))
    maize = world.find_parcel("maize", (14000.0, 9000.0))
    assert ndvi_at(april, *wheat) > ndvi_at(july, *wheat) + 0.3, "wheat is green in April, harvested by late July"
    assert ndvi_at(july, *maize) > ndvi_at(april, *maize) + 0.3, "maize is bare in April, green in July"
    for path in (april, july):
        assert ndvi_at(path, 3000.0, 10000.0, 3) < 0, "the sea"
        assert ndvi_at(path, *world.LAKE_CENTRE, 3) < 0, "the lake"
        with rasterio.open(path) as src:
            row, col = src.index(X0 + 3000.0, Y0 - 10000.0)
            sea = src.read(window=rasterio.windows.Window(col - 3, row - 3, 7, 7)).reshape(4, -1).mean(axis=1)
        assert 300 < sea[0] < 900 and sea[3] < 400, "water: a few hundred in blue, almost nothing in NIR"
    with rasterio.open(april) as src:
        stats = src.read(4, out_shape=(512, 512))
    assert stats.max() > 2500, "vegetation is bright in NIR"


def test_dem_is_sea_level_at_the_coast_and_hilly_inland(demo):
    with rasterio.open(demo.cog("dem_demo_30m")) as src:
        h = src.read(1)
        assert src.nodata == -9999
    land = h != -9999
    assert 0.2 < (~land).mean() < 0.5
    assert h[land].min() < 5 and h[land].max() > 500
    # west (coast) lower than east (hinterland)
    assert np.median(h[:, 300:400][land[:, 300:400]]) < np.median(h[:, 900:][land[:, 900:]])


def test_second_call_adds_nothing(demo):
    before = demo.rows("SELECT (SELECT count(*) FROM images) AS images,"
                       " (SELECT count(*) FROM detections) AS detections")
    messages: list[str] = []
    ensure_demo_data(demo.db, demo.settings, messages.append)
    assert demo.rows("SELECT (SELECT count(*) FROM images) AS images,"
                     " (SELECT count(*) FROM detections) AS detections") == before
    assert len(messages) == 1 and "in place" in messages[0]


def test_generation_is_deterministic(demo):
    """The same pixels in another process, in the ingested COG, and the same source bytes as ingested."""
    image_id = "S2_demo_20240721"
    code = ("import hashlib; from cogbrowser.demo import generate_array; "
            f"a = generate_array({image_id!r}); print(hashlib.sha256(a.tobytes()).hexdigest(), a.shape, a.dtype)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    generator = dataset.Generator()
    image = next(i for i in demo_images() if i.image_id == image_id)
    generated = generator.generate(image)
    digest = hashlib.sha256(generated.data.tobytes()).hexdigest()
    assert other.stdout.split()[0] == digest
    with rasterio.open(demo.cog(image_id)) as src:
        assert np.array_equal(src.read(), generated.data)
    source = demo.settings.data_dir / "again.tif"
    dataset.write_source(generated, source)
    stored = demo.rows("SELECT source_checksum FROM images WHERE id = %s", (image_id,))[0]["source_checksum"]
    assert sha256_file(source) == stored
    source.unlink()


def test_a_lost_image_is_made_again(demo):
    """Deleting one demo image (row and file): the next call makes just that one, with its detections."""
    image_id = "S2_demo_20240601"
    before = demo.rows("SELECT count(*) AS n FROM detections WHERE image_id = %s", (image_id,))[0]["n"]
    total = demo.rows("SELECT count(*) AS n FROM detections")[0]["n"]
    with demo.db.connection() as conn:
        row = queries.delete_image(conn, image_id)
    (demo.settings.data_dir / row.path).unlink()
    messages: list[str] = []
    ensure_demo_data(demo.db, demo.settings, messages.append)
    assert any(image_id in m for m in messages)
    assert not any("S2_demo_20240412" in m for m in messages)
    assert demo.rows("SELECT count(*) AS n FROM detections WHERE image_id = %s", (image_id,))[0]["n"] == before
    assert demo.rows("SELECT count(*) AS n FROM detections")[0]["n"] == total
    assert demo.cog(image_id).is_file()
    for collection in COLLECTION_IDS:
        with demo.db.connection() as conn:
            assert queries.get_collection(conn, collection).properties["demo_version"] == DEMO_VERSION
