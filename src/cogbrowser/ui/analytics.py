"""The Analytics page (`/analytics`): the detections dashboard — a scatter plot, a bar graph and a
written report over the same filters, with cross-filtering between them.

Everything is asked of the REST API (ui/api.py), which aggregates in SQL: the bars are counts, the
report is counts, a score histogram and a summary, and the scatter draws a repeatable random sample
of at most SAMPLE_SIZE points, so the page stays quick over millions of detections.

State: the filters panel, the chart options and the cross-filters all live in the page's query
string (detection_filters.py reads and writes the filters), so a link reopens the same dashboard
and the browser's back button steps back through it. One callback (`_sync`) keeps the URL and the
controls in step and publishes the filters to `an-filters`; every chart and the report read that
store and the cross-filters (`an-chips`), and build their API parameters with `view_filters`.

Cross-filters: clicking or box-selecting bars, or box-selecting points, adds a chip (a `Filters`
with the view it came from). Each view applies every chip except those of its own dimension (a
class bar does not filter the class bars, it highlights them), the report applies them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import dash
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import current_app, request

from cogbrowser.ui import api, report
from cogbrowser.ui.analytics_charts import (
    AXES,
    GRAPH_CONFIG,
    GROUPS,
    KEY_FIELDS,
    PALETTE,
    TOP_GROUPS,
    bar_figure,
    bar_note,
    blank_figure,
    box_shapes,
    scatter_figure,
    scatter_note,
)
from cogbrowser.ui.api import ApiFailure
from cogbrowser.ui.detection_filters import (
    URL_PARAMETERS,
    Filters,
    narrow_all,
    parse_bbox,
)

DETECTIONS = "/api/v1/detections"
COUNTS = f"{DETECTIONS}/counts"
SAMPLE_SIZE = 5_000  # points drawn at most: an SVG scatter stays smooth, the sample shows the shape
REPORT_TOP = 20  # rows of the report's image and name tables
MAX_COUNT_ROWS = 100_000  # the counts endpoint's limit (days x classes)
OPTIONS_LIMIT = 1000  # names and images offered in the filter lists (the most frequent first)


@dataclass(frozen=True)
class View:
    """The chart options: the scatter's axes and what the bars count by."""

    x: str = "area"
    y: str = "score"
    by: str = "class"


@dataclass(frozen=True)
class Chip:
    """A cross-filter: what a click or a selection on a chart picked, and which chart it came from
    ("bar:<by>" or "scatter"), so that chart can leave it out."""

    source: str
    filters: Filters

    def encode(self) -> str:
        return f"{self.source}~{self.filters.query_string()}"

    @classmethod
    def decode(cls, text: str) -> Chip | None:
        source, _, query = text.partition("~")
        filters, problems = Filters.from_query_string(query)
        if problems or filters.is_everything() or not (source == "scatter" or source.removeprefix("bar:") in GROUPS):
            return None
        return cls(source, filters)

    def label(self) -> str:
        return "; ".join(self.filters.describe())


# ---------------------------------------------------------------- the URL

def read_search(search: str | None) -> tuple[Filters, View, list[Chip], list[str]]:
    """The page's state from its query string, and a note for each part that could not be read."""
    pairs = parse_qsl((search or "").lstrip("?"))
    filters, problems = Filters.from_pairs(pairs)
    values = dict(pairs)
    view = View(x=values.get("x") if values.get("x") in AXES else View.x,
                y=values.get("y") if values.get("y") in AXES else View.y,
                by=values.get("by") if values.get("by") in GROUPS else View.by)
    chips = [chip for chip in (Chip.decode(v) for k, v in pairs if k == "sel") if chip is not None]
    unknown = sorted({k for k, _ in pairs} - URL_PARAMETERS - {"x", "y", "by", "sel"})
    problems += [f"unknown parameter {name!r} ignored" for name in unknown]
    return filters, view, chips, problems


def write_search(filters: Filters, view: View, chips: Sequence[Chip]) -> str:
    """The query string of a state (defaults left out, so a plain dashboard has a plain URL)."""
    pairs = filters.query_pairs()
    pairs += [(name, getattr(view, name)) for name in ("x", "y", "by") if getattr(view, name) != getattr(View, name)]
    pairs += [("sel", chip.encode()) for chip in chips]
    query = urlencode(pairs, safe=",:~")
    return f"?{query}" if query else ""


def decode_chips(data: Sequence[str] | None) -> list[Chip]:
    return [chip for chip in (Chip.decode(text) for text in data or ()) if chip is not None]


def view_filters(filters_data: str | None, chips_data: Sequence[str] | None, view: str | None) -> Filters | None:
    """What a view shows: the panel's filters narrowed by every cross-filter not from `view` (None:
    all of them). None when nothing can match. The one way every callback reads the selection."""
    filters, _ = Filters.from_query_string(filters_data or "")
    return narrow_all(filters, [chip.filters for chip in decode_chips(chips_data) if chip.source != view])


# ---------------------------------------------------------------- the page

def layout() -> html.Div:
    return html.Div(className="page analytics", children=[
        dcc.Location(id="an-location", refresh=False),
        dcc.Store(id="an-filters"), dcc.Store(id="an-chips", data=[]), dcc.Store(id="an-catalog"),
        dcc.Store(id="an-colours"),
        dcc.Store(id="an-report-files"), dcc.Store(id="an-scatter-key"), dcc.Store(id="an-scatter-pick"),
        dcc.Store(id="an-bar-pick"), dcc.Download(id="an-download"),
        _filters_panel(),
        html.Div(className="dashboard", children=[_overview_card(), _scatter_card(), _bar_card(), _report_card()]),
    ])


def _field(label: str, control, hint: str | None = None, label_for: str | None = None) -> html.Div:
    return html.Div(className="field", children=[
        html.Label(label, htmlFor=label_for), control, *([html.Div(hint, className="hint")] if hint else [])])


def _filters_panel() -> html.Aside:
    def dropdown(id_: str, placeholder: str) -> dcc.Dropdown:
        return dcc.Dropdown(id=id_, multi=True, placeholder=placeholder, options=[], value=[], maxHeight=260)

    return html.Aside(id="an-panel", className="panel", children=[
        html.H2("Filters"),
        _field("Collections", dropdown("an-collections", "All collections")),
        _field("Images", dropdown("an-images", "All images (type to search)")),
        _field("Target classes", dropdown("an-classes", "All classes")),
        _field("Target names", dropdown("an-names", "All names")),
        _field("Dates", dcc.DatePickerRange(id="an-dates", display_format="YYYY-MM-DD", clearable=True,
                                            start_date_id="an-dates-start", end_date_id="an-dates-end",
                                            start_date_placeholder_text="first", end_date_placeholder_text="last",
                                            first_day_of_week=1), "Detection days, UTC; both included."),
        _field("Score", dcc.RangeSlider(id="an-score", min=0, max=1, step=0.01, value=[0, 1],
                                        marks={v: f"{v:g}" for v in (0, 0.25, 0.5, 0.75, 1)},
                                        tooltip={"placement": "bottom", "always_visible": False},
                                        allow_direct_input=False),
               "Drag the left handle to set the threshold."),
        _field("Map view / area of interest", dcc.Input(id="an-bbox", type="text", debounce=True,
                                                        placeholder="west, south, east, north"),
               "Degrees (WGS 84). The Browse page fills it from its map view.", label_for="an-bbox"),
        html.Div(id="an-filter-message"),
        html.Div(className="row actions", children=[
            dcc.Link("Reset filters", href="/analytics", className="button secondary", id="an-reset")]),
        html.P("The address bar holds these filters and the charts' options: copy it to share this dashboard.",
               className="hint"),
    ])


def _overview_card() -> html.Section:
    return html.Section(className="card wide overview", children=[
        dcc.Loading(html.Div(id="an-kpis", className="kpis"), type="dot", delay_show=300,
                    overlay_style={"visibility": "visible", "opacity": 0.5}),
        html.Div(chips_row([]), id="an-chips-row", className="chips-row"),
    ])


def _loading(graph_id: str) -> dcc.Loading:
    return dcc.Loading(dcc.Graph(id=graph_id, config=GRAPH_CONFIG, figure=blank_figure(), className="chart"),
                       type="circle", delay_show=300, overlay_style={"visibility": "visible", "opacity": 0.4})


def _scatter_card() -> html.Section:
    axis_options = [{"label": axis.short, "value": key} for key, axis in AXES.items()]
    return html.Section(className="card chart-card", children=[
        html.Div(className="card-head", children=[
            html.H3("Detections"),
            html.Div(className="axis-pickers", children=[
                html.Label("x", htmlFor="an-x"),
                dcc.Dropdown(id="an-x", options=axis_options, value=View.x, clearable=False, searchable=False),
                html.Label("y", htmlFor="an-y"),
                dcc.Dropdown(id="an-y", options=axis_options, value=View.y, clearable=False, searchable=False),
            ]),
        ]),
        html.Div(id="an-scatter-message"),
        _loading("an-scatter"),
        html.Div(id="an-scatter-note", className="hint chart-note"),
        html.Div(id="an-detail", className="detail"),
    ])


def _bar_card() -> html.Section:
    return html.Section(className="card chart-card", children=[
        html.Div(className="card-head", children=[
            html.H3("Counts"),
            dcc.RadioItems(id="an-by", options=[{"label": label, "value": key} for key, label in GROUPS.items()],
                           value=View.by, inline=True, className="segmented"),
        ]),
        html.Div(id="an-bar-message"),
        _loading("an-bar"),
        html.Div(id="an-bar-note", className="hint chart-note"),
    ])


def _report_card() -> html.Section:
    return html.Section(className="card wide report-card", children=[
        html.Div(className="card-head", children=[
            html.H3("Report"),
            html.Div(className="row downloads", children=[
                html.Button("Download .md", id="an-download-md", className="secondary", disabled=True),
                html.Button("Download .html", id="an-download-html", className="secondary", disabled=True),
            ]),
        ]),
        html.Div(id="an-report-message"),
        dcc.Loading(dcc.Markdown(id="an-report", className="report"), type="circle", delay_show=300,
                    overlay_style={"visibility": "visible", "opacity": 0.4}),
    ])


def _message(kind: str, text: str) -> html.Div:
    return html.Div(text, className=f"message {kind}", role="alert" if kind == "error" else None)


# ---------------------------------------------------------------- URL <-> controls

PANEL_CONTROLS = [("an-collections", "value"), ("an-images", "value"), ("an-classes", "value"),
                  ("an-names", "value"), ("an-dates", "start_date"), ("an-dates", "end_date"), ("an-score", "value"),
                  ("an-bbox", "value")]
VIEW_CONTROLS = [("an-x", "value"), ("an-y", "value"), ("an-by", "value")]
CONTROLS = PANEL_CONTROLS + VIEW_CONTROLS


def controls_of(filters: Filters, view: View) -> list[Any]:
    """The control values showing a state (in the order of CONTROLS)."""
    bbox = ", ".join(f"{v:g}" for v in filters.bbox) if filters.bbox else ""
    score = [filters.min_score if filters.min_score is not None else 0,
             filters.max_score if filters.max_score is not None else 1]
    return [list(filters.collections), list(filters.images), list(filters.classes), list(filters.names),
            _day(filters.start), _day(filters.end), score, bbox, view.x, view.y, view.by]


def state_of(values: Sequence[Any]) -> tuple[Filters, View, list[str]]:
    """The state the controls show (in the order of CONTROLS), and what could not be read."""
    collections, images, classes, names, start, end, score, bbox_text, x, y, by = values
    problems: list[str] = []
    bbox = None
    if bbox_text and bbox_text.strip():
        try:
            bbox = parse_bbox(bbox_text)
        except ValueError as exc:
            problems.append(f"Area of interest ignored: {exc}.")
    low, high = score or (0, 1)
    filters = Filters(collections=tuple(collections or ()), images=tuple(images or ()),
                      classes=tuple(classes or ()), names=tuple(names or ()), start=start or None, end=end or None,
                      min_score=low if low > 0 else None, max_score=high if high < 1 else None, bbox=bbox)
    return filters, View(x=x or View.x, y=y or View.y, by=by or View.by), problems


LISTS = ("an-collections", "an-images", "an-classes", "an-names")  # the dropdowns whose options follow the catalog


@dash.callback(
    Output("an-location", "search"), Output("an-filters", "data"), Output("an-chips", "data"),
    *[Output(id_, prop) for id_, prop in CONTROLS], *[Output(id_, "options") for id_ in LISTS],
    Output("an-filter-message", "children"),
    Input("an-location", "search"), *[Input(id_, prop) for id_, prop in CONTROLS], Input("an-chips", "data"),
    State("an-catalog", "data"), State("an-filters", "data"))
def _sync(search: str | None, *values: Any):
    """The URL and the controls in step: opening the page (or back/forward) sets the controls from
    the URL; changing a control, or a cross-filter, writes the URL. Either way `an-filters` gets
    the filters, which is what every chart and the report follow.

    Values from the URL go out with options holding them: a dropdown drops any value its options
    lack, and the catalog's lists (`_list_options`) may not have arrived yet."""
    if search is None:  # the location is not mounted yet: it will call again with the page's URL
        raise PreventUpdate
    controls, chips_data = list(values[:len(CONTROLS)]), values[len(CONTROLS)]
    catalog, filters_data = values[-2:]
    keep = [no_update] * len(CONTROLS)
    if ctx.triggered_id in (None, "an-location"):
        filters, view, chips, problems = read_search(search)
        controls = controls_of(filters, view)
        notes = [_message("info", f"From the link: {p}.") for p in problems]
        return (no_update, _changed(filters.query_string(), filters_data),
                _changed([c.encode() for c in chips], chips_data or []), *controls,
                *list_options(catalog, controls, None), notes)
    filters, view, problems = state_of(controls)
    return (_changed(write_search(filters, view, decode_chips(chips_data)), search),
            _changed(filters.query_string(), filters_data), no_update, *keep, *[no_update] * len(LISTS),
            [_message("error", p) for p in problems])


def _changed(new: Any, old: Any) -> Any:
    """`new`, or no_update when it is `old` (an unchanged store must not set every chart off)."""
    return no_update if new == old else new


@dash.callback(*[Output(id_, "options", allow_duplicate=True) for id_ in LISTS],
               Input("an-catalog", "data"), *[Input(id_, "value") for id_ in LISTS],
               Input("an-images", "search_value"), prevent_initial_call=True)
def _list_options(catalog: dict | None, *values: Any):
    """The lists once the catalog's arrive, and as values are chosen or an image is searched for.
    The values are inputs, not states, so this waits for `_sync` when it is setting them."""
    return list_options(catalog, values[:len(LISTS)], values[-1])


# ---------------------------------------------------------------- the filter lists

@dash.callback(Output("an-catalog", "data"), Output("an-dates", "min_date_allowed"),
               Output("an-dates", "max_date_allowed"), Input("an-location", "pathname"))
def _load_catalog(pathname: str | None):
    """What the filter lists offer, once a page: classes, names, images and collections with their
    detection counts (the most frequent first), and the days detections span."""
    if pathname is None:
        raise PreventUpdate
    try:
        catalog = {
            "classes": _pairs(api.get(COUNTS, by="class", limit=OPTIONS_LIMIT)),
            "names": [p for p in _pairs(api.get(COUNTS, by="name", limit=OPTIONS_LIMIT)) if p[0] is not None],
            "images": _pairs(api.get(COUNTS, by="image", limit=OPTIONS_LIMIT)),
            "collections": [(c["id"], c["title"]) for c in api.get("/api/v1/collections")["collections"]],
            "days": [r["key"] for r in api.get(COUNTS, by="day", limit=MAX_COUNT_ROWS)["counts"] if r["key"]],
        }
    except ApiFailure as failure:
        return {"error": failure.detail}, None, None
    days = catalog["days"]
    return catalog, (days[0] if days else None), (days[-1] if days else None)


def _pairs(counts: dict) -> list[tuple[str | None, int]]:
    return [(row["key"], row["count"]) for row in counts["counts"]]


def list_options(catalog: dict | None, controls: Sequence[Any], image_search: str | None) -> list[list[dict]]:
    """The options of LISTS: the catalog's lists with their counts, always holding the chosen
    values (a link may name what the lists do not show); typing in the image list searches every
    image of the catalog."""
    catalog = catalog or {}
    collections, images, classes, names = controls[:len(LISTS)]
    image_pairs = catalog.get("images", [])
    if image_search:
        try:
            found = api.get("/api/v1/images", q=image_search, limit=50)["images"]
            image_pairs = [(image["id"], None) for image in found]
        except ApiFailure:
            pass  # the list stays as it was; typing on shows the API's answer again
    return [_choices(catalog.get("collections", []), collections, counted=False), _choices(image_pairs, images),
            _choices(catalog.get("classes", []), classes), _choices(catalog.get("names", []), names)]


def _choices(pairs: Sequence, chosen: Sequence[str] | None, counted: bool = True) -> list[dict]:
    """Dropdown options from (value, detections) pairs, or (id, title) ones when not `counted`,
    plus any chosen value not among them."""
    def label(value: str, extra: Any) -> str:
        if extra is None or extra == value:
            return value
        return f"{value} ({extra:,})" if counted else f"{extra} ({value})"

    options = [{"label": label(value, extra), "value": value} for value, extra in pairs]
    known = {option["value"] for option in options}
    return options + [{"label": value, "value": value} for value in chosen or () if value not in known]


@dash.callback(Output("an-colours", "data"), Input("an-location", "pathname"))
def _load_colours(pathname: str | None):
    """A colour per class, the same in every chart: by the class's rank in the whole catalog (one
    quick count, apart from the filter lists, so the charts need not wait for those)."""
    if pathname is None:
        raise PreventUpdate
    try:
        classes = [row["key"] for row in api.get(COUNTS, by="class", limit=OPTIONS_LIMIT)["counts"]]
    except ApiFailure:
        classes = []  # the charts say what failed; their colours fall back to the class names
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(classes)}


# ---------------------------------------------------------------- the overview and the report

@dash.callback(Output("an-kpis", "children"), Output("an-report", "children"), Output("an-report-files", "data"),
               Output("an-report-message", "children"), Output("an-download-md", "disabled"),
               Output("an-download-html", "disabled"),
               Input("an-filters", "data"), Input("an-chips", "data"),
               State("an-x", "value"), State("an-y", "value"), State("an-by", "value"))
def _report(filters_data: str | None, chips_data: list[str] | None, x: str, y: str, by: str):
    """The totals at the top and the written report, both for every filter and cross-filter."""
    if filters_data is None:
        raise PreventUpdate
    filters = view_filters(filters_data, chips_data, None)
    panel, _ = Filters.from_query_string(filters_data)
    chips = decode_chips(chips_data)
    selection = panel.describe() + [f"picked on a chart: {chip.label()}" for chip in chips]
    try:
        answers = report_answers(filters)
    except ApiFailure as failure:
        return [], "", None, _message("error", f"The report could not be made: {failure.detail}"), True, True
    link = f"{request.host_url.rstrip('/')}/analytics{write_search(panel, View(x, y, by), chips)}"
    document = report.build_report(answers, selection, datetime.now(timezone.utc), link, top=REPORT_TOP)
    markdown = report.to_markdown(document)
    files = {"md": markdown, "html": report.to_html(document)}
    return _kpis(answers.summary), markdown, files, None, False, False


def report_answers(filters: Filters | None) -> report.Answers:
    """Ask the API what the report says about a selection (nothing matches: an empty report)."""
    if filters is None:
        return report.Answers(summary={"detections": 0, "images": 0, "classes": 0, "names": 0}, classes=_NO_COUNTS,
                              images=_NO_COUNTS, names=_NO_COUNTS, days=_NO_COUNTS, scores={"edges": [], "histograms": []})
    params = filters.api_params()

    def counts() -> tuple[dict, ...]:
        classes = api.get(COUNTS, by="class", limit=OPTIONS_LIMIT, **params)
        return (classes, *in_parallel(
            lambda: largest_groups(params, "image", REPORT_TOP, classes),
            lambda: largest_groups(params, "name", REPORT_TOP + 1, classes),  # +1: the unnamed may be one
            lambda: api.get(COUNTS, by="day", limit=MAX_COUNT_ROWS, **params),
            lambda: api.get(f"{DETECTIONS}/scores", bins=10, **params)))

    summary, (classes, images, names, days, scores) = in_parallel(
        lambda: api.get(f"{DETECTIONS}/summary", **params), counts)
    return report.Answers(summary=summary, classes=classes, images=images, names=names, days=days, scores=scores)


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """The answers of several API calls made at once, each in the app's context: the report waits
    for its slowest question (the summary, 2 s over 1,000,000 detections), not for their sum."""
    app = current_app._get_current_object()

    def run(call: Callable[[], Any]) -> Any:
        with app.app_context():
            return call()

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="analytics") as pool:
        return list(pool.map(run, calls))


_NO_COUNTS = {"total": 0, "counts": []}


def largest_groups(params: dict, by: str, n: int, classes: dict) -> dict:
    """Counts by `by` split by class, for the `n` largest groups only. The API answers a group's
    rows together, largest group first, so n groups take at most n x (classes selected) rows."""
    rows = max(1, n * len(classes["counts"]))
    return api.get(COUNTS, by=by, split="class", limit=min(rows, MAX_COUNT_ROWS), **params)


def _kpis(summary: dict) -> list[html.Div]:
    mean = summary.get("mean_score")
    span = date_span(summary.get("first"), summary.get("last"))
    tiles = [("Detections", f"{summary['detections']:,}"), ("Images", f"{summary['images']:,}"),
             ("Classes", f"{summary['classes']:,}"), ("Named targets", f"{summary['names']:,}"),
             ("Dates", span), ("Mean score", f"{mean:.2f}" if mean is not None else "–")]
    return [html.Div(className="kpi wide" if label == "Dates" else "kpi", children=[
        html.Div(value, className="kpi-value"), html.Div(label, className="kpi-label")]) for label, value in tiles]


def date_span(first: str | None, last: str | None) -> str:
    """Two times as a short span of days: "12 Apr – 4 Oct 2024", "3 Dec 2023 – 9 Jan 2024"."""
    if not first or not last:
        return "–"
    start, end = (datetime.fromisoformat(t[:10]) for t in (first, last))
    day = "{0.day} {0:%b}".format
    if start == end:
        return f"{day(start)} {start.year}"
    return f"{day(start)}{'' if start.year == end.year else f' {start.year}'} – {day(end)} {end.year}"


@dash.callback(Output("an-download", "data"), Input("an-download-md", "n_clicks"),
               Input("an-download-html", "n_clicks"), State("an-report-files", "data"), prevent_initial_call=True)
def _download(_md_clicks, _html_clicks, files: dict | None):
    if not files:
        raise PreventUpdate
    kind = "html" if ctx.triggered_id == "an-download-html" else "md"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    return {"content": files[kind], "filename": f"detections-report-{stamp}.{kind}",
            "type": "text/html" if kind == "html" else "text/markdown"}


# ---------------------------------------------------------------- cross-filters

# What a chart picked, reduced in the browser before it travels: a box over thousands of points
# sends its two ranges, not every point (a megabyte per selection); a click or a box over bars
# sends the [key, class] of each bar part. `at` makes a second click on the same bar an event.
# Plotly answers a redraw with an empty selection (the scatter redraws when a bar is picked):
# that is no reason to drop the scatter's chip, a double-click (no selection at all) is.
dash.clientside_callback(
    """function (selection) {
        if (!selection) { return null; }  // a double-click: the box is let go
        if (!selection.points || !selection.points.length) { return dash_clientside.no_update; }  // a redraw
        if (selection.range) { return {x: selection.range.x, y: selection.range.y}; }
        const extent = axis => {
            const values = selection.points.map(p => p[axis]).filter(v => v !== undefined && v !== null);
            return [values.reduce((a, b) => (a < b ? a : b)), values.reduce((a, b) => (a > b ? a : b))];
        };
        return {x: extent("x"), y: extent("y")};
    }""",
    Output("an-scatter-pick", "data"), Input("an-scatter", "selectedData"), prevent_initial_call=True)

dash.clientside_callback(
    """function (click, selection) {
        const clicked = dash_clientside.callback_context.triggered.some(t => t.prop_id.endsWith(".clickData"));
        const event = clicked ? click : selection;
        const parts = event && event.points ? event.points.filter(p => p.customdata).map(p => p.customdata) : [];
        return {event: clicked ? "click" : "select", parts: parts, at: Date.now()};
    }""",
    Output("an-bar-pick", "data"), Input("an-bar", "clickData"), Input("an-bar", "selectedData"),
    prevent_initial_call=True)


@dash.callback(Output("an-chips", "data", allow_duplicate=True),
               Input("an-bar-pick", "data"), Input("an-scatter-pick", "data"),
               Input({"type": "an-chip-remove", "index": ALL}, "n_clicks"),
               Input({"type": "an-chip-clear", "index": ALL}, "n_clicks"),
               State("an-chips", "data"), State("an-by", "value"), State("an-x", "value"), State("an-y", "value"),
               prevent_initial_call=True)
def _pick(bar_pick: dict | None, scatter_pick: dict | None, _removes, _clears, chips_data, by, x, y):
    """A click or a selection on a chart sets that chart's chip (clicking the picked bar again, or
    clearing the selection, takes it away); a chip's × removes it, "Clear all" all of them."""
    chips = decode_chips(chips_data)
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):  # a chip's ×, or "Clear all" (buttons drawn with the chips)
        if not ctx.triggered[0]["value"]:
            raise PreventUpdate
        chips = [] if trigger["type"] == "an-chip-clear" else [c for i, c in enumerate(chips) if i != trigger["index"]]
    elif trigger == "an-scatter-pick":
        chips = _replace(chips, "scatter", scatter_chip(x, y, scatter_pick))
    elif bar_pick is not None:
        source = f"bar:{by}"
        picked = bar_chip(by, bar_pick["parts"])
        if bar_pick["event"] == "click" and picked is not None and picked in chips:
            picked = None  # a second click on the picked bar lets it go
        chips = _replace(chips, source, picked)
    encoded = [chip.encode() for chip in chips]
    if encoded == (chips_data or []):
        raise PreventUpdate
    return encoded


def _replace(chips: list[Chip], source: str, chip: Chip | None) -> list[Chip]:
    """`chips` with the chip of `source` replaced by `chip` (or removed), keeping its place."""
    if chip is None:
        return [c for c in chips if c.source != source]
    if any(c.source == source for c in chips):
        return [chip if c.source == source else c for c in chips]
    return chips + [chip]


def bar_chip(by: str, parts: Sequence[Sequence[Any]]) -> Chip | None:
    """The cross-filter of picked bars ([key] or [key, class] each): their keys, and their class
    when the parts picked are all of one class (a box over the ship parts of some days)."""
    keys = list(dict.fromkeys(part[0] for part in parts if part and part[0] is not None))
    if not keys:
        return None
    filters = Filters(start=min(keys), end=max(keys)) if by == "day" else Filters(**{KEY_FIELDS[by]: tuple(keys)})
    classes = {part[1] for part in parts if len(part) > 1}
    if by != "class" and len(classes) == 1:
        filters = replace(filters, classes=tuple(classes))
    return Chip(f"bar:{by}", filters)


def scatter_chip(x: str, y: str, ranges: dict | None) -> Chip | None:
    """The cross-filter of a box drawn on the scatter ({"x": [low, high], "y": [low, high]} in the
    axes' values): its ranges on the axes the API filters (score, position, time; not area)."""
    if not ranges:
        return None
    fields: dict[str, Any] = {}
    bbox = [-180.0, -90.0, 180.0, 90.0]
    for axis_name, (low, high) in ((x, ranges["x"]), (y, ranges["y"])):
        kind = AXES[axis_name].filter
        if kind == "score":
            fields["min_score"], fields["max_score"] = max(0.0, round(low, 4)), min(1.0, round(high, 4))
        elif kind == "time":
            fields["start"], fields["end"] = _iso(low), _iso(high)
        elif kind == "lon":
            bbox[0], bbox[2] = max(-180.0, round(low, 6)), min(180.0, round(high, 6))
        elif kind == "lat":
            bbox[1], bbox[3] = max(-90.0, round(low, 6)), min(90.0, round(high, 6))
    if bbox != [-180.0, -90.0, 180.0, 90.0]:
        fields["bbox"] = tuple(bbox)
    return Chip("scatter", Filters(**fields)) if fields else None


def _iso(value: Any) -> str:
    """A time from a plotly date axis ('2024-04-20 07:41:53.38') as ISO 8601 in UTC."""
    text = str(value).replace(" ", "T")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dash.callback(Output("an-chips-row", "children"), Input("an-chips", "data"), prevent_initial_call=True)
def _chips_row(chips_data: list[str] | None):
    return chips_row(decode_chips(chips_data))


def chips_row(chips: Sequence[Chip]) -> list | html.Span:
    """The active cross-filters, each with its ×; without any, how to make one."""
    if not chips:
        return html.Span("Click a bar, or drag a box over bars or points, to filter the other views by it.",
                         className="hint")
    return [html.Span("Cross-filters", className="chips-title"),
            *[html.Span(className="chip", children=[
                html.Span(("bar · " if chip.source.startswith("bar:") else "scatter · ") + chip.label()),
                html.Button("×", id={"type": "an-chip-remove", "index": i}, className="chip-remove",
                            title="Remove this cross-filter", **{"aria-label": f"Remove {chip.label()}"})])
              for i, chip in enumerate(chips)],
            html.Button("Clear all", id={"type": "an-chip-clear", "index": 0}, className="link-button")]


# ---------------------------------------------------------------- the scatter plot

@dash.callback(Output("an-scatter", "figure"), Output("an-scatter", "style"), Output("an-scatter-note", "children"),
               Output("an-scatter-message", "children"), Output("an-scatter-key", "data"),
               Input("an-filters", "data"), Input("an-chips", "data"), Input("an-x", "value"), Input("an-y", "value"),
               Input("an-colours", "data"), State("an-scatter-key", "data"))
def _scatter(filters_data, chips_data, x: str, y: str, colours: dict | None, last_key: str | None):
    """A sample of the selected detections (its own box left out: it stays drawn where it was)."""
    if filters_data is None or x not in AXES or y not in AXES:
        raise PreventUpdate
    filters = view_filters(filters_data, chips_data, "scatter")
    colours = colours or {}
    key = f"{filters}|{x}|{y}|{sorted(colours.items())}"
    if key == last_key:
        raise PreventUpdate
    hidden = {"display": "none"}
    if filters is None:
        return no_update, hidden, None, _message("empty", report.EMPTY_HINT), key
    try:
        sample = api.get(f"{DETECTIONS}/sample", size=SAMPLE_SIZE, **filters.api_params())
    except ApiFailure as failure:
        return no_update, hidden, None, _message("error", failure.detail), key
    if sample["matched"] == 0:
        return no_update, hidden, None, _message("empty", report.EMPTY_HINT), key
    figure, plotted = scatter_figure(sample["points"], x, y, colours)
    figure.update_layout(shapes=box_shapes(scatter_pick(chips_data), x, y))
    return figure, {}, scatter_note(sample, plotted, x, y), None, key


@dash.callback(Output("an-scatter", "figure", allow_duplicate=True), Input("an-chips", "data"),
               State("an-x", "value"), State("an-y", "value"), prevent_initial_call=True)
def _scatter_box(chips_data, x: str, y: str):
    """The scatter's own cross-filter drawn as a box (kept through redraws and links), patched
    into the figure without asking the API again."""
    figure = Patch()
    figure["layout"]["shapes"] = box_shapes(scatter_pick(chips_data), x, y)
    return figure


def scatter_pick(chips_data: Sequence[str] | None) -> Filters | None:
    """What the scatter's own chip selects, if it has one."""
    return next((chip.filters for chip in decode_chips(chips_data) if chip.source == "scatter"), None)


@dash.callback(Output("an-detail", "children"), Input("an-scatter", "clickData"), prevent_initial_call=True)
def _detail(click: dict | None):
    """The clicked detection, and the way to it on the map."""
    if not click or not click.get("points"):
        raise PreventUpdate
    detection_id = click["points"][0]["customdata"][0]
    try:
        detection = api.get(f"{DETECTIONS}/{detection_id}")
    except ApiFailure as failure:
        return _message("error", failure.detail)
    facts = [("Class", detection["target_class"]), ("Name", detection["target_name"] or "–"),
             ("Image", detection["image_id"]), ("Score", f"{detection['score']:.3f}"),
             ("Detected", (detection["detected_at"] or "–").replace("T", " ").replace("Z", " UTC")),
             ("Area", f"{detection['area_m2']:,.0f} m²" if detection["area_m2"] is not None else "–")]
    return html.Div(className="detail-card", children=[
        html.Div(className="detail-head", children=[
            html.Strong(f"Detection #{detection['id']}"),
            html.A("Open on the map", href=f"/?detection={detection['id']}", className="button",
                   id="an-open-on-map")]),
        html.Dl([part for label, value in facts for part in (html.Dt(label), html.Dd(value))]),
    ])


# ---------------------------------------------------------------- the bar graph

@dash.callback(Output("an-bar", "figure"), Output("an-bar", "style"), Output("an-bar-note", "children"),
               Output("an-bar-message", "children"),
               Input("an-filters", "data"), Input("an-chips", "data"), Input("an-by", "value"),
               Input("an-colours", "data"))
def _bar(filters_data, chips_data, by: str, colours: dict | None):
    """Counts by the chosen key, stacked by class; the bars this chart picked stay highlighted."""
    if filters_data is None or by not in GROUPS:
        raise PreventUpdate
    source = f"bar:{by}"
    filters = view_filters(filters_data, chips_data, source)
    hidden = {"display": "none"}
    if filters is None:
        return no_update, hidden, None, _message("empty", report.EMPTY_HINT)
    try:
        counts, total = bar_counts(filters.api_params(), by)
    except ApiFailure as failure:
        return no_update, hidden, None, _message("error", failure.detail)
    if total == 0:
        return no_update, hidden, None, _message("empty", report.EMPTY_HINT)
    picked = next((chip.filters for chip in decode_chips(chips_data) if chip.source == source), None)
    figure = bar_figure(counts, by, colours or {}, picked)
    return figure, {}, bar_note(counts, by, total), None


def bar_counts(params: dict, by: str) -> tuple[dict, int]:
    """The counts the bars draw (by class; or by another key split by class, the largest groups or
    every day) and the number of detections selected."""
    classes = api.get(COUNTS, by="class", limit=OPTIONS_LIMIT, **params)
    if by == "class":
        return classes, classes["total"]
    if by == "day":
        return api.get(COUNTS, by="day", split="class", limit=MAX_COUNT_ROWS, **params), classes["total"]
    return largest_groups(params, by, TOP_GROUPS, classes), classes["total"]


def _day(text: str | None) -> str | None:
    """A filter's time bound as the date picker shows it (its day)."""
    return text[:10] if text else None

