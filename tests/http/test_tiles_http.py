"""XYZ tiles and TileJSON over HTTP, as a map client fetches them."""

from __future__ import annotations

import io

import morecantile
import numpy as np
import pytest
import requests
from PIL import Image

from cogbrowser.catalog import queries
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA

WEB = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def tiles(db, settings, live_server):
    with db.connection() as conn:
        queries.upsert_collection(conn, "landsat", "Landsat", presets=[
            {"name": "natural", "bands": [1, 2, 3], "rescale": [[0, 20000]]},
            {"name": "red-viridis", "bands": [1], "colormap": "viridis"}])
    assert ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/TCI.tif",
                                                   image_id="tci")).status == "added"
    assert ingest_file(db, settings, IngestRequest(path=REAL_DATA / "titiler/cog1.tif", image_id="cog1",
                                                   collection="landsat")).status == "added"
    return live_server


def centre_tile(image_bbox, zoom):
    west, south, east, north = image_bbox
    return WEB.tile((west + east) / 2, (south + north) / 2, zoom)


def fetch_image(url, **params):
    response = requests.get(url, params=params)
    assert response.status_code == 200, response.text
    return response, Image.open(io.BytesIO(response.content))


def test_png_tile_shows_the_image(tiles, db):
    with db.connection() as conn:
        bbox = queries.get_image(conn, "tci").bbox
    t = centre_tile(bbox, 10)
    response, image = fetch_image(f"{tiles}/tiles/tci/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png")
    assert response.headers["Content-Type"] == "image/png" and image.size == (256, 256)
    pixels = np.asarray(image.convert("RGBA"))
    opaque = pixels[..., 3] == 255
    assert opaque.mean() > 0.2, "the tile shows data"
    assert pixels[opaque][:, :3].std() > 5, "and it is not a flat colour"
    again = requests.get(response.url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("fmt, kind", [("jpg", "JPEG"), ("webp", "WEBP")])
def test_other_formats(tiles, db, fmt, kind):
    with db.connection() as conn:
        bbox = queries.get_image(conn, "tci").bbox
    t = centre_tile(bbox, 9)
    _, image = fetch_image(f"{tiles}/tiles/tci/WebMercatorQuad/{t.z}/{t.x}/{t.y}.{fmt}")
    assert image.format == kind


def test_styles_colormaps_and_worldcrs84(tiles, db):
    with db.connection() as conn:
        bbox = queries.get_image(conn, "cog1").bbox
    t = centre_tile(bbox, 8)
    url = f"{tiles}/tiles/cog1/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    _, natural = fetch_image(url, style="natural")
    _, viridis = fetch_image(url, style="red-viridis")
    _, ndvi_like = fetch_image(url, expression="(b3-b1)/(b3+b1)", colormap="rdylgn", rescale="-0.5,0.5")
    assert np.asarray(natural).shape != () and not np.array_equal(np.asarray(natural.convert("RGBA")),
                                                                   np.asarray(viridis.convert("RGBA")))
    assert np.asarray(ndvi_like.convert("RGBA"))[..., 3].max() == 255
    geo = morecantile.tms.get("WorldCRS84Quad").tile((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, 7)
    _, image = fetch_image(f"{tiles}/tiles/cog1/WorldCRS84Quad/{geo.z}/{geo.x}/{geo.y}.png")
    assert np.asarray(image.convert("RGBA"))[..., 3].max() == 255


def test_tile_outside_the_image_is_transparent(tiles):
    _, image = fetch_image(f"{tiles}/tiles/tci/WebMercatorQuad/10/0/0.png")
    assert np.asarray(image.convert("RGBA"))[..., 3].max() == 0


@pytest.mark.parametrize("path, params, status, words", [
    ("/tiles/nope/WebMercatorQuad/1/0/0.png", {}, 404, "no image or collection 'nope' in the catalog"),
    ("/tiles/landsat/WebMercatorQuad/1/0/0.png", {"datetime": "last week"}, 400, "datetime: 'last week' is not a date"),
    ("/tiles/landsat/WebMercatorQuad/1/0/0.png", {"datetime": "2020-02-01/2020-01-01"}, 400, "ends before it starts"),
    ("/tiles/tci/Mercator/1/0/0.png", {}, 404, "unknown tile matrix set 'Mercator'"),
    ("/tiles/tci/WebMercatorQuad/1/5/0.png", {}, 404, "tile 1/5/0 is outside the WebMercatorQuad grid"),
    ("/tiles/tci/WebMercatorQuad/40/0/0.png", {}, 404, "zoom 40 is outside"),
    ("/tiles/tci/WebMercatorQuad/1/0/0.gif", {}, 404, "unknown tile format 'gif'"),
    ("/tiles/tci/WebMercatorQuad/1/0/0.png", {"bands": "9"}, 400, "bands: band 9 does not exist (the image has 3)"),
    ("/tiles/tci/WebMercatorQuad/1/0/0.png", {"expression": "b1+"}, 400, "unexpected end of expression"),
    ("/tiles/tci/WebMercatorQuad/1/0/0.png", {"colour": "red"}, 400, "unknown parameter(s): colour"),
    ("/tiles/tci/WebMercatorQuad/1/0/0.png", {"rescale": "nan,1"}, 400, "rescale"),
])
def test_bad_requests_are_problems(tiles, path, params, status, words):
    response = requests.get(tiles + path, params=params)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert words in response.json()["detail"]


def test_tilejson(tiles):
    doc = requests.get(f"{tiles}/tiles/tci/WebMercatorQuad/tilejson.json", params={"bands": "1"}).json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"{tiles}/tiles/tci/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?bands=1"]
    assert doc["bounds"] == pytest.approx([23.106, 31.505, 24.296, 32.519], abs=0.01)
    assert doc["maxzoom"] == 10  # 100 m pixels at 32 N: zoom 10 (~150 m) is the first as fine


@pytest.fixture
def mosaic(db, settings, live_server):
    """The overlapping Landsat pair as one collection: cog1 (older) and cog2 (newer)."""
    from datetime import datetime, timezone

    for name, day in (("cog1", 1), ("cog2", 20)):
        result = ingest_file(db, settings, IngestRequest(
            path=REAL_DATA / f"titiler/{name}.tif", image_id=name, collection="landsat",
            acquired_at=datetime(2020, 1, day, tzinfo=timezone.utc)))
        assert result.status == "added"
    return live_server


def rgba(url, **params):
    _, image = fetch_image(url, **params)
    return np.asarray(image.convert("RGBA"))


def test_collection_layer_is_a_mosaic_newest_on_top(mosaic, db):
    with db.connection() as conn:
        one, two = (queries.get_image(conn, i).bbox for i in ("cog1", "cog2"))
    overlap_lon, overlap_lat = (max(one[0], two[0]) + min(one[2], two[2])) / 2, (one[1] + one[3]) / 2
    t = WEB.tile(overlap_lon, overlap_lat, 8)
    path = f"WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    stretch = {"rescale": "0,12000"}  # the same for all (a collection's own is its newest image's)
    both = rgba(f"{mosaic}/tiles/landsat/{path}", **stretch)
    newer = rgba(f"{mosaic}/tiles/cog2/{path}", **stretch)
    older = rgba(f"{mosaic}/tiles/cog1/{path}", **stretch)
    from_newer = newer[..., 3] == 255
    from_older = ~from_newer & (older[..., 3] == 255)
    assert from_newer.mean() > 0.1 and from_older.mean() > 0.05, "the tile spans the overlap's edge"
    assert np.array_equal(both[from_newer], newer[from_newer])
    assert np.array_equal(both[from_older], older[from_older])
    assert (both[~from_newer & ~from_older][..., 3] == 0).all()

    january_first = rgba(f"{mosaic}/tiles/landsat/{path}", datetime="2020-01-01", **stretch)
    assert np.array_equal(january_first, older)
    until_mid_january = rgba(f"{mosaic}/tiles/landsat/{path}", datetime="../2020-01-15T00:00:00Z", **stretch)
    assert np.array_equal(until_mid_january, older)


def test_collection_tilejson_covers_all_its_images(mosaic, db):
    doc = requests.get(f"{mosaic}/tiles/landsat/WebMercatorQuad/tilejson.json").json()
    with db.connection() as conn:
        one, two = (queries.get_image(conn, i).bbox for i in ("cog1", "cog2"))
    assert doc["bounds"] == pytest.approx([min(one[0], two[0]), min(one[1], two[1]),
                                           max(one[2], two[2]), max(one[3], two[3])])
    with db.connection() as conn:
        queries.upsert_collection(conn, "empty", "Nothing yet")
    response = requests.get(f"{mosaic}/tiles/empty/WebMercatorQuad/3/1/1.png")
    assert response.status_code == 404 and "has no images yet" in response.json()["detail"]


def test_tiles_are_in_the_openapi_document(live_server):
    """Declared like the REST API: both routes, their path and query parameters and their answers."""
    document = requests.get(f"{live_server}/api/v1/openapi.json").json()
    tile = document["paths"]["/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{format}"]["get"]
    parameters = {p["name"]: p for p in tile["parameters"]}
    assert parameters["tileMatrixSetId"]["schema"]["enum"] == ["WebMercatorQuad", "WorldCRS84Quad"]
    assert {"png", "jpg", "webp"} <= set(parameters["format"]["schema"]["enum"])
    assert all(parameters[name]["schema"]["type"] == "integer" and parameters[name]["in"] == "path"
               for name in "zxy")
    query = {name for name, p in parameters.items() if p["in"] == "query"}
    assert query == {"style", "bands", "expression", "rescale", "gain", "gamma", "colormap", "resampling", "nodata",
                     "datetime", "max_cloud_cover", "mosaic_order", "closest_to"}
    assert parameters["mosaic_order"]["schema"]["enum"] == ["newest", "oldest", "least-cloudy", "closest"]
    assert parameters["rescale"]["explode"] is True, "rescale=min,max is repeated, once per band"
    assert set(tile["responses"]["200"]["content"]) == {"image/png", "image/jpeg", "image/webp"}
    assert {"304", "400", "404"} <= set(tile["responses"])
    assert "application/problem+json" in tile["responses"]["404"]["content"]
    tilejson = document["paths"]["/tiles/{layer}/{tileMatrixSetId}/tilejson.json"]["get"]
    assert "datetime" in {p["name"] for p in tilejson["parameters"]}
    assert tilejson["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TileJSON")


def test_tile_parameters_are_checked_as_the_apis_are(tiles):
    """Unknown and repeated parameters answer the API's problem, naming the parameter; rescale may
    be repeated (once per band) and access_token is always allowed."""
    url = f"{tiles}/tiles/tci/WebMercatorQuad/1/0/0.png"
    unknown = requests.get(url, params={"colour": "red", "bands": "1"})
    assert unknown.status_code == 400 and unknown.headers["Content-Type"] == "application/problem+json"
    assert unknown.json()["errors"] == [{"field": "colour", "message": "unknown parameter"}]
    assert requests.get(f"{tiles}/tiles/tci/WebMercatorQuad/tilejson.json", params={"colour": "red"}).status_code == 400
    twice = requests.get(url, params=[("bands", "1"), ("bands", "2")])
    assert twice.status_code == 400 and "bands: given 2 times" in twice.json()["detail"]
    per_band = [("rescale", "0,200"), ("rescale", "0,220"), ("rescale", "0,240")]
    assert requests.get(url, params=per_band).status_code == 200
    assert requests.get(url, params=[*per_band, ("rescale", "0,1")]).status_code == 400, "at most one per band"
    assert requests.get(url, params={"access_token": "anything"}).status_code == 200
    doc = requests.get(f"{tiles}/tiles/tci/WebMercatorQuad/tilejson.json", params=per_band).json()
    assert doc["tiles"][0].endswith("?rescale=0%2C200&rescale=0%2C220&rescale=0%2C240"), "every value carried over"
    assert requests.get(doc["tiles"][0].format(z=1, x=0, y=0)).status_code == 200
