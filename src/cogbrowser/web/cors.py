"""Cross-origin access to the APIs: a browser page served elsewhere (a STAC browser, a notebook's
map) may read /api and /stac and, with a token, write; preflight requests are answered here."""

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


def allow_cross_origin(app: Flask) -> None:
    """Answer preflights of API paths and add the CORS headers to every API answer."""

    @app.before_request
    def preflight() -> Response | None:
        if request.method == "OPTIONS" and request.path.startswith(API_PREFIXES):
            return Response(status=204, headers=ALLOW)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        if request.path.startswith(API_PREFIXES):
            for name, value in ALLOW.items():
                response.headers.setdefault(name, value)
        return response
