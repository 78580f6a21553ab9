"""The catalog database goes away under a running `cogbrowser serve`: every request that needs it
answers 503 + Retry-After within a second (never a 500, never a 30 s wait), the health check says
"catalog unreachable"; the embedded PostgreSQL is restarted by the server itself, a server by URL
is waited for, and the server recovers without being restarted."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests
from filelock import FileLock

from cogbrowser.catalog.embedded import EmbeddedPostgres
from helpers import REAL_DATA, free_port, interrupt, start, wait_for

READS = ("/api/v1/health", "/api/v1/collections", "/api/v1/images", "/stac/collections",
         "/wms?SERVICE=WMS&REQUEST=GetCapabilities", "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")


def postmaster(pgdata: Path) -> tuple[int, int]:
    """(pid, port) of the cluster's postmaster."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), int(lines[3])


def assert_unavailable_at_once(base: str) -> None:
    for path in READS:
        started = time.monotonic()
        answer = requests.get(base + path, timeout=30)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
        assert int(answer.headers["Retry-After"]) > 0, path
        assert elapsed < 1.0, f"{path} took {elapsed:.2f} s to say the catalog is unreachable"
        if path.startswith("/wmts"):  # the service's own exception report
            assert "<ows:ExceptionReport" in answer.text and "catalog unreachable" in answer.text
        elif path.startswith("/wms"):
            assert "ServiceException" in answer.text and "catalog unreachable" in answer.text
        else:
            assert answer.headers["Content-Type"].startswith("application/problem+json"), path
            assert "catalog unreachable" in answer.json()["detail"], path


def wait_until_healthy(base: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if requests.get(base + "/api/v1/health", timeout=30).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"the server did not recover within {timeout} s")


def assert_all_answer(base: str) -> None:
    for path in READS:
        assert requests.get(base + path, timeout=30).status_code == 200, path


def upload_is_ingested(base: str, token: str) -> None:
    """An upload accepted now runs: the jobs worker came through the outage too."""
    answer = requests.post(f"{base}/api/v1/images", params={"filename": "after-outage.tif", "wait": "false"},
                           data=(REAL_DATA / "rio-tiler" / "cog.tif").read_bytes(), timeout=60,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "image/tiff"})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 90
    while (job := requests.get(answer.headers["Location"], timeout=30).json())["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"the job is still {job['state']} after the outage"
        time.sleep(0.3)
    assert job["state"] == "succeeded", job


def test_a_killed_embedded_postgres_is_503_then_restarted_by_the_server(tmp_path):
    data_dir = tmp_path / "data dir"
    port = free_port()
    made = start(["token", "create", "outage"], data_dir)
    token = made.communicate(timeout=120)[0].strip().splitlines()[-1]
    server = start(["serve", "--port", str(port)], data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(base + "/api/v1/health", server, timeout=120).status_code == 200
        assert_all_answer(base)
        pid, pg_port = postmaster(data_dir / "postgres")
        with FileLock(str(data_dir / "postgres.lock")):  # the server cannot restart it while we hold this
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            assert_unavailable_at_once(base)
            assert_unavailable_at_once(base)  # and again: no pool waits piling up
        wait_until_healthy(base, timeout=30)
        assert_all_answer(base)
        new_pid, new_port = postmaster(data_dir / "postgres")
        assert new_pid != pid and new_port == pg_port  # restarted, where the other processes look for it
        upload_is_ingested(base, token)
    finally:
        stderr = interrupt(server)
    assert "Traceback" not in stderr


def test_a_stopped_server_by_url_is_503_until_it_is_back(tmp_path):
    cluster = EmbeddedPostgres(tmp_path / "elsewhere" / "postgres")  # stands in for a server on the LAN
    url = cluster.start()
    port = free_port()
    server = start(["--database-url", url, "serve", "--port", str(port)], tmp_path / "data dir")
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(base + "/api/v1/health", server, timeout=120).status_code == 200
        pid, pg_port = postmaster(cluster.pgdata)
        os.kill(pid, signal.SIGKILL)  # as a crash would
        time.sleep(0.5)
        assert_unavailable_at_once(base)
        time.sleep(3)
        assert_unavailable_at_once(base)  # a server by URL is not ours to restart
        assert cluster.ensure_running() == url  # its administrator restarts it, on its port
        wait_until_healthy(base, timeout=30)
        assert_all_answer(base)
    finally:
        stderr = interrupt(server)
        cluster.stop()
    assert "Traceback" not in stderr
