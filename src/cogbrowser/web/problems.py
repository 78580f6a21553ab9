"""RFC 9457 problem details: the one error format of the REST API, /cogs and /tiles.

Errors are raised anywhere below a view — `ApiError` with its own status, or the core's
`NotFound` / `InvalidInput` — and turned into problem+json here, in one place. `problem_of` gives the
same (status, title, detail) for an error that is not answered at once (a background job's).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, Field
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from cogbrowser.errors import (
    DISK_FULL_ERRNOS,
    CogbrowserError,
    DatabaseUnavailable,
    DiskFull,
    ImageFileMissing,
    ImageFileRefused,
    InvalidInput,
    NotFound,
)
from cogbrowser.raster.budget import RETRY_AFTER_SECONDS, RenderDeadlineExceeded

PROBLEM_TYPE = "about:blank"
_JSON_PREFIXES = ("/api/", "/cogs/", "/stac", "/tiles/")
UNEXPECTED = "the server failed to answer this request; its log has the details"
RETRY_AFTER_OUTAGE = "2"  # seconds: the catalog is tried again every half second, the embedded one restarted


class Problem(BaseModel):
    """RFC 9457 problem details: what went wrong, with `detail` precise enough to act on."""

    type: str = PROBLEM_TYPE
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = Field(None, description="One entry per field at fault: field, message")


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    """A problem+json response whose `detail` says precisely what is wrong."""
    response = jsonify(type=PROBLEM_TYPE, title=title, status=status, detail=detail, **extra)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


class ApiError(CogbrowserError):
    """An answer other than success, raised anywhere below a view: becomes a problem response.

    `extra` members go into the problem document (e.g. `errors`: one entry per invalid field).
    """

    def __init__(self, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None,
                 **extra: object) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self) -> Response:
        answer = problem(self.status, self.title, self.detail, **self.extra)
        answer.headers.update(self.headers)
        return answer


def bad_request(field: str, message: str) -> ApiError:
    """A 400 naming the parameter or body field at fault."""
    return ApiError(400, "Bad Request", f"{field}: {message}", errors=[{"field": field, "message": message}])


# The errors of the code base that are the client's to know, and how HTTP says them (first match wins).
_ANSWERS: tuple[tuple[type[CogbrowserError], str, int], ...] = (
    (NotFound, "Not Found", 404),
    (InvalidInput, "Bad Request", 400),  # RenderTooCostly too: the budget is named in the message
    (ImageFileRefused, "Forbidden", 403),  # a row pointing where the server must not read
    (ImageFileMissing, "Gone", 410),  # a catalog image whose file is gone
    (DatabaseUnavailable, "Service Unavailable", 503),  # with Retry-After (register_problem_handlers)
    (RenderDeadlineExceeded, "Service Unavailable", 503),  # likewise
    (DiskFull, "Insufficient Storage", 507),
)


_RETRY_AFTER: dict[type[CogbrowserError], str] = {
    DatabaseUnavailable: RETRY_AFTER_OUTAGE,
    RenderDeadlineExceeded: str(RETRY_AFTER_SECONDS),
}


def problem_of(exc: BaseException) -> Problem:
    """The problem an error answers: an ApiError's own, the status of `_ANSWERS` for our errors, 507
    for any write that found the disk full, and 500 for the rest (with the message of an error meant
    for the user, else none of ours)."""
    if isinstance(exc, ApiError):
        return Problem(title=exc.title, status=exc.status, detail=exc.detail)
    for kind, title, status in _ANSWERS:
        if isinstance(exc, kind):
            return Problem(title=title, status=status, detail=str(exc))
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # a write no code above named DiskFull
        return Problem(title="Insufficient Storage", status=507,
                       detail=f"the server's disk is full ({exc.strerror or 'no space left'}); nothing was kept: "
                              "free some space on the server and try again")
    return Problem(title="Internal Server Error", status=500,
                   detail=str(exc) if isinstance(exc, CogbrowserError) else UNEXPECTED)


def register_problem_handlers(app: Flask) -> None:
    """HTTP errors under the APIs answer problem+json; an unexpected error never shows a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith(_JSON_PREFIXES):
            return exc
        response = problem(exc.code or 500, exc.name, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return exc.response()

    def known_error(exc: CogbrowserError) -> Response:
        """Our own errors, on every route (pages, OGC services, callbacks too); an outage or a busy
        server says when to come back."""
        found = problem_of(exc)
        response = problem(found.status, found.title, found.detail)
        for kind, seconds in _RETRY_AFTER.items():
            if isinstance(exc, kind):
                response.headers["Retry-After"] = seconds
        return response

    for kind, _, _ in _ANSWERS:
        app.register_error_handler(kind, known_error)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # the disk's fault, not the code's
            app.logger.error("disk full on %s: %s", request.path, exc)
            found = problem_of(exc)
            return problem(found.status, found.title, found.detail)
        app.logger.exception("unhandled error on %s", request.path)
        return problem(500, "Internal Server Error", UNEXPECTED)
