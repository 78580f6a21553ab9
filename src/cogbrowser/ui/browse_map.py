"""The Browse page's map: offline basemap, panes in a fixed order, controls and overlays.

Every feature of the page brings its own layers and overlays (`map_view(layers, overlays)`), each
in one of the named panes below, so a new tool (compare, measure, …) adds a layer group in a pane
without touching the others. Panes, bottom to top:

    browse-basemap-raster  120  a user's own basemap (`cogbrowser serve --basemap FILE`), and over it
                                a catalog image or collection chosen as the basemap (basemap_choice.py)
    browse-basemap         150  Natural Earth countries, coastlines, graticule
    browse-imagery         250  the shown image (WMS)
    browse-compare         260  the image it is compared with (compare.py; compare.js clips both)
    browse-labels          300  place names, when turned on (place_search.py; their tiles are drawn by the app)
    browse-outlines        380  footprints (hovered result, shown image), the search area
    browse-detections      420  detection boxes
    (Leaflet's own)        600+ markers, tooltips, popups

Nothing comes from another host: the vector basemap is the package's GeoJSON (110m at low zooms,
50m from zoom 4), the raster one the server's own tiles. Overlays (`.map-overlay`: coordinates,
legend, pixel values) are HTML inside the map's container, so they stay visible in full screen;
browse.js keeps their clicks from reaching the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import dash_leaflet as dl
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from cogbrowser.web.context import services

MAP = "browse-map"
VIEW = "browse-view"  # the map's centre and zoom as last reported (for the URL)
BASEMAP_DETAIL = "browse-basemap-detail"
BASEMAP_GROUP = "browse-basemap-group"
GRATICULE = "browse-graticule"
ZOOM_TO_DATA = "browse-zoom-data"
DETAILED_FROM_ZOOM = 4  # the 50m files from this zoom on (110m below: 10x lighter to draw)

BASEMAP_PANE, IMAGERY_PANE, OUTLINE_PANE, DETECTION_PANE = (
    "browse-basemap", "browse-imagery", "browse-outlines", "browse-detections")
COMPARE_PANE = "browse-compare"
LABELS_PANE = "browse-labels"
RASTER_BASEMAP_PANE = "browse-basemap-raster"
BASEMAP_CHOICE = "browse-basemap-choice"  # the catalog layer chosen as the basemap (basemap_choice.py), or None
MEASURE = "browse-measure"
COUNTRY_STYLE = {"color": "#98a4b0", "weight": 0.6, "fillColor": "#eef1ea", "fillOpacity": 1}
COASTLINE_STYLE = {"color": "#6e8296", "weight": 1.0, "fill": False}
GRATICULE_STYLE = {"color": "#8796a5", "weight": 0.5, "opacity": 0.6, "dashArray": "2 4"}
DEFAULT_CENTER, DEFAULT_ZOOM = [30.0, 10.0], 3


def map_view(layers: Sequence, overlays: Sequence) -> html.Div:
    """The map with the basemap, the given feature layers and HTML overlays, and its controls."""
    return html.Div(className="map-wrap browse-map-wrap", children=[
        dcc.Store(id=VIEW),
        dcc.Store(id=BASEMAP_DETAIL, data="110m"),
        dl.Map(
            id=MAP, center=DEFAULT_CENTER, zoom=DEFAULT_ZOOM, minZoom=2, maxZoom=21, worldCopyJump=True,
            attributionControl=False,
            eventHandlers={"mousemove": {"variable": "cogbrowser.showCoordinates"},
                           "mouseout": {"variable": "cogbrowser.hideCoordinates"}},
            children=[
                *_panes(), *basemap_layers(), *layers,
                dl.ScaleControl(position="bottomright", imperial=False, maxWidth=140),
                dl.FullScreenControl(position="topleft", title="Full screen", titleCancel="Leave full screen"),
                measure_control(),
                html.Div(id="browse-coords", className="coords map-overlay"),
                html.Button("Zoom to data", id=ZOOM_TO_DATA, className="secondary map-overlay zoom-data",
                            title="Zoom to the shown image, or to the search results"),
                html.Div(className="map-status map-overlay", children=[html.Span(className="spinner"),
                                                                       "Loading image…"]),
                html.Div("Some tiles of the image could not be drawn", className="map-status map-error map-overlay"),
                *overlays,
            ]),
    ])


def _panes() -> list[dl.Pane]:
    names = [RASTER_BASEMAP_PANE, BASEMAP_PANE, IMAGERY_PANE, COMPARE_PANE, LABELS_PANE, OUTLINE_PANE, DETECTION_PANE]
    return [dl.Pane(name=name, id=name) for name in names]  # z-index: browse.css (.leaflet-<name>-pane)


def measure_control() -> dl.MeasureControl:
    """Distances and areas as leaflet-measure computes them (turf, on a sphere of the Earth's mean
    radius: within 0.5 % of the ellipsoid's geodesic), written by measure.js in m or km, and m², ha
    or km². Its styles and icons come inside dash-leaflet's own script: nothing from another host."""
    return dl.MeasureControl(id=MEASURE, position="topleft", primaryLengthUnit="meters",
                             secondaryLengthUnit="kilometers", primaryAreaUnit="sqmeters",
                             secondaryAreaUnit="hectares", activeColor="#d43d3d", completedColor="#2d5f8b",
                             decPoint=".", thousandsSep=" ")


# ---------------------------------------------------------------- the basemap

def basemap_layers() -> list:
    """A user's raster basemap if the server has one, the Natural Earth layers and a graticule."""
    layers: list = []
    own = services().basemap
    if own is not None:
        layers.append(dl.TileLayer(url="/ui/basemap/tiles/{z}/{x}/{y}", pane=RASTER_BASEMAP_PANE,
                                   minNativeZoom=own.minzoom, maxNativeZoom=own.maxzoom, maxZoom=21,
                                   attribution=own.attribution))
    layers.append(dl.LayerGroup(id=BASEMAP_GROUP, children=natural_earth("110m")))
    layers.append(dl.GeoJSON(id=GRATICULE, data=None, style=GRATICULE_STYLE, interactive=False, pane=BASEMAP_PANE))
    return layers


def natural_earth(detail: str, over_raster: bool = False) -> list[dl.GeoJSON]:
    """Countries (filled, unless a raster basemap lies below: the user's file or a catalog layer,
    `over_raster`) with their borders, and at the 50m detail the coastlines drawn from the land
    polygons. A new id for each detail and fill: Leaflet gets a new layer rather than a restyle."""
    filled = services().basemap is None and not over_raster
    countries = {**COUNTRY_STYLE, "fillOpacity": COUNTRY_STYLE["fillOpacity"] if filled else 0}
    suffix = "" if filled else "-outline"
    layers = [dl.GeoJSON(id=f"browse-countries-{detail}{suffix}", url=f"/ui/basemap/countries-{detail}.geojson",
                         style=countries, interactive=False, pane=BASEMAP_PANE)]
    if detail == "50m":
        layers.append(dl.GeoJSON(id="browse-coastline", url="/ui/basemap/land-50m.geojson", style=COASTLINE_STYLE,
                                 interactive=False, pane=BASEMAP_PANE))
    return layers


def register(app: dash.Dash) -> None:
    """The map's own callbacks (basemap detail, graticule, reported view), on `app`."""
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowser", "basemapDetail"),
        Output(BASEMAP_DETAIL, "data"), Input(MAP, "zoom"), State(BASEMAP_DETAIL, "data"),
        prevent_initial_call=True)
    app.callback(Output(BASEMAP_GROUP, "children"), Input(BASEMAP_DETAIL, "data"), Input(BASEMAP_CHOICE, "data"),
                 State(BASEMAP_GROUP, "children"), prevent_initial_call=True)(_switch_basemap_detail)
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowser", "graticule"), Output(GRATICULE, "data"), Input(MAP, "bounds"),
        State(MAP, "zoom"))
    # the view as last reported by the map (moveend), kept for the URL
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowser", "reportedView"), Output(VIEW, "data", allow_duplicate=True),
        Input(MAP, "center"), Input(MAP, "zoom"), prevent_initial_call=True)


def _switch_basemap_detail(detail: str, catalog_layer: str | None, drawn: list | None) -> list[dl.GeoJSON]:
    """The Natural Earth layers for the zoom's detail and the basemap below; the same layers are
    left alone (a new list would make Leaflet fetch and draw them again)."""
    layers = natural_earth(detail if detail in ("110m", "50m") else "110m", over_raster=bool(catalog_layer))
    if [layer.id for layer in layers] == [(child or {}).get("props", {}).get("id") for child in drawn or []]:
        raise PreventUpdate
    return layers


# ---------------------------------------------------------------- moving the map

def fit_bounds(bbox: Sequence[float], max_zoom: int = 18) -> dict:
    """A `viewport` that shows a west, south, east, north box (padded) whole."""
    west, south, east, north = bbox
    return {"bounds": [[south, west], [north, east]], "transition": "fitBounds",
            "options": {"padding": [40, 40], "maxZoom": max_zoom, "animate": False}}


def view_bbox(bounds: Sequence[Sequence[float]] | None) -> list[float] | None:
    """The map's `bounds` ([[south, west], [north, east]]) as a WGS 84 bbox for the API, or None
    when the view spans the whole world (no filter then)."""
    if not bounds:
        return None
    (south, west), (north, east) = bounds
    if east - west >= 360:
        return None
    west, east = _wrap(west), _wrap(east)
    return [west, max(south, -90.0), east, min(north, 90.0)]


def union_bbox(boxes: Sequence[Sequence[float]]) -> list[float] | None:
    """The box around boxes (those across the antimeridian count as their east edge past 180)."""
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def rounded(coordinates: Any, digits: int = 6) -> Any:
    """GeoJSON coordinates (at any nesting) rounded: 6 digits are 0.1 m, and a page is lighter."""
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [round(float(v), digits) for v in coordinates]
    return [rounded(c, digits) for c in coordinates]


def _wrap(longitude: float) -> float:
    return (longitude + 180.0) % 360.0 - 180.0 if not -180 <= longitude <= 180 else longitude
