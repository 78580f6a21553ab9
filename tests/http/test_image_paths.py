"""An image's file never leaves the managed storage unless an administrator registered it in place:
checked when the file is served, so a catalog row pointed at /etc/shadow (by whoever could write to
the catalog) answers a 403 problem, never the file's bytes."""

from __future__ import annotations

import os

import morecantile
import psycopg
import pytest
import requests

from cogbrowser.catalog.database import Database
from cogbrowser.catalog.migrate import migrate
from cogbrowser.ingest.delete import delete_images
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA, ingest_images

SECRET = "/etc/shadow" if os.access("/etc/shadow", os.R_OK) else "/etc/passwd"
COG = "rio-tiler/cog_rgb.tif"  # a valid COG: may be registered in place


def set_row(database_url: str, image_id: str, **columns: object) -> None:
    """Change a row behind the server's back, as someone with the database's password could."""
    assignments = ", ".join(f"{name} = %s" for name in columns)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE images SET {assignments} WHERE id = %s", (*columns.values(), image_id))


def reads(base: str, image_id: str) -> dict[str, requests.Response]:
    """Every way a client reaches an image's pixels or bytes."""
    tile = morecantile.tms.get("WebMercatorQuad").tile(-104.7915, 38.8705, 17)  # over cog_rgb.tif
    urls = {
        "cog": f"/cogs/{image_id}.tif",
        "tile": f"/tiles/{image_id}/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        "preview": f"/api/v1/images/{image_id}/preview.png",
        "statistics": f"/api/v1/images/{image_id}/statistics",
    }
    return {what: requests.get(base + url, timeout=30) for what, url in urls.items()}


@pytest.fixture
def images(settings, db):
    """One managed image and one registered in place, as an administrator's CLI would."""
    ingest_images(db, settings, [("managed", COG, None, None, None)])
    copy = settings.data_dir.parent / "outside" / "in place.tif"
    copy.parent.mkdir()
    copy.write_bytes((REAL_DATA / COG).read_bytes() + b"\0")  # a trailing byte: another checksum, the same COG
    result = ingest_file(db, settings, IngestRequest(path=copy, image_id="inplace", in_place=True))
    assert result.status == "added", result.message
    return copy


def test_both_kinds_of_image_are_served(live_server, images):
    for image_id in ("managed", "inplace"):
        for what, response in reads(live_server, image_id).items():
            assert response.status_code == 200, (image_id, what, response.text)


@pytest.mark.parametrize("columns", [
    {"managed": False, "path": SECRET},  # "registered in place" without an administrator's seal
    {"managed": True, "path": "../../../../../../.." + SECRET},  # managed, but climbing out of the data dir
    {"managed": True, "path": SECRET},  # managed, absolute
    {"managed": True, "path": "cogs/inplace.tif"},  # another name in the managed folder
], ids=["unsealed", "climbing", "absolute", "not-its-own"])
def test_a_row_pointed_outside_the_storage_is_refused_when_served(live_server, images, database_url, columns):
    set_row(database_url, "managed", **columns)
    for what, response in reads(live_server, "managed").items():
        assert response.status_code == 403, (what, response.status_code, response.content[:200])
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "is not served" in response.json()["detail"]
        assert b"root:" not in response.content


def test_a_sealed_in_place_row_pointed_elsewhere_is_refused(live_server, images, database_url):
    set_row(database_url, "inplace", path=SECRET)  # the seal was for the other path
    response = requests.get(f"{live_server}/cogs/inplace.tif", timeout=30)
    assert response.status_code == 403 and b"root:" not in response.content
    set_row(database_url, "managed", managed=False, path=str(images))  # someone else's seal does not fit either
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE images SET in_place_seal = (SELECT in_place_seal FROM images WHERE id = 'inplace') "
                     "WHERE id = 'managed'")
    assert requests.get(f"{live_server}/cogs/managed.tif", timeout=30).status_code == 403


def test_a_link_in_the_managed_folder_that_leads_out_is_refused(live_server, images, settings):
    cog = settings.cog_dir / "managed.tif"
    cog.unlink()
    cog.symlink_to(SECRET)
    response = requests.get(f"{live_server}/cogs/managed.tif", timeout=30)
    assert response.status_code == 403 and b"root:" not in response.content


def test_deleting_a_row_pointed_outside_leaves_that_file_alone(images, settings, db, database_url, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not cogbrowser's")
    set_row(database_url, "managed", path=os.path.relpath(victim, settings.data_dir))
    assert delete_images(db, settings, ["managed"]) == ["managed"]
    assert victim.read_text() == "not cogbrowser's"


def test_images_registered_in_place_before_seals_are_sealed_at_the_upgrade(settings, database_url, tmp_path):
    """A catalog of the versions before seals: its in-place rows are sealed if their file is the one
    registered; a row pointed elsewhere by then stays unsealed, and refused."""
    from cogbrowser.catalog.files import image_file
    from cogbrowser.catalog.queries import get_image
    from cogbrowser.errors import ImageFileRefused

    with Database.open(settings) as db:
        ingest_images(db, settings, [("managed", COG, None, None, None)])
        result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / COG, image_id="inplace", in_place=True))
        assert result.status == "skipped"  # same bytes as "managed": register a copy instead
        copy = tmp_path / "copy.tif"
        copy.write_bytes((REAL_DATA / COG).read_bytes() + b"\0")
        assert ingest_file(db, settings, IngestRequest(path=copy, image_id="inplace", in_place=True)).status == "added"
        copy2 = tmp_path / "copy2.tif"
        copy2.write_bytes((REAL_DATA / COG).read_bytes() + b"\0\0")
        assert ingest_file(db, settings, IngestRequest(path=copy2, image_id="forged", in_place=True)).status == "added"
    with psycopg.connect(database_url, autocommit=True) as conn:  # back to the schema before seals
        conn.execute("UPDATE images SET path = %s WHERE id = 'forged'", (SECRET,))
        conn.execute("ALTER TABLE images DROP COLUMN in_place_seal")
        conn.execute("DELETE FROM schema_migrations WHERE version = 5")
    with Database.open(settings) as db, db.connection() as conn:
        assert image_file(settings, get_image(conn, "inplace")) == copy
        with pytest.raises(ImageFileRefused):
            image_file(settings, get_image(conn, "forged"))
        assert migrate(conn) == []
