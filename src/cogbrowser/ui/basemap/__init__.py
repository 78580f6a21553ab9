"""The offline basemap.

Shipped with the package: Natural Earth country polygons and land outlines (see
tools/make_basemap.py for where they come from), served at /ui/basemap/<name>.geojson. A user's own
basemap (`cogbrowser serve --basemap FILE`: MBTiles, PMTiles or a COG; sources.py) is served as XYZ
tiles at /ui/basemap/tiles/{z}/{x}/{y} with its TileJSON at /ui/basemap/tiles.json.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, send_from_directory, url_for

from cogbrowser.ui.basemap.sources import Basemap

blueprint = Blueprint("basemap", __name__)
FOLDER = Path(__file__).parent
LAYERS = ("countries-110m", "countries-50m", "land-50m")


@blueprint.get("/ui/basemap/<name>.geojson")
def layer(name: str):
    if name not in LAYERS:
        abort(404)
    return send_from_directory(FOLDER, f"{name}.geojson", mimetype="application/geo+json", max_age=86400)


def user_basemap() -> Basemap | None:
    """The basemap given with --basemap, if any."""
    return current_app.extensions.get("cogbrowser.basemap")


@blueprint.get("/ui/basemap/tiles.json")
def tilejson():
    basemap = user_basemap()
    if basemap is None:
        abort(404)
    template = url_for("basemap.tile", z=0, x=0, y=0, _external=True).replace("/0/0/0", "/{z}/{x}/{y}")
    return jsonify(tilejson="3.0.0", name=basemap.name, tiles=[template], minzoom=basemap.minzoom,
                   maxzoom=basemap.maxzoom, bounds=list(basemap.bounds), attribution=basemap.attribution,
                   format=basemap.format)


@blueprint.get("/ui/basemap/tiles/<int:z>/<int:x>/<int:y>")
def tile(z: int, x: int, y: int):
    basemap = user_basemap()
    if basemap is None or not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
        abort(404)
    data = basemap.tile(z, x, y)
    if data is None:
        abort(404)
    return Response(data, content_type=basemap.content_type, headers={"Cache-Control": "public, max-age=86400"})
