"""The Flask application factory: one WSGI app for pages, tiles, OGC services and the APIs."""

from __future__ import annotations

from flask import Flask

from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.layers import LayerCache
from cogbrowser.ogc.tile_cache import TileCache


def create_app(settings: Settings, db: Database) -> Flask:
    """Build the app over an open catalog. Each surface is a blueprint registered here."""
    app = Flask("cogbrowser")
    app.config["COGBROWSER_SETTINGS"] = settings
    app.extensions["cogbrowser.db"] = db
    app.extensions["cogbrowser.layers"] = LayerCache(db)
    app.extensions["cogbrowser.tile_cache"] = TileCache()

    from cogbrowser.api.cogs import blueprint as cogs
    from cogbrowser.api.health import blueprint as health
    from cogbrowser.api.images import blueprint as images
    from cogbrowser.api.problems import register_problem_handlers
    from cogbrowser.ogc.tiles import blueprint as tiles
    from cogbrowser.ogc.wms import blueprint as wms
    from cogbrowser.ogc.wmts import blueprint as wmts
    from cogbrowser.ui.home import blueprint as home

    register_problem_handlers(app)
    app.register_blueprint(health)
    app.register_blueprint(cogs)
    app.register_blueprint(images)
    app.register_blueprint(tiles)
    app.register_blueprint(wms)
    app.register_blueprint(wmts)
    app.register_blueprint(home)
    return app
