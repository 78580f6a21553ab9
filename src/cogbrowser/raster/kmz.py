"""KMZ: a picture of an area as a Google Earth ground overlay, for analysts who brief with KML.

A KMZ is a zip of `doc.kml` and the files it names. The picture is laid on the ground by a
LatLonBox, so it must be drawn in lon/lat (EPSG:4326) over exactly that box; a legend, when asked,
is a ScreenOverlay fixed in the viewer's bottom left corner, and the caption is the overlay's name.
Pure functions: bytes in, bytes out.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from cogbrowser.raster.bbox import Bounds

__all__ = ["kmz_bytes"]

PICTURE_FILE = "files/overlay.{ext}"
LEGEND_FILE = "files/legend.png"


def kmz_bytes(picture: bytes, picture_ext: str, bounds: Bounds, name: str, description: str = "",
              legend_png: bytes | None = None) -> bytes:
    """A KMZ laying `picture` (PNG or JPEG bytes) over `bounds` (west, south, east, north in lon/lat;
    east past 180 across the antimeridian, as KML allows) with `name`, and `legend_png` on screen."""
    west, south, east, north = (float(v) for v in bounds)
    if east > 180:  # KML's LatLonBox takes longitudes in -180..180; east < west crosses the antimeridian
        east -= 360
    picture_file = PICTURE_FILE.format(ext=picture_ext)
    legend = ""
    if legend_png is not None:
        legend = f"""
    <ScreenOverlay>
      <name>Legend</name>
      <Icon><href>{LEGEND_FILE}</href></Icon>
      <overlayXY x="0" y="0" xunits="fraction" yunits="fraction"/>
      <screenXY x="10" y="30" xunits="pixels" yunits="pixels"/>
      <size x="0" y="0" xunits="pixels" yunits="pixels"/>
    </ScreenOverlay>"""
    kml = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>{escape(name)}</name>
    <GroundOverlay>
      <name>{escape(name)}</name>
      <description>{escape(description)}</description>
      <Icon><href>{picture_file}</href></Icon>
      <LatLonBox>
        <north>{north!r}</north>
        <south>{south!r}</south>
        <east>{east!r}</east>
        <west>{west!r}</west>
      </LatLonBox>
    </GroundOverlay>{legend}
  </Document>
</kml>
"""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as kmz:
        kmz.writestr("doc.kml", kml)  # first: viewers read the first .kml of the archive
        kmz.writestr(zipfile.ZipInfo(picture_file), picture)  # stored: PNG and JPEG do not deflate
        if legend_png is not None:
            kmz.writestr(zipfile.ZipInfo(LEGEND_FILE), legend_png)
    return out.getvalue()
