"""A user's own offline basemap: an MBTiles or PMTiles file of raster tiles, or a COG.

`cogbrowser serve --basemap FILE` opens one with `open_basemap` and the app serves its tiles at
/ui/basemap/tiles/{z}/{x}/{y} (XYZ, WebMercatorQuad) with a TileJSON at /ui/basemap/tiles.json
(ogc/basemap.py); the Browse page offers it under the shipped Natural Earth layers. Tiles come straight from the
file (MBTiles rows, PMTiles byte ranges) or, for a COG, are rendered by the raster core like any
image's, with its default look.
"""

from __future__ import annotations

import gzip
import sqlite3
import threading
from pathlib import Path

import morecantile
import rasterio

from cogbrowser.errors import CogbrowserError
from cogbrowser.layers import render_layer
from cogbrowser.raster.metadata import describe
from cogbrowser.raster.render import FORMATS, encode
from cogbrowser.raster.render_spec import parse_render_spec
from cogbrowser.tile_grid import TILE_SIZE, WEB_MERCATOR_QUAD, zoom_range


class BasemapError(CogbrowserError):
    """The basemap file cannot be used; the message says why."""


class Basemap:
    """What the Browse page needs to draw a basemap: its tiles' zooms, box, format and credit."""

    def __init__(self, path: Path, name: str, minzoom: int, maxzoom: int,
                 bounds: tuple[float, float, float, float], format: str, attribution: str) -> None:
        self.path, self.name, self.minzoom, self.maxzoom, self.bounds = path, name, minzoom, maxzoom, bounds
        self.format, self.attribution = format, attribution
        stat = path.stat()
        self.version = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"  # a new file is a new basemap (ETags)

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes, or None where the basemap has none."""
        raise NotImplementedError


class MBTiles(Basemap):
    """Tiles in an SQLite file (MBTiles 1.3: rows in TMS order, y counted from the south)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        meta = dict(self._db().execute("SELECT name, value FROM metadata").fetchall())
        fmt = str(meta.get("format", "png")).lower()
        if fmt not in FORMATS:
            raise BasemapError(f"{path.name}: its tiles are {fmt!r}; a basemap needs png, jpg or webp raster tiles")
        zooms = self._db().execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        if zooms[0] is None:
            raise BasemapError(f"{path.name} holds no tiles")
        super().__init__(path, meta.get("name") or path.stem, int(meta.get("minzoom", zooms[0])),
                         int(meta.get("maxzoom", zooms[1])), _bounds(meta.get("bounds")), fmt,
                         meta.get("attribution", ""))

    def _db(self) -> sqlite3.Connection:
        """One read-only connection a thread (sqlite3 connections belong to their thread)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(f"{self._path.as_uri()}?mode=ro", uri=True)
        return db

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        row = self._db().execute(
            "SELECT tile_data FROM tiles"
            " WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
        return _plain(row[0]) if row else None


class PMTiles(Basemap):
    """Tiles in a PMTiles v3 archive, read by byte ranges of a memory-mapped file."""

    def __init__(self, path: Path) -> None:
        from pmtiles.reader import Reader

        self._file = open(path, "rb")  # noqa: SIM115 - kept open for the server's life
        self._lock = threading.Lock()
        self._reader = Reader(self._read)
        try:
            header = self._reader.header()
        except Exception as exc:
            raise BasemapError(f"{path.name} is not a PMTiles v3 archive ({exc})") from None
        kinds = {1: "mvt", 2: "png", 3: "jpg", 4: "webp"}
        tile_type = header["tile_type"]
        fmt = kinds.get(int(tile_type.value if hasattr(tile_type, "value") else tile_type), "unknown")
        if fmt not in FORMATS:
            raise BasemapError(f"{path.name}: its tiles are {fmt}; a basemap needs png, jpg or webp raster tiles")
        bounds = (header["min_lon_e7"] / 1e7, header["min_lat_e7"] / 1e7, header["max_lon_e7"] / 1e7,
                  header["max_lat_e7"] / 1e7)
        metadata = self._reader.metadata() or {}
        super().__init__(path, metadata.get("name") or path.stem, int(header["min_zoom"]), int(header["max_zoom"]),
                         bounds, fmt, metadata.get("attribution", ""))

    def _read(self, offset: int, length: int) -> bytes:
        with self._lock:  # one file position for every thread
            self._file.seek(offset)
            return self._file.read(length)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        data = self._reader.get(z, x, y)
        return _plain(data) if data else None


class CogBasemap(Basemap):
    """A COG drawn as the basemap: the raster core renders each WebMercator tile with the
    image's default look (bands 1-3 or band 1, its 2-98 % stretch), as it renders any layer."""

    def __init__(self, path: Path) -> None:
        try:
            info = describe(path)
        except (rasterio.errors.RasterioError, CogbrowserError) as exc:
            raise BasemapError(f"{path.name} cannot be read as a raster ({exc})") from None
        self._path = path
        self._image = info
        minzoom, maxzoom = zoom_range(info, WEB_MERCATOR_QUAD)
        west, south, east, north = info.bbox
        super().__init__(path, path.stem, minzoom, maxzoom, (max(west, -180), south, min(east, 180), north), "png", "")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        spec = parse_render_spec({}, [band.get("name") for band in self._image.bands])
        rgba = render_layer([self._image], [self._path], spec, WEB_MERCATOR_QUAD.rasterio_crs,
                            tuple(WEB_MERCATOR_QUAD.xy_bounds(morecantile.Tile(x, y, z))), TILE_SIZE, TILE_SIZE)
        return encode(rgba, "png") if rgba[3].any() else None


def open_basemap(path: Path) -> Basemap:
    """The basemap in `path`, by its kind: .mbtiles, .pmtiles, or any raster GDAL reads (a COG)."""
    path = Path(path)
    if not path.is_file():
        raise BasemapError(f"no basemap file {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".mbtiles":
            return MBTiles(path)
        if suffix == ".pmtiles":
            return PMTiles(path)
    except sqlite3.DatabaseError as exc:
        raise BasemapError(f"{path.name} is not an MBTiles file ({exc})") from None
    return CogBasemap(path)


def _plain(data: bytes) -> bytes:
    """Tile bytes as stored, un-gzipped if a writer compressed raster tiles (some do)."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _bounds(text: str | None) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in str(text).split(","))
        return west, south, east, north
    except (TypeError, ValueError):
        return -180.0, -85.0511, 180.0, 85.0511
