"""The map's place names, drawn by the app: 256 px transparent PNG tiles (WebMercatorQuad, XYZ)
laid over the imagery.

Which places get a label is decided once per zoom for the whole world (`placement`): places are
taken biggest first and a label is kept only if its box (dot, name and halo) overlaps no label kept
before. So labels never overlap, the same places are named in every tile, and a label that crosses
a tile edge is drawn at the same world pixel in both tiles: the halves meet exactly. Small towns
wait for closer zooms (`min_population`). A label that would cross the antimeridian is left out.
Names are drawn without accents: Pillow's bundled font, there on every machine, has ASCII only.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from PIL import Image, ImageDraw

from cogbrowser.places.gazetteer import DATA, Place, gazetteer, unaccented
from cogbrowser.raster.legend import default_font

TILE = 256
MAX_ZOOM = 22
FONT_SIZE = 12
INK, HALO, DOT = (33, 37, 41, 255), (255, 255, 255, 255), (33, 37, 41, 255)
HALO_WIDTH = 2
DOT_RADIUS = 2
GAP = 4  # between the dot and the name
MARGIN = 3  # kept free around every label
MAX_LATITUDE = 85.0511  # WebMercatorQuad's
CACHED_ZOOMS = 8
DATA_VERSION = f"{DATA.stat().st_size}-{DATA.stat().st_mtime_ns}"  # for the tiles' ETags: new data, new tiles


@dataclass(frozen=True)
class Label:
    name: str
    x: int  # the place's world pixel at the zoom
    y: int
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive), world pixels, with halo and margin
    text_origin: tuple[int, int]  # where the text is drawn


def min_population(zoom: int) -> int:
    """The smallest place named at a zoom: 1.25 million at zoom 2, halving with each zoom in."""
    return max(0, int(5_000_000 / 2 ** zoom))


def printable(name: str) -> str:
    """The name in the letters Pillow's bundled font has (ASCII): Zürich is drawn Zurich."""
    return unaccented(name).encode("ascii", "ignore").decode("ascii")


def world_pixel(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    size = TILE * 2 ** zoom
    sin = math.sin(math.radians(lat))
    x = (lon + 180.0) / 360.0 * size
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * size
    return math.floor(x), math.floor(y)


class Placement:
    """The labels of one zoom, and which of them reach into each tile."""

    def __init__(self, zoom: int, places: list[Place]) -> None:
        self.zoom = zoom
        self.labels: list[Label] = []
        self.by_tile: dict[tuple[int, int], list[int]] = defaultdict(list)
        font = default_font(FONT_SIZE)
        world = TILE * 2 ** zoom
        cell = 128
        taken: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
        smallest = min_population(zoom)
        for place in places:  # biggest first
            if place.population < smallest:
                break
            if abs(place.lat) > MAX_LATITUDE:
                continue
            name = printable(place.name)
            x, y = world_pixel(place.lat, place.lon, zoom)
            left, top, right, bottom = (int(v) for v in font.getbbox(name, stroke_width=HALO_WIDTH))
            text_x = x + DOT_RADIUS + GAP
            text_y = y - (top + bottom) // 2
            box = (min(x - DOT_RADIUS - 1, text_x + left) - MARGIN, min(y - DOT_RADIUS - 1, text_y + top) - MARGIN,
                   text_x + right + MARGIN, max(y + DOT_RADIUS + 2, text_y + bottom) + MARGIN)
            if box[0] < 0 or box[2] > world:
                continue
            cells = [(cx, cy) for cx in range(box[0] // cell, (box[2] - 1) // cell + 1)
                     for cy in range(box[1] // cell, (box[3] - 1) // cell + 1)]
            if any(_overlap(box, other) for c in cells for other in taken[c]):
                continue
            for c in cells:
                taken[c].append(box)
            index = len(self.labels)
            self.labels.append(Label(name, x, y, box, (text_x, text_y)))
            for tx in range(max(box[0], 0) // TILE, (box[2] - 1) // TILE + 1):
                for ty in range(max(box[1], 0) // TILE, (box[3] - 1) // TILE + 1):
                    self.by_tile[(tx, ty)].append(index)

    def tile_labels(self, x: int, y: int) -> list[Label]:
        return [self.labels[index] for index in self.by_tile.get((x, y), ())]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


_lock = threading.Lock()
_placements: OrderedDict[int, Placement] = OrderedDict()


def placement(zoom: int) -> Placement:
    """The labels of a zoom (0 to MAX_ZOOM), placed on first use and kept for the last few zooms asked."""
    if not 0 <= zoom <= MAX_ZOOM:
        raise ValueError(f"zoom {zoom} is outside 0 to {MAX_ZOOM}")
    with _lock:
        if zoom in _placements:
            _placements.move_to_end(zoom)
            return _placements[zoom]
        placed = _placements[zoom] = Placement(zoom, gazetteer().places)
        while len(_placements) > CACHED_ZOOMS:
            _placements.popitem(last=False)
        return placed


def tile_png(zoom: int, x: int, y: int) -> bytes:
    """The labels of tile z/x/y as a transparent 256 px PNG (transparent everywhere without one)."""
    image = Image.new("RGBA", (TILE, TILE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    font = default_font(FONT_SIZE)
    origin_x, origin_y = x * TILE, y * TILE
    for label in placement(zoom).tile_labels(x, y):
        dot_x, dot_y = label.x - origin_x, label.y - origin_y
        draw.ellipse((dot_x - DOT_RADIUS - 1, dot_y - DOT_RADIUS - 1, dot_x + DOT_RADIUS + 1, dot_y + DOT_RADIUS + 1),
                     fill=HALO)
        draw.ellipse((dot_x - DOT_RADIUS, dot_y - DOT_RADIUS, dot_x + DOT_RADIUS, dot_y + DOT_RADIUS), fill=DOT)
        draw.text((label.text_origin[0] - origin_x, label.text_origin[1] - origin_y), label.name, font=font,
                  fill=INK, stroke_width=HALO_WIDTH, stroke_fill=HALO)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
