"""The STAC API as a STAC client uses it: pystac-client on a real server over the embedded
PostgreSQL and real rasters.

Items are checked field by field against the catalog and the stored COG (rasterio as the oracle)
rather than by pystac's schema validation, which fetches the schemas from the Internet (we are
offline). Pages are followed as pystac-client follows them, GET and POST, and must neither repeat
nor lose an item.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pystac
import pytest
import rasterio
import requests
from pystac_client import Client
from shapely.geometry import box, mapping, shape
from shapely.ops import unary_union

from cogbrowser.api import stac
from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.records import ImageRecord
from helpers import ingest_images, serving, shared_catalog

UTC = timezone.utc
APRIL = datetime(2024, 4, 12, 10, 30, tzinfo=UTC)

# (id, file, collection, acquired, cloud cover)
IMAGES = [
    ("cog1", "titiler/cog1.tif", "landsat", datetime(2024, 5, 1, 10, tzinfo=UTC), 12.5),     # Quebec, UTM 18N
    ("cog2", "titiler/cog2.tif", "landsat", datetime(2024, 6, 1, 10, tzinfo=UTC), 40.0),     # overlaps cog1
    ("B01", "titiler/B01.tif", "sentinel2", APRIL, 5.0),                                    # three of one time:
    ("B09", "titiler/B09.tif", "sentinel2", APRIL, 5.0),                                    # pages break ties
    ("TCI", "titiler/TCI.tif", "sentinel2", APRIL, 5.0),                                    # by id
    ("dateline", "rio-tiler/cog_dateline.tif", "aleutians", datetime(2023, 8, 20, 22, tzinfo=UTC), None),
    ("nan", "titiler/cog_with_nan.tif", None, datetime(2022, 1, 1, tzinfo=UTC), None),      # EPSG:4326
    ("albers", "rioxarray/cog.tif", None, None, None),       # custom Albers CRS (no EPSG), New York
    ("rgb", "rio-tiler/cog_rgb.tif", None, None, None),      # no collection, no acquisition time
]
NEWEST_FIRST = ["cog2", "cog1", "B01", "B09", "TCI", "dateline", "nan", "albers", "rgb"]
LANDSAT_BANDS = [{"name": "B4", "common_name": "red", "center_wavelength": 0.655},
                 {"name": "B3", "common_name": "green", "center_wavelength": 0.56},
                 {"name": "B2", "common_name": "blue", "center_wavelength": 0.48}]
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory):
    """Nine real images: three collections, one empty collection, three images of none."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("stac")) as (settings, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "landsat", "Landsat 8", "Landsat 8 OLI scenes", bands=LANDSAT_BANDS,
                                      properties={"license": "CC0-1.0"})
            queries.upsert_collection(conn, "sentinel2", "Sentinel-2")
            queries.upsert_collection(conn, "aleutians", "Across the antimeridian")
            queries.upsert_collection(conn, "empty", "Nothing yet")
        ingest_images(db, settings, IMAGES)  # albers and rgb: no known time, whatever the files say
        with serving(settings, db) as url:
            yield url, settings, db


@pytest.fixture(scope="module")
def base(catalog):
    return catalog[0]


@pytest.fixture(scope="module")
def client(base):
    return Client.open(f"{base}/stac")


def row(catalog, image_id: str) -> ImageRecord:
    with catalog[2].connection() as conn:
        return queries.get_image(conn, image_id)


def found(search) -> list[str]:
    return [item.id for item in search.items()]


def problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    document = response.json()
    assert document["status"] == status and document["title"] and document["detail"]
    return document


def urls(document) -> list[str]:
    """Every string of a JSON document that is a URL."""
    if isinstance(document, dict):
        return [url for value in document.values() for url in urls(value)]
    if isinstance(document, list):
        return [url for value in document for url in urls(value)]
    return [document] if isinstance(document, str) and "://" in document else []


def link(document: dict, rel: str) -> dict | None:
    return next((entry for entry in document["links"] if entry["rel"] == rel), None)


# ---------------------------------------------------------------- landing page, collections

def test_landing_page_and_conformance(client, base):
    for name in ("CORE", "COLLECTIONS", "FEATURES", "ITEM_SEARCH"):
        assert client.conforms_to(name), name
    assert client.id == "cogbrowser" and client.description
    landing = requests.get(f"{base}/stac")
    assert landing.headers["Content-Type"] == "application/json"
    document = landing.json()
    assert document["stac_version"] == "1.0.0" and document["type"] == "Catalog"
    assert {entry["method"] for entry in document["links"] if entry["rel"] == "search"} == {"GET", "POST"}
    assert sorted(entry["href"].rsplit("/", 1)[1] for entry in document["links"] if entry["rel"] == "child") == \
        ["aleutians", "empty", "landsat", "sentinel2"]
    assert requests.get(link(document, "service-desc")["href"]).json()["paths"]["/stac/search"].keys() >= \
        {"get", "post"}, "the OpenAPI document describes the STAC API too"
    conformance = requests.get(link(document, "conformance")["href"]).json()
    assert conformance["conformsTo"] == document["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance["conformsTo"]


def test_collections(client, base, catalog):
    assert sorted(c.id for c in client.get_collections()) == ["aleutians", "empty", "landsat", "sentinel2"]
    landsat = client.get_collection("landsat")
    assert landsat.title == "Landsat 8" and landsat.description == "Landsat 8 OLI scenes"
    assert landsat.license == "CC0-1.0"
    assert landsat.extent.temporal.intervals == [[datetime(2024, 5, 1, 10, tzinfo=UTC),
                                                  datetime(2024, 6, 1, 10, tzinfo=UTC)]]
    both = [row(catalog, "cog1").bbox, row(catalog, "cog2").bbox]
    west, south, east, north = landsat.extent.spatial.bboxes[0]
    assert west == min(b[0] for b in both) and east == max(b[2] for b in both)
    assert south == min(b[1] for b in both) and north == max(b[3] for b in both)
    summary = requests.get(f"{base}/stac/collections/landsat").json()["summaries"]["eo:bands"]
    assert [band["common_name"] for band in summary] == ["red", "green", "blue"]

    empty = requests.get(f"{base}/stac/collections/empty").json()
    assert empty["extent"]["temporal"]["interval"] == [[None, None]]
    assert empty["extent"]["spatial"]["bbox"] == [[-180, -90, 180, 90]]
    assert requests.get(f"{base}/stac/collections/empty/items").json()["features"] == []

    aleutians = client.get_collection("aleutians").extent.spatial.bboxes[0]
    assert aleutians[0] > aleutians[2], "a collection across the antimeridian has west > east"
    assert client.get_collection("nope") is None


# ---------------------------------------------------------------- search

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_filters_combine(client, method):
    quebec = [-76, 44, -70, 48]  # cog1, cog2 and the Albers image (northern New York)
    assert sorted(found(client.search(method=method, bbox=quebec))) == ["albers", "cog1", "cog2"]
    assert found(client.search(method=method, bbox=quebec, datetime="2024-01-01/..")) == ["cog2", "cog1"]
    assert found(client.search(method=method, bbox=quebec, datetime="../2024-05-15", collections=["landsat"])) \
        == ["cog1"]
    assert found(client.search(method=method, datetime="2024-04-12")) == ["B01", "B09", "TCI"], \
        "a day is all of it; ties in time come by id"
    assert found(client.search(method=method, collections=["sentinel2", "aleutians"])) == \
        ["B01", "B09", "TCI", "dateline"]
    assert found(client.search(method=method, ids=["rgb", "cog1", "dateline"])) == ["cog1", "dateline", "rgb"]
    assert found(client.search(method=method, collections=["landsat"], ids=["B01"])) == []
    assert client.search(method=method, bbox=quebec).matched() == 3


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_neither_repeats_nor_loses_items(client, method):
    search = client.search(method=method, limit=2)
    pages = [[item.id for item in page.items] for page in search.pages()]
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [image_id for page in pages for image_id in page] == NEWEST_FIRST
    assert search.matched() == len(NEWEST_FIRST)
    assert found(client.search(method=method, limit=2, max_items=3)) == NEWEST_FIRST[:3]


def test_post_search_next_link_is_a_post_of_the_same_search(base):
    search = {"collections": ["sentinel2", "landsat"], "limit": 3}
    first = requests.post(f"{base}/stac/search", json=search)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/geo+json"
    page = first.json()
    assert page["numberMatched"] == 5 and page["numberReturned"] == 3
    following = link(page, "next")
    assert following["method"] == "POST" and following["merge"] is False
    assert following["href"] == f"{base}/stac/search"
    assert following["body"]["collections"] == ["sentinel2", "landsat"] and following["body"]["token"]
    second = requests.post(following["href"], json=following["body"]).json()
    assert [f["id"] for f in page["features"] + second["features"]] == ["cog2", "cog1", "B01", "B09", "TCI"]
    assert link(second, "next") is None


def test_search_intersects_uses_the_footprint(client, catalog):
    footprints = {image_id: shape(row(catalog, image_id).footprint) for image_id, *_ in IMAGES}
    inside_cog1 = footprints["cog1"].difference(footprints["cog2"]).difference(footprints["albers"])
    point = inside_cog1.representative_point()
    for method in ("GET", "POST"):
        assert found(client.search(method=method, intersects=mapping(point.buffer(0.001)))) == ["cog1"]
    # a corner of cog2's bbox that no footprint covers: bbox search finds cog2, intersects must not
    corner = box(*row(catalog, "cog2").bbox).difference(unary_union(list(footprints.values())))
    assert not corner.is_empty
    spot = corner.representative_point()
    assert "cog2" in found(client.search(bbox=[spot.x - 1e-6, spot.y - 1e-6, spot.x + 1e-6, spot.y + 1e-6]))
    assert found(client.search(intersects=mapping(spot))) == []
    dateline = footprints["dateline"].representative_point()
    assert found(client.search(method="GET", intersects=mapping(dateline))) == ["dateline"]


def test_antimeridian_bbox(client, base, catalog):
    west, south, east, north = row(catalog, "dateline").bbox
    assert west < 180 < east, "the catalog stores it with east past 180"
    item = requests.get(f"{base}/stac/collections/aleutians/items/dateline").json()
    assert item["bbox"] == pytest.approx([west, south, east - 360, north])
    assert item["bbox"][0] > item["bbox"][2]
    assert item["geometry"]["type"] == "MultiPolygon", "the footprint is split at the antimeridian"
    middle = (south + north) / 2
    east_side = [west + 0.01, middle, 179.99, middle + 0.01]
    west_side = [-179.99, middle, east - 360 - 0.01, middle + 0.01]
    across = [179.9, middle, -179.9, middle + 0.01]
    for bbox in (east_side, west_side, across):
        assert found(client.search(bbox=bbox)) == ["dateline"], bbox


# ---------------------------------------------------------------- items

def test_item_fields(client, base, catalog):
    image = row(catalog, "cog1")
    item = client.get_collection("landsat").get_item("cog1")
    assert isinstance(item, pystac.Item) and item.collection_id == "landsat"
    assert item.datetime == datetime(2024, 5, 1, 10, tzinfo=UTC)
    raw = requests.get(f"{base}/stac/collections/landsat/items/cog1")
    assert raw.headers["Content-Type"] == "application/geo+json"
    document = raw.json()
    assert document["type"] == "Feature" and document["stac_version"] == "1.0.0"
    assert {PROJECTION, EO} <= set(document["stac_extensions"])
    assert document["geometry"] == image.footprint
    assert document["bbox"] == pytest.approx(list(image.bbox))
    properties = document["properties"]
    assert properties["datetime"] == "2024-05-01T10:00:00Z"
    assert properties["title"] == "cog1" and properties["eo:cloud_cover"] == 12.5
    assert [(b["name"], b["common_name"], b["center_wavelength"]) for b in properties["eo:bands"]] == \
        [(b["name"], b["common_name"], b["center_wavelength"]) for b in LANDSAT_BANDS]
    with rasterio.open(image_file(catalog[1], image)) as src:
        assert properties["proj:epsg"] == src.crs.to_epsg() == 32618
        assert properties["proj:shape"] == [src.height, src.width] == [790, 779]
        assert properties["proj:transform"] == pytest.approx(list(src.transform)[:6])
        assert properties["proj:bbox"] == pytest.approx(list(src.bounds))
    with open(image_file(catalog[1], image), "rb") as stored:
        first_bytes = stored.read(100)

    data, thumbnail = document["assets"]["data"], document["assets"]["thumbnail"]
    assert data["href"] == f"{base}/cogs/cog1.tif" and data["type"] == COG_TYPE and data["roles"] == ["data"]
    cog = requests.get(data["href"], headers={"Range": "bytes=0-99"})
    assert cog.status_code == 206 and cog.content == first_bytes
    assert thumbnail["roles"] == ["thumbnail"] and thumbnail["type"] == "image/png"
    picture = requests.get(thumbnail["href"])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")

    assert link(document, "self")["href"] == f"{base}/stac/collections/landsat/items/cog1"
    assert link(document, "collection")["href"] == link(document, "parent")["href"] == \
        f"{base}/stac/collections/landsat"
    assert link(document, "root")["href"] == f"{base}/stac"
    tilejson = requests.get(link(document, "tilejson")["href"])
    assert tilejson.status_code == 200 and tilejson.json()["tiles"][0].startswith(f"{base}/tiles/cog1/")
    assert link(document, "wms")["wms:layers"] == ["cog1"]


def test_item_without_collection_or_time(client, base, catalog):
    image = row(catalog, "rgb")
    [item] = client.search(ids=["rgb"]).items_as_dicts()
    assert "collection" not in item and link(item, "collection") is None
    assert link(item, "parent")["href"] == f"{base}/stac"
    properties = item["properties"]
    assert properties["datetime"] is None, "its acquisition time is unknown"
    assert properties["start_datetime"] == "1970-01-01T00:00:00Z"
    assert datetime.fromisoformat(properties["end_datetime"]) == image.created_at
    assert pystac.Item.from_dict(item).common_metadata.end_datetime == image.created_at
    assert "eo:cloud_cover" not in properties
    assert "rgb" not in found(client.search(datetime="../2100-01-01")), "a time filter needs a known time"
    assert item["assets"]["data"]["href"] == f"{base}/cogs/rgb.tif"


def test_item_in_a_crs_without_epsg_code(base, catalog):
    [item] = requests.get(f"{base}/stac/search", params={"ids": "albers"}).json()["features"]
    assert item["properties"]["proj:epsg"] is None
    assert item["properties"]["proj:wkt2"] == row(catalog, "albers").crs
    assert item["properties"]["proj:shape"] == [500, 500]


def test_collection_items_and_their_pages(client, base, catalog):
    assert sorted(item.id for item in client.get_collection("sentinel2").get_items()) == ["B01", "B09", "TCI"]
    page = requests.get(f"{base}/stac/collections/sentinel2/items", params={"limit": 2}).json()
    assert [f["id"] for f in page["features"]] == ["B01", "B09"] and page["numberMatched"] == 3
    assert link(page, "collection")["href"] == f"{base}/stac/collections/sentinel2"
    rest = requests.get(link(page, "next")["href"]).json()
    assert [f["id"] for f in rest["features"]] == ["TCI"] and link(rest, "next") is None
    later = requests.get(f"{base}/stac/collections/landsat/items", params={"datetime": "2024-05-15/.."}).json()
    assert [f["id"] for f in later["features"]] == ["cog2"]
    west, south, _, north = row(catalog, "cog1").bbox
    west_of_cog2 = f"{west},{south},{row(catalog, 'cog2').bbox[0] - 0.01},{north}"
    quebec_west = requests.get(f"{base}/stac/collections/landsat/items", params={"bbox": west_of_cog2}).json()
    assert [f["id"] for f in quebec_west["features"]] == ["cog1"]


def test_limit_above_the_maximum_is_the_maximum(base, monkeypatch):
    everything = requests.get(f"{base}/stac/search", params={"limit": 5000})
    assert everything.status_code == 200 and everything.json()["numberReturned"] == len(NEWEST_FIRST)
    monkeypatch.setattr(stac, "MAX_LIMIT", 2)
    capped = requests.get(f"{base}/stac/search", params={"limit": 5}).json()
    assert [f["id"] for f in capped["features"]] == NEWEST_FIRST[:2] and link(capped, "next")


def test_links_are_on_the_requesting_host_and_nowhere_else(base):
    host = {"Host": "eo-server.lan:8050"}
    documents = [requests.get(f"{base}{path}", headers=host).json() for path in (
        "/stac", "/stac/conformance", "/stac/collections", "/stac/collections/landsat",
        "/stac/collections/landsat/items", "/stac/search?limit=100")]
    documents.append(requests.post(f"{base}/stac/search", json={"limit": 1}, headers=host).json())
    found_urls = [url for document in documents for url in urls(document)]
    assert any(url.startswith("http://eo-server.lan:8050/cogs/") for url in found_urls)
    strays = {url for url in found_urls if not url.startswith("http://eo-server.lan:8050/")}
    assert strays and strays <= set(stac.IDENTIFIERS.values()), strays - set(stac.IDENTIFIERS.values())


# ---------------------------------------------------------------- errors

POINT = json.dumps({"type": "Point", "coordinates": [-74.5, 46]})


@pytest.mark.parametrize("path, params, field", [
    ("search", {"bbox": "1,2,3"}, "bbox"),
    ("search", {"bbox": "-70,50,-60,40"}, "bbox"),
    ("search", {"bbox": "west,south,east,north"}, "bbox"),
    ("search", {"datetime": "2024-13-45"}, "datetime"),
    ("search", {"datetime": "2024-06-01/2024-01-01"}, "datetime"),
    ("search", {"limit": "0"}, "limit"),
    ("search", {"limit": "ten"}, "limit"),
    ("search", {"token": "not-a-token"}, "token"),
    ("search", {"intersects": "{not json"}, "intersects"),
    ("search", {"intersects": json.dumps({"type": "Feature", "geometry": None})}, "intersects"),
    ("search", {"intersects": POINT, "bbox": "-75,45,-74,47"}, "intersects"),
    ("search", {"collections": "bad/id"}, "collections"),
    ("search", {"sortby": "-datetime"}, "sortby"),
    ("collections/landsat/items", {"ids": "cog1"}, "ids"),
    ("collections/landsat/items", {"collections": "sentinel2"}, "collections"),
    ("collections/landsat/items", {"bbox": "0,0,1"}, "bbox"),
])
def test_bad_parameters_are_named(base, path, params, field):
    document = problem(requests.get(f"{base}/stac/{path}", params=params), 400)
    assert field in document["detail"]


@pytest.mark.parametrize("body, field", [
    ({"bbox": [1, 2, 3]}, "bbox"),
    ({"limit": -1}, "limit"),
    ({"datetime": "yesterday"}, "datetime"),
    ({"token": "xyz"}, "token"),
    ({"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}}, "intersects"),
    ({"fields": {"include": ["id"]}}, "fields"),
])
def test_bad_search_bodies_are_named(base, body, field):
    document = problem(requests.post(f"{base}/stac/search", json=body), 400)
    assert field in document["detail"]


def test_a_search_body_must_be_json(base):
    broken = requests.post(f"{base}/stac/search", data="{", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in problem(broken, 400)["detail"]
    assert problem(requests.post(f"{base}/stac/search", data="bbox=1,2,3,4"), 415)


def test_a_token_belongs_to_its_search(base):
    page = requests.get(f"{base}/stac/search", params={"collections": "sentinel2", "limit": 1}).json()
    token = parse_qs(urlsplit(link(page, "next")["href"]).query)["token"][0]
    other = requests.get(f"{base}/stac/search", params={"collections": "landsat", "limit": 1, "token": token})
    assert "token" in problem(other, 400)["detail"] and "another search" in other.json()["detail"]


@pytest.mark.parametrize("path, named", [
    ("collections/nope", "'nope'"), ("collections/nope/items", "'nope'"), ("collections/landsat/items/nope", "'nope'"),
    ("collections/landsat/items/B01", "'B01'"), ("collections/landsat/items/rgb", "'rgb'")])
def test_unknown_collections_and_items_are_404(base, path, named):
    assert named in problem(requests.get(f"{base}/stac/{path}"), 404)["detail"]
