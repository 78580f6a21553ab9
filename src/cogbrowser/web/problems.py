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


def problem_of(exc: BaseException) -> Problem:
    """The problem an error answers: an ApiError's own, 404 for NotFound, 400 for InvalidInput, 410
    for ImageFileMissing (a catalog image whose file is gone), 507 for DiskFull, and 500 for the
    rest (with the message of an error meant for the user, else none of ours)."""
    if isinstance(exc, ApiError):
        return Problem(title=exc.title, status=exc.status, detail=exc.detail)
    if isinstance(exc, NotFound):
        return Problem(title="Not Found", status=404, detail=str(exc))
    if isinstance(exc, InvalidInput):
        return Problem(title="Bad Request", status=400, detail=str(exc))
    if isinstance(exc, ImageFileRefused):
        return Problem(title="Forbidden", status=403, detail=str(exc))
    if isinstance(exc, DatabaseUnavailable):
        return Problem(title="Service Unavailable", status=503, detail=str(exc))
    if isinstance(exc, ImageFileMissing):
        return Problem(title="Gone", status=410, detail=str(exc))
    if isinstance(exc, DiskFull):
        return Problem(title="Insufficient Storage", status=507, detail=str(exc))
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # a write no code above named DiskFull
        return Problem(title="Insufficient Storage", status=507,
                       detail=f"the server's disk is full ({exc.strerror or 'no space left'}); nothing was kept: "
                              "free some space on the server and try again")
    if isinstance(exc, RenderDeadlineExceeded):
        return Problem(title="Service Unavailable", status=503, detail=str(exc))
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

    @app.errorhandler(NotFound)
    @app.errorhandler(InvalidInput)
    @app.errorhandler(ImageFileMissing)
    @app.errorhandler(DiskFull)
    @app.errorhandler(ImageFileRefused)
    def user_error(exc: CogbrowserError) -> Response:
        found = problem_of(exc)
        return problem(found.status, found.title, found.detail)

    @app.errorhandler(DatabaseUnavailable)
    def catalog_unavailable(exc: DatabaseUnavailable) -> Response:
        """On every route (pages, OGC services, callbacks too): a client should come back shortly."""
        response = problem(503, "Service Unavailable", str(exc))
        response.headers["Retry-After"] = RETRY_AFTER_OUTAGE
        return response

    @app.errorhandler(RenderDeadlineExceeded)
    def render_deadline(exc: RenderDeadlineExceeded) -> Response:
        found = problem_of(exc)
        response = problem(found.status, found.title, found.detail)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # the disk's fault, not the code's
            app.logger.error("disk full on %s: %s", request.path, exc)
            found = problem_of(exc)
            return problem(found.status, found.title, found.detail)
        app.logger.exception("unhandled error on %s", request.path)
        return problem(500, "Internal Server Error", UNEXPECTED)
