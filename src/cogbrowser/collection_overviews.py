"""Collection overviews kept current: a collection drawn at a small scale reads one file, not 200.

A map of a collection is a mosaic of the images it touches (layers.py); at a small scale that is
dozens to hundreds of images, each opened and read. So every collection of `overview_images` images
or more that is drawn gets an overview (raster/collection_overview.py): all its images, newest on
top, drawn once onto the pixel grid of the WebMercatorQuad zoom at which a map touches about four
of them. A map whose pixels are that coarse or coarser, asking for that same mosaic (newest on top,
every image: no cloud limit, no time filter that leaves one out, no nodata override), is drawn from
the overview as from one image; any other map, from the images themselves.

An overview belongs to its collection's contents (queries.collection_contents: a digest of every
image's id, checksum and time), and its file is named after them. A map never draws an overview of
other contents: until the one of the current contents is built (in the background, seconds for
200 scenes), the images are drawn. After any catalog change, the collections that have an overview
are checked and built again, so that a collection's overview is current soon after an ingest or a
delete, not at its next small-scale map. The files are derived data in the data dir's `overviews`
folder, one per collection; serving processes sharing the data dir share them (a lock file keeps
two from building the same one), and other machines build their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.crs import CRS

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.records import CollectionContents
from cogbrowser.config import Settings
from cogbrowser.errors import ImageFileRefused
from cogbrowser.layers import CollectionOverview, Layer, MapImage, MosaicChoice, images_for_area
from cogbrowser.raster import GDAL_ERRORS
from cogbrowser.raster.collection_overview import (
    HALF_WORLD,
    OverviewGrid,
    OverviewSource,
    build_overview,
    mercator_box,
    output_pixel,
    overview_grid,
    zoom_pixel,
)
from cogbrowser.raster.render_spec import RenderSpec

log = logging.getLogger(__name__)

LOCK_SECONDS = 900.0  # a lock file older than this was left by a process that died building
CHECK_SECONDS = 1.0  # how often the builder looks for catalog changes when it has nothing to do
_PIXEL_SLACK = 0.99  # a map's pixel this close to the overview's still reads it (rounding of the box)


@dataclass(frozen=True)
class _Built:
    digest: str
    path: Path
    grid: OverviewGrid


def overview_name(collection_id: str, digest: str) -> str:
    """The file name of a collection's overview of the contents `digest`."""
    return f"{collection_id}-{digest[:16]}.tif"


class CollectionOverviews:
    """The overviews of the collections this process draws, and the thread that builds them."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.folder = settings.overview_dir
        self._built: dict[str, _Built] = {}  # collection id -> its overview, maybe of older contents
        self._unusable: dict[str, str] = {}  # collection id -> contents that cannot have one (mixed bands...)
        self._wanted: dict[str, str] = {}  # collection id -> contents to build an overview of
        self._condition = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._seen_version: int | None = None

    # ------------------------------------------------------------------ drawing

    def images_for_map(self, layer: Layer, crs: CRS, bounds: Sequence[float], width: int, height: int,
                       choice: MosaicChoice, spec: RenderSpec) -> list[MapImage]:
        """What a map of `layer` over `bounds` (in `crs`) at width x height draws: the collection's
        current overview where the map is coarse enough and asks for the mosaic it holds, else the
        images that touch the area (layers.images_for_area)."""
        overview = self._overview_for(layer, crs, bounds, width, height, choice, spec)
        if overview is not None:
            return [overview]
        return list(images_for_area(self.db, layer, crs, bounds, choice))

    def _overview_for(self, layer: Layer, crs: CRS, bounds: Sequence[float], width: int, height: int,
                      choice: MosaicChoice, spec: RenderSpec) -> CollectionOverview | None:
        contents = layer.contents
        threshold = self.settings.overview_images
        if (not layer.is_collection or contents is None or threshold == 0 or contents.count < threshold
                or not contents.uniform or not _draws_every_image(choice, contents) or spec.nodata is not None
                or self._unusable.get(layer.id) == contents.digest):
            return None
        built = self._built.get(layer.id)
        if built is None or built.digest != contents.digest or not built.path.is_file():  # (removed by hand)
            built = self._on_disk(layer.id, contents.digest)
            if built is None:
                self._want(layer.id, contents.digest)
                return None
        pixel = output_pixel(crs, bounds, width, height)
        if pixel is None or pixel < built.grid.pixel * _PIXEL_SLACK:
            return None
        return CollectionOverview(layer.id, f"overview-{built.digest}", layer.image.bands, built.path)

    def _on_disk(self, collection_id: str, digest: str) -> _Built | None:
        """The overview of these contents that another process (or an earlier run) built, if any."""
        path = self.folder / overview_name(collection_id, digest)
        if not path.is_file():
            return None
        try:
            grid = _grid_of(path)
        except (*GDAL_ERRORS, ValueError):
            return None
        built = _Built(digest, path, grid)
        with self._condition:
            self._built[collection_id] = built
        return built

    # ------------------------------------------------------------------ building

    def _want(self, collection_id: str, digest: str) -> None:
        with self._condition:
            if self._stopped or self._wanted.get(collection_id) == digest:
                return
            self._wanted[collection_id] = digest
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="collection-overviews", daemon=True)
                self._thread.start()
            self._condition.notify()

    def close(self) -> None:
        """Stop building (a build under way stops at its next image)."""
        with self._condition:
            self._stopped = True
            self._condition.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._wanted and not self._stopped:
                    self._condition.wait(CHECK_SECONDS)
                if self._stopped:
                    return
                wanted = dict(self._wanted)
            try:
                if not wanted:
                    self._check_changes()
                for collection_id, digest in wanted.items():
                    try:
                        self._build(collection_id)
                    except Exception:  # its maps are drawn from its images, and it is not tried again
                        log.exception("the overview of collection %s could not be built", collection_id)
                        self._unusable[collection_id] = digest
            except Exception:  # the thread lives on
                log.exception("looking for changed collection overviews failed")
            finally:
                with self._condition:
                    for collection_id, digest in wanted.items():
                        if self._wanted.get(collection_id) == digest:
                            del self._wanted[collection_id]

    def _check_changes(self) -> None:
        """After a catalog change, build again the overviews of the collections that have one."""
        version = self.db.changes.version
        if version is None or version == self._seen_version:
            return
        self._seen_version = version
        with self._condition:
            known = list(self._built)
        for collection_id in known:
            with self.db.connection() as conn:
                contents = queries.collection_contents(conn, collection_id)
            if contents.count == 0:
                with self._condition:
                    self._built.pop(collection_id, None)
                self._remove_others(collection_id, keep=None)
            elif contents.digest != self._built[collection_id].digest:
                with self._condition:
                    self._wanted.setdefault(collection_id, contents.digest)

    def _build(self, collection_id: str) -> None:
        """Build the overview of the collection's current contents, unless it exists or another
        process is building it."""
        with self.db.connection() as conn:
            contents = queries.collection_contents(conn, collection_id)
        if contents.count == 0 or self._on_disk(collection_id, contents.digest) is not None:
            return
        name = overview_name(collection_id, contents.digest)
        lock = self.folder / f"{name}.building"
        if _locked(lock):
            return  # another process builds it: found on disk once it is there
        with self.db.connection() as conn:
            images = queries.mosaic_images(conn, collection_id, None, None, None, None, "newest", None, None)
            if queries.collection_contents(conn, collection_id).digest != contents.digest:
                return  # changed since: these images are not the contents the file would be named after
        sources = []
        for image in images:
            box = mercator_box(image.bbox)
            try:
                path = image_file(self.settings, image)
            except ImageFileRefused:
                continue
            if box is None:  # across the antimeridian: drawn from its images
                self._unusable[collection_id] = contents.digest
                return
            sources.append(OverviewSource(path, image.nodata, box))
        grid = overview_grid([source.box for source in sources])
        if grid is None or not contents.uniform:
            self._unusable[collection_id] = contents.digest
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not _take_lock(lock):
            return
        part = self.folder / f"{name}.{os.getpid()}.part"
        try:
            started = time.perf_counter()
            drawn = build_overview(sources, images[0].band_count, grid, part, keep_going=lambda: not self._stopped)
            if drawn < 0:
                return
            os.replace(part, self.folder / name)
            log.info("collection %s: overview of %d images at zoom %d (%d x %d) built in %.1f s", collection_id,
                     drawn, grid.zoom, grid.width, grid.height, time.perf_counter() - started)
        finally:
            part.unlink(missing_ok=True)
            lock.unlink(missing_ok=True)
        with self._condition:
            self._built[collection_id] = _Built(contents.digest, self.folder / name, grid)
        self._remove_others(collection_id, keep=name)

    def _remove_others(self, collection_id: str, keep: str | None) -> None:
        """Remove the collection's overviews of older contents (one still open elsewhere, as on
        Windows, is left for the next build)."""
        prefix = f"{collection_id}-"
        for path in self.folder.glob(f"{collection_id}-*.tif"):
            rest = path.name[len(prefix):-len(".tif")]
            if path.name != keep and len(rest) == 16 and "-" not in rest:
                with contextlib.suppress(OSError):
                    path.unlink()


def _draws_every_image(choice: MosaicChoice, contents: CollectionContents) -> bool:
    """Whether a mosaic of `choice` is the overview's: every image, the newest on top."""
    if choice.order != "newest" or choice.max_cloud_cover is not None:
        return False
    start, end = choice.time
    if start is None and end is None:
        return True
    if contents.undated:  # a time filter leaves out the images without a time
        return False
    return ((start is None or (contents.oldest is not None and start <= contents.oldest))
            and (end is None or (contents.newest is not None and end >= contents.newest)))


def _grid_of(path: Path) -> OverviewGrid:
    """The grid of an overview file (which zoom's pixels, where)."""
    with rasterio.open(path) as src:
        pixel, left, top = src.transform.a, src.transform.c, src.transform.f
        for zoom in range(31):
            if abs(zoom_pixel(zoom) - pixel) < pixel * 1e-6:
                return OverviewGrid(zoom, round((left + HALF_WORLD) / pixel), round((HALF_WORLD - top) / pixel),
                                    src.width, src.height)
    raise ValueError(f"{path} is not on a WebMercatorQuad zoom's grid")


def _locked(lock: Path) -> bool:
    """Whether another process holds `lock` (one older than LOCK_SECONDS was left by a crash)."""
    try:
        return time.time() - lock.stat().st_mtime < LOCK_SECONDS
    except FileNotFoundError:
        return False


def _take_lock(lock: Path) -> bool:
    """Create `lock` (False if another process holds it; one older than LOCK_SECONDS is taken over)."""
    for _ in range(2):
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            if _locked(lock):
                return False
            lock.unlink(missing_ok=True)
    return False
