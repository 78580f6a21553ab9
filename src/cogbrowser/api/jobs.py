"""`/api/v1/jobs/{job_id}`: the progress and outcome of work that runs in the background (large uploads).

The jobs themselves (queue, worker, states) are cogbrowser.jobs; this is their HTTP resource.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, request
from pydantic import Field

from cogbrowser.errors import NotFound
from cogbrowser.jobs import MAX_FINISHED, JobRecord, JobStore, State
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.params import BodyModel, Link, QueryModel
from cogbrowser.web.problems import Problem, problem_of

blueprint = Blueprint("jobs", __name__)
TAGS = ("jobs",)


def job_store() -> JobStore:
    """The jobs of the current app."""
    return services().jobs


# ---------------------------------------------------------------- the resource

class Job(BodyModel):
    """A background job: its state, the stage it is at, and the image it made or why it failed."""

    id: str
    kind: Literal["upload"]
    state: State = Field(description="queued, running, succeeded or failed")
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
    error: Problem | None = Field(description="why it failed: the problem the upload would have answered")
    links: list[Link]


class JobList(BodyModel):
    """Jobs of this server process, newest first."""

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
        error=problem_of(error) if error else None, links=links)


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/api/v1/jobs", summary="Recent background jobs", tags=TAGS, query=JobQuery,
          responses={200: JobList})
def list_jobs(query: JobQuery) -> JobList:
    """Queued, running and recently finished jobs of this server process (the last 1000 finished
    ones are kept, until the server restarts), newest first."""
    jobs = [job_resource(job) for job in job_store().recent(query.limit, query.state)]
    return JobList(jobs=jobs, count=len(jobs))


@endpoint(blueprint, "GET", "/api/v1/jobs/<job_id>", summary="One background job", tags=TAGS,
          path_parameters={"job_id": "The job's id (from the Location of a 202 answer)"}, responses={200: Job})
def get_job(job_id: str) -> Job:
    """Poll it until `state` is succeeded (then `image_url` is the image) or failed (`error` says why)."""
    job = job_store().get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} on this server (jobs are kept in its memory: the last "
                       f"{MAX_FINISHED} finished ones, until it restarts)")
    return job_resource(job)
