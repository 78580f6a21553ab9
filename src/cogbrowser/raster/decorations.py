"""Report-ready pictures: a scale bar, a north arrow, a legend, a caption and detections' outlines
drawn on an exported picture, and the picture masked outside an area of interest.

An export is drawn on a grid in some CRS, where neither the ground distance of a pixel nor the
direction of north is a constant: both are measured at the picture's centre (on the WGS 84
ellipsoid, through pyproj), so a scale bar on a UTM, Web Mercator or lon/lat picture tells the
truth there. Texts grow with the picture (a 4096-pixel export gets text a reader can see once the
picture is shrunk onto a page). Pure functions over numpy, Pillow and pyproj; nothing of HTTP.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from PIL import Image, ImageDraw, ImageFont
from pyproj import Geod
from rasterio.crs import CRS
from rasterio.features import geometry_mask

from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.crs import WGS84
from cogbrowser.raster.legend import Legend, draw_legend
from cogbrowser.raster.reader import transformer

__all__ = ["Outline", "Decorations", "decorate", "mask_outside", "outside_mask", "scale_length", "north_angle",
           "metres_per_pixel"]

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Rings = Sequence[Sequence[tuple[float, float]]]

INK = (20, 24, 28, 255)
PAPER = (255, 255, 255, 235)
CAPTION_BACKGROUND = (29, 39, 51, 225)
CAPTION_INK = (255, 255, 255, 255)
OUTLINE = (255, 214, 0, 255)  # detections: yellow on a dark halo, visible on any imagery
OUTLINE_HALO = (0, 0, 0, 200)
MAX_LABELLED_OUTLINES = 300  # labels on one picture: more would only hide it
_WGS84_ELLIPSOID = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Outline:
    """A detection's footprint in the picture's CRS (exterior rings of its polygons) and its label."""

    rings: Rings
    label: str = ""


@dataclass(frozen=True)
class Decorations:
    """What to draw on a picture; the default draws nothing."""

    scale_bar: bool = False
    north_arrow: bool = False
    legend: Legend | None = None
    caption: str | None = None
    outlines: Sequence[Outline] = field(default_factory=tuple)

    @property
    def any(self) -> bool:
        return bool(self.scale_bar or self.north_arrow or self.legend or self.caption or self.outlines)


def decorate(rgba: np.ndarray, crs: CRS, bounds: Bounds, decorations: Decorations) -> np.ndarray:
    """RGBA (4, H, W) uint8 of the picture `rgba` (drawn over `bounds` in `crs`) with `decorations`."""
    if not decorations.any:
        return rgba
    height, width = rgba.shape[1:]
    picture = Image.fromarray(np.ascontiguousarray(np.moveaxis(rgba, 0, -1)), "RGBA")
    draw = ImageDraw.Draw(picture)
    unit = _unit(width, height)
    transform = Affine.translation(bounds[0], bounds[3]) * Affine.scale(
        (bounds[2] - bounds[0]) / width, (bounds[1] - bounds[3]) / height)
    if decorations.outlines:
        _draw_outlines(draw, decorations.outlines, ~transform, unit)
    top = 0
    if decorations.caption:
        top = _draw_caption(draw, decorations.caption, width, unit)
    if decorations.north_arrow:
        _draw_north_arrow(draw, north_angle(crs, bounds, width, height), width, top, unit)
    if decorations.scale_bar:
        _draw_scale_bar(draw, metres_per_pixel(crs, bounds, width, height), width, height, unit)
    if decorations.legend is not None:
        _paste_legend(picture, decorations.legend, unit)
    return np.ascontiguousarray(np.moveaxis(np.asarray(picture), -1, 0))


def mask_outside(rgba: np.ndarray, shapes: Sequence[dict], transform: Affine) -> np.ndarray:
    """`rgba` (placed by `transform`) made transparent outside `shapes` (GeoJSON polygons in the
    picture's CRS)."""
    masked = rgba.copy()
    masked[3][outside_mask(shapes, transform, rgba.shape[2], rgba.shape[1])] = 0
    return masked


def outside_mask(shapes: Sequence[dict], transform: Affine, width: int, height: int) -> np.ndarray:
    """(height, width) bool: True where a pixel's centre lies outside every shape."""
    return geometry_mask(shapes, out_shape=(height, width), transform=transform)


# ---------------------------------------------------------------- measuring

def _centre(crs: CRS, bounds: Bounds) -> tuple[float, float]:
    return (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2


def metres_per_pixel(crs: CRS, bounds: Bounds, width: int, height: int) -> float:
    """The ground distance of one pixel across the picture's centre, in metres (geodesic)."""
    x, y = _centre(crs, bounds)
    step = (bounds[2] - bounds[0]) / width
    lons, lats = transformer(crs, WGS84).transform([x - step * width / 8, x + step * width / 8], [y, y])
    _, _, metres = _WGS84_ELLIPSOID.inv(lons[0], lats[0], lons[1], lats[1])
    return float(metres) / (width / 4)


def north_angle(crs: CRS, bounds: Bounds, width: int, height: int) -> float:
    """Where north points at the picture's centre: degrees clockwise from the picture's up."""
    x, y = _centre(crs, bounds)
    lons, lats = transformer(crs, WGS84).transform([x], [y])
    span = abs(bounds[3] - bounds[1]) / height  # a pixel, in the CRS's units
    xs, ys = transformer(WGS84, crs).transform([lons[0]], [min(lats[0] + 0.01, 89.999)])
    dx, dy = (xs[0] - x) / span, (ys[0] - y) / span  # in pixels, y up
    if not (math.isfinite(dx) and math.isfinite(dy)) or dx == dy == 0:
        return 0.0
    return math.degrees(math.atan2(dx, dy))


def scale_length(metres_per_px: float, longest_px: float) -> tuple[float, str]:
    """The longest round distance (1, 2 or 5 x 10^n m) that fits in `longest_px` pixels, with its
    label ("500 m", "2 km")."""
    most = metres_per_px * longest_px
    power = 10 ** math.floor(math.log10(most))
    metres = max(step * power for step in (1, 2, 5) if step * power <= most)
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    return metres, label


# ---------------------------------------------------------------- drawing

def _unit(width: int, height: int) -> int:
    """The size of small things (text, margins) for a picture: readable once shrunk onto a page."""
    return max(12, round(min(width, height) / 45))


def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _draw_caption(draw: ImageDraw.ImageDraw, caption: str, width: int, unit: int) -> int:
    """The caption across the top, wrapped to the picture's width; the height it takes."""
    font = _font(unit)
    per_line = max(8, int(width / (unit * 0.55)))
    lines = textwrap.wrap(caption, per_line)[:3]
    line_height = round(unit * 1.3)
    bottom = round(unit * 0.4) * 2 + line_height * len(lines)
    draw.rectangle((0, 0, width, bottom), fill=CAPTION_BACKGROUND)
    for number, line in enumerate(lines):
        draw.text((round(unit * 0.6), round(unit * 0.4) + number * line_height), line, font=font, fill=CAPTION_INK)
    return bottom


def _draw_scale_bar(draw: ImageDraw.ImageDraw, metres_per_px: float, width: int, height: int, unit: int) -> None:
    """Four black and white segments at the bottom left, the distance written above them."""
    metres, label = scale_length(metres_per_px, width / 4)
    bar = metres / metres_per_px
    font = _font(unit)
    margin, thick = unit, max(4, unit // 2)
    left, bottom = margin, height - margin
    text_height = round(unit * 1.2)
    draw.rectangle((left - unit // 3, bottom - thick - text_height - unit // 3, left + bar + unit // 3,
                    bottom + unit // 3), fill=PAPER)
    for part in range(4):
        x0 = left + bar * part / 4
        draw.rectangle((x0, bottom - thick, left + bar * (part + 1) / 4, bottom),
                       fill=INK if part % 2 == 0 else (255, 255, 255, 255), outline=INK)
    draw.text((left, bottom - thick - text_height), label, font=font, fill=INK)


def _draw_north_arrow(draw: ImageDraw.ImageDraw, angle: float, width: int, top: int, unit: int) -> None:
    """An arrow pointing north, an N at its tail, in the top right corner below the caption."""
    size = unit * 2
    cx, cy = width - unit - size / 2, top + unit + size / 2
    draw.ellipse((cx - size * 0.75, cy - size * 0.75, cx + size * 0.75, cy + size * 0.75), fill=PAPER)
    radians = math.radians(angle)

    def point(along: float, across: float) -> tuple[float, float]:  # in the arrow's frame, north up
        return (cx + along * math.sin(radians) + across * math.cos(radians),
                cy - along * math.cos(radians) + across * math.sin(radians))

    tip, tail, half = size * 0.25, -size * 0.65, size * 0.28
    draw.polygon([point(tip, 0), point(tail, -half), point(tail * 0.6, 0)], fill=INK)
    draw.polygon([point(tip, 0), point(tail * 0.6, 0), point(tail, half)], fill=(255, 255, 255, 255), outline=INK)
    font = _font(max(10, round(unit * 0.8)))
    draw.text(point(size * 0.5, 0), "N", font=font, fill=INK, anchor="mm")


def _paste_legend(picture: Image.Image, legend: Legend, unit: int) -> None:
    """The legend in the bottom right corner, enlarged for a big picture (whole steps: crisp text),
    shrunk to at most 40 % of a small one's width and half its height."""
    drawn = Image.fromarray(np.ascontiguousarray(np.moveaxis(draw_legend(legend), 0, -1)), "RGBA")
    factor = max(1, min(unit // 12, 4))
    if factor > 1:
        drawn = drawn.resize((drawn.width * factor, drawn.height * factor), Image.Resampling.NEAREST)
    room = (round(picture.width * 0.4), round(picture.height * 0.5))
    if drawn.width > room[0] or drawn.height > room[1]:
        if min(room) < 20:
            return
        drawn.thumbnail(room)
    picture.alpha_composite(drawn, (picture.width - unit - drawn.width, picture.height - unit - drawn.height))


def _draw_outlines(draw: ImageDraw.ImageDraw, outlines: Sequence[Outline], to_pixels: Affine, unit: int) -> None:
    """Each footprint as a yellow line on a dark halo; a label above it where there is room: the
    footprint is wider than a few letters, and the label overlaps no other label."""
    line = max(2, unit // 6)
    font = _font(max(10, round(unit * 0.75)))
    placed: list[tuple[float, float, float, float]] = []
    for outline in outlines:
        rings = [[to_pixels * (float(x), float(y)) for x, y in ring] for ring in outline.rings]
        for points in rings:
            if len(points) < 2:
                continue
            draw.line([*points, points[0]], fill=OUTLINE_HALO, width=line + 2)
            draw.line([*points, points[0]], fill=OUTLINE, width=line)
        if not outline.label or not rings or not rings[0] or len(placed) >= MAX_LABELLED_OUTLINES:
            continue
        xs, ys = [p[0] for p in rings[0]], [p[1] for p in rings[0]]
        if max(xs) - min(xs) < unit * 2:
            continue  # too small for a label to say which it is
        box = draw.textbbox((min(xs), min(ys) - line), outline.label, font=font, anchor="ld")
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        draw.text((min(xs), min(ys) - line), outline.label, font=font, fill=OUTLINE, anchor="ld",
                  stroke_width=max(1, line // 2), stroke_fill=OUTLINE_HALO)
