"""Layers: what every rendering surface draws, named by an image id or a collection id.

XYZ tiles, WMTS GetTile, WMS GetMap and bbox exports are the same operation — "render this area of
this layer at this size in this CRS with this RenderSpec" — reached through different URL grammars
(docs/architecture.md). This module is that operation, once: it resolves a layer name through the catalog,
parses render parameters against the layer's bands and presets, picks the images that touch an area
(a collection is a mosaic, newest on top, filtered by time) and draws them. It knows the catalog and
the raster core, and nothing of HTTP: adapters turn its errors into problem details or OGC
exception reports.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

import numpy as np
from rasterio.crs import CRS

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection, Database
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.records import CollectionContents, CollectionRecord, ImageRecord
from cogbrowser.config import Settings
from cogbrowser.errors import ImageFileMissing, InvalidInput, NotFound
from cogbrowser.raster.bbox import BBox
from cogbrowser.raster.budget import check_deadline
from cogbrowser.raster.crs import WGS84
from cogbrowser.raster.metadata import parse_datetime
from cogbrowser.raster.reader import Area, Source, is_remote, read_area, read_point, transformer
from cogbrowser.raster.render import default_rescale, render
from cogbrowser.raster.render_spec import RenderSpec, parse_render_spec

__all__ = ["Layer", "LayerCache", "TimeRange", "MosaicChoice", "MosaicError", "MosaicOrder", "mosaic_choice",
           "find_layer", "list_layers", "parse_time_range", "images_for_area",
           "CollectionOverview", "MapImage", "OnDisk", "on_disk", "render_layer", "value_at", "wgs84_bounds",
           "utc_iso", "DEFAULT_STYLE", "MAX_MOSAIC_IMAGES"]

log = logging.getLogger(__name__)
DEFAULT_STYLE = "default"  # the style of every layer: its own bands, no preset
MAX_MOSAIC_IMAGES = 50  # images drawn into one mosaic area at most (newest first)

TimeRange = tuple[datetime | None, datetime | None]
MosaicOrder = Literal["newest", "oldest", "least-cloudy", "closest"]
MOSAIC_ORDERS: tuple[str, ...] = get_args(MosaicOrder)


@dataclass(frozen=True)
class MosaicChoice:
    """Which images of a collection a mosaic draws, and which lies on top where they overlap: those
    acquired within `time` with at most `max_cloud_cover` % cloud cover (as in the image search, an
    image whose cover is unknown passes no limit), the first in `order` on top: the newest, the
    oldest, the least cloudy, or the one acquired closest to `closest_to` (the Copernicus Browser's
    mosaic orders)."""

    time: TimeRange = (None, None)
    max_cloud_cover: float | None = None
    order: MosaicOrder = "newest"
    closest_to: datetime | None = None


class MosaicError(InvalidInput):
    """A mosaic parameter does not fit; `parameter` names it (an OGC exception's locator)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


def mosaic_choice(time: TimeRange = (None, None), max_cloud_cover: float | None = None,
                  order: str | None = None, closest_to: str | None = None) -> MosaicChoice:
    """A MosaicChoice from request values; InvalidInput names the parameter at fault. `closest`
    without `closest_to` means closest to the end of `time` (else its start)."""
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        raise MosaicError("max_cloud_cover", f"{max_cloud_cover:g} is not a percentage from 0 to 100")
    chosen = (order or "newest").strip().lower()
    if chosen not in MOSAIC_ORDERS:
        raise MosaicError("mosaic_order", f"{order!r} is not one of {', '.join(MOSAIC_ORDERS)}")
    try:
        near = parse_time_range(closest_to, "closest_to")[0] if closest_to else None
    except InvalidInput as exc:
        raise MosaicError("closest_to", str(exc).split(": ", 1)[-1]) from None
    if chosen == "closest" and near is None:
        near = time[1] or time[0]
        if near is None:
            raise MosaicError("mosaic_order", "'closest' needs closest_to (a date or time), or a time range")
    return MosaicChoice(time, max_cloud_cover, chosen, near)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Layer:
    """One image, or a collection drawn as a mosaic of its images.

    `image` is the image itself, or the collection's newest image: it stands for the layer's bands
    (names, statistics for the default rescale) and native resolution. `extent` is a collection's
    WGS84 box around all its images (an image's is its own `bbox`).
    """

    id: str
    image: ImageRecord
    collection: CollectionRecord | None
    is_collection: bool
    extent: BBox | None = None
    contents: CollectionContents | None = None  # a collection's (find_layer): whether its overview is current

    @property
    def bbox(self) -> BBox:
        """The layer's WGS84 box as the catalog stores it (east past 180 across the antimeridian)."""
        return self.extent if self.is_collection and self.extent else self.image.bbox

    @property
    def presets(self) -> list[dict]:
        return list(self.collection.presets) if self.collection else []

    @property
    def band_names(self) -> list[str | None]:
        return self.image.band_names

    @property
    def title(self) -> str:
        if self.is_collection and self.collection is not None:
            return self.collection.title or self.id
        return self.image.title or self.id

    def spec(self, params: Mapping[str, Sequence[str]]) -> RenderSpec:
        """The render parameters (each name → the values given) parsed against this layer.

        A collection is drawn with one stretch, its newest image's 2-98 % range where the request
        gives none: a mosaic of scenes each stretched by its own statistics is a patchwork, and its
        overview (collection_overviews.py), whose pixels come from many scenes, could not be drawn
        like it.
        """
        spec = parse_render_spec(params, self.band_names, self.presets)
        if self.is_collection and spec.rescale is None:
            spec = replace(spec, rescale=default_rescale(spec, self.image.bands))
        return spec

    def styles(self) -> list[tuple[str, str, RenderSpec]]:
        """(name, title, spec) of the styles this layer can draw: "default" (the image's own
        bands and 2-98 % range), then each preset of its collection that its bands can draw (a
        preset needing a band the image lacks is not offered). WMS and WMTS publish these."""
        styles = [(DEFAULT_STYLE, "Default", self.spec({}))]
        for preset in self.presets:
            name = str(preset.get("name") or "")
            if not name or name.lower() == DEFAULT_STYLE:
                continue
            try:
                spec = self.spec({"style": [name]})
            except InvalidInput:
                continue
            styles.append((name, str(preset.get("title") or name), spec))
        return styles

    @property
    def abstract(self) -> str:
        """A sentence or two for a GIS user's layer list: what the layer is and holds."""
        image = self.image
        bands = ", ".join(str(n) for n in self.band_names if n)
        if self.is_collection:
            description = self.collection.description if self.collection else ""
            return (f"{description} " if description else "") + (
                "A mosaic of the collection's images, newest on top; TIME picks acquisitions "
                f"(default: the newest). Bands: {bands}.")
        parts = [f"{image.band_count}-band {image.dtype} image, {image.width} x {image.height} pixels"]
        if image.epsg:
            parts.append(f"EPSG:{image.epsg}")
        if image.acquired_at:
            parts.append(f"acquired {utc_iso(image.acquired_at)}")
        if image.cloud_cover is not None:
            parts.append(f"cloud cover {image.cloud_cover:g} %")
        if image.collection_id:
            parts.append(f"collection {image.collection_id}")
        return "; ".join(parts) + (f". Bands: {bands}." if bands else ".")


def utc_iso(value: datetime) -> str:
    """A time as ISO 8601 in UTC with a Z: the form TIME values and JSON answers use."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def find_layer(conn: Connection, name: str) -> Layer:
    """The layer called `name` (an image id first, then a collection id); NotFound if none.

    A collection without images is not a layer: there is nothing to draw and no bands to describe.
    """
    if not queries.valid_id(name):
        raise NotFound(f"no image or collection {name!r} in the catalog")
    image = queries.get_image(conn, name)
    if image is not None:
        collection = queries.get_collection(conn, image.collection_id) if image.collection_id else None
        return Layer(name, image, collection, False)
    collection = queries.get_collection(conn, name)
    if collection is None:
        raise NotFound(f"no image or collection {name!r} in the catalog")
    newest = queries.search_images(conn, queries.ImageQuery(collections=[name], limit=1))
    if not newest:
        raise NotFound(f"collection {name!r} has no images yet")
    return Layer(name, newest[0], collection, True, queries.collection_extent(conn, name),
                 queries.collection_contents(conn, name))


class LayerCache:
    """`find_layer` with a memory: layers by name, forgotten whenever the catalog changes.

    A tile server looks up the same few layers thousands of times; each lookup is two queries and
    ~1.3 ms of a ~10 ms tile. Entries are stamped with the catalog's change count (catalog/changes.py)
    read before the lookup, so a change committed during it makes the entry stale, not wrong.
    """

    def __init__(self, db: Database, max_entries: int = 4096) -> None:
        self.db = db
        self.max_entries = max_entries
        self._entries: dict[str, tuple[int, Layer]] = {}

    def find(self, name: str) -> Layer:
        """The layer called `name`; NotFound if there is none (not remembered)."""
        version = self.db.changes.version
        entry = self._entries.get(name)
        if version is not None and entry is not None and entry[0] == version:
            return entry[1]
        with self.db.connection() as conn:
            layer = find_layer(conn, name)
        if version is not None:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[name] = (version, layer)
        return layer


def list_layers(conn: Connection) -> list[Layer]:
    """Every layer of the catalog: the collections that have images, then every image."""
    layers = []
    images = queries.search_images(conn, queries.ImageQuery(sort="id", limit=None))
    collections = {c.id: c for c in queries.list_collections(conn)}
    newest: dict[str, ImageRecord] = {}
    for image in images:
        cid = image.collection_id
        if cid and (cid not in newest or _newer(image, newest[cid])):
            newest[cid] = image
    for cid in sorted(newest):
        layers.append(Layer(cid, newest[cid], collections.get(cid), True, queries.collection_extent(conn, cid)))
    for image in images:
        cid = image.collection_id
        layers.append(Layer(image.id, image, collections.get(cid) if cid else None, False))
    return layers


def _newer(a: ImageRecord, b: ImageRecord) -> bool:
    at, bt = a.acquired_at, b.acquired_at
    if at is None:
        return False
    return bt is None or at > bt


def parse_time_range(text: str | None, parameter: str = "datetime") -> TimeRange:
    """A time filter: one instant, one day (that whole day), or `start/end` with `..` or empty for
    an open end. Errors name `parameter` (`datetime` for tiles, `TIME` for WMS)."""
    text = (text or "").strip()
    if not text:
        return None, None
    parts = text.split("/")
    if len(parts) > 2:
        raise InvalidInput(f"{parameter}: {text!r} is not a time or an interval 'start/end'")
    values: list[datetime | None] = []
    for part in parts:
        part = part.strip()
        if part in ("", ".."):
            values.append(None)
            continue
        value = parse_datetime(part)
        if value is None:
            raise InvalidInput(f"{parameter}: {part!r} is not a date or time (e.g. 2024-06-01 or 2024-06-01T10:00:00Z)")
        values.append(value)
    if len(values) == 1:
        start = values[0]
        if start is None:
            return None, None
        day_only = len(parts[0].strip()) <= 10
        return start, (start + timedelta(days=1) - timedelta(microseconds=1)) if day_only else start
    if values[0] and values[1] and values[0] > values[1]:
        raise InvalidInput(f"{parameter}: the interval {text!r} ends before it starts")
    return values[0], values[1]


def wgs84_bounds(crs: CRS | str, bounds: Sequence[float]) -> BBox | None:
    """`bounds` in `crs` as a lon/lat box (densified edges; across the antimeridian, east past 180),
    or None if it cannot be computed."""
    crs = CRS.from_user_input(crs)
    if crs.is_geographic and crs.to_epsg() in (4326, None) and abs(bounds[0]) <= 540:
        west, south, east, north = (float(v) for v in bounds)
    else:
        try:
            left, bottom, right, top = (float(v) for v in bounds)
            west, south, east, north = transformer(crs, WGS84).transform_bounds(left, bottom, right, top,
                                                                                densify_pts=21)
        except Exception:
            return None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return None
    return BBox(west, south, east + 360.0 if west > east else east, north)


def images_for_area(db: Database, layer: Layer, crs: CRS | str, bounds: Sequence[float],
                    choice: MosaicChoice = MosaicChoice()) -> list[ImageRecord]:
    """The images to draw for `bounds` (in `crs`): the image itself, or the collection's images
    that touch the area as `choice` picks them, the one on top first (the catalog's GiST index does
    the search; only then is a connection taken from the pool)."""
    if not layer.is_collection:
        return [layer.image]
    box = wgs84_bounds(crs, bounds)
    start, end = choice.time
    with db.connection() as conn:
        return queries.mosaic_images(conn, layer.id, box, start, end, choice.max_cloud_cover, choice.order,
                                     choice.closest_to, MAX_MOSAIC_IMAGES)


@dataclass(frozen=True)
class CollectionOverview:
    """A collection's images drawn once onto a coarse grid (raster/collection_overview.py), standing
    in for them in maps too coarse to need more: drawn like one image of the collection's bands."""

    id: str  # the collection's
    checksum: str  # of the collection's contents it was drawn from: a map's ETag changes with them
    bands: list[dict[str, Any]]  # the collection's newest image's: names, statistics for the default stretch
    path: Path
    nodata: None = None  # where no image has data, the overview's own mask says so


MapImage = ImageRecord | CollectionOverview  # what a map of a layer draws


ImageT = TypeVar("ImageT", ImageRecord, MapImage)


@dataclass(frozen=True)
class OnDisk(Generic[ImageT]):
    """The images of a read whose COG files are on disk (with those files, in order), and the ids of
    the images whose file is gone."""

    images: list[ImageT]
    files: list[Source]
    missing: list[str]


def on_disk(images: Sequence[ImageT], files: Sequence[Source], mosaic: bool) -> OnDisk[ImageT]:
    """Set aside the images whose file is gone (deleted by hand, a disk not mounted).

    A mosaic (a collection's images over an area) is drawn from the images that remain, and the
    caller says which were skipped; one image, or a mosaic whose every image is gone, has nothing
    to draw from: ImageFileMissing. One stat per image, far below the cost of a read; an object in
    a store is not asked (a round trip a tile): one that is gone fails its read the same way.
    """
    found: OnDisk[ImageT] = OnDisk([], [], [])
    for image, path in zip(images, files):
        if is_remote(path) or Path(path).is_file():
            found.images.append(image)
            found.files.append(path)
        else:
            found.missing.append(image.id)
    if found.missing and (not mosaic or not found.images):
        raise ImageFileMissing(found.missing)
    return found


def images_on_disk(settings: Settings, images: Sequence[ImageT], mosaic: bool) -> OnDisk[ImageT]:
    """`on_disk` of catalog images, with their files where the catalog says they are (catalog/files.py:
    ImageFileRefused for a row pointing where the server must not read), or a collection overview's."""
    return on_disk(images, [image.path if isinstance(image, CollectionOverview) else image_file(settings, image)
                            for image in images], mosaic)


def _file_gone(image: object, path: Source) -> ImageFileMissing:
    """A file that went missing between `on_disk` and its read: the same 410 as one found missing."""
    return ImageFileMissing([getattr(image, "id", None) or Path(os.fspath(path)).stem])


class Drawable(Protocol):
    """What drawing an image needs besides its file: its bands (names, statistics for the default
    stretch) and its nodata. A catalog image is one; so is a raster described straight from a file."""

    @property
    def bands(self) -> list[dict[str, Any]]: ...

    @property
    def nodata(self) -> float | None: ...


def read_image_area(image: Drawable, image_file: Source, spec: RenderSpec, crs: CRS | str,
                    bounds: Sequence[float], width: int, height: int) -> Area:
    """The raw values of `spec.source_bands` of one image over an area, with its validity.

    Every read of an area for a render comes here: the render budget is checked before the read
    (RenderTooCostly) and the deadline before and after it (RenderDeadlineExceeded).
    """
    spec.check_cost(width * height)
    check_deadline()
    nodata = spec.nodata if spec.nodata is not None else image.nodata
    left, bottom, right, top = (float(v) for v in bounds)
    area = read_area(image_file, crs, (left, bottom, right, top), width, height, spec.source_bands,
                     resampling=spec.resampling, nodata=nodata)
    check_deadline()
    return area


def render_layer(images: Sequence[Drawable], files: Sequence[Source], spec: RenderSpec, crs: CRS | str,
                 bounds: Sequence[float], width: int, height: int) -> np.ndarray:
    """RGBA (4, height, width) uint8: each image in turn (newest first) drawn into the pixels still
    empty, stopping once none are. `files` are the images' COG paths, in the same order."""
    rgba = np.zeros((4, height, width), dtype=np.uint8)
    gone = 0
    for image, path in zip(images, files):
        try:
            area = read_image_area(image, path, spec, crs, bounds, width, height)
        except FileNotFoundError:
            # An object removed from its store (not looked up before each tile, as files are by
            # on_disk): a mosaic is drawn from the others, as it is without a missing file.
            gone += 1
            if len(images) == 1 or gone == len(images) or not is_remote(path):
                raise _file_gone(image, path) from None
            log.warning("image %r is drawn without its object %s: it is gone from the store",
                        getattr(image, "id", "?"), path)
            continue
        except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
            raise InvalidInput(str(exc)) from None
        if not area.valid.any():
            continue
        drawn = render(area.data, area.valid, spec, image.bands)
        if not rgba[3].any():
            rgba = drawn
        else:
            empty = (rgba[3] == 0) & (drawn[3] > 0)
            rgba[:, empty] = drawn[:, empty]
        if rgba[3].all():
            break
    return rgba


def value_at(images: Sequence[ImageRecord], files: Sequence[Source], crs: CRS | str, x: float, y: float,
             nodata: float | None = None) -> tuple[ImageRecord, list[float | None]] | None:
    """The topmost image with data at (x, y) in `crs` and its raw band values, as a map shows it:
    the first of `images` (newest first) whose pixel there is valid, or None where none has data.
    An image that covers the point with nodata is returned only if no other image has data."""
    fallback = None
    for image, path in zip(images, files):
        try:
            values = read_point(path, crs, x, y, nodata if nodata is not None else image.nodata)
        except FileNotFoundError:
            raise _file_gone(image, path) from None
        if values is None:
            continue
        if any(v is not None for v in values):
            return image, values
        fallback = fallback or (image, values)
    return fallback
