"""Who may do what over HTTP: the access check that runs before every request.

- writes (every declared write endpoint; any method but GET/HEAD/OPTIONS elsewhere) need a token
  in the `Authorization: Bearer` header: a token in the URL (`access_token=`) is for reads only;
- reads need one when the server's `read_access` setting is "token", except the health check: the
  header, the URL parameter (map clients that cannot set headers), or a page's sign-in session
  (sessions.py);
- the pages and their callbacks are open when reads are, and need a session (or the header) when
  they are not: a browser is sent to the sign-in page, other requests get a 401;
- a request that relies on the session cookie and is not a safe method must come from this
  server's own pages (sessions.same_origin), or it is a 403.

WMS and WMTS answer a refusal in their own exception reports (ogc/); everything else answers
problem details. In token mode, answers are `Cache-Control: private`: a shared cache in front of
the server must not hand what needs a token to someone without one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from cogbrowser.web.context import Services, services
from cogbrowser.web.endpoints import declared_access, this_url
from cogbrowser.web.problems import ApiError
from cogbrowser.web.sessions import SIGNIN_PATH, SIGNOUT_PATH, UNSAFE_METHODS, same_origin, session_cookie
from cogbrowser.web.tokens import TOKEN_PARAMETER, bearer_token, same_token, url_token

PROTECTED_PREFIXES = ("/api/", "/stac", "/cogs/", "/tiles/", "/wms", "/wmts", "/ui/basemap/tiles")
OPEN_PATHS = ("/api/v1/health",)
# What the sign-in page itself needs when reads need a token: the page, sign-out, the stylesheets.
OPEN_PAGE_PREFIXES = (SIGNIN_PATH, SIGNOUT_PATH, "/assets/")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cogbrowser"'}
INVALID = {"WWW-Authenticate": 'Bearer realm="cogbrowser", error="invalid_token"'}
_DATA_OR_PAGE = ("application/json", "text/html")  # what a request asks for: a page only when it says so
HOW_TO = "send 'Authorization: Bearer <token>' (create one with `cogbrowser token create NAME` on the server)"


def check_request_access(app: Flask) -> None:
    """Register the access check that runs before every request (see the module docstring)."""
    app.before_request(require_access)

    @app.after_request
    def private_answers(response: Response) -> Response:
        if services().settings.read_access == "token" and response.cache_control.public:
            response.cache_control.public = False
            response.cache_control.private = True
        return response


def require_access() -> BaseResponse | None:
    """Refuse the current request (401/403) unless it may do what it asks, or send a browser without
    a session to the sign-in page (the redirect returned). The one rule of who may do what: run
    before every request, and by the server front (web/server.py) on a request's headers alone,
    before its body is read."""
    path = request.path
    if request.method == "OPTIONS" or path in OPEN_PATHS:
        return None
    context = services()
    if not path.startswith(PROTECTED_PREFIXES):
        return _page_access(context)
    access = declared_access(request.endpoint) or ("read" if request.method in ("GET", "HEAD") else "write")
    if access == "write":
        _write_access(context)
    elif context.settings.read_access == "token":
        _read_access(context)
    return None


def _write_access(context: Services) -> None:
    """Writes: a valid token in the Authorization header; nothing else."""
    token = bearer_token()
    if token is None:
        if url_token() is not None:
            raise ApiError(401, "Unauthorized", f"a token in the URL ({TOKEN_PARAMETER}=) is accepted for reads only: "
                           "send writes with the header 'Authorization: Bearer <token>'", headers=CHALLENGE)
        raise ApiError(401, "Unauthorized", f"writing needs an API token: {HOW_TO}", headers=CHALLENGE)
    _check_token(context, token)


def _read_access(context: Services) -> None:
    """Reads when they need a token: the header, the URL parameter, or a sign-in session."""
    token = bearer_token() or url_token()
    if token is not None:
        _check_token(context, token)
        return
    cookie = session_cookie()
    if cookie is None:
        raise ApiError(401, "Unauthorized", "reading (this server requires a token for reads) needs an API token: "
                       f"{HOW_TO}", headers=CHALLENGE)
    refusal = _session_refusal(context, cookie)
    if refusal is not None:
        raise refusal


def _page_access(context: Services) -> BaseResponse | None:
    """The pages and their callbacks: open in open-read mode; else a session (or the header), and
    a browser without one is sent to the sign-in page."""
    if context.settings.read_access != "token" or request.path.startswith(OPEN_PAGE_PREFIXES):
        return None
    token = bearer_token()
    if token is not None:
        _check_token(context, token)
        return None
    refusal = _session_refusal(context, session_cookie())
    if refusal is None:
        return None
    wants_page = request.accept_mimetypes.best_match(_DATA_OR_PAGE) == "text/html"
    if refusal.status == 401 and request.method in ("GET", "HEAD") and wants_page:
        return redirect(f"{SIGNIN_PATH}?{urlencode({'next': this_url(external=False)})}", 302)
    raise refusal


def _check_token(context: Services, token: str) -> None:
    if same_token(token, context.internal_token):
        return
    if context.tokens.name_of(token) is None:
        raise ApiError(401, "Unauthorized", "the API token is not valid (unknown, or revoked)", headers=INVALID)


def _session_refusal(context: Services, cookie: str | None) -> ApiError | None:
    """Why the request's sign-in session does not do (None when it does): none, ended, or, for an
    unsafe method, not sent by a page of this server."""
    if cookie is None:
        return ApiError(401, "Unauthorized", f"this server requires a token for reads: sign in at {SIGNIN_PATH}, "
                        f"or {HOW_TO}", headers=CHALLENGE)
    if context.sessions.holder(cookie) is None:
        return ApiError(401, "Unauthorized", "the sign-in session has ended (signed out, expired, or its token "
                        f"revoked): sign in again at {SIGNIN_PATH}", headers=INVALID)
    if request.method in UNSAFE_METHODS and not same_origin():
        return ApiError(403, "Forbidden", "a request with the sign-in session must come from this server's own "
                        "pages: its Origin (or Referer) header names another origin, or none")
    return None
