"""Who may do what over HTTP: the access check that runs before every request.

- writes (every declared write endpoint; any method but GET/HEAD/OPTIONS elsewhere) need a token;
- reads need one when the server's `read_access` setting is "token", except the health check;
- the pages of the UI are not API requests: they are the UI's business.
"""

from __future__ import annotations

import hmac

from flask import Flask, request

from cogbrowser.web.context import services
from cogbrowser.web.endpoints import declared_access
from cogbrowser.web.problems import ApiError
from cogbrowser.web.tokens import presented_token

PROTECTED_PREFIXES = ("/api/", "/stac", "/cogs/", "/tiles/", "/wms", "/wmts")
OPEN_PATHS = ("/api/v1/health",)


def check_request_access(app: Flask) -> None:
    """Register the access check that runs before every request (see the module docstring)."""
    app.before_request(require_access)


def require_access() -> None:
    """Refuse the current request (401) unless it may do what it asks. The one rule of who may do
    what: run before every request, and by the server front (web/server.py) on a request's headers
    alone, before its body is read."""
    path = request.path
    if request.method == "OPTIONS" or not path.startswith(PROTECTED_PREFIXES) or path in OPEN_PATHS:
        return
    access = declared_access(request.endpoint) or ("read" if request.method in ("GET", "HEAD") else "write")
    context = services()
    if access == "read" and context.settings.read_access != "token":
        return
    token = presented_token()
    what = "writing" if access == "write" else "reading (this server requires a token for reads)"
    challenge = {"WWW-Authenticate": 'Bearer realm="cogbrowser"'}
    if token is None:
        raise ApiError(401, "Unauthorized", f"{what} needs an API token: send 'Authorization: Bearer <token>' "
                       "(create one with `cogbrowser token create NAME` on the server)", headers=challenge)
    if hmac.compare_digest(token, context.internal_token):
        return
    if context.tokens.name_of(token) is None:
        raise ApiError(401, "Unauthorized", "the API token is not valid (unknown, or revoked)",
                       headers={"WWW-Authenticate": 'Bearer realm="cogbrowser", error="invalid_token"'})
