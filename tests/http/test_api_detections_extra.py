"""`/api/v1/detections/sample`: what the dashboard's scatter plot draws of a large selection.

A sample must be a sample (not the first ids), follow every filter, say how many it was drawn
from, and be repeatable: the same filters and seed give the same points, and a narrower filter
keeps the points of the wider one that it still selects.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import requests

from cogbrowser.ingest.detections import create_detections
from helpers import ingest_images, serving, shared_catalog

N = 600
CLASSES = ("ship", "aircraft", "vehicle")


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory):
    """Two real images and N detections of three classes, spread over a week and a box; one more
    across the antimeridian."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("sample")) as (settings, db):
        t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
        ingest_images(db, settings, [("b01", "titiler/B01.tif", "s2", t0, None),
                                     ("b09", "titiler/B09.tif", "s2", t0 + timedelta(days=3), None)])
        rng = random.Random(7)
        rows = []
        for n in range(N):
            lon, lat = rng.uniform(10, 12), rng.uniform(44, 46)
            rows.append({"image_id": "b01" if n % 2 else "b09", "target_class": CLASSES[n % 3],
                         "target_name": f"T-{n % 7}", "score": round(rng.random(), 3),
                         "detected_at": (t0 + timedelta(hours=n % 168)).isoformat(),
                         "bbox": [lon, lat, lon + 0.002, lat + 0.001]})
        rows.append({"image_id": "b01", "target_class": "ship", "score": 0.5, "bbox": [179.9, 10, -179.7, 10.2]})
        ids, problems = create_detections(db, rows)
        assert not problems and len(ids) == N + 1
        with serving(settings, db) as url:
            yield url, ids


def sample(base: str, **params) -> dict:
    answer = requests.get(f"{base}/api/v1/detections/sample", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_sample_is_random_follows_the_filters_and_says_how_many_it_stands_for(catalog):
    base, ids = catalog
    filters = {"classes": "ship,vehicle", "min_score": 0.2, "datetime": "2024-05-02/2024-05-06"}
    summary = requests.get(f"{base}/api/v1/detections/summary", params=filters).json()
    answer = sample(base, size=50, **filters)
    assert answer["matched"] == summary["detections"] > 50
    assert answer["count"] == len(answer["points"]) == 50 and answer["sampled"] is True
    points = answer["points"]
    assert len({p["id"] for p in points}) == 50
    assert all(p["target_class"] in ("ship", "vehicle") and p["score"] >= 0.2 for p in points)
    assert all("2024-05-02" <= p["detected_at"][:10] <= "2024-05-06" for p in points)
    selected = requests.get(f"{base}/api/v1/detections", params={**filters, "limit": 1000}).json()["detections"]
    first_ids = sorted(d["id"] for d in selected)[:50]
    assert max(p["id"] for p in points) > max(first_ids), "a sample, not the first page"


def test_the_same_seed_gives_the_same_points_and_a_narrower_filter_keeps_its_share(catalog):
    base, _ = catalog
    wide = {p["id"] for p in sample(base, size=80)["points"]}
    assert wide == {p["id"] for p in sample(base, size=80)["points"]}
    assert wide != {p["id"] for p in sample(base, size=80, seed=1)["points"]}
    ships = sample(base, size=80, classes="ship")
    wide_ships = {p["id"] for p in sample(base, size=80)["points"] if p["target_class"] == "ship"}
    assert wide_ships <= {p["id"] for p in ships["points"]}, "the wide sample's ships are in the ships' sample"


def test_a_small_selection_is_all_there_with_each_detections_facts(catalog):
    base, ids = catalog
    answer = sample(base, size=5000, image_ids="b09", classes="aircraft")
    listed = requests.get(f"{base}/api/v1/detections", params={"image_ids": "b09", "classes": "aircraft",
                                                                "limit": 5000}).json()["detections"]
    assert answer["sampled"] is False and answer["matched"] == answer["count"] == len(listed)
    assert [p["id"] for p in answer["points"]] == sorted(d["id"] for d in listed)
    one = next(d for d in listed if d["id"] == answer["points"][0]["id"])
    point = answer["points"][0]
    west, south, east, north = one["bbox"]
    assert point["lon"] == pytest.approx((west + east) / 2) and point["lat"] == pytest.approx((south + north) / 2)
    assert (point["image_id"], point["target_name"], point["score"]) == (one["image_id"], one["target_name"],
                                                                        pytest.approx(one["score"]))
    assert point["area_m2"] == pytest.approx(one["area_m2"])


def test_a_point_across_the_antimeridian_has_a_longitude_of_this_world(catalog):
    base, ids = catalog
    answer = sample(base, size=10, bbox="179,9,-179,11")
    assert [p["id"] for p in answer["points"]] == [ids[-1]]
    assert answer["points"][0]["lon"] == pytest.approx(-179.9)


@pytest.mark.parametrize("params, field", [({"size": 0}, "size"), ({"size": 10**6}, "size"),
                                           ({"seed": -1}, "seed"), ({"min_score": 2}, "min_score"),
                                           ({"shape": "round"}, "shape")])
def test_bad_parameters_are_named(catalog, params, field):
    base, _ = catalog
    answer = requests.get(f"{base}/api/v1/detections/sample", params=params)
    assert answer.status_code == 400 and field in answer.json()["detail"]


def test_the_sample_is_described_in_openapi(catalog):
    base, _ = catalog
    document = requests.get(f"{base}/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/detections/sample"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"size", "seed", "classes", "bbox", "datetime"}


# -- /api/v1/detections/report: the Analytics page's figures in one answer -------------------------

REPORT_FILTERS = [{}, {"classes": "ship,vehicle", "min_score": 0.2, "datetime": "2024-05-02/2024-05-06"},
                  {"names": "T-3", "image_ids": "b01"}, {"bbox": "10.5,44.5,11.5,45.5", "max_score": 0.7},
                  {"classes": "nothing-of-that-class"}]


@pytest.mark.parametrize("filters", REPORT_FILTERS)
def test_the_report_says_what_the_separate_questions_say(catalog, filters):
    base, _ = catalog
    answer = requests.get(f"{base}/api/v1/detections/report", params={**filters, "top": 3, "sample": 40})
    assert answer.status_code == 200, answer.text
    report = answer.json()

    def ask(path: str, **params) -> dict:
        reply = requests.get(f"{base}/api/v1/detections{path}", params={**filters, **params})
        assert reply.status_code == 200, reply.text
        return reply.json()

    classes = ask("/counts", by="class", limit=1000)
    rows = max(1, len(classes["counts"]))
    assert report["summary"] == ask("/summary")
    assert report["classes"] == classes
    assert report["images"] == ask("/counts", by="image", split="class", limit=3 * rows)
    assert report["names"] == ask("/counts", by="name", split="class", limit=4 * rows)
    assert report["days"] == ask("/counts", by="day", limit=100_000)
    assert report["scores"] == ask("/scores", bins=10)
    assert report["sample"] == ask("/sample", size=40)
    assert report["summary"]["detections"] == report["sample"]["matched"] == classes["total"]


def test_the_summary_counts_what_is_selected(catalog):
    """The one-pass summary against the detections themselves (every page of a search)."""
    base, _ = catalog
    filters = {"classes": "ship,aircraft", "max_score": 0.8}
    found = requests.get(f"{base}/api/v1/detections", params={**filters, "limit": 10_000}).json()["detections"]
    summary = requests.get(f"{base}/api/v1/detections/summary", params=filters).json()
    assert summary["detections"] == len(found) > 0
    assert summary["images"] == len({d["image_id"] for d in found})
    assert summary["classes"] == len({d["target_class"] for d in found}) == 2
    assert summary["names"] == len({d["target_name"] for d in found if d["target_name"]})
    assert summary["max_score"] == pytest.approx(max(d["score"] for d in found))


@pytest.mark.parametrize("params, field", [({"top": 0}, "top"), ({"bins": 5000}, "bins"), ({"sample": -1}, "sample"),
                                           ({"min_score": "high"}, "min_score"), ({"bbox": "1,2,3"}, "bbox"),
                                           ({"datetime": "yesterday"}, "datetime")])
def test_a_bad_report_filter_is_a_400_naming_it(catalog, params, field):
    base, _ = catalog
    answer = requests.get(f"{base}/api/v1/detections/report", params=params)
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in answer.json()["detail"]


def test_the_report_is_described_in_openapi(catalog):
    base, _ = catalog
    document = requests.get(f"{base}/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/detections/report"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"top", "bins", "sample", "classes", "bbox", "datetime"}


def test_the_footprint_area_filters_every_question(catalog):
    """min_area_m2 and max_area_m2 (what a box over the dashboard's area axis asks) select the same
    detections in the search, the counts, the summary and the sample."""
    base, _ = catalog
    listed = requests.get(f"{base}/api/v1/detections", params={"limit": 10_000}).json()["detections"]
    areas = sorted(d["area_m2"] for d in listed if d["area_m2"] is not None)
    low, high = areas[len(areas) // 4], areas[3 * len(areas) // 4]
    ranges = {"min_area_m2": low, "max_area_m2": high}
    expected = sorted(d["id"] for d in listed if d["area_m2"] is not None and low <= d["area_m2"] <= high)
    assert 0 < len(expected) < len(listed)
    found = requests.get(f"{base}/api/v1/detections", params={**ranges, "limit": 10_000}).json()["detections"]
    assert sorted(d["id"] for d in found) == expected
    counts = requests.get(f"{base}/api/v1/detections/counts", params={**ranges, "by": "class"}).json()
    assert counts["total"] == len(expected)
    assert requests.get(f"{base}/api/v1/detections/summary", params=ranges).json()["detections"] == len(expected)
    sample = requests.get(f"{base}/api/v1/detections/sample", params={**ranges, "size": 5000}).json()
    assert sorted(p["id"] for p in sample["points"]) == expected
    wrong = requests.get(f"{base}/api/v1/detections", params={"min_area_m2": high, "max_area_m2": low})
    assert wrong.status_code == 400 and wrong.json()["detail"] == "min_area_m2 is above max_area_m2"
