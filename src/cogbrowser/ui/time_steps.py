"""Moving through time on the Browse page: the previous and next acquisition, and a calendar that
knows where the data is.

- The time bar on the map (◀ date ▶, and the keys `[` and `]`) steps from the shown image to the
  previous or next acquisition of its collection, within the search's dates, cloud limit and
  detection classes, and in the area of interest (or, without one, the map's view). The map keeps
  its view and the image its look, as in the Copernicus Browser's date arrows.
- The search's dates and cloud limit are what a mosaic of the collection (the Visualize tab's
  "Show") and the Inspect area tool's time series draw from (`MOSAIC_FILTER`).
- The search's date picker opens on the month of the newest data, and marks each date with images
  (a dot, darker for clearer images; hovering says how many and how cloudy).

One server callback: the acquisitions matching the search's filters, asked when a filter changes
(`GET /api/v1/acquisitions`: every match, only time, cloud and place). Everything else — which image
is before or after, what the bar says, a step, the calendar's marks — is decided in the browser
(assets/time-steps.js), so a step is drawn the moment it is asked for, and the image's id (hence its
date) goes to the address bar as for any shown image.
"""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from cogbrowser.ui import api
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.image_search import AOI, CATALOG, CLOUD, COLLECTIONS, DATES, TARGETS, filters_from_controls
from cogbrowser.ui.visualization import IMAGE, IMAGE_INFO, MOSAIC, MOSAIC_FILTER

ACQUISITIONS = "browse-acquisitions"  # the answer of GET /api/v1/acquisitions for the search's filters
STEPS = "browse-time-steps"  # {"previous": id | null, "next": id | null}: where the arrows lead
TIME_BAR = "browse-time-bar"
PREVIOUS = "browse-time-previous"
NEXT = "browse-time-next"
WHEN = "browse-time-when"
STEPPED = "browse-time-stepped"  # a step taken in the browser (its image id), for the tests and the log


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=ACQUISITIONS), dcc.Store(id=STEPS), dcc.Store(id=STEPPED)]


def map_overlays() -> list:
    """The time bar, at the bottom of the map while an image is shown."""
    aria = {"role": "group", "aria-label": "Acquisition date"}
    return [html.Div(id=TIME_BAR, className="map-overlay time-bar hidden", **aria, children=[  # type: ignore[arg-type]
        _step_button(PREVIOUS, "◀", "Previous acquisition"),
        html.Span(id=WHEN, className="time-when", **{"aria-live": "polite"}),  # type: ignore[arg-type]
        _step_button(NEXT, "▶", "Next acquisition"),
    ])]


def _step_button(button_id: str, arrow: str, label: str) -> html.Button:
    return html.Button(arrow, id=button_id, className="time-step", n_clicks=0, disabled=True,
                       **{"aria-label": label})  # type: ignore[arg-type]


def register(app: dash.Dash) -> None:
    """The callbacks of moving through time, on `app`."""
    app.callback(Output(ACQUISITIONS, "data"), Input(CLOUD, "value"), Input(COLLECTIONS, "value"),
                 Input(TARGETS, "value"), Input(AOI, "data"))(_acquisitions)
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowserTime", "steps"),
        Output(STEPS, "data"), Output(TIME_BAR, "className"), Output(WHEN, "children"), Output(WHEN, "title"),
        Output(PREVIOUS, "disabled"), Output(PREVIOUS, "title"), Output(NEXT, "disabled"), Output(NEXT, "title"),
        Input(ACQUISITIONS, "data"), Input(IMAGE, "data"), Input(IMAGE_INFO, "data"),
        Input(DATES, "start_date"), Input(DATES, "end_date"), Input(MAP, "bounds"), Input(MOSAIC, "value"),
        State(AOI, "data"))
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowserTime", "step"),
        Output(IMAGE, "data", allow_duplicate=True), Output(STEPPED, "data"),
        Input(PREVIOUS, "n_clicks"), Input(NEXT, "n_clicks"), State(STEPS, "data"), State(CATALOG, "data"),
        prevent_initial_call=True)
    app.clientside_callback(  # the search's dates and cloud limit, as a mosaic and a time series take them
        dash.ClientsideFunction("cogbrowserTime", "searchedTimes"), Output(MOSAIC_FILTER, "data"),
        Input(DATES, "start_date"), Input(DATES, "end_date"), Input(CLOUD, "value"))
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowserTime", "calendar"), Output(DATES, "initial_visible_month"),
        Input(ACQUISITIONS, "data"), State(DATES, "start_date"))


def _acquisitions(cloud: float | None, collections: list | None, targets: list | None, aoi: dict | None) -> dict:
    """Every image the search's filters (all but its dates and the map view, which the browser
    applies) let through, as moments; an empty answer when the catalog cannot say."""
    filters = filters_from_controls((None, None), cloud, collections, targets, None, aoi)
    try:
        return api.get("/api/v1/acquisitions", **filters.api_params())
    except api.ApiFailure:
        return {"days": [], "acquisitions": [], "matched": 0, "truncated": False}
