"""One HTTP answer for every rendered picture: XYZ tiles, WMTS GetTile, WMS GetMap, previews.

Given the images to draw and the area, it gives the response with the caching every rendering
surface needs: an ETag from what determines the pixels (the images' checksums, the area, the size,
the format and the request's parameters), 304 for a matching If-None-Match, Cache-Control, and the
shared in-memory cache of encoded pictures, so the same picture is rendered once.

A collection drawn as a mosaic skips images whose file is gone and names them in the
`X-Cogbrowser-Missing-Images` header (their checksums leave the ETag, so the picture drawn without
them is never mistaken for the whole one); one image whose file is gone is ImageFileMissing (410).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from flask import Flask, Response, request
from rasterio.crs import CRS

from cogbrowser.layers import MapImage, render_layer
from cogbrowser.raster.budget import enter_limits, leave_limits
from cogbrowser.raster.render import FORMATS, encode
from cogbrowser.raster.render_spec import RenderSpec
from cogbrowser.web.context import services

CACHE_CONTROL = "public, max-age=3600"
MISSING_IMAGES_HEADER = "X-Cogbrowser-Missing-Images"  # ids of a mosaic's images left out: their file is gone


def missing_images_headers(missing: Sequence[str]) -> dict[str, str]:
    """The headers of an answer that left images out (none when nothing is missing): their ids,
    readable by pages of any origin, and no-cache, so that a client asks again (its ETag no longer
    matches once the files are back) rather than keeping the incomplete answer for an hour."""
    if not missing:
        return {}
    return {MISSING_IMAGES_HEADER: ",".join(missing), "Access-Control-Expose-Headers": MISSING_IMAGES_HEADER,
            "Cache-Control": "no-cache"}


_LIMITS_KEY = "cogbrowser.render_limits"  # where a request keeps the token of its render limits


def limit_renders(app: Flask) -> None:
    """Give every request the render budget and deadline of the settings (raster/budget.py): the
    raster core checks them where it reads and computes, and the handlers of web/problems.py and the
    OGC adapters answer what it raises (4xx naming the budget; 503 with Retry-After)."""

    @app.before_request
    def start_render_limits() -> None:
        settings = services().settings
        request.environ[_LIMITS_KEY] = enter_limits(settings.render_budget, settings.render_deadline)

    @app.teardown_request
    def end_render_limits(_: BaseException | None) -> None:
        token = request.environ.pop(_LIMITS_KEY, None)  # per request: the UI's in-process calls nest
        if token is not None:
            leave_limits(token)


def rendered_response(images: Sequence[MapImage], spec: RenderSpec, crs: CRS, bounds: Sequence[float],
                      width: int, height: int, fmt: str, headers: dict | None = None, *,
                      mosaic: bool = False) -> Response:
    """The encoded picture of `images` over `bounds` (in `crs`), or a 304 when the client has it.

    `fmt` is a key of FORMATS; `mosaic` says the images are a collection's (skip a lost one). Raises
    InvalidInput for values the reader refuses (e.g. a nodata the image's dtype cannot hold) and
    ImageFileMissing; adapters turn those into their own error format.
    """
    fmt = fmt.lower()
    found = services().images_on_disk(images, mosaic)
    key = repr(([i.checksum for i in found.images], crs.to_string(), tuple(float(v) for v in bounds), width,
                height, fmt, sorted(request.args.items(multi=True))))

    def draw() -> bytes:
        rgba = render_layer(found.images, found.files, spec, crs, bounds, width, height)
        return encode(rgba, fmt)

    return cached_response(key, draw, FORMATS[fmt], {**(headers or {}), **missing_images_headers(found.missing)})


def cached_response(key: str, produce: Callable[[], bytes], content_type: str,
                    headers: dict | None = None) -> Response:
    """The bytes `produce` makes, with an ETag from `key` (a text of everything that determines
    them), 304 for a matching If-None-Match, Cache-Control, and the shared cache of pictures.

    For pictures that are more than one layer's render (e.g. a WMS GetMap of several layers on a
    background colour, or a GeoTIFF); exceptions of `produce` go to the caller.
    """
    etag = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    headers = {"ETag": f'"{etag}"', "Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*",
               **(headers or {})}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)

    cache = services().cache
    body = cache.get(etag)
    if body is None:
        body = produce()
        cache.put(etag, body)
    return Response(body, headers=headers, content_type=content_type)
