"""What the Analytics page asks the detections API: the paths, the limits, and the questions
several views share or that take several calls (the bars' counts, the report's answers).

The API aggregates in SQL: the bars are counts, the report is counts, a score histogram and a
summary, and the scatter draws a repeatable random sample of at most SAMPLE_SIZE points, so the
page stays quick over millions of detections. Every question takes the API parameters of one
`Filters` (`api_params()`), so the views cannot disagree about what is selected.
"""

from __future__ import annotations

from cogbrowser.ui import api, report
from cogbrowser.ui.analytics_charts import TOP_GROUPS
from cogbrowser.ui.detection_filters import Filters

DETECTIONS = "/api/v1/detections"
COUNTS = f"{DETECTIONS}/counts"
SAMPLE_SIZE = 5_000  # points drawn at most: an SVG scatter stays smooth, the sample shows the shape
REPORT_TOP = 20  # rows of the report's image and name tables
MAX_COUNT_ROWS = 100_000  # the counts endpoint's limit (days x classes)
OPTIONS_LIMIT = 1000  # names and images offered in the filter lists (the most frequent first)
NO_COUNTS = {"total": 0, "counts": []}


def largest_groups(params: dict, by: str, n: int, classes: dict) -> dict:
    """Counts by `by` split by class, for the `n` largest groups only. The API answers a group's
    rows together, largest group first, so n groups take at most n x (classes selected) rows."""
    rows = max(1, n * len(classes["counts"]))
    return api.get(COUNTS, by=by, split="class", limit=min(rows, MAX_COUNT_ROWS), **params)


def bar_counts(params: dict, by: str) -> tuple[dict, int]:
    """The counts the bars draw (by class; or by another key split by class, the largest groups or
    every day) and the number of detections selected."""
    classes = api.get(COUNTS, by="class", limit=OPTIONS_LIMIT, **params)
    if by == "class":
        return classes, classes["total"]
    if by == "day":
        return api.get(COUNTS, by="day", split="class", limit=MAX_COUNT_ROWS, **params), classes["total"]
    return largest_groups(params, by, TOP_GROUPS, classes), classes["total"]


def report_answers(filters: Filters | None) -> report.Answers:
    """Ask the API what the report says about a selection (nothing matches: an empty report)."""
    if filters is None:
        return report.Answers(summary={"detections": 0, "images": 0, "classes": 0, "names": 0}, classes=NO_COUNTS,
                              images=NO_COUNTS, names=NO_COUNTS, days=NO_COUNTS, scores={"edges": [], "histograms": []})
    params = filters.api_params()

    def counts() -> tuple[dict, ...]:
        classes = api.get(COUNTS, by="class", limit=OPTIONS_LIMIT, **params)
        return (classes, *api.in_parallel(
            lambda: largest_groups(params, "image", REPORT_TOP, classes),
            lambda: largest_groups(params, "name", REPORT_TOP + 1, classes),  # +1: the unnamed may be one
            lambda: api.get(COUNTS, by="day", limit=MAX_COUNT_ROWS, **params),
            lambda: api.get(f"{DETECTIONS}/scores", bins=10, **params)))

    summary, (classes, images, names, days, scores) = api.in_parallel(
        lambda: api.get(f"{DETECTIONS}/summary", **params), counts)
    return report.Answers(summary=summary, classes=classes, images=images, names=names, days=days, scores=scores)
