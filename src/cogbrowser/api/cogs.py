"""`/cogs/{image_id}.tif`: the stored COG byte for byte, for GDAL's /vsicurl/, QGIS and browsers.

HTTP Range is the whole point (a COG reader fetches the header, then the tiles it needs), so this
handles single and multiple ranges (206, multipart/byteranges), 416 for unsatisfiable ones,
ETag / Last-Modified with If-None-Match, If-Modified-Since and If-Range, and a CORS preflight that
lets a page send Range and read Content-Range (the headers themselves: web/cors.py, on every
answer). Declared with `@endpoint` like the API, so it is in the OpenAPI document and refuses
unknown query parameters the same way. Bodies are streamed from the file, never read whole.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Blueprint, Response, request
from werkzeug.http import http_date, parse_date, parse_range_header, quote_etag
from werkzeug.wsgi import wrap_file

from cogbrowser.catalog import queries
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import ImageFileMissing, NotFound
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
    path = services().image_file(row)
    try:
        stat = path.stat()
    except OSError:
        raise ImageFileMissing([image_id]) from None
    etag = _etag(row, stat)
    headers = {
        "ETag": quote_etag(etag),
        "Last-Modified": http_date(stat.st_mtime),
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=3600",
        "Content-Disposition": f'inline; filename="{image_id}.tif"',
    }
    if _not_modified(etag, stat.st_mtime):
        return Response(status=304, headers=headers)

    size = stat.st_size
    ranges = _requested_ranges(size, etag, stat.st_mtime)
    if ranges == []:
        raise ApiError(416, "Range Not Satisfiable", f"no range asked lies within the file's {size} bytes",
                       headers={**headers, "Content-Range": f"bytes */{size}"})
    if ranges is None:
        # The WSGI server closes the file when the body is sent: no context manager can span that.
        body: Iterable[bytes] = wrap_file(request.environ, path.open("rb"), CHUNK) if request.method == "GET" else []  # noqa: SIM115
        return _response(body, 200, headers, "image/tiff", size)
    if len(ranges) == 1:
        start, stop = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        body = _read(path, [(start, stop)]) if request.method == "GET" else []
        return _response(body, 206, headers, "image/tiff", stop - start)
    boundary = uuid.uuid4().hex
    parts = [(f"--{boundary}\r\nContent-Type: image/tiff\r\nContent-Range: bytes {a}-{b - 1}/{size}\r\n\r\n"
              .encode("ascii"), a, b) for a, b in ranges]
    closing = f"\r\n--{boundary}--\r\n".encode("ascii")
    length = sum(len(head) + (b - a) for head, a, b in parts) + 2 * (len(parts) - 1) + len(closing)
    body = _multipart(path, parts, closing) if request.method == "GET" else []
    return _response(body, 206, headers, f"multipart/byteranges; boundary={boundary}", length)


@endpoint(blueprint, "OPTIONS", COG, summary="The CORS preflight of a COG read", tags=TAGS, path_parameters=PATH,
          responses={204: None})
def cog_preflight(image_id: str) -> Response:
    """A page elsewhere may send Range and the validators, and read Content-Range (the
    Access-Control headers of every /cogs answer)."""
    if not queries.valid_id(image_id):
        raise NotFound(f"no image {image_id!r} in the catalog")
    return Response(status=204)


def _etag(row: ImageRecord, stat: os.stat_result) -> str:
    """The catalog's sha256 for the files we own; size and mtime for files referenced in place."""
    if row.managed:
        return row.checksum[:32]
    return f"{stat.st_size:x}-{stat.st_mtime_ns:x}"


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


def _read(path: Path, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for start, stop in ranges:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                block = handle.read(min(CHUNK, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block


def _multipart(path: Path, parts: list[tuple[bytes, int, int]], closing: bytes) -> Iterator[bytes]:
    for index, (head, start, stop) in enumerate(parts):
        yield (b"\r\n" if index else b"") + head
        yield from _read(path, [(start, stop)])
    yield closing


def _response(body: Iterable[bytes], status: int, headers: dict, content_type: str, length: int) -> Response:
    response = Response(body, status=status, headers=headers, content_type=content_type, direct_passthrough=True)
    response.content_length = length
    return response
