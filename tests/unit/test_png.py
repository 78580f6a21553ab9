"""The PNG encoder: what it writes must decode, in any reader, to exactly the pixels given."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import rasterio
from PIL import Image

from cogbrowser.raster import png
from cogbrowser.raster.png import encode_png
from helpers import REAL_DATA

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _decoded(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


@pytest.fixture(params=["isal", "zlib"])
def deflater(request, monkeypatch):
    """Both deflate back-ends: ISA-L where installed, and the standard library's fallback."""
    if request.param == "zlib":
        monkeypatch.setattr(png, "_deflate", zlib)
        monkeypatch.setattr(png, "_LEVEL", 1)
    return request.param


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(256, 256), (1, 1), (3, 517)])
def test_random_pixels_round_trip(deflater, channels, shape):
    pixels = np.random.default_rng(channels).integers(0, 256, (*shape, channels), dtype=np.uint8)
    decoded = _decoded(encode_png(pixels))
    assert Image.open(io.BytesIO(encode_png(pixels))).mode == MODES[channels]
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)


def test_real_imagery_round_trips_and_is_no_larger_than_pillows_fastest(deflater):
    with rasterio.open(REAL_DATA / "localtileserver" / "bahamas_rgb.tif") as src:
        pixels = np.moveaxis(src.read(window=((0, 256), (0, 256))), 0, -1).copy()
    ours = encode_png(pixels)
    np.testing.assert_array_equal(_decoded(ours), pixels)
    pillow = io.BytesIO()
    Image.fromarray(pixels).save(pillow, "PNG", compress_level=1)
    assert len(ours) <= 1.15 * len(pillow.getvalue())


def test_refuses_what_png_cannot_hold():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((4, 4, 5), np.uint8))
