"""RenderSpec: the render parameters of every endpoint, parsed once and checked against the image."""

from __future__ import annotations

import math

import pytest

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.render_spec import RenderSpec, RenderSpecError, parse_render_spec

S2 = ["B02", "B03", "B04", "B08"]
PRESETS = [
    {"name": "true-color", "title": "True colour", "bands": ["B04", "B03", "B02"], "rescale": [[0, 2500]]},
    {"name": "ndvi", "title": "NDVI", "expression": "(B08-B04)/(B08+B04)", "rescale": [[-1, 1]], "colormap": "rdylgn"},
]


def spec(band_names=S2, presets=PRESETS, **params) -> RenderSpec:
    return parse_render_spec({k: v if isinstance(v, list) else [v] for k, v in params.items()}, band_names, presets)


def test_defaults_pick_the_first_three_bands_or_the_only_one():
    assert spec().bands == (1, 2, 3) and spec().rescale is None and spec().resampling == "nearest"
    assert spec(band_names=["elevation"]).bands == (1,)


def test_bands_by_index_or_name_with_rescale_per_band():
    rgb = spec(bands="B08,b04,3", rescale=["0,4000", "0,3000", "0,2500"], gain="1.2", gamma="0.8")
    assert rgb.bands == (4, 3, 3) and rgb.source_bands == (4, 3, 3) and rgb.outputs == 3
    assert rgb.rescale == ((0, 4000), (0, 3000), (0, 2500))
    assert (rgb.gain, rgb.gamma) == (1.2, 0.8)
    assert spec(bands="4,3,2", rescale="0,3000").rescale == ((0, 3000),) * 3


def test_a_style_gives_defaults_that_parameters_override():
    ndvi = spec(style="NDVI")
    assert ndvi.style == "ndvi" and ndvi.outputs == 1 and ndvi.source_bands == (3, 4)
    assert ndvi.rescale == ((-1, 1),) and ndvi.colormap == "rdylgn"
    assert spec(style="ndvi", colormap="viridis", rescale="0,1").colormap == "viridis"
    assert spec(style="true-color").bands == (3, 2, 1)
    assert spec(style="true-color", bands="4,3,2").bands == (4, 3, 2)


def test_expressions_and_class_maps():
    three = spec(expression="B04;B03;(B02+B03)/2", rescale="0,3000")
    assert three.outputs == 3 and three.source_bands == (1, 2, 3)
    classes = spec(band_names=["class"], colormap='{"1": "#ff0000", "2": [0, 0, 255]}')
    assert classes.classes == {1: (255, 0, 0, 255), 2: (0, 0, 255, 255)} and classes.colormap is None


def test_nodata_and_resampling():
    assert math.isnan(spec(nodata="nan").nodata) and spec(nodata="0").nodata == 0
    assert spec(resampling="Bilinear").resampling == "bilinear"


@pytest.mark.parametrize("params, message", [
    (dict(bands="1,2"), "bands: give 1 band (grey or colormap) or 3 (red, green, blue), not 2"),
    (dict(bands="5"), "bands: band 5 does not exist (the image has 4)"),
    (dict(bands="B99"), "bands: unknown band 'B99' (use 1..4 or a name: B02, B03, B04, B08)"),
    (dict(bands="1,,2"), "bands: empty band in '1,,2'"),
    (dict(bands="1", expression="B08"), "expression: give either bands or an expression, not both"),
    (dict(expression="B08-"), "unexpected end of expression at position 4"),
    (dict(bands="4,3,2", colormap="viridis"),
     "colormap: applies to a single band or expression, not to an RGB composite"),
    (dict(bands="4", colormap="jet"), "unknown colormap 'jet'"),
    (dict(bands="4", colormap='{"x": "#ff0000"}'), 'key "x" is not an integer class value'),
    (dict(rescale="5"), "rescale: '5' is not 'min,max'"),
    (dict(rescale="9,1"), "rescale: '9,1': min must be below max"),
    (dict(rescale=["0,1", "0,2"]), "rescale: give one range for all, or one per output (3), not 2"),
    (dict(rescale="0,inf"), "rescale: 'inf' is not a finite number"),
    (dict(gain="-1"), "gain: -1 is outside (0, 100]"),
    (dict(gamma="abc"), "gamma: 'abc' is not a number"),
    (dict(resampling="lanczos9"),
     "resampling: unknown method 'lanczos9' (use nearest, bilinear, cubic, average, mode)"),
    (dict(nodata="none"), "nodata: 'none' is not a number"),
    (dict(style="sepia"), "style: unknown style 'sepia' (styles: true-color, ndvi)"),
])
def test_mistakes_are_named(params, message):
    with pytest.raises(InvalidInput) as caught:
        spec(**params)
    assert message in str(caught.value)


def test_errors_carry_the_parameter_name():
    with pytest.raises(RenderSpecError) as caught:
        spec(gain="0")
    assert caught.value.parameter == "gain"
