"""`/api/v1/jobs/{job_id}`: the progress and outcome of work that runs in the background (large uploads,
large exports and timelapses, and the statistics and time series a page asks for); `DELETE` cancels
it; `/result` is the file such a job made.

The jobs themselves (the catalog's `jobs` table, the queue, the workers) are cogbrowser.jobs; this is
their HTTP resource, the problem documents their errors become (`job_problem`), and how a read that
renders becomes a job (`runs_as_job`, `render_job_answer`): when the client asks for it with RFC 7240
`Prefer: respond-async`, or when its output is over `Settings.sync_render_pixels`, since such work
must not hold a request thread. The answer is 202 with the job (`Location`: its URL); the job runs
the same parsed query in a worker and keeps its file for `jobs.RESULT_KEEP_SECONDS`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, request, send_file
from pydantic import Field

from cogbrowser.errors import CogbrowserError, NotFound
from cogbrowser.jobs import (
    MAX_FINISHED,
    RESULT_KEEP_SECONDS,
    JobCancelled,
    JobFinished,
    JobQueue,
    JobRecord,
    JobTimedOut,
    State,
)
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint, json_response, link_args
from cogbrowser.web.params import BodyModel, Link, QueryModel
from cogbrowser.web.problems import ApiError, Problem, problem_of

blueprint = Blueprint("jobs", __name__)
TAGS = ("jobs",)
RENDER_KINDS = ("export", "timelapse", "statistics", "timeseries")  # jobs that make a file: /jobs/{id}/result
INLINE_RESULTS = ("image/gif", "application/json")  # shown by a browser; the others are saved as files
MAX_UNFINISHED_RENDERS = 64  # render jobs queued or running at once; beyond, a new one is a 503
BUSY_RETRY_SECONDS = 30


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
    kind: Literal["upload", "export", "timelapse", "statistics", "timeseries"] = Field(
        description="upload: a file being ingested; export, timelapse, statistics, timeseries: a file being "
                    "made, a picture or the JSON or CSV the same request answers at once (see result_url)")
    state: State = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str | None = Field(description="what it is doing (checksum, checking, converting to COG, copying, "
                                          "statistics, cataloguing), `done`, or the stage it failed at")
    progress: int | None = Field(description="percent done of the stage where it is known (the conversion's "
                                             "is an estimate); 100 once succeeded")
    filename: str = Field(description="the uploaded file's name, or the name of the file the job makes")
    size_bytes: int = Field(description="the uploaded file's size (0 for a job that makes a file)")
    created_at: datetime = Field(description="when the job was queued (for an upload: once the whole file was "
                                             "on the server's disk)")
    started_at: datetime | None
    finished_at: datetime | None
    result: Literal["created", "existing", "file"] | None = Field(
        description="created: a new image; existing: the same file (SHA-256) was in the catalog already, "
                    "nothing was changed; file: the job made a file, at result_url")
    result_url: str | None = Field(None, description=(
        f"where to download the file the job made, once it has succeeded; kept {RESULT_KEEP_SECONDS // 3600} h"))
    result_bytes: int | None = Field(None, description="the size of the file the job made")
    image_id: str | None
    image_url: str | None
    message: str | None = Field(description="what the work said, e.g. 'added as scene'")
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


def result_url(job_id: str) -> str:
    return f"{job_url(job_id)}/result"


def job_resource(job: JobRecord) -> Job:
    """A job as the API shows it, with links on the requesting host."""
    links = [Link(href=job_url(job.id), rel="self", type="application/json")]
    outcome = job.outcome
    image = outcome.image_id if outcome else None
    if image:
        links.append(Link(href=image_url(image), rel="image", type="application/json"))
    made = outcome is not None and outcome.file is not None and not outcome.expired
    if made:
        links.append(Link(href=result_url(job.id), rel="enclosure", type=outcome.media_type if outcome else None))
    error = job.error
    return Job(
        id=job.id, kind=job.kind, state=job.state, stage=job.stage, progress=job.progress, filename=job.filename,
        size_bytes=job.size_bytes, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, result=outcome.result if outcome else None,
        result_url=result_url(job.id) if made else None, result_bytes=outcome.size_bytes if outcome else None,
        image_id=image,
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


RESULT_FILES = {"content": {media: {"schema": {"type": "string", "format": "binary"}}
                            for media in ("image/tiff", "image/png", "image/jpeg", "image/webp", "image/gif",
                                          "application/json", "text/csv")},
                "description": "The file (Content-Disposition names it; ETag, Last-Modified, Range)"}


@endpoint(blueprint, ("GET", "HEAD"), "/api/v1/jobs/<job_id>/result", summary="The file a job made", tags=TAGS,
          path_parameters=JOB_PATH, responses={
              200: RESULT_FILES, 206: {"description": "The range asked (Range)"}, 304: None,
              409: "The job has not succeeded (yet): it is queued or running (Retry-After), failed or cancelled",
              410: f"The file was removed, {RESULT_KEEP_SECONDS // 3600} h after the job finished"})
def job_result(job_id: str) -> Response:
    """The GeoTIFF, picture, GIF, JSON or CSV an export, timelapse, statistics or time series job
    made, once `state` is succeeded. The same access as the request that made it (a read)."""
    queue = job_queue()
    job = _known_job(queue.get(job_id), job_id)
    if job.kind not in RENDER_KINDS:
        raise NotFound(f"job {job_id!r} makes no file (it ingests an upload: its image is at image_url)")
    if not job.finished:
        raise ApiError(409, "Conflict", f"job {job_id!r} is {job.state} ({job.stage or 'waiting'}): its file is not "
                       "made yet; poll the job until its state is succeeded",
                       headers={"Retry-After": "2", "Location": job_url(job_id)})
    if job.state != "succeeded":
        why = f": {job.error['detail']}" if job.error and job.error.get("detail") else ""
        raise ApiError(409, "Conflict", f"job {job_id!r} {job.state}{why}; it made no file")
    path = queue.result_file(job)
    outcome = job.outcome
    if path is None or outcome is None:
        raise ApiError(410, "Gone", f"the file of job {job_id!r} was removed, {RESULT_KEEP_SECONDS // 3600} h after "
                       "the job finished: ask for it again")
    return send_file(path, mimetype=outcome.media_type, as_attachment=outcome.media_type not in INLINE_RESULTS,
                     download_name=outcome.file, conditional=True, etag=True, max_age=3600)


# ---------------------------------------------------------------- reads that become jobs

def prefers_async() -> bool:
    """Whether the client asked for the answer to come later (RFC 7240 `Prefer: respond-async`)."""
    for value in request.headers.getlist("Prefer"):
        for preference in value.split(","):
            if preference.split(";")[0].split("=")[0].strip().lower() == "respond-async":
                return True
    return False


def runs_as_job(output_pixels: int) -> bool:
    """Whether a render of `output_pixels` (x frames) runs as a job: asked for, or over the sync limit
    (COGBROWSER_SYNC_RENDER_PIXELS), since such work must not hold a request thread."""
    return prefers_async() or output_pixels > services().settings.sync_render_pixels


def render_job_answer(kind: str, filename: str, params: dict) -> Response:
    """Queue this request as a job of `kind` (its query, as parsed again by the worker, and `params`:
    the path's ids) making `filename`; 202 with the job. 503 when too many such jobs wait already."""
    queue = job_queue()
    if queue.unfinished(RENDER_KINDS) >= MAX_UNFINISHED_RENDERS:
        raise ApiError(503, "Service Unavailable", f"{MAX_UNFINISHED_RENDERS} exports, timelapses, statistics "
                       "and time series are queued or running already: ask again later",
                       headers={"Retry-After": str(BUSY_RETRY_SECONDS)})
    job = queue.submit(kind, filename, 0, {**params, "query": link_args()}, None)  # never the access token
    headers = {"Location": job_url(job.id), "Retry-After": "1", "Cache-Control": "no-store"}
    if prefers_async():
        headers["Preference-Applied"] = "respond-async"
    return json_response(job_resource(job), 202, headers=headers)
