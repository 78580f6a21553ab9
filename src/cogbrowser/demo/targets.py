"""What moves: ships and aircraft on each date, and the vehicles of the aerial photo.

Named ships and aircraft keep their size and look and turn up on several dates at different berths,
anchorages and stands, so the analytics have something to follow. Every placement is checked
against the world: ships on open water or at a free berth, aircraft on stands, cars in stalls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cogbrowser.demo import world
from cogbrowser.demo.canvas import box_corners
from cogbrowser.demo.noise import rng


@dataclass(frozen=True)
class Vessel:
    name: str | None
    kind: str  # bulk | tanker | container | general | ferry | roro | fishing | coaster | tug | yacht
    length: float
    beam: float


NAMED_SHIPS = (
    Vessel("MV Aurora", "bulk", 182.0, 28.0),
    Vessel("Nordic Star", "tanker", 229.0, 32.0),
    Vessel("Adria Spirit", "container", 147.0, 23.0),
    Vessel("Blue Meridian", "container", 199.0, 30.0),
    Vessel("Karst Trader", "general", 118.0, 18.0),
    Vessel("Lady Miramar", "ferry", 96.0, 17.0),
    Vessel("Sea Falcon", "roro", 134.0, 22.0),
    Vessel("Istria Express", "ferry", 110.0, 19.0),
    Vessel("Ocean Harmony", "tanker", 274.0, 44.0),
    Vessel("Polar Wind", "general", 160.0, 25.0),
    Vessel("Golden Gull", "coaster", 88.0, 14.0),
    Vessel("Trieste Carrier", "container", 241.0, 37.0),
)

# (registration, type, length, span)
NAMED_AIRCRAFT = (
    ("9A-CTJ", "A320", 37.6, 35.8), ("S5-AAP", "CRJ900", 36.2, 24.9), ("OE-LWK", "E195", 38.7, 28.7),
    ("I-EIXM", "A319", 33.8, 35.8), ("D-AINZ", "A320neo", 37.6, 35.8), ("HB-JVQ", "E190", 36.2, 28.7),
    ("EI-FMV", "B737-800", 39.5, 35.8), ("YU-APK", "ATR72", 27.2, 27.1), ("OK-TVX", "B737-800", 39.5, 35.8),
    ("HA-LVF", "A321", 44.5, 35.8),
)


@dataclass(frozen=True)
class Placement:
    """One target on one date: where it is, how big, which way it points."""

    target_class: str  # ship | aircraft | vehicle
    name: str | None
    kind: str
    cu: float
    cv: float
    length: float
    width: float  # beam of a ship, span of an aircraft, width of a vehicle
    heading: float  # radians from +u (east) toward +v (south): where the bow / nose points
    state: str
    colour: int = 0

    def corners(self) -> np.ndarray:
        return box_corners(self.cu, self.cv, self.length, self.width, self.heading)


# -- ships --------------------------------------------------------------------------------------
def berth_slots() -> list[tuple[float, float, int]]:
    """(pier centre v, usable length, side) for each side of each pier; side -1 north, +1 south."""
    return [(v, length - 40.0, side) for v, length, width in world.PIER_SPECS for side in (-1, 1)]


def _berth(vessel: Vessel, slot: tuple[float, float, int], r: np.random.Generator) -> tuple[float, float, float]:
    v_pier, usable, side = slot
    width = next(w for v, _, w in world.PIER_SPECS if v == v_pier)
    cv = v_pier + side * (width / 2 + 4.0 + vessel.beam / 2)
    cu = world.QUAY_U - 25.0 - vessel.length / 2 - r.uniform(0.0, max(0.0, usable - vessel.length))
    return cu, cv, 0.0 if r.random() < 0.5 else math.pi


def _open_water(r: np.random.Generator, length: float, placed: list[Placement],
                region: tuple[float, float, float, float], margin: float) -> tuple[float, float] | None:
    umin, vmin, umax, vmax = region
    for _ in range(400):
        u, v = r.uniform(umin, umax), r.uniform(vmin, vmax)
        if not world.S2_GRID.contains(u, v, margin=350.0):
            continue
        if not world.is_open_water(u, v, margin=max(margin, length)):
            continue
        if any(math.hypot(u - p.cu, v - p.cv) < (length + p.length) / 2 + 90.0 for p in placed):
            continue
        return u, v
    return None


_ANCHORAGE = (1200.0, 6500.0, 8200.0, 17500.0)
_SEA = (300.0, 300.0, 10500.0, 20200.0)
_COAST_HEADING = math.atan2(1.0, 0.25)  # along the coast, heading south-south-east


def ships_on(key: str, *, aerial: bool = False) -> list[Placement]:
    """Ships on one date: the named ones present that day, plus unnamed fishing boats, coasters, yachts.

    For the aerial photo only berthed ships and tugs in the harbour basin count (it covers the port).
    """
    r = rng("ships", key)
    wind = r.uniform(0.0, 2.0 * math.pi)
    slots = [berth_slots()[i] for i in r.permutation(len(berth_slots()))]
    placed: list[Placement] = []

    def add(vessel: Vessel, state: str) -> None:
        if state == "berth":
            slot = next((s for s in slots if s[1] >= vessel.length), None)
            if slot is None:
                state = "anchored"
            else:
                slots.remove(slot)
                cu, cv, heading = _berth(vessel, slot, r)
                placed.append(Placement("ship", vessel.name, vessel.kind, cu, cv, vessel.length, vessel.beam,
                                        heading, "berth"))
                return
        if aerial:
            return
        region = _ANCHORAGE if state == "anchored" else _SEA
        spot = _open_water(r, vessel.length, placed, region, 250.0 if state == "anchored" else 400.0)
        if spot is None:
            return
        if state == "anchored":
            heading = wind + r.normal(0.0, 0.15)
        elif vessel.kind in ("fishing", "yacht"):
            heading = r.uniform(0.0, 2.0 * math.pi)
        else:
            heading = _COAST_HEADING + (math.pi if r.random() < 0.5 else 0.0) + r.normal(0.0, 0.25)
        placed.append(Placement("ship", vessel.name, vessel.kind, spot[0], spot[1], vessel.length, vessel.beam,
                                heading, state))

    for vessel in NAMED_SHIPS:
        if r.random() > (0.5 if aerial else 0.72):
            continue
        state = "berth" if aerial else str(r.choice(["berth", "anchored", "underway"], p=[0.4, 0.35, 0.25]))
        add(vessel, state)
    if aerial:
        for _ in range(2):
            length = r.uniform(70.0, 110.0)
            add(Vessel(None, "general", length, length / 6.5), "berth")
        for _ in range(3):
            spot = (r.uniform(8150.0, 8350.0), r.uniform(11250.0, 12450.0))
            if world.in_port_structures(*spot, margin=20.0):
                continue
            if any(math.hypot(spot[0] - p.cu, spot[1] - p.cv) < 90 for p in placed):
                continue
            placed.append(Placement("ship", None, "tug", spot[0], spot[1], 30.0, 10.0, r.uniform(0, 2 * math.pi),
                                    "underway"))
        return placed
    for _ in range(int(r.integers(11, 19))):
        kind = str(r.choice(["fishing", "coaster", "yacht", "general"], p=[0.4, 0.25, 0.2, 0.15]))
        length = {"fishing": r.uniform(24, 42), "coaster": r.uniform(60, 100), "yacht": r.uniform(16, 30),
                  "general": r.uniform(90, 150)}[kind]
        beam = length / {"fishing": 4.0, "coaster": 6.0, "yacht": 4.0, "general": 6.5}[kind]
        state = "underway" if kind in ("fishing", "yacht") else str(r.choice(["anchored", "underway", "berth"]))
        add(Vessel(None, kind, length, beam), state)
    return placed


# -- aircraft -----------------------------------------------------------------------------------
def aircraft_on(key: str) -> list[Placement]:
    """Aircraft at the airfield on one date: named airliners on stands (one sometimes taxiing), light aircraft."""
    r = rng("aircraft", key)
    stands = [world.STANDS[i] for i in r.permutation(len(world.STANDS))]
    nose_in = world.AIRFIELD_ANGLE - math.pi / 2
    placed: list[Placement] = []
    taxiing = r.random() < 0.45
    for registration, kind, length, span in NAMED_AIRCRAFT:
        if r.random() > 0.55:
            continue
        if taxiing:
            taxiing = False
            u, v = world.airfield_point(r.uniform(-1000.0, 900.0), -200.0)
            heading = world.AIRFIELD_ANGLE + (math.pi if r.random() < 0.5 else 0.0)
            placed.append(Placement("aircraft", registration, kind, u, v, length, span, heading, "taxiing"))
            continue
        if not stands:
            break
        u, v = stands.pop()
        placed.append(Placement("aircraft", registration, kind, u, v, length, span, nose_in, "parked"))
    for u, v in world.GA_STANDS:
        if r.random() < 0.55:
            placed.append(Placement("aircraft", None, "light", u, v, 8.3, 11.0, nose_in, "parked"))
    return placed


# -- vehicles (aerial photo only: at 10 m a car is a fraction of a pixel) ----------------------------
_CAR_COLOURS = 9  # index into the aerial palette of car paints


@lru_cache(maxsize=1)
def vehicles() -> tuple[Placement, ...]:
    r = rng("vehicles")
    found: list[Placement] = []

    def car(u: float, v: float, heading: float, state: str) -> None:
        kind = "van" if r.random() < 0.1 else "car"
        length = r.uniform(5.0, 5.8) if kind == "van" else r.uniform(4.1, 4.9)
        width = r.uniform(1.95, 2.1) if kind == "van" else r.uniform(1.75, 1.95)
        colour = int(r.choice(_CAR_COLOURS, p=[0.22, 0.2, 0.18, 0.1, 0.08, 0.08, 0.06, 0.05, 0.03]))
        found.append(Placement("vehicle", None, kind, u, v, length, width, heading, state, colour))

    def truck(u: float, v: float, heading: float, state: str) -> None:
        found.append(Placement("vehicle", None, "truck", u, v, r.uniform(15.5, 16.8), 2.55, heading, state,
                               int(r.integers(0, 4))))

    # the car park: rows of stalls facing each other across aisles, fuller near the port road
    lot = world.PARKING_LOT
    u_start, v_start = lot.cu - lot.length / 2 + 4.0, lot.cv - lot.width / 2 + 4.0
    for pair in range(16):
        for side in (0, 1):
            v_row = v_start + pair * 18.0 + side * 5.2 + 2.5
            if v_row > lot.cv + lot.width / 2 - 4:
                continue
            fill = 0.2 - 0.01 * pair
            for stall in range(112):
                if r.random() < fill:
                    u = u_start + stall * 2.6 + 1.3
                    heading = (math.pi / 2 if side else -math.pi / 2) + r.normal(0, 0.03)
                    car(u + r.normal(0, 0.12), v_row + r.normal(0, 0.2), heading, "parked")
    # new cars waiting for export on the southern pier, in tight rows
    v_pier, length_pier, width_pier = world.PIER_SPECS[3]
    for row in range(5):
        v = v_pier - width_pier / 2 + 12.0 + row * 5.4
        for slot in range(40):
            if r.random() < 0.88:
                u = world.QUAY_U - 80.0 - slot * 2.5
                found.append(Placement("vehicle", None, "car", u, v, 4.4, 1.8, -math.pi / 2, "parked",
                                       [0, 0, 1, 2][row % 4]))
    # traffic on the port road and the cross roads (right-hand traffic)
    v0, v1 = world.AERIAL_GRID.v0 + 10, world.AERIAL_GRID.v0 + world.AERIAL_GRID.height * world.AERIAL_GRID.px - 10
    for lane, heading in ((-3.6, math.pi / 2), (3.6, -math.pi / 2)):
        v = v0 + r.uniform(0, 60)
        while v < v1:
            (truck if r.random() < 0.2 else car)(world.PORT_ROAD_U + lane, v, heading, "moving")
            v += r.uniform(25.0, 160.0)
    for road_v in world.PORT_CROSS_ROADS_V:
        for lane, heading in ((3.6, 0.0), (-3.6, math.pi)):
            u = world.PORT_ROAD_U + 30 + r.uniform(0, 40)
            while u < world.PORT_LAND_U[1] - 40:
                (truck if r.random() < 0.25 else car)(u, road_v + lane, heading, "moving")
                u += r.uniform(30.0, 140.0)
    # lorries backed up to the warehouses, and waiting in the lorry park
    for shed in world.warehouses():
        if not (world.PORT_ROAD_U < shed.cu < world.PORT_LAND_U[1]):
            continue
        for _ in range(int(r.integers(1, 5))):
            side = -1 if r.random() < 0.5 else 1
            u = shed.cu + r.uniform(-shed.length / 2 + 12, shed.length / 2 - 12)
            v = shed.cv + side * (shed.width / 2 + 9.0)
            if any(abs(u - p.cu) < 4.0 and abs(v - p.cv) < 12.0 for p in found):
                continue
            truck(u, v, side * math.pi / 2, "parked")
    for row in range(4):
        for slot in range(12):
            if r.random() < 0.55:
                truck(9050.0 + slot * 19.0, 11090.0 + row * 45.0, 0.0 if row % 2 else math.pi, "parked")
    return tuple(found)
