"""`/api/v1/openapi.json` and `/api/v1/docs`: the API described from its own declarations
(web/openapi.py writes both)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.openapi import openapi_document, render_docs

blueprint = Blueprint("openapi", __name__)


@endpoint(blueprint, "GET", "/api/v1/openapi.json", summary="This description of the API (OpenAPI 3.1)",
          tags=("meta",), responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi_json() -> Response:
    """Generated from the endpoints' own declarations, so it is always what the server does."""
    document = openapi_document(request.url_root.rstrip("/"))
    return Response(json.dumps(document, indent=1), mimetype="application/json")


@endpoint(blueprint, "GET", "/api/v1/docs", summary="The API documentation, as a web page",
          tags=("meta",), responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}})
def docs() -> Response:
    """Every endpoint with its parameters, body and answers, rendered from the OpenAPI document."""
    return Response(render_docs(openapi_document(request.url_root.rstrip("/"))), mimetype="text/html")
