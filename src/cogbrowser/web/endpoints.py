"""The one way the REST and STAC APIs declare an endpoint: route, parameters, body, answers, access.

`@endpoint(blueprint, "GET", "/api/v1/images", query=ImageSearch, responses={200: ImageList})`
registers the Flask route and, from the same declaration, does what every endpoint must do the same
way (one declaration may serve several methods, e.g. `("GET", "HEAD")`: one operation each):

- parses the query string into the `query` model: unknown parameters are refused (400, naming them
  and the ones allowed), a parameter given twice is refused unless it is a list, lists may be
  comma-separated (an item holding a comma double-quoted, as in CSV) or repeated, and every
  validation error names its field;
- parses a JSON body into the `body` model (`raw_body` endpoints read the stream themselves);
- declares access (read or write), which auth.py checks before the view runs (`declared_access`);
- declares how large a body may be (`body_limit`: 16 MiB of JSON, unless a `RawBody` says more),
  which the server front (server.py) checks on the headers, before the body is read;
- is what `/api/v1/openapi.json` is generated from (openapi.py), so the description cannot drift.

Views get the parsed `query` and `body` as keyword arguments and return a Response or a pydantic
model (sent as JSON with the status of the first 2xx answer declared). Errors raised as `ApiError`,
`NotFound` or `InvalidInput` become RFC 9457 problem details (problems.py).

A declared answer is a pydantic model, None (no body), or an OpenAPI response fragment
(`{"description": ..., "content": {media type: {"schema": ...}}, "headers": {name: {...}}}`).
Flask answers OPTIONS by itself for a path unless one of its declarations serves OPTIONS (a
preflight that needs its own headers, as /cogs has); HEAD is served with GET by Flask either way,
and declared where a client relies on it.
"""

from __future__ import annotations

import csv
import functools
import io
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError

from cogbrowser.config import Settings
from cogbrowser.errors import NotFound
from cogbrowser.json_budget import JsonTooLarge, check_json_values
from cogbrowser.web.problems import ApiError
from cogbrowser.web.tokens import TOKEN_PARAMETER

Access = Literal["read", "write"]
JSON_TYPES = ("application/json",)
MAX_JSON_BYTES = 16 * 1024 * 1024  # a JSON body larger than this is refused before it is read
FORM_MARGIN = 1 << 20  # what a multipart form adds around its file: boundaries and part headers


@dataclass(frozen=True)
class RawBody:
    """A body the view reads itself (uploads): its media types and a description for OpenAPI."""

    media_types: Mapping[str, dict]  # media type -> OpenAPI schema
    description: str
    required: bool = True
    # the largest body accepted, in bytes, or how to work it out from the settings (the upload's limit)
    max_bytes: int | Callable[[Settings], int] = MAX_JSON_BYTES


@dataclass
class Endpoint:
    """Everything declared about one operation (one method on one path)."""

    method: str
    rule: str
    name: str
    summary: str
    description: str
    tags: tuple[str, ...]
    access: Access
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    raw_body: RawBody | None
    # status -> pydantic model, a media-type dict, None (no body), or a text: a problem answer so described
    responses: dict[int, Any]
    # name -> description, or a JSON schema with its description (e.g. an enum) where the rule's type says too little
    path_parameters: dict[str, str | Mapping[str, Any]] = field(default_factory=dict)


ENDPOINTS: list[Endpoint] = []
_ACCESS: dict[str, Access] = {}  # Flask endpoint name -> declared access, for the check before each request
_RAW_BODIES: dict[str, RawBody] = {}  # Flask endpoint name -> its raw body, for the body's size limit


def declared_access(name: str | None) -> Access | None:
    """The access an endpoint (by its Flask endpoint name) declares; None for undeclared routes."""
    return _ACCESS.get(name or "")


def body_limit(name: str | None, settings: Settings) -> int:
    """The largest request body an endpoint (by its Flask endpoint name) accepts: its raw body's
    `max_bytes`, else MAX_JSON_BYTES (JSON bodies, the UI's callbacks, undeclared routes)."""
    raw_body = _RAW_BODIES.get(name or "")
    if raw_body is None:
        return MAX_JSON_BYTES
    return raw_body.max_bytes(settings) if callable(raw_body.max_bytes) else raw_body.max_bytes


def largest_body_limit(settings: Settings) -> int:
    """The largest body any endpoint accepts: the server's own ceiling, whatever the route."""
    return max([MAX_JSON_BYTES, *(body_limit(name, settings) for name in _RAW_BODIES)])


READ_METHODS = ("GET", "HEAD", "OPTIONS")
_OPTIONS_DECLARED: set[tuple[str, str]] = set()  # (blueprint, rule) with a declared OPTIONS operation


def endpoint(blueprint: Blueprint, method: str | Sequence[str], rule: str, *, summary: str,
             responses: dict[int, Any], query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
             raw_body: RawBody | None = None, access: Access | None = None, tags: tuple[str, ...] = (),
             path_parameters: Mapping[str, str | Mapping[str, Any]] | None = None,
             name: str | None = None) -> Callable:
    """Declare and register an operation, or one per method of `method` (see the module docstring).
    `access` defaults to "read" for GET, HEAD and OPTIONS and "write" for every other method.
    `name` (default: the view's) must differ when one view has two declarations."""
    methods = (method,) if isinstance(method, str) else tuple(method)
    methods = tuple(m.upper() for m in methods)
    if "OPTIONS" in methods:
        _OPTIONS_DECLARED.add((blueprint.name, rule))

    def decorate(view: Callable) -> Callable:
        view_name = name or view.__name__
        for one in methods:
            spec = Endpoint(
                method=one, rule=rule, name=f"{blueprint.name}.{view_name}", summary=summary,
                description=(view.__doc__ or "").strip(), tags=tags,
                access=access or ("read" if all(m in READ_METHODS for m in methods) else "write"),
                query=query, body=body, raw_body=raw_body, responses=responses,
                path_parameters=dict(path_parameters or {}))
            ENDPOINTS.append(spec)
            _ACCESS[spec.name] = spec.access
            if raw_body is not None:
                _RAW_BODIES[spec.name] = raw_body
        success = min((status for status in responses if 200 <= status < 300), default=200)

        @functools.wraps(view)
        def handler(**path: str) -> Response:
            _refuse_nul_in_path(path)
            kwargs: dict[str, Any] = dict(path)
            if query is not None:
                kwargs["query"] = parse_query(query, request.args)
            elif set(request.args) - {TOKEN_PARAMETER}:
                unknown = sorted(set(request.args) - {TOKEN_PARAMETER})
                raise ApiError(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                               "(this endpoint takes none)")
            if body is not None:
                kwargs["body"] = parse_json_body(body)
            answer = view(**kwargs)
            if isinstance(answer, BaseModel):
                return json_response(answer, success)
            return answer

        # Registered when the blueprint is, so that every declaration of the rule is known by then.
        blueprint.record(lambda state: state.add_url_rule(
            rule, view_name, handler, methods=list(methods),
            provide_automatic_options=(blueprint.name, rule) not in _OPTIONS_DECLARED))
        return view

    return decorate


def json_response(model: BaseModel, status: int = 200, media_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> Response:
    """A model as JSON (None fields kept: a client sees every field the schema promises)."""
    return Response(model.model_dump_json(by_alias=True), status=status, mimetype=media_type,
                    headers=dict(headers or {}))


def url_with(name: str, value: str) -> str:
    """This request's URL with one query parameter set to `value` (a `next` link's cursor); never
    the access token (see `link_args`)."""
    args = [(key, item) for key, item in link_args() if key != name] + [(name, value)]
    return f"{request.base_url}?{urlencode(args)}"


def link_args() -> list[tuple[str, str]]:
    """This request's query parameters, in order, as a link or a log line repeats them: without
    the access token. Links are shown, shared, pasted and logged; a token must not travel with them."""
    return [(key, value) for key, value in request.args.items(multi=True) if key != TOKEN_PARAMETER]


def this_url(external: bool = True) -> str:
    """This request's URL (`external`: with scheme and host; else path and query, for a log line or
    a redirect back here) without the access token."""
    query = urlencode(link_args())
    return (request.base_url if external else request.path) + (f"?{query}" if query else "")


# ---------------------------------------------------------------- query strings

@functools.cache
def list_fields(model: type[BaseModel]) -> frozenset[str]:
    """The parameters (by alias) of `model` that take several values. Worked out once per model:
    the type introspection costs ~30 µs, which every request of the model would pay again."""
    return frozenset(info.alias or name for name, info in model.model_fields.items() if _is_list(info.annotation))


@functools.cache
def query_names(model: type[BaseModel]) -> frozenset[str]:
    """Every parameter (by alias) of `model`, worked out once per model."""
    return frozenset(info.alias or name for name, info in model.model_fields.items())


def _is_list(annotation: Any) -> bool:
    """Whether a field's type is a list (or an optional list): such parameters take several values."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    unwrapped = [typing.get_args(o)[0] if typing.get_origin(o) is typing.Annotated else o for o in options]
    return any(typing.get_origin(option) in (list, set, frozenset, tuple)
               or (isinstance(option, type) and issubclass(option, tuple)) for option in unwrapped)


def parse_query(model: type[BaseModel], args: Mapping) -> BaseModel:
    """The query string as `model`; 400 naming every unknown, repeated or invalid parameter."""
    allowed = query_names(model)
    unknown = sorted(set(args) - allowed - {TOKEN_PARAMETER})
    if unknown:
        raise ApiError(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                       f"(parameters: {', '.join(sorted(allowed))})",
                       errors=[{"field": name, "message": "unknown parameter"} for name in unknown])
    multiple = list_fields(model)
    data: dict[str, Any] = {}
    for name in set(args) - {TOKEN_PARAMETER}:
        values = args.getlist(name) if hasattr(args, "getlist") else [args[name]]
        if name in multiple and name in getattr(model, "repeated", ()):
            data[name] = values  # values that hold commas themselves (rescale=0,3000): only repeated
        elif name in multiple:
            data[name] = [item for value in values for item in split_list(value, name)]
        elif len(values) > 1:
            raise ApiError(400, "Bad Request", f"{name}: given {len(values)} times; give it once",
                           errors=[{"field": name, "message": "given more than once"}])
        else:
            data[name] = values[0]
    return validate(model, data)


def split_list(value: str, name: str) -> list[str]:
    """The items of one comma-separated list value. An item holding a comma is double-quoted, as
    in CSV (`"Smith, John",MV Aurora`; a quote inside one is doubled); blanks around items are
    dropped; an empty item is an error naming the parameter."""
    try:
        rows = list(csv.reader([value], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise ApiError(400, "Bad Request", f"{name}: {value!r} is not a list of values ({exc})",
                       errors=[{"field": name, "message": "malformed list"}]) from None
    items = [item.strip() for item in rows[0]] if rows and rows[0] else [""]
    if not all(items):
        raise ApiError(400, "Bad Request", f"{name}: an empty value in the list {value!r}",
                       errors=[{"field": name, "message": "empty value in the list"}])
    return items


def list_value(items: Sequence[str]) -> str:
    """Items as one list value that `split_list` reads back: quoted where they hold a comma or quote."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(items)
    return out.getvalue()


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """`data` as `model`, or a 400 problem listing each field at fault."""
    _refuse_nul(data, "")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": _location(error["loc"]), "message": _message(error)} for error in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        raise ApiError(400, "Bad Request", detail, errors=errors) from None


def _refuse_nul_in_path(path: Mapping[str, Any]) -> None:
    """A path segment holding a NUL names nothing (ids are URL-safe): 404, before any query, since
    PostgreSQL refuses such text outright."""
    for name, value in path.items():
        if isinstance(value, str) and "\x00" in value:
            raise NotFound(f"no {name.removesuffix('_id').replace('_', ' ')} {value!r} (no id holds a NUL character)")


def _refuse_nul(value: Any, where: str) -> None:
    """No text may hold a NUL character: PostgreSQL cannot store one, and no real value has one."""
    if isinstance(value, str):
        if "\x00" in value:
            field = where or "body"
            raise ApiError(400, "Bad Request", f"{field}: contains a NUL character",
                           errors=[{"field": field, "message": "contains a NUL character"}])
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{where}.{index}" if where else str(index))


def _location(loc: tuple) -> str:
    parts = [str(part) for part in loc if not (isinstance(part, str) and part.startswith("function-"))]
    return ".".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


# ---------------------------------------------------------------- JSON bodies

def parse_json_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as `model`: 415 for another media type, 413 when too large."""
    return validate(model, read_json_body())


def read_json_body(*, any_media_type: bool = False) -> Any:
    """The request's body parsed as JSON (None for an empty body), for views that validate it
    themselves (a raw body): 413 when larger than MAX_JSON_BYTES or holding more values than
    json_budget allows (parsed, they would cost 10-20 times the text), 400 when not JSON, and 415 for a
    media type other than JSON unless `any_media_type` (a GeoJSON file posted as it comes)."""
    if not any_media_type and request.mimetype not in JSON_TYPES and not request.mimetype.endswith("+json"):
        raise ApiError(415, "Unsupported Media Type", f"send the body as application/json, not "
                       f"{request.mimetype or 'nothing'!r}")
    length = request.content_length
    limit = MAX_JSON_BYTES
    if length is not None and length > limit:
        raise ApiError(413, "Content Too Large", f"the JSON body is {length} bytes; at most {limit} are accepted")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ApiError(413, "Content Too Large", f"the JSON body is over {limit} bytes")
    if not raw.strip():
        return None
    try:
        check_json_values(raw, "the JSON body")
    except JsonTooLarge as exc:
        raise ApiError(413, "Content Too Large", str(exc)) from None
    try:
        return current_app.json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Bad Request", f"body: not valid JSON ({exc})",
                       errors=[{"field": "body", "message": "not valid JSON"}]) from None
