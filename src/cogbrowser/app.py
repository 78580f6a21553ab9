"""The Flask application factory: one WSGI app for pages, tiles, OGC services and the APIs."""

from __future__ import annotations

from flask import Flask, abort

from cogbrowser.api.auth import TokenChecker, check_request_access, new_token
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.layers import LayerCache
from cogbrowser.ogc.tile_cache import TileCache
from cogbrowser.ui import mount_ui


def create_app(settings: Settings, db: Database) -> Flask:
    """Build the app over an open catalog. Each surface is a blueprint registered here."""
    app = Flask("cogbrowser")
    app.config["COGBROWSER_SETTINGS"] = settings
    app.extensions["cogbrowser.db"] = db
    app.extensions["cogbrowser.layers"] = LayerCache(db)
    app.extensions["cogbrowser.tokens"] = TokenChecker(db)
    app.extensions["cogbrowser.internal_token"] = new_token()  # the UI's own calls; never leaves the process
    app.extensions["cogbrowser.tile_cache"] = TileCache()

    from cogbrowser.api.cogs import blueprint as cogs
    from cogbrowser.api.collection_reads import blueprint as collection_reads
    from cogbrowser.api.collections import blueprint as collections
    from cogbrowser.api.cors import allow_cross_origin
    from cogbrowser.api.detections import blueprint as detections
    from cogbrowser.api.health import blueprint as health
    from cogbrowser.api.image_reads import blueprint as image_reads
    from cogbrowser.api.images import blueprint as images
    from cogbrowser.api.jobs import blueprint as jobs
    from cogbrowser.api.openapi import blueprint as openapi
    from cogbrowser.api.problems import register_problem_handlers
    from cogbrowser.api.stac import blueprint as stac
    from cogbrowser.api.uploads import blueprint as uploads
    from cogbrowser.ogc.tiles import blueprint as tiles
    from cogbrowser.ogc.wms import blueprint as wms
    from cogbrowser.ogc.wmts import blueprint as wmts

    register_problem_handlers(app)
    allow_cross_origin(app)
    app.register_blueprint(health)
    app.register_blueprint(cogs)
    app.register_blueprint(openapi)
    app.register_blueprint(collections)
    app.register_blueprint(collection_reads)
    app.register_blueprint(images)
    app.register_blueprint(uploads)
    app.register_blueprint(jobs)
    app.register_blueprint(image_reads)
    app.register_blueprint(detections)
    app.register_blueprint(stac)
    app.register_blueprint(tiles)
    app.register_blueprint(wms)
    app.register_blueprint(wmts)
    _no_pages_under(app, ("api", "stac", "cogs", "tiles"))  # /wmts/... answers its own OWS report
    mount_ui(app)
    check_request_access(app)
    return app


def _no_pages_under(app: Flask, prefixes: tuple[str, ...]) -> None:
    """Unknown paths under the services are 404s, not the UI's page: the UI answers every other
    path (its catch-all route), which would turn a mistyped API URL into an HTML 200."""
    def not_found(rest: str = "") -> None:
        abort(404)

    for prefix in prefixes:
        app.add_url_rule(f"/{prefix}/<path:rest>", endpoint=f"unknown_{prefix}", view_func=not_found,
                         methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
