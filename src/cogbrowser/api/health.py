"""`/api/v1/health`: is the catalog reachable, and what does it hold."""

from __future__ import annotations

from flask import Blueprint, jsonify

from cogbrowser import __version__
from cogbrowser.catalog import queries
from cogbrowser.catalog.migrate import schema_version
from cogbrowser.web.context import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/api/v1/health")
def health():
    db = services().db
    with db.connection() as conn:
        summary = queries.catalog_summary(conn)
        version = schema_version(conn)
    return jsonify(status="ok", version=__version__, schema_version=version,
                   collections=summary.collections, images=summary.images, detections=summary.detections)
