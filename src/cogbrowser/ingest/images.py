"""Ingest: any GDAL-readable georeferenced raster becomes a valid COG in the data dir and a catalog row.

The CLI, the HTTP upload and the demo all come through `ingest_file`. It is all-or-nothing: the COG
is written under data_dir/tmp, described, then moved into data_dir/cogs inside the transaction that
inserts its row; any failure removes the file, and a crash in between leaves at most an orphan file
that `sweep_orphans` (run at start-up) deletes.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy
import psutil
import psycopg
import rasterio

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection, Database
from cogbrowser.catalog.files import in_place_seal, managed_path, sha256_file
from cogbrowser.config import Settings
from cogbrowser.errors import DISK_FULL_ERRNOS, CogbrowserError, DiskFull, IngestError, first_line
from cogbrowser.ingest.delete import restore_interrupted
from cogbrowser.ingest.workfiles import owner_alive, sweep_dead_work_files, work_path
from cogbrowser.raster import GDAL_ERRORS
from cogbrowser.raster.cog import DEFAULT_COG_OPTIONS, CogOptions, cog_problems, write_cog
from cogbrowser.raster.footprint import raster_extent
from cogbrowser.raster.metadata import RasterInfo, describe

Progress = Callable[[str], None]
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
RASTER_SUFFIXES = {".tif", ".tiff", ".gtiff", ".cog", ".vrt", ".img", ".jp2", ".nc", ".hdf", ".h5", ".dem",
                   ".asc", ".bil", ".ecw", ".sid", ".png", ".jpg", ".jpeg", ".ntf", ".nitf", ".dt0", ".dt1",
                   ".dt2", ".grd", ".rst", ".kea", ".sdat", ".hgt"}


@dataclass
class IngestRequest:
    """What the user asked for one file (every field but `path` optional)."""

    path: Path
    collection: str | None = None
    image_id: str | None = None
    in_place: bool = False
    acquired_at: datetime | None = None
    cloud_cover: float | None = None
    nodata: float | None = None
    title: str | None = None
    properties: dict | None = None


@dataclass
class IngestResult:
    path: Path
    status: str  # "added" | "skipped" | "failed"
    image_id: str | None
    message: str
    seconds: float = 0.0


def make_image_id(text: str) -> str:
    """A URL-safe id from a file stem: unsafe characters become '-', at most 100 characters."""
    cleaned = _ID_UNSAFE.sub("-", text).strip("-._")[:100]
    return cleaned or "image"


def ingest_file(db: Database, settings: Settings, request: IngestRequest, *,
                options: CogOptions = DEFAULT_COG_OPTIONS, progress: Progress | None = None) -> IngestResult:
    """Ingest one file; never raises for a bad file (the result says why), only for a broken catalog
    or a full disk (DiskFull)."""
    started = time.perf_counter()
    say = progress or (lambda stage: None)
    path = Path(request.path)
    try:
        status, image_id, message = _ingest(db, settings, request, path, options, say)
    except IngestError as exc:
        return IngestResult(path, "failed", None, str(exc), time.perf_counter() - started)
    return IngestResult(path, status, image_id, message, time.perf_counter() - started)


def _ingest(db: Database, settings: Settings, request: IngestRequest, path: Path, options: CogOptions,
            say: Progress) -> tuple[str, str | None, str]:
    _check_request(request)
    say("checking")
    precheck(path, settings)
    say("checksum")
    source_checksum = sha256_file(path)
    with db.connection() as conn:
        existing = queries.find_image_by_checksum(conn, source_checksum)
        if existing:
            return "skipped", existing.id, f"already in the catalog as {existing.id}"
        band_names = _collection_band_names(conn, request.collection)
        if request.image_id and queries.image_id_taken(conn, request.image_id):
            raise IngestError(f"image id {request.image_id!r} is already taken")

    say("checking")
    problems = _cog_problems_or_error(path)
    if request.in_place and problems:
        raise IngestError(f"--in-place needs a valid COG, and this is not one: {problems[0]}")

    settings.cog_dir.mkdir(parents=True, exist_ok=True)
    work = work_path(settings, ".tif")  # GDAL writes its `.ovr.tmp` beside it: same owner's tag
    try:
        if request.in_place:
            stored, checksum = path.resolve(), source_checksum
        elif problems or request.nodata is not None:
            say("converting to COG")
            try:
                with _conversion_progress(path, say):
                    write_cog(path, work, options, nodata=request.nodata)
            except GDAL_ERRORS as exc:
                raise IngestError(f"GDAL could not read all of it (truncated or corrupt?): {first_line(exc)}") from exc
            stored = work
            say("checksum")
            checksum = sha256_file(work)
        else:
            say("copying")
            shutil.copyfile(path, work)
            stored, checksum = work, source_checksum
        say("statistics")
        info = describe(stored, nodata=request.nodata, band_names=band_names, name_hint=path.name)
        if request.acquired_at is not None:
            info.acquired_at = request.acquired_at
        if request.cloud_cover is not None:
            info.cloud_cover = request.cloud_cover
        say("cataloguing")
        image_id = _insert(db, settings, request, path, stored, info, checksum, source_checksum)
    except psycopg.errors.UniqueViolation as exc:
        raise IngestError("the same file was ingested at the same time by another process") from exc
    except OSError as exc:  # the copy, the move into cogs/: a full disk is named as such, the rest is a fault
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(f"the data disk is full ({exc.strerror or exc}) while storing {path.name}; nothing was "
                           "kept: free some space and try again") from exc
        raise
    finally:
        work.unlink(missing_ok=True)
    return "added", image_id, f"added as {image_id}"


def _insert(db: Database, settings: Settings, request: IngestRequest, source: Path, stored: Path, info: RasterInfo,
            checksum: str, source_checksum: str) -> str:
    """Insert the row and move the file into place in one transaction; undo the move if it fails."""
    base = request.image_id or make_image_id(source.stem)
    with db.connection() as conn:
        for attempt in range(1, 1000):
            image_id = base if attempt == 1 else f"{base}-{attempt}"
            if request.image_id and attempt > 1:
                raise IngestError(f"image id {request.image_id!r} is already taken")
            final = settings.cog_dir / f"{image_id}.tif"
            if final.exists() and not request.in_place:
                if request.image_id:
                    raise IngestError(f"{final} exists without a catalog row (left by an interrupted ingest?); "
                                      "remove it or choose another id")
                continue  # a file without a row (left by a crash) keeps its name until the sweep
            try:
                with conn.transaction():
                    if request.collection:
                        queries.ensure_collection(conn, request.collection)
                    queries.insert_image(conn, _record(settings, request, source, stored, info, image_id,
                                                       checksum, source_checksum))
                    if not request.in_place:
                        os.replace(stored, final)
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "images_pkey":
                    continue
                raise
            except BaseException:
                if not request.in_place and final.exists() and not stored.exists():
                    final.unlink(missing_ok=True)
                raise
            return image_id
    raise IngestError(f"no free image id for {base!r}")


def _record(settings: Settings, request: IngestRequest, source: Path, stored: Path, info: RasterInfo, image_id: str,
            checksum: str, source_checksum: str) -> dict:
    managed = not request.in_place
    path = managed_path(image_id) if managed else str(stored)
    return {
        "id": image_id, "collection_id": request.collection, "title": request.title or source.stem,
        "path": path, "managed": managed, "source_path": str(source.resolve()),
        "in_place_seal": None if managed else in_place_seal(settings, image_id, path),
        "acquired_at": info.acquired_at, "cloud_cover": info.cloud_cover, "crs": info.crs, "epsg": info.epsg,
        "native_bounds": info.native_bounds, "bbox": info.bbox, "footprint": info.footprint,
        "width": info.width, "height": info.height, "band_count": info.band_count, "dtype": info.dtype,
        "nodata": info.nodata, "resolution": info.resolution, "transform": info.transform,
        "overviews": info.overviews, "bands": info.bands, "mask": info.mask, "compression": info.compression,
        "blocksize": info.blocksize, "checksum": checksum, "source_checksum": source_checksum,
        "size_bytes": stored.stat().st_size, "properties": {**info.properties, **(request.properties or {})},
    }


@contextmanager
def _conversion_progress(source: Path, say: Progress, interval: float = 0.5) -> Iterator[None]:
    """Report an estimated percentage while GDAL converts, from the bytes this process has read.

    GDAL's COG driver reads the source about twice (once to build overviews, once to copy) and
    takes no progress callback through rasterio, so we watch the process's read counter instead.
    Where the platform has no such counter the stage is shown without a percentage.
    """
    process = psutil.Process()

    def read_so_far() -> int:
        counters = process.io_counters()
        return getattr(counters, "read_chars", counters.read_bytes)

    try:
        start = read_so_far()
    except (AttributeError, psutil.Error):
        yield
        return
    expected = max(1, 1.5 * source.stat().st_size)  # measured: ~1.4-1.5x the file's size
    done = threading.Event()

    def watch() -> None:
        while not done.wait(interval):
            percent = min(99, int(100 * (read_so_far() - start) / expected))
            try:
                say(f"converting to COG {percent}%")
            except CogbrowserError:  # a job cancelled or over its time: GDAL can't be stopped; the next step stops
                return

    watcher = threading.Thread(target=watch, name="ingest-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def sweep_orphans(db: Database, settings: Settings, min_age: float = 3600.0) -> list[Path]:
    """Delete work files of interrupted ingests and managed COGs that have no catalog row (and put
    back files of deletions that did not commit).

    Work files of dead processes go at once (their names say whose they are: workfiles.py). Other
    files go only when untouched for `min_age` seconds: a COG just moved into place by an ingest in
    another process has no committed row yet, nor has a file a deletion moved aside.
    """
    cutoff = time.time() - min_age
    removed = sweep_dead_work_files(settings)

    def stale(path: Path) -> bool:
        return path.is_file() and path.stat().st_mtime < cutoff

    if settings.tmp_dir.is_dir():
        untagged = (path for path in settings.tmp_dir.iterdir() if owner_alive(path.name) is None)
        for leftover in filter(stale, untagged):
            if restore_interrupted(db, settings, leftover):
                continue
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    if settings.cog_dir.is_dir():
        with db.connection() as conn:
            known = queries.managed_paths(conn)
        for cog in filter(stale, settings.cog_dir.glob("*.tif")):
            if managed_path(cog.stem) not in known:
                cog.unlink(missing_ok=True)
                removed.append(cog)
    return removed


def expand_paths(paths: list[Path], recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest from the command line's paths; folders give their raster files."""
    files: list[Path] = []
    errors: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
            if not found:
                errors.append((path, "folder has no raster files" + ("" if recursive else " (try --recursive)")))
            files += found
        elif path.exists():
            files.append(path)
        else:
            errors.append((path, "no such file or folder"))
    return files, errors


def _check_request(request: IngestRequest) -> None:
    """Values the user gave, checked before any work (the CLI checks them too; HTTP uploads rely on this)."""
    for what, value in (("image id", request.image_id), ("collection id", request.collection)):
        if value is not None and not queries.valid_id(value):
            raise IngestError(f"{what} {value!r} is not URL-safe (use letters, digits, . _ -)")
    if request.cloud_cover is not None and not 0 <= request.cloud_cover <= 100:
        raise IngestError(f"cloud cover {request.cloud_cover:g} is outside 0..100")


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise IngestError("no such file")
    if path.is_dir():
        raise IngestError("is a folder (give its files, or use the folder with --recursive)")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise IngestError(f"cannot read it: {exc.strerror or exc}") from exc
    if path.stat().st_size == 0:
        raise IngestError("the file is empty")


def precheck(path: Path, settings: Settings) -> None:
    """Fail fast, before any checksum or conversion, on files that are not georeferenced rasters or
    that declare more work than this server takes (`check_declared_work`). Reads headers only: well
    under a second even for a file declaring 65,535 bands. The HTTP upload runs it in the request."""
    _check_readable(path)
    try:
        with rasterio.open(path) as src:
            check_declared_work(src, settings)
            if src.crs is None or src.transform.is_identity:
                if src.gcps[0]:
                    raise IngestError("it is georeferenced by ground control points only; warp it to a CRS first")
                raise IngestError("it has no georeference (no CRS or geotransform)")
            if src.count == 0:
                raise IngestError("it has no raster bands")
            raster_extent(src.crs.to_wkt(), src.transform, src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        if _looks_like_tiff(path):
            raise IngestError(f"a TIFF that GDAL cannot open (truncated or corrupt?): {first_line(exc)}") from exc
        raise IngestError(f"not a readable raster: {first_line(exc)}") from exc


def check_declared_work(src: rasterio.io.DatasetReader, settings: Settings) -> None:
    """Refuse a file whose header declares more than the limits of `settings` allow: total pixels,
    bands, the size of one block (GDAL decodes a tile or strip whole), and, in a GeoTIFF, pixel bytes
    far beyond what the file can hold (a sparse or hand-made file: 200000 x 200000 pixels in 1.2 MB,
    or one strip of 10 GB, which GDAL shows as many small ones). Each
    message names the limit and the setting that raises it."""
    pixels = src.width * src.height
    if pixels > settings.max_ingest_pixels:
        raise IngestError(f"it declares {src.width:,} x {src.height:,} = {pixels:,} pixels; this server ingests at "
                          f"most {settings.max_ingest_pixels:,} (COGBROWSER_MAX_INGEST_PIXELS)")
    if src.count > settings.max_ingest_bands:
        raise IngestError(f"it declares {src.count:,} bands; this server ingests at most "
                          f"{settings.max_ingest_bands:,} (COGBROWSER_MAX_INGEST_BANDS)")
    sample_bytes = max((numpy.dtype(dtype).itemsize for dtype in src.dtypes), default=1)
    block_h, block_w = src.block_shapes[0] if src.count else (1, 1)
    interleaved = src.interleaving is not None and src.interleaving.value == "PIXEL"
    block_bytes = block_h * block_w * sample_bytes * (src.count if interleaved else 1)
    if block_bytes > settings.max_ingest_block_bytes:
        raise IngestError(f"one of its blocks is {block_w:,} x {block_h:,} pixels ({block_bytes:,} bytes to decode); "
                          f"this server decodes blocks of at most {settings.max_ingest_block_bytes:,} bytes "
                          "(COGBROWSER_MAX_INGEST_BLOCK_BYTES)")
    if src.driver != "GTiff":  # a VRT or a JPEG 2000 holds its pixels elsewhere or can't be sparse
        return
    declared = pixels * src.count * sample_bytes
    stored = sum(Path(name).stat().st_size for name in src.files if Path(name).is_file()) or 1
    if declared > settings.max_ingest_ratio * stored:
        raise IngestError(f"it declares {declared:,} bytes of pixels in {stored:,} bytes of file (over "
                          f"{settings.max_ingest_ratio:,}:1: sparse or hand-made?); this server ingests at most "
                          f"{settings.max_ingest_ratio:,} times the file's size (COGBROWSER_MAX_INGEST_RATIO)")


def _looks_like_tiff(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _cog_problems_or_error(path: Path) -> list[str]:
    try:
        return cog_problems(path)
    except (*GDAL_ERRORS, ValueError, TypeError) as exc:
        raise IngestError(f"cannot read its TIFF structure: {first_line(exc)}") from exc


def _collection_band_names(conn: Connection, collection_id: str | None) -> list[str | None] | None:
    if not collection_id:
        return None
    collection = queries.get_collection(conn, collection_id)
    if not collection or not collection.bands:
        return None
    return [band.get("name") for band in collection.bands]

