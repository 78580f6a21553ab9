"""The Analytics page as a user sees it: Debian's chromium on the demo data set.

Every figure a test expects comes from the REST API for the same filters (never a number written
here), read back from what the page drew: plotly's traces on the graph elements, the totals, the
report's tables, the downloaded files. `browser_page` fails any test whose page asked another host
for anything or raised a JavaScript error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cogbrowser.ui.analytics_charts import bar_figure, box_shapes
from cogbrowser.ui.analytics_chips import bar_chip, scatter_chip
from cogbrowser.ui.analytics_state import Chip, View, read_search, view_filters, write_search
from cogbrowser.ui.detection_filters import Filters
from helpers import browser_page, open_tab_of_shown_image, query

TIMEOUT = 20  # seconds a callback round may take on a busy two-core machine


# ---------------------------------------------------------------- helpers

def api(base: str, path: str, **params) -> dict:
    answer = requests.get(f"{base}/api/v1/detections{path}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def eventually(check, timeout: float = TIMEOUT):
    """The first truthy answer of `check()`, polled until `timeout` (then the last answer fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still {value!r} after {timeout} s"
            return value
        time.sleep(0.15)


def traces(page, graph: str) -> list[dict]:
    """The traces plotly drew in a dcc.Graph: name, x, y, customdata, selectedpoints."""
    return page.evaluate("""id => {
        const gd = document.querySelector(`#${id} .js-plotly-plot`);
        return (gd && gd.data || []).map(t => ({name: t.name, x: t.x, y: t.y, customdata: t.customdata,
                                                 selectedpoints: t.selectedpoints ?? null}));
    }""", graph)


def points_drawn(page) -> tuple[int, str]:
    """How many points plotly laid out on the scatter (on a WebGL canvas no SVG element shows
    them), and the kind of its traces."""
    return tuple(page.evaluate("""() => {
        const gd = document.querySelector('#an-scatter .js-plotly-plot');
        return [gd._fullData.reduce((n, trace) => n + (trace.visible === true ? trace._length : 0), 0),
                [...new Set(gd._fullData.map(t => t.type))].join(',')];
    }"""))


def bar_counts(page) -> dict:
    """{(key, class or None): count} of the bars drawn (customdata holds key and class); a part of
    no height is no bar."""
    drawn = {}
    for trace in traces(page, "an-bar"):
        for custom, y in zip(trace["customdata"], trace["y"]):
            if y:
                drawn[(custom[0], custom[1] if len(custom) > 1 else None)] = y
    return drawn


def kpis(page) -> dict[str, str]:
    return {tile.locator(".kpi-label").inner_text().strip().lower(): tile.locator(".kpi-value").inner_text()
            for tile in page.locator("#an-kpis .kpi").all()}


def report_tables(page) -> dict[str, list[list[str]]]:
    """The report's tables by their section title, body rows as cell texts."""
    return page.evaluate("""() => {
        const out = {};
        for (const h of document.querySelectorAll('#an-report h2')) {
            let node = h.nextElementSibling;
            while (node && node.tagName !== 'H2' && node.tagName !== 'TABLE') node = node.nextElementSibling;
            if (node && node.tagName === 'TABLE')
                out[h.textContent.trim()] = [...node.querySelectorAll('tbody tr')].map(
                    tr => [...tr.children].map(td => td.textContent.trim()));
        }
        return out;
    }""")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def class_table(counts: dict) -> list[list[str]]:
    """The report's "By class" rows as the API's counts say they must read."""
    total = counts["total"]
    return [[row["key"], f"{row['count']:,}", f"{100 * row['count'] / total:.1f} %"] for row in counts["counts"]]


QUIET = """() => window.store && !window.store.getState().isLoading
    && [...document.querySelectorAll('.js-plotly-plot')].every(gd => !(gd._promises || []).length)"""


def settle(page) -> None:
    """Wait until no callback is in flight and plotly has drawn what arrived (a drag or a click
    while a chart is redrawn is lost, as it would be for a user), checked three times running."""
    eventually(lambda: all(page.evaluate(QUIET) or page.wait_for_timeout(150) for _ in range(3)))


def open_dashboard(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/analytics{query}")
    page.wait_for_selector("#an-kpis .kpi", timeout=TIMEOUT * 1000)
    eventually(lambda: traces(page, "an-bar") or page.locator("#an-bar-message .message").count())
    settle(page)


def click_on(page, locator) -> None:
    """Click an SVG shape as a user does: scroll to it, hover (plotly tracks the hover), click."""
    settle(page)
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y, steps=4)
    page.wait_for_timeout(250)
    page.mouse.click(x, y)


def click_point(page, graph: str, trace: int, index: int) -> None:
    """Click a scatter point where plotly drew it (on a WebGL canvas it has no element of its own)."""
    page.locator(f"#{graph}").scroll_into_view_if_needed()
    settle(page)
    x, y = page.evaluate("""([id, trace, index]) => {
        const gd = document.querySelector(`#${id} .js-plotly-plot`), layout = gd._fullLayout;
        const box = gd.getBoundingClientRect(), data = gd._fullData[trace];
        const at = (axis, value) => axis.l2p(axis.d2l(value));
        return [box.left + layout._size.l + at(layout.xaxis, data.x[index]),
                box.top + layout._size.t + at(layout.yaxis, data.y[index])];
    }""", [graph, trace, index])
    page.mouse.move(x, y, steps=4)
    page.wait_for_timeout(250)
    page.mouse.click(x, y)


def drag_box(page, graph: str, left: float, top: float, right: float, bottom: float) -> None:
    """Drag a box over a plot, corners given as fractions of its area, as a user does (pointing
    first, so plotly is done drawing before the drag begins)."""
    settle(page)
    area = page.locator(f"#{graph} .nsewdrag")
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
    page.mouse.move(*at(left, top), steps=4)
    page.wait_for_timeout(300)
    page.mouse.down()
    page.mouse.move(*at(right, bottom), steps=10)
    page.mouse.up()


def bar_of(page, key: str):
    """The drawn bar of `key` in a one-trace (by class) bar graph."""
    index = traces(page, "an-bar")[0]["x"].index(key)
    return page.locator("#an-bar .trace.bars .point").nth(index)


def shown_summary(page, summary: dict) -> bool:
    """Whether the totals show this API summary."""
    shown = kpis(page)
    return (number(shown.get("detections", "-1")) == summary["detections"]
            and number(shown["images"]) == summary["images"] and number(shown["classes"]) == summary["classes"])


@pytest.fixture
def base(demo_server):
    return demo_server[0]


@pytest.fixture
def page(chromium, base):
    with browser_page(chromium, base) as page:
        yield page


# ---------------------------------------------------------------- the page's state, without a browser

def test_the_whole_state_round_trips_through_the_url():
    chips = [Chip("bar:class", Filters(classes=("ship",))), Chip("scatter", Filters(min_score=0.5, max_score=0.9))]
    filters = Filters(images=("S2_demo_20240412",), bbox=(13.5, 45.6, 13.9, 45.8))
    search = write_search(filters, View(x="time", y="score", by="day"), chips)
    assert read_search(search) == (filters, View(x="time", y="score", by="day"), chips, [])
    assert write_search(Filters(), View(), []) == "", "a plain dashboard has a plain address"
    *_, problems = read_search("?class=ship&colour=red&sel=nonsense~class=ship")
    assert problems == ["unknown parameter 'colour' ignored"]


def test_each_view_leaves_out_its_own_cross_filter():
    chips = [Chip("bar:class", Filters(classes=("ship",))).encode(), Chip("scatter", Filters(min_score=0.5)).encode()]
    panel = Filters(classes=("ship", "aircraft")).query_string()
    assert view_filters(panel, chips, "bar:class") == Filters(classes=("ship", "aircraft"), min_score=0.5)
    assert view_filters(panel, chips, "bar:day") == Filters(classes=("ship",), min_score=0.5)
    assert view_filters(panel, chips, "scatter") == Filters(classes=("ship",))
    assert view_filters(Filters(classes=("vehicle",)).query_string(), chips, None) is None


def test_picked_bars_become_filters():
    assert bar_chip("class", [["ship"], ["aircraft"]]).filters == Filters(classes=("ship", "aircraft"))
    assert bar_chip("day", [["2024-06-01", "ship"], ["2024-04-12", "aircraft"]]).filters == Filters(
        start="2024-04-12", end="2024-06-01")
    assert bar_chip("image", [["a", "ship"], ["b", "ship"]]).filters == Filters(images=("a", "b"), classes=("ship",))
    assert bar_chip("name", [[None, "vehicle"]]) is None, "the unnamed cannot be filtered on"


def test_a_box_filters_by_both_its_axes():
    box = {"x": ["2024-04-20 07:41:53.38", "2024-05-01 00:00"], "y": [0.61234, 1.3]}
    assert scatter_chip("time", "score", box).filters == Filters(
        start="2024-04-20T07:41:53Z", end="2024-05-01T00:00:00Z", min_score=0.6123, max_score=1.0)
    assert scatter_chip("lon", "lat", {"x": [13.5, 13.9], "y": [45.6, 45.8]}).filters.bbox == (13.5, 45.6, 13.9, 45.8)
    area_and_lon = scatter_chip("area", "lon", {"x": [1026.6147, 10298.17], "y": [13.5, 13.9]}).filters
    assert area_and_lon == Filters(bbox=(13.5, -90.0, 13.9, 90.0), min_area=1020.0, max_area=10300.0), \
        "the area range rounded outwards, to four digits of its top"
    assert scatter_chip("area", "score", {"x": [-5, 100], "y": [0.2, 0.4]}).filters.min_area == 0


def test_the_charts_show_their_own_pick():
    shape, = box_shapes(Filters(min_score=0.5, max_score=0.9), "area", "score")
    assert (shape["xref"], shape["x0"], shape["x1"]) == ("x domain", 0, 1), "no area range: across the plot"
    assert (shape["yref"], shape["y0"], shape["y1"]) == ("y", 0.5, 0.9)
    shape, = box_shapes(Filters(min_area=100, max_area=5000), "area", "score")
    assert (shape["xref"], shape["x0"], shape["x1"]) == ("x", 100, 5000)
    counts = {"total": 30, "counts": [{"key": "ship", "split": None, "count": 20},
                                      {"key": "aircraft", "split": None, "count": 10}]}
    figure = bar_figure(counts, "class", {}, Filters(classes=("aircraft",)))
    assert figure["data"][0]["selectedpoints"] == [1] and figure["data"][0]["x"] == ["ship", "aircraft"]


# ---------------------------------------------------------------- opening the page

def test_the_dashboard_draws_what_the_api_counts(page, base):
    open_dashboard(page, base)
    by_class = api(base, "/counts", by="class")
    summary = api(base, "/summary")
    assert bar_counts(page) == {(row["key"], None): row["count"] for row in by_class["counts"]}
    sample = api(base, "/sample", size=5000)
    drawn = eventually(lambda: sum(len(t["x"]) for t in traces(page, "an-scatter")))
    assert drawn == min(5000, summary["detections"]) == len(sample["points"])
    assert points_drawn(page) == (drawn, "scattergl"), "5,000 points go on a WebGL canvas"
    assert page.locator("#an-scatter canvas.gl-canvas-context").count() == 1
    assert {t["name"] for t in traces(page, "an-scatter")} == {row["key"] for row in by_class["counts"]}
    note = page.locator("#an-scatter-note").inner_text()
    assert (f"of {summary['detections']:,} detections, sampled" in note if sample["sampled"]
            else f"Showing all {summary['detections']:,} detections" in note)
    eventually(lambda: shown_summary(page, summary))
    assert kpis(page)["mean score"] == f"{summary['mean_score']:.2f}"
    assert eventually(lambda: report_tables(page).get("By class")) == class_table(by_class)


def test_without_webgl_the_points_are_drawn_in_svg(chromium, base):
    with browser_page(chromium, base) as page:
        page.add_init_script("""(() => {  // a virtual desktop without a GPU: no WebGL context
            const original = HTMLCanvasElement.prototype.getContext;
            HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
                return /webgl/.test(kind) ? null : original.call(this, kind, ...rest);
            };
        })()""")
        open_dashboard(page, base)
        summary = api(base, "/summary")
        expected = min(5000, summary["detections"])
        eventually(lambda: points_drawn(page) == (expected, "scatter"))
        assert page.locator("#an-scatter .scatterlayer .point").count() == expected


def test_nothing_on_the_page_points_elsewhere(page, base):
    open_dashboard(page, base)
    eventually(lambda: traces(page, "an-scatter"))
    for graph in ("an-scatter", "an-bar"):
        page.locator(f"#{graph}").hover()
        page.wait_for_selector(f"#{graph} .modebar-btn", state="attached")
    titles = page.locator(".modebar-btn").evaluate_all("buttons => buttons.map(b => b.dataset.title)")
    assert "Download plot as a PNG" in titles and "Box Select" in titles
    assert not [t for t in titles if "Share" in t or "Cloud" in t], "no button uploads a chart to Plotly Cloud"
    assert page.locator(".modebar-btn--logo").count() == 0, "plotly's logo links to plotly.com"
    own = urlsplit(base).netloc
    references = page.evaluate("""() => [...document.querySelectorAll('[href],[src],[action]')]
        .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))""")
    foreign = [ref for ref in references if re.match(r"^(https?:)?//", ref) and urlsplit(ref).netloc != own]
    assert foreign == []
    assert "plotly.com" not in page.content()


@pytest.mark.parametrize("width, height", [(1280, 800), (1920, 1080)])
def test_readable_at_common_screen_sizes(chromium, base, width, height):
    with browser_page(chromium, base, width, height) as page:
        open_dashboard(page, base)
        eventually(lambda: traces(page, "an-scatter"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
        scatter, bars = (page.locator(f"#{i}").bounding_box() for i in ("an-scatter", "an-bar"))
        assert scatter["y"] < height and bars["y"] < height, "both charts start on the first screen"
        assert abs(scatter["y"] - bars["y"]) < 40 and scatter["x"] + scatter["width"] <= bars["x"], "side by side"
        panel = page.locator("#an-panel").bounding_box()
        assert panel["x"] + panel["width"] <= scatter["x"], "filters on the left"
        values = page.locator("#an-kpis .kpi-value").all()
        assert len(values) == 6
        assert all(value.evaluate("e => e.scrollWidth <= e.clientWidth") for value in values), "no clipped totals"


# ---------------------------------------------------------------- filters

def test_a_class_and_a_score_threshold_change_every_view_and_the_url(page, base):
    open_dashboard(page, base)
    page.locator("#an-classes").click()
    page.get_by_role("option", name=re.compile(r"^ship \(")).click()
    page.keyboard.press("Escape")
    eventually(lambda: query(page).get("class") == ["ship"])
    handle = page.locator("#an-score [role=slider]").first
    handle.focus()
    for _ in range(5):
        page.keyboard.press("PageUp")
    eventually(lambda: query(page).get("min_score") == [handle.get_attribute("aria-valuenow")])
    threshold = float(query(page)["min_score"][0])
    assert 0.3 <= threshold <= 0.6
    params = {"classes": "ship", "min_score": threshold}
    summary = api(base, "/summary", **params)
    assert 0 < summary["detections"] < api(base, "/summary", classes="ship")["detections"]
    eventually(lambda: shown_summary(page, summary))
    eventually(lambda: bar_counts(page) == {("ship", None): summary["detections"]})
    eventually(lambda: [t["name"] for t in traces(page, "an-scatter")] == ["ship"])
    assert all(score >= threshold for score in traces(page, "an-scatter")[0]["y"])
    assert eventually(lambda: report_tables(page).get("By class")) == class_table(api(base, "/counts", by="class",
                                                                                         **params))
    report = page.locator("#an-report").inner_text()
    assert f"Detections: {summary['detections']:,}" in report and "class: ship" in report

    link = page.evaluate("location.href")
    page.goto(link)  # the link reopens the same dashboard
    eventually(lambda: shown_summary(page, summary))
    assert "ship" in page.locator("#an-classes").inner_text()
    assert handle.get_attribute("aria-valuenow") == f"{threshold:g}"

    page.get_by_role("link", name="Reset filters").click()
    eventually(lambda: query(page) == {})
    eventually(lambda: shown_summary(page, api(base, "/summary")))
    assert handle.get_attribute("aria-valuenow") == "0" and "ship" not in page.locator("#an-classes").inner_text()


def test_a_link_from_the_map_selects_its_view_and_image(page, base):
    image = api(base, "/counts", by="image")["counts"][1]["key"]
    bbox = "13.55,45.74,13.62,45.79"
    summary = api(base, "/summary", bbox=bbox, image_ids=image)
    assert 0 < summary["detections"] < api(base, "/summary", image_ids=image)["detections"], "the box narrows"
    open_dashboard(page, base, f"?bbox={bbox}&image={image}")
    eventually(lambda: shown_summary(page, summary))
    assert page.locator("#an-bbox").input_value().replace(" ", "") == bbox
    assert image in page.locator("#an-images").inner_text()
    assert eventually(lambda: sum(bar_counts(page).values())) == summary["detections"]


def test_a_selection_of_nothing_says_how_to_widen_it(page, base):
    params = {"classes": "aircraft", "min_score": 0.999}
    assert api(base, "/summary", **params)["detections"] == 0  # the API agrees nothing matches
    open_dashboard(page, base, "?class=aircraft&min_score=0.999")
    for message in ("#an-scatter-message", "#an-bar-message"):
        text = eventually(lambda m=message: page.locator(f"{m} .message.empty").all_inner_texts())
        assert "lower the score threshold" in text[0]
    assert not page.locator("#an-scatter").is_visible() and not page.locator("#an-bar").is_visible()
    assert "No detections match these filters" in eventually(lambda: page.locator("#an-report").inner_text())
    assert kpis(page)["detections"] == "0"


def test_a_bad_area_of_interest_is_explained_not_drawn_blank(page, base):
    open_dashboard(page, base)
    page.locator("#an-bbox").fill("13.5, 95, 13.9, 96")
    page.locator("#an-bbox").press("Enter")
    problem = requests.get(f"{base}/api/v1/detections/counts", params={"bbox": "13.5,95,13.9,96"}).json()["detail"]
    shown = eventually(lambda: page.locator("#an-bar-message .message.error").all_inner_texts())
    assert shown == [problem] and "latitudes" in problem
    assert page.locator("#an-scatter-message .message.error").inner_text() == problem
    assert "could not be made" in page.locator("#an-report-message").inner_text()


# ---------------------------------------------------------------- cross-filtering

def test_clicking_a_bar_filters_the_other_views_until_its_chip_is_removed(page, base):
    open_dashboard(page, base)
    everything = api(base, "/summary")
    click_on(page, bar_of(page, "ship"))
    chip = page.locator("#an-chips-row .chip")
    eventually(lambda: chip.count() == 1 and "class: ship" in chip.inner_text())
    ships = api(base, "/summary", classes="ship")
    eventually(lambda: [t["name"] for t in traces(page, "an-scatter")] == ["ship"])
    assert sum(len(t["x"]) for t in traces(page, "an-scatter")) == min(5000, ships["detections"])
    eventually(lambda: shown_summary(page, ships))
    assert "picked on a chart: class: ship" in page.locator("#an-report").inner_text()
    bars = traces(page, "an-bar")[0]
    assert len(bars["x"]) == everything["classes"], "the class bars still show every class"
    assert bars["selectedpoints"] == [bars["x"].index("ship")], "the picked bar is highlighted"
    assert any(v.startswith("bar:class~") for v in query(page)["sel"])

    page.get_by_role("button", name="Remove class: ship").click()
    eventually(lambda: chip.count() == 0)
    eventually(lambda: shown_summary(page, everything))
    eventually(lambda: len(traces(page, "an-scatter")) == everything["classes"])
    assert "sel" not in query(page)


def test_a_box_on_the_scatter_filters_the_bars_by_both_its_ranges(page, base):
    open_dashboard(page, base)
    eventually(lambda: traces(page, "an-scatter"))
    drag_box(page, "an-scatter", 0.45, 0.1, 0.99, 0.45)  # x: the larger footprints; y: the higher scores
    chip = eventually(lambda: [v for v in query(page).get("sel", []) if v.startswith("scatter~")])
    picked = parse_qs(chip[0].split("~", 1)[1])
    low, high = float(picked["min_score"][0]), float(picked["max_score"][0])
    smallest, largest = float(picked["min_area"][0]), float(picked["max_area"][0])
    assert 0 < low < high <= 1 and 0 < smallest < largest
    ranges = {"min_score": low, "max_score": high, "min_area_m2": smallest, "max_area_m2": largest}
    counts = api(base, "/counts", by="class", **ranges)
    by_score_only = api(base, "/counts", by="class", min_score=low, max_score=high)
    assert counts["total"] < by_score_only["total"], "the footprint range leaves some out: both axes filter"
    eventually(lambda: bar_counts(page) == {(r["key"], None): r["count"] for r in counts["counts"]})
    chips = page.locator("#an-chips-row").inner_text()
    assert f"score {low:.2f}–{high:.2f}" in chips and f"footprint {smallest:,.0f}–{largest:,.0f} m²" in chips
    assert eventually(lambda: report_tables(page).get("By class")) == class_table(counts)
    box = page.locator("#an-scatter .shapelayer path")
    assert box.count() == 1, "the box stays drawn"

    click_on(page, bar_of(page, "building"))  # both cross-filters at once: the scatter keeps its box
    eventually(lambda: len(query(page).get("sel", [])) == 2)
    both = api(base, "/summary", classes="building", **ranges)
    eventually(lambda: shown_summary(page, both))
    eventually(lambda: [t["name"] for t in traces(page, "an-scatter")] == ["building"])
    assert box.count() == 1 and page.locator("#an-chips-row .chip").count() == 2

    area = page.locator("#an-scatter .nsewdrag").bounding_box()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] * 0.8, steps=4)
    page.wait_for_timeout(300)
    page.mouse.dblclick(area["x"] + area["width"] / 2, area["y"] + area["height"] * 0.8)
    eventually(lambda: [v.split("~")[0] for v in query(page).get("sel", [])] == ["bar:class"])
    eventually(lambda: shown_summary(page, api(base, "/summary", classes="building")))
    assert box.count() == 0


def test_stacked_bars_by_day_and_a_click_picks_that_day(page, base):
    open_dashboard(page, base, "?by=day")
    by_day = api(base, "/counts", by="day", split="class", limit=100000)
    eventually(lambda: bar_counts(page) == {(r["key"], r["split"]): r["count"] for r in by_day["counts"]})
    assert page.locator("#an-by input[value=day]").is_checked()
    assert {t["name"] for t in traces(page, "an-bar")} == {r["split"] for r in by_day["counts"]}, "stacked by class"
    busiest = max(by_day["counts"], key=lambda r: r["count"])
    trace = next(i for i, t in enumerate(traces(page, "an-bar")) if t["name"] == busiest["split"])
    index = [c[0] for c in traces(page, "an-bar")[trace]["customdata"]].index(busiest["key"])
    click_on(page, page.locator("#an-bar .trace.bars").nth(trace).locator(".point").nth(index))
    eventually(lambda: page.locator("#an-chips-row .chip").count() == 1)
    assert f"on {busiest['key']}" in page.locator("#an-chips-row .chip").inner_text()
    summary = api(base, "/summary", datetime=busiest["key"])
    assert summary["detections"] == sum(r["count"] for r in by_day["counts"] if r["key"] == busiest["key"])
    eventually(lambda: shown_summary(page, summary))
    eventually(lambda: sum(len(t["x"]) for t in traces(page, "an-scatter")) == min(5000, summary["detections"]))


# ---------------------------------------------------------------- the report and the map

def test_the_report_downloads_as_markdown_and_as_a_standalone_page(page, base):
    open_dashboard(page, base, "?class=ship&class=aircraft")
    params = {"classes": "ship,aircraft"}
    summary, by_class = api(base, "/summary", **params), api(base, "/counts", by="class", **params)
    eventually(lambda: shown_summary(page, summary))
    button = page.get_by_role("button", name="Download .md")
    eventually(button.is_enabled)
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename.endswith(".md")
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"- **Detections:** {summary['detections']:,}" in markdown
    assert f"- **Images:** {summary['images']:,}" in markdown
    for row in class_table(by_class):
        assert f"| {row[0]} | {row[1]} | {row[2]} |" in markdown
    assert "- classes: ship, aircraft" in markdown

    with page.expect_download() as download:
        page.get_by_role("button", name="Download .html").click()
    assert download.value.suggested_filename.endswith(".html")
    document = Path(download.value.path()).read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and "<style>" in document
    assert f"{summary['detections']:,}" in document and "<th>Class</th>" in document
    for row in class_table(by_class):
        assert f"<td>{row[0]}</td><td class=\"num\">{row[1]}</td>" in document
    assert not re.search(r"<(script|link|img|iframe)\b", document) and "url(" not in document
    references = re.findall(r"(?:href|src)=\"([^\"]+)\"", document)
    assert references and all(urlsplit(ref).netloc == urlsplit(base).netloc for ref in references)
    assert not re.search(r"https?://(?!" + re.escape(urlsplit(base).netloc) + ")", document)


def test_a_clicked_point_opens_on_the_map(page, base):
    open_dashboard(page, base, "?class=ship")
    eventually(lambda: [t["name"] for t in traces(page, "an-scatter")] == ["ship"])
    click_point(page, "an-scatter", 0, 3)
    link = page.locator("#an-open-on-map")
    link.wait_for(timeout=TIMEOUT * 1000)
    href = link.get_attribute("href")
    carried = parse_qs(href.split("?", 1)[1])
    detection_id = int(carried["detection"][0])
    assert carried["det_class"] == ["ship"], "the selection's class goes to the map's detection filter"
    detection = api(base, f"/{detection_id}")
    detail = page.locator("#an-detail").inner_text()
    assert f"Detection #{detection_id}" in detail and detection["image_id"] in detail
    assert detection["target_class"] == "ship" and f"{detection['score']:.3f}" in detail
    link.click()
    page.wait_for_url(f"{base}{href}")
    page.wait_for_selector(".leaflet-container")


# ---------------------------------------------------------------- the rough edges (issue 14, item 9)

def test_one_day_of_bars_has_date_ticks_and_the_chosen_tab_stays_readable(page, base):
    day = api(base, "/counts", by="day")["counts"][0]["key"]
    open_dashboard(page, base, f"?from={day}&to={day}")
    page.locator("#an-by label", has_text="Day").click()
    eventually(lambda: (traces(page, "an-bar") or [{}])[0].get("x") and "-" in str(traces(page, "an-bar")[0]["x"][0]))
    settle(page)
    ticks = page.evaluate("() => [...document.querySelectorAll('#an-bar .xtick text')].map(t => t.textContent)")
    assert ticks and not any(":" in tick for tick in ticks), ticks  # no "23:59:59.9998"
    assert any(tick.endswith(day[:4]) for tick in ticks)
    chosen = page.locator("#an-by label", has_text="Day")
    colour, background = chosen.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert colour != background and chosen.is_visible(), "the chosen tab's label is lost in its background"


def test_the_name_view_may_leave_the_unnamed_out_and_it_is_in_the_link(page, base):
    open_dashboard(page, base, "?by=name")
    by_name = api(base, "/counts", by="name")
    assert any(row["key"] is None for row in by_name["counts"]), "the demo has unnamed detections"
    eventually(lambda: None in {key for key, _ in bar_counts(page)})  # the "(no name)" bar
    page.get_by_text("Leave out detections without a name").click()
    eventually(lambda: query(page).get("unnamed") == ["hide"])
    eventually(lambda: bar_counts(page) and None not in {key for key, _ in bar_counts(page)})
    named = {(row["key"], row["split"]): row["count"]
             for row in api(base, "/counts", by="name", split="class")["counts"] if row["key"] is not None}
    drawn = bar_counts(page)
    assert drawn and all(named[part] == count for part, count in drawn.items()), "the named bars, as the API counts"
    page.locator("#an-by label", has_text="Class").click()
    eventually(lambda: not page.get_by_text("Leave out detections without a name").is_visible())


def test_filters_and_the_view_go_from_browse_to_analytics_and_back(page, base):
    image = "S2_demo_20240601"
    page.goto(f"{base}/?image={image}&det_class=ship&det_score=0.5&lat=45.7716&lon=13.5905&zoom=14")
    open_tab_of_shown_image(page, "Detections")
    link = page.locator("#browse-open-analytics")
    link.wait_for(timeout=TIMEOUT * 1000)
    link.click()
    page.wait_for_url("**/analytics?**")
    opened = query(page)
    assert opened["image"] == [image] and opened["class"] == ["ship"] and opened["min_score"] == ["0.5"]
    west, south, east, north = (float(v) for v in opened["bbox"][0].split(","))
    assert west < 13.5905 < east and south < 45.7716 < north and east - west < 0.2, "the map's view came along"
    page.wait_for_selector("#an-kpis .kpi")
    summary = api(base, "/summary", image_ids=image, classes="ship", min_score=0.5, bbox=opened["bbox"][0])
    eventually(lambda: shown_summary(page, summary))
    assert page.locator("#an-bbox").input_value().startswith(f"{west:g}")

    back = page.locator("#an-open-browse")
    eventually(lambda: "det_class=ship" in (back.get_attribute("href") or ""))
    back.click()
    page.wait_for_url(lambda url: "/analytics" not in url)
    page.wait_for_function("() => new URLSearchParams(location.search).get('det_class') === 'ship'")
    returned = parse_qs(page.evaluate("location.search").lstrip("?"))
    assert returned["image"] == [image] and returned["det_score"] == ["0.5"]
    assert abs(float(returned["lat"][0]) - 45.7716) < 0.01 and abs(float(returned["lon"][0]) - 13.5905) < 0.01
    assert float(returned["zoom"][0]) >= 13, "back at the view it came from"
