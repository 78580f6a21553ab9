"""The map's search (`/api/v1/places`: coordinates, images, places) and its place-name tiles
(`/ui/basemap/labels/{z}/{x}/{y}.png`), as a client gets them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from helpers import ingest_images, serving, shared_catalog


@pytest.fixture(scope="module")
def base(postgres, tmp_path_factory):
    """The app over a catalog of two real images."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("places")) as (settings, db):
        ingest_images(db, settings, [("RGB-byte", "rasterio/RGB.byte.tif", None, None, None),
                                     ("RGB-byte-2", "rasterio/cogeo.tif", None, None, None)])
        with serving(settings, db) as url:
            yield url


def search(base: str, **params) -> list[dict]:
    response = requests.get(f"{base}/api/v1/places", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["attribution"] == "Place names © GeoNames (CC BY 4.0)"
    return body["matches"]


def problem(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()["detail"]


def test_a_place_by_its_name_with_or_without_accents(base):
    for typed in ("São Paulo", "sao paulo", "SAO PAU"):
        first = search(base, q=typed)[0]
        assert first["kind"] == "place" and first["label"] == "São Paulo, Brazil"
        assert first["lat"] == pytest.approx(-23.55, abs=0.1) and first["lon"] == pytest.approx(-46.64, abs=0.1)
    assert search(base, q="Zurich")[0]["label"] == "Zürich, Switzerland"


def test_coordinates_come_first_in_any_notation(base):
    for typed in ("48.8566, 2.3522", "48°51'24\"N 2°21'08\"E", "31U 452484 5411718", "31UDQ5248411718"):
        first = search(base, q=typed)[0]
        assert first["kind"] == "coordinates"
        assert (first["lat"], first["lon"]) == pytest.approx((48.8566, 2.3522), abs=2e-4)


def test_an_image_by_its_id(base):
    matches = search(base, q="RGB-byte")
    images = [m for m in matches if m["kind"] == "image"]
    assert [m["image_id"] for m in images] == ["RGB-byte", "RGB-byte-2"], "the exact id first"
    west, south, east, north = images[0]["bbox"]
    assert west < images[0]["lon"] < east and south < images[0]["lat"] < north
    assert matches[0]["kind"] == "image", "images before places"
    assert [m["image_id"] for m in search(base, q="rgb-byte-2") if m["kind"] == "image"] == ["RGB-byte-2"]


def test_limit_caps_the_matches(base):
    assert len(search(base, q="san", limit=3)) == 3
    assert len(search(base, q="san")) == 10


@pytest.mark.parametrize(("params", "named"), [
    ({"q": "95, 10"}, "latitude 95°"),
    ({"q": "10, 200"}, "longitude 200°"),
    ({"q": "61N 452480 5411718"}, "zone 61"),
    ({"q": ""}, "q"),
    ({}, "q"),
    ({"q": "paris", "limit": "0"}, "limit"),
    ({"q": "paris", "limit": "many"}, "limit"),
    ({"q": "paris", "near": "x"}, "near"),
])
def test_bad_input_is_a_400_naming_it(base, params, named):
    assert named in problem(requests.get(f"{base}/api/v1/places", params=params), 400)


def test_the_search_is_in_the_openapi(base):
    paths = requests.get(f"{base}/api/v1/openapi.json").json()["paths"]
    parameters = {p["name"] for p in paths["/api/v1/places"]["get"]["parameters"]}
    assert {"q", "limit"} <= parameters


def label_tile(base: str, z: int, x: int, y: int) -> tuple[requests.Response, np.ndarray]:
    response = requests.get(f"{base}/ui/basemap/labels/{z}/{x}/{y}.png")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    return response, np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def test_label_tiles_are_transparent_but_where_a_city_is(base):
    response, paris = label_tile(base, 6, 32, 22)  # Paris, 48.86 N 2.35 E
    assert paris.shape == (256, 256, 4)
    dark = (paris[:, :, 3] == 255) & (paris[:, :, :3].max(axis=2) < 80)
    assert dark.sum() > 40, "the letters of a name"
    assert (paris[:, :, 3] == 0).mean() > 0.6, "transparent between the names"
    _, ocean = label_tile(base, 6, 6, 40)  # the South Pacific
    assert not ocean[:, :, 3].any()
    # cacheable: an ETag that a second request can revalidate
    assert "max-age" in response.headers["Cache-Control"]
    again = requests.get(f"{base}/ui/basemap/labels/6/32/22.png", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(("path", "status"), [
    ("23/0/0.png", 400), ("6/64/0.png", 404), ("6/0/64.png", 404), ("6/-1/0.png", 404), ("a/0/0.png", 404),
    ("6/0/0.jpg", 404),
])
def test_bad_label_tiles(base, path, status):
    response = requests.get(f"{base}/ui/basemap/labels/{path}")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(("application/problem+json", "text/html", "application/json"))
