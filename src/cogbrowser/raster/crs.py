"""The coordinate reference systems the code base names, defined once.

WGS 84 is the CRS of every lon/lat box and polygon a user gives and of the catalog's bboxes; Web
Mercator is the CRS of web maps (its tile matrix set is tile_grid.WEB_MERCATOR_QUAD); the WGS 84
UTM zones, with those two, are the CRSs an image read (a point, a zone, an export) may be asked in,
besides the image's own.
"""

from __future__ import annotations

import functools

from rasterio.crs import CRS
from rasterio.errors import CRSError

__all__ = ["WGS84", "WEB_MERCATOR", "UTM_ZONES", "OFFERED_EPSG", "OFFERED_TEXT", "epsg_crs", "crs_name"]

WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
UTM_ZONES = frozenset(range(32601, 32661)) | frozenset(range(32701, 32761))  # WGS 84 / UTM north and south
OFFERED_EPSG = frozenset({4326, 3857}) | UTM_ZONES  # every image can be read in these (and in its own CRS)
OFFERED_TEXT = "EPSG:4326, EPSG:3857, a WGS 84 UTM zone EPSG:326xx/327xx"


@functools.lru_cache(maxsize=256)
def epsg_crs(code: int) -> CRS | None:
    """The CRS of an EPSG code, or None when PROJ does not know the code (looked up once per code:
    a lookup in PROJ's database costs about a millisecond; and one object a code lets the reader's
    memos of a CRS, its WKT and transformers, hold across requests)."""
    try:
        return CRS.from_epsg(code)
    except (CRSError, ValueError):
        return None


def crs_name(crs: CRS) -> str:
    """How messages and file names call a CRS: `EPSG:n`, or "the image's own CRS" without a code."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else "the image's own CRS"
