"""The measurements behind a report picture's scale bar and north arrow, against pyproj's own
projection factors; and a KMZ's box across the antimeridian."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from pyproj import CRS as ProjCRS
from pyproj import Proj
from rasterio.crs import CRS

from cogbrowser.raster.decorations import Decorations, decorate, metres_per_pixel, north_angle, scale_length
from cogbrowser.raster.kmz import kmz_bytes

pytestmark = pytest.mark.unit
KML = "{http://www.opengis.net/kml/2.2}"


@pytest.mark.parametrize("epsg, lon, lat", [(32618, -76.5, 46.0), (32618, -72.0, 60.0), (32633, 15.0, 10.0),
                                            (3035, 25.0, 60.0), (3857, 40.0, 50.0)])
def test_north_points_along_the_meridian_as_proj_says(epsg, lon, lat):
    """The arrow turns by the grid's meridian convergence (0 on a central meridian and in Web
    Mercator; several degrees far from it in UTM or a conic projection)."""
    proj = Proj(ProjCRS.from_epsg(epsg))
    x, y = proj(lon, lat)
    bounds = (x - 5000, y - 5000, x + 5000, y + 5000)
    convergence = proj.get_factors(lon, lat).meridian_convergence  # degrees: grid north to true north
    assert north_angle(CRS.from_epsg(epsg), bounds, 500, 500) == pytest.approx(-convergence, abs=0.05)


def parallel_metres(lat: float, degrees: float) -> float:
    """The length of `degrees` of longitude along the parallel `lat` on the WGS 84 ellipsoid."""
    a, e2 = 6378137.0, 0.00669437999014
    phi = math.radians(lat)
    return math.radians(degrees) * a * math.cos(phi) / math.sqrt(1 - e2 * math.sin(phi) ** 2)


@pytest.mark.parametrize("epsg, lon, lat", [(32618, -76.5, 46.0), (32618, -72.0, 60.0), (3857, 10.0, 60.0),
                                            (4326, 10.0, 60.0)])
def test_a_pixel_measures_its_ground_distance(epsg, lon, lat):
    """Across the centre, a UTM pixel is its size over PROJ's parallel scale; a lon/lat or Web
    Mercator pixel spans a fixed piece of longitude, whose length on the ellipsoid shrinks with
    the latitude (half the equator's at 60 N, and not quite: the ellipsoid is flattened)."""
    crs = CRS.from_epsg(epsg)
    if epsg == 4326:
        (x, y), size = (lon, lat), 0.001
        expected = parallel_metres(lat, size)
    else:
        proj = Proj(ProjCRS.from_epsg(epsg))
        (x, y), size = proj(lon, lat), 30.0
        expected = (parallel_metres(lat, math.degrees(size / 6378137.0)) if epsg == 3857
                    else size / proj.get_factors(lon, lat).parallel_scale)
    bounds = (x - 250 * size, y - 250 * size, x + 250 * size, y + 250 * size)
    assert metres_per_pixel(crs, bounds, 500, 500) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("metres_per_px, pixels, length, label", [
    (30.0, 200, 5000, "5 km"), (10.0, 100, 1000, "1 km"), (0.5, 300, 100, "100 m"), (300.0, 195, 50000, "50 km"),
    (2.0, 90, 100, "100 m"), (1000.0, 250, 200000, "200 km")])
def test_the_scale_is_the_longest_round_distance_that_fits(metres_per_px, pixels, length, label):
    assert scale_length(metres_per_px, pixels) == (length, label)


def test_nothing_asked_draws_nothing():
    rgba = np.full((4, 50, 60), 100, np.uint8)
    assert decorate(rgba, CRS.from_epsg(4326), (0, 0, 1, 1), Decorations()) is rgba


def test_a_kmz_across_the_antimeridian_has_its_east_in_minus_180_180():
    kmz = kmz_bytes(b"png", "png", (179.5, 51.0, 180.5, 52.0), "Aleutians")
    with zipfile.ZipFile(io.BytesIO(kmz)) as archive:
        box = ET.fromstring(archive.read("doc.kml")).find(f".//{KML}LatLonBox")
        assert float(box.find(f"{KML}west").text) == 179.5 and float(box.find(f"{KML}east").text) == -179.5
        assert archive.read("files/overlay.png") == b"png"
