"""The Flask application factory: one WSGI app for pages, tiles, OGC services and the APIs."""

from __future__ import annotations

import functools
from typing import NoReturn

from flask import Flask, abort

from cogbrowser.api import blueprints as api_blueprints
from cogbrowser.api.collection_reads import timelapse_job, timeseries_job
from cogbrowser.api.image_reads import export_job, statistics_job
from cogbrowser.api.jobs import job_problem
from cogbrowser.api.uploads import ingest_upload
from cogbrowser.basemap import open_basemap
from cogbrowser.catalog.database import Database
from cogbrowser.collection_overviews import CollectionOverviews
from cogbrowser.config import Settings
from cogbrowser.jobs import JobQueue
from cogbrowser.layers import LayerCache
from cogbrowser.ogc import blueprints as ogc_blueprints
from cogbrowser.ui import mount_ui
from cogbrowser.web.auth import check_request_access
from cogbrowser.web.cache import ResponseCache
from cogbrowser.web.context import Services, install
from cogbrowser.web.cors import allow_cross_origin
from cogbrowser.web.problems import register_problem_handlers
from cogbrowser.web.rendering import limit_renders
from cogbrowser.web.sessions import SECRET_FILE, Sessions
from cogbrowser.web.tokens import TokenChecker, new_token


def create_app(settings: Settings, db: Database) -> Flask:
    """Build the app over an open catalog. Each surface is a set of blueprints registered here."""
    app = Flask("cogbrowser")
    tokens = TokenChecker(db)
    install(app, Services(
        settings=settings, db=db, layers=LayerCache(db), tokens=tokens, internal_token=new_token(),
        sessions=Sessions(settings.data_dir / SECRET_FILE, tokens), cache=ResponseCache(), jobs=job_queue(settings, db),
        basemap=open_basemap(settings.basemap) if settings.basemap is not None else None,
        overviews=CollectionOverviews(settings, db)))
    register_problem_handlers(app)
    limit_renders(app)
    allow_cross_origin(app)
    for blueprint in (*api_blueprints(), *ogc_blueprints()):
        app.register_blueprint(blueprint)
    _no_pages_under(app, ("api", "stac", "cogs", "tiles"))  # /wmts/... answers its own OWS report
    mount_ui(app)
    check_request_access(app)
    return app


def job_queue(settings: Settings, db: Database) -> JobQueue:
    """The catalog's background jobs, with the work of each kind (a server's, or `cogbrowser worker`'s)."""
    jobs = JobQueue(db, settings, describe=job_problem)
    jobs.register("upload", functools.partial(ingest_upload, db, settings))
    jobs.register("export", functools.partial(export_job, db, settings))
    jobs.register("timelapse", functools.partial(timelapse_job, db, settings))
    jobs.register("timeseries", functools.partial(timeseries_job, db, settings))
    jobs.register("statistics", functools.partial(statistics_job, db, settings))
    return jobs


def _no_pages_under(app: Flask, prefixes: tuple[str, ...]) -> None:
    """Unknown paths under the services are 404s, not the UI's page: the UI answers every other
    path (its catch-all route), which would turn a mistyped API URL into an HTML 200."""
    def not_found(rest: str = "") -> NoReturn:
        abort(404)

    for prefix in prefixes:
        app.add_url_rule(f"/{prefix}/<path:rest>", endpoint=f"unknown_{prefix}", view_func=not_found,
                         methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
