"""COGs kept in an object store (`--storage swift://...` / `s3://...`) on a real OpenStack Swift
cluster (Debian's servers, tools/swift_cluster.py), through its Swift API and its S3 API: ingest
writes the COG to the store and nothing to the data dir; tiles, point values and /cogs read it the
same as a local COG; /cogs streams it through or redirects to a signed URL that GDAL follows;
delete takes object and row together; a failed ingest leaves neither; COGs already in a store are
registered in place by URL."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import rasterio
import requests
from PIL import Image

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.errors import StoreUnavailable
from cogbrowser.ingest.images import IngestRequest, ingest_file, register_url, sweep_orphans
from cogbrowser.storage.locations import parse_storage
from cogbrowser.storage.stores import open_store
from cogbrowser.web.tokens import hash_token
from helpers import REAL_DATA, new_database, serving

pytestmark = pytest.mark.slow

COG = REAL_DATA / "titiler" / "cog1.tif"  # Landsat 8, 779 x 790, uint16, overviews 2 and 4
TOKEN = "cgb_storage-tests-0123456789abcdefghijklmnopqrs"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TILE = "/tiles/{id}/WebMercatorQuad/{z}/{x}/{y}.png"


@pytest.fixture(scope="module")
def store_env(swift_store):
    """The cluster's variables in this process's environment (GDAL and the clients read them), and
    the S3 bucket the S3 cases write to."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in swift_store.environment.items():
            patch.setenv(name, value)
        s3 = open_store(parse_storage("s3://cogbrowser-tests/"))  # type: ignore[arg-type]
        s3._client.create_bucket(Bucket="cogbrowser-tests")
        yield swift_store


@pytest.fixture(params=["swift://cogbrowser-tests", "s3://cogbrowser-tests"], ids=["swift", "s3"])
def stored(request, store_env, tmp_path, database_url):
    """Settings whose storage is a fresh prefix of the container, and their open catalog."""
    location = parse_storage(f"{request.param}/run-{uuid.uuid4().hex[:8]}")
    settings = Settings.from_env(data_dir=tmp_path / "data dir", database_url=database_url, storage=location)
    db = Database.open(settings)
    with db.connection() as conn:
        queries.create_token(conn, "storage", hash_token(TOKEN))
    yield settings, db
    db.close()


def objects(settings: Settings) -> list[str]:
    assert settings.storage is not None
    return [entry.key for entry in open_store(settings.storage).listing(settings.storage.prefix)]


def ingest(settings: Settings, db: Database, image_id: str = "landsat") -> str:
    result = ingest_file(db, settings, IngestRequest(path=COG, image_id=image_id))
    assert result.status == "added", result.message
    return image_id


def tile_pixels(url: str) -> np.ndarray:
    answer = requests.get(url, timeout=60)
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))


def tiles_of(base: str, image_id: str) -> list[str]:
    tilejson = requests.get(f"{base}/tiles/{image_id}/WebMercatorQuad/tilejson.json", timeout=30).json()
    zoom = tilejson["maxzoom"]
    west, south, east, north = tilejson["bounds"]
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    middle = tms.tile((west + east) / 2, (south + north) / 2, zoom)
    zoomed_out = tms.tile(west + 0.3 * (east - west), north - 0.3 * (north - south), zoom - 2)
    return [TILE.format(id=image_id, z=t.z, x=t.x, y=t.y) for t in (middle, zoomed_out)]


def gdal_read(url: str) -> np.ndarray:
    """Band 1 read by GDAL's /vsicurl/, as QGIS reads it: in another process (GDAL holds this one's
    GIL while it waits on the network, and the server under test runs in this process)."""
    script = ("import sys, rasterio; src = rasterio.open('/vsicurl/' + sys.argv[1]); "
              "sys.stdout.buffer.write(src.read(1).tobytes())")
    reader = subprocess.run([sys.executable, "-c", script, url], capture_output=True, timeout=120)
    assert reader.returncode == 0, reader.stderr.decode()
    with rasterio.open(COG) as src:
        return np.frombuffer(reader.stdout, dtype=src.dtypes[0]).reshape(src.height, src.width)


def test_an_ingest_writes_the_cog_to_the_store_and_it_draws_as_a_local_one(stored, postgres, tmp_path):
    settings, db = stored
    ingest(settings, db)
    with db.connection() as conn:
        row = queries.get_image(conn, "landsat")
    assert row is not None and row.path.startswith(f"{settings.storage.scheme}://cogbrowser-tests/run-")
    assert objects(settings) == [row.path.split("/", 3)[3]]
    assert not (settings.cog_dir.exists() and any(settings.cog_dir.iterdir())), "nothing kept on this disk"

    with new_database(postgres) as local_url:  # the same file in a catalog with local storage
        local = Settings.from_env(data_dir=tmp_path / "local", database_url=local_url)
        local_db = Database.open(local)
        try:
            ingest(local, local_db)
            with serving(settings, db) as remote_base, serving(local, local_db) as local_base:
                for tile in tiles_of(local_base, "landsat"):
                    drawn = tile_pixels(remote_base + tile)
                    assert drawn[..., 3].mean() > 100, f"{tile} is mostly empty"
                    assert np.array_equal(drawn, tile_pixels(local_base + tile)), tile
                south, west, north, east = row.bbox[1], row.bbox[0], row.bbox[3], row.bbox[2]
                wms = (f"/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=landsat&STYLES=&CRS=EPSG:4326"
                       f"&BBOX={south},{west},{north},{east}&WIDTH=300&HEIGHT=200&FORMAT=image/png")
                drawn = tile_pixels(remote_base + wms)
                assert drawn[..., 3].mean() > 50 and np.array_equal(drawn, tile_pixels(local_base + wms))
                point = "/api/v1/images/landsat/point?lon={lon}&lat={lat}"
                lon, lat = row.bbox[0] + 0.01, row.bbox[3] - 0.01
                remote = requests.get(remote_base + point.format(lon=lon, lat=lat), timeout=30).json()
                assert remote["values"] == requests.get(local_base + point.format(lon=lon, lat=lat),
                                                        timeout=30).json()["values"]
        finally:
            local_db.close()


def test_raw_reads_stream_through_or_redirect_and_gdal_reads_both(stored):
    settings, db = stored
    ingest(settings, db)
    with rasterio.open(COG) as src:
        expected = src.read(1)
    with serving(settings, db) as base:
        answer = requests.get(f"{base}/cogs/landsat.tif", headers={"Range": "bytes=0-3"}, timeout=30)
        assert answer.status_code == 206 and answer.content[:2] in (b"II", b"MM")
        assert answer.headers["Content-Range"].endswith(f"/{int(answer.headers['Content-Range'].split('/')[1])}")
        assert answer.headers["ETag"]
        assert np.array_equal(gdal_read(f"{base}/cogs/landsat.tif"), expected)
    redirecting = dataclasses.replace(settings, raw_access="redirect")
    with serving(redirecting, db) as base:
        answer = requests.get(f"{base}/cogs/landsat.tif", allow_redirects=False, timeout=30)
        assert answer.status_code == 307
        signed = answer.headers["Location"]
        assert signed.startswith("http://" + os.environ["AWS_S3_ENDPOINT"] + "/")
        assert "temp_url_sig" in signed or "Signature" in signed
        unsigned = signed.split("?", 1)[0]
        assert 400 <= requests.get(unsigned, headers={"Range": "bytes=0-3"}, timeout=30).status_code < 500
        assert np.array_equal(gdal_read(f"{base}/cogs/landsat.tif"), expected)


def test_delete_takes_object_row_and_detections_together(stored):
    settings, db = stored
    ingest(settings, db)
    with serving(settings, db) as base:
        assert requests.delete(f"{base}/api/v1/images/landsat", headers=AUTH, timeout=30).status_code == 204
        assert requests.get(f"{base}/cogs/landsat.tif", timeout=30).status_code == 404
    assert objects(settings) == []


def test_an_object_removed_behind_the_catalogs_back_answers_410(stored):
    settings, db = stored
    ingest(settings, db)
    with serving(settings, db) as base:
        tile = tiles_of(base, "landsat")[0]
        for key in objects(settings):
            open_store(settings.storage).delete(key)  # type: ignore[arg-type]
        gone = requests.get(base + tile + "?rescale=0,1000", timeout=30)  # not the tile cached by tiles_of's
        assert gone.status_code == 410 and "landsat" in gone.json()["detail"], gone.text
        assert requests.get(f"{base}/cogs/landsat.tif", timeout=30).status_code == 410


def test_a_store_that_fails_at_delete_leaves_row_and_object(stored, monkeypatch):
    settings, db = stored
    ingest(settings, db)
    store = open_store(settings.storage)  # type: ignore[arg-type]

    def unreachable(key):  # the fault, injected: the store stops answering
        raise StoreUnavailable("Swift cannot be reached to look up the COG: connection refused")

    with serving(settings, db) as base:
        monkeypatch.setattr(store, "head", unreachable)
        answer = requests.delete(f"{base}/api/v1/images/landsat", headers=AUTH, timeout=30)
        assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
        assert "cannot be reached" in answer.json()["detail"]
        monkeypatch.undo()
        assert requests.get(f"{base}/api/v1/images/landsat", timeout=30).status_code == 200
    assert len(objects(settings)) == 1


def test_a_failed_ingest_leaves_no_object_and_no_row(stored, monkeypatch):
    settings, db = stored

    def catalog_fails(conn, record):  # the fault, injected: the row cannot be written after the upload
        raise RuntimeError("the catalog failed mid-ingest")

    monkeypatch.setattr(queries, "insert_image", catalog_fails)
    with pytest.raises(RuntimeError):
        ingest_file(db, settings, IngestRequest(path=COG, image_id="landsat"))
    monkeypatch.undo()
    assert objects(settings) == []
    with db.connection() as conn:
        assert queries.get_image(conn, "landsat") is None


def test_an_object_left_without_a_row_is_swept(stored):
    """What a crash between the upload and the row's commit leaves: an object no row names."""
    settings, db = stored
    assert settings.storage is not None
    orphan = settings.storage.managed_key("crashed", "0" * 64)
    open_store(settings.storage).put_file(COG, orphan)
    ingest(settings, db)
    time.sleep(1.1)  # a store dates objects to the second (S3 listings round up): older than "now" from here on
    removed = sweep_orphans(db, settings, min_age=0)
    assert removed == [settings.storage.url(orphan)]
    assert len(objects(settings)) == 1  # the ingested image's own object stays


def test_cogs_already_in_a_store_are_registered_in_place_by_url(stored, tmp_path):
    """`cogbrowser ingest --in-place swift://container/key` (or s3://): checked remotely, not copied."""
    settings, db = stored
    assert settings.storage is not None
    scheme = settings.storage.scheme
    outside = parse_storage(f"{scheme}://cogbrowser-tests/archive-{uuid.uuid4().hex[:6]}")
    assert outside is not None
    open_store(outside).put_file(COG, f"{outside.prefix}landsat.tif")
    url = outside.url(f"{outside.prefix}landsat.tif")
    env = {"COGBROWSER_DATA_DIR": str(settings.data_dir), "COGBROWSER_DATABASE_URL": settings.database_url or "",
           "COGBROWSER_STORAGE": str(settings.storage)}
    cli = subprocess.run([sys.executable, "-m", "cogbrowser", "ingest", "--in-place", url, "--id", "archived"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert cli.returncode == 0, cli.stderr
    assert "added as archived" in cli.stderr
    missing = register_url(db, settings, outside.url(f"{outside.prefix}nothing.tif"), IngestRequest(path=COG))
    assert missing.status == "failed" and "no object" in missing.message
    assert len(objects(settings)) == 0, "registering in place copies nothing into the storage"
    with rasterio.open(COG) as src:
        expected = src.read(1)
    with serving(settings, db) as base:
        assert np.array_equal(gdal_read(f"{base}/cogs/archived.tif"), expected)
        for tile in tiles_of(base, "archived"):
            assert tile_pixels(base + tile)[..., 3].mean() > 100, f"{tile} is mostly empty"


def test_an_upload_goes_through_the_store_to_its_worker_and_its_cog_into_the_store(stored):
    """An upload's file is put in the store when its job is queued (a worker on another machine
    fetches it from there), and nothing of it stays once the COG is stored."""
    settings, db = stored
    with serving(settings, db) as base:
        answer = requests.post(f"{base}/api/v1/images", params={"filename": "landsat.tif", "wait": "false"},
                               data=COG.read_bytes(), headers={**AUTH, "Content-Type": "image/tiff"}, timeout=60)
        assert answer.status_code == 202, answer.text
        job = wait_for_job(answer.headers["Location"])
        assert job["state"] == "succeeded", job
        image = requests.get(f"{base}/api/v1/images/{job['image_id']}", timeout=30).json()
        assert image["id"] == job["image_id"]
    with db.connection() as conn:
        row = queries.get_image(conn, job["image_id"])
    assert row is not None and row.path == settings.storage.url(objects(settings)[0])  # type: ignore[union-attr]
    assert len(objects(settings)) == 1, "the upload's input is gone from the store"
    assert not settings.jobs_dir.exists() or not any(settings.jobs_dir.iterdir())


def test_an_export_made_by_one_server_is_downloaded_from_another(stored, tmp_path):
    """Two servers (two machines: separate data dirs) on one catalog and one store: a job's result
    is offered by every server, not only by the one whose worker made it."""
    settings, db = stored
    ingest(settings, db)
    other = dataclasses.replace(settings, data_dir=tmp_path / "other machine")
    with serving(settings, db) as first, serving(other, db) as second:
        asked = requests.get(f"{first}/api/v1/images/landsat/export", headers={"Prefer": "respond-async"},
                             timeout=30)
        assert asked.status_code == 202, asked.text
        job = wait_for_job(asked.headers["Location"])
        assert job["state"] == "succeeded", job
        made = requests.get(f"{first}/api/v1/jobs/{job['id']}/result", timeout=60)
        fetched = requests.get(f"{second}/api/v1/jobs/{job['id']}/result", timeout=60)
        assert made.status_code == fetched.status_code == 200
        assert made.content == fetched.content and made.content[:2] in (b"II", b"MM")


def wait_for_job(location: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(location, timeout=30).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {location} did not finish in {timeout} s")


def test_a_cog_behind_any_http_server_is_registered_in_place(stored, store_env):
    """An https:// (here http://) URL: a public Swift container stands in for any web server."""
    settings, db = stored
    storage_url, token = store_env.token()
    container = f"public-{uuid.uuid4().hex[:6]}"
    requests.put(f"{storage_url}/{container}", headers={"X-Auth-Token": token, "X-Container-Read": ".r:*"},
                 timeout=30).raise_for_status()
    requests.put(f"{storage_url}/{container}/landsat.tif", data=COG.read_bytes(), headers={"X-Auth-Token": token},
                 timeout=60).raise_for_status()
    url = f"{storage_url}/{container}/landsat.tif"
    result = register_url(db, settings, url, IngestRequest(path=COG, image_id="on-the-web"))
    assert result.status == "added", result.message
    assert register_url(db, settings, url, IngestRequest(path=COG)).status == "skipped"
    with serving(settings, db) as base:
        moved = requests.get(f"{base}/cogs/on-the-web.tif", allow_redirects=False, timeout=30)
        assert moved.status_code == 307 and moved.headers["Location"] == url
        for tile in tiles_of(base, "on-the-web"):
            assert tile_pixels(base + tile)[..., 3].mean() > 100, f"{tile} is mostly empty"


def test_job_files_no_unfinished_job_owns_are_swept_from_the_store(stored):
    """What a server that died with a job's input in the store leaves, once that job is gone."""
    from cogbrowser.jobs import JobQueue

    settings, db = stored
    assert settings.storage is not None
    store = open_store(settings.storage)
    store.put_file(COG, f"{settings.storage.prefix}jobs/{uuid.uuid4().hex}/landsat.tif")
    queue = JobQueue(db, settings)
    try:
        queue.sweep_job_folders()
    finally:
        queue.stop()
    assert objects(settings) == []


def test_a_mosaic_is_drawn_from_the_objects_left_when_one_is_gone(stored, tmp_path):
    settings, db = stored
    assert settings.storage is not None
    brighter = tmp_path / "landsat-later.tif"
    with rasterio.open(COG) as src:
        profile = {**src.profile, "driver": "GTiff"}
        data = src.read()
    with rasterio.open(brighter, "w", **profile) as dst:
        dst.write(np.where(data > 0, data + 500, 0).astype(data.dtype))
    from datetime import datetime, timezone

    for path, image_id, day in ((COG, "earlier", 1), (brighter, "later", 2)):
        result = ingest_file(db, settings, IngestRequest(path=path, image_id=image_id, collection="scenes",
                                                         acquired_at=datetime(2024, 5, day, tzinfo=timezone.utc)))
        assert result.status == "added", result.message
    with db.connection() as conn:
        later = queries.get_image(conn, "later")
    assert later is not None
    with serving(settings, db) as base:
        tile = tiles_of(base, "earlier")[0].replace("/earlier/", "/scenes/")
        open_store(settings.storage).delete(later.path.split("/", 3)[3])
        left = tile_pixels(base + tile + "?rescale=0,20000")  # (no read before: GDAL's cache would still have it)
        assert left[..., 3].mean() > 100, "drawn from the image whose object is left"
        assert np.array_equal(left, tile_pixels(base + tile.replace("/scenes/", "/earlier/") + "?rescale=0,20000"))
