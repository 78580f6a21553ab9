"""The area reader against real rasters, with GDAL's own warper on full-resolution data as the oracle.

Tolerances (why):
- native zoom, nearest: where both are valid, no pixel may differ from the reference unless its
  centre falls within 1/8 source pixel of a source pixel edge (GDAL's warper approximates the
  transform to within 1/8 pixel, so either neighbour is a right pick there: 3.3 % of a cog1.tif
  tile's pixels differ from the exact picks in GDAL's own reference); valid masks must agree on
  >= 98 % of pixels (edge pixels of the mask).
- zoomed out: the read must come from an overview (overview_level > 0 where the file has several),
  values must lie within the source's value range, the tile mean must be within 10 % of the source
  range of a reference *averaged* from full resolution (overviews may be built with another
  resampling), and the masks must agree on >= 95 % of pixels (overview masks are coarser).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_bounds
from rasterio.warp import reproject
from rasterio.warp import transform as transform_points

from cogbrowser.raster import reader
from cogbrowser.raster.reader import Area, read_area
from helpers import REAL_DATA, near_pixel_edges

WEB = morecantile.tms.get("WebMercatorQuad")
WGS = morecantile.tms.get("WorldCRS84Quad")

# file, a (lon, lat) inside its data, bands
CASES = {
    "titiler/TCI.tif": ((23.7, 32.0), [1, 2, 3]),
    "titiler/cog1.tif": ((-74.5, 46.0), [1, 2, 3]),
    "rasterio/cogeo.tif": ((128.6581, 37.6686), [1, 2, 3]),
    "titiler/cog_with_nan.tif": ((80.3, 22.1), [1]),
    "GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif": ((-40.0, -68.0), [1]),
    "rio-tiler/pix4d_alpha_nodata.tif": ((115.1597, -8.5862), [1, 2, 3]),
    "rio-tiler/cog_dateline.tif": ((179.8, 51.7), [1]),
}


def _native_zoom(path: Path, tms: morecantile.TileMatrixSet, lonlat) -> int:
    """The coarsest zoom whose pixels are no coarser than the source's near `lonlat` (so the read is
    full-resolution and exactly comparable with a full-resolution reference)."""
    with rasterio.open(path) as src:
        x, y = transform_points("EPSG:4326", src.crs, [lonlat[0]], [lonlat[1]])
        r = src.res[0]
        xs, ys = transform_points(src.crs, tms.rasterio_crs,
                                  [x[0], x[0] + r], [y[0], y[0]])
        size = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    for z in range(25):
        b = tms.xy_bounds(tms.tile(*lonlat, z))
        if (b.right - b.left) / tms.matrix(z).tileWidth <= size:
            return z
    return 24


def _reference(path: Path, crs, bounds, w, h, bands, resampling=Resampling.nearest, nodata=None):
    """GDAL's warper on full-resolution data onto the same grid: (data, valid)."""
    transform = from_bounds(*bounds, w, h)
    with rasterio.open(path) as src:
        kind = np.dtype(src.dtypes[0]).kind
        dtype = np.float32 if kind == "f" else src.dtypes[0]
        nd = nodata if nodata is not None else src.nodata
        out = np.zeros((len(bands), h, w), np.float64 if kind == "f" else dtype)
        if kind == "f":
            out[:] = np.nan
        reproject(rasterio.band(src, bands), out, dst_transform=transform, dst_crs=crs,
                  src_nodata=nd, dst_nodata=nd, resampling=resampling)
        mask = np.zeros((h, w), np.uint8)
        reproject(src.dataset_mask(), mask, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest)
        valid = mask > 0
        if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
            valid &= ~np.any(out == nd, axis=0)
        if kind == "f":
            valid &= ~np.any(np.isnan(out), axis=0)
        full = src.read(bands, masked=True).astype(np.float64)
        full = np.ma.masked_invalid(full)
        lo, hi = float(full.min()), float(full.max())
    return out.astype(dtype), valid, (lo, hi)


def _check_native(path, crs, bounds, bands, w=256, h=256):
    area = read_area(path, crs, bounds, w, h, bands)
    ref, ref_valid, _ = _reference(path, crs, bounds, w, h, bands)
    assert isinstance(area, Area)
    assert area.data.shape == (len(bands), h, w) and area.valid.shape == (h, w)
    assert area.overview_level is None
    assert area.valid.any(), "test tile should show data"
    assert (area.valid == ref_valid).mean() >= 0.98
    both = area.valid & ref_valid
    differing = np.any(area.data != ref, axis=0) & both & ~near_pixel_edges(path, crs, bounds, w, h)
    assert not differing.any(), f"{differing.sum()} pixels away from source pixel edges differ"
    return area


@pytest.mark.parametrize("name", list(CASES))
def test_native_zoom_matches_full_resolution_reference(name):
    path = REAL_DATA / name
    lonlat, bands = CASES[name]
    z = _native_zoom(path, WEB, lonlat)
    tile = WEB.tile(*lonlat, z)
    area = _check_native(path, "EPSG:3857", tuple(WEB.xy_bounds(tile)), bands)
    with rasterio.open(path) as src:
        expected = np.float32 if np.dtype(src.dtypes[0]).kind == "f" else np.dtype(src.dtypes[0])
    assert area.data.dtype == expected


@pytest.mark.parametrize("name", list(CASES))
def test_zoomed_out_reads_an_overview(name):
    path = REAL_DATA / name
    lonlat, bands = CASES[name]
    z = max(_native_zoom(path, WEB, lonlat) - 4, 0)
    bounds = tuple(WEB.xy_bounds(WEB.tile(*lonlat, z)))
    area = read_area(path, "EPSG:3857", bounds, 256, 256, bands, resampling="average")
    ref, ref_valid, (lo, hi) = _reference(path, "EPSG:3857", bounds, 256, 256, bands, Resampling.average)
    with rasterio.open(path) as src:
        factors = src.overviews(1)
    if len(factors) >= 2:
        assert area.overview_level is not None and area.overview_level > 0
    assert area.valid.any()
    assert (area.valid == ref_valid).mean() >= 0.95
    values = area.data[:, area.valid].astype(np.float64)
    assert values.min() >= lo - 1e-6 and values.max() <= hi + 1e-6
    both = area.valid & ref_valid
    mean_diff = abs(area.data[:, both].astype(float).mean() - ref[:, both].astype(float).mean())
    assert mean_diff <= 0.10 * (hi - lo)


def test_overview_choice_speeds_up_zoomed_out_tile():
    path = REAL_DATA / "titiler/TCI.tif"
    bounds = tuple(WEB.xy_bounds(WEB.tile(23.7, 32.0, 7)))
    area = read_area(path, "EPSG:3857", bounds, 256, 256, [1, 2, 3])
    assert area.overview_level == 2  # 100 m source, ~1.2 km/px at z7 lat 32: factor 8 (level 2) fits, 16 doesn't


def test_epsg4326_output_world_crs84_quad():
    path = REAL_DATA / "titiler/TCI.tif"
    lonlat = (23.7, 32.0)
    z = _native_zoom(path, WGS, lonlat)
    bounds = tuple(WGS.xy_bounds(WGS.tile(*lonlat, z)))
    _check_native(path, "EPSG:4326", bounds, [1, 2, 3])


def test_antimeridian_both_sides():
    path = REAL_DATA / "rio-tiler/cog_dateline.tif"
    for lon in (179.8, -179.8):
        z = _native_zoom(path, WEB, (lon, 51.7))
        bounds = tuple(WEB.xy_bounds(WEB.tile(lon, 51.7, z)))
        area = _check_native(path, "EPSG:3857", bounds, [1])
        assert area.valid.mean() > 0.5


def test_tile_outside_image_is_invalid():
    path = REAL_DATA / "titiler/TCI.tif"
    bounds = tuple(WEB.xy_bounds(WEB.tile(-150.0, 10.0, 10)))  # mid-Pacific
    area = read_area(path, "EPSG:3857", bounds, 256, 256, [1, 2, 3])
    assert not area.valid.any()
    assert area.data.shape == (3, 256, 256) and area.data.dtype == np.uint8


def test_nodata_override_masks_zero_filled_part():
    path = REAL_DATA / "mapchete/s2_band.tif"
    lonlat = (15.68, 47.85)
    with rasterio.open(path) as src:  # the image centre, in lon/lat
        cx, cy = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
        lon, lat = transform_points(src.crs, "EPSG:4326", [cx], [cy])
        lonlat = (lon[0], lat[0])
        zeros = (src.read(1) == 0).mean()
    assert zeros > 0.1  # the file has a zero-filled part and no nodata tag
    z = _native_zoom(path, WEB, lonlat)
    bounds = tuple(WEB.xy_bounds(WEB.tile(*lonlat, z)))
    plain = read_area(path, "EPSG:3857", bounds, 256, 256, [1])
    over = read_area(path, "EPSG:3857", bounds, 256, 256, [1], nodata=0)
    assert (plain.data[0][plain.valid] == 0).any()
    assert not (over.data[0][over.valid] == 0).any()
    assert over.valid.sum() < plain.valid.sum()
    assert ((plain.data[0] != 0) & plain.valid == over.valid).all()


def test_handle_pool_reuses_and_reopens_on_mtime_change(tmp_path):
    reader.clear_handles()
    path = tmp_path / "tci copy.tif"
    shutil.copy(REAL_DATA / "titiler/TCI.tif", path)
    bounds = tuple(WEB.xy_bounds(WEB.tile(23.7, 32.0, 10)))
    read_area(path, "EPSG:3857", bounds, 256, 256, [1])
    first = reader.dataset(path)
    read_area(path, "EPSG:3857", bounds, 256, 256, [1])
    assert reader.dataset(path) is first
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    area = read_area(path, "EPSG:3857", bounds, 256, 256, [1])
    second = reader.dataset(path)
    assert second is not first and first.closed and not second.closed
    assert area.valid.any()
    reader.clear_handles()


def test_handle_pool_is_bounded():
    reader.clear_handles()
    path = REAL_DATA / "titiler/TCI.tif"
    for level in [None, 0, 1, 2, 3, 4]:
        reader.dataset(path, level)
    assert len(reader._pool()) == 6
    reader.clear_handles()
    assert len(reader._pool()) == 0


def test_two_threads_read_concurrently():
    path = REAL_DATA / "titiler/TCI.tif"
    tiles = [WEB.tile(23.7, 32.0, 10), WEB.tile(23.5, 31.8, 10), WEB.tile(23.7, 32.0, 8)]
    expected = [read_area(path, "EPSG:3857", tuple(WEB.xy_bounds(t)), 256, 256, [1, 2, 3]) for t in tiles]
    errors: list[BaseException] = []
    handles = []

    def work(offset: int) -> None:
        try:
            for i in range(15):
                k = (i + offset) % len(tiles)
                got = read_area(path, "EPSG:3857", tuple(WEB.xy_bounds(tiles[k])), 256, 256, [1, 2, 3])
                assert np.array_equal(got.data, expected[k].data)
                assert np.array_equal(got.valid, expected[k].valid)
            handles.append(reader.dataset(path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert handles[0] is not handles[1]  # one handle per thread


def test_rejects_bad_arguments():
    path = REAL_DATA / "titiler/TCI.tif"
    bounds = tuple(WEB.xy_bounds(WEB.tile(23.7, 32.0, 10)))
    with pytest.raises(ValueError):
        read_area(path, "EPSG:3857", bounds, 256, 256, [4])
    with pytest.raises(ValueError):
        read_area(path, "EPSG:3857", bounds, 256, 256, [1], resampling="lanczos-ish")
    with pytest.raises(ValueError):
        read_area(path, "EPSG:3857", bounds, 256, 256, [1], nodata=-1)  # not a uint8 value


@pytest.mark.parametrize("resampling", list(reader.RESAMPLINGS))
def test_all_resamplings_work(resampling):
    path = REAL_DATA / "titiler/cog_with_nan.tif"
    bounds = tuple(WEB.xy_bounds(WEB.tile(80.3, 22.1, 9)))
    area = read_area(path, "EPSG:3857", bounds, 256, 256, [1], resampling=resampling)
    assert area.valid.any() and not np.isnan(area.data[0][area.valid]).any()
