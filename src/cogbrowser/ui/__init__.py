"""Web pages: the Browse map (`/`) and the Analytics dashboard (`/analytics`), in Dash.

`mount_ui(flask_app)` puts a Dash app on the same Flask server as the APIs. Everything the pages
load comes from this server: Dash's and Dash-Leaflet's scripts from their packages (served
locally), the stylesheet and scripts of ui/assets, the offline basemap of ui/basemap, map tiles
from /wms and /tiles. Callbacks read and write the catalog only through the REST API (ui/api.py).
"""

from __future__ import annotations

from pathlib import Path

import dash
from dash import _callback, dcc, html
from flask import Flask

from cogbrowser.ui.basemap import blueprint as basemap_blueprint

ASSETS = Path(__file__).parent / "assets"
PAGES = {"/": "Browse", "/analytics": "Analytics"}


class OfflineDash(dash.Dash):
    """Dash as cogbrowser needs it.

    - The page configuration names no other host: Dash puts the URL of plotly's version check
      there (used only by the debug tools, never on here); air-gapped pages must not mention one.
    - Every app of the process gets the pages' callbacks. They are declared with `@dash.callback`
      when the page modules are imported, into Dash's global registry, which the first app to
      start *empties*: a second app (tests make many) would serve pages where nothing responds.
      The registry is copied once the modules are imported and refilled for each app.
    """

    def _setup_server(self) -> None:
        if not self._got_first_request["setup_server"]:
            _refill_callbacks()
        super()._setup_server()

    def _config(self) -> dict:
        config = super()._config()
        config.pop("dash_version_url", None)
        config["disable_version_check"] = True
        return config


_CALLBACKS: tuple | None = None  # Dash's global callback registry as the page modules left it


def _refill_callbacks() -> None:
    """Put the pages' callbacks back into Dash's global registry for the next app to take."""
    callback_map, callback_list, inline_scripts = _CALLBACKS
    _callback.GLOBAL_CALLBACK_MAP.update(callback_map)
    _callback.GLOBAL_CALLBACK_LIST[:] = callback_list
    _callback.GLOBAL_INLINE_SCRIPTS[:] = inline_scripts


def mount_ui(server: Flask) -> dash.Dash:
    """The Dash app of both pages, served by `server` at / and /analytics."""
    global _CALLBACKS
    from cogbrowser.ui import analytics, browse  # noqa: F401  (their callbacks register on import)

    if _CALLBACKS is None:
        _CALLBACKS = (dict(_callback.GLOBAL_CALLBACK_MAP), list(_callback.GLOBAL_CALLBACK_LIST),
                      list(_callback.GLOBAL_INLINE_SCRIPTS))

    server.register_blueprint(basemap_blueprint)
    app = OfflineDash(
        "cogbrowser", server=server, url_base_pathname="/", assets_folder=str(ASSETS), title="cogbrowser",
        update_title=None, suppress_callback_exceptions=True, serve_locally=True, compress=False)
    app.layout = _shell
    return app


def _shell() -> html.Div:
    """The frame of every page: the top bar with the page links, and the page itself."""
    return html.Div(className="app", children=[
        dcc.Location(id="url", refresh=False),
        html.Header(className="topbar", children=[
            html.A("cogbrowser", href="/", className="brand"),
            html.Nav(id="nav", className="nav"),
        ]),
        html.Main(id="page", className="page"),
    ])


@dash.callback(dash.Output("page", "children"), dash.Output("nav", "children"), dash.Input("url", "pathname"))
def _route(pathname: str | None):
    from cogbrowser.ui import analytics, browse

    pathname = pathname or "/"
    page = analytics.layout() if pathname.rstrip("/") == "/analytics" else browse.layout()
    links = [dcc.Link(title, href=path, className="nav-link" + (" active" if path == (pathname or "/") else ""))
             for path, title in PAGES.items()]
    return page, links
