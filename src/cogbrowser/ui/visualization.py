"""The shown image and how it is drawn: the Visualize panel, the WMS layer and its legend.

Flow (each step a callback; Dash runs them in this order because each reads the one before):

1. `IMAGE` (which image to show, and the visualization asked for by a link) → `_load_image`
   fetches the image and its collection (`IMAGE_INFO`), once per page: assets/page-cache.js keeps
   them, and the histograms of step 4, so going back to an image asks the server for neither.
2. `_set_up_controls` fills the controls: the collection's presets (with previews), the band
   pickers, the expression, the stretch. A new image of the same kind keeps the current look;
   choosing a preset writes its values into the controls, so the user customises from there.
3. `_check_source` asks /statistics, over a few pixels, about what would be drawn (a preset,
   three bands or band math): it answers at once, names the outputs, and refuses a bad source
   with a problem detail that names the bad token, which the panel shows.
4. The browser (assets/visualize.js `drawLayer`, a clientside callback) turns the controls into
   the render parameters and draws them: a WMS layer on /wms and its legend (GetLegendGraphic).
   Meanwhile `_measure_source` gets the histograms over the whole image, which the browser
   (`drawHistogram`) draws with the stretch marked to guide it.

What runs where: stretch, gain, gamma, colour map and opacity only change the picture, so they
never leave the browser; visualize.js is the same translation as `visualization_from_controls`,
`stretch_problem`, `wms_layer` and `legend_url` here (tests/browser/test_ui_instant.py evaluates
both on the same visualizations and asserts the same URLs and messages). The server keeps what
needs data: the image's record and collection (`_load_image`), the controls a collection's
presets and bands fill (`_set_up_controls`), the check of a source (`_check_source`: band math is
parsed and read by the server) and the histograms (`_measure_source`, `_auto_stretch`). A clicked
result, a chosen preset and the bands picked for a composite are drawn before those answer
(browse.js, a provisional layer); band math waits for its check (a typo would draw broken tiles).

How the layer refreshes: Leaflet's WMS layer keeps its parameters in an object and `setParams`
merges into it (it can neither drop a parameter nor repeat one, and `rescale` repeats per band),
so the vendor parameters go into the layer's URL and the layer's id is a hash of image and
parameters: any change of the visualization is a new Leaflet layer, whose tiles are fetched anew,
while opacity alone changes in place. Tiles of a look seen before come from the browser's cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import dash
import dash_leaflet as dl
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.colormaps import COLORMAP_NAMES, legend_stops
from cogbrowser.raster.expression import parse_many
from cogbrowser.raster.render_spec import MAX_GAIN, MAX_GAMMA
from cogbrowser.ui import api
from cogbrowser.ui.browse_map import IMAGERY_PANE, OUTLINE_PANE
from cogbrowser.ui.map_state import SAFE, Visualization, number

IMAGE = "browse-image"  # {"id": image id, "vis": render params asked for (a link) or None}
IMAGE_INFO = "browse-image-info"  # {"image": the API's image, "collection": its collection or None}
VIS = "browse-vis"  # the render params drawn (for the URL)
SOURCE = "browse-source"  # the source drawn (preset, bands or band math), as the API checked it
HISTOGRAM_DATA = "browse-histogram-data"  # its histograms over the whole image
STRETCH_FOR = "browse-stretch-for"  # {"mode", "bands", "expression"}: what the stretch rows were set for
MOSAIC = "browse-mosaic"  # what is drawn: "image", or a mosaic of its collection in an order (layers.MosaicOrder)
MOSAIC_FILTER = "browse-mosaic-filter"  # {"time": WMS TIME, "cloud": % or None}: the search's dates and cloud limit
STRETCH_PENDING = "browse-stretch-pending"  # {"expression": text}: band math to stretch over its 2-98 % once measured
IMAGE_LAYER = "browse-image-layer"
COMPOSITE_DRAWN = "browse-composite-drawn"  # a clientside callback's required output: never written
IMAGE_ASKED = "browse-image-asked"  # an image the page has not loaded before: the server loads it
MEASURE_ASKED = "browse-measure-asked"  # a source whose histograms the page has not measured before
REMEMBERED = "browse-remembered"  # the page cache's clientside callbacks' required output: never written
IMAGE_OUTLINE = "browse-image-outline"
LEGEND = "browse-legend"
STYLE = "browse-style"
BANDS = ("browse-band-r", "browse-band-g", "browse-band-b")
EXPRESSION = "browse-expression"
EXPRESSION_HINT = "browse-expression-hint"
RESCALE = tuple((f"browse-rescale-min-{i}", f"browse-rescale-max-{i}") for i in range(3))
RESCALE_ROWS = tuple(f"browse-rescale-row-{i}" for i in range(3))
RESCALE_LABELS = tuple(f"browse-rescale-label-{i}" for i in range(3))
GAIN, GAMMA, COLORMAP, OPACITY = "browse-gain", "browse-gamma", "browse-colormap", "browse-opacity"
AUTO_STRETCH = "browse-auto-stretch"
HISTOGRAM = "browse-histogram"
COMPOSITE_SECTION, EXPRESSION_SECTION, COLORMAP_ROW = "browse-composite", "browse-expression-box", "browse-colormap-row"
SOURCE_MESSAGE, STRETCH_MESSAGE = "browse-source-message", "browse-stretch-message"
IMAGE_HEADER = "browse-image-header"
TOOLS = "browse-tools"

COMPOSITE = "@bands"  # style choices that are not presets (preset names are ids: no '@')
EXPRESSION_MODE = "@expression"
HISTOGRAM_BINS = 64
CHANNEL_COLOURS = ("#d43d3d", "#3c9a4a", "#3c64c8")  # red, green, blue (also the histograms of assets/visualize.js)
HIDDEN: dict[str, str] = {"display": "none"}
SHOWN: dict[str, str] = {}
WMS_VERSION = "1.3.0"
VISUALIZE_JS = "cogbrowserVisualize"  # assets/visualize.js
PAGE_CACHE_JS = "cogbrowserPageCache"  # assets/page-cache.js
AS_STORED = Visualization()  # no render parameters: the server draws an image as its collection says


# ---------------------------------------------------------------- the one translation to URLs

def wms_layer(image_id: str, vis: Visualization, opacity: float, time: str | None = None,
              pane: str = IMAGERY_PANE, name: str = "browse-wms") -> dl.WMSTileLayer:
    """The image (or a collection layer at `time`, its WMS TIME) drawn by our /wms in `vis` (see the
    module docstring for why the id is a hash; `name` prefixes it, so that two layers of one image,
    e.g. compared, stay two components)."""
    vendor = vis.vendor_params() + ([("TIME", time)] if time else [])
    key = hashlib.sha1(repr((image_id, vis.render_params(), time)).encode()).hexdigest()[:12]
    return dl.WMSTileLayer(
        id=f"{name}-{key}", url="/wms" + (f"?{_query(vendor)}" if vendor else ""), layers=image_id,
        styles=vis.style or "", format="image/png", transparent=True, version=WMS_VERSION, opacity=opacity,
        pane=pane, maxZoom=21, tileSize=256,
        eventHandlers={"loading": {"variable": "cogbrowser.tilesLoading"},
                       "load": {"variable": "cogbrowser.tilesLoaded"},
                       "tileerror": {"variable": "cogbrowser.tileFailed"}})


def legend_url(image_id: str, vis: Visualization) -> str:
    """The WMS GetLegendGraphic of the image in `vis`: the same parameters as the map's tiles."""
    return "/wms?" + _query([("SERVICE", "WMS"), ("VERSION", WMS_VERSION), ("REQUEST", "GetLegendGraphic"),
                             ("LAYER", image_id), ("FORMAT", "image/png"), ("STYLE", vis.style or ""),
                             *vis.vendor_params()])


def preview_url(image_id: str, vis: Visualization = AS_STORED, size: int = 96) -> str:
    """A thumbnail of the whole image in `vis` (/api/v1/images/{id}/preview.png)."""
    return f"/api/v1/images/{quote(image_id)}/preview.png?" + _query([*vis.render_params(), ("max_size", str(size))])


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return urlencode(pairs, quote_via=quote, safe=SAFE)


# ---------------------------------------------------------------- layout

def map_layers() -> list:
    """The shown image (imagery pane) and its footprint's outline (outline pane)."""
    return [dl.LayerGroup(id=IMAGE_LAYER, children=[]),
            dl.GeoJSON(id=IMAGE_OUTLINE, data=None, interactive=False, pane=OUTLINE_PANE,
                       style={"color": "#2d5f8b", "weight": 1.5, "fill": False, "dashArray": "4 3"})]


def map_overlays() -> list:
    return [html.Div(id=LEGEND, className="map-overlay map-legend image-legend", style=HIDDEN)]


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=IMAGE), dcc.Store(id=IMAGE_INFO), dcc.Store(id=VIS), dcc.Store(id=SOURCE),
            dcc.Store(id=COMPOSITE_DRAWN), dcc.Store(id=IMAGE_ASKED), dcc.Store(id=MEASURE_ASKED),
            dcc.Store(id=REMEMBERED), dcc.Store(id=HISTOGRAM_DATA), dcc.Store(id=STRETCH_FOR),
            dcc.Store(id=STRETCH_PENDING), dcc.Store(id=MOSAIC_FILTER)]


JUST_THE_IMAGE = "image"
MOSAIC_OPTIONS = [  # the Copernicus Browser's mosaic orders (layers.MosaicOrder), within the search's dates and clouds
    {"label": "This image", "value": JUST_THE_IMAGE},
    {"label": "Mosaic, most recent on top", "value": "newest"},
    {"label": "Mosaic, least cloudy on top", "value": "least-cloudy"},
    {"label": "Mosaic, closest to this date on top", "value": "closest"},
    {"label": "Mosaic, oldest on top", "value": "oldest"},
]


def panel(tools: Sequence = ()) -> html.Div:
    """The Visualize tab: which image, how to draw it, and the place for the tools (`tools`: their
    sections, given by browse.py)."""
    return html.Div(className="vis-panel", children=[
        html.Div(id=IMAGE_HEADER, children=html.Div(
            "No image shown yet: search, then click a result.", className="message empty")),
        html.Div(className="field mosaic-field", children=[
            html.Label("Show", htmlFor=MOSAIC, title="A mosaic is the image's collection within the search's "
                                                     "dates and cloud limit, the images overlapping in this order"),
            dcc.Dropdown(id=MOSAIC, options=MOSAIC_OPTIONS, value=JUST_THE_IMAGE, clearable=False, searchable=False),
        ]),
        html.H2("Visualization"),
        dcc.Loading(type="dot", delay_show=300, children=dcc.RadioItems(
            id=STYLE, options=[], value=None, className="style-options")),
        html.Div(id=COMPOSITE_SECTION, style=HIDDEN, className="composite", children=[
            html.Div("Pick a band for each colour channel.", className="hint"),
            html.Div(className="row band-pickers", children=[
                html.Div(className="field", children=[html.Label(channel, htmlFor=picker),
                                                      dcc.Dropdown(id=picker, options=[], clearable=False)])
                for channel, picker in zip(("Red", "Green", "Blue"), BANDS)]),
        ]),
        html.Div(id=EXPRESSION_SECTION, style=HIDDEN, className="field expression", children=[
            html.Label("Band math", htmlFor=EXPRESSION),
            dcc.Input(id=EXPRESSION, type="text", debounce=0.6, placeholder="(B08-B04)/(B08+B04)",
                      spellCheck=False, autoComplete="off"),
            html.Div(id=EXPRESSION_HINT, className="hint"),
        ]),
        html.Div(id=SOURCE_MESSAGE),
        html.H2("Stretch"),
        dcc.Loading(type="dot", delay_show=300, children=html.Div(id=HISTOGRAM, className="histogram")),
        *[_rescale_row(i) for i in range(3)],
        html.Div(className="row", children=[
            html.Div(className="field", children=[html.Label("Gain", htmlFor=GAIN), dcc.Input(
                id=GAIN, type="number", min=0.05, max=100, step=0.05, placeholder="1", debounce=True)]),
            html.Div(className="field", children=[html.Label("Gamma", htmlFor=GAMMA), dcc.Input(
                id=GAMMA, type="number", min=0.1, max=10, step=0.05, placeholder="1", debounce=True)]),
            html.Button("Auto 2–98 %", id=AUTO_STRETCH, className="secondary auto-stretch",
                        title="Stretch each band over the 2nd to 98th percentile of its values"),
        ]),
        html.Div(id=COLORMAP_ROW, className="field", style=HIDDEN, children=[
            html.Label("Colour map", htmlFor=COLORMAP),
            dcc.Dropdown(id=COLORMAP, options=_colormap_options(), placeholder="none (grey)", clearable=True),
        ]),
        html.Div(id=STRETCH_MESSAGE),
        html.Div(className="field", children=[
            html.Label("Opacity", htmlFor=OPACITY),
            dcc.Slider(id=OPACITY, min=0, max=1, step=0.05, value=1, marks={0: "0", 0.5: "50 %", 1: "100 %"},
                       tooltip={"placement": "bottom"}, allow_direct_input=False),
        ]),
        # The tools of the shown image (Inspect an area, Compare, Export, Measure) go here.
        html.Div(id=TOOLS, className="tools", children=list(tools)),
    ])


def _rescale_row(index: int) -> html.Div:
    low, high = RESCALE[index]
    return html.Div(id=RESCALE_ROWS[index], className="row rescale-row", style=SHOWN if index == 0 else HIDDEN,
                    children=[
                        html.Span(id=RESCALE_LABELS[index], className="rescale-label"),
                        dcc.Input(id=low, type="number", debounce=True, placeholder="min"),
                        html.Span("–", className="rescale-dash"),
                        dcc.Input(id=high, type="number", debounce=True, placeholder="max"),
                    ])


def _colormap_options() -> list[dict]:
    def swatch(name: str) -> str:
        return "linear-gradient(to right, " + ", ".join(f"{c} {p * 100:.0f}%" for p, c in legend_stops(name, 9)) + ")"
    return [{"label": html.Span(className="colormap-option", children=[
        html.Span(className="colormap-swatch", style={"background": swatch(name)}), name]), "value": name}
        for name in COLORMAP_NAMES]


def register(app: dash.Dash) -> None:
    """The Visualize tab's callbacks and the image layer's, on `app`."""
    # What cannot change while the page is open (an image's record and collection, a source's
    # histograms) is kept in the page (assets/page-cache.js): the server is asked once per image and source.
    app.clientside_callback(ClientsideFunction(PAGE_CACHE_JS, "loadImage"),
                            Output(IMAGE_INFO, "data"), Output(IMAGE_HEADER, "children"),
                            Output(IMAGE_OUTLINE, "data", allow_duplicate=True), Output(IMAGE_ASKED, "data"),
                            Output(IMAGE_LAYER, "children", allow_duplicate=True),
                            Output(LEGEND, "style", allow_duplicate=True), Input(IMAGE, "data"),
                            prevent_initial_call=True)
    app.callback(Output(IMAGE_INFO, "data", allow_duplicate=True),
                 Output(IMAGE_HEADER, "children", allow_duplicate=True), Output(IMAGE_OUTLINE, "data"),
                 Input(IMAGE_ASKED, "data"), prevent_initial_call=True)(_load_image)
    app.clientside_callback(ClientsideFunction(PAGE_CACHE_JS, "rememberImage"), Output(REMEMBERED, "data"),
                            Input(IMAGE_INFO, "data"), State(IMAGE_HEADER, "children"), State(IMAGE_OUTLINE, "data"),
                            prevent_initial_call=True)
    app.callback(*SETUP_OUTPUTS, Input(IMAGE_INFO, "data"), Input(STYLE, "value"), State(IMAGE, "data"),
                 State(EXPRESSION, "value"), *[State(b, "value") for b in BANDS])(_set_up_controls)
    app.callback(*SOURCE_OUTPUTS, Input(IMAGE_INFO, "data"), Input(STYLE, "value"), *[Input(b, "value") for b in BANDS],
                 Input(EXPRESSION, "value"))(_check_source)
    app.clientside_callback(ClientsideFunction(PAGE_CACHE_JS, "measureSource"),
                            Output(HISTOGRAM_DATA, "data", allow_duplicate=True), Output(MEASURE_ASKED, "data"),
                            Input(SOURCE, "data"), prevent_initial_call=True)
    app.callback(Output(HISTOGRAM_DATA, "data"), Input(MEASURE_ASKED, "data"),
                 prevent_initial_call=True)(_measure_source)
    app.clientside_callback(ClientsideFunction(PAGE_CACHE_JS, "rememberMeasure"),
                            Output(REMEMBERED, "data", allow_duplicate=True), Input(HISTOGRAM_DATA, "data"),
                            prevent_initial_call=True)
    # bands picked for a composite are drawn at once, before the check (assets/browse.js)
    app.clientside_callback(ClientsideFunction("cogbrowser", "drawComposite"), Output(COMPOSITE_DRAWN, "data"),
                            *[Input(b, "value") for b in BANDS], State(STYLE, "value"), State(IMAGE_INFO, "data"),
                            prevent_initial_call=True)
    # What only changes the picture is drawn in the browser (assets/visualize.js, the same
    # translation as visualization_from_controls, stretch_problem, wms_layer and legend_url).
    app.clientside_callback(ClientsideFunction(VISUALIZE_JS, "drawLayer"),
                            Output(IMAGE_LAYER, "children"), Output(LEGEND, "children"), Output(LEGEND, "style"),
                            Output(VIS, "data", allow_duplicate=True), Output(STRETCH_MESSAGE, "children"),
                            Input(SOURCE, "data"), *[Input(r, "value") for pair in RESCALE for r in pair],
                            Input(GAIN, "value"), Input(GAMMA, "value"), Input(COLORMAP, "value"),
                            Input(OPACITY, "value"), Input(MOSAIC, "value"), Input(MOSAIC_FILTER, "data"),
                            State(IMAGE_INFO, "data"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction(VISUALIZE_JS, "drawHistogram"), Output(HISTOGRAM, "children"),
                            Input(HISTOGRAM_DATA, "data"), *[Input(r, "value") for pair in RESCALE for r in pair],
                            State(SOURCE, "data"), prevent_initial_call=True)
    app.callback(*[Output(r, "value", allow_duplicate=True) for pair in RESCALE for r in pair],
                 Input(AUTO_STRETCH, "n_clicks"), State(HISTOGRAM_DATA, "data"),
                 prevent_initial_call=True)(_auto_stretch)
    # Each source keeps a stretch of its own (assets/visualize.js): a band picked for a composite
    # takes its own range, new band math is stretched over its 2-98 % once measured.
    rows = [Output(r, "value", allow_duplicate=True) for pair in RESCALE for r in pair]
    app.clientside_callback(ClientsideFunction(VISUALIZE_JS, "ownStretch"), *rows,
                            Output(STRETCH_FOR, "data", allow_duplicate=True),
                            Output(STRETCH_PENDING, "data", allow_duplicate=True),
                            *[Input(b, "value") for b in BANDS], Input(EXPRESSION, "value"), Input(STYLE, "value"),
                            State(STRETCH_FOR, "data"), *[State(r, "value") for pair in RESCALE for r in pair],
                            prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction(VISUALIZE_JS, "measuredStretch"), *rows,
                            Output(STRETCH_PENDING, "data", allow_duplicate=True), Input(HISTOGRAM_DATA, "data"),
                            State(STRETCH_PENDING, "data"), *[State(r, "value") for pair in RESCALE for r in pair],
                            prevent_initial_call=True)


# ---------------------------------------------------------------- the image and its collection

def image_bands(info: dict) -> list[str]:
    """The image's band names (1, 2, … where a band has none)."""
    return [str(b.get("name") or i) for i, b in enumerate(info["image"]["bands"], start=1)]


def presets(info: dict | None) -> list[dict]:
    return list(((info or {}).get("collection") or {}).get("presets") or [])


def preset_named(info: dict | None, name: str | None) -> dict | None:
    return next((p for p in presets(info) if p["name"] == name), None)


def preset_expression(info: dict | None, vis: Visualization) -> str | None:
    """The band math drawn: the visualization's own, or its preset's."""
    preset = preset_named(info, vis.style)
    return vis.expression or (preset or {}).get("expression")


def _load_image(requested: dict | None):
    """The image's record and its collection's (bands, presets), or a message saying why not: for
    an image the page has not loaded before (the page keeps them: assets/page-cache.js, which also
    takes the previous image off the map at once)."""
    if not requested or not requested.get("id"):
        raise PreventUpdate
    try:
        image = api.get(f"/api/v1/images/{quote(requested['id'])}")
        collection = api.get(f"/api/v1/collections/{quote(image['collection_id'])}") \
            if image.get("collection_id") else None
    except api.ApiFailure as exc:
        message = html.Div(f"Cannot show image {requested['id']}: {exc.detail}", className="message error")
        return None, message, None
    info = {"image": image,
            "collection": collection and {k: collection[k] for k in ("id", "title", "bands", "presets")}}
    outline = {"type": "Feature", "geometry": image["footprint"], "properties": {}}
    return info, image_header(image), outline


def image_header(image: dict) -> html.Div:
    """Which image is shown, with its metadata behind a disclosure."""
    return html.Div(className="image-header", children=[
        html.Div(image.get("title") or image["id"], className="image-title"),
        html.Div(className="meta", children=[image["id"], " · ", describe_time(image.get("acquired_at"))]),
        html.Details(className="image-metadata", children=[html.Summary("Image metadata"),
                                                           metadata_table(image)]),
    ])


def describe_time(text: str | None) -> str:
    """An API time ('2024-04-12T10:05:41Z') as people read it ('2024-04-12 10:05 UTC')."""
    return f"{text[:10]} {text[11:16]} UTC" if text and len(text) >= 16 else (text or "time unknown")


def metadata_table(image: dict) -> html.Table:
    """The image's facts as a two-column table (also under the pixel values of the inspect card)."""
    cloud = image.get("cloud_cover")
    rows = [
        ("Image", image["id"]), ("Collection", image.get("collection_id") or "none"),
        ("Acquired", describe_time(image.get("acquired_at"))),
        ("Cloud cover", f"{cloud:.1f} %" if cloud is not None else "unknown"),
        ("Size", f"{image['width']} × {image['height']} px, {image['band_count']} band(s) of {image['dtype']}"),
        ("Resolution", " × ".join(f"{r:.6g}" for r in image.get("resolution") or [])),
        ("CRS", f"EPSG:{image['epsg']}" if image.get("epsg") else "custom (see the API)"),
        ("Nodata", "none" if image.get("nodata") is None else str(image["nodata"])),
        ("Bounds", ", ".join(f"{v:.5f}" for v in image["bbox"]) + " (W, S, E, N)"),
        ("Detections", str(image.get("detection_count", 0))),
    ]
    return html.Table(className="facts", children=html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows]))


# ---------------------------------------------------------------- controls from a visualization

def default_visualization(info: dict) -> Visualization:
    """What a new image shows first: its collection's first preset, else its first three bands."""
    first = presets(info)[:1]
    return Visualization(style=first[0]["name"]) if first else Visualization(bands=tuple(default_bands(info)))


def default_bands(info: dict) -> list[str]:
    names = image_bands(info)
    return names[:3] if len(names) >= 3 else names[:1] * 3


def default_expression(info: dict) -> str:
    """A first expression to edit: NDVI when the bands say which are red and near infrared."""
    by_common = {str(b.get("common_name")): b["name"] for b in ((info.get("collection") or {}).get("bands") or [])}
    if "nir" in by_common and "red" in by_common:
        return f"({by_common['nir']}-{by_common['red']})/({by_common['nir']}+{by_common['red']})"
    return image_bands(info)[0]


def control_values(vis: Visualization, info: dict) -> dict[str, Any]:
    """Every control's value for `vis` on this image: a preset's own values where `vis` does not
    override them, so that the controls show what is drawn."""
    preset = preset_named(info, vis.style) or {}
    names = image_bands(info)
    mode = EXPRESSION_MODE if vis.expression else COMPOSITE if vis.bands or not preset else vis.style
    bands = list(vis.bands) or [_band_name(b, names) for b in preset.get("bands") or []] or default_bands(info)
    bands = (bands * 3)[:3] if len(bands) == 1 else bands[:3]
    rescale = list(vis.rescale) or [tuple(r) for r in preset.get("rescale") or []]
    rows = (rescale * 3)[:3] if len(rescale) == 1 else rescale + [(None, None)] * (3 - len(rescale))
    return {"style": mode, "bands": bands, "expression": vis.expression or preset.get("expression")
            or default_expression(info), "rows": rows[:3], "gain": vis.gain,
            "gamma": vis.gamma if vis.gamma is not None else preset.get("gamma"),
            "colormap": vis.colormap or preset.get("colormap")}


def _band_name(band: int | str, names: Sequence[str]) -> str:
    return names[band - 1] if isinstance(band, int) and 0 < band <= len(names) else str(band)


def style_options(info: dict) -> list[dict]:
    """The presets (each with a preview of this image drawn so), then the two custom choices."""
    image_id = info["image"]["id"]
    options = [{"value": p["name"], "label": html.Span(className="style-choice", children=[
        html.Img(src=preview_url(image_id, Visualization(style=p["name"]), 72), alt=""),
        html.Span(p.get("title") or p["name"])])} for p in presets(info)]
    return options + [
        {"value": COMPOSITE, "label": html.Span(className="style-choice custom", children=[
            html.Span("RGB", className="custom-icon"), html.Span("Custom composite")])},
        {"value": EXPRESSION_MODE, "label": html.Span(className="style-choice custom", children=[
            html.Span("ƒx", className="custom-icon"), html.Span("Index / band math")])},
    ]


def fits(vis: Visualization, info: dict) -> bool:
    """Whether `vis` can draw this image (its preset, bands or band math exist for it): the
    compared side of a comparison is drawn as the shown image only if so."""
    mode = EXPRESSION_MODE if vis.expression else COMPOSITE if vis.bands else vis.style
    return _keeps_current(mode, vis.bands, vis.expression, info)


def _keeps_current(style: str | None, bands: Sequence[str | None], expression: str | None, info: dict) -> bool:
    """Whether the look now shown can stay for the next image (switching dates keeps NDVI):
    its preset, bands or band math exist for it too."""
    if style == EXPRESSION_MODE:
        try:
            parse_many(expression or "", image_bands(info))
        except InvalidInput:
            return False
        return True
    if style == COMPOSITE:
        return all(b in image_bands(info) for b in bands)
    return preset_named(info, style) is not None


SETUP_OUTPUTS = [
    Output(STYLE, "options"), Output(STYLE, "value"),
    *[Output(b, "options") for b in BANDS], *[Output(b, "value") for b in BANDS],
    Output(EXPRESSION, "value"), *[Output(r, "value") for pair in RESCALE for r in pair],
    Output(GAIN, "value"), Output(GAMMA, "value"), Output(COLORMAP, "value"),
    Output(COMPOSITE_SECTION, "style"), Output(EXPRESSION_SECTION, "style"), Output(EXPRESSION_HINT, "children"),
    Output(STRETCH_FOR, "data"), Output(STRETCH_PENDING, "data"),
]


def in_order(outputs: Sequence[Output], values: dict[tuple[str, str], Any]) -> tuple:
    """A callback's answer in the order of its `outputs`, from {(id, property): value}; the
    outputs not given are left as they are."""
    return tuple(values.get((o.component_id_str(), o.component_property), no_update) for o in outputs)


def _set_up_controls(info: dict | None, style: str | None, requested: dict | None, expression: str | None,
                     *bands: str | None):
    """Fill the controls for a new image (the link's visualization, the current one if it fits,
    else the default) or for a newly chosen style (a preset's values; a custom mode starts from
    what the controls hold, which is the last preset's bands and band math)."""
    if not info:
        raise PreventUpdate
    new_image = dash.ctx.triggered_id != STYLE
    values: dict[tuple[str, str], Any] = {(b, "options"): [{"label": _band_label(name, info), "value": name}
                                                            for name in image_bands(info)] for b in BANDS}
    if new_image:
        values[(STYLE, "options")] = style_options(info)
    vis = _visualization_to_apply(new_image, style, bands, expression, requested, info)
    mode = style
    if vis is not None:
        applied = control_values(vis, info)
        mode = applied["style"]
        values.update({(STYLE, "value"): mode, (EXPRESSION, "value"): applied["expression"],
                       (GAIN, "value"): applied["gain"], (GAMMA, "value"): applied["gamma"],
                       (COLORMAP, "value"): applied["colormap"]})
        values.update({(picker, "value"): band for picker, band in zip(BANDS, applied["bands"])})
        values.update({(RESCALE[i][j], "value"): applied["rows"][i][j] for i in range(3) for j in range(2)})
        values[(STRETCH_FOR, "data")] = {"mode": mode, "bands": list(applied["bands"]),
                                         "expression": applied["expression"]}
    elif style in (COMPOSITE, EXPRESSION_MODE) and not new_image:
        # a new composite or band math opens stretched to its own values, never the last look's
        # range: visualize.js's ownStretch empties the rows in the browser (each band's 2-98 % is an
        # empty row's default; band math's comes once measured), so a late answer here cannot undo it
        if style == COMPOSITE and not all(bands):
            values.update({(picker, "value"): band for picker, band in zip(BANDS, default_bands(info))})
        values.update({(GAIN, "value"): None, (GAMMA, "value"): None})
    values.update({(COMPOSITE_SECTION, "style"): SHOWN if mode == COMPOSITE else HIDDEN,
                   (EXPRESSION_SECTION, "style"): SHOWN if mode == EXPRESSION_MODE else HIDDEN,
                   (EXPRESSION_HINT, "children"): _expression_hint(info)})
    return in_order(SETUP_OUTPUTS, values)


def _visualization_to_apply(new_image: bool, style: str | None, bands: Sequence[str | None],
                            expression: str | None, requested: dict | None, info: dict) -> Visualization | None:
    """What the controls must be set to, or None to keep what they hold."""
    if new_image:
        if requested and requested.get("vis"):
            asked = Visualization.from_pairs(requested["vis"])
            if asked.style or asked.bands or asked.expression:
                return asked
            default = default_visualization(info)  # a link with only a stretch: the default look, so stretched
            return replace(asked, style=default.style, bands=default.bands)
        return None if _keeps_current(style, bands, expression, info) else default_visualization(info)
    return None if style in (COMPOSITE, EXPRESSION_MODE) else Visualization(style=style)


def _band_label(name: str, info: dict) -> str:
    meta: dict[str, Any] = next(
        (b for b in ((info.get("collection") or {}).get("bands") or []) if b.get("name") == name), {})
    wavelength = meta.get("center_wavelength")
    extra: list[str] = [e for e in (meta.get("common_name"), f"{wavelength:g} µm" if wavelength else None) if e]
    return f"{name} ({', '.join(extra)})" if extra else name


def _expression_hint(info: dict) -> list:
    return ["Bands: ", ", ".join(_band_label(n, info) for n in image_bands(info)),
            ". Operators + - * / ** and ( ), comparisons, functions; ';' separates red;green;blue."]


# ---------------------------------------------------------------- checking what is drawn

def source_params(style: str | None, bands: Sequence[str | None], expression: str | None) -> dict[str, str]:
    """What the chosen style draws, as the render parameters that say it (style, bands or expression)."""
    if style == COMPOSITE:
        return {"bands": ",".join(b or "" for b in bands)}
    if style == EXPRESSION_MODE:
        return {"expression": (expression or "").strip()}
    return {"style": style} if style else {}


SOURCE_OUTPUTS = [Output(SOURCE, "data"), Output(SOURCE_MESSAGE, "children"),
                  *[Output(label, "children") for label in RESCALE_LABELS],
                  *[Output(row, "style") for row in RESCALE_ROWS], Output(COLORMAP_ROW, "style"),
                  *[Output(r, "placeholder") for pair in RESCALE for r in pair]]


def _check_source(info: dict | None, style: str | None, r: str | None, g: str | None, b: str | None,
                  expression: str | None):
    """Check the source with the API: /statistics over a few pixels at the image's centre answers
    at once, names each output — and refuses a bad one with a detail naming the bad token."""
    if not info or not style:
        raise PreventUpdate
    image_id = info["image"]["id"]
    params = source_params(style, (r, g, b), expression)
    if params.get("expression") == "":
        hint = html.Div("Type band math, e.g. " + default_expression(info), className="message info")
        return in_order(SOURCE_OUTPUTS, {(SOURCE, "data"): {"image": image_id, "error": "empty"},
                                         (SOURCE_MESSAGE, "children"): hint})
    try:
        answer = api.get(f"/api/v1/images/{quote(image_id)}/statistics", bbox=_centre_bbox(info["image"]["bbox"]),
                         bins=1, **params)
        names = [output["name"] for output in answer["statistics"]]
    except api.ApiFailure as exc:
        if exc.status != 404:  # 404: no pixel at the centre (a rotated or partial image), yet the source parsed
            what = {"expression": "Band math", "bands": "Bands", "style": "Style"}.get(next(iter(params), ""), "")
            return in_order(SOURCE_OUTPUTS, {(SOURCE, "data"): {"image": image_id, "error": exc.detail},
                                             (SOURCE_MESSAGE, "children"): html.Div(
                                                 f"{what}: {exc.detail}", className="message error source-error")})
        names = _output_names(params, info)
    defaults = default_ranges(info, params, names)
    values: dict[tuple[str, str], Any] = {
        (SOURCE, "data"): {"image": image_id, "params": params, "outputs": names, "defaults": defaults},
        (SOURCE_MESSAGE, "children"): None, (COLORMAP_ROW, "style"): SHOWN if len(names) == 1 else HIDDEN}
    for i in range(3):
        shown = i < len(names)
        values[(RESCALE_LABELS[i], "children")] = _output_label(i, len(names), names[i]) if shown else ""
        values[(RESCALE_ROWS[i], "style")] = SHOWN if shown else HIDDEN
        for j, text in enumerate((f"{defaults[i][0]:.4g}", f"{defaults[i][1]:.4g}") if shown else ("min", "max")):
            values[(RESCALE[i][j], "placeholder")] = text
    return in_order(SOURCE_OUTPUTS, values)


def _centre_bbox(bbox: Sequence[float]) -> str:
    """A box of about a hundredth of the image's width around its centre (a few pixels to read)."""
    west, south, east, north = bbox
    x, y, dx, dy = (west + east) / 2, (south + north) / 2, (east - west) / 200, (north - south) / 200
    return ",".join(f"{v:.8f}" for v in (x - dx, y - dy, x + dx, y + dy))


def _output_names(params: dict, info: dict) -> list[str]:
    """What the source draws, named as the API names it (used when the centre has no pixel)."""
    preset = preset_named(info, params.get("style")) or {}
    names = image_bands(info)
    chosen = params["bands"].split(",") if params.get("bands") else preset.get("bands")
    if chosen:
        return [_band_name(b, names) for b in chosen]
    text = params.get("expression") or preset.get("expression")
    if text:
        return [part.strip() for part in text.split(";")]
    return names[:3] if len(names) >= 3 else names[:1]  # the server's default


def _measure_source(source: dict | None):
    """Each output's histogram and percentiles over the whole image (/statistics): they guide
    the stretch. Off the layer's path: the map does not wait for them."""
    if not source or source.get("error"):
        return None
    try:
        answer = api.get(f"/api/v1/images/{quote(source['image'])}/statistics", bins=HISTOGRAM_BINS,
                         **source["params"])
    except api.ApiFailure:
        return None
    return {"image": source["image"], "params": source["params"],
            "outputs": [{k: s.get(k) for k in ("name", "min", "max", "p2", "p98", "histogram")}
                        for s in answer["statistics"]]}


def _output_label(index: int, count: int, name: str) -> html.Span:
    channel = ("R", "G", "B")[index] if count == 3 else "Value"
    return html.Span([html.B(channel), " ", name], title=name)


def default_ranges(info: dict, params: dict, outputs: Sequence[str]) -> list[tuple[float, float]]:
    """The stretch the server applies when none is given (what an empty min/max means): a
    preset's own; the band's stored 2-98 %; -1..1 for band math."""
    preset = preset_named(info, params.get("style"))
    if preset and preset.get("rescale"):
        ranges = [tuple(r) for r in preset["rescale"]]
        return (ranges * len(outputs))[:len(outputs)] if len(ranges) == 1 else ranges
    if params.get("expression") or (preset and preset.get("expression")):
        return [(-1.0, 1.0)] * len(outputs)
    stats = {str(b.get("name")): b.get("statistics") or {} for b in info["image"]["bands"]}
    ranges = []
    for name in outputs:
        band = stats.get(name, {})
        for low, high in ((band.get("p2"), band.get("p98")), (band.get("min"), band.get("max")), (0.0, 255.0)):
            if low is not None and high is not None and high > low:
                ranges.append((float(low), float(high)))
                break
    return ranges


# ---------------------------------------------------------------- drawing

def visualization_from_controls(source: dict, rows: Sequence[tuple[float | None, float | None]],
                                gain: float | None, gamma: float | None, colormap: str | None,
                                info: dict) -> Visualization:
    """The controls as one Visualization: the source, and the stretch and colours where they
    differ from the preset's own (so a link to a preset stays `style=ndvi`). An empty min or max
    stands for its default (the placeholder shown)."""
    params, count = source["params"], len(source["outputs"])
    preset = preset_named(info, params.get("style")) or {}
    defaults = source["defaults"]
    given = rows[:count]
    rescale: tuple[tuple[float, float], ...] = ()
    if any(v is not None for row in given for v in row):
        rescale = tuple(effective_ranges(given, defaults))
        if len(set(rescale)) == 1:
            rescale = rescale[:1]
    preset_rescale = tuple(tuple(r) for r in preset.get("rescale") or [])
    if rescale and preset_rescale and (rescale == preset_rescale or set(rescale) == set(preset_rescale)):
        rescale = ()
    return Visualization(
        style=params.get("style"), bands=tuple(params["bands"].split(",")) if params.get("bands") else (),
        expression=params.get("expression"), rescale=rescale,
        gain=gain if gain not in (None, 1) else None,
        gamma=gamma if gamma is not None and gamma != preset.get("gamma", 1) else None,
        colormap=colormap if count == 1 and colormap and colormap != preset.get("colormap") else None)


def stretch_problem(rows: Sequence[tuple[float | None, float | None]], count: int,
                    defaults: Sequence[tuple[float, float]], gain: float | None, gamma: float | None) -> str | None:
    """Why the stretch cannot be drawn (a min not below its max, a gain or gamma out of the
    renderer's range), or None: said here, rather than by tiles that fail."""
    for low, high in effective_ranges(rows[:count], defaults):
        if not low < high:
            return f"The minimum ({number(low)}) must be below the maximum ({number(high)})."
    for name, value, highest in (("Gain", gain, MAX_GAIN), ("Gamma", gamma, MAX_GAMMA)):
        if value is not None and not 0 < value <= highest:
            return f"{name} must be above 0 and at most {number(highest)}, not {number(value)}."
    return None


def effective_ranges(rows: Sequence[tuple[float | None, float | None]], defaults: Sequence[tuple[float, float]]
                     ) -> list[tuple[float, float]]:
    """The stretch drawn: each row's values, an empty one standing for its default."""
    return [(d_low if low is None else low, d_high if high is None else high)
            for (low, high), (d_low, d_high) in zip(rows, defaults)]


def _auto_stretch(clicks: int | None, measured: dict | None):
    """Each output stretched over its 2nd to 98th percentile, as /statistics measured it."""
    if not clicks or not measured or not measured.get("outputs"):
        raise PreventUpdate
    values: list[float | None] = []
    for output in measured["outputs"]:
        low, high = output.get("p2"), output.get("p98")
        if low is None or high is None or not high > low:
            low, high = output.get("min"), output.get("max")
        values += [_round(low), _round(high)]
    return tuple(values + [None] * (6 - len(values)))


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def search_limits(searched: dict | None) -> dict[str, str]:
    """The search's dates and cloud limit (visualization.MOSAIC_FILTER) as the collection reads
    take them (the time series, the timelapse)."""
    limits = {}
    if searched and searched.get("time") not in (None, "../.."):
        limits["datetime"] = searched["time"]
    if searched and searched.get("cloud") is not None:
        limits["max_cloud_cover"] = f"{searched['cloud']:g}"
    return limits
