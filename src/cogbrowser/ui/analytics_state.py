"""The Analytics page's state in its query string, and the selection each view reads from it.

A dashboard is shared as a link and the back button steps through it, so everything a user sets
lives in the URL: the filters panel (in detection_filters.py's grammar), the chart options (`x`,
`y`, `by`: a `View`) and the cross-filters (`sel`, one `Chip` each). Pure functions: the page's
callbacks and the tests read and write the same text.

Cross-filters: clicking or box-selecting bars, or box-selecting points, adds a chip (a `Filters`
with the view it came from). Each view applies every chip except those of its own dimension (a
class bar does not filter the class bars, it highlights them), the report applies them all:
`view_filters` is that rule, the one way every callback reads the selection.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from cogbrowser.ui.analytics_charts import AXES, GROUPS
from cogbrowser.ui.detection_filters import URL_PARAMETERS, Filters, narrow_all
from cogbrowser.ui.map_state import BrowseState, OverlayFilters, SearchFilters
from cogbrowser.ui.map_state import View as MapView


@dataclass(frozen=True)
class View:
    """The chart options: the scatter's axes and what the bars count by."""

    x: str = "area"
    y: str = "score"
    by: str = "class"
    hide_unnamed: bool = False  # the Name view without its "(no name)" bar


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


def read_search(search: str | None) -> tuple[Filters, View, list[Chip], list[str]]:
    """The page's state from its query string, and a note for each part that could not be read."""
    pairs = parse_qsl((search or "").lstrip("?"))
    filters, problems = Filters.from_pairs(pairs)
    values = dict(pairs)
    view = View(x=_choice(values.get("x"), AXES, View.x), y=_choice(values.get("y"), AXES, View.y),
                by=_choice(values.get("by"), GROUPS, View.by), hide_unnamed=values.get("unnamed") == "hide")
    chips = [chip for chip in (Chip.decode(v) for k, v in pairs if k == "sel") if chip is not None]
    unknown = sorted({k for k, _ in pairs} - URL_PARAMETERS - {"x", "y", "by", "unnamed", "sel"})
    problems += [f"unknown parameter {name!r} ignored" for name in unknown]
    return filters, view, chips, problems


def _choice(value: str | None, choices: Container[str], default: str) -> str:
    """`value` if it is one of `choices`, else `default`."""
    return value if value is not None and value in choices else default


def write_search(filters: Filters, view: View, chips: Sequence[Chip]) -> str:
    """The query string of a state (defaults left out, so a plain dashboard has a plain URL)."""
    pairs = filters.query_pairs()
    pairs += [(name, getattr(view, name)) for name in ("x", "y", "by") if getattr(view, name) != getattr(View, name)]
    pairs += [("unnamed", "hide")] if view.hide_unnamed else []
    pairs += [("sel", chip.encode()) for chip in chips]
    query = urlencode(pairs, safe=",:~")
    return f"?{query}" if query else ""


def decode_chips(data: Sequence[str] | None) -> list[Chip]:
    """The cross-filters of the page's chips store (encoded chips), those that can be read."""
    return [chip for chip in (Chip.decode(text) for text in data or ()) if chip is not None]


def view_filters(filters_data: str | None, chips_data: Sequence[str] | None, view: str | None) -> Filters | None:
    """What a view shows: the panel's filters narrowed by every cross-filter not from `view` (None:
    all of them). None when nothing can match. The one way every callback reads the selection."""
    filters, _ = Filters.from_query_string(filters_data or "")
    return narrow_all(filters, [chip.filters for chip in decode_chips(chips_data) if chip.source != view])


def own_pick(chips_data: Sequence[str] | None, source: str) -> Filters | None:
    """What the chip of one view (`source`: "scatter", "bar:<by>") selects, if that view has one."""
    return next((chip.filters for chip in decode_chips(chips_data) if chip.source == source), None)


BROWSE_MAP_PIXELS = (940, 750)  # about the Browse map's size at 1280 x 800: the zoom a box is shown at


def browse_link(filters: Filters | None, detection: int | None = None) -> str:
    """The Browse page showing a selection: its one image (if it picks one), its classes, names and
    lowest score as the map's detection filters, its collections as the search's, its box as the
    map's view; `detection` highlighted. The way back from Analytics to the map."""
    filters = filters or Filters()
    view = None
    if filters.bbox is not None and detection is None:  # a detection is shown up close
        west, south, east, north = filters.bbox
        east += 360.0 if west > east else 0.0
        spans = ((east - west) / 360.0 * 256, (math.log(math.tan(math.pi / 4 + math.radians(min(north, 85)) / 2))
                                               - math.log(math.tan(math.pi / 4 + math.radians(max(south, -85)) / 2)))
                 / (2 * math.pi) * 256)
        zoom = min(math.log2(pixels / span) if span > 0 else 18 for pixels, span in zip(BROWSE_MAP_PIXELS, spans))
        view = MapView(round((south + north) / 2, 5), round(((west + east) / 2 + 180) % 360 - 180, 5),
                       max(1, min(18, math.floor(zoom))))
    state = BrowseState(
        view=view, image=filters.images[0] if len(filters.images) == 1 else None,
        search=SearchFilters(collections=filters.collections),
        overlay=OverlayFilters(classes=filters.classes, names=filters.names, min_score=filters.min_score),
        detection=detection)
    return "/" + state.query_string()
