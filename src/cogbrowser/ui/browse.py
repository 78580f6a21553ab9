"""The Browse page (`/`): find images, look at them on the map, inspect and compare them."""

from __future__ import annotations

import dash_leaflet as dl
from dash import html


def layout() -> html.Div:
    return html.Div(className="page", children=[
        html.Aside(className="panel", children=[html.H2("Search")]),
        html.Div(className="map-wrap", children=[
            dl.Map(id="map", center=[20, 0], zoom=2, children=[
                dl.GeoJSON(url="/ui/basemap/countries-110m.geojson", id="basemap",
                           style={"color": "#7d8a97", "weight": 0.6, "fillColor": "#eef1ea", "fillOpacity": 1}),
                dl.ScaleControl(position="bottomright"),
            ]),
        ]),
    ])
