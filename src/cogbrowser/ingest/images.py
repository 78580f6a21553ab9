"""Ingest: any GDAL-readable georeferenced raster becomes a valid COG in the storage and a catalog row.

The CLI, the HTTP upload and the demo all come through `ingest_file`. It is all-or-nothing: the COG
is written under data_dir/tmp, described, then moved into data_dir/cogs inside the transaction that
inserts its row; any failure removes the file, and a crash in between leaves at most an orphan file
that `sweep_orphans` (run at start-up) deletes.

With an object store as the storage (`--storage swift://...` or `s3://...`) the COG is uploaded
under its final name (an upload is atomic: storage/stores.py) before the transaction, and removed
if the row cannot be written; a crash in between leaves an object without a row, which
`sweep_orphans` removes too. `register_url` registers a COG that already sits in a store or
behind an HTTP URL, after reading its header and overviews remotely, without copying it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
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
from cogbrowser.errors import (
    DISK_FULL_ERRNOS,
    CogbrowserError,
    DiskFull,
    IngestError,
    StoreUnavailable,
    first_line,
)
from cogbrowser.ingest.delete import restore_interrupted
from cogbrowser.ingest.workfiles import owner_alive, sweep_dead_work_files, work_path
from cogbrowser.raster import GDAL_ERRORS
from cogbrowser.raster.cog import DEFAULT_COG_OPTIONS, CogOptions, cog_problems, write_cog
from cogbrowser.raster.footprint import raster_extent
from cogbrowser.raster.metadata import RasterInfo, describe
from cogbrowser.storage.locations import StoreLocation, gdal_path, split_object_url
from cogbrowser.storage.stores import ObjectInfo, ObjectStore, open_store

Progress = Callable[[str], None]
log = logging.getLogger(__name__)
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
    path: Path | str  # a file, or the URL registered
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
        image_id = _insert(db, settings, request, path, stored, info, checksum, source_checksum, say)
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
            checksum: str, source_checksum: str, say: Progress) -> str:
    """Insert the row and move the file into place in one transaction; undo the move if it fails."""
    base = request.image_id or make_image_id(source.stem)
    if settings.storage is not None and not request.in_place:
        return _insert_into_store(db, settings, settings.storage, request, source, stored, info, checksum,
                                  source_checksum, say)
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


def _insert_into_store(db: Database, settings: Settings, location: StoreLocation, request: IngestRequest,
                       source: Path, stored: Path, info: RasterInfo, checksum: str, source_checksum: str,
                       say: Progress) -> str:
    """Upload the COG under its final name, then insert its row; remove the object if the row fails."""
    base = request.image_id or make_image_id(source.stem)
    store = open_store(location)
    for attempt in range(1, 1000):
        image_id = base if attempt == 1 else f"{base}-{attempt}"
        with db.connection() as conn:
            if queries.image_id_taken(conn, image_id):
                if request.image_id:
                    raise IngestError(f"image id {request.image_id!r} is already taken")
                continue
        key = location.managed_key(image_id, checksum)
        say("storing")
        store.put_file(stored, key)
        try:
            with db.connection() as conn, conn.transaction():
                if request.collection:
                    queries.ensure_collection(conn, request.collection)
                queries.insert_image(conn, _record(settings, request, source, stored, info, image_id, checksum,
                                                   source_checksum, path=location.url(key)))
        except psycopg.errors.UniqueViolation as exc:
            _remove_object(store, key)
            if exc.diag.constraint_name == "images_pkey" and not request.image_id:
                continue
            raise
        except BaseException:
            _remove_object(store, key)
            raise
        return image_id
    raise IngestError(f"no free image id for {base!r}")


def _remove_object(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except StoreUnavailable as exc:  # left for the sweep: an object without a row
        log.warning("%s stays in the store until the next sweep: %s", store.location.url(key), exc)


def register_url(db: Database, settings: Settings, url: str, request: IngestRequest,
                 progress: Progress | None = None) -> IngestResult:
    """Register a valid COG at `url` (swift://container/key, s3://bucket/key, http(s)://...) in place:
    its header, overviews and statistics are read through GDAL, nothing is copied. Never raises for
    a bad URL or file (the result says why)."""
    started = time.perf_counter()
    say = progress or (lambda stage: None)
    request = replace(request, in_place=True)
    try:
        _check_request(request)
        name = Path(url.split("?", 1)[0].rstrip("/")).name or "image"
        found = split_object_url(url)
        storage = settings.storage
        ours = found and storage and found[:2] == (storage.scheme, storage.container)
        if found and storage and ours and storage.managed_image_id(found[2]):
            raise IngestError("it is a COG this server manages in its storage (deleting that image would delete it)")
        say("checking")
        stored = _stored_object(found)
        version = f"{stored.size}:{stored.etag}" if stored else ""  # an HTTP URL: GDAL's open is the check
        source_checksum = hashlib.sha256(f"{url}\0{version}".encode()).hexdigest()
        with db.connection() as conn:
            existing = queries.find_image_by_checksum(conn, source_checksum)
            if existing:
                return IngestResult(url, "skipped", existing.id, f"already in the catalog as {existing.id}",
                                    time.perf_counter() - started)
            band_names = _collection_band_names(conn, request.collection)
        remote = gdal_path(url)
        try:
            problems = _cog_problems_or_error(remote, stored.size if stored else None)
        except IngestError as exc:
            raise IngestError(f"{exc} (is the URL right, and are the store's credentials set?)") from None
        if problems:
            raise IngestError(f"--in-place needs a valid COG, and this is not one: {problems[0]}")
        say("statistics")
        info = describe(remote, nodata=request.nodata, band_names=band_names, name_hint=name)
        if request.acquired_at is not None:
            info.acquired_at = request.acquired_at
        if request.cloud_cover is not None:
            info.cloud_cover = request.cloud_cover
        say("cataloguing")
        image_id = _register_row(db, settings, request, url, name, info, source_checksum,
                                 stored.size if stored else 0)
    except IngestError as exc:
        return IngestResult(url, "failed", None, str(exc), time.perf_counter() - started)
    except psycopg.errors.UniqueViolation:
        return IngestResult(url, "failed", None, "the same URL was registered at the same time by another process",
                            time.perf_counter() - started)
    return IngestResult(url, "added", image_id, f"added as {image_id}", time.perf_counter() - started)


def _stored_object(found: tuple[str, str, str] | None) -> ObjectInfo | None:
    """The size and ETag of the object at a swift:// or s3:// URL (None for an HTTP URL): the catalog's
    checksum of a COG registered by URL is a digest of them and the URL, since hashing its bytes would
    mean reading it all."""
    if found is None:
        return None
    scheme, container, key = found
    try:
        info = open_store(StoreLocation(scheme, container, "")).head(key)
    except StoreUnavailable as exc:
        raise IngestError(str(exc)) from None
    if info is None:
        raise IngestError(f"there is no object {key!r} in {scheme} container {container!r}")
    return info


def _register_row(db: Database, settings: Settings, request: IngestRequest, url: str, name: str, info: RasterInfo,
                  source_checksum: str, size: int) -> str:
    base = request.image_id or make_image_id(Path(name).stem)
    with db.connection() as conn:
        for attempt in range(1, 1000):
            image_id = base if attempt == 1 else f"{base}-{attempt}"
            if queries.image_id_taken(conn, image_id):
                if request.image_id:
                    raise IngestError(f"image id {request.image_id!r} is already taken")
                continue
            record = _record(settings, request, Path(name), None, info, image_id, source_checksum, source_checksum,
                             path=url, size=size)
            record["source_path"] = url
            with conn.transaction():
                if request.collection:
                    queries.ensure_collection(conn, request.collection)
                queries.insert_image(conn, record)
            return image_id
    raise IngestError(f"no free image id for {base!r}")


def _record(settings: Settings, request: IngestRequest, source: Path, stored: Path | None, info: RasterInfo,
            image_id: str, checksum: str, source_checksum: str, *, path: str | None = None,
            size: int | None = None) -> dict:
    """The catalog row; `path` where it is not the managed file's (an object's URL)."""
    managed = not request.in_place
    if path is None:
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
        "size_bytes": size if size is not None else stored.stat().st_size if stored else 0,
        "properties": {**info.properties, **(request.properties or {})},
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


def sweep_orphans(db: Database, settings: Settings, min_age: float = 3600.0) -> list[Path | str]:
    """Delete work files of interrupted ingests and managed COGs that have no catalog row (and put
    back files of deletions that did not commit); in an object store, objects without a row and the
    parts of uploads that never finished. A store that cannot be reached is left for the next time.

    Work files of dead processes go at once (their names say whose they are: workfiles.py). Other
    files go only when untouched for `min_age` seconds: a COG just moved into place by an ingest in
    another process has no committed row yet, nor has a file a deletion moved aside.
    """
    cutoff = time.time() - min_age
    removed: list[Path | str] = [*sweep_dead_work_files(settings)]

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
    if settings.storage is not None:
        try:
            removed += _sweep_store(db, settings.storage, cutoff, min_age)
        except StoreUnavailable as exc:
            log.warning("the object store was not swept: %s", exc)
    return removed


def _sweep_store(db: Database, location: StoreLocation, cutoff: float, min_age: float) -> list[str]:
    store = open_store(location)
    with db.connection() as conn:
        known = queries.managed_paths(conn)
    removed = []
    for entry in store.listing(location.prefix):
        url = location.url(entry.key)
        if url not in known and location.managed_image_id(entry.key) and entry.modified.timestamp() < cutoff:
            store.delete(entry.key)
            removed.append(url)
    store.sweep_parts(min_age)
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


def _cog_problems_or_error(path: Path | str, size: int | None = None) -> list[str]:
    try:
        return cog_problems(path, size)
    except (*GDAL_ERRORS, ValueError, TypeError) as exc:
        raise IngestError(f"cannot read its TIFF structure: {first_line(exc)}") from exc


def _collection_band_names(conn: Connection, collection_id: str | None) -> list[str | None] | None:
    if not collection_id:
        return None
    collection = queries.get_collection(conn, collection_id)
    if not collection or not collection.bands:
        return None
    return [band.get("name") for band in collection.bands]

