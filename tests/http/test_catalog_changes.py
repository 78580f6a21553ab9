"""The server remembers the layers it looked up, and forgets them when the catalog changes.

Changes are made the way another process would make them: on a connection of its own, not the
app's pool (catalog/changes.py listens for PostgreSQL notifications sent by triggers).
"""

from __future__ import annotations

import time

import psycopg
import pytest
import requests
from psycopg.types.json import Jsonb

from cogbrowser.catalog import queries
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA


@pytest.fixture
def served(db, settings, live_server):
    with db.connection() as conn:
        queries.upsert_collection(conn, "landsat", "Landsat", presets=[
            {"name": "natural", "bands": [1, 2, 3], "rescale": [[0, 20000]]}])
    assert ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/cog1.tif", image_id="cog1",
                                                   collection="landsat")).status == "added"
    return live_server


def tile_status(base: str, style: str) -> int:
    return requests.get(f"{base}/tiles/cog1/WebMercatorQuad/0/0/0.png", params={"style": style}, timeout=30).status_code


def set_presets(database_url: str, *names: str) -> None:
    """What `psql` or another cogbrowser process would do: a change on its own connection."""
    presets = [{"name": name, "bands": [1, 2, 3], "rescale": [[0, 20000]]} for name in names]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE collections SET presets = %s WHERE id = 'landsat'", (Jsonb(presets),))


def eventually(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_change_made_elsewhere_reaches_the_next_tiles(served, database_url):
    assert tile_status(served, "natural") == 200
    assert tile_status(served, "bright") == 400, "no such preset yet"
    set_presets(database_url, "bright")
    assert eventually(lambda: tile_status(served, "bright") == 200), "the new preset is drawn"
    assert tile_status(served, "natural") == 400, "the removed one is refused"


def test_a_new_image_and_a_deleted_one_are_seen_at_once(served, db, settings):
    url = f"{served}/tiles/tci/WebMercatorQuad/tilejson.json"
    assert requests.get(url, timeout=30).status_code == 404
    added = ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/TCI.tif", image_id="tci"))
    assert added.status == "added"
    assert requests.get(url, timeout=30).status_code == 200
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("DELETE FROM images WHERE id = 'tci'")
    assert eventually(lambda: requests.get(url, timeout=30).status_code == 404)


def test_a_lost_listener_reconnects_and_nothing_stale_is_served(served, db, database_url):
    assert tile_status(served, "natural") == 200
    assert db.changes.version is not None
    with psycopg.connect(database_url, autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query LIKE 'LISTEN%%' AND datname = current_database()").fetchall()
    assert killed, "the server listens for changes"
    assert eventually(lambda: db.changes.version is None, 2), "the loss is noticed"
    set_presets(database_url, "bright")  # while nobody listens: must not be missed
    assert tile_status(served, "bright") == 200, "without a listener, layers are looked up every time"
    assert eventually(lambda: db.changes.version is not None, 10), "and it listens again"
    set_presets(database_url, "vivid")
    assert eventually(lambda: tile_status(served, "vivid") == 200)
