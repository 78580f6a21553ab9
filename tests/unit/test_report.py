"""The Analytics report (ui/report.py): a pure function of the API's answers, rendered twice.

The answers below have the shapes the detections API sends (summary, counts, counts split by
class, a score histogram); the expected figures are computed from them, as a reader would.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from cogbrowser.ui import report

NOW = datetime(2024, 11, 2, 8, 30, tzinfo=timezone.utc)


def counts(by: str, rows, split: str | None = None) -> dict:
    """A /counts answer: rows of (key, count) or (key, split, count)."""
    shaped = [{"key": r[0], "split": r[1] if split else None, "count": r[-1]} for r in rows]
    return {"by": by, "split": split, "total": sum(r["count"] for r in shaped), "counts": shaped}


def answers(**changes) -> report.Answers:
    """A selection of 100 detections: 60 ships, 30 aircraft, 10 vehicles on three images."""
    base = dict(
        summary={"detections": 100, "images": 3, "classes": 3, "names": 4, "first": "2024-04-12T10:05:41Z",
                 "last": "2024-05-07T10:05:00Z", "mean_score": 0.71234, "min_score": 0.05, "max_score": 0.99},
        classes=counts("class", [("ship", 60), ("aircraft", 30), ("vehicle", 10)]),
        images=counts("image", [("S2_a", "ship", 40), ("S2_a", "aircraft", 5), ("S2_b", "aircraft", 25),
                                ("S2_b", "ship", 15), ("aerial", "vehicle", 10), ("aerial", "ship", 5)], split="class"),
        names=counts("name", [(None, "vehicle", 10), (None, "ship", 20), ("MV Aurora", "ship", 25),
                              ("9A-CTJ", "aircraft", 18), ("Nordic *Star* | II", "ship", 15),
                              ("S5-AAP", "aircraft", 12)], split="class"),
        days=counts("day", [("2024-04-12", 45), ("2024-05-07", 55)]),
        scores={"edges": [i / 10 for i in range(11)],
                "histograms": [{"split": None, "counts": [1, 0, 2, 3, 4, 10, 20, 100, 20, 10]}]},
    )
    base.update(changes)
    return report.Answers(**base)


def table_rows(markdown: str, title: str) -> list[list[str]]:
    """The body rows of the table under `## title`, cells unescaped."""
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[re.sub(r"\\(.)", r"\1", cell.strip()) for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_totals_tables_and_span_follow_the_answers():
    document = report.build_report(answers(), ["class: ship, aircraft"], NOW, "http://127.0.0.1:8050/analytics?x=1")
    markdown = report.to_markdown(document)
    assert "- class: ship, aircraft" in markdown
    assert "- **Detections:** 100" in markdown and "- **Images:** 3" in markdown
    assert "2024-04-12 10:05 UTC to 2024-05-07 10:05 UTC (26 days)" in markdown
    assert "the busiest 2024-05-07 with 55 detections" in markdown
    assert table_rows(markdown, "By class") == [["ship", "60", "60.0 %"], ["aircraft", "30", "30.0 %"],
                                                ["vehicle", "10", "10.0 %"]]
    assert table_rows(markdown, "By image") == [["S2_a", "45", "40", "5", "0"], ["S2_b", "40", "15", "25", "0"],
                                                ["aerial", "15", "5", "0", "10"]]
    assert "[Reopen this dashboard](http://127.0.0.1:8050/analytics?x=1)" in markdown
    assert "Generated 2024-11-02 08:30 UTC" in markdown


def test_most_seen_targets_leave_out_the_unnamed_and_say_so():
    markdown = report.to_markdown(report.build_report(answers(), [], NOW, top=2))
    assert table_rows(markdown, "Most seen targets") == [["MV Aurora", "ship", "25"], ["9A-CTJ", "aircraft", "18"]]
    assert "30 detections without a name not listed." in markdown
    assert "- All detections in the catalog." in markdown


def test_scores_by_bin_with_a_text_bar_of_the_largest_bin_at_full_width():
    markdown = report.to_markdown(report.build_report(answers(), [], NOW))
    rows = table_rows(markdown, "Scores")
    assert [row[0] for row in rows][:2] == ["0.0–0.1", "0.1–0.2"] and len(rows) == 10
    assert [int(row[1]) for row in rows] == [1, 0, 2, 3, 4, 10, 20, 100, 20, 10]
    assert rows[7][2] == "58.8 %"  # 100 of 170
    assert rows[7][3] == "█" * report.BAR_WIDTH and rows[1][3] == "" and rows[0][3] == "▏"
    assert "- **Mean:** 0.712" in markdown


def test_names_from_the_data_cannot_break_the_markdown_or_the_html():
    document = report.build_report(answers(), ["name: <script>alert(1)</script>"], NOW, top=5)
    markdown = report.to_markdown(document)
    assert ["Nordic *Star* | II", "ship", "15"] in table_rows(markdown, "Most seen targets")
    assert r"Nordic \*Star\* \| II" in markdown and "<script>" not in markdown
    page = report.to_html(document)
    assert "Nordic *Star* | II" in page and "<script>" not in page and "&lt;script&gt;" in page


def test_markdown_tables_are_real_tables():
    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(
        report.to_markdown(report.build_report(answers(), [], NOW)))
    assert rendered.count("<table>") == 4  # classes, images, names, scores
    assert '>Nordic *Star* | II</td>' in rendered, "escaped pipes stay in their cell"
    assert '<td style="text-align:right">60</td>' in rendered


def test_the_html_page_stands_alone():
    page = report.to_html(report.build_report(answers(), [], NOW, "http://10.0.0.5:8050/analytics?class=ship"))
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"<(script|link|img|iframe|object)\b", page)
    assert "@import" not in page and "url(" not in page
    assert re.findall(r"(?:href|src)=\"([^\"]+)\"", page) == ["http://10.0.0.5:8050/analytics?class=ship"]
    assert "<td class=\"num\">60</td>" in page and "<th>Class</th>" in page


def test_an_empty_selection_says_what_to_do():
    empty = answers(summary={"detections": 0, "images": 0, "classes": 0, "names": 0, "first": None, "last": None,
                             "mean_score": None, "min_score": None, "max_score": None},
                    classes=counts("class", []), images=counts("image", [], "class"),
                    names=counts("name", [], "class"), days=counts("day", []), scores={"edges": [], "histograms": []})
    markdown = report.to_markdown(report.build_report(empty, ["score ≥ 0.99"], NOW))
    assert report.EMPTY_HINT in markdown and "|" not in markdown
    assert "- score ≥ 0.99" in markdown


def test_many_classes_keep_the_image_table_readable():
    classes = [(f"class{i}", 10 - i) for i in range(9)]
    images = counts("image", [("one", name, n) for name, n in classes], split="class")
    markdown = report.to_markdown(report.build_report(answers(classes=counts("class", classes), images=images),
                                                      [], NOW))
    header = [line for line in markdown.split("## By image\n", 1)[1].splitlines() if line.startswith("|")][0]
    assert header.count("|") == 2 + report.MAX_CLASS_COLUMNS + 2 and "other" in header
    assert table_rows(markdown, "By image")[0][-1] == str(sum(n for _, n in classes[report.MAX_CLASS_COLUMNS:]))


def test_split_groups_keep_the_order_of_the_answer():
    rows = counts("image", [("b", "ship", 5), ("b", "aircraft", 4), ("a", "ship", 3), ("c", None, 1)],
                  split="class")["counts"]
    assert report.split_groups(rows) == [("b", {"ship": 5, "aircraft": 4}), ("a", {"ship": 3}), ("c", {"(none)": 1})]


def test_one_class_needs_no_class_columns():
    ships = counts("class", [("ship", 60)])
    images = counts("image", [("S2_a", "ship", 40), ("S2_b", "ship", 20)], split="class")
    markdown = report.to_markdown(report.build_report(answers(classes=ships, images=images), [], NOW))
    assert "| Image | Detections |\n" in markdown
    assert table_rows(markdown, "By image") == [["S2_a", "40"], ["S2_b", "20"]]
