"""The Analytics page's written report: what the filters select, from the detections API's answers.

`build_report` is a pure function of those answers (as the API sent them, JSON) and of the words
describing the selection, so it is tested without a server and the page, the .md and the .html
downloads say the same thing: one `Report` value, two renderings. `to_markdown` feeds the page's
dcc.Markdown and the .md file; `to_html` writes a standalone page (inline CSS, no script, no
reference to any other host) that opens on an air-gapped workstation or prints.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

EMPTY_HINT = ("No detections match these filters. Widen the dates, lower the score threshold or remove "
              "a filter.")
MAX_CLASS_COLUMNS = 6  # the per-image table shows the largest classes; the rest go to "other"
BAR_WIDTH = 20  # characters of the longest bar of the score distribution
NUMERIC = ' class="num"'


@dataclass(frozen=True)
class Answers:
    """The API's answers a report is written from, each for the same filters."""

    summary: dict[str, Any]  # GET /api/v1/detections/summary
    classes: dict[str, Any]  # GET /api/v1/detections/counts?by=class
    images: dict[str, Any]  # …/counts?by=image&split=class, the largest images first (complete groups)
    names: dict[str, Any]  # …/counts?by=name&split=class, the largest names first (complete groups)
    days: dict[str, Any]  # …/counts?by=day
    scores: dict[str, Any]  # GET /api/v1/detections/scores (no split)


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns


@dataclass(frozen=True)
class Section:
    title: str
    facts: tuple[tuple[str, str], ...] = ()  # label, value
    items: tuple[str, ...] = ()  # a bullet list
    table: Table | None = None
    note: str | None = None  # a remark after the table (what it leaves out)


@dataclass(frozen=True)
class Report:
    title: str
    generated: str
    link: str | None
    sections: tuple[Section, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- the report

def build_report(answers: Answers, selection: Sequence[str], generated_at: datetime, link: str | None = None,
                 top: int = 20) -> Report:
    """The report of a selection: `selection` says in words what the filters are (one line each;
    none: everything), `link` reopens the dashboard, `top` bounds the image and name tables."""
    when = f"Generated {_moment(generated_at)} from the cogbrowser catalog."
    chosen = Section("Selection", items=tuple(selection) or ("All detections in the catalog.",))
    total = int(answers.summary["detections"])
    if total == 0:
        return Report("Detections report", when, link, (chosen, Section("Totals", items=(EMPTY_HINT,))))
    return Report("Detections report", when, link, (
        chosen,
        totals_section(answers),
        classes_section(answers.classes, total),
        images_section(answers.images, answers.classes, int(answers.summary["images"]), top),
        names_section(answers.names, top),
        scores_section(answers.scores, answers.summary),
    ))


def totals_section(answers: Answers) -> Section:
    """Counts, the time span (with the busiest day) and the score statistics."""
    s = answers.summary
    facts = [("Detections", _count(s["detections"])), ("Images", _count(s["images"])),
             ("Target classes", _count(s["classes"])), ("Named targets", _count(s["names"]))]
    first, last = _datetime(s.get("first")), _datetime(s.get("last"))
    if first and last:
        days = (last.date() - first.date()).days + 1
        facts.append(("Time span", f"{_moment(first)} to {_moment(last)} ({_plural(days, 'day')})"))
    active = [row for row in answers.days["counts"] if row["key"] is not None]
    if active:
        busiest = max(active, key=lambda row: (row["count"], row["key"]))
        busiest_day = f"the busiest {busiest['key']} with {_plural(busiest['count'], 'detection')}"
        facts.append(("Days with detections", f"{_count(len(active))}; {busiest_day}"))
    undated = sum(row["count"] for row in answers.days["counts"] if row["key"] is None)
    if undated:
        facts.append(("Without a time", _count(undated)))
    return Section("Totals", facts=tuple(facts))


def classes_section(classes: dict, total: int) -> Section:
    rows = tuple((row["key"], _count(row["count"]), _share(row["count"], total)) for row in classes["counts"])
    return Section("By class", table=Table(("Class", "Detections", "Share"), rows, (False, True, True)))


def images_section(images: dict, classes: dict, image_total: int, top: int) -> Section:
    """The images with the most detections, with their count of each of the largest classes."""
    groups = split_groups(images["counts"])[:top]
    names = [row["key"] for row in classes["counts"]] if len(classes["counts"]) > 1 else []  # one: the total
    shown, rest = names[:MAX_CLASS_COLUMNS], names[MAX_CLASS_COLUMNS:]
    header = ("Image", "Detections", *shown, *(("other",) if rest else ()))
    rows = []
    for key, parts in groups:
        cells = [_count(parts.get(name, 0)) for name in shown]
        if rest:
            cells.append(_count(sum(parts.get(name, 0) for name in rest)))
        rows.append((key or "(none)", _count(sum(parts.values())), *cells))
    note = (f"The {len(groups)} images with the most detections, of {_count(image_total)}."
            if image_total > len(groups) else None)
    return Section("By image", table=Table(header, tuple(rows), (False, *([True] * (len(header) - 1)))), note=note)


def names_section(names: dict, top: int) -> Section:
    """The target names seen most often (ships, aircraft … that carry one), with their class."""
    groups = split_groups(names["counts"])
    named = [(key, parts) for key, parts in groups if key is not None][:top]
    unnamed = sum(sum(parts.values()) for key, parts in groups if key is None)
    rows = tuple((key, ", ".join(parts), _count(sum(parts.values()))) for key, parts in named)
    note = f"{_plural(unnamed, 'detection')} without a name not listed." if unnamed else None
    if not rows:
        return Section("Most seen targets", items=("No detection of this selection has a name.",))
    return Section("Most seen targets", table=Table(("Name", "Class", "Detections"), rows, (False, False, True)),
                   note=note)


def scores_section(scores: dict, summary: dict) -> Section:
    """The score distribution, bin by bin, with a bar of text characters (readable in any viewer)."""
    edges = scores["edges"]
    counts = [sum(h["counts"][i] for h in scores["histograms"]) for i in range(len(edges) - 1)]
    total, peak = sum(counts), max(counts, default=0)
    rows = tuple((f"{edges[i]:.1f}–{edges[i + 1]:.1f}", _count(n), _share(n, total),
                  _bar(n, peak)) for i, n in enumerate(counts))
    facts: tuple[tuple[str, str], ...] = ()
    if summary.get("mean_score") is not None:
        facts = (("Mean", f"{summary['mean_score']:.3f}"), ("Lowest", f"{summary['min_score']:.3f}"),
                 ("Highest", f"{summary['max_score']:.3f}"))
    return Section("Scores", facts=facts, table=Table(("Score", "Detections", "Share", ""), rows,
                                                      (False, True, True, False)))


def split_groups(rows: Sequence[dict]) -> list[tuple[str | None, dict[str, int]]]:
    """Counts split by a second key (`key`, `split`, `count` rows, a group's rows together, the
    largest groups first, as the counts endpoint answers) as [(key, {split: count})] in that order."""
    groups: dict[str | None, dict[str, int]] = {}
    for row in rows:
        parts = groups.setdefault(row["key"], {})
        parts[row["split"] if row["split"] is not None else "(none)"] = row["count"]
    return list(groups.items())


# ---------------------------------------------------------------- Markdown

def to_markdown(report: Report) -> str:
    lines = [f"# {_md(report.title)}", "", _md(report.generated)]
    if report.link:
        lines += ["", f"[Reopen this dashboard]({_md_url(report.link)})"]
    for section in report.sections:
        lines += ["", f"## {_md(section.title)}", ""]
        lines += [f"- **{_md(label)}:** {_md(value)}" for label, value in section.facts]
        lines += [f"- {_md(item)}" for item in section.items]
        if section.table:
            if section.facts or section.items:
                lines.append("")
            lines += _md_table(section.table)
        if section.note:
            lines += ["", f"*{_md(section.note)}*"]
    return "\n".join(lines) + "\n"


def _md_table(table: Table) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md(cell) if cell else " " for cell in cells) + " |"

    rule = "|" + "|".join("---:" if numeric else ":---" for numeric in table.numeric) + "|"
    return [line(table.header), rule, *(line(row) for row in table.rows)]


def _md(text: str) -> str:
    """Text as Markdown that shows it as it is: names come from data and may hold * _ | [ ] < >.
    An underscore inside a word (storage_tank) is left alone: it cannot start emphasis there."""
    text = str(text).replace("\n", " ")
    out = []
    for i, ch in enumerate(text):
        inside_word = ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        out.append("\\" + ch if ch in "\\`*_[]<>|#~" and not inside_word else ch)
    return "".join(out)


def _md_url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


# ---------------------------------------------------------------- HTML

STYLE = """
:root { color-scheme: light; }
body { margin: 0; background: #f3f6f9; color: #1d2733;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 960px; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border: 1px solid #dde3ea;
  border-radius: 6px; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.75rem 0 .5rem; padding-bottom: .25rem; border-bottom: 1px solid #dde3ea; }
.generated { color: #5f6b78; margin: 0; }
a { color: #2d5f8b; }
ul { padding-left: 1.25rem; margin: .25rem 0; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #dde3ea; text-align: left; vertical-align: top; }
th { background: #f3f6f9; font-weight: 600; }
td.num, th.num { text-align: right; }
.note { color: #5f6b78; font-style: italic; }
@media print { body { background: #fff; } main { border: 0; margin: 0; max-width: none; } }
"""


def to_html(report: Report) -> str:
    """A standalone page: inline CSS, no script, no image, no font, no link to another host."""
    e = html.escape
    body = [f"<h1>{e(report.title)}</h1>", f'<p class="generated">{e(report.generated)}</p>']
    if report.link:
        body.append(f'<p><a href="{e(report.link)}">Reopen this dashboard</a></p>')
    for section in report.sections:
        body.append(f"<h2>{e(section.title)}</h2>")
        entries = [f"<li><strong>{e(label)}:</strong> {e(value)}</li>" for label, value in section.facts]
        entries += [f"<li>{e(item)}</li>" for item in section.items]
        if entries:
            body.append("<ul>" + "".join(entries) + "</ul>")
        if section.table:
            body.append(_html_table(section.table))
        if section.note:
            body.append(f'<p class="note">{e(section.note)}</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _html_table(table: Table) -> str:
    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(f"<{tag}{NUMERIC if numeric else ''}>{html.escape(value)}</{tag}>"
                       for value, numeric in zip(values, table.numeric))

    rows = "".join(f"<tr>{cells('td', row)}</tr>" for row in table.rows)
    return f"<table><thead><tr>{cells('th', table.header)}</tr></thead><tbody>{rows}</tbody></table>"


# ---------------------------------------------------------------- words for numbers and times

def _bar(n: int, peak: int) -> str:
    """A bar of block characters, `BAR_WIDTH` long at `peak`; a sliver for a few (not nothing)."""
    if n <= 0 or peak <= 0:
        return ""
    return "█" * round(BAR_WIDTH * n / peak) or "▏"


def _count(n: int) -> str:
    return f"{int(n):,}"


def _plural(n: int, word: str) -> str:
    return f"{_count(n)} {word}{'' if n == 1 else 's'}"


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "–"


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _moment(value: datetime) -> str:
    """A time to the minute, in UTC (a report read elsewhere must not depend on the reader's zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
