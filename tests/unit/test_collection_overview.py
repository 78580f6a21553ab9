"""A collection's overview as the raster core draws it: its grid (a WebMercatorQuad zoom at which a
map touches about four images, no larger than MAX_SIDE), the newest image on top with older ones
showing through its nodata, a valid COG whose mask says where no image has data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from cogbrowser.config import Settings
from cogbrowser.errors import InvalidInput
from cogbrowser.raster.cog import cog_problems
from cogbrowser.raster.collection_overview import (
    MAX_SIDE,
    OverviewSource,
    build_overview,
    mercator_box,
    output_pixel,
    overview_grid,
    zoom_pixel,
)


def boxes(columns: int, rows: int, size: float, step: float) -> list[tuple[float, float, float, float]]:
    return [(1.7e6 + c * step, 5.6e6 + r * step, 1.7e6 + c * step + size, 5.6e6 + r * step + size)
            for c in range(columns) for r in range(rows)]


def test_the_grid_is_the_zoom_at_which_a_map_touches_a_few_images():
    grid = overview_grid(boxes(15, 14, 30000, 24000))  # 200-odd scenes of 30 km
    assert grid is not None
    assert zoom_pixel(grid.zoom) >= 30000 / 128 > zoom_pixel(grid.zoom + 1)
    assert grid.width == pytest.approx((14 * 24000 + 30000) / grid.pixel, abs=2)


def test_a_grid_too_large_for_its_images_is_coarsened_to_fit():
    grid = overview_grid(boxes(300, 2, 30000, 30000))  # 9,000 km of 30 km scenes
    assert grid is not None
    assert grid.width <= MAX_SIDE and zoom_pixel(grid.zoom) > 30000 / 128


def test_a_box_across_the_antimeridian_has_no_mercator_box():
    assert mercator_box((179.0, 10.0, 181.0, 11.0)) is None
    left, bottom, right, top = mercator_box((10.0, -89.0, 11.0, 89.0))  # type: ignore[misc]
    assert right > left and top == pytest.approx(-bottom) and top == pytest.approx(20037508.34, rel=1e-6)


def test_a_maps_pixel_in_mercator_metres():
    assert output_pixel(CRS.from_epsg(3857), (0, 0, 2560, 2560), 256, 256) == pytest.approx(10)
    # 0.01 degree at the equator: 1113 m
    assert output_pixel(CRS.from_epsg(4326), (10, -1.28, 12.56, 1.28), 256, 256) == pytest.approx(1113.2, rel=1e-3)


def write(path: Path, value: int, origin: tuple[float, float], nodata_left_half: bool = False) -> Path:
    data = np.full((1, 100, 100), value, np.uint8)
    if nodata_left_half:
        data[:, :, :50] = 0
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1, dtype="uint8", crs="EPSG:3857",
                       transform=from_origin(*origin, 1000, 1000), nodata=0 if nodata_left_half else None) as dst:
        dst.write(data)
    return path


def test_the_newest_image_is_on_top_and_older_ones_show_through_its_nodata(tmp_path):
    newer = write(tmp_path / "newer.tif", 200, (1_000_000, 6_000_000), nodata_left_half=True)
    older = write(tmp_path / "older.tif", 100, (950_000, 6_000_000))
    sources = [OverviewSource(newer, 0, (1_000_000, 5_900_000, 1_100_000, 6_000_000)),
               OverviewSource(older, None, (950_000, 5_900_000, 1_050_000, 6_000_000))]
    grid = overview_grid([s.box for s in sources])
    assert grid is not None
    out = tmp_path / "overview.tif"
    assert build_overview(sources, 1, grid, out) == 2
    assert cog_problems(out) == []
    with rasterio.open(out) as src:
        data, mask = src.read(1), src.dataset_mask()
        assert src.crs == CRS.from_epsg(3857) and src.res[0] == pytest.approx(grid.pixel)

        def at(x: float) -> tuple[int, int]:
            col, row = ~src.transform * (x, 5_950_000)
            return int(data[int(row), int(col)]), int(mask[int(row), int(col)])

    assert at(1_075_000) == (200, 255)  # the newer image's data
    assert at(1_025_000) == (100, 255)  # its nodata: the older one shows through
    assert at(975_000) == (100, 255)  # only the older one

    alone = tmp_path / "alone.tif"  # the newer image alone: its nodata half is masked
    assert build_overview(sources[:1], 1, grid, alone) == 1
    with rasterio.open(alone) as src:
        col, row = ~src.transform * (1_025_000, 5_950_000)
        assert src.dataset_mask()[int(row), int(col)] == 0


def test_a_build_told_to_stop_writes_nothing(tmp_path):
    source = write(tmp_path / "one.tif", 50, (0, 1_000_000))
    sources = [OverviewSource(source, None, (0, 900_000, 100_000, 1_000_000))]
    grid = overview_grid([s.box for s in sources])
    assert grid is not None
    assert build_overview(sources, 1, grid, tmp_path / "never.tif", keep_going=lambda: False) == -1
    assert not (tmp_path / "never.tif").exists()


@pytest.mark.parametrize("value", ["-3", "lots", "2.5"])
def test_a_bad_overview_threshold_is_named(monkeypatch, tmp_path, value):
    monkeypatch.setenv("COGBROWSER_OVERVIEW_IMAGES", value)
    said = f"COGBROWSER_OVERVIEW_IMAGES must be a whole number of at least 0, not '{value}'"
    with pytest.raises(InvalidInput, match=re.escape(said)):
        Settings.from_env(data_dir=tmp_path)


def test_an_overview_threshold_of_0_means_none(monkeypatch, tmp_path):
    monkeypatch.setenv("COGBROWSER_OVERVIEW_IMAGES", "0")
    assert Settings.from_env(data_dir=tmp_path).overview_images == 0
