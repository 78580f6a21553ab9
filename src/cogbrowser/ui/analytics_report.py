"""The Analytics page's totals and written report: the numbers at the top of the dashboard, and
the report below it with its .md and .html downloads.

Both follow every filter and every cross-filter (the report says what was picked on the charts),
from one set of API answers (analytics_queries.report_answers); report.py writes the document, so
the page, the .md and the .html say the same thing. The report carries a link that reopens this
dashboard.
"""

from __future__ import annotations

from datetime import datetime, timezone

import dash
from dash import Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate
from flask import request

from cogbrowser.ui import report
from cogbrowser.ui.analytics_layout import message
from cogbrowser.ui.analytics_queries import REPORT_TOP, report_answers
from cogbrowser.ui.analytics_state import View, decode_chips, view_filters, write_search
from cogbrowser.ui.api import ApiFailure
from cogbrowser.ui.detection_filters import Filters


def register(app: dash.Dash) -> None:
    """The totals' and the report's callbacks, on `app`."""
    app.callback(Output("an-kpis", "children"), Output("an-report", "children"), Output("an-report-files", "data"),
                 Output("an-report-message", "children"), Output("an-download-md", "disabled"),
                 Output("an-download-html", "disabled"),
                 Input("an-filters", "data"), Input("an-chips", "data"),
                 State("an-x", "value"), State("an-y", "value"), State("an-by", "value"))(_report)
    app.callback(Output("an-download", "data"), Input("an-download-md", "n_clicks"),
                 Input("an-download-html", "n_clicks"), State("an-report-files", "data"),
                 prevent_initial_call=True)(_download)


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
        return [], "", None, message("error", f"The report could not be made: {failure.detail}"), True, True
    link = f"{request.host_url.rstrip('/')}/analytics{write_search(panel, View(x, y, by), chips)}"
    document = report.build_report(answers, selection, datetime.now(timezone.utc), link, top=REPORT_TOP)
    markdown = report.to_markdown(document)
    files = {"md": markdown, "html": report.to_html(document)}
    return _kpis(answers.summary), markdown, files, None, False, False


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


def _download(_md_clicks, _html_clicks, files: dict | None):
    """The report as the file asked for, named with the time it is downloaded."""
    if not files:
        raise PreventUpdate
    kind = "html" if ctx.triggered_id == "an-download-html" else "md"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    return {"content": files[kind], "filename": f"detections-report-{stamp}.{kind}",
            "type": "text/html" if kind == "html" else "text/markdown"}
