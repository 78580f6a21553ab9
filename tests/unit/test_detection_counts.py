"""The Analytics questions read kept counts (detection_counts) where they can: their answers must
be the detections' own, for every filter, after imports, deletes, an update and a truncate.

The expected answers are computed here in Python from the rows inserted, with PostgreSQL's
semantics (a `real` score compared as a double, days in UTC), so a count table that drifts from
the detections, or a filter it cannot answer exactly, shows as a wrong count.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from cogbrowser.catalog import queries
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA

CLASSES = ("ship", "aircraft", "storage tank", "vehicle")
NAMES = (None, None, None, "Aurora", "Borealis", "Cygnus", "Draco", "Eridanus")
# scores on and next to the 0.01 steps the counts keep, and where score * 100 rounds across one
EDGE_SCORES = (0.0, 0.01, 0.25, 0.29999998, 0.3, 0.35, 0.350000001, 0.5, 0.57, 0.7, 0.99, 1.0)
FIRST_DAY = datetime(2021, 5, 1, tzinfo=timezone.utc)


@pytest.fixture
def images(db, settings) -> dict[str, str]:
    """Three real images, two collections: image id -> collection."""
    made = {}
    for path, collection in ((REAL_DATA / "titiler/TCI.tif", "s2"), (REAL_DATA / "rasterio/RGB.byte.tif", "landsat"),
                             (REAL_DATA / "localtileserver/bahamas_rgb.tif", "s2")):
        result = ingest_file(db, settings, IngestRequest(path=path, collection=collection))
        made[result.image_id] = collection
    return made


def random_rows(rng: random.Random, images: dict[str, str], n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        moment = None if rng.random() < 0.1 else FIRST_DAY + timedelta(days=rng.randrange(6)) + rng.choice(
            (timedelta(0), timedelta(days=1, microseconds=-1), timedelta(seconds=rng.randrange(86400))))
        rows.append({"image_id": rng.choice(list(images)), "target_class": rng.choice(CLASSES),
                     "target_name": rng.choice(NAMES),
                     "score": rng.choice(EDGE_SCORES) if rng.random() < 0.4 else rng.random(),
                     "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": (0, 0, 0, 0), "detected_at": moment})
    return rows


def stored(db) -> list[dict]:
    """The detections as PostgreSQL keeps them (the score as a 4-byte real)."""
    with db.connection() as conn:
        rows = conn.execute("SELECT d.id, d.image_id, d.target_class, d.target_name, d.score::float8 AS score, "
                            "d.detected_at, i.collection_id FROM detections d JOIN images i ON i.id = d.image_id"
                            ).fetchall()
    return [dict(row) for row in rows]


def day_start(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=timezone.utc)


def day_end(text: str) -> datetime:
    return day_start(text) + timedelta(days=1, microseconds=-1)


def filter_sets(images: dict[str, str]) -> list[queries.DetectionQuery]:
    some_image = sorted(images)[0]
    on_steps = [queries.DetectionQuery(**kw) for kw in (
        {}, {"min_score": 0.3}, {"min_score": 0.35}, {"min_score": 0.25}, {"min_score": 1.0}, {"max_score": 0.7},
        {"max_score": 0.25}, {"max_score": 0.0}, {"min_score": 0.3, "max_score": 0.35},
        {"target_classes": ["ship", "storage tank"]}, {"image_ids": [some_image]}, {"collections": ["s2"]},
        {"start": day_start("2021-05-02")}, {"end": day_end("2021-05-03")},
        {"start": day_start("2021-05-02"), "end": day_end("2021-05-02"), "min_score": 0.5},
        {"target_classes": ["aircraft"], "collections": ["landsat"], "max_score": 0.57})]
    off_steps = [queries.DetectionQuery(**kw) for kw in (
        {"min_score": 0.333}, {"start": day_start("2021-05-02") + timedelta(hours=12)},
        {"end": day_start("2021-05-03")}, {"target_names": ["Aurora", "Draco"]},
        {"target_names": ["Cygnus"], "min_score": 0.3})]
    return on_steps + off_steps


def selected(rows: list[dict], q: queries.DetectionQuery) -> list[dict]:
    def keep(row: dict) -> bool:
        moment = row["detected_at"]
        return ((not q.image_ids or row["image_id"] in q.image_ids)
                and (not q.target_classes or row["target_class"] in q.target_classes)
                and (not q.target_names or row["target_name"] in q.target_names)
                and (not q.collections or row["collection_id"] in q.collections)
                and (q.min_score is None or row["score"] >= q.min_score)
                and (q.max_score is None or row["score"] <= q.max_score)
                and (q.start is None or (moment is not None and moment >= q.start))
                and (q.end is None or (moment is not None and moment <= q.end)))
    return [row for row in rows if keep(row)]


def group_key(row: dict, group: str):
    if group == "day":
        moment = row["detected_at"]
        return None if moment is None else datetime.combine(moment.astimezone(timezone.utc).date(), datetime.min.time())
    return row[{"class": "target_class", "name": "target_name", "image": "image_id",
                "collection": "collection_id"}[group]]


def assert_answers_match(db, rows: list[dict], q: queries.DetectionQuery) -> None:
    chosen = selected(rows, q)
    with db.connection() as conn:
        assert queries.count_detections(conn, q) == len(chosen), q
        for group in ("class", "name", "image", "day", "collection"):
            for split in (None, "class", "name"):
                if split == group:
                    continue
                answer = Counter({(c.key, c.split): c.count for c in
                                  queries.count_detections_by(conn, q, group, split, limit=100_000)})
                expected = Counter((group_key(r, group), group_key(r, split) if split else None) for r in chosen)
                assert answer == expected, (q, group, split)
        for bins in (10, 4, 3):
            histogram = Counter({(b.bin, b.split): b.count for b in queries.score_histogram(conn, q, bins, "class")})
            expected = Counter((min(math.floor(r["score"] * bins), bins - 1), r["target_class"]) for r in chosen)
            assert histogram == expected, (q, bins)
        summary = queries.detection_summary(conn, q)
    assert summary.detections == len(chosen), q
    assert summary.images == len({r["image_id"] for r in chosen})
    assert summary.classes == len({r["target_class"] for r in chosen})
    assert summary.names == len({r["target_name"] for r in chosen if r["target_name"] is not None})
    times = [r["detected_at"] for r in chosen if r["detected_at"] is not None]
    assert (summary.first, summary.last) == ((min(times), max(times)) if times else (None, None))
    if chosen:
        scores = [r["score"] for r in chosen]
        assert summary.mean_score == pytest.approx(sum(scores) / len(scores), rel=1e-9)
        assert summary.min_score == pytest.approx(float(np.float32(min(scores))), abs=1e-7)
        assert summary.max_score == pytest.approx(float(np.float32(max(scores))), abs=1e-7)
    else:
        assert summary.mean_score is None


def assert_counts_are_the_detections(db) -> None:
    """detection_counts holds exactly what counting the detections again gives."""
    recount = ("SELECT image_id, target_class, (detected_at AT TIME ZONE 'UTC')::date AS day, "
               "target_name IS NOT NULL AS named, detection_score_step(score) AS score_step, "
               "score::float8 = detection_score_step(score)::float8 / 100 AS on_step, count(*) AS n, "
               "min(score) AS score_min, max(score) AS score_max, min(detected_at) AS first, max(detected_at) AS last "
               "FROM detections GROUP BY 1, 2, 3, 4, 5, 6")
    kept = ("SELECT image_id, target_class, day, named, score_step, on_step, n, score_min, score_max, first, last "
            "FROM detection_counts")
    with db.connection() as conn:
        missing = conn.execute(f"({recount}) EXCEPT ({kept})").fetchall()
        extra = conn.execute(f"({kept}) EXCEPT ({recount})").fetchall()
    assert (missing, extra) == ([], [])


def test_kept_counts_answer_every_filter_as_the_detections_do(db, images):
    rng = random.Random(8)
    with db.connection() as conn, conn.transaction():
        queries.insert_detections(conn, random_rows(rng, images, 700))
    with db.connection() as conn, conn.transaction():  # a second import adds to the groups of the first
        queries.insert_detections(conn, random_rows(rng, images, 300))
    assert_counts_are_the_detections(db)
    rows = stored(db)
    assert len(rows) == 1000
    for q in filter_sets(images):
        assert_answers_match(db, rows, q)


def test_counts_follow_deletes_updates_and_truncates(db, images):
    rng = random.Random(9)
    with db.connection() as conn, conn.transaction():
        queries.insert_detections(conn, random_rows(rng, images, 400))
    rows = stored(db)
    checks = filter_sets(images)[:6]

    doomed = [r["id"] for r in rng.sample(rows, 60)] + [min(r["id"] for r in rows if r["score"] == 0.0)]
    with db.connection() as conn, conn.transaction():
        assert queries.delete_detections(conn, doomed) == len(set(doomed))
    assert_counts_are_the_detections(db)
    for q in checks:
        assert_answers_match(db, stored(db), q)

    with db.connection() as conn, conn.transaction():  # an edit moves detections between groups
        conn.execute("UPDATE detections SET score = 0.35, target_class = 'vehicle', target_name = NULL "
                     "WHERE id IN (SELECT id FROM detections ORDER BY id LIMIT 50)")
    assert_counts_are_the_detections(db)
    for q in checks:
        assert_answers_match(db, stored(db), q)

    gone = sorted(images)[1]
    with db.connection() as conn, conn.transaction():  # its detections go with it (ON DELETE CASCADE)
        assert queries.delete_image(conn, gone) is not None
    assert_counts_are_the_detections(db)
    assert all(r["image_id"] != gone for r in stored(db))
    for q in checks:
        assert_answers_match(db, stored(db), q)

    with db.connection() as conn, conn.transaction():
        conn.execute("TRUNCATE detections")
    assert_counts_are_the_detections(db)
    with db.connection() as conn:
        assert queries.detection_summary(conn, queries.DetectionQuery()).detections == 0
