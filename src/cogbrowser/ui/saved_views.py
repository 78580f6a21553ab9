"""The Views tab: saved views (pins) of the Browse page, and the link to the view on screen.

A saved view is the page's whole state (its query string: the layer, the look, the dates, the area,
the map's view) under a name, kept in the catalog through `/api/v1/views`, so the team shares them.
The tab saves the view on screen, lists the saved ones (newest first), opens one (its link,
`/views/{id}`, follows renames), renames, deletes (after a confirmation) and copies a link: to the
view on screen or to a saved one. Copying is done in the browser (assets/saved-views.js): the
clipboard where the browser allows it, else the link shown selected for Ctrl+C.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs

import dash
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api
from cogbrowser.ui.map_state import URL_WRITTEN

TAB = "views"  # the panel's tab (browse.py)
NAME = "browse-view-name"
SAVE = "browse-view-save"
MESSAGE = "browse-view-message"
LIST = "browse-view-list"
CHANGED = "browse-views-changed"  # a write happened: the list is read again
COPY_HERE = "browse-copy-link"
COPIED = "browse-copied"  # what the last copy said (written by saved-views.js)
RENAME, RENAMED, DELETE = "browse-view-rename", "browse-view-renamed", "browse-view-delete"  # pattern types
SHOWN = 50  # views listed (the newest)


def panel() -> html.Div:
    """The Views tab."""
    return html.Div(className="views-panel", children=[
        html.H2("This view"),
        html.Div(className="row", children=[
            html.Button("Copy link", id=COPY_HERE, className="secondary", n_clicks=0,
                        title="A link to exactly what is on screen"),
            html.Span(id=COPIED, className="hint copied", role="status"),
        ]),
        html.Div(className="field", children=[
            html.Label("Save it as", htmlFor=NAME),
            html.Div(className="row", children=[
                dcc.Input(id=NAME, type="text", maxLength=100, placeholder="a name, e.g. Port in NDVI",
                          debounce=False, n_submit=0),
                html.Button("Save", id=SAVE, n_clicks=0),
            ]),
        ]),
        html.Div(id=MESSAGE),
        html.H2("Saved views"),
        dcc.Loading(type="dot", delay_show=300, children=html.Ul(id=LIST, className="saved-views")),
    ])


def stores() -> list[dcc.Store]:
    return [dcc.Store(id=CHANGED, data=0)]


def register(app: dash.Dash, tabs: str) -> None:
    """The tab's callbacks, on `app` (`tabs`: the panel's Tabs, whose Views tab reads the list)."""
    app.callback(Output(MESSAGE, "children"), Output(CHANGED, "data"), Output(NAME, "value"),
                 Input(SAVE, "n_clicks"), Input(NAME, "n_submit"), State(NAME, "value"), State(URL_WRITTEN, "data"),
                 State(CHANGED, "data"), prevent_initial_call=True)(_save)
    app.callback(Output(LIST, "children"), Input(tabs, "value"), Input(CHANGED, "data"))(_list)
    app.callback(Output(MESSAGE, "children", allow_duplicate=True), Output(CHANGED, "data", allow_duplicate=True),
                 Input({"type": RENAME, "view": ALL}, "n_clicks"), State({"type": RENAMED, "view": ALL}, "value"),
                 State({"type": RENAMED, "view": ALL}, "id"), State(CHANGED, "data"),
                 prevent_initial_call=True)(_rename)
    app.callback(Output(MESSAGE, "children", allow_duplicate=True), Output(CHANGED, "data", allow_duplicate=True),
                 Input({"type": DELETE, "view": ALL}, "submit_n_clicks"), State(CHANGED, "data"),
                 prevent_initial_call=True)(_delete)


def _save(clicks: int, submits: int, name: str | None, query: str | None, changed: int):
    """The view on screen saved under `name` (its query string, as the address bar holds it)."""
    if not (clicks or submits):
        raise PreventUpdate
    if not (name or "").strip():
        return _note("Give the view a name first.", "error"), no_update, no_update
    try:
        view = api.post("/api/v1/views", json={"name": name.strip(), "state": query or ""})  # type: ignore[union-attr]
    except api.ApiFailure as exc:
        return _note(f"Not saved: {exc.detail}", "error"), no_update, no_update
    return _note(f"Saved as “{view['name']}”.", "info"), changed + 1, ""


def _list(tab: str | None, _changed: int):
    """The saved views, newest first (read when the tab is opened and after each change)."""
    if tab != TAB:
        raise PreventUpdate
    try:
        answer = api.get("/api/v1/views", limit=SHOWN)
    except api.ApiFailure as exc:
        return html.Li(f"The saved views cannot be read: {exc.detail}", className="message error")
    if not answer["views"]:
        return html.Li("No saved views yet: name the view on screen and save it.", className="message empty")
    entries = [_entry(view) for view in answer["views"]]
    if answer["matched"] > len(entries):
        entries.append(html.Li(f"The newest {len(entries)} of {answer['matched']} views.", className="hint"))
    return entries


def _entry(view: dict) -> html.Li:
    link = f"/views/{view['id']}"
    return html.Li(className="saved-view", **{"data-view": str(view["id"])}, children=[  # type: ignore[arg-type]
        html.Div(className="saved-view-head", children=[
            html.A(view["name"], href=link, className="saved-view-name", title="Open this view"),
            html.Button("Copy link", className="link-button copy-view-link", n_clicks=0, **{"data-link": link}),  # type: ignore[arg-type]
        ]),
        html.Div(describe_state(view["state"]) + " · saved " + _when(view["updated_at"]), className="meta"),
        html.Div(className="row saved-view-edit", children=[
            dcc.Input(id={"type": RENAMED, "view": view["id"]}, value=view["name"], type="text", maxLength=100,
                      debounce=False, name=f"New name of {view['name']}"),
            html.Button("Rename", id={"type": RENAME, "view": view["id"]}, className="secondary", n_clicks=0),
            dcc.ConfirmDialogProvider(
                id={"type": DELETE, "view": view["id"]}, message=f"Delete the saved view “{view['name']}”?",
                children=html.Button("Delete", className="secondary danger")),
        ]),
    ])


def describe_state(state: str) -> str:
    """What a saved view shows, in a few words: its image (or mosaic) and look, else its search."""
    values = {key: items[-1] for key, items in parse_qs(state).items()}
    if values.get("image"):
        look = values.get("style") or ("bands " + values["bands"] if values.get("bands") else None) or \
            ("band math" if values.get("expression") else None)
        mosaic = " (mosaic)" if values.get("mosaic") else ""
        return values["image"] + mosaic + (f" in {look}" if look else "")
    dates = " to ".join(v for v in (values.get("from"), values.get("to")) if v)
    return "a search" + (f" of {dates}" if dates else "") + (" in an area" if values.get("aoi") else "")


def _rename(clicks: list[int | None], names: list[str | None], ids: list[dict], changed: int):
    trigger = dash.ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        raise PreventUpdate
    name = next((n for n, i in zip(names, ids) if i["view"] == trigger["view"]), None)
    if not (name or "").strip():
        return _note("A view needs a name.", "error"), no_update
    try:
        view = api.patch(f"/api/v1/views/{int(trigger['view'])}", json={"name": name.strip()})  # type: ignore[union-attr]
    except api.ApiFailure as exc:
        return _note(f"Not renamed: {exc.detail}", "error"), no_update
    return _note(f"Renamed to “{view['name']}”.", "info"), changed + 1


def _delete(confirmed: list[int | None], changed: int):
    trigger = dash.ctx.triggered_id
    if not isinstance(trigger, dict) or not any(confirmed):
        raise PreventUpdate
    try:
        api.delete(f"/api/v1/views/{int(trigger['view'])}")
    except api.ApiFailure as exc:
        return _note(f"Not deleted: {exc.detail}", "error"), no_update
    return _note("Deleted.", "info"), changed + 1


def _note(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"message {kind}", role="alert" if kind == "error" else "status")


def _when(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text
