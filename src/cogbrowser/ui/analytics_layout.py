"""What the Analytics page is made of: the filters panel, the cards of the dashboard (totals and
cross-filters, scatter plot, bar graph, report) and the stores their callbacks share.

The layout is static: every value in it is filled by the callbacks (analytics_filters.py sets the
controls from the URL, the views draw from the API), so opening a link and changing a control
take the same road. Component ids are the callbacks' (and the browser tests') names for them.
"""

from __future__ import annotations

from dash import dcc, html

from cogbrowser.ui.analytics_charts import AXES, GRAPH_CONFIG, GROUPS, blank_figure
from cogbrowser.ui.analytics_chips import chips_row
from cogbrowser.ui.analytics_state import View


def layout() -> html.Div:
    """The page: the filters panel beside the dashboard's cards, and the stores the callbacks share."""
    return html.Div(className="page analytics", children=[
        dcc.Location(id="an-location", refresh=False),
        dcc.Store(id="an-filters"), dcc.Store(id="an-chips", data=[]), dcc.Store(id="an-catalog"),
        dcc.Store(id="an-colours"),
        dcc.Store(id="an-report-files"), dcc.Store(id="an-scatter-key"), dcc.Store(id="an-scatter-pick"),
        dcc.Store(id="an-bar-pick"), dcc.Store(id="an-webgl"), dcc.Download(id="an-download"),
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
            dcc.Link("Reset filters", href="/analytics", className="button secondary", id="an-reset"),
            html.A("Open in Browse", href="/", className="button secondary", id="an-open-browse",
                   title="The map, with this selection's image, classes, names, score and area")]),
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
        dcc.Checklist(id="an-unnamed", options=[{"label": " Leave out detections without a name", "value": "hide"}],
                      value=[], className="check unnamed-check", style={"display": "none"}),
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


def message(kind: str, text: str) -> html.Div:
    """A note above a view ("info", "empty", "error"); an error is announced to screen readers."""
    return html.Div(text, className=f"message {kind}", role="alert" if kind == "error" else None)
