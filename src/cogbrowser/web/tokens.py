"""API tokens: their form, their hash, and where a request presents one.

A token is `cgb_` and 43 URL-safe characters (256 random bits), shown once by `cogbrowser token
create NAME`; the catalog keeps only its SHA-256 (a slow hash adds nothing to a random secret of
that size). Clients send it as `Authorization: Bearer <token>`; map clients that cannot set
headers may add `access_token=<token>` to the URL instead (RFC 6750 §2.3).

Checked tokens are remembered until the catalog's tokens change (a notification, as for layers), so
a map that reads with a token costs no query a tile; `last_used_at` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from flask import request

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database

TOKEN_PREFIX = "cgb_"
TOKEN_PARAMETER = "access_token"  # a token in the URL: accepted by every endpoint, never one of its parameters
LAST_USED_INTERVAL = 60.0  # seconds between two writes of a token's last_used_at


def new_token() -> str:
    """A new random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the catalog stores of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_token(presented: str, expected: str) -> bool:
    """Whether two tokens are equal, in constant time. Compared as bytes: `hmac.compare_digest`
    refuses str with characters outside ASCII (TypeError), and a client may send any."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def bearer_token() -> str | None:
    """The token of the request's `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def url_token() -> str | None:
    """The token of the request's `access_token` parameter, if any: good for reads only (a URL is
    kept in histories and logs, and a page of another site can make a browser request one)."""
    return request.args.get(TOKEN_PARAMETER) or None


class TokenChecker:
    """Which token hashes are valid, remembered until the catalog changes (catalog/changes.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._valid: dict[str, tuple[int, str]] = {}  # hash -> (catalog version, token name)
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def name_of(self, token: str) -> str | None:
        """The name of a valid (not revoked) token, or None."""
        return self.name_of_hash(hash_token(token))

    def name_of_hash(self, digest: str) -> str | None:
        """The name of the valid token whose hash is `digest` (a sign-in session keeps only that), or None."""
        version = self.db.changes.version
        hit = self._valid.get(digest)
        if version is not None and hit is not None and hit[0] == version:
            name = hit[1]
        else:
            with self.db.connection() as conn:
                found = queries.active_token_name(conn, digest)
            if found is None:
                return None
            name = found
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
