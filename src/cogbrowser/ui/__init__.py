"""Web pages: the Browse map (`/`) and the Analytics dashboard (`/analytics`), in Dash.

`mount_ui(flask_app)` puts a Dash app on the same Flask server as the APIs and declares the pages'
callbacks on that app: every page module has a `register(app)` (browse.py and analytics.py call
their features' own), so each app of the process (tests make many) has all of them, and nothing
is kept in Dash's process-wide registry. Everything the pages load comes from this server: Dash's
and Dash-Leaflet's scripts from their packages (served locally), the stylesheets and scripts of
ui/assets, the offline basemap of ui/basemap, map tiles from /wms and /tiles. Callbacks read and
write the catalog only through the REST API (ui/api.py). When reads need a token, the pages need a
sign-in first (ui/signin.py; the check is web/auth.py's).
"""

from __future__ import annotations

import json
from pathlib import Path

import dash
from dash import Input, Output, dcc, html
from flask import Flask
from plotly.io.json import to_json_plotly

from cogbrowser.ui import analytics, browse, signin
from cogbrowser.ui.basemap import blueprint as basemap_blueprint
from cogbrowser.ui.callback_requests import refuse_malformed_callbacks
from cogbrowser.web.sessions import SIGNOUT_PATH, session_cookie

ASSETS = Path(__file__).parent / "assets"
PAGES = {"/": "Browse", "/analytics": "Analytics"}
CONFIG_START, CONFIG_END = '<script id="_dash-config" type="application/json">', "</script>"


class OfflineDash(dash.Dash):
    """Dash as cogbrowser needs it: the page configuration names no other host. Dash puts the URL
    of plotly's version check there (used only by the debug tools, never on here); air-gapped
    pages must not mention one."""

    def interpolate_index(self, metas: str = "", title: str = "", css: str = "", config: str = "", scripts: str = "",
                          app_entry: str = "", favicon: str = "", renderer: str = "") -> str:
        return super().interpolate_index(metas=metas, title=title, css=css, config=offline_config(config),
                                         scripts=scripts, app_entry=app_entry, favicon=favicon, renderer=renderer)


def offline_config(element: str) -> str:
    """Dash's configuration element of a page without the version check's URL (and with the check
    off). Anything else than the element Dash writes is refused rather than passed on unchecked."""
    if not (element.startswith(CONFIG_START) and element.endswith(CONFIG_END)):
        raise ValueError(f"not Dash's page configuration: {element[:80]!r}")
    config = json.loads(element[len(CONFIG_START):-len(CONFIG_END)])
    config.pop("dash_version_url", None)
    config["disable_version_check"] = True
    return CONFIG_START + to_json_plotly(config) + CONFIG_END


def mount_ui(server: Flask) -> dash.Dash:
    """The Dash app of both pages, served by `server` at / and /analytics, with their callbacks."""
    server.register_blueprint(basemap_blueprint)
    server.register_blueprint(signin.blueprint)
    app = OfflineDash(
        "cogbrowser",
        # Dash documents a Flask instance and None for these (a server to use, no title while updating); its
        # annotations say `bool | Callable[[], Any]` and `str`
        server=server,  # type: ignore[arg-type]
        update_title=None,  # type: ignore[arg-type]
        url_base_pathname="/", assets_folder=str(ASSETS), title="cogbrowser",
        suppress_callback_exceptions=True, serve_locally=True, compress=False)
    app.layout = _shell
    app.callback(Output("page", "children"), Output("nav", "children"), Input("url", "pathname"))(_route)
    browse.register(app)
    analytics.register(app)
    refuse_malformed_callbacks(app, server)
    return app


def _shell() -> html.Div:
    """The frame of every page: the top bar with the page links, and the page itself."""
    return html.Div(className="app", children=[
        dcc.Location(id="url", refresh=False),
        html.Header(className="topbar", children=[
            html.A("cogbrowser", href="/", className="brand"),
            html.Nav(id="nav", className="nav"),
            *_sign_out(),
        ]),
        html.Main(id="page", className="page"),
    ])


def _sign_out() -> list[html.Form]:
    """Sign-out, for a browser that signed in (reads need a token): a form, so it is a POST."""
    if session_cookie() is None:
        return []
    return [html.Form(html.Button("Sign out", type="submit", className="secondary"), id="sign-out",
                      className="sign-out", method="post", action=SIGNOUT_PATH)]


def _route(pathname: str | None):
    """The page of the path, and the top bar's links with the current one marked."""
    pathname = pathname or "/"
    page = analytics.layout() if pathname.rstrip("/") == "/analytics" else browse.layout()
    links = [dcc.Link(title, href=path, className="nav-link" + (" active" if path == (pathname or "/") else ""))
             for path, title in PAGES.items()]
    return page, links
