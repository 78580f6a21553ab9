"""`GET /api/v1/acquisitions`: the dates with images and the images as moments, under the image
search's filters; what the Browse page's calendar and time steps are made of."""

from __future__ import annotations

import json

import pytest
import requests
from test_api import IMAGES, catalog, problem  # noqa: F401  (the module's catalog fixture)

from cogbrowser.catalog import queries


def dates_of(answer: dict) -> list[str]:
    return [day["date"] for day in answer["days"]]


def test_every_dated_image_is_a_day_and_a_moment_newest_first(catalog):  # noqa: F811
    base, _, _ = catalog
    answer = requests.get(f"{base}/api/v1/acquisitions").json()
    dated = sorted(((when, image) for image, _, _, when, _ in IMAGES if when), reverse=True)
    assert dates_of(answer) == [when.date().isoformat() for when, _ in dated]
    assert [a["id"] for a in answer["acquisitions"]][:len(dated)] == [image for _, image in dated]
    assert answer["matched"] == len(IMAGES) and answer["truncated"] is False
    day = next(d for d in answer["days"] if d["date"] == "2021-05-01")
    assert day["images"] == 1 and day["min_cloud_cover"] == day["max_cloud_cover"] == 12.5
    tci = next(a for a in answer["acquisitions"] if a["id"] == "tci")
    assert tci["collection_id"] == "sentinel2" and tci["cloud_cover"] == 12.5 and len(tci["bbox"]) == 4


def test_the_search_filters_apply(catalog):  # noqa: F811
    base, _, db = catalog
    url = f"{base}/api/v1/acquisitions"
    assert dates_of(requests.get(url, params={"collections": "sentinel2"}).json()) == ["2021-06-03", "2021-05-01"]
    assert dates_of(requests.get(url, params={"collections": "sentinel2", "max_cloud_cover": 20}).json()) \
        == ["2021-05-01"]
    assert dates_of(requests.get(url, params={"datetime": "2021-01-01/2021-12-31"}).json()) \
        == ["2021-06-03", "2021-05-01"]
    assert dates_of(requests.get(url, params={"detection_class": "aircraft"}).json()) == ["2021-05-01", "2020-01-01"]
    with db.connection() as conn:
        tci = queries.get_image(conn, "tci")
    w, s, e, n = tci.bbox
    point = {"type": "Point", "coordinates": [(w + e) / 2, (s + n) / 2]}
    assert [a["id"] for a in requests.get(url, params={"intersects": json.dumps(point)}).json()["acquisitions"]] \
        == ["tci"]


def test_a_limit_cuts_the_list_but_not_the_days(catalog):  # noqa: F811
    base, _, _ = catalog
    answer = requests.get(f"{base}/api/v1/acquisitions", params={"limit": 2}).json()
    assert len(answer["acquisitions"]) == 2 and answer["truncated"] is True
    assert len(answer["days"]) == sum(1 for *_, when, _ in IMAGES if when)


@pytest.mark.parametrize("params, field", [({"limit": 0}, "limit"), ({"max_cloud_cover": 101}, "max_cloud_cover"),
                                           ({"datetime": "yesterday"}, "datetime"), ({"sortby": "id"}, "sortby"),
                                           ({"intersects": "{not json"}, "intersects")])
def test_bad_parameters_are_named(catalog, params, field):  # noqa: F811
    base, _, _ = catalog
    document = problem(requests.get(f"{base}/api/v1/acquisitions", params=params), 400)
    assert field in document["detail"], document
