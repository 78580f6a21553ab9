"""Map services over the layers: XYZ tiles with TileJSON (/tiles), WMS 1.1.1/1.3.0 (/wms), WMTS
1.0.0 (/wmts), the user's own basemap as tiles (/ui/basemap/tiles), and the place names
(/ui/basemap/labels)."""

from __future__ import annotations

from flask import Blueprint

from cogbrowser.ogc import basemap, place_labels, tiles, wms, wmts


def blueprints() -> list[Blueprint]:
    """Every blueprint of the map services, in the order they are registered."""
    return [tiles.blueprint, wms.blueprint, wmts.blueprint, basemap.blueprint, place_labels.blueprint]
