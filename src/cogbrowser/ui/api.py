"""How the pages reach the catalog: the REST API, called inside the server process.

Callbacks run in the server while it answers the browser, so they call the API through Flask's
test client: the same routes, validation and problem details as any script, with no socket and no
second road to the database. Every call carries the app's internal token (auth.py), which never
leaves the process: writes need one, and reads do when the server says so (the page that makes the
call has passed the sign-in then); the UI decides which users may trigger them.

List parameters go as the parameter repeated, one item each, written as the API reads a list
(`list_value`: an item holding a comma is double-quoted), so a target named "Smith, John" stays
one name on its way to the catalog. Callers pass lists as Python lists; none joins them itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import quote, urlencode

import orjson
from flask import Flask, current_app
from werkzeug.local import LocalProxy

from cogbrowser.web.context import services
from cogbrowser.web.endpoints import list_value
from cogbrowser.web.problems import ApiError


class ApiFailure(Exception):
    """The API refused or failed a request; `detail` is its problem document's detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _client():
    return current_app.test_client()


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {services().internal_token}"}


def _answer(response) -> Any:
    if response.status_code >= 400:
        raise ApiFailure(response.status_code, _answer_detail(response))
    if response.mimetype in ("application/json", "application/geo+json"):
        return orjson.loads(response.get_data())  # a sample's 5,000 points: a fifth of the stdlib's time
    return response.get_data()


def _answer_detail(response) -> str:
    try:
        return str(response.get_json()["detail"])
    except (TypeError, KeyError, ValueError):
        return response.get_data(as_text=True)[:300]


def query_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as (name, value) pairs: a list or tuple is the parameter repeated, each item
    one list value (quoted where it holds a comma); None, "" and empty lists are left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            pairs += [(name, list_value([str(item)])) for item in value]
        elif value is not None and value != "":
            pairs.append((name, str(value)))
    return pairs


def get(path: str, **params: Any) -> Any:
    """GET an API path (e.g. "/api/v1/images") with query parameters (lists as in `query_pairs`)."""
    query = urlencode(query_pairs(params), quote_via=quote)
    return _answer(_client().get(path, query_string=query, headers=_headers()))


def post(path: str, json: Any = None, **params: Any) -> Any:
    return _answer(_client().post(path, json=json, query_string=params, headers=_headers()))


def patch(path: str, json: Any) -> Any:
    return _answer(_client().patch(path, json=json, headers=_headers()))


def delete(path: str, **params: Any) -> Any:
    return _answer(_client().delete(path, query_string=params, headers=_headers()))


def start_job(path: str, pairs: Sequence[tuple[str, str]]) -> dict:
    """Ask for a file (an export, a GIF) as a job, with `Prefer: respond-async` and the query pairs
    as given (a parameter may repeat, as `rescale` does per band): the API only checks the request
    and queues the work, so a page's callback never renders. The job's JSON (202); the file will be
    at its `result_url`. When too many jobs wait already, the callback itself answers 503 with the
    API's Retry-After, so the page says the server is busy and asks again (assets/server-state.js)."""
    headers = {**_headers(), "Prefer": "respond-async"}
    response = _client().get(path, query_string=urlencode(list(pairs), quote_via=quote), headers=headers)
    if response.status_code == 503 and "Retry-After" in response.headers:  # too many jobs wait: the page asks again
        raise ApiError(503, "Service Unavailable", _answer_detail(response),
                       headers={"Retry-After": response.headers["Retry-After"]})
    body = _answer(response)
    if response.status_code != 202 or not isinstance(body, dict):
        raise ApiFailure(response.status_code, "the API sent the file instead of queuing a job")
    return body


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """The answers of several API calls made at once, each in the app's context, in the order of
    `calls`: a page waits for its slowest question (the detections summary, 2 s over 1,000,000
    detections), not for their sum."""
    # Flask annotates `current_app` as the app itself; it is a proxy, and the threads need the app behind it
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()

    def run(call: Callable[[], Any]) -> Any:
        with app.app_context():
            return call()

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="api-calls") as pool:
        return list(pool.map(run, calls))
