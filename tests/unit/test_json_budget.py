"""A JSON text's values are counted before it is parsed, and a text that would parse into too many is
refused with a message that names the count: parsed, a text costs 10-20 times its size."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from cogbrowser.json_budget import MAX_JSON_VALUES, JsonTooLarge, check_json_values, json_values
from cogbrowser.raster.area_files import read_area

pytestmark = pytest.mark.unit


def parsed_values(value: Any) -> int:
    """The values of a parsed document: containers, scalars and object keys."""
    if isinstance(value, dict):
        return 1 + sum(1 + parsed_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(parsed_values(v) for v in value)
    return 1


DOCUMENTS = [
    "0", '""', "[]", "{}", "[[]]", "[{}, {}]", '{"a": 1}', '{"a": [1, 2, {"b": null}], "c": "x,y:[{"}',
    '"a, b: [c] {d}"', '[1.5e3, -2, true, false, null, "é", "\\"[,"]',
    json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"target_class": "ship", "score": 0.9},
         "geometry": {"type": "Polygon", "coordinates": [[[1, 2], [3, 4], [5, 6], [1, 2]]]}}] * 3}),
    json.dumps([[[i, i + 0.5] for i in range(50)], {"k" + str(i): [i] * i for i in range(20)}]),
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_count_is_never_below_the_values_parsed(text):
    assert json_values(text) >= parsed_values(json.loads(text))
    assert json_values(text.encode()) == json_values(text)


def at_the_cap(unit: str) -> str:
    """A list of `unit`s holding as many values as json_values allows."""
    per_unit = json_values(f"[{unit}]") - 1
    return "[" + ",".join([unit] * ((MAX_JSON_VALUES - 1) // per_unit)) + "]"


@pytest.mark.parametrize("unit", ["[]", "{}", '{"a":0}', "[1.5,2.5]", "1.5", "0"])
def test_a_text_at_the_cap_parses_into_less_than_64_mb_and_one_more_value_is_refused(unit):
    text = at_the_cap(unit)
    check_json_values(text)
    tracemalloc.start()
    try:
        document = json.loads(text)
        parsed, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed < 64 * 2**20, f"{unit}: {parsed / 2**20:.0f} MiB parsed from {len(text) / 2**20:.1f} MiB"
    assert parsed_values(document) > MAX_JSON_VALUES / 3  # the count errs high by at most 3x
    over = text[:-1] + "," + unit + "," + unit + "]"
    with pytest.raises(JsonTooLarge, match=rf"the body holds about {json_values(over):,} values.*at most "
                                           rf"{MAX_JSON_VALUES:,}"):
        check_json_values(over, "the body")


def test_an_area_file_with_too_many_vertices_is_refused_before_it_is_parsed():
    ring = [[round(i / 1e5, 5), round((i % 7) / 1e3, 3)] for i in range(400_000)] + [[0, 0]]
    data = json.dumps({"type": "Polygon", "coordinates": [ring]}).encode()
    with pytest.raises(ValueError, match=r"the GeoJSON file holds about 1,200,00\d values"):
        read_area(data, "coast.geojson")
