"""The REST API as scripts use it: a real server, the embedded PostgreSQL, real rasters.

Searches combine filters and page with cursors; writes need a token; every error is a problem
document whose `detail` names the parameter or field at fault; deleting an image takes its file,
its row and its detections together, or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import requests

from cogbrowser.catalog import queries
from cogbrowser.ingest.images import IngestRequest, ingest_file
from cogbrowser.web.tokens import hash_token
from helpers import REAL_DATA, ingest_images, serving, shared_catalog

TOKEN = "cgb_test-token-for-the-api-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UTC = timezone.utc

# (id, file, collection, acquired, cloud cover)
IMAGES = [
    ("tci", "titiler/TCI.tif", "sentinel2", datetime(2021, 5, 1, 9, 30, tzinfo=UTC), 12.5),
    ("s2b", "rio-tiler/cog.tif", "sentinel2", datetime(2021, 6, 3, 9, 30, tzinfo=UTC), 60.0),
    ("cog1", "titiler/cog1.tif", "landsat", datetime(2020, 1, 1, tzinfo=UTC), 3.0),
    ("dateline", "rio-tiler/cog_dateline.tif", "landsat", datetime(2022, 8, 9, tzinfo=UTC), None),
    ("polar", "GeoTIFF-test-data/GA4886_VanderfordGlacier_2022_EGM2008_64m-epsg3031.cog", None, None, None),
]


def problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    document = response.json()
    assert document["status"] == status and document["detail"]
    return document


def add_token(db, token: str = TOKEN, name: str = "tests") -> None:
    with db.connection() as conn:
        assert queries.create_token(conn, name, hash_token(token)) is not None


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory):
    """A catalog of real images in three collections, with detections; shared by read-only tests."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("api")) as (settings, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "sentinel2", "Sentinel-2", presets=[
                {"name": "true-color", "bands": [1, 2, 3]}])
            queries.upsert_collection(conn, "landsat", "Landsat")
        ingest_images(db, settings, IMAGES)
        with db.connection() as conn:
            rows = {i: queries.get_image(conn, i) for i, *_ in IMAGES}
        detections = []
        for n in range(30):  # ships and planes on TCI, ships on cog1
            image = rows["tci"] if n < 20 else rows["cog1"]
            w, s, e, north = image.bbox
            lon, lat = w + (e - w) * (n + 1) / 40, s + (north - s) / 2
            detections.append({"image_id": image.id, "target_class": "ship" if n % 3 else "aircraft",
                               "target_name": f"vessel {n % 4}" if n % 3 else None, "score": 0.3 + n / 50,
                               "bbox": [lon, lat, lon + 0.001, lat + 0.001]})
        from cogbrowser.ingest.detections import create_detections
        ids, problems = create_detections(db, detections)
        assert not problems and len(ids) == 30
        add_token(db)
        with serving(settings, db) as url:
            yield url, settings, db


@pytest.fixture
def api(settings, db, live_server):
    """A fresh, empty catalog with a token, for tests that write."""
    add_token(db)
    return live_server


def ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [image["id"] for image in response.json()["images"]]


# ---------------------------------------------------------------- image search

def test_search_filters_combine(catalog):
    base, _, _ = catalog
    url = f"{base}/api/v1/images"
    assert sorted(ids(requests.get(url))) == sorted(i for i, *_ in IMAGES)
    assert ids(requests.get(url, params={"collections": "sentinel2"})) == ["s2b", "tci"], "newest first"
    assert ids(requests.get(url, params={"collections": "sentinel2", "max_cloud_cover": 20})) == ["tci"]
    assert ids(requests.get(url, params={"datetime": "2021-01-01/2021-12-31"})) == ["s2b", "tci"]
    assert ids(requests.get(url, params={"datetime": "2021-05-01"})) == ["tci"], "a day is the whole day"
    assert ids(requests.get(url, params={"datetime": "2022-01-01/.."})) == ["dateline"]
    assert ids(requests.get(url, params={"detection_class": "aircraft"})) == ["tci", "cog1"]
    assert ids(requests.get(url, params={"detection_class": "submarine"})) == []
    assert ids(requests.get(url, params={"detection_class": "aircraft", "collections": "landsat"})) == ["cog1"]
    assert ids(requests.get(url, params={"q": "POLA"})) == ["polar"], "text search ignores case"
    assert ids(requests.get(url, params={"ids": "cog1,polar", "sortby": "id"})) == ["cog1", "polar"]
    assert ids(requests.get(url, params={"sortby": "cloud_cover"}))[:3] == ["cog1", "tci", "s2b"]


def test_search_by_place(catalog):
    base, _, db = catalog
    url = f"{base}/api/v1/images"
    with db.connection() as conn:
        tci = queries.get_image(conn, "tci")
    w, s, e, n = tci.bbox
    assert ids(requests.get(url, params={"bbox": f"{w + 0.1},{s + 0.1},{w + 0.2},{s + 0.2}"})) == ["tci"]
    # Across the antimeridian: a box on the west side of 180 and one on the east side both find it.
    assert "dateline" in ids(requests.get(url, params={"bbox": "179.5,50,180,60"}))
    assert "dateline" in ids(requests.get(url, params={"bbox": "-180,50,-179,60"}))
    assert "dateline" in ids(requests.get(url, params={"bbox": "179,50,-179,60"})), "west > east crosses 180"
    point = {"type": "Point", "coordinates": [(w + e) / 2, (s + n) / 2]}
    assert ids(requests.get(url, params={"intersects": json.dumps(point)})) == ["tci"]
    # A triangle inside TCI's bbox but off its footprint? TCI is axis-aligned in UTM, so test a far one.
    far = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    assert ids(requests.get(url, params={"intersects": json.dumps(far)})) == []


def test_pages_follow_the_next_link_without_repeats_or_gaps(catalog):
    base, _, _ = catalog
    seen, url, params = [], f"{base}/api/v1/images", {"limit": 2, "sortby": "-acquired_at", "count": "true"}
    first = requests.get(url, params=params).json()
    assert first["matched"] == len(IMAGES) and first["count"] == 2
    page = first
    while True:
        seen += [image["id"] for image in page["images"]]
        nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nexts:
            break
        page = requests.get(nexts[0]).json()
        assert page["matched"] == len(IMAGES), "matched counts the whole search on every page"
    assert seen == ["dateline", "s2b", "tci", "cog1", "polar"], "images without a date come last"
    # A cursor belongs to its search.
    cursor = [link["href"] for link in first["links"] if link["rel"] == "next"][0].split("cursor=")[1]
    other = requests.get(url, params={"limit": 2, "collections": "landsat", "cursor": cursor})
    assert "another search" in problem(other, 400)["detail"]
    assert "cursor" in problem(requests.get(url, params={"cursor": "garbage!"}), 400)["detail"]


@pytest.mark.parametrize("params, field", [
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "10,50,20,40"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "0,0,200,10"}, "bbox"),
    ({"datetime": "2021-13-01"}, "datetime"),
    ({"datetime": "2022-01-01/2021-01-01"}, "datetime"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"max_cloud_cover": "101"}, "max_cloud_cover"),
    ({"sortby": "size"}, "sortby"),
    ({"collections": "../etc"}, "collections"),
    ({"intersects": "{not json"}, "intersects"),
    ({"intersects": '{"type": "Feature"}'}, "intersects"),
    ({"colections": "landsat"}, "colections"),
    ({"q": "a", "limit": "5&limit=6"}, "limit"),
])
def test_bad_search_parameters_are_named(catalog, params, field):
    base, _, _ = catalog
    document = problem(requests.get(f"{base}/api/v1/images", params=params), 400)
    assert document["detail"].startswith(field) or field in document["detail"], document
    if "errors" in document:
        assert any(field in error["field"] or field in error["message"] for error in document["errors"])


@pytest.mark.parametrize("path", ["/api/v1/imgaes", "/api/v1/detections/-5", "/stac/nothing/here", "/cogs/a/b.tif"])
def test_unknown_service_paths_are_404_not_a_page(catalog, path):
    base, _, _ = catalog
    assert problem(requests.get(f"{base}{path}"), 404)


def test_repeated_single_parameter_is_refused(catalog):
    base, _, _ = catalog
    response = requests.get(f"{base}/api/v1/images?limit=5&limit=6")
    assert "limit: given 2 times" in problem(response, 400)["detail"]


def test_one_image_has_everything_and_working_links(catalog):
    base, _, _ = catalog
    image = requests.get(f"{base}/api/v1/images/tci").json()
    assert image["collection_id"] == "sentinel2" and image["cloud_cover"] == 12.5
    assert image["width"] == 1098 and image["band_count"] == 3 and image["epsg"] == 32634
    assert all({"min", "max", "mean", "p2", "p98"} <= set(b["statistics"]) for b in image["bands"])
    assert image["detection_count"] == 20
    links = {link["rel"]: link["href"] for link in image["links"]}
    assert requests.get(links["data"], headers={"Range": "bytes=0-3"}).status_code == 206
    assert requests.get(links["tiles"]).json()["tilejson"] == "3.0.0"
    assert requests.get(links["thumbnail"]).headers["Content-Type"] == "image/png"
    assert requests.get(links["self"]).json()["id"] == "tci"
    assert problem(requests.get(f"{base}/api/v1/images/nope"), 404)["detail"] == "no image 'nope' in the catalog"


# ---------------------------------------------------------------- detections

def test_detection_search_in_three_formats(catalog):
    base, _, _ = catalog
    url = f"{base}/api/v1/detections"
    page = requests.get(url, params={"image_ids": "tci", "classes": "ship", "min_score": 0.5}).json()
    assert page["count"] == len(page["detections"]) > 0
    assert all(d["image_id"] == "tci" and d["target_class"] == "ship" and d["score"] >= 0.5
               for d in page["detections"])
    geojson = requests.get(url, params={"image_ids": "tci", "classes": "ship", "min_score": 0.5},
                           headers={"Accept": "application/geo+json"})
    assert geojson.headers["Content-Type"] == "application/geo+json"
    features = geojson.json()["features"]
    assert [f["id"] for f in features] == [d["id"] for d in page["detections"]]
    assert features[0]["geometry"]["type"] == "Polygon" and features[0]["properties"]["target_class"] == "ship"
    table = requests.get(url, params={"image_ids": "tci", "classes": "ship", "min_score": 0.5, "f": "csv"})
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["id"]) for r in rows] == [d["id"] for d in page["detections"]]
    assert float(rows[0]["lon_min"]) == pytest.approx(page["detections"][0]["bbox"][0])


def test_detection_pages(catalog):
    base, _, _ = catalog
    seen, url = [], f"{base}/api/v1/detections?limit=7"
    while url:
        page = requests.get(url).json()
        seen += [d["id"] for d in page["detections"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == 30 and seen == sorted(set(seen))


def test_aggregations_follow_the_filters(catalog):
    base, _, _ = catalog
    url = f"{base}/api/v1/detections"
    by_class = requests.get(f"{url}/counts", params={"by": "class"}).json()
    assert {row["key"]: row["count"] for row in by_class["counts"]} == {"ship": 20, "aircraft": 10}
    assert by_class["total"] == 30
    tci_only = requests.get(f"{url}/counts", params={"by": "class", "image_ids": "tci"}).json()
    assert tci_only["total"] == 20
    by_image = requests.get(f"{url}/counts", params={"by": "image", "split": "class"}).json()
    assert {(r["key"], r["split"]): r["count"] for r in by_image["counts"]} == {
        ("tci", "ship"): 13, ("tci", "aircraft"): 7, ("cog1", "ship"): 7, ("cog1", "aircraft"): 3}
    assert by_image["counts"][0]["key"] == "tci", "the biggest group first"
    by_day = requests.get(f"{url}/counts", params={"by": "day"}).json()
    assert [r["key"] for r in by_day["counts"]] == ["2020-01-01", "2021-05-01"], "days in time order"
    names = requests.get(f"{url}/counts", params={"by": "name", "classes": "ship"}).json()
    assert sum(r["count"] for r in names["counts"]) == 20 and None not in [r["key"] for r in names["counts"]]
    histogram = requests.get(f"{url}/scores", params={"bins": 10, "split": "class"}).json()
    assert len(histogram["edges"]) == 11 and sum(sum(h["counts"]) for h in histogram["histograms"]) == 30
    summary = requests.get(f"{url}/summary", params={"classes": "aircraft"}).json()
    assert (summary["detections"], summary["images"], summary["classes"]) == (10, 2, 1)
    same = requests.get(f"{url}/counts", params={"by": "class", "split": "class"})
    assert "split: give another key" in problem(same, 400)["detail"]


# ---------------------------------------------------------------- writes and tokens

def test_writes_need_a_valid_token(api, db):
    url = f"{api}/api/v1/collections"
    refused = requests.post(url, json={"id": "s1"})
    assert "needs an API token" in problem(refused, 401)["detail"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, json={"id": "s1"}, headers={"Authorization": "Bearer cgb_wrong"})
    assert "not valid" in problem(wrong, 401)["detail"]
    assert requests.post(url, json={"id": "s1"}, headers=AUTH).status_code == 201
    with db.connection() as conn:
        assert queries.revoke_token(conn, "tests")
    again = requests.post(url, json={"id": "s2"}, headers=AUTH)
    assert "revoked" in problem(again, 401)["detail"], "a revoked token stops working at once"
    assert [c["id"] for c in requests.get(url).json()["collections"]] == ["s1"], "reads stay open"


def test_token_cli_creates_lists_and_revokes(settings, db, live_server):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(settings.data_dir),
                               "--database-url", settings.database_url, "token", *args],
                              capture_output=True, text=True, timeout=120)

    made = cli("create", "analyst")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cgb_") and "not shown again" in made.stderr
    with db.connection() as conn:
        stored = conn.execute("SELECT token_hash FROM api_tokens WHERE name = 'analyst'").fetchone()
    assert stored["token_hash"] == hash_token(token) and token not in stored["token_hash"], "only a hash is kept"
    assert "exists" in cli("create", "analyst").stderr
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{live_server}/api/v1/collections", json={"id": "x"}, headers=headers).status_code == 201
    listed = cli("list")
    assert "analyst" in listed.stdout and "active" in listed.stdout
    assert cli("revoke", "analyst").returncode == 0
    assert "revoked" in cli("list").stdout
    assert requests.post(f"{live_server}/api/v1/collections", json={"id": "y"}, headers=headers).status_code == 401
    assert cli("revoke", "analyst").returncode == 1
    bad = cli("create", "no spaces")
    assert bad.returncode != 0 and "NAME" in bad.stderr and "Traceback" not in bad.stderr


def test_reads_can_require_a_token(postgres, tmp_path):
    from dataclasses import replace

    with shared_catalog(postgres, tmp_path) as (settings, db):
        add_token(db)
        with serving(replace(settings, read_access="token"), db) as base:
            assert problem(requests.get(f"{base}/api/v1/images"), 401)
            refused = requests.get(f"{base}/wms?SERVICE=WMS&REQUEST=GetCapabilities")
            assert refused.status_code == 401 and "ServiceExceptionReport" in refused.text, "WMS says it its own way"
            assert requests.get(f"{base}/api/v1/images", headers=AUTH).status_code == 200
            capabilities = f"{base}/wms?SERVICE=WMS&REQUEST=GetCapabilities&access_token={TOKEN}"
            assert requests.get(capabilities).status_code == 200
            assert requests.get(f"{base}/api/v1/health").status_code == 200, "the health check stays open"


def test_health_is_503_when_the_catalog_does_not_answer(settings, db):
    from cogbrowser.app import create_app

    client = create_app(settings, db).test_client()
    assert client.get("/api/v1/health").json["status"] == "ok"
    db.pool.close()  # as when the database server is gone
    answer = client.get("/api/v1/health")
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    assert answer.json["detail"].startswith("catalog unreachable") and answer.headers["Retry-After"]
    assert client.get("/api/v1/health?verbose=1").status_code == 400, "declared: unknown parameters refused"


# ---------------------------------------------------------------- collections

def test_collection_lifecycle(api, db, settings):
    url = f"{api}/api/v1/collections"
    body = {"id": "s2", "title": "Sentinel-2 L2A", "bands": [{"name": "B04", "common_name": "red"},
                                                              {"name": "B03"}, {"name": "B02"}],
            "presets": [{"name": "true-color", "bands": ["B04", "B03", "B02"], "rescale": [[0, 3000]]}]}
    made = requests.post(url, json=body, headers=AUTH)
    assert made.status_code == 201 and made.headers["Location"].endswith("/api/v1/collections/s2")
    assert made.json()["image_count"] == 0 and made.json()["presets"][0]["name"] == "true-color"
    assert "exists" in problem(requests.post(url, json=body, headers=AUTH), 409)["detail"]
    changed = requests.patch(f"{url}/s2", json={"title": "S2"}, headers=AUTH).json()
    assert changed["title"] == "S2" and changed["presets"][0]["name"] == "true-color", "the rest is kept"
    broken = requests.patch(f"{url}/s2", json={"presets": [{"name": "ir", "bands": ["B08", "B04", "B03"]}]},
                            headers=AUTH)
    document = problem(broken, 400)
    assert "presets.0" in document["detail"] and "B08" in document["detail"]
    typo = requests.patch(f"{url}/s2", json={"titel": "x"}, headers=AUTH)
    assert "titel" in problem(typo, 400)["detail"]

    assert ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/TCI.tif", image_id="tci",
                                                   collection="s2")).status == "added"
    cog = settings.cog_dir / "tci.tif"
    assert cog.is_file()
    refused = requests.delete(f"{url}/s2", headers=AUTH)
    assert "1 image" in problem(refused, 409)["detail"] and cog.is_file()
    assert requests.delete(f"{url}/s2", params={"cascade": "true"}, headers=AUTH).status_code == 204
    assert not cog.exists(), "cascade deletes the images' files too"
    assert problem(requests.get(f"{url}/s2"), 404)
    assert requests.get(f"{api}/api/v1/images").json()["images"] == []


# ---------------------------------------------------------------- image writes

@pytest.fixture
def one_image(api, db, settings):
    request = IngestRequest(path=REAL_DATA / "titiler/TCI.tif", image_id="tci")
    assert ingest_file(db, settings, request).status == "added"
    with db.connection() as conn:
        image = queries.get_image(conn, "tci")
        queries.upsert_collection(conn, "s2", "S2")
    w, s, e, n = image.bbox
    from cogbrowser.ingest.detections import create_detections
    ids, problems = create_detections(db, [{"image_id": "tci", "target_class": "ship", "score": 0.9,
                                            "bbox": [w + 0.01, s + 0.01, w + 0.02, s + 0.02]}])
    assert not problems
    return api


def test_patch_image_metadata(one_image):
    url = f"{one_image}/api/v1/images/tci"
    changed = requests.patch(url, json={"title": "Crete", "cloud_cover": 4.5, "collection_id": "s2",
                                        "acquired_at": "2021-05-01T09:30:00Z"}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    image = requests.get(url).json()
    assert (image["title"], image["cloud_cover"], image["collection_id"]) == ("Crete", 4.5, "s2")
    assert image["acquired_at"].startswith("2021-05-01T09:30:00")
    assert "collection_id" in problem(requests.patch(url, json={"collection_id": "nope"}, headers=AUTH), 400)["detail"]
    assert "cloud_cover" in problem(requests.patch(url, json={"cloud_cover": 140}, headers=AUTH), 400)["detail"]
    assert "width" in problem(requests.patch(url, json={"width": 3}, headers=AUTH), 400)["detail"], \
        "only metadata may change"


def test_delete_image_takes_file_row_and_detections(one_image, db, settings):
    cog = settings.cog_dir / "tci.tif"
    assert requests.delete(f"{one_image}/api/v1/images/tci", headers=AUTH).status_code == 204
    assert not cog.exists() and not list(settings.tmp_dir.iterdir())
    with db.connection() as conn:
        assert queries.get_image(conn, "tci") is None
        assert conn.execute("SELECT count(*) AS n FROM detections").fetchone()["n"] == 0
    assert problem(requests.delete(f"{one_image}/api/v1/images/tci", headers=AUTH), 404)


def test_a_failed_delete_changes_nothing(one_image, db, settings, monkeypatch):
    """A fault injected after the file was moved aside: the row, its detections and the file stay."""
    import cogbrowser.ingest.delete as deletion

    def failing_then(conn):
        raise RuntimeError("injected")

    original = deletion.delete_images

    def delete_then_fail(db_, settings_, image_ids, then=None):
        return original(db_, settings_, image_ids, then=failing_then)

    monkeypatch.setattr("cogbrowser.api.images.delete_images", delete_then_fail)
    before = (settings.cog_dir / "tci.tif").read_bytes()
    response = requests.delete(f"{one_image}/api/v1/images/tci", headers=AUTH)
    assert response.status_code == 500 and "Traceback" not in response.text
    assert (settings.cog_dir / "tci.tif").read_bytes() == before
    with db.connection() as conn:
        assert queries.get_image(conn, "tci") is not None
        assert conn.execute("SELECT count(*) AS n FROM detections").fetchone()["n"] == 1
    assert not list(settings.tmp_dir.iterdir())


def test_create_and_import_detections(one_image, db, tmp_path):
    url = f"{one_image}/api/v1/detections"
    with db.connection() as conn:
        w, s, e, n = queries.get_image(conn, "tci").bbox
    good = {"image_id": "tci", "target_class": "ship", "target_name": "Aurora", "score": 0.8,
            "bbox": [w + 0.1, s + 0.1, w + 0.11, s + 0.11]}
    made = requests.post(url, json={"detections": [good, {**good, "pixel_bbox": [10, 10, 20, 20], "bbox": None}]},
                         headers=AUTH)
    assert made.status_code == 201, made.text
    assert made.json()["created"] == 2
    second = requests.get(f"{url}/{made.json()['ids'][1]}").json()
    assert second["pixel_bbox"] == [10, 10, 20, 20]
    bad = requests.post(url, json={"detections": [good, {**good, "image_id": "nope"},
                                                  {**good, "bbox": [w, s, w, s + 1]}]}, headers=AUTH)
    document = problem(bad, 400)
    assert [error["field"] for error in document["errors"]] == ["detections.1", "detections.2"]
    assert "nope" in document["errors"][0]["message"]
    assert requests.get(url).json()["count"] == 3, "nothing of the bad batch was created"

    text = ("image_id,target_class,target_name,score,lon_min,lat_min,lon_max,lat_max\r\n"
            f"tci,tank,,0.7,{w + 0.2},{s + 0.2},{w + 0.21},{s + 0.21}\r\n"
            f"tci,tank,,1.7,{w + 0.2},{s + 0.2},{w + 0.21},{s + 0.21}\r\n")
    refused = requests.post(f"{url}/import", data=text.encode(), headers={**AUTH, "Content-Type": "text/csv"})
    document = problem(refused, 400)
    assert document["errors"] == [{"field": "line 3", "message": "score 1.7 is outside 0..1"}]
    imported = requests.post(f"{url}/import", params={"skip_invalid": "true"}, headers=AUTH,
                             files={"file": ("tanks.csv", text.encode(), "text/csv")})
    assert imported.status_code == 200, imported.text
    assert (imported.json()["imported"], imported.json()["rows_read"], imported.json()["invalid"]) == (1, 2, 1)
    assert imported.json()["problems"] == [{"where": "line 3", "message": "score 1.7 is outside 0..1"}]
    assert requests.get(f"{url}/counts", params={"by": "class"}).json()["total"] == 4
    one = made.json()["ids"][0]
    assert requests.delete(f"{url}/{one}", headers=AUTH).status_code == 204
    assert problem(requests.get(f"{url}/{one}"), 404)


# ---------------------------------------------------------------- the description

def test_openapi_describes_every_api_route(catalog):
    base, _, _ = catalog
    document = requests.get(f"{base}/api/v1/openapi.json").json()
    from openapi_spec_validator import validate

    validate(document)
    from flask import current_app  # noqa: F401  (the app's routes, as Flask knows them)
    paths = set(document["paths"])
    for rule in ("/api/v1/images", "/api/v1/images/{image_id}", "/api/v1/collections",
                 "/api/v1/collections/{collection_id}", "/api/v1/detections", "/api/v1/detections/counts",
                 "/api/v1/openapi.json"):
        assert rule in paths, rule
    search = document["paths"]["/api/v1/images"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"bbox", "datetime", "collections", "limit", "cursor"}
    assert document["paths"]["/api/v1/collections"]["post"]["security"] == [{"token": []}]


def test_browsers_of_other_origins_may_call_the_api(catalog):
    base, _, _ = catalog
    preflight = requests.options(f"{base}/api/v1/collections", headers={
        "Origin": "http://analyst.lan", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    answer = requests.get(f"{base}/api/v1/images", headers={"Origin": "http://analyst.lan"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_docs_page_is_self_contained(catalog):
    base, _, _ = catalog
    page = requests.get(f"{base}/api/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/api/v1/images" in page.text and "Search images" in page.text
    import re

    hosts = set(re.findall(r'(?:src|href)=["\']https?://([^/"\']+)', page.text))
    assert hosts <= {base.split("//")[1]}, f"the page loads nothing from elsewhere: {hosts}"
