"""The Analytics page's selection (ui/detection_filters.py): URL in, URL out, API parameters, and
the intersection cross-filters need. Pure functions: no server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cogbrowser.layers import parse_time_range
from cogbrowser.ui.detection_filters import Filters, bbox_intersection, narrow_all, parse_bbox

UTC = timezone.utc


def test_a_link_from_the_browse_page_reads_as_filters():
    filters, problems = Filters.from_query_string("?bbox=13.5,45.6,13.9,45.8&image=S2_demo_20240412")
    assert problems == []
    assert filters == Filters(images=("S2_demo_20240412",), bbox=(13.5, 45.6, 13.9, 45.8))
    assert filters.api_params() == {"image_ids": ["S2_demo_20240412"], "bbox": "13.5,45.6,13.9,45.8"}


def test_the_url_round_trip_keeps_names_with_commas_and_repeated_lists():
    filters = Filters(collections=("s2",), classes=("ship", "aircraft"), names=("Smith, John", "MV Aurora"),
                      start="2024-04-01", end="2024-06-30", min_score=0.55, bbox=(170.0, -10.0, -170.0, 10.0))
    again, problems = Filters.from_query_string(filters.query_string())
    assert again == filters and problems == []
    assert "class=ship&class=aircraft" in filters.query_string() and "bbox=170,-10,-170,10" in filters.query_string()


def test_the_last_day_of_a_range_is_included_whole():
    params = Filters(start="2024-04-01", end="2024-06-30").api_params()
    start, end = parse_time_range(params["datetime"])  # as the API reads it
    assert start == datetime(2024, 4, 1, tzinfo=UTC)
    assert end.date().isoformat() == "2024-06-30" and (end.hour, end.minute) == (23, 59)
    assert Filters(end="2024-06-30").api_params()["datetime"].startswith("../")
    assert Filters(start="2024-05-01T10:30:00Z").api_params()["datetime"] == "2024-05-01T10:30:00Z/.."


@pytest.mark.parametrize("query, problem", [("min_score=high", "min_score"), ("max_score=1.5", "between 0 and 1"),
                                            ("bbox=1,2,3", "four numbers"), ("from=yesterday", "not a date")])
def test_a_value_that_cannot_be_read_is_left_out_and_named(query, problem):
    filters, problems = Filters.from_query_string(f"class=ship&{query}")
    assert filters == Filters(classes=("ship",))
    assert len(problems) == 1 and problem in problems[0]


def test_narrowing_intersects_every_filter():
    panel = Filters(classes=("ship", "aircraft"), min_score=0.5, start="2024-04-01", end="2024-06-30",
                    bbox=(13.0, 45.0, 14.0, 46.0))
    picked = Filters(classes=("ship",), min_score=0.3, max_score=0.9, start="2024-05-01T10:00:00Z",
                     bbox=(13.5, 44.0, 15.0, 45.5))
    assert panel.narrowed(picked) == Filters(classes=("ship",), min_score=0.5, max_score=0.9,
                                             start="2024-05-01T10:00:00Z", end="2024-06-30",
                                             bbox=(13.5, 45.0, 14.0, 45.5))
    assert Filters().narrowed(picked) == picked and picked.narrowed(Filters()) == picked


@pytest.mark.parametrize("other", [Filters(classes=("vehicle",)), Filters(max_score=0.4),
                                   Filters(end="2024-03-31"), Filters(bbox=(20.0, 45.0, 21.0, 46.0))])
def test_narrowing_to_nothing_says_so(other):
    panel = Filters(classes=("ship",), min_score=0.5, start="2024-04-01", bbox=(13.0, 45.0, 14.0, 46.0))
    assert panel.narrowed(other) is None
    assert narrow_all(panel, [Filters(), other, Filters(classes=("ship",))]) is None


def test_boxes_across_the_antimeridian_intersect():
    across = (170.0, -10.0, -170.0, 10.0)
    assert bbox_intersection(across, (175.0, 0.0, 179.0, 20.0)) == (175.0, 0.0, 179.0, 10.0)
    assert bbox_intersection(across, (-175.0, 0.0, -160.0, 20.0)) == (-175.0, 0.0, -170.0, 10.0)
    assert bbox_intersection(across, (0.0, 0.0, 10.0, 10.0)) is None


def test_the_words_of_a_selection():
    assert Filters().describe() == [] and Filters().is_everything()
    lines = Filters(classes=("ship",), images=("a", "b"), start="2024-04-12", end="2024-04-12", min_score=0.5,
                    max_score=0.8).describe()
    assert lines == ["images: a, b", "class: ship", "on 2024-04-12", "score 0.50–0.80"]
    assert Filters(start="2024-05-01T10:30:00Z").describe() == ["from 2024-05-01 10:30 UTC"]


def test_a_typed_box_takes_commas_or_spaces():
    assert parse_bbox(" 13.5, 45.6 13.9,45.8 ") == (13.5, 45.6, 13.9, 45.8)
    with pytest.raises(ValueError, match="four numbers"):
        parse_bbox("13.5 45.6 north")
