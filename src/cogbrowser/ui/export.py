"""Export the area of interest (or the map's view) of the shown image: a picture as drawn (PNG),
its raw values (GeoTIFF) in a CRS of the user's choice, or a timelapse GIF across the dates of
its collection.

Each button asks the API — /api/v1/images/{id}/export and /api/v1/collections/{id}/timelapse.gif,
with the area's bbox (tool_area.py) and the render parameters drawn — with `Prefer: respond-async`:
the API checks the request (a refusal, too big or nothing there, is a message in the panel) and
answers with a job at once, so the callback is cheap and the map stays usable while a worker makes
the file. The job is a card in the panel (job_cards.py; jobs.js polls it: progress and stage, Cancel, then
the browser downloads the file from the job's result URL). An API that answers 200 instead (the file
itself) still works: the file goes to the browser as a `dcc.Download`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import dash
from dash import Input, Output, Patch, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api, job_cards
from cogbrowser.ui.area_inspect import chosen_area, message
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.image_search import AOI
from cogbrowser.ui.map_state import Visualization
from cogbrowser.ui.tool_area import (
    AS_DRAWN,
    EVERY_BAND,
    ToolArea,
    longest_side_params,
    value_params,
)
from cogbrowser.ui.visualization import IMAGE_INFO, VIS

CRS = "browse-export-crs"
SIZE = "browse-export-size"
VALUES = "browse-export-values"
PNG, TIF, GIF = "browse-export-png", "browse-export-tif", "browse-export-gif"
RESULT = "browse-export-result"
JOBS = "browse-export-jobs"  # the job cards, oldest first (a new one is appended: jobs.js owns the ones shown)
STARTED = "browse-export-started"  # the jobs this tab started (the browser's session storage): cards after a reload
KEPT_CARDS = 10  # the newest jobs a reload shows again
NATIVE = "native"  # the image's own CRS, or its own resolution
GIF_WIDTH, MAX_GIF_WIDTH = 512, 1024
SIZES = (1024, 2048, 4096)  # the server's limit per side is 4096 by default


def panel() -> html.Details:
    """The Export section of the Visualize tab's tools."""
    return html.Details(className="tool", id="browse-export-tool", children=[
        html.Summary("Export"),
        html.Div("The area of interest's bbox (Search tab) or, without one, the map's view.", className="hint"),
        html.Div(className="field", children=[html.Label("CRS", htmlFor=CRS), dcc.Dropdown(
            id=CRS, value=NATIVE, clearable=False, searchable=False, options=crs_options(None))]),
        html.Div(className="field", children=[html.Label("Size", htmlFor=SIZE), dcc.Dropdown(
            id=SIZE, value=NATIVE, clearable=False, searchable=False,
            options=[{"label": "the image's pixels (full resolution)", "value": NATIVE},
                     *[{"label": f"{n} px on the longer side", "value": str(n)} for n in SIZES]])]),
        html.Div(className="field", children=[html.Label("GeoTIFF values", htmlFor=VALUES), dcc.RadioItems(
            id=VALUES, value=AS_DRAWN, className="tool-choice", inline=True, options=[
                {"label": " as drawn", "value": AS_DRAWN}, {"label": " every band", "value": EVERY_BAND}])]),
        html.Div(className="row tool-buttons", children=[
            html.Button("PNG", id=PNG, n_clicks=0, title="The area as drawn on the map, a picture"),
            html.Button("GeoTIFF", id=TIF, n_clicks=0, title="The area's raw values, georeferenced"),
            html.Button("Timelapse GIF", id=GIF, n_clicks=0, className="secondary",
                        title="The area on every date of the image's collection, as drawn")]),
        dcc.Loading(type="dot", delay_show=200, children=[html.Div(id=RESULT, className="tool-result")]),
        html.Div(id=JOBS, className="job-list", children=[]),
        dcc.Store(id=STARTED, storage_type="session", data=[]),
    ])


def crs_options(image: dict | None) -> list[dict]:
    own = f"EPSG:{image['epsg']}, the image's own" if image and image.get("epsg") else "the image's own CRS"
    return [{"label": own, "value": NATIVE}, {"label": "EPSG:4326 (lon/lat)", "value": "EPSG:4326"},
            {"label": "EPSG:3857 (web map)", "value": "EPSG:3857"}]


def register(app: dash.Dash) -> None:
    """The Export tool's callbacks, on `app`. None renders (a jobs worker does), so none is heavy."""
    app.callback(Output(CRS, "options"), Input(IMAGE_INFO, "data"), prevent_initial_call=True)(_crs_choices)
    app.callback(Output(RESULT, "children"), Output(JOBS, "children"), Output(STARTED, "data"),
                 Input(PNG, "n_clicks"), Input(TIF, "n_clicks"), Input(GIF, "n_clicks"),
                 State(IMAGE_INFO, "data"), State(VIS, "data"), State(CRS, "value"),
                 State(SIZE, "value"), State(VALUES, "value"), State(AOI, "data"), State(MAP, "bounds"),
                 State(STARTED, "data"), prevent_initial_call=True)(_export)
    app.callback(Output(JOBS, "children", allow_duplicate=True), Input(STARTED, "modified_timestamp"),
                 State(STARTED, "data"), State(JOBS, "children"),
                 prevent_initial_call="initial_duplicate")(_restore_cards)


def _crs_choices(info: dict | None):
    return crs_options((info or {}).get("image"))


# ---------------------------------------------------------------- the requests

def export_pairs(area: ToolArea, drawn: Sequence[Sequence[str]] | None, fmt: str, crs: str, size: str,
                 which: str) -> list[tuple[str, str]]:
    """The query of /export: the area's bbox, the CRS and size, and for a picture every render
    parameter drawn, for raw values only which values (a stretch means nothing to them)."""
    pairs: list[tuple[str, str]] = [("bbox", area.bbox_text()), ("format", fmt)]
    if crs != NATIVE:
        pairs.append(("crs", crs))
    if size != NATIVE:
        pairs += list(longest_side_params(area.bbox, int(size), lon_lat=crs == "EPSG:4326").items())
    if fmt == "tif":
        return pairs + list(value_params(drawn, which).items())
    return pairs + Visualization.from_pairs(drawn or []).render_params()


def timelapse_pairs(area: ToolArea, drawn: Sequence[Sequence[str]] | None, size: str) -> list[tuple[str, str]]:
    width = GIF_WIDTH if size == NATIVE else min(int(size), MAX_GIF_WIDTH)
    return [("bbox", area.bbox_text()), ("width", str(width)), *Visualization.from_pairs(drawn or []).render_params()]


def _export(png, tif, gif, info, drawn, crs, size, which, aoi, bounds, started):
    """The asked file as a job card (jobs.js shows its progress and downloads it once made); or the
    API's reason why not."""
    button = dash.ctx.triggered_id
    if button not in (PNG, TIF, GIF) or not dash.ctx.triggered[0].get("value"):
        raise PreventUpdate
    area, problem = chosen_area(info, aoi, bounds)
    if area is None:
        return problem, no_update, no_update
    if not drawn:
        return message("The image is not drawn yet: wait for it on the map.", "empty"), no_update, no_update
    image = info["image"]
    what = "The timelapse" if button == GIF else "The export"
    if button == GIF:
        if not image.get("collection_id"):
            return message(f"Image {image['id']} belongs to no collection: there are no other dates.",
                           "empty"), no_update, no_update
        path, pairs = f"/api/v1/collections/{quote(image['collection_id'])}/timelapse.gif", \
            timelapse_pairs(area, drawn, size or NATIVE)
    else:
        fmt = "png" if button == PNG else "tif"
        path, pairs = f"/api/v1/images/{quote(image['id'])}/export", \
            export_pairs(area, drawn, fmt, crs or NATIVE, size or NATIVE, which or AS_DRAWN)
    try:
        job = api.start_job(path, pairs)
    except api.ApiFailure as exc:
        if exc.status == 404:
            return message(f"{what} found nothing in {area.describe()}: {exc.detail}.", "error"), no_update, no_update
        return message(f"{what} cannot be made: {exc.detail}", "error"), no_update, no_update
    card = {"id": str(job.get("id", "")), "what": f"{job.get('filename')} of {area.describe()}", "gif": button == GIF}
    cards = Patch()
    cards.append(job_card(card))
    return None, cards, [*(started or []), card][-KEPT_CARDS:]


def _restore_cards(_stamp, started: list[dict] | None, shown: list | None):
    """After a reload the cards of the jobs this tab started come back (the jobs go on in the
    server); jobs.js draws them from the API, and does not download a file a second time."""
    if shown or not started:
        raise PreventUpdate
    return [job_card(card) for card in started]


def job_card(card: dict) -> Component:
    """The card of an export or timelapse job (`card`: its id, what it makes, whether it is a GIF to
    preview): jobs.js shows its progress and downloads its file once made."""
    return job_cards.job_card(str(card["id"]), card["what"], preview_gif=bool(card.get("gif")))
