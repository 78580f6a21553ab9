"""The UI scenario: a user clicking through the Browse and Analytics pages, timed in the page.

bench/ui_bench.py repeats it to print how fast the pages answer (idle and under tile load);
tests/browser/test_ui_scenario.py runs it once so that it keeps working as the pages change
(it asserts what happened, never how fast). One Browse round, in a fresh browser context (an empty
cache, as for a new user):

  click        a search result is clicked: its first imagery tile requested, and drawn
  preset       a preset with a colour map (NDVI) is chosen: the first tile of the new look requested
  stretch      the stretch's maximum is typed (Enter): the first tile of the new look requested
  colormap     another colour map is picked: the first tile of the new look requested

and an Analytics change: the score slider moved one step by keyboard, until every chart and the
report are drawn again (no callback in flight, Plotly done).

Times come from tools/ui_scenario.js, a probe the page runs before its own scripts: the user's
click or key press as the page saw it, and each imagery <img> Leaflet adds (requested) and loads
(drawn), all in the page's clock. A tile "of the new look" is one whose URL, without its place
(BBOX/WIDTH/HEIGHT or z/x/y), was not asked for before the action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

PROBE = (Path(__file__).resolve().parent / "ui_scenario.js").read_text(encoding="utf-8")
STEPS = ("click", "preset", "stretch", "colormap")
PLACE_KEYS = {"bbox", "width", "height", "x", "y", "z", "tilematrix", "tilerow", "tilecol"}
TILE_PLACE = re.compile(r"/\d+/\d+/\d+(@\dx)?\.(png|jpe?g|webp)$")
PRESET = "NDVI"  # a preset drawn with one output, so the colour map applies
COLORMAPS = ("viridis", "magma")
TIMEOUT_MS = 60_000


@dataclass
class Step:
    """One user action: when it happened and what the page did after it (ms, page clock)."""

    name: str
    requested_ms: float | None = None  # the action -> the first imagery tile of the new look asked for
    drawn_ms: float | None = None  # the action -> that look's first tile drawn
    urls: list[str] = field(default_factory=list)  # the new look's tile URLs


def look_of(url: str) -> str:
    """A tile URL without its place: the same for every tile of one layer drawn one way."""
    parts = urlsplit(url)
    path = TILE_PLACE.sub("", parts.path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in PLACE_KEYS]
    return f"{path}?{urlencode(sorted(query))}"


def new_page(browser, base: str):
    """A page of a fresh context (empty cache) with the probe installed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(PROBE)
    return context, context.new_page()


def _tiles(page) -> list[dict]:
    return page.evaluate("window.__uiProbe.tiles")


def _wait_for_look(page, step: Step, seen: set[str], since: float, wanted: str | None) -> Step:
    """Until a tile of a look not in `seen` (holding `wanted`, if given), asked for after `since`, is drawn."""
    for _ in range(TIMEOUT_MS // 50):
        fresh = [t for t in _tiles(page) if t["requested"] >= since and look_of(t["src"]) not in seen
                 and (wanted is None or wanted in t["src"])]
        drawn = [t for t in fresh if t["drawn"] is not None]
        if drawn:
            step.requested_ms = min(t["requested"] for t in fresh) - since
            step.drawn_ms = min(t["drawn"] for t in drawn) - since
            step.urls = [t["src"] for t in fresh]
            return step
        page.wait_for_timeout(50)
    raise TimeoutError(f"{step.name}: no tile of a new look was drawn")


def _all_tiles_in(page) -> None:
    """Until the imagery pane has no tile still loading (the next action starts from a still map)."""
    page.wait_for_function(
        """() => { const tiles = [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')];
                   return tiles.length > 0 && tiles.every(t => t.complete); }""", timeout=TIMEOUT_MS)
    page.wait_for_timeout(250)


def _act(page, name: str, action, wanted: str | None = None) -> Step:
    seen = {look_of(t["src"]) for t in _tiles(page)}
    before = page.evaluate("performance.now()")
    action()
    since = page.evaluate("window.__uiProbe.lastAction")
    if since is None or since < before:
        raise RuntimeError(f"{name}: the page saw no click or key press")
    step = _wait_for_look(page, Step(name), seen, since, wanted)
    _all_tiles_in(page)
    return step


def browse_round(browser, base: str, image_id: str, colormap: str = COLORMAPS[0]) -> dict[str, Step]:
    """One Browse round on `image_id` (a multi-band image of a collection with an NDVI preset)."""
    context, page = new_page(browser, base)
    try:
        page.goto(f"{base}/?detections=off", wait_until="networkidle")
        result = page.locator(f'.result[data-image="{image_id}"]')
        result.wait_for(timeout=TIMEOUT_MS)
        steps = {"click": _act(page, "click", result.click, wanted=image_id)}
        page.wait_for_function("() => /[?&]style=/.test(location.search)", timeout=TIMEOUT_MS)

        steps["preset"] = _act(page, "preset", page.locator("#browse-style label", has_text=PRESET).click)
        page.wait_for_function("() => /[?&]style=ndvi/.test(location.search)", timeout=TIMEOUT_MS)

        maximum = page.locator("#browse-rescale-max-0")
        maximum.wait_for(timeout=TIMEOUT_MS)

        def stretch() -> None:
            maximum.fill("0.77")
            maximum.press("Enter")
        steps["stretch"] = _act(page, "stretch", stretch)

        def pick_colormap() -> None:
            page.locator("#browse-colormap").click()
            page.get_by_role("option", name=colormap, exact=True).click()
        steps["colormap"] = _act(page, "colormap", pick_colormap)
        return steps
    finally:
        context.close()


def open_analytics(browser, base: str):
    """The Analytics page, drawn, in a fresh context; returns (context, page)."""
    context, page = new_page(browser, base)
    page.goto(f"{base}/analytics", wait_until="networkidle")
    page.wait_for_selector("#an-kpis .kpi", timeout=TIMEOUT_MS)
    page.evaluate("window.__uiProbe.arm(500)")
    page.evaluate("window.__uiProbe.pending")
    return context, page


def analytics_change(page, key: str = "PageUp") -> tuple[float | None, str]:
    """Move the score slider one step (`key`): ms until every chart is drawn again (None when the
    page had nothing to do), and the page's query string afterwards."""
    handle = page.locator("#an-score [role=slider]").first
    handle.focus()
    page.evaluate(f"window.__uiProbe.arm({TIMEOUT_MS})")
    handle.press(key)
    quiet = page.evaluate("window.__uiProbe.pending")
    since = page.evaluate("window.__uiProbe.lastAction")
    return (None if quiet is None else quiet - since), page.evaluate("location.search")
