"""The Analytics page (`/analytics`): the detections dashboard — a scatter plot, a bar graph and a
written report over the same filters, with cross-filtering between them.

The page is assembled from modules that each own one job:

- analytics_layout.py   what the page is made of: the filters panel, the cards, the shared stores;
- analytics_state.py    its state in the URL (filters, chart options, cross-filters) and the
                        selection each view reads (`view_filters`);
- analytics_filters.py  the filters panel: URL and controls in step, the dropdowns' lists;
- analytics_queries.py  what the views ask the detections API (aggregated in SQL, in parallel);
- analytics_report.py   the totals and the written report, with its downloads;
- analytics_chips.py    the cross-filters: picks on the charts (assets/analytics.js) and the chips;
- analytics_scatter.py  the scatter plot and the card of a clicked detection;
- analytics_bar.py      the bar graph;
- analytics_charts.py   the Plotly figures (pure functions of the API's answers).

Everything is asked of the REST API (ui/api.py). State lives in the query string, so a link
reopens the same dashboard and the back button steps back through it.
"""

from __future__ import annotations

import dash

from cogbrowser.ui import analytics_bar, analytics_chips, analytics_filters, analytics_report, analytics_scatter
from cogbrowser.ui.analytics_layout import layout

__all__ = ["layout", "register"]


def register(app: dash.Dash) -> None:
    """Every callback of the page, on `app` (each app of the process gets its own)."""
    for feature in (analytics_filters, analytics_report, analytics_chips, analytics_scatter, analytics_bar):
        feature.register(app)
