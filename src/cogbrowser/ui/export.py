"""Export the area of interest (or the map's view) of the shown image: a picture as drawn (PNG,
JPEG, or a KMZ for Google Earth), report-ready if asked (a scale bar, a north arrow, the legend, a
caption, the detections shown on the map), its raw values (GeoTIFF) in a CRS of the user's choice,
or a timelapse (GIF or MP4, at a chosen speed) across the dates of its collection within the
search's dates and cloud limit. An area of interest that is a polygon clips the export: outside it
the picture is transparent and the values are no data.

Each button asks the API — /api/v1/images/{id}/export and /api/v1/collections/{id}/timelapse.{gif,mp4},
with the area (tool_area.py) and the render parameters drawn — with `Prefer: respond-async`:
the API checks the request (a refusal, too big or nothing there, is a message in the panel) and
answers with a job at once, so the callback is cheap and the map stays usable while a worker makes
the file. The job is a card in the panel (job_cards.py; jobs.js polls it: progress and stage, Cancel, then
the browser downloads the file from the job's result URL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import dash
from dash import Input, Output, Patch, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api, job_cards
from cogbrowser.ui.area_inspect import chosen_area, message
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.detections_overlay import CLASSES as DETECTION_CLASSES
from cogbrowser.ui.detections_overlay import SCORE as DETECTION_SCORE
from cogbrowser.ui.image_search import AOI
from cogbrowser.ui.map_state import Visualization
from cogbrowser.ui.tool_area import (
    AS_DRAWN,
    EVERY_BAND,
    ToolArea,
    longest_side_params,
    value_params,
)
from cogbrowser.ui.visualization import IMAGE_INFO, MOSAIC_FILTER, VIS, search_limits
from cogbrowser.web.endpoints import list_value

CRS = "browse-export-crs"
SIZE = "browse-export-size"
VALUES = "browse-export-values"
DECORATIONS = "browse-export-decorations"  # what is drawn on a picture
CAPTION = "browse-export-caption"  # the caption's own text (empty: the image, its date and the look)
CLIP = "browse-export-clip"  # ticked: an area of interest's polygon masks the export
PNG, JPEG, KMZ, TIF = "browse-export-png", "browse-export-jpg", "browse-export-kmz", "browse-export-tif"
TIMELAPSE = "browse-export-timelapse"
MOVIE = "browse-export-movie"  # the timelapse's format: gif or mp4
SPEED = "browse-export-speed"  # the timelapse's dates per second
RESULT = "browse-export-result"
JOBS = "browse-export-jobs"  # the job cards, oldest first (a new one is appended: jobs.js owns the ones shown)
STARTED = "browse-export-started"  # the jobs this tab started (the browser's session storage): cards after a reload
KEPT_CARDS = 10  # the newest jobs a reload shows again
NATIVE = "native"  # the image's own CRS, or its own resolution
GIF_WIDTH, MAX_GIF_WIDTH = 512, 1024
SIZES = (1024, 2048, 4096)  # the server's limit per side is 4096 by default
PICTURE_FORMATS = {PNG: "png", JPEG: "jpg", KMZ: "kmz", TIF: "tif"}
DECORATION_CHOICES = (("scale_bar", "Scale bar"), ("north_arrow", "North arrow"), ("legend", "Legend"),
                      ("caption", "Caption"), ("detections", "Detections"))
FLAT_ONLY = ("scale_bar", "north_arrow")  # Google Earth draws its own
SPEEDS = (0.5, 1.0, 1.5, 2.0, 4.0)  # dates per second


def panel() -> html.Details:
    """The Export section of the Visualize tab's tools."""
    return html.Details(className="tool", id="browse-export-tool", children=[
        html.Summary("Export"),
        html.Div("The area of interest (Search tab) or, without one, the map's view.", className="hint"),
        html.Div(className="field", children=[html.Label("CRS", htmlFor=CRS), dcc.Dropdown(
            id=CRS, value=NATIVE, clearable=False, searchable=False, options=crs_options(None))]),
        html.Div(className="field", children=[html.Label("Size", htmlFor=SIZE), dcc.Dropdown(
            id=SIZE, value=NATIVE, clearable=False, searchable=False,
            options=[{"label": "the image's pixels (full resolution)", "value": NATIVE},
                     *[{"label": f"{n} px on the longer side", "value": str(n)} for n in SIZES]])]),
        dcc.Checklist(id=CLIP, className="tool-choice", value=["clip"], options=[
            {"label": " Clip to the area of interest's outline (not its box)", "value": "clip"}]),
        html.Div("On the picture", className="label"),
        dcc.Checklist(id=DECORATIONS, className="tool-choice wrap", value=[],
                      options=[{"label": f" {label}", "value": value} for value, label in DECORATION_CHOICES]),
        dcc.Input(id=CAPTION, type="text", debounce=False, maxLength=300, className="caption-input",
                  placeholder="Caption (default: the image, its date and the look)"),
        html.Div(className="row tool-buttons", children=[
            html.Button("PNG", id=PNG, n_clicks=0, title="The area as drawn on the map, a picture"),
            html.Button("JPEG", id=JPEG, n_clicks=0, title="The area as drawn, a smaller picture (no transparency)"),
            html.Button("KMZ", id=KMZ, n_clicks=0, title="The area as drawn, laid on the ground in Google Earth")]),
        html.Div(className="field", children=[html.Label("GeoTIFF values", htmlFor=VALUES), dcc.RadioItems(
            id=VALUES, value=AS_DRAWN, className="tool-choice", inline=True, options=[
                {"label": " as drawn", "value": AS_DRAWN}, {"label": " every band", "value": EVERY_BAND}])]),
        html.Div(className="row tool-buttons", children=[
            html.Button("GeoTIFF", id=TIF, n_clicks=0, title="The area's raw values, georeferenced")]),
        html.Div(className="row timelapse-row", children=[
            dcc.Dropdown(id=MOVIE, value="gif", clearable=False, searchable=False, className="small-dropdown",
                         options=[{"label": "GIF", "value": "gif"}, {"label": "MP4 video", "value": "mp4"}]),
            dcc.Dropdown(id=SPEED, value="1.5", clearable=False, searchable=False, className="small-dropdown",
                         options=[{"label": f"{speed:g} dates/s", "value": f"{speed:g}"} for speed in SPEEDS])]),
        html.Div(className="row tool-buttons", children=[
            html.Button("Timelapse", id=TIMELAPSE, n_clicks=0, className="secondary",
                        title="The area on every date of the image's collection within the search's dates and "
                              "cloud limit, as drawn")]),
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
                 Input(PNG, "n_clicks"), Input(JPEG, "n_clicks"), Input(KMZ, "n_clicks"), Input(TIF, "n_clicks"),
                 Input(TIMELAPSE, "n_clicks"), State(IMAGE_INFO, "data"), State(VIS, "data"),
                 State(CRS, "value"), State(SIZE, "value"), State(VALUES, "value"), State(AOI, "data"),
                 State(MAP, "bounds"), State(STARTED, "data"), State(CLIP, "value"), State(DECORATIONS, "value"),
                 State(CAPTION, "value"), State(DETECTION_CLASSES, "value"), State(DETECTION_SCORE, "value"),
                 State(MOVIE, "value"), State(SPEED, "value"), State(MOSAIC_FILTER, "data"),
                 prevent_initial_call=True)(_export)
    app.callback(Output(JOBS, "children", allow_duplicate=True), Input(STARTED, "modified_timestamp"),
                 State(STARTED, "data"), State(JOBS, "children"),
                 prevent_initial_call="initial_duplicate")(_restore_cards)


def _crs_choices(info: dict | None):
    return crs_options((info or {}).get("image"))


# ---------------------------------------------------------------- the requests

def export_pairs(area: ToolArea, drawn: Sequence[Sequence[str]] | None, fmt: str, crs: str, size: str,
                 which: str, report: Report | None = None) -> list[tuple[str, str]]:
    """The query of /export: the area (its polygon too when `report` clips), the CRS and size, and
    for a picture every render parameter drawn and what `report` draws on it; for raw values only
    which values (a stretch means nothing to them). A KMZ is always lon/lat."""
    report = report or Report()
    pairs: list[tuple[str, str]] = [("bbox", area.bbox_text()), ("format", fmt)]
    if report.clip and area.geometry is not None:
        pairs += list(area.zone_params().items())
    if crs != NATIVE and fmt != "kmz":
        pairs.append(("crs", crs))
    if size != NATIVE:
        pairs += list(longest_side_params(area.bbox, int(size), lon_lat=crs == "EPSG:4326" or fmt == "kmz").items())
    if fmt == "tif":
        return pairs + list(value_params(drawn, which).items())
    return pairs + Visualization.from_pairs(drawn or []).render_params() + report.params(fmt)


@dataclass(frozen=True)
class Report:
    """What the user asked to be drawn on a picture, and whether the area's outline clips it."""

    decorations: tuple[str, ...] = ()
    caption: str = ""
    clip: bool = True
    detection_classes: tuple[str, ...] = ()
    detection_score: float | None = None

    @classmethod
    def from_controls(cls, decorations: Sequence[str] | None, caption: str | None, clip: bool,
                      detection_classes: Sequence[str] | None, detection_score: float | None) -> Report:
        return cls(tuple(name for name, _ in DECORATION_CHOICES if name in (decorations or ())),
                   (caption or "").strip()[:300], clip, tuple(detection_classes or ()), detection_score or None)

    def params(self, fmt: str) -> list[tuple[str, str]]:
        """The export's decoration parameters for a picture of `fmt` (a KMZ has no scale bar or
        north arrow: Google Earth draws its own); the detections as the map shows them."""
        names = [name for name in self.decorations if not (fmt == "kmz" and name in FLAT_ONLY)]
        if self.caption and "caption" not in names:
            names.append("caption")
        pairs = [("decorations", ",".join(names))] if names else []
        if self.caption:
            pairs.append(("caption", self.caption))
        if "detections" in names and self.detection_classes:
            pairs.append(("detection_classes", list_value(self.detection_classes)))
        if "detections" in names and self.detection_score is not None:
            pairs.append(("detection_min_score", f"{self.detection_score:g}"))
        return pairs


def timelapse_pairs(area: ToolArea, drawn: Sequence[Sequence[str]] | None, size: str, speed: str = "1.5",
                    searched: dict | None = None) -> list[tuple[str, str]]:
    """The query of /timelapse: the area's box, the width, the speed, the search's dates and
    cloud limit, the render parameters drawn."""
    width = GIF_WIDTH if size == NATIVE else min(int(size), MAX_GIF_WIDTH)
    return [("bbox", area.bbox_text()), ("width", str(width)), ("fps", speed),
            *search_limits(searched).items(), *Visualization.from_pairs(drawn or []).render_params()]


def _export(png, jpeg, kmz, tif, timelapse, info, drawn, crs, size, which, aoi, bounds, started, clip, decorations,
            caption, detection_classes, detection_score, movie, speed, searched):
    """The asked file as a job card (jobs.js shows its progress and downloads it once made); or the
    API's reason why not."""
    button = dash.ctx.triggered_id
    if button not in (*PICTURE_FORMATS, TIMELAPSE) or not dash.ctx.triggered[0].get("value"):
        raise PreventUpdate
    area, problem = chosen_area(info, aoi, bounds)
    if area is None:
        return problem, no_update, no_update
    if not drawn:
        return message("The image is not drawn yet: wait for it on the map.", "empty"), no_update, no_update
    image = info["image"]
    what = "The timelapse" if button == TIMELAPSE else "The export"
    movie = movie if movie in ("gif", "mp4") else "gif"
    if button == TIMELAPSE:
        if not image.get("collection_id"):
            return message(f"Image {image['id']} belongs to no collection: there are no other dates.",
                           "empty"), no_update, no_update
        path = f"/api/v1/collections/{quote(image['collection_id'])}/timelapse.{movie}"
        pairs = timelapse_pairs(area, drawn, size or NATIVE, speed or "1.5", searched)
    else:
        report = Report.from_controls(decorations, caption, bool(clip), detection_classes, detection_score)
        path, pairs = f"/api/v1/images/{quote(image['id'])}/export", \
            export_pairs(area, drawn, PICTURE_FORMATS[button], crs or NATIVE, size or NATIVE, which or AS_DRAWN,
                         report)
    try:
        job = api.start_job(path, pairs)
    except api.ApiFailure as exc:
        if exc.status == 404:
            return message(f"{what} found nothing in {area.describe()}: {exc.detail}.", "error"), no_update, no_update
        return message(f"{what} cannot be made: {exc.detail}", "error"), no_update, no_update
    preview = movie if button == TIMELAPSE else ""
    card = {"id": str(job.get("id", "")), "what": f"{job.get('filename')} of {area.describe()}", "preview": preview}
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
    """The card of an export or timelapse job (`card`: its id, what it makes, whether it is a GIF or
    an MP4 to preview): jobs.js shows its progress and downloads its file once made."""
    preview = card.get("preview") or ("gif" if card.get("gif") else "")  # "gif": a card kept by an older page
    return job_cards.job_card(str(card["id"]), card["what"], preview=preview if preview in ("gif", "mp4") else "")
