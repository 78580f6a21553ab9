"""Cloud Optimized GeoTIFF: telling a valid one from the rest, and writing one with GDAL's COG driver.

The checks follow GDAL's validate_cloud_optimized_geotiff.py (tiles, internal overviews, IFDs before
data, overview data before full-resolution data). We are stricter in one way: a raster larger than
512 pixels without overviews is converted, because it could not be served fast when zoomed out.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp

from cogbrowser.errors import DiskFull, first_line
from cogbrowser.raster import GDAL_ERRORS

COMPRESSIONS = ("DEFLATE", "ZSTD", "LZW")


@dataclass(frozen=True)
class CogOptions:
    """Creation options of the COGs we write. `overview_resampling='auto'`: nearest for paletted
    rasters (averaging class codes makes new classes), average otherwise."""

    compress: str = "DEFLATE"
    level: int | None = None
    blocksize: int = 512
    overview_resampling: str = "auto"
    threads: str = "ALL_CPUS"
    extra: dict = field(default_factory=dict)

    def creation_options(self, dataset: rasterio.io.DatasetReader) -> dict[str, str]:
        """GDAL COG driver options for this source dataset."""
        resampling = self.overview_resampling
        if resampling == "auto":
            resampling = "nearest" if _has_palette(dataset) else "average"
        options = {
            "COMPRESS": self.compress,
            "PREDICTOR": "YES",
            "BLOCKSIZE": str(self.blocksize),
            "OVERVIEWS": "IGNORE_EXISTING",
            "OVERVIEW_RESAMPLING": resampling.upper(),
            "NUM_THREADS": self.threads,
            "BIGTIFF": "IF_SAFER",
        }
        if self.level is not None:
            options["LEVEL"] = str(self.level)
        if _has_palette(dataset) or _odd_bit_depth(dataset):
            options.pop("PREDICTOR")  # GDAL's predictors work on whole bytes only
        options.update({k.upper(): str(v) for k, v in self.extra.items()})
        return options


DEFAULT_COG_OPTIONS = CogOptions()


def cog_problems(path: Path | str, size: int | None = None) -> list[str]:
    """Why the file is not a valid, servable COG; an empty list means it is one. `size` is the
    object's for a GDAL virtual path (/vsis3/...), whose truncation is not checked without it."""
    problems: list[str] = []
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            return [f"it is a {src.driver} file, not a GeoTIFF"]
        if any(Path(f).suffix.lower() == ".ovr" for f in src.files):
            problems.append("its overviews are in an external .ovr file")
        big = src.width > 512 or src.height > 512
        block_h, block_w = src.block_shapes[0]
        if big and block_w == src.width:
            problems.append("it is larger than 512 pixels but stored in strips, not tiles")
        overviews = src.overviews(1)
        if big and not overviews:
            problems.append("it is larger than 512 pixels but has no internal overviews")
        ghost = src.get_tag_item("GDAL_STRUCTURAL_METADATA", "TIFF") or ""
        if "KNOWN_INCOMPATIBLE_EDITION=YES" in ghost:
            problems.append("its COG layout was invalidated by a later edit")
        main_ifd = int(src.get_tag_item("IFD_OFFSET", "TIFF", bidx=1))
        if main_ifd > 300:
            problems.append(f"its main IFD is at byte {main_ifd}, not at the start of the file")
        previous = main_ifd
        for index in range(len(overviews)):
            offset = int(src.get_tag_item("IFD_OFFSET", "TIFF", bidx=1, ovr=index))
            if offset < previous:
                problems.append("its overview IFDs are not stored in increasing order after the main IFD")
                break
            previous = offset
        if size is None and not str(path).startswith("/vsi"):
            size = Path(path).stat().st_size
        missing = _bytes_missing(src, size, len(overviews)) if size is not None else 0
        if missing:
            problems.append(f"it is truncated: its last tiles end {missing} bytes past the end of the file")
        if overviews:
            main_data = _first_block_offset(src, None)
            last_ovr_data = _first_block_offset(src, len(overviews) - 1)
            if main_data and last_ovr_data and main_data < last_ovr_data:
                problems.append("its full-resolution data comes before its overview data")
    return problems


def write_cog(source: Path | str, destination: Path, options: CogOptions = DEFAULT_COG_OPTIONS,
              nodata: float | None = None) -> None:
    """Write `source` as a COG at `destination` (GDAL's COG driver, all cores).

    `nodata` overrides the source's own value: it is set on an in-memory VRT of the source, so the
    COG gets it written in its own header rather than edited in afterwards (which breaks the layout).
    Raises DiskFull when the destination's disk ran out of room (see `_raise_if_out_of_room`).
    """
    try:
        _write_cog(source, destination, options, nodata)
    except GDAL_ERRORS as exc:
        _raise_if_out_of_room(source, destination, exc)
        raise


def _raise_if_out_of_room(source: Path | str, destination: Path, exc: Exception) -> None:
    """DiskFull if a failed write is best explained by a full disk.

    GDAL does not say so: libtiff's "No space left on device" goes to stderr, and the error raised
    is a later symptom ("FillEmptyTiles() failed ..."); by then GDAL has deleted the partial file,
    so the room it took is free again. What is left to go by: the error is not about reading the
    source, and the disk has less room than the COG could need (the raster uncompressed, plus a
    third for its overviews). A corrupt file on a nearly full disk is then reported as the disk's
    fault, which is also true and also the administrator's to fix.
    """
    if "read" in str(exc).lower():
        return
    try:
        with rasterio.open(source) as src:
            need = src.width * src.height * sum(np.dtype(t).itemsize for t in src.dtypes) * 4 // 3
        free = shutil.disk_usage(destination.parent).free
    except (*GDAL_ERRORS, OSError):
        return
    if free < need:
        raise DiskFull(f"the data disk is full: writing the COG of {Path(source).name} failed with {free:,} bytes "
                       f"free, and it may need up to {need:,} ({first_line(exc)}); free some space and try again"
                       ) from exc


def _write_cog(source: Path | str, destination: Path, options: CogOptions, nodata: float | None) -> None:
    with rasterio.Env(GDAL_NUM_THREADS=options.threads, GDAL_TIFF_INTERNAL_MASK=True):
        if nodata is None:
            with rasterio.open(source) as src:
                rasterio.shutil.copy(src, str(destination), driver="COG", **options.creation_options(src))
            return
        vrt_path = f"/vsimem/cogbrowser-{destination.stem}.vrt"
        try:
            with rasterio.open(source) as src:
                rasterio.shutil.copy(src, vrt_path, driver="VRT")
            with rasterio.open(vrt_path, "r+") as vrt:
                vrt.nodata = nodata
            with rasterio.open(vrt_path) as vrt:
                rasterio.shutil.copy(vrt, str(destination), driver="COG", **options.creation_options(vrt))
        finally:
            if rasterio.shutil.exists(vrt_path):
                rasterio.shutil.delete(vrt_path)


def _has_palette(dataset: rasterio.io.DatasetReader) -> bool:
    return dataset.count == 1 and dataset.colorinterp[0] == ColorInterp.palette


def _odd_bit_depth(dataset: rasterio.io.DatasetReader) -> bool:
    """Bit-packed samples (e.g. NBITS=12 or 15), which the COG driver keeps as they are."""
    nbits = dataset.tags(1, ns="IMAGE_STRUCTURE").get("NBITS")
    return bool(nbits) and int(nbits) % 8 != 0


def _bytes_missing(src: rasterio.io.DatasetReader, size: int, overview_count: int) -> int:
    """How far the last tile of any band or overview reaches past the end of the file (0: complete)."""
    reach = 0
    bands = range(1, src.count + 1) if src.interleaving and src.interleaving.name == "BAND" else (1,)
    for level in [None, *range(overview_count)]:
        factor = 1 if level is None else src.overviews(1)[level]
        height = -(-src.height // factor)
        width = -(-src.width // factor)
        block_h, block_w = src.block_shapes[0]
        if level is not None:
            block_h, block_w = min(block_h, height), min(block_w, width)
        last = f"{-(-width // block_w) - 1}_{-(-height // block_h) - 1}"
        for band in bands:
            kwargs = {"bidx": band} if level is None else {"bidx": band, "ovr": level}
            offset = src.get_tag_item(f"BLOCK_OFFSET_{last}", "TIFF", **kwargs)
            length = src.get_tag_item(f"BLOCK_SIZE_{last}", "TIFF", **kwargs)
            if offset and length:
                reach = max(reach, int(offset) + int(length))
    return max(0, reach - size)


def _first_block_offset(src: rasterio.io.DatasetReader, ovr: int | None) -> int:
    kwargs = {"bidx": 1} if ovr is None else {"bidx": 1, "ovr": ovr}
    value = src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", **kwargs)
    return int(value) if value else 0
