"""The Search tab: filters, the area of interest, and the results list.

Every filter change searches again (GET /api/v1/images, the same filters a script would send);
with "only in the current view" the map's bounds are a filter, so panning searches too. Hovering
a result outlines its footprint on the map (browse.js reports the hovered entry; no server round
trip), clicking it shows the image and zooms to it.

The area of interest is drawn on the map (rectangle or polygon) or read from a file (GeoJSON, KML,
KMZ, a zipped Shapefile or WKT: raster/area_files.py), and the map flies to it; the last one given
counts. Drawn shapes move from the drawing tool into the AOI layer, so there is one
outline on the map, whichever way the area came.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, Patch, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from shapely.geometry import mapping, shape

from cogbrowser.raster.area_files import read_area
from cogbrowser.ui import api
from cogbrowser.ui.browse_map import MAP, OUTLINE_PANE, fit_bounds, rounded, view_bbox
from cogbrowser.ui.map_state import DEFAULT_SORT, MAX_AOI_CHARACTERS, RESULT_SORTS, SearchFilters, Visualization
from cogbrowser.ui.visualization import IMAGE, describe_time, preview_url

DATES = "browse-dates"
CLOUD = "browse-cloud"
COLLECTIONS = "browse-collections"
TARGETS = "browse-targets"
IN_VIEW = "browse-inview"
AOI = "browse-aoi"  # the area of interest: a GeoJSON geometry, or None
AOI_LAYER = "browse-aoi-layer"
AOI_MESSAGE = "browse-aoi-message"
DRAW = "browse-draw"
UPLOAD = "browse-aoi-upload"
CLEAR_AOI = "browse-aoi-clear"
RESULTS = "browse-results"  # the images found (what the list and the hover outline need)
RESULT_LIST = "browse-result-list"
RESULT_SUMMARY = "browse-result-summary"
HOVER = "browse-hover"  # the hovered result's image id (set by browse.js)
HOVER_LAYER = "browse-hover-layer"
VIEW_MOVED = "browse-search-view"  # changes with the map's bounds, only while "only images in the view" is ticked
CATALOG = "browse-catalog"  # the collections: titles, first preset, extents
TABS = "browse-tabs"  # the panel's tabs (browse.py); a clicked result opens Visualize
HIGHLIGHT = "browse-highlight"  # the highlighted detection (detections_overlay.py)
RESULT = "browse-result"  # pattern-matching type of a result entry
SORT = "browse-sort"  # the results' order (map_state.RESULT_SORTS)
MORE = "browse-results-more"  # "Show more": the next page of results
MORE_ROW = "browse-results-more-row"
NEXT_PAGE = "browse-results-next"  # {"params": the search's, "cursor": the next page's, "listed": n, "matched": m}
FOOTPRINTS = "browse-footprints"  # every listed result's footprint on the map (its outline opens it)
FOOTPRINT_OPENED = "browse-footprint-opened"  # a clientside callback's required output: never read
PAGE_SIZE = 50
NO_CLOUD_LIMIT = 100
AREA_SHAPE = {"color": "#7a3db8"}
EMPTY = "No images match these filters together; loosen some of them."


# ---------------------------------------------------------------- layout

def catalog_summary() -> tuple[dict, list[dict], str | None]:
    """The collections (id -> title, first preset, extent) and the detection classes with their
    counts, for the filters' choices; and an error message if the catalog could not be read."""
    try:
        collections = api.get("/api/v1/collections")["collections"]
        classes = api.get("/api/v1/detections/counts", by="class")["counts"]
    except api.ApiFailure as exc:
        return {}, [], f"The catalog cannot be read: {exc.detail}"
    catalog = {c["id"]: {"title": c.get("title") or c["id"], "extent": (c.get("extent") or {}).get("bbox"),
                         "preset": (c.get("presets") or [{}])[0].get("name"), "images": c.get("image_count", 0)}
               for c in collections}
    return catalog, [{"label": f"{row['key']} ({row['count']:,})", "value": row["key"]} for row in classes
                     if row["key"]], None


def panel(catalog: dict, classes: list[dict], problem: str | None) -> html.Div:
    """The Search tab."""
    return html.Div(className="search-panel", children=[
        html.Div(problem, className="message error") if problem else None,
        html.Div(className="field", children=[
            html.Label("Acquired between", htmlFor=DATES),
            dcc.DatePickerRange(id=DATES, display_format="YYYY-MM-DD", clearable=True, first_day_of_week=1,
                                start_date_placeholder_text="first", end_date_placeholder_text="last"),
        ]),
        html.Div(className="field", children=[
            html.Label("Cloud cover at most", htmlFor=CLOUD),
            dcc.Slider(id=CLOUD, min=0, max=100, step=5, value=NO_CLOUD_LIMIT,
                       marks={0: "0 %", 25: "25", 50: "50", 75: "75", 100: "any"}, tooltip={"placement": "bottom"},
                       allow_direct_input=False),
        ]),
        html.Div(className="field", children=[
            html.Label("Collections", htmlFor=COLLECTIONS),
            dcc.Dropdown(id=COLLECTIONS, multi=True, placeholder="All collections",
                         options=[{"label": f"{c['title']} ({c['images']})", "value": cid}
                                  for cid, c in sorted(catalog.items())]),
        ]),
        html.Div(className="field", children=[
            html.Label("Images with detections of", htmlFor=TARGETS),
            dcc.Dropdown(id=TARGETS, multi=True, placeholder="Any image (no filter)", options=classes),
        ]),
        html.H2("Area"),
        dcc.Checklist(id=IN_VIEW, options=[{"label": " Only images in the current map view", "value": "view"}],
                      value=[], className="check"),
        html.Div(className="hint", children="Draw a rectangle or polygon with the tools on the map, "
                                            "or upload an area: GeoJSON, KML, KMZ, zipped Shapefile or WKT."),
        html.Div(className="row aoi-row", children=[
            # no `accept`: a file of another kind would be dropped without a word; the server names it
            dcc.Upload(id=UPLOAD, className="upload",
                       children=html.Span(["Drop an area file or ", html.U("choose one")])),
            html.Button("Clear area", id=CLEAR_AOI, className="secondary", n_clicks=0),
        ]),
        html.Div(id=AOI_MESSAGE),
        html.Div(className="results-head", children=[
            html.H2(["Results ", html.Span(id=RESULT_SUMMARY, className="badge")]),
            dcc.Dropdown(id=SORT, options=[{"label": label, "value": key} for key, label in RESULT_SORTS.items()],
                         value=DEFAULT_SORT, clearable=False, searchable=False, className="results-sort"),
        ]),
        dcc.Loading(type="default", delay_show=250, children=html.Ul(
            id=RESULT_LIST, className="results", role="list",
            **{"aria-label": "Images found: Enter shows one, arrow keys move"})),  # type: ignore[arg-type]
        html.Div(id=MORE_ROW, style={"display": "none"}, className="row more-row", children=[
            html.Button("Show more", id=MORE, className="secondary", n_clicks=0)]),
    ])


def map_layers() -> list:
    """The results' footprints, the hovered one's, the area of interest, and the drawing tool."""
    return [
        # the results' outlines (no fill: a click inside an image reads its pixel; on the outline, opens it)
        dl.GeoJSON(id=FOOTPRINTS, data=None, pane=OUTLINE_PANE,
                   style={"color": "#5a6b7d", "weight": 1.2, "opacity": 0.75, "fill": False, "dashArray": "3 3"}),
        dl.GeoJSON(id=HOVER_LAYER, data=None, interactive=False, pane=OUTLINE_PANE,
                   style={"color": "#e07b00", "weight": 2.5, "fillColor": "#e07b00", "fillOpacity": 0.12}),
        dl.GeoJSON(id=AOI_LAYER, data=None, interactive=False, pane=OUTLINE_PANE,
                   style={"color": "#7a3db8", "weight": 2, "dashArray": "6 4", "fillOpacity": 0.05}),
        dl.FeatureGroup(children=[dl.EditControl(
            id=DRAW, position="topleft",
            draw={"rectangle": {"shapeOptions": AREA_SHAPE}, "polygon": {"shapeOptions": AREA_SHAPE},
                  "polyline": False, "circle": False, "marker": False, "circlemarker": False},
            edit={"edit": False, "remove": True})]),  # "remove" runs our "clear all" (its button is hidden)
    ]


def stores(catalog: dict) -> list[dcc.Store]:
    return [dcc.Store(id=RESULTS), dcc.Store(id=HOVER), dcc.Store(id=AOI), dcc.Store(id=CATALOG, data=catalog),
            dcc.Store(id=VIEW_MOVED), dcc.Store(id=NEXT_PAGE), dcc.Store(id=FOOTPRINT_OPENED)]


def register(app: dash.Dash) -> None:
    """The Search tab's callbacks, on `app`."""
    app.clientside_callback(  # panning reaches the server only while the view filters the search
        dash.ClientsideFunction("cogbrowserView", "changedWhile"), Output(VIEW_MOVED, "data"),
        Input(MAP, "bounds"), State(IN_VIEW, "value"), prevent_initial_call=True)
    app.callback(Output(RESULT_LIST, "children"), Output(RESULTS, "data"), Output(RESULT_SUMMARY, "children"),
                 Output(NEXT_PAGE, "data"), Output(MORE_ROW, "style"),
                 *SEARCH_INPUTS, Input(VIEW_MOVED, "data"), State(MAP, "bounds"), State(CATALOG, "data"),
                 State(IMAGE, "data"))(_search)
    more = [Output(RESULT_LIST, "children"), Output(RESULTS, "data"), Output(RESULT_SUMMARY, "children"),
            Output(NEXT_PAGE, "data"), Output(MORE_ROW, "style")]
    app.callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in more],
                 Input(MORE, "n_clicks"), State(NEXT_PAGE, "data"), State(CATALOG, "data"), State(IMAGE, "data"),
                 prevent_initial_call=True)(_more)
    app.clientside_callback(dash.ClientsideFunction("cogbrowser", "footprints"), Output(FOOTPRINTS, "data"),
                            Input(RESULTS, "data"))
    app.clientside_callback(dash.ClientsideFunction("cogbrowser", "openFootprint"), Output(FOOTPRINT_OPENED, "data"),
                            Input(FOOTPRINTS, "clickData"), prevent_initial_call=True)
    app.callback(Output(IMAGE, "data", allow_duplicate=True), Output(MAP, "viewport", allow_duplicate=True),
                 Output(TABS, "value", allow_duplicate=True), Output(HIGHLIGHT, "data", allow_duplicate=True),
                 Input({"type": RESULT, "image": ALL}, "n_clicks"), State(RESULTS, "data"),
                 prevent_initial_call=True)(_show_result)
    app.callback(Output({"type": RESULT, "image": ALL}, "className"), Input(IMAGE, "data"),
                 State({"type": RESULT, "image": ALL}, "id"), prevent_initial_call=True)(_mark_shown_result)
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowser", "hoveredFootprint"), Output(HOVER_LAYER, "data"),
        Input(HOVER, "data"), State(RESULTS, "data"), prevent_initial_call=True)
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowser", "areaFeature"), Output(AOI_LAYER, "data"), Input(AOI, "data"))
    app.callback(Output(AOI, "data", allow_duplicate=True), Output(AOI_MESSAGE, "children"),
                 Output(DRAW, "editToolbar"), Output(UPLOAD, "contents"),
                 Output(MAP, "viewport", allow_duplicate=True),
                 Input(DRAW, "geojson"), Input(UPLOAD, "contents"), Input(CLEAR_AOI, "n_clicks"),
                 State(UPLOAD, "filename"), State(DRAW, "editToolbar"), prevent_initial_call=True)(_set_area)


# ---------------------------------------------------------------- searching

def filters_from_controls(dates: tuple[str | None, str | None], cloud: float | None, collections: list | None,
                          targets: list | None, in_view: list | None, aoi: dict | None,
                          sort: str | None = None) -> SearchFilters:
    """The search the controls describe (a cloud limit of 100 % is no limit)."""
    start, end = (d[:10] if d else None for d in dates)
    limited = cloud is not None and cloud < NO_CLOUD_LIMIT
    return SearchFilters(start=start, end=end, max_cloud=cloud if limited else None,
                         collections=tuple(collections or ()), targets=tuple(targets or ()),
                         in_view=bool(in_view), aoi=aoi, sort=sort if sort in RESULT_SORTS else DEFAULT_SORT)


SEARCH_INPUTS = [Input(DATES, "start_date"), Input(DATES, "end_date"), Input(CLOUD, "value"),
                 Input(COLLECTIONS, "value"), Input(TARGETS, "value"), Input(IN_VIEW, "value"), Input(AOI, "data"),
                 Input(SORT, "value")]


def _search(start, end, cloud, collections, targets, in_view, aoi, sort, _view_moved, bounds, catalog, shown):
    """The first page of images matching the filters, in the order chosen, as the results list
    (again when the view moves while it filters them: VIEW_MOVED); "Show more" goes on (`_more`)."""
    filters = filters_from_controls((start, end), cloud, collections, targets, in_view, aoi, sort)
    params = filters.api_params(view_bbox(bounds))
    try:
        answer = api.get("/api/v1/images", limit=PAGE_SIZE, count="true", **params)
    except api.ApiFailure as exc:
        return html.Li(f"The search failed: {exc.detail}", className="message error"), [], "error", None, HIDDEN_ROW
    images = [_listed(image) for image in answer["images"]]
    if not images:
        return html.Li(empty_message(filters, view_bbox(bounds)), className="message empty"), [], "0", None, HIDDEN_ROW
    matched = answer.get("matched") or len(images)
    shown_id = (shown or {}).get("id")
    entries = [result_entry(image, catalog or {}, image["id"] == shown_id) for image in images]
    page = {"params": params, "cursor": _next_cursor(answer), "listed": len(images), "matched": matched}
    return entries, images, _summary(len(images), matched), page, SHOWN_ROW if page["cursor"] else HIDDEN_ROW


def _more(clicks: int, page: dict | None, catalog: dict | None, shown: dict | None):
    """The next page of the same search, added to the list (and to the footprints on the map)."""
    if not clicks or not page or not page.get("cursor"):
        raise PreventUpdate
    try:
        answer = api.get("/api/v1/images", limit=PAGE_SIZE, cursor=page["cursor"], **page["params"])
    except api.ApiFailure as exc:
        entries = Patch()
        entries.append(html.Li(f"Showing more failed: {exc.detail}", className="message error"))
        return entries, no_update, no_update, {**page, "cursor": None}, HIDDEN_ROW
    found = [_listed(image) for image in answer["images"]]
    shown_id = (shown or {}).get("id")
    entries, images = Patch(), Patch()
    entries.extend([result_entry(image, catalog or {}, image["id"] == shown_id) for image in found])
    images.extend(found)
    listed = page["listed"] + len(found)
    following = {**page, "cursor": _next_cursor(answer), "listed": listed}
    row = SHOWN_ROW if following["cursor"] else HIDDEN_ROW
    return entries, images, _summary(listed, page["matched"]), following, row


SHOWN_ROW: dict[str, str] = {}
HIDDEN_ROW = {"display": "none"}


def _listed(image: dict) -> dict:
    """What the list, the footprints and a click need of a found image."""
    return {k: image.get(k) for k in ("id", "title", "bbox", "footprint", "acquired_at", "cloud_cover",
                                      "collection_id", "detection_count")}


def _summary(listed: int, matched: int) -> str:
    return f"{listed:,} of {matched:,}" if matched > listed else f"{matched:,}"


def _next_cursor(answer: dict) -> str | None:
    """The cursor of the search's next page (from its `next` link), if there is one."""
    link = next((link["href"] for link in answer.get("links") or [] if link.get("rel") == "next"), None)
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0] if link else None


EMPTYING = (  # the filters that can empty the list, in the order they are blamed: (filter, what it keeps, advice)
    ("in_view", "in the map's view", 'zoom out, or untick "Only images in the current map view"'),
    ("aoi", "touching the area of interest", "change or clear the area"),
    ("dates", "acquired between the dates chosen", "widen the dates"),
    ("max_cloud", "under the cloud limit", "raise the cloud limit"),
    ("targets", "with detections of the classes chosen", "choose other classes"),
    ("collections", "in the collections chosen", "choose other collections"),
)


def empty_message(filters: SearchFilters, bounds: list[float] | None) -> str:
    """Why nothing matches: the first filter (of EMPTYING) without which images would be found,
    named with what to do; the catalog's emptiness, if that is the cause."""
    for name, where, advice in EMPTYING:
        loosened = _without(filters, name)
        if loosened == filters:
            continue
        try:
            matched = api.get("/api/v1/images", limit=1, count="true", **loosened.api_params(bounds)).get("matched")
        except api.ApiFailure:
            return EMPTY
        if matched:
            return f"No images {where}; {matched:,} match without that filter: {advice}."
    try:
        anything = api.get("/api/v1/images", limit=1)["images"]
    except api.ApiFailure:
        return EMPTY
    return EMPTY if anything else "The catalog has no images yet: ingest some (cogbrowser ingest, or upload)."


def _without(filters: SearchFilters, name: str) -> SearchFilters:
    loosened = {"in_view": replace(filters, in_view=False), "aoi": replace(filters, aoi=None),
                "dates": replace(filters, start=None, end=None), "max_cloud": replace(filters, max_cloud=None),
                "targets": replace(filters, targets=()), "collections": replace(filters, collections=())}
    return loosened[name]


def result_entry(image: dict, catalog: dict, selected: bool) -> html.Li:
    """One result: thumbnail (in its collection's first preset), id, date, cloud, collection,
    detections; its data attributes let browse.js draw it the moment it is clicked."""
    collection = catalog.get(image.get("collection_id") or "", {})
    cloud = image.get("cloud_cover")
    count = image.get("detection_count") or 0
    return html.Li(
        id={"type": RESULT, "image": image["id"]}, n_clicks=0, className="result selected" if selected else "result",
        title="Show this image", tabIndex="0", role="button", **{
            "aria-label": f"{image['id']}, {describe_time(image.get('acquired_at'))}",
            "data-image": image["id"], "data-bbox": json.dumps(image.get("bbox")),
                                    "data-collection": image.get("collection_id") or "",
                                    "data-preset": collection.get("preset") or ""}, children=[
            html.Img(src=preview_url(image["id"], Visualization(style=collection.get("preset")), 128), alt=""),
            html.Div(className="result-text", children=[
                html.Div(image["id"], className="title"),
                html.Div(describe_time(image.get("acquired_at")), className="meta"),
                html.Div(className="meta", children=[
                    f"☁ {cloud:.0f} %" if cloud is not None else "☁ unknown", " · ",
                    collection.get("title") or image.get("collection_id") or "no collection"]),
                html.Span(f"{count:,} detection{'s' if count != 1 else ''}", className="badge detections-badge")
                if count else None,
            ]),
        ])


def _show_result(clicks: list[int | None], images: list[dict] | None):
    """A clicked result is shown (in the current look when it fits) and the map zooms to it; a
    highlighted detection of another image is let go."""
    trigger = dash.ctx.triggered_id
    if not trigger or not any(clicks) or not dash.ctx.triggered[0].get("value"):
        raise PreventUpdate  # the list was redrawn, nothing was clicked
    image = next((i for i in images or [] if i["id"] == trigger["image"]), None)
    if image is None:
        raise PreventUpdate
    return opened(image["id"], image["bbox"])


def opened(image_id: str, bbox: list[float]) -> tuple[dict, dict, str, None]:
    """What opening an image does, from a result or the map's search box (place_search.py): the
    image shown in the current look when it fits, the map on it, the Visualize tab, no highlighted detection."""
    return {"id": image_id, "vis": None}, fit_bounds(bbox), "visualize", None


def _mark_shown_result(requested: dict | None, ids: list[dict]):
    """The shown image's entry in the list is marked."""
    shown = (requested or {}).get("id")
    return ["result selected" if entry["image"] == shown else "result" for entry in ids]


# ---------------------------------------------------------------- the area of interest

def _set_area(drawn: dict | None, upload: str | None, clear: int, filename: str | None, toolbar: dict | None):
    """The newest area given: a shape just drawn, an uploaded file (the map flies to it), or none
    after "Clear"."""
    trigger = dash.ctx.triggered_id
    if trigger == CLEAR_AOI:
        return None, None, no_update, None, no_update
    if trigger == DRAW:
        features = (drawn or {}).get("features") or []
        if not features:
            raise PreventUpdate  # the tool was emptied (by us, below)
        geometry = features[-1]["geometry"]
        # the shape leaves the drawing tool: the AOI layer shows it, one outline whichever way it came
        empty_tool = {"mode": "remove", "action": "clear all", "n_clicks": ((toolbar or {}).get("n_clicks") or 0) + 1}
        return geometry, _area_note(geometry, "drawn"), empty_tool, no_update, no_update
    if not upload:
        raise PreventUpdate
    try:
        geometry = uploaded_geometry(upload, filename)
    except ValueError as exc:
        return (no_update, html.Div(f"{filename or 'The file'}: {exc}", className="message error"), no_update, None,
                no_update)
    flown = fit_bounds(list(shape(geometry).bounds))
    return geometry, _area_note(geometry, filename or "uploaded"), no_update, None, flown


def uploaded_geometry(contents: str, filename: str | None) -> dict:
    """The area of an uploaded file (GeoJSON, KML, KMZ, zipped Shapefile, WKT: its polygons'
    union, in WGS 84), simplified until it fits in a URL. ValueError says what is wrong."""
    try:
        data = base64.b64decode(contents.split(",", 1)[1])
    except (IndexError, ValueError):
        raise ValueError("the file could not be read") from None
    return _fitting(read_area(data, filename or ""))


def _fitting(geometry) -> dict:
    """The geometry as GeoJSON, simplified step by step until its text fits the API's URL limit."""
    tolerance = 0.0
    while True:
        simplified = geometry.simplify(tolerance, preserve_topology=True) if tolerance else geometry
        value = mapping(simplified)
        value = {"type": value["type"], "coordinates": rounded(value["coordinates"])}
        if len(json.dumps(value, separators=(",", ":"))) <= MAX_AOI_CHARACTERS - 500:
            return value
        tolerance = tolerance * 2 if tolerance else 0.0005


def _area_note(geometry: dict, origin: str) -> html.Div:
    parts = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    vertices = sum(len(ring) - 1 for polygon in parts for ring in polygon)
    what = f"{len(parts)} polygons" if len(parts) > 1 else "a polygon"
    return html.Div(f"Area: {what} with {vertices} vertices ({origin}). Images must touch it.",
                    className="message info")
