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
REPORT = f"{DETECTIONS}/report"  # the report's figures in one request
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
    """Ask the API what the report says about a selection (nothing matches: an empty report): one
    request, the API reads the selection for every figure on one connection."""
    if filters is None:
        return report.Answers(summary={"detections": 0, "images": 0, "classes": 0, "names": 0}, classes=NO_COUNTS,
                              images=NO_COUNTS, names=NO_COUNTS, days=NO_COUNTS, scores={"edges": [], "histograms": []})
    answer = api.get(REPORT, top=REPORT_TOP, bins=10, sample=0, **filters.api_params())
    return report.Answers(summary=answer["summary"], classes=answer["classes"], images=answer["images"],
                          names=answer["names"], days=answer["days"], scores=answer["scores"])
