"""Colormaps against reference colours from the published definitions, and their application.

The literals below are entries of the published tables (BIDS viridis/magma/inferno/plasma/cividis,
ColorBrewer schemes, matplotlib's terrain), rounded to 8 bits; no matplotlib is needed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.colormaps import (
    COLORMAP_NAMES,
    MAX_CLASSES,
    ColormapError,
    apply_class_map,
    apply_lut,
    get_lut,
    legend_stops,
    parse_class_map,
)


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def colour_at(name: str, position: float) -> np.ndarray:
    return get_lut(name)[round(position * 255), :3].astype(int)


# (name, position, reference colour, tolerance in 8-bit levels per channel)
REFERENCES = [
    ("gray", 0.0, "#000000", 0),
    ("gray", 0.5, "#808080", 0),
    ("gray", 1.0, "#ffffff", 0),
    ("viridis", 0.0, "#440154", 0),
    ("viridis", 0.25, "#3b528b", 1),
    ("viridis", 0.5, "#21918c", 1),
    ("viridis", 0.75, "#5cc863", 1),
    ("viridis", 1.0, "#fde725", 0),
    ("magma", 0.0, "#000004", 0),
    ("magma", 0.5, "#b73779", 1),
    ("magma", 1.0, "#fcfdbf", 0),
    ("inferno", 0.0, "#000004", 0),
    ("inferno", 0.5, "#bc3754", 1),
    ("inferno", 1.0, "#fcffa4", 0),
    ("plasma", 0.0, "#0d0887", 0),
    ("plasma", 0.5, "#cc4778", 1),
    ("plasma", 1.0, "#f0f921", 0),
    ("cividis", 0.0, "#00224e", 0),
    ("cividis", 0.5, "#7d7c78", 1),
    ("cividis", 1.0, "#fee838", 0),
    ("terrain", 0.0, "#333399", 0),
    ("terrain", 0.5, "#ffff99", 1),
    ("terrain", 1.0, "#ffffff", 0),
    ("rdylgn", 0.0, "#a50026", 0),
    ("rdylgn", 0.5, "#ffffbf", 1),
    ("rdylgn", 1.0, "#006837", 0),
    ("spectral", 0.0, "#9e0142", 0),
    ("spectral", 0.5, "#ffffbf", 1),
    ("spectral", 1.0, "#5e4fa2", 0),
    ("rdbu", 0.0, "#67001f", 0),
    ("rdbu", 0.5, "#f7f7f7", 1),
    ("rdbu", 1.0, "#053061", 0),
    ("blues", 0.0, "#f7fbff", 0),
    ("blues", 1.0, "#08306b", 0),
]


@pytest.mark.parametrize(("name", "position", "expected", "tolerance"), REFERENCES)
def test_reference_colours(name: str, position: float, expected: str, tolerance: int) -> None:
    got = colour_at(name, position)
    assert np.abs(got - rgb(expected)).max() <= tolerance, (name, position, got, expected)


def test_every_map_has_references_and_a_valid_table() -> None:
    assert {name for name, *_ in REFERENCES} == set(COLORMAP_NAMES)
    assert {"gray", "viridis", "magma", "terrain", "rdylgn"} <= set(COLORMAP_NAMES)
    for name in COLORMAP_NAMES:
        assert name == name.lower()
        lut = get_lut(name)
        assert lut.shape == (256, 4)
        assert lut.dtype == np.uint8
        assert (lut[:, 3] == 255).all()


def test_tables_are_smooth() -> None:
    """No anchor typo: neighbouring entries of a continuous map stay close."""
    for name in COLORMAP_NAMES:
        steps = np.abs(np.diff(get_lut(name)[:, :3].astype(int), axis=0)).max()
        assert steps <= 12, name


def test_gray_is_linear() -> None:
    lut = get_lut("gray")
    assert (lut[:, 0] == np.arange(256)).all()
    assert (lut[:, 0] == lut[:, 1]).all() and (lut[:, 1] == lut[:, 2]).all()


def test_terrain_anchor_colours() -> None:
    assert np.abs(colour_at("terrain", 0.15) - rgb("#0099ff")).max() <= 1
    assert np.abs(colour_at("terrain", 0.25) - rgb("#00cc66")).max() <= 1


@pytest.mark.parametrize("name", COLORMAP_NAMES)
def test_reversed(name: str) -> None:
    assert (get_lut(f"{name}_r") == get_lut(name)[::-1]).all()


def test_case_insensitive_and_cached() -> None:
    assert get_lut("VIRIDIS") is get_lut("viridis")
    assert get_lut(" RdYlGn_R ") is get_lut("rdylgn_r")
    assert not get_lut("magma").flags.writeable


def test_unknown_colormap() -> None:
    with pytest.raises(ColormapError) as info:
        get_lut("jet")
    message = str(info.value)
    assert "'jet'" in message
    for name in COLORMAP_NAMES:
        assert name in message
    assert "_r" in message
    assert "\n" not in message
    assert isinstance(info.value, InvalidInput)
    for bad in ("", "_r", "viridis_r_r", "viridisr"):
        with pytest.raises(ColormapError):
            get_lut(bad)
    with pytest.raises(ColormapError):
        get_lut(None)  # type: ignore[arg-type]


def test_legend_stops() -> None:
    stops = legend_stops("viridis")
    assert len(stops) == 11
    assert stops[0] == (0.0, "#440154")
    assert stops[-1] == (1.0, "#fde725")
    assert [p for p, _ in stops] == pytest.approx([i / 10 for i in range(11)])
    assert all(len(c) == 7 and c.startswith("#") for _, c in stops)
    assert legend_stops("gray_r", 2) == [(0.0, "#ffffff"), (1.0, "#000000")]
    for bad in (0, 1, 257):
        with pytest.raises(ColormapError):
            legend_stops("gray", bad)
    with pytest.raises(ColormapError):
        legend_stops("nope")


# --- class maps --------------------------------------------------------------------------------


def test_parse_class_map_all_forms() -> None:
    classes = parse_class_map(
        '{"1": "#1a9850", "2": [215, 48, 39], "3": [0, 0, 255, 128], '
        '"-9999": "#FF000080", " 4 ": "00ff00"}'
    )
    assert classes == {
        1: (26, 152, 80, 255),
        2: (215, 48, 39, 255),
        3: (0, 0, 255, 128),
        -9999: (255, 0, 0, 128),
        4: (0, 255, 0, 255),
    }


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('{"x": "#ffffff"}', ['"x"', "integer"]),
        ('{"1.5": "#ffffff"}', ['"1.5"']),
        ('{"1": "#12"}', ['"1"', '"#12"']),
        ('{"1": "#gggggg"}', ['"1"', "#gggggg"]),
        ('{"2": [300, 0, 0]}', ['"2"', "300", "0..255"]),
        ('{"2": [-1, 0, 0]}', ['"2"', "-1"]),
        ('{"2": [1, 2]}', ['"2"', "3 or 4"]),
        ('{"2": [1, 2, 3, 4, 5]}', ['"2"', "3 or 4"]),
        ('{"2": [1.5, 2, 3]}', ['"2"', "1.5"]),
        ('{"2": [true, 2, 3]}', ['"2"', "true"]),
        ('{"2": 7}', ['"2"', "7"]),
        ('{"2": null}', ['"2"', "null"]),
        ('{"2": {"r": 1}}', ['"2"']),
        ('{"1": "#ffffff", "01": "#000000"}', ["class 1", "more than once"]),
        ("{}", ["empty"]),
        ('[[1, "#ffffff"]]', ["JSON object"]),
        ('"#ffffff"', ["JSON object"]),
        ('{"1": "#ffffff"', ["not valid JSON"]),
        ("", ["not valid JSON"]),
    ],
)
def test_parse_class_map_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(ColormapError) as info:
        parse_class_map(text)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_parse_class_map_size_limit() -> None:
    at_limit = json.dumps({str(i): "#ffffff" for i in range(MAX_CLASSES)})
    assert len(parse_class_map(at_limit)) == MAX_CLASSES == 1024
    too_many = json.dumps({str(i): "#ffffff" for i in range(MAX_CLASSES + 1)})
    with pytest.raises(ColormapError, match="1025 entries.*1024"):
        parse_class_map(too_many)


# --- applying ----------------------------------------------------------------------------------


def test_apply_lut_colours_transparency_and_clipping() -> None:
    lut = get_lut("gray")
    values = np.array([[0.0, 0.5, 1.0], [np.nan, -3.0, 7.0], [0.2, np.inf, -np.inf]])
    valid = np.ones(values.shape, dtype=bool)
    valid[2, 0] = False
    out = apply_lut(values, lut, valid)
    assert out.shape == (4, 3, 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous
    r, alpha = out[0], out[3]
    assert r[0].tolist() == [0, 128, 255]
    assert alpha[0].tolist() == [255, 255, 255]
    # NaN and invalid: fully transparent
    assert out[:, 1, 0].tolist() == [0, 0, 0, 0]
    assert out[:, 2, 0].tolist() == [0, 0, 0, 0]
    # outside 0..1: clipped to the ends, still opaque
    assert out[:, 1, 1].tolist() == [0, 0, 0, 255]
    assert out[:, 1, 2].tolist() == [255, 255, 255, 255]
    assert out[:, 2, 1].tolist() == [255, 255, 255, 255]
    assert out[:, 2, 2].tolist() == [0, 0, 0, 255]


def test_apply_lut_with_colour_map_and_gdal_mask() -> None:
    values = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    mask = np.full((16, 16), 255, dtype=np.uint8)  # GDAL-style 0/255 mask
    mask[0, 0] = 0
    lut = get_lut("viridis")
    out = apply_lut(values, lut, mask)
    assert (out[:, 0, 0] == 0).all()
    flat = out.reshape(4, -1).T
    assert (flat[1:] == lut[1:]).all()
    # a single-band (1, H, W) array works too
    assert (apply_lut(values[None], lut, mask[None]) == out).all()


def test_apply_lut_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2)), get_lut("gray"), np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2, 2)), get_lut("gray"), np.ones((2, 2, 2), dtype=bool))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64])
def test_apply_class_map(dtype: type) -> None:
    classes = parse_class_map('{"1": "#1a9850", "2": [215, 48, 39], "3": [0, 0, 255, 128]}')
    values = np.array([[1, 2, 3], [4, 0, 2]], dtype=dtype)
    valid = np.ones(values.shape, dtype=bool)
    valid[1, 2] = False
    out = apply_class_map(values, classes, valid)
    assert out.shape == (4, 2, 3)
    assert out.dtype == np.uint8
    assert out[:, 0, 0].tolist() == [26, 152, 80, 255]
    assert out[:, 0, 1].tolist() == [215, 48, 39, 255]
    assert out[:, 0, 2].tolist() == [0, 0, 255, 128]
    # not in the map, and invalid: transparent
    assert out[:, 1, 0].tolist() == [0, 0, 0, 0]
    assert out[:, 1, 1].tolist() == [0, 0, 0, 0]
    assert out[:, 1, 2].tolist() == [0, 0, 0, 0]


def test_apply_class_map_float_edge_cases() -> None:
    classes = {-9999: (1, 2, 3, 255), 5: (9, 9, 9, 255)}
    values = np.array([[np.nan, 5.5, -9999.0, 5.0, 1e30]])
    out = apply_class_map(values, classes, np.ones(values.shape, dtype=bool))
    assert out[3].tolist() == [[0, 0, 255, 255, 0]]
    assert out[:3, 0, 2].tolist() == [1, 2, 3]
    empty = apply_class_map(values, {}, np.ones(values.shape, dtype=bool))
    assert not empty.any()
