"""RFC 9457 problem details: the one error format of the REST API and of /cogs."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE = "about:blank"
_JSON_PREFIXES = ("/api/", "/cogs/")


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    """A problem+json response whose `detail` says precisely what is wrong."""
    response = jsonify(type=PROBLEM_TYPE, title=title, status=status, detail=detail, **extra)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


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

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return problem(500, "Internal Server Error",
                       "the server failed to answer this request; its log has the details")
