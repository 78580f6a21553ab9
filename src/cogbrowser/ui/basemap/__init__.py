"""The offline basemap shipped with the package: Natural Earth country polygons and land outlines
(see tools/make_basemap.py for where they come from), served at /ui/basemap/<name>.geojson.

A user's own basemap (`cogbrowser serve --basemap FILE`) is a tile source like the catalog's
layers: cogbrowser/basemap.py reads it, ogc/basemap.py serves its tiles.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

blueprint = Blueprint("basemap", __name__)
FOLDER = Path(__file__).parent
LAYERS = ("countries-110m", "countries-50m", "land-50m")


@blueprint.get("/ui/basemap/<name>.geojson")
def layer(name: str) -> Response:
    if name not in LAYERS:
        abort(404)
    return send_from_directory(FOLDER, f"{name}.geojson", mimetype="application/geo+json", max_age=86400)
