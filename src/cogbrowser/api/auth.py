"""API tokens: who may write over HTTP, and (where the server says so) who may read.

A token is `cgb_` and 43 URL-safe characters (256 random bits), shown once by `cogbrowser token
create NAME`; the catalog keeps only its SHA-256 (a slow hash adds nothing to a random secret of
that size). Clients send it as `Authorization: Bearer <token>`; map clients that cannot set
headers may add `access_token=<token>` to the URL instead (RFC 6750 §2.3).

Access is decided once per request, before the view runs (`check_request_access`):

- writes (every declared write endpoint; any method but GET/HEAD/OPTIONS elsewhere) need a token;
- reads need one when the server's `read_access` setting is "token", except the health check;
- the pages of the UI are not API requests: they are the UI's business.

Checked tokens are remembered until the catalog's tokens change (a notification, as for layers), so
a map that reads with a token costs no query a tile; `last_used_at` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from flask import Flask, current_app, request

from cogbrowser.api.problems import ApiError
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database

TOKEN_PREFIX = "cgb_"
TOKEN_PARAMETER = "access_token"  # a token in the URL: accepted by every endpoint, never one of its parameters
PROTECTED_PREFIXES = ("/api/", "/stac", "/cogs/", "/tiles/", "/wms", "/wmts")
OPEN_PATHS = ("/api/v1/health",)
LAST_USED_INTERVAL = 60.0  # seconds between two writes of a token's last_used_at


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenChecker:
    """Which token hashes are valid, remembered until the catalog changes (catalog/changes.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._valid: dict[str, tuple[int, str]] = {}  # hash -> (catalog version, token name)
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def name_of(self, token: str) -> str | None:
        """The name of a valid (not revoked) token, or None."""
        digest = hash_token(token)
        version = self.db.changes.version
        hit = self._valid.get(digest)
        if version is not None and hit is not None and hit[0] == version:
            name = hit[1]
        else:
            with self.db.connection() as conn:
                row = queries.active_token(conn, digest)
            if row is None:
                return None
            name = row["name"]
            if version is not None:
                self._valid[digest] = (version, name)
        self._note_use(name)
        return name

    def _note_use(self, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(name, -LAST_USED_INTERVAL) < LAST_USED_INTERVAL:
                return
            self._last_used[name] = now
        with self.db.connection() as conn:
            queries.touch_token(conn, name)


def presented_token() -> str | None:
    """The token of the request: the Bearer credentials, else an `access_token` parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.args.get(TOKEN_PARAMETER) or None


def check_request_access(app: Flask) -> None:
    """Register the access check that runs before every request (see the module docstring)."""
    from cogbrowser.api.endpoints import ENDPOINTS

    declared = {spec.name: spec.access for spec in ENDPOINTS}

    @app.before_request
    def access_check() -> None:
        path = request.path
        if request.method == "OPTIONS" or not path.startswith(PROTECTED_PREFIXES) or path in OPEN_PATHS:
            return
        access = declared.get(request.endpoint or "") or (
            "read" if request.method in ("GET", "HEAD") else "write")
        settings = current_app.config["COGBROWSER_SETTINGS"]
        if access == "read" and settings.read_access != "token":
            return
        token = presented_token()
        what = "writing" if access == "write" else "reading (this server requires a token for reads)"
        challenge = {"WWW-Authenticate": 'Bearer realm="cogbrowser"'}
        if token is None:
            raise ApiError(401, "Unauthorized", f"{what} needs an API token: send 'Authorization: Bearer <token>' "
                           "(create one with `cogbrowser token create NAME` on the server)", headers=challenge)
        internal = current_app.extensions.get("cogbrowser.internal_token")
        if internal and hmac.compare_digest(token, internal):
            return
        if current_app.extensions["cogbrowser.tokens"].name_of(token) is None:
            raise ApiError(401, "Unauthorized", "the API token is not valid (unknown, or revoked)",
                           headers={"WWW-Authenticate": 'Bearer realm="cogbrowser", error="invalid_token"'})
