"""`/api/v1/jobs/{job_id}`: the progress and outcome of work that runs in the background (large uploads);
`DELETE` cancels it.

The jobs themselves (the catalog's `jobs` table, the queue, the workers) are cogbrowser.jobs; this is
their HTTP resource, and the problem documents their errors become (`job_problem`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, request
from pydantic import Field

from cogbrowser.errors import CogbrowserError, NotFound
from cogbrowser.jobs import MAX_FINISHED, JobCancelled, JobFinished, JobQueue, JobRecord, JobTimedOut, State
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, json_response
from cogbrowser.web.params import BodyModel, Link, QueryModel
from cogbrowser.web.problems import ApiError, Problem, problem_of

blueprint = Blueprint("jobs", __name__)
TAGS = ("jobs",)


def job_queue() -> JobQueue:
    """The jobs of the current app."""
    return services().jobs


def job_problem(error: CogbrowserError) -> dict:
    """A job's error as the problem document its job shows (and a waiting upload answers)."""
    if isinstance(error, JobCancelled):
        document = Problem(title="Cancelled", status=409, detail=str(error))
    elif isinstance(error, JobTimedOut):
        document = Problem(title="Unprocessable Content", status=422, detail=str(error))
    else:
        document = problem_of(error)
    return document.model_dump(mode="json", exclude_none=True)


def raise_job_error(job: JobRecord) -> None:
    """Answer a failed job's problem, as the request that started it would have."""
    if job.error is not None:
        extra = {k: v for k, v in job.error.items() if k not in ("type", "title", "status", "detail")}
        raise ApiError(job.error["status"], job.error["title"], job.error["detail"], **extra)


# ---------------------------------------------------------------- the resource

class Job(BodyModel):
    """A background job: its state, the stage it is at, and the image it made or why it failed."""

    id: str
    kind: Literal["upload"]
    state: State = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str | None = Field(description="what it is doing (checksum, checking, converting to COG, copying, "
                                          "statistics, cataloguing), `done`, or the stage it failed at")
    progress: int | None = Field(description="percent done of the stage where it is known (the conversion's "
                                             "is an estimate); 100 once succeeded")
    filename: str = Field(description="the uploaded file's name")
    size_bytes: int = Field(description="the uploaded file's size")
    created_at: datetime = Field(description="when the whole file was on the server's disk and the job queued")
    started_at: datetime | None
    finished_at: datetime | None
    result: Literal["created", "existing"] | None = Field(
        description="created: a new image; existing: the same file (SHA-256) was in the catalog already, "
                    "nothing was changed")
    image_id: str | None
    image_url: str | None
    message: str | None = Field(description="what the ingest said, e.g. 'added as scene'")
    error: Problem | None = Field(description="why it failed (the problem the upload would have answered) or "
                                               "was cancelled")
    cancel_requested: bool = Field(False, description="a cancel was asked for; a running job stops at its next step")
    links: list[Link]


class JobList(BodyModel):
    """Jobs of the catalog, newest first."""

    jobs: list[Job]
    count: int


class JobQuery(QueryModel):
    state: State | None = Field(None, description="only jobs in this state")
    limit: int = Field(100, ge=1, le=MAX_FINISHED, description=f"jobs at most (at most {MAX_FINISHED})")


def job_url(job_id: str) -> str:
    return f"{request.url_root.rstrip('/')}/api/v1/jobs/{job_id}"


def image_url(image_id: str) -> str:
    return f"{request.url_root.rstrip('/')}/api/v1/images/{image_id}"


def job_resource(job: JobRecord) -> Job:
    """A job as the API shows it, with links on the requesting host."""
    links = [Link(href=job_url(job.id), rel="self", type="application/json")]
    image = job.outcome.image_id if job.outcome else None
    if image:
        links.append(Link(href=image_url(image), rel="image", type="application/json"))
    error = job.error
    return Job(
        id=job.id, kind=job.kind, state=job.state, stage=job.stage, progress=job.progress, filename=job.filename,
        size_bytes=job.size_bytes, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, result=job.outcome.result if job.outcome else None, image_id=image,
        image_url=image_url(image) if image else None, message=job.outcome.message if job.outcome else None,
        error=Problem(**error) if error else None, cancel_requested=job.cancel_requested, links=links)


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/api/v1/jobs", summary="Recent background jobs", tags=TAGS, query=JobQuery,
          responses={200: JobList})
def list_jobs(query: JobQuery) -> JobList:
    """Queued, running and finished jobs, newest first. They live in the catalog: a restart keeps
    them, and every server sharing the catalog shows the same."""
    jobs = [job_resource(job) for job in job_queue().recent(query.limit, query.state)]
    return JobList(jobs=jobs, count=len(jobs))


JOB_PATH = {"job_id": "The job's id (from the Location of a 202 answer)"}


@endpoint(blueprint, "GET", "/api/v1/jobs/<job_id>", summary="One background job", tags=TAGS,
          path_parameters=JOB_PATH, responses={200: Job})
def get_job(job_id: str) -> Job:
    """Poll it until `state` is succeeded (then `image_url` is the image), failed or cancelled
    (`error` says why)."""
    return job_resource(_known_job(job_queue().get(job_id), job_id))


@endpoint(blueprint, "DELETE", "/api/v1/jobs/<job_id>", summary="Cancel a background job", tags=TAGS,
          path_parameters=JOB_PATH, responses={200: Job, 202: Job, 409: {"description": "The job has finished"}})
def cancel_job(job_id: str) -> Response:
    """A queued job is cancelled at once (200, `state: cancelled`); a running one stops at its next
    step (202, `cancel_requested: true`; poll it), its work files removed. A finished job is a 409."""
    try:
        job = _known_job(job_queue().cancel(job_id), job_id)
    except JobFinished as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    status = 200 if job.state == "cancelled" else 202
    return json_response(job_resource(job), status, headers={"Location": job_url(job.id)})


def _known_job(job: JobRecord | None, job_id: str) -> JobRecord:
    if job is None:
        raise NotFound(f"no job {job_id!r} (finished jobs are kept in the catalog; this id was never one)")
    return job
