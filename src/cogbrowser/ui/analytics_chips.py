"""The Analytics page's cross-filters: what a click or a box on a chart picks, and the chips that
show and remove them.

Clicking or box-selecting bars, or box-selecting points, sets that chart's chip (analytics_state.
`Chip`); clicking the picked bar again, or letting the box go, takes it away; a chip's × removes
it, "Clear all" all of them. The chips live in `an-chips` (and so in the URL, analytics_filters.py);
the views read them through analytics_state.view_filters. What a chart picked is reduced in the
browser first (assets/analytics.js), so a box over thousands of points travels as two ranges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from cogbrowser.ui.analytics_charts import AXES, KEY_FIELDS
from cogbrowser.ui.analytics_state import Chip, decode_chips
from cogbrowser.ui.detection_filters import Filters

JS = "cogbrowserAnalytics"  # the namespace of assets/analytics.js


def register(app: dash.Dash) -> None:
    """The cross-filters' callbacks, on `app`."""
    app.clientside_callback(ClientsideFunction(JS, "scatterPick"), Output("an-scatter-pick", "data"),
                            Input("an-scatter", "selectedData"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction(JS, "barPick"), Output("an-bar-pick", "data"),
                            Input("an-bar", "clickData"), Input("an-bar", "selectedData"), prevent_initial_call=True)
    app.callback(Output("an-chips", "data", allow_duplicate=True),
                 Input("an-bar-pick", "data"), Input("an-scatter-pick", "data"),
                 Input({"type": "an-chip-remove", "index": ALL}, "n_clicks"),
                 Input({"type": "an-chip-clear", "index": ALL}, "n_clicks"),
                 State("an-chips", "data"), State("an-by", "value"), State("an-x", "value"), State("an-y", "value"),
                 prevent_initial_call=True)(_pick)
    app.callback(Output("an-chips-row", "children"), Input("an-chips", "data"), prevent_initial_call=True)(_chips_row)


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
    if by == "day":
        filters = Filters(start=min(keys), end=max(keys))
    else:
        fields: dict[str, Any] = {KEY_FIELDS[by]: tuple(keys)}  # the list field of that grouping
        filters = Filters(**fields)
    classes = {part[1] for part in parts if len(part) > 1}
    if by != "class" and len(classes) == 1:
        filters = replace(filters, classes=tuple(classes))
    return Chip(f"bar:{by}", filters)


def scatter_chip(x: str, y: str, ranges: dict | None) -> Chip | None:
    """The cross-filter of a box drawn on the scatter ({"x": [low, high], "y": [low, high]} in the
    axes' values): its ranges on both axes (score, footprint area, position, time)."""
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
        elif kind == "area":
            fields["min_area"], fields["max_area"] = _widened(max(0.0, low), high)
        elif kind == "lon":
            bbox[0], bbox[2] = max(-180.0, round(low, 6)), min(180.0, round(high, 6))
        elif kind == "lat":
            bbox[1], bbox[3] = max(-90.0, round(low, 6)), min(90.0, round(high, 6))
    if bbox != [-180.0, -90.0, 180.0, 90.0]:
        fields["bbox"] = tuple(bbox)
    return Chip("scatter", Filters(**fields)) if fields else None


def _widened(low: float, high: float) -> tuple[float, float]:
    """A box's range on a log axis, to four significant digits of its top, rounded outwards (so the
    points at its edges stay in)."""
    step = 10 ** (math.floor(math.log10(max(abs(high), 1e-9))) - 3)
    return round(math.floor(low / step) * step, 9), round(math.ceil(high / step) * step, 9)


def _iso(value: Any) -> str:
    """A time from a plotly date axis ('2024-04-20 07:41:53.38') as ISO 8601 in UTC."""
    text = str(value).replace(" ", "T")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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
                            title="Remove this cross-filter",
                            # Dash takes aria-* attributes through **kwargs; mypy checks an unpacked dict
                            # against every typed parameter of the generated signature
                            **{"aria-label": f"Remove {chip.label()}"})])  # type: ignore[arg-type]
              for i, chip in enumerate(chips)],
            html.Button("Clear all", id={"type": "an-chip-clear", "index": 0}, className="link-button")]
