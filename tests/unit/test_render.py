"""render(): the same picture whichever way it is drawn — through a lookup table of every value of
an integer dtype, or directly from the values (a spec's first picture of a 16-bit band)."""

from __future__ import annotations

import numpy as np
import pytest

from cogbrowser.raster.render import render
from cogbrowser.raster.render_spec import parse_render_spec

NAMES = ["B1", "B2", "B3", "B4"]
BANDS = [{"statistics": {"p2": 100.0, "p98": 2500.0}} for _ in NAMES]


def area(dtype: str, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Values over all of `dtype`'s range (negatives for int16), a fifth of them not valid."""
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    data = rng.integers(info.min, info.max, (3, size, size), endpoint=True).astype(dtype)
    data[:, :8, :8] = [[[0]], [[1]], [[info.max]]]  # the extremes and zero are drawn too
    return data, rng.random((size, size)) > 0.2


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint8"])
@pytest.mark.parametrize("params", [
    {"bands": ["3,2,1"], "rescale": ["0,3000"]},
    {"bands": ["1"], "rescale": ["-100,600"], "colormap": ["viridis"]},
    {"bands": ["1,2,3"], "gamma": ["1.7"], "gain": ["1.2"]},  # the image's 2-98 % stretch
])
def test_a_specs_first_picture_is_its_later_ones(dtype, params):
    data, valid = area(dtype)
    spec = parse_render_spec(params, NAMES)
    first, second, third = (render(data, valid, spec, BANDS) for _ in range(3))
    assert first.shape == (4, 256, 256) and first.dtype == np.uint8
    assert np.array_equal(first, second) and np.array_equal(second, third)
    assert not first[:, ~valid].any(), "not valid: transparent and black"
    assert (first[3][valid] == 255).all()
    assert np.unique(first[:3, valid], axis=1).shape[1] > 16, "a stretch, not one colour"
