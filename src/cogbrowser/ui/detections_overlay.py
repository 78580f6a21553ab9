"""The detections of the shown image on the map: boxes coloured by target class, with a legend,
popups (class, name, score, image) and filters by class, name and score.

A detection can be highlighted (`/?detection=<id>`, the Analytics page's links, or a click on a
box): it is drawn thicker and its popup opens. Styling and popups are browse.js functions fed
through the layer's `hideout` (the colours and the highlighted id), so a new highlight or a new
colour restyles the boxes in the browser without sending them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import dash
import dash_leaflet as dl
import shapely
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from shapely.geometry import mapping, shape

from cogbrowser.ui import api, image_search
from cogbrowser.ui.browse_map import DETECTION_PANE, rounded
from cogbrowser.ui.detection_filters import Filters
from cogbrowser.ui.map_state import OverlayFilters
from cogbrowser.ui.visualization import IMAGE_INFO

DETECTIONS = "browse-detections"
HIGHLIGHT = image_search.HIGHLIGHT  # the highlighted detection's id, or None
SHOW = "browse-det-show"
CLASSES = "browse-det-classes"
NAMES = "browse-det-names"
SCORE = "browse-det-score"
SUMMARY = "browse-det-summary"
LEGEND = "browse-det-legend"
MAX_DRAWN = 10_000  # the API's page limit; more on one image are said to be left out
KNOWN_COLOURS = {"ship": "#19b5fe", "aircraft": "#ff3d9a", "vehicle": "#ffd400", "building": "#ff7a1a",
                 "storage_tank": "#7fe04a"}
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990",
           "#9a6324")
SIMPLIFY_DEGREES = 1e-7  # about 1 cm: only points on a straight edge go
POPUP_FIELDS = ("id", "image_id", "target_class", "target_name", "score", "detected_at")


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """A colour for every class: fixed ones for the usual classes, the others from a palette in
    the order of the catalog's classes (so a class keeps its colour from image to image)."""
    others = iter(PALETTE * (1 + len(classes) // len(PALETTE)))
    return {name: KNOWN_COLOURS.get(name) or next(others) for name in sorted(classes)}


# ---------------------------------------------------------------- layout

def panel() -> html.Div:
    """The Detections tab: what to draw of the shown image's detections."""
    return html.Div(className="detections-panel", children=[
        dcc.Checklist(id=SHOW, options=[{"label": " Show the shown image's detections", "value": "show"}],
                      value=["show"], className="check"),
        html.Div(className="field", children=[
            html.Label("Classes", htmlFor=CLASSES),
            dcc.Dropdown(id=CLASSES, multi=True, placeholder="All classes", options=[])]),
        html.Div(className="field", children=[
            html.Label("Names", htmlFor=NAMES),
            dcc.Dropdown(id=NAMES, multi=True, placeholder="All names", options=[])]),
        html.Div(className="field", children=[
            html.Label("Score at least", htmlFor=SCORE),
            dcc.Slider(id=SCORE, min=0, max=1, step=0.05, value=0, marks={0: "0", 0.5: "0.5", 1: "1"},
                       tooltip={"placement": "bottom"}, allow_direct_input=False)]),
        dcc.Loading(type="dot", delay_show=300, children=html.Div(id=SUMMARY)),
    ])


def map_layers(colours: dict[str, str]) -> list:
    return [dl.GeoJSON(id=DETECTIONS, data=None, pane=DETECTION_PANE, hideout={"colours": colours, "selected": None},
                       style={"variable": "cogbrowser.detectionStyle"},
                       onEachFeature={"variable": "cogbrowser.detectionPopup"})]


def map_overlays() -> list:
    return [html.Div(id=LEGEND, className="map-overlay map-legend detection-legend", style={"display": "none"})]


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=HIGHLIGHT)]


# ---------------------------------------------------------------- callbacks

def register(app: dash.Dash) -> None:
    """The Detections tab's callbacks and the boxes on the map, on `app`."""
    app.callback(Output(CLASSES, "options"), Output(NAMES, "options"), Input(IMAGE_INFO, "data"),
                 prevent_initial_call=True)(_filter_choices)
    app.callback(Output(DETECTIONS, "data"), Output(DETECTIONS, "hideout"), Output(LEGEND, "children"),
                 Output(LEGEND, "style"), Output(SUMMARY, "children"),
                 Input(IMAGE_INFO, "data"), Input(SHOW, "value"), Input(CLASSES, "value"), Input(NAMES, "value"),
                 Input(SCORE, "value"), Input(HIGHLIGHT, "data"), State(DETECTIONS, "hideout"),
                 prevent_initial_call=True)(_draw)
    app.callback(Output(HIGHLIGHT, "data", allow_duplicate=True), Input(DETECTIONS, "clickData"),
                 prevent_initial_call=True)(_highlight_clicked)


def _filter_choices(info: dict | None):
    """The classes and names present on the shown image, with their counts."""
    if not info:
        return [], []
    try:
        by_class, by_name = (api.get("/api/v1/detections/counts", by=key, limit=2000,
                                     **OverlayFilters().api_params(info["image"]["id"]))["counts"]
                             for key in ("class", "name"))
    except api.ApiFailure:
        return [], []  # the overlay's own callback says what failed
    return ([{"label": f"{row['key']} ({row['count']:,})", "value": row["key"]} for row in by_class if row["key"]],
            [{"label": f"{row['key']} ({row['count']:,})", "value": row["key"]} for row in by_name if row["key"]])


def overlay_from_controls(show: list | None, classes: list | None, names: list | None,
                          score: float | None) -> OverlayFilters:
    return OverlayFilters(show=bool(show), classes=tuple(classes or ()), names=tuple(names or ()),
                          min_score=score if score else None)


def _draw(info, show, classes, names, score, highlight, hideout):
    """The selected detections of the shown image as GeoJSON, with the legend of their classes."""
    hidden = {"display": "none"}
    hideout = {**(hideout or {}), "selected": highlight}
    if set(dash.ctx.triggered_prop_ids.values()) == {HIGHLIGHT}:  # only restyle
        return dash.no_update, hideout, dash.no_update, dash.no_update, dash.no_update
    overlay = overlay_from_controls(show, classes, names, score)
    if not info:
        return None, hideout, None, hidden, html.Div("Show an image to see its detections.", className="message empty")
    if not overlay.show:
        return None, hideout, None, hidden, html.Div("Detections are hidden.", className="hint")
    image_id = info["image"]["id"]
    try:
        answer = api.get("/api/v1/detections", f="geojson", limit=MAX_DRAWN, **overlay.api_params(image_id))
    except api.ApiFailure as exc:
        return None, hideout, None, hidden, html.Div(f"Detections cannot be read: {exc.detail}",
                                                     className="message error")
    features = [{"type": "Feature", "id": f["id"], "geometry": light_geometry(f["geometry"]),
                 "properties": {k: f["properties"].get(k) for k in POPUP_FIELDS}} for f in answer["features"]]
    total = info["image"].get("detection_count") or 0
    if not features:
        note = "This image has no detections." if not total else "No detection matches these filters."
        return None, hideout, None, hidden, html.Div(note, className="message empty")
    counts: dict[str, int] = {}
    for feature in features:
        counts[feature["properties"]["target_class"]] = counts.get(feature["properties"]["target_class"], 0) + 1
    legend = legend_entries(counts, hideout.get("colours") or {})
    more = " (the first ones: narrow the filters)" if len(features) == MAX_DRAWN else ""
    # the map's view goes with it when clicked (browse.js: the view changes without a callback)
    analytics = "/analytics?" + Filters(images=(image_id,), classes=overlay.classes, names=overlay.names,
                                        min_score=overlay.min_score).query_string()
    summary = html.Div(className="det-summary", children=[
        html.Span(f"{len(features):,} of {total:,} detections drawn{more}."), " ",
        html.A("Open in Analytics", href=analytics, className="link analytics-link", id="browse-open-analytics",
               title="The dashboard of these detections, in the map's view")])
    return {"type": "FeatureCollection", "features": features}, hideout, legend, {}, summary


def light_geometry(geometry: dict) -> dict:
    """A detection's outline with the points that only densify its straight edges left out (a
    box keeps its 4 corners, a third of the bytes on the page), rounded to 0.1 m."""
    try:
        simple = mapping(shapely.simplify(shape(geometry), SIMPLIFY_DEGREES, preserve_topology=True))
    except (ValueError, TypeError, KeyError, shapely.errors.ShapelyError):
        return geometry
    return {"type": simple["type"], "coordinates": rounded(simple["coordinates"])}


def legend_entries(counts: dict[str, int], colours: dict[str, str]) -> list:
    """The legend: each class drawn, its colour and count."""
    return [html.Div("Detections", className="legend-title"),
            *[html.Div(className="legend-entry", children=[
                html.Span(className="legend-swatch", style={"borderColor": colours.get(name, "#ffffff")}),
                html.Span(name), html.Span(f"{count:,}", className="legend-count")])
              for name, count in sorted(counts.items())]]


def _highlight_clicked(feature: dict | None):
    """A clicked box becomes the highlighted detection (and the URL's `detection`)."""
    if not feature or feature.get("id") is None:
        raise PreventUpdate
    return feature["id"]


def detection_record(detection_id: int) -> dict | None:
    """A detection as the API has it, or None if there is no such detection."""
    try:
        return api.get(f"/api/v1/detections/{quote(str(detection_id))}")
    except api.ApiFailure:
        return None
