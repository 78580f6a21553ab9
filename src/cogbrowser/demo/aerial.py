"""The aerial photo of the port: RGB, 8 bit, 0.5 m, drawn from the same world as the Sentinel-2 scenes.

At 0.5 m the port's objects get their detail: ships with decks, hatches, container rows and white
superstructures; tanks with rims and floating roofs; warehouses with ridges; cars and lorries with
windscreens; every raised object casts its shadow away from the mid-morning sun (south-east).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from cogbrowser.demo import canvas as shapes
from cogbrowser.demo import world
from cogbrowser.demo.canvas import Canvas
from cogbrowser.demo.noise import hash_ints, hash_unit, rng, value_noise
from cogbrowser.demo.targets import Placement

IMAGE_ID = "aerial_port_20240618"
ACQUIRED = datetime(2024, 6, 18, 9, 32, 10, tzinfo=timezone.utc)
BANDS = ("red", "green", "blue")

SUN_AZIMUTH, SUN_ELEVATION = math.radians(125.0), math.radians(58.0)
# A shadow is displaced this much (u, v) per metre of height: away from the sun, i.e. west-north-west.
SHADOW = (-math.sin(SUN_AZIMUTH) / math.tan(SUN_ELEVATION), math.cos(SUN_AZIMUTH) / math.tan(SUN_ELEVATION))

RGB = {
    "sea": (36, 64, 78), "basin": (44, 72, 76), "concrete": (168, 165, 157), "pier": (176, 173, 165),
    "asphalt": (74, 76, 80), "gravel": (158, 150, 136), "rock": (128, 122, 112), "marking": (228, 228, 222),
    "edge": (60, 58, 55), "roof-metal": (188, 191, 195), "roof-blue": (70, 102, 142), "roof-rust": (138, 82, 62),
    "roof-white": (236, 236, 232), "roof-grey": (122, 124, 128), "roof-light": (202, 199, 190),
    "roof-tile": (170, 88, 62), "roof-dark": (62, 64, 68), "tank": (226, 226, 222), "rim": (140, 140, 138),
    "coal": (42, 42, 44), "aggregate": (186, 176, 160), "tree": (62, 92, 48), "grass": (96, 122, 66),
    "superstructure": (240, 240, 236), "window": (40, 48, 60), "wake": (200, 214, 216),
}
_C = {name: np.asarray(value, dtype=np.float32) for name, value in RGB.items()}
CONTAINER_COLOURS = np.array([(172, 42, 36), (36, 72, 142), (30, 112, 62), (212, 122, 32), (202, 202, 196),
                              (122, 122, 128), (142, 32, 32), (22, 92, 122), (230, 180, 40)], dtype=np.float32)
CAR_COLOURS = np.array([(236, 236, 236), (176, 179, 183), (26, 26, 29), (96, 98, 102), (42, 72, 152),
                        (172, 32, 32), (32, 42, 82), (42, 92, 62), (222, 192, 42)], dtype=np.float32)
TRAILER_COLOURS = np.array([(232, 232, 228), (40, 70, 140), (160, 40, 36), (120, 124, 128)], dtype=np.float32)
HULLS = {"bulk": (112, 36, 30), "tanker": (30, 36, 62), "container": (28, 30, 34), "general": (36, 86, 64),
         "roro": (232, 232, 230), "ferry": (236, 236, 234), "coaster": (92, 98, 104), "tug": (168, 36, 30),
         "fishing": (40, 80, 130), "yacht": (240, 240, 240)}
DECKS = {"bulk": (116, 68, 52), "tanker": (124, 64, 50), "container": (80, 80, 84), "general": (120, 120, 116),
         "roro": (140, 140, 136), "ferry": (200, 202, 204), "coaster": (130, 100, 70), "tug": (60, 60, 62),
         "fishing": (150, 150, 146), "yacht": (176, 150, 110)}


def render(ships: list[Placement], vehicles: tuple[Placement, ...],
           grid: shapes.Grid = world.AERIAL_GRID) -> np.ndarray:
    """The aerial photo as uint8 (3, H, W)."""
    us, vs = grid.us, grid.vs
    U = us[None, :]
    canvas = Canvas(grid, _C["sea"])
    img = canvas.img
    basin = (world.BREAKWATER.cu < U).astype(np.float32) * np.float32(0.8)
    canvas.paint_full(basin, _C["basin"])
    waves = value_noise("aerial-waves", us, vs, 3.0) * 0.6 + value_noise("aerial-swell", us, vs, 40.0)
    calm = np.where(world.BREAKWATER.cu < U, np.float32(0.35), np.float32(1.0))
    ripple = 1.0 + 0.07 * waves * calm
    for band in range(3):
        img[band] *= ripple
    del waves, ripple, basin

    # land: the port's concrete with stains and patches
    land = np.clip(0.5 + (U - world.coast_u(vs)[:, None]) / grid.px, 0.0, 1.0).astype(np.float32)
    stains = value_noise("aerial-stains", us, vs, 9.0) * 0.5 + value_noise("aerial-patches", us, vs, 70.0)
    tone = 1.0 + 0.06 * stains
    canvas.paint_full(land, [_C["concrete"][b] * tone for b in range(3)])
    canvas.paint(shapes.rect(grid, world.QUAY_U + 0.6, 11900.0, 1.2, 2600.0), _C["edge"])

    for pier in world.PIERS:
        shape = shapes.rect(grid, pier.cu, pier.cv, pier.length, pier.width, pier.angle)
        canvas.shade(shapes.rect(grid, pier.cu + SHADOW[0] * 2.5, pier.cv + SHADOW[1] * 2.5, pier.length,
                                 pier.width, pier.angle), 0.55)
        win, _ = shape
        canvas.paint(shape, [_C["pier"][b] * tone[win] for b in range(3)])
    _breakwater(canvas)
    del stains

    _yards(canvas, tone)
    for road in world.roads():
        for p0, p1 in zip(road.points[:-1], road.points[1:]):
            canvas.paint(shapes.segment(grid, p0, p1, road.width), _C["asphalt"])
    _markings(canvas)
    _trees(canvas)
    for box in world.warehouses():
        _building(canvas, box)
    for tank in world.tanks():
        _tank(canvas, tank)
    for ship in ships:
        _ship(canvas, ship)
    for vehicle in vehicles:
        _vehicle(canvas, vehicle)

    noise = rng("aerial-noise")
    for band in range(3):
        img[band] += noise.standard_normal(img.shape[1:], dtype=np.float32) * np.float32(2.2)
    np.clip(img, 0.0, 255.0, out=img)
    return (img + 0.5).astype(np.uint8)


def _breakwater(canvas: Canvas) -> None:
    grid = canvas.grid
    box = world.BREAKWATER
    shape = shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle)
    if shape is None:
        return
    win, alpha = shape
    rows, cols = win
    boulders = value_noise("aerial-boulders", grid.us[cols], grid.vs[rows], 1.6)
    tone = 1.0 + 0.35 * boulders
    canvas.paint(shape, [_C["rock"][b] * tone for b in range(3)])
    canvas.paint(shapes.rect(grid, box.cu, box.cv, box.length - 20, 5.0, box.angle), _C["concrete"])


def _yards(canvas: Canvas, tone: np.ndarray) -> None:
    grid = canvas.grid
    for box, material in ((world.PARKING_LOT, "asphalt"), (world.TANK_FARM, "gravel")):
        shape = shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle)
        win, _ = shape
        canvas.paint(shape, [_C[material][b] * tone[win] for b in range(3)])
    # parking stall lines: rows of stalls 2.6 m wide, 5 m deep, aisles between pairs of rows
    lot = world.PARKING_LOT
    u_start, v_start = lot.cu - lot.length / 2 + 4.0, lot.cv - lot.width / 2 + 4.0
    for pair in range(16):
        v_pair = v_start + pair * 18.0
        if v_pair + 10.4 > lot.cv + lot.width / 2 - 4:
            break
        for stall in range(113):
            u = u_start + stall * 2.6
            canvas.paint(shapes.rect(grid, u, v_pair + 5.2, 0.14, 10.4), _C["marking"], 0.85)
    # bund walls around groups of four tanks
    for cv, height in ((12472.0, 280.0), (12775.0, 290.0)):
        for cu, width in ((9462.0, 224.0), (9692.0, 224.0), (9865.0, 110.0)):
            canvas.paint(_outline(grid, cu, cv, width, height, 1.2), _C["concrete"])
    # container stacks: on the land yard and on the second pier
    r = rng("aerial-containers")
    yard = world.CONTAINER_YARD
    for bu in range(2):
        for bv in range(9):
            _container_block(canvas, yard.cu - yard.length / 2 + 8 + bu * 121.0,
                             yard.cv - yard.width / 2 + 6 + bv * 65.0, 8, 20, r)
    pier_v, pier_length, pier_width = world.PIER_SPECS[1]
    for bu in range(5):
        for bv in range(2):
            _container_block(canvas, world.QUAY_U - pier_length + 80 + bu * 122.0,
                             pier_v - pier_width / 2 + 10 + bv * 36.0, 8, 10, r)
    canvas.paint(shapes.disk(grid, 9140.0, 12050.0, 55.0), _C["coal"])
    canvas.paint(shapes.disk(grid, 9140.0, 12050.0, 30.0), _C["coal"] * 0.8)
    canvas.paint(shapes.disk(grid, 9215.0, 12190.0, 42.0), _C["aggregate"])
    canvas.paint(shapes.disk(grid, 9215.0, 12190.0, 22.0), _C["aggregate"] * 1.08)


def _outline(grid: shapes.Grid, cu: float, cv: float, length: float, width: float, thickness: float):
    reach = max(length, width) / 2 + 2
    win = grid.window(cu - reach, cv - reach, cu + reach, cv + reach)
    if win is None:
        return None
    V, U = grid.local(win)
    sd = np.maximum(np.abs(U - cu) - length / 2, np.abs(V - cv) - width / 2)
    return win, shapes.coverage(np.abs(sd) - thickness / 2, grid.px)


def _container_block(canvas: Canvas, u0: float, v0: float, bays: int, rows: int, r: np.random.Generator) -> None:
    """A block of container stacks: `bays` 40-ft slots along u, `rows` along v, some empty."""
    grid = canvas.grid
    pitch_u, pitch_v = 13.0, 2.65
    win = grid.window(u0, v0, u0 + bays * pitch_u, v0 + rows * pitch_v)
    if win is None:
        return
    V, U = grid.local(win)
    fu, fv = (U - u0) / pitch_u, (V - v0) / pitch_v
    bay, row = np.floor(fu), np.floor(fv)
    salt = int(r.integers(1 << 30))
    key = hash_ints(bay, row, salt)
    present = hash_unit(key, 1) < 0.86
    inside = ((fu - bay) * pitch_u < 12.2) & ((fv - row) * pitch_v < 2.44)
    alpha = (present & inside).astype(np.float32)
    colour = CONTAINER_COLOURS[(hash_unit(key, 2) * len(CONTAINER_COLOURS)).astype(np.intp)]
    shade = 1.0 - 0.12 * (((fu - bay) * pitch_u) % 0.6 < 0.25)  # corrugation
    canvas.paint((win, alpha), [colour[..., b] * shade for b in range(3)])


def _markings(canvas: Canvas) -> None:
    """Dashed centre lines on the port roads."""
    grid = canvas.grid
    v = grid.v0
    while v < grid.v0 + grid.height * grid.px:
        canvas.paint(shapes.rect(grid, world.PORT_ROAD_U, v, 0.18, 6.0), _C["marking"], 0.9)
        v += 12.0
    for road_v in world.PORT_CROSS_ROADS_V:
        u = world.PORT_ROAD_U + 15
        while u < world.PORT_LAND_U[1] - 20:
            canvas.paint(shapes.rect(grid, u, road_v, 6.0, 0.18), _C["marking"], 0.9)
            u += 12.0


def _trees(canvas: Canvas) -> None:
    grid = canvas.grid
    r = rng("aerial-trees")
    for v in np.arange(10930.0, 12900.0, 14.0):
        if any(abs(v - road_v) < 16 for road_v in world.PORT_CROSS_ROADS_V) or r.random() < 0.25:
            continue
        u = world.PORT_ROAD_U + 15.0 + r.normal(0, 0.6)
        radius = r.uniform(3.0, 4.6)
        canvas.shade(shapes.disk(grid, u + SHADOW[0] * 7, v + SHADOW[1] * 7, radius), 0.5)
        canvas.paint(shapes.disk(grid, u, v, radius), _C["tree"] * r.uniform(0.85, 1.15))
        canvas.paint(shapes.disk(grid, u + 0.8, v + 0.6, radius * 0.5), _C["tree"] * 1.25, 0.6)


def _building(canvas: Canvas, box: world.Box) -> None:
    grid = canvas.grid
    offset = (SHADOW[0] * box.height, SHADOW[1] * box.height)
    for step in np.linspace(0.2, 1.0, 5):
        canvas.shade(shapes.rect(grid, box.cu + offset[0] * step, box.cv + offset[1] * step, box.length, box.width,
                                 box.angle), 0.9)
    canvas.shade(shapes.rect(grid, box.cu + offset[0], box.cv + offset[1], box.length, box.width, box.angle), 0.62)
    colour = _C[box.material]
    canvas.paint(shapes.rect(grid, box.cu, box.cv, box.length, box.width, box.angle), colour)
    # a gable roof: the half facing the sun (south) is lighter, a ridge line along the middle
    ca, sa = math.cos(box.angle), math.sin(box.angle)
    nu, nv = -sa * box.width / 4, ca * box.width / 4
    canvas.paint(shapes.rect(grid, box.cu + nu, box.cv + nv, box.length, box.width / 2, box.angle),
                 np.minimum(colour * 1.1, 255))
    canvas.paint(shapes.rect(grid, box.cu, box.cv, box.length, 0.6, box.angle), colour * 0.7)
    for k in range(int(box.length // 30)):  # roof lights
        along = -box.length / 2 + 15 + k * 30
        canvas.paint(shapes.rect(grid, box.cu + ca * along - nu, box.cv + sa * along - nv, 3.0, box.width / 4,
                                 box.angle), _C["roof-white"], 0.7)


def _tank(canvas: Canvas, tank: world.Tank) -> None:
    grid = canvas.grid
    for step in np.linspace(0.25, 1.0, 4):
        canvas.shade(shapes.disk(grid, tank.cu + SHADOW[0] * tank.height * step,
                                 tank.cv + SHADOW[1] * tank.height * step, tank.radius), 0.82)
    canvas.paint(shapes.disk(grid, tank.cu, tank.cv, tank.radius), _C["rim"])
    canvas.paint(shapes.disk(grid, tank.cu, tank.cv, tank.radius - 0.8), _C["tank"])
    if tank.radius > 10:
        canvas.paint(shapes.ring(grid, tank.cu, tank.cv, tank.radius * 0.86, 0.5), _C["rim"])
        canvas.paint(shapes.disk(grid, tank.cu + tank.radius * 0.3, tank.cv - tank.radius * 0.2, tank.radius * 0.5),
                     _C["tank"] * 0.93, 0.6)
        canvas.paint(shapes.disk(grid, tank.cu, tank.cv, 1.2), _C["rim"])


def _ship(canvas: Canvas, ship: Placement) -> None:
    grid = canvas.grid
    ca, sa = math.cos(ship.heading), math.sin(ship.heading)
    height = 9.0 if ship.kind not in ("tug", "fishing", "yacht") else 3.0

    def at(along: float, across: float = 0.0) -> tuple[float, float]:
        return ship.cu + ca * along - sa * across, ship.cv + sa * along + ca * across

    canvas.shade(shapes.hull(grid, ship.cu + SHADOW[0] * height, ship.cv + SHADOW[1] * height, ship.length, ship.width,
                             ship.heading), 0.55)
    if ship.state == "underway":
        canvas.paint(shapes.segment(grid, at(-ship.length / 2), at(-ship.length * 2.5), ship.width * 0.9),
                     _C["wake"], 0.45)
    canvas.paint(shapes.hull(grid, ship.cu, ship.cv, ship.length, ship.width, ship.heading), HULLS[ship.kind])
    deck = np.asarray(DECKS[ship.kind], dtype=np.float32)
    canvas.paint(shapes.hull(grid, *at(0.01 * ship.length), ship.length * 0.95, ship.width * 0.86, ship.heading), deck)
    bridge = -0.38 * ship.length if ship.kind not in ("tug", "fishing") else 0.05 * ship.length
    if ship.kind == "bulk":
        for k in range(7):
            canvas.paint(shapes.rect(grid, *at(-0.28 * ship.length + k * 0.1 * ship.length), ship.length * 0.07,
                                     ship.width * 0.6, ship.heading), (70, 82, 94))
    elif ship.kind == "tanker":
        canvas.paint(shapes.rect(grid, *at(0.05 * ship.length), ship.length * 0.7, 1.2, ship.heading), (210, 210, 200))
        canvas.paint(shapes.rect(grid, *at(0.02 * ship.length), 3.0, ship.width * 0.7, ship.heading), (210, 210, 200))
    elif ship.kind == "container":
        r = rng("ship-cargo", ship.name or f"{ship.cu:.0f}")
        for k in range(int(ship.length * 0.62 // 13.5)):
            colours = CONTAINER_COLOURS[r.integers(0, len(CONTAINER_COLOURS), int(ship.width // 2.6))]
            for j, colour in enumerate(colours):
                across = -ship.width * 0.38 + 1.3 + j * 2.6
                if across > ship.width * 0.38:
                    break
                canvas.paint(shapes.rect(grid, *at(-0.3 * ship.length + 6.5 + k * 13.5, across), 12.2, 2.4,
                                         ship.heading), colour)
    elif ship.kind in ("ferry", "roro"):
        canvas.paint(shapes.rect(grid, *at(0.0), ship.length * 0.7, ship.width * 0.7, ship.heading), (244, 244, 242))
        for k in range(3):
            canvas.paint(shapes.rect(grid, *at(-0.2 * ship.length + k * 0.2 * ship.length), 5.0, 2.5, ship.heading),
                         (190, 60, 50) if ship.kind == "ferry" else (80, 90, 100))
    house_length = max(ship.length * 0.1, 4.0)
    bridge_u, bridge_v = at(bridge)
    canvas.shade(shapes.rect(grid, bridge_u + SHADOW[0] * 12, bridge_v + SHADOW[1] * 12, house_length,
                             ship.width * 0.8, ship.heading), 0.6)
    canvas.paint(shapes.rect(grid, *at(bridge), house_length, ship.width * 0.8, ship.heading), _C["superstructure"])
    canvas.paint(shapes.rect(grid, *at(bridge + house_length * 0.35), 0.8, ship.width * 0.7, ship.heading),
                 _C["window"])
    canvas.paint(shapes.disk(grid, *at(bridge - house_length * 0.6), max(ship.width * 0.08, 0.5)), (40, 40, 42))


def _vehicle(canvas: Canvas, vehicle: Placement) -> None:
    grid = canvas.grid
    ca, sa = math.cos(vehicle.heading), math.sin(vehicle.heading)

    def at(along: float) -> tuple[float, float]:
        return vehicle.cu + ca * along, vehicle.cv + sa * along

    height = 3.8 if vehicle.kind == "truck" else 1.5
    canvas.shade(shapes.rect(grid, vehicle.cu + SHADOW[0] * height, vehicle.cv + SHADOW[1] * height, vehicle.length,
                             vehicle.width, vehicle.heading), 0.5)
    if vehicle.kind == "truck":
        trailer = TRAILER_COLOURS[vehicle.colour % len(TRAILER_COLOURS)]
        canvas.paint(shapes.rect(grid, *at(-1.6), vehicle.length - 3.2, vehicle.width, vehicle.heading), trailer)
        canvas.paint(shapes.rect(grid, *at(vehicle.length / 2 - 1.3), 2.4, vehicle.width, vehicle.heading),
                     CAR_COLOURS[(vehicle.colour * 3) % len(CAR_COLOURS)])
        return
    colour = CAR_COLOURS[vehicle.colour]
    canvas.paint(shapes.rect(grid, vehicle.cu, vehicle.cv, vehicle.length, vehicle.width, vehicle.heading), colour)
    canvas.paint(shapes.rect(grid, *at(vehicle.length * 0.16), vehicle.length * 0.16, vehicle.width * 0.8,
                             vehicle.heading), _C["window"])
    canvas.paint(shapes.rect(grid, *at(-vehicle.length * 0.05), vehicle.length * 0.3, vehicle.width * 0.74,
                             vehicle.heading), np.minimum(colour * 1.12 + 8, 255))
