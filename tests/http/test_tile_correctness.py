"""Tiles and GetMap-like areas agree with GDAL's own warper, on every real raster.

For each raster of shared/data/real that ingests (all but the Mars one), in WebMercatorQuad and
WorldCRS84Quad, four tiles: at the native zoom (TileJSON's maxzoom) near the image's centre, at a
mid zoom, fully zoomed out (the whole image in one tile) and at the native zoom on a corner of the
image's bounds (its edge: nodata collars, rotated footprints, space beside a geostationary disk).
They are read as every rendering surface reads them (`layers.read_image_area`) and compared with a
reference:

- `rasterio.warp.reproject` (GDAL's warper), nearest neighbour, of the SAME overview level of the
  same ingested COG that the read reports in `Area.overview_level`, onto the tile's grid, the
  source's validity (internal mask or alpha band, the nodata tag on every band read, NaN) warped
  as an alpha band. Warping the same level makes an exact comparison possible; that the level is
  the right one — the coarsest overview still at least as fine as the output pixel at the tile's
  centre — is asserted on its own.
- GDAL's warper approximates the transform to within 1/8 source pixel (its default error
  threshold, in WarpedVRT and gdalwarp alike), so where a pixel centre maps within 1/8 pixel of a
  source pixel edge either neighbour is a correct nearest pick. Such pixels are "ambiguous"; the
  exact source position of every pixel centre is computed with pyproj.

Tolerances, the same for every dtype (uint8, uint16, int16, float32 — floats bit for bit: nearest
copies values) and every CRS (UTM north and south, polar stereographic, geostationary, Albers, LV95,
NAD83 and WGS84 geographic, Web Mercator, a rotated geotransform; onto EPSG:3857, EPSG:4326 and,
GetMap-like, EPSG:3031, geostationary and UTM grids):
- values and validity: EXACT — no pixel may differ — wherever the pick is unambiguous;
- ambiguous pixels: value and validity those of one of the (up to four) source pixels within 1/8
  pixel; the GDAL reference itself is held to the same rule (the premise of the comparison).
Measured over the file's ~400 comparisons: ambiguous pixels are up to 44 % of a tile (1 - (3/4)²,
when every neighbour differs; median 31 % at native zoom) and up to 98 % where the tile grid is
aligned with the source's so that centres fall on pixel edges (EPSG:3857 and 4326 sources); on them the read
holds another neighbour's value than the reference for up to 0.9 % of valid pixels at native zoom
(uint16 B01) and 9 % when downsampling (float32 LV95 DEM, 7.6 source pixels an output pixel; uint16
6 %, uint8 2.5 %, int16 0.9 %), and another validity for up to 0.02 % (11 pixels, polar sea-ice
edge). The read's picks lie up to 0.116 source pixel from the exact ones (polar and geostationary
grids): GDAL's 1/8 is the tightest honest band.

Rendered PNG tiles over HTTP (decoded with Pillow) and render_layer pictures are compared with the
reference rendered by the same render code, by the same rule.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
import requests
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.config import Settings
from cogbrowser.ingest.images import IngestRequest, ingest_file
from cogbrowser.layers import Layer, find_layer, read_image_area, render_layer
from cogbrowser.raster.reader import Area
from cogbrowser.raster.render import render
from cogbrowser.tile_grid import native_zoom as _native_zoom
from helpers import REAL_DATA, WARP_ERROR, real_rasters, serving, shared_catalog, source_position, transformer

WEB = morecantile.tms.get("WebMercatorQuad")
WGS = morecantile.tms.get("WorldCRS84Quad")
TMSS = {"WebMercatorQuad": WEB, "WorldCRS84Quad": WGS}
WEB_MERCATOR_MAX_LAT = 85.0511287798066  # WebMercatorQuad covers no more than this
TILE = 256

# An overview counts as "as fine as the output pixel" up to rounding of overview sizes (TCI's
# 1098 px / 31 level): the same 1 % the reader allows, plus 1 % for measuring the output pixel
# on a pixel grid here rather than with the reader's CRS step.
OVERVIEW_SLACK = 1.02

# Refused by ingest on purpose (test_ingest checks the refusal); nothing to serve.
NOT_ON_EARTH = {"rio-tiler/cog_hirise_mars.tif"}
SERVED = [p for p in real_rasters() if p.relative_to(REAL_DATA).as_posix() not in NOT_ON_EARTH]


def name_of(source: Path) -> str:
    return source.relative_to(REAL_DATA).as_posix()


# ---------------------------------------------------------------- one catalog for the module

@dataclass
class Catalog:
    settings: Settings
    db: Database
    rows: dict[str, ImageRecord]  # by source name (relative to REAL_DATA)
    refused: dict[str, str]  # source name -> the ingest's message

    def path(self, name: str) -> Path:
        return image_file(self.settings, self.rows[name])

    def layer(self, name: str) -> Layer:
        with self.db.connection() as conn:
            return find_layer(conn, self.rows[name].id)


@pytest.fixture(scope="module", autouse=True)
def gdal_environment():
    """One GDAL environment for the module (rasterio otherwise sets one up for every call)."""
    with rasterio.Env():
        yield


@pytest.fixture(scope="module")
def catalog(postgres, tmp_path_factory) -> Catalog:
    """Every real raster ingested once, into a catalog shared by the tests of this module."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("tile correctness")) as (settings, db):
        rows, refused = {}, {}
        for source in real_rasters():
            result = ingest_file(db, settings, IngestRequest(path=source))
            if result.status == "added":
                with db.connection() as conn:
                    rows[name_of(source)] = queries.get_image(conn, result.image_id)
            else:
                refused[name_of(source)] = result.message
        yield Catalog(settings, db, rows, refused)


@pytest.fixture(scope="module")
def server(catalog: Catalog) -> str:
    with serving(catalog.settings, catalog.db) as url:
        yield url


def test_every_real_raster_but_the_mars_one_is_served(catalog):
    assert set(catalog.refused) == NOT_ON_EARTH, catalog.refused
    assert sorted(catalog.rows) == sorted(name_of(p) for p in SERVED)


# ---------------------------------------------------------------- the reference

@dataclass(frozen=True)
class Level:
    """The bands of one overview level of a COG, in memory, with each pixel's validity."""

    data: np.ndarray  # (bands, H, W), float32 for float sources
    valid: np.ndarray  # (H, W)
    transform: Affine
    crs: CRS


@functools.lru_cache(maxsize=16)
def load_level(path: Path, level: int | None, bands: tuple[int, ...], nodata: float | None) -> Level:
    """A pixel is missing when the internal mask or alpha band says so, when every band read holds
    the nodata value (GDAL's unified source nodata: one black band of a dark-water pixel is data),
    or when any band read is NaN."""
    with rasterio.open(path, **({} if level is None else {"overview_level": level})) as src:
        float_source = np.dtype(src.dtypes[0]).kind == "f"
        data = src.read(list(bands), out_dtype=np.float32 if float_source else src.dtypes[0])
        flags = {f.name for f in src.mask_flag_enums[0]}
        valid = src.dataset_mask() > 0 if flags & {"per_dataset", "alpha"} else np.ones(data.shape[1:], bool)
        if nodata is not None and not math.isnan(nodata):
            valid &= ~np.all(data == np.asarray(nodata).astype(data.dtype), axis=0)
        if float_source:
            valid &= ~np.isnan(data).any(axis=0)
        return Level(data, valid, src.transform, src.crs)


@dataclass(frozen=True)
class Reference:
    """GDAL's warp of an area, and every answer a correct nearest pick may give there."""

    data: np.ndarray  # GDAL's warp of the values
    valid: np.ndarray  # GDAL's warp of the validity
    candidates: list[tuple[np.ndarray, np.ndarray]]  # (data, valid) of each correct nearest pick
    ambiguous: np.ndarray  # pixels whose candidates differ
    nearest: tuple[np.ndarray, np.ndarray]  # (row, col) of the source pixel under each centre; -1: none


def reference(level: Level, crs: CRS, bounds, width: int, height: int) -> Reference:
    """GDAL's warp of the level onto the grid, its validity as an alpha band (GDAL's warper ignores
    a source nodata value once it has a source alpha band, so nodata is folded into the alpha)."""
    bands = level.data.shape[0]
    alpha = np.where(level.valid, 255, 0).astype(level.data.dtype)[None]
    out = np.zeros((bands + 1, height, width), level.data.dtype)
    reproject(np.concatenate([level.data, alpha]), out, src_transform=level.transform, src_crs=level.crs,
              dst_transform=from_bounds(*bounds, width, height), dst_crs=crs,
              src_alpha=bands + 1, dst_alpha=bands + 1, resampling=Resampling.nearest)
    ref_valid = out[-1] > 0
    if level.data.dtype.kind == "f":
        ref_valid &= ~np.isnan(out[:-1]).any(axis=0)

    col, row = source_position(level.transform, level.crs, crs, bounds, width, height)
    h, w = level.valid.shape

    def pick(ci: np.ndarray, ri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inside = (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h)
        ci, ri = np.where(inside, ci, 0), np.where(inside, ri, 0)
        return level.data[:, ri, ci], level.valid[ri, ci] & inside

    candidates = [pick(np.floor(col + dc).astype(np.int64), np.floor(row + dr).astype(np.int64))
                  for dc in (-WARP_ERROR, WARP_ERROR) for dr in (-WARP_ERROR, WARP_ERROR)]
    first_data, first_valid = candidates[0]
    ambiguous = np.zeros((height, width), bool)
    for data, valid in candidates[1:]:
        ambiguous |= (valid != first_valid) | ~same_values(data, first_data)
    ri, ci = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
    inside = (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h)
    nearest = (np.where(inside, ri, -1), np.where(inside, ci, -1))
    return Reference(out[:-1], ref_valid, candidates, ambiguous, nearest)


def same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W): every band equal (NaN equals NaN)."""
    return np.all((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b, axis=0)


def unexplained(data: np.ndarray, valid: np.ndarray, ref: Reference) -> np.ndarray:
    """Pixels that are no correct nearest pick: whose validity is not that of any candidate, or
    whose valid value is not any valid candidate's."""
    valid_ok = np.zeros(valid.shape, bool)
    data_ok = ~valid
    for option_data, option_valid in ref.candidates:
        valid_ok |= valid == option_valid
        data_ok |= option_valid & same_values(data, option_data)
    return ~(valid_ok & data_ok)


def where(mask: np.ndarray) -> str:
    rows, cols = np.nonzero(mask)
    return f"{mask.sum()} px, e.g. (row, col) {list(zip(rows[:3].tolist(), cols[:3].tolist()))}"


def check_against_gdal(area: Area, ref: Reference) -> None:
    """The read equals GDAL's warp on every unambiguous pixel and is a correct nearest pick on the
    others; the same holds for GDAL's warp itself (the premise of the comparison)."""
    assert area.data.shape == ref.data.shape and area.data.dtype == ref.data.dtype
    gdal_off = unexplained(ref.data, ref.valid, ref)
    assert not gdal_off.any(), f"the GDAL reference itself is not a nearest pick within 1/8 px: {where(gdal_off)}"
    settled = ~ref.ambiguous
    validity = (area.valid != ref.valid) & settled
    assert not validity.any(), f"validity differs from GDAL's on unambiguous pixels: {where(validity)}"
    values = area.valid & ref.valid & settled & ~same_values(area.data, ref.data)
    assert not values.any(), f"values differ from GDAL's on unambiguous pixels: {where(values)}"
    off = unexplained(area.data, area.valid, ref)
    assert not off.any(), f"ambiguous pixels not taken from a source pixel within 1/8 px: {where(off)}"


def overview_factors(path: Path) -> list[float]:
    """The real (size-based) factor of each overview level."""
    with rasterio.open(path) as src:
        return [src.width / math.ceil(src.width / f) for f in src.overviews(1)]


def output_pixel_in_source_pixels(path: Path, crs: CRS, bounds) -> float | None:
    """The tile's centre pixel measured in full-resolution source pixels: the finer of its two
    sides (so the chosen overview is not coarser than the output in either direction), or None
    where the tile's centre is off the source projection (space beside a geostationary disk)."""
    left, bottom, right, top = bounds
    x, y, step_x, step_y = (left + right) / 2, (bottom + top) / 2, (right - left) / TILE, (top - bottom) / TILE
    with rasterio.open(path) as src:
        sx, sy = transformer(crs.to_wkt(), src.crs.to_wkt()).transform(
            [x, x + step_x, x], [y, y, y - step_y], errcheck=False)
        with np.errstate(invalid="ignore"):  # inf (off the projection) times a zero term of the transform
            col, row = ~src.transform * (np.asarray(sx), np.asarray(sy))
    if not (np.isfinite(col).all() and np.isfinite(row).all()):
        return None
    return float(min(math.hypot(col[1] - col[0], row[1] - row[0]), math.hypot(col[2] - col[0], row[2] - row[0])))


def check_overview_choice(path: Path, crs: CRS, bounds, level: int | None) -> None:
    """The level read is the coarsest overview still at least as fine as the output pixel: not
    coarser (the tile would be blurred), not finer (it would be needlessly slow)."""
    target = output_pixel_in_source_pixels(path, crs, bounds)
    if target is None:
        return
    factors = overview_factors(path)
    fine_enough = [i for i, f in enumerate(factors) if f <= target * OVERVIEW_SLACK]
    surely_fine = [i for i, f in enumerate(factors) if f <= target / OVERVIEW_SLACK]
    chosen = -1 if level is None else level
    shown = f"output pixel = {target:.2f} source px, overview factors {[round(f, 2) for f in factors]}"
    assert chosen <= max(fine_enough, default=-1), f"read level {level}, coarser than the output: {shown}"
    assert chosen >= max(surely_fine, default=-1), f"read level {level}, finer than needed: {shown}"


# ---------------------------------------------------------------- choosing tiles

def bands_read(layer: Layer) -> tuple[int, ...]:
    return tuple(layer.spec({}).source_bands)


@functools.cache
def anchor(path: Path, tms_name: str) -> tuple[float, float] | None:
    """(lon, lat) of the valid pixel nearest the image's centre that lies in the TMS's area
    (WebMercatorQuad stops at 85.05°: the sea-ice grid's centre, the South Pole, is outside)."""
    with rasterio.open(path) as base:
        coarsest = len(base.overviews(1)) - 1 if base.overviews(1) else None
        nodata = base.nodata
    level = load_level(path, coarsest, (1,), nodata)
    rows, cols = np.nonzero(level.valid)
    xs, ys = level.transform * (cols + 0.5, rows + 0.5)
    lon, lat = transformer(level.crs.to_wkt(), "EPSG:4326").transform(xs, ys, errcheck=False)
    lon, lat = np.asarray(lon), np.asarray(lat)
    usable = np.isfinite(lon) & np.isfinite(lat)
    if tms_name == "WebMercatorQuad":
        usable &= np.abs(lat) < WEB_MERCATOR_MAX_LAT
    if not usable.any():
        return None
    h, w = level.valid.shape
    distance = np.where(usable, (rows + 0.5 - h / 2) ** 2 + (cols + 0.5 - w / 2) ** 2, np.inf)
    i = int(np.argmin(distance))
    return float(lon[i]), float(lat[i])


def whole_image_zoom(row: ImageRecord, tms: morecantile.TileMatrixSet, native: int) -> int:
    """The finest zoom at which one tile holds the whole image (its WGS84 box). An image across the
    antimeridian fits one tile only where a tile spans the whole world (WebMercatorQuad 0); where
    none fits (WorldCRS84Quad 0 has two tiles), the TMS's first zoom."""
    west, south, east, north = row.bbox
    if tms is WEB:
        south, north = max(south, -WEB_MERCATOR_MAX_LAT + 1e-9), min(north, WEB_MERCATOR_MAX_LAT - 1e-9)
    for z in range(native, tms.minzoom - 1, -1):
        if east > 180:
            if tms.matrix(z).matrixWidth == 1:
                return z
            continue
        a, b = tms.tile(west + 1e-9, north, z), tms.tile(east - 1e-9, south, z)
        if (a.x, a.y) == (b.x, b.y):
            return z
    return tms.minzoom


@functools.cache
def corner(path: Path, tms_name: str) -> tuple[float, float] | None:
    """(lon, lat) just inside a corner of the image's bounds (else the middle of an edge) that is
    on the Earth and in the TMS: tiles there hold the image's edge, where nodata collars, masks
    and the footprints of rotated, polar and geostationary images must show as transparency."""
    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    inside = [(0.03, 0.03), (0.97, 0.03), (0.03, 0.97), (0.97, 0.97),
              (0.03, 0.5), (0.97, 0.5), (0.5, 0.03), (0.5, 0.97)]
    xs = [left + fx * (right - left) for fx, _ in inside]
    ys = [top - fy * (top - bottom) for _, fy in inside]
    lons, lats = transformer(crs.to_wkt(), "EPSG:4326").transform(xs, ys, errcheck=False)
    for lon, lat in zip(lons, lats):
        if math.isfinite(lon) and math.isfinite(lat) and (
                tms_name != "WebMercatorQuad" or abs(lat) < WEB_MERCATOR_MAX_LAT):
            return lon, lat
    return None


# Native zoom near the centre, mid zoom and whole image (tiles that show data), and native zoom
# at a corner of the image's bounds (its edge; or space, for a geostationary disk).
ZOOMS = ("native", "mid", "whole image", "corner")


def pick_tile(catalog: Catalog, name: str, tms_name: str, zoom: str) -> morecantile.Tile:
    row, tms, path = catalog.rows[name], TMSS[tms_name], catalog.path(name)
    point = anchor(path, tms_name)
    assert point is not None, "every served image has a valid pixel inside both TMSs"
    native = _native_zoom(row, tms)
    if zoom == "corner":
        return tms.tile(*(corner(path, tms_name) or point), native)
    whole = whole_image_zoom(row, tms, native)
    z = {"native": native, "mid": (native + whole) // 2, "whole image": whole}[zoom]
    return tms.tile(*point, z)


def read_and_reference(catalog: Catalog, name: str, crs: CRS, bounds, width: int = TILE,
                       height: int = TILE) -> tuple[Area, Reference, Layer]:
    layer = catalog.layer(name)
    row, path = catalog.rows[name], catalog.path(name)
    spec = layer.spec({})
    area = read_image_area(row, path, spec, crs, bounds, width, height)
    level = load_level(path, area.overview_level, tuple(spec.source_bands), row.nodata)
    return area, reference(level, crs, bounds, width, height), layer


# ---------------------------------------------------------------- every raster, both TMSs, three zooms

@pytest.mark.parametrize("zoom", ZOOMS)
@pytest.mark.parametrize("tms_name", list(TMSS))
@pytest.mark.parametrize("source", SERVED, ids=name_of)
def test_tile_matches_gdal_warper(catalog, source, tms_name, zoom):
    name = name_of(source)
    tms = TMSS[tms_name]
    tile = pick_tile(catalog, name, tms_name, zoom)
    bounds = tuple(tms.xy_bounds(tile))
    area, ref, _ = read_and_reference(catalog, name, tms.rasterio_crs, bounds)
    if zoom != "corner":
        assert ref.valid.any() and area.valid.any(), f"tile {tile} near the image's centre shows it"
    check_against_gdal(area, ref)

    check_overview_choice(catalog.path(name), tms.rasterio_crs, bounds, area.overview_level)


POLAR_GRID = "GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif"


@pytest.mark.parametrize("tms_name", list(TMSS))
@pytest.mark.parametrize("source", SERVED, ids=name_of)
def test_maxzoom_reaches_the_images_resolution(catalog, source, tms_name):
    """TileJSON's maxzoom (the native zoom) is the zoom nearest the image's resolution where the
    image has data near its centre: its tile pixels are at most √2 source pixels, or a map could
    never show the image's full detail."""
    name, tms = name_of(source), TMSS[tms_name]
    zoom = _native_zoom(catalog.rows[name], tms)
    tile = tms.tile(*anchor(catalog.path(name), tms_name), zoom)
    size = output_pixel_in_source_pixels(catalog.path(name), tms.rasterio_crs, tuple(tms.xy_bounds(tile)))
    assert size <= math.sqrt(2) * OVERVIEW_SLACK, f"zoom {zoom} tiles have pixels of {size:.1f} source pixels"


# ---------------------------------------------------------------- rendered tiles over HTTP

HTTP_SUBSET = [  # every dtype, validity kind and kind of CRS once
    "titiler/TCI.tif",  # uint8, UTM, nodata 0 collar
    "rio-tiler/cog_dateline.tif",  # uint16, UTM 60N across the antimeridian
    "rioxarray/cog.tif",  # int16, Albers, nodata -9999
    "rio-tiler/cog_nodata_nan.tif",  # float32, nodata 0 and NaN
    "GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif",  # float32, polar stereographic, untagged NaN
    "rio-cogeo/image_geos.tif",  # geostationary, internal mask and nodata 0
    "rio-tiler/pix4d_alpha_nodata.tif",  # alpha band, southern UTM
]


def fetch_rgba(url: str, params: dict | None = None) -> np.ndarray:
    response = requests.get(url, params=params, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    return np.moveaxis(np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA")), -1, 0)


def check_rendering(rgba: np.ndarray, ref: Reference, layer: Layer) -> None:
    """A picture equals the reference rendered by the same render code on every unambiguous pixel,
    and one of the correct nearest picks rendered on the others."""
    spec = layer.spec({})
    expected = render(ref.data, ref.valid, spec, layer.image.bands)
    assert rgba.shape == expected.shape
    settled = ~ref.ambiguous
    off = settled & np.any(rgba != expected, axis=0)
    assert not off.any(), f"picture differs from the GDAL reference rendered: {where(off)}"
    explained = settled.copy()
    for data, valid in ref.candidates:
        explained |= np.all(rgba == render(data, valid, spec, layer.image.bands), axis=0)
    assert explained.all(), f"ambiguous pixels rendered from no nearby source pixel: {where(~explained)}"


@pytest.mark.parametrize("zoom", ("native", "corner"))
@pytest.mark.parametrize("tms_name", list(TMSS))
@pytest.mark.parametrize("name", HTTP_SUBSET)
def test_png_tile_over_http_matches_gdal_reference(catalog, server, name, tms_name, zoom):
    tms = TMSS[tms_name]
    tile = pick_tile(catalog, name, tms_name, zoom)
    area, ref, layer = read_and_reference(catalog, name, tms.rasterio_crs, tuple(tms.xy_bounds(tile)))
    rgba = fetch_rgba(f"{server}/tiles/{catalog.rows[name].id}/{tms_name}/{tile.z}/{tile.x}/{tile.y}.png")
    check_rendering(rgba, ref, layer)
    if zoom == "native":
        assert (rgba[3] == 255).any(), "the tile shows the image"


# ---------------------------------------------------------------- the hard cases, by name

DATELINE = "rio-tiler/cog_dateline.tif"


@pytest.mark.parametrize("tms_name", list(TMSS))
def test_antimeridian_image_shows_on_both_sides_of_180(catalog, server, tms_name):
    row, tms = catalog.rows[DATELINE], TMSS[tms_name]
    west, south, east, north = row.bbox
    assert west < 180 < east, "the image crosses the antimeridian"
    zoom = _native_zoom(row, tms)
    for lon in ((west + 180) / 2, (180 + east) / 2 - 360):
        tile = tms.tile(lon, (south + north) / 2, zoom)
        area, ref, layer = read_and_reference(catalog, DATELINE, tms.rasterio_crs, tuple(tms.xy_bounds(tile)))
        check_against_gdal(area, ref)
        assert area.valid.mean() > 0.5, f"the tile at {lon:.2f}° shows the image"
        rgba = fetch_rgba(f"{server}/tiles/{row.id}/{tms_name}/{tile.z}/{tile.x}/{tile.y}.png")
        check_rendering(rgba, ref, layer)

    # Zoomed out to the whole world, the image shows at both ends of the map.
    if tms is WEB:
        area, ref, _ = read_and_reference(catalog, DATELINE, tms.rasterio_crs, tuple(tms.xy_bounds(0, 0, 0)))
        check_against_gdal(area, ref)
        assert area.valid[:, 0].any() and area.valid[:, -1].any()
    else:  # WorldCRS84Quad's first zoom: the western and the eastern hemisphere
        for x in (0, 1):
            area, ref, _ = read_and_reference(catalog, DATELINE, tms.rasterio_crs, tuple(tms.xy_bounds(x, 0, 0)))
            check_against_gdal(area, ref)
            assert area.valid.any(), f"hemisphere {x} shows the image"


# WorldCRS84Quad only: WebMercatorQuad stops at 85.05°S, the pole is not on its map.
@pytest.mark.parametrize("zoom", (0, 1, 2))
def test_polar_tiles_over_the_south_pole_show_the_sea_ice(catalog, zoom):
    """Every tile of the row that touches the South Pole shows the sea-ice ring at every longitude,
    and the continent under the pole (NaN in the grid, no nodata tag) stays transparent."""
    matrix = WGS.matrix(zoom)
    for x in range(matrix.matrixWidth):
        bounds = tuple(WGS.xy_bounds(x, matrix.matrixHeight - 1, zoom))
        assert bounds[1] == -90
        area, ref, _ = read_and_reference(catalog, POLAR_GRID, WGS.rasterio_crs, bounds)
        check_against_gdal(area, ref)
        columns = area.valid.any(axis=0).mean()
        assert columns >= 0.95, f"tile {x}: the sea ice shows in only {columns:.0%} of its longitudes"
        assert not area.valid[-2:].any(), f"tile {x}: the continent at the pole is not transparent"


GEOSTATIONARY = ["rasterio/goes.tif", "rio-cogeo/image_geos.tif"]


@pytest.mark.parametrize("tms_name, zoom", [("WebMercatorQuad", 2), ("WorldCRS84Quad", 1)])
@pytest.mark.parametrize("name", GEOSTATIONARY)
def test_geostationary_disk_shows_and_space_is_transparent(catalog, name, tms_name, zoom):
    """Over the whole map: no data beyond the limb (no smear into space), tiles the satellite cannot
    see are wholly transparent, and GDAL's warper agrees everywhere."""
    tms, path = TMSS[tms_name], catalog.path(name)
    with rasterio.open(path) as src:
        transform, crs, width, height = src.transform, src.crs, src.width, src.height
    matrix, blind = tms.matrix(zoom), 0
    for y in range(matrix.matrixHeight):
        for x in range(matrix.matrixWidth):
            bounds = tuple(tms.xy_bounds(x, y, zoom))
            area, ref, _ = read_and_reference(catalog, name, tms.rasterio_crs, bounds)
            check_against_gdal(area, ref)
            col, row = source_position(transform, crs, tms.rasterio_crs, bounds, TILE, TILE)
            seen = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            assert not (area.valid & ~seen).any(), f"tile {x},{y}: data where the satellite sees no Earth"
            blind += not seen.any()
    assert blind > 0, "some tiles of the map are beyond the satellite's view"


@pytest.mark.parametrize("name", GEOSTATIONARY)
def test_geostationary_disk_has_data_around_the_sub_satellite_point(catalog, server, name):
    row = catalog.rows[name]
    lon0 = CRS.from_wkt(row.crs).to_dict()["lon_0"]
    # (lon, lat, share of the tile on the disk); Himawari (140.7°E) sees across the antimeridian,
    # where its 900-pixel-wide crop of the disk ends 22° beyond it: half of that tile.
    points = [(lon0, 0, 0.95), (lon0 - 15, 0, 0.95), (lon0 + 15, 0, 0.95), (lon0, 15, 0.95), (lon0, -15, 0.95)]
    if lon0 > 120:
        points += [(179.9, 0, 0.95), (-179.9, 0, 0.5)]
    zoom = _native_zoom(row, WEB)
    for lon, lat, share in points:
        tile = WEB.tile(lon, lat, zoom)
        area, ref, layer = read_and_reference(catalog, name, WEB.rasterio_crs, tuple(WEB.xy_bounds(tile)))
        check_against_gdal(area, ref)
        assert area.valid.mean() > share, f"tile at {lon}°, {lat}° is on the disk"
        rgba = fetch_rgba(f"{server}/tiles/{row.id}/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png")
        check_rendering(rgba, ref, layer)


MISSING = [  # (file, what marks its missing pixels, TMS)
    ("titiler/cog_with_nan.tif", "NaN", "WebMercatorQuad"),  # float32, NaN tagged as nodata
    (POLAR_GRID, "NaN", "WorldCRS84Quad"),  # float32, NaN without a nodata tag; its centre is the pole
    ("rio-tiler/cog_nodata_nan.tif", "NaN", "WebMercatorQuad"),  # float32 with nodata 0 and NaN
    ("rio-tiler/cog_nodata_nan.tif", "nodata", "WebMercatorQuad"),
    ("GeoTIFF-test-data/GA4886_VanderfordGlacier_2022_EGM2008_64m-epsg3031.cog", "nodata",
     "WorldCRS84Quad"),  # float32 FLT_MAX
    ("rioxarray/cog.tif", "nodata", "WebMercatorQuad"),  # int16 -9999
    ("titiler/cog1.tif", "nodata", "WorldCRS84Quad"),  # uint16 0
    ("titiler/TCI.tif", "nodata", "WebMercatorQuad"),  # uint8 0
    ("rio-tiler/pix4d_alpha_nodata.tif", "mask", "WebMercatorQuad"),  # alpha band
    ("rasterio/goes.tif", "mask", "WorldCRS84Quad"),  # internal mask
]


def window_fraction(mask: np.ndarray, radius: int) -> np.ndarray:
    """The fraction of each pixel's (2 radius + 1)² window that is in `mask` (outside counts out)."""
    k = 2 * radius + 1
    sums = np.pad(np.pad(mask, radius).astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (sums[k:, k:] - sums[:-k, k:] - sums[k:, :-k] + sums[:-k, :-k]) / k**2


def missing(path: Path, level: int | None, bands: tuple[int, ...], nodata: float | None, kind: str) -> np.ndarray:
    """(H, W): the source pixels that `kind` marks missing."""
    with rasterio.open(path, **({} if level is None else {"overview_level": level})) as src:
        if kind == "mask":
            return src.dataset_mask() == 0
        data = src.read(list(bands))
        if kind == "NaN":
            return np.isnan(data).any(axis=0)
        return np.all(data == np.asarray(nodata).astype(data.dtype), axis=0)


@pytest.mark.parametrize("name, kind, tms_name", MISSING, ids=[f"{n}-{k}" for n, k, _ in MISSING])
def test_missing_pixels_are_transparent_over_http(catalog, server, name, kind, tms_name):
    """The native tile around the missing pixel nearest the image's centre: transparent exactly where
    the source pixel is missing, opaque where it holds data."""
    row, tms, path = catalog.rows[name], TMSS[tms_name], catalog.path(name)
    bands = bands_read(catalog.layer(name))
    # The edge of a missing area nearest the image's centre, where a 65-pixel window is at least
    # 30 % missing and 30 % data (not a lone missing pixel); else any missing pixel (the four NaNs
    # of cog_nodata_nan).
    gone = missing(path, None, bands, row.nodata, kind)
    data = load_level(path, None, bands, row.nodata).valid
    edge = (window_fraction(gone, 32) >= 0.3) & (window_fraction(data, 32) >= 0.3) & gone
    with rasterio.open(path) as src:
        rows, cols = np.nonzero(edge if edge.any() else gone)
        order = np.argsort((rows + 0.5 - src.height / 2) ** 2 + (cols + 0.5 - src.width / 2) ** 2)[:2000]
        xs, ys = src.transform * (cols[order] + 0.5, rows[order] + 0.5)
        lons, lats = transformer(src.crs.to_wkt(), "EPSG:4326").transform(xs, ys, errcheck=False)
    usable = np.isfinite(lons) & (np.abs(lats) < (WEB_MERCATOR_MAX_LAT if tms is WEB else 90))
    assert usable.any(), f"the file has {kind} pixels"
    i = int(np.argmax(usable))
    tile = tms.tile(float(lons[i]), float(lats[i]), _native_zoom(row, tms))
    area, ref, layer = read_and_reference(catalog, name, tms.rasterio_crs, tuple(tms.xy_bounds(tile)))
    check_against_gdal(area, ref)
    rgba = fetch_rgba(f"{server}/tiles/{row.id}/{tms_name}/{tile.z}/{tile.x}/{tile.y}.png")
    check_rendering(rgba, ref, layer)

    gone = missing(path, area.overview_level, bands, row.nodata, kind)
    r, c = ref.nearest
    under = np.where(r >= 0, gone[r, c], False) & ~ref.ambiguous
    holds_data = ref.valid & ~ref.ambiguous
    assert under.any() and holds_data.any(), "the tile shows both missing pixels and data"
    assert (rgba[3][under] == 0).all(), f"{kind} pixels are not transparent"
    assert (rgba[3][holds_data] == 255).all(), "pixels with data are not opaque"


# ---------------------------------------------------------------- GetMap-like areas

GETMAP = [  # (file, CRS of the request or None for the image's own, bounds: None for the image's, size)
    (POLAR_GRID, None, None, (400, 420)),  # the whole Antarctic grid in its own polar stereographic CRS
    ("GeoTIFF-test-data/GA4886_VanderfordGlacier_2022_EGM2008_64m-epsg3031.cog", "EPSG:4326", None, (512, 300)),
    ("rasterio/goes.tif", "EPSG:4326", (-165.0, -80.0, 15.0, 80.0), (600, 533)),  # the disk and space
    ("rio-cogeo/image_geos.tif", None, None, (300, 366)),  # its own geostationary CRS, mask and nodata
    ("rioxarray/cog.tif", "EPSG:3857", None, (300, 200)),  # int16 Albers, not square
    (DATELINE, None, None, (333, 277)),  # its own UTM grid, pixels not a multiple of the source's
    ("GeoTIFF-test-data/umbra_mount_yasur.tiff", None, None, (256, 256)),  # rotated geotransform
]


def getmap_area(row: ImageRecord, crs: str | None, bounds) -> tuple[CRS, tuple[float, ...]]:
    """The CRS and bounds of a GETMAP case: by default the image's own, or its box in `crs`."""
    own = CRS.from_wkt(row.crs)
    crs = own if crs is None else CRS.from_user_input(crs)
    if bounds is None:
        bounds = row.native_bounds if crs == own else transform_bounds("EPSG:4326", crs, *row.bbox)
    return crs, tuple(bounds)


@pytest.mark.parametrize("name, crs, bounds, size", GETMAP, ids=[f"{n}-{c or 'own CRS'}" for n, c, _, _ in GETMAP])
def test_getmap_like_area_matches_gdal_warper(catalog, name, crs, bounds, size):
    """What WMS GetMap and exports draw — any CRS, any box, any size, through render_layer — agrees
    with GDAL's warper like tiles do."""
    row, path, layer = catalog.rows[name], catalog.path(name), catalog.layer(name)
    crs, bounds = getmap_area(row, crs, bounds)
    width, height = size
    area, ref, _ = read_and_reference(catalog, name, crs, bounds, width, height)
    assert area.valid.any()
    check_against_gdal(area, ref)
    check_rendering(render_layer([row], [path], layer.spec({}), crs, bounds, width, height), ref, layer)


# Himawari's geostationary CRS has no EPSG code to ask a WMS for.
WMS_CASES = [case for case in GETMAP if case[0] != "rio-cogeo/image_geos.tif"]


@pytest.mark.parametrize("name, crs, bounds, size", WMS_CASES,
                         ids=[f"{n}-{c or 'own CRS'}" for n, c, _, _ in WMS_CASES])
def test_wms_getmap_matches_gdal_warper(catalog, server, name, crs, bounds, size):
    """WMS 1.1.1 GetMap (x, y axis order in every SRS) draws what GDAL's warper does."""
    row = catalog.rows[name]
    crs, bounds = getmap_area(row, crs, bounds)
    width, height = size
    area, ref, layer = read_and_reference(catalog, name, crs, bounds, width, height)
    rgba = fetch_rgba(f"{server}/wms", {
        "SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetMap", "LAYERS": row.id, "STYLES": "",
        "SRS": f"EPSG:{crs.to_epsg()}", "BBOX": ",".join(repr(float(v)) for v in bounds),
        "WIDTH": width, "HEIGHT": height, "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
    check_rendering(rgba, ref, layer)
