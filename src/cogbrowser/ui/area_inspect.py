"""Inspect an area of the shown image: a histogram and statistics of its values there, and a time
series of those values over the same area across every date of the image's collection.

The area is the area of interest, else the map's view (tool_area.py); the values are those drawn
(the preset, bands or band math) or every band. Statistics come from
/api/v1/images/{id}/statistics, the series from /api/v1/collections/{id}/timeseries — the numbers
a script asking the same would get; the series' CSV is that endpoint's own (a plain link). A
click on a date of the series shows that image, in the same look.

Both read pixels (a series every date's), so neither runs in a page's callback: the callback asks
the API with `Prefer: respond-async` and shows the job as a card (job_cards.py: progress, Cancel,
the error of a failed job); once the job has succeeded, jobs.js writes its URL to the tool's DONE
store and a second callback draws its result. A newer question cancels the job of the older one.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api, job_cards
from cogbrowser.ui.analytics_charts import FONT, GRAPH_CONFIG
from cogbrowser.ui.browse_map import MAP
from cogbrowser.ui.image_search import AOI
from cogbrowser.ui.tool_area import (
    AS_DRAWN,
    EVERY_BAND,
    ToolArea,
    tool_area,
    value_params,
)
from cogbrowser.ui.visualization import (
    CHANNEL_COLOURS,
    IMAGE,
    IMAGE_INFO,
    MOSAIC_FILTER,
    VIS,
    image_bands,
    search_limits,
)

VALUES = "browse-area-values"
STATISTICS = "browse-area-statistics"
STATISTICS_RESULT = "browse-area-statistics-result"
SERIES = "browse-area-series"
SERIES_RESULT = "browse-area-series-result"
SERIES_GRAPH = "browse-area-series-graph"
STATISTICS_CHANGED = "browse-area-statistics-changed"  # the image, values, area or view changed while shown
SERIES_CHANGED = "browse-area-series-changed"  # the image, values or area changed while the series is shown
STATISTICS_ASKED, SERIES_ASKED = "browse-area-statistics-asked", "browse-area-series-asked"  # what is shown
STATISTICS_DONE, SERIES_DONE = "browse-area-statistics-done", "browse-area-series-done"  # jobs.js: a job succeeded
HISTOGRAM_BINS = 64
ROWS = (("count", "Valid pixels"), ("valid_percent", "Valid %"), ("min", "Min"), ("p2", "2 %"),
        ("median", "Median"), ("mean", "Mean"), ("p98", "98 %"), ("max", "Max"), ("std", "Std. dev."))
OTHER_COLOURS = ("#2d5f8b", "#d9822b", "#3c9a4a", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d")


def panel() -> html.Details:
    """The Inspect area section of the Visualize tab's tools."""
    return html.Details(className="tool", id="browse-area-tool", children=[
        html.Summary("Inspect area"),
        html.Div("Statistics of the area of interest (Search tab) or, without one, of the map's view.",
                 className="hint"),
        dcc.RadioItems(id=VALUES, value=AS_DRAWN, className="tool-choice", inline=True, options=[
            {"label": " as drawn", "value": AS_DRAWN}, {"label": " every band", "value": EVERY_BAND}]),
        html.Div(className="row tool-buttons", children=[
            html.Button("Histogram & statistics", id=STATISTICS, n_clicks=0),
            html.Button("Time series", id=SERIES, n_clicks=0, className="secondary",
                        title="The values over this area on every date of the image's collection")]),
        dcc.Loading(type="dot", delay_show=200, children=html.Div(id=STATISTICS_RESULT, className="tool-result")),
        dcc.Loading(type="dot", delay_show=200, children=html.Div(id=SERIES_RESULT, className="tool-result")),
    ])


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=STATISTICS_ASKED), dcc.Store(id=SERIES_ASKED), dcc.Store(id=STATISTICS_CHANGED),
            dcc.Store(id=SERIES_CHANGED), dcc.Store(id=STATISTICS_DONE), dcc.Store(id=SERIES_DONE)]


def message(text: str, kind: str = "info") -> html.Div:
    return html.Div(text, className=f"message {kind}")


def chosen_area(info: dict | None, aoi: dict | None, bounds) -> tuple[ToolArea | None, html.Div | None]:
    """The area to work on, or the message saying why there is none (also used by export.py)."""
    if not info:
        return None, message("Show an image first (Search, then click a result).", "empty")
    area = tool_area(aoi, bounds, info["image"]["bbox"])
    if area is None:
        where = "The area of interest" if aoi else "The map's view"
        return None, message(f"{where} does not overlap image {info['image']['id']}: nothing to read there.",
                             "error")
    return area, None


def register(app: dash.Dash) -> None:
    """The Inspect area tool's callbacks, on `app`. None reads pixels (a jobs worker does), so none is heavy."""
    # they follow the image, the values, the area (and the view) only while shown: assets/map-view.js
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowserView", "changedWhile"), Output(STATISTICS_CHANGED, "data"),
        Input(IMAGE_INFO, "data"), Input(VIS, "data"), Input(VALUES, "value"), Input(AOI, "data"),
        Input(MAP, "bounds"), State(STATISTICS_ASKED, "data"), prevent_initial_call=True)
    app.clientside_callback(
        dash.ClientsideFunction("cogbrowserView", "changedWhile"), Output(SERIES_CHANGED, "data"),
        Input(IMAGE_INFO, "data"), Input(VIS, "data"), Input(VALUES, "value"), Input(AOI, "data"),
        Input(MOSAIC_FILTER, "data"), State(SERIES_ASKED, "data"), prevent_initial_call=True)
    app.callback(Output(STATISTICS_RESULT, "children"), Output(STATISTICS_ASKED, "data"),
                 Input(STATISTICS, "n_clicks"), Input(STATISTICS_CHANGED, "data"), State(IMAGE_INFO, "data"),
                 State(VIS, "data"), State(VALUES, "value"), State(AOI, "data"), State(MAP, "bounds"),
                 State(STATISTICS_ASKED, "data"), prevent_initial_call=True)(_statistics)
    app.callback(Output(SERIES_RESULT, "children"), Output(SERIES_ASKED, "data"), Input(SERIES, "n_clicks"),
                 Input(SERIES_CHANGED, "data"), State(IMAGE_INFO, "data"), State(VIS, "data"), State(VALUES, "value"),
                 State(AOI, "data"), State(MAP, "bounds"), State(SERIES_ASKED, "data"), State(MOSAIC_FILTER, "data"),
                 prevent_initial_call=True)(_series)
    app.callback(Output(STATISTICS_RESULT, "children", allow_duplicate=True), Input(STATISTICS_DONE, "data"),
                 State(STATISTICS_ASKED, "data"), prevent_initial_call=True)(_statistics_drawn)
    app.callback(Output(SERIES_RESULT, "children", allow_duplicate=True), Input(SERIES_DONE, "data"),
                 State(SERIES_ASKED, "data"), State(IMAGE_INFO, "data"), prevent_initial_call=True)(_series_drawn)
    app.callback(Output(IMAGE, "data", allow_duplicate=True), Input(SERIES_GRAPH, "clickData"), State(VIS, "data"),
                 State(IMAGE, "data"), prevent_initial_call=True)(_show_date)


# ---------------------------------------------------------------- statistics

def _statistics(clicks: int, _changed, info: dict | None, drawn: list | None, which: str, aoi: dict | None,
                bounds, asked: dict | None):
    """The histogram and statistics of the chosen values over the area: on the button, and again
    whenever the image, the values or the area change once they are shown."""
    clicked = dash.ctx.triggered_id == STATISTICS
    if not (clicked and clicks) and not asked:
        raise PreventUpdate
    area, problem = chosen_area(info, aoi, bounds)
    if area is None or info is None:  # (there is no area without an image)
        return problem, {"on": True}  # shown again once there is an area
    image_id = info["image"]["id"]
    query = {"bins": HISTOGRAM_BINS, **area.zone_params(), **value_params(drawn, which)}
    same = asked is not None and (asked.get("image"), asked.get("query")) == (image_id, query)
    if same and (not clicked or job_cards.still_good((asked or {}).get("job"))):
        raise PreventUpdate  # e.g. a new stretch: the same values, shown or on their way
    job_cards.cancel_job((asked or {}).get("job"))
    done = {"image": image_id, "query": query, "what": area.describe()}
    try:
        job = api.start_job(f"/api/v1/images/{quote(image_id)}/statistics", api.query_pairs(query))
    except api.ApiFailure as exc:
        if exc.status == 404:
            return message(f"Nothing of image {image_id} is in {area.describe()}.", "error"), done
        return message(f"The statistics failed: {exc.detail}", "error"), done
    done["job"] = job_cards.job_path(job["id"])
    return job_cards.job_card(job["id"], f"Statistics of {image_id} over {area.describe()}",
                              result_store=STATISTICS_DONE), done


def _statistics_drawn(finished: dict | None, asked: dict | None):
    """The histogram and the table of a statistics job that has succeeded (the one asked last)."""
    try:
        answer = job_cards.result_of(finished, asked)
    except api.ApiFailure as exc:
        return message(f"The statistics failed: {exc.detail}", "error")
    outputs = answer["statistics"]
    head = html.Div(className="meta", children=[
        f"{answer['image_id']} · {(asked or {}).get('what', '')} · {answer['pixels']:,} pixels", _grid_note(answer)])
    if not any(o["count"] for o in outputs):
        return [head, message("No valid pixel in the area: it holds only nodata (clouds masked, outside the "
                              "swath).", "error")]
    return [head, dcc.Graph(id="browse-area-histogram", figure=histogram_figure(outputs), config=GRAPH_CONFIG,
                            className="tool-chart"), statistics_table(outputs)]


def _grid_note(answer: dict) -> str:
    if answer.get("overview_level") is None:
        return " at full resolution"
    return f" from overview {answer['overview_level']} ({answer['resolution'][0]:.4g} units a pixel)"


def colours(count: int) -> Sequence[str]:
    """Red, green, blue for three outputs (a composite), else distinct colours."""
    return CHANNEL_COLOURS if count == 3 else (OTHER_COLOURS * (1 + count // len(OTHER_COLOURS)))[:count]


def histogram_figure(outputs: Sequence[dict]) -> go.Figure:
    """Each output's histogram: bars for one, outlined steps for several (they overlap)."""
    figure = go.Figure()
    for output, colour in zip(outputs, colours(len(outputs))):
        histogram = output.get("histogram") or {}
        edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
        if len(edges) < 2:
            continue
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
        hover = "%{x:.4g}: %{y:,} pixels<extra>" + output["name"] + "</extra>"
        if len(outputs) == 1:
            figure.add_trace(go.Bar(x=centres, y=counts, width=[b - a for a, b in zip(edges, edges[1:])],
                                    name=output["name"], marker_color=colour, hovertemplate=hover))
        else:
            figure.add_trace(go.Scatter(x=centres, y=counts, mode="lines", line_shape="hvh", name=output["name"],
                                        line={"color": colour, "width": 1.5}, hovertemplate=hover))
    figure.update_layout(**chart_layout(170), bargap=0, showlegend=len(outputs) > 1,
                         yaxis={"title": None, "rangemode": "tozero"}, xaxis={"title": None})
    return figure


def chart_layout(height: int) -> dict:
    """Small charts for the panel, in the pages' font."""
    return {"template": "plotly_white", "height": height, "margin": {"l": 44, "r": 8, "t": 8, "b": 28},
            "font": {"family": FONT, "size": 11, "color": "#1d2733"}, "hoverlabel": {"font_family": FONT},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font_size": 10}}


def statistics_table(outputs: Sequence[dict]) -> html.Div:
    """One column per output, one row per statistic (scrolls sideways for many bands)."""
    head = html.Tr([html.Th(""), *[html.Th(o["name"], title=o["name"]) for o in outputs]])
    rows = [html.Tr([html.Th(label), *[html.Td(show(o.get(key)), className="value") for o in outputs]])
            for key, label in ROWS]
    return html.Div(className="stats-scroll", children=html.Table(
        id="browse-area-table", className="facts stats", children=[html.Thead(head), html.Tbody(rows)]))


def show(value: float | int | None) -> str:
    """A statistic as read: integers whole, others to 6 significant digits, nothing as a dash."""
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.6g}"


# ---------------------------------------------------------------- time series

def series_query(area: ToolArea, params: dict[str, str], fmt: str = "json", searched: dict | None = None
                 ) -> dict[str, str]:
    """The time series' parameters: the area, the values, and the search's dates and cloud limit
    (`searched`: visualization.MOSAIC_FILTER), so cloudy dates do not pull the curve down."""
    return {**area.zone_params(), **params, **search_limits(searched), **({"f": fmt} if fmt != "json" else {})}


def _series(clicks: int, changed: dict | None, info: dict | None, drawn: list | None, which: str,
            aoi: dict | None, bounds, asked: dict | None, searched: dict | None):
    """The time series of the chosen values over the area, within the search's dates and cloud
    limit, with its CSV: on the button, and again when the values, the area of interest or the
    search's dates and clouds change once it is shown (not on panning: it reads every date)."""
    clicked = dash.ctx.triggered_id == SERIES
    if not (clicked and clicks) and not asked:
        raise PreventUpdate
    area, problem = chosen_area(info, aoi, bounds)
    if area is None or info is None:  # (there is no area without an image)
        return problem, {"on": True}
    collection = info["image"].get("collection_id")
    if not collection:
        return message(f"Image {info['image']['id']} belongs to no collection: there are no other dates.",
                       "empty"), {"on": True}
    query = series_query(area, value_params(drawn, which, image_bands(info)), searched=searched)
    path = f"/api/v1/collections/{quote(collection)}/timeseries"
    done = {"path": path, "query": query, "what": area.describe(), "collection": collection}
    same_path = asked is not None and asked.get("path") == path
    same_series = same_path and asked is not None and asked.get("query") == query
    new_image = dash.ctx.triggered_id == SERIES_CHANGED and (changed or {}).get("by") == IMAGE_INFO
    if not clicked and (same_series or new_image and same_path) or \
            clicked and same_series and job_cards.still_good((asked or {}).get("job")):
        raise PreventUpdate  # the same series, shown or on its way (another date of the collection keeps it)
    job_cards.cancel_job((asked or {}).get("job"))
    try:
        job = api.start_job(path, api.query_pairs(query))
    except api.ApiFailure as exc:
        return message(f"The time series failed: {exc.detail}", "error"), done
    done["job"] = job_cards.job_path(job["id"])
    return job_cards.job_card(job["id"], f"Time series of {collection} over {area.describe()}",
                              result_store=SERIES_DONE), done


def _series_drawn(finished: dict | None, asked: dict | None, info: dict | None):
    """The chart and the CSV link of a time series job that has succeeded (the one asked last)."""
    try:
        answer = job_cards.result_of(finished, asked)
    except api.ApiFailure as exc:
        return message(f"The time series failed: {exc.detail}", "error")
    points = answer["points"]
    dates = sorted({p["image_id"] for p in points})
    empty = sorted({p["image_id"] for p in points if not p["count"]})
    asked = asked or {}  # (result_of answered: it is the question asked)
    collection = asked["collection"]
    note = f"{len(dates)} date{'s' if len(dates) != 1 else ''} of {collection} over {asked['what']}."
    if empty:
        note += f" {len(empty)} without a valid pixel there (gaps)."
    csv = asked["path"] + "?" + urlencode(api.query_pairs({**asked["query"], "f": "csv"}), quote_via=quote)
    return [
        html.Div(note, className="meta"),
        dcc.Graph(id=SERIES_GRAPH, figure=series_figure(points, (info or {}).get("image") or {}), config=GRAPH_CONFIG,
                  className="tool-chart"),
        html.Div(className="row tool-links", children=[
            html.A("Download CSV", href=csv, download=f"{collection}-timeseries.csv", id="browse-area-series-csv",
                   className="button secondary"),
            html.Span("Click a date to show that image.", className="hint")]),
    ]


def series_figure(points: Sequence[dict], shown: dict) -> go.Figure:
    """Per output: its mean as a line with markers, min to max as a band; the shown date marked."""
    by_name: dict[str, list[dict]] = {}
    for point in points:
        by_name.setdefault(point["name"], []).append(point)
    figure = go.Figure()
    for (name, rows), colour in zip(by_name.items(), colours(len(by_name))):
        x = [p["acquired_at"] for p in rows]
        figure.add_trace(go.Scatter(x=x, y=[p["max"] for p in rows], mode="lines", line={"width": 0},
                                    showlegend=False, hoverinfo="skip", legendgroup=name))
        figure.add_trace(go.Scatter(x=x, y=[p["min"] for p in rows], mode="lines", line={"width": 0},
                                    fill="tonexty", fillcolor=_transparent(colour), showlegend=False,
                                    hoverinfo="skip", legendgroup=name))
        figure.add_trace(go.Scatter(
            x=x, y=[p["mean"] for p in rows], mode="lines+markers", name=name, legendgroup=name,
            line={"color": colour, "width": 2}, marker={"size": 7}, connectgaps=False,
            customdata=[[p["image_id"], _num(p["min"]), _num(p["max"]), p["valid_percent"]] for p in rows],
            hovertemplate=("%{x|%Y-%m-%d}<br>mean %{y:.4g} (min %{customdata[1]}, max %{customdata[2]})<br>"
                           "%{customdata[3]:.1f} % valid · %{customdata[0]}<extra>" + name + "</extra>")))
    if shown.get("acquired_at"):
        figure.add_vline(x=shown["acquired_at"], line={"color": "#7a3db8", "width": 1, "dash": "dot"})
    figure.update_layout(**chart_layout(220), showlegend=len(by_name) > 1, hovermode="closest",
                         xaxis={"title": None, "type": "date"}, yaxis={"title": None})
    return figure


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _transparent(colour: str, alpha: float = 0.18) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _show_date(click: dict | None, drawn: list | None, shown: dict | None):
    """A clicked date of the series is shown, drawn as the current image is."""
    points = (click or {}).get("points") or []
    image_id = next((p["customdata"][0] for p in points if p.get("customdata")), None)
    if not image_id or image_id == (shown or {}).get("id"):
        raise PreventUpdate
    return {"id": image_id, "vis": drawn}
