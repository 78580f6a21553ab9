"""The offline basemap: Natural Earth country polygons and land outlines, shipped with the package
(see tools/make_basemap.py for where they come from), served at /ui/basemap/<name>.geojson."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

blueprint = Blueprint("basemap", __name__)
FOLDER = Path(__file__).parent
LAYERS = ("countries-110m", "countries-50m", "land-50m")


@blueprint.get("/ui/basemap/<name>.geojson")
def layer(name: str):
    if name not in LAYERS:
        abort(404)
    return send_from_directory(FOLDER, f"{name}.geojson", mimetype="application/geo+json", max_age=86400)
