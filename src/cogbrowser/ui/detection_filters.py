"""What the Analytics page selects: one value for its filters, read from and written to the page's
URL, turned into the detections API's parameters in one place, and narrowed by cross-filters.

A dashboard is shared as a link, so its whole state lives in the query string (`?class=ship&
min_score=0.6&bbox=13.5,45.6,13.9,45.8`); the Browse page links here with `?bbox=w,s,e,n` and
`?image=ID` in the same grammar. Every chart and the report ask the API with `api_params()` of the
same `Filters`, so they cannot disagree about what is selected.

Cross-filters (a clicked bar, a box drawn on the scatter) are `Filters` too: `narrowed()` intersects
two selections, and answers None when nothing can match both (ships only, then aircraft only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cogbrowser.web.endpoints import list_value, split_list
from cogbrowser.web.problems import ApiError

BBox = tuple[float, float, float, float]

# field -> URL parameter (repeated for lists); the Browse page uses `image` and `bbox`
LIST_PARAMETERS = {"collections": "collection", "images": "image", "classes": "class", "names": "name"}
VALUE_PARAMETERS = {"start": "from", "end": "to", "min_score": "min_score", "max_score": "max_score",
                    "min_area": "min_area", "max_area": "max_area", "bbox": "bbox"}
URL_PARAMETERS = frozenset(LIST_PARAMETERS.values()) | frozenset(VALUE_PARAMETERS.values())
LIST_LABELS = {"collections": ("collection", "collections"), "images": ("image", "images"),
               "classes": ("class", "classes"), "names": ("name", "names")}


@dataclass(frozen=True)
class Filters:
    """A selection of detections. Empty fields select everything; `start` and `end` are days
    (YYYY-MM-DD, UTC, both included) or instants (ISO 8601, from a box on a time axis)."""

    collections: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_area: float | None = None  # the footprint's area on the ground, m²
    max_area: float | None = None
    bbox: BBox | None = None

    # -------------------------------------------------------------- the API's parameters
    def api_params(self) -> dict[str, Any]:
        """The parameters of /api/v1/detections and its aggregations that select these detections."""
        params: dict[str, Any] = {"collections": list(self.collections), "image_ids": list(self.images),
                                  "classes": list(self.classes), "names": list(self.names),
                                  "min_score": self.min_score, "max_score": self.max_score,
                                  "min_area_m2": self.min_area, "max_area_m2": self.max_area,
                                  "bbox": ",".join(f"{v:.10g}" for v in self.bbox) if self.bbox else None,
                                  "datetime": self.datetime_param()}
        return {key: value for key, value in params.items() if value not in (None, [])}

    def datetime_param(self) -> str | None:
        """The API's `datetime` interval; a day given as the end includes all of that day."""
        if self.start is None and self.end is None:
            return None
        start = _instant(self.start, last=False).isoformat().replace("+00:00", "Z") if self.start else ".."
        end = _instant(self.end, last=True).isoformat().replace("+00:00", "Z") if self.end else ".."
        return f"{start}/{end}"

    # -------------------------------------------------------------- the URL
    def query_pairs(self) -> list[tuple[str, str]]:
        """These filters as URL query pairs: lists as repeated parameters, one item each (a name as
        it is, any other item as a list value: quoted when it holds a comma, see `from_pairs`)."""
        pairs = [(LIST_PARAMETERS[name], value if name == "names" else list_value([value]))
                 for name in LIST_PARAMETERS for value in getattr(self, name)]
        for name, parameter in VALUE_PARAMETERS.items():
            value = getattr(self, name)
            if value is None:
                continue
            pairs.append((parameter, ",".join(f"{v:.10g}" for v in value) if name == "bbox"
                          else f"{value:.10g}" if isinstance(value, float) else str(value)))
        return pairs

    def query_string(self) -> str:
        return urlencode(self.query_pairs(), safe=",:")

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> tuple[Filters, list[str]]:
        """Filters from URL query pairs (other parameters are left to the caller), and a note for
        every value that could not be read (it is left out, not guessed)."""
        lists: dict[str, list[str]] = {name: [] for name in LIST_PARAMETERS}
        values: dict[str, Any] = {}
        problems: list[str] = []
        by_parameter = {parameter: name for name, parameter in {**LIST_PARAMETERS, **VALUE_PARAMETERS}.items()}
        for parameter, text in pairs:
            name = by_parameter.get(parameter)
            text = text.strip()
            if name is None or not text:
                continue
            if name in lists:  # repeated; or comma-separated as the API reads lists (not names: links
                try:           # hold a name with a comma as it is, one name per parameter)
                    lists[name] += [text] if name == "names" else split_list(text, parameter)
                except ApiError as exc:
                    problems.append(f"{parameter}={text!r} ignored: {exc.detail}")
                continue
            try:
                values[name] = _read_value(name, text)
            except ValueError as exc:
                problems.append(f"{parameter}={text!r} ignored: {exc}")
        def unique(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(lists[name]))

        filters = cls(collections=unique("collections"), images=unique("images"), classes=unique("classes"),
                      names=unique("names"), **values)
        return filters, problems

    @classmethod
    def from_query_string(cls, text: str) -> tuple[Filters, list[str]]:
        return cls.from_pairs(parse_qsl(text.lstrip("?"), keep_blank_values=False))

    # -------------------------------------------------------------- combining
    def narrowed(self, other: Filters) -> Filters | None:
        """The detections both select, or None when no detection can be in both."""
        merged: dict[str, Any] = {}
        for name in LIST_PARAMETERS:
            items = _common(getattr(self, name), getattr(other, name))
            if items is None:
                return None
            merged[name] = items
        for low, high in (("min_score", "max_score"), ("min_area", "max_area")):
            merged[low] = _bound(getattr(self, low), getattr(other, low), max)
            merged[high] = _bound(getattr(self, high), getattr(other, high), min)
            if merged[low] is not None and merged[high] is not None and merged[low] > merged[high]:
                return None
        starts = [t for t in (self.start, other.start) if t]
        ends = [t for t in (self.end, other.end) if t]
        merged["start"] = max(starts, key=lambda t: _instant(t, last=False)) if starts else None
        merged["end"] = min(ends, key=lambda t: _instant(t, last=True)) if ends else None
        if merged["start"] and merged["end"] and \
                _instant(merged["start"], last=False) > _instant(merged["end"], last=True):
            return None
        if self.bbox and other.bbox:
            merged["bbox"] = bbox_intersection(self.bbox, other.bbox)
            if merged["bbox"] is None:
                return None
        else:
            merged["bbox"] = self.bbox or other.bbox
        return Filters(**merged)

    def is_everything(self) -> bool:
        return self == Filters()

    # -------------------------------------------------------------- words
    def describe(self) -> list[str]:
        """One line per filter, for people: the report's "Selection" and the cross-filter chips."""
        lines = []
        for name, (one, many) in LIST_LABELS.items():
            items = getattr(self, name)
            if items:
                lines.append(f"{one if len(items) == 1 else many}: {', '.join(items)}")
        if self.start or self.end:
            start, end = _day_or_instant(self.start), _day_or_instant(self.end)
            lines.append(f"on {start}" if start == end else
                         f"from {start}" + (f" to {end}" if end else "") if start else f"until {end}")
        if self.min_score is not None or self.max_score is not None:
            if self.max_score is None:
                lines.append(f"score ≥ {self.min_score:.2f}")
            elif self.min_score is None:
                lines.append(f"score ≤ {self.max_score:.2f}")
            else:
                lines.append(f"score {self.min_score:.2f}–{self.max_score:.2f}")
        if self.min_area is not None or self.max_area is not None:
            low = f"{self.min_area:,.0f}" if self.min_area is not None else None
            high = f"{self.max_area:,.0f}" if self.max_area is not None else None
            lines.append(f"footprint {low}–{high} m²" if low and high else
                         f"footprint ≥ {low} m²" if low else f"footprint ≤ {high} m²")
        if self.bbox:
            west, south, east, north = self.bbox
            lines.append(f"area {west:.4f}, {south:.4f} to {east:.4f}, {north:.4f} (W, S to E, N)")
        return lines


def narrow_all(base: Filters, others: Sequence[Filters]) -> Filters | None:
    """`base` narrowed by every one of `others` (None as soon as nothing can match)."""
    result: Filters | None = base
    for other in others:
        if result is None:
            return None
        result = result.narrowed(other)
    return result


def parse_bbox(text: str) -> BBox:
    """'west,south,east,north' (commas or spaces) as four finite numbers; the API checks the ranges."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if len(parts) != 4:
        raise ValueError("give four numbers: west, south, east, north")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("give four numbers: west, south, east, north") from None
    if not all(math.isfinite(n) for n in (west, south, east, north)):
        raise ValueError("the numbers must be finite")
    return west, south, east, north


def bbox_intersection(a: BBox, b: BBox) -> BBox | None:
    """The overlap of two WGS 84 boxes (west > east crosses the antimeridian), or None."""
    south, north = max(a[1], b[1]), min(a[3], b[3])
    if south > north:
        return None
    a_west, a_east = a[0], a[2] + (360.0 if a[0] > a[2] else 0.0)
    b_west, b_east = b[0], b[2] + (360.0 if b[0] > b[2] else 0.0)
    for shift in (0.0, 360.0, -360.0):
        west, east = max(a_west, b_west + shift), min(a_east, b_east + shift)
        if west <= east:
            return _wrap(west), south, _wrap(east), north
    return None


# ---------------------------------------------------------------- helpers

def _read_value(name: str, text: str) -> Any:
    if name == "bbox":
        return parse_bbox(text)
    if name in ("min_score", "max_score", "min_area", "max_area"):
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if name.endswith("score") and not 0 <= value <= 1:
            raise ValueError("a score is between 0 and 1")
        if name.endswith("area") and not (math.isfinite(value) and value >= 0):
            raise ValueError("an area is a number of m² from 0 up")
        return value
    _instant(text, last=False)  # start and end: a day or an instant
    return text


def _instant(text: str, last: bool) -> datetime:
    """A day (its first or, with `last`, its last microsecond) or an instant, in UTC."""
    try:
        if len(text) <= 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=timezone.utc)
            return moment + timedelta(days=1, microseconds=-1) if last else moment
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not a date (YYYY-MM-DD) or a time (ISO 8601)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _day_or_instant(text: str | None) -> str | None:
    """How a time bound reads: the day itself, or the instant to the minute."""
    if text is None or len(text) <= 10:
        return text
    return _instant(text, last=False).strftime("%Y-%m-%d %H:%M UTC")


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...] | None:
    """Items in both lists (an empty list is every item); None when they share none."""
    if not a or not b:
        return a or b
    shared = tuple(item for item in a if item in set(b))
    return shared or None


def _bound(a: float | None, b: float | None, pick) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return pick(present) if present else None


def _wrap(longitude: float) -> float:
    return longitude - 360.0 if longitude > 180 else longitude + 360.0 if longitude < -180 else longitude
