"""The Browse page (`/`): find images, look at them on the map in any band combination or index,
read their pixels, see their detections.

The page is assembled from modules that each own one job, their controls, map layers and
callbacks:

- image_search.py        the Search tab: filters, area of interest, results (hover, click);
- visualization.py       the shown image: the Visualize tab, the WMS layer, its legend;
- detections_overlay.py  the Detections tab and the detection boxes on the map;
- pixel_inspect.py       a click on the map: every band's value there, and the image's metadata;
- area_inspect.py        the Visualize tab's Inspect area: histogram, statistics, time series of an area;
- export.py              the Visualize tab's Export: PNG, GeoTIFF, timelapse GIF of an area;
- compare.py             the Visualize tab's Compare: another image or date beside the shown one (swipe, opacity);
- basemap_choice.py      the basemap: Natural Earth, or an image or collection of the catalog;
- browse_map.py          the map: offline basemap, panes, controls;
- job_cards.py           the cards of the jobs the tools start (exports, statistics, time series) and their Cancel;
- time_steps.py          the previous and next acquisition (the time bar on the map), the calendar's marks;
- saved_views.py         the Views tab: saved views (pins), a link to the view on screen;
- place_search.py        the map's search box (places, coordinates, image ids) and its Place names toggle;
- map_state.py           the page's state in its URL.

Each module declares its callbacks in its `register(app)`, on the app `mount_ui` makes; this
module's `register` calls them all.

This module puts them together and keeps the URL and the page in step: on opening (and on an
in-app link to `/?…`) `_restore` sets every control from the query string; afterwards every
change is written back in the browser, by assets/url-state.js with no server round trip
(`history.replaceState`: panning does not pile up history entries), so the address bar always
holds a link to exactly this view.

Room for the next tools: the Visualize tab ends in `visualization.TOOLS` (Inspect an area,
Compare, Export, Measure); their map layers go in the panes of browse_map.py (compare layers in
the compare pane; the measuring control is browse_map's), added to the `layers` list below.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.ui import (
    api,
    area_inspect,
    basemap_choice,
    browse_map,
    compare,
    detections_overlay,
    export,
    image_search,
    job_cards,
    pixel_inspect,
    place_search,
    saved_views,
    time_steps,
    visualization,
)
from cogbrowser.ui.browse_map import MAP, VIEW, fit_bounds, union_bbox
from cogbrowser.ui.image_search import TABS
from cogbrowser.ui.map_state import URL_WRITTEN, BrowseState, View

READY = "browse-ready"  # set once the URL's state is applied: only then is the URL written
NOTICE = "browse-notice"
CLEAR_CLOUD = 20  # % cloud cover at most of the image a page with no state opens on
DETECTION_ZOOM = 17  # the closest a detection link zooms (a car is still seen with its surroundings)


def layout() -> html.Div:
    """The page: the tabbed panel beside the map."""
    catalog, classes, problem = image_search.catalog_summary()
    colours = detections_overlay.class_colours([option["value"] for option in classes])
    return html.Div(className="page browse", children=[
        *image_search.stores(catalog), *visualization.stores(), *detections_overlay.stores(),
        *area_inspect.stores(), *compare.stores(), *basemap_choice.stores(), *job_cards.stores(),
        *time_steps.stores(), *saved_views.stores(), *place_search.stores(),
        dcc.Store(id=URL_WRITTEN), dcc.Store(id=READY, data=False),
        html.Aside(className="panel browse-panel", children=[
            html.Div(id=NOTICE), job_cards.cancel_failed(),
            dcc.Tabs(id=TABS, value="search", className="browse-tabs", parent_className="browse-tabs-parent",
                     content_className="browse-tab-content", children=[
                         dcc.Tab(label="Search", value="search", className="browse-tab",
                                 selected_className="browse-tab--selected",
                                 children=image_search.panel(catalog, classes, problem)),
                         dcc.Tab(label="Visualize", value="visualize", className="browse-tab",
                                 selected_className="browse-tab--selected", children=visualization.panel(
                                     tools=[area_inspect.panel(), export.panel(), compare.panel()])),
                         dcc.Tab(label="Detections", value="detections", className="browse-tab",
                                 selected_className="browse-tab--selected", children=detections_overlay.panel()),
                         dcc.Tab(label="Views", value=saved_views.TAB, className="browse-tab",
                                 selected_className="browse-tab--selected", children=saved_views.panel()),
                     ]),
        ]),
        browse_map.map_view(
            layers=[*basemap_choice.map_layers(), *visualization.map_layers(), *compare.map_layers(),
                    *image_search.map_layers(), *detections_overlay.map_layers(colours), *pixel_inspect.map_layers()],
            overlays=[*visualization.map_overlays(), *compare.map_overlays(), *detections_overlay.map_overlays(),
                      *pixel_inspect.map_overlays(), *basemap_choice.map_overlays(),
                      *time_steps.map_overlays(), *place_search.map_overlays()]),
    ])


# ---------------------------------------------------------------- the URL into the page

RESTORED = [
    Output(image_search.DATES, "start_date"), Output(image_search.DATES, "end_date"),
    Output(image_search.CLOUD, "value"),
    Output(image_search.COLLECTIONS, "value"), Output(image_search.TARGETS, "value"),
    Output(image_search.IN_VIEW, "value"), Output(image_search.AOI, "data"), Output(image_search.SORT, "value"),
    Output(detections_overlay.SHOW, "value"), Output(detections_overlay.CLASSES, "value"),
    Output(detections_overlay.NAMES, "value"), Output(detections_overlay.SCORE, "value"),
    Output(detections_overlay.HIGHLIGHT, "data"),
    Output(visualization.OPACITY, "value"), Output(visualization.IMAGE, "data"), Output(visualization.VIS, "data"),
    Output(MAP, "viewport"), Output(VIEW, "data"), Output(TABS, "value"), Output(READY, "data"),
    Output(NOTICE, "children"), Output(basemap_choice.RESTORED, "data"), *compare.RESTORED,
    Output(visualization.MOSAIC, "value"),
    # a dropdown drops a value that is not among its options: the restored classes and names are
    # offered at once, before the shown image's own choices arrive (detections_overlay.py)
    Output(detections_overlay.CLASSES, "options", allow_duplicate=True),
    Output(detections_overlay.NAMES, "options", allow_duplicate=True),
    Output(place_search.LABELS, "value"),
]


def register(app: dash.Dash) -> None:
    """Every callback of the page, on `app` (each app of the process gets its own): the tools'
    and the page's own (URL in, URL out, zoom to data)."""
    for feature in (image_search, visualization, detections_overlay, pixel_inspect, area_inspect, export, compare,
                    basemap_choice, browse_map, job_cards, time_steps, place_search):
        feature.register(app)
    saved_views.register(app, TABS)
    app.callback(*RESTORED, Input("url", "search"), State("url", "pathname"),
                 State(image_search.CATALOG, "data"), State(detections_overlay.CLASSES, "options"),
                 State(detections_overlay.NAMES, "options"), prevent_initial_call="initial_duplicate")(_restore)
    # The address bar follows the page's state in the browser (assets/url-state.js), with no server round trip.
    app.clientside_callback(dash.ClientsideFunction("cogbrowserState", "writeQuery"), Output(URL_WRITTEN, "data"),
                            Input(READY, "data"), Input(VIEW, "data"), Input(visualization.IMAGE, "data"),
                            Input(visualization.VIS, "data"), Input(visualization.OPACITY, "value"),
                            *image_search.SEARCH_INPUTS, Input(detections_overlay.SHOW, "value"),
                            Input(detections_overlay.CLASSES, "value"), Input(detections_overlay.NAMES, "value"),
                            Input(detections_overlay.SCORE, "value"), Input(detections_overlay.HIGHLIGHT, "data"),
                            Input(browse_map.BASEMAP_CHOICE, "data"), *compare.STATE_INPUTS,
                            Input(visualization.MOSAIC, "value"), Input(place_search.LABELS, "value"))
    app.callback(Output(MAP, "viewport", allow_duplicate=True), Input(browse_map.ZOOM_TO_DATA, "n_clicks"),
                 State(visualization.IMAGE_INFO, "data"), State(image_search.RESULTS, "data"),
                 State(image_search.CATALOG, "data"), prevent_initial_call=True)(_zoom_to_data)


def _restore(search: str | None, pathname: str | None, catalog: dict | None, class_options: list | None,
             name_options: list | None):
    """Every control as the query string says; the map on its view, else on the highlighted
    detection, the shown image or all the data. A page opened with no state at all opens on the
    data: the catalog's newest clear image, drawn, with the search's results beside it."""
    if (pathname or "/").rstrip("/") not in ("", "/"):
        raise PreventUpdate
    state = BrowseState.from_query_string(search)
    notices = []
    detection = detections_overlay.detection_record(state.detection) if state.detection is not None else None
    if state.detection is not None and detection is None:
        notices.append(f"Detection {state.detection} is not in the catalog.")
    image = state.image or (detection or {}).get("image_id")
    opening = None if (search or "").strip("?") else opening_image()
    image = image or opening
    viewport = _first_view(state, detection, image, catalog or {})
    search_state, overlay = state.search, state.overlay
    cloud = search_state.max_cloud if search_state.max_cloud is not None else image_search.NO_CLOUD_LIMIT
    vis = state.visualization.render_params() if state.image else None
    return (search_state.start, search_state.end, cloud, list(search_state.collections), list(search_state.targets),
            ["view"] if search_state.in_view else [], search_state.aoi, search_state.sort,
            ["show"] if overlay.show else [], list(overlay.classes), list(overlay.names), overlay.min_score or 0,
            detection["id"] if detection else None,
            state.opacity, {"id": image, "vis": vis} if image else None, vis,
            viewport or no_update, _view_data(state.view), "visualize" if image and not opening else "search", True,
            [html.Div(text, className="message error") for text in notices], {"layer": state.basemap},
            *compare.restored(state.compare), state.mosaic or visualization.JUST_THE_IMAGE,
            with_choices(class_options, overlay.classes), with_choices(name_options, overlay.names),
            ["on"] if state.place_names else [])


def with_choices(options: list | None, values: Sequence[str]) -> list:
    """A dropdown's options with `values` among them (each as its own label until the real
    options, with counts, replace them)."""
    options = list(options or [])
    offered = {option["value"] for option in options}
    return options + [{"label": value, "value": value} for value in values if value not in offered]


def opening_image() -> str | None:
    """What a newcomer sees first: the newest image with at most CLEAR_CLOUD % cloud cover, else
    the newest image; None for an empty catalog (or one that cannot be read: the search says so)."""
    try:
        for params in ({"max_cloud_cover": CLEAR_CLOUD}, {}):
            found = api.get("/api/v1/images", limit=1, **params)["images"]
            if found:
                return found[0]["id"]
    except api.ApiFailure:
        pass
    return None


def _first_view(state: BrowseState, detection: dict | None, image: str | None, catalog: dict) -> dict | None:
    if state.view is not None:
        return {"center": [state.view.lat, state.view.lon], "zoom": state.view.zoom, "transition": "setView"}
    if detection is not None:
        return fit_bounds(detection["bbox"], max_zoom=DETECTION_ZOOM)
    if image:
        try:
            return fit_bounds(api.get(f"/api/v1/images/{quote(image)}")["bbox"])
        except api.ApiFailure:
            return None  # the image's own message says it is missing
    everything = union_bbox([c.get("extent") for c in catalog.values()])
    return fit_bounds(everything, max_zoom=12) if everything else None


def _view_data(view: View | None) -> dict | None:
    return {"lat": view.lat, "lon": view.lon, "zoom": view.zoom} if view else None


def _zoom_to_data(clicks: int | None, info: dict | None, results: list | None, catalog: dict | None):
    """To the shown image; without one, to the results; without any, to the whole catalog."""
    if not clicks:
        raise PreventUpdate
    box = info["image"]["bbox"] if info else union_bbox([r["bbox"] for r in results or []]) \
        or union_bbox([c.get("extent") for c in (catalog or {}).values()])
    if not box:
        raise PreventUpdate
    return fit_bounds(box)
