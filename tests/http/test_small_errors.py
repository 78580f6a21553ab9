"""Small requests that used to answer 500 (issue 12, item 11): each now gets the 4xx (or 507) that names
what is wrong, as problem details; none shows a traceback or blames the server.

- a non-ASCII token (`Authorization: Bearer é`, `?access_token=%C3%A9`): 401;
- a NUL in an id (`/api/v1/collections/%00`, `/stac/collections/%00`): 404;
- a constant expression (`statistics?expression=1`): 400 naming it;
- a Dash callback naming an output the page does not have: 400;
- a full disk while converting an upload to a COG: 507, not 422 "corrupt?"; a full disk under
  PostgreSQL while creating detections: 507, not 500.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import replace
from datetime import datetime, timezone

import psycopg
import pytest
import requests

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from helpers import REAL_DATA, ingest_images, new_database, serving, shared_catalog

TOKEN = "cgb_small-errors-0123456789abcdefghijklmnopqrstu"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGES = [("b01", "titiler/B01.tif", "sentinel", datetime(2021, 1, 1, tzinfo=timezone.utc), None)]


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory):
    from cogbrowser.web.tokens import hash_token

    with shared_catalog(postgres, tmp_path_factory.mktemp("small")) as (settings, db):
        with db.connection() as conn:
            assert queries.create_token(conn, "small", hash_token(TOKEN)) is not None
        ingest_images(db, settings, IMAGES)
        yield settings, db


@pytest.fixture(scope="module")
def base(catalog):
    with serving(*catalog) as url:
        yield url


@pytest.fixture(scope="module")
def token_mode(catalog):
    settings, db = catalog
    with serving(replace(settings, read_access="token"), db) as url:
        yield url


def assert_problem(answer: requests.Response, status: int, *words: str) -> dict:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["Content-Type"] == "application/problem+json", answer.text[:500]
    body = answer.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body
    return body


# ---------------------------------------------------------------- tokens that are not ASCII

@pytest.mark.parametrize("how", ["header", "url"])
def test_a_non_ascii_token_on_a_write_is_401(base, how):
    headers = {"Authorization": "Bearer é"} if how == "header" else {}
    url = f"{base}/api/v1/collections" + ("?access_token=%C3%A9" if how == "url" else "")
    answer = requests.post(url, json={"id": "nope", "title": "Nope"}, headers=headers)
    assert_problem(answer, 401, "not valid" if how == "header" else "reads only")  # a URL token never writes


@pytest.mark.parametrize("how", ["header", "url"])
def test_a_non_ascii_token_on_a_read_in_token_mode_is_401(token_mode, how):
    headers = {"Authorization": "Bearer é"} if how == "header" else {}
    url = f"{token_mode}/api/v1/collections" + ("?access_token=%C3%A9" if how == "url" else "")
    assert_problem(requests.get(url, headers=headers), 401, "not valid")
    assert requests.get(f"{token_mode}/api/v1/collections", headers=AUTH).status_code == 200


# ---------------------------------------------------------------- NUL in a path

@pytest.mark.parametrize("path", ["/api/v1/collections/%00", "/stac/collections/%00", "/api/v1/images/%00",
                                  "/stac/collections/%00/items", "/stac/collections/sentinel/items/%00",
                                  "/api/v1/collections/a%00b", "/api/v1/images/b01%00/statistics"])
def test_a_nul_in_an_id_is_not_found(base, path):
    assert_problem(requests.get(base + path), 404, "no ")


# ---------------------------------------------------------------- constant expressions

@pytest.mark.parametrize("expression", ["1", "2*3", "-1.5"])
def test_a_constant_expression_is_refused_by_name(base, expression):
    for route in ("statistics", "point?lon=23.7&lat=32.0"):
        separator = "&" if "?" in route else "?"
        answer = requests.get(f"{base}/api/v1/images/b01/{route}{separator}expression={expression}")
        assert_problem(answer, 400, "expression", "uses no band")


# ---------------------------------------------------------------- Dash callbacks

def test_a_dash_callback_naming_an_unknown_output_is_400(base):
    payload = {"output": "no-such-thing.children", "outputs": {"id": "no-such-thing", "property": "children"},
               "inputs": [{"id": "url", "property": "pathname", "value": "/"}], "changedPropIds": ["url.pathname"]}
    answer = requests.post(f"{base}/_dash-update-component", json=payload)
    assert answer.status_code == 400, answer.text[:500]
    assert "no-such-thing.children" in answer.text
    known = {**payload, "output": "..page.children...nav.children..",
             "outputs": [{"id": "page", "property": "children"}, {"id": "nav", "property": "children"}]}
    assert requests.post(f"{base}/_dash-update-component", json=known).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"output": 3}'])
def test_a_dash_callback_that_is_not_one_is_400(base, body):
    answer = requests.post(f"{base}/_dash-update-component", data=body,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text[:500]


# ---------------------------------------------------------------- full disks

@contextlib.contextmanager
def small_disk(folder, size: str):
    """A real filesystem of `size` at `folder` (tmpfs): writes past it fail with ENOSPC."""
    folder.mkdir()
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def served_on_small_disk(postgres, folder, size: str):
    """The app served with its data dir on a tmpfs of `size` and a catalog of its own holding the
    test's token: (settings, db, base URL)."""
    from cogbrowser.web.tokens import hash_token

    with small_disk(folder, size) as data_dir, new_database(postgres) as url:
        settings = Settings.from_env(data_dir=data_dir, database_url=url)
        db = Database.open(settings)
        try:
            with db.connection() as conn:
                queries.create_token(conn, "disk", hash_token(TOKEN))
            with serving(settings, db) as served:
                yield settings, db, served
        finally:
            db.close()


def test_a_full_disk_while_converting_an_upload_is_507(postgres, tmp_path, monkeypatch):
    """The upload fits on the data disk, its COG does not: GDAL's write fails deep in libtiff, and the
    answer says the disk is full rather than blaming the file."""
    from cogbrowser.api import uploads

    source = REAL_DATA / "GeoTIFF-test-data/umbra_mount_yasur.tiff"  # 4 MB of strips: it is converted
    size = source.stat().st_size
    monkeypatch.setattr(uploads, "_free_bytes", lambda folder: 1 << 40)  # past the pre-check's 64 MB reserve
    with served_on_small_disk(postgres, tmp_path / "disk", "12m") as (settings, db, served):
        data_dir = settings.data_dir
        ballast = data_dir / "ballast"
        free = os.statvfs(data_dir).f_bavail * os.statvfs(data_dir).f_frsize
        # room for the body, not for its 4.2 MB COG
        ballast.write_bytes(b"\0" * max(0, free - size - 2_000_000))
        answer = requests.post(f"{served}/api/v1/images", params={"filename": "umbra.tif"},
                               data=source.read_bytes(), headers={**AUTH, "Content-Type": "image/tiff"})
        body = assert_problem(answer, 507, "disk", "COG")  # full while converting, not while receiving
        assert "corrupt" not in body["detail"]
        ballast.unlink()
        leftovers = [p for p in data_dir.rglob("*") if p.is_file()]
        assert leftovers == [], leftovers
        with db.connection() as conn:
            assert queries.search_images(conn, queries.ImageQuery(limit=None)) == []


def test_a_full_disk_under_postgresql_while_creating_detections_is_507(catalog, base):
    """PostgreSQL's own disk-full error (SQLSTATE 53100), injected by a trigger on purpose: the
    catalog is intact, the client is told the server's disk is full."""
    settings, db = catalog
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RAISE EXCEPTION 'could not extend file \"base/1/2\": No space left on device' "
                     "USING ERRCODE = 'disk_full'; END $$")
        conn.execute("CREATE TRIGGER disk_full BEFORE INSERT ON detections FOR EACH ROW EXECUTE FUNCTION disk_full()")
    try:
        detection = {"image_id": "b01", "target_class": "ship", "score": 0.9, "bbox": [23.5, 31.9, 23.6, 32.0]}
        answer = requests.post(f"{base}/api/v1/detections", json={"detections": [detection]}, headers=AUTH)
        assert_problem(answer, 507, "disk")
    finally:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER disk_full ON detections")
            conn.execute("DROP FUNCTION disk_full()")
    answer = requests.post(f"{base}/api/v1/detections", json={"detections": [detection]}, headers=AUTH)
    assert answer.status_code == 201, answer.text[:500]


def test_a_full_disk_while_saving_a_detections_import_is_507(postgres, tmp_path):
    """Any write the code does not name (here the import's copy of its body) that meets a full disk
    is 507, not 500."""
    with served_on_small_disk(postgres, tmp_path / "disk", "1m") as (settings, _, served):
        data_dir = settings.data_dir
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        free = os.statvfs(data_dir).f_bavail * os.statvfs(data_dir).f_frsize
        (data_dir / "ballast").write_bytes(b"\0" * free)
        rows = "image_id,target_class,score,lon_min,lat_min,lon_max,lat_max\n" + "x,ship,0.5,1,1,2,2\n" * 20000
        answer = requests.post(f"{served}/api/v1/detections/import", data=rows.encode(),
                               headers={**AUTH, "Content-Type": "text/csv"})
        assert_problem(answer, 507, "disk is full")
        assert [p.name for p in settings.tmp_dir.iterdir()] == []
