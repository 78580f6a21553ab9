"""`/cogs/{image_id}.tif`: the stored COG byte for byte, for GDAL's /vsicurl/, QGIS and browsers.

HTTP Range is the whole point (a COG reader fetches the header, then the tiles it needs), so this
handles single and multiple ranges (206, multipart/byteranges), 416 for unsatisfiable ones,
ETag / Last-Modified with If-None-Match, If-Modified-Since and If-Range, and a CORS preflight that
lets a page send Range and read Content-Range (the headers themselves: web/cors.py, on every
answer). Declared with `@endpoint` like the API, so it is in the OpenAPI document and refuses
unknown query parameters the same way. Bodies are streamed from the file, never read whole.

A COG in an object store is streamed through from the store the same way (COGBROWSER_RAW_ACCESS=proxy,
the default), or answered with a 307 to a short-lived signed URL of the store (`redirect`: a Swift
TempURL or an S3 presigned URL), so the bytes flow from the store and the client repeats its Range
there. Access is checked before either, like every request.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, redirect, request
from werkzeug.http import http_date, parse_date, parse_range_header, quote_etag
from werkzeug.wsgi import wrap_file

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_source
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import ImageFileMissing, NotFound
from cogbrowser.storage.stores import ObjectInfo, ObjectStore
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("cogs", __name__)

COG = "/cogs/<image_id>.tif"
TAGS = ("raw files",)
PATH = {"image_id": "The image's id"}
CHUNK = 256 * 1024
MAX_RANGES = 64  # more ranges than this in one request get the whole file (RFC 9110 allows ignoring Range)
TIFF = {"image/tiff": {"schema": {"type": "string", "format": "binary"}}}
HEADERS = {name: {"description": description, "schema": {"type": "string"}} for name, description in (
    ("ETag", "the file's version (for If-None-Match and If-Range)"),
    ("Last-Modified", "when the file was written (for If-Modified-Since and If-Range)"),
    ("Accept-Ranges", "bytes"))}
CONTENT_RANGE = {"Content-Range": {"description": "bytes first-last/size (416: bytes */size)",
                                   "schema": {"type": "string"}}}
RESPONSES = {
    200: {"description": "The whole file (no Range, one not understood, or an If-Range that no longer holds)",
          "content": TIFF, "headers": HEADERS},
    206: {"description": "The range asked (image/tiff, with Content-Range), or the ranges asked as "
                         "multipart/byteranges",
          "content": {**TIFF, "multipart/byteranges": {"schema": {"type": "string", "format": "binary"}}},
          "headers": {**HEADERS, **CONTENT_RANGE}},
    307: {"description": "The COG is an object in a store and the server redirects raw reads there "
                         "(COGBROWSER_RAW_ACCESS=redirect): a short-lived signed URL (Swift TempURL, S3 presigned "
                         "URL) to send the same request to; also an image registered in place by URL"},
    304: {"description": "Not modified: the client's copy (If-None-Match, If-Modified-Since) is current",
          "headers": HEADERS},
    404: None,
    410: None,
    416: {"description": "No range asked lies within the file", "headers": CONTENT_RANGE},
}


@endpoint(blueprint, ("GET", "HEAD"), COG, summary="The stored COG, byte for byte, with HTTP Range", tags=TAGS,
          path_parameters=PATH, responses=RESPONSES)
def cog(image_id: str) -> Response:
    """Send Range (one range or several, suffix ranges too) to read parts of it, as GDAL's /vsicurl/
    does; If-None-Match / If-Modified-Since for a 304 and If-Range for a range of an unchanged file."""
    with services().db.connection() as conn:
        row = queries.get_image(conn, image_id)
    if row is None:
        raise NotFound(f"no image {image_id!r} in the catalog")
    source = _source(row)
    if isinstance(source, str):
        return redirect(source, 307, Response=Response)  # type: ignore[return-value]
    etag = source.etag
    headers = {
        "ETag": quote_etag(etag),
        "Last-Modified": http_date(source.mtime),
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=3600",
        "Content-Disposition": f'inline; filename="{image_id}.tif"',
    }
    if _not_modified(etag, source.mtime):
        return Response(status=304, headers=headers)

    size = source.size
    ranges = _requested_ranges(size, etag, source.mtime)
    if ranges == []:
        raise ApiError(416, "Range Not Satisfiable", f"no range asked lies within the file's {size} bytes",
                       headers={**headers, "Content-Range": f"bytes */{size}"})
    if ranges is None:
        body: Iterable[bytes] = source.whole() if request.method == "GET" else []
        return _response(body, 200, headers, "image/tiff", size)
    if len(ranges) == 1:
        start, stop = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        body = source.read(start, stop) if request.method == "GET" else []
        return _response(body, 206, headers, "image/tiff", stop - start)
    boundary = uuid.uuid4().hex
    parts = [(f"--{boundary}\r\nContent-Type: image/tiff\r\nContent-Range: bytes {a}-{b - 1}/{size}\r\n\r\n"
              .encode("ascii"), a, b) for a, b in ranges]
    closing = f"\r\n--{boundary}--\r\n".encode("ascii")
    length = sum(len(head) + (b - a) for head, a, b in parts) + 2 * (len(parts) - 1) + len(closing)
    body = _multipart(source, parts, closing) if request.method == "GET" else []
    return _response(body, 206, headers, f"multipart/byteranges; boundary={boundary}", length)


@endpoint(blueprint, "OPTIONS", COG, summary="The CORS preflight of a COG read", tags=TAGS, path_parameters=PATH,
          responses={204: None})
def cog_preflight(image_id: str) -> Response:
    """A page elsewhere may send Range and the validators, and read Content-Range (the
    Access-Control headers of every /cogs answer)."""
    if not queries.valid_id(image_id):
        raise NotFound(f"no image {image_id!r} in the catalog")
    return Response(status=204)


@dataclass(frozen=True)
class _File:
    """A COG on this machine's disk."""

    path: Path
    size: int
    mtime: float
    etag: str

    def whole(self) -> Iterable[bytes]:
        # The WSGI server closes the file when the body is sent: no context manager can span that.
        return wrap_file(request.environ, self.path.open("rb"), CHUNK)  # noqa: SIM115

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                block = handle.read(min(CHUNK, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block


@dataclass(frozen=True)
class _Object:
    """A COG in an object store, streamed through (COGBROWSER_RAW_ACCESS=proxy)."""

    store: ObjectStore
    key: str
    size: int
    mtime: float
    etag: str

    def whole(self) -> Iterable[bytes]:
        return self.read(0, self.size)

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        return self.store.read(self.key, start, stop - 1) if stop > start else iter(())


def _source(row: ImageRecord) -> _File | _Object | str:
    """Where the bytes come from: a file, an object streamed through, or the URL to redirect to
    (a signed URL of the store in redirect mode; the URL of an image registered in place by URL)."""
    settings = services().settings
    path, found = image_source(settings, row)
    if found is None and isinstance(path, str):
        return row.path  # registered in place at an http(s) URL: its server serves its ranges
    if found is not None:
        store, key = found
        if settings.raw_access == "redirect" and request.method == "GET":  # a HEAD is answered here: a
            # URL signed for GET does not sign a HEAD on S3, and GDAL's /vsicurl/ starts with a HEAD
            return store.signed_url(key, settings.raw_url_seconds)
        info = _object_info(store, key, row.managed)
        if info is None:
            raise ImageFileMissing([row.id])
        etag = row.checksum[:32] if row.managed else info.etag
        return _Object(store, key, info.size, info.modified.timestamp(), etag)
    assert isinstance(path, Path)
    try:
        stat = path.stat()
    except OSError:
        raise ImageFileMissing([row.id]) from None
    # The catalog's sha256 for the files we own; size and mtime for files referenced in place.
    etag = row.checksum[:32] if row.managed else f"{stat.st_size:x}-{stat.st_mtime_ns:x}"
    return _File(path, stat.st_size, stat.st_mtime, etag)


_known_objects: OrderedDict[tuple[str, str], ObjectInfo] = OrderedDict()
_known_lock = threading.Lock()


def _object_info(store: ObjectStore, key: str, managed: bool) -> ObjectInfo | None:
    """An object's size and date; a managed object's are asked once (its name carries its
    checksum: it never changes), so a range read costs one round trip to the store, not two."""
    cache_key = (str(store.location), key)
    with _known_lock:
        if cache_key in _known_objects:
            return _known_objects[cache_key]
    info = store.head(key)
    if info is not None and managed:
        with _known_lock:
            _known_objects[cache_key] = info
            while len(_known_objects) > 4096:
                _known_objects.popitem(last=False)
    return info


def _not_modified(etag: str, mtime: float) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and int(mtime) <= since.timestamp()


def _requested_ranges(size: int, etag: str, mtime: float) -> list[tuple[int, int]] | None:
    """Satisfiable byte ranges (start, stop) of the request; None: send the whole file; []: 416."""
    header = request.headers.get("Range")
    if not header or request.method not in ("GET", "HEAD"):
        return None
    if_range = request.headers.get("If-Range")
    if if_range and not _if_range_holds(if_range, etag, mtime):
        return None
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) > MAX_RANGES:
        return None  # a Range we do not understand is ignored, as RFC 9110 says
    ranges = []
    for start, stop in parsed.ranges:
        if start < 0:  # suffix: the last -start bytes
            start, stop = max(0, size + start), size
        else:
            stop = size if stop is None else min(stop, size)
        if start < stop:
            ranges.append((start, stop))
    return ranges


def _if_range_holds(value: str, etag: str, mtime: float) -> bool:
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == quote_etag(etag)  # If-Range needs a strong match
    date = parse_date(value)
    return date is not None and int(mtime) == int(date.timestamp())


def _multipart(source: _File | _Object, parts: list[tuple[bytes, int, int]], closing: bytes) -> Iterator[bytes]:
    for index, (head, start, stop) in enumerate(parts):
        yield (b"\r\n" if index else b"") + head
        yield from source.read(start, stop)
    yield closing


def _response(body: Iterable[bytes], status: int, headers: dict, content_type: str, length: int) -> Response:
    response = Response(body, status=status, headers=headers, content_type=content_type, direct_passthrough=True)
    response.content_length = length
    return response
