"""`cogbrowser serve` as a user starts and stops it: embedded database, waitress, Ctrl-C."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import requests

from helpers import REAL_DATA, free_port, interrupt, start, wait_for


def postmaster_running(data_dir: Path) -> bool:
    return (data_dir / "postgres" / "postmaster.pid").exists()


def test_serve_on_the_embedded_database_and_stop_with_ctrl_c(tmp_path):
    data_dir = tmp_path / "C drive" / "my data"
    ingest = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "ingest",
                             str(REAL_DATA / "titiler/TCI.tif")], capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    assert not postmaster_running(data_dir), "ingest must stop the database it started"

    port = free_port()
    server = start(["serve", "--port", str(port)], data_dir)
    try:
        health = wait_for(f"http://127.0.0.1:{port}/api/v1/health", server, timeout=60).json()
        assert (health["status"], health["images"]) == ("ok", 1)
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<title>cogbrowser</title>" in page.text
        found = requests.get(f"http://127.0.0.1:{port}/api/v1/images", timeout=10).json()["images"]
        assert [image["id"] for image in found] == ["TCI"]
        assert postmaster_running(data_dir)
    finally:
        stderr = interrupt(server)
    assert server.returncode == 0, stderr
    assert f"Open http://127.0.0.1:{port}/" in stderr
    assert "Traceback" not in stderr
    assert not postmaster_running(data_dir), "Ctrl-C must stop the embedded PostgreSQL"


def test_port_in_use_is_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start(["serve", "--port", str(port)], tmp_path / "data")
        _, stderr = server.communicate(timeout=120)
    assert server.returncode == 1
    assert f"cogbrowser: error: cannot listen on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr
    assert not postmaster_running(tmp_path / "data")


def test_demo_first_run_then_a_restart_that_makes_nothing(tmp_path):
    """The README's first command: `cogbrowser demo` makes the data once, serves it, and on a restart
    serves what it made."""
    data_dir = tmp_path / "demo data"
    port = free_port()
    first = start(["demo", "--port", str(port)], data_dir)
    try:
        health = wait_for(f"http://127.0.0.1:{port}/api/v1/health", first, timeout=180).json()
    finally:
        first_stderr = interrupt(first)
    assert first.returncode == 0, first_stderr
    assert "Making the demo data set" in first_stderr
    assert health["collections"] == 3 and health["images"] == 10 and health["detections"] > 3000
    assert not postmaster_running(data_dir)

    second = start(["demo", "--port", str(port)], data_dir)
    try:
        again = wait_for(f"http://127.0.0.1:{port}/api/v1/health", second, timeout=60).json()
    finally:
        second_stderr = interrupt(second)
    assert again == health
    assert "Demo data set in place" in second_stderr and "Making" not in second_stderr, second_stderr
    assert second.returncode == 0 and "Traceback" not in second_stderr
