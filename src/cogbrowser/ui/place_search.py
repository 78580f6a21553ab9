"""The Browse map's place search and place names.

- The search box (top of the map): suggestions as the user types, from `/api/v1/places` fetched by
  assets/places.js (debounced; arrows, Enter and Esc work). A place or coordinates fly the map
  there (coordinates also get a marker) in the browser; an image id opens the image exactly as a
  click on its search result does (`image_search.opened`), the one step that needs the server.
- Place names (a toggle in the basemap chooser): the app's own label tiles
  (`/ui/basemap/labels/{z}/{x}/{y}.png`, ogc/place_labels.py) in their pane above the imagery,
  added and removed in the browser; the choice lives in the page's URL (`labels=1`).
"""

from __future__ import annotations

import dash
from dash import Input, Output, dcc, html
from dash.exceptions import PreventUpdate

from cogbrowser.places.gazetteer import ATTRIBUTION
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.image_search import HIGHLIGHT, TABS, opened
from cogbrowser.ui.visualization import IMAGE

SEARCH = "browse-place-search"
SUGGESTIONS = "browse-place-suggestions"
CHOSEN_IMAGE = "browse-place-image"  # {"id", "bbox"}: an image chosen in the search box (set by places.js)
LABELS = "browse-place-names"  # ["on"] when place names are drawn
LABELS_DRAWN = "browse-place-names-drawn"  # a clientside callback's required output: never read
CREDIT = "browse-place-names-credit"


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=CHOSEN_IMAGE), dcc.Store(id=LABELS_DRAWN)]


def map_overlays() -> list:
    """The search box, at the top of the map between the zoom buttons and Zoom to data; the place
    names' credit at the bottom right (the map has no attribution control: Leaflet's links out)."""
    return [html.Div(className="map-overlay place-search", role="search", children=[
        dcc.Input(id=SEARCH, type="search", placeholder="Find a place, coordinates or an image id",
                  autoComplete="off", debounce=False, spellCheck=False, className="place-search-input"),
        html.Ul(id=SUGGESTIONS, role="listbox", className="place-suggestions"),
    ]), html.Div(ATTRIBUTION, id=CREDIT, className="map-overlay place-names-credit")]  # shown with the names


def labels_toggle() -> list:
    """The Place names toggle, beside the basemap chooser's title (the chooser must not grow: the
    pixel card sits right above it)."""
    return [dcc.Checklist(id=LABELS, options=[{"label": "Place names", "value": "on"}], value=[],
                          className="check place-names-toggle")]


def register(app: dash.Dash) -> None:
    app.clientside_callback(dash.ClientsideFunction("cogbrowserPlaces", "placeNames"), Output(LABELS_DRAWN, "data"),
                            Input(LABELS, "value"))
    app.callback(Output(IMAGE, "data", allow_duplicate=True), Output(MAP, "viewport", allow_duplicate=True),
                 Output(TABS, "value", allow_duplicate=True), Output(HIGHLIGHT, "data", allow_duplicate=True),
                 Input(CHOSEN_IMAGE, "data"), prevent_initial_call=True)(_open_image)


def _open_image(chosen: dict | None):
    if not chosen or not chosen.get("id") or not chosen.get("bbox"):
        raise PreventUpdate
    return opened(chosen["id"], chosen["bbox"])
