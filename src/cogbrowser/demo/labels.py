"""Detections of the demo targets, as a detector would report them: pixel boxes with scores.

Boxes are the drawn objects' extents in the image's pixel grid, a little loose and jittered. Scores
follow a beta distribution (mostly 0.6-0.99), lower for small targets and under thin cloud; targets
under thick cloud or outside the swath are missed, some others too; a few false alarms with low
scores turn up on glinting water and on rooftops.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from cogbrowser.demo import world
from cogbrowser.demo.canvas import Grid, box_corners
from cogbrowser.demo.noise import rng
from cogbrowser.demo.targets import Placement

COLUMNS = ("image_id", "target_class", "target_name", "score", "px_min", "py_min", "px_max", "py_max",
           "detected_at", "kind")


class _Detector:
    """Turns world objects into CSV rows for one image."""

    def __init__(self, image_id: str, grid: Grid, acquired: datetime, alpha: np.ndarray | None = None,
                 valid: np.ndarray | None = None) -> None:
        self.image_id, self.grid, self.acquired = image_id, grid, acquired
        self.alpha, self.valid = alpha, valid
        self.r = rng("detector", image_id)
        self.rows: list[dict] = []

    def sky(self, u: float, v: float) -> tuple[float, bool]:
        """Cloud opacity at a point, and whether the point has data."""
        col, row = self.grid.to_pixel(u, v)
        c = min(max(int(col), 0), self.grid.width - 1)
        r = min(max(int(row), 0), self.grid.height - 1)
        cloud = float(self.alpha[r, c]) if self.alpha is not None else 0.0
        inside = bool(self.valid[r, c]) if self.valid is not None else True
        return cloud, inside

    def add(self, target_class: str, corners: np.ndarray, name: str | None = None, kind: str = "",
            detect: float = 0.95, quality: float = 1.0, pad: float = 0.6) -> None:
        """Report an object (corners in local metres) with probability `detect`, if it can be seen."""
        u, v = corners.mean(axis=0)
        cloud, inside = self.sky(u, v)
        draw = self.r.random(4)
        if not inside or cloud > 0.6 or draw[0] > detect * (1.0 - 0.8 * cloud):
            return
        cols, rows = self.grid.to_pixel(corners[:, 0], corners[:, 1])
        size = max(cols.max() - cols.min(), rows.max() - rows.min())
        jitter = self.r.normal(0.0, 0.15 + 0.02 * size, 4)
        box = [cols.min() - pad + jitter[0], rows.min() - pad + jitter[1],
               cols.max() + pad + jitter[2], rows.max() + pad + jitter[3]]
        box = [min(max(box[0], 0.0), self.grid.width - 1.0), min(max(box[1], 0.0), self.grid.height - 1.0),
               min(max(box[2], 1.0), float(self.grid.width)), min(max(box[3], 1.0), float(self.grid.height))]
        if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
            return
        score = float(self.r.beta(8.0, 1.7)) * quality * (1.0 - 0.45 * cloud)
        if size < 3:
            score *= 0.55 + 0.15 * size
        self.row(target_class, name, round(min(max(score, 0.01), 0.999), 3), box, kind)

    def false_alarm(self, target_class: str, u: float, v: float, size_m: float, kind: str = "") -> None:
        corners = box_corners(u, v, size_m, size_m * self.r.uniform(0.3, 1.0), self.r.uniform(0, math.pi))
        cols, rows = self.grid.to_pixel(corners[:, 0], corners[:, 1])
        if cols.min() < 0 or rows.min() < 0 or cols.max() > self.grid.width or rows.max() > self.grid.height:
            return
        cloud, inside = self.sky(u, v)
        if not inside:
            return
        box = [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]
        box = [max(box[0], 0.0), max(box[1], 0.0),
               min(box[2], float(self.grid.width)), min(box[3], float(self.grid.height))]
        self.row(target_class, None, round(float(self.r.uniform(0.05, 0.42)), 3), box, kind)

    def row(self, target_class: str, name: str | None, score: float, box: list[float], kind: str) -> None:
        self.rows.append({
            "image_id": self.image_id, "target_class": target_class, "target_name": name or "", "score": score,
            "px_min": round(box[0], 2), "py_min": round(box[1], 2), "px_max": round(box[2], 2),
            "py_max": round(box[3], 2), "detected_at": self.acquired.strftime("%Y-%m-%dT%H:%M:%SZ"), "kind": kind,
        })


def _placement_corners(p: Placement) -> np.ndarray:
    return box_corners(p.cu, p.cv, p.length, p.width, p.heading)


def _disk_corners(cu: float, cv: float, radius: float) -> np.ndarray:
    return np.array([[cu - radius, cv - radius], [cu + radius, cv - radius], [cu + radius, cv + radius],
                     [cu - radius, cv + radius]])


def sentinel2_detections(image_id: str, acquired: datetime, ships: list[Placement], aircraft: list[Placement],
                         alpha: np.ndarray | None, valid: np.ndarray | None) -> list[dict]:
    """What a detector finds on one Sentinel-2 scene: ships, aircraft, tanks, buildings, false alarms."""
    d = _Detector(image_id, world.S2_GRID, acquired, alpha, valid)
    for ship in ships:
        d.add("ship", _placement_corners(ship), ship.name, ship.kind, detect=0.97 if ship.length > 60 else 0.75)
    for plane in aircraft:
        small = plane.kind == "light"
        d.add("aircraft", _placement_corners(plane), plane.name, plane.kind, detect=0.45 if small else 0.93,
              quality=0.75 if small else 1.0)
    for tank in world.tanks():
        if tank.radius > 10:
            d.add("storage_tank", _disk_corners(tank.cu, tank.cv, tank.radius), tank.name, "tank", detect=0.94)
    for box in (*world.town_buildings(), *world.warehouses(), *world.AIRFIELD_BUILDINGS):
        d.add("building", box_corners(box.cu, box.cv, box.length, box.width, box.angle), None, box.material,
              detect=0.8, quality=0.95)
    r = d.r
    for _ in range(int(r.integers(4, 10))):  # glint and whitecaps taken for small boats
        u, v = r.uniform(500, 8000), r.uniform(500, 20000)
        if world.is_open_water(u, v, 200.0):
            d.false_alarm("ship", u, v, r.uniform(20, 50), "unknown")
    for _ in range(int(r.integers(3, 8))):  # bright roofs taken for tanks, farm sheds for buildings
        u, v = r.uniform(9000, 20000), r.uniform(1000, 20000)
        if world.is_land(u, v, 100.0):
            d.false_alarm("building" if r.random() < 0.6 else "storage_tank", u, v, r.uniform(20, 40), "unknown")
    return d.rows


def aerial_detections(image_id: str, acquired: datetime, ships: list[Placement],
                      vehicles: tuple[Placement, ...]) -> list[dict]:
    """What a detector finds on the aerial photo: ships, vehicles, tanks, buildings, a few false alarms."""
    grid = world.AERIAL_GRID
    d = _Detector(image_id, grid, acquired)

    def inside(corners: np.ndarray) -> bool:
        cols, rows = grid.to_pixel(corners[:, 0], corners[:, 1])
        return cols.min() >= 0 and rows.min() >= 0 and cols.max() <= grid.width and rows.max() <= grid.height

    for ship in ships:
        corners = _placement_corners(ship)
        if inside(corners):
            d.add("ship", corners, ship.name, ship.kind, detect=1.0, pad=3.0)
    for vehicle in vehicles:
        corners = _placement_corners(vehicle)
        if inside(corners):
            d.add("vehicle", corners, None, vehicle.kind, detect=0.93, pad=0.5)
    for tank in world.tanks():
        corners = _disk_corners(tank.cu, tank.cv, tank.radius)
        if inside(corners):
            d.add("storage_tank", corners, tank.name, "tank" if tank.name else "silo", detect=1.0, pad=2.0)
    for box in world.warehouses():
        corners = box_corners(box.cu, box.cv, box.length, box.width, box.angle)
        if inside(corners):
            d.add("building", corners, None, box.material, detect=0.98, pad=2.0)
    r = d.r
    yard = world.CONTAINER_YARD
    for _ in range(int(r.integers(8, 16))):  # container ends taken for cars
        d.false_alarm("vehicle", yard.cu + r.uniform(-yard.length / 2, yard.length / 2),
                      yard.cv + r.uniform(-yard.width / 2, yard.width / 2), r.uniform(3.5, 5.0), "unknown")
    return d.rows
