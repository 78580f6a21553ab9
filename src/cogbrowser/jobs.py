"""Background work of this process (large uploads): a queue, one worker thread, and each job's state.

Jobs live in the server process's memory, not in the catalog: they describe work in flight and its
recent outcomes, which matter to the client that started it and only while the server runs (a
restart forgets them; the images they made are in the catalog). `JobStore` keeps every queued and
running job and the last `MAX_FINISHED` finished ones, oldest dropped first.

One worker thread runs the jobs in the order they came: an ingest already converts on every core
(GDAL_NUM_THREADS=ALL_CPUS), so two at once would share the CPUs and both finish later, and a
request thread of the server is never tied up by a conversion. The worker starts with the first job
and ends when the queue is empty, so an idle server (or a test's app) has no thread waiting.

A job fails with the error its work raised: a `CogbrowserError` (meant for the user, e.g. the
problem an upload answers) is kept as it is; any other exception is logged and kept as an
`UnexpectedFailure` that names only its type.
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

from cogbrowser.errors import CogbrowserError

MAX_FINISHED = 1000
State = Literal["queued", "running", "succeeded", "failed"]
Report = Callable[[str], None]
_PERCENT = re.compile(r"^(?P<stage>.*?)\s+(?P<percent>\d{1,3})\s*%$")  # "converting to COG 42%"
log = logging.getLogger(__name__)


class UnexpectedFailure(CogbrowserError):
    """A job's work raised something other than an error meant for the user (a bug, a broken catalog)."""


@dataclass(frozen=True)
class Outcome:
    """What a job that succeeded leaves: an image, new or the one already in the catalog."""

    result: Literal["created", "existing"]
    image_id: str
    message: str


Work = Callable[[Report], Outcome]  # runs in the worker; raises a CogbrowserError to fail with it


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
    error: CogbrowserError | None = None
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
        error: CogbrowserError | None = None
        try:
            outcome = work(lambda message: self._report(job, message))
        except CogbrowserError as exc:
            error = exc
        except Exception as exc:  # a bug or a broken catalog: the job fails, the worker goes on
            log.exception("job %s (%s of %s) failed", job.id, job.kind, job.filename)
            error = UnexpectedFailure(f"the job failed unexpectedly ({type(exc).__name__}); "
                                      "the server's log has the details")
        self._finish(job, outcome, error)

    def _report(self, job: JobRecord, message: str) -> None:
        stage, percent = split_progress(message)
        with self._lock:
            if job.state == "running":
                job.stage, job.progress = stage, percent

    def _finish(self, job: JobRecord, outcome: Outcome | None, error: CogbrowserError | None) -> None:
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
