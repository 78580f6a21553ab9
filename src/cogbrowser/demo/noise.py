"""Deterministic randomness for the demo: named seeds, value noise on a world lattice, integer hashes.

Every random stream is derived from one seed and a name (`rng("clouds", date)`), so adding a feature
never shifts the numbers of another, and every run produces the same bytes. Noise lives on a lattice
in world metres: a grid at 10 m and one at 0.5 m sample the same hills and coastline.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np

SEED = 20240412
# Where lattices are defined (local metres: u east, v south of the demo origin), with room around
# every grid the demo renders (the DEM reaches furthest).
WORLD_BOUNDS = (-4000.0, -9000.0, 36000.0, 30000.0)
_MAX_LATTICE = 4_000_000


def rng(*names: object) -> np.random.Generator:
    """A generator seeded by the demo seed and the given names (stable across runs and platforms)."""
    return np.random.default_rng([SEED, *(zlib.crc32(str(name).encode()) for name in names)])


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def ramp(x: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 1 above hi, smooth in between."""
    return smoothstep(np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0))


@lru_cache(maxsize=256)
def _lattice(name: str, cell: float, bounds: tuple[float, float, float, float]) -> np.ndarray:
    u0, v0, u1, v1 = bounds
    shape = (int(math.ceil((v1 - v0) / cell)) + 3, int(math.ceil((u1 - u0) / cell)) + 3)
    return rng("lattice", name, cell, bounds).standard_normal(shape, dtype=np.float32)


def _axis(coords: np.ndarray, origin: float, cell: float) -> tuple[np.ndarray, np.ndarray]:
    position = (np.asarray(coords, dtype=np.float64) - origin) / cell
    index = np.floor(position).astype(np.intp)
    return index, smoothstep((position - index).astype(np.float32))


def value_noise(name: str, us: np.ndarray, vs: np.ndarray, cell: float,
                bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Smooth noise (about N(0, 0.5)) sampled on the grid of pixel centres us (W,) x vs (H,) -> (H, W).

    The lattice spans the world, so any grid samples the same field; a lattice that would be too big
    (fine cells) spans the grid only, which is consistent enough for texture.
    """
    if bounds is None:
        bounds = WORLD_BOUNDS
        if ((bounds[2] - bounds[0]) / cell) * ((bounds[3] - bounds[1]) / cell) > _MAX_LATTICE:
            bounds = (float(us[0]) - cell, float(vs[0]) - cell, float(us[-1]) + cell, float(vs[-1]) + cell)
    lattice = _lattice(name, float(cell), tuple(float(b) for b in bounds))
    iu, tu = _axis(us, bounds[0], cell)
    iv, tv = _axis(vs, bounds[1], cell)
    lo, hi = int(iv.min()), int(iv.max()) + 2
    rows = lattice[lo:hi]
    along_u = rows[:, iu] * (1.0 - tu) + rows[:, iu + 1] * tu
    iv = iv - lo
    tv = tv[:, None]
    return along_u[iv] * (1.0 - tv) + along_u[iv + 1] * tv


def value_noise_points(name: str, u: np.ndarray, v: np.ndarray, cell: float) -> np.ndarray:
    """The same world noise as `value_noise`, at scattered points (world lattice only)."""
    bounds = WORLD_BOUNDS
    lattice = _lattice(name, float(cell), bounds)
    iu, tu = _axis(u, bounds[0], cell)
    iv, tv = _axis(v, bounds[1], cell)
    top = lattice[iv, iu] * (1.0 - tu) + lattice[iv, iu + 1] * tu
    bottom = lattice[iv + 1, iu] * (1.0 - tu) + lattice[iv + 1, iu + 1] * tu
    return top * (1.0 - tv) + bottom * tv


def fbm(name: str, us: np.ndarray, vs: np.ndarray, cell: float, octaves: int, gain: float = 0.5,
        lacunarity: float = 2.0) -> np.ndarray:
    """Fractal sum of value-noise octaves from `cell` down; roughly unit variance."""
    total = None
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        layer = value_noise(f"{name}/{octave}", us, vs, cell / lacunarity ** octave)
        total = layer * amplitude if total is None else total + layer * amplitude
        norm += amplitude ** 2
        amplitude *= gain
    return total * np.float32(1.6 / math.sqrt(norm))


def fbm_points(name: str, u: np.ndarray, v: np.ndarray, cell: float, octaves: int, gain: float = 0.5) -> np.ndarray:
    total: np.ndarray = np.zeros(np.broadcast_shapes(np.shape(u), np.shape(v)), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        total = total + value_noise_points(f"{name}/{octave}", u, v, cell / 2.0 ** octave) * amplitude
        norm += amplitude ** 2
        amplitude *= gain
    return total * np.float32(1.6 / math.sqrt(norm))


@lru_cache(maxsize=64)
def _lattice_1d(name: str, octave: int, step: float) -> np.ndarray:
    count = int(math.ceil((WORLD_BOUNDS[3] - WORLD_BOUNDS[1] + 20000.0) / step)) + 3
    return rng("noise1d", name, octave).standard_normal(count)


def noise_1d(name: str, x: np.ndarray | float, cell: float, octaves: int = 1, gain: float = 0.5) -> np.ndarray:
    """Smooth 1-D fractal noise along a world axis (coastline, river meanders); roughly unit variance."""
    x = np.asarray(x, dtype=np.float64)
    lo = WORLD_BOUNDS[1] - 2000.0
    total = np.zeros(x.shape, dtype=np.float64)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        step = cell / 2.0 ** octave
        lattice = _lattice_1d(name, octave, step)
        position = (x - lo) / step
        index = np.floor(position).astype(np.intp)
        t = smoothstep(position - index)
        total += (lattice[index] * (1.0 - t) + lattice[index + 1] * t) * amplitude
        norm += amplitude ** 2
        amplitude *= gain
    return total * (1.6 / math.sqrt(norm))


# -- integer hashing: per-parcel / per-block attributes without enumerating them ------------------
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (in place where it can)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def hash_ints(*parts: np.ndarray | int) -> np.ndarray:
    """A well-mixed uint64 hash of integer arrays."""
    with np.errstate(over="ignore"):
        h = np.asarray(SEED, dtype=np.uint64)
        for part in parts:
            x = np.asarray(part).astype(np.int64).view(np.uint64) if np.ndim(part) else \
                np.asarray(int(part) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
            h = _mix(x + h * _GOLDEN)
    return h


def hash_unit(key: np.ndarray, salt: int) -> np.ndarray:
    """A float32 in [0, 1) from an integer key (or hash) and a salt: independent values per salt."""
    with np.errstate(over="ignore"):
        x = np.asarray(key).astype(np.uint64) if np.asarray(key).dtype != np.uint64 else np.array(key, copy=True)
        x += np.uint64((SEED * 1000003 + salt * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF)
        x = _mix(x)
    return (x >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
