"""The Analytics page's scatter plot: a sample of the selected detections on two chosen axes, and
the card of a clicked detection with the way to it on the map.

The API draws a repeatable random sample (at most SAMPLE_SIZE points) of what the filters and
the other views' cross-filters select; the scatter's own box (its chip) does not filter it, it
stays drawn where it was (`_scatter_box` patches it into the figure without asking the API).
"""

from __future__ import annotations

import dash
from dash import ClientsideFunction, Input, Output, Patch, State, html, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api, report
from cogbrowser.ui.analytics_charts import AXES, box_shapes, scatter_figure, scatter_note
from cogbrowser.ui.analytics_layout import message
from cogbrowser.ui.analytics_queries import DETECTIONS, SAMPLE_SIZE
from cogbrowser.ui.analytics_state import browse_link, own_pick, view_filters
from cogbrowser.ui.api import ApiFailure

SOURCE = "scatter"  # the chips this view makes (and leaves out)


def register(app: dash.Dash) -> None:
    """The scatter plot's callbacks, on `app`."""
    app.callback(Output("an-scatter", "figure"), Output("an-scatter", "style"), Output("an-scatter-note", "children"),
                 Output("an-scatter-message", "children"), Output("an-scatter-key", "data"),
                 Input("an-filters", "data"), Input("an-chips", "data"), Input("an-x", "value"),
                 Input("an-y", "value"), Input("an-colours", "data"), Input("an-webgl", "data"),
                 State("an-scatter-key", "data"))(_scatter)
    app.clientside_callback(ClientsideFunction("cogbrowserAnalytics", "webgl"), Output("an-webgl", "data"),
                            Input("an-webgl", "id"))
    app.callback(Output("an-scatter", "figure", allow_duplicate=True), Input("an-chips", "data"),
                 State("an-x", "value"), State("an-y", "value"), prevent_initial_call=True)(_scatter_box)
    app.callback(Output("an-detail", "children"), Input("an-scatter", "clickData"), State("an-filters", "data"),
                 State("an-chips", "data"), prevent_initial_call=True)(_detail)


def _scatter(filters_data, chips_data, x: str, y: str, colours: dict | None, webgl: bool | None,
             last_key: str | None):
    """A sample of the selected detections (its own box left out: it stays drawn where it was)."""
    if filters_data is None or x not in AXES or y not in AXES:
        raise PreventUpdate
    filters = view_filters(filters_data, chips_data, SOURCE)
    colours = colours or {}
    webgl = webgl is not False  # until the browser has said (it says at once, without the server)
    key = f"{filters}|{x}|{y}|{sorted(colours.items())}|{webgl}"
    if key == last_key:
        raise PreventUpdate
    hidden = {"display": "none"}
    if filters is None:
        return no_update, hidden, None, message("empty", report.EMPTY_HINT), key
    try:
        sample = api.get(f"{DETECTIONS}/sample", size=SAMPLE_SIZE, **filters.api_params())
    except ApiFailure as failure:
        return no_update, hidden, None, message("error", failure.detail), key
    if sample["matched"] == 0:
        return no_update, hidden, None, message("empty", report.EMPTY_HINT), key
    figure, plotted = scatter_figure(sample["points"], x, y, colours, box_shapes(own_pick(chips_data, SOURCE), x, y),
                                     webgl)
    return figure, {}, scatter_note(sample, plotted, x, y), None, key


def _scatter_box(chips_data, x: str, y: str):
    """The scatter's own cross-filter drawn as a box (kept through redraws and links), patched
    into the figure without asking the API again."""
    figure = Patch()
    figure["layout"]["shapes"] = box_shapes(own_pick(chips_data, SOURCE), x, y)
    return figure


def _detail(click: dict | None, filters_data: str | None, chips_data: list | None):
    """The clicked detection, and the way to it on the map (with the selection's filters)."""
    if not click or not click.get("points"):
        raise PreventUpdate
    detection_id = click["points"][0]["customdata"][0]
    try:
        detection = api.get(f"{DETECTIONS}/{detection_id}")
    except ApiFailure as failure:
        return message("error", failure.detail)
    facts = [("Class", detection["target_class"]), ("Name", detection["target_name"] or "–"),
             ("Image", detection["image_id"]), ("Score", f"{detection['score']:.3f}"),
             ("Detected", (detection["detected_at"] or "–").replace("T", " ").replace("Z", " UTC")),
             ("Area", f"{detection['area_m2']:,.0f} m²" if detection["area_m2"] is not None else "–")]
    return html.Div(className="detail-card", children=[
        html.Div(className="detail-head", children=[
            html.Strong(f"Detection #{detection['id']}"),
            html.A("Open on the map", href=browse_link(view_filters(filters_data, chips_data, None), detection["id"]),
                   className="button", id="an-open-on-map")]),
        html.Dl([part for label, value in facts for part in (html.Dt(label), html.Dd(value))]),
    ])
