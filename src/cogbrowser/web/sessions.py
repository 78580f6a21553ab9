"""Sign-in sessions of the pages, when reads need a token (`read_access` "token").

A browser cannot add `Authorization` to the requests its pages make (map tiles, pictures, Dash's
callbacks), so the sign-in page (ui/signin.py) exchanges an API token for a session cookie:

- `cogbrowser_session`, HttpOnly (no script of the page can read it), SameSite=Strict (no page of
  another site makes the browser send it), Secure when the request came over HTTPS, for
  SESSION_LIFETIME;
- its value is the token's hash signed (HMAC-SHA256, itsdangerous) with a random secret kept in
  the catalog (`shared_secrets`, read once per process), so every server process of the catalog,
  on any machine, checks it without a query or a table of sessions, and a load balancer needs no
  sticky sessions; the token itself is never in it;
- it is valid while the signature holds, it is younger than SESSION_LIFETIME and its token is
  active: revoking the token ends all its sessions at once (the token cache forgets on the
  catalog's notification). Sign-out deletes the cookie from the browser.

What the cookie grants: reads, and the pages with their callbacks. API writes keep needing
`Authorization: Bearer` (auth.py). Unsafe requests that rely on the cookie must also come from
this server's own pages (`same_origin`: OWASP's check of the Origin, else Referer, header), in
addition to what SameSite does: a page on another port of the same host is the same "site".
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.web.tokens import TokenChecker, hash_token

SESSION_COOKIE = "cogbrowser_session"
SESSION_LIFETIME = timedelta(hours=12)
SECRET_FILE = "session-secret"  # in the data dir: where earlier versions kept the secret
SECRET_NAME = "session"  # the secret's name in the catalog (shared_secrets)
SIGNIN_PATH = "/signin"
SIGNOUT_PATH = "/signout"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Sessions:
    """Session cookies for valid tokens, and the token name behind a cookie."""

    def __init__(self, legacy_secret_file: Path, tokens: TokenChecker) -> None:
        self.legacy_secret_file = legacy_secret_file  # where earlier versions kept the secret
        self.tokens = tokens
        self._serializer: URLSafeTimedSerializer | None = None
        self._lock = threading.Lock()

    def open(self, token: str) -> str | None:
        """The cookie value of a new session for `token`; None when the token is not valid."""
        if self.tokens.name_of(token) is None:
            return None
        return self._signer().dumps(hash_token(token))

    def holder(self, cookie: str | None) -> str | None:
        """The name of the token a session cookie stands for, while the session is valid; else None."""
        if not cookie:
            return None
        try:
            digest = self._signer().loads(cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
        except BadSignature:  # a forged, altered or expired value (SignatureExpired is one)
            return None
        return self.tokens.name_of_hash(digest) if isinstance(digest, str) else None

    def _signer(self) -> URLSafeTimedSerializer:
        with self._lock:
            if self._serializer is None:
                self._serializer = URLSafeTimedSerializer(
                    session_secret(self.tokens.db, self.legacy_secret_file), salt="cogbrowser-session",
                    signer_kwargs={"digest_method": hashlib.sha256})
            return self._serializer


def session_secret(db: Database, legacy_file: Path) -> bytes:
    """The secret that signs session cookies, the catalog's (made by the first process that asks:
    256 random bits). A data dir of an earlier version kept it in `legacy_file`: that one becomes
    the catalog's, so the sessions of an upgraded server stay valid."""
    try:
        candidate = legacy_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        candidate = ""
    if len(candidate) < 64:
        candidate = secrets.token_hex(32)
    with db.connection() as conn:
        return queries.shared_secret(conn, SECRET_NAME, candidate).encode()


def set_session_cookie(response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=int(SESSION_LIFETIME.total_seconds()), path="/",
                        httponly=True, samesite="Strict", secure=request.is_secure)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


def session_cookie() -> str | None:
    """The session cookie the request carries, if any."""
    return request.cookies.get(SESSION_COOKIE) or None


def same_origin() -> bool:
    """Whether the request comes from a page of this server, by its Origin header, else its
    Referer (OWASP's standard-header check); a request with neither is not. Host and port are
    compared with the Host the request was sent to; the scheme is not (a TLS proxy in front
    changes it, and one host and port serve one scheme)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if source == "null":
        return False
    netloc = urlsplit(source).netloc.lower()
    return bool(netloc) and netloc == request.host.lower()


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this server (where a sign-in may go back to), else `default`:
    never another host (`//host`, `/\\host`, `https://...`), so the sign-in redirects nowhere else."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ch in target for ch in "\r\n\\"):
        return default
    return target
