"""Ingest of every real raster in shared/data/real: a valid COG with the same pixels and right facts,
or a clear refusal; and bad input that leaves nothing behind."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from cogbrowser.catalog import queries
from cogbrowser.errors import DiskFull
from cogbrowser.ingest import images as ingest_module
from cogbrowser.ingest import workfiles
from cogbrowser.ingest.images import IngestRequest, ingest_file
from cogbrowser.raster.bbox import BBox
from helpers import HOSTILE_DATA, REAL_DATA, real_rasters

# Files refused on purpose, and the words the reason must contain.
REFUSED = {"cog_hirise_mars.tif": "not on the Earth (datum D_MARS, radius 3,396 km"}


def catalog_state(db, settings) -> tuple[list[str], list[str]]:
    """Image ids in the catalog and files under the data dir (COGs and work files)."""
    with db.connection() as conn:
        ids = sorted(r["id"] for r in conn.execute("SELECT id FROM images"))
    files = sorted(str(p.relative_to(settings.data_dir)) for d in (settings.cog_dir, settings.tmp_dir)
                   if d.is_dir() for p in d.rglob("*") if p.is_file())
    return ids, files


def test_real_data_is_there():
    assert len(real_rasters()) == 39, f"expected the 39 rasters of MANIFEST.md under {REAL_DATA}"


def test_a_mars_raster_is_named_as_such_while_other_threads_clear_projs_error(db, settings, monkeypatch):
    """pyproj keeps PROJ's last error text in one process-wide slot: a tile drawn in another thread
    can clear it between PROJ's refusal and the exception. Injected here: the slot is always empty."""
    import pyproj.exceptions

    monkeypatch.setattr(pyproj.exceptions, "_get_proj_error", lambda: None)
    mars = next(p for p in real_rasters() if p.name == "cog_hirise_mars.tif")
    result = ingest_file(db, settings, IngestRequest(path=mars))
    assert result.status == "failed"
    assert REFUSED[mars.name] in result.message
    assert catalog_state(db, settings) == ([], [])


@pytest.mark.parametrize("source", real_rasters(), ids=lambda p: p.name)
def test_every_real_raster_becomes_a_valid_cog_with_the_same_pixels(db, settings, source: Path):
    result = ingest_file(db, settings, IngestRequest(path=source))
    if source.name in REFUSED:
        assert result.status == "failed"
        assert REFUSED[source.name] in result.message
        assert catalog_state(db, settings) == ([], [])
        return
    assert result.status == "added", result.message
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    cog_path = settings.data_dir / row.path
    assert cog_path.is_file()

    valid, errors, _warnings = cog_validate(str(cog_path), quiet=True)
    assert valid, errors

    with rasterio.open(source) as src, rasterio.open(cog_path) as cog:
        assert (row.width, row.height, row.band_count) == (src.width, src.height, src.count)
        assert row.dtype == src.dtypes[0]
        assert cog.crs == src.crs
        assert cog.transform.almost_equals(src.transform)
        assert np.allclose(row.native_bounds, tuple(src.bounds))
        if src.nodata is None:
            assert row.nodata is None
        elif math.isnan(src.nodata):
            assert math.isnan(row.nodata)
        else:
            assert row.nodata == pytest.approx(src.nodata)
        # Lossless: the full-resolution pixels and the validity mask are those of the source.
        assert np.array_equal(src.read(), cog.read(), equal_nan=True)
        assert np.array_equal(src.dataset_mask(), cog.dataset_mask())
        if max(src.width, src.height) > 512:
            assert cog.overviews(1), "a COG larger than 512 px must have overviews"
        assert list(row.overviews) == cog.overviews(1)

    west, south, east, north = row.bbox
    assert -180 <= west < east <= 540 and -90 <= south < north <= 90
    assert row.footprint["type"] in ("Polygon", "MultiPolygon")
    for band in row.bands:
        stats = band["statistics"]
        if stats["valid_percent"] > 0:
            assert stats["min"] <= stats["p2"] <= stats["p98"] <= stats["max"]
            assert not math.isnan(stats["mean"])


def test_statistics_respect_nodata_nan_and_masks(db, settings):
    """The 2-98 % range (the default rescale) must ignore nodata, NaN and masked pixels."""
    for name in ("titiler/TCI.tif", "titiler/cog_with_nan.tif", "rio-tiler/cog_nodata_nan.tif",
                 "GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif", "rio-tiler/pix4d_alpha_nodata.tif"):
        source = REAL_DATA / name
        result = ingest_file(db, settings, IngestRequest(path=source))
        assert result.status == "added", result.message
        with db.connection() as conn:
            row = queries.get_image(conn, result.image_id)
        with rasterio.open(source) as src:
            band = src.read(1, masked=True)
            values = band.compressed().astype("float64")
            values = values[np.isfinite(values)]
        stats = row.bands[0]["statistics"]
        assert stats["exact"] is True
        assert stats["min"] == pytest.approx(values.min())
        assert stats["max"] == pytest.approx(values.max())
        assert stats["p2"] == pytest.approx(np.percentile(values, 2))
        assert stats["p98"] == pytest.approx(np.percentile(values, 98))
        assert stats["valid_percent"] == pytest.approx(100 * values.size / band.size, abs=0.01)


@pytest.mark.parametrize("name, expected", [
    # crosses the antimeridian: east edge past 180, a few degrees wide, not world-wide
    ("rio-tiler/cog_dateline.tif", {"west": (177.9, 178.1), "east": (181.3, 181.6), "width_max": 5}),
    # polar stereographic, small: no pole inside, a box a few degrees wide
    ("GeoTIFF-test-data/GA4886_VanderfordGlacier_2022_EGM2008_64m-epsg3031.cog",
     {"west": (107.8, 108.1), "east": (111.7, 112.0), "width_max": 5}),
    # polar stereographic around the south pole: all longitudes, down to -90
    ("GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif", {"west": (-180, -180), "east": (180, 180), "south": -90}),
    # geostationary full disk centred on 140.7 E: across the antimeridian, off-Earth corners dropped
    ("rio-cogeo/image_geos.tif", {"west": (58, 80), "east": (200, 223), "width_max": 165}),
    ("rasterio/goes.tif", {"west": (-160, -145), "east": (-5, 10), "width_max": 165}),
])
def test_bounding_boxes_of_hard_projections(db, settings, name, expected):
    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / name))
    assert result.status == "added", result.message
    with db.connection() as conn:
        west, south, east, north = queries.get_image(conn, result.image_id).bbox
    assert expected["west"][0] <= west <= expected["west"][1]
    assert expected["east"][0] <= east <= expected["east"][1]
    if "width_max" in expected:
        assert east - west <= expected["width_max"]
    if "south" in expected:
        assert south == expected["south"]


def test_antimeridian_image_is_found_from_both_sides(db, settings):
    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rio-tiler/cog_dateline.tif"))
    with db.connection() as conn:
        west_side = queries.search_images(conn, queries.ImageQuery(bbox=BBox.lonlat(179.0, 51.0, 179.9, 52.0)))
        east_side = queries.search_images(conn, queries.ImageQuery(bbox=BBox.lonlat(-179.9, 51.0, -179.0, 52.0)))
        crossing = queries.search_images(conn, queries.ImageQuery(bbox=BBox.lonlat(170.0, 50.0, -170.0, 53.0)))
        elsewhere = queries.search_images(conn, queries.ImageQuery(bbox=BBox.lonlat(0.0, 51.0, 10.0, 52.0)))
    assert [r.id for r in west_side] == [result.image_id]
    assert [r.id for r in east_side] == [result.image_id]
    assert [r.id for r in crossing] == [result.image_id]
    assert elsewhere == []


@pytest.mark.parametrize("name, when", [
    ("GeoTIFF-test-data/gpm_1d.20240617.tif", datetime(2024, 6, 17, tzinfo=timezone.utc)),
    ("GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif", datetime(2022, 9, 9, tzinfo=timezone.utc)),
    ("rio-pansharpen/LC81070352015122LGN00_B2.tif", datetime(2015, 5, 2, tzinfo=timezone.utc)),
    # "EGM2008_64m" is a geoid and a resolution, not a date; TIFFTAG_DATETIME is the file's processing time
    ("GeoTIFF-test-data/GA4886_VanderfordGlacier_2022_EGM2008_64m-epsg3031.cog", None),
])
def test_acquisition_time_from_product_names(db, settings, name, when):
    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / name))
    with db.connection() as conn:
        assert queries.get_image(conn, result.image_id).acquired_at == when


def test_acquisition_time_and_cloud_cover_from_tags(db, settings, tmp_path):
    source = tmp_path / "tagged.tif"
    shutil.copy(REAL_DATA / "titiler/B01.tif", source)
    with rasterio.open(source, "r+") as dst:
        dst.update_tags(datetime="2023-07-01T10:20:30Z", cloud_cover="12.5")
    result = ingest_file(db, settings, IngestRequest(path=source))
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    assert row.acquired_at == datetime(2023, 7, 1, 10, 20, 30, tzinfo=timezone.utc)
    assert row.cloud_cover == pytest.approx(12.5)


def test_values_given_by_the_user_win(db, settings):
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    result = ingest_file(db, settings, IngestRequest(
        path=REAL_DATA / "mapchete/s2_band.tif", collection="s2", acquired_at=when, cloud_cover=40, nodata=0,
        image_id="my-scene"))
    assert (result.status, result.image_id) == ("added", "my-scene")
    with db.connection() as conn:
        row = queries.get_image(conn, "my-scene")
        assert queries.get_collection(conn, "s2") is not None
    assert (row.acquired_at, row.cloud_cover, row.nodata, row.collection_id) == (when, 40, 0, "s2")
    with rasterio.open(settings.data_dir / row.path) as cog:
        assert cog.nodata == 0  # written into the COG itself, not only the catalog
    assert cog_validate(str(settings.data_dir / row.path), quiet=True)[0]


def test_reingest_is_a_noop_that_says_so(db, settings):
    source = REAL_DATA / "titiler/B09.tif"
    first = ingest_file(db, settings, IngestRequest(path=source))
    state = catalog_state(db, settings)
    again = ingest_file(db, settings, IngestRequest(path=source))
    assert again.status == "skipped"
    assert again.image_id == first.image_id
    assert f"already in the catalog as {first.image_id}" in again.message
    assert catalog_state(db, settings) == state


def test_same_stem_gets_a_unique_id(db, settings):
    first = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rio-tiler/cog.tif"))
    second = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rioxarray/cog.tif"))
    assert (first.image_id, second.image_id) == ("cog", "cog-2")


def test_in_place_references_a_valid_cog_without_copying(db, settings, tmp_path):
    source = tmp_path / "folder with spaces" / "in place.tif"
    source.parent.mkdir()
    shutil.copy(REAL_DATA / "titiler/TCI.tif", source)
    result = ingest_file(db, settings, IngestRequest(path=source, in_place=True))
    assert result.status == "added", result.message
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    assert (row.managed, Path(row.path)) == (False, source.resolve())
    assert catalog_state(db, settings)[1] == []

    refused = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rasterio/RGB.byte.tif", in_place=True))
    assert refused.status == "failed"
    assert "--in-place needs a valid COG" in refused.message and "strips" in refused.message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def bad_inputs(tmp_path) -> dict[str, tuple[Path, str]]:
    """Files a user might feed by mistake, each with the words its refusal must contain."""
    truncated = _write(tmp_path / "truncated.tif", (REAL_DATA / "rasterio/RGB.byte.tif").read_bytes()[:600_000])
    cog_bytes = (REAL_DATA / "titiler/TCI.tif").read_bytes()
    truncated_cog = _write(tmp_path / "truncated cog.tif", cog_bytes[: len(cog_bytes) // 2])
    no_georef = tmp_path / "no georeference.tif"
    with rasterio.open(no_georef, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 16, 16), dtype="uint8"))
    return {
        "text": (_write(tmp_path / "notes.tif", b"this is not a raster\n" * 50), "not a readable raster"),
        "empty": (_write(tmp_path / "empty.tif", b""), "empty"),
        "truncated": (truncated, "truncated or corrupt"),
        "truncated COG": (truncated_cog, "truncated or corrupt"),
        "no georeference": (no_georef, "no georeference"),
        "missing": (tmp_path / "does-not-exist.tif", "no such file"),
        "folder": (tmp_path, "is a folder"),
    }


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_input_is_refused_clearly_and_leaves_nothing(db, settings, bad_inputs):
    for kind, (path, words) in bad_inputs.items():
        result = ingest_file(db, settings, IngestRequest(path=path))
        assert result.status == "failed", kind
        assert words in result.message, (kind, result.message)
        assert "\n" not in result.message and "Traceback" not in result.message
        assert catalog_state(db, settings) == ([], []), kind


def test_a_failing_catalog_write_leaves_no_file(db, settings, monkeypatch):
    """Injected fault: the row insert fails after the COG was written."""
    def broken_insert(conn, record):
        raise RuntimeError("injected: disk full in the database")

    monkeypatch.setattr(ingest_module.queries, "insert_image", broken_insert)
    with pytest.raises(RuntimeError, match="injected"):
        ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rasterio/RGB.byte.tif"))
    assert catalog_state(db, settings) == ([], [])


def test_a_failing_move_leaves_no_row(db, settings, monkeypatch):
    """Injected fault: moving the finished COG into place fails inside the transaction."""
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(ingest_module.os, "replace", broken_replace)
    with pytest.raises(DiskFull, match="the data disk is full") as raised:  # named as such: 507 over HTTP
        ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/TCI.tif"))
    assert "injected" in str(raised.value.__cause__)
    assert catalog_state(db, settings) == ([], [])


def test_orphans_of_a_crash_are_swept(db, settings):
    ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/B01.tif"))
    kept = catalog_state(db, settings)
    two_hours_ago = time.time() - 7200
    for leftover in (settings.cog_dir / "orphan.tif", settings.tmp_dir / "0123.tif"):
        leftover.write_bytes(b"left by a crash")
        os.utime(leftover, (two_hours_ago, two_hours_ago))
    in_flight = settings.tmp_dir / "4567.tif"  # another process's ingest, still being written
    in_flight.write_bytes(b"being written")
    removed = ingest_module.sweep_orphans(db, settings)
    assert sorted(p.name for p in removed) == ["0123.tif", "orphan.tif"]
    in_flight.unlink()
    assert catalog_state(db, settings) == kept


def test_zstd_compression_on_request(db, settings):
    from cogbrowser.raster.cog import CogOptions

    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "rasterio/RGB.byte.tif"),
                         options=CogOptions(compress="ZSTD"))
    with db.connection() as conn:
        row = queries.get_image(conn, result.image_id)
    with rasterio.open(settings.data_dir / row.path) as cog:
        assert cog.compression.name.upper() == "ZSTD"
    assert cog_validate(str(settings.data_dir / row.path), quiet=True)[0]


@pytest.mark.parametrize("name, limits, words", [
    ("sparse200k.tif", {}, "200,000 x 200,000 = 40,000,000,000 pixels"),
    ("sparse200k.tif", {"max_ingest_pixels": 10**12}, "COGBROWSER_MAX_INGEST_RATIO"),
    ("strip100k.tif", {}, "100,000 x 100,000"),
    ("strip100k.tif", {"max_ingest_pixels": 10**12}, "COGBROWSER_MAX_INGEST_RATIO"),
    ("bands65535.tif", {}, "65,535 bands"),
    ("bands65535.tif", {"max_ingest_bands": 70_000, "max_ingest_block_bytes": 1000},
     "COGBROWSER_MAX_INGEST_BLOCK_BYTES"),
])
def test_each_limit_refuses_a_hostile_file_and_names_its_setting(db, settings, name, limits, words):
    result = ingest_file(db, dataclasses.replace(settings, **limits), IngestRequest(path=HOSTILE_DATA / name))
    assert result.status == "failed" and words in result.message, result.message
    assert "\n" not in result.message and result.seconds < 3, result
    assert catalog_state(db, settings) == ([], [])


def test_a_sentinel2_sized_scene_passes_the_limits(settings, tmp_path):
    """10980 x 10980 pixels, 13 uint16 bands (a VRT of a real Sentinel-2 band, read upsampled)."""
    band = (REAL_DATA / "titiler/B01.tif").resolve()
    bands = "".join(f'''<VRTRasterBand dataType="UInt16" band="{n}"><SimpleSource>
        <SourceFilename relativeToVRT="0">{band}</SourceFilename><SourceBand>1</SourceBand>
        <SrcRect xOff="0" yOff="0" xSize="183" ySize="183"/><DstRect xOff="0" yOff="0" xSize="10980" ySize="10980"/>
        </SimpleSource></VRTRasterBand>''' for n in range(1, 14))
    vrt = tmp_path / "s2.vrt"
    with rasterio.open(band) as src:
        vrt.write_text(f'''<VRTDataset rasterXSize="10980" rasterYSize="10980"><SRS>{src.crs.to_wkt()}</SRS>
            <GeoTransform>{src.transform.c}, 10, 0, {src.transform.f}, 0, -10</GeoTransform>{bands}</VRTDataset>''')
    ingest_module.precheck(vrt, settings)
    with rasterio.open(vrt) as scene:
        assert (scene.width, scene.height, scene.count) == (10980, 10980, 13)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux derives the boot time from the wall clock")
def test_a_stepped_clock_does_not_make_live_work_look_dead(settings, monkeypatch):
    """The wall clock stepped 10 s forward (the fault, injected: psutil's boot time, which Linux
    computes as the wall clock less the uptime, read after the step): this process's work file, and
    a live child's, still belong to live processes, and the sweep leaves them; a dead child's goes.
    (A CI run lost a live server's upload folder and an ingest's COG that way.)"""
    import psutil
    import psutil._pslinux

    ours = workfiles.work_path(settings, ".tif")
    ours.write_bytes(b"an ingest of this process, in progress")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        theirs = settings.tmp_dir / f"{workfiles._tag(child.pid)}-upload-x"
        theirs.mkdir()
        gone = settings.tmp_dir / f"{workfiles._tag(dead.pid)}-work-x.tif"
        gone.write_bytes(b"left by a process that died")
        dead.wait()
        before = psutil.Process(child.pid).create_time()
        stepped = psutil.boot_time() + 10
        monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: stepped)
        assert psutil.Process(child.pid).create_time() - before > 9, "the step is seen by psutil"
        removed = workfiles.sweep_dead_work_files(settings)
        assert removed == [gone]
        assert ours.is_file() and theirs.is_dir()
    finally:
        child.kill()
        child.wait()
        ours.unlink(missing_ok=True)
        shutil.rmtree(theirs, ignore_errors=True)


def test_a_killed_cli_ingest_leaves_nothing_past_the_next_start(db, settings, tmp_path):
    """`kill -9` of `cogbrowser ingest` mid-conversion leaves its work COG and GDAL's *.ovr.tmp in
    DATA_DIR/tmp; the next start (here `sweep_orphans`, as `serve` runs it) removes them at once,
    and leaves a live process's work file alone."""
    source = tmp_path / "big.tif"
    rng = np.random.default_rng(7)
    with rasterio.open(source, "w", driver="GTiff", width=6000, height=6000, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(500000, 5400000, 10, 10)) as dst:
        for band in range(1, 4):
            dst.write(rng.integers(0, 255, (6000, 6000), dtype="uint8"), band)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")},
           "COGBROWSER_DATA_DIR": str(settings.data_dir), "COGBROWSER_DATABASE_URL": settings.database_url}
    ingest = subprocess.Popen([sys.executable, "-m", "cogbrowser", "ingest", str(source)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tif.ovr.tmp") for p in settings.tmp_dir.glob("*")):
        assert ingest.poll() is None and time.monotonic() < deadline, "no conversion seen"
        time.sleep(0.05)
    ingest.kill()
    ingest.wait()
    left = sorted(p.name for p in settings.tmp_dir.iterdir())
    assert any(name.endswith(".tif.ovr.tmp") for name in left), left
    live = workfiles.work_path(settings, ".tif")
    live.write_bytes(b"an ingest of this process, in progress")
    removed = ingest_module.sweep_orphans(db, settings)
    assert sorted(p.name for p in removed) == left
    assert [p.name for p in settings.tmp_dir.iterdir()] == [live.name]
    live.unlink()
    assert catalog_state(db, settings) == ([], [])
