"""The Browse map's basemap choice: the shipped Natural Earth map, or any image or collection of
the catalog drawn under everything else (a cloud-free mosaic as the background of a search).

A catalog basemap is the layer's XYZ tiles (`/tiles/{layer}/WebMercatorQuad/…`, in the layer's
default look), limited to the layer's bounds and native zoom from its TileJSON, in the raster
basemap pane; the Natural Earth countries are then drawn as outlines only (browse_map). The
choice lives in the page's URL (`basemap=<layer>`).

The chooser offers the collections, the shown image and the newest images; typing searches every
image. The chosen
layer is held in a store (CHOSEN) and put back into the dropdown's options with the value in one
answer: Dash's dropdown drops a value its options lack, which would lose a link's choice.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import dash
import dash_leaflet as dl
from dash import Input, Output, State, ctx, dcc, html, no_update

from cogbrowser.ui import api, place_search
from cogbrowser.ui.browse_map import BASEMAP_CHOICE as CHOSEN
from cogbrowser.ui.browse_map import RASTER_BASEMAP_PANE
from cogbrowser.ui.visualization import IMAGE
from cogbrowser.web.context import services

CHOICE = "browse-basemap-select"
RESTORED = "browse-basemap-restored"  # the link's choice, set by browse._restore
LAYER = "browse-basemap-catalog"
MESSAGE = "browse-basemap-message"
NATURAL_EARTH = "natural-earth"  # the default: no catalog layer
SEARCH_LIMIT = 30
LISTED_IMAGES = 200  # the newest images offered before anything is typed (typing searches them all)


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=CHOSEN, data=None), dcc.Store(id=RESTORED)]


def map_layers() -> list:
    return [dl.LayerGroup(id=LAYER, children=[])]


def map_overlays() -> list:
    """The chooser, at the map's bottom left (above the cursor's coordinates)."""
    return [html.Div(className="map-overlay basemap-choice", children=[
        html.Div(className="basemap-head", children=[
            html.Label("Basemap", htmlFor=CHOICE, className="basemap-label"), *place_search.labels_toggle()]),
        dcc.Dropdown(id=CHOICE, options=options(None, None, None), value=NATURAL_EARTH, clearable=False,
                     searchable=True, placeholder="type to find an image", optionHeight=36, maxHeight=260),
        html.Div(id=MESSAGE),
    ])]


def options(chosen: str | None, shown_image: str | None, search: str | None) -> list[dict]:
    """Natural Earth (over the user's own basemap file, if the server has one), every collection
    (a mosaic, newest on top), the shown image, the images a search finds, and the chosen layer."""
    own = services().basemap
    entries = [{"label": "Natural Earth" + (f" over {own.name}" if own is not None else " (shipped)"),
                "value": NATURAL_EARTH}]
    try:
        collections = api.get("/api/v1/collections")["collections"]
        found = api.get("/api/v1/images", q=search, limit=SEARCH_LIMIT)["images"] if search else []
        newest = api.get("/api/v1/images", sortby="-acquired_at", limit=LISTED_IMAGES)["images"]
    except api.ApiFailure:
        collections, found, newest = [], [], []
    entries += [{"label": f"{c.get('title') or c['id']} (collection)", "value": c["id"]} for c in collections]
    images = [shown_image] if shown_image else []
    images += [image["id"] for image in found] + [image["id"] for image in newest]
    entries += [{"label": f"{image} (image)", "value": image} for image in dict.fromkeys(images)]
    known = {entry["value"] for entry in entries}
    if chosen and chosen not in known:
        entries.append({"label": chosen, "value": chosen})
    return entries


def basemap_layer(layer: str) -> dl.TileLayer:
    """The layer's XYZ tiles as a basemap, from its TileJSON (bounds, zooms); raises ApiFailure
    for a layer the server does not know."""
    tilejson = api.get(f"/tiles/{quote(layer, safe='')}/WebMercatorQuad/tilejson.json")
    west, south, east, north = tilejson["bounds"]
    key = hashlib.sha1(layer.encode()).hexdigest()[:10]
    return dl.TileLayer(id=f"browse-basemap-tiles-{key}",
                        url=f"/tiles/{quote(layer, safe='')}/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png",
                        pane=RASTER_BASEMAP_PANE, bounds=[[south, west], [north, east]], maxZoom=21,
                        minZoom=0, maxNativeZoom=tilejson.get("maxzoom", 18), tileSize=256)


def register(app: dash.Dash) -> None:
    """The basemap chooser's callback, on `app`."""
    app.callback(Output(CHOICE, "options"), Output(CHOICE, "value"), Output(CHOSEN, "data"), Output(LAYER, "children"),
                 Output(MESSAGE, "children"),
                 Input(RESTORED, "data"), Input(CHOICE, "value"), Input(CHOICE, "search_value"), Input(IMAGE, "data"),
                 State(CHOSEN, "data"), prevent_initial_call=True)(_choose)


def _choose(restored: dict | None, value: str | None, search: str | None, image: dict | None, chosen: str | None):
    """The chosen basemap drawn (and its options kept holding it); a layer the catalog does not
    have falls back to Natural Earth with a message."""
    shown = (image or {}).get("id")
    triggered = ctx.triggered_prop_ids  # a link sets the image too: both may arrive in one call
    if f"{RESTORED}.data" in triggered:
        wanted = (restored or {}).get("layer") or NATURAL_EARTH
    elif f"{CHOICE}.value" in triggered:
        wanted = value or NATURAL_EARTH
    else:  # a search typed, or another image shown: only the options change
        return options(chosen, shown, search), no_update, no_update, no_update, no_update
    if wanted == NATURAL_EARTH:  # the store only when it changes: Natural Earth redraws on it
        return options(None, shown, search), NATURAL_EARTH, None if chosen else no_update, [], None
    try:
        layer = basemap_layer(wanted)
    except api.ApiFailure as failure:
        note = html.Div(f"Basemap {wanted!r} cannot be drawn: {failure.detail}", className="message error")
        return options(None, shown, search), NATURAL_EARTH, None if chosen else no_update, [], note
    return options(wanted, shown, search), wanted, wanted if wanted != chosen else no_update, [layer], None
