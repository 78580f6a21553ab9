"""`/api/v1/health`: is the catalog reachable, and what does it hold (open to all, even where reads
need a token: a load balancer or a service manager asks it)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, current_app
from pydantic import BaseModel

from cogbrowser import __version__
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import UNREACHABLE
from cogbrowser.catalog.migrate import schema_version
from cogbrowser.errors import DatabaseUnavailable, first_line
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint

blueprint = Blueprint("health", __name__)


class Health(BaseModel):
    """The server answers and its catalog is reachable: what the catalog holds."""

    status: Literal["ok"] = "ok"
    version: str
    schema_version: int
    collections: int
    images: int
    detections: int


@endpoint(blueprint, "GET", "/api/v1/health", summary="Whether the server and its catalog answer", tags=("meta",),
          responses={200: Health, 503: {"description": "The catalog cannot be reached"}})
def health() -> Health:
    """200 with the catalog's counts while the catalog answers; 503 (a problem document) when it does not."""
    try:
        with services().db.connection() as conn:
            summary = queries.catalog_summary(conn)
            version = schema_version(conn)
    except DatabaseUnavailable:
        raise  # "catalog unreachable: ...", 503 + Retry-After (web/problems.py)
    except Exception as exc:  # whatever stops the catalog from answering makes the server unhealthy
        current_app.logger.warning("health check: the catalog does not answer: %s", first_line(exc))
        raise DatabaseUnavailable(f"{UNREACHABLE}: {first_line(exc)}") from None
    return Health(version=__version__, schema_version=version, collections=summary.collections,
                  images=summary.images, detections=summary.detections)
