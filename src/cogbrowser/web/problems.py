"""RFC 9457 problem details: the one error format of the REST API, /cogs and /tiles; and the one table
of how every error is answered.

Errors are raised anywhere below a view — `ApiError` with its own status, or the core's
`NotFound` / `InvalidInput` / ... — and `problem_of` says, in one place, what each answers: status,
title, detail and the headers that go with it (Retry-After for a fault worth retrying). The REST
handlers here send it as problem+json; WMS and WMTS ask the same function and write its status and
headers with their own exception reports (ogc/wms_exceptions.py, ogc/ows_exceptions.py); a
background job keeps it as the problem its upload failed with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from flask import Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, Field, PrivateAttr
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
    StoreUnavailable,
)
from cogbrowser.raster.budget import RenderDeadlineExceeded

PROBLEM_TYPE = "about:blank"
_JSON_PREFIXES = ("/api/", "/cogs/", "/stac", "/tiles/")
UNEXPECTED = "the server failed to answer this request; its log has the details"

# Retry-After, in seconds, of each answer that asks the client to come back.
RETRY_AFTER_OUTAGE = 2  # the catalog is tried again every half second, the embedded one restarted
RETRY_AFTER_DEADLINE = 10  # a render stopped at its deadline: the server was busy
RETRY_AFTER_CONNECTIONS = 5  # an address at its cap of connections (web/server.py)


class Problem(BaseModel):
    """RFC 9457 problem details: what went wrong, with `detail` precise enough to act on."""

    type: str = PROBLEM_TYPE
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = Field(None, description="One entry per field at fault: field, message")
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)  # sent with the document, never in it

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers that go with this answer: Retry-After, a 401's WWW-Authenticate."""
        return self._headers

    @property
    def retry_after(self) -> int | None:
        """Seconds after which the client may try again, if the answer says so."""
        seconds = self._headers.get("Retry-After")
        return int(seconds) if seconds is not None else None

    def with_headers(self, headers: Mapping[str, str]) -> Problem:
        self._headers.update(headers)
        return self


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
        return problem_response(problem_of(self), **self.extra)


def bad_request(field: str, message: str) -> ApiError:
    """A 400 naming the parameter or body field at fault."""
    return ApiError(400, "Bad Request", f"{field}: {message}", errors=[{"field": field, "message": message}])


class _Answer(NamedTuple):
    kind: type[CogbrowserError]
    title: str
    status: int
    retry_after: int | None  # seconds, for a fault that passes


# The errors of the code base that are the client's to know, and how HTTP says them (first match wins).
_ANSWERS: tuple[_Answer, ...] = (
    _Answer(NotFound, "Not Found", 404, None),
    _Answer(InvalidInput, "Bad Request", 400, None),  # RenderTooCostly too: the budget is named in the message
    _Answer(ImageFileRefused, "Forbidden", 403, None),  # a row pointing where the server must not read
    _Answer(ImageFileMissing, "Gone", 410, None),  # a catalog image whose file is gone
    _Answer(DatabaseUnavailable, "Service Unavailable", 503, RETRY_AFTER_OUTAGE),
    _Answer(StoreUnavailable, "Service Unavailable", 503, RETRY_AFTER_OUTAGE),  # the COGs' object store
    _Answer(RenderDeadlineExceeded, "Service Unavailable", 503, RETRY_AFTER_DEADLINE),
    _Answer(DiskFull, "Insufficient Storage", 507, None),
)


def problem_of(exc: BaseException) -> Problem:
    """What an error answers, on every surface: an ApiError's own status and headers, the row of
    `_ANSWERS` for our errors (with Retry-After where it has one), 507 for any write that found the
    disk full, and 500 for the rest (with the message of an error meant for the user, else none of ours)."""
    if isinstance(exc, ApiError):
        return Problem(title=exc.title, status=exc.status, detail=exc.detail).with_headers(exc.headers)
    for answer in _ANSWERS:
        if isinstance(exc, answer.kind):
            found = Problem(title=answer.title, status=answer.status, detail=str(exc))
            return found.with_headers({} if answer.retry_after is None else {"Retry-After": str(answer.retry_after)})
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # a write no code above named DiskFull
        return Problem(title="Insufficient Storage", status=507,
                       detail=f"the server's disk is full ({exc.strerror or 'no space left'}); nothing was kept: "
                              "free some space on the server and try again")
    return Problem(title="Internal Server Error", status=500,
                   detail=str(exc) if isinstance(exc, CogbrowserError) else UNEXPECTED)


def answered_problem(exc: BaseException) -> Problem:
    """`problem_of` an error a request raised, logged where the fault is the server's: a full disk
    as an error, an unforeseen error with its traceback (the path only: a query may hold a token)."""
    found = problem_of(exc)
    if found.status == 507:
        current_app.logger.error("disk full on %s: %s", request.path, exc)
    elif found.status == 500:
        current_app.logger.error("unhandled error on %s", request.path, exc_info=exc)
    return found


def problem_response(found: Problem, **extra: object) -> Response:
    """`found` as problem+json, with its headers."""
    response = problem(found.status, found.title, found.detail, **extra)
    response.headers.update(found.headers)
    return response


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

    @app.errorhandler(Exception)
    def any_error(exc: Exception) -> Response:
        """Every other error, on every route (pages, callbacks too; WMS and WMTS answer theirs first):
        as `problem_of` says, never with a traceback."""
        return problem_response(answered_problem(exc))
