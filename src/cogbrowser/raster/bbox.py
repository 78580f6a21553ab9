"""BBox: one bounding box type, with one antimeridian rule, for every endpoint and the catalog.

A box is (west, south, east, north). In WGS 84 longitude/latitude a box may cross the
antimeridian: a user says so by giving west > east (as STAC and OGC API do), and the box is kept
with its east edge past 180 (179.5 .. 181.2), the form the catalog stores and searches, so that
west < east always holds and widths, centres and intersections need no special case. In any other
CRS there is no antimeridian: west must not exceed east.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from cogbrowser.errors import InvalidInput

__all__ = ["BBox", "Bounds", "ANTIMERIDIAN_RULE"]

ANTIMERIDIAN_RULE = "in WGS 84, west > east crosses the antimeridian"
Bounds = tuple[float, float, float, float]  # left, bottom, right, top in some CRS, as GDAL takes them


class BBox(NamedTuple):
    """west, south, east, north; in lon/lat across the antimeridian, east is past 180."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def lonlat(cls, west: float, south: float, east: float, north: float, parameter: str = "bbox") -> BBox:
        """A WGS 84 box as a user gives it: longitudes in -180..180 (west > east crosses the
        antimeridian), latitudes in -90..90, south not north of north. InvalidInput names `parameter`."""
        _finite((west, south, east, north), parameter)
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            raise InvalidInput(f"{parameter}: longitudes must be in -180..180 ({ANTIMERIDIAN_RULE})")
        if not (-90 <= south <= 90 and -90 <= north <= 90):
            raise InvalidInput(f"{parameter}: latitudes must be in -90..90")
        if south > north:
            raise InvalidInput(f"{parameter}: south ({south:g}) is north of north ({north:g})")
        return cls(west, south, east + 360.0 if west > east else east, north)

    @classmethod
    def projected(cls, west: float, south: float, east: float, north: float, parameter: str = "bbox") -> BBox:
        """A box in a projected CRS (no antimeridian there): west not east of east, south not north
        of north. InvalidInput names `parameter`."""
        _finite((west, south, east, north), parameter)
        if west > east:
            raise InvalidInput(f"{parameter}: west ({west:g}) is east of east ({east:g}); in a projected CRS "
                               "west must be less than east")
        if south > north:
            raise InvalidInput(f"{parameter}: south ({south:g}) is north of north ({north:g})")
        return cls(west, south, east, north)

    @classmethod
    def parse(cls, text: str, geographic: bool = True, parameter: str = "bbox") -> BBox:
        """`west,south,east,north` as text: in lon/lat (`geographic`), or in a projected CRS."""
        parts = [part.strip() for part in str(text).split(",")]
        if len(parts) != 4:
            raise InvalidInput(f"{parameter}: expected 4 numbers west,south,east,north, got {len(parts)} in {text!r}")
        numbers = []
        for part in parts:
            try:
                numbers.append(float(part))
            except ValueError:
                raise InvalidInput(f"{parameter}: {part!r} is not a number") from None
        return cls.of(numbers, geographic, parameter)

    @classmethod
    def of(cls, values: Sequence[float], geographic: bool = True, parameter: str = "bbox") -> BBox:
        """Four numbers as a box, in lon/lat (`geographic`) or in a projected CRS."""
        if len(values) != 4:
            raise InvalidInput(f"{parameter}: expected 4 numbers west,south,east,north, got {len(values)}")
        west, south, east, north = (float(v) for v in values)
        return (cls.lonlat if geographic else cls.projected)(west, south, east, north, parameter)

    @property
    def crosses_antimeridian(self) -> bool:
        """Whether this lon/lat box reaches past 180 (or before -180)."""
        return self.east > 180.0 or self.west < -180.0

    @property
    def has_area(self) -> bool:
        """False for a point or a line (a search may use one; a zone may not)."""
        return self.west < self.east and self.south < self.north

    def wrapped(self) -> tuple[float, float, float, float]:
        """As STAC, GeoJSON and the URL write it: longitudes in -180..180, west > east across the
        antimeridian."""
        return _wrap(self.west), self.south, _wrap(self.east), self.north

    def shifted(self, degrees: float) -> BBox:
        """The same box `degrees` of longitude east (the catalog tests a box shifted by 0 and +-360)."""
        return BBox(self.west + degrees, self.south, self.east + degrees, self.north)

    def overlaps(self, other: Sequence[float]) -> bool:
        """Whether the two boxes share some area, as given (touching edges do not count)."""
        return self.west < other[2] and self.east > other[0] and self.south < other[3] and self.north > other[1]

    def intersection(self, other: BBox, shifts: Sequence[float] = (0.0,)) -> BBox | None:
        """The part of this box inside `other`, trying `other` shifted by each of `shifts` degrees
        of longitude (lon/lat boxes: (0, 360, -360)); None when they do not meet. Boxes that only
        touch meet in a line, which a search counts (a point or line of a box is still a place)."""
        south, north = max(self.south, other.south), min(self.north, other.north)
        if south > north:
            return None
        for shift in shifts:
            west, east = max(self.west, other.west + shift), min(self.east, other.east + shift)
            if west <= east:
                return BBox(west, south, east, north)
        return None


def _wrap(longitude: float) -> float:
    """A longitude brought into -180..180 (180 itself stays)."""
    if -180.0 <= longitude <= 180.0:
        return longitude
    return (longitude + 180.0) % 360.0 - 180.0


def _finite(values: Sequence[float], parameter: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"{parameter}: the numbers must be finite")
