"""Cross-origin access: a browser page served elsewhere (a STAC browser, a notebook's map) may read
/api and /stac and, with a token, write (their preflight requests are answered here), and may read
/cogs with HTTP Range (its preflight is the OPTIONS operation of /cogs). Every answer under these
paths carries the headers, errors included."""

from __future__ import annotations

from flask import Flask, Response, request

API_PREFIXES = ("/api/", "/stac")
ALLOW = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, If-None-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Content-Disposition",
    "Access-Control-Max-Age": "86400",
}
COG_PREFIX = "/cogs/"
RANGE_READS = {  # a COG reader in a page (GDAL's WebAssembly build, geotiff.js) sends Range, reads Content-Range
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, If-Range",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges, Last-Modified",
    "Access-Control-Max-Age": "86400",
}


def allow_cross_origin(app: Flask) -> None:
    """Answer preflights of API paths and add the CORS headers to every answer under API_PREFIXES
    and COG_PREFIX."""

    @app.before_request
    def preflight() -> Response | None:
        if request.method == "OPTIONS" and request.path.startswith(API_PREFIXES):
            return Response(status=204, headers=ALLOW)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        allowed = ALLOW if request.path.startswith(API_PREFIXES) else (
            RANGE_READS if request.path.startswith(COG_PREFIX) else {})
        for name, value in allowed.items():
            response.headers.setdefault(name, value)
        return response
