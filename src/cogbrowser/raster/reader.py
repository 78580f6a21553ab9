"""Reading an area of an image: "this area of this image, at this size, in this CRS".

Every rendering surface (XYZ/WMTS tiles, WMS GetMap, bbox exports) reduces to this one operation, so
the things a COG reader must get right live here once: choosing the overview (a zoomed-out tile
warped from full resolution costs ~0.5 s, from the right overview ~4 ms), honouring every way a
file marks missing pixels (nodata tag, NaN, internal mask, alpha band), and keeping dataset handles
open between tiles (opening costs ~1.4 ms a tile). Knows nothing of HTTP.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject
from rasterio.windows import Window

from cogbrowser.errors import StoreUnavailable, first_line
from cogbrowser.raster.remote import REMOTE_GDAL_OPTIONS, is_remote
from cogbrowser.storage.stores import configure_gdal

__all__ = ["Area", "RESAMPLINGS", "read_area", "read_point", "dataset", "transformer", "pixel_size_in",
           "clear_handles",
           "configure_block_cache",
           "MAX_HANDLES_PER_THREAD"]

RESAMPLINGS = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
    "mode": Resampling.mode,
}

MAX_HANDLES_PER_THREAD = 32

# COG-friendly GDAL options, entered when a dataset is opened: no directory listing on open (no
# sidecar files to find in our data dir). GDAL_CACHEMAX is deliberately NOT set per read: changing
# it resets GDAL's block cache, which made a demo Sentinel-2 tile 4-16x slower (12-48 ms instead of
# 3 ms). A server sizes the cache once, with configure_block_cache().
GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
Source = Path | str  # a local file, or a GDAL virtual path: /vsiswift/..., /vsis3/..., /vsicurl/https://...
DEFAULT_BLOCK_CACHE_MIB = 256

# An overview may be up to this much coarser than the output pixel and still count as "as fine";
# absorbs rounding of overview sizes (e.g. TCI's 1098 px / 31 level) so exact zooms are not missed.
_OVERVIEW_SLACK = 1.01


@dataclass(frozen=True)
class Area:
    """Pixels of an area read onto a requested grid.

    `data` is (bands, height, width) in the source dtype (float32 for float sources); its values
    where `valid` is False are unspecified (0 or the nodata value). `valid` is (height, width).
    `overview_level` is the overview that was read (None: full resolution) — kept so callers and
    tests can see that zoomed-out reads did not touch full-resolution data.
    """

    data: np.ndarray
    valid: np.ndarray
    overview_level: int | None


# ---------------------------------------------------------------- GDAL environment

_local = threading.local()


def configure_block_cache(mib: int = DEFAULT_BLOCK_CACHE_MIB) -> None:
    """Size GDAL's block cache, shared by all threads, once for the process (a server at start-up).

    GDAL's default is 5 % of RAM (1.2 GiB on a 24 GiB machine), which a long-running server fills
    and keeps: resident memory kept growing for thousands of tiles. A bounded cache still lets
    neighbouring tiles reuse decoded 512x512 blocks (GDAL_CACHEMAX=0 halved throughput).
    """
    rasterio.env.set_gdal_config("GDAL_CACHEMAX", int(mib) * 1024 * 1024)


def _thread_env() -> None:
    """Keep a rasterio environment active for the life of the calling thread.

    Without one, every rasterio call (reproject, WarpedVRT) builds and tears down a default
    environment, which searches the disk for GDAL/PROJ data each time: ~10 % of a tile's time in a
    profile of the server. Threads that read tiles are long-lived, so one environment each is kept.
    It sets no options, so other work on the same thread (an ingest) sees GDAL's defaults.
    """
    if getattr(_local, "env", None) is None:
        env = rasterio.Env()
        env.__enter__()
        _local.env = env


def transformer(src_crs: CRS | str, dst_crs: CRS | str) -> Transformer:
    """A PROJ transformer between two CRSs (objects, WKT or "EPSG:n"; x/y order), cached per thread.

    Building one costs ~2 ms of PROJ database lookups, and rasterio's transform functions build one
    on every call (0.1-0.3 ms each, several a tile); pyproj transformers must not be shared by threads.
    """
    cache = getattr(_local, "transformers", None)
    if cache is None:
        cache = _local.transformers = {}
    key = (_wkt(src_crs), _wkt(dst_crs))
    found = cache.get(key)
    if found is None:
        if len(cache) >= MAX_HANDLES_PER_THREAD:
            cache.clear()
        found = cache[key] = Transformer.from_crs(key[0], key[1], always_xy=True)
    return found


def _wkt(crs: CRS | str) -> str:
    """The WKT of a CRS object, remembered per object and thread: exporting it costs ~9 µs, and a
    map asks for three transformers (0.05 ms a map). The entry holds the object, so its id is not
    reused by another while it is there."""
    if isinstance(crs, str):
        return crs
    known = getattr(_local, "wkts", None)
    if known is None:
        known = _local.wkts = {}
    found = known.get(id(crs))
    if found is None or found[0] is not crs:
        if len(known) >= 4 * MAX_HANDLES_PER_THREAD:
            known.clear()
        found = known[id(crs)] = (crs, crs.to_wkt())
    return found[1]


def _transform_points(src_crs: CRS, dst_crs: CRS, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """Points moved between CRSs; inf where a point has no place in `dst_crs`."""
    tx, ty = transformer(src_crs, dst_crs).transform(np.asarray(xs, float), np.asarray(ys, float), errcheck=False)
    return np.asarray(tx), np.asarray(ty)


# ---------------------------------------------------------------- handle pool


def _pool() -> OrderedDict:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = OrderedDict()
    return pool


def dataset(path: Source, overview_level: int | None = None) -> rasterio.io.DatasetReader:
    """The open dataset for `path` at `overview_level`, from this thread's LRU of handles.

    Per thread because a GDAL dataset handle must never be used by two threads at once; keyed by
    the file's mtime so a file replaced on disk is reopened rather than read through a stale handle.
    An object is not stat'ed (a round trip a tile): a managed object's name carries its checksum,
    so it never changes under its name. An object that is gone raises FileNotFoundError, as a file.
    """
    _thread_env()
    path = os.fspath(path)
    mtime = 0 if is_remote(path) else Path(path).stat().st_mtime_ns
    key = (path, overview_level, mtime)
    pool = _pool()
    handle = pool.get(key)
    if handle is not None and not handle.closed:
        pool.move_to_end(key)
        return handle
    # Drop handles of older versions of the same file at the same level.
    for stale in [k for k in pool if k[0] == path and k[1] == overview_level]:
        pool.pop(stale).close()
    if mtime == 0:
        _configure_remote_reads()
    with rasterio.Env(**GDAL_OPTIONS):
        try:
            handle = rasterio.open(path, **({} if overview_level is None else {"overview_level": overview_level}))
        except rasterio.errors.RasterioIOError as exc:
            if mtime == 0 and _is_not_found(exc):
                raise FileNotFoundError(path) from exc
            if mtime == 0:
                raise StoreUnavailable(f"{path} cannot be read: {first_line(exc)}") from exc
            raise
    pool[key] = handle
    while len(pool) > MAX_HANDLES_PER_THREAD:
        _, oldest = pool.popitem(last=False)
        oldest.close()
    return handle


_remote_configured = threading.Event()


def _configure_remote_reads() -> None:
    """raster/remote.py's options, for the whole process, before its first remote COG is opened
    (GDAL reads most of them per request, after the open, and its range cache's size once: an Env
    around the open would not do); and the store credentials GDAL names differently from the
    clients, which opening a store would give it only if a store was opened first."""
    if not _remote_configured.is_set():
        configure_gdal()
        for name, value in REMOTE_GDAL_OPTIONS.items():
            rasterio.env.set_gdal_config(name, value)
        _remote_configured.set()


def _is_not_found(exc: Exception) -> bool:
    text = str(exc)
    return "No such file" in text or "does not exist" in text or " 404" in text


def clear_handles() -> None:
    """Close this thread's open handles (e.g. before deleting files, or in tests)."""
    pool = _pool()
    while pool:
        _, handle = pool.popitem()
        handle.close()


# ---------------------------------------------------------------- reading

def read_area(
    path: Source,
    dst_crs: CRS | str,
    dst_bounds: tuple[float, float, float, float],
    width: int,
    height: int,
    bands: Sequence[int],
    resampling: str = "nearest",
    nodata: float | None = None,
) -> Area:
    """Read `bands` (1-based) of the image at `path` onto the grid of `dst_bounds` in `dst_crs`.

    Reads from the coarsest overview still at least as fine as the output pixel (GDAL's -ovr AUTO),
    warps with `resampling`, and reports validity from the source's nodata (or the `nodata`
    override), NaNs, internal mask or alpha band, warped with nearest onto the same grid.
    """
    if nodata is not None and not math.isnan(nodata) and np.dtype(dataset(path).dtypes[0]).kind in "iu":
        info = np.iinfo(dataset(path).dtypes[0])
        if not (info.min <= nodata <= info.max and float(nodata).is_integer()):
            raise ValueError(f"nodata {nodata} is not a value of the image's {info.dtype} pixels")
    if resampling not in RESAMPLINGS:
        raise ValueError(f"unknown resampling {resampling!r}; expected one of {sorted(RESAMPLINGS)}")
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    bands = list(bands)
    dst_crs = CRS.from_user_input(dst_crs)
    left, bottom, right, top = dst_bounds
    dst_transform = from_bounds(left, bottom, right, top, width, height)

    base = dataset(path)
    if not bands or min(bands) < 1 or max(bands) > base.count:
        raise ValueError(f"bands must be in 1..{base.count}, got {bands}")
    out_dtype = np.dtype("float32") if np.dtype(base.dtypes[0]).kind == "f" else np.dtype(base.dtypes[0])
    level = _choose_overview(base, dst_crs, dst_bounds, width, height)
    src = base if level is None else dataset(path, level)
    area = _warp(src, dst_crs, dst_bounds, dst_transform, width, height, bands, resampling, nodata, out_dtype)
    if area is None:  # wholly off the image
        return Area(np.zeros((len(bands), height, width), out_dtype), np.zeros((height, width), bool), None)
    return Area(area[0], area[1], level)


def read_point(path: Source, crs: CRS | str, x: float, y: float,
               nodata: float | None = None) -> list[float | None] | None:
    """The raw full-resolution value of every band at (x, y) in `crs`.

    None when the point is outside the image; a band's value is None where the pixel is not data
    (nodata tag or `nodata` override, NaN, mask or alpha). Integers stay ints, floats floats.
    """
    src = dataset(path)
    crs = CRS.from_user_input(crs)
    if crs != src.crs:
        try:
            xs, ys = _transform_points(crs, src.crs, [x], [y])
        except Exception:
            return None
        x, y = xs[0], ys[0]
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    row, col = src.index(x, y, op=math.floor)
    if not (0 <= row < src.height and 0 <= col < src.width):
        return None
    window = Window(col, row, 1, 1)
    values = src.read(window=window)[:, 0, 0]
    valid = bool(src.dataset_mask(window=window)[0, 0])
    if nodata is not None:
        valid &= not (math.isnan(nodata) and np.isnan(values).any()) and not (values == nodata).all()
    out: list[float | None] = []
    for value in values.tolist():
        if not valid or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append(value)
    return out


_EDGE = np.linspace(0.0, 1.0, 23)  # where the points of an edge lie: its corners and 21 between


def _bounds_in_source(src, dst_crs: CRS, dst_bounds) -> tuple[float, float, float, float] | None:
    """The destination bounds in the source CRS (densified edges), or None when that cannot be
    computed (e.g. bounds outside the source projection's domain); None means "don't know, read
    anyway"."""
    if dst_crs == src.crs:
        return tuple(dst_bounds)
    # The edges' points, 21 between the corners of each. Edges partly off the source projection
    # (space beside a geostationary disk): pyproj's transform_bounds drops those points and gives a
    # box too small for what lies inside (a z1 tile of GOES lost a fifth of its mask). Don't know, then.
    left, bottom, right, top = (float(v) for v in dst_bounds)
    xs, ys = left + (right - left) * _EDGE, bottom + (top - bottom) * _EDGE
    ones = np.ones_like(_EDGE)
    try:
        tx, ty = _transform_points(dst_crs, src.crs, np.concatenate((xs, xs, left * ones, right * ones)),
                                   np.concatenate((bottom * ones, top * ones, ys, ys)))
    except Exception:
        return None
    if not (np.isfinite(tx).all() and np.isfinite(ty).all()):
        return None
    if not src.crs.is_geographic:
        return float(tx.min()), float(ty.min()), float(tx.max()), float(ty.max())
    # A geographic source: pyproj's transform_bounds knows a box that wraps the antimeridian, and
    # gives it with left > right.
    try:
        box = transformer(dst_crs, src.crs).transform_bounds(left, bottom, right, top, densify_pts=21)
    except Exception:
        return None
    if not all(math.isfinite(v) for v in box) or box[0] > box[2]:
        return None
    return box


def _intersects(a, b) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


def _contains(outer, inner) -> bool:
    return outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and inner[3] <= outer[3]


def pixel_size_in(crs: CRS, dst_crs: CRS, dst_bounds, width: int, height: int) -> float | None:
    """The size of one pixel of a map (`dst_bounds` in `dst_crs`, width x height) in `crs` units:
    its centre pixel's footprint transformed, the finer side (so an overview chosen by it is never
    coarser than the map in either direction); None where the centre has no place in `crs`."""
    left, bottom, right, top = (float(v) for v in dst_bounds)
    rx, ry = (right - left) / width, (top - bottom) / height
    if dst_crs == crs:
        return min(rx, ry)
    cx, cy = (left + right) / 2, (bottom + top) / 2
    try:
        xs, ys = _transform_points(dst_crs, crs, [cx, cx + rx, cx], [cy, cy, cy + ry])
    except Exception:
        return None
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        return None
    dx = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    dy = math.hypot(xs[2] - xs[0], ys[2] - ys[0])
    return min(dx, dy) if dx > 0 and dy > 0 else None


def _output_pixel_in_source(src, dst_crs: CRS, dst_bounds, width: int, height: int) -> float | None:
    """The size of one output pixel in source CRS units (`pixel_size_in`), falling back to the
    whole bounds when the centre is outside the source CRS's domain."""
    size = pixel_size_in(src.crs, dst_crs, dst_bounds, width, height)
    if size is not None:
        return size
    box = _bounds_in_source(src, dst_crs, dst_bounds)
    if box is None:
        return None
    return min((box[2] - box[0]) / width, (box[3] - box[1]) / height)


def _choose_overview(src, dst_crs: CRS, dst_bounds, width: int, height: int) -> int | None:
    """The coarsest overview whose pixels are still at least as fine as the output's (None: full
    resolution), like GDAL's -ovr AUTO."""
    factors = src.overviews(1)
    if not factors:
        return None
    target = _output_pixel_in_source(src, dst_crs, dst_bounds, width, height)
    if target is None:
        return None
    t = src.transform
    native = math.sqrt(abs(t.a * t.e - t.b * t.d))
    chosen = None
    for level, factor in enumerate(factors):
        # The real factor is size-based (an overview of an odd size is slightly coarser).
        ovr_w = math.ceil(src.width / factor)
        real = src.width / ovr_w
        if native * real <= target * _OVERVIEW_SLACK:
            chosen = level
        else:
            break
    return chosen


def _warp(src, dst_crs, dst_bounds, dst_transform, width, height, bands, resampling, nodata, out_dtype):
    """Warp data with the source's validity honoured by the warper, and the validity itself; None
    when the area is wholly off the image.

    Nearest picks its source pixels itself where a quadratic stands in for the transform
    (_pick_nearest: every map but world-sized ones). Otherwise, data: a WarpedVRT (the warper
    itself skips nodata, masked and alpha-transparent source pixels when resampling); validity: the
    source's dataset mask over the needed window, warped with nearest — the VRT's own mask/alpha
    cannot be trusted (add_alpha ignored NaN nodata in our tests and fails on files that already
    have an alpha band).
    """
    method = RESAMPLINGS[resampling]
    is_float = np.dtype(src.dtypes[0]).kind == "f"
    src_nodata = nodata if nodata is not None else src.nodata
    has_mask = _has_mask(src)
    vrt_kwargs = dict(
        crs=dst_crs, transform=dst_transform, width=width, height=height, resampling=method
    )
    if src_nodata is not None and has_mask:
        # The mask or alpha band tells the warper what is valid; given a nodata value as well,
        # GDAL 3.10's warper uses that instead, and its nearest fills a nodata pixel from a
        # neighbour the mask hides (Himawari's limb at zoom 0). The nodata test below still applies.
        vrt_kwargs.update(src_nodata=None, nodata=src_nodata)
    elif src_nodata is not None:
        vrt_kwargs.update(src_nodata=src_nodata, nodata=src_nodata)
    elif is_float and not has_mask:
        # Untagged NaNs (e.g. sea-ice grids): let the warper skip them instead of smearing them.
        vrt_kwargs.update(src_nodata=float("nan"), nodata=float("nan"))
    picked = None
    if method == Resampling.nearest and src.transform.is_rectilinear:
        # Nearest needs no warper: every output pixel is a source pixel (or none).
        picked = _pick_nearest(src, dst_crs, dst_transform, width, height, bands, out_dtype, has_mask)
    if picked is not None:
        data, valid = picked
    else:
        src_box = _bounds_in_source(src, dst_crs, dst_bounds)
        if src_box is not None and not _intersects(src_box, src.bounds):
            return None
        data, valid = _warp_with_gdal(src, vrt_kwargs, bands, out_dtype, has_mask, src_nodata, src_box, nodata)
    if src_nodata is not None and not (isinstance(src_nodata, float) and math.isnan(src_nodata)):  # NaN: handled below
        # A pixel is missing where every band holds the nodata value (GDAL's unified source
        # nodata, as in its dataset mask): a dark-water pixel with one band at 0 is data.
        valid &= ~np.all(data == np.asarray(src_nodata).astype(out_dtype), axis=0)
    if is_float:
        valid &= ~np.any(np.isnan(data), axis=0)
    return data, valid


def _warp_with_gdal(src, vrt_kwargs, bands, out_dtype, has_mask, src_nodata, src_box, nodata):
    """Data and validity warped by GDAL's warper (a WarpedVRT), validity as cheaply as is right."""
    is_float = np.dtype(out_dtype).kind == "f"
    width, height = vrt_kwargs["width"], vrt_kwargs["height"]
    inside = src_box is not None and src.transform.is_rectilinear and _contains(src.bounds, src_box)
    # Nothing marks missing pixels but the area reaches past the image (a zoomed-out tile): the
    # warper's own alpha says which output pixels the image covers, in the same pass (a second
    # warp of the mask cost 3-5 ms of a ~9 ms tile). Not for masks/alpha/nodata: see _warp.
    warper_alpha = not has_mask and src_nodata is None and not is_float and not inside
    with WarpedVRT(src, add_alpha=warper_alpha, **vrt_kwargs) as vrt:
        read = vrt.read(indexes=[*bands, vrt.count] if warper_alpha else bands, out_dtype=out_dtype)
    data = read[:len(bands)]
    if warper_alpha:
        valid = read[len(bands)] > np.iinfo(out_dtype).max // 2
    elif "src_nodata" in vrt_kwargs and not has_mask:
        # The warper filled everything it could not compute (outside the image, nodata sources)
        # with the nodata value, so the nodata test is the whole validity: no second warp
        # (that would cost ~6 ms of a ~10 ms tile).
        valid = np.ones((height, width), bool)
    elif not has_mask and inside:
        # Nothing marks missing pixels and the area lies wholly inside the image: all valid. (Not
        # for a rotated geotransform: its bounds hold corners outside the image, e.g. Umbra SAR.)
        valid = np.ones((height, width), bool)
    else:
        valid = _warped_validity(src, vrt_kwargs["crs"], vrt_kwargs["transform"], width, height, src_box, nodata)
    return data, valid


# Where the stand-in for a map's transform is checked (fractions of its width and height), and how
# far from the exact source position it may put a pixel centre (source pixels): GDAL's own warper
# approximates to within 1/8, and a pick within 1/8 of a pixel edge may be either neighbour.
_FIT_TOLERANCE = 1 / 16
_FIT_U, _FIT_V = (grid.ravel() for grid in np.meshgrid(np.linspace(0.0, 1.0, 9), np.linspace(0.0, 1.0, 9)))
# The quadratic's terms at those points, and the least-squares fit of its six coefficients to values
# there: one matrix product.
_FIT_TERMS = np.column_stack((np.ones(_FIT_U.size), _FIT_U, _FIT_V, _FIT_U**2, _FIT_U * _FIT_V, _FIT_V**2))
_FIT = np.linalg.pinv(_FIT_TERMS)
_EXACT_FLOAT32 = 2**24  # whole numbers up to this are exact in float32


def _pick_nearest(src, dst_crs, dst_transform, width, height, bands, out_dtype, has_mask: bool
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Data and validity of a nearest-neighbour warp without GDAL's warper, or None where it does
    not apply (GDAL's warper then draws the area).

    Over a map's extent, where a map pixel falls in the source is nearly a quadratic of its
    position (UTM to Web Mercator, in pixels of the level read: 0.0000 at z11-z14, 0.002 for a
    1024 x 768 map at z11, 0.0008 for a z8 tile, 0.06 at z6; at z5, 0.5: GDAL's warper then). The
    quadratic is fitted to the exact transform of a 9 x 9 grid of the map's points (one PROJ call)
    and checked on them; each output pixel centre then takes the source pixel under it, from the
    window's blocks read as they are (GDAL's block cache holds them), and its validity: inside the
    image, and the mask's (internal mask or alpha band) there. A warped VRT instead builds a PROJ
    operation and a transformer for each map, and its kernel is generic: a whole 256 px read at
    native zoom took 1.7 ms with it, 0.6 without.
    """
    xs, ys = dst_transform * (_FIT_U * width, _FIT_V * height)
    if dst_crs != src.crs:
        xs, ys = _transform_points(dst_crs, src.crs, xs, ys)
        if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            return None
    exact = np.column_stack(~src.transform * (np.asarray(xs), np.asarray(ys)))
    (low_col, low_row), (high_col, high_row) = exact.min(axis=0), exact.max(axis=0)
    if high_col < -1 or high_row < -1 or low_col > src.width + 1 or low_row > src.height + 1:
        # Wholly off the image: nothing to read. (A pixel's margin: the grid's points are at most
        # an eighth of the map apart, and a map bends far less than a pixel between them.)
        return np.zeros((len(bands), height, width), out_dtype), np.zeros((height, width), bool)
    fit = _FIT @ exact  # (6, 2): the quadratics of the source column and row
    if not np.abs(_FIT_TERMS @ fit - exact).max() <= _FIT_TOLERANCE:  # also refuses NaN
        return None
    centres_u = ((np.arange(width) + 0.5) / width).astype(np.float32)
    centres_v = (np.arange(height) + 0.5) / height

    def picks(one, u, v, uu, uv, vv) -> np.ndarray:
        # one + u*x + v*y + uu*x² + uv*x*y + vv*y², as (the row's slope) * x + (its offset) + uu*x²
        grid = np.multiply.outer((u + uv * centres_v).astype(np.float32), centres_u)
        grid += (one + v * centres_v + vv * centres_v**2).astype(np.float32)[:, None]
        grid += (uu * centres_u**2).astype(np.float32)
        return np.floor(grid, out=grid)

    cols, rows = picks(*fit[:, 0]), picks(*fit[:, 1])
    col0, col1 = max(int(cols.min()), 0), min(int(cols.max()) + 1, src.width)
    row0, row1 = max(int(rows.min()), 0), min(int(rows.max()) + 1, src.height)
    if col0 >= col1 or row0 >= row1:  # not on the image at all
        return np.zeros((len(bands), height, width), out_dtype), np.zeros((height, width), bool)
    stride = col1 - col0
    if stride * (row1 - row0) > min(16 * width * height, _EXACT_FLOAT32):  # far coarser than the map
        return None
    valid = None
    if col0 > cols.min() or col1 <= cols.max() or row0 > rows.min() or row1 <= rows.max():
        valid = (cols >= col0) & (cols < col1) & (rows >= row0) & (rows < row1)
        np.clip(cols, col0, col1 - 1, out=cols)
        np.clip(rows, row0, row1 - 1, out=rows)
    # Each pixel's index in the window, (row - row0) * stride + col - col0: exact in float32.
    rows -= row0
    rows *= stride
    rows += cols
    rows -= col0
    index = rows.astype(np.intp).ravel()
    window = Window(col0, row0, stride, row1 - row0)
    block = src.read(indexes=list(bands), window=window, out_dtype=out_dtype)
    data = np.empty((len(bands), height, width), out_dtype)
    for k in range(len(bands)):
        np.take(block[k].ravel(), index, out=data[k].reshape(-1))
    if has_mask:
        mask = np.take(src.dataset_mask(window=window).ravel(), index).reshape(height, width) > 0
        valid = mask if valid is None else valid & mask
    return data, np.ones((height, width), bool) if valid is None else valid


def _warped_validity(src, dst_crs, dst_transform, width, height, src_box, nodata) -> np.ndarray:
    """The source's dataset mask over the window under the output, warped (nearest) to the grid."""
    full = Window(0, 0, src.width, src.height)
    if src_box is not None:
        # The box's corners in pixels (windows.from_bounds refuses rotated geotransforms).
        left, bottom, right, top = src_box
        cols, rows = ~src.transform * (np.array([left, right, right, left]),
                                       np.array([top, top, bottom, bottom]))
        col0, row0 = math.floor(cols.min()) - 2, math.floor(rows.min()) - 2
        col1, row1 = math.ceil(cols.max()) + 2, math.ceil(rows.max()) + 2
        win = Window(col0, row0, col1 - col0, row1 - row0)
        try:
            win = win.intersection(full)
        except Exception:
            return np.zeros((height, width), bool)
    else:
        win = full
    win = Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))
    if nodata is not None and src.nodata is None and not _has_mask(src):
        mask = np.full((win.height, win.width), 255, np.uint8)  # override applied on the data
    else:
        mask = src.dataset_mask(window=win)
    out = np.zeros((height, width), np.uint8)
    reproject(
        mask,
        out,
        src_transform=src.window_transform(win),
        src_crs=src.crs,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        src_nodata=None,
        dst_nodata=None,
        resampling=Resampling.nearest,
    )
    return out > 0


def _has_mask(src) -> bool:
    return any(f.name in ("per_dataset", "alpha") for f in src.mask_flag_enums[0])
