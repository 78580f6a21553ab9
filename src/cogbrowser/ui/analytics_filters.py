"""The Analytics page's filters panel: the URL and the controls kept in step, and the lists the
dropdowns offer.

One callback (`_sync`) keeps the URL and the controls in step and publishes the filters to
`an-filters`: opening the page (or back/forward) sets the controls from the URL, changing a
control or a cross-filter writes the URL. Every chart and the report read that store and the
cross-filters (`an-chips`), never the controls themselves. The lists of the dropdowns (classes,
names, images, collections with their detection counts) and the class colours of every chart are
asked once a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
from dash import Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api
from cogbrowser.ui.analytics_charts import PALETTE
from cogbrowser.ui.analytics_layout import message
from cogbrowser.ui.analytics_queries import COUNTS, MAX_COUNT_ROWS, OPTIONS_LIMIT
from cogbrowser.ui.analytics_state import View, browse_link, decode_chips, read_search, view_filters, write_search
from cogbrowser.ui.api import ApiFailure
from cogbrowser.ui.detection_filters import Filters, parse_bbox

PANEL_CONTROLS = [("an-collections", "value"), ("an-images", "value"), ("an-classes", "value"),
                  ("an-names", "value"), ("an-dates", "start_date"), ("an-dates", "end_date"), ("an-score", "value"),
                  ("an-bbox", "value")]
VIEW_CONTROLS = [("an-x", "value"), ("an-y", "value"), ("an-by", "value"), ("an-unnamed", "value")]
CONTROLS = PANEL_CONTROLS + VIEW_CONTROLS
LISTS = ("an-collections", "an-images", "an-classes", "an-names")  # the dropdowns whose options follow the catalog


def register(app: dash.Dash) -> None:
    """The panel's callbacks, on `app`."""
    app.callback(
        Output("an-location", "search"), Output("an-filters", "data"), Output("an-chips", "data"),
        *[Output(id_, prop) for id_, prop in CONTROLS], *[Output(id_, "options") for id_ in LISTS],
        Output("an-filter-message", "children"),
        Input("an-location", "search"), *[Input(id_, prop) for id_, prop in CONTROLS], Input("an-chips", "data"),
        State("an-catalog", "data"), State("an-filters", "data"))(_sync)
    app.callback(*[Output(id_, "options", allow_duplicate=True) for id_ in LISTS],
                 Input("an-catalog", "data"), *[Input(id_, "value") for id_ in LISTS],
                 Input("an-images", "search_value"), prevent_initial_call=True)(_list_options)
    app.callback(Output("an-catalog", "data"), Output("an-dates", "min_date_allowed"),
                 Output("an-dates", "max_date_allowed"), Input("an-location", "pathname"))(_load_catalog)
    app.callback(Output("an-colours", "data"), Input("an-location", "pathname"))(_load_colours)
    app.callback(Output("an-open-browse", "href"), Input("an-filters", "data"), Input("an-chips", "data"))(_browse_link)


# ---------------------------------------------------------------- URL <-> controls

def controls_of(filters: Filters, view: View) -> list[Any]:
    """The control values showing a state (in the order of CONTROLS)."""
    bbox = ", ".join(f"{v:g}" for v in filters.bbox) if filters.bbox else ""
    score = [filters.min_score if filters.min_score is not None else 0,
             filters.max_score if filters.max_score is not None else 1]
    return [list(filters.collections), list(filters.images), list(filters.classes), list(filters.names),
            _day(filters.start), _day(filters.end), score, bbox, view.x, view.y, view.by,
            ["hide"] if view.hide_unnamed else []]


def state_of(values: Sequence[Any]) -> tuple[Filters, View, list[str]]:
    """The state the controls show (in the order of CONTROLS), and what could not be read."""
    collections, images, classes, names, start, end, score, bbox_text, x, y, by, unnamed = values
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
    return filters, View(x=x or View.x, y=y or View.y, by=by or View.by, hide_unnamed=bool(unnamed)), problems


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
        notes = [message("info", f"From the link: {p}.") for p in problems]
        return (no_update, _changed(filters.query_string(), filters_data),
                _changed([c.encode() for c in chips], chips_data or []), *controls,
                *list_options(catalog, controls, None), notes)
    filters, view, problems = state_of(controls)
    return (_changed(write_search(filters, view, decode_chips(chips_data)), search),
            _changed(filters.query_string(), filters_data), no_update, *keep, *[no_update] * len(LISTS),
            [message("error", p) for p in problems])


def _browse_link(filters_data: str | None, chips_data: list | None) -> str:
    """The map with the selection (every cross-filter applied): the way back to the Browse page."""
    return browse_link(view_filters(filters_data, chips_data, None))


def _changed(new: Any, old: Any) -> Any:
    """`new`, or no_update when it is `old` (an unchanged store must not set every chart off)."""
    return no_update if new == old else new


def _day(text: str | None) -> str | None:
    """A filter's time bound as the date picker shows it (its day)."""
    return text[:10] if text else None


# ---------------------------------------------------------------- the filter lists

def _list_options(catalog: dict | None, *values: Any):
    """The lists once the catalog's arrive, and as values are chosen or an image is searched for.
    The values are inputs, not states, so this waits for `_sync` when it is setting them."""
    return list_options(catalog, values[:len(LISTS)], values[-1])


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
