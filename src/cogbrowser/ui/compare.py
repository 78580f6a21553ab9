"""Compare the shown image with another one on the map: a swipe (a draggable divider, the shown
image left of it, the compared one right of it) or one over the other at an opacity.

The compared side is an image (any image at the same place, or a search result) or one day of
the shown image's collection (`collection@YYYY-MM-DD`: the collection's layer on /wms with that
TIME, a mosaic of the day's images). It is drawn by the same `visualization.wms_layer` as the
shown image, in a pane of its own above it (browse_map.COMPARE_PANE): as the shown image is drawn
(if that fits it), else in a preset of its own.

The server only chooses what is drawn; the swipe itself is browser work (assets/compare.js):
the divider is dragged without a round trip, and each pane is clipped (CSS clip-path) to its side
of it. The comparison lives in the page's URL (map_state.Compare); "Stop comparing" empties it and
the map is as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import dash
import dash_leaflet as dl
from dash import Input, Output, State, dcc, html, no_update

from cogbrowser.ui import api
from cogbrowser.ui.browse_map import COMPARE_PANE
from cogbrowser.ui.detection_filters import Filters
from cogbrowser.ui.image_search import RESULTS
from cogbrowser.ui.map_state import Compare, Visualization
from cogbrowser.ui.visualization import (
    IMAGE_INFO,
    VIS,
    default_visualization,
    describe_time,
    fits,
    presets,
    wms_layer,
)

COMPARED = "browse-compared"  # what the shown image is compared with (an image id or collection@day), or None
TARGET = "browse-compare-target"  # the dropdown that chooses it
MODE = "browse-compare-mode"
SWIPE = "browse-compare-swipe"  # the divider's place, a share of the map's width (compare.js writes it)
FADE = "browse-compare-opacity"
FADE_ROW = "browse-compare-opacity-row"
STYLE = "browse-compare-style"  # the compared side's own preset; empty: as the shown image
STOP = "browse-compare-stop"
INFO = "browse-compare-info"  # the compared side: its /wms layer, time, a representative image, collection
VIS_CHANGED = "browse-compare-vis-changed"  # the shown picture changed while something is compared
MESSAGE = "browse-compare-message"
LAYER = "browse-compare-layer"
DIVIDER = "browse-compare-divider"
LABELS = ("browse-compare-left", "browse-compare-right")
APPLIED = "browse-compare-applied"  # the clientside callback's output (the map's panes are its real effect)
SAME_LOOK = ""  # the style choice "as the shown image"
MAX_CHOICES = 200


# ---------------------------------------------------------------- layout

def stores() -> list[dcc.Store]:
    return [dcc.Store(id=COMPARED), dcc.Store(id=SWIPE, data=0.5), dcc.Store(id=INFO), dcc.Store(id=APPLIED),
            dcc.Store(id=VIS_CHANGED)]


def panel() -> html.Details:
    """The Compare tool (in the Visualize tab's tools): what with, how, and a way out."""
    return html.Details(id="browse-compare", className="tool compare-tool", children=[
        html.Summary("Compare"),
        html.Div("Pin another image or date of the same place beside the shown image.", className="hint"),
        html.Div(className="field", children=[
            html.Label("Compare with", htmlFor=TARGET),
            dcc.Dropdown(id=TARGET, options=[], value=None, placeholder="another image or date…", clearable=True,
                         optionHeight=44, maxHeight=320),
        ]),
        html.Div(id=MESSAGE),
        dcc.RadioItems(id=MODE, value="swipe", className="compare-modes", inline=True, options=[
            {"label": "Swipe", "value": "swipe"}, {"label": "Opacity", "value": "opacity"}]),
        html.Div(id=FADE_ROW, className="field", style={"display": "none"}, children=[
            html.Label("Opacity of the compared image", htmlFor=FADE),
            dcc.Slider(id=FADE, min=0, max=1, step=0.05, value=0.5, marks={0: "0", 0.5: "50 %", 1: "100 %"},
                       tooltip={"placement": "bottom"}, allow_direct_input=False),
        ]),
        html.Div(className="field", children=[
            html.Label("Compared image drawn as", htmlFor=STYLE),
            dcc.RadioItems(id=STYLE, options=[_same_look()], value=SAME_LOOK, inline=True,
                           className="compare-modes compare-styles"),
        ]),
        html.Button("Stop comparing", id=STOP, className="secondary compare-stop", n_clicks=0),
    ])


def map_layers() -> list:
    return [dl.LayerGroup(id=LAYER, children=[])]


def map_overlays() -> list:
    """The divider (compare.js places and drags it) with the name of each side."""
    return [html.Div(id=DIVIDER, className="map-overlay compare-divider", title="Drag to compare", children=[
        html.Div(className="compare-handle", children="⟷"),
        html.Div(id=LABELS[0], className="compare-label compare-label-left"),
        html.Div(id=LABELS[1], className="compare-label compare-label-right"),
    ])]


# ---------------------------------------------------------------- the URL

RESTORED = [Output(COMPARED, "data"), Output(MODE, "value"), Output(SWIPE, "data"), Output(FADE, "value"),
            Output(STYLE, "value")]
STATE_INPUTS = [Input(COMPARED, "data"), Input(MODE, "value"), Input(SWIPE, "data"), Input(FADE, "value"),
                Input(STYLE, "value")]


def restored(comparison: Compare | None) -> tuple:
    """The values of RESTORED for a link's comparison (none: the controls' defaults)."""
    c = comparison or Compare(target="")
    return c.target or None, c.mode, c.swipe, c.opacity, c.style or SAME_LOOK


def from_controls(target: str | None, mode: str | None, swipe: float | None, opacity: float | None,
                  style: str | None) -> Compare | None:
    """The comparison the controls (STATE_INPUTS) hold, for the URL."""
    if not target:
        return None
    return Compare(target=target, mode=mode if mode in Compare.MODES else "swipe",
                   swipe=0.5 if swipe is None else float(swipe), opacity=0.5 if opacity is None else float(opacity),
                   style=style or None)


# ---------------------------------------------------------------- what can be compared

def register(app: dash.Dash) -> None:
    """The Compare tool's callbacks, on `app`."""
    app.callback(Output(COMPARED, "data", allow_duplicate=True), Output(TARGET, "options"), Output(TARGET, "value"),
                 Input(TARGET, "value"), Input(COMPARED, "data"), Input(IMAGE_INFO, "data"), Input(RESULTS, "data"),
                 prevent_initial_call="initial_duplicate")(_choose)
    app.callback(Output(INFO, "data"), Output(MESSAGE, "children"), Output(STYLE, "options"),
                 Input(COMPARED, "data"), prevent_initial_call=True)(_load_target)
    # the compared side follows the shown picture only while there is one (assets/map-view.js)
    app.clientside_callback(dash.ClientsideFunction("cogbrowserView", "changedWhile"), Output(VIS_CHANGED, "data"),
                            Input(VIS, "data"), State(INFO, "data"), prevent_initial_call=True)
    app.callback(Output(LAYER, "children"), *[Output(label, "children") for label in LABELS],
                 Input(INFO, "data"), Input(STYLE, "value"), Input(VIS_CHANGED, "data"), State(VIS, "data"),
                 State(IMAGE_INFO, "data"))(_draw)
    app.callback(Output(COMPARED, "data", allow_duplicate=True), Input(STOP, "n_clicks"),
                 prevent_initial_call=True)(_stop)
    app.clientside_callback(dash.ClientsideFunction("cogbrowserCompare", "fadeRow"), Output(FADE_ROW, "style"),
                            Input(MODE, "value"))
    # the panes clipped to the divider, or the compared one faded (compare.js)
    app.clientside_callback(dash.ClientsideFunction("cogbrowserCompare", "apply"), Output(APPLIED, "data"),
                            Input(LAYER, "children"), Input(MODE, "value"), Input(SWIPE, "data"), Input(FADE, "value"))


def _choose(picked: str | None, compared: str | None, info: dict | None, results: list | None):
    """A pick in the dropdown is the comparison; any other change (a link, Stop, a new image or
    search) refreshes the dropdown's choices, always with the comparison among them (a dropdown
    drops a value that is not among its options)."""
    if dash.ctx.triggered_id == TARGET:
        return picked, no_update, no_update
    return no_update, choices(info, results, compared), compared


def choices(info: dict | None, results: list | None, current: str | None) -> list[dict]:
    """The days of the shown image's collection, then the images at its place and the search
    results, newest first (and the current comparison, even if a link named something else)."""
    if not info:
        return [{"label": current, "value": current}] if current else []
    shown = info["image"]
    try:
        here = api.get("/api/v1/images", bbox=",".join(f"{v:.6f}" for v in shown["bbox"]), limit=MAX_CHOICES)["images"]
    except api.ApiFailure:
        here = []
    images = {i["id"]: i for i in [*here, *(results or [])] if i["id"] != shown["id"]}
    options = []
    collection = shown.get("collection_id")
    if collection:
        days = sorted({i["acquired_at"][:10] for i in here if i.get("collection_id") == collection
                       and i.get("acquired_at")}, reverse=True)
        options += [_option(f"{collection}@{day}", f"{day} · {collection}", "all its images of that day")
                    for day in days]
    ordered = sorted(images.values(), key=lambda i: i.get("acquired_at") or "", reverse=True)
    options += [_option(i["id"], i["id"], " · ".join(filter(None, [describe_time(i.get("acquired_at")),
                                                                   i.get("collection_id")])))
                for i in ordered]
    if current and current not in {o["value"] for o in options}:
        options.insert(0, {"label": current, "value": current})
    return options


def _option(value: str, title: str, detail: str) -> dict:
    return {"value": value, "search": f"{title} {detail}", "label": html.Span(className="compare-option", children=[
        html.Span(title, className="compare-option-title"), html.Span(detail, className="hint")])}


def _load_target(target: str | None):
    """The compared side as /wms will draw it: its layer, time, bands and presets."""
    if not target:
        return None, None, [_same_look()]
    try:
        compared = _compared(Compare(target=target))
    except api.ApiFailure as exc:
        return None, html.Div(f"Cannot compare with {target}: {exc.detail}", className="message error"), \
            [_same_look()]
    return compared, None, [_same_look(), *[{"label": p.get("title") or p["name"], "value": p["name"]}
                                            for p in presets(compared)]]


def _same_look() -> dict:
    return {"label": "the shown image", "value": SAME_LOOK}


def _compared(comparison: Compare) -> dict:
    """{layer, time, label, image, collection}: `image` (an image of the day, for a collection
    layer) and `collection` as visualization.IMAGE_INFO has them, so its helpers apply."""
    layer, day = comparison.layer
    if day is None:
        image = api.get(f"/api/v1/images/{quote(layer)}")
        label = f"{image['id']} · {describe_time(image.get('acquired_at'))[:10]}"
    else:
        found = api.get("/api/v1/images", collections=[layer], limit=1,
                        datetime=Filters(start=day, end=day).datetime_param())
        if not found["images"]:
            raise api.ApiFailure(404, f"collection {layer} has no image on {day}")
        image, label = found["images"][0], f"{layer} · {day}"
    collection = api.get(f"/api/v1/collections/{quote(image['collection_id'])}") if image.get("collection_id") else None
    return {"layer": layer, "time": day, "label": label, "image": image,
            "collection": collection and {k: collection[k] for k in ("id", "title", "bands", "presets")}}


# ---------------------------------------------------------------- drawing

def compared_visualization(compared: dict, style: str | None, shown: Sequence | None) -> Visualization:
    """The compared side's look: its own preset if chosen, else the shown image's if it can draw
    it, else its collection's default."""
    if style:
        return Visualization(style=style)
    vis = Visualization.from_pairs(shown or [])
    return vis if fits(vis, compared) else default_visualization(compared)


def _draw(compared: dict | None, style: str | None, _vis_changed, shown_vis: list | None, shown: dict | None):
    """The compared layer in its pane, and the names of both sides on the divider."""
    if not compared:
        return [], "", ""
    vis = compared_visualization(compared, style, shown_vis)
    layer = wms_layer(compared["layer"], vis, 1.0, time=compared["time"], pane=COMPARE_PANE, name="browse-compare-wms")
    left = f"◀ {shown['image']['id']}" if shown else ""
    return [layer], left, f"{compared['label']} ▶"


def _stop(clicks: int | None):
    """Stop comparing: the comparison emptied (its layer and labels follow)."""
    return None if clicks else no_update


