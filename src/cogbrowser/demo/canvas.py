"""Pixel grids in the demo's world, and anti-aliased drawing of shapes on them.

World coordinates are local metres: u east and v south of the demo origin (UTM 33N x0, y0). A shape
is drawn from its signed distance, so a tank is a soft 4-pixel disk at 10 m and a crisp 80-pixel disk
with a rim at 0.5 m, from the same description.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine

CRS = "EPSG:32633"
X0, Y0 = 380000.0, 5080000.0  # UTM 33N of local (0, 0): the Sentinel-2 scene's top-left corner


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: top-left corner (u0, v0) in local metres, square pixels of `px` metres."""

    u0: float
    v0: float
    px: float
    width: int
    height: int

    @property
    def us(self) -> np.ndarray:
        return (self.u0 + (np.arange(self.width) + 0.5) * self.px).astype(np.float64)

    @property
    def vs(self) -> np.ndarray:
        return (self.v0 + (np.arange(self.height) + 0.5) * self.px).astype(np.float64)

    @property
    def transform(self) -> Affine:
        return Affine(self.px, 0.0, X0 + self.u0, 0.0, -self.px, Y0 - self.v0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(umin, vmin, umax, vmax) in local metres."""
        return self.u0, self.v0, self.u0 + self.width * self.px, self.v0 + self.height * self.px

    def to_pixel(self, u, v):
        """Column and row (fractional, origin top-left corner) of local coordinates."""
        return (np.asarray(u) - self.u0) / self.px, (np.asarray(v) - self.v0) / self.px

    def contains(self, u: float, v: float, margin: float = 0.0) -> bool:
        umin, vmin, umax, vmax = self.bounds
        return umin + margin <= u <= umax - margin and vmin + margin <= v <= vmax - margin

    def window(self, umin: float, vmin: float, umax: float, vmax: float):
        """Row/column slices covering a local box, clipped to the grid; None when outside."""
        c0 = max(0, int(math.floor((umin - self.u0) / self.px)))
        c1 = min(self.width, int(math.ceil((umax - self.u0) / self.px)))
        r0 = max(0, int(math.floor((vmin - self.v0) / self.px)))
        r1 = min(self.height, int(math.ceil((vmax - self.v0) / self.px)))
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    def local(self, win):
        """Pixel-centre coordinates (V column, U row) of a window, for broadcasting."""
        rows, cols = win
        return self.vs[rows][:, None], self.us[cols][None, :]


def coverage(signed_distance: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance in metres (negative inside)."""
    return np.clip(0.5 - signed_distance / px, 0.0, 1.0).astype(np.float32)


# -- shapes: each returns (window, alpha) or None -------------------------------------------------
def rect(grid: Grid, cu: float, cv: float, length: float, width: float, angle: float = 0.0):
    """A rectangle centred at (cu, cv), `length` along direction `angle` (radians from +u toward +v)."""
    reach = 0.5 * math.hypot(length, width) + 2 * grid.px
    win = grid.window(cu - reach, cv - reach, cu + reach, cv + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    ca, sa = math.cos(angle), math.sin(angle)
    du, dv = U - cu, V - cv
    along = du * ca + dv * sa
    across = -du * sa + dv * ca
    sd = np.maximum(np.abs(along) - length / 2, np.abs(across) - width / 2)
    return win, coverage(sd, grid.px)


def disk(grid: Grid, cu: float, cv: float, radius: float):
    reach = radius + 2 * grid.px
    win = grid.window(cu - reach, cv - reach, cu + reach, cv + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    sd = np.sqrt((U - cu) ** 2 + (V - cv) ** 2) - radius
    return win, coverage(sd, grid.px)


def ring(grid: Grid, cu: float, cv: float, radius: float, thickness: float):
    reach = radius + thickness + 2 * grid.px
    win = grid.window(cu - reach, cv - reach, cu + reach, cv + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    sd = np.abs(np.sqrt((U - cu) ** 2 + (V - cv) ** 2) - radius) - thickness / 2
    return win, coverage(sd, grid.px)


def hull(grid: Grid, cu: float, cv: float, length: float, beam: float, heading: float, bow: float | None = None):
    """A ship's hull: a long rectangle whose front `bow` metres taper to a point (heading = bow direction)."""
    bow = bow if bow is not None else min(length * 0.22, beam * 2.2)
    reach = 0.5 * math.hypot(length, beam) + 2 * grid.px
    win = grid.window(cu - reach, cv - reach, cu + reach, cv + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    ca, sa = math.cos(heading), math.sin(heading)
    du, dv = U - cu, V - cv
    along = du * ca + dv * sa
    across = -du * sa + dv * ca
    taper = np.clip((length / 2 - along) / bow, 0.0, 1.0) ** 0.6
    half = beam / 2 * taper
    sd = np.maximum(np.abs(across) - half, np.abs(along) - length / 2)
    return win, coverage(sd, grid.px)


def segment(grid: Grid, p0: tuple[float, float], p1: tuple[float, float], width: float):
    """A straight band of `width` metres from p0 to p1 (round caps)."""
    (u0, v0), (u1, v1) = p0, p1
    reach = width / 2 + 2 * grid.px
    win = grid.window(min(u0, u1) - reach, min(v0, v1) - reach, max(u0, u1) + reach, max(v0, v1) + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    du, dv = u1 - u0, v1 - v0
    length2 = du * du + dv * dv or 1e-9
    t = np.clip(((U - u0) * du + (V - v0) * dv) / length2, 0.0, 1.0)
    distance = np.sqrt((U - u0 - t * du) ** 2 + (V - v0 - t * dv) ** 2)
    return win, coverage(distance - width / 2, grid.px)


def box_corners(cu: float, cv: float, length: float, width: float, angle: float) -> np.ndarray:
    """The 4 corners (u, v) of a rotated rectangle, shape (4, 2)."""
    ca, sa = math.cos(angle), math.sin(angle)
    hl, hw = length / 2, width / 2
    local = np.array([[hl, hw], [hl, -hw], [-hl, -hw], [-hl, hw]])
    return np.column_stack([cu + local[:, 0] * ca - local[:, 1] * sa, cv + local[:, 0] * sa + local[:, 1] * ca])


class Canvas:
    """Bands of one image being painted: alpha-composites colours over what is there."""

    def __init__(self, grid: Grid, base: np.ndarray) -> None:
        self.grid = grid
        base = np.asarray(base, dtype=np.float32)
        self.bands = len(base)
        self.img = np.empty((self.bands, grid.height, grid.width), dtype=np.float32)
        self.img[:] = base[:, None, None]

    @classmethod
    def wrap(cls, grid: Grid, img: np.ndarray) -> Canvas:
        """A canvas painting into an existing (bands, H, W) float32 array."""
        canvas = cls.__new__(cls)
        canvas.grid, canvas.bands, canvas.img = grid, len(img), img
        return canvas

    def paint(self, shape, colour, opacity: float = 1.0) -> None:
        """Composite `colour` (one value per band) over the shape's coverage."""
        if shape is None:
            return
        (rows, cols), alpha = shape
        if opacity != 1.0:
            alpha = alpha * np.float32(opacity)
        view = self.img[:, rows, cols]
        if any(np.ndim(value) for value in colour):  # per-band arrays (textures)
            for band in range(self.bands):
                view[band] += (np.asarray(colour[band], dtype=np.float32) - view[band]) * alpha
            return
        colour = np.asarray(colour, dtype=np.float32)[:, None, None]
        view += (colour - view) * alpha

    def paint_full(self, alpha: np.ndarray, colour) -> None:
        """Composite a colour (per band: a value or an (H, W) array) over a full-grid coverage."""
        for band in range(self.bands):
            value = colour[band]
            self.img[band] += (np.asarray(value, dtype=np.float32) - self.img[band]) * alpha

    def shade(self, shape, factor: float) -> None:
        """Darken under a shape (shadows): multiply by 1 - (1 - factor) * coverage."""
        if shape is None:
            return
        (rows, cols), alpha = shape
        view = self.img[:, rows, cols]
        view *= 1.0 - (1.0 - np.float32(factor)) * alpha
