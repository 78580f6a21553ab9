"""Cards of the jobs a page started: the work the API runs in the background, shown while it runs.

The server renders an empty card once (`job_card`) and never touches it again: ui/assets/jobs.js
fills it by polling the job with fetch — progress and stage, a Cancel button, then the outcome. A
card whose job makes a file to save (an export, a GIF) has the browser download it; a card whose
job answers a question the page draws (statistics, a time series) names a `result_store` instead:
jobs.js writes the job's URL there once it has succeeded, and the tool's callback reads the result
(`result_of`) and draws it in the card's place. A failed job shows its error in the card.

Cancel is a write, which the browser alone may not make: jobs.js writes the job's URL to the page's
CANCEL store, and `_cancel` asks the API's DELETE with the app's token.
"""

from __future__ import annotations

import contextlib
from typing import Any, TypeGuard
from urllib.parse import quote

import dash
from dash import Input, Output, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from cogbrowser.ui import api

CANCEL = "job-cards-cancel"  # the job a card's Cancel asks to stop (jobs.js writes it)
CANCEL_FAILED = "job-cards-cancel-failed"  # why a cancel was refused
JOBS_PATH = "/api/v1/jobs/"


def stores() -> list[Component]:
    """The page's cancel store."""
    return [dcc.Store(id=CANCEL)]


def cancel_failed() -> html.Div:
    """Where the page says that a cancel was refused."""
    return html.Div(id=CANCEL_FAILED, role="alert")


def register(app: dash.Dash) -> None:
    app.callback(Output(CANCEL_FAILED, "children"), Input(CANCEL, "data"), prevent_initial_call=True)(_cancel)


def job_card(job_id: str, what: str, *, preview: str = "", result_store: str | None = None) -> Component:
    """An empty card for the job `job_id` making `what`: jobs.js fills it and polls the job; its
    file is downloaded once made (and shown in the card for a `preview` of "gif" or "mp4"), or,
    with `result_store`, its URL is written there."""
    data: dict[str, Any] = {"data-job": job_path(job_id), "data-what": what,
                            "data-preview": preview, "data-cancel-store": CANCEL}
    if result_store:
        data["data-result-store"] = result_store
    return html.Div(id=f"job-{job_id}", className="job-card", children=[], **data)


def job_path(job_id: str) -> str:
    return JOBS_PATH + quote(str(job_id), safe="")


def is_job_path(path: Any) -> TypeGuard[str]:
    """Whether `path` is a job's API path (what a browser writes to a store is checked before use)."""
    return isinstance(path, str) and path.startswith(JOBS_PATH) and "/" not in path[len(JOBS_PATH):] \
        and len(path) > len(JOBS_PATH)


def result_of(finished: dict | None, asked: dict | None) -> Any:
    """The result (its JSON, through the API) of the job jobs.js wrote to a result store as
    succeeded (`finished`), when it is the job of the question asked last (`asked["job"]`); an older
    question's job changes nothing (PreventUpdate)."""
    path = (finished or {}).get("job")
    if not is_job_path(path) or asked is None or path != asked.get("job"):
        raise PreventUpdate
    return api.get(f"{path}/result")


def still_good(path: Any) -> bool:
    """Whether the job at `path` is queued, running or has succeeded: asking the same again would
    only repeat it (a failed or cancelled one is asked again)."""
    if not is_job_path(path):
        return False
    try:
        return api.get(path)["state"] in ("queued", "running", "succeeded")
    except api.ApiFailure:
        return False


def cancel_job(path: str | None) -> None:
    """Stop a job the page no longer wants (a newer one replaced it); quietly, as it may have finished."""
    if is_job_path(path):
        with contextlib.suppress(api.ApiFailure):
            api.delete(path)


def _cancel(asked: dict | None):
    """Cancel the job of a card (the API's DELETE, with the app's token); the card shows the outcome."""
    path = (asked or {}).get("job")
    if not is_job_path(path):
        raise PreventUpdate
    try:
        api.delete(path)
    except api.ApiFailure as exc:
        if exc.status == 409:  # it finished meanwhile: its card says how
            raise PreventUpdate from None
        return html.Div(f"The job cannot be cancelled: {exc.detail}", className="message error")
    return no_update
