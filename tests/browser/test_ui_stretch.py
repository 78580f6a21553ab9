"""Each look opens with a stretch of its own: a new composite takes each band's 2-98 % (not the
last preset's range, which drew a composite after NDWI white), a band picked keeps the other bands'
ranges, and new band math is stretched over its own 2-98 % once measured (B08/B04 drawn with the
index default -1..1 was saturated). The histogram's markers can be dragged to set the stretch."""

from __future__ import annotations

import re

import numpy as np

from helpers import api, open_browse, query

S2 = "S2_demo_20240601"
ROW = "#browse-rescale-{end}-{index}"


def rows(page) -> list[str]:
    return [page.locator(ROW.format(end=end, index=i)).input_value() for i in range(3) for end in ("min", "max")]


def placeholders(page) -> list[str]:
    return [page.locator(ROW.format(end=end, index=i)).get_attribute("placeholder")
            for i in range(3) for end in ("min", "max")]


def drawn(page) -> np.ndarray:
    """The imagery layer's tiles as the browser decoded them (RGBA), side by side."""
    page.wait_for_function("""() => {
        const t = [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')];
        return t.length > 0 && t.every(i => i.complete && i.naturalWidth > 0)
            && !document.querySelector('.tiles-loading'); }""")
    page.wait_for_timeout(300)
    values = page.evaluate("""() => [...document.querySelectorAll('.leaflet-browse-imagery-pane img.leaflet-tile')]
        .slice(0, 6).map(img => { const c = document.createElement('canvas'); c.width = c.height = 64;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0, 64, 64);
            return [...g.getImageData(0, 0, 64, 64).data]; })""")
    return np.asarray(values, dtype=float).reshape(-1, 4)


def open_visualize(page, base: str, search: str) -> None:
    open_browse(page, base, search)
    page.locator(".browse-tab", has_text="Visualize").click()
    page.locator("#browse-rescale-min-0").wait_for()


def test_a_composite_after_an_index_takes_each_bands_own_range(ui_page, demo_server):
    base = demo_server[0]
    bands = {b["name"]: b["statistics"] for b in api(base, f"/api/v1/images/{S2}")["bands"]}
    open_visualize(ui_page, base, f"?image={S2}&style=ndwi&detections=off")
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('style') === 'ndwi'")
    ui_page.locator("#browse-style label", has_text="Custom composite").click()
    ui_page.wait_for_function("() => new URLSearchParams(location.search).has('bands')")
    chosen = query(ui_page)["bands"][0].split(",")
    assert "rescale" not in query(ui_page), "the index's range went with it"
    assert rows(ui_page) == [""] * 6
    ui_page.wait_for_function(f"() => document.querySelector('#browse-rescale-max-0').placeholder === "
                              f"'{bands[chosen[0]]['p98']:.4g}'")
    assert placeholders(ui_page) == [f"{bands[name][key]:.4g}" for name in chosen for key in ("p2", "p98")]
    pixels = drawn(ui_page)
    seen = pixels[pixels[:, 3] > 0, :3]
    assert seen.size and (seen.min(axis=1) > 245).mean() < 0.2, "the composite is drawn white"
    assert seen.std() > 20, "the composite has no contrast"

    # a value typed for green stays when red changes; red takes its new band's own range
    ui_page.fill("#browse-rescale-max-1", "1800")
    ui_page.press("#browse-rescale-max-1", "Enter")
    ui_page.wait_for_function("() => /rescale=/.test(location.search)")
    ui_page.fill("#browse-rescale-max-0", "999")
    ui_page.press("#browse-rescale-max-0", "Enter")
    ui_page.locator("#browse-band-r").click()
    ui_page.get_by_role("option", name=re.compile(r"^B08")).click()
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('bands').startsWith('B08,')")
    ui_page.wait_for_function("() => document.querySelector('#browse-rescale-max-0').value === ''")
    assert rows(ui_page)[3] == "1800", "the green band's range was lost"
    assert placeholders(ui_page)[:2] == [f"{bands['B08'][key]:.4g}" for key in ("p2", "p98")]


def test_new_band_math_is_stretched_over_its_own_values(ui_page, demo_server):
    base = demo_server[0]
    measured = api(base, f"/api/v1/images/{S2}/statistics", expression="B08/B04")["statistics"][0]
    expected = [float(f"{measured[key]:.4g}") for key in ("p2", "p98")]
    assert expected[1] > 1, "the ratio reaches past the index range: the test means something"
    open_visualize(ui_page, base, f"?image={S2}&style=ndvi&detections=off")
    ui_page.locator("#browse-style label", has_text="Index / band math").click()
    ui_page.fill("#browse-expression", "B08/B04")
    ui_page.press("#browse-expression", "Enter")
    ui_page.wait_for_function("""expected => ['min', 'max'].every((end, i) =>
        parseFloat(document.querySelector(`#browse-rescale-${end}-0`).value) === expected[i])""", arg=expected)
    low, high = (float(v) for v in rows(ui_page)[:2])
    assert [low, high] == expected
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('expression') === 'B08/B04'")
    ui_page.wait_for_function("() => (new URLSearchParams(location.search).get('rescale') || '').includes(',')")
    assert [float(v) for v in query(ui_page)["rescale"][0].split(",")] == expected


def test_dragging_a_histogram_marker_sets_the_stretch(ui_page, demo_server):
    base = demo_server[0]
    open_visualize(ui_page, base, f"?image={S2}&detections=off")
    histogram = ui_page.locator("#browse-histogram .band-histogram").first
    histogram.wait_for()
    bars = histogram.locator(".bars")
    low, span = float(bars.get_attribute("data-low")), float(bars.get_attribute("data-span"))
    marker = histogram.locator(".stretch-mark").nth(1)
    box, area = marker.bounding_box(), bars.bounding_box()
    assert box and area
    target = area["x"] + area["width"] * 0.25
    ui_page.mouse.move(box["x"] + box["width"] / 2, area["y"] + area["height"] / 2)
    ui_page.mouse.down()
    ui_page.mouse.move(target, area["y"] + area["height"] / 2, steps=5)
    ui_page.mouse.up()
    ui_page.wait_for_function("() => document.querySelector('#browse-rescale-max-0').value !== ''")
    value = float(rows(ui_page)[1])
    assert abs(value - (low + 0.25 * span)) <= span * 0.02, (value, low, span)
    ui_page.wait_for_function("() => (new URLSearchParams(location.search).get('rescale') || '') !== ''")
