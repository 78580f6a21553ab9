"""Jobs that survive a crash, and their cancel, against `cogbrowser serve` run as a user runs it.

`kill -9` of a server with uploads answered 202 (one running, the others queued): after a restart
every job is still at its URL and ends ingested (the one that was running is taken up again once its
dead worker's heartbeat is stale), and nothing is left in DATA_DIR/jobs or DATA_DIR/tmp.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cogbrowser.catalog import queries
from cogbrowser.web.tokens import hash_token
from helpers import free_port, noise_tiff

TOKEN = "cgb_durable-jobs-0123456789abcdefghijklmnopqrstu"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Servers:
    """`cogbrowser serve` on a test's catalog and data dir (one job worker), started as a user does."""

    def __init__(self, settings) -> None:
        self.settings, self.port = settings, free_port()
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []  # each server's stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
        env.update(COGBROWSER_DATA_DIR=str(self.settings.data_dir), COGBROWSER_JOB_WORKERS="1",
                   COGBROWSER_DATABASE_URL=self.settings.database_url)
        log = self.settings.data_dir.parent / f"serve-{len(self.processes)}.log"  # a file: a pipe nobody reads
        with log.open("w") as stderr:  # could fill and stall the server
            process = subprocess.Popen([sys.executable, "-m", "cogbrowser", "serve", "--port", str(self.port)],
                                       env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        self.processes.append(process)
        self.logs.append(log)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(f"{self.url}/api/v1/health", timeout=5)
                return self.url
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)

    def kill_9(self) -> None:
        process = self.processes[-1]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.communicate(timeout=60)


@pytest.fixture
def servers(settings, db):
    with db.connection() as conn:
        queries.create_token(conn, "durable", hash_token(TOKEN))
    started = Servers(settings)
    yield started
    started.stop_all()


def upload(url: str, data: bytes, name: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/images", params={"filename": name, "wait": "false"}, data=data,
                         headers={**AUTH, "Content-Type": "image/tiff"}, timeout=120)


def until_finished(location: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(location, timeout=30).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['state']} ({job['stage']}) after {timeout} s"
        time.sleep(0.2)


def test_accepted_uploads_survive_kill_9_of_the_server(servers, settings, db):
    url = servers.start()
    answers = [upload(url, noise_tiff(seed, 2500), f"scene{seed}.tif") for seed in range(5)]
    assert [answer.status_code for answer in answers] == [202] * 5, [answer.text for answer in answers]
    paths = [answer.headers["Location"].removeprefix(url) for answer in answers]
    # one job runs (the first may have finished while the others were uploaded on a loaded machine)
    until(lambda: any(requests.get(url + path, timeout=30).json()["state"] == "running" for path in paths),
          log=servers.logs[-1])
    servers.kill_9()
    with db.connection() as conn:
        unfinished = [row["id"] for row in conn.execute("SELECT id FROM jobs WHERE state IN ('queued', 'running')")]
    assert unfinished and sorted(p.name for p in settings.jobs_dir.iterdir()) == sorted(unfinished), \
        "each accepted upload's file is kept where the next server finds it"

    url = servers.start()  # the same data dir and catalog, the same port
    jobs = [until_finished(url + path, 120) for path in paths]
    assert [job["state"] for job in jobs] == ["succeeded"] * 5, jobs
    assert [job["image_id"] for job in jobs] == [f"scene{seed}" for seed in range(5)]
    for job in jobs:
        assert requests.get(f"{url}/api/v1/images/{job['image_id']}", timeout=30).status_code == 200
    assert not any(settings.jobs_dir.iterdir()), "inputs go once their jobs have finished"
    assert not any(settings.tmp_dir.iterdir()), "no work file of the killed server is left"
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM images").fetchone()["n"] == 5


def test_cancel_over_http_needs_a_token_and_stops_a_queued_upload_and_a_running_one(servers, settings, db):
    url = servers.start()
    first = upload(url, noise_tiff(11, 3000), "first.tif")
    second = upload(url, noise_tiff(12, 500), "second.tif")
    assert (first.status_code, second.status_code) == (202, 202)
    until(lambda: requests.get(first.headers["Location"], timeout=30).json()["state"] == "running",
          log=servers.logs[-1])
    assert requests.delete(second.headers["Location"], timeout=30).status_code == 401, "a write: token needed"
    cancelled = requests.delete(second.headers["Location"], headers=AUTH, timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["error"]["status"] == 409
    asked = requests.delete(first.headers["Location"], headers=AUTH, timeout=30)
    # 202 while it runs on to its next step; 200 if it got there before the answer was written
    assert asked.json()["cancel_requested"] and (asked.status_code, asked.json()["state"]) in (
        (202, "running"), (200, "cancelled")), asked.text
    stopped = until_finished(first.headers["Location"], 120)
    assert stopped["state"] == "cancelled" and "cancelled while" in stopped["error"]["detail"], stopped
    assert requests.get(second.headers["Location"], timeout=30).json()["state"] == "cancelled", "it never ran"
    again = requests.delete(first.headers["Location"], headers=AUTH, timeout=30)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    unknown = requests.delete(f"{url}/api/v1/jobs/{'0' * 32}", headers=AUTH, timeout=30)
    assert unknown.status_code == 404
    assert not any(settings.jobs_dir.iterdir())
    assert not any("-work-" in p.name for p in settings.tmp_dir.iterdir()), "the conversion's work files went"
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM images").fetchone()["n"] == 0


def until(condition, timeout: float = 60, log: Path | None = None) -> None:
    """Until `condition()` holds; on a time-out, the server's log (`log`) says why."""
    deadline = time.monotonic() + timeout
    while not condition():
        said = f"; the server said:\n{log.read_text()[-4000:]}" if log else ""
        assert time.monotonic() < deadline, "timed out" + said
        time.sleep(0.05)
