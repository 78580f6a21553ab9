"""The Analytics page's bar graph: counts of the selected detections by class, name, image, day
or collection, stacked by class.

The bars this chart picked (its chip) do not filter it: they stay bright and the others fade, so
what was picked stays in sight; every other view's cross-filter and the panel's filters apply.
"""

from __future__ import annotations

import dash
from dash import Input, Output, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.ui import report
from cogbrowser.ui.analytics_charts import GROUPS, bar_figure, bar_note
from cogbrowser.ui.analytics_layout import message
from cogbrowser.ui.analytics_queries import bar_counts
from cogbrowser.ui.analytics_state import own_pick, view_filters
from cogbrowser.ui.api import ApiFailure


def register(app: dash.Dash) -> None:
    """The bar graph's callback, on `app`."""
    app.callback(Output("an-bar", "figure"), Output("an-bar", "style"), Output("an-bar-note", "children"),
                 Output("an-bar-message", "children"),
                 Input("an-filters", "data"), Input("an-chips", "data"), Input("an-by", "value"),
                 Input("an-colours", "data"), Input("an-unnamed", "value"))(_bar)
    app.clientside_callback(  # "Leave out detections without a name" belongs to the Name view
        "function (by) { return by === 'name' ? {} : {display: 'none'}; }",
        Output("an-unnamed", "style"), Input("an-by", "value"))


def _bar(filters_data, chips_data, by: str, colours: dict | None, unnamed: list | None):
    """Counts by the chosen key, stacked by class; the bars this chart picked stay highlighted. In
    the Name view the "(no name)" bar may be left out (it dwarfs the named targets)."""
    if filters_data is None or by not in GROUPS:
        raise PreventUpdate
    source = f"bar:{by}"
    filters = view_filters(filters_data, chips_data, source)
    hidden = {"display": "none"}
    if filters is None:
        return no_update, hidden, None, message("empty", report.EMPTY_HINT)
    try:
        counts, total = bar_counts(filters.api_params(), by)
    except ApiFailure as failure:
        return no_update, hidden, None, message("error", failure.detail)
    if by == "name" and unnamed:
        counts, total = without_unnamed(counts, total)
    if total == 0:
        return no_update, hidden, None, message("empty", report.EMPTY_HINT)
    figure = bar_figure(counts, by, colours or {}, own_pick(chips_data, source))
    return figure, {}, bar_note(counts, by, total), None


def without_unnamed(counts: dict, total: int) -> tuple[dict, int]:
    """The counts by name without the unnamed detections' row(s), and the total without them."""
    unnamed = sum(row["count"] for row in counts["counts"] if row["key"] is None)
    kept = {**counts, "counts": [row for row in counts["counts"] if row["key"] is not None]}
    return kept, total - unnamed
