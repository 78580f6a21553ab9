"""`/api/v1/views`: saved views (pins) of the Browse page, and `/views/{id}`, the link that opens one.

A view is a name and a state: the Browse page's query string (the layer, its look, the dates, the
area, the map's view), checked when written by reading it as the page does (ui's BrowseState is the
grammar; here only its outer limits are checked: a query string the page can open). Names are unique
whatever their case. The link `/views/{id}` redirects to the page in that state, so a shared link
follows a rename and says "gone" after a delete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl

from flask import Blueprint, Response, url_for
from pydantic import Field, StringConstraints, field_validator

from cogbrowser.catalog import queries
from cogbrowser.catalog.records import SavedViewRecord
from cogbrowser.errors import NotFound
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, json_response, url_with
from cogbrowser.web.params import BodyModel, Link, QueryModel
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("views", __name__)
TAGS = ("views",)
PATH = {"view_id": "The saved view's id"}
MAX_LIMIT = 500
MAX_STATE = 8000  # characters of a state (the catalog's limit; an area of interest fits in far less)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ViewState(BodyModel):
    @field_validator("state", check_fields=False)
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        """A query string of the Browse page (with or without its '?'): name=value pairs."""
        if value is None:
            return None
        text = value.strip().lstrip("?")
        if len(text) > MAX_STATE:
            raise ValueError(f"at most {MAX_STATE} characters")
        try:
            pairs = parse_qsl(text, strict_parsing=bool(text), keep_blank_values=True)
        except ValueError:
            raise ValueError("not a query string of the Browse page (name=value pairs joined by &)") from None
        if any(not name.replace("_", "").isalnum() for name, _ in pairs):
            raise ValueError("not a query string of the Browse page: parameter names are words")
        return text


class ViewCreate(ViewState):
    name: Name = Field(description="unique, whatever its case")
    state: str = Field(description="the Browse page's query string, e.g. image=S2_x&style=ndvi&zoom=12")


class ViewUpdate(ViewState):
    name: Name | None = None
    state: str | None = None


class SavedView(BodyModel):
    """A saved view, with the links that open it (`view`: follows renames) and read it."""

    id: int
    name: str
    state: str
    created_at: datetime
    updated_at: datetime
    links: list[Link]


class SavedViewList(BodyModel):
    views: list[SavedView]
    count: int = Field(description="views on this page")
    matched: int = Field(description="all saved views")
    links: list[Link]


class ViewListQuery(QueryModel):
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"views per page (at most {MAX_LIMIT})")
    cursor: int | None = Field(None, ge=0, le=2**63 - 1, description="continue after this view (from the `next` link)")


@endpoint(blueprint, "GET", "/api/v1/views", summary="List the saved views", tags=TAGS, query=ViewListQuery,
          responses={200: SavedViewList})
def list_views(query: ViewListQuery) -> SavedViewList:
    """Newest first; the `next` link continues."""
    with services().db.connection() as conn:
        rows = queries.list_saved_views(conn, query.limit + 1, query.cursor)
        matched = queries.count_saved_views(conn)
    page = rows[:query.limit]
    links = [Link(href=url_for("views.list_views"), rel="self", type="application/json")]
    if len(rows) > query.limit:
        links.append(Link(href=url_with("cursor", str(page[-1].id)), rel="next", type="application/json"))
    return SavedViewList(views=[_resource(row) for row in page], count=len(page), matched=matched, links=links)


@endpoint(blueprint, "POST", "/api/v1/views", summary="Save a view", tags=TAGS, body=ViewCreate,
          responses={201: SavedView, 409: None})
def create_view(body: ViewCreate) -> Response:
    """409 when a view of that name (in any case) exists."""
    with services().db.connection() as conn:
        try:
            row = queries.create_saved_view(conn, body.name, body.state)
        except queries.NameTaken:
            raise _taken(body.name) from None
    return json_response(_resource(row), status=201,
                         headers={"Location": url_for("views.get_view", view_id=row.id)})


@endpoint(blueprint, "GET", "/api/v1/views/<int:view_id>", summary="One saved view", tags=TAGS,
          path_parameters=PATH, responses={200: SavedView})
def get_view(view_id: int) -> SavedView:
    return _resource(_view_or_404(view_id))


@endpoint(blueprint, "PATCH", "/api/v1/views/<int:view_id>", summary="Rename a saved view or change its state",
          tags=TAGS, path_parameters=PATH, body=ViewUpdate, responses={200: SavedView, 409: None})
def update_view(view_id: int, body: ViewUpdate) -> SavedView:
    with services().db.connection() as conn:
        try:
            row = queries.update_saved_view(conn, view_id, body.name, body.state)
        except queries.NameTaken:
            raise _taken(body.name or "") from None
    if row is None:
        raise NotFound(f"no saved view {view_id}")
    return _resource(row)


@endpoint(blueprint, "DELETE", "/api/v1/views/<int:view_id>", summary="Delete a saved view", tags=TAGS,
          path_parameters=PATH, responses={204: None})
def delete_view(view_id: int) -> Response:
    with services().db.connection() as conn:
        if not queries.delete_saved_view(conn, view_id):
            raise NotFound(f"no saved view {view_id}")
    return Response(status=204)


@blueprint.get("/views/<int:view_id>")
def open_view(view_id: int) -> Response:
    """The Browse page in the saved state (a link that follows renames)."""
    row = _view_or_404(view_id)
    return Response(status=302, headers={"Location": "/" + (f"?{row.state}" if row.state else "")})


def _view_or_404(view_id: int) -> SavedViewRecord:
    with services().db.connection() as conn:
        row = queries.get_saved_view(conn, view_id)
    if row is None:
        raise NotFound(f"no saved view {view_id} (it may have been deleted)")
    return row


def _taken(name: str) -> ApiError:
    return ApiError(409, "Conflict", f"a view named {name!r} exists (names are unique whatever their case); "
                    "choose another name or rename that one", errors=[{"field": "name", "message": "taken"}])


def _resource(row: SavedViewRecord) -> SavedView:
    return SavedView(id=row.id, name=row.name, state=row.state, created_at=row.created_at, updated_at=row.updated_at,
                     links=[Link(href=url_for("views.get_view", view_id=row.id), rel="self", type="application/json"),
                            Link(href=url_for("views.open_view", view_id=row.id), rel="view", type="text/html")])
