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
from cogbrowser.raster.legend import Legend, default_font, draw_legend
from cogbrowser.raster.reader import transformer

__all__ = ["Outline", "Decorations", "decorate", "mask_outside", "outside_mask", "on_background", "scale_length",
           "north_angle", "metres_per_pixel"]

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Rings = Sequence[Sequence[tuple[float, float]]]

INK = (20, 24, 28, 255)
PAPER = (255, 255, 255, 255)  # opaque: a picture may be transparent under it
CAPTION_BACKGROUND = (29, 39, 51, 255)
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
    """`rgba` (4, H, W) uint8, drawn over `bounds` in `crs`, with `decorations` drawn on it (in
    place: the caller's render is changed and returned). Each decoration is drawn on the part of
    the picture it covers only (a caption does not copy a 4096 x 4096 picture twice)."""
    if not decorations.any:
        return rgba
    height, width = rgba.shape[1:]
    unit = _unit(width, height)
    if decorations.outlines:
        transform = Affine.translation(bounds[0], bounds[3]) * Affine.scale(
            (bounds[2] - bounds[0]) / width, (bounds[1] - bounds[3]) / height)
        _draw_outlines(rgba, decorations.outlines, ~transform, unit)
    top = 0
    if decorations.caption:
        top = _draw_caption(rgba, decorations.caption, unit)
    if decorations.north_arrow:
        _draw_north_arrow(rgba, north_angle(crs, bounds, width, height), top, unit)
    if decorations.scale_bar:
        _draw_scale_bar(rgba, metres_per_pixel(crs, bounds, width, height), unit)
    if decorations.legend is not None:
        _paste_legend(rgba, decorations.legend, unit)
    return rgba


class _Region:
    """A part of a picture (RGBA (4, H, W)) to draw on with Pillow, in the whole picture's
    coordinates; written back into the picture when the block ends."""

    def __init__(self, rgba: np.ndarray, box: Sequence[float]) -> None:
        height, width = rgba.shape[1:]
        self.rgba = rgba
        self.x0, self.y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        self.x1, self.y1 = min(width, math.ceil(box[2]) + 1), min(height, math.ceil(box[3]) + 1)

    def __enter__(self) -> _Region:  # band by band: Pillow interleaves planes faster than numpy
        self.image = Image.merge("RGBA", [Image.fromarray(np.ascontiguousarray(plane[self.y0:self.y1, self.x0:self.x1]))
                                          for plane in self.rgba])
        self.draw = ImageDraw.Draw(self.image)
        return self

    def __exit__(self, *exc: object) -> None:
        for plane, band in zip(self.rgba, self.image.split()):
            plane[self.y0:self.y1, self.x0:self.x1] = np.asarray(band)

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def at(self, x: float, y: float) -> tuple[float, float]:
        return x - self.x0, y - self.y0

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return x0 - self.x0, y0 - self.y0, x1 - self.x0, y1 - self.y0

    def points(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x - self.x0, y - self.y0) for x, y in points]


def mask_outside(rgba: np.ndarray, shapes: Sequence[dict], transform: Affine) -> np.ndarray:
    """`rgba` (placed by `transform`) made transparent outside `shapes` (GeoJSON polygons in the
    picture's CRS), in place: the caller's render is changed and returned."""
    np.copyto(rgba[3], 0, where=outside_mask(shapes, transform, rgba.shape[2], rgba.shape[1]))
    return rgba


def on_background(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """`rgba` laid on an opaque `colour` (for a JPEG, which has no transparency: a masked area and
    no data come out in that colour, not as the hidden pixels or black)."""
    alpha = rgba[3].astype(np.float32) / 255
    out = np.empty_like(rgba)
    for band in range(3):
        out[band] = np.rint(rgba[band] * alpha + colour[band] * (1 - alpha))
    out[3] = 255
    return out


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


def _draw_caption(rgba: np.ndarray, caption: str, unit: int) -> int:
    """The caption across the top, wrapped to the picture's width; the height it takes."""
    width = rgba.shape[2]
    font = default_font(unit)
    per_line = max(8, int(width / (unit * 0.55)))
    lines = textwrap.wrap(caption, per_line)[:3]
    line_height = round(unit * 1.3)
    bottom = round(unit * 0.4) * 2 + line_height * len(lines)
    with _Region(rgba, (0, 0, width, bottom)) as region:
        region.draw.rectangle(region.box(0, 0, width, bottom), fill=CAPTION_BACKGROUND)
        for number, line in enumerate(lines):
            region.draw.text(region.at(round(unit * 0.6), round(unit * 0.4) + number * line_height), line,
                             font=font, fill=CAPTION_INK)
    return bottom


def _draw_scale_bar(rgba: np.ndarray, metres_per_px: float, unit: int) -> None:
    """Four black and white segments at the bottom left, the distance written above them."""
    height, width = rgba.shape[1:]
    metres, label = scale_length(metres_per_px, width / 4)
    bar = metres / metres_per_px
    font = default_font(unit)
    margin, thick = unit, max(4, unit // 2)
    left, bottom = margin, height - margin
    text_height = round(unit * 1.2)
    card = (left - unit // 3, bottom - thick - text_height - unit // 3, left + bar + unit // 3, bottom + unit // 3)
    with _Region(rgba, card) as region:
        region.draw.rectangle(region.box(*card), fill=PAPER)
        for part in range(4):
            x0 = left + bar * part / 4
            region.draw.rectangle(region.box(x0, bottom - thick, left + bar * (part + 1) / 4, bottom),
                                  fill=INK if part % 2 == 0 else (255, 255, 255, 255), outline=INK)
        region.draw.text(region.at(left, bottom - thick - text_height), label, font=font, fill=INK)


def _draw_north_arrow(rgba: np.ndarray, angle: float, top: int, unit: int) -> None:
    """An arrow pointing north, an N at its tip, in the top right corner below the caption."""
    width = rgba.shape[2]
    size = unit * 2
    cx, cy = width - unit - size / 2, top + unit + size / 2
    radians = math.radians(angle)

    def point(along: float, across: float) -> tuple[float, float]:  # in the arrow's frame, north up
        return (cx + along * math.sin(radians) + across * math.cos(radians),
                cy - along * math.cos(radians) + across * math.sin(radians))

    tip, tail, half = size * 0.25, -size * 0.65, size * 0.28
    font = default_font(max(10, round(unit * 0.8)))
    with _Region(rgba, (cx - size, cy - size, cx + size, cy + size)) as region:
        region.draw.ellipse(region.box(cx - size * 0.75, cy - size * 0.75, cx + size * 0.75, cy + size * 0.75),
                            fill=PAPER)
        region.draw.polygon(region.points([point(tip, 0), point(tail, -half), point(tail * 0.6, 0)]), fill=INK)
        region.draw.polygon(region.points([point(tip, 0), point(tail * 0.6, 0), point(tail, half)]),
                            fill=(255, 255, 255, 255), outline=INK)
        region.draw.text(region.at(*point(size * 0.5, 0)), "N", font=font, fill=INK, anchor="mm")


def _paste_legend(rgba: np.ndarray, legend: Legend, unit: int) -> None:
    """The legend in the bottom right corner, enlarged for a big picture (whole steps: crisp text),
    shrunk to at most 40 % of a small one's width and half its height."""
    height, width = rgba.shape[1:]
    drawn = Image.fromarray(np.ascontiguousarray(np.moveaxis(draw_legend(legend), 0, -1)), "RGBA")
    factor = max(1, min(unit // 12, 4))
    if factor > 1:
        drawn = drawn.resize((drawn.width * factor, drawn.height * factor), Image.Resampling.NEAREST)
    room = (round(width * 0.4), round(height * 0.5))
    if drawn.width > room[0] or drawn.height > room[1]:
        if min(room) < 20:
            return
        drawn.thumbnail(room)
    left, top = width - unit - drawn.width, height - unit - drawn.height
    with _Region(rgba, (left, top, left + drawn.width - 1, top + drawn.height - 1)) as region:
        region.image.alpha_composite(drawn, (int(region.at(left, top)[0]), int(region.at(left, top)[1])))


def _draw_outlines(rgba: np.ndarray, outlines: Sequence[Outline], to_pixels: Affine, unit: int) -> None:
    """Each footprint as a yellow line on a dark halo; a label above it where there is room: the
    footprint is wider than a few letters, and the label overlaps no other label. Drawn on the
    part of the picture the footprints cover."""
    line = max(2, unit // 6)
    font = default_font(max(10, round(unit * 0.75)))
    drawn = [[[to_pixels * (float(x), float(y)) for x, y in ring] for ring in outline.rings] for outline in outlines]
    xs = [x for rings in drawn for ring in rings for x, _ in ring]
    ys = [y for rings in drawn for ring in rings for _, y in ring]
    if not xs:
        return
    margin = line + 2 + unit * 2  # the halo, and the labels above
    with _Region(rgba, (min(xs) - margin, min(ys) - margin, max(xs) + margin * 8, max(ys) + margin)) as region:
        if region.empty:
            return
        placed: list[tuple[float, float, float, float]] = []
        for outline, rings in zip(outlines, drawn):
            for ring in rings:
                if len(ring) < 2:
                    continue
                points = region.points(ring)
                region.draw.line([*points, points[0]], fill=OUTLINE_HALO, width=line + 2)
                region.draw.line([*points, points[0]], fill=OUTLINE, width=line)
            if not outline.label or not rings or not rings[0] or len(placed) >= MAX_LABELLED_OUTLINES:
                continue
            ring_xs, ring_ys = [p[0] for p in rings[0]], [p[1] for p in rings[0]]
            if max(ring_xs) - min(ring_xs) < unit * 2:
                continue  # too small for a label to say which it is
            anchor = region.at(min(ring_xs), min(ring_ys) - line)
            box = region.draw.textbbox(anchor, outline.label, font=font, anchor="ld")
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                continue
            placed.append(box)
            region.draw.text(anchor, outline.label, font=font, fill=OUTLINE, anchor="ld",
                             stroke_width=max(1, line // 2), stroke_fill=OUTLINE_HALO)
