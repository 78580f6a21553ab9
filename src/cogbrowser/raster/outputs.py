"""Which values a raw read returns: any number of bands, or any number of band-math expressions.

A picture has 1 or 3 outputs, so `parse_render_spec` insists on that; statistics, point values and
GeoTIFF exports serve analysis, where "all 31 bands" or "these two indexes" are normal requests.
`parse_outputs` takes the same `bands`, `expression`, `style` and `nodata` parameters (checked by
the same code, so errors read the same) and returns a RenderSpec with as many outputs as asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from cogbrowser.raster.expression import parse_many
from cogbrowser.raster.render_spec import RenderSpec, RenderSpecError, parse_render_spec

__all__ = ["parse_outputs", "output_names", "band_label"]

_COMMON = ("style", "nodata", "resampling")  # parameters whose parsing parse_render_spec owns


def parse_outputs(params: Mapping[str, Sequence[str]], band_names: Sequence[str | None],
                  presets: Sequence[Mapping] = ()) -> RenderSpec:
    """The outputs asked by `bands` or `expression` (';' separates several), else the `style`'s,
    else every band; `nodata` and `resampling` parsed as for pictures."""
    base = parse_render_spec({k: v for k, v in params.items() if k in _COMMON}, band_names, presets)
    bands_text, expression_text = _last(params.get("bands", ())), _last(params.get("expression", ()))
    if bands_text and expression_text:
        raise RenderSpecError("expression", "give either bands or an expression, not both")
    if expression_text:
        return dataclasses.replace(base, bands=(), expressions=tuple(parse_many(expression_text, band_names)))
    if bands_text:
        return dataclasses.replace(base, bands=_bands(bands_text, band_names, presets), expressions=())
    if base.style:
        return base
    return dataclasses.replace(base, bands=tuple(range(1, len(band_names) + 1)))


def output_names(spec: RenderSpec, band_names: Sequence[str | None]) -> list[str]:
    """A label per output: the band's name (or b<N>), or the expression's normalised text."""
    if spec.expressions:
        return [str(expression) for expression in spec.expressions]
    return [band_label(band_names, band) for band in spec.bands]


def band_label(band_names: Sequence[str | None], band: int) -> str:
    """How a 1-based band is called in answers: its name, or b<N> when it has none."""
    return band_names[band - 1] or f"b{band}"


def _bands(text: str, band_names: Sequence[str | None], presets: Sequence[Mapping]) -> tuple[int, ...]:
    """Each comma-separated band (an index or a name), resolved one at a time by the picture
    parser: it knows names and ranges, and only its 1-or-3 rule does not apply here."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise RenderSpecError("bands", f"empty band in {text!r}")
    return tuple(parse_render_spec({"bands": [item]}, band_names, presets).bands[0] for item in items)


def _last(values: Sequence[str]) -> str | None:
    values = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return values[-1] if values else None
