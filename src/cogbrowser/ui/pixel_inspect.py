"""Clicking the map reads the shown image there: every band's raw value (nodata is shown as
such), the value of the band math being drawn, the pixel's row and column, and the image's
metadata — from /api/v1/images/{id}/point, in a card over the map. When the Visualize tab shows
the collection's mosaic, the card reads the image the mosaic draws on top there
(/api/v1/collections/{id}/point, with the mosaic's dates, cloud limit and order).

This is the point part of Inspect; the area tools (histogram and time series of an AOI) belong
in the Visualize tab's tools area (visualization.TOOLS).
"""

from __future__ import annotations

from urllib.parse import quote

import dash
import dash_leaflet as dl
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.map_state import Visualization
from cogbrowser.ui.visualization import (
    IMAGE_INFO,
    JUST_THE_IMAGE,
    MOSAIC,
    MOSAIC_FILTER,
    VIS,
    metadata_table,
    preset_expression,
    search_limits,
)

CARD = "browse-inspect"
MARKER = "browse-inspect-marker"
CLOSE = "browse-inspect-close"


def map_layers() -> list:
    return [dl.LayerGroup(id=MARKER, children=[])]


def map_overlays() -> list:
    return [html.Div(id=CARD, className="map-overlay inspect-card", style={"display": "none"})]


def clicked_point(click: dict | None) -> tuple[float, float] | None:
    """The (lat, lon) of a map click (dash-leaflet sends latlng as {lat, lng} or [lat, lng])."""
    latlng = (click or {}).get("latlng")
    if isinstance(latlng, dict):
        return float(latlng["lat"]), float(latlng["lng"])
    if isinstance(latlng, (list, tuple)) and len(latlng) == 2:
        return float(latlng[0]), float(latlng[1])
    return None


def register(app: dash.Dash) -> None:
    """The pixel inspector's callbacks, on `app`."""
    app.callback(Output(CARD, "children"), Output(CARD, "style"), Output(MARKER, "children"),
                 Input(MAP, "clickData"), State(IMAGE_INFO, "data"), State(VIS, "data"), State(MOSAIC, "value"),
                 State(MOSAIC_FILTER, "data"), prevent_initial_call=True)(_inspect)
    app.callback(Output(CARD, "style", allow_duplicate=True), Output(MARKER, "children", allow_duplicate=True),
                 Input(CLOSE, "n_clicks"), prevent_initial_call=True)(_close)


def _inspect(click: dict | None, info: dict | None, drawn: list | None, mosaic: str | None = None,
             searched: dict | None = None):
    """The pixel values under the click (of the image the mosaic shows there, when it is shown),
    or why there are none."""
    point = clicked_point(click)
    if point is None:
        raise PreventUpdate
    lat, lon = point
    marker = [dl.CircleMarker(center=[lat, lon], radius=6, color="#ffffff", weight=2, fillColor="#d43d3d",
                              fillOpacity=1, interactive=False)]
    place = f"{abs(lat):.5f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.5f}° {'E' if lon >= 0 else 'W'}"
    if not info:
        return _card(place, html.Div("Show an image (Search, then click a result) to read its pixel values here.",
                                     className="message empty")), {}, marker
    image = info["image"]
    expression = preset_expression(info, Visualization.from_pairs(drawn or []))
    in_mosaic = bool(mosaic and mosaic != JUST_THE_IMAGE and image.get("collection_id"))
    try:
        if in_mosaic:
            order = {"mosaic_order": mosaic} if mosaic != "newest" else {}
            closest = {"closest_to": image["acquired_at"]} if mosaic == "closest" and image.get("acquired_at") else {}
            answer = api.get(f"/api/v1/collections/{quote(image['collection_id'])}/point", lon=f"{lon:.8f}",
                             lat=f"{lat:.8f}", expression=expression, **search_limits(searched), **order, **closest)
        else:
            answer = api.get(f"/api/v1/images/{quote(image['id'])}/point", lon=f"{lon:.8f}", lat=f"{lat:.8f}",
                             expression=expression)
    except api.ApiFailure as exc:
        if exc.status != 404:
            text = exc.detail
        elif in_mosaic:
            text = f"No image of the mosaic has data here (collection {image['collection_id']})."
        else:
            text = f"No pixel of {image['id']} here: the point is outside the image."
        return _card(place, html.Div(text, className="message info")), {}, marker
    if answer.get("image_id") not in (None, image["id"]):
        image = api.get(f"/api/v1/images/{quote(answer['image_id'])}")
    metadata = html.Details(open=True, className="image-metadata",
                            children=[html.Summary("Image metadata"), metadata_table(image)])
    return _card(place, values_table(answer, info), metadata), {}, marker


def values_table(answer: dict, info: dict) -> html.Div:
    """Each band's raw value (and band math's), with the pixel's row and column."""
    common = {b.get("name"): b.get("common_name") for b in ((info.get("collection") or {}).get("bands") or [])}
    rows = [html.Tr([html.Th(name), html.Td(common.get(name) if common.get(name) != name else "", className="hint"),
                     html.Td("nodata" if value is None else _show(value), className="value")])
            for name, value in zip(answer["bands"], answer["values"])]
    rows += [html.Tr([html.Th("ƒx"), html.Td(e["expression"], className="hint"),
                      html.Td("nodata" if e["value"] is None else _show(e["value"]), className="value")])
             for e in answer.get("expressions") or []]
    return html.Div(className="pixel-values", children=[
        html.Div(f"{answer.get('image_id') or info['image']['id']} · row {answer['row']}, column {answer['col']}",
                 className="meta"),
        html.Table(className="facts values", children=html.Tbody(rows)),
    ])


def _show(value: float | int) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _card(place: str, *content) -> list:
    return [html.Div(className="inspect-head", children=[
        html.Span(place, className="inspect-place"),
        html.Button("×", id=CLOSE, className="close", title="Close", n_clicks=0)]), *content]


def _close(clicks: int | None):
    if not clicks:
        raise PreventUpdate
    return {"display": "none"}, []
