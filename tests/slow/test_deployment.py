"""The team deployment of docs/deploy.md, run on this machine: an external PostgreSQL server (Debian's,
the `postgres_server` fixture), the COGs in OpenStack Swift (Debian's, the `swift_store` fixture),
two `cogbrowser serve --no-worker` processes and two `cogbrowser worker` processes, each started as
a user starts it, with a data dir of its own (as on machines of their own), on real ports. And
`serve --processes 2` on one data dir with the embedded database.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import morecantile
import psutil
import psycopg
import pytest
import rasterio
import requests

from cogbrowser.storage.locations import parse_storage
from cogbrowser.storage.stores import open_store
from helpers import REAL_DATA, free_port, noise_tiff, start, wait_for

JOB_STATES_FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def shared_storage(swift_store) -> dict[str, str]:
    """The environment that says where every process of the deployment keeps and finds the COGs and
    the jobs' files: a fresh prefix of a Swift container, and the cluster's credentials."""
    return {**swift_store.environment, "COGBROWSER_STORAGE": f"swift://cogbrowser-deploy/run-{uuid.uuid4().hex[:8]}/"}


def stored_objects(storage: dict[str, str]) -> list[str]:
    """The names of the objects under the deployment's prefix."""
    location = parse_storage(storage["COGBROWSER_STORAGE"])
    assert location is not None
    with pytest.MonkeyPatch.context() as patch:
        for name, value in storage.items():
            patch.setenv(name, value)
        return [entry.key.removeprefix(location.prefix) for entry in open_store(location).listing(location.prefix)]


class Deployment:
    """`cogbrowser serve` and `cogbrowser worker` processes on one catalog (by URL) and one storage,
    each with a data dir of its own (DATA_DIR/tmp and DATA_DIR/jobs are a machine's own)."""

    def __init__(self, folder: Path, database_url: str, storage: dict[str, str]) -> None:
        self.folder, self.database_url, self.storage = folder, database_url, storage
        self.processes: dict[str, subprocess.Popen] = {}

    def data_dir(self, machine: str) -> Path:
        return self.folder / f"{machine} data"

    def environment(self, machine: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
        return {**env, **self.storage, "COGBROWSER_DATABASE_URL": self.database_url,
                "COGBROWSER_DATA_DIR": str(self.data_dir(machine))}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cogbrowser", *args], env=self.environment("admin"),
                              capture_output=True, text=True, timeout=300)

    def run(self, name: str, machine: str, *args: str) -> subprocess.Popen:
        """A long-running command, its stderr in a file (a pipe nobody reads could fill and stall it)."""
        with self.log(name).open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "cogbrowser", *args], env=self.environment(machine),
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        self.processes[name] = process
        return process

    def serve(self, name: str) -> str:
        port = free_port()
        process = self.run(name, name, "serve", "--no-worker", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, self.said(name)
            try:
                requests.get(f"{url}/api/v1/health", timeout=5)
                return url
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"{name} did not start: {self.said(name)}"
                time.sleep(0.2)

    def worker(self, name: str, machine: str | None = None) -> subprocess.Popen:
        process = self.run(name, machine or name, "worker", "--jobs", "1")
        until(lambda: "Running jobs of" in self.said(name), 120, lambda: self.said(name))
        return process

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def said(self, name: str) -> str:
        return self.log(name).read_text()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            process.wait(60)
            assert "Traceback" not in self.said(name), self.said(name)


@pytest.fixture
def deployment(postgres_server, shared_storage, tmp_path):
    name = f"deploy_{uuid.uuid4().hex[:12]}"
    database_url = postgres_server.create_database(name)
    deployed = Deployment(tmp_path, database_url, shared_storage)
    yield deployed
    deployed.stop_all()
    postgres_server.drop_database(name)


def upload(url: str, token: str, data: bytes, name: str) -> requests.Response:
    """The REST upload, answered 202 with the job at once (`wait=false`)."""
    return requests.post(f"{url}/api/v1/images", params={"filename": name, "wait": "false"}, data=data,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "image/tiff"}, timeout=120)


def job_state(url: str) -> dict:
    return requests.get(url, timeout=30).json()


def until(condition, timeout: float, said=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out; {said()[-3000:]}"
        time.sleep(0.05)


def test_an_upload_through_one_server_is_run_by_a_worker_and_served_by_the_other(deployment):
    token = deployment.cli("token", "create", "team")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    server_a, server_b = deployment.serve("serve-a"), deployment.serve("serve-b")
    data = noise_tiff(7, 1500)

    answer = upload(server_a, secret, data, "scene7.tif")
    assert answer.status_code == 202, answer.text
    job_at_b = server_b + answer.headers["Location"].removeprefix(server_a)  # any server reads any job
    time.sleep(3)
    assert job_state(job_at_b)["state"] == "queued", "a server started with --no-worker runs no job"

    deployment.worker("worker-1")
    deployment.worker("worker-2")
    until(lambda: job_state(job_at_b)["state"] in JOB_STATES_FINISHED, 120)
    job = job_state(job_at_b)
    assert (job["state"], job["image_id"]) == ("succeeded", "scene7"), job

    west, south, east, north = requests.get(f"{server_b}/api/v1/images/scene7", timeout=30).json()["bbox"]
    cell = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 12)
    tile = requests.get(f"{server_b}/tiles/scene7/WebMercatorQuad/12/{cell.x}/{cell.y}.png", timeout=60)
    assert tile.status_code == 200 and tile.content.startswith(b"\x89PNG"), tile.text
    raw = requests.get(f"{server_b}/cogs/scene7.tif", timeout=60)
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "image/tiff"
    with rasterio.MemoryFile(raw.content) as served, served.open() as cog, \
            rasterio.MemoryFile(data) as sent, sent.open() as original:
        assert (cog.width, cog.height, cog.count) == (1500, 1500, 3)
        assert (cog.read() == original.read()).all(), "the pixels served by B are those uploaded through A"
    assert requests.get(f"{server_a}/api/v1/images/scene7", timeout=30).status_code == 200


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_a_worker_stopped_mid_job_has_its_job_finished_by_the_other(deployment, shared_storage, stop):
    """Killed (kill -9, a machine lost) or stopped (SIGTERM, Ctrl-C): the job it was running runs again
    on the other worker, once: one row, one COG, no file left."""
    secret = deployment.cli("token", "create", "team").stdout.strip()
    server = deployment.serve("serve-a")
    first = deployment.worker("worker-1")  # alone: it takes the job
    answer = upload(server, secret, noise_tiff(8, 3500), "scene8.tif")
    assert answer.status_code == 202, answer.text
    until(lambda: job_state(answer.headers["Location"])["state"] == "running", 120,
          lambda: deployment.said("worker-1"))
    first.send_signal(stop)  # mid-job (the conversion takes seconds)
    first.wait(60)
    if stop == signal.SIGTERM:  # it stopped the job at its next step and gave it back
        left = job_state(answer.headers["Location"])
        assert (left["state"], left["stage"]) == ("queued", "queued again: its worker stopped while it ran"), left
    deployment.worker("worker-2")

    until(lambda: job_state(answer.headers["Location"])["state"] in JOB_STATES_FINISHED, 180,
          lambda: deployment.said("worker-2"))
    job = job_state(answer.headers["Location"])
    assert (job["state"], job["image_id"]) == ("succeeded", "scene8"), job
    with psycopg.connect(deployment.database_url) as conn:
        images = conn.execute("SELECT id FROM images").fetchall()
        attempts = conn.execute("SELECT attempts FROM jobs WHERE id = %s", (job["id"],)).fetchone()[0]
    assert images == [("scene8",)], "no duplicate row"
    if stop == signal.SIGKILL:  # found by its stale heartbeat
        assert "runs again" in deployment.said("worker-2") and attempts == 2, "run once by each worker"
    else:
        assert attempts == 1, "a run its worker stopped does not count as an attempt"
    kept = stored_objects(shared_storage)
    assert len(kept) == 1 and kept[0].startswith("scene8"), f"one COG, no job file left in the store: {kept}"
    assert requests.get(f"{server}/tiles/scene8/WebMercatorQuad/tilejson.json", timeout=30).status_code == 200
    taker = deployment.data_dir("worker-2")
    assert empty(taker / "jobs") and empty(taker / "tmp"), "the job's files went"
    # What the first worker left on its machine (the killed run's work files, or the input it had
    # fetched) goes when a process starts there again.
    deployment.worker("worker-1-again", "worker-1")
    stopped = deployment.data_dir("worker-1")
    assert empty(stopped / "jobs") and empty(stopped / "tmp")


def empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# ---------------------------------------------------------------- serve --processes

@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP holds one process so that the other accepts")
def test_serve_with_two_processes_evens_out_kept_alive_connections(tmp_path):
    """Eight kept-alive connections that all landed in one serving process (the other one stopped
    with SIGSTOP while they were opened) end up four and four once both run: the crowded process
    closes connections after their answers until the two hold as many. Every request is answered
    meanwhile, and once even, the connections stay open."""
    data_dir = tmp_path / "data dir"
    port = free_port()
    log = tmp_path / "serve.log"
    server = start(["serve", "--processes", "2", "--port", str(port)], data_dir, log=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/v1/health", server, timeout=120)
        until(lambda: "2 serving processes" in log.read_text(), 60, log.read_text)
        first, second = map(int, re.search(r"pids (\d+), (\d+)", log.read_text()).groups())

        def held() -> list[int]:
            return [sum(1 for c in psutil.Process(pid).net_connections("tcp")
                        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port) for pid in (first, second)]

        def ask_on_each() -> None:
            for connection in clients:
                connection.request("GET", "/api/v1/health")  # opens the connection again if the server closed it
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 200

        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(8)]
        os.kill(second, signal.SIGSTOP)
        try:
            for connection in clients:
                connection.connect()
            until(lambda: held() == [8, 0], 30, lambda: f"connections held: {held()}")
        finally:
            os.kill(second, signal.SIGCONT)
        def even() -> bool:
            ask_on_each()
            return held() == [4, 4]

        until(even, 60, lambda: f"connections held by the two processes: {held()}")
        ask_on_each()
        assert held() == [4, 4], "even connections are kept alive"
        for connection in clients:
            connection.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    assert server.returncode == 0 and "Traceback" not in log.read_text(), log.read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP holds one process so that the other answers")
def test_serve_with_two_processes_on_one_port(tmp_path):
    """Each of the two serving processes answers alone (the other one stopped with SIGSTOP), a catalog
    change made through one is seen by the other at once, a killed one is replaced, and SIGTERM stops
    all of them and the embedded database."""
    data_dir = tmp_path / "data dir"
    added = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "ingest",
                            str(REAL_DATA / "titiler/B09.tif")], capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr
    secret = start(["token", "create", "admin"], data_dir).communicate(timeout=120)[0].strip()
    port = free_port()
    log = tmp_path / "serve.log"
    server = start(["serve", "--processes", "2", "--port", str(port)], data_dir, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/v1/health", server, timeout=120)
        until(lambda: "2 serving processes" in log.read_text(), 60, log.read_text)
        first, second = map(int, re.search(r"pids (\d+), (\d+)", log.read_text()).groups())
        assert {first, second} <= {child.pid for child in psutil.Process(server.pid).children()}
        tile = f"{url}/tiles/B09/WebMercatorQuad/tilejson.json"

        def alone(serving: int, stopped: int) -> None:
            os.kill(serving, signal.SIGCONT)
            os.kill(stopped, signal.SIGSTOP)

        alone(first, second)
        assert requests.get(tile, timeout=10).status_code == 200  # the first process knows the layer now
        alone(second, first)
        assert requests.get(tile, timeout=10).status_code == 200  # and the second
        deleted = requests.delete(f"{url}/api/v1/images/B09", headers={"Authorization": f"Bearer {secret}"},
                                  timeout=30)
        assert deleted.status_code in (200, 204), deleted.text
        alone(first, second)
        time.sleep(0.2)  # it was stopped while the notification came: a running process hears it in milliseconds
        assert requests.get(tile, timeout=10).status_code == 404, "the first process heard of the deletion"
        os.kill(second, signal.SIGCONT)

        os.kill(first, signal.SIGKILL)
        until(lambda: "serves again" in log.read_text(), 120, log.read_text)
        replacement = int(re.search(r"serves again \(pid (\d+)\)", log.read_text()).group(1))
        alone(replacement, second)
        assert requests.get(f"{url}/api/v1/health", timeout=10).json()["images"] == 0
        os.kill(second, signal.SIGCONT)
    finally:
        for pid in (first, second):
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGCONT)
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    said = log.read_text()
    assert server.returncode == 0 and "Traceback" not in said, said
    assert "serving process 1" in said and "killed by SIGKILL" in said
    assert not any(psutil.pid_exists(pid) for pid in (first, second, replacement))
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "the database stopped with the server"


def test_serve_with_two_processes_says_in_one_line_what_stops_it(tmp_path):
    """A port in use, a serving process that cannot start (here: its basemap is no file), more
    processes than the embedded database has connections for: one line, exit code 1, no process and
    no database left running."""
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = start(["serve", "--processes", "2", "--port", str(port)], data_dir)
        _, said = busy.communicate(timeout=120)
    assert busy.returncode == 1 and said.strip().splitlines()[-1].startswith(
        f"cogbrowser: error: cannot listen on 127.0.0.1:{port}"), said

    broken = start(["serve", "--processes", "2", "--port", str(free_port()), "--basemap",
                    str(tmp_path / "no such basemap.mbtiles")], data_dir)
    _, said = broken.communicate(timeout=180)
    last = said.strip().splitlines()[-1]
    assert broken.returncode == 1 and last.startswith("cogbrowser: error: a serving process could not start: "), said
    assert "no such basemap.mbtiles" in last and "Traceback" not in said, said

    crowded = start(["serve", "--processes", "8", "--port", str(free_port())], data_dir)
    _, said = crowded.communicate(timeout=180)
    assert crowded.returncode == 1 and said.strip().splitlines()[-1] == (
        "cogbrowser: error: --processes 8 needs a PostgreSQL server (--database-url): the embedded database "
        "takes 50 connections, enough for 7 serving processes"), said
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
