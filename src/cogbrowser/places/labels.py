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

import numpy as np
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
    """The labels of one zoom, kept compact (numpy rows): tens of thousands at the closer zooms."""

    def __init__(self, zoom: int, places: list[Place]) -> None:
        self.zoom = zoom
        names, extents = _texts(places)
        world = TILE * 2 ** zoom
        cell = 128
        taken: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
        smallest = min_population(zoom)
        chosen: list[int] = []
        rows: list[tuple[int, ...]] = []  # x, y, box (left, top, right, bottom), text origin (x, y)
        for index, place in enumerate(places):  # biggest first
            if place.population < smallest:
                break
            if abs(place.lat) > MAX_LATITUDE:
                continue
            x, y = world_pixel(place.lat, place.lon, zoom)
            left, top, right, bottom = extents[index]
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
            chosen.append(index)
            rows.append((x, y, *box, text_x, text_y))
        self.names = [names[index] for index in chosen]
        self._rows = np.array(rows, dtype=np.int64).reshape(-1, 8)

    @property
    def labels(self) -> list[Label]:
        return [self._label(row) for row in range(len(self.names))]

    def tile_labels(self, x: int, y: int) -> list[Label]:
        """The labels that reach into tile x, y."""
        rows, left, top = self._rows, x * TILE, y * TILE
        inside = (rows[:, 2] < left + TILE) & (rows[:, 4] > left) & (rows[:, 3] < top + TILE) & (rows[:, 5] > top)
        return [self._label(int(row)) for row in np.flatnonzero(inside)]

    def _label(self, row: int) -> Label:
        x, y, left, top, right, bottom, text_x, text_y = (int(v) for v in self._rows[row])
        return Label(self.names[row], x, y, (left, top, right, bottom), (text_x, text_y))


_texts_lock = threading.Lock()
_texts_of: tuple[list[Place], list[str], list[tuple[int, int, int, int]]] | None = None


def _texts(places: list[Place]) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    """Every place's name as drawn and its text box (with the halo) from the text origin: the same
    at every zoom, so measured once."""
    global _texts_of
    with _texts_lock:
        if _texts_of is None or _texts_of[0] is not places:
            font = default_font(FONT_SIZE)
            names = [printable(place.name) for place in places]
            extents = []
            for name in names:
                left, top, right, bottom = font.getbbox(name, stroke_width=HALO_WIDTH)
                extents.append((int(left), int(top), int(right), int(bottom)))
            _texts_of = (places, names, extents)
        _, names, extents = _texts_of
        return names, extents


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


_lock = threading.Lock()
_placements: OrderedDict[int, Placement] = OrderedDict()
_placing = {zoom: threading.Lock() for zoom in range(MAX_ZOOM + 1)}  # one zoom placed once, others meanwhile served


def placement(zoom: int) -> Placement:
    """The labels of a zoom (0 to MAX_ZOOM), placed on first use (up to 1.5 s) and kept for the last
    few zooms asked."""
    if not 0 <= zoom <= MAX_ZOOM:
        raise ValueError(f"zoom {zoom} is outside 0 to {MAX_ZOOM}")
    with _placing[zoom]:
        with _lock:
            if zoom in _placements:
                _placements.move_to_end(zoom)
                return _placements[zoom]
        placed = Placement(zoom, gazetteer().places)
        with _lock:
            _placements[zoom] = placed
            while len(_placements) > CACHED_ZOOMS:
                _placements.popitem(last=False)
        return placed


def warm_up() -> threading.Thread:
    """Read the gazetteer and measure every name in a background thread (about 2 s of one core), so
    that neither the first place search nor the first label tile waits for them: for a server at
    start-up."""
    thread = threading.Thread(target=placement, args=(0,), name="places-warm-up", daemon=True)
    thread.start()
    return thread


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
