"""Finishing a map: stacking rendered layers, filling the background, writing the file.

A WMS GetMap draws several layers bottom to top, may ask for an opaque picture on a background
colour, and may ask for a GeoTIFF that GIS software can place without a world file. These are pure
operations on RGBA arrays (4, H, W) uint8 (the GeoTIFF written with rasterio in memory), kept
here so that the WMS adapter only chooses between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from cogbrowser.raster.render import encode

RGB = tuple[int, int, int]


def stack(layers: Iterable[np.ndarray]) -> np.ndarray:
    """RGBA of `layers` (bottom first) drawn over each other with the "over" operator.

    Takes an iterable so that a generator of renders holds two pictures in memory at a time, not
    one per layer (16 layers of 4096² RGBA would be 1 GiB). Rendered pixels are opaque or fully
    transparent, but partial alpha (a class map with '#rrggbbaa' colours) is blended properly too.
    """
    pictures = iter(layers)
    out = next(pictures, None)
    if out is None:
        raise ValueError("stack needs at least one layer")
    for top in pictures:
        out = _over(top, out)
    return out


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    if not bottom[3].any():
        return top
    if (top[3] == 255).all():
        return top
    a_top = top[3].astype(np.float32) / 255.0
    a_bottom = bottom[3].astype(np.float32) / 255.0
    alpha = a_top + a_bottom * (1.0 - a_top)
    with np.errstate(invalid="ignore", divide="ignore"):
        rgb = (top[:3] * a_top + bottom[:3] * a_bottom * (1.0 - a_top)) / alpha
    out = np.empty_like(top)
    out[:3] = np.nan_to_num(np.rint(rgb), nan=0.0).astype(np.uint8)
    out[3] = np.rint(alpha * 255.0).astype(np.uint8)
    return out


def flatten(rgba: np.ndarray, background: RGB) -> np.ndarray:
    """`rgba` drawn over an opaque `background` colour: every pixel opaque."""
    alpha = rgba[3].astype(np.float32) / 255.0
    colour = np.asarray(background, dtype=np.float32)[:, None, None]
    out = np.empty_like(rgba)
    out[:3] = np.rint(rgba[:3] * alpha + colour * (1.0 - alpha)).astype(np.uint8)
    out[3] = 255
    return out


def encode_geotiff(rgba: np.ndarray, crs: CRS, bounds: Sequence[float]) -> bytes:
    """A georeferenced GeoTIFF of the picture: RGB, plus alpha unless it is opaque everywhere."""
    opaque = bool((rgba[3] == 255).all())
    data = rgba[:3] if opaque else rgba
    _, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=data.shape[0], dtype="uint8",
                   crs=crs, transform=from_bounds(*bounds, width, height), compress="deflate",
                   photometric="RGB", interleave="pixel")
    if not opaque:
        profile["alpha"] = "YES"  # band 4 is alpha (ExtraSamples=unassociated alpha)
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
        return memory.read()


def encode_map(rgba: np.ndarray, fmt: str, background: RGB = (255, 255, 255), transparent: bool = True,
               georeference: tuple[CRS, Sequence[float]] | None = None) -> bytes:
    """The file of a finished map in `fmt` (png, jpeg, webp, or tiff with `georeference`: the CRS
    and bounds of the picture).

    Not `transparent`, the picture is drawn on `background`. JPEG has no alpha, so it is always
    drawn on `background` rather than showing nodata as black.
    """
    if not transparent or fmt in ("jpg", "jpeg"):
        rgba = flatten(rgba, background)
    if fmt == "tiff":
        if georeference is None:
            raise ValueError("a GeoTIFF needs the CRS and bounds of the picture")
        return encode_geotiff(rgba, *georeference)
    return encode(rgba, fmt)
