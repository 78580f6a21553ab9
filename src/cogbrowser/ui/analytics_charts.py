"""The Analytics page's charts: Plotly figures built from the detections API's answers.

Pure functions (answers in, figures out), so the page's callbacks stay about what to ask and the
figures can be checked without a browser. Both charts colour classes alike (`colour`), carry what
a cross-filter needs in `customdata` (the scatter: the detection; the bars: key and class), and
show the chart's own cross-filter: picked bars stay bright, the scatter's box stays drawn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from dash import dcc

from cogbrowser.ui.detection_filters import Filters
from cogbrowser.ui.report import split_groups

TOP_GROUPS = 25  # bars of the largest images or names
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")  # Tableau 10: distinct, calm, readable on white
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
# No link to plotly.com (the logo) and no "Share chart..." button (it uploads the chart to Plotly
# Cloud): the page must not even offer another host.
GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False, "showLink": False,
    "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "autoScale2d", "sendChartToCloud"]}


@dataclass(frozen=True)
class Axis:
    label: str  # the axis title
    short: str  # the axis picker's option
    kind: str  # plotly axis type
    filter: str | None  # what a range on this axis filters (None: the API cannot filter on it)


AXES = {"area": Axis("Footprint area (m²)", "Area", "log", "area"), "score": Axis("Score", "Score", "linear", "score"),
        "time": Axis("Detection time (UTC)", "Time", "date", "time"),
        "lon": Axis("Longitude", "Longitude", "linear", "lon"), "lat": Axis("Latitude", "Latitude", "linear", "lat")}
GROUPS = {"class": "Class", "name": "Name", "image": "Image", "day": "Day", "collection": "Collection"}
KEY_FIELDS = {"class": "classes", "name": "names", "image": "images", "collection": "collections"}


def colour(colours: dict[str, str], name: str) -> str:
    """A class's colour: from the page's map (by rank in the catalog), else one from its name."""
    return colours.get(name) or PALETTE[sum(map(ord, name)) % len(PALETTE)]


# ---------------------------------------------------------------- the scatter plot

def scatter_figure(points: Sequence[dict], x: str, y: str, colours: dict[str, str],
                   shapes: Sequence[dict] = (), webgl: bool = True) -> tuple[dict[str, Any], int]:
    """One trace per class; the points lacking a value on an axis (no area, no time) are left out.
    `shapes`: the chart's own box, drawn over the points. With `webgl` the points are drawn on a
    WebGL canvas (a filter change redraws 5,000 points in ~0.1 s instead of 0.5 s of SVG); a
    browser without WebGL gets SVG.

    The traces are plain dicts, as Dash sends them: plotly's graph objects check every value of
    every point (300 ms for the 5,000 of a sample, more than the query); only the layout, a few
    keys, goes through them (for the template)."""
    values = {"area": lambda p: p["area_m2"] if p["area_m2"] and p["area_m2"] > 0 else None,
              "score": lambda p: p["score"], "time": lambda p: p["detected_at"],
              "lon": lambda p: p["lon"], "lat": lambda p: p["lat"]}
    by_class: dict[str, list[dict]] = {}
    for point in points:
        if values[x](point) is not None and values[y](point) is not None:
            by_class.setdefault(point["target_class"], []).append(point)
    traces = [{
        "type": "scattergl" if webgl else "scatter", "mode": "markers", "name": name,
        "x": [values[x](p) for p in group], "y": [values[y](p) for p in group],
        "marker": {"size": 7, "color": colour(colours, name), "opacity": 0.75, "line": {"width": 0}},
        "customdata": [[p["id"], p["target_class"], p["target_name"] or "–", p["image_id"], p["score"]] for p in group],
        "hovertemplate": ("<b>#%{customdata[0]}</b> %{customdata[1]}<br>name: %{customdata[2]}<br>"
                          "image: %{customdata[3]}<br>score: %{customdata[4]:.3f}<extra></extra>"),
        "selected": {"marker": {"opacity": 0.95}}, "unselected": {"marker": {"opacity": 0.15}},
    } for name, group in sorted(by_class.items(), key=lambda item: -len(item[1]))]
    layout = _layout(dragmode="select", uirevision=f"{x}|{y}", legend=_legend(), xaxis=_axis(x), yaxis=_axis(y),
                     shapes=list(shapes))
    return {"data": traces, "layout": layout}, sum(len(group) for group in by_class.values())


def _axis(name: str) -> dict:
    axis = AXES[name]
    layout: dict[str, Any] = {"title": {"text": axis.label, "standoff": 8}, "type": axis.kind, "zeroline": False}
    if name == "score":
        layout["range"] = [-0.02, 1.02]
    return layout


def _legend() -> dict:
    """A one-line legend above the plot (classes, in the colours of every chart)."""
    return {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "title": {"text": ""}, "font": {"size": 11},
            "itemwidth": 30, "traceorder": "normal"}


@functools.cache
def _template() -> dict[str, Any]:
    """plotly_white as plotly.js takes it (built once: building it was most of a figure's cost)."""
    return pio.templates["plotly_white"].to_plotly_json()


def _layout(**extra: Any) -> dict[str, Any]:
    """A chart's layout as Dash sends it: the page's look and `extra` (axes shown: the blank figure
    hides them)."""
    axes = {name: {"visible": True, **extra.pop(name, {})} for name in ("xaxis", "yaxis")}
    return {"template": _template(), "height": 420, "margin": {"l": 56, "r": 12, "t": 36, "b": 48},
            "font": {"family": FONT, "size": 12, "color": "#1d2733"}, "hoverlabel": {"font": {"family": FONT}},
            **axes, **extra}


def scatter_note(sample: dict, plotted: int, x: str, y: str) -> str:
    """What the scatter shows of the selection: all of it, or a sample (and what lacks a value)."""
    matched = sample["matched"]
    text = (f"Showing {sample['count']:,} of {matched:,} detections, sampled at random."
            if sample["sampled"] else f"Showing all {matched:,} detections.")
    missing = sample["count"] - plotted
    if missing:
        text += f" {missing:,} without a value on these axes not drawn."
    return text + " Drag a box to filter the other views (double-click lets it go); click a point for details."


def box_shapes(picked: Filters | None, x: str, y: str) -> list[dict]:
    """The scatter's cross-filter as a dotted rectangle: over its range on each axis it filters,
    across the whole plot on the others."""
    if picked is None:
        return []
    (xref, x0, x1), (yref, y0, y1) = _span(x, picked, "x"), _span(y, picked, "y")
    return [{"type": "rect", "xref": xref, "yref": yref, "x0": x0, "x1": x1, "y0": y0, "y1": y1, "layer": "above",
             "line": {"color": "#2d5f8b", "width": 1.5, "dash": "dot"}, "fillcolor": "rgba(45,95,139,0.06)"}]


def _span(axis_name: str, filters: Filters, ref: str) -> tuple[str, Any, Any]:
    """(axis reference, low, high) of a chip on one axis; the whole plot ("paper") where the chip
    does not bound it (an open end would otherwise stretch the axis to the world)."""
    kind, box = AXES[axis_name].filter, filters.bbox
    if kind == "score" and (filters.min_score is not None or filters.max_score is not None):
        return ref, filters.min_score or 0.0, filters.max_score if filters.max_score is not None else 1.0
    if kind == "time" and filters.start and filters.end:
        return ref, filters.start, filters.end
    if kind == "area" and filters.min_area is not None and filters.max_area is not None:
        return ref, filters.min_area, filters.max_area
    if kind == "lon" and box and (box[0], box[2]) != (-180.0, 180.0):
        return ref, box[0], box[2]
    if kind == "lat" and box and (box[1], box[3]) != (-90.0, 90.0):
        return ref, box[1], box[3]
    return f"{ref} domain", 0, 1


# ---------------------------------------------------------------- the bar graph

def bar_figure(counts: dict, by: str, colours: dict[str, str], picked: Filters | None) -> dict[str, Any]:
    """Bars with their key (and class) in customdata for cross-filtering; picked keys stay bright.
    Plain dict traces, as in `scatter_figure`."""
    traces: list[dict[str, Any]] = []
    if by == "class":
        rows = counts["counts"]
        keys = [row["key"] for row in rows]
        traces.append({
            "type": "bar", "x": keys, "y": [row["count"] for row in rows],
            "marker": {"color": [colour(colours, k) for k in keys]}, "customdata": [[k] for k in keys],
            "text": [f"{row['count']:,}" for row in rows], "textposition": "outside", "cliponaxis": False,
            "hovertemplate": "%{x}: %{y:,}<extra></extra>", **_selected(_picked_indices(keys, by, picked))})
    else:
        groups = split_groups(counts["counts"])
        if by != "day":
            groups = groups[:TOP_GROUPS]
        keys = [key for key, _ in groups]
        labels = [_bar_label(key, by) for key in keys]
        classes = list(dict.fromkeys(name for _, parts in groups for name in parts))
        for name in sorted(classes, key=lambda n: list(colours).index(n) if n in colours else len(colours)):
            traces.append({
                "type": "bar", "x": labels, "y": [parts.get(name, 0) for _, parts in groups], "name": name,
                "marker": {"color": colour(colours, name)}, "customdata": [[key, name] for key in keys],
                "hovertemplate": f"%{{x}}<br>{name}: %{{y:,}}<extra></extra>",
                **_selected(_picked_indices(keys, by, picked, name))})
    # A whole column answers hover and click (a bar of 38 among 3,545 is a sliver), and the value
    # axis leaves room for the labels: left to autorange, plotly hit-tests outside-labelled bars
    # against the range it had before fitting the labels, missing their upper part.
    tallest = max((sum(values) for values in zip(*(trace["y"] for trace in traces))), default=0)
    layout = _layout(
        barmode="stack", bargap=0.15 if by != "day" else 0.05, dragmode="select",
        selectdirection="h", hovermode="x" if by == "class" else "x unified", showlegend=by != "class",
        uirevision=by, legend=_legend(),
        xaxis={"title": {"text": GROUPS[by], "standoff": 8}, "type": "date" if by == "day" else "category",
               "automargin": True, "tickangle": -35 if by in ("image", "name") else 0,
               **(_day_axis([x for trace in traces for x in trace["x"]]) if by == "day" else {})},
        yaxis={"title": {"text": "Detections", "standoff": 8}, "range": [0, max(1, tallest) * 1.12]})
    return {"data": traces, "layout": layout}


def _day_axis(days: Sequence[str]) -> dict[str, Any]:
    """Ticks that are days, never times of day: a tick a day over a month or less (plotly would
    divide a single day into fractions of a millisecond), and a day either side of a lone day."""
    axis: dict[str, Any] = {"tickformat": "%-d %b %Y"}
    known = sorted({day[:10] for day in days if day})
    if not known:
        return axis
    first, last = date.fromisoformat(known[0]), date.fromisoformat(known[-1])
    if (last - first).days <= 31:
        axis["dtick"] = DAY_MS
        axis["range"] = [(first - timedelta(days=1)).isoformat(), (last + timedelta(days=1)).isoformat()]
    return axis


DAY_MS = 86_400_000


def _selected(indices: list[int] | None) -> dict[str, Any]:
    """The bars a chip picked stay bright, the others fade (no chip: every bar alike)."""
    return {} if indices is None else {"selectedpoints": indices, "unselected": {"marker": {"opacity": 0.3}}}


def _bar_label(key: str | None, by: str) -> str:
    return key if key is not None else ("(no name)" if by == "name" else "(none)")


def _picked_indices(keys: Sequence[str | None], by: str, picked: Filters | None,
                    class_name: str | None = None) -> list[int] | None:
    """Which bars of a trace a chip of this chart picked (None: no chip, all drawn alike)."""
    if picked is None:
        return None
    if class_name is not None and picked.classes and class_name not in picked.classes:
        return []
    if by == "day":
        first, last = (picked.start or "0000")[:10], (picked.end or "9999")[:10]
        return [i for i, key in enumerate(keys) if key and first <= key <= last]
    chosen = set(getattr(picked, KEY_FIELDS[by]))
    return [i for i, key in enumerate(keys) if key in chosen]


def bar_note(counts: dict, by: str, total: int) -> str:
    groups = {row["key"] for row in counts["counts"]}
    if by in ("image", "name") and len(groups) >= TOP_GROUPS:
        shown = f"The {TOP_GROUPS} {GROUPS[by].lower()}s with the most detections, stacked by class."
    elif by == "class":
        shown = f"{total:,} detections by class."
    else:
        shown = f"{total:,} detections by {GROUPS[by].lower()}, stacked by class."
    return shown + " Click a bar (or drag across bars) to filter the other views; click it again to let go."


# ---------------------------------------------------------------- both

def blank_figure() -> go.Figure:
    """What a chart shows before its first answer: nothing, at its height (no jump when it comes)."""
    figure = go.Figure()
    figure.update_layout(template="plotly_white", margin={"l": 40, "r": 10, "t": 10, "b": 40}, height=420,
                         xaxis_visible=False, yaxis_visible=False)
    return figure
