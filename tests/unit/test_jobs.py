"""Background jobs in the catalog (cogbrowser.jobs.JobQueue) on the real embedded PostgreSQL and
procrastinate's real worker: outcomes and errors kept, several workers, cancel, time limits."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from cogbrowser.api.jobs import job_problem
from cogbrowser.jobs import JobFinished, JobQueue, Outcome, split_progress
from cogbrowser.web.problems import ApiError


@pytest.fixture
def queue(db, settings):
    jobs = JobQueue(db, dataclasses.replace(settings, job_workers=2), describe=job_problem)
    yield jobs
    jobs.stop()


def inputs(settings, name: str = "in") -> Path:
    """A job's input folder, as an upload leaves it in DATA_DIR/tmp."""
    folder = settings.tmp_dir / f"input-{name}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    (folder / "scene.tif").write_bytes(b"pixels")
    return folder


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_jobs_keep_their_outcome_or_problem_and_run_off_the_caller_thread(queue, settings):
    threads: list[str] = []

    def work(job, folder, report) -> Outcome:
        threads.append(threading.current_thread().name)
        assert (folder / "scene.tif").read_bytes() == b"pixels"
        report("converting to COG 42%")
        return Outcome("created", job.params["id"], f"added as {job.params['id']}")

    def fail(job, folder, report) -> Outcome:
        raise ApiError(422, "Unprocessable Content", "not a raster")

    def crash(job, folder, report) -> Outcome:
        raise RuntimeError("a bug")

    for kind, handler in (("work", work), ("fail", fail), ("crash", crash)):
        queue.register(kind, handler)
    jobs = [queue.submit("work", f"{n}.tif", n, {"id": f"img{n}"}, inputs(settings)) for n in range(3)]
    jobs += [queue.submit("fail", "bad.tif", 1, {}, inputs(settings)), queue.submit("crash", "bug.tif", 1, {},
                                                                                   inputs(settings))]
    done = [queue.wait(job.id, 30) for job in jobs]
    assert [job.state for job in done] == ["succeeded"] * 3 + ["failed", "failed"]
    assert done[0].outcome == Outcome("created", "img0", "added as img0") and done[0].progress == 100
    assert threading.current_thread().name not in threads
    assert done[3].error["status"] == 422 and done[3].error["detail"] == "not a raster"
    assert done[4].error["status"] == 500 and "RuntimeError" in done[4].error["detail"]
    assert [job.filename for job in queue.recent(2)] == ["bug.tif", "bad.tif"], "newest first"
    assert [job.filename for job in queue.recent(10, "failed")] == ["bug.tif", "bad.tif"]
    assert not any(settings.jobs_dir.iterdir()), "each job's input folder goes when it finishes"
    assert split_progress("converting to COG 42%") == ("converting to COG", 42)
    assert split_progress("checksum") == ("checksum", None)


def slow_handler(release: threading.Event, started: list[str]):
    def slow(job, folder, report) -> Outcome:
        started.append(job.id)
        while not release.wait(0.05):
            report("converting to COG")
        report("statistics")
        return Outcome("created", job.filename, "added")
    return slow


def test_a_slow_job_does_not_block_a_second_workers_job(queue, settings):
    release, started = threading.Event(), []
    queue.register("slow", slow_handler(release, started))
    queue.register("quick", lambda job, folder, report: Outcome("created", "quick", "added"))
    slow = queue.submit("slow", "slow.tif", 1, {}, inputs(settings))
    wait_for(lambda: started)
    quick = queue.wait(queue.submit("quick", "quick.tif", 1, {}, inputs(settings)).id, 30)
    assert quick.state == "succeeded"
    assert queue.get(slow.id).state == "running"
    release.set()
    assert queue.wait(slow.id, 30).state == "succeeded"


def test_cancel_a_queued_job_and_a_running_one(db, settings):
    queue = JobQueue(db, dataclasses.replace(settings, job_workers=1), describe=job_problem)
    try:
        release, started = threading.Event(), []
        queue.register("slow", slow_handler(release, started))
        running = queue.submit("slow", "running.tif", 1, {}, inputs(settings))
        wait_for(lambda: started)
        queued = queue.submit("slow", "queued.tif", 1, {}, inputs(settings))
        time.sleep(0.3)
        assert queue.get(queued.id).state == "queued", "one worker: it waits"

        cancelled = queue.cancel(queued.id)
        assert cancelled.state == "cancelled" and cancelled.error["status"] == 409
        assert not queue.job_folder(queued.id).exists()

        asked = queue.cancel(running.id)
        assert asked.state == "running" and asked.cancel_requested
        stopped = queue.wait(running.id, 30)
        assert stopped.state == "cancelled" and "cancelled while converting to COG" in stopped.error["detail"]
        assert not queue.job_folder(running.id).exists()
        assert started == [running.id], "the cancelled queued job never ran"
        assert queue.cancel("no-such-job") is None
        with pytest.raises(JobFinished, match="already cancelled"):
            queue.cancel(running.id)
    finally:
        queue.stop()


def test_a_job_over_its_time_limit_fails_and_names_the_limit(db, settings):
    queue = JobQueue(db, dataclasses.replace(settings, job_time_limit=1), describe=job_problem)
    try:
        queue.register("slow", slow_handler(threading.Event(), []))
        job = queue.wait(queue.submit("slow", "slow.tif", 1, {}, inputs(settings)).id, 30)
        assert job.state == "failed" and job.error["status"] == 422
        assert "COGBROWSER_JOB_TIME_LIMIT" in job.error["detail"]
    finally:
        queue.stop()


def test_a_job_whose_server_died_under_it_three_times_fails_visibly(db, settings, monkeypatch):
    queue = JobQueue(db, settings, describe=job_problem)
    ran: list[str] = []
    queue.register("work", lambda job, folder, report: ran.append(job.id) or Outcome("created", "x", "added"))
    try:
        with monkeypatch.context() as patch:
            patch.setattr(queue, "start", lambda: None)  # no worker yet
            job = queue.submit("work", "killer.tif", 1, {}, inputs(settings))
        with db.connection() as conn:  # as after three crashes mid-run
            conn.execute("UPDATE jobs SET attempts = 3 WHERE id = %s", (job.id,))
        queue.start()
        failed = queue.wait(job.id, 30)
        assert failed.state == "failed" and "stopped while it ran, 3 times" in failed.error["detail"]
        assert ran == [] and not queue.job_folder(job.id).exists()
    finally:
        queue.stop()


def test_a_server_without_worker_queues_and_a_stopping_worker_hands_its_job_over(db, settings):
    """`serve --no-worker` queues and runs nothing; a worker stopped mid-job (Ctrl-C) gives the job
    back at its next step, with its input, and another worker runs it at once, not as a new attempt."""
    server = JobQueue(db, dataclasses.replace(settings, run_jobs=False), describe=job_problem)
    first = JobQueue(db, dataclasses.replace(settings, job_workers=1), describe=job_problem)
    second = JobQueue(db, dataclasses.replace(settings, job_workers=1), describe=job_problem)
    release, started = threading.Event(), []
    for queue in (server, first, second):
        queue.register("slow", slow_handler(release, started))
    try:
        job = server.submit("slow", "scene.tif", 1, {}, inputs(settings))
        time.sleep(1)
        assert server.get(job.id).state == "queued", "the server runs no job"
        first.start()
        wait_for(lambda: server.get(job.id).state == "running")
        stopping = threading.Thread(target=first.stop)
        stopping.start()
        wait_for(lambda: server.get(job.id).state == "queued")
        stopping.join(30)
        given_back = server.get(job.id)
        assert given_back.stage == "queued again: its worker stopped while it ran" and given_back.attempts == 0
        assert (settings.jobs_dir / job.id / "scene.tif").is_file(), "its input stays for the next run"
        release.set()
        second.start()
        done = server.wait(job.id, 30)
        assert (done.state, done.attempts, len(started)) == ("succeeded", 1, 2), done
    finally:
        release.set()
        for queue in (server, first, second):
            queue.stop()
