"""RFC 9457 problem details: the one error format of the REST API and of /cogs."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from cogbrowser.errors import InvalidInput, NotFound

PROBLEM_TYPE = "about:blank"
_JSON_PREFIXES = ("/api/", "/cogs/", "/stac")


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    """A problem+json response whose `detail` says precisely what is wrong."""
    response = jsonify(type=PROBLEM_TYPE, title=title, status=status, detail=detail, **extra)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


class ApiError(Exception):
    """An answer other than success, raised anywhere below a view: becomes a problem response.

    `extra` members go into the problem document (e.g. `errors`: one entry per invalid field).
    """

    def __init__(self, status: int, title: str, detail: str, headers: dict | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers, self.extra = status, title, detail, headers or {}, extra

    def response(self) -> Response:
        answer = problem(self.status, self.title, self.detail, **self.extra)
        answer.headers.update(self.headers)
        return answer


def register_problem_handlers(app: Flask) -> None:
    """HTTP errors under /api and /cogs answer problem+json; an unexpected error never shows a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not request.path.startswith(_JSON_PREFIXES):
            return exc
        response = problem(exc.code or 500, exc.name, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return exc.response()

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):
        return problem(404, "Not Found", str(exc))

    @app.errorhandler(InvalidInput)
    def invalid_input(exc: InvalidInput):
        return problem(400, "Bad Request", str(exc))

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return problem(500, "Internal Server Error",
                       "the server failed to answer this request; its log has the details")
