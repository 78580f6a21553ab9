"""The pages' callback requests checked before Dash reads them.

Dash's dispatcher takes the body of `POST /_dash-update-component` on trust: an output that names no
callback is a KeyError, a body that is not an object a TypeError, and both surfaced as 500s. A
client that sends such a request made the mistake, so it is answered 400 with a problem naming what
is wrong, before Dash sees it; a well-formed request goes on to Dash untouched. A body holding more
values than json_budget allows is answered 413 before it is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
from flask import Flask, Response, request

from cogbrowser.json_budget import JsonTooLarge, check_json_values
from cogbrowser.web.problems import problem

CALLBACK_ROUTE = "_dash-update-component"


def refuse_malformed_callbacks(app: dash.Dash, server: Flask) -> None:
    """Answer 400 to a callback request that names no callback of `app` or is not one at all."""
    path = app.config.routes_pathname_prefix + CALLBACK_ROUTE

    @server.before_request
    def check_callback_request() -> Response | None:
        if request.path != path or request.method != "POST":
            return None
        try:
            check_json_values(request.get_data(cache=True), "the callback request")
        except JsonTooLarge as exc:
            return problem(413, "Content Too Large", str(exc))
        fault = callback_fault(request.get_json(silent=True), app.callback_map)
        return None if fault is None else problem(400, "Bad Request", fault)


def callback_fault(body: Any, callbacks: Mapping[str, Any]) -> str | None:
    """What is wrong with a callback request's body, or None if Dash can dispatch it."""
    if not isinstance(body, dict):
        return "not a Dash callback request: the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "output: missing, or not text"
    if output not in callbacks:
        return f"output: {output[:200]!r} is not an output of this server's pages"
    for name in ("inputs", "state"):
        if not _dependencies(body.get(name, [])):
            return f"{name}: must be a list of {{id, property, value}} objects"
    outputs = body.get("outputs")
    if outputs is not None and not (_dependency(outputs) or _dependencies(outputs)):
        return "outputs: must be an {id, property} object or a list of them"
    changed = body.get("changedPropIds", [])
    if not (isinstance(changed, list) and all(isinstance(item, str) for item in changed)):
        return "changedPropIds: must be a list of texts"
    return None


def _dependencies(value: Any) -> bool:
    """A list of dependencies, each one object or (for a pattern-matching wildcard) a list of them."""
    return isinstance(value, list) and all(
        _dependency(item) or (isinstance(item, list) and all(_dependency(one) for one in item)) for item in value)


def _dependency(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("id"), (str, dict))
            and isinstance(value.get("property"), str))
