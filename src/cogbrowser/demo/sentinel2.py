"""Sentinel-2 L2A-like scenes of the demo world: 4 bands (B02, B03, B04, B08) at 10 m, uint16.

Values are surface reflectance x 10000 with the spectra of real surfaces (water dark with almost no
NIR, vegetation dark red and bright NIR, soil and roofs in between, clouds bright in every band).
The landscape is painted once into a static part and two date-dependent parts: the vegetated surface,
whose cover follows each crop's season (wheat green in spring and harvested in July, maize green in
late summer ...), and the sea (river plume, sun glint). Each date then adds its ships, aircraft,
clouds with their shadows, haze and sensor noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from cogbrowser.demo import canvas as shapes
from cogbrowser.demo import world
from cogbrowser.demo.canvas import Canvas, Grid
from cogbrowser.demo.noise import fbm, hash_ints, hash_unit, ramp, rng, value_noise
from cogbrowser.demo.targets import Placement

BANDS = ("B02", "B03", "B04", "B08")
NODATA = 0

# Surface reflectance x 10000 in B02 (blue), B03 (green), B04 (red), B08 (NIR).
SPECTRA = {
    "sea": (470, 400, 235, 115), "sea-shallow": (640, 650, 420, 170), "plume": (820, 930, 780, 270),
    "river": (600, 690, 560, 290), "lake": (350, 470, 290, 170),
    "beach": (1750, 2150, 2450, 2700), "rock": (1050, 1150, 1250, 1450),
    "asphalt": (760, 850, 930, 1120), "concrete": (1450, 1560, 1650, 1850), "pier": (1520, 1620, 1700, 1860),
    "gravel": (1350, 1450, 1560, 1780), "runway": (1400, 1500, 1570, 1720), "taxiway": (1200, 1280, 1350, 1500),
    "apron": (1650, 1740, 1800, 1930), "urban": (1250, 1350, 1480, 1760),
    "roof-light": (1950, 2050, 2150, 2350), "roof-grey": (1300, 1380, 1450, 1600),
    "roof-tile": (850, 1050, 1800, 2250), "roof-white": (3100, 3200, 3250, 3350), "roof-dark": (700, 760, 820, 950),
    "roof-metal": (2300, 2400, 2450, 2550), "roof-blue": (1500, 1380, 1100, 1300), "roof-rust": (900, 960, 1500, 1800),
    "tank": (3400, 3500, 3550, 3650), "containers": (1350, 1300, 1450, 1600),
    "coal": (380, 400, 420, 500), "aggregate": (1950, 2050, 2150, 2300),
    "veg": (300, 600, 350, 3600), "conifer": (230, 420, 230, 2300), "soil": (1100, 1450, 1850, 2350),
    "straw": (1450, 1900, 2400, 2900), "cloud": (6900, 6700, 6550, 6750),
    "deck": (1300, 1350, 1400, 1550), "deck-rust": (800, 850, 1200, 1400), "deck-white": (3000, 3100, 3150, 3250),
    "superstructure": (3600, 3700, 3750, 3800), "wake": (1500, 1550, 1450, 1100), "aircraft": (4300, 4400, 4400, 4500),
}
_S = {name: np.asarray(value, dtype=np.float32) for name, value in SPECTRA.items()}
# Container paints (red, blue, green, orange, white, grey) as seen by the four bands.
_CONTAINERS = np.array([(700, 650, 1500, 1700), (1100, 900, 600, 900), (600, 900, 700, 1400),
                        (800, 1300, 2300, 2500), (2800, 2900, 2950, 3050), (1300, 1350, 1400, 1550)], dtype=np.float32)

# Vegetated surfaces: the crops (world.CROPS order), then forests, grass, gardens.
KINDS = (*world.CROPS, "deciduous", "conifer", "grass", "garden")
DECIDUOUS, CONIFER, GRASS, GARDEN = (KINDS.index(k) for k in ("deciduous", "conifer", "grass", "garden"))
# Green cover and straw (dry residue) over the season: (day of year, value) points.
_PHENOLOGY = {
    "wheat": ([60, 100, 130, 155, 170, 185, 198, 260, 300], [0.35, 0.65, 0.9, 0.85, 0.45, 0.15, 0.04, 0.05, 0.18],
              [150, 172, 190, 230, 246], [0.0, 0.6, 0.9, 0.7, 0.0]),
    "maize": ([110, 140, 165, 190, 235, 255, 268, 276, 300], [0.02, 0.08, 0.42, 0.85, 0.9, 0.6, 0.3, 0.05, 0.05],
              [250, 268, 282], [0.0, 0.45, 0.6]),
    "soybean": ([120, 150, 175, 200, 232, 250, 262, 300], [0.02, 0.18, 0.6, 0.86, 0.8, 0.4, 0.1, 0.08],
                [240, 262], [0.0, 0.5]),
    "meadow": ([90, 130, 145, 152, 175, 205, 212, 240, 262, 270, 300],
               [0.65, 0.9, 0.92, 0.35, 0.75, 0.85, 0.35, 0.72, 0.8, 0.4, 0.65],
               [145, 152, 170, 205, 212, 225], [0.0, 0.35, 0.0, 0.0, 0.3, 0.0]),
    "vineyard": ([90, 130, 170, 240, 280, 300], [0.22, 0.42, 0.6, 0.6, 0.45, 0.3], [0], [0.0]),
    "fallow": ([90, 150, 200, 260, 300], [0.25, 0.38, 0.22, 0.15, 0.2], [170, 220], [0.0, 0.3]),
    "deciduous": ([90, 110, 130, 150, 260, 285, 300], [0.45, 0.6, 0.86, 0.95, 0.92, 0.78, 0.62], [0], [0.0]),
    "conifer": ([0, 365], [0.9, 0.9], [0], [0.0]),
    "grass": ([90, 140, 200, 230, 280], [0.7, 0.78, 0.6, 0.52, 0.68], [0], [0.0]),
    "garden": ([90, 150, 220, 290], [0.5, 0.62, 0.55, 0.52], [0], [0.0]),
}


@dataclass(frozen=True)
class SceneSpec:
    """One Sentinel-2 date: its id, time, and what the sky and the orbit do that day."""

    image_id: str
    acquired: datetime
    clouds: float = 0.0         # target cloud fraction, 0..1
    cloud_cell: float = 2500.0  # size of the largest cloud structures (m)
    wedge: bool = False         # a no-data wedge at a corner (the edge of the orbit's swath)
    haze: float = 0.2

    @property
    def doy(self) -> int:
        return self.acquired.timetuple().tm_yday

    @property
    def sky(self) -> str:
        return "cloudy" if self.clouds > 0 else "clear"


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


SCENES = (
    SceneSpec("S2_demo_20240412", _utc(2024, 4, 12, 10, 5, 41), haze=0.35),
    SceneSpec("S2_demo_20240507", _utc(2024, 5, 7, 10, 5, 49), clouds=0.31, cloud_cell=2600.0, haze=0.4),
    SceneSpec("S2_demo_20240601", _utc(2024, 6, 1, 10, 5, 39), haze=0.2),
    SceneSpec("S2_demo_20240626", _utc(2024, 6, 26, 10, 5, 51), clouds=0.06, cloud_cell=900.0, wedge=True),
    SceneSpec("S2_demo_20240721", _utc(2024, 7, 21, 10, 5, 42), haze=0.25),
    SceneSpec("S2_demo_20240815", _utc(2024, 8, 15, 10, 5, 48), clouds=0.14, cloud_cell=1400.0, haze=0.3),
    SceneSpec("S2_demo_20240909", _utc(2024, 9, 9, 10, 5, 40), haze=0.15),
    SceneSpec("S2_demo_20241004", _utc(2024, 10, 4, 10, 5, 46), clouds=0.55, cloud_cell=3600.0, haze=0.45),
)

# Cloud shadows fall north-north-west of their clouds (sun in the south-south-east, ~1.5 km high clouds).
SHADOW_SHIFT = (91, 42)  # rows, columns from a shadow pixel to its cloud
WEDGE = (1450.0, 0.5)    # no data where column - 0.5 * row > 1450 (top-right corner)


class _Layers:
    """Alpha-compositing with memory: how much each date-dependent layer still shows at each pixel."""

    def __init__(self, grid: Grid, base: np.ndarray) -> None:
        self.grid = grid
        self.img = np.empty((4, grid.height, grid.width), dtype=np.float32)
        self.img[:] = base[:, None, None]
        self.veg = np.zeros((grid.height, grid.width), dtype=np.float32)
        self.sea = np.ones((grid.height, grid.width), dtype=np.float32)
        self.kind = np.full((grid.height, grid.width), 255, dtype=np.uint8)

    def paint(self, shape, colour, opacity: float = 1.0) -> None:
        """Static paint over a shape (window, alpha): it hides the seasonal vegetation and the sea below."""
        if shape is None:
            return
        Canvas.wrap(self.grid, self.img).paint(shape, colour, opacity)
        win, alpha = shape
        if opacity != 1.0:
            alpha = alpha * np.float32(opacity)
        self.veg[win] *= 1.0 - alpha
        self.sea[win] *= 1.0 - alpha

    def vegetate(self, shape, kind) -> None:
        """Paint the season-dependent vegetated surface of `kind` (a value or window-shaped array)."""
        if shape is None:
            return
        win, alpha = shape
        rows, cols = win
        self.img[:, rows, cols] *= 1.0 - alpha
        self.sea[win] *= 1.0 - alpha
        veg = self.veg[win]
        veg += (1.0 - veg) * alpha
        where = alpha > 0.5
        self.kind[win][where] = np.broadcast_to(kind, alpha.shape)[where] if np.ndim(kind) else kind


def _full(grid: Grid, alpha: np.ndarray):
    return (slice(None), slice(None)), alpha


@dataclass
class StaticScene:
    """The date-independent part of every Sentinel-2 scene, and what each date needs to finish it."""

    img: np.ndarray                     # (4, H, W) static reflectance, texture applied
    veg: np.ndarray                     # (H, W) weight of the vegetated surface
    sea: np.ndarray                     # (H, W) weight of open sea
    plume: np.ndarray                   # (H, W) river plume strength
    kinds: list = field(default_factory=list)  # per kind: (kind, flat index, shift, soil, vigour, wobble)
    water: np.ndarray | None = None     # (H, W) bool: sea, river and lake


def build_static(grid: Grid = world.S2_GRID) -> StaticScene:
    """Paint the landscape (everything that does not change between dates)."""
    us, vs = grid.us, grid.vs
    U, V = us[None, :], vs[:, None]
    px = grid.px
    D = world.land_distance(us, vs)
    land = np.clip(0.5 + D / px, 0.0, 1.0)
    layers = _Layers(grid, _S["sea"])
    shallow = np.exp(-np.clip(-D, 0.0, None) / 700.0) * (0.75 + 0.25 * fbm("shallow", us, vs, 1500.0, 3))
    layers.img += (_S["sea-shallow"] - _S["sea"])[:, None, None] * shallow

    # fields, their borders, forests and woods
    pid = world.parcel_ids(U, V)
    attributes = world.parcel_attributes(pid)
    layers.vegetate(_full(grid, land), attributes["crop"])
    border = np.zeros(pid.shape, dtype=bool)
    border[:, 1:] |= pid[:, 1:] != pid[:, :-1]
    border[1:, :] |= pid[1:, :] != pid[:-1, :]
    del pid
    layers.vegetate(_full(grid, land * border * np.float32(0.9)), GRASS)
    h = world.elevation(us, vs)
    forest = ramp(h + 60.0 * fbm("forest", us, vs, 1500.0, 4), 195.0, 230.0)
    woods = ramp(fbm("woods", us, vs, 700.0, 3), 1.05, 1.35)
    river_d, river_w = world.river_distance(us, vs)
    riparian = np.exp(-(np.clip(river_d - river_w / 2, 0.0, None) / 45.0) ** 2) * ramp(D, 150.0, 400.0)
    trees = np.maximum(np.maximum(forest, woods), riparian * np.float32(0.9)) * land
    conifer = (h + 90.0 * fbm("conifer", us, vs, 1200.0, 3)) > 360.0
    layers.vegetate(_full(grid, trees), np.where(conifer, CONIFER, DECIDUOUS).astype(np.uint8))
    del forest, woods, riparian, trees, conifer

    # beaches along the natural coast (not at the port or the town's waterfront)
    port = ramp(vs, world.PORT_V[0] - 1500, world.PORT_V[0] - 800) \
        * (1.0 - ramp(vs, world.PORT_V[1] + 800, world.PORT_V[1] + 1500))
    sandy = ramp(fbm("beach", us, vs, 2500.0, 2), -0.3, 0.2) * (1.0 - port)[:, None]
    layers.paint(_full(grid, land * np.clip((35.0 - D) / px + 0.5, 0.0, 1.0) * sandy), _S["beach"])
    del sandy

    _paint_town(layers, grid, land)
    _paint_port(layers, grid)

    # river and lake
    river = np.clip(0.5 - (river_d - river_w / 2) / px, 0.0, 1.0) * land
    layers.paint(_full(grid, river), _S["river"])
    water = (land < 0.5) | (river > 0.5)
    win, lake_v, lake_u = world.lake_window(grid)
    if win is not None:
        lake_d = world.lake_signed_distance(lake_u, lake_v)
        layers.paint((win, shapes.coverage(lake_d, px)), _S["lake"])
        water[win] |= lake_d < 0
    del river

    # airfield
    box = world.AIRFIELD_GRASS
    layers.vegetate(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), GRASS)
    for box in world.AIRFIELD_PAVED:
        layers.paint(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), _S[box.material])

    for road in world.roads():
        for p0, p1 in zip(road.points[:-1], road.points[1:]):
            layers.paint(shapes.segment(grid, p0, p1, road.width), _S[road.material])
    for box in (*world.town_buildings(), *world.warehouses(), *world.AIRFIELD_BUILDINGS):
        layers.paint(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), _S[box.material])
    for tank in world.tanks():
        layers.paint(shapes.disk(grid, tank.cu, tank.cv, tank.radius), _S["tank"])

    # texture: small variations of brightness everywhere
    texture = 1.0 + 0.045 * fbm("s2-texture", us, vs, 45.0, 2)
    layers.img *= texture
    layers.veg *= texture
    mouth = (world._mouth_u(), world.RIVER_MOUTH_V)
    distance = np.sqrt((U - mouth[0]) ** 2 + (V - mouth[1]) ** 2).astype(np.float32)
    plume = np.exp(-distance / 1400.0) * np.clip(0.6 + 0.5 * fbm("plume", us, vs, 700.0, 4), 0.0, 1.3)

    # per vegetated kind: where it is and the per-pixel parameters its season needs
    wobble = 1.0 + 0.09 * fbm("in-field", us, vs, 60.0, 2)
    kinds = []
    flat_kind = layers.kind.ravel()
    has_veg = layers.veg.ravel() > 0.002
    for kind in range(len(KINDS)):
        index = np.flatnonzero((flat_kind == kind) & has_veg)
        if index.size:
            kinds.append((kind, index, attributes["shift"].ravel()[index], attributes["soil"].ravel()[index],
                          attributes["vigour"].ravel()[index], wobble.ravel()[index]))
    return StaticScene(layers.img, layers.veg, layers.sea, plume.astype(np.float32), kinds, water)


def _paint_town(layers: _Layers, grid: Grid, land: np.ndarray) -> None:
    win = grid.window(*world.TOWN_BOX)
    rows, cols = win
    V, U = grid.local(win)
    us, vs = grid.us[cols], grid.vs[rows]
    level = world.town_level(U, V, fbm("town", us, vs, 900.0, 3))
    port_land = ((world.PORT_LAND_U[0] - 50 < U) & (world.PORT_LAND_U[1] > U)
                 & (world.PORT_V[0] < V) & (world.PORT_V[1] > V))
    town = np.clip(level / 0.03 + 0.5, 0.0, 1.0) * land[win] * ~port_land
    layers.vegetate((win, town.astype(np.float32)), GARDEN)
    p, q = world.town_coords(U, V)
    bp, bq = world.TOWN_BLOCK
    block = hash_ints(np.floor(p / bp), np.floor(q / bq))
    density = 0.4 + 0.5 * hash_unit(block, 1)
    palette = np.stack([_S["urban"], _S["roof-tile"], _S["roof-grey"], _S["roof-light"], _S["urban"], _S["roof-dark"]])
    colour = palette[(hash_unit(block, 2) * len(palette)).astype(np.intp)]  # (h, w, 4)
    speckle = value_noise("built", us, vs, 16.0)
    built = np.clip((speckle + 1.4 * (density - 0.5)) / 0.25 + 0.5, 0.0, 1.0) * town
    layers.paint((win, built.astype(np.float32)), np.moveaxis(colour, -1, 0))
    along = p / bp
    line_p = np.abs(along - np.round(along)) * bp
    width_p = np.where(np.round(along) % 4 == 0, world.TOWN_AVENUE, world.TOWN_STREET)
    line_q = np.abs(q / bq - np.round(q / bq)) * bq
    street = np.maximum(np.clip(0.5 - (line_p - width_p / 2) / grid.px, 0, 1),
                        np.clip(0.5 - (line_q - world.TOWN_STREET / 2) / grid.px, 0, 1)) * town
    layers.paint((win, street.astype(np.float32)), _S["asphalt"])


def _paint_port(layers: _Layers, grid: Grid) -> None:
    u0, u1 = world.PORT_LAND_U
    v0, v1 = world.PORT_V
    layers.paint(shapes.rect(grid, (u0 + u1) / 2, (v0 + v1) / 2, u1 - u0 + 6, v1 - v0), _S["concrete"])
    for box in (*world.PIERS, world.BREAKWATER):
        layers.paint(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), _S[box.material])
    for box in (world.PARKING_LOT, world.TANK_FARM):
        layers.paint(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), _S[box.material])
    r = rng("s2-containers")
    pier_v, pier_length, pier_width = world.PIER_SPECS[1]
    pier_yard = world.Box(world.QUAY_U - pier_length / 2 + 40, pier_v, pier_length - 140, pier_width - 24)
    for box in (world.CONTAINER_YARD, pier_yard):
        shape = shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle)
        if shape is None:
            continue
        win, alpha = shape
        colours = _CONTAINERS[r.integers(0, len(_CONTAINERS), alpha.shape)]  # (h, w, 4)
        mixed = 0.55 * colours + 0.45 * _S["concrete"]  # 10 m pixels mix stacks and the lanes between
        layers.paint(shape, np.moveaxis(mixed, -1, 0))
    layers.paint(shapes.disk(grid, 9140.0, 12050.0, 55.0), _S["coal"])
    layers.paint(shapes.disk(grid, 9215.0, 12190.0, 42.0), _S["aggregate"])


def cloud_layer(spec: SceneSpec, grid: Grid = world.S2_GRID) -> tuple[np.ndarray, np.ndarray] | None:
    """Cloud opacity (0..1, soft edges) and thickness of a date, or None for a clear sky."""
    if spec.clouds <= 0:
        return None
    n = fbm(f"clouds/{spec.image_id}", grid.us, grid.vs, spec.cloud_cell, 7, gain=0.6)
    soft = np.float32(0.7)
    threshold = np.float32(np.quantile(n[::8, ::8], 1.0 - spec.clouds)) - soft / 2
    t = np.clip((n - threshold) / soft, 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t)
    thickness = np.clip((n - threshold - soft) / 1.2, 0.0, 1.0)
    return alpha.astype(np.float32), thickness.astype(np.float32)


def valid_mask(spec: SceneSpec, grid: Grid = world.S2_GRID) -> np.ndarray | None:
    """Pixels with data (None: all of them); a wedge at the top-right corner is outside the swath."""
    if not spec.wedge:
        return None
    cols = np.arange(grid.width, dtype=np.float32)[None, :]
    rows = np.arange(grid.height, dtype=np.float32)[:, None]
    return (cols - WEDGE[1] * rows) <= WEDGE[0]


def cloud_fraction(alpha: np.ndarray | None, valid: np.ndarray | None) -> float:
    """Percentage of the valid pixels that are cloud (opacity above one half)."""
    if alpha is None:
        return 0.0
    cloudy = alpha > 0.5
    if valid is None:
        return round(100.0 * float(cloudy.mean()), 2)
    return round(100.0 * float(cloudy[valid].mean()), 2)


def render_scene(static: StaticScene, spec: SceneSpec, ships: list[Placement], aircraft: list[Placement],
                 grid: Grid = world.S2_GRID) -> tuple[np.ndarray, float, np.ndarray | None]:
    """One date: (uint16 bands (4, H, W), cloud cover in percent, cloud opacity or None)."""
    doy = spec.doy
    H, W = grid.height, grid.width
    surface = np.zeros((4, H * W), dtype=np.float32)
    for kind, index, shift, soil, vigour, wobble in static.kinds:
        fx, fy, sx, sy = _PHENOLOGY[KINDS[kind]]
        days = doy + shift
        cover = np.clip(np.interp(days, fx, fy).astype(np.float32) * wobble, 0.0, 1.0)
        straw = np.interp(days, sx, sy).astype(np.float32)
        green = _S["conifer"] if kind == CONIFER else _S["veg"]
        for band in range(4):
            background = soil * (_S["soil"][band] * (1.0 - straw)) + _S["straw"][band] * straw
            leaf = green[band] * (vigour if band == 3 else 1.0)
            surface[band, index] = cover * leaf + (1.0 - cover) * background
    img = static.img + static.veg[None] * surface.reshape(4, H, W)
    del surface

    r = rng("s2-date", spec.image_id)
    plume_strength = r.uniform(0.15, 0.55)
    glint = fbm(f"glint/{spec.image_id}", grid.us, grid.vs, 4000.0, 3) * np.float32(r.uniform(10, 35))
    for band in range(4):
        delta = static.plume * np.float32(plume_strength * (_S["plume"][band] - _S["sea"][band])) + glint
        img[band] += static.sea * delta
    del glint

    canvas = shapes.Canvas.wrap(grid, img)
    for ship in ships:
        paint_ship(canvas, ship, _S)
    for plane in aircraft:
        paint_aircraft(canvas, plane, _S["aircraft"])

    clouds = cloud_layer(spec, grid)
    valid = valid_mask(spec, grid)
    if clouds is not None:
        alpha, thickness = clouds
        dr, dc = SHADOW_SHIFT
        shadow = np.zeros_like(alpha)
        shadow[:-dr, :-dc] = alpha[dr:, dc:]
        for band, depth in enumerate((0.5, 0.56, 0.6, 0.66)):
            img[band] *= 1.0 - np.float32(depth) * shadow
        brightness = 0.72 + 0.34 * thickness
        for band in range(4):
            img[band] += (_S["cloud"][band] * brightness - img[band]) * alpha
        del shadow, brightness
    for band, amount in enumerate((130.0, 85.0, 55.0, 25.0)):
        img[band] += np.float32(spec.haze * amount)
    noise = rng("s2-noise", spec.image_id)
    for band, sigma in enumerate((14.0, 12.0, 12.0, 18.0)):
        img[band] += noise.standard_normal((H, W), dtype=np.float32) * np.float32(sigma)
    np.clip(img, 1.0, 16000.0, out=img)
    data = (img + 0.5).astype(np.uint16)
    if valid is not None:
        data[:, ~valid] = NODATA
    cloud_alpha = clouds[0] if clouds is not None else None
    return data, cloud_fraction(cloud_alpha, valid), cloud_alpha


# -- targets drawn into any canvas (the aerial photo draws its own, in more detail) ------------------
_DECKS = {"tanker": "deck-rust", "bulk": "deck-rust", "container": "containers", "ferry": "deck-white",
          "roro": "deck-white", "yacht": "deck-white", "general": "deck", "coaster": "deck", "fishing": "deck",
          "tug": "deck"}


def paint_ship(canvas: shapes.Canvas, ship: Placement, spectra: dict) -> None:
    grid = canvas.grid
    ca, sa = math.cos(ship.heading), math.sin(ship.heading)
    if ship.state == "underway":
        for back, width, opacity in ((3.5, 1.4, 0.35), (6.0, 2.6, 0.18)):
            tail = (ship.cu - ca * ship.length * back, ship.cv - sa * ship.length * back)
            canvas.paint(shapes.segment(grid, (ship.cu, ship.cv), tail, ship.width * width), spectra["wake"], opacity)
    canvas.paint(shapes.hull(grid, ship.cu, ship.cv, ship.length, ship.width, ship.heading), spectra[_DECKS[ship.kind]])
    if ship.kind not in ("ferry", "yacht"):
        aft = -0.38 * ship.length if ship.kind != "tug" else 0.0
        cu, cv = ship.cu + ca * aft, ship.cv + sa * aft
        canvas.paint(shapes.rect(grid, cu, cv, ship.length * 0.1, ship.width * 0.85, ship.heading),
                     spectra["superstructure"])


def paint_aircraft(canvas: shapes.Canvas, plane: Placement, colour) -> None:
    grid = canvas.grid
    ca, sa = math.cos(plane.heading), math.sin(plane.heading)
    fuselage = max(plane.length * 0.1, 1.2)
    canvas.paint(shapes.rect(grid, plane.cu, plane.cv, plane.length, fuselage, plane.heading), colour)
    wing = (plane.cu + ca * plane.length * 0.04, plane.cv + sa * plane.length * 0.04)
    canvas.paint(shapes.rect(grid, *wing, plane.length * 0.14, plane.width, plane.heading), colour)
    tail = (plane.cu - ca * plane.length * 0.42, plane.cv - sa * plane.length * 0.42)
    canvas.paint(shapes.rect(grid, *tail, plane.length * 0.08, plane.width * 0.36, plane.heading), colour)
