"""The map's place names as XYZ tiles (WebMercatorQuad): `/ui/basemap/labels/{z}/{x}/{y}.png`,
transparent PNGs drawn by places/labels.py over the imagery when the user turns Place names on.

Shipped data like the Natural Earth basemap, so open to all; through the shared rendered-response
path (ETag, 304, the picture cache), in the tiles lane (web/lanes.py).
"""

from __future__ import annotations

from flask import Blueprint, Response

from cogbrowser import __version__
from cogbrowser.places import labels
from cogbrowser.web.problems import ApiError
from cogbrowser.web.rendering import cached_response

blueprint = Blueprint("place_labels", __name__)
CACHE_CONTROL = "public, max-age=86400"  # the shipped gazetteer changes only with a new version


@blueprint.get("/ui/basemap/labels/<int(signed=True):z>/<int(signed=True):x>/<int(signed=True):y>.png")
def tile(z: int, x: int, y: int) -> Response:
    """The place names of tile z/x/y; 400 for a zoom the labels do not have, 404 for a tile outside the zoom's grid."""
    if not 0 <= z <= labels.MAX_ZOOM:
        raise ApiError(400, "Bad Request",
                       f"zoom {z} is out of range: place names are drawn at zooms 0 to {labels.MAX_ZOOM}")
    if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
        raise ApiError(404, "Not Found",
                       f"tile {z}/{x}/{y} is outside the grid: at zoom {z}, x and y are 0 to {(1 << z) - 1}")
    key = repr(("place-labels", __version__, labels.DATA_VERSION, z, x, y))
    return cached_response(key, lambda: labels.tile_png(z, x, y), "image/png", {"Cache-Control": CACHE_CONTROL})


@blueprint.get("/ui/basemap/labels/<path:rest>")
def not_a_tile(rest: str) -> Response:
    """Anything else under the labels is a 404 naming the form, not the page (which answers every other path)."""
    raise ApiError(404, "Not Found", f"{rest!r} is not a place-names tile: the form is /ui/basemap/labels/z/x/y.png")
