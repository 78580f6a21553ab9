"""RenderSpec: how to turn an image's raw values into a picture, parsed once for every endpoint.

Tiles, WMS GetMap, WMTS GetTile, previews and exports all take the same render parameters
(docs/architecture.md), listed once in RENDER_PARAMETERS (the web layer builds its query model from
that table, the OGC adapters pick their vendor parameters by it): `style` (a preset of the
collection), `bands`, `expression`, `rescale`, `gain`, `gamma`, `colormap`, `resampling`, `nodata`.
`parse_render_spec` turns them into one immutable value, checked against the image's bands, so the
renderer never sees a string and every mistake is reported by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.budget import check_cost
from cogbrowser.raster.colormaps import ClassMap, get_lut, parse_class_map
from cogbrowser.raster.expression import Expression, parse_many, used_bands
from cogbrowser.raster.reader import RESAMPLINGS as READER_RESAMPLINGS

RESAMPLINGS = tuple(READER_RESAMPLINGS)  # what the reader can do, in its order
MAX_GAIN = 100.0
MAX_GAMMA = 10.0


@dataclass(frozen=True)
class RenderParameter:
    """How one render parameter is given, as text: what it means, how many values it takes (each
    repeated value is one output's, since a value such as rescale's `min,max` holds a comma itself),
    and how long one value may be."""

    description: str
    values: int = 1
    max_length: int = 2000


RENDER_PARAMETERS: dict[str, RenderParameter] = {  # name -> how it is given; the one list of them
    "style": RenderParameter("a preset of the image's collection, e.g. true-color, ndvi"),
    "bands": RenderParameter("1 or 3 bands by index or name: 4,3,2 or B08,B04,B03"),
    "expression": RenderParameter("band math, e.g. (B08-B04)/(B08+B04); ';' separates R;G;B"),
    "rescale": RenderParameter("min,max once, or once per output band", values=3),
    "gain": RenderParameter(f"a factor on the rescaled values, in (0, {MAX_GAIN:g}]"),
    "gamma": RenderParameter(f"a gamma correction, in (0, {MAX_GAMMA:g}]"),
    "colormap": RenderParameter("gray, viridis, magma, terrain, rdylgn, ... or a JSON class map", max_length=20_000),
    "resampling": RenderParameter(", ".join(RESAMPLINGS)),
    "nodata": RenderParameter("a value to treat as no data (overrides the image's)"),
}


class RenderSpecError(InvalidInput):
    """A render parameter does not fit; `parameter` names it (for OGC InvalidParameterValue etc.)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class RenderSpec:
    """What to draw: 1 output (grey or colormapped) or 3 outputs (RGB), each a band or an expression.

    `rescale` holds one (min, max) per output, or None for the image's stored 2-98 % statistics.
    """

    bands: tuple[int, ...] = ()
    expressions: tuple[Expression, ...] = ()
    rescale: tuple[tuple[float, float], ...] | None = None
    gain: float = 1.0
    gamma: float = 1.0
    colormap: str | None = None
    class_map: tuple[tuple[int, tuple[int, int, int, int]], ...] | None = None
    resampling: str = "nearest"
    nodata: float | None = None
    style: str | None = None

    @property
    def outputs(self) -> int:
        return len(self.expressions) or len(self.bands)

    @property
    def source_bands(self) -> tuple[int, ...]:
        """The 1-based bands the reader must read."""
        return used_bands(self.expressions) if self.expressions else self.bands

    @property
    def cost(self) -> int:
        """The work per output pixel a render budget counts: the expressions' nodes, or one per band."""
        return sum(expression.cost for expression in self.expressions) if self.expressions else len(self.bands)

    def check_cost(self, pixels: int, frames: int = 1, what: str = "this render") -> None:
        """RenderTooCostly when drawing `pixels` (x `frames` images) with this spec is above the render
        budget (raster/budget.py); called before any pixel is read."""
        check_cost(self.cost, pixels, frames, what, "expression nodes" if self.expressions else "bands")

    @property
    def classes(self) -> ClassMap | None:
        return dict(self.class_map) if self.class_map is not None else None


def parse_render_spec(params: Mapping[str, Sequence[str]], band_names: Sequence[str | None],
                      presets: Sequence[Mapping] = ()) -> RenderSpec:
    """Parse render parameters (each a list of the values given) against the image's bands.

    A `style` preset gives defaults; explicit parameters override it. Without bands or an
    expression: bands 1-3 of an image with 3 or more bands, else band 1.
    """
    values = {name: [v for v in params.get(name, ()) if v is not None] for name in RENDER_PARAMETERS}
    preset = _preset(values["style"], presets)
    band_count = len(band_names)

    expression_text = _last(values["expression"]) or (preset.get("expression") if preset else None)
    bands_given = _last(values["bands"])
    if expression_text and bands_given:
        raise RenderSpecError("expression", "give either bands or an expression, not both")
    expressions: tuple[Expression, ...] = ()
    bands: tuple[int, ...] = ()
    if bands_given:
        bands = _bands(bands_given, band_names)
    elif expression_text:
        expressions = tuple(parse_many(str(expression_text), band_names))
    elif preset and preset.get("bands"):
        bands = _bands(",".join(str(b) for b in preset["bands"]), band_names)
    else:
        bands = (1, 2, 3) if band_count >= 3 else (1,)
    outputs = len(expressions) or len(bands)
    if outputs not in (1, 3):
        what = "expressions" if expressions else "bands"
        raise RenderSpecError("expression" if expressions else "bands",
                              f"give 1 {what[:-1]} (grey or colormap) or 3 (red, green, blue), not {outputs}")

    rescale = _rescale(values["rescale"], outputs) if values["rescale"] else _preset_rescale(preset, outputs)
    colormap, class_map = _colormap(_last(values["colormap"]) or (preset.get("colormap") if preset else None))
    if (colormap or class_map) and outputs != 1:
        raise RenderSpecError("colormap", "applies to a single band or expression, not to an RGB composite")
    return RenderSpec(
        bands=bands, expressions=expressions, rescale=rescale,
        gain=_number(values["gain"], "gain", 1.0, 0.0, MAX_GAIN),
        gamma=_number(values["gamma"], "gamma", float(preset.get("gamma", 1.0)) if preset else 1.0, 0.0, MAX_GAMMA),
        colormap=colormap, class_map=tuple(sorted(class_map.items())) if class_map else None,
        resampling=_resampling(_last(values["resampling"])), nodata=_nodata(_last(values["nodata"])),
        style=preset.get("name") if preset else None,
    )


def _last(values: Sequence[str]) -> str | None:
    """The value of a single-valued parameter: the last one given, blank meaning not given."""
    for value in reversed(values):
        if str(value).strip():
            return str(value).strip()
    return None


def _preset(names: Sequence[str], presets: Sequence[Mapping]) -> Mapping | None:
    name = _last(names)
    if name is None or name.lower() == "default":
        return None
    for preset in presets:
        if str(preset.get("name", "")).lower() == name.lower():
            return preset
    known = ", ".join(str(p.get("name")) for p in presets) or "none for this image"
    raise RenderSpecError("style", f"unknown style {name!r} (styles: {known})")


def _bands(text: str, band_names: Sequence[str | None]) -> tuple[int, ...]:
    lookup = {str(name).lower(): index for index, name in enumerate(band_names, start=1) if name}
    bands = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise RenderSpecError("bands", f"empty band in {text!r}")
        if item.isdigit():
            index = int(item)
            if not 1 <= index <= len(band_names):
                raise RenderSpecError("bands", f"band {index} does not exist (the image has {len(band_names)})")
        elif item.lower() in lookup:
            index = lookup[item.lower()]
        else:
            names = ", ".join(str(n) for n in band_names if n) or "none"
            raise RenderSpecError("bands", f"unknown band {item!r} (use 1..{len(band_names)} or a name: {names})")
        bands.append(index)
    return tuple(bands)


def _rescale(values: Sequence[str], outputs: int) -> tuple[tuple[float, float], ...]:
    ranges = []
    for value in values:
        parts = [p.strip() for p in str(value).split(",")]
        if len(parts) != 2:
            raise RenderSpecError("rescale", f"{value!r} is not 'min,max'")
        low, high = (_finite(p, "rescale") for p in parts)
        if not low < high:
            raise RenderSpecError("rescale", f"{value!r}: min must be below max")
        ranges.append((low, high))
    if len(ranges) == 1:
        return tuple(ranges * outputs)
    if len(ranges) != outputs:
        raise RenderSpecError("rescale", f"give one range for all, or one per output ({outputs}), not {len(ranges)}")
    return tuple(ranges)


def _preset_rescale(preset: Mapping | None, outputs: int) -> tuple[tuple[float, float], ...] | None:
    if not preset or not preset.get("rescale"):
        return None
    return _rescale([f"{low},{high}" for low, high in preset["rescale"]], outputs)


def _colormap(text: str | None) -> tuple[str | None, ClassMap | None]:
    if not text:
        return None, None
    if text.lstrip().startswith("{"):
        return None, parse_class_map(text)
    get_lut(text)  # raises ColormapError naming the known maps
    return text.lower(), None


def _number(values: Sequence[str], name: str, default: float, low: float, high: float) -> float:
    text = _last(values)
    if text is None:
        return default
    number = _finite(text, name)
    if not low < number <= high:
        raise RenderSpecError(name, f"{text} is outside ({low:g}, {high:g}]")
    return number


def _finite(text: str, name: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise RenderSpecError(name, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise RenderSpecError(name, f"{text!r} is not a finite number")
    return number


def _resampling(text: str | None) -> str:
    if text is None:
        return "nearest"
    if text.lower() not in RESAMPLINGS:
        raise RenderSpecError("resampling", f"unknown method {text!r} (use {', '.join(RESAMPLINGS)})")
    return text.lower()


def _nodata(text: str | None) -> float | None:
    if text is None:
        return None
    if text.lower() == "nan":
        return math.nan
    return _finite(text, "nodata")
