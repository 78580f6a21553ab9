"""`/api/v1/jobs/{job_id}`: the progress and outcome of work that runs in the background (large uploads).

Jobs live in the server process's memory, not in the catalog: they describe work in flight and its
recent outcomes, which matter to the client that started it and only while the server runs (a
restart forgets them; the images they made are in the catalog). `JobStore` keeps every queued and
running job and the last `MAX_FINISHED` finished ones, oldest dropped first.

One worker thread runs the jobs in the order they came: an ingest already converts on every core
(GDAL_NUM_THREADS=ALL_CPUS), so two at once would share the CPUs and both finish later, and a
request thread of waitress is never tied up by a conversion. The worker starts with the first job
and ends when the queue is empty, so an idle server (or a test's app) has no thread waiting.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

from flask import Blueprint, current_app, request
from pydantic import Field

from cogbrowser.api.endpoints import endpoint
from cogbrowser.api.models import BodyModel, Link, Problem, QueryModel
from cogbrowser.api.problems import ApiError
from cogbrowser.errors import NotFound

blueprint = Blueprint("jobs", __name__)
TAGS = ("jobs",)
MAX_FINISHED = 1000
State = Literal["queued", "running", "succeeded", "failed"]
Report = Callable[[str], None]
_PERCENT = re.compile(r"^(?P<stage>.*?)\s+(?P<percent>\d{1,3})\s*%$")  # "converting to COG 42%"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a job that succeeded leaves: an image, new or the one already in the catalog."""

    result: Literal["created", "existing"]
    image_id: str
    message: str


Work = Callable[[Report], Outcome]  # runs in the worker; raises ApiError to fail with that answer


@dataclass(eq=False)
class JobRecord:
    """One job as the store keeps it; `done` is set once it has finished (and cleaned up)."""

    id: str
    kind: str
    filename: str
    size_bytes: int
    created_at: datetime
    state: State = "queued"
    stage: str | None = None
    progress: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: Outcome | None = None
    error: ApiError | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)


def split_progress(message: str) -> tuple[str, int | None]:
    """An ingest progress message as (stage, percent of it or None): "converting to COG 42%" -> 42."""
    match = _PERCENT.match(message.strip())
    if match is None:
        return message.strip(), None
    return match["stage"], min(100, int(match["percent"]))


class JobStore:
    """Jobs of this process: a dict guarded by a lock, run one after another by one worker thread."""

    def __init__(self, max_finished: int = MAX_FINISHED) -> None:
        self.max_finished = max_finished
        self._jobs: dict[str, JobRecord] = {}  # in creation order
        self._queue: deque[tuple[JobRecord, Work]] = deque()
        self._finished: deque[str] = deque()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, kind: str, filename: str, size_bytes: int, work: Work) -> JobRecord:
        """Queue `work`; returns the live record (read it after `done` is set, or take `get` snapshots)."""
        job = JobRecord(id=uuid.uuid4().hex, kind=kind, filename=filename, size_bytes=size_bytes,
                        created_at=_now())
        with self._lock:
            self._jobs[job.id] = job
            self._queue.append((job, work))
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="cogbrowser-jobs", daemon=True)
                self._worker.start()
        return job

    def get(self, job_id: str) -> JobRecord | None:
        """A consistent copy of one job, or None if it is unknown (or long finished)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job) if job is not None else None

    def recent(self, limit: int, state: State | None = None) -> list[JobRecord]:
        """Copies of the newest jobs first, optionally only those in `state`."""
        with self._lock:
            jobs = [replace(job) for job in reversed(self._jobs.values()) if state is None or job.state == state]
        return jobs[:limit]

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._worker = None
                    return
                job, work = self._queue.popleft()
                job.state, job.started_at, job.stage = "running", _now(), "starting"
            self._execute(job, work)

    def _execute(self, job: JobRecord, work: Work) -> None:
        outcome: Outcome | None = None
        error: ApiError | None = None
        try:
            outcome = work(lambda message: self._report(job, message))
        except ApiError as exc:
            error = exc
        except Exception as exc:  # a bug or a broken catalog: the job fails, the worker goes on
            log.exception("job %s (%s of %s) failed", job.id, job.kind, job.filename)
            error = ApiError(500, "Internal Server Error", f"the job failed unexpectedly ({type(exc).__name__}); "
                             "the server's log has the details")
        self._finish(job, outcome, error)

    def _report(self, job: JobRecord, message: str) -> None:
        stage, percent = split_progress(message)
        with self._lock:
            if job.state == "running":
                job.stage, job.progress = stage, percent

    def _finish(self, job: JobRecord, outcome: Outcome | None, error: ApiError | None) -> None:
        with self._lock:
            job.state = "succeeded" if error is None else "failed"
            job.finished_at, job.outcome, job.error = _now(), outcome, error
            if error is None:
                job.stage, job.progress = "done", 100
            self._finished.append(job.id)
            while len(self._finished) > self.max_finished:
                self._jobs.pop(self._finished.popleft(), None)
        job.done.set()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def job_store() -> JobStore:
    """The jobs of the current app (one store per app, made when the blueprint is registered)."""
    return current_app.extensions["cogbrowser.jobs"]


@blueprint.record_once  # once per app the blueprint is registered on
def _make_store(state) -> None:
    state.app.extensions.setdefault("cogbrowser.jobs", JobStore())


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
        error=Problem(title=error.title, status=error.status, detail=error.detail) if error else None, links=links)


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
