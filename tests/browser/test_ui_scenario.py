"""The scenario bench/ui_bench.py times, run once on the demo data so that it keeps working as the pages
change. It asserts what each action did (the tiles it asked for and what the page shows), never how fast."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from helpers import api
from ui_scenario import STEPS, analytics_change, browse_round, look_of, open_analytics


def params_of(url: str) -> dict[str, str]:
    return {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def test_each_browse_action_draws_its_new_look(chromium, demo_server):
    base = demo_server[0]
    image = next(i for i in api(base, "/api/v1/images", limit=100)["images"]
                 if i["collection_id"] == "sentinel2-demo")["id"]
    steps = browse_round(chromium, base, image, colormap="magma")
    assert list(steps) == list(STEPS)
    for step in steps.values():
        assert step.requested_ms is not None and step.drawn_ms is not None and step.drawn_ms >= step.requested_ms
        assert len({look_of(url) for url in step.urls}) >= 1

    first = [params_of(url) for url in steps["click"].urls]
    assert all(p.get("layers") == image for p in first), "the clicked image is the one drawn"
    assert all(p.get("styles") == "ndvi" for p in map(params_of, steps["preset"].urls))
    stretched = [params_of(url) for url in steps["stretch"].urls]
    assert all(p.get("styles") == "ndvi" and p.get("rescale", "").endswith(",0.77") for p in stretched)
    coloured = [params_of(url) for url in steps["colormap"].urls]
    assert all(p.get("colormap") == "magma" and p.get("rescale", "").endswith(",0.77") for p in coloured)


def test_an_analytics_change_redraws_the_page_and_the_link(chromium, demo_server):
    base = demo_server[0]
    context, page = open_analytics(chromium, base)
    try:
        up, query = analytics_change(page, "PageUp")
        assert up is not None, "the slider moved but nothing was redrawn"
        threshold = float(parse_qs(query.lstrip("?"))["min_score"][0])
        assert threshold > 0
        expected = api(base, "/api/v1/detections/summary", min_score=threshold)["detections"]
        assert f"{expected:,}" in page.locator("#an-kpis").inner_text()
        down, query = analytics_change(page, "PageDown")
        assert down is not None and "min_score" not in parse_qs(query.lstrip("?"))
    finally:
        context.close()
