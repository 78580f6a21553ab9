"""The Browse page's area tools (Inspect area, Export), used as a user would: in Debian's chromium on
the demo data set. What the page shows is checked against the REST API asked the same question,
and the exported files against the stored COG read with rasterio — never against hard-coded
numbers.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import rasterio
import requests
from PIL import Image
from rasterio.windows import from_bounds

from cogbrowser.ui.export import NATIVE, export_pairs, timelapse_pairs
from cogbrowser.ui.map_state import BrowseState, SearchFilters, View, Visualization
from cogbrowser.ui.tool_area import EVERY_BAND, ToolArea, clip_bbox, longest_side_params, tool_area, value_params
from helpers import browser_page, serving

S2 = "S2_demo_20240601"
COLLECTION = "sentinel2-demo"
NDVI = "(B08-B04)/(B08+B04)"


# ---------------------------------------------------------------- pure helpers

def square(west: float, south: float, east: float, north: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def test_the_area_is_the_aoi_else_the_view_else_the_image_cut_to_the_image():
    image = (13.0, 45.0, 14.0, 46.0)
    aoi = square(13.5, 45.5, 14.5, 45.8)
    area = tool_area(aoi, [[45.1, 13.1], [45.2, 13.2]], image)
    assert area == ToolArea("aoi", (13.5, 45.5, 14.0, 45.8), aoi)  # the AOI wins over the view; cut to the image
    assert json.loads(area.zone_params()["geometry"]) == aoi  # statistics take the polygon itself
    view = tool_area(None, [[44.5, 12.5], [45.2, 13.2]], image)
    assert view.kind == "view" and view.bbox == (13.0, 45.0, 13.2, 45.2)
    assert view.zone_params() == {"bbox": "13.000000,45.000000,13.200000,45.200000"}
    assert tool_area(None, [[-80, -400], [80, 400]], image).kind == "image"  # the whole world in view
    assert tool_area(square(20, 10, 21, 11), None, image) is None  # misses the image
    assert tool_area(None, [[10, 20], [11, 21]], image) is None
    assert clip_bbox((170, 0, -170, 1), image) == (170, 0, -170, 1)  # across the antimeridian: the server cuts


def test_the_values_read_are_those_drawn_or_every_band():
    drawn = Visualization(style="ndvi", rescale=((-0.2, 0.9),), colormap="viridis").render_params()
    assert value_params(drawn, "drawn") == {"style": "ndvi"}
    assert value_params(drawn, EVERY_BAND, ["B02", "B03"]) == {"bands": "B02,B03"}
    assert value_params(Visualization(expression=NDVI).render_params(), "drawn") == {"expression": NDVI}
    assert longest_side_params((13.0, 45.0, 14.0, 45.1), 1024) == {"width": "1024"}
    assert longest_side_params((13.0, 45.0, 13.1, 46.0), 1024) == {"height": "1024"}
    assert longest_side_params((13.0, 45.0, 13.8, 46.0), 1024) == {"height": "1024"}  # 63 km across, 111 down
    assert longest_side_params((13.0, 45.0, 13.8, 46.0), 1024, lon_lat=True) == {"height": "1024"}
    assert longest_side_params((13.0, 45.0, 14.2, 46.0), 1024, lon_lat=True) == {"width": "1024"}


def test_pictures_carry_the_stretch_and_raw_values_do_not():
    area = ToolArea("view", (13.0, 45.0, 13.1, 45.1))
    drawn = Visualization(bands=("B08", "B04", "B03"), rescale=((0, 3000), (0, 2500), (0, 2000))).render_params()
    png = export_pairs(area, drawn, "png", "EPSG:3857", NATIVE, "drawn")
    assert [v for k, v in png if k == "rescale"] == ["0,3000", "0,2500", "0,2000"] and ("crs", "EPSG:3857") in png
    tif = export_pairs(area, drawn, "tif", NATIVE, "2048", "drawn")  # a square of degrees at 45° N is tall
    assert dict(tif) == {"bbox": area.bbox_text(), "format": "tif", "height": "2048", "bands": "B08,B04,B03"}
    assert dict(timelapse_pairs(area, drawn, "4096"))["width"] == "1024"  # the GIF's limit


# ---------------------------------------------------------------- in the browser

def api(base: str, path: str, **params) -> dict:
    answer = requests.get(base + path, params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def image_aoi(base: str, image_id: str = S2, share: float = 0.15) -> dict:
    """A square of `share` of the image's bbox a little off its centre (on land and water)."""
    west, south, east, north = api(base, f"/api/v1/images/{image_id}")["bbox"]
    x, y = west + (east - west) * 0.45, south + (north - south) * 0.55
    dx, dy = (east - west) * share / 2, (north - south) * share / 2
    return square(round(x - dx, 6), round(y - dy, 6), round(x + dx, 6), round(y + dy, 6))


def open_tool(page, base: str, state: BrowseState, tool: str) -> None:
    page.goto(base + "/" + state.query_string(), wait_until="networkidle")
    page.wait_for_selector(".leaflet-container")
    page.locator("details.tool > summary", has_text=tool).click()


def wait_until_drawn(page) -> None:
    page.wait_for_function("() => /[?&](style|bands|expression)=/.test(location.search)", timeout=30_000)


def plot_data(page, graph_id: str) -> list[dict]:
    return page.evaluate(f"() => document.querySelector('#{graph_id} .js-plotly-plot').data"
                         ".map(t => ({x: t.x, y: t.y, name: t.name, customdata: t.customdata}))")


def test_statistics_of_the_aoi_agree_with_the_api(ui_page, demo_server):
    base = demo_server[0]
    aoi = image_aoi(base)
    open_tool(ui_page, base, BrowseState(image=S2, visualization=Visualization(style="ndvi"),
                                         search=SearchFilters(aoi=aoi)), "Inspect area")
    wait_until_drawn(ui_page)
    ui_page.get_by_role("button", name="Histogram & statistics").click()
    table = ui_page.locator("#browse-area-table")
    table.wait_for(timeout=30_000)
    expected = api(base, f"/api/v1/images/{S2}/statistics", geometry=json.dumps(aoi), style="ndvi", bins=64)
    (stats,) = expected["statistics"]
    assert stats["count"] > 1000
    shown = {row.locator("th").inner_text(): row.locator("td").inner_text()
             for row in table.locator("tbody tr").all()}
    assert int(shown["Valid pixels"].replace(",", "")) == stats["count"]
    for label, key in (("Min", "min"), ("Max", "max"), ("Mean", "mean"), ("Std. dev.", "std"), ("2 %", "p2"),
                       ("98 %", "p98"), ("Median", "median")):
        assert float(shown[label]) == pytest.approx(stats[key], rel=1e-5, abs=1e-9), label
    ui_page.wait_for_function("() => (document.querySelector('#browse-area-histogram .js-plotly-plot') || {}).data")
    (bars,) = plot_data(ui_page, "browse-area-histogram")
    assert bars["y"] == stats["histogram"]["counts"]
    assert f"{expected['pixels']:,} pixels" in ui_page.locator("#browse-area-statistics-result .meta").inner_text()

    # every band: one column per band, the same numbers as the API's
    ui_page.locator("#browse-area-values").get_by_text("every band").click()
    ui_page.get_by_role("button", name="Histogram & statistics").click()
    ui_page.wait_for_function("() => document.querySelectorAll('#browse-area-table thead th').length === 5")
    every = api(base, f"/api/v1/images/{S2}/statistics", geometry=json.dumps(aoi), bins=64)["statistics"]
    heads = ui_page.locator("#browse-area-table thead th").all_inner_texts()[1:]
    assert heads == [s["name"] for s in every]
    means = table.locator("tbody tr", has_text="Mean").locator("td").all_inner_texts()
    assert [float(m) for m in means] == pytest.approx([s["mean"] for s in every], rel=1e-5)


def test_the_time_series_has_every_date_and_its_csv_those_rows(ui_page, demo_server, tmp_path):
    base = demo_server[0]
    aoi = image_aoi(base)
    dates = api(base, "/api/v1/images", collections=COLLECTION, intersects=json.dumps(aoi), limit=200)["images"]
    assert len(dates) >= 5
    open_tool(ui_page, base, BrowseState(image=S2, visualization=Visualization(style="ndvi"),
                                         search=SearchFilters(aoi=aoi)), "Inspect area")
    wait_until_drawn(ui_page)
    ui_page.get_by_role("button", name="Time series").click()
    ui_page.wait_for_selector("#browse-area-series-graph .js-plotly-plot", timeout=60_000)
    ui_page.wait_for_function("() => document.querySelector('#browse-area-series-graph .js-plotly-plot').data")
    mean = next(t for t in plot_data(ui_page, "browse-area-series-graph") if t["customdata"])
    expected = api(base, f"/api/v1/collections/{COLLECTION}/timeseries", geometry=json.dumps(aoi), style="ndvi")
    assert len(mean["x"]) == len(dates) == len(expected["points"])
    assert sorted(c[0] for c in mean["customdata"]) == sorted(i["id"] for i in dates)
    assert mean["y"] == pytest.approx([p["mean"] for p in expected["points"]], rel=1e-9)

    with ui_page.expect_download() as download:
        ui_page.locator("#browse-area-series-csv").click()
    assert download.value.suggested_filename == f"{COLLECTION}-timeseries.csv"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [r["image_id"] for r in rows] == [p["image_id"] for p in expected["points"]]
    assert [float(r["mean"]) for r in rows if r["mean"]] == pytest.approx(
        [p["mean"] for p in expected["points"] if p["mean"] is not None])

    # a click on another date shows that image, still as NDVI
    other = next(i for i, image_id in enumerate(c[0] for c in mean["customdata"]) if image_id != S2)
    ui_page.evaluate("([index]) => { const plot = document.querySelector('#browse-area-series-graph .js-plotly-plot');"
                     " const trace = plot.data.findIndex(t => t.customdata);"
                     " plot.emit('plotly_click', {points: [{curveNumber: trace, pointNumber: index,"
                     " customdata: plot.data[trace].customdata[index]}]}); }", [other])
    target = mean["customdata"][other][0]
    ui_page.wait_for_function("id => new URLSearchParams(location.search).get('image') === id", arg=target)
    ui_page.wait_for_function("() => new URLSearchParams(location.search).get('style') === 'ndvi'")


def test_the_geotiff_holds_the_images_raw_values_and_the_png_its_size(ui_page, demo_server, tmp_path):
    base = demo_server[0]
    aoi = image_aoi(base, share=0.1)
    open_tool(ui_page, base, BrowseState(image=S2, search=SearchFilters(aoi=aoi)), "Export")
    wait_until_drawn(ui_page)
    ui_page.locator("#browse-export-clip").get_by_text("Clip").click()  # the box's pixels, not the outline's
    ui_page.locator("#browse-export-values").get_by_text("every band").click()
    with ui_page.expect_download(timeout=60_000) as download:
        ui_page.get_by_role("button", name="GeoTIFF").click()
    name = download.value.suggested_filename
    assert name.startswith(S2) and name.endswith(".tif")
    tif_path = tmp_path / name
    download.value.save_as(tif_path)
    stored = tmp_path / "stored.tif"  # the stored COG, byte for byte
    stored.write_bytes(requests.get(f"{base}/cogs/{S2}.tif", timeout=60).content)
    with rasterio.open(tif_path) as exported, rasterio.open(stored) as source:
        assert exported.crs == source.crs and exported.count == source.count
        assert exported.res == pytest.approx(source.res)
        window = from_bounds(*exported.bounds, transform=source.transform).round_offsets().round_lengths()
        expected = source.read(window=window)
        assert expected.shape == (source.count, exported.height, exported.width)
        assert np.array_equal(exported.read(), expected)  # the very pixels, not resampled
        size = (exported.width, exported.height)
    ui_page.locator("#browse-export-jobs .job-card .job-download").first.wait_for()
    assert "Saved " + name in ui_page.locator("#browse-export-jobs").inner_text()

    # the picture as drawn, on the same grid: as many pixels, and not blank
    with ui_page.expect_download(timeout=60_000) as download:
        ui_page.get_by_role("button", name="PNG").click()
    assert download.value.suggested_filename.endswith(".png")
    picture = Image.open(download.value.path())
    assert picture.size == size
    rgba = np.asarray(picture.convert("RGBA"))
    assert (rgba[..., 3] > 0).mean() > 0.9 and rgba[..., :3].std() > 5

    # in lon/lat, 1024 pixels on the longer side
    ui_page.locator("#browse-export-crs").click()
    ui_page.get_by_role("option", name="EPSG:4326 (lon/lat)").click()
    ui_page.locator("#browse-export-size").click()
    ui_page.get_by_role("option", name="1024 px on the longer side").click()
    with ui_page.expect_download(timeout=60_000) as download:
        ui_page.get_by_role("button", name="GeoTIFF").click()
    with rasterio.open(download.value.path()) as exported:
        assert exported.crs.to_epsg() == 4326 and max(exported.width, exported.height) == 1024


def test_the_timelapse_has_a_frame_per_date(ui_page, demo_server):
    base = demo_server[0]
    aoi = image_aoi(base, share=0.1)
    open_tool(ui_page, base, BrowseState(image=S2, visualization=Visualization(style="true-color"),
                                         search=SearchFilters(aoi=aoi)), "Export")
    wait_until_drawn(ui_page)
    with ui_page.expect_download(timeout=120_000) as download:
        ui_page.get_by_role("button", name="Timelapse").click()
    assert download.value.suggested_filename == f"{COLLECTION}-timelapse.gif"
    gif = Image.open(download.value.path())
    points = api(base, f"/api/v1/collections/{COLLECTION}/timeseries", geometry=json.dumps(aoi))["points"]
    assert gif.n_frames == len([p for p in points if p["count"]]) >= 5
    assert gif.size[0] == 512
    ui_page.locator("#browse-export-jobs img.gif-preview").wait_for()


def test_a_timelapse_the_server_makes_a_job_of_is_a_card_with_its_file(chromium, demo_server):
    """A timelapse over the server's sync limit is a job like any other from the page: its card
    ends with the link to the job's file, the GIF."""
    _, settings, db = demo_server
    with serving(replace(settings, sync_render_pixels=512 * 512), db) as base, browser_page(chromium, base) as page:
        open_tool(page, base, BrowseState(image=S2, visualization=Visualization(style="true-color"),
                                          search=SearchFilters(aoi=image_aoi(base, share=0.1))), "Export")
        wait_until_drawn(page)
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Timelapse").click()
        assert download.value.suggested_filename == f"{COLLECTION}-timelapse.gif"
        assert Image.open(download.value.path()).n_frames >= 5
        link = page.locator("#browse-export-jobs .job-download")
        job_url = page.locator("#browse-export-jobs .job-card").get_attribute("data-job")
        assert link.get_attribute("href") == job_url + "/result"
        assert requests.get(base + job_url, timeout=30).json()["state"] == "succeeded"


def test_errors_are_messages_in_the_panel(ui_page, demo_server):
    base = demo_server[0]
    ui_page.goto(base + "/?lat=45.7&lon=13.6&zoom=9", wait_until="networkidle")  # a view, no image
    ui_page.locator(".browse-tab", has_text="Visualize").click()
    ui_page.locator("details.tool > summary", has_text="Inspect area").click()
    ui_page.get_by_role("button", name="Histogram & statistics").click()
    assert "Show an image first" in ui_page.locator("#browse-area-statistics-result .message").inner_text()

    far = square(2.0, 40.0, 2.1, 40.1)  # the Mediterranean, far from the demo's scenes
    open_tool(ui_page, base, BrowseState(image=S2, search=SearchFilters(aoi=far)), "Export")
    wait_until_drawn(ui_page)
    ui_page.get_by_role("button", name="GeoTIFF").click()
    error = ui_page.locator("#browse-export-result .message.error")
    error.wait_for()
    assert "does not overlap image " + S2 in error.inner_text()


def test_an_export_the_server_refuses_says_why(ui_page, demo_server):
    base = demo_server[0]
    aoi = image_aoi(base)
    state = BrowseState(image=S2, visualization=Visualization(expression="B99 * 2"), search=SearchFilters(aoi=aoi))
    answer = requests.get(f"{base}/api/v1/images/{S2}/export", params={"expression": "B99 * 2"}, timeout=30)
    assert answer.status_code == 400
    open_tool(ui_page, base, state, "Export")
    ui_page.wait_for_selector(".source-error")  # the page says the band math is wrong ...
    ui_page.get_by_role("button", name="PNG").click()  # ... and so does the export, not a broken download
    message = ui_page.locator("#browse-export-result .message")
    message.wait_for()
    assert "cannot be made" in message.inner_text() and "B99" in message.inner_text()


def test_without_an_area_of_interest_the_map_view_is_inspected(ui_page, demo_server):
    base = demo_server[0]
    west, south, east, north = api(base, f"/api/v1/images/{S2}")["bbox"]
    view = View((south + north) / 2, (west + east) / 2, 15)
    open_tool(ui_page, base, BrowseState(view=view, image=S2, visualization=Visualization(style="ndvi")),
              "Inspect area")
    wait_until_drawn(ui_page)
    ui_page.get_by_role("button", name="Histogram & statistics").click()
    ui_page.locator("#browse-area-table").wait_for(timeout=30_000)
    head = ui_page.locator("#browse-area-statistics-result .meta").inner_text()
    assert "the map view" in head
    whole = api(base, f"/api/v1/images/{S2}/statistics", style="ndvi", bins=1)
    assert 0 < int(head.split(" pixels")[0].rsplit("· ", 1)[1].replace(",", "")) < whole["pixels"] / 20

    # zooming out changes the area, and the statistics follow
    ui_page.locator(".leaflet-control-zoom-out").click()
    ui_page.wait_for_function("h => document.querySelector('#browse-area-statistics-result .meta')"
                              " && document.querySelector('#browse-area-statistics-result .meta').innerText !== h",
                              arg=head, timeout=30_000)


def test_the_series_figure_leaves_gaps_for_dates_without_pixels():
    from cogbrowser.ui.area_inspect import series_figure, statistics_table

    points = [{"image_id": f"i{n}", "acquired_at": f"2024-0{n}-01T10:00:00Z", "name": "ndvi", "count": count,
               "valid_percent": 100.0 if count else 0.0, "mean": mean, "min": mean, "max": mean, "std": 0.0,
               "median": mean} for n, count, mean in ((1, 5, 0.2), (2, 0, None), (3, 5, 0.4))]
    figure = series_figure(points, {"acquired_at": "2024-03-01T10:00:00Z"})
    mean = next(t for t in figure.data if t.customdata is not None)
    assert list(mean.y) == [0.2, None, 0.4] and [c[0] for c in mean.customdata] == ["i1", "i2", "i3"]
    assert mean.connectgaps is False and len(figure.layout.shapes) == 1  # the shown date is marked
    table = statistics_table([{"name": "ndvi", **points[0]}])
    assert "ndvi" in str(table)


def test_a_detailed_area_is_simplified_until_it_fits_in_a_url():
    """An uploaded outline of 4,000 vertices (80,000 characters) goes to the API as at most 20,000
    characters, still the same area within a hair."""
    from shapely.geometry import shape

    from cogbrowser.ui.tool_area import geometry_text
    from cogbrowser.web.params import MAX_GEOJSON_TEXT
    ring = [[13.5 + 0.2 * np.cos(a) + 0.001 * np.sin(40 * a), 45.6 + 0.15 * np.sin(a)]
            for a in np.linspace(0, 2 * np.pi, 4000, endpoint=False)]
    detailed = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    assert len(json.dumps(detailed)) > 4 * MAX_GEOJSON_TEXT
    text = geometry_text(detailed)
    assert len(text) <= MAX_GEOJSON_TEXT
    sent, original = shape(json.loads(text)), shape(detailed)
    assert sent.symmetric_difference(original).area < 0.01 * original.area
    small = square(13.0, 45.0, 13.1, 45.1)
    assert json.loads(geometry_text(small)) == small, "an area that fits is sent as it is"
