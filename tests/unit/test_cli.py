"""The `cogbrowser` command as a user runs it: messages, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import HOSTILE_DATA, HOSTILE_LIMITS, REAL_DATA


def run(args: list[str], settings=None, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
    if settings is not None:
        env["COGBROWSER_DATA_DIR"] = str(settings.data_dir)
        env["COGBROWSER_DATABASE_URL"] = settings.database_url
    env.update(env_extra or {})
    result = subprocess.run([sys.executable, "-m", "cogbrowser", *args], env=env, capture_output=True, text=True,
                            timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_ingest_batch_reports_each_file_and_a_summary(settings, tmp_path):
    not_a_raster = tmp_path / "notes.tif"
    not_a_raster.write_text("hello")
    good = REAL_DATA / "titiler/B01.tif"
    result = run(["ingest", str(good), str(tmp_path / "missing.tif"), str(not_a_raster)], settings)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("added") and "B01.tif: added as B01" in line for line in lines), result.stderr
    assert any(line.startswith("FAILED") and "missing.tif: no such file or folder" in line for line in lines)
    assert any(line.startswith("FAILED") and "notes.tif: not a readable raster" in line for line in lines)
    assert "1 added, 0 skipped, 2 failed" in result.stderr

    again = run(["ingest", str(good)], settings)
    assert again.returncode == 0
    assert "B01.tif: already in the catalog as B01" in again.stderr
    assert "0 added, 1 skipped, 0 failed" in again.stderr


def test_ingest_a_folder_recursively_into_a_collection(settings, tmp_path):
    folder = tmp_path / "my scenes"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b09.tif").write_bytes((REAL_DATA / "titiler/B09.tif").read_bytes())
    (folder / "readme.txt").write_text("not a raster, not picked up")
    flat = run(["ingest", str(folder)], settings)
    assert flat.returncode == 1 and "folder has no raster files (try --recursive)" in flat.stderr
    deep = run(["ingest", "--recursive", "--collection", "s2", "--acquired-at", "2024-06-01", str(folder)], settings)
    assert deep.returncode == 0, deep.stderr
    assert "1 added, 0 skipped, 0 failed" in deep.stderr


@pytest.mark.parametrize("args, words", [
    (["ingest", "--acquired-at", "yesterday-ish", "x.tif"], "'yesterday-ish' is not a date or time"),
    (["ingest", "--cloud-cover", "140", "x.tif"], "--cloud-cover': 140.0 is not in the range 0<=x<=100"),
    (["ingest", "--collection", "bad/name", "x.tif"], "'bad/name' is not URL-safe"),
    (["ingest", "--id", "one", "a.tif", "b.tif"], "--id names one image: give exactly one file"),
    (["ingest"], "Missing argument 'PATHS...'"),
])
def test_bad_options_get_a_usage_message(args, words):
    result = run(args)
    assert result.returncode == 2
    assert words in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path):
    result = run(["--data-dir", str(tmp_path), "--database-url", "postgresql://me@127.0.0.1:1/catalog",
                  "ingest", str(REAL_DATA / "titiler/B01.tif")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "cogbrowser: error: cannot connect to PostgreSQL at 127.0.0.1:1/catalog")


def test_detections_import_lists_bad_rows_then_imports_with_skip_invalid(settings, tmp_path):
    assert run(["ingest", "--id", "tci", str(REAL_DATA / "titiler/TCI.tif")], settings).returncode == 0
    csv_file = tmp_path / "found targets.csv"
    csv_file.write_text("image_id,target_class,target_name,score,px_min,py_min,px_max,py_max\n"
                        "tci,ship,MV Aurora,0.9,10,10,20,14\n"
                        "tci,ship,,2.5,10,10,20,14\n"
                        "ghost,ship,,0.5,10,10,20,14\n")
    refused = run(["detections", "import", str(csv_file)], settings)
    assert refused.returncode == 1
    assert "found targets.csv:line 3: score 2.5 is outside 0..1" in refused.stderr
    assert "found targets.csv:line 4: image_id 'ghost' is not in the catalog" in refused.stderr
    assert "Nothing imported: 2 invalid row(s) of 3 (fix them, or use --skip-invalid)." in refused.stderr

    imported = run(["detections", "import", "--skip-invalid", str(csv_file)], settings)
    assert imported.returncode == 0
    assert "Imported 1 detection(s)" in imported.stderr and "skipped 2 invalid row(s)" in imported.stderr


def test_detections_import_counts_every_bad_row_past_those_it_lists(settings, tmp_path):
    """The report keeps the first 1,000 problems; the counts still cover all 2,500 bad rows."""
    assert run(["ingest", "--id", "tci", str(REAL_DATA / "titiler/TCI.tif")], settings).returncode == 0
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("image_id,target_class,score,px_min,py_min,px_max,py_max\n"
                        + "tci,ship,2.5,10,10,20,14\n" * 2500)
    refused = run(["detections", "import", str(csv_file)], settings)
    assert refused.returncode == 1
    assert refused.stderr.count("score 2.5 is outside 0..1") == 200
    assert "... and 2300 more invalid rows" in refused.stderr
    assert "Nothing imported: 2500 invalid row(s) of 2500" in refused.stderr


def test_detections_import_of_a_missing_file(settings, tmp_path):
    result = run(["detections", "import", str(tmp_path / "nothing.csv")], settings)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"cogbrowser: error: no such file: {tmp_path / 'nothing.csv'}")


def test_help_says_what_import_does_with_bad_rows():
    result = run(["detections", "import", "--help"])
    assert result.returncode == 0
    assert "All or nothing" in result.stdout and "--skip-invalid" in result.stdout


def test_version_and_module_entry_point():
    result = run(["--version"])
    assert result.returncode == 0 and result.stdout.startswith("cogbrowser, version ")


def test_unusable_data_dir_is_one_clear_line(tmp_path):
    a_file = tmp_path / "not a folder"
    a_file.write_text("x")
    is_a_file = run(["--data-dir", str(a_file), "ingest", str(REAL_DATA / "titiler/B01.tif")])
    assert is_a_file.returncode == 2 and "is a file" in is_a_file.stderr
    below_a_file = a_file / "data"
    result = run(["--data-dir", str(below_a_file), "ingest", str(REAL_DATA / "titiler/B01.tif")])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cogbrowser: error: cannot prepare the embedded database in {below_a_file / 'postgres'}")
    assert last.endswith("(check the data dir, or give --database-url postgresql://...)")


def test_ingest_refuses_files_declaring_absurd_work_in_one_line_each(settings):
    """The hostile files are refused at the pre-check, before any conversion: one line each that
    names the limit and its setting, in well under the seconds a conversion would take, nothing kept."""
    result = run(["ingest", *(str(HOSTILE_DATA / name) for name in HOSTILE_LIMITS)], settings)
    assert result.returncode == 1
    assert "0 added, 0 skipped, 3 failed" in result.stderr
    for name, limit in HOSTILE_LIMITS.items():
        [line] = [line for line in result.stderr.splitlines() if line.startswith("FAILED") and name in line]
        assert limit in line and "at most" in line, line
        seconds = float(line.rsplit("(", 1)[1].removesuffix(" s)"))
        assert seconds < 3, line
    assert not any(p.is_file() for p in settings.data_dir.rglob("*") if "postgres" not in p.parts)


def test_worker_runs_jobs_queued_while_no_worker_ran(db, settings, monkeypatch):
    """An upload accepted by a server that stopped before running it: `cogbrowser worker` ingests it."""
    import shutil
    import signal

    from cogbrowser.app import job_queue

    queue = job_queue(settings, db)
    monkeypatch.setattr(queue, "start", lambda: None)  # the server that accepted it stops at once
    folder = settings.tmp_dir / "accepted upload"
    folder.mkdir(parents=True)
    shutil.copyfile(REAL_DATA / "titiler/B09.tif", folder / "B09.tif")
    job = queue.submit("upload", "B09.tif", 1, {"filename": "B09.tif", "image_id": "b09"}, folder)
    assert queue.get(job.id).state == "queued"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGBROWSER_")}
    env.update(COGBROWSER_DATA_DIR=str(settings.data_dir), COGBROWSER_DATABASE_URL=settings.database_url)
    worker = subprocess.Popen([sys.executable, "-m", "cogbrowser", "worker"], env=env, stderr=subprocess.PIPE,
                              text=True)
    try:
        finished = queue.wait(job.id, 120)
    finally:
        worker.send_signal(signal.SIGINT)
        _, stderr = worker.communicate(timeout=60)
        queue.stop()
    assert (finished.state, finished.outcome.image_id) == ("succeeded", "b09"), finished
    assert "Running jobs of" in stderr and "Traceback" not in stderr
    assert not queue.job_folder(job.id).exists()


def test_a_worker_that_cannot_reach_its_catalog_says_so_in_one_line(tmp_path):
    from helpers import free_port

    url = f"postgresql://cogbrowser:secret@127.0.0.1:{free_port()}/catalog"  # nobody listens there
    result = run(["--data-dir", str(tmp_path / "data"), "--database-url", url, "worker"])
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"cogbrowser: error: cannot connect to PostgreSQL at 127.0.0.1:{url.split(':')[3]}"), line
    assert "secret" not in line, "the password stays out of the message"


@pytest.mark.parametrize("cores, processes, remote, expected", [
    (2, 1, False, 2), (1, 1, False, 2), (8, 1, False, 8),  # one process: one a core, at least 2
    (2, 2, False, 1), (8, 2, False, 4), (4, 8, False, 1),  # the cores shared among the processes
    (2, 2, True, 2), (8, 4, True, 8),  # a remote store: threads wait on the network, one a core each
])
def test_serving_processes_share_the_cores_unless_they_read_a_remote_store(monkeypatch, cores, processes, remote,
                                                                           expected):
    from cogbrowser import cli

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert cli.default_threads(processes, remote_storage=remote) == expected
