"""The demo's world: one stretch of Adriatic coast (roughly the Gulf of Trieste) in UTM 33N.

Geography is described once, in local metres (u east, v south of the Sentinel-2 scene's top-left
corner), as functions and lists of objects: the coastline, a river, a lake, hills, a town with a
street grid, a port with piers, a tank farm and warehouses, an airfield. The Sentinel-2 scenes, the
aerial photo, the DEM and the detections are all rendered or derived from this one description, so
a tank in the aerial photo is the bright dot in the Sentinel-2 scene and a detection box lands on it.

Layout (Sentinel-2 scene, 20.48 km square): sea to the west; the coast runs NNW-SSE; the river
reaches the sea in the north; the town and port are mid-coast; forested hills and a lake in the
north-east; fields in the plain; the airfield in the south-east.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cogbrowser.demo.canvas import Grid
from cogbrowser.demo.noise import fbm, fbm_points, hash_unit, noise_1d, ramp, rng

S2_GRID = Grid(0.0, 0.0, 10.0, 2048, 2048)
AERIAL_GRID = Grid(7900.0, 10900.0, 0.5, 4096, 4096)
DEM_GRID = Grid(0.0, -5120.0, 30.0, 1024, 1024)

# -- coast and port ---------------------------------------------------------------------------
QUAY_U = 9000.0               # the port's straight quay line
PORT_V = (10800.0, 13200.0)   # the port's extent along the coast
PORT_LAND_U = (9000.0, 9950.0)  # port land between the quay and the town


def natural_coast_u(v):
    return 6000.0 + 0.25 * np.asarray(v, dtype=np.float64) + 650.0 * noise_1d("coast", v, 5000.0, 5)


def coast_u(v):
    """u of the shoreline at v: sea where u < coast_u(v). Straight along the port's quay."""
    v = np.asarray(v, dtype=np.float64)
    port = ramp(v, PORT_V[0] - 500, PORT_V[0]) * (1.0 - ramp(v, PORT_V[1], PORT_V[1] + 500))
    return natural_coast_u(v) * (1.0 - port) + QUAY_U * port


def land_distance(us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Approximate distance from the shoreline on a grid (metres; negative at sea)."""
    return ((us[None, :] - coast_u(vs)[:, None]) * 0.97).astype(np.float32)


@dataclass(frozen=True)
class Box:
    """A rotated rectangle in local metres: centre, length along `angle`, width across, height."""

    cu: float
    cv: float
    length: float
    width: float
    angle: float = 0.0
    material: str = "concrete"
    height: float = 0.0


# Piers reach west from the quay: (v centre, length, width)
PIER_SPECS = ((11150.0, 720.0, 110.0), (11620.0, 780.0, 90.0), (12080.0, 650.0, 120.0), (12540.0, 560.0, 80.0))
PIERS = tuple(Box(QUAY_U - length / 2 + 3, v, length + 6, width, 0.0, "pier") for v, length, width in PIER_SPECS)
BREAKWATER = Box(7975.0, 11850.0, 1800.0, 28.0, math.pi / 2, "rock")


def in_port_structures(u: float, v: float, margin: float = 0.0) -> bool:
    """Whether a point is on (or within `margin` of) a pier or the breakwater."""
    for box in (*PIERS, BREAKWATER):
        ca, sa = math.cos(box.angle), math.sin(box.angle)
        du, dv = u - box.cu, v - box.cv
        if abs(du * ca + dv * sa) <= box.length / 2 + margin and abs(-du * sa + dv * ca) <= box.width / 2 + margin:
            return True
    return False


def is_open_water(u: float, v: float, margin: float) -> bool:
    """Sea at least `margin` metres from the shore, the piers and the breakwater."""
    if u > float(coast_u(v)) - margin:
        return False
    if 7850 - margin < u < QUAY_U and PORT_V[0] - 200 - margin < v < PORT_V[1] + 200 + margin:
        return False  # the harbour basin behind the breakwater is for berthed ships only
    return not in_port_structures(u, v, margin)


# -- river and lake ---------------------------------------------------------------------------
RIVER_MOUTH_V = 6200.0


@lru_cache(maxsize=1)
def _mouth_u() -> float:
    return float(coast_u(RIVER_MOUTH_V))


def river_v(u):
    """v of the river's centre line at u (it flows west to the sea)."""
    u = np.asarray(u, dtype=np.float64)
    x = u - _mouth_u()
    return RIVER_MOUTH_V - 0.11 * x + 420.0 * noise_1d("river", u, 2600.0, 3) * ramp(x, 0.0, 1800.0)


def river_width(u):
    x = np.asarray(u, dtype=np.float64) - _mouth_u()
    return 28.0 + 52.0 * np.exp(-np.clip(x, 0, None) / 2500.0)


def river_distance(us: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from the river's centre line on a grid, and the river's width per column."""
    centre = river_v(us)
    slope = (river_v(us + 1.0) - river_v(us - 1.0)) / 2.0
    scale = 1.0 / np.sqrt(1.0 + slope ** 2)
    vertical = np.abs(vs[:, None] - centre[None, :]).astype(np.float32)
    scale = scale.astype(np.float32)[None, :]
    # across the river: the vertical distance corrected for the slope; far from it the correction
    # would squeeze whole columns into the valley where the river turns, so it stops at 200 m
    distance = np.where(vertical < 200.0, vertical * scale, vertical - 200.0 * (1.0 - scale))
    return distance.astype(np.float32), river_width(us).astype(np.float32)


LAKE_CENTRE = (13600.0, 1900.0)
LAKE_RADIUS = 650.0
_LAKE_WAVES = ((3, 0.17, 0.4), (5, 0.09, 2.1), (8, 0.05, 4.0), (2, 0.12, 1.0))


def lake_window(grid: Grid):
    """The window of a grid around the lake, with its pixel-centre coordinates (V column, U row)."""
    reach = LAKE_RADIUS * 1.6
    win = grid.window(LAKE_CENTRE[0] - reach, LAKE_CENTRE[1] - reach, LAKE_CENTRE[0] + reach, LAKE_CENTRE[1] + reach)
    if win is None:
        return None, None, None
    V, U = grid.local(win)
    return win, V, U


def lake_signed_distance(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    du, dv = U - LAKE_CENTRE[0], V - LAKE_CENTRE[1]
    theta = np.arctan2(dv, du)
    radius = LAKE_RADIUS * (1.0 + sum(a * np.sin(k * theta + p) for k, a, p in _LAKE_WAVES))
    return (np.sqrt(du * du + dv * dv) - radius).astype(np.float32)


# -- terrain ------------------------------------------------------------------------------------
def elevation(us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Terrain height in metres on a grid (land only; the sea's values are meaningless)."""
    d = np.clip(land_distance(us, vs), 0.0, None)
    hills = fbm("hills", us, vs, 3500.0, 5)
    base = 300.0 * (1.0 - np.exp(-d / 2300.0)) * np.clip(1.0 + 0.3 * hills, 0.35, None)
    mountains = ramp(us, 11000.0, 27000.0)[None, :] * (1.0 - ramp(vs, 1000.0, 13000.0))[:, None]
    ridges = 1.0 - np.minimum(np.abs(fbm("ridges", us, vs, 2600.0, 4)), 1.0)
    h = base + 560.0 * mountains * (0.45 + 0.55 * ridges) * ramp(d, 0.0, 3000.0)
    river_d, _ = river_distance(us, vs)
    h = h * (1.0 - 0.8 * np.exp(-(river_d / 1300.0) ** 2)) + 2.0
    airfield = airfield_zone(us, vs, margin=900.0)
    h = h * (1.0 - airfield) + 48.0 * airfield
    win, lake_v, lake_u = lake_window(Grid(float(us[0]) - (us[1] - us[0]) / 2, float(vs[0]) - (vs[1] - vs[0]) / 2,
                                           float(us[1] - us[0]), len(us), len(vs)))
    if win is not None:
        lake = np.clip(0.5 - lake_signed_distance(lake_u, lake_v) / 150.0, 0.0, 1.0)
        h[win] = h[win] * (1.0 - lake) + 226.0 * lake
    h = h + 4.0 * fbm("terrain-detail", us, vs, 300.0, 3)
    return np.maximum(h, 0.5 + 0.01 * np.minimum(d, 300.0)).astype(np.float32)


# -- fields -------------------------------------------------------------------------------------
CROPS = ("wheat", "maize", "soybean", "meadow", "vineyard", "fallow")
CROP_SHARES = (0.30, 0.24, 0.12, 0.18, 0.09, 0.07)


@lru_cache(maxsize=1)
def field_zones() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Zones of the field pattern: seed points (u, v), orientation and strip width of each."""
    r = rng("field-zones")
    n = 30
    su = r.uniform(3000.0, 26000.0, n)
    sv = r.uniform(-4000.0, 24000.0, n)
    angle = np.radians(14.0 + r.normal(0.0, 22.0, n))
    width = r.uniform(70.0, 190.0, n)
    return su, sv, angle, width


def parcel_ids(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """An int64 id of the field parcel at each point (polygonal strips, varying per zone).

    U and V broadcast against each other (e.g. a row of u and a column of v for a grid).
    """
    su, sv, angle, width = field_zones()
    U = np.asarray(U, dtype=np.float32)
    V = np.asarray(V, dtype=np.float32)
    best = None
    for index in range(len(su)):
        d2 = (U - np.float32(su[index])) ** 2 + (V - np.float32(sv[index])) ** 2
        if best is None:
            best, zone = d2, np.zeros(d2.shape, dtype=np.int64)
            continue
        closer = d2 < best
        np.minimum(best, d2, out=best)
        zone[closer] = index
    ca = np.cos(angle).astype(np.float32)[zone]
    sa = np.sin(angle).astype(np.float32)[zone]
    p = (U * ca + V * sa) / width.astype(np.float32)[zone]
    q = V * ca - U * sa
    strip = np.floor(p).astype(np.int64)
    key = zone * 4096 + (strip + 2048)
    length = 130.0 + 470.0 * hash_unit(key, 1)
    cell = np.floor((q + hash_unit(key, 2) * length) / length).astype(np.int64)
    key = key * 65536 + (cell + 32768)
    split = (hash_unit(key, 3) < 0.35) & ((p - strip) > 0.3 + 0.4 * hash_unit(key, 4))
    return key * 2 + split


def parcel_attributes(pid: np.ndarray) -> dict[str, np.ndarray]:
    """Crop (index into CROPS), phenology shift (days), soil brightness and vigour of parcels."""
    pick = hash_unit(pid, 10)
    crop = np.searchsorted(np.cumsum(CROP_SHARES)[:-1], pick, side="right").astype(np.uint8)
    return {
        "crop": crop,
        "shift": ((hash_unit(pid, 11) - 0.5) * 26.0).astype(np.float32),
        "soil": (0.72 + 0.55 * hash_unit(pid, 12)).astype(np.float32),
        "vigour": (0.85 + 0.3 * hash_unit(pid, 13)).astype(np.float32),
    }


# -- town -----------------------------------------------------------------------------------------
TOWN_CENTRE = (11300.0, 12000.0)
TOWN_RADII = (2500.0, 2800.0)
TOWN_ANGLE = math.radians(12.0)
TOWN_BLOCK = (120.0, 90.0)   # block pitch along p and q (metres)
TOWN_STREET = 14.0
TOWN_AVENUE = 26.0           # every 4th street
TOWN_BOX = (8300.0, 8900.0, 14100.0, 15100.0)


def town_level(U: np.ndarray, V: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """> 0 inside the town (an irregular ellipse); `noise` as fbm('town') at the points."""
    e = np.sqrt(((U - TOWN_CENTRE[0]) / TOWN_RADII[0]) ** 2 + ((V - TOWN_CENTRE[1]) / TOWN_RADII[1]) ** 2)
    return (1.0 + 0.22 * noise if noise is not None else 1.0) - e


def town_coords(U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along the street grid's axes (p, q), from its origin at the port."""
    du, dv = U - PORT_LAND_U[1], V - PORT_V[0]
    ca, sa = math.cos(TOWN_ANGLE), math.sin(TOWN_ANGLE)
    return du * ca + dv * sa, -du * sa + dv * ca


def town_from_coords(p: float, q: float) -> tuple[float, float]:
    ca, sa = math.cos(TOWN_ANGLE), math.sin(TOWN_ANGLE)
    return PORT_LAND_U[1] + p * ca - q * sa, PORT_V[0] + p * sa + q * ca


def is_land(u: float, v: float, margin: float = 0.0) -> bool:
    """Dry land at least `margin` metres from the sea, the river and the lake."""
    if u < float(coast_u(v)) + margin:
        return False
    if abs(v - float(river_v(u))) < float(river_width(u)) / 2 + margin:
        return False
    if math.hypot(u - LAKE_CENTRE[0], v - LAKE_CENTRE[1]) > LAKE_RADIUS * 1.6 + margin:
        return True
    return float(lake_signed_distance(np.array(u), np.array(v))) > margin


def in_town(u: float, v: float) -> bool:
    level = town_level(np.array(u), np.array(v), fbm_points("town", np.array([u]), np.array([v]), 900.0, 3)[0])
    return bool(level > 0.02)


@lru_cache(maxsize=1)
def town_buildings() -> tuple[Box, ...]:
    """Larger buildings of the town (apartment blocks, schools, shops) on the street grid's blocks."""
    r = rng("town-buildings")
    bp, bq = TOWN_BLOCK
    buildings: list[Box] = []
    palette = ("roof-light", "roof-light", "roof-grey", "roof-tile", "roof-white", "roof-dark")
    for i in range(-8, 60):
        for j in range(-45, 55):
            if r.random() > 0.34:
                continue
            street = TOWN_AVENUE if i % 4 == 0 else TOWN_STREET
            inner_p = bp - street - 8
            inner_q = bq - TOWN_STREET - 8
            big = r.random() < 0.12
            length = r.uniform(50, inner_p) if big else r.uniform(18, min(60, inner_p))
            width = r.uniform(30, inner_q) if big else r.uniform(12, 30)
            p = i * bp + street / 2 + 4 + length / 2 + r.uniform(0, inner_p - length)
            q = j * bq + TOWN_STREET / 2 + 4 + width / 2 + r.uniform(0, inner_q - width)
            u, v = town_from_coords(p, q)
            if not (TOWN_BOX[0] < u < TOWN_BOX[2] and TOWN_BOX[1] < v < TOWN_BOX[3]):
                continue
            if u < PORT_LAND_U[1] + 40 and PORT_V[0] - 40 < v < PORT_V[1] + 40:
                continue
            if not in_town(u, v) or not is_land(u, v, 60.0):
                continue
            buildings.append(Box(u, v, length, width, TOWN_ANGLE, palette[r.integers(len(palette))],
                                 r.uniform(9, 30)))
    return tuple(buildings)


# -- the port's buildings, tanks and yards ---------------------------------------------------
PORT_ROAD_U = 9310.0
PORT_CROSS_ROADS_V = (11390.0, 12290.0)
PARKING_LOT = Box(9760.0, 11100.0, 300.0, 300.0, 0.0, "asphalt")
CONTAINER_YARD = Box(9160.0, 11600.0, 250.0, 590.0, 0.0, "concrete")
TANK_FARM = Box(9640.0, 12625.0, 580.0, 600.0, 0.0, "gravel")


@lru_cache(maxsize=1)
def warehouses() -> tuple[Box, ...]:
    r = rng("warehouses")
    boxes = [
        Box(9520.0, 11325.0, 300.0, 78.0, 0.0, "roof-metal", 12.0),
        Box(8620.0, PIER_SPECS[0][0], 420.0, 46.0, 0.0, "roof-blue", 14.0),
        Box(8700.0, PIER_SPECS[2][0], 380.0, 54.0, 0.0, "roof-metal", 13.0),
        Box(9150.0, 10990.0, 70.0, 34.0, 0.0, "roof-white", 16.0),
        Box(9150.0, 12470.0, 210.0, 46.0, 0.0, "roof-rust", 18.0),
    ]
    materials = ("roof-metal", "roof-rust", "roof-white", "roof-blue", "roof-grey")
    for v in (11500.0, 11650.0, 11800.0, 11960.0, 12140.0):
        for u in (9475.0, 9775.0):
            if r.random() < 0.2:
                continue
            boxes.append(Box(u + r.uniform(-15, 15), v, r.uniform(200, 250), r.uniform(52, 96), 0.0,
                             materials[r.integers(len(materials))], r.uniform(9, 16)))
    return tuple(boxes)


@dataclass(frozen=True)
class Tank:
    cu: float
    cv: float
    radius: float
    height: float
    name: str | None


@lru_cache(maxsize=1)
def tanks() -> tuple[Tank, ...]:
    """The tank farm (named T-01 ... T-20) and the silos beside the grain store (unnamed)."""
    r = rng("tanks")
    found: list[Tank] = []
    number = 1
    for v in (12400.0, 12545.0, 12700.0, 12850.0):
        for u in (9405.0, 9520.0, 9635.0, 9750.0, 9865.0):
            radius = r.uniform(17.0, 26.0)
            found.append(Tank(u + r.uniform(-4, 4), v + r.uniform(-4, 4), radius, r.uniform(12, 20),
                              f"Tank T-{number:02d}"))
            number += 1
    for k in range(8):
        found.append(Tank(9065.0 + 15.0 * k, 12530.0, 6.2, 24.0, None))
    return tuple(found)


# -- airfield ---------------------------------------------------------------------------------
AIRFIELD_CENTRE = (15300.0, 16900.0)
AIRFIELD_ANGLE = math.radians(-8.0)
RUNWAY = (2800.0, 45.0)


def airfield_point(along: float, cross: float) -> tuple[float, float]:
    """Local coordinates of a point given along the runway and across it (negative: north side)."""
    ca, sa = math.cos(AIRFIELD_ANGLE), math.sin(AIRFIELD_ANGLE)
    return AIRFIELD_CENTRE[0] + along * ca - cross * sa, AIRFIELD_CENTRE[1] + along * sa + cross * ca


def airfield_box(along: float, cross: float, length: float, width: float, material: str, height: float = 0.0) -> Box:
    u, v = airfield_point(along, cross)
    return Box(u, v, length, width, AIRFIELD_ANGLE, material, height)


AIRFIELD_GRASS = airfield_box(0.0, -170.0, 3500.0, 820.0, "grass")
AIRFIELD_PAVED = (
    airfield_box(0.0, 0.0, RUNWAY[0], RUNWAY[1], "runway"),
    airfield_box(0.0, -200.0, 2500.0, 23.0, "taxiway"),
    airfield_box(-1150.0, -100.0, 23.0, 200.0, "taxiway"),
    airfield_box(0.0, -100.0, 23.0, 200.0, "taxiway"),
    airfield_box(1150.0, -100.0, 23.0, 200.0, "taxiway"),
    airfield_box(300.0, -335.0, 560.0, 200.0, "apron"),
    airfield_box(-850.0, -300.0, 170.0, 110.0, "apron"),
)
AIRFIELD_BUILDINGS = (
    airfield_box(300.0, -495.0, 280.0, 60.0, "roof-white", 14.0),
    airfield_box(-850.0, -400.0, 70.0, 40.0, "roof-metal", 10.0),
    airfield_box(-700.0, -400.0, 90.0, 45.0, "roof-metal", 12.0),
)
STANDS = tuple(airfield_point(300.0 + 64.0 * k, -345.0) for k in range(-4, 4))
GA_STANDS = tuple(airfield_point(-900.0 + 26.0 * k, -300.0) for k in range(5))


def airfield_zone(us: np.ndarray, vs: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Soft mask of the airfield's grass area (plus `margin`) on a grid."""
    box = AIRFIELD_GRASS
    U, V = us[None, :], vs[:, None]
    ca, sa = math.cos(box.angle), math.sin(box.angle)
    du, dv = U - box.cu, V - box.cv
    along = np.abs(du * ca + dv * sa) - box.length / 2
    across = np.abs(-du * sa + dv * ca) - box.width / 2
    sd = np.maximum(along, across)
    return np.clip(0.5 - sd / max(margin, 1.0), 0.0, 1.0).astype(np.float32) if margin else (sd < 0).astype(np.float32)


# -- roads --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Road:
    points: tuple[tuple[float, float], ...]
    width: float
    material: str = "asphalt"


@lru_cache(maxsize=1)
def roads() -> tuple[Road, ...]:
    vs = np.arange(-1500.0, 22001.0, 250.0)
    coastal = tuple((float(coast_u(v)) + (PORT_ROAD_U - QUAY_U), float(v)) for v in vs)
    terminal = airfield_point(300.0, -560.0)
    found = [
        Road(coastal, 18.0),
        Road(((PORT_ROAD_U, 11850.0), (10400.0, 11830.0), (12200.0, 11550.0), (14200.0, 11260.0),
              (16800.0, 10900.0), (19000.0, 10480.0), (21500.0, 10150.0)), 24.0),
        Road(((15000.0, 11320.0), (15150.0, 13300.0), (15480.0, 15100.0), terminal), 14.0),
        Road(((10800.0, -1500.0), (11900.0, 1800.0), (13300.0, 4300.0), (14300.0, 7600.0), (14800.0, 11380.0)), 10.0),
        Road(((17600.0, 10700.0), (18300.0, 14200.0), (18700.0, 18000.0), (19300.0, 21500.0)), 10.0),
        Road(((11900.0, 14600.0), (12300.0, 17600.0), (12000.0, 21500.0)), 10.0),
        Road(((12300.0, 17600.0), (13600.0, 17950.0), (airfield_point(-1750.0, 0.0))), 8.0),
        Road(((PORT_ROAD_U, PORT_CROSS_ROADS_V[0]), (PORT_LAND_U[1], PORT_CROSS_ROADS_V[0])), 16.0),
        Road(((PORT_ROAD_U, PORT_CROSS_ROADS_V[1]), (PORT_LAND_U[1], PORT_CROSS_ROADS_V[1])), 16.0),
        Road(((PORT_LAND_U[1] - 12.0, PORT_V[0]), (PORT_LAND_U[1] - 12.0, PORT_V[1])), 14.0),
    ]
    return tuple(found)


# -- places the tests and the docs can point at ----------------------------------------------------
def find_parcel(crop: str, near: tuple[float, float], size: float = 30.0) -> tuple[float, float]:
    """Centre of a field of `crop` near a point: a spot whose surroundings are all that one parcel."""
    wanted = CROPS.index(crop)
    r = rng("find-parcel", crop)
    for _ in range(4000):
        u = near[0] + r.uniform(-3000, 3000)
        v = near[1] + r.uniform(-3000, 3000)
        offsets = np.linspace(-size, size, 5)
        U, V = np.meshgrid(u + offsets, v + offsets)
        pid = parcel_ids(U, V)
        if not (pid == pid[0, 0]).all():
            continue
        if parcel_attributes(pid[:1, :1])["crop"][0, 0] != wanted:
            continue
        if not is_land(u, v, 300.0) or in_town(u, v) or _forest_or_special(u, v):
            continue
        return u, v
    raise RuntimeError(f"no {crop} field found")


def _forest_or_special(u: float, v: float) -> bool:
    us, vs = np.array([u - 60, u, u + 60]), np.array([v - 60, v, v + 60])
    U, V = np.meshgrid(us, vs)
    forest = elevation(us, vs) + 60.0 * fbm_points("forest", U, V, 1500.0, 4)
    if forest.max() > 185.0 or fbm_points("woods", U, V, 700.0, 3).max() > 0.95:
        return True
    if airfield_zone(us, vs, 0).max() > 0:
        return True
    for road in roads():
        pts = np.array(road.points)
        if (np.hypot(pts[:, 0] - u, pts[:, 1] - v) < 400).any():
            return True
    return False
