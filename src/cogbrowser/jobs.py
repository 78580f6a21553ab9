"""Background work (large uploads, large exports and timelapses) that survives restarts: jobs live in
PostgreSQL, run by workers.

Two kinds of rows. Ours, the `jobs` table (catalog/queries.py), is what the API shows: state, stage,
progress, outcome or the problem it failed with, and the parameters the work needs to run again.
The queue is procrastinate's (https://procrastinate.readthedocs.io): which job is todo or doing, on
which worker, with the worker's heartbeat; its worker fetches jobs with `FOR UPDATE SKIP LOCKED`,
wakes on LISTEN/NOTIFY and runs several at once. Why procrastinate (and not pgqueuer): see
docs/architecture.md, "Background jobs".

A job's input lives in DATA_DIR/jobs/<job id>/ (moved there from DATA_DIR/tmp when it is queued), so
a restarted server finds it; the folder goes when the job has finished, and a start-up sweep removes
folders no unfinished job owns. A job that makes a file (an export, a timelapse: `render_to_file`)
writes it into that folder (under a temporary name, then renamed: never half-written), where it is
kept for `RESULT_KEEP_SECONDS` after the job finished, then removed (`expire_results`).

What survives what:

- a server killed (`kill -9`) with jobs queued: they are in procrastinate's table as todo; the next
  worker (the restarted server's) runs them;
- killed while running one: that job stays `doing` under a worker whose heartbeat stops; after
  `STALLED_SECONDS` any running worker puts it back in the queue (`_recover_stalled`), and it runs
  again from the start (an ingest is all-or-nothing, so a half-done run left nothing), up to
  `MAX_ATTEMPTS` times (a file that kills its server must not kill every server after it);
- stopped (Ctrl-C, SIGTERM: `stop`) while running one: the job stops at its next step (`report`
  raises `WorkerStopped`; the worker beats on until it has), its work files go, its input stays, and
  it is queued again at once (procrastinate's retry, HANDOVER_SECONDS later) for another worker or
  the next start; that run does not count as an attempt;
- cancelled (`cancel`): a queued job never runs; a running one stops at its next step (the work's
  `report` raises `JobCancelled`), its work files removed by the work's own clean-up.

Each job has a time limit (`Settings.job_time_limit`), checked at each step the same way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import procrastinate
from procrastinate.schema import SchemaManager

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.errors import DISK_FULL_ERRNOS, CogbrowserError, DiskFull, StoreUnavailable
from cogbrowser.ingest.workfiles import sweep_dead_work_files
from cogbrowser.job_files import JobFiles
from cogbrowser.raster.budget import RenderDeadlineExceeded, render_limits

MAX_FINISHED = 1000  # jobs a listing shows at most
State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Report = Callable[[str], None]
TASK_NAME = "cogbrowser.run_job"
HEARTBEAT_SECONDS = 2.0  # a worker's heartbeat ...
STALLED_SECONDS = 10.0  # ... missed this long: its worker died, its running job is queued again
HANDOVER_SECONDS = 1  # a job its stopping worker gave back waits this long, so another worker takes it
RESTART_SECONDS = 1.0  # a worker that stopped on its own (it lost the catalog) starts again after this
MAX_ATTEMPTS = 3  # runs of a job whose server died under it, before it fails (a file that kills the server)
REPORT_INTERVAL = 0.5  # a job's progress is written at most this often (and its cancel flag read)
RESULT_KEEP_SECONDS = 24 * 3600  # a job's result file (an export) is kept this long after it finished
_PERCENT = re.compile(r"^(?P<stage>.*?)\s+(?P<percent>\d{1,3})\s*%$")  # "converting to COG 42%"
_SCHEMA_LOCK = 0x636F6771  # advisory lock: two processes starting at once apply the queue's schema once
log = logging.getLogger(__name__)


class _OutageWithoutTraceback(logging.Filter):
    """procrastinate logs a lost catalog connection with its traceback, as an error; during an outage
    (the server answers 503 and recovers by itself) that is a one-line warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, procrastinate.exceptions.ConnectorException):
            record.msg, record.args = f"{record.getMessage()} (the catalog is unreachable)", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


for _name in ("procrastinate.utils", "procrastinate.worker", "procrastinate.worker.cogbrowser"):
    logging.getLogger(_name).addFilter(_OutageWithoutTraceback())


class UnexpectedFailure(CogbrowserError):
    """A job's work raised something other than an error meant for the user (a bug, a broken catalog)."""


class JobCancelled(CogbrowserError):
    """The job was cancelled (DELETE /api/v1/jobs/{id}) while it ran; it stopped at its next step."""


class JobFinished(CogbrowserError):
    """A finished job cannot be cancelled."""


class WorkerStopped(CogbrowserError):
    """This process's worker is stopping (Ctrl-C, SIGTERM): the job stopped at its next step and is
    queued again for another worker (procrastinate retries it; the run does not count as an attempt)."""


class JobTimedOut(CogbrowserError):
    """The job ran longer than its time limit (COGBROWSER_JOB_TIME_LIMIT); it stopped at its next step."""


@dataclass(frozen=True)
class Outcome:
    """What a job that succeeded leaves: an image, new or the one already in the catalog (an
    upload); or a file in the job's folder (an export, a timelapse), until it expires."""

    result: Literal["created", "existing", "file"]
    image_id: str | None
    message: str
    file: str | None = None  # the result file's name, in the job's folder
    media_type: str | None = None
    size_bytes: int | None = None
    expired: bool = False  # the file was removed, RESULT_KEEP_SECONDS after the job finished


@dataclass(frozen=True)
class JobRecord:
    """One job as the `jobs` table has it."""

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
    error: dict | None = None  # the problem document it failed with (see `JobQueue.describe`)
    params: dict = field(default_factory=dict)
    cancel_requested: bool = False
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.state in queries.FINISHED_STATES

    @classmethod
    def from_row(cls, row: dict) -> JobRecord:
        outcome = row["outcome"]
        return cls(id=row["id"], kind=row["kind"], filename=row["filename"], size_bytes=row["size_bytes"],
                   created_at=row["created_at"], state=row["state"], stage=row["stage"], progress=row["progress"],
                   started_at=row["started_at"], finished_at=row["finished_at"],
                   outcome=Outcome(**outcome) if outcome else None, error=row["error"], params=row["params"],
                   cancel_requested=row["cancel_requested"], attempts=row["attempts"])


# The work of one kind of job: runs in a worker thread with the job (its params, its input folder)
# and a `report` for its stage; raises a CogbrowserError to fail with it.
Handler = Callable[[JobRecord, Path, Report], Outcome]
Describe = Callable[[CogbrowserError], dict]  # an error as the problem document a client reads


def split_progress(message: str) -> tuple[str, int | None]:
    """An ingest progress message as (stage, percent of it or None): "converting to COG 42%" -> 42."""
    match = _PERCENT.match(message.strip())
    if match is None:
        return message.strip(), None
    return match["stage"], min(100, int(match["percent"]))


def _plain_problem(error: CogbrowserError) -> dict:
    return {"title": type(error).__name__, "status": 500, "detail": str(error)}


class JobQueue:
    """The jobs of a catalog: submit, read, wait for, cancel; and this process's worker, which runs
    `workers` jobs at once (started by `start`, or by the first `submit`)."""

    def __init__(self, db: Database, settings: Settings, describe: Describe = _plain_problem) -> None:
        self.db, self.settings, self.describe = db, settings, describe
        self._handlers: dict[str, Handler] = {}
        self._finished: dict[str, threading.Event] = {}  # jobs this process waits for
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(
            conninfo=db.url, min_size=0, max_size=4, kwargs={"prepare_threshold": None}))
        self.app.task(name=TASK_NAME, pass_context=False, retry=procrastinate.RetryStrategy(
            retry_exceptions=[WorkerStopped], wait=HANDOVER_SECONDS))(self._run)
        self._schema_ready = False
        self.files = JobFiles(settings)  # inputs and results, where every worker reaches them
        self._leaving = threading.Event()  # the worker stops: running jobs stop at their next step ...
        self._running = 0  # ... and this many still run
        self._idle = threading.Condition()

    # ------------------------------------------------------------ the API's side

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def job_folder(self, job_id: str) -> Path:
        """Where a job's input lives while it is unfinished (found again after a restart)."""
        return self.settings.jobs_dir / job_id

    def submit(self, kind: str, filename: str, size_bytes: int, params: dict, inputs: Path | None) -> JobRecord:
        """Queue a job whose input is the folder `inputs` (moved into the job's own folder), or that
        has no input but its `params` (an export: its folder is made empty, for its result)."""
        self._ensure_schema()
        self.expire_results()
        job_id = uuid.uuid4().hex  # 122 random bits: a job (and its result) cannot be found by guessing
        folder = self.job_folder(job_id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._finished[job_id] = threading.Event()
        with self.db.connection() as conn:  # the row first: a sweep keeps the folders of unfinished jobs
            row = queries.insert_job(conn, job_id, kind, filename, size_bytes, params)
        try:
            if inputs is None:
                folder.mkdir()
            else:
                inputs.rename(folder)  # same volume as DATA_DIR/tmp: a rename
                self.files.share(job_id)  # with an object store: uploaded for the worker that will run it
            queue_id = self.app.configure_task(name=TASK_NAME).defer(job_id=job_id)
            with self.db.connection() as conn:
                queries.set_job_queue_id(conn, job_id, queue_id)
        except BaseException:
            self._remove_files(job_id)
            with self.db.connection() as conn:
                queries.finish_job(conn, job_id, "failed", None, self.describe(
                    UnexpectedFailure("the job could not be queued; the server's log has the details")))
            raise
        if self.settings.run_jobs:  # else a `cogbrowser worker` (or another server) takes it from the queue
            self.start()
        return JobRecord.from_row(row)

    def get(self, job_id: str) -> JobRecord | None:
        with self.db.connection() as conn:
            row = queries.get_job(conn, job_id)
        return JobRecord.from_row(row) if row else None

    def unfinished(self, kinds: tuple[str, ...]) -> int:
        """How many jobs of these kinds are queued or running."""
        with self.db.connection() as conn:
            return queries.count_unfinished_jobs(conn, kinds)

    def result_file(self, job: JobRecord) -> Path | None:
        """The file a succeeded job made, while it is kept (None: it made none, or it expired)."""
        if job.state != "succeeded" or job.outcome is None or not job.outcome.file or job.outcome.expired:
            return None
        return self.files.result(job.id, job.outcome.file)

    def recent(self, limit: int, state: State | None = None) -> list[JobRecord]:
        with self.db.connection() as conn:
            return [JobRecord.from_row(row) for row in queries.recent_jobs(conn, limit, state)]

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """The job once finished, or as it is after `timeout` seconds (None: however long it takes).
        A job this process runs wakes the waiter at once; another process's is polled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        event = self._finished.get(job_id) or threading.Event()
        while True:
            job = self.get(job_id)
            if job is None or job.finished:
                assert job is not None, f"job {job_id} vanished"
                return job
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if left <= 0:
                return job
            event.wait(left)

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a job: a queued one at once, a running one at its next step. None if unknown;
        raises JobFinished for a job that has finished."""
        with self.db.connection() as conn:
            row = queries.request_job_cancel(conn, job_id)
        if row is None:
            return None
        job = JobRecord.from_row(row)
        if job.finished:
            raise JobFinished(f"job {job_id!r} has already {job.state}; there is nothing to cancel")
        queue_id = row["queue_id"]
        if queue_id is not None and self.app.job_manager.cancel_job_by_id(queue_id, abort=False):
            self._end(job_id, "cancelled", None, JobCancelled("cancelled before it started"))
            self._remove_files(job_id)
        elif queue_id is not None:  # already running: it sees the flag at its next step
            self.app.job_manager.cancel_job_by_id(queue_id, abort=True)
        return self.get(job_id)

    # ------------------------------------------------------------ the worker

    def start(self) -> None:
        """Run this process's worker (if it is not running): `Settings.job_workers` jobs at once."""
        with self._lock:
            if self._thread is not None:
                return
            self._ensure_schema()
            self._leaving.clear()
            self._thread = threading.Thread(target=self._serve_jobs, name="cogbrowser-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stop the worker: running jobs go on to their next step, stop there and are queued again, for
        another worker or the next start (`WorkerStopped`). The worker (and its heartbeat) runs until
        they have: a job in a step that cannot be interrupted (GDAL's conversion) is never taken up by
        another worker while it still runs here; if this process is killed meanwhile, its heartbeat
        stops and the job is taken up as after any crash."""
        with self._lock:
            thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None:
            self._leaving.set()
            with self._idle:
                if not self._idle.wait_for(lambda: self._running == 0, 1.0):
                    log.warning("waiting for %d running job(s) to reach their next step; they are queued again "
                                "then", self._running)
                    self._idle.wait_for(lambda: self._running == 0)
            if loop is not None and stopping is not None:
                loop.call_soon_threadsafe(stopping.set)
            thread.join(timeout)
            with self._lock:
                self._thread = None
        if self._schema_ready:  # the queue's own connections
            self.app.close()
            self._schema_ready = False

    def sweep_job_folders(self) -> list[Path]:
        """Remove the folders of jobs that are finished or unknown (left by a crash), but for the
        result files still offered."""
        self.expire_results()
        with self.db.connection() as conn:
            live = queries.kept_job_folders(conn)
        removed = []
        folders = self.settings.jobs_dir.iterdir() if self.settings.jobs_dir.is_dir() else iter(())
        for folder in folders:
            if folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        try:
            for job_id in self.files.stored_job_ids() - live:
                self.files.remove(job_id)
        except StoreUnavailable as exc:
            log.warning("the object store's job files were not swept: %s", exc)
        return removed

    def expire_results(self) -> list[str]:
        """Remove the result files of jobs that finished over RESULT_KEEP_SECONDS ago (their job
        says `expired`, their result URL answers 410); the ids of those jobs."""
        with self.db.connection() as conn:
            expired = queries.expire_job_results(conn, RESULT_KEEP_SECONDS)
        for job_id in expired:
            self._remove_files(job_id)
        return expired

    def _remove_files(self, job_id: str) -> None:
        """A job's files, here and in the store; a store that cannot be reached keeps them until
        the next sweep."""
        try:
            self.files.remove(job_id)
        except StoreUnavailable as exc:
            log.warning("the files of job %s stay in the store until the next sweep: %s", job_id, exc)

    def _ensure_schema(self) -> None:
        """procrastinate's tables, made once per catalog (its schema.sql, under an advisory lock)."""
        if self._schema_ready:
            return
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            found = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS here").fetchone()
            if not (found and found["here"]):
                conn.execute(SchemaManager.get_schema())
        self.app.open()
        self._schema_ready = True

    def _serve_jobs(self) -> None:
        # psycopg's async connections need a selector loop; Windows' default is the proactor
        loop = asyncio.SelectorEventLoop() if sys.platform == "win32" else asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._worker())
        except Exception:
            log.exception("the jobs worker stopped")
        finally:
            loop.close()
            with self._lock:
                self._thread = self._loop = self._stopping = None

    async def _worker(self) -> None:
        """procrastinate's worker, started again whenever it stops on its own: it does when one of its
        side tasks (the LISTEN connection, the heartbeat) loses the catalog, e.g. in an outage."""
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        worker_app = self.app.with_connector(procrastinate.PsycopgConnector(
            conninfo=self.db.url, min_size=1, max_size=self.settings.job_workers + 3,
            kwargs={"prepare_threshold": None}))
        async with worker_app.open_async():
            recovery = asyncio.create_task(self._recover_stalled(worker_app))
            stopping = asyncio.create_task(self._stopping.wait())
            while not self._stopping.is_set():
                worker = asyncio.create_task(worker_app.run_worker_async(
                    concurrency=self.settings.job_workers, wait=True, install_signal_handlers=False,
                    delete_jobs="successful", update_heartbeat_interval=HEARTBEAT_SECONDS,
                    stalled_worker_timeout=STALLED_SECONDS, shutdown_graceful_timeout=1.0, name="cogbrowser"))
                await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if self._stopping.is_set():
                    worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
                if not self._stopping.is_set():
                    log.warning("the jobs worker lost the catalog; it starts again in %.0f s", RESTART_SECONDS)
                    await asyncio.wait({stopping}, timeout=RESTART_SECONDS)
            recovery.cancel()
            await asyncio.gather(recovery, stopping, return_exceptions=True)

    async def _recover_stalled(self, worker_app: procrastinate.App) -> None:
        """Queue again the jobs of workers that died (no heartbeat for STALLED_SECONDS)."""
        while True:
            try:
                for stalled in await worker_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS):
                    job_id = stalled.task_kwargs.get("job_id")
                    log.warning("job %s was running on a worker that died; it runs again", job_id)
                    if isinstance(job_id, str):
                        await asyncio.to_thread(self._requeue, job_id)
                    await worker_app.job_manager.retry_job(stalled)
            except Exception:  # the catalog unreachable for a moment: try again later
                if self._stopping is not None and self._stopping.is_set():
                    return  # the worker stops: its connections close under the query (no fault to report)
                log.warning("could not look for stalled jobs", exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _requeue(self, job_id: str) -> None:
        with self.db.connection() as conn:
            queries.requeue_job(conn, job_id, "queued again: its server stopped while it ran")
        sweep_dead_work_files(self.settings)  # what the dead worker's run left in DATA_DIR/tmp goes now, not
        #                                       at the next start of a process of the data dir

    # ------------------------------------------------------------ one job, in a worker thread

    def _run(self, job_id: str) -> None:
        if self._leaving.is_set():  # fetched while this worker stops: another one takes it
            raise WorkerStopped("its worker stops")
        with self._idle:
            self._running += 1
        try:
            self._run_job(job_id)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _run_job(self, job_id: str) -> None:
        with self.db.connection() as conn:
            row = queries.start_job(conn, job_id)
        if row is None:  # finished, cancelled or unknown: nothing to do
            return
        job = JobRecord.from_row(row)
        folder = self.job_folder(job_id)
        handler = self._handlers.get(job.kind)
        kept_result = False
        outcome: Outcome | None = None
        error: CogbrowserError | None = None
        stopped = False
        try:
            if job.attempts > MAX_ATTEMPTS:
                raise UnexpectedFailure(f"its server stopped while it ran, {MAX_ATTEMPTS} times; it is not run again")
            if handler is None:
                raise UnexpectedFailure(f"this server cannot run jobs of kind {job.kind!r}")
            folder = self.files.fetch(job_id)  # from the store, when it was queued on another machine
            if not folder.is_dir():
                raise UnexpectedFailure("the job's input is gone from the server's data dir")
            outcome = handler(job, folder, functools.partial(self._report, job_id, time.monotonic(), [0.0, ""]))
            if outcome.file is not None:
                self.files.keep_result(job_id, outcome.file)
            kept_result = True
        except WorkerStopped:
            stopped = True  # its input stays (here, and in the store), for the next run
        except CogbrowserError as exc:
            error = exc
        except Exception as exc:  # a bug or a broken catalog: the job fails, the worker goes on
            log.exception("job %s (%s of %s) failed", job.id, job.kind, job.filename)
            error = UnexpectedFailure(f"the job failed unexpectedly ({type(exc).__name__}); "
                                      "the server's log has the details")
        finally:
            if not stopped and (not kept_result or outcome is None or outcome.file is None):  # a result stays
                self._remove_files(job_id)
        if stopped:
            with self.db.connection() as conn:
                queries.requeue_job(conn, job_id, "queued again: its worker stopped while it ran", run=job.attempts)
            raise WorkerStopped(f"job {job_id} stopped with its worker; it runs again on another")
        state = "succeeded" if error is None else "cancelled" if isinstance(error, JobCancelled) else "failed"
        self._end(job_id, state, outcome, error)

    def _report(self, job_id: str, started: float, last: list, message: str) -> None:
        """A step of a running job: record it (at most every REPORT_INTERVAL, or when the stage
        changes), and stop the job here if it was cancelled or is over its time limit."""
        if self._leaving.is_set():
            raise WorkerStopped("its worker stops")
        limit = self.settings.job_time_limit
        if time.monotonic() - started > limit:
            raise JobTimedOut(f"the job ran over this server's time limit of {limit:,} s "
                              "(COGBROWSER_JOB_TIME_LIMIT); nothing was kept")
        stage, percent = split_progress(message)
        now = time.monotonic()
        if stage == last[1] and now - last[0] < REPORT_INTERVAL:
            return
        last[0], last[1] = now, stage
        with self.db.connection() as conn:
            go_on = queries.report_job(conn, job_id, stage, percent)
        if not go_on:
            raise JobCancelled(f"cancelled while {stage}; nothing was kept")

    def _end(self, job_id: str, state: str, outcome: Outcome | None, error: CogbrowserError | None) -> None:
        with self.db.connection() as conn:
            queries.finish_job(conn, job_id, state, outcome.__dict__ if outcome else None,
                               self.describe(error) if error else None)
        with self._lock:
            event = self._finished.pop(job_id, None)
        if event is not None:
            event.set()


# ---------------------------------------------------------------- work that makes a file

def render_to_file(settings: Settings, folder: Path, filename: str, media_type: str, report: Report,
                   render: Callable[[Report], tuple[bytes, str]]) -> Outcome:
    """Run a render (an export, a timelapse) as a job's work and keep what it makes as the job's result.

    `render(step)` makes the file's bytes and a message; it calls `step` with its stage ("rendering
    frames 40%"). It runs under the render budget of a request (raster/budget.py), with the job's
    time limit as its deadline, and the job's cancel and time limit are checked at every step the
    raster core checks its deadline (between chunks of band math, images, frames). The bytes go to
    `folder/filename` under a temporary name first, then renamed: a result is whole or absent.
    """
    stage = ["rendering"]

    def step(message: str) -> None:
        stage[0] = message
        report(message)

    try:
        with render_limits(settings.render_budget, settings.job_time_limit, lambda: report(stage[0])):
            data, message = render(step)
    except RenderDeadlineExceeded:
        raise JobTimedOut(f"the job ran over this server's time limit of {settings.job_time_limit:,} s "
                          "(COGBROWSER_JOB_TIME_LIMIT); nothing was kept") from None
    step("writing the result")
    partial = folder / f".{filename}.part"
    try:
        partial.write_bytes(data)
        os.replace(partial, folder / filename)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(f"the server's data disk is full ({exc.strerror}): the {len(data):,} bytes of "
                           f"{filename} could not be written; nothing was kept") from exc
        raise
    return Outcome("file", None, message, file=filename, media_type=media_type, size_bytes=len(data))
