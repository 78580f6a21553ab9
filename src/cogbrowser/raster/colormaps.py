"""Colormaps for single-band rendering: named continuous maps and discrete class maps.

Pure functions over numpy, nothing of HTTP, and no matplotlib: each map is a short list of
anchor colours, interpolated linearly in RGB once into a (256, 4) uint8 lookup table (LUT).

Where the anchors come from (all published definitions; matplotlib's values for the same names):

- viridis, magma, inferno, plasma, cividis are 256-entry tables (van der Walt & Smith, BIDS
  colormaps). Anchors (17-26 a map) are entries of those tables, chosen greedily until the
  rebuilt table is within 1 level (of 255) per channel of the reference table rounded to 8 bits.
  Max deviation from that reference: 1 level, on every entry of all five maps.
- rdylgn, spectral, rdbu, blues are ColorBrewer schemes (Cynthia Brewer) with evenly spaced
  anchors, interpolated as matplotlib does. Max deviation from the exact interpolation: 0.5
  level (the rounding to uint8 only).
- terrain is matplotlib's segment list; its anchor (0.5, 0.36, 0.33) has fractional 8-bit
  values, stored rounded as #805c54. Max deviation from the exact interpolation: 0.64 level.
- gray is a linear ramp, 0 black to 1 white (like greys_r, but linear so that the rendered
  grey level stays proportional to the rescaled value).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import numpy as np

from cogbrowser.errors import InvalidInput

__all__ = [
    "COLORMAP_NAMES",
    "ClassMap",
    "ColormapError",
    "MAX_CLASSES",
    "apply_class_map",
    "apply_lut",
    "get_lut",
    "legend_stops",
    "parse_class_map",
]

ClassMap = dict[int, tuple[int, int, int, int]]
"""Integer class value -> RGBA colour (0..255 each)."""

MAX_CLASSES = 1024
"""Upper bound on class-map entries: a request parameter must stay small and cheap to apply."""

LUT_SIZE = 256

_REVERSE_SUFFIX = "_r"


class ColormapError(InvalidInput):
    """A colormap name or a class map given by the user does not fit; the message says why."""


Anchors = tuple[tuple[float, str], ...]


def _even(*colours: str) -> Anchors:
    """Anchors spaced evenly over 0..1, the way ColorBrewer schemes are stretched."""
    last = len(colours) - 1
    return tuple((i / last, c) for i, c in enumerate(colours))


def _indexed(*pairs: tuple[int, str]) -> Anchors:
    """Anchors given as indexes into a 256-entry reference table (position = index / 255)."""
    return tuple((i / (LUT_SIZE - 1), c) for i, c in pairs)


# fmt: off
_ANCHORS: dict[str, Anchors] = {
    "gray": ((0.0, "#000000"), (1.0, "#ffffff")),
    "viridis": _indexed(
        (0, "#440154"), (8, "#470d60"), (23, "#482173"), (29, "#482979"), (50, "#414287"),
        (81, "#32648e"), (120, "#23898e"), (132, "#1f948c"), (139, "#1e9b8a"), (151, "#21a685"),
        (157, "#25ac82"), (166, "#2fb47c"), (177, "#40bd72"), (190, "#5ac864"),
        (203, "#77d153"), (233, "#c5e021"), (239, "#d5e21a"), (242, "#dde318"),
        (246, "#e7e419"), (251, "#f4e61e"), (255, "#fde725"),
    ),
    "magma": _indexed(
        (0, "#000004"), (2, "#010106"), (12, "#06051a"), (25, "#140e36"), (32, "#1d1147"),
        (42, "#2c115f"), (48, "#36106b"), (58, "#471078"), (66, "#54137d"), (74, "#601880"),
        (93, "#7e2482"), (120, "#aa337d"), (129, "#b83779"), (149, "#d8456c"), (156, "#e24d66"),
        (170, "#f1605d"), (179, "#f7705c"), (192, "#fc8961"), (205, "#fea16e"),
        (216, "#feb67c"), (235, "#fed89a"), (255, "#fcfdbf"),
    ),
    "inferno": _indexed(
        (0, "#000004"), (2, "#010106"), (6, "#02020e"), (15, "#0a0722"), (26, "#180c3c"),
        (40, "#2f0a5b"), (48, "#3d0965"), (54, "#470b6a"), (64, "#57106e"), (88, "#7d1e6d"),
        (110, "#a02a63"), (132, "#c13a50"), (144, "#d24644"), (166, "#ea632a"),
        (175, "#f1711f"), (189, "#f8890c"), (193, "#fa9008"), (199, "#fb9b06"),
        (202, "#fca108"), (209, "#fcae12"), (222, "#f9c72f"), (232, "#f5db4c"),
        (241, "#f1ec6d"), (246, "#f2f482"), (251, "#f6fa96"), (255, "#fcffa4"),
    ),
    "plasma": _indexed(
        (0, "#0d0887"), (7, "#20068f"), (23, "#3e049c"), (37, "#5502a4"), (45, "#6100a7"),
        (62, "#7b02a8"), (68, "#8405a7"), (78, "#920fa3"), (92, "#a51f99"), (123, "#c7427c"),
        (148, "#dd5e66"), (161, "#e76e5b"), (188, "#f79044"), (215, "#feb72d"),
        (229, "#fccd25"), (235, "#fbd724"), (250, "#f3f027"), (253, "#f1f525"),
        (255, "#f0f921"),
    ),
    "cividis": _indexed(
        (0, "#00224e"), (20, "#003070"), (23, "#013271"), (28, "#123570"), (33, "#1c396f"),
        (44, "#2d416d"), (53, "#38476c"), (86, "#585e6d"), (134, "#828079"), (151, "#928d78"),
        (171, "#a69c74"), (191, "#bbad6d"), (219, "#d9c55c"), (233, "#e8d24f"),
        (244, "#f5dc41"), (251, "#fde334"), (255, "#fee838"),
    ),
    "terrain": (
        (0.00, "#333399"), (0.15, "#0099ff"), (0.25, "#00cc66"),
        (0.50, "#ffff99"), (0.75, "#805c54"), (1.00, "#ffffff"),
    ),
    "rdylgn": _even(
        "#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf",
        "#d9ef8b", "#a6d96a", "#66bd63", "#1a9850", "#006837",
    ),
    "spectral": _even(
        "#9e0142", "#d53e4f", "#f46d43", "#fdae61", "#fee08b", "#ffffbf",
        "#e6f598", "#abdda4", "#66c2a5", "#3288bd", "#5e4fa2",
    ),
    "rdbu": _even(
        "#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
        "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061",
    ),
    "blues": _even(
        "#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6",
        "#4292c6", "#2171b5", "#08519c", "#08306b",
    ),
}
# fmt: on

COLORMAP_NAMES: tuple[str, ...] = tuple(_ANCHORS)
"""Known colormap names, lowercase; any of them with "_r" appended is the reversed map."""


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _resolve(name: object) -> tuple[str, bool]:
    """Canonical map name and whether to reverse it; the one place unknown names are refused."""
    if not isinstance(name, str):
        raise ColormapError(f"colormap name must be a string, not {type(name).__name__}")
    key = name.strip().lower()
    if key in _ANCHORS:
        return key, False
    if key.endswith(_REVERSE_SUFFIX) and key[: -len(_REVERSE_SUFFIX)] in _ANCHORS:
        return key[: -len(_REVERSE_SUFFIX)], True
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise ColormapError(
        f"unknown colormap {shown!r}; known colormaps: {', '.join(COLORMAP_NAMES)} "
        f"(append '{_REVERSE_SUFFIX}' to reverse any of them)"
    )


@functools.cache
def _build_lut(name: str, reverse: bool) -> np.ndarray:
    """Interpolate the anchors once per map; read-only so the cached table cannot be altered."""
    anchors = _ANCHORS[name]
    positions = np.array([p for p, _ in anchors], dtype=np.float64)
    rgb = np.array([_hex_rgb(c) for _, c in anchors], dtype=np.float64)
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    if reverse:
        x = x[::-1]
    lut = np.empty((LUT_SIZE, 4), dtype=np.uint8)
    for channel in range(3):
        lut[:, channel] = np.rint(np.interp(x, positions, rgb[:, channel]))
    lut[:, 3] = 255
    lut.flags.writeable = False
    return lut


def get_lut(name: str) -> np.ndarray:
    """The (256, 4) uint8 RGBA table of a named colormap (case-insensitive, "_r" reverses).

    Entry i is the colour of value i / 255. The array is shared and read-only; copy to modify.
    """
    return _build_lut(*_resolve(name))


def legend_stops(name: str, n: int = 11) -> list[tuple[float, str]]:
    """n evenly spaced (position 0..1, '#rrggbb') pairs, enough to draw a colorbar or legend."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= LUT_SIZE:
        raise ColormapError(f"legend stops must be an integer from 2 to {LUT_SIZE}, not {n!r}")
    lut = get_lut(name)
    stops = []
    for i in range(n):
        position = i / (n - 1)
        r, g, b, _ = (int(v) for v in lut[int(round(position * (LUT_SIZE - 1)))])
        stops.append((position, f"#{r:02x}{g:02x}{b:02x}"))
    return stops


def _as_2d(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One band as (H, W) plus a boolean mask of the same shape (a GDAL 0/255 mask works too)."""
    values = np.asarray(values)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise ValueError(f"expected one band of shape (H, W), got {values.shape}")
    mask = np.asarray(valid)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.shape != values.shape:
        raise ValueError(f"valid mask shape {mask.shape} differs from values shape {values.shape}")
    return values, mask.astype(bool, copy=False)


def apply_lut(values: np.ndarray, lut: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Colour a band already rescaled to 0..1: (H, W) floats -> (4, H, W) uint8 RGBA.

    Each value takes the nearest table entry; values outside 0..1 (including +-inf) are clipped,
    so an over-stretched rescale saturates instead of failing. Pixels that are NaN or not
    `valid` come out fully transparent (all four channels 0), so nodata never gets a colour.
    """
    values, mask = _as_2d(values, valid)
    lut = np.asarray(lut)
    if lut.ndim != 2 or lut.shape[1] != 4 or lut.shape[0] < 2:
        raise ValueError(f"expected an (N, 4) RGBA lookup table, got {lut.shape}")
    v = values.astype(np.float64, copy=False)
    ok = mask & ~np.isnan(v)
    scaled = np.clip(np.where(ok, v, 0.0), 0.0, 1.0) * (lut.shape[0] - 1)
    rgba = lut.astype(np.uint8, copy=False)[np.rint(scaled).astype(np.intp)]
    rgba[~ok] = 0
    return np.ascontiguousarray(np.moveaxis(rgba, -1, 0))


def apply_class_map(values: np.ndarray, classes: ClassMap, valid: np.ndarray) -> np.ndarray:
    """Colour a band of class values: (H, W) raw values -> (4, H, W) uint8 RGBA.

    Works on the raw (unscaled) values, since classes are exact codes; values that are not a
    key of `classes` (including non-integers and NaN) and invalid pixels are transparent.
    """
    values, mask = _as_2d(values, valid)
    out = np.zeros(values.shape + (4,), dtype=np.uint8)
    if classes:
        integer = np.issubdtype(values.dtype, np.integer)
        key_type = np.int64 if integer else np.float64
        keys = np.array(sorted(classes), dtype=key_type)
        colours = np.array([classes[int(k)] for k in keys], dtype=np.uint8)
        v = values.astype(key_type, copy=False)
        pos = np.minimum(np.searchsorted(keys, v), len(keys) - 1)
        hit = mask & (keys[pos] == v)
        out[hit] = colours[pos[hit]]
    return np.ascontiguousarray(np.moveaxis(out, -1, 0))


_INT_KEY = re.compile(r"[+-]?\d{1,18}")
_COLOUR_FORMS = "use '#rrggbb', '#rrggbbaa' or [r, g, b(, a)]"
_HEX_COLOUR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs, so that duplicate keys can be reported."""


def _show(value: Any, limit: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, _Pairs) else json.dumps(dict(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_colour(key: str, value: Any) -> tuple[int, int, int, int]:
    where = f"class map: colour for class {_show(key)}"
    if isinstance(value, str):
        m = _HEX_COLOUR.fullmatch(value.strip())
        if not m:
            raise ColormapError(
                f"{where} is not a colour: {_show(value)} ({_COLOUR_FORMS})"
            )
        digits = m.group(1)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    elif isinstance(value, list) and not isinstance(value, _Pairs):
        if len(value) not in (3, 4):
            raise ColormapError(
                f"{where} must have 3 or 4 channels (r, g, b, optional a), "
                f"got {len(value)}: {_show(value)}"
            )
        for channel in value:
            if isinstance(channel, bool) or not isinstance(channel, int):
                raise ColormapError(
                    f"{where} has a channel that is not an integer: "
                    f"{_show(channel)} in {_show(value)}"
                )
            if not 0 <= channel <= 255:
                raise ColormapError(
                    f"{where} has a channel out of range 0..255: {channel} in {_show(value)}"
                )
        channels = list(value)
    else:
        raise ColormapError(
            f"{where} is not a colour: {_show(value)} ({_COLOUR_FORMS})"
        )
    if len(channels) == 3:
        channels.append(255)
    r, g, b, a = channels
    return r, g, b, a


def parse_class_map(text: str) -> ClassMap:
    """Read a discrete class map from JSON, e.g. '{"1": "#1a9850", "2": [215, 48, 39]}'.

    Keys are integer class values written as strings; colours are '#rrggbb', '#rrggbbaa' (the
    '#' may be left out, it is awkward in URLs) or [r, g, b] / [r, g, b, a] with 0..255 ints;
    alpha defaults to 255. At most MAX_CLASSES entries. Each error names the offending entry,
    because the text usually arrives as a request parameter that a person has typed.
    """
    if not isinstance(text, str):
        raise ColormapError(f"class map must be JSON text, not {type(text).__name__}")
    try:
        parsed = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ColormapError(f"class map is not valid JSON: {detail}") from None
    if not isinstance(parsed, _Pairs):
        raise ColormapError(
            'class map must be a JSON object of class value -> colour, e.g. {"1": "#1a9850"}'
        )
    if not parsed:
        raise ColormapError("class map is empty; give at least one class value and colour")
    if len(parsed) > MAX_CLASSES:
        raise ColormapError(
            f"class map has {len(parsed)} entries; at most {MAX_CLASSES} are allowed"
        )
    classes: ClassMap = {}
    for key, value in parsed:
        if not _INT_KEY.fullmatch(key.strip()):
            raise ColormapError(
                f"class map: key {_show(key)} is not an integer class value (e.g. \"1\", \"-9999\")"
            )
        number = int(key.strip())
        if number in classes:
            raise ColormapError(
                f"class map: class {number} is given more than once (key {_show(key)})"
            )
        classes[number] = _parse_colour(key, value)
    return classes
