"""The user's own offline basemap (`cogbrowser serve --basemap FILE`) as XYZ tiles:
`/ui/basemap/tiles/{z}/{x}/{y}` (WebMercatorQuad) and its TileJSON at `/ui/basemap/tiles.json`.

A tile source like the catalog's layers: tiles go through the same rendered-response path (ETag,
304, the shared cache), so a COG basemap is drawn once per tile, and MBTiles/PMTiles tiles are read
from the file once.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, url_for

from cogbrowser.basemap import Basemap
from cogbrowser.web.context import services
from cogbrowser.web.rendering import cached_response

blueprint = Blueprint("basemap_tiles", __name__)
MAX_ZOOM = 30
CACHE_CONTROL = "public, max-age=86400"  # a basemap file does not change while the server runs


def user_basemap() -> Basemap:
    """The basemap given with --basemap; 404 without one."""
    basemap = services().basemap
    if basemap is None:
        abort(404)
    return basemap


@blueprint.get("/ui/basemap/tiles.json")
def tilejson() -> Response:
    basemap = user_basemap()
    template = url_for("basemap_tiles.tile", z=0, x=0, y=0, _external=True).replace("/0/0/0", "/{z}/{x}/{y}")
    return jsonify(tilejson="3.0.0", name=basemap.name, tiles=[template], minzoom=basemap.minzoom,
                   maxzoom=basemap.maxzoom, bounds=list(basemap.bounds), attribution=basemap.attribution,
                   format=basemap.format)


@blueprint.get("/ui/basemap/tiles/<int:z>/<int:x>/<int:y>")
def tile(z: int, x: int, y: int) -> Response:
    """The basemap's tile, or 404 where it has none. An empty tile in an archive is none too: it
    must not be answered, nor kept in the cache, as an empty picture."""
    basemap = user_basemap()
    if not (0 <= z <= MAX_ZOOM and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
        abort(404)

    def read() -> bytes:
        data = basemap.tile(z, x, y)
        if not data:
            abort(404)
        return data

    return cached_response(repr(("basemap", basemap.version, z, x, y)), read, basemap.content_type,
                           {"Cache-Control": CACHE_CONTROL})
