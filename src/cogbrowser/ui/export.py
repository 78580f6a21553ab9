"""Export the area of interest (or the map's view) of the shown image: a picture as drawn (PNG),
its raw values (GeoTIFF) in a CRS of the user's choice, or a timelapse GIF across the dates of
its collection.

Each button asks the API — /api/v1/images/{id}/export and /api/v1/collections/{id}/timelapse.gif,
with the area's bbox (tool_area.py) and the render parameters drawn — inside the server, so a
refusal (too big, nothing there) is a message in the panel rather than a broken download, and a
success goes to the browser as a `dcc.Download` under the file name the API proposes. The API's
own link is shown too, for scripts and GIS clients. What the API makes a job of (a timelapse of
many dates, a very large export: 202) is a message with the links to the job and to its file.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from urllib.parse import quote, urlencode

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api
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
from cogbrowser.web.context import mark_heavy_callbacks

CRS = "browse-export-crs"
SIZE = "browse-export-size"
VALUES = "browse-export-values"
PNG, TIF, GIF = "browse-export-png", "browse-export-tif", "browse-export-gif"
RESULT = "browse-export-result"
DOWNLOAD = "browse-export-download"
NATIVE = "native"  # the image's own CRS, or its own resolution
GIF_WIDTH, MAX_GIF_WIDTH = 512, 1024
SIZES = (1024, 2048, 4096)  # the server's limit per side is 4096 by default
# A dcc.Download travels base64 inside the callback's JSON answer: fine for a picture, not for
# the hundreds of MB of a full-resolution float GeoTIFF. Above this, the browser fetches the file
# itself from the API's link (streamed, saved under the same name; the server renders it again).
MAX_SENT_BYTES = 32_000_000


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
        dcc.Loading(type="dot", delay_show=200, children=[html.Div(id=RESULT, className="tool-result"),
                                                          dcc.Download(id=DOWNLOAD)]),
    ])


def crs_options(image: dict | None) -> list[dict]:
    own = f"EPSG:{image['epsg']}, the image's own" if image and image.get("epsg") else "the image's own CRS"
    return [{"label": own, "value": NATIVE}, {"label": "EPSG:4326 (lon/lat)", "value": "EPSG:4326"},
            {"label": "EPSG:3857 (web map)", "value": "EPSG:3857"}]


def register(app: dash.Dash) -> None:
    """The Export tool's callbacks, on `app`; an export runs in the server's heavy lane."""
    mark_heavy_callbacks(app.server, DOWNLOAD)
    app.callback(Output(CRS, "options"), Input(IMAGE_INFO, "data"), prevent_initial_call=True)(_crs_choices)
    app.callback(Output(DOWNLOAD, "data"), Output(RESULT, "children"), Input(PNG, "n_clicks"), Input(TIF, "n_clicks"),
                 Input(GIF, "n_clicks"), State(IMAGE_INFO, "data"), State(VIS, "data"), State(CRS, "value"),
                 State(SIZE, "value"), State(VALUES, "value"), State(AOI, "data"), State(MAP, "bounds"),
                 prevent_initial_call=True)(_export)


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


def _export(png, tif, gif, info, drawn, crs, size, which, aoi, bounds):
    """The asked file, made by the API, as a download; or the API's reason why not."""
    button = dash.ctx.triggered_id
    if button not in (PNG, TIF, GIF) or not dash.ctx.triggered[0].get("value"):
        raise PreventUpdate
    area, problem = chosen_area(info, aoi, bounds)
    if area is None:
        return no_update, problem
    if not drawn:
        return no_update, message("The image is not drawn yet: wait for it on the map.", "empty")
    image = info["image"]
    if button == GIF:
        if not image.get("collection_id"):
            return no_update, message(f"Image {image['id']} belongs to no collection: there are no other dates.",
                                      "empty")
        path, pairs = f"/api/v1/collections/{quote(image['collection_id'])}/timelapse.gif", \
            timelapse_pairs(area, drawn, size or NATIVE)
    else:
        fmt = "png" if button == PNG else "tif"
        path, pairs = f"/api/v1/images/{quote(image['id'])}/export", \
            export_pairs(area, drawn, fmt, crs or NATIVE, size or NATIVE, which or AS_DRAWN)
    try:
        body, filename = api.download(path, pairs)
    except api.Deferred as deferred:
        return no_update, _deferred(deferred.job, "The timelapse" if button == GIF else "The export", area)
    except api.ApiFailure as exc:
        what = "The timelapse" if button == GIF else "The export"
        if exc.status == 404:
            return no_update, message(f"{what} found nothing in {area.describe()}: {exc.detail}.", "error")
        return no_update, message(f"{what} cannot be made: {exc.detail}", "error")
    filename = filename or path.rsplit("/", 1)[-1]
    link = path + "?" + urlencode(pairs, quote_via=quote)
    if len(body) > MAX_SENT_BYTES:
        return no_update, [html.Div(className="message info export-done", children=[
            f"{filename} of {area.describe()} is {_size(len(body))}: ",
            html.A("download it", href=link, download=filename, className="link", id="browse-export-link"),
            " (straight from the REST API)."])]
    done: list[Component] = [html.Div(className="message info export-done", children=[
        f"Saved {filename} ({_size(len(body))}) of {area.describe()}. ",
        html.A("API link", href=link, className="link", target="_blank", title="The same file from the REST API")])]
    if button == GIF:
        done.append(html.Img(src="data:image/gif;base64," + base64.b64encode(body).decode(), className="gif-preview",
                             alt=f"timelapse of {image['collection_id']}"))
    return dcc.send_bytes(body, filename), done


def _deferred(job: dict, what: str, area: ToolArea) -> Component:
    """The message for a file the API makes in the background: where it will be, and its progress."""
    job_id = job.get("id", "")
    return html.Div(className="message info export-done", children=[
        f"{what} of {area.describe()} is large: it is being made in the background. ",
        html.A("Download it", href=f"/api/v1/jobs/{quote(job_id)}/result", className="link",
               id="browse-export-job-result", download=job.get("filename") or None),
        " once it is ready (",
        html.A("progress", href=f"/api/v1/jobs/{quote(job_id)}", className="link", target="_blank"),
        ")."])


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{max(1, round(count / 1e3))} kB"
