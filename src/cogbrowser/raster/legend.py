"""Legends: what the colours of a RenderSpec mean, drawn as a small picture (WMS GetLegendGraphic).

Pure functions over numpy and Pillow, nothing of HTTP. `legend_for` decides what to show from the
same RenderSpec the map is drawn with, so the legend cannot disagree with the map:

- one band or one expression: a colorbar of the colormap (grey without one) from the rescale's
  min (bottom) to max (top), with gain and gamma applied exactly as the renderer applies them;
- a discrete class map: one swatch per class value;
- an RGB composite: three swatches (red, green, blue) naming the band or expression of each, with
  its rescale range.

`draw_message` writes a one-paragraph message into a picture: WMS `EXCEPTIONS=INIMAGE`.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cogbrowser.raster.colormaps import LUT_SIZE, get_lut
from cogbrowser.raster.outputs import output_names
from cogbrowser.raster.render import default_rescale
from cogbrowser.raster.render_spec import RenderSpec

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont  # Pillow's built-in font is either, by version

Colour = tuple[int, int, int, int]

PADDING = 4
BAR_WIDTH = 16
SWATCH = 16
ROW_HEIGHT = 20
COLORBAR_HEIGHT = 200
MAX_DEFAULT_WIDTH = 400
BACKGROUND: Colour = (255, 255, 255, 255)
INK: Colour = (0, 0, 0, 255)
CHANNELS: tuple[tuple[str, Colour], ...] = (("R", (255, 0, 0, 255)), ("G", (0, 160, 0, 255)), ("B", (0, 0, 255, 255)))


@dataclass(frozen=True, eq=False)  # eq=False: `colours` is an array, which == cannot reduce to a bool
class Legend:
    """What a legend shows: a colorbar (`colours`, 256 entries from `low` to `high`) or swatches."""

    title: str
    colours: np.ndarray | None = None
    low: float = 0.0
    high: float = 1.0
    entries: tuple[tuple[str, Colour], ...] = ()

    @property
    def is_colorbar(self) -> bool:
        return self.colours is not None

    @property
    def labels(self) -> list[str]:
        """Every text the legend writes beside its colours."""
        if self.is_colorbar:
            return [_number(self.high), _number((self.low + self.high) / 2), _number(self.low)]
        return [label for label, _ in self.entries]


def legend_for(spec: RenderSpec, bands: Sequence[dict]) -> Legend:
    """The legend of `spec` drawn over an image whose band metadata (names, statistics) is `bands`."""
    names = output_names(spec, [band.get("name") for band in bands])
    if spec.class_map is not None:
        entries = tuple((str(value), (int(r), int(g), int(b), int(a))) for value, (r, g, b, a) in spec.class_map)
        return Legend(_title(spec, names[0]), entries=entries)
    ranges = default_rescale(spec, bands)
    if spec.outputs == 1:
        low, high = ranges[0]
        return Legend(_title(spec, names[0]), colours=_colorbar_colours(spec), low=low, high=high)
    entries = tuple((f"{channel}: {name} ({_number(low)} to {_number(high)})", colour)
                    for (channel, colour), name, (low, high) in zip(CHANNELS, names, ranges))
    return Legend(spec.style or "RGB composite", entries=entries)


def _title(spec: RenderSpec, name: str) -> str:
    return f"{spec.style}: {name}" if spec.style and spec.style != name else name


def _colorbar_colours(spec: RenderSpec) -> np.ndarray:
    """(256, 4) colours of evenly spaced values from min to max, as `render` colours them."""
    position = np.linspace(0.0, 1.0, LUT_SIZE)
    scaled = np.clip(position * spec.gain, 0.0, 1.0)
    if spec.gamma != 1.0:
        scaled = np.power(scaled, 1.0 / spec.gamma)
    lut = get_lut(spec.colormap or "gray")
    return lut[np.rint(scaled * (LUT_SIZE - 1)).astype(np.intp)]


def _number(value: float) -> str:
    return f"{value:.6g}"


# ------------------------------------------------------------------------------------- drawing

_local = threading.local()


def default_font(size: int | None = None) -> Font:
    """Pillow's built-in font (at its own size, or `size` px: the map's place names, places/labels.py):
    nothing to install or find on an air-gapped Windows machine.

    One per thread: capabilities measure every style's legend, and a FreeType face must not be
    used by two threads at once."""
    fonts = getattr(_local, "fonts", None)
    if fonts is None:
        fonts = _local.fonts = {}
    if size not in fonts:
        fonts[size] = ImageFont.load_default() if size is None else ImageFont.load_default(size=size)
    return fonts[size]


def _line_height(font: Font) -> int:
    return int(font.getbbox("Ag")[3]) + 3


def _text_width(font: Font, text: str) -> int:
    return int(np.ceil(font.getlength(text)))


def legend_size(legend: Legend) -> tuple[int, int]:
    """The natural (width, height) of `legend`: wide enough for its texts, at most 400 px wide."""
    font = default_font()
    widest_label = max((_text_width(font, label) for label in legend.labels), default=0)
    width = max(_text_width(font, legend.title) + 2 * PADDING, widest_label + 3 * PADDING + BAR_WIDTH)
    width = min(max(width, 60), MAX_DEFAULT_WIDTH)
    if legend.is_colorbar:
        return width, COLORBAR_HEIGHT
    return width, 2 * PADDING + _line_height(font) + ROW_HEIGHT * len(legend.entries)


def draw_legend(legend: Legend, width: int | None = None, height: int | None = None) -> np.ndarray:
    """RGBA (4, height, width) uint8 of `legend`; sizes not given are the legend's natural ones."""
    natural = legend_size(legend)
    width, height = width or natural[0], height or natural[1]
    image = Image.new("RGBA", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = default_font()
    draw.text((PADDING, PADDING), _fit(font, legend.title, width - 2 * PADDING), font=font, fill=INK)
    top = PADDING + _line_height(font)
    if legend.is_colorbar:
        _draw_colorbar(image, draw, font, legend, top)
    else:
        _draw_swatches(draw, font, legend, top, width)
    return np.ascontiguousarray(np.moveaxis(np.asarray(image), -1, 0))


def _draw_colorbar(image: Image.Image, draw: ImageDraw.ImageDraw, font: Font,
                   legend: Legend, top: int) -> None:
    """A vertical bar, max at the top, with the max, middle and min values beside it."""
    half_line = _line_height(font) // 2
    bar_top, bar_bottom = top + half_line, image.height - PADDING - half_line
    if bar_bottom - bar_top < 2:
        return
    rows = bar_bottom - bar_top
    index = np.rint(np.linspace(LUT_SIZE - 1, 0, rows)).astype(np.intp)
    colours = legend.colours
    assert colours is not None, "a colorbar legend has its colours"
    bar = np.repeat(colours[index][:, None, :], BAR_WIDTH, axis=1).astype(np.uint8)
    image.paste(Image.fromarray(np.ascontiguousarray(bar), "RGBA"), (PADDING, bar_top))
    draw.rectangle((PADDING, bar_top, PADDING + BAR_WIDTH - 1, bar_bottom - 1), outline=INK)
    text_x = PADDING * 2 + BAR_WIDTH
    available = image.width - text_x - PADDING
    for label, y in zip(legend.labels, (bar_top, (bar_top + bar_bottom) // 2, bar_bottom)):
        draw.text((text_x, y - half_line), _fit(font, label, available), font=font, fill=INK)


def _draw_swatches(draw: ImageDraw.ImageDraw, font: Font, legend: Legend, top: int,
                   width: int) -> None:
    """One row per entry: a square of its colour, then its label."""
    text_x = PADDING * 2 + SWATCH
    for row, (label, colour) in enumerate(legend.entries):
        y = top + row * ROW_HEIGHT + (ROW_HEIGHT - SWATCH) // 2
        draw.rectangle((PADDING, y, PADDING + SWATCH - 1, y + SWATCH - 1), fill=colour, outline=INK)
        draw.text((text_x, y + 2), _fit(font, label, width - text_x - PADDING), font=font, fill=INK)


def _fit(font: Font, text: str, width: int) -> str:
    """`text`, shortened with an ellipsis until it is at most `width` pixels wide."""
    if _text_width(font, text) <= width:
        return text
    while text and _text_width(font, text + "...") > width:
        text = text[:-1]
    return text + "..." if text else ""


def draw_message(text: str, width: int, height: int, background: Colour) -> np.ndarray:
    """RGBA (4, height, width) uint8: `text` wrapped to the width, on `background`."""
    image = Image.new("RGBA", (width, height), background)
    draw = ImageDraw.Draw(image)
    font = default_font()
    characters = max(8, (width - 2 * PADDING) // max(1, _text_width(font, "n")))
    y = PADDING
    for line in textwrap.wrap(text, characters) or [""]:
        if y > height:
            break
        draw.text((PADDING, y), line, font=font, fill=INK)
        y += _line_height(font)
    return np.ascontiguousarray(np.moveaxis(np.asarray(image), -1, 0))
